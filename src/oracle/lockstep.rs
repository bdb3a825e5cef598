//! Running two backends side by side and finding the first instruction where they part.

use std::fmt;

use serde_json::{json, Value};
use x86wow_cpu::state::{ExitInfo, MachineState};

use super::backend::{Backend, BackendError};
use super::diff::{compare_states, flag_names, FieldDiff};
use super::flags::{code_bytes, decode_at, defined_flags, disassemble, read_flags, undefined_flags};

/// How often the two backends' states are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// After every instruction.
    PerInstruction,
    /// After every N instructions; a difference is then narrowed down by replaying the
    /// last N instructions one at a time from the last state both agreed on.
    Every(u64),
}

/// Lockstep options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub granularity: Granularity,
    /// Instructions to run at most.
    pub max_insns: u64,
    /// Compare the undefined flags even when the backends claim different models.
    pub strict_flags: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { granularity: Granularity::PerInstruction, max_insns: 1_000_000, strict_flags: false }
    }
}

/// What a lockstep run found.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Both ran to the same stop (or to the instruction limit) in the same state.
    Agree { exit: ExitInfo },
    /// They parted.
    Diverged(Box<Divergence>),
}

/// The first instruction after which two backends' states differ.
#[derive(Debug, Clone)]
pub struct Divergence {
    /// Index of the instruction from the start of the run (0: the first one).
    pub index: u64,
    /// Its address, bytes and Intel-syntax disassembly (empty when it does not decode).
    pub eip: u32,
    pub bytes: Vec<u8>,
    pub disasm: String,
    /// The state both agreed on before it.
    pub before: MachineState,
    /// Backend names, states after the instruction and how each stopped.
    pub names: [String; 2],
    pub after: [MachineState; 2],
    pub exits: [ExitInfo; 2],
    /// The fields that differ.
    pub diffs: Vec<FieldDiff>,
    /// EFLAGS bits left out of the comparison (undefined by this or an earlier
    /// instruction and not defined since).
    pub masked_flags: u32,
    /// A hint at the cause, e.g. that the instruction read flags left undefined.
    pub note: Option<String>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes: String = self.bytes.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(
            f,
            "divergence at instruction {} (eip {:#010x}: {} `{}`)",
            self.index, self.eip, bytes, self.disasm
        )?;
        writeln!(f, "  {} vs {}", self.names[0], self.names[1])?;
        writeln!(f, "  before: {}", regs_line(&self.before))?;
        writeln!(f, "  after ({}): {}", self.names[0], regs_line(&self.after[0]))?;
        writeln!(f, "  after ({}): {}", self.names[1], regs_line(&self.after[1]))?;
        for d in &self.diffs {
            writeln!(f, "  {d}")?;
        }
        let e = |x: &ExitInfo| x.to_json().to_string();
        writeln!(f, "  exits: {} vs {}", e(&self.exits[0]), e(&self.exits[1]))?;
        if self.masked_flags != 0 {
            writeln!(f, "  masked (undefined) flags: {}", flag_names(self.masked_flags))?;
        }
        if let Some(n) = &self.note {
            writeln!(f, "  note: {n}")?;
        }
        Ok(())
    }
}

/// The integer registers of a state on one line.
fn regs_line(s: &MachineState) -> String {
    let r = &s.regs;
    format!(
        "eax={:08x} ecx={:08x} edx={:08x} ebx={:08x} esp={:08x} ebp={:08x} esi={:08x} edi={:08x} eip={:08x} eflags={:08x}",
        r.eax, r.ecx, r.edx, r.ebx, r.esp, r.ebp, r.esi, r.edi, r.eip, r.eflags
    )
}

impl Divergence {
    /// The report as JSON: the instruction, the fields that differ, the state before
    /// and both states after (with their exits), in the state format.
    pub fn to_json(&self) -> Value {
        json!({
            "index": self.index,
            "eip": self.eip,
            "bytes": self.bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "disasm": self.disasm,
            "engines": self.names,
            "diffs": self.diffs.iter().map(|d| json!({"field": d.field, "left": d.left, "right": d.right})).collect::<Vec<_>>(),
            "masked_flags": self.masked_flags,
            "note": self.note,
            "before": self.before.to_json(None),
            "after": [self.after[0].to_json(Some(&self.exits[0])), self.after[1].to_json(Some(&self.exits[1]))],
        })
    }
}

