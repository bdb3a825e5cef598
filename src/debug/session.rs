//! A debugging session: the debuggee, its breakpoints, symbols and history, and the
//! execution commands (step, next, finish, continue, until, run-to-insn, reverse). The
//! REPL and the gdb stub both drive it.

use std::cell::RefCell;
use std::rc::Rc;

use iced_x86::{Code, FlowControl};
use x86wow_cpu::regs::sreg;
use x86wow_cpu::state::{MachineState, MemRegion, X87State};
use x86wow_cpu::{Cpu, Exit};
use x86wow_mmu::Prot;
use x86wow_wow64::ntdll::ServiceTable;

use super::control::{self, BreakKind, Breakpoint, Control, Goal, Hit, SharedControl, WatchKind};
use super::error::{DebugError, Result};
use super::expr::{self, Expr};
use super::reverse::{Checkpoints, Edit, Timeline};
use super::symbols::Symbols;
use super::target::{Machine, RunEnd};

/// Dispatches per slice when a run must also watch for an interrupt (gdb's Ctrl-C).
const SLICE: u64 = 200_000;

/// Why the debuggee stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    Hit(Hit),
    Exited {
        status: u32,
        message: Option<String>,
    },
    /// A bare state's CPU stopped by itself (HLT, a fault, INT n, a far transfer...).
    Cpu(Exit),
    /// Reverse execution reached the start of the recorded history.
    HistoryStart,
    /// The caller asked to stop (gdb's Ctrl-C).
    Interrupted,
}

/// A stop and the position it happened at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopEvent {
    pub reason: StopReason,
    pub tick: u64,
}

/// Disassembly syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Intel,
    Att,
}

pub struct Session {
    pub machine: Machine,
    pub ctl: SharedControl,
    pub symbols: Rc<Symbols>,
    pub timeline: Timeline,
    pub syntax: Syntax,
    /// The program has ended (status and message).
    pub ended: Option<(u32, Option<String>)>,
}

impl Session {
    pub fn new(mut machine: Machine, max_insns: Option<u64>) -> Session {
        let ctl: SharedControl = Rc::new(RefCell::new(Control::default()));
        let mut symbols = Symbols::default();
        {
            let mut c = ctl.borrow_mut();
            c.max_insns = max_insns;
            if let Some(p) = machine.process() {
                symbols = Symbols::from_modules(p.modules(), &p.main_module().name, &p.cpu.mem);
                c.services = service_table(p);
                c.dispatcher = p.export("ntdll.dll", "KiUserExceptionDispatcher");
                c.budget_stop = true;
            }
        }
        if let Machine::State { cpu, .. } = &mut machine {
            ctl.borrow_mut().checkpoints = Some(Checkpoints::new(cpu));
        }
        control::install_code_hook(&ctl, machine.cpu_mut());
        Session {
            machine,
            ctl,
            symbols: Rc::new(symbols),
            timeline: Timeline::default(),
            syntax: Syntax::Intel,
            ended: None,
        }
    }

    pub fn cpu(&self) -> &Cpu {
        self.machine.cpu()
    }

    /// The current position in the execution history.
    pub fn position(&self) -> u64 {
        self.ctl.borrow().tick
    }

    /// Parses an address or value expression with this session's symbols.
    pub fn parse_expr(&self, text: &str) -> Result<Expr> {
        expr::parse(text, &*self.symbols)
    }

    /// Evaluates an expression now.
    pub fn eval(&self, text: &str) -> Result<u32> {
        self.parse_expr(text)?.eval(self.cpu())
    }

    fn check_running(&self) -> Result<()> {
        match &self.ended {
            Some((status, _)) => Err(DebugError::NotRunning(format!("exited with status {status:#x}"))),
            None => Ok(()),
        }
    }

    /// Runs with a goal until something stops the debuggee.
    fn run(&mut self, goal: Goal) -> Result<StopEvent> {
        self.run_sliced(goal, &mut || false)
    }

    /// Runs with a goal; between slices of [`SLICE`] dispatches `interrupted` is asked
    /// whether to stop early.
    pub fn run_sliced(&mut self, goal: Goal, interrupted: &mut dyn FnMut() -> bool) -> Result<StopEvent> {
        self.check_running()?;
        loop {
            let now = self.position();
            let slice_end = now.saturating_add(SLICE);
            let sliced = goal.tick.is_none_or(|t| t > slice_end);
            let mut g = goal;
            if sliced {
                g.tick = Some(slice_end);
            }
            let ev = self.run_once(g)?;
            if sliced && ev.reason == StopReason::Hit(Hit::Tick) {
                if interrupted() {
                    return Ok(StopEvent { reason: StopReason::Interrupted, tick: ev.tick });
                }
                // A slice boundary: carry on as if never stopped (`finish` keeps its count).
                continue;
            }
            return Ok(ev);
        }
    }

