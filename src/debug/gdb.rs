//! The GDB remote-serial-protocol stub (`--gdb HOST:PORT`), on the `gdbstub` crate.
//!
//! gdb sees an i386 target (general registers, segment selectors, EFLAGS, x87, XMM,
//! MXCSR; see [`TARGET_XML`]) with software breakpoints and watchpoints kept by the
//! debugger (gdb writes no INT3s into guest code), single step, reverse step and
//! continue, memory access, the loaded DLLs (`qXfer:libraries:read`, so `info
//! sharedlibrary` lists them), and `monitor` commands: every inspection command of the
//! REPL (`monitor bt`, `monitor teb`, `monitor break syscall NtWriteFile`...) plus
//! `monitor syscalls [N]`, the last service trace lines. gdb's `catch syscall` needs
//! per-OS support gdb has only for Linux, so system-call catchpoints are set with
//! `monitor break syscall NAME` and reported as SIGTRAP.

use std::fmt::Write as _;
use std::net::{TcpListener, TcpStream};

use gdbstub::arch::Arch;
use gdbstub::common::Signal;
use gdbstub::conn::ConnectionExt;
use gdbstub::stub::{run_blocking, DisconnectReason, GdbStub, SingleThreadStopReason};
use gdbstub::target::ext::base::reverse_exec::{
    ReplayLogPosition, ReverseCont, ReverseContOps, ReverseStep, ReverseStepOps,
};
use gdbstub::target::ext::base::singlethread::{
    SingleThreadBase, SingleThreadResume, SingleThreadResumeOps, SingleThreadSingleStep,
    SingleThreadSingleStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwWatchpoint, HwWatchpointOps, SwBreakpoint, SwBreakpointOps,
    WatchKind as GdbWatch,
};
use gdbstub::target::ext::libraries::{Libraries, LibrariesOps};
use gdbstub::target::ext::monitor_cmd::{ConsoleOutput, MonitorCmd, MonitorCmdOps};
use gdbstub::target::{Target, TargetError, TargetResult};
use gdbstub_arch::x86::reg::id::X86CoreRegId;
use gdbstub_arch::x86::reg::X86CoreRegs;
use x86wow_cpu::exception::vector;
use x86wow_cpu::{Cpu, Exit};

use super::commands;
use super::control::{BreakKind, Hit, WatchKind};
use super::disasm::read_mapped;
use super::error::{DebugError, Result};
use super::expr::Reg;
use super::reverse::Edit;
use super::session::{Session, StopEvent, StopReason};
use super::views::{self, Style};

