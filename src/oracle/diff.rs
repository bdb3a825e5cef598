//! Field-by-field comparison of two machine states and their stops.

use std::fmt;

use x86wow_cpu::state::{ExitInfo, MachineState};

use super::flags::RF;

/// One field whose values differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDiff {
    /// The field's path in the state format, e.g. `regs.eax`, `x87.st[0]`,
    /// `memory[1]`, `exit.vector`.
    pub field: String,
    /// The first backend's value.
    pub left: String,
    /// The second backend's value.
    pub right: String,
}

impl fmt::Display for FieldDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} vs {}", self.field, self.left, self.right)
    }
}

fn push(d: &mut Vec<FieldDiff>, field: impl Into<String>, left: impl fmt::Display, right: impl fmt::Display) {
    d.push(FieldDiff { field: field.into(), left: left.to_string(), right: right.to_string() });
}

fn opt<T: fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or("-".to_string(), |v| v.to_string())
}

const REGS: [&str; 8] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];

/// Compares two states (and, if given, how each run stopped). `ignore_flags` are EFLAGS
/// bits not compared (the undefined flags of the instruction); RF is never compared.
/// The x87/SSE fields are compared when both states carry them.
///
/// ```
/// use x86wow::cpu::state::MachineState;
/// use x86wow::oracle::compare_states;
///
/// let a = MachineState::parse(r#"{"regs": {"eax": 1, "eflags": 2}}"#).unwrap();
/// let b = MachineState::parse(r#"{"regs": {"eax": 2, "eflags": 3}}"#).unwrap();
/// let d = compare_states(&a, None, &b, None, 0);
/// assert_eq!(d.iter().map(|d| d.field.as_str()).collect::<Vec<_>>(), ["regs.eax", "regs.eflags"]);
/// assert_eq!(compare_states(&a, None, &b, None, 1).len(), 1); // CF ignored
/// ```
pub fn compare_states(
    a: &MachineState,
    ea: Option<&ExitInfo>,
    b: &MachineState,
    eb: Option<&ExitInfo>,
    ignore_flags: u32,
) -> Vec<FieldDiff> {
    let mut d = Vec::new();
    let (ga, gb) = (a.regs.gpr(), b.regs.gpr());
    for i in 0..8 {
        if ga[i] != gb[i] {
            push(&mut d, format!("regs.{}", REGS[i]), format!("{:#010x}", ga[i]), format!("{:#010x}", gb[i]));
        }
    }
    if a.regs.eip != b.regs.eip {
        push(&mut d, "regs.eip", format!("{:#010x}", a.regs.eip), format!("{:#010x}", b.regs.eip));
    }
    let mask = !(ignore_flags | RF);
    if a.regs.eflags & mask != b.regs.eflags & mask {
        let x = (a.regs.eflags ^ b.regs.eflags) & mask;
        push(
            &mut d,
            "regs.eflags",
            format!("{:#x}", a.regs.eflags),
            format!("{:#x} (differ: {})", b.regs.eflags, flag_names(x)),
        );
    }
    if a.fs_base != b.fs_base {
        push(&mut d, "fs_base", format!("{:#x}", a.fs_base), format!("{:#x}", b.fs_base));
    }
    if a.gs_base != b.gs_base {
        push(&mut d, "gs_base", format!("{:#x}", a.gs_base), format!("{:#x}", b.gs_base));
    }
    if let (Some(sa), Some(sb)) = (&a.segs, &b.segs) {
        for (i, name) in ["es", "cs", "ss", "ds", "fs", "gs"].iter().enumerate() {
            if sa[i] != sb[i] {
                push(&mut d, format!("segs.{name}"), format!("{:#x}", sa[i]), format!("{:#x}", sb[i]));
            }
        }
    }
    if let (Some(xa), Some(xb)) = (&a.x87, &b.x87) {
        for (name, va, vb) in [("fcw", xa.fcw, xb.fcw), ("fsw", xa.fsw, xb.fsw), ("ftw", xa.ftw, xb.ftw)] {
            if va != vb {
                push(&mut d, format!("x87.{name}"), format!("{va:#06x}"), format!("{vb:#06x}"));
            }
        }
        for i in 0..8 {
            if xa.st[i] != xb.st[i] {
                push(
                    &mut d,
                    format!("x87.st[{i}]"),
                    format!("{:020x}", xa.st[i]),
                    format!("{:020x}", xb.st[i]),
                );
            }
        }
    }
    if let (Some(ma), Some(mb)) = (a.mxcsr, b.mxcsr) {
        if ma != mb {
            push(&mut d, "mxcsr", format!("{ma:#x}"), format!("{mb:#x}"));
        }
    }
    if let (Some(xa), Some(xb)) = (&a.xmm, &b.xmm) {
        for i in 0..8 {
            if xa[i] != xb[i] {
                push(&mut d, format!("xmm[{i}]"), format!("{:032x}", xa[i]), format!("{:032x}", xb[i]));
            }
        }
    }
    compare_memory(a, b, &mut d);
    if let (Some(ea), Some(eb)) = (ea, eb) {
        compare_exits(ea, eb, &mut d);
    }
    d
}