    fn run_once(&mut self, goal: Goal) -> Result<StopEvent> {
        {
            let mut c = self.ctl.borrow_mut();
            c.goal = goal;
            c.prepare_resume(self.machine.cpu());
        }
        let end = self.machine.resume(&self.ctl);
        let mut c = self.ctl.borrow_mut();
        c.goal = Goal::default();
        let tick = c.tick;
        let reason = match end? {
            RunEnd::Stopped => StopReason::Hit(
                c.stop.take().ok_or_else(|| DebugError::Internal("stop without a reason".into()))?,
            ),
            RunEnd::Exited { status, message } => {
                self.ended = Some((status, message.clone()));
                StopReason::Exited { status, message }
            }
            RunEnd::CpuExit(e) => StopReason::Cpu(e),
        };
        Ok(StopEvent { reason, tick })
    }

    pub fn step(&mut self, n: u64) -> Result<StopEvent> {
        let t = self.position().saturating_add(n.max(1));
        self.run(Goal { tick: Some(t), ..Goal::default() })
    }

    /// One instruction, but a CALL runs until it returns and a REP string instruction
    /// until it is done.
    pub fn step_over(&mut self) -> Result<StopEvent> {
        let cpu = self.cpu();
        let Some(ins) = cpu.peek_instruction(cpu.eip) else { return self.step(1) };
        let esp = cpu.gpr[4];
        match ins.flow_control() {
            FlowControl::Call | FlowControl::IndirectCall => {
                self.run(Goal { ret: Some((ins.next_ip32(), esp.wrapping_sub(4))), ..Goal::default() })
            }
            _ if ins.has_rep_prefix() || ins.has_repne_prefix() => {
                self.run(Goal { addr: Some(ins.next_ip32()), ..Goal::default() })
            }
            _ => self.step(1),
        }
    }

    /// Runs until the current function returns. Calls and returns are counted from
    /// here (a frameless function has no frame pointer to find its return address by).
    pub fn finish(&mut self) -> Result<StopEvent> {
        let cpu = self.cpu();
        let Some(ins) = cpu.peek_instruction(cpu.eip) else { return self.step(1) };
        // The WOW64 gate returns to its caller as a RET would.
        if ins.code() == Code::Jmp_ptr1632 && ins.far_branch_selector() == 0x33 {
            return self.step(1);
        }
        let depth = match ins.flow_control() {
            FlowControl::Return => return self.step(1),
            FlowControl::Call | FlowControl::IndirectCall => 1,
            _ => 0,
        };
        self.ctl.borrow_mut().depth = depth;
        self.run(Goal { finish: true, ..Goal::default() })
    }

    pub fn cont(&mut self) -> Result<StopEvent> {
        self.run(Goal::default())
    }

    pub fn cont_sliced(&mut self, interrupted: &mut dyn FnMut() -> bool) -> Result<StopEvent> {
        self.run_sliced(Goal::default(), interrupted)
    }

    pub fn until(&mut self, addr: u32) -> Result<StopEvent> {
        self.run(Goal { addr: Some(addr), ..Goal::default() })
    }

    /// Runs (forward or back) to where `n` instructions have retired.
    pub fn run_to_insns(&mut self, n: u64) -> Result<StopEvent> {
        let now = self.cpu().insns();
        if n > now {
            self.run(Goal { insns: Some(n), ..Goal::default() })
        } else {
            self.rewind(self.position(), Some(n), false)?;
            Ok(StopEvent { reason: StopReason::Hit(Hit::Insns), tick: self.position() })
        }
    }

    pub fn reverse_step(&mut self, n: u64) -> Result<StopEvent> {
        let now = self.position();
        if now == 0 {
            return Err(DebugError::NoHistory);
        }
        let target = now.saturating_sub(n.max(1));
        self.rewind(target, None, false)?;
        let reason = if target == 0 { StopReason::HistoryStart } else { StopReason::Hit(Hit::Tick) };
        Ok(StopEvent { reason, tick: self.position() })
    }

    /// Goes back to the latest breakpoint hit before the current position (or to the
    /// start of history).
    pub fn reverse_continue(&mut self) -> Result<StopEvent> {
        let now = self.position();
        if now == 0 {
            return Err(DebugError::NoHistory);
        }
        let hits = self.rewind(now, None, true)?;
        // A watchpoint hit is seen at the dispatch after the access; going backwards,
        // stop before the instruction that made it (the value is still the old one
        // there, as gdb expects).
        let target = |(t, hit): (u64, Hit)| match hit {
            Hit::Watch { .. } => (t.saturating_sub(1), hit),
            _ => (t, hit),
        };
        match hits.into_iter().map(target).rev().find(|(t, _)| *t < now) {
            Some((t, hit)) => {
                self.rewind(t, None, false)?;
                Ok(StopEvent { reason: StopReason::Hit(hit), tick: self.position() })
            }
            None => {
                self.rewind(0, None, false)?;
                Ok(StopEvent { reason: StopReason::HistoryStart, tick: 0 })
            }
        }
    }