/// The i386 target description gdb gets: the core and SSE features of gdb's own
/// `i386/32bit-core.xml` and `i386/32bit-sse.xml`, in the register order
/// `gdbstub_arch`'s `X86CoreRegs` serialises.
pub const TARGET_XML: &str = r#"<?xml version="1.0"?>
<!DOCTYPE target SYSTEM "gdb-target.dtd">
<target version="1.0">
<architecture>i386</architecture>
<feature name="org.gnu.gdb.i386.core">
<flags id="i386_eflags" size="4">
<field name="CF" start="0" end="0"/><field name="" start="1" end="1"/><field name="PF" start="2" end="2"/>
<field name="AF" start="4" end="4"/><field name="ZF" start="6" end="6"/><field name="SF" start="7" end="7"/>
<field name="TF" start="8" end="8"/><field name="IF" start="9" end="9"/><field name="DF" start="10" end="10"/>
<field name="OF" start="11" end="11"/><field name="NT" start="14" end="14"/><field name="RF" start="16" end="16"/>
<field name="VM" start="17" end="17"/><field name="AC" start="18" end="18"/><field name="VIF" start="19" end="19"/>
<field name="VIP" start="20" end="20"/><field name="ID" start="21" end="21"/>
</flags>
<reg name="eax" bitsize="32" type="int32" regnum="0"/>
<reg name="ecx" bitsize="32" type="int32"/>
<reg name="edx" bitsize="32" type="int32"/>
<reg name="ebx" bitsize="32" type="int32"/>
<reg name="esp" bitsize="32" type="data_ptr"/>
<reg name="ebp" bitsize="32" type="data_ptr"/>
<reg name="esi" bitsize="32" type="int32"/>
<reg name="edi" bitsize="32" type="int32"/>
<reg name="eip" bitsize="32" type="code_ptr"/>
<reg name="eflags" bitsize="32" type="i386_eflags"/>
<reg name="cs" bitsize="32" type="int32"/>
<reg name="ss" bitsize="32" type="int32"/>
<reg name="ds" bitsize="32" type="int32"/>
<reg name="es" bitsize="32" type="int32"/>
<reg name="fs" bitsize="32" type="int32"/>
<reg name="gs" bitsize="32" type="int32"/>
<reg name="st0" bitsize="80" type="i387_ext"/>
<reg name="st1" bitsize="80" type="i387_ext"/>
<reg name="st2" bitsize="80" type="i387_ext"/>
<reg name="st3" bitsize="80" type="i387_ext"/>
<reg name="st4" bitsize="80" type="i387_ext"/>
<reg name="st5" bitsize="80" type="i387_ext"/>
<reg name="st6" bitsize="80" type="i387_ext"/>
<reg name="st7" bitsize="80" type="i387_ext"/>
<reg name="fctrl" bitsize="32" type="int" group="float"/>
<reg name="fstat" bitsize="32" type="int" group="float"/>
<reg name="ftag" bitsize="32" type="int" group="float"/>
<reg name="fiseg" bitsize="32" type="int" group="float"/>
<reg name="fioff" bitsize="32" type="int" group="float"/>
<reg name="foseg" bitsize="32" type="int" group="float"/>
<reg name="fooff" bitsize="32" type="int" group="float"/>
<reg name="fop" bitsize="32" type="int" group="float"/>
</feature>
<feature name="org.gnu.gdb.i386.sse">
<vector id="v4f" type="ieee_single" count="4"/>
<vector id="v2d" type="ieee_double" count="2"/>
<vector id="v16i8" type="int8" count="16"/>
<vector id="v8i16" type="int16" count="8"/>
<vector id="v4i32" type="int32" count="4"/>
<vector id="v2i64" type="int64" count="2"/>
<union id="vec128">
<field name="v4_float" type="v4f"/><field name="v2_double" type="v2d"/><field name="v16_int8" type="v16i8"/>
<field name="v8_int16" type="v8i16"/><field name="v4_int32" type="v4i32"/><field name="v2_int64" type="v2i64"/>
<field name="uint128" type="uint128"/>
</union>
<flags id="i386_mxcsr" size="4">
<field name="IE" start="0" end="0"/><field name="DE" start="1" end="1"/><field name="ZE" start="2" end="2"/>
<field name="OE" start="3" end="3"/><field name="UE" start="4" end="4"/><field name="PE" start="5" end="5"/>
<field name="DAZ" start="6" end="6"/><field name="IM" start="7" end="7"/><field name="DM" start="8" end="8"/>
<field name="ZM" start="9" end="9"/><field name="OM" start="10" end="10"/><field name="UM" start="11" end="11"/>
<field name="PM" start="12" end="12"/><field name="FZ" start="15" end="15"/>
</flags>
<reg name="xmm0" bitsize="128" type="vec128" regnum="32"/>
<reg name="xmm1" bitsize="128" type="vec128"/>
<reg name="xmm2" bitsize="128" type="vec128"/>
<reg name="xmm3" bitsize="128" type="vec128"/>
<reg name="xmm4" bitsize="128" type="vec128"/>
<reg name="xmm5" bitsize="128" type="vec128"/>
<reg name="xmm6" bitsize="128" type="vec128"/>
<reg name="xmm7" bitsize="128" type="vec128"/>
<reg name="mxcsr" bitsize="32" type="i386_mxcsr" group="vector"/>
</feature>
</target>
"#;

/// The gdbstub architecture: 32-bit x86 with x87 and SSE, described by [`TARGET_XML`].
pub enum X86Wow {}

impl Arch for X86Wow {
    type Usize = u32;
    type Registers = X86CoreRegs;
    type RegId = X86CoreRegId;
    type BreakpointKind = usize;

    fn target_description_xml() -> Option<&'static str> {
        Some(TARGET_XML)
    }
}

/// What gdb asked the target to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Continue,
    Step,
    ReverseStep,
    ReverseContinue,
}

/// The session as gdb's target.
pub struct GdbTarget {
    pub session: Session,
    mode: Mode,
    style: Style,
}