fn compare_memory(a: &MachineState, b: &MachineState, d: &mut Vec<FieldDiff>) {
    for (i, ra) in a.memory.iter().enumerate() {
        let Some(rb) = b.memory.iter().find(|r| r.addr == ra.addr) else {
            push(d, format!("memory[{i}]"), format!("region at {:#x}", ra.addr), "absent");
            continue;
        };
        let n = ra.bytes.len().max(rb.bytes.len());
        let at = |r: &[u8], k: usize| r.get(k).copied().unwrap_or(0);
        let differing: Vec<usize> = (0..n).filter(|&k| at(&ra.bytes, k) != at(&rb.bytes, k)).collect();
        if let Some(&first) = differing.first() {
            let last = *differing.last().expect("non-empty");
            let span = |r: &[u8]| {
                (first..=last.min(first + 15)).map(|k| format!("{:02x}", at(r, k))).collect::<String>()
            };
            push(
                d,
                format!("memory[{i}] @ {:#010x}", ra.addr as usize + first),
                format!("{} ({} bytes differ)", span(&ra.bytes), differing.len()),
                span(&rb.bytes),
            );
        }
    }
}

pub(crate) fn compare_exits(a: &ExitInfo, b: &ExitInfo, d: &mut Vec<FieldDiff>) {
    if a.reason != b.reason {
        push(d, "exit.reason", a.reason, b.reason);
    }
    if a.vector != b.vector {
        push(d, "exit.vector", opt(&a.vector), opt(&b.vector));
    }
    // Error codes and the trap's next EIP are optional for engines that cannot report them.
    if a.error_code.is_some() && b.error_code.is_some() && a.error_code != b.error_code {
        push(
            d,
            "exit.error_code",
            opt(&a.error_code.map(|c| format!("{c:#x}"))),
            opt(&b.error_code.map(|c| format!("{c:#x}"))),
        );
    }
    if a.addr != b.addr {
        push(
            d,
            "exit.addr",
            opt(&a.addr.map(|c| format!("{c:#x}"))),
            opt(&b.addr.map(|c| format!("{c:#x}"))),
        );
    }
    if a.access != b.access {
        push(d, "exit.access", opt(&a.access), opt(&b.access));
    }
    if a.selector != b.selector {
        push(d, "exit.selector", opt(&a.selector), opt(&b.selector));
    }
    if a.next_eip.is_some() && b.next_eip.is_some() && a.next_eip != b.next_eip {
        push(d, "exit.next_eip", opt(&a.next_eip), opt(&b.next_eip));
    }
    if a.insns != b.insns {
        push(d, "exit.insns", a.insns, b.insns);
    }
}

/// Names of the EFLAGS bits in `bits`, e.g. `CF|ZF`.
pub fn flag_names(bits: u32) -> String {
    use x86wow_cpu::flags::NAMED_BITS as NAMES;
    let mut parts: Vec<String> =
        NAMES.iter().filter(|(b, _)| bits & 1 << b != 0).map(|(_, n)| n.to_string()).collect();
    let known = NAMES.iter().fold(0, |m, (b, _)| m | 1 << b);
    if bits & !known != 0 {
        parts.push(format!("{:#x}", bits & !known));
    }
    parts.join("|")
}
