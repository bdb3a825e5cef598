//! The debuggee: a WOW64 process built as `x86wow run` builds it, or a bare machine
//! state, and how to run either until the hook in `control.rs` stops it.
//!
//! `x86wow_wow64::Process` has no call that runs until an embedder stop (its run loop
//! resumes after `Exit::HookStop`), so a stop goes through the one thing that does end
//! the loop between instructions: the instruction budget. The process is built with a
//! budget of [`STOP_INSNS`]; to stop, the hook sets the CPU's instruction counter to it,
//! and the real count is put back as soon as the loop returns. Nothing runs in between,
//! so the guest never sees the stand-in (RDTSC and the kernel clock read the counter
//! only while instructions run or services are called).

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use x86wow_cpu::state::MachineState;
use x86wow_cpu::{Cpu, Exit};
use x86wow_syscalls::OutputStream;
use x86wow_wow64::{Error as WowError, Process};

use super::control::{SharedControl, STOP_INSNS};
use super::error::{DebugError, Result};

/// How to build the process again (for reverse execution).
#[derive(Clone)]
pub struct ProcessSpec {
    pub image: Vec<u8>,
    /// Where the image lives in the sandbox (`C:\hello.exe`).
    pub image_path: String,
    pub args: Vec<String>,
    pub root: Option<PathBuf>,
    /// Extra files for the sandbox (DLLs the program imports), by Win32 path.
    pub files: Vec<(String, Vec<u8>)>,
}

/// Lines of the service trace kept for `monitor syscalls`.
const TRACE_LOG_LINES: usize = 1000;

struct ConsoleState {
    /// Guest output bytes shown so far, over every incarnation of the process.
    shown: u64,
    /// Guest output bytes written by the current incarnation.
    written: u64,
    trace_on: bool,
    /// Re-executing to reach a past position: nothing is shown.
    replaying: bool,
    trace_log: VecDeque<String>,
    partial: Vec<u8>,
    /// The last guest byte shown ended a line (debugger output starts on a new one).
    at_line_start: bool,
    out: Box<dyn Write + Send>,
}

impl ConsoleState {
    fn new_line(&mut self) {
        if !self.at_line_start {
            let _ = self.out.write_all(b"\n");
            self.at_line_start = true;
        }
    }
}

/// Where the guest's console output and the service trace go.
///
/// Re-execution writes the same output again; only bytes past what was already shown
/// are passed on, so the user sees each byte once however often history is replayed.
#[derive(Clone)]
pub struct Console(Arc<Mutex<ConsoleState>>);

impl Console {
    pub fn new(out: Box<dyn Write + Send>) -> Console {
        Console(Arc::new(Mutex::new(ConsoleState {
            shown: 0,
            written: 0,
            trace_on: false,
            replaying: false,
            trace_log: VecDeque::new(),
            partial: Vec::new(),
            at_line_start: true,
            out,
        })))
    }

    fn with<T>(&self, f: impl FnOnce(&mut ConsoleState) -> T) -> T {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    pub fn set_trace(&self, on: bool) {
        self.with(|s| s.trace_on = on);
    }

    pub fn trace_on(&self) -> bool {
        self.with(|s| s.trace_on)
    }

    pub fn set_replaying(&self, on: bool) {
        self.with(|s| s.replaying = on);
    }

    /// The last `n` trace lines.
    pub fn trace_tail(&self, n: usize) -> Vec<String> {
        self.with(|s| s.trace_log.iter().skip(s.trace_log.len().saturating_sub(n)).cloned().collect())
    }

    /// Ends a partial line of guest output, so that what the debugger prints next
    /// starts on its own line.
    pub fn ensure_line_start(&self) {
        self.with(|s| {
            s.new_line();
            let _ = s.out.flush();
        });
    }

    fn new_incarnation(&self) {
        self.with(|s| s.written = 0);
    }

    fn guest_write(&self, data: &[u8]) {
        self.with(|s| {
            let start = s.written;
            s.written += data.len() as u64;
            if s.written > s.shown {
                let skip = s.shown.saturating_sub(start) as usize;
                let _ = s.out.write_all(&data[skip..]);
                let _ = s.out.flush();
                s.shown = s.written;
                s.at_line_start = data.last() == Some(&b'\n');
            }
        });
    }

    fn trace_write(&self, data: &[u8]) {
        self.with(|s| {
            s.partial.extend_from_slice(data);
            while let Some(nl) = s.partial.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = s.partial.drain(..=nl).collect();
                if s.replaying {
                    continue;
                }
                let text = String::from_utf8_lossy(&line).trim_end().to_string();
                if s.trace_on {
                    s.new_line();
                    let _ = writeln!(s.out, "{text}");
                    let _ = s.out.flush();
                }
                if s.trace_log.len() == TRACE_LOG_LINES {
                    s.trace_log.pop_front();
                }
                s.trace_log.push_back(text);
            }
        });
    }
}

