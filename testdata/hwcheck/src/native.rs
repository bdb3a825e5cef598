//! Native execution of 32-bit x86 snippets on the host CPU.
//!
//! [`NativeRunner`] drives a small freestanding i386 program (`runner/runner.c`, compiled by
//! `build.rs`) that maps the case's memory, enters the snippet from an exact machine state by
//! rewriting the signal frame of a deliberate fault, and reports the state found in the signal
//! frame of whatever signal ends the snippet. See `runner/runner.c` for the mechanics.
//!
//! # What the snippet sees
//!
//! * `CS` = 0x23, `DS` = `ES` = `SS` = 0x2b (flat user selectors); `FS`/`GS` = selectors of two
//!   TLS GDT entries (set_thread_area) describing flat 4 GiB data segments with bases
//!   `fs_base`/`gs_base` (0x63 and 0x6b on x86_64 kernels). [`NativeOutcome::selectors`] has
//!   the values.
//! * EFLAGS: CF PF AF ZF SF TF DF OF AC RF are loaded by sigreturn, NT and ID by a POPF just
//!   before the entry fault. IF is always set and IOPL 0; other bits are ignored.
//! * FPU: x87/MMX/SSE state from [`NativeCase::fxsave`] (or the FNINIT state with MXCSR 0x1F80).
//!   FCW, FSW, FIP, FDP, FOP, the registers, MXCSR and XMM0-7 are delivered; FCS and FDS are
//!   not (a 64-bit kernel keeps 64-bit FIP/FDP, so they arrive as 0); the tag word arrives as
//!   empty/non-empty per register (which is all FXSAVE records). MXCSR_MASK (bytes 28..32) and
//!   bytes 288..512 are ignored. An MXCSR with bits outside [`RunnerInfo::mxcsr_mask`] is
//!   [`RunStatus::Rejected`]. All other XSAVE components (AVX upper halves, AVX-512 state, ...)
//!   start in their init state (zero).
//! * Memory: only the case's regions, which must lie in [`REGION_MIN`, `REGION_END`); plus the
//!   runner's own image above 0x90000000 and the vDSO text page when it is used for system
//!   calls (see [`RunnerInfo::runner_mappings`], well under 1 MiB in all): accesses there do
//!   not fault, and writes there may corrupt the runner (which is then restarted).
//! * System calls (`int 0x80`, `syscall`, `sysenter`, the vDSO) are refused by a seccomp filter
//!   and raise SIGSYS, which ends the case (signal 31). Exception: in a 32-bit process the
//!   kernel handles `syscall` as the vDSO's fast system call, so EIP comes back as the vDSO's
//!   landing pad.
//! * On x86 without protection keys, PROT_WRITE and PROT_EXEC imply readable; PROT_READ does
//!   not imply executable (NX), so a fetch from a non-exec page is a #PF with err bit 4.
//!
//! # Wire protocol
//!
//! All integers little-endian, records unpadded unless stated, every record starts with a
//! 4-byte magic and a u32 total length (including these 8 bytes).
//!
//! Runner → host, once at start-up, the *hello* record (52 bytes):
//! ```text
//!   0 "XWH1"   4 len=52   8 version=2   12 cs   16 ds   20 fs selector   24 gs selector
//!  28 MXCSR_MASK   32 runner image start   36 runner image end   40 input buffer
//!  44 output buffer   48 flags (bit0: system calls through the vDSO, bit1: rt_sigreturn
//!                               with SYSCALL)
//! ```
//! Host → runner, one *case* record per case:
//! ```text
//!   0 "XWC1"   4 len   8 id (echoed)   12 flags (bit0: FXSAVE image present,
//!                                             bit1: flush output right after this case)
//!  16 timeout in µs of CPU time (0 = 1 s)   20 gpr[8] (EAX ECX EDX EBX ESP EBP ESI EDI)
//!  52 eip   56 eflags   60 fs_base   64 gs_base   68 region count
//!  72 [512-byte FXSAVE image if flags bit0]
//!     then the region table: per region u32 addr, u32 page count, u32 prot
//!     then the contents, region after region, 4 KiB page after page, each page as
//!     u16 lo, u16 hi, and the hi-lo bytes [lo, hi) of the page (all other bytes are zero)
//! ```
//! Runner → host, one *outcome* record per case, in order (length padded to a multiple of 4):
//! ```text
//!   0 "XWO1"   4 len   8 id   12 status (0 completed, 1 timed out, 2 map failed, 3 rejected)
//!  16 gpr[8]   48 eip   52 eflags   56 signal   60 trapno   64 err   68 cr2
//!  72 u16 cs, ds, es, fs, gs, ss (final)   84 512-byte FXSAVE image (bytes 464..512 zero)
//! 596 count of regions that follow; per region: u32 region index, u32 page count, pages
//!     encoded as in the case record (only writable regions are sent back)
//!     then u32 message length + message bytes (UTF-8; for statuses 2 and 3)
//! ```
//! Runner → host, when the runner has to exit because of a fault it cannot survive (e.g. a
//! snippet overwrote the runner's memory): its pending outcomes, then a *death notice*
//! ```text
//!   0 "XWD1"   4 len   8 id of the case being run (0xFFFFFFFF: none)   12 message length
//!  16 message (padded to a multiple of 4)
//! ```
//! If a runner dies without a death notice naming the case (killed, or too damaged), the host
//! re-sends the unanswered cases with the flush flag, so that a second death pinpoints the case.
//!
//! The runner streams case contents from a 256 KiB input buffer straight into the regions and
//! outcomes through a 256 KiB output buffer. It writes outcomes when it is about to read more
//! input (it may block), when the output buffer is full, after a case with the flush flag,
//! after a timeout, and after every 100 ms of snippet CPU time. The host writes cases from a
//! separate thread, so neither side can deadlock on a full pipe.

