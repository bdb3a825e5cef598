use std::fmt;

/// The kind of access that was attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    Write,
    /// Instruction fetch.
    Execute,
}

impl Access {
    /// Lower-case name as used in the machine-state format (`"read"`, `"write"`, `"execute"`).
    pub fn name(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Execute => "execute",
        }
    }
}

/// Why an access failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// No page is mapped at the address.
    Unmapped,
    /// The page is mapped but its protection forbids the access.
    Protection,
    /// The page carried the guard flag; the flag has now been cleared (first touch only).
    Guard,
}

/// A failed guest memory access. `addr` is the first byte that could not be accessed:
/// for an access that crosses into a bad page it is that page's base, as CR2 reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fault {
    pub addr: u64,
    pub access: Access,
    pub kind: FaultKind,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            FaultKind::Unmapped => "unmapped",
            FaultKind::Protection => "protection",
            FaultKind::Guard => "guard page",
        };
        write!(f, "{} fault ({kind}) at {:#x}", self.access.name(), self.addr)
    }
}

impl std::error::Error for Fault {}

/// Misuse of the address-space API (as opposed to a guest fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemError {
    /// An address or size was not a multiple of the page size.
    Unaligned { addr: u64, size: u64 },
    /// A size of zero was given.
    ZeroSize { addr: u64 },
    /// The range wraps past the top of the 64-bit space.
    OutOfRange { addr: u64, size: u64 },
    /// `map` was asked to map over a page that is already mapped.
    Overlap { addr: u64 },
    /// An operation that needs mapped pages found none at `addr`.
    NotMapped { addr: u64 },
}

impl fmt::Display for MemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MemError::Unaligned { addr, size } => {
                write!(f, "range {addr:#x}+{size:#x} is not page aligned")
            }
            MemError::ZeroSize { addr } => write!(f, "zero-sized range at {addr:#x}"),
            MemError::OutOfRange { addr, size } => {
                write!(f, "range {addr:#x}+{size:#x} wraps the address space")
            }
            MemError::Overlap { addr } => write!(f, "page {addr:#x} is already mapped"),
            MemError::NotMapped { addr } => write!(f, "page {addr:#x} is not mapped"),
        }
    }
}

impl std::error::Error for MemError {}