/// A lockstep failure that is not a divergence.
#[derive(Debug)]
pub enum LockstepError {
    /// One backend failed; `which` is 0 or 1.
    Backend { which: usize, name: String, source: BackendError },
}

impl fmt::Display for LockstepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockstepError::Backend { name, source, .. } => write!(f, "{name}: {source}"),
        }
    }
}

impl std::error::Error for LockstepError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LockstepError::Backend { source, .. } => Some(source),
        }
    }
}

/// Two backends run in lockstep.
///
/// ```
/// use x86wow::cpu::state::MachineState;
/// use x86wow::oracle::{Interpreter, Lockstep, Options, Outcome};
///
/// let state = MachineState::parse(r#"{"regs": {"ecx": 100, "eip": 4096},
///     "memory": [{"addr": 4096, "prot": "rx", "hex": "01c8e2fcf4"}]}"#).unwrap(); // add eax,ecx; loop; hlt
/// let (mut fast, mut plain) = (Interpreter::fast(), Interpreter::plain());
/// match Lockstep::new(&mut fast, &mut plain, Options::default()).run(&state).unwrap() {
///     Outcome::Agree { exit } => assert_eq!((exit.reason, exit.insns), ("hlt", 200)),
///     Outcome::Diverged(d) => panic!("{d}"),
/// }
/// ```
pub struct Lockstep<'a> {
    backends: [&'a mut dyn Backend; 2],
    options: Options,
    /// Whether EFLAGS bits left undefined are masked.
    mask_undefined: bool,
}

/// Where a run is: instructions retired before the last load of both backends, and
/// since it; the undefined flags still pending.
struct Cursor {
    load_base: u64,
    rel: u64,
    pending: u32,
}