use std::fmt;
use std::io::{self, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

/// Lowest address a region may start at.
pub const REGION_MIN: u32 = 0x0001_0000;
/// Regions must end at or below this address.
pub const REGION_END: u32 = 0x7FFF_0000;
/// Maximum number of regions per case.
pub const MAX_REGIONS: usize = 256;
/// Maximum total size of the regions of one case.
pub const MAX_CASE_BYTES: usize = 32 << 20;

const MAGIC_CASE: u32 = u32::from_le_bytes(*b"XWC1");
const MAGIC_OUT: u32 = u32::from_le_bytes(*b"XWO1");
const MAGIC_HELLO: u32 = u32::from_le_bytes(*b"XWH1");
const MAGIC_DEATH: u32 = u32::from_le_bytes(*b"XWD1");
const PROTO_VERSION: u32 = 2;
const CF_FXSAVE: u32 = 1;
const CF_FLUSH: u32 = 2;
const PAGE: usize = 4096;
const OUT_HDR: usize = 600;
/// Host-side write chunk: cases are written to the pipe in chunks of about this size.
const WRITE_CHUNK: usize = 256 << 10;

/// One memory region of a case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NativeRegion {
    /// Page-aligned start address, in [`REGION_MIN`, `REGION_END`).
    pub addr: u32,
    /// Protection: bit 0 read, bit 1 write, bit 2 execute ([`NativeRegion::READ`], ...).
    pub prot: u8,
    /// Initial contents; the length is a non-zero multiple of 4096 and is the region's size.
    pub data: Vec<u8>,
}

impl NativeRegion {
    pub const READ: u8 = 1;
    pub const WRITE: u8 = 2;
    pub const EXEC: u8 = 4;
    pub const RW: u8 = 3;
    pub const RX: u8 = 5;
    pub const RWX: u8 = 7;

    /// A region of `pages` zeroed pages at `addr`, with `bytes` copied to its start.
    pub fn new(addr: u32, prot: u8, pages: usize, bytes: &[u8]) -> NativeRegion {
        let mut data = vec![0u8; pages * PAGE];
        data[..bytes.len()].copy_from_slice(bytes);
        NativeRegion { addr, prot, data }
    }
}

/// The initial state of one snippet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NativeCase {
    /// EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI (hardware encoding order).
    pub gpr: [u32; 8],
    pub eip: u32,
    /// EFLAGS as the snippet should see it. User-settable: CF PF AF ZF SF TF DF OF NT AC ID
    /// (and RF); bit 1 is always set and IF always set by the kernel, other bits are ignored.
    pub eflags: u32,
    /// Base of the flat data segment loaded into FS.
    pub fs_base: u32,
    /// Base of the flat data segment loaded into GS.
    pub gs_base: u32,
    /// Initial x87/MMX/SSE state in FXSAVE layout; `None` = FNINIT state, MXCSR 0x1F80, zero
    /// XMM. See the module documentation for the fields that cannot be delivered.
    pub fxsave: Option<Box<[u8; 512]>>,
    pub regions: Vec<NativeRegion>,
}

/// Segment selectors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Selectors {
    pub cs: u16,
    pub ds: u16,
    pub es: u16,
    pub fs: u16,
    pub gs: u16,
    pub ss: u16,
}