    /// Re-creates the state at position `tick` (or where `insns` instructions had
    /// retired): restore the latest snapshot before it and re-execute, re-applying
    /// edits. With `record`, breakpoint hits on the way are returned (and nothing
    /// stops for them).
    fn rewind(&mut self, tick: u64, insns: Option<u64>, record: bool) -> Result<Vec<(u64, Hit)>> {
        let base = match &mut self.machine {
            Machine::State { cpu, .. } => {
                let c = self.ctl.borrow();
                let cp = c.checkpoints.as_ref().expect("a bare state keeps snapshots").best(tick, insns);
                cp.restore(cpu);
                let t = cp.tick;
                drop(c);
                self.ctl.borrow_mut().tick = t;
                t
            }
            Machine::Process { .. } => {
                self.machine.rebuild()?;
                let mut c = self.ctl.borrow_mut();
                c.tick = 0;
                c.resume_pending = None;
                c.mem_hooks.clear();
                drop(c);
                control::install_code_hook(&self.ctl, self.machine.cpu_mut());
                control::install_watch_hooks(&self.ctl, self.machine.cpu_mut());
                0
            }
        };
        self.ended = None;
        self.ctl.borrow_mut().refresh_watches(self.machine.cpu());
        if let Some(c) = self.machine.console() {
            c.set_replaying(true);
        }
        let result = self.replay(base, tick, insns, record);
        if let Some(c) = self.machine.console() {
            c.set_replaying(false);
        }
        let mut c = self.ctl.borrow_mut();
        let hits = c.record.take().unwrap_or_default();
        let at = c.tick;
        if let Some(cps) = &mut c.checkpoints {
            cps.rewound_to(at, false);
        }
        c.refresh_watches(self.machine.cpu());
        drop(c);
        result.map(|_| hits)
    }

    fn replay(&mut self, base: u64, tick: u64, insns: Option<u64>, record: bool) -> Result<()> {
        if record {
            self.ctl.borrow_mut().record = Some(Vec::new());
        }
        let edits: Vec<(u64, Edit)> = self.timeline.from(base).cloned().collect();
        let goal = |t: u64| Goal { tick: Some(t), insns, ignore_breakpoints: !record, ..Goal::default() };
        for (t, edit) in edits {
            if t > tick {
                break;
            }
            if self.position() < t {
                let ev = self.run(goal(t))?;
                if ev.reason != StopReason::Hit(Hit::Tick) {
                    return Ok(());
                }
            }
            edit.apply(self.machine.cpu_mut())?;
        }
        if self.position() < tick || insns.is_some_and(|k| self.cpu().insns() < k) {
            self.run(goal(tick))?;
        }
        Ok(())
    }

    /// Changes the state now and records the change in the history.
    pub fn edit(&mut self, edit: Edit) -> Result<()> {
        edit.apply(self.machine.cpu_mut())?;
        let now = self.position();
        self.timeline.record(now, edit);
        let mut c = self.ctl.borrow_mut();
        if let Some(cps) = &mut c.checkpoints {
            cps.rewound_to(now, true);
        }
        c.refresh_watches(self.machine.cpu());
        Ok(())
    }

    // ----- breakpoints -----

    /// Adds a breakpoint; returns its number.
    pub fn add_breakpoint(
        &mut self,
        kind: BreakKind,
        spec: String,
        cond: Option<String>,
        from_gdb: bool,
    ) -> Result<u32> {
        let cond = match cond {
            Some(text) => {
                let e = self.parse_expr(&text)?;
                Some((text, e))
            }
            None => None,
        };
        let last = match kind {
            BreakKind::Watch { addr, len, .. } => control::read_bytes(self.cpu(), addr, len),
            _ => Vec::new(),
        };
        let is_watch = matches!(kind, BreakKind::Watch { .. });
        let mut c = self.ctl.borrow_mut();
        let id = c.new_id();
        c.breakpoints.push(Breakpoint { id, kind, spec, enabled: true, cond, hits: 0, from_gdb, last });
        drop(c);
        if is_watch {
            control::install_watch_hooks(&self.ctl, self.machine.cpu_mut());
        }
        Ok(id)
    }

