//! The machine-state format (version 1): one JSON object describing registers, optional
//! FPU/SIMD state and memory; see `docs/state-format.md` at the repository root.
//!
//! ```
//! use x86wow_cpu::state::MachineState;
//!
//! let json = r#"{"regs": {"eax": 2, "ebx": 40, "eip": 4096, "eflags": 2},
//!                "memory": [{"addr": 4096, "prot": "rx", "hex": "01d8f4"}]}"#;
//! let state = MachineState::parse(json).unwrap();
//! let (out, exit) = state.run(1000).unwrap();
//! assert_eq!(out.regs.eax, 42);
//! assert_eq!(exit.reason, "hlt");
//! ```

use std::fmt;

use serde_json::{json, Map, Value};
use x86wow_mmu::{Prot, PAGE_MASK, PAGE_SIZE};

use crate::cpu::Cpu;
use crate::exception::{Detail, Exit};
use crate::regs::{sreg, DescKind, Descriptor, DescriptorTable, Registers};

/// x87 state as the format carries it: control, status and full tag word, and the
/// eight registers as 80-bit values, ST(0) first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X87State {
    pub fcw: u16,
    pub fsw: u16,
    pub ftw: u16,
    pub st: [u128; 8],
}

/// One memory region of a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemRegion {
    /// First byte described (not necessarily page aligned).
    pub addr: u32,
    /// Bytes from `addr` covered (at least `bytes.len()`); the mapping is rounded out
    /// to whole pages.
    pub size: u32,
    pub prot: Prot,
    /// Initial (or final) bytes from `addr`; the rest of the region is zero.
    pub bytes: Vec<u8>,
}

impl MemRegion {
    /// First page and length in bytes of the rounded-out mapping.
    pub fn pages(&self) -> (u64, u64) {
        let start = self.addr as u64 & !PAGE_MASK;
        let end = (self.addr as u64 + self.size.max(1) as u64 + PAGE_MASK) & !PAGE_MASK;
        (start, end - start)
    }
}

/// A complete machine state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MachineState {
    pub regs: Registers,
    pub fs_base: u32,
    pub gs_base: u32,
    pub x87: Option<X87State>,
    pub mxcsr: Option<u32>,
    pub xmm: Option<[u128; 8]>,
    /// Optional segment selectors (ES, CS, SS, DS, FS, GS). Absent: a WOW64 thread's
    /// (0x2B, 0x23, 0x2B, 0x2B, 0x53, 0x2B). When given, the descriptor table holds the
    /// flat 0x23/0x2B/0x33 descriptors plus data descriptors for the FS and GS
    /// selectors with `fs_base`/`gs_base` (the layout of a Linux process, whose TLS
    /// selectors are typically 0x63/0x6B).
    pub segs: Option<[u16; 6]>,
    pub memory: Vec<MemRegion>,
}

const SEG_NAMES: [&str; 6] = ["es", "cs", "ss", "ds", "fs", "gs"];

/// How a run ended, as the format's `exit` object reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitInfo {
    /// `hlt`, `fault`, `budget`, `interrupt`, `far_transfer`, `syscall`.
    pub reason: &'static str,
    pub vector: Option<u8>,
    pub error_code: Option<u32>,
    pub addr: Option<u32>,
    pub access: Option<&'static str>,
    pub next_eip: Option<u32>,
    pub selector: Option<u16>,
    pub detail: Option<String>,
    pub insns: u64,
}

/// An error in a state document, naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateError {
    /// Path of the offending field, e.g. `memory[1].prot` (empty for the document).
    pub field: String,
    pub message: String,
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "field `{}`: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for StateError {}

fn err<T>(field: &str, message: impl Into<String>) -> Result<T, StateError> {
    Err(StateError { field: field.to_string(), message: message.into() })
}

fn get_u32(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<u32>, StateError> {
    let field = if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if v <= u32::MAX as u64 => Ok(Some(v as u32)),
            _ => err(&field, format!("expected an integer in 0..=4294967295, found {n}")),
        },
        Some(other) => err(&field, format!("expected an integer, found {}", kind(other))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse_wide(v: &Value, field: &str, digits: usize) -> Result<u128, StateError> {
    let Value::String(s) = v else {
        return err(field, format!("expected a string of {digits} hex digits, found {}", kind(v)));
    };
    if s.len() != digits || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return err(field, format!("expected exactly {digits} hex digits, found {s:?}"));
    }
    Ok(u128::from_str_radix(s, 16).expect("validated hex"))
}

fn parse_hex_bytes(s: &str, field: &str) -> Result<Vec<u8>, StateError> {
    if s.len() & 1 != 0 {
        return err(field, "hex string has an odd number of digits");
    }
    (0..s.len() / 2)
        .map(|i| {
            u8::from_str_radix(s.get(2 * i..2 * i + 2).unwrap_or("zz"), 16)
                .or_else(|_| err(field, format!("invalid hex digit near offset {}", 2 * i)))
        })
        .collect()
}

fn hex_string(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(D[(b >> 4) as usize] as char);
        s.push(D[(b & 15) as usize] as char);
    }
    s
}