/// How a case ended.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// The snippet ran and was ended by a signal (normally SIGSEGV from the final HLT).
    Completed,
    /// The snippet used more CPU time than the timeout (see [`NativeRunner::set_timeout`]);
    /// the state is the one at the SIGPROF that stopped it.
    TimedOut,
    /// The regions could not be mapped (outside the allowed window, overlapping, unaligned,
    /// too large, or the kernel refused). Nothing ran.
    MapFailed(String),
    /// The runner process died (or stopped answering) while running this case; it has been
    /// restarted for the following cases. Nothing is known about the final state.
    RunnerDied(String),
    /// (Addition to the original API.) The case cannot be delivered to the CPU, e.g. an
    /// MXCSR with bits outside MXCSR_MASK (the kernel would refuse the signal frame).
    /// Nothing ran.
    Rejected(String),
}

/// The final state after a snippet.
///
/// For statuses other than `Completed`/`TimedOut`, the state fields repeat the case's initial
/// state (or are zero) and `signal` is 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NativeOutcome {
    /// EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI.
    pub gpr: [u32; 8],
    pub eip: u32,
    /// Raw from the signal context (may include RF; nothing is masked).
    pub eflags: u32,
    /// Signal that ended the snippet (SIGSEGV = 11, SIGTRAP = 5, SIGSYS = 31, SIGPROF = 27 for
    /// a timeout, ...).
    pub signal: i32,
    /// `trapno`, `err` and `cr2` from the i386 sigcontext. For signals that are not raised by
    /// an exception (SIGSYS, SIGPROF) they hold the values of the runner's entry fault
    /// (trapno 14, err 4, cr2 0).
    pub trapno: u32,
    pub err: u32,
    pub cr2: u32,
    /// Segment selectors the snippet started with (give the interpreter the same values).
    pub selectors: Selectors,
    /// (Addition to the original API.) Segment selectors in the signal context at the end
    /// (a snippet may load its own).
    pub final_selectors: Selectors,
    /// Final x87/MMX/SSE state in FXSAVE layout as saved by the 64-bit kernel (XSAVE64 format:
    /// bytes 8..16 = 64-bit FIP and 16..24 = 64-bit FDP, no FCS/FDS), bytes 464..512 zeroed.
    pub fxsave: Box<[u8; 512]>,
    /// Final bytes of every region, in case order (non-writable ones are copies of the input).
    pub regions: Vec<Vec<u8>>,
    pub status: RunStatus,
}

/// Native execution is not possible here; the string says why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "native 32-bit x86 execution unavailable: {}", self.0)
    }
}

impl std::error::Error for Unavailable {}

/// One mapping of the runner process, visible (readable or writable without a fault) to
/// snippets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunnerMapping {
    pub start: u32,
    pub end: u32,
    /// As in /proc/PID/maps, e.g. "rw-p".
    pub perms: String,
}

/// Facts about the running runner process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunnerInfo {
    pub pid: u32,
    /// Selectors snippets start with.
    pub selectors: Selectors,
    /// MXCSR_MASK of this CPU: MXCSR values with other bits set are `Rejected`.
    pub mxcsr_mask: u32,
    /// Everything mapped in the runner apart from case regions (all above `REGION_END`).
    pub runner_mappings: Vec<RunnerMapping>,
    /// The runner makes its system calls through the vDSO (SYSCALL/SYSENTER) rather than
    /// `int 0x80`, which costs a VM exit per call on Linux >= 6.7 under a hypervisor.
    pub vdso_syscalls: bool,
    /// The runner's rt_sigreturn uses SYSCALL (AMD) rather than `int 0x80`.
    pub syscall_sigreturn: bool,
}

/// The FXSAVE image used when [`NativeCase::fxsave`] is `None`: FCW 0x037F, MXCSR 0x1F80,
/// everything else zero.
pub fn default_fxsave() -> Box<[u8; 512]> {
    let mut fx = Box::new([0u8; 512]);
    fx[0..2].copy_from_slice(&0x037Fu16.to_le_bytes());
    fx[24..28].copy_from_slice(&0x1F80u32.to_le_bytes());
    fx
}

const RUNNER_PATH: Option<&str> = option_env!("X86WOW_HWRUNNER_PATH");
const RUNNER_BUILD_ERROR: Option<&str> = option_env!("X86WOW_HWRUNNER_ERROR");
static RUNNER_IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/x86wow-hwrunner"));

type Msg = Result<Vec<u8>, String>;

/// Environment variable that makes the runner use `int 0x80` for every system call (set it to
/// 1 in the host's environment to force that mode).
const SLOW_SYSCALLS_ENV: &str = "X86WOW_HWRUNNER_SLOW_SYSCALLS";

struct Proc {
    child: Child,
    stdin: ChildStdin,
    stderr: Option<ChildStderr>,
    rx: Receiver<Msg>,
}

