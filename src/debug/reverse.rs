//! Reverse execution: snapshots plus deterministic re-execution.
//!
//! Going back to position `p` means restoring the latest snapshot at or before `p` and
//! running forward to `p` with breakpoints ignored, re-applying the user's edits
//! (`set`) at the positions they were made. A bare machine state is snapshotted in
//! place every few thousand instructions (registers, x87/SSE, segments and a
//! copy-on-write [`Memory::snapshot`](x86wow_mmu::Memory::snapshot)). A WOW64 process
//! also has kernel state and loop state private to `x86wow_wow64::Process`, so its only
//! snapshot is the freshly built process: it is rebuilt (the build is deterministic)
//! and re-executed from its start.

use x86wow_cpu::fpu::{Simd, X87};
use x86wow_cpu::regs::{DescriptorTable, Segment};
use x86wow_cpu::Cpu;
use x86wow_mmu::Snapshot;

use super::error::{DebugError, Result};
use super::expr::Reg;

/// Dispatches between two automatic snapshots, at first; the interval doubles when
/// there are too many, so memory stays bounded on long runs.
const FIRST_INTERVAL: u64 = 4096;
const MAX_CHECKPOINTS: usize = 64;

/// The complete state of a bare CPU at one position.
pub struct Checkpoint {
    pub tick: u64,
    pub insns: u64,
    gpr: [u32; 8],
    eip: u32,
    eflags: u32,
    seg: [Segment; 6],
    descriptors: DescriptorTable,
    fpu: X87,
    simd: Simd,
    mem: Snapshot,
}

impl Checkpoint {
    pub fn take(tick: u64, cpu: &mut Cpu) -> Checkpoint {
        Checkpoint {
            tick,
            insns: cpu.insns(),
            gpr: cpu.gpr,
            eip: cpu.eip,
            eflags: cpu.eflags(),
            seg: cpu.seg,
            descriptors: cpu.descriptors.clone(),
            fpu: cpu.fpu,
            simd: cpu.simd,
            mem: cpu.mem.snapshot(),
        }
    }

    pub fn restore(&self, cpu: &mut Cpu) {
        cpu.gpr = self.gpr;
        cpu.eip = self.eip;
        cpu.set_eflags(self.eflags);
        cpu.seg = self.seg;
        cpu.descriptors = self.descriptors.clone();
        cpu.fpu = self.fpu;
        cpu.simd = self.simd;
        cpu.set_insns(self.insns);
        cpu.mem.restore(&self.mem);
    }
}

/// Snapshots of a bare CPU, by position.
pub struct Checkpoints {
    list: Vec<Checkpoint>,
    interval: u64,
    next: u64,
}

impl Checkpoints {
    /// Starts with a snapshot of the initial state (position 0).
    pub fn new(cpu: &mut Cpu) -> Checkpoints {
        Checkpoints { list: vec![Checkpoint::take(0, cpu)], interval: FIRST_INTERVAL, next: FIRST_INTERVAL }
    }

    /// Called at every dispatch; snapshots when the interval has passed.
    pub fn maybe_take(&mut self, tick: u64, cpu: &mut Cpu) {
        if tick < self.next {
            return;
        }
        self.next = tick + self.interval;
        match self.list.binary_search_by_key(&tick, |c| c.tick) {
            Ok(_) => {}
            Err(i) => self.list.insert(i, Checkpoint::take(tick, cpu)),
        }
        if self.list.len() > MAX_CHECKPOINTS {
            // Keep the first (the initial state) and every other one after it.
            let mut i = 0usize;
            self.list.retain(|_| {
                i += 1;
                i == 1 || i.is_multiple_of(2)
            });
            self.interval *= 2;
        }
    }

    /// The latest snapshot at or before a position, or (for `by_insns`) with at most
    /// that many instructions retired.
    pub fn best(&self, tick: u64, by_insns: Option<u64>) -> &Checkpoint {
        self.list
            .iter()
            .rev()
            .find(|c| c.tick <= tick && by_insns.is_none_or(|k| c.insns <= k))
            .unwrap_or(&self.list[0])
    }

    /// Forgets snapshots after a position whose state the user changed, and sets where
    /// the next automatic one goes.
    pub fn rewound_to(&mut self, tick: u64, edited: bool) {
        if edited {
            self.list.retain(|c| c.tick == 0 || c.tick <= tick);
        }
        self.next = tick + self.interval;
    }
}

/// A change the user made to the state (`set`, a gdb register or memory write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    Reg(Reg, u32),
    Mem(u32, Vec<u8>),
}

impl Edit {
    /// Applies the edit. Edits are absolute values, so applying one twice is harmless
    /// (a snapshot taken after it and the replay of it agree).
    pub fn apply(&self, cpu: &mut Cpu) -> Result<()> {
        match self {
            Edit::Reg(r, v) => r.write(cpu, *v),
            Edit::Mem(a, bytes) => cpu
                .mem
                .poke(*a as u64, bytes)
                .map_err(|_| DebugError::Unmapped { addr: *a as u64, len: bytes.len() }),
        }
    }
}

/// The user's edits by position: the part of history re-execution cannot reproduce.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    edits: Vec<(u64, Edit)>,
}

impl Timeline {
    /// Records an edit made at `tick`; edits after it belonged to a future that the
    /// edit has just replaced.
    pub fn record(&mut self, tick: u64, edit: Edit) {
        self.edits.retain(|(t, _)| *t <= tick);
        self.edits.push((tick, edit));
    }

    /// Edits at or after `from`, in order.
    pub fn from(&self, from: u64) -> impl Iterator<Item = &(u64, Edit)> {
        self.edits.iter().filter(move |(t, _)| *t >= from)
    }

    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x86wow_mmu::Prot;

    #[test]
    fn an_edit_replaces_the_future() {
        let mut t = Timeline::default();
        t.record(5, Edit::Reg(Reg::Eip, 1));
        t.record(9, Edit::Reg(Reg::Eip, 2));
        t.record(7, Edit::Reg(Reg::Eip, 3));
        let ticks: Vec<u64> = t.from(0).map(|(t, _)| *t).collect();
        assert_eq!(ticks, [5, 7]);
        assert_eq!(t.from(6).count(), 1);
    }

    #[test]
    fn checkpoints_restore_and_thin_out() {
        let mut cpu = Cpu::new();
        cpu.mem.map(0x1000, 0x1000, Prot::RW).unwrap();
        let mut cps = Checkpoints::new(&mut cpu);
        for tick in 1..=(FIRST_INTERVAL * 200) {
            cpu.gpr[0] = tick as u32;
            cps.maybe_take(tick, &mut cpu);
        }
        assert!(cps.list.len() <= MAX_CHECKPOINTS);
        let cp = cps.best(FIRST_INTERVAL * 100 + 5, None);
        assert!(cp.tick <= FIRST_INTERVAL * 100 + 5 && cp.tick > 0);
        cpu.mem.poke(0x1000, &[1, 2, 3]).unwrap();
        cps.best(0, None).restore(&mut cpu);
        let mut b = [9u8; 3];
        cpu.mem.peek(0x1000, &mut b).unwrap();
        assert_eq!((b, cpu.gpr[0]), ([0; 3], 0));
    }
}