const REG_NAMES: [&str; 10] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags"];

impl MachineState {
    /// Parses one state from JSON text.
    pub fn parse(text: &str) -> Result<MachineState, StateError> {
        let v: Value = serde_json::from_str(text).or_else(|e| err("", format!("invalid JSON: {e}")))?;
        Self::from_json(&v)
    }

    /// Reads a state from a parsed JSON value.
    pub fn from_json(v: &Value) -> Result<MachineState, StateError> {
        let Value::Object(obj) = v else {
            return err("", format!("expected a JSON object, found {}", kind(v)));
        };
        for key in obj.keys() {
            if !matches!(
                key.as_str(),
                "regs"
                    | "fs_base"
                    | "gs_base"
                    | "segs"
                    | "x87"
                    | "mxcsr"
                    | "xmm"
                    | "memory"
                    | "exit"
                    | "version"
            ) {
                return err(key, "unknown field");
            }
        }
        let mut st = MachineState::default();
        let regs = match obj.get("regs") {
            Some(Value::Object(r)) => r,
            Some(other) => return err("regs", format!("expected an object, found {}", kind(other))),
            None => return err("regs", "missing"),
        };
        for key in regs.keys() {
            if !REG_NAMES.contains(&key.as_str()) {
                return err(&format!("regs.{key}"), "unknown register");
            }
        }
        let mut vals = [0u32; 10];
        for (i, name) in REG_NAMES.iter().enumerate() {
            vals[i] = get_u32(regs, name, "regs")?.unwrap_or(if *name == "eflags" { 2 } else { 0 });
        }
        st.regs.set_gpr(vals[..8].try_into().expect("eight registers"));
        st.regs.eip = vals[8];
        st.regs.eflags = vals[9];
        st.fs_base = get_u32(obj, "fs_base", "")?.unwrap_or(0);
        match obj.get("segs") {
            None | Some(Value::Null) => {}
            Some(Value::Object(o)) => {
                for key in o.keys() {
                    if !SEG_NAMES.contains(&key.as_str()) {
                        return err(&format!("segs.{key}"), "unknown segment register");
                    }
                }
                let mut segs = [0x2b, 0x23, 0x2b, 0x2b, 0x53, 0x2b];
                for (i, name) in SEG_NAMES.iter().enumerate() {
                    if let Some(v) = get_u32(o, name, "segs")? {
                        if v > 0xffff {
                            return err(&format!("segs.{name}"), "expected a 16-bit selector");
                        }
                        segs[i] = v as u16;
                    }
                }
                st.segs = Some(segs);
            }
            Some(other) => return err("segs", format!("expected an object, found {}", kind(other))),
        }
        st.gs_base = get_u32(obj, "gs_base", "")?.unwrap_or(0);
        if let Some(x) = obj.get("x87").filter(|v| !v.is_null()) {
            let Value::Object(x) = x else {
                return err("x87", format!("expected an object, found {}", kind(x)));
            };
            let word = |k: &str, d: u32| -> Result<u16, StateError> {
                let v = get_u32(x, k, "x87")?.unwrap_or(d);
                if v > 0xffff {
                    return err(&format!("x87.{k}"), "expected a 16-bit value");
                }
                Ok(v as u16)
            };
            let mut s = X87State {
                fcw: word("fcw", 0x37f)?,
                fsw: word("fsw", 0)?,
                ftw: word("ftw", 0xffff)?,
                st: [0; 8],
            };
            match x.get("st") {
                None | Some(Value::Null) => {}
                Some(Value::Array(a)) if a.len() == 8 => {
                    for (i, v) in a.iter().enumerate() {
                        s.st[i] = parse_wide(v, &format!("x87.st[{i}]"), 20)?;
                    }
                }
                Some(_) => return err("x87.st", "expected an array of 8 strings of 20 hex digits"),
            }
            st.x87 = Some(s);
        }
        st.mxcsr = get_u32(obj, "mxcsr", "")?;
        match obj.get("xmm") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) if a.len() == 8 => {
                let mut x = [0u128; 8];
                for (i, v) in a.iter().enumerate() {
                    x[i] = parse_wide(v, &format!("xmm[{i}]"), 32)?;
                }
                st.xmm = Some(x);
            }
            Some(_) => return err("xmm", "expected an array of 8 strings of 32 hex digits"),
        }
        match obj.get("memory") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) => {
                for (i, r) in a.iter().enumerate() {
                    st.memory.push(parse_region(r, &format!("memory[{i}]"))?);
                }
            }
            Some(other) => return err("memory", format!("expected an array, found {}", kind(other))),
        }
        st.check_overlaps()?;
        Ok(st)
    }

    /// Regions must not overlap byte-wise; regions that share a page (after rounding
    /// out) must agree on its protection.
    fn check_overlaps(&self) -> Result<(), StateError> {
        let mut spans: Vec<(u64, u64, usize)> = self
            .memory
            .iter()
            .enumerate()
            .map(|(i, r)| (r.addr as u64, r.addr as u64 + r.size as u64, i))
            .collect();
        spans.sort();
        for w in spans.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            if b.0 < a.1 {
                return err(&format!("memory[{}]", b.2), format!("overlaps memory[{}]", a.2));
            }
            let (ra, rb) = (&self.memory[a.2], &self.memory[b.2]);
            let (pa, la) = ra.pages();
            let (pb, _) = rb.pages();
            if pb < pa + la && ra.prot != rb.prot {
                return err(
                    &format!("memory[{}]", b.2),
                    format!("shares a page with memory[{}] but has a different protection", a.2),
                );
            }
        }
        Ok(())
    }

    /// Serialises the state (and, if given, the exit) as the format's JSON object.
    pub fn to_json(&self, exit: Option<&ExitInfo>) -> Value {
        let r = &self.regs;
        let mut o = Map::new();
        o.insert(
            "regs".into(),
            json!({"eax": r.eax, "ecx": r.ecx, "edx": r.edx, "ebx": r.ebx, "esp": r.esp, "ebp": r.ebp,
                   "esi": r.esi, "edi": r.edi, "eip": r.eip, "eflags": r.eflags}),
        );
        o.insert("fs_base".into(), json!(self.fs_base));
        o.insert("gs_base".into(), json!(self.gs_base));
        if let Some(segs) = &self.segs {
            let m: Map<String, Value> =
                SEG_NAMES.iter().zip(segs).map(|(n, v)| (n.to_string(), json!(v))).collect();
            o.insert("segs".into(), Value::Object(m));
        }
        if let Some(x) = &self.x87 {
            let st: Vec<String> = x.st.iter().map(|v| format!("{v:020x}")).collect();
            o.insert("x87".into(), json!({"fcw": x.fcw, "fsw": x.fsw, "ftw": x.ftw, "st": st}));
        }
        if let Some(m) = self.mxcsr {
            o.insert("mxcsr".into(), json!(m));
        }
        if let Some(x) = &self.xmm {
            let v: Vec<String> = x.iter().map(|v| format!("{v:032x}")).collect();
            o.insert("xmm".into(), json!(v));
        }
        let mem: Vec<Value> = self
            .memory
            .iter()
            .map(|m| {
                let end = m.bytes.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
                json!({"addr": m.addr, "size": m.size, "prot": m.prot.rwx(), "hex": hex_string(&m.bytes[..end])})
            })
            .collect();
        o.insert("memory".into(), Value::Array(mem));
        if let Some(e) = exit {
            o.insert("exit".into(), e.to_json());
        }
        Value::Object(o)
    }

    /// The x87 and SSE state this document describes (defaults where absent).
    pub fn fpu_state(&self) -> (crate::fpu::X87, crate::fpu::Simd) {
        let mut x = crate::fpu::X87::default();
        let mut s = crate::fpu::Simd::default();
        if let Some(st) = &self.x87 {
            x.fcw = st.fcw;
            x.set_status(st.fsw);
            x.set_full_tag(st.ftw);
            for (i, &v) in st.st.iter().enumerate() {
                let p = x.phys(i as u8);
                x.regs[p] = x86wow_fp::F80::new((v >> 64) as u16, v as u64);
            }
        }
        if let Some(m) = self.mxcsr {
            s.mxcsr = m;
        }
        if let Some(v) = self.xmm {
            s.xmm = v;
        }
        (x, s)
    }

    /// Builds a CPU holding this state (with the default configuration).
    pub fn to_cpu(&self) -> Result<Cpu, StateError> {
        let mut cpu = Cpu::new();
        self.load_into(&mut cpu)?;
        Ok(cpu)
    }

    /// Loads registers and memory into a CPU whose address space is empty.
    pub fn load_into(&self, cpu: &mut Cpu) -> Result<(), StateError> {
        cpu.set_registers(&self.regs);
        if let Some(segs) = self.segs {
            let mut t = DescriptorTable::new();
            t.set(0x23, Descriptor { base: 0, kind: DescKind::Code32 });
            t.set(0x2b, Descriptor { base: 0, kind: DescKind::Data });
            t.set(0x33, Descriptor { base: 0, kind: DescKind::Code64 });
            for (s, base) in [(sreg::FS, self.fs_base), (sreg::GS, self.gs_base)] {
                if segs[s] & !3 != 0 && t.get(segs[s]).is_none() {
                    t.set(segs[s], Descriptor { base, kind: DescKind::Data });
                }
            }
            cpu.descriptors = t;
            for (s, &sel) in segs.iter().enumerate() {
                let base = match s {
                    sreg::FS => self.fs_base,
                    sreg::GS => self.gs_base,
                    _ => 0,
                };
                cpu.seg[s] = crate::regs::Segment { selector: sel, base, usable: sel & !3 != 0 };
            }
        } else {
            cpu.set_fs_base(self.fs_base);
            cpu.set_gs_base(self.gs_base);
        }
        if let Some(m) = self.mxcsr {
            if m & !crate::fpu::MXCSR_MASK != 0 {
                return err("mxcsr", format!("reserved bits set in {m:#x} (LDMXCSR would raise #GP)"));
            }
        }
        (cpu.fpu, cpu.simd) = self.fpu_state();
        // Map each page once; regions sharing a page were checked to agree on prot.
        for (i, r) in self.memory.iter().enumerate() {
            let (start, len) = r.pages();
            let mut pg = start;
            while pg < start + len {
                if !cpu.mem.is_mapped(pg) {
                    cpu.mem
                        .map(pg, PAGE_SIZE, r.prot)
                        .or_else(|e| err(&format!("memory[{i}]"), e.to_string()))?;
                }
                pg += PAGE_SIZE;
            }
            cpu.mem.poke(r.addr as u64, &r.bytes).or_else(|e| err(&format!("memory[{i}]"), e.to_string()))?;
        }
        Ok(())
    }

    /// Reads the state back from a CPU, with the regions of `self` as the layout.
    pub fn capture(&self, cpu: &Cpu) -> MachineState {
        let mut out = self.clone();
        out.regs = cpu.registers();
        out.fs_base = cpu.seg[sreg::FS].base;
        out.gs_base = cpu.seg[sreg::GS].base;
        if out.segs.is_some() {
            out.segs = Some(std::array::from_fn(|i| cpu.seg[i].selector));
        }
        if out.x87.is_some() {
            let f = &cpu.fpu;
            out.x87 = Some(X87State {
                fcw: f.fcw,
                fsw: f.status(),
                ftw: f.full_tag(),
                st: std::array::from_fn(|i| {
                    let v = f.st(i as u8);
                    (v.se as u128) << 64 | v.signif as u128
                }),
            });
        }
        if out.mxcsr.is_some() {
            out.mxcsr = Some(cpu.simd.mxcsr);
        }
        if out.xmm.is_some() {
            out.xmm = Some(cpu.simd.xmm);
        }
        for r in &mut out.memory {
            let (start, len) = r.pages();
            let n = (start + len - r.addr as u64) as usize;
            let mut buf = vec![0u8; n];
            // The pages were mapped from this very layout, so peek cannot fail.
            if cpu.mem.peek(r.addr as u64, &mut buf).is_ok() {
                r.bytes = buf;
            }
        }
        out
    }

    /// Runs the state for at most `max_insns` instructions; returns the final state
    /// and how the run ended.
    pub fn run(&self, max_insns: u64) -> Result<(MachineState, ExitInfo), StateError> {
        let mut cpu = self.to_cpu()?;
        let exit = cpu.run(max_insns);
        Ok((self.capture(&cpu), ExitInfo::new(&cpu, exit)))
    }
}