/// Runs cases on the host CPU through a child process.
pub struct NativeRunner {
    exe: PathBuf,
    /// A copy of the runner we wrote ourselves (removed on drop).
    temp_exe: bool,
    proc: Option<Proc>,
    info: RunnerInfo,
    timeout: Duration,
    restarts: u32,
    /// Ask the runner to use `int 0x80` only (set when the fast path failed its test).
    slow_syscalls: bool,
}

impl fmt::Debug for NativeRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeRunner")
            .field("exe", &self.exe)
            .field("info", &self.info)
            .field("timeout", &self.timeout)
            .field("restarts", &self.restarts)
            .field("slow_syscalls", &self.slow_syscalls)
            .finish()
    }
}

impl NativeRunner {
    /// For the test suites: [`NativeRunner::start`], or `None` after printing why the
    /// hardware comparison is skipped on this host.
    pub fn start_or_skip() -> Option<NativeRunner> {
        match NativeRunner::start() {
            Ok(r) => Some(r),
            Err(e) => {
                println!("SKIPPED: {e}");
                None
            }
        }
    }
}

impl NativeRunner {
    /// Starts the runner. `Err` with a human-readable reason when native 32-bit execution is
    /// unavailable: not x86_64 Linux, no C compiler could build the runner, kernel without
    /// IA32 emulation or seccomp, ...
    pub fn start() -> Result<NativeRunner, Unavailable> {
        if let Some(e) = RUNNER_BUILD_ERROR {
            return Err(Unavailable(e.to_string()));
        }
        if !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
            return Err(Unavailable("native execution needs an x86_64 Linux host".to_string()));
        }
        let (exe, temp_exe) = locate_runner()?;
        let mut runner = NativeRunner {
            exe,
            temp_exe,
            proc: None,
            info: RunnerInfo::default(),
            timeout: Duration::from_secs(1),
            restarts: 0,
            slow_syscalls: std::env::var_os(SLOW_SYSCALLS_ENV).is_some_and(|v| v == "1"),
        };
        if let Err(fast) = runner.try_start() {
            // Fall back to plain `int 0x80` system calls.
            runner.slow_syscalls = true;
            runner
                .try_start()
                .map_err(|slow| Unavailable(format!("{slow} (with vDSO system calls: {fast})")))?;
        }
        runner.restarts = 0;
        Ok(runner)
    }

    /// Spawns the runner and checks that a lone HLT raises #GP at its address.
    fn try_start(&mut self) -> Result<(), String> {
        if let Some(p) = self.proc.take() {
            bury(p, "");
        }
        self.spawn().map_err(|e| format!("the runner could not be started: {e}"))?;
        let case = NativeCase {
            eip: REGION_MIN,
            eflags: 0x202,
            regions: vec![NativeRegion::new(REGION_MIN, NativeRegion::RX, 1, &[0xF4])],
            ..NativeCase::default()
        };
        let out = self.run(std::slice::from_ref(&case));
        let o = &out[0];
        if o.status != RunStatus::Completed || o.signal != 11 || o.trapno != 13 || o.eip != REGION_MIN {
            return Err(format!(
                "sanity check failed: HLT at {REGION_MIN:#x} gave status {:?}, signal {}, \
                 trapno {}, eip {:#x}",
                o.status, o.signal, o.trapno, o.eip
            ));
        }
        Ok(())
    }

    /// Facts about the runner (selectors, MXCSR_MASK, the runner's own mappings).
    pub fn info(&self) -> &RunnerInfo {
        &self.info
    }

    /// Per-case CPU-time limit (default 1 s, clamped to [1 ms, 1 h]).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout.clamp(Duration::from_millis(1), Duration::from_secs(3600));
    }

    /// How many times the runner process has been restarted after dying.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Runs `cases` in order and returns one outcome per case. Never panics on bad cases or
    /// runner failures: a runner that dies is restarted, the case that killed it gets
    /// `RunnerDied`, and the remaining cases still run.
    pub fn run(&mut self, cases: &[NativeCase]) -> Vec<NativeOutcome> {
        let mut outs: Vec<Option<NativeOutcome>> = vec![None; cases.len()];
        let mut todo = Vec::with_capacity(cases.len());
        for (i, c) in cases.iter().enumerate() {
            match validate(c) {
                Ok(()) => todo.push(i),
                Err(m) => outs[i] = Some(not_run(c, &self.info, RunStatus::MapFailed(m))),
            }
        }
        let mut pos = 0;
        // Cases in todo[..careful_until] are sent with the flush flag, so that a death while
        // running one of them identifies it.
        let mut careful_until: usize = 0;
        while pos < todo.len() {
            if self.proc.is_none() {
                if let Err(e) = self.spawn() {
                    for &i in &todo[pos..] {
                        let msg = format!("runner could not be restarted: {e}");
                        outs[i] = Some(not_run(&cases[i], &self.info, RunStatus::RunnerDied(msg)));
                    }
                    break;
                }
            }
            let careful = careful_until.saturating_sub(pos);
            let span = self.run_span(cases, &todo[pos..], careful, &mut outs);
            pos += span.answered;
            if let Some(Died { reason, written, culprit_known }) = span.died {
                self.restarts += 1;
                if culprit_known || pos >= todo.len() {
                    continue;
                }
                if pos < careful_until {
                    let i = todo[pos];
                    outs[i] = Some(not_run(&cases[i], &self.info, RunStatus::RunnerDied(reason)));
                    pos += 1;
                } else {
                    careful_until = pos + written.saturating_sub(span.answered).max(1);
                }
            }
        }
        outs.into_iter()
            .zip(cases)
            .map(|(o, c)| {
                o.unwrap_or_else(|| not_run(c, &self.info, RunStatus::RunnerDied("not run".to_string())))
            })
            .collect()
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut cmd = Command::new(&self.exe);
        if self.slow_syscalls {
            cmd.env(SLOW_SYSCALLS_ENV, "1");
        } else {
            cmd.env_remove(SLOW_SYSCALLS_ENV);
        }
        let mut child =
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| {
                if e.raw_os_error() == Some(8) {
                    format!(
                        "{}: {e} (the kernel cannot run 32-bit x86 programs: IA32 emulation \
                         disabled or missing)",
                        self.exe.display()
                    )
                } else {
                    format!("{}: {e}", self.exe.display())
                }
            })?;
        let stdout = child.stdout.take().expect("piped stdout");
        let stdin = child.stdin.take().expect("piped stdin");
        let stderr = child.stderr.take();
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("hwcheck-native-reader".to_string())
            .spawn(move || reader_thread(stdout, tx))
            .map_err(|e| format!("cannot spawn reader thread: {e}"))?;
        let proc = Proc { child, stdin, stderr, rx };
        let hello = match proc.rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(buf)) => buf,
            Ok(Err(e)) => return Err(format!("no hello from the runner ({e}); {}", bury(proc, ""))),
            Err(_) => return Err(format!("the runner did not answer; {}", bury(proc, ""))),
        };
        if hello.len() < 52 || le32(&hello, 0) != MAGIC_HELLO || le32(&hello, 8) != PROTO_VERSION {
            return Err(format!("bad hello record from the runner; {}", bury(proc, "")));
        }
        let (cs, ds) = (le32(&hello, 12) as u16, le32(&hello, 16) as u16);
        let pid = proc.child.id();
        self.info = RunnerInfo {
            pid,
            selectors: Selectors {
                cs,
                ds,
                es: ds,
                fs: le32(&hello, 20) as u16,
                gs: le32(&hello, 24) as u16,
                ss: ds,
            },
            mxcsr_mask: le32(&hello, 28),
            runner_mappings: read_mappings(pid),
            vdso_syscalls: le32(&hello, 48) & 1 != 0,
            syscall_sigreturn: le32(&hello, 48) & 2 != 0,
        };
        self.proc = Some(proc);
        Ok(())
    }

    fn run_span(
        &mut self,
        cases: &[NativeCase],
        idx: &[usize],
        careful: usize,
        outs: &mut [Option<NativeOutcome>],
    ) -> SpanResult {
        let Some(proc) = self.proc.as_mut() else {
            let reason = "no runner".to_string();
            return SpanResult { answered: 0, died: Some(Died { reason, written: 0, culprit_known: false }) };
        };
        let info = &self.info;
        let timeout_us = self.timeout.as_micros().min(u32::MAX as u128) as u32;
        let watchdog = self.timeout * 4 + Duration::from_secs(30);
        let written = AtomicUsize::new(0);
        let Proc { child, stdin, rx, .. } = proc;
        let mut answered = 0;
        let mut died: Option<String> = None;
        // The case named by a death notice (its outcome is filled in below).
        let mut culprit: Option<usize> = None;
        std::thread::scope(|s| {
            let writer = s.spawn(|| write_cases(stdin, cases, idx, careful, timeout_us, &written));
            while answered < idx.len() {
                let i = idx[answered];
                match rx.recv_timeout(watchdog) {
                    Ok(Ok(buf)) if le32(&buf, 0) == MAGIC_DEATH => {
                        let (id, msg) = decode_death(&buf);
                        if id as usize == i {
                            culprit = Some(i);
                            answered += 1;
                        }
                        died = Some(msg);
                        break;
                    }
                    Ok(Ok(buf)) => match decode_outcome(&buf, &cases[i], info) {
                        Ok((id, o)) if id as usize == i => {
                            outs[i] = Some(o);
                            answered += 1;
                        }
                        Ok((id, _)) => {
                            died = Some(format!("protocol error: outcome for case {id}, expected {i}"));
                            break;
                        }
                        Err(e) => {
                            died = Some(format!("protocol error: {e}"));
                            break;
                        }
                    },
                    Ok(Err(e)) => {
                        died = Some(format!("runner output ended ({e})"));
                        break;
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        died = Some(format!("runner unresponsive for {watchdog:?}; killed"));
                        break;
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        died = Some("runner output ended".to_string());
                        break;
                    }
                }
            }
            if died.is_some() {
                // Unblocks the writer (EPIPE) if it is stuck on a full pipe.
                let _ = child.kill();
            }
            let _ = writer.join();
        });
        match died {
            None => SpanResult { answered, died: None },
            Some(reason) => {
                let proc = self.proc.take().expect("proc");
                let reason = format!("{reason}; {}", bury(proc, &reason));
                if let Some(i) = culprit {
                    let status = RunStatus::RunnerDied(reason.clone());
                    outs[i] = Some(not_run(&cases[i], &self.info, status));
                }
                let written = written.load(Ordering::SeqCst);
                let culprit_known = culprit.is_some();
                SpanResult { answered, died: Some(Died { reason, written, culprit_known }) }
            }
        }
    }
}

