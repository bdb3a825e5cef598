//! What can go wrong in a debugger command. Every error is reported and the session
//! goes on, so each variant carries enough to say what was wrong in one line.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DebugError {
    /// The first word of a line is no command.
    UnknownCommand(String),
    /// A command got arguments it cannot use.
    Usage {
        command: &'static str,
        usage: &'static str,
    },
    /// An expression did not parse.
    Syntax {
        text: String,
        problem: String,
    },
    /// A name that is neither a register nor a known symbol.
    SymbolNotFound(String),
    /// Reading or writing memory that is not mapped.
    Unmapped {
        addr: u64,
        len: usize,
    },
    UnknownRegister(String),
    /// `break syscall NAME` with a name the guest ntdll has no stub for.
    UnknownService(String),
    NoSuchBreakpoint(u32),
    /// The program has ended: only inspection and reverse execution remain.
    NotRunning(String),
    /// The command needs a WOW64 process, and this session debugs a bare state.
    NeedsProcess(&'static str),
    /// Nothing earlier to go back to.
    NoHistory,
    Io {
        path: String,
        error: String,
    },
    /// The program or state could not be loaded.
    Load(String),
    /// The machine stopped in a way the debugger did not ask for (a bug guard).
    Internal(String),
}

impl fmt::Display for DebugError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DebugError::UnknownCommand(c) => write!(f, "unknown command `{c}` (try `help`)"),
            DebugError::Usage { command, usage } => write!(f, "usage: {command} {usage}"),
            DebugError::Syntax { text, problem } => write!(f, "bad expression `{text}`: {problem}"),
            DebugError::SymbolNotFound(s) => write!(f, "symbol not found: {s}"),
            DebugError::Unmapped { addr, len } => {
                write!(
                    f,
                    "memory at {addr:#010x} ({len} byte{}) is not mapped",
                    if *len == 1 { "" } else { "s" }
                )
            }
            DebugError::UnknownRegister(r) => write!(f, "unknown register `{r}`"),
            DebugError::UnknownService(s) => write!(f, "no system service named `{s}` in the guest ntdll"),
            DebugError::NoSuchBreakpoint(n) => write!(f, "no breakpoint number {n}"),
            DebugError::NotRunning(why) => write!(f, "the program is not running ({why})"),
            DebugError::NeedsProcess(what) => {
                write!(f, "`{what}` needs a WOW64 process (this is a bare machine state)")
            }
            DebugError::NoHistory => write!(f, "no earlier execution history"),
            DebugError::Io { path, error } => write!(f, "{path}: {error}"),
            DebugError::Load(m) => write!(f, "{m}"),
            DebugError::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for DebugError {}

pub type Result<T> = std::result::Result<T, DebugError>;
