//! The guest address space of x86wow: one sparse, 64-bit capable space of 4 KiB pages.
//!
//! The 32-bit CPU sees the low 4 GiB; the WOW64 layer places its 64-bit structures above
//! that. Every access is checked against the page's protection, and a failed check is a
//! [`Fault`] value, never a panic. Pages are reference counted and copied on write, so a
//! [`Snapshot`] costs one table copy, not a copy of the data.
//!
//! ```
//! use x86wow_mmu::{Memory, Prot, Access, FaultKind};
//!
//! let mut mem = Memory::new();
//! mem.map(0x1000, 0x2000, Prot::RW).unwrap();
//! mem.write_u32(0x1ffe, 0xdead_beef).unwrap(); // crosses a page boundary
//! assert_eq!(mem.read_u32(0x1ffe).unwrap(), 0xdead_beef);
//!
//! let fault = mem.read_u8(0x5000).unwrap_err();
//! assert_eq!((fault.addr, fault.access, fault.kind), (0x5000, Access::Read, FaultKind::Unmapped));
//! ```

mod error;
mod page;
mod space;

pub use error::{Access, Fault, FaultKind, MemError};
pub use page::{Prot, PAGE_MASK, PAGE_SHIFT, PAGE_SIZE};
pub use space::{Memory, Region, Snapshot};