struct GuestWriter(Console);

impl Write for GuestWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.guest_write(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct TraceWriter(Console);

impl Write for TraceWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.trace_write(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl ProcessSpec {
    /// Builds the process (deterministically: same spec, same process).
    pub fn build(&self, console: &Console) -> Result<Process> {
        console.new_incarnation();
        let mut b = Process::builder()
            .image_path(self.image_path.clone())
            .args(self.args.iter().cloned())
            .stdout(OutputStream::new(GuestWriter(console.clone())))
            .stderr(OutputStream::new(GuestWriter(console.clone())))
            .trace(TraceWriter(console.clone()))
            .max_insns(STOP_INSNS);
        if let Some(r) = &self.root {
            b = b.root(r);
        }
        for (path, data) in &self.files {
            b = b.file(path.clone(), data.clone());
        }
        b.build(&self.image).map_err(|e| DebugError::Load(format!("cannot load {}: {e}", self.image_path)))
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// The hook stopped it (`Control::stop` says why).
    Stopped,
    /// The process ended.
    Exited { status: u32, message: Option<String> },
    /// A bare state's CPU stopped on its own: HLT, a fault, INT n, a far transfer...
    CpuExit(Exit),
}

/// What is being debugged.
pub enum Machine {
    Process { spec: Box<ProcessSpec>, process: Box<Process>, console: Console },
    State { initial: Box<MachineState>, cpu: Box<Cpu> },
}

impl Machine {
    pub fn cpu(&self) -> &Cpu {
        match self {
            Machine::Process { process, .. } => &process.cpu,
            Machine::State { cpu, .. } => cpu,
        }
    }

    pub fn cpu_mut(&mut self) -> &mut Cpu {
        match self {
            Machine::Process { process, .. } => &mut process.cpu,
            Machine::State { cpu, .. } => cpu,
        }
    }

    pub fn process(&self) -> Option<&Process> {
        match self {
            Machine::Process { process, .. } => Some(process),
            Machine::State { .. } => None,
        }
    }

    pub fn console(&self) -> Option<&Console> {
        match self {
            Machine::Process { console, .. } => Some(console),
            Machine::State { .. } => None,
        }
    }

    /// Replaces the process with a freshly built one (the start of its history).
    pub fn rebuild(&mut self) -> Result<()> {
        if let Machine::Process { spec, process, console } = self {
            **process = spec.build(console)?;
        }
        Ok(())
    }

    /// Runs until the hook stops the CPU or the program ends.
    pub fn resume(&mut self, ctl: &SharedControl) -> Result<RunEnd> {
        match self {
            Machine::Process { process, .. } => {
                let r = process.run_checked();
                if let Some(n) = ctl.borrow_mut().saved_insns.take() {
                    process.cpu.set_insns(n);
                }
                match r {
                    Ok(status) => {
                        // A budget message is the stand-in stop's, not the program's.
                        let message = process
                            .message()
                            .filter(|m| !m.starts_with("instruction budget exhausted"))
                            .map(str::to_string);
                        Ok(RunEnd::Exited { status, message })
                    }
                    Err(WowError::BudgetExhausted) if ctl.borrow().stop.is_some() => Ok(RunEnd::Stopped),
                    Err(e) => Err(DebugError::Internal(format!("the process stopped unexpectedly: {e}"))),
                }
            }
            Machine::State { cpu, .. } => loop {
                match cpu.run(u64::MAX) {
                    Exit::HookStop if ctl.borrow().stop.is_some() => return Ok(RunEnd::Stopped),
                    Exit::HookStop | Exit::BudgetExhausted | Exit::Breakpoint(_) => continue,
                    exit => return Ok(RunEnd::CpuExit(exit)),
                }
            },
        }
    }
}
