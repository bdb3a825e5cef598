//! Errors of the wow64 layer, with the context needed to act on them.

use std::fmt;

/// What is wrong with a PE image, found before anything is mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageError {
    /// The file is shorter than the structure that had to be read.
    Truncated {
        what: &'static str,
        offset: u64,
        len: u64,
        file_len: u64,
    },
    NotMz,
    NoPeSignature {
        e_lfanew: u32,
    },
    /// The optional header is not PE32 (0x10B); 0x20B is PE32+ (a 64-bit image).
    NotPe32 {
        magic: u16,
    },
    /// The machine is not i386 (0x14C).
    WrongMachine {
        machine: u16,
    },
    NotExecutable,
    /// Section or file alignment not a power of two, file alignment above section
    /// alignment, or a section/image base not aligned as required.
    BadAlignment {
        what: &'static str,
        value: u64,
    },
    /// Two sections cover the same RVAs, or a section starts before the headers end.
    OverlappingSections {
        first: String,
        second: String,
    },
    /// A section (or directory) reaches past SizeOfImage or its raw data past the file.
    OutsideImage {
        what: String,
    },
    TooManySections {
        count: usize,
    },
    /// SizeOfImage is zero or larger than the sandbox's limit.
    BadImageSize {
        size: u64,
    },
    /// A table (imports, exports, TLS) is malformed.
    BadTable {
        what: &'static str,
        detail: String,
    },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::Truncated { what, offset, len, file_len } => write!(
                f,
                "truncated: {what} needs bytes {offset:#x}..{:#x} but the file has {file_len:#x}",
                offset + len
            ),
            ImageError::NotMz => write!(f, "not an executable (no MZ header)"),
            ImageError::NoPeSignature { e_lfanew } => {
                write!(f, "no PE signature at e_lfanew {e_lfanew:#x} (a DOS program?)")
            }
            ImageError::NotPe32 { magic: 0x20B } => {
                write!(f, "a 64-bit (PE32+) image; x86wow runs 32-bit programs only")
            }
            ImageError::NotPe32 { magic } => write!(f, "unknown optional header magic {magic:#x}"),
            ImageError::WrongMachine { machine } => {
                write!(f, "machine {machine:#06x} is not i386 (0x014c)")
            }
            ImageError::NotExecutable => write!(f, "the image is not marked executable"),
            ImageError::BadAlignment { what, value } => write!(f, "bad {what}: {value:#x}"),
            ImageError::OverlappingSections { first, second } => {
                write!(f, "sections {first} and {second} overlap")
            }
            ImageError::OutsideImage { what } => write!(f, "{what} lies outside the image"),
            ImageError::TooManySections { count } => write!(f, "{count} sections (at most 96)"),
            ImageError::BadImageSize { size } => write!(f, "SizeOfImage {size:#x} is not acceptable"),
            ImageError::BadTable { what, detail } => write!(f, "bad {what}: {detail}"),
        }
    }
}

