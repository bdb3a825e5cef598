//! The WOW64 layer of x86wow: runs 32-bit Windows programs on the IA-32 interpreter
//! ([`x86wow_cpu`]) over the 64-bit NT model ([`x86wow_syscalls`]). It is the only
//! layer that knows both the 32-bit and the 64-bit structure layouts.
//!
//! # What it does
//!
//! - **Loading** ([`loader`], [`pe`]): images are validated with precise errors
//!   ([`ImageError`]), then mapped through the kernel's SEC_IMAGE sections
//!   (NtCreateSection + NtMapViewOfSection, so they are MEM_IMAGE); imports by name and
//!   ordinal, forwarders, DLL search (the program's directory, then
//!   `C:\Windows\SysWOW64`, then `C:\Windows`), static TLS and TLS callbacks, DllMain,
//!   the PEB's module lists. Large-address-aware images get the 0xFFFEFFFF limit,
//!   others 0x7FFEFFFF.
//! - **The guest ntdll** ([`ntdll`]): a PE image built in memory whose `Nt*`/`Zw*`
//!   exports are system-call stubs of the Windows 10 shape ending in the `jmp 0033:`
//!   gate, plus the user-mode pieces a C program needs (exception dispatch, unwinding,
//!   process start, a heap, a few Rtl and C runtime functions). Service ids are read
//!   back from the stubs of whatever ntdll is mapped and dispatched by name.
//! - **The transition** ([`process`]): when the CPU stops at the far jump to selector
//!   0x33, the service id comes from EAX, the arguments from [ESP+8]..., the status
//!   goes to EAX and execution resumes at [ESP].
//! - **Thunks** ([`thunks`]): one per service, declared by argument kind in
//!   [`thunks::THUNKS`]; 32-bit structures are rebuilt in 64-bit layout in scratch
//!   memory above 4 GiB, freed after every call, and results are narrowed back.
//! - **Blocks** ([`teb`]): TEB64/TEB32 (TEB32 = TEB64 + 0x2000), PEB64/PEB32 (PEB32 =
//!   PEB64 + 0x1000), process parameters in both layouts, the 32-bit stack with its
//!   guard page, FS = TEB32.
//! - **Exceptions** ([`seh`]): CPU faults become EXCEPTION_RECORD32 + CONTEXT32 on the
//!   guest stack and run the guest's KiUserExceptionDispatcher, which walks the SEH
//!   chain; the stack grows through its guard page; `int 0x2e` is the legacy system-call
//!   gate, `int 0x29` is `__fastfail`.
//! - **Embedding**: [`Process`] (built with [`ProcessBuilder`]); DLLs with
//!   [`ProcessBuilder::build_dll`] and host calls ([`hostcall`]) with callbacks.
//!
//! # Not modelled
//!
//! - One thread; no APCs, no user callbacks, no registry, no tokens (those services
//!   exist in the guest ntdll and return STATUS_NOT_IMPLEMENTED, named in the trace).
//! - The x87/SSE state is not part of CONTEXT32 yet (FloatSave is zeroed and
//!   ContextFlags is CONTEXT_FULL).
//! - The guest ntdll's heap never reuses freed blocks.
//! - A real 32-bit ntdll can replace x86wow's ([`ProcessBuilder::sandbox_ntdll`]) only
//!   for its stubs: the start-up code relies on x86wow's `LdrInitializeThunk` contract
//!   and on the `__x86wow_ReturnTrap` export.
//!
//! ```
//! use x86wow_wow64::{pebuild::{scn, PeBuilder}, Process};
//!
//! // A program whose entry point returns 3: mov eax, 3 ; ret
//! let mut pe = PeBuilder::new(0x40_0000, false);
//! pe.entry_rva = pe.add_section(".text", scn::CODE, vec![0xB8, 3, 0, 0, 0, 0xC3]);
//! let (builder, output) = Process::builder().args(["one", "two"]).capture_output();
//! let mut process = builder.build(&pe.build()).unwrap();
//! assert_eq!(process.run(), 3);
//! assert_eq!(output.stdout.text(), "");
//! ```

pub mod builder;
pub mod error;
pub mod hostcall;
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
pub use hostcall::{GuestCall, GuestReturn};
pub use process::Process;