impl Drop for NativeRunner {
    fn drop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        if self.temp_exe {
            let _ = std::fs::remove_file(&self.exe);
        }
    }
}

struct SpanResult {
    /// Cases of the span answered (a prefix; includes a case named by a death notice).
    answered: usize,
    died: Option<Died>,
}

/// The runner died during a span.
struct Died {
    reason: String,
    /// How many cases of the span had been written to it.
    written: usize,
    /// A death notice named the case being run (its outcome is already `RunnerDied`).
    culprit_known: bool,
}

fn decode_death(b: &[u8]) -> (u32, String) {
    if b.len() < 16 {
        return (u32::MAX, "runner died (truncated death notice)".to_string());
    }
    let n = (le32(b, 12) as usize).min(b.len() - 16);
    let msg = String::from_utf8_lossy(&b[16..16 + n]).trim().to_string();
    (le32(b, 8), format!("runner died: {msg}"))
}

/// Reaps the runner (killing it if it does not exit by itself within 200 ms); returns its
/// exit status and, unless `said` already contains it, its stderr.
fn bury(mut proc: Proc, said: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_millis(200);
    while matches!(proc.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = proc.child.kill();
    let status = match proc.child.wait() {
        Ok(s) => s.to_string(),
        Err(e) => format!("wait failed: {e}"),
    };
    let mut err = String::new();
    if let Some(mut e) = proc.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let err = err.trim();
    if err.is_empty() || said.contains(err) {
        format!("runner {status}")
    } else {
        format!("runner {status}; stderr: {err}")
    }
}

/// Environment variable naming a runner executable to use instead of the built one.
const RUNNER_EXE_ENV: &str = "X86WOW_HWRUNNER_EXE";

fn locate_runner() -> Result<(PathBuf, bool), Unavailable> {
    if let Some(p) = std::env::var_os(RUNNER_EXE_ENV) {
        return Ok((PathBuf::from(p), false));
    }
    if let Some(p) = RUNNER_PATH {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok((p, false));
        }
    }
    if RUNNER_IMAGE.is_empty() {
        return Err(Unavailable("the runner executable was not built".to_string()));
    }
    // The build directory is gone: write the embedded copy.
    use std::os::unix::fs::OpenOptionsExt;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let path = std::env::temp_dir().join(format!("x86wow-hwrunner-{}-{nanos}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o700)
        .open(&path)
        .map_err(|e| Unavailable(format!("cannot write the runner to {}: {e}", path.display())))?;
    f.write_all(RUNNER_IMAGE)
        .map_err(|e| Unavailable(format!("cannot write the runner to {}: {e}", path.display())))?;
    Ok((path, true))
}

fn read_mappings(pid: u32) -> Vec<RunnerMapping> {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let range = it.next()?;
            let perms = it.next()?.to_string();
            let (a, b) = range.split_once('-')?;
            Some(RunnerMapping {
                start: u32::from_str_radix(a, 16).ok()?,
                end: u32::from_str_radix(b, 16).ok()?,
                perms,
            })
        })
        .collect()
}