/// Why a program or DLL could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// The image itself is malformed.
    Image { name: String, error: ImageError },
    /// An imported DLL was found nowhere on the search path.
    DllNotFound { dll: String, importer: String },
    /// An import by name that the DLL does not export.
    ImportNotFound { dll: String, name: String, importer: String },
    /// An import by ordinal that the DLL does not export.
    OrdinalNotFound { dll: String, ordinal: u32, importer: String },
    /// A forwarder chain that does not end (or is malformed).
    BadForwarder { export: String, detail: String },
    /// Mapping the image through the kernel failed.
    Map { name: String, step: &'static str, status: u32 },
    /// The image does not fit under the highest user address.
    AboveLimit { name: String, base: u64, limit: u64 },
    /// Too many DLLs (a guard against import graphs without end).
    TooManyModules,
    /// The guest ntdll lacks something the loader needs.
    MissingNtdllExport { name: String },
    /// A host file could not be read or the sandbox could not be prepared.
    Io { path: String, error: String },
    /// Setting up the process (stack, TEB, PEB...) failed in the kernel.
    Setup { step: &'static str, status: u32 },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = |s: &u32| crate::status::name(*s);
        match self {
            LoadError::Image { name, error } => write!(f, "{name}: {error}"),
            LoadError::DllNotFound { dll, importer } => {
                write!(f, "{importer}: the DLL {dll} was not found")
            }
            LoadError::ImportNotFound { dll, name, importer } => {
                write!(f, "{importer}: {dll} does not export {name}")
            }
            LoadError::OrdinalNotFound { dll, ordinal, importer } => {
                write!(f, "{importer}: {dll} does not export ordinal {ordinal}")
            }
            LoadError::BadForwarder { export, detail } => write!(f, "forwarder {export}: {detail}"),
            LoadError::Map { name, step, status } => write!(f, "{name}: {step} failed with {}", st(status)),
            LoadError::AboveLimit { name, base, limit } => {
                write!(f, "{name}: mapped at {base:#x}, above the highest user address {limit:#x}")
            }
            LoadError::TooManyModules => write!(f, "too many DLLs (more than 256)"),
            LoadError::MissingNtdllExport { name } => write!(f, "ntdll.dll does not export {name}"),
            LoadError::Io { path, error } => write!(f, "{path}: {error}"),
            LoadError::Setup { step, status } => {
                write!(f, "process setup: {step} failed with {}", st(status))
            }
        }
    }
}

impl std::error::Error for LoadError {}
impl std::error::Error for ImageError {}

/// Errors of the embedding API ([`crate::Process`] and its host calls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    Load(LoadError),
    /// The function is not exported by the library.
    NoSuchExport {
        name: String,
    },
    /// The guest process ended (exit status) while a call was running.
    ProcessExited {
        status: u32,
    },
    /// The guest raised an exception that nothing handled.
    Unhandled {
        code: u32,
        eip: u32,
    },
    /// The instruction budget ran out.
    BudgetExhausted,
    /// A guest memory access from the host failed.
    Memory {
        addr: u64,
        len: usize,
    },
    /// Allocation of guest memory failed.
    Alloc {
        size: u64,
        status: u32,
    },
    /// An exception nothing handled ended a host call (the process goes on).
    Fault {
        code: u32,
        address: u32,
        /// ExceptionInformation (for an access violation: read/write/execute, address).
        params: Vec<u32>,
    },
    /// Guest code called a host trap while no handler was installed.
    NoTrapHandler {
        addr: u32,
    },
    /// The run stopped for the embedder (a breakpoint or a hook), not in a way a host
    /// call can go on from.
    Stopped {
        why: String,
    },
    /// The callee broke the calling convention.
    Abi {
        what: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Load(e) => write!(f, "{e}"),
            Error::NoSuchExport { name } => write!(f, "no export named {name}"),
            Error::ProcessExited { status } => {
                write!(f, "the process exited with {}", crate::status::name(*status))
            }
            Error::Unhandled { code, eip } => {
                write!(f, "unhandled exception {} at {eip:#010x}", crate::status::name(*code))
            }
            Error::BudgetExhausted => write!(f, "instruction budget exhausted"),
            Error::Memory { addr, len } => write!(f, "guest memory {addr:#x}+{len:#x} is not accessible"),
            Error::Alloc { size, status } => {
                write!(f, "cannot allocate {size:#x} bytes: {}", crate::status::name(*status))
            }
            Error::Fault { code, address, params } => {
                write!(f, "unhandled exception {} at {address:#010x}", crate::status::name(*code))?;
                match (code, params.as_slice()) {
                    (0xC000_0005, [what, at, ..]) => {
                        let what = match what {
                            1 => "writing",
                            8 => "executing",
                            _ => "reading",
                        };
                        write!(f, " ({what} {at:#010x})")
                    }
                    _ => Ok(()),
                }
            }
            Error::NoTrapHandler { addr } => write!(f, "host trap {addr:#010x} called with no handler"),
            Error::Stopped { why } => write!(f, "the run stopped: {why}"),
            Error::Abi { what } => write!(f, "calling convention broken: {what}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<LoadError> for Error {
    fn from(e: LoadError) -> Self {
        Error::Load(e)
    }
}
