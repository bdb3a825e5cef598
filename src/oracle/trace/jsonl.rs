//! The JSON Lines encoding (`docs/trace-format.md`): a header line, one line per step,
//! a stop line.
//!
//! ```text
//! {"x86wow_trace": 1, "initial": {...state...}}
//! {"eip": 4096, "bytes": "40", "regs": {"eax": 1, "eflags": 2}, "mem": []}
//! {"eip": 4097, "stop": {"reason": "hlt", "insns": 1}, "regs": {}, "mem": []}
//! ```

use serde_json::{json, Map, Value};
use x86wow_cpu::state::MachineState;

use super::regs::{reg_id, REGS};
use super::{Step, Stop, Trace, TraceError, VERSION};
use crate::oracle::exit::exit_from_json;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len() / 2).map(|i| s.get(2 * i..2 * i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

/// A register value as JSON: a number up to 32 bits, hex digits (most significant
/// first) for the 80-bit x87 and 128-bit XMM registers.
fn reg_value(id: u8, v: u128) -> Value {
    let w = REGS[id as usize].bytes as usize;
    if w <= 4 {
        json!(v as u64)
    } else {
        json!(format!("{v:0width$x}", width = 2 * w))
    }
}

fn changes(regs: &[(u8, u128)], writes: &[(u32, Vec<u8>)]) -> (Map<String, Value>, Vec<Value>) {
    let regs = regs.iter().map(|&(id, v)| (REGS[id as usize].name.to_string(), reg_value(id, v))).collect();
    let mem = writes.iter().map(|(a, d)| json!({"addr": a, "hex": hex(d)})).collect();
    (regs, mem)
}

/// Encodes a trace as JSON Lines.
pub fn encode(t: &Trace) -> String {
    let mut out = String::new();
    out.push_str(&json!({"x86wow_trace": VERSION, "initial": t.initial.to_json(None)}).to_string());
    out.push('\n');
    for s in &t.steps {
        let (regs, mem) = changes(&s.regs, &s.writes);
        out.push_str(&json!({"eip": s.eip, "bytes": hex(&s.bytes), "regs": regs, "mem": mem}).to_string());
        out.push('\n');
    }
    let (regs, mem) = changes(&t.stop.regs, &t.stop.writes);
    out.push_str(
        &json!({"eip": t.stop.eip, "stop": t.stop.exit.to_json(), "regs": regs, "mem": mem}).to_string(),
    );
    out.push('\n');
    out
}

fn bad(line: usize, message: impl Into<String>) -> TraceError {
    TraceError::Malformed { at: line, message: message.into() }
}

fn step_from(v: &Value, line: usize) -> Result<Step, TraceError> {
    let num = |k: &str| v.get(k).and_then(Value::as_u64).filter(|&n| n <= u32::MAX as u64);
    let eip = num("eip").ok_or_else(|| bad(line, "missing `eip`"))? as u32;
    let bytes = unhex(v.get("bytes").and_then(Value::as_str).unwrap_or(""))
        .ok_or_else(|| bad(line, "bad `bytes`"))?;
    let mut regs = Vec::new();
    if let Some(Value::Object(m)) = v.get("regs") {
        for (name, val) in m {
            let id = reg_id(name).ok_or_else(|| bad(line, format!("unknown register `{name}`")))?;
            let x = match val {
                Value::Number(n) => n.as_u64().map(|n| n as u128),
                Value::String(s) => u128::from_str_radix(s, 16).ok(),
                _ => None,
            }
            .ok_or_else(|| bad(line, format!("bad value of `{name}`")))?;
            regs.push((id, x));
        }
        regs.sort_by_key(|r| r.0);
    }
    let mut writes = Vec::new();
    if let Some(Value::Array(a)) = v.get("mem") {
        for w in a {
            let addr = w.get("addr").and_then(Value::as_u64).filter(|&n| n <= u32::MAX as u64);
            let data = w.get("hex").and_then(Value::as_str).and_then(unhex);
            match (addr, data) {
                (Some(a), Some(d)) => writes.push((a as u32, d)),
                _ => return Err(bad(line, "bad `mem` entry")),
            }
        }
    }
    Ok(Step { eip, bytes, regs, writes })
}

/// Decodes a JSON Lines trace.
pub fn decode(text: &str) -> Result<Trace, TraceError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, head) = lines.next().ok_or(TraceError::NotATrace)?;
    let head: Value = serde_json::from_str(head).map_err(|_| TraceError::NotATrace)?;
    let version = head.get("x86wow_trace").and_then(Value::as_u64).ok_or(TraceError::NotATrace)?;
    if version != VERSION as u64 {
        return Err(TraceError::Version(version as u16));
    }
    let initial = MachineState::from_json(head.get("initial").ok_or_else(|| bad(1, "missing `initial`"))?)
        .map_err(|e| bad(1, format!("initial state: {e}")))?;
    let mut steps = Vec::new();
    for (i, line) in lines {
        let v: Value = serde_json::from_str(line).map_err(|e| bad(i + 1, e.to_string()))?;
        if let Some(exit) = v.get("stop") {
            let exit = exit_from_json(exit).map_err(|e| bad(i + 1, e))?;
            let s = step_from(&v, i + 1)?;
            return Ok(Trace {
                initial,
                steps,
                stop: Stop { eip: s.eip, exit, regs: s.regs, writes: s.writes },
            });
        }
        steps.push(step_from(&v, i + 1)?);
    }
    Err(TraceError::Truncated { at: text.lines().count() })
}