fn reader_thread(stdout: ChildStdout, tx: Sender<Msg>) {
    let mut r = BufReader::with_capacity(1 << 20, stdout);
    loop {
        let mut hdr = [0u8; 8];
        if let Err(e) = r.read_exact(&mut hdr) {
            let _ = tx.send(Err(if e.kind() == io::ErrorKind::UnexpectedEof {
                "EOF".to_string()
            } else {
                e.to_string()
            }));
            return;
        }
        let len = u32::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize;
        if !(8..=(256 << 20)).contains(&len) {
            let _ = tx.send(Err(format!("bad record length {len}")));
            return;
        }
        let mut buf = vec![0u8; len];
        buf[..8].copy_from_slice(&hdr);
        if let Err(e) = r.read_exact(&mut buf[8..]) {
            let _ = tx.send(Err(e.to_string()));
            return;
        }
        if tx.send(Ok(buf)).is_err() {
            return;
        }
    }
}

fn write_cases(
    stdin: &mut ChildStdin,
    cases: &[NativeCase],
    idx: &[usize],
    careful: usize,
    timeout_us: u32,
    written: &AtomicUsize,
) {
    let mut buf = Vec::with_capacity(WRITE_CHUNK + (64 << 10));
    for (k, &i) in idx.iter().enumerate() {
        encode_case(&mut buf, i as u32, &cases[i], k < careful, timeout_us);
        if buf.len() >= WRITE_CHUNK || k + 1 == idx.len() || k < careful {
            if stdin.write_all(&buf).and_then(|_| stdin.flush()).is_err() {
                return;
            }
            buf.clear();
            written.store(k + 1, Ordering::SeqCst);
        }
    }
}