fn efault<T>() -> TargetResult<T, GdbTarget> {
    Err(TargetError::Errno(14))
}

impl Target for GdbTarget {
    type Arch = X86Wow;
    type Error = DebugError;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::SingleThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_monitor_cmd(&mut self) -> Option<MonitorCmdOps<'_, Self>> {
        Some(self)
    }

    fn support_libraries(&mut self) -> Option<LibrariesOps<'_, Self>> {
        Some(self)
    }
}

fn read_regs(cpu: &Cpu, regs: &mut X86CoreRegs) {
    let g = cpu.gpr;
    (regs.eax, regs.ecx, regs.edx, regs.ebx, regs.esp, regs.ebp, regs.esi, regs.edi) =
        (g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]);
    regs.eip = cpu.eip;
    regs.eflags = cpu.eflags();
    let sel = |i: usize| cpu.seg[i].selector as u32;
    let s = &mut regs.segments;
    (s.es, s.cs, s.ss, s.ds, s.fs, s.gs) = (sel(0), sel(1), sel(2), sel(3), sel(4), sel(5));
    let f = &cpu.fpu;
    for (i, st) in regs.st.iter_mut().enumerate() {
        let v = f.st(i as u8);
        st[..8].copy_from_slice(&v.signif.to_le_bytes());
        st[8..].copy_from_slice(&v.se.to_le_bytes());
    }
    regs.fpu.fctrl = f.fcw as u32;
    regs.fpu.fstat = f.status() as u32;
    regs.fpu.ftag = f.full_tag() as u32;
    regs.fpu.fiseg = f.fcs as u32;
    regs.fpu.fioff = f.fip;
    regs.fpu.foseg = f.fds as u32;
    regs.fpu.fooff = f.fdp;
    regs.fpu.fop = f.fop as u32;
    regs.xmm = cpu.simd.xmm;
    regs.mxcsr = cpu.simd.mxcsr;
}

impl SingleThreadBase for GdbTarget {
    fn read_registers(&mut self, regs: &mut X86CoreRegs) -> TargetResult<(), Self> {
        read_regs(self.session.cpu(), regs);
        Ok(())
    }

    /// Register writes become edits in the history (so reverse execution keeps them);
    /// segment selectors, x87 and SSE registers are not writable from gdb.
    fn write_registers(&mut self, regs: &X86CoreRegs) -> TargetResult<(), Self> {
        let mut cur = X86CoreRegs::default();
        read_regs(self.session.cpu(), &mut cur);
        let pairs = [
            (Reg::Gpr32(0), cur.eax, regs.eax),
            (Reg::Gpr32(1), cur.ecx, regs.ecx),
            (Reg::Gpr32(2), cur.edx, regs.edx),
            (Reg::Gpr32(3), cur.ebx, regs.ebx),
            (Reg::Gpr32(4), cur.esp, regs.esp),
            (Reg::Gpr32(5), cur.ebp, regs.ebp),
            (Reg::Gpr32(6), cur.esi, regs.esi),
            (Reg::Gpr32(7), cur.edi, regs.edi),
            (Reg::Eip, cur.eip, regs.eip),
            (Reg::Eflags, cur.eflags, regs.eflags),
        ];
        for (r, old, new) in pairs {
            if old != new {
                self.session.edit(Edit::Reg(r, new)).map_err(TargetError::Fatal)?;
            }
        }
        Ok(())
    }

    fn read_addrs(&mut self, start: u32, data: &mut [u8]) -> TargetResult<usize, Self> {
        let bytes = read_mapped(self.session.cpu(), start, data.len());
        if bytes.is_empty() && !data.is_empty() {
            return efault();
        }
        data[..bytes.len()].copy_from_slice(&bytes);
        Ok(bytes.len())
    }

    fn write_addrs(&mut self, start: u32, data: &[u8]) -> TargetResult<(), Self> {
        match self.session.edit(Edit::Mem(start, data.to_vec())) {
            Ok(()) => Ok(()),
            Err(_) => efault(),
        }
    }

