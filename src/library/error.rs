//! Why loading a library or calling into it failed.

use std::fmt;

use x86wow_wow64::status;

/// An error of [`super::Library`]. Each says enough to act on without a debugger.
#[derive(Debug, Clone, PartialEq)]
pub enum CallError {
    /// The DLL could not be read, or loading or initialising it failed (a DllMain that
    /// returned FALSE ends its process with STATUS_DLL_INIT_FAILED).
    Load { path: String, why: String },
    /// The library exports nothing by that name or ordinal.
    NoSuchExport { export: String },
    /// An argument does not suit the call (index is the argument's position).
    BadArgument { index: Option<usize>, why: String },
    /// A host value has no 32-bit form: a pointer above 4 GiB, or a handle that is not
    /// the sign-extension of its low 32 bits (HANDLE_PTR is never silently truncated).
    Narrowing { what: &'static str, value: u64, field: Option<String> },
    /// An exception nothing handled inside the call. The library stays usable.
    Fault {
        code: u32,
        address: u32,
        /// ExceptionInformation (access violations: 0 read, 1 write, 8 execute; address).
        params: Vec<u32>,
        /// `module!symbol+off: bytes  instruction` at the faulting address.
        disassembly: String,
    },
    /// The call's instruction budget ran out (the guest was stopped where it was).
    Budget { insns: u64 },
    /// The callee removed a different number of argument bytes from the stack than its
    /// declared convention says: the convention (or the argument list) is wrong.
    StackMismatch { export: String, conv: String, expected: u32, popped: u32 },
    /// A host callback failed; the call was abandoned.
    Callback { addr: u32, why: String },
    /// The guest process is gone (a fast fail, NtTerminateProcess in the DLL).
    Exited { status: u32 },
    /// Guest memory the host had to read or write was not accessible.
    Memory { addr: u64, len: usize },
    /// Anything else the WOW64 layer reported.
    Guest(x86wow_wow64::Error),
}

impl CallError {
    /// The same error, naming the structure field it concerns.
    pub(crate) fn in_field(self, name: &str) -> CallError {
        match self {
            CallError::Narrowing { what, value, .. } => {
                CallError::Narrowing { what, value, field: Some(name.into()) }
            }
            e => e,
        }
    }

    /// The same error, naming the argument it concerns.
    pub(crate) fn at(self, i: usize) -> CallError {
        match self {
            CallError::BadArgument { index: None, why } => CallError::BadArgument { index: Some(i), why },
            e => e,
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Load { path, why } => write!(f, "cannot load {path}: {why}"),
            CallError::NoSuchExport { export } => write!(f, "the library does not export {export}"),
            CallError::BadArgument { index: Some(i), why } => write!(f, "argument {i}: {why}"),
            CallError::BadArgument { index: None, why } => write!(f, "{why}"),
            CallError::Narrowing { what, value, field } => {
                write!(f, "{what} {value:#x} ")?;
                if let Some(n) = field {
                    write!(f, "(field {n}) ")?;
                }
                match *what {
                    "handle" => write!(f, "is not a sign-extended 32-bit handle; it cannot cross into 32-bit code"),
                    _ => write!(f, "lies above 4 GiB; 32-bit code cannot reach it"),
                }
            }
            CallError::Fault { code, address, params, disassembly } => {
                write!(f, "unhandled exception {} at {address:#010x}", status::name(*code))?;
                if let (0xC000_0005, [what, at, ..]) = (code, params.as_slice()) {
                    let what = match what {
                        1 => "writing",
                        8 => "executing",
                        _ => "reading",
                    };
                    write!(f, " ({what} {at:#010x})")?;
                }
                write!(f, "\n  {disassembly}")
            }
            CallError::Budget { insns } => write!(f, "the call ran out of its budget of {insns} instructions"),
            CallError::StackMismatch { export, conv, expected, popped } => write!(
                f,
                "{export} removed {popped} bytes of arguments, but {conv} with these arguments removes {expected}: \
                 wrong calling convention or argument list"
            ),
            CallError::Callback { addr, why } => write!(f, "callback at {addr:#010x} failed: {why}"),
            CallError::Exited { status: s } => write!(f, "the library's process ended with {}", status::name(*s)),
            CallError::Memory { addr, len } => write!(f, "guest memory {addr:#x}+{len:#x} is not accessible"),
            CallError::Guest(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CallError {}

impl From<x86wow_wow64::Error> for CallError {
    fn from(e: x86wow_wow64::Error) -> Self {
        match e {
            x86wow_wow64::Error::Memory { addr, len } => CallError::Memory { addr, len },
            x86wow_wow64::Error::ProcessExited { status } => CallError::Exited { status },
            e => CallError::Guest(e),
        }
    }
}
