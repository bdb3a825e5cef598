//! The service trace (`x86wow run --trace`): each call with its 32-bit arguments, the
//! 64-bit arguments the service saw, the decoded names, and the result.

use std::fmt::Write;

/// What a thunk collected for the trace of one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallTrace {
    /// Decoded UNICODE_STRINGs (object names, paths) in argument order.
    pub strings: Vec<String>,
}

/// Formats one trace line.
pub fn line(name: &str, args32: &[u32], args64: &[u64], strings: &[String], status: u32) -> String {
    let mut s = String::new();
    let _ = write!(s, "{name}(");
    for (i, a) in args32.iter().enumerate() {
        let _ = write!(s, "{}{a:#x}", if i == 0 { "" } else { ", " });
    }
    s.push(')');
    if !args64.is_empty() {
        s.push_str(" -> 64-bit (");
        for (i, a) in args64.iter().enumerate() {
            let _ = write!(s, "{}{a:#x}", if i == 0 { "" } else { ", " });
        }
        s.push(')');
    }
    for n in strings {
        let _ = write!(s, " {n:?}");
    }
    let _ = write!(s, " = {}", crate::status::name(status));
    s
}
