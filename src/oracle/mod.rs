//! The oracle: x86wow as the reference other execution engines are checked against.
//!
//! - [`Backend`] is the seam an engine implements: load and read back a machine state
//!   (the format of `docs/state-format.md`), map and read memory, step or run with a
//!   budget, and report how it stopped ([`ExitInfo`](x86wow_cpu::state::ExitInfo)).
//!   [`Interpreter`] is x86wow itself (block cache on: "fast", off: "plain");
//!   [`PipeBackend`] drives an engine in any language over JSON Lines
//!   (`docs/oracle.md`), and [`serve`] exposes a backend over the same protocol.
//! - [`Lockstep`] runs two backends side by side and reports the first [`Divergence`]:
//!   the instruction, both states, the differing fields, with EFLAGS masked by the
//!   flags the instruction leaves undefined unless both claim the same model.
//! - [`trace`] records compact traces of a run and checks another engine's trace.
//! - [`vectors`] exports hardware-confirmed per-instruction test vectors.
//! - [`fuzz`] holds the fuzzing harnesses of `fuzz/`.

mod backend;
pub mod cli;
mod corrupt;
mod diff;
mod exit;
mod flags;
pub mod fuzz;
pub mod input;
mod interp;
mod lockstep;
mod pipe;
mod protocol;
pub mod trace;
pub mod vectors;

pub use backend::{Backend, BackendError};
pub use corrupt::Corrupt;
pub use diff::{compare_states, flag_names, FieldDiff};
pub use exit::{exit_from_json, REASONS};
pub use flags::{code_bytes, decode_at, defined_flags, disassemble, undefined_flags, STATUS_FLAGS};
pub use interp::{Interpreter, X86WOW_FLAGS_MODEL};
pub use lockstep::{Divergence, Granularity, Lockstep, LockstepError, Options, Outcome};
pub use pipe::{split_command, PipeBackend};
pub use protocol::{region_from_json, region_to_json, serve, PROTOCOL_VERSION};