fn validate(c: &NativeCase) -> Result<(), String> {
    if c.regions.len() > MAX_REGIONS {
        return Err(format!("{} regions (at most {MAX_REGIONS})", c.regions.len()));
    }
    let mut total = 0usize;
    let mut spans: Vec<(u64, u64)> = Vec::with_capacity(c.regions.len());
    for r in &c.regions {
        let len = r.data.len();
        let end = r.addr as u64 + len as u64;
        if r.addr % PAGE as u32 != 0 || len == 0 || len % PAGE != 0 {
            return Err(format!(
                "region at {:#x} with {len} bytes: address must be page aligned and the size a \
                 non-zero multiple of 4096",
                r.addr
            ));
        }
        if r.addr < REGION_MIN || end > REGION_END as u64 {
            return Err(format!(
                "region [{:#x}, {end:#x}) is outside [{REGION_MIN:#x}, {REGION_END:#x})",
                r.addr
            ));
        }
        if r.prot > 7 {
            return Err(format!("region at {:#x}: bad protection {:#x}", r.addr, r.prot));
        }
        total += len;
        spans.push((r.addr as u64, end));
    }
    if total > MAX_CASE_BYTES {
        return Err(format!("regions total {total} bytes (at most {MAX_CASE_BYTES})"));
    }
    spans.sort_unstable();
    for w in spans.windows(2) {
        if w[1].0 < w[0].1 {
            return Err(format!("regions at {:#x} and {:#x} overlap", w[0].0, w[1].0));
        }
    }
    Ok(())
}

fn put32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

/// The range `[lo, hi)` of a page outside which all bytes are zero; `None` if all are zero.
fn nonzero_span(page: &[u8]) -> Option<(usize, usize)> {
    let word = |k: usize| u64::from_le_bytes(page[8 * k..8 * k + 8].try_into().expect("8 bytes"));
    let words = page.len() / 8;
    let first = (0..words).find(|&k| word(k) != 0)?;
    let last = (first..words).rev().find(|&k| word(k) != 0).unwrap_or(first);
    let lo = 8 * first + (word(first).trailing_zeros() / 8) as usize;
    let hi = 8 * last + 8 - (word(last).leading_zeros() / 8) as usize;
    Some((lo, hi))
}

/// Appends the page-span encoding of `data` (a multiple of 4096 bytes).
fn encode_pages(buf: &mut Vec<u8>, data: &[u8]) {
    for page in data.chunks_exact(PAGE) {
        match nonzero_span(page) {
            None => put32(buf, 0),
            Some((lo, hi)) => {
                buf.extend_from_slice(&(lo as u16).to_le_bytes());
                buf.extend_from_slice(&(hi as u16).to_le_bytes());
                buf.extend_from_slice(&page[lo..hi]);
            }
        }
    }
}

/// Decodes pages of the page-span encoding at `b[*off..]` into `dst`, which must be zeroed.
fn decode_pages(b: &[u8], off: &mut usize, dst: &mut [u8]) -> Result<(), String> {
    for page in dst.chunks_exact_mut(PAGE) {
        if *off + 4 > b.len() {
            return Err("truncated region data".to_string());
        }
        let (lo, hi) = (le16(b, *off) as usize, le16(b, *off + 2) as usize);
        *off += 4;
        if lo > hi || hi > PAGE || *off + (hi - lo) > b.len() {
            return Err("bad page span".to_string());
        }
        page[lo..hi].copy_from_slice(&b[*off..*off + hi - lo]);
        *off += hi - lo;
    }
    Ok(())
}

