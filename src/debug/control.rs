//! The state the per-instruction hook consults: breakpoints of every kind, what ends
//! the current run (a step count, an address, a return), and the dispatch counter that
//! names positions in the execution history.
//!
//! Positions: every instruction dispatch the hook sees gets the next number, and "stopped
//! at position n" means "before dispatch n". When the hook stops the CPU, the CPU will
//! dispatch that instruction again on the next run without consulting hooks (so that a
//! breakpoint does not fire twice); [`Control::resume_pending`] mirrors that so the
//! numbering is the same whether or not the run stopped there. Deterministic
//! re-execution then reaches every position with the same state.

use std::cell::RefCell;
use std::rc::Rc;

use iced_x86::FlowControl;
use x86wow_cpu::{Cpu, HookAction};
use x86wow_mmu::Access;
use x86wow_wow64::ntdll::ServiceTable;

use super::expr::Expr;
use super::reverse::Checkpoints;

/// The CPU's instruction counter is set to this to make the WOW64 run loop return (its
/// instruction budget is then used up); see `target.rs`.
pub const STOP_INSNS: u64 = u64::MAX / 2;

/// Which accesses a watchpoint reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchKind {
    Write,
    Read,
    Access,
}

impl WatchKind {
    pub fn command(self) -> &'static str {
        match self {
            WatchKind::Write => "watch",
            WatchKind::Read => "rwatch",
            WatchKind::Access => "awatch",
        }
    }
}

/// What a breakpoint stops on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakKind {
    /// Before the instruction at an address.
    Code { addr: u32 },
    /// At the 0x33 gate (or `int 0x2e`) with EAX naming this service.
    Syscall { service: u32, name: String },
    /// When KiUserExceptionDispatcher is entered with one of these exception codes
    /// (any code if empty).
    Exception { codes: Vec<u32> },
    /// After an instruction (or a system service) accesses the bytes.
    Watch { addr: u32, len: u32, kind: WatchKind },
}

#[derive(Debug, Clone)]
pub struct Breakpoint {
    pub id: u32,
    pub kind: BreakKind,
    /// How the user wrote the location (`adder.dll!Add`).
    pub spec: String,
    pub enabled: bool,
    /// The condition as written and compiled.
    pub cond: Option<(String, Expr)>,
    pub hits: u64,
    /// Set by gdb (Z packets) rather than by a command.
    pub from_gdb: bool,
    /// Watchpoints: the bytes when last reported, to show old and new values.
    pub last: Vec<u8>,
}

/// What ends a run besides breakpoints. All set fields apply; the first met wins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Goal {
    /// Stop at this position.
    pub tick: Option<u64>,
    /// Stop once this many instructions have retired.
    pub insns: Option<u64>,
    /// Stop before the instruction at this address.
    pub addr: Option<u32>,
    /// Stop at the return address `.0` once ESP is above the return slot `.1` (the
    /// frame was popped; recursion does not fool it).
    pub ret: Option<(u32, u32)>,
    /// Stop after the RET that leaves the current function, found by counting the
    /// calls and returns executed (frame pointers are often omitted; see `finish`).
    pub finish: bool,
    /// Breakpoints do not stop (replaying to a position).
    pub ignore_breakpoints: bool,
}

/// Why the hook stopped (or, when scanning history, would have stopped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hit {
    Tick,
    Insns,
    Addr,
    Return,
    Break {
        id: u32,
    },
    Watch {
        id: u32,
        addr: u32,
        access: Option<Access>,
        old: Vec<u8>,
        new: Vec<u8>,
        service: Option<String>,
    },
    Syscall {
        id: u32,
        service: u32,
        name: String,
    },
    Exception {
        id: u32,
        code: u32,
        address: u32,
    },
    /// The `--max-insns` limit.
    Budget,
}

impl Hit {
    /// Whether this is a breakpoint of the user's (what reverse-continue looks for).
    pub fn is_breakpoint(&self) -> bool {
        matches!(self, Hit::Break { .. } | Hit::Watch { .. } | Hit::Syscall { .. } | Hit::Exception { .. })
    }
}

/// An access a memory hook saw, reported at the next dispatch.
#[derive(Debug, Clone, Copy)]
struct PendingAccess {
    id: u32,
    addr: u32,
    access: Access,
}