    fn support_resume(&mut self) -> Option<SingleThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl SingleThreadResume for GdbTarget {
    fn resume(&mut self, _signal: Option<Signal>) -> Result<()> {
        // A signal gdb passes back has no meaning for the guest: WOW64 delivers
        // exceptions itself.
        self.mode = Mode::Continue;
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<SingleThreadSingleStepOps<'_, Self>> {
        Some(self)
    }

    fn support_reverse_step(&mut self) -> Option<ReverseStepOps<'_, (), Self>> {
        Some(self)
    }

    fn support_reverse_cont(&mut self) -> Option<ReverseContOps<'_, (), Self>> {
        Some(self)
    }
}

impl SingleThreadSingleStep for GdbTarget {
    fn step(&mut self, _signal: Option<Signal>) -> Result<()> {
        self.mode = Mode::Step;
        Ok(())
    }
}

impl ReverseStep<()> for GdbTarget {
    fn reverse_step(&mut self, _tid: ()) -> Result<()> {
        self.mode = Mode::ReverseStep;
        Ok(())
    }
}

impl ReverseCont<()> for GdbTarget {
    fn reverse_cont(&mut self) -> Result<()> {
        self.mode = Mode::ReverseContinue;
        Ok(())
    }
}

impl Breakpoints for GdbTarget {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

impl SwBreakpoint for GdbTarget {
    fn add_sw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        let spec = format!("{addr:#x}");
        self.session
            .add_breakpoint(BreakKind::Code { addr }, spec, None, true)
            .map_err(TargetError::Fatal)?;
        Ok(true)
    }

    fn remove_sw_breakpoint(&mut self, addr: u32, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.session.remove_gdb_breakpoint(&BreakKind::Code { addr }))
    }
}

fn watch_kind(k: GdbWatch) -> WatchKind {
    match k {
        GdbWatch::Write => WatchKind::Write,
        GdbWatch::Read => WatchKind::Read,
        GdbWatch::ReadWrite => WatchKind::Access,
    }
}

impl HwWatchpoint for GdbTarget {
    fn add_hw_watchpoint(&mut self, addr: u32, len: u32, kind: GdbWatch) -> TargetResult<bool, Self> {
        let kind = BreakKind::Watch { addr, len: len.clamp(1, 4096), kind: watch_kind(kind) };
        self.session.add_breakpoint(kind, format!("{addr:#x}"), None, true).map_err(TargetError::Fatal)?;
        Ok(true)
    }

    fn remove_hw_watchpoint(&mut self, addr: u32, len: u32, kind: GdbWatch) -> TargetResult<bool, Self> {
        let kind = BreakKind::Watch { addr, len: len.clamp(1, 4096), kind: watch_kind(kind) };
        Ok(self.session.remove_gdb_breakpoint(&kind))
    }
}