    /// Deletes breakpoints by number (all of the user's when `ids` is empty).
    pub fn delete_breakpoints(&mut self, ids: &[u32]) -> Result<usize> {
        let mut c = self.ctl.borrow_mut();
        for id in ids {
            if c.breakpoint(*id).is_none() {
                return Err(DebugError::NoSuchBreakpoint(*id));
            }
        }
        let before = c.breakpoints.len();
        c.breakpoints.retain(|b| if ids.is_empty() { b.from_gdb } else { !ids.contains(&b.id) });
        let n = before - c.breakpoints.len();
        drop(c);
        control::install_watch_hooks(&self.ctl, self.machine.cpu_mut());
        Ok(n)
    }

    pub fn enable_breakpoints(&mut self, ids: &[u32], on: bool) -> Result<()> {
        let mut c = self.ctl.borrow_mut();
        for id in ids {
            if c.breakpoint(*id).is_none() {
                return Err(DebugError::NoSuchBreakpoint(*id));
            }
        }
        for b in c.breakpoints.iter_mut().filter(|b| ids.is_empty() || ids.contains(&b.id)) {
            b.enabled = on;
        }
        drop(c);
        control::install_watch_hooks(&self.ctl, self.machine.cpu_mut());
        self.ctl.borrow_mut().refresh_watches(self.machine.cpu());
        Ok(())
    }

    /// Removes the gdb-set breakpoint of a kind at an address.
    pub fn remove_gdb_breakpoint(&mut self, kind: &BreakKind) -> bool {
        let mut c = self.ctl.borrow_mut();
        let Some(i) = c.breakpoints.iter().position(|b| b.from_gdb && b.kind == *kind) else { return false };
        c.breakpoints.remove(i);
        drop(c);
        control::install_watch_hooks(&self.ctl, self.machine.cpu_mut());
        true
    }

    /// The service number for a name (`NtWriteFile`, `ZwWriteFile` or `WriteFile`).
    pub fn service_number(&self, name: &str) -> Result<(u32, String)> {
        let c = self.ctl.borrow();
        let table = c.services.as_ref().ok_or(DebugError::NeedsProcess("break syscall"))?;
        let want = name.strip_prefix("Zw").or_else(|| name.strip_prefix("Nt")).unwrap_or(name);
        table
            .names
            .iter()
            .enumerate()
            .find_map(|(i, n)| {
                let n = n.as_deref()?;
                n.strip_prefix("Nt")
                    .is_some_and(|s| s.eq_ignore_ascii_case(want))
                    .then(|| (i as u32, n.to_string()))
            })
            .ok_or_else(|| DebugError::UnknownService(name.to_string()))
    }

    // ----- the machine state -----

    /// The state in the machine-state format: registers, segments, x87/SSE and every
    /// mapped region of the 32-bit address space.
    pub fn capture_state(&self) -> MachineState {
        let cpu = self.cpu();
        if let Machine::State { initial, .. } = &self.machine {
            return initial.capture(cpu);
        }
        let f = &cpu.fpu;
        let mut st = MachineState {
            regs: cpu.registers(),
            fs_base: cpu.seg[sreg::FS].base,
            gs_base: cpu.seg[sreg::GS].base,
            x87: Some(X87State {
                fcw: f.fcw,
                fsw: f.status(),
                ftw: f.full_tag(),
                st: std::array::from_fn(|i| {
                    let v = f.st(i as u8);
                    (v.se as u128) << 64 | v.signif as u128
                }),
            }),
            mxcsr: Some(cpu.simd.mxcsr),
            xmm: Some(cpu.simd.xmm),
            segs: Some(std::array::from_fn(|i| cpu.seg[i].selector)),
            memory: Vec::new(),
        };
        for r in cpu.mem.regions() {
            if r.base >= 1 << 32 {
                break;
            }
            let size = r.size.min((1 << 32) - r.base);
            let mut bytes = vec![0u8; size as usize];
            if cpu.mem.peek(r.base, &mut bytes).is_err() {
                continue;
            }
            let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
            bytes.truncate(end);
            st.memory.push(MemRegion {
                addr: r.base as u32,
                size: size as u32,
                prot: r.prot & Prot::RWX,
                bytes,
            });
        }
        st
    }

    /// Watchpoint kinds that fit the CPU's memory hooks.
    pub fn watch_kind(&self, id: u32) -> Option<WatchKind> {
        match self.ctl.borrow().breakpoint(id)?.kind {
            BreakKind::Watch { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

/// Reads the service table from the guest ntdll's stubs (as the WOW64 layer does).
fn service_table(p: &x86wow_wow64::Process) -> Option<ServiceTable> {
    let nt = p.modules().iter().find(|m| m.name == "ntdll.dll")?;
    let exports = nt.exports.names().filter_map(|(n, i)| nt.exports.address_of_index(i).map(|a| (n, a)));
    Some(ServiceTable::from_exports(exports, |a| {
        let mut b = vec![0u8; 16];
        p.cpu.mem.peek(a as u64, &mut b).ok().map(|_| b)
    }))
}