/// The hook's state, shared (`Rc<RefCell>`) between the hooks and the session.
#[derive(Default)]
pub struct Control {
    /// The number the next hooked dispatch gets.
    pub tick: u64,
    /// The CPU will re-dispatch the instruction at this EIP without hooks.
    pub resume_pending: Option<u32>,
    /// The position the current run started at: nothing stops there.
    pub start_tick: u64,
    pub goal: Goal,
    pub breakpoints: Vec<Breakpoint>,
    pub next_id: u32,
    /// Set by the hook when it stops the CPU.
    pub stop: Option<Hit>,
    /// Scanning history: hits are recorded with their positions instead of stopping.
    pub record: Option<Vec<(u64, Hit)>>,
    /// The target stops through the instruction budget (a WOW64 process).
    pub budget_stop: bool,
    /// The real instruction count while [`STOP_INSNS`] stands in for it.
    pub saved_insns: Option<u64>,
    /// `--max-insns`: stop when this many instructions have retired.
    pub max_insns: Option<u64>,
    pending: Vec<PendingAccess>,
    /// The service entered at the previous dispatch, if it was a system-call gate.
    after_gate: Option<String>,
    pub services: Option<ServiceTable>,
    /// KiUserExceptionDispatcher.
    pub dispatcher: Option<u32>,
    /// Snapshots for reverse execution (bare states; a process is rebuilt instead).
    pub checkpoints: Option<Checkpoints>,
    /// Ids of the memory hooks installed for watchpoints.
    pub mem_hooks: Vec<u64>,
    /// Gates passed so far (for `monitor`).
    pub syscalls_seen: u64,
    /// `finish`: calls minus returns since the run started.
    pub depth: i64,
    /// `finish`: the function's RET has executed; stop at the next dispatch.
    pub finish_armed: bool,
}

pub type SharedControl = Rc<RefCell<Control>>;

impl Control {
    pub fn new_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    pub fn breakpoint(&self, id: u32) -> Option<&Breakpoint> {
        self.breakpoints.iter().find(|b| b.id == id)
    }

    /// The service name for EAX at a gate.
    pub fn service_name(&self, eax: u32) -> Option<String> {
        self.services.as_ref()?.lookup(eax).map(str::to_string)
    }

    fn wants_gate(&self) -> bool {
        self.breakpoints.iter().any(|b| {
            b.enabled
                && matches!(
                    b.kind,
                    BreakKind::Syscall { .. }
                        | BreakKind::Watch { kind: WatchKind::Write | WatchKind::Access, .. }
                )
        })
    }

    /// Breakpoints (code, syscall, exception) before dispatch of the instruction at
    /// `eip`; `gate` is the service it enters, if it is a system-call gate.
    fn check_breaks(&mut self, cpu: &Cpu, eip: u32, gate: Option<u32>) -> Option<Hit> {
        let esp = cpu.gpr[4];
        let exception = (Some(eip) == self.dispatcher).then(|| {
            let rec = read_u32(cpu, esp).unwrap_or(0);
            (read_u32(cpu, rec).unwrap_or(0), read_u32(cpu, rec.wrapping_add(12)).unwrap_or(0))
        });
        for b in &mut self.breakpoints {
            if !b.enabled {
                continue;
            }
            let hit = match &b.kind {
                BreakKind::Code { addr } if *addr == eip => Hit::Break { id: b.id },
                BreakKind::Syscall { service, name } if gate == Some(*service) => {
                    Hit::Syscall { id: b.id, service: *service, name: name.clone() }
                }
                BreakKind::Exception { codes } => match exception {
                    Some((c, address)) if codes.is_empty() || codes.contains(&c) => {
                        Hit::Exception { id: b.id, code: c, address }
                    }
                    _ => continue,
                },
                _ => continue,
            };
            if cond_holds(b, cpu) {
                return Some(hit);
            }
        }
        None
    }