fn parse_region(v: &Value, path: &str) -> Result<MemRegion, StateError> {
    let Value::Object(o) = v else {
        return err(path, format!("expected an object, found {}", kind(v)));
    };
    for key in o.keys() {
        if !matches!(key.as_str(), "addr" | "size" | "prot" | "hex") {
            return err(&format!("{path}.{key}"), "unknown field");
        }
    }
    let Some(addr) = get_u32(o, "addr", path)? else {
        return err(&format!("{path}.addr"), "missing");
    };
    let prot = match o.get("prot") {
        None => Prot::RW,
        Some(Value::String(s)) => match Prot::parse(s) {
            Some(p) => p,
            None => {
                return err(&format!("{path}.prot"), format!("expected a subset of \"rwx\", found {s:?}"))
            }
        },
        Some(other) => {
            return err(&format!("{path}.prot"), format!("expected a string, found {}", kind(other)))
        }
    };
    let bytes = match o.get("hex") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => parse_hex_bytes(s, &format!("{path}.hex"))?,
        Some(other) => {
            return err(&format!("{path}.hex"), format!("expected a string, found {}", kind(other)))
        }
    };
    let size = get_u32(o, "size", path)?;
    if size.is_none() && bytes.is_empty() {
        return err(path, "a region needs `hex` or a non-zero `size`");
    }
    let size = size.unwrap_or(0).max(bytes.len() as u32);
    if size == 0 {
        return err(&format!("{path}.size"), "must be non-zero");
    }
    if addr as u64 + size as u64 > 1 << 32 {
        return err(path, "region extends past 4 GiB");
    }
    if bytes.len() as u64 > size as u64 {
        return err(&format!("{path}.hex"), "longer than `size`");
    }
    Ok(MemRegion { addr, size, prot: prot.normalized(), bytes })
}