impl MonitorCmd for GdbTarget {
    fn handle_monitor_cmd(&mut self, cmd: &[u8], mut out: ConsoleOutput<'_>) -> Result<()> {
        let line = String::from_utf8_lossy(cmd).trim().to_string();
        let text = if let Some(rest) = line.strip_prefix("syscalls") {
            match self.session.machine.console() {
                Some(c) => {
                    let n = rest.trim().parse().unwrap_or(20);
                    let lines = c.trace_tail(n);
                    if lines.is_empty() {
                        "no system services called yet\n".to_string()
                    } else {
                        lines.join("\n") + "\n"
                    }
                }
                None => format!("error: {}\n", DebugError::NeedsProcess("syscalls")),
            }
        } else if line.is_empty() {
            "x86wow monitor commands: any inspection command of `x86wow debug` (help, regs, bt, seh, teb, maps, \
             modules, disas, x/FMT, stack, break syscall NAME, break exception, trace syscalls on|off, save FILE), \
             and `syscalls [N]` for the last N trace lines\n"
                .to_string()
        } else {
            match commands::execute_monitor(&mut self.session, &line, &self.style) {
                Ok(r) => r.text,
                Err(e) => format!("error: {e}\n"),
            }
        };
        let _ = out.write_str(&text);
        Ok(())
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl Libraries for GdbTarget {
    fn get_libraries(&self, offset: u64, length: usize, buf: &mut [u8]) -> TargetResult<usize, Self> {
        let mut xml = String::from("<library-list version=\"1.0\">");
        for m in self.session.symbols.modules.iter().filter(|m| !m.is_main) {
            let _ = write!(
                xml,
                "<library name=\"{}\"><segment address=\"{:#x}\"/></library>",
                xml_escape(&m.path),
                m.first_section
            );
        }
        xml.push_str("</library-list>");
        let data = xml.as_bytes();
        let start = (offset as usize).min(data.len());
        let end = start.saturating_add(length).min(data.len()).min(start + buf.len());
        buf[..end - start].copy_from_slice(&data[start..end]);
        Ok(end - start)
    }
}

/// The signal gdb is told for a stop that is not a breakpoint or a step.
fn exit_signal(e: &Exit) -> Signal {
    match e {
        Exit::Exception { exception, .. } => match exception.vector {
            vector::DE | vector::MF | vector::XM => Signal::SIGFPE,
            vector::UD => Signal::SIGILL,
            vector::DB | vector::BP => Signal::SIGTRAP,
            vector::AC => Signal::SIGBUS,
            _ => Signal::SIGSEGV,
        },
        _ => Signal::SIGTRAP,
    }
}

fn exception_signal(code: u32) -> Signal {
    match code {
        0xC000_0005 | 0xC000_00FD | 0x8000_0001 => Signal::SIGSEGV,
        0xC000_001D | 0xC000_0096 => Signal::SIGILL,
        0xC000_008C..=0xC000_0095 | 0xC000_02B5 => Signal::SIGFPE,
        0x8000_0002 => Signal::SIGBUS,
        _ => Signal::SIGTRAP,
    }
}

impl GdbTarget {
    /// Translates a stop into gdb's terms; prints what gdb cannot show.
    fn stop_reason(&self, ev: &StopEvent) -> SingleThreadStopReason<u32> {
        let note = |t: &GdbTarget| eprint!("{}", views::stop_report(&t.session, ev, &t.style));
        match &ev.reason {
            StopReason::Hit(Hit::Tick | Hit::Insns | Hit::Addr | Hit::Return) => {
                SingleThreadStopReason::DoneStep
            }
            StopReason::Hit(Hit::Break { .. }) => SingleThreadStopReason::SwBreak(()),
            StopReason::Hit(Hit::Watch { id, .. }) => {
                let c = self.session.ctl.borrow();
                match c.breakpoint(*id).map(|b| &b.kind) {
                    Some(BreakKind::Watch { addr, kind, .. }) => {
                        let kind = match kind {
                            WatchKind::Write => GdbWatch::Write,
                            WatchKind::Read => GdbWatch::Read,
                            WatchKind::Access => GdbWatch::ReadWrite,
                        };
                        SingleThreadStopReason::Watch { tid: (), kind, addr: *addr }
                    }
                    _ => SingleThreadStopReason::Signal(Signal::SIGTRAP),
                }
            }
            StopReason::Hit(Hit::Syscall { .. }) => {
                note(self);
                SingleThreadStopReason::Signal(Signal::SIGTRAP)
            }
            StopReason::Hit(Hit::Exception { code, .. }) => {
                note(self);
                SingleThreadStopReason::Signal(exception_signal(*code))
            }
            StopReason::Hit(Hit::Budget) => {
                note(self);
                SingleThreadStopReason::Signal(Signal::SIGXCPU)
            }
            StopReason::Exited { status, .. } => {
                note(self);
                SingleThreadStopReason::Exited(*status as u8)
            }
            StopReason::Cpu(Exit::Hlt) => {
                note(self);
                SingleThreadStopReason::Exited(0)
            }
            StopReason::Cpu(e) => {
                note(self);
                SingleThreadStopReason::Signal(exit_signal(e))
            }
            StopReason::HistoryStart => {
                SingleThreadStopReason::ReplayLog { tid: None, pos: ReplayLogPosition::Begin }
            }
            StopReason::Interrupted => SingleThreadStopReason::Signal(Signal::SIGINT),
        }
    }
}

struct EventLoop;

impl run_blocking::BlockingEventLoop for EventLoop {
    type Target = GdbTarget;
    type Connection = TcpStream;
    type StopReason = SingleThreadStopReason<u32>;

    #[allow(clippy::type_complexity)]
    fn wait_for_stop_reason(
        target: &mut GdbTarget,
        conn: &mut TcpStream,
    ) -> std::result::Result<
        run_blocking::Event<SingleThreadStopReason<u32>>,
        run_blocking::WaitForStopReasonError<DebugError, std::io::Error>,
    > {
        let s = &mut target.session;
        let result = match target.mode {
            Mode::Continue => {
                let mut poll = || conn.peek().map(|b| b.is_some()).unwrap_or(true);
                s.cont_sliced(&mut poll)
            }
            Mode::Step => s.step(1),
            Mode::ReverseStep => s.reverse_step(1),
            Mode::ReverseContinue => s.reverse_continue(),
        };
        let ev = match result {
            Ok(ev) => ev,
            Err(DebugError::NoHistory) => StopEvent { reason: StopReason::HistoryStart, tick: 0 },
            Err(e) => {
                eprintln!("x86wow debug: {e}");
                return Ok(run_blocking::Event::TargetStopped(SingleThreadStopReason::Signal(
                    Signal::SIGTRAP,
                )));
            }
        };
        if ev.reason == StopReason::Interrupted {
            let byte = conn.read().map_err(run_blocking::WaitForStopReasonError::Connection)?;
            return Ok(run_blocking::Event::IncomingData(byte));
        }
        Ok(run_blocking::Event::TargetStopped(target.stop_reason(&ev)))
    }

    fn on_interrupt(
        _target: &mut GdbTarget,
    ) -> std::result::Result<Option<SingleThreadStopReason<u32>>, DebugError> {
        Ok(Some(SingleThreadStopReason::Signal(Signal::SIGINT)))
    }
}

/// `PORT` alone listens on loopback.
fn listen_address(addr: &str) -> String {
    if addr.parse::<u16>().is_ok() {
        format!("127.0.0.1:{addr}")
    } else {
        addr.to_string()
    }
}

/// Serves one gdb connection on `addr`; after gdb detaches the program runs to its end.
/// Returns the exit code (the program's status when it ended).
pub fn serve(session: Session, addr: &str) -> Result<i32> {
    let addr = listen_address(addr);
    let io = |e: std::io::Error| DebugError::Io { path: addr.clone(), error: e.to_string() };
    let listener = TcpListener::bind(&addr).map_err(io)?;
    eprintln!(
        "x86wow debug: waiting for gdb on {} (target remote {})",
        listener.local_addr().map_err(io)?,
        addr
    );
    let (stream, peer) = listener.accept().map_err(io)?;
    eprintln!("x86wow debug: gdb connected from {peer}");
    let _ = stream.set_nodelay(true);
    let mut target = GdbTarget { session, mode: Mode::Continue, style: Style::default() };
    let gdb = GdbStub::new(stream);
    let reason = gdb
        .run_blocking::<EventLoop>(&mut target)
        .map_err(|e| DebugError::Internal(format!("gdb stub: {e}")))?;
    let s = &mut target.session;
    match reason {
        DisconnectReason::Disconnect => {
            eprintln!("x86wow debug: gdb detached; running the program to its end");
            let _ = s.delete_breakpoints(&[]);
            let gdb_ids: Vec<u32> = s.ctl.borrow().breakpoints.iter().map(|b| b.id).collect();
            let _ = s.delete_breakpoints(&gdb_ids);
            loop {
                match s.cont() {
                    Ok(StopEvent { reason: StopReason::Exited { status, message }, .. }) => {
                        if let Some(m) = message {
                            eprintln!("x86wow debug: {m}");
                        }
                        eprintln!("x86wow debug: the program exited with status {status:#x}");
                        return Ok(status as i32);
                    }
                    Ok(StopEvent { reason: StopReason::Cpu(e), .. }) => {
                        eprintln!("x86wow debug: the machine stopped: {e:?}");
                        return Ok(0);
                    }
                    Ok(StopEvent { reason: StopReason::Hit(Hit::Budget), .. }) => {
                        eprintln!("x86wow debug: the instruction limit is reached");
                        return Ok(124);
                    }
                    Ok(_) => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        DisconnectReason::TargetExited(code) => Ok(code as i32),
        DisconnectReason::TargetTerminated(sig) => {
            eprintln!("x86wow debug: terminated by {sig}");
            Ok(128 + sig.0 as i32)
        }
        DisconnectReason::Kill => {
            eprintln!("x86wow debug: killed by gdb");
            Ok(0)
        }
    }
}