    /// The goal of the run and the instruction limit.
    fn check_goals(&mut self, cpu: &Cpu, eip: u32, n: u64, gate: Option<u32>) -> Option<Hit> {
        let g = self.goal;
        if g.tick.is_some_and(|t| n >= t) {
            return Some(Hit::Tick);
        }
        if g.insns.is_some_and(|k| cpu.insns() >= k) {
            return Some(Hit::Insns);
        }
        if g.addr == Some(eip) {
            return Some(Hit::Addr);
        }
        if let Some((ret, slot)) = g.ret {
            if eip == ret && cpu.gpr[4] > slot {
                return Some(Hit::Return);
            }
        }
        if g.finish {
            if self.finish_armed {
                return Some(Hit::Return);
            }
            // The WOW64 gate returns to the stub's caller like a RET would.
            let flow = cpu.peek_instruction(eip).map(|i| i.flow_control());
            if matches!(flow, Some(FlowControl::Call | FlowControl::IndirectCall)) {
                self.depth += 1;
            } else if gate.is_some() || flow == Some(FlowControl::Return) {
                if self.depth == 0 {
                    self.finish_armed = true;
                } else {
                    self.depth -= 1;
                }
            }
        }
        if self.max_insns.is_some_and(|m| cpu.insns() >= m) {
            return Some(Hit::Budget);
        }
        None
    }

    /// Watchpoint hits: accesses the memory hooks saw during the last instruction, and
    /// changes a system service made to watched bytes.
    fn watch_hits(&mut self, cpu: &Cpu) -> Option<Hit> {
        let pending = std::mem::take(&mut self.pending);
        let service = self.after_gate.take();
        for p in pending {
            let Some(b) = self.breakpoints.iter_mut().find(|b| b.id == p.id && b.enabled) else { continue };
            let BreakKind::Watch { addr, len, .. } = b.kind else { continue };
            let new = read_bytes(cpu, addr, len);
            if !cond_holds(b, cpu) {
                b.last = new;
                continue;
            }
            let old = std::mem::replace(&mut b.last, new.clone());
            return Some(Hit::Watch {
                id: b.id,
                addr: p.addr,
                access: Some(p.access),
                old,
                new,
                service: None,
            });
        }
        let service = service?;
        for b in &mut self.breakpoints {
            let BreakKind::Watch { addr, len, kind: WatchKind::Write | WatchKind::Access } = b.kind else {
                continue;
            };
            if !b.enabled {
                continue;
            }
            let new = read_bytes(cpu, addr, len);
            if new != b.last && cond_holds(b, cpu) {
                let old = std::mem::replace(&mut b.last, new.clone());
                return Some(Hit::Watch { id: b.id, addr, access: None, old, new, service: Some(service) });
            }
            b.last = new;
        }
        None
    }

    /// Called before the CPU runs again. The instruction the hook stopped at is
    /// dispatched again without hooks when EIP still points at it: count that dispatch
    /// here, and note a gate it enters, so that positions and service-made watch hits
    /// come out as if the run had not stopped.
    pub fn prepare_resume(&mut self, cpu: &Cpu) {
        self.stop = None;
        self.finish_armed = false;
        if let Some(eip) = self.resume_pending.take() {
            if eip == cpu.eip {
                self.start_tick = self.tick;
                self.tick += 1;
                if let Some(g) = gate_service(cpu, eip) {
                    self.syscalls_seen += 1;
                    self.after_gate = Some(self.service_name(g).unwrap_or_else(|| format!("service {g:#x}")));
                }
                return;
            }
        }
        self.start_tick = self.tick;
    }

    /// Re-reads the bytes of every watchpoint (after the state jumped: a rewind, `set`).
    pub fn refresh_watches(&mut self, cpu: &Cpu) {
        for b in &mut self.breakpoints {
            if let BreakKind::Watch { addr, len, .. } = b.kind {
                b.last = read_bytes(cpu, addr, len);
            }
        }
        self.pending.clear();
    }
}

fn cond_holds(b: &Breakpoint, cpu: &Cpu) -> bool {
    // A condition that cannot be evaluated (unmapped memory) stops, as in gdb: the
    // user then sees why.
    b.cond.as_ref().is_none_or(|(_, e)| !matches!(e.eval(cpu), Ok(0)))
}

pub fn read_u32(cpu: &Cpu, addr: u32) -> Option<u32> {
    let mut b = [0u8; 4];
    cpu.mem.peek(addr as u64, &mut b).ok()?;
    Some(u32::from_le_bytes(b))
}

/// Reads bytes; unmapped ones read as empty (a watch on memory not yet allocated).
pub fn read_bytes(cpu: &Cpu, addr: u32, len: u32) -> Vec<u8> {
    let mut b = vec![0u8; len as usize];
    match cpu.mem.peek(addr as u64, &mut b) {
        Ok(()) => b,
        Err(_) => Vec::new(),
    }
}