fn encode_case(buf: &mut Vec<u8>, id: u32, c: &NativeCase, flush: bool, timeout_us: u32) {
    let start = buf.len();
    put32(buf, MAGIC_CASE);
    put32(buf, 0); // length, patched below
    put32(buf, id);
    let flags = if c.fxsave.is_some() { CF_FXSAVE } else { 0 } | if flush { CF_FLUSH } else { 0 };
    put32(buf, flags);
    put32(buf, timeout_us);
    for g in c.gpr {
        put32(buf, g);
    }
    for v in [c.eip, c.eflags, c.fs_base, c.gs_base, c.regions.len() as u32] {
        put32(buf, v);
    }
    if let Some(fx) = &c.fxsave {
        buf.extend_from_slice(&fx[..]);
    }
    for r in &c.regions {
        put32(buf, r.addr);
        put32(buf, (r.data.len() / PAGE) as u32);
        put32(buf, r.prot as u32);
    }
    for r in &c.regions {
        encode_pages(buf, &r.data);
    }
    let len = (buf.len() - start) as u32;
    buf[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
}

fn decode_outcome(b: &[u8], c: &NativeCase, info: &RunnerInfo) -> Result<(u32, NativeOutcome), String> {
    if b.len() < OUT_HDR + 4 || le32(b, 0) != MAGIC_OUT {
        return Err("bad outcome record".to_string());
    }
    let id = le32(b, 8);
    let status = le32(b, 12);
    let mut off = OUT_HDR;
    let nreg = le32(b, 596) as usize;
    let mut regions: Vec<Option<Vec<u8>>> = vec![None; c.regions.len()];
    for _ in 0..nreg {
        if off + 8 > b.len() {
            return Err("truncated outcome".to_string());
        }
        let (j, npages) = (le32(b, off) as usize, le32(b, off + 4) as usize);
        off += 8;
        if j >= c.regions.len() || npages * PAGE != c.regions[j].data.len() {
            return Err(format!("outcome names region {j} with {npages} pages"));
        }
        let mut data = vec![0u8; npages * PAGE];
        decode_pages(b, &mut off, &mut data)?;
        regions[j] = Some(data);
    }
    if off + 4 > b.len() {
        return Err("truncated outcome".to_string());
    }
    let mlen = le32(b, off) as usize;
    let msg =
        b.get(off + 4..off + 4 + mlen).map(|m| String::from_utf8_lossy(m).into_owned()).unwrap_or_default();
    let status = match status {
        0 => RunStatus::Completed,
        1 => RunStatus::TimedOut,
        2 => return Ok((id, not_run(c, info, RunStatus::MapFailed(msg)))),
        3 => return Ok((id, not_run(c, info, RunStatus::Rejected(msg)))),
        s => return Err(format!("unknown status {s}")),
    };
    let mut gpr = [0u32; 8];
    for (k, g) in gpr.iter_mut().enumerate() {
        *g = le32(b, 16 + 4 * k);
    }
    let mut fxsave = Box::new([0u8; 512]);
    fxsave.copy_from_slice(&b[84..596]);
    let sel = |k: usize| le16(b, 72 + 2 * k);
    let outcome = NativeOutcome {
        gpr,
        eip: le32(b, 48),
        eflags: le32(b, 52),
        signal: le32(b, 56) as i32,
        trapno: le32(b, 60),
        err: le32(b, 64),
        cr2: le32(b, 68),
        selectors: info.selectors,
        final_selectors: Selectors { cs: sel(0), ds: sel(1), es: sel(2), fs: sel(3), gs: sel(4), ss: sel(5) },
        fxsave,
        regions: regions
            .into_iter()
            .zip(&c.regions)
            .map(|(o, r)| o.unwrap_or_else(|| r.data.clone()))
            .collect(),
        status,
    };
    Ok((id, outcome))
}

/// The outcome of a case that did not run: the initial state with `status`.
fn not_run(c: &NativeCase, info: &RunnerInfo, status: RunStatus) -> NativeOutcome {
    NativeOutcome {
        gpr: c.gpr,
        eip: c.eip,
        eflags: c.eflags,
        signal: 0,
        trapno: 0,
        err: 0,
        cr2: 0,
        selectors: info.selectors,
        final_selectors: info.selectors,
        fxsave: c.fxsave.clone().unwrap_or_else(default_fxsave),
        regions: c.regions.iter().map(|r| r.data.clone()).collect(),
        status,
    }
}
