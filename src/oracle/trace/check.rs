//! Comparing two traces of the same initial state.

use std::fmt;

use serde_json::{json, Value};

use super::regs::{RegFile, EFLAGS, REGS};
use super::Trace;
use crate::oracle::diff::{flag_names, FieldDiff};
use crate::oracle::flags::{defined_flags, disassemble, undefined_flags, RF};

/// The first step at which two traces differ.
#[derive(Debug, Clone)]
pub struct TraceDivergence {
    /// Index of the step (0: the first instruction); equal to the number of steps
    /// when the traces differ in how they stop.
    pub index: usize,
    pub eip: u32,
    pub bytes: Vec<u8>,
    pub disasm: String,
    /// Fields that differ: `eip`, `bytes`, register names, `mem`, `stop...`, `steps`.
    pub diffs: Vec<FieldDiff>,
}

impl fmt::Display for TraceDivergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes: String = self.bytes.iter().map(|b| format!("{b:02x}")).collect();
        writeln!(
            f,
            "trace divergence at step {} (eip {:#010x}: {bytes} `{}`)",
            self.index, self.eip, self.disasm
        )?;
        for d in &self.diffs {
            writeln!(f, "  {d}")?;
        }
        Ok(())
    }
}

impl TraceDivergence {
    pub fn to_json(&self) -> Value {
        json!({
            "index": self.index, "eip": self.eip,
            "bytes": self.bytes.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "disasm": self.disasm,
            "diffs": self.diffs.iter().map(|d| json!({"field": d.field, "left": d.left, "right": d.right})).collect::<Vec<_>>(),
        })
    }
}

fn fmt_reg(id: usize, v: u128) -> String {
    format!("{v:#0width$x}", width = 2 + 2 * REGS[id].bytes as usize)
}

fn writes_text(w: &[(u32, Vec<u8>)]) -> String {
    if w.is_empty() {
        return "none".into();
    }
    w.iter()
        .map(|(a, d)| format!("{a:#010x}:{}", d.iter().map(|b| format!("{b:02x}")).collect::<String>()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Compares `theirs` against `ours` (x86wow's) step by step. EFLAGS bits an
/// instruction leaves undefined are masked (until a later instruction defines them)
/// unless `strict_flags`; RF is never compared. `None`: the traces agree.
pub fn compare(ours: &Trace, theirs: &Trace) -> Option<TraceDivergence> {
    compare_with(ours, theirs, false)
}

/// [`compare`], optionally comparing undefined flags too.
pub fn compare_with(ours: &Trace, theirs: &Trace, strict_flags: bool) -> Option<TraceDivergence> {
    let mut a = RegFile::of_state(&ours.initial);
    let mut b = RegFile::of_state(&theirs.initial);
    let mut pending = 0u32;
    let decode = |eip: u32, bytes: &[u8]| {
        let ins = iced_x86::Decoder::with_ip(32, bytes, eip as u64, iced_x86::DecoderOptions::AMD).decode();
        (!ins.is_invalid()).then_some(ins)
    };
    for (i, (x, y)) in ours.steps.iter().zip(&theirs.steps).enumerate() {
        let ins = decode(x.eip, &x.bytes);
        let mut diffs = Vec::new();
        let mut push = |field: &str, l: String, r: String| {
            diffs.push(FieldDiff { field: field.into(), left: l, right: r })
        };
        if x.eip != y.eip {
            push("eip", format!("{:#010x}", x.eip), format!("{:#010x}", y.eip));
        }
        if x.bytes != y.bytes {
            push("bytes", format!("{:02x?}", x.bytes), format!("{:02x?}", y.bytes));
        }
        a.apply(&x.regs);
        b.apply(&y.regs);
        if let (Some(ins), false) = (&ins, strict_flags) {
            pending = (pending & !defined_flags(ins)) | undefined_flags(ins);
        }
        for (id, def) in REGS.iter().enumerate() {
            let mask = if id == EFLAGS { !(pending as u128 | RF as u128) } else { u128::MAX };
            if a.0[id] & mask != b.0[id] & mask {
                let extra = if id == EFLAGS {
                    format!(" (differ: {})", flag_names(((a.0[id] ^ b.0[id]) & mask) as u32))
                } else {
                    String::new()
                };
                push(def.name, fmt_reg(id, a.0[id]), format!("{}{extra}", fmt_reg(id, b.0[id])));
            }
        }
        let (wa, wb) = (super::coalesce(&x.writes), super::coalesce(&y.writes));
        if wa != wb {
            push("mem", writes_text(&wa), writes_text(&wb));
        }
        if !diffs.is_empty() {
            return Some(TraceDivergence {
                index: i,
                eip: x.eip,
                bytes: x.bytes.clone(),
                disasm: ins.as_ref().map(disassemble).unwrap_or_default(),
                diffs,
            });
        }
    }
    let n = ours.steps.len().min(theirs.steps.len());
    let mut diffs = Vec::new();
    if ours.steps.len() != theirs.steps.len() {
        diffs.push(FieldDiff {
            field: "steps".into(),
            left: ours.steps.len().to_string(),
            right: theirs.steps.len().to_string(),
        });
    }
    let (sa, sb) = (&ours.stop, &theirs.stop);
    if sa.eip != sb.eip {
        diffs.push(FieldDiff {
            field: "stop.eip".into(),
            left: format!("{:#010x}", sa.eip),
            right: format!("{:#010x}", sb.eip),
        });
    }
    if ours.steps.len() == theirs.steps.len() {
        // What the instruction that did not retire left behind.
        a.apply(&sa.regs);
        b.apply(&sb.regs);
        for (id, def) in REGS.iter().enumerate() {
            let mask = if id == EFLAGS { !(pending as u128 | RF as u128) } else { u128::MAX };
            if a.0[id] & mask != b.0[id] & mask {
                let field = format!("stop.{}", def.name);
                diffs.push(FieldDiff { field, left: fmt_reg(id, a.0[id]), right: fmt_reg(id, b.0[id]) });
            }
        }
        let (wa, wb) = (super::coalesce(&sa.writes), super::coalesce(&sb.writes));
        if wa != wb {
            diffs.push(FieldDiff {
                field: "stop.mem".into(),
                left: writes_text(&wa),
                right: writes_text(&wb),
            });
        }
    }
    let mut exits = Vec::new();
    crate::oracle::diff::compare_exits(&sa.exit, &sb.exit, &mut exits);
    diffs.extend(exits.into_iter().map(|d| FieldDiff { field: d.field.replacen("exit", "stop", 1), ..d }));
    if diffs.is_empty() {
        return None;
    }
    let (eip, bytes) = match ours.steps.get(n) {
        Some(s) => (s.eip, s.bytes.clone()),
        None => (sa.eip, Vec::new()),
    };
    let disasm = decode(eip, &bytes).as_ref().map(disassemble).unwrap_or_default();
    Some(TraceDivergence { index: n, eip, bytes, disasm, diffs })
}
