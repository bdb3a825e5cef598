//! The WOW64 layer of x86wow: runs 32-bit Windows programs on the IA-32 interpreter
//! ([`x86wow_cpu`]) over the 64-bit NT model ([`x86wow_syscalls`]).
//!
//! It maps PE32 images through the kernel's SEC_IMAGE sections and does what the
//! Windows loader does in user mode (imports, forwarders, TLS, DllMain); builds a guest
//! `ntdll.dll` whose system-call stubs end in the `jmp 0033:` gate; keeps TEB32/PEB32
//! beside TEB64/PEB64; and services each system call with a thunk that widens the
//! 32-bit arguments, rebuilds structures in 64-bit layout in scratch memory above
//! 4 GiB, calls the 64-bit service and narrows the results. CPU faults become Windows
//! exceptions delivered to the guest's SEH handlers.
//!
//! ```no_run
//! use x86wow_wow64::Process;
//!
//! let exe = std::fs::read("hello.exe").unwrap();
//! let mut process = Process::builder().args(["hello.exe", "world"]).build(&exe).unwrap();
//! let status = process.run();
//! println!("exit status {status:#x}");
//! ```

pub mod builder;
pub mod error;
pub mod library;
pub mod loader;
pub mod ntdll;
pub mod pe;
pub mod pebuild;
pub mod process;
pub mod seh;
pub mod status;
pub mod teb;
pub mod thunks;
pub mod trace;

pub use builder::{Captured, InputStream, Output, OutputStream, ProcessBuilder};
pub use error::{Error, ImageError, LoadError};
pub use library::Library;
pub use process::Process;
