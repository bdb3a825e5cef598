//! Traces of a run: per instruction its address, bytes, the registers it changed and
//! the memory it wrote; a header with the initial state and a final stop record.
//! Two encodings hold the same [`Trace`]: a compact binary one ([`binary`]) and JSON
//! Lines ([`jsonl`]); `docs/trace-format.md` specifies both.
//!
//! ```
//! use x86wow::cpu::state::MachineState;
//! use x86wow::oracle::trace::{self, Trace};
//!
//! let state = MachineState::parse(r#"{"regs": {"eip": 4096, "esp": 12288},
//!     "memory": [{"addr": 4096, "prot": "rx", "hex": "4050f4"}, {"addr": 8192, "size": 4096}]}"#).unwrap();
//! let t = trace::record(&state, 100).unwrap(); // inc eax; push eax; hlt
//! assert_eq!(t.steps.len(), 2);
//! assert_eq!(t.steps[1].writes, vec![(12284, vec![1, 0, 0, 0])]);
//! assert_eq!(t.stop.exit.reason, "hlt");
//! let bytes = trace::binary::encode(&t);
//! assert_eq!(trace::binary::decode(&bytes).unwrap(), t);
//! assert!(trace::compare(&t, &t).is_none());
//! ```

pub mod binary;
mod check;
pub mod cli;
pub mod jsonl;
mod record;
mod regs;

use std::fmt;

use x86wow_cpu::state::{ExitInfo, MachineState};

pub use check::{compare, compare_with, TraceDivergence};
pub use record::record;
pub use regs::{reg_id, RegFile, REGS};

/// The format version this build writes and reads.
pub const VERSION: u16 = 1;

/// A whole trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// The state the run started from.
    pub initial: MachineState,
    /// One entry per retired instruction.
    pub steps: Vec<Step>,
    /// How the run ended.
    pub stop: Stop,
}

/// One retired instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Its address and bytes.
    pub eip: u32,
    pub bytes: Vec<u8>,
    /// Registers whose value changed, as (register id, new value); see [`REGS`]. EIP is
    /// not listed: it is the next step's (or the stop's) `eip`.
    pub regs: Vec<(u8, u128)>,
    /// Memory written, as (address, bytes after the instruction), in ascending address
    /// order with adjacent writes merged.
    pub writes: Vec<(u32, Vec<u8>)>,
}

/// The end of a trace: EIP, the format's `exit` object, and what an instruction that
/// did not retire still changed (a REP string instruction interrupted by a fault
/// leaves ECX/ESI/EDI and memory as its completed iterations did; a faulting PUSHA
/// may have written part of its frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub eip: u32,
    pub exit: ExitInfo,
    pub regs: Vec<(u8, u128)>,
    pub writes: Vec<(u32, Vec<u8>)>,
}

/// A trace that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceError {
    /// Not a trace: the magic or the first line is wrong.
    NotATrace,
    /// A version this build does not read.
    Version(u16),
    /// The data ends inside a record (offset or line given).
    Truncated { at: usize },
    /// A malformed record.
    Malformed { at: usize, message: String },
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceError::NotATrace => write!(f, "not an x86wow trace"),
            TraceError::Version(v) => write!(f, "trace format version {v} (this build reads {VERSION})"),
            TraceError::Truncated { at } => write!(f, "trace ends inside a record at {at}"),
            TraceError::Malformed { at, message } => write!(f, "malformed trace record at {at}: {message}"),
        }
    }
}

impl std::error::Error for TraceError {}

/// Reads a trace in either encoding (binary if it starts with the magic).
pub fn decode(data: &[u8]) -> Result<Trace, TraceError> {
    if data.starts_with(binary::MAGIC) {
        binary::decode(data)
    } else {
        jsonl::decode(std::str::from_utf8(data).map_err(|_| TraceError::NotATrace)?)
    }
}

/// Coalesces memory writes: sorted by address, overlapping or adjacent ones merged, the
/// later bytes winning where they overlap.
pub fn coalesce(writes: &[(u32, Vec<u8>)]) -> Vec<(u32, Vec<u8>)> {
    let mut bytes = std::collections::BTreeMap::new();
    for (addr, data) in writes {
        for (i, b) in data.iter().enumerate() {
            bytes.insert(addr.wrapping_add(i as u32), *b);
        }
    }
    let mut out: Vec<(u32, Vec<u8>)> = Vec::new();
    for (a, b) in bytes {
        match out.last_mut() {
            Some((start, run)) if start.wrapping_add(run.len() as u32) == a && a != 0 => run.push(b),
            _ => out.push((a, vec![b])),
        }
    }
    out
}