/// The service number if the instruction at `eip` enters the kernel: the WOW64 gate
/// `jmp 0033:xxxxxxxx` or the legacy `int 0x2e`.
fn gate_service(cpu: &Cpu, eip: u32) -> Option<u32> {
    let mut b = [0u8; 7];
    let lin = cpu.seg[x86wow_cpu::regs::sreg::CS].base.wrapping_add(eip);
    let n = cpu.mem.fetch(lin as u64, &mut b);
    let far_33 = n == 7 && b[0] == 0xEA && b[5] == 0x33 && b[6] == 0;
    let int_2e = n >= 2 && b[0] == 0xCD && b[1] == 0x2E;
    (far_33 || int_2e).then_some(cpu.gpr[0])
}

/// The code hook: numbers the dispatch, takes checkpoints, and decides whether to stop.
pub fn on_dispatch(ctl: &RefCell<Control>, cpu: &mut Cpu, eip: u32) -> HookAction {
    let mut c = ctl.borrow_mut();
    let n = c.tick;
    c.tick = n + 1;
    if let Some(cps) = &mut c.checkpoints {
        cps.maybe_take(n, cpu);
    }
    let gate = if c.wants_gate() || c.services.is_some() { gate_service(cpu, eip) } else { None };
    let hit = if n == c.start_tick && c.goal.tick != Some(n) {
        // Leaving a stop: the instruction there does not stop the run again. Accesses
        // seen before are stale.
        c.pending.clear();
        None
    } else {
        let mut hit = None;
        if c.goal.ignore_breakpoints {
            // Replaying: accesses are not hits (watch values are re-read afterwards).
            c.pending.clear();
            c.after_gate = None;
        } else {
            hit = c.watch_hits(cpu).or_else(|| c.check_breaks(cpu, eip, gate));
        }
        if let (Some(rec), Some(h)) = (&mut c.record, &hit) {
            // Scanning history: note the hit, keep going.
            rec.push((n, h.clone()));
            hit = None;
        }
        hit.or_else(|| c.check_goals(cpu, eip, n, gate))
    };
    if let Some(g) = gate {
        c.syscalls_seen += 1;
        c.after_gate = Some(c.service_name(g).unwrap_or_else(|| format!("service {g:#x}")));
    }
    let Some(hit) = hit else { return HookAction::Continue };
    if let Hit::Break { id } | Hit::Watch { id, .. } | Hit::Syscall { id, .. } | Hit::Exception { id, .. } =
        hit
    {
        if let Some(b) = c.breakpoints.iter_mut().find(|b| b.id == id) {
            b.hits += 1;
        }
    }
    // A gate we stop at is entered again when the run resumes.
    c.after_gate = None;
    c.stop = Some(hit);
    c.tick = n;
    c.resume_pending = Some(eip);
    if c.budget_stop {
        c.saved_insns = Some(cpu.insns());
        cpu.set_insns(STOP_INSNS);
    }
    HookAction::Stop
}

/// Installs the code hook on a CPU (every address).
pub fn install_code_hook(ctl: &SharedControl, cpu: &mut Cpu) {
    let c = ctl.clone();
    cpu.add_code_hook(0..=u32::MAX, Box::new(move |cpu, eip| on_dispatch(&c, cpu, eip)));
}

/// (Re)installs one memory hook per enabled watchpoint.
pub fn install_watch_hooks(ctl: &SharedControl, cpu: &mut Cpu) {
    let old = std::mem::take(&mut ctl.borrow_mut().mem_hooks);
    for id in old {
        cpu.remove_hook(id);
    }
    let watches: Vec<(u32, u32, u32, WatchKind)> = ctl
        .borrow()
        .breakpoints
        .iter()
        .filter(|b| b.enabled)
        .filter_map(|b| match b.kind {
            BreakKind::Watch { addr, len, kind } => Some((b.id, addr, len, kind)),
            _ => None,
        })
        .collect();
    let mut ids = Vec::new();
    for (id, addr, len, kind) in watches {
        let c = ctl.clone();
        let read = matches!(kind, WatchKind::Read | WatchKind::Access);
        let write = matches!(kind, WatchKind::Write | WatchKind::Access);
        let last = addr.saturating_add(len.max(1) - 1);
        let hook = Box::new(move |a: u32, _size: u32, access: Access| {
            c.borrow_mut().pending.push(PendingAccess { id, addr: a, access });
            HookAction::Continue
        });
        ids.push(cpu.add_mem_hook(addr..=last, read, write, hook));
    }
    ctl.borrow_mut().mem_hooks = ids;
}