impl ExitInfo {
    /// The instruction budget ran out after `insns` instructions.
    pub fn budget(insns: u64) -> ExitInfo {
        ExitInfo {
            reason: "budget",
            vector: None,
            error_code: None,
            addr: None,
            access: None,
            next_eip: None,
            selector: None,
            detail: None,
            insns,
        }
    }

    /// Describes how `cpu` stopped.
    pub fn new(cpu: &Cpu, exit: Exit) -> ExitInfo {
        let mut e = ExitInfo::budget(cpu.insns());
        match exit {
            Exit::BudgetExhausted | Exit::Breakpoint(_) | Exit::HookStop => {}
            Exit::Hlt => e.reason = "hlt",
            Exit::Interrupt(n) => {
                e.reason = "interrupt";
                e.vector = Some(n);
            }
            Exit::FarTransfer { selector, offset, .. } => {
                e.reason = "far_transfer";
                e.selector = Some(selector);
                e.addr = Some(offset);
            }
            Exit::SystemCall => e.reason = "syscall",
            Exit::Exception { exception, eip } => {
                e.reason = "fault";
                e.vector = Some(exception.vector);
                e.error_code = exception.error_code;
                match exception.detail {
                    Detail::Page { addr, access, .. } => {
                        e.addr = Some(addr);
                        e.access = Some(access.name());
                    }
                    Detail::Unimplemented(code) => e.detail = Some(format!("not implemented: {code:?}")),
                    Detail::Invalid | Detail::None => {}
                }
                if exception.is_trap() && exception.vector != crate::exception::vector::DB {
                    // INT3/INTO/INT1 report the instruction; give the trap's EIP too.
                    if let Some(ins) = cpu.peek_instruction(eip) {
                        e.next_eip = Some(ins.next_ip32());
                    }
                }
            }
        }
        e
    }

    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("reason".into(), json!(self.reason));
        if let Some(v) = self.vector {
            o.insert("vector".into(), json!(v));
        }
        if let Some(c) = self.error_code {
            o.insert("error_code".into(), json!(c));
        }
        if let Some(a) = self.addr {
            o.insert(if self.selector.is_some() { "offset" } else { "addr" }.into(), json!(a));
        }
        if let Some(s) = self.selector {
            o.insert("selector".into(), json!(s));
        }
        if let Some(a) = self.access {
            o.insert("access".into(), json!(a));
        }
        if let Some(n) = self.next_eip {
            o.insert("next_eip".into(), json!(n));
        }
        if let Some(d) = &self.detail {
            o.insert("detail".into(), json!(d));
        }
        o.insert("insns".into(), json!(self.insns));
        Value::Object(o)
    }
}