impl<'a> Lockstep<'a> {
    pub fn new(a: &'a mut dyn Backend, b: &'a mut dyn Backend, options: Options) -> Lockstep<'a> {
        let same_model = match (a.undefined_flags_model(), b.undefined_flags_model()) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        };
        Lockstep { backends: [a, b], options, mask_undefined: !same_model && !options.strict_flags }
    }

    fn err(&self, which: usize, source: BackendError) -> LockstepError {
        LockstepError::Backend { which, name: self.backends[which].name(), source }
    }

    fn load(&mut self, state: &MachineState) -> Result<(), LockstepError> {
        for i in 0..2 {
            self.backends[i].load(state).map_err(|e| self.err(i, e))?;
        }
        Ok(())
    }

    fn advance(&mut self, n: u64) -> Result<[(ExitInfo, MachineState); 2], LockstepError> {
        let a = self.backends[0].run_and_state(n).map_err(|e| self.err(0, e))?;
        let b = self.backends[1].run_and_state(n).map_err(|e| self.err(1, e))?;
        Ok([a, b])
    }

    /// Runs both backends from `state` and reports the first divergence.
    pub fn run(&mut self, state: &MachineState) -> Result<Outcome, LockstepError> {
        self.load(state)?;
        let before = self.backends[0].state().map_err(|e| self.err(0, e))?;
        let mut cur = Cursor { load_base: 0, rel: 0, pending: 0 };
        match self.options.granularity {
            Granularity::PerInstruction => self.per_insn(before, &mut cur, self.options.max_insns),
            Granularity::Every(n) => self.chunked(before, &mut cur, n.max(1)),
        }
    }

    /// Steps both backends one instruction at a time, at most `limit` instructions.
    fn per_insn(
        &mut self,
        mut before: MachineState,
        cur: &mut Cursor,
        limit: u64,
    ) -> Result<Outcome, LockstepError> {
        let mut last = None;
        for _ in 0..limit {
            let ins = decode_at(&before, before.regs.eip);
            let (undefined, defined, reads) = match (&ins, self.mask_undefined) {
                (Some(i), true) => (undefined_flags(i), defined_flags(i), read_flags(i)),
                _ => (0, 0, 0),
            };
            let [(ea, sa), (eb, sb)] = self.advance(1)?;
            let retired = ea.insns > cur.rel;
            // Flags undefined by this instruction are masked if it retired; flags
            // undefined earlier stay masked until an instruction defines them.
            let mask = if retired { (cur.pending & !defined) | undefined } else { cur.pending };
            let diffs = compare_states(&sa, Some(&ea), &sb, Some(&eb), mask);
            if !diffs.is_empty() {
                let note = (reads & cur.pending != 0).then(|| {
                    format!(
                        "the instruction reads {} left undefined by an earlier instruction",
                        flag_names(reads & cur.pending)
                    )
                });
                let index = cur.load_base + cur.rel;
                let d = self.divergence(before, index, cur.load_base, [sa, sb], [ea, eb], diffs, mask, note);
                return Ok(Outcome::Diverged(Box::new(d)));
            }
            cur.pending = mask;
            cur.rel = ea.insns;
            let stopped = ea.reason != "budget";
            before = sa;
            last = Some(ea);
            if stopped {
                break;
            }
        }
        let mut exit = last.unwrap_or_else(|| ExitInfo::budget(cur.rel));
        exit.insns += cur.load_base;
        Ok(Outcome::Agree { exit })
    }

    /// Runs both backends N instructions at a time. On a difference, both replay from
    /// the last state they were loaded with (so that history-dependent engine state,
    /// such as a decoded-block cache, is rebuilt the same way) up to the chunk, and then
    /// one instruction at a time through it.
    fn chunked(&mut self, before: MachineState, cur: &mut Cursor, n: u64) -> Result<Outcome, LockstepError> {
        let mut origin = before;
        let mut exit = ExitInfo::budget(0);
        while cur.load_base + cur.rel < self.options.max_insns {
            let chunk = n.min(self.options.max_insns - cur.load_base - cur.rel);
            let [(ea, sa), (eb, sb)] = self.advance(chunk)?;
            // Undefined flags cannot be told apart at this granularity: any EFLAGS
            // difference is narrowed down instruction by instruction.
            if compare_states(&sa, Some(&ea), &sb, Some(&eb), 0).is_empty() {
                cur.rel = ea.insns;
                exit = ea;
                if exit.reason != "budget" {
                    break;
                }
                continue;
            }
            // Replay: load the origin, run up to the chunk in one go (if the backends
            // still agree there), then step through it.
            let ff = cur.rel;
            self.load(&origin)?;
            (cur.rel, cur.pending) = (0, 0);
            let mut start = origin.clone();
            let mut len = ff + chunk;
            if ff > 0 {
                let [(ea, sa), (eb, sb)] = self.advance(ff)?;
                if compare_states(&sa, Some(&ea), &sb, Some(&eb), 0).is_empty() && ea.insns == ff {
                    (start, cur.rel, len) = (sa, ff, chunk);
                } else {
                    self.load(&origin)?;
                }
            }
            match self.per_insn(start, cur, len)? {
                Outcome::Diverged(d) => return Ok(Outcome::Diverged(d)),
                Outcome::Agree { exit: e } => {
                    // Only undefined flags differed: go on from the first backend's
                    // state, loaded into both.
                    exit = e;
                    if exit.reason != "budget" {
                        break;
                    }
                    origin = self.backends[0].state().map_err(|e| self.err(0, e))?;
                    self.load(&origin)?;
                    (cur.load_base, cur.rel, cur.pending) = (cur.load_base + cur.rel, 0, 0);
                }
            }
        }
        exit.insns = cur.load_base + cur.rel;
        Ok(Outcome::Agree { exit })
    }

    #[allow(clippy::too_many_arguments)]
    fn divergence(
        &self,
        before: MachineState,
        index: u64,
        base: u64,
        after: [MachineState; 2],
        mut exits: [ExitInfo; 2],
        diffs: Vec<FieldDiff>,
        masked_flags: u32,
        note: Option<String>,
    ) -> Divergence {
        let eip = before.regs.eip;
        let ins = decode_at(&before, eip);
        let bytes = match &ins {
            Some(i) => code_bytes(&before, eip)[..i.len()].to_vec(),
            None => code_bytes(&before, eip),
        };
        for e in &mut exits {
            e.insns += base;
        }
        Divergence {
            index,
            eip,
            bytes,
            disasm: ins.as_ref().map(disassemble).unwrap_or_default(),
            before,
            names: [self.backends[0].name(), self.backends[1].name()],
            after,
            exits,
            diffs,
            masked_flags: masked_flags & super::flags::STATUS_FLAGS,
            note,
        }
    }
}
