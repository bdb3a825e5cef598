//! Reading the format's `exit` object back into an [`ExitInfo`].

use serde_json::Value;
use x86wow_cpu::state::ExitInfo;

/// The stop reasons of the state format.
pub const REASONS: [&str; 6] = ["hlt", "fault", "budget", "interrupt", "far_transfer", "syscall"];
const ACCESSES: [&str; 3] = ["read", "write", "execute"];

fn u32_field(o: &serde_json::Map<String, Value>, key: &str) -> Result<Option<u32>, String> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|&n| n <= u32::MAX as u64)
            .map(|n| Some(n as u32))
            .ok_or_else(|| format!("`exit.{key}`: expected an integer in 0..=4294967295, found {v}")),
    }
}

/// Parses an `exit` object (see `docs/state-format.md`).
///
/// ```
/// let v = serde_json::json!({"reason": "fault", "vector": 14, "error_code": 6,
///                            "addr": 12288, "access": "write", "insns": 1});
/// let e = x86wow::oracle::exit_from_json(&v).unwrap();
/// assert_eq!((e.reason, e.vector, e.access), ("fault", Some(14), Some("write")));
/// assert_eq!(e.to_json(), v);
/// ```
pub fn exit_from_json(v: &Value) -> Result<ExitInfo, String> {
    let Value::Object(o) = v else { return Err(format!("`exit`: expected an object, found {v}")) };
    let reason = o.get("reason").and_then(Value::as_str).ok_or("`exit.reason`: missing")?;
    let reason = REASONS
        .iter()
        .find(|r| **r == reason)
        .ok_or_else(|| format!("`exit.reason`: unknown reason {reason:?}"))?;
    let access = match o.get("access").and_then(Value::as_str) {
        None => None,
        Some(a) => {
            Some(*ACCESSES.iter().find(|x| **x == a).ok_or_else(|| format!("`exit.access`: unknown {a:?}"))?)
        }
    };
    let selector = u32_field(o, "selector")?;
    let vector = u32_field(o, "vector")?;
    Ok(ExitInfo {
        reason,
        vector: vector.map(|v| v as u8),
        error_code: u32_field(o, "error_code")?,
        // A far transfer gives its target offset as `offset`.
        addr: if selector.is_some() { u32_field(o, "offset")? } else { u32_field(o, "addr")? },
        access,
        next_eip: u32_field(o, "next_eip")?,
        selector: selector.map(|s| s as u16),
        detail: o.get("detail").and_then(Value::as_str).map(str::to_string),
        insns: o.get("insns").and_then(Value::as_u64).ok_or("`exit.insns`: missing")?,
    })
}
