//! The IA-32 interpreter core of x86wow.
//!
//! Decodes with iced-x86 and executes every general-purpose user-mode instruction of a
//! current x86 processor in 32-bit protected mode, exactly: results, flags (including
//! the ones the manuals leave undefined, modelled on AMD family 19h) and exceptions are
//! checked against real hardware. It knows nothing of Windows: system calls, far
//! transfers to other code segments and software interrupts stop the CPU with an
//! [`Exit`] for the embedder to handle.
//!
//! ```
//! use x86wow_cpu::{Cpu, Exit, vector};
//! use x86wow_mmu::Prot;
//!
//! let mut cpu = Cpu::new();
//! cpu.mem.map(0x40_0000, 0x1000, Prot::RX).unwrap();
//! // xor edx, edx ; div ecx  (ecx = 0)
//! cpu.mem.poke(0x40_0000, &[0x31, 0xd2, 0xf7, 0xf1]).unwrap();
//! cpu.eip = 0x40_0000;
//! match cpu.run(10) {
//!     Exit::Exception { exception, eip } => {
//!         assert_eq!(exception.vector, vector::DE);
//!         assert_eq!(eip, 0x40_0002); // precise: at the DIV
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

pub mod bench;
mod cache;
pub mod config;
pub mod coverage;
mod cpu;
pub mod exception;
mod fast;
pub mod features;
pub mod flags;
pub mod fpu;
pub mod operand;
pub mod ops;
pub mod regs;
pub mod state;
pub mod table;

pub use config::{Config, CpuidLeaf, CpuidModel, UndefinedModel};
pub use cpu::{CodeHook, Cpu, CpuSnapshot, HookAction, MemHook, Step, Stop, StopKind, MAX_INSN_LEN};
pub use exception::{vector, Detail, Exception, Exit};
pub use flags::{Flags, Size};
pub use regs::{Registers, Segment};
