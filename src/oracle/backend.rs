//! The seam between the oracle and an execution engine.

use std::fmt;

use x86wow_cpu::state::{ExitInfo, MachineState, MemRegion, StateError};

/// An execution engine the oracle can drive: x86wow's interpreter
/// ([`super::Interpreter`]), an engine in another process ([`super::PipeBackend`]), or
/// a wrapper around either ([`super::Corrupt`]).
///
/// States are exchanged in the machine-state format ([`MachineState`], see
/// `docs/state-format.md`); stops are reported as the format's `exit` object
/// ([`ExitInfo`]), whose `insns` counts the instructions retired since the last
/// [`Backend::load`].
///
/// ```
/// use x86wow::oracle::{Backend, Interpreter};
/// use x86wow::cpu::state::MachineState;
///
/// let state = MachineState::parse(r#"{"regs": {"eax": 2, "ebx": 40, "eip": 4096},
///     "memory": [{"addr": 4096, "prot": "rx", "hex": "01d8f4"}]}"#).unwrap();
/// let mut engine = Interpreter::fast();
/// engine.load(&state).unwrap();
/// assert_eq!(engine.step().unwrap().reason, "budget"); // add eax, ebx retired
/// assert_eq!(engine.run(10).unwrap().reason, "hlt");
/// assert_eq!(engine.state().unwrap().regs.eax, 42);
/// ```
pub trait Backend {
    /// A short name for reports, e.g. `x86wow (fast)`.
    fn name(&self) -> String;

    /// The undefined-flags model the engine implements, if it claims one (x86wow:
    /// `amd-family-19h`). Two backends claiming the same model are compared on every
    /// EFLAGS bit; otherwise the bits an instruction leaves undefined are masked.
    fn undefined_flags_model(&self) -> Option<String>;

    /// Replaces the whole machine with `state`: registers, x87/SSE, segments and memory
    /// (everything mapped before is unmapped). Resets the instruction count.
    fn load(&mut self, state: &MachineState) -> Result<(), BackendError>;

    /// Maps one more region (page-rounded, zero-filled but for its bytes).
    fn map(&mut self, region: &MemRegion) -> Result<(), BackendError>;

    /// Reads `len` bytes of memory at `addr`.
    fn read(&mut self, addr: u32, len: u32) -> Result<Vec<u8>, BackendError>;

    /// The current state, with the regions loaded and mapped so far as its layout. It
    /// carries the x87/SSE fields when the engine models them.
    fn state(&mut self) -> Result<MachineState, BackendError>;

    /// Executes at most `budget` instructions; reason `budget` when all of them retired
    /// without another stop.
    fn run(&mut self, budget: u64) -> Result<ExitInfo, BackendError>;

    /// Executes one instruction.
    fn step(&mut self) -> Result<ExitInfo, BackendError> {
        self.run(1)
    }

    /// [`Backend::run`] followed by [`Backend::state`]; engines behind a pipe answer
    /// both in one round trip.
    fn run_and_state(&mut self, budget: u64) -> Result<(ExitInfo, MachineState), BackendError> {
        let exit = self.run(budget)?;
        Ok((exit, self.state()?))
    }
}

impl<B: Backend + ?Sized> Backend for Box<B> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn undefined_flags_model(&self) -> Option<String> {
        (**self).undefined_flags_model()
    }
    fn load(&mut self, state: &MachineState) -> Result<(), BackendError> {
        (**self).load(state)
    }
    fn map(&mut self, region: &MemRegion) -> Result<(), BackendError> {
        (**self).map(region)
    }
    fn read(&mut self, addr: u32, len: u32) -> Result<Vec<u8>, BackendError> {
        (**self).read(addr, len)
    }
    fn state(&mut self) -> Result<MachineState, BackendError> {
        (**self).state()
    }
    fn run(&mut self, budget: u64) -> Result<ExitInfo, BackendError> {
        (**self).run(budget)
    }
    fn step(&mut self) -> Result<ExitInfo, BackendError> {
        (**self).step()
    }
    fn run_and_state(&mut self, budget: u64) -> Result<(ExitInfo, MachineState), BackendError> {
        (**self).run_and_state(budget)
    }
}

/// Why a backend could not do what was asked.
#[derive(Debug)]
pub enum BackendError {
    /// The state (or region) is not valid for this engine.
    State(StateError),
    /// Memory that is not mapped was read.
    Unmapped { addr: u32, len: u32 },
    /// The engine process could not be started.
    Spawn { command: String, source: std::io::Error },
    /// Talking to the engine process failed.
    Io { engine: String, source: std::io::Error },
    /// The engine process closed its output (it exited or crashed).
    Closed { engine: String, request: String },
    /// The engine answered something that is not the protocol.
    Protocol { engine: String, message: String },
    /// The engine refused a request: `{"ok": false, "error": ...}`.
    Refused { engine: String, request: String, message: String },
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendError::State(e) => write!(f, "invalid state: {e}"),
            BackendError::Unmapped { addr, len } => write!(f, "{len} bytes at {addr:#010x} are not mapped"),
            BackendError::Spawn { command, source } => write!(f, "cannot start `{command}`: {source}"),
            BackendError::Io { engine, source } => write!(f, "{engine}: {source}"),
            BackendError::Closed { engine, request } => {
                write!(f, "{engine}: the engine closed its output (answering `{request}`)")
            }
            BackendError::Protocol { engine, message } => write!(f, "{engine}: protocol error: {message}"),
            BackendError::Refused { engine, request, message } => {
                write!(f, "{engine}: `{request}` refused: {message}")
            }
        }
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BackendError::State(e) => Some(e),
            BackendError::Spawn { source, .. } | BackendError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<StateError> for BackendError {
    fn from(e: StateError) -> Self {
        BackendError::State(e)
    }
}
