//! Text views of the machine: registers, x87 and SSE state, memory, the stack, frames,
//! the SEH chain, the address map, modules, breakpoints and stop reports. Plain text
//! that reads the same without colour; [`Style`] adds colour on a terminal.

use std::fmt::Write;

use x86wow_cpu::exception::{vector, Detail};
use x86wow_cpu::regs::sreg;
use x86wow_cpu::{Cpu, Exit};
use x86wow_mmu::Prot;
use x86wow_wow64::status;

use super::control::{read_u32, BreakKind, Control, Hit, WatchKind};
use super::disasm::{self, read_mapped};
use super::error::{DebugError, Result};
use super::expr::FLAG_BITS;
use super::frames;
use super::session::{Session, StopEvent, StopReason};
use super::symbols::Symbols;

/// Colour for a terminal, nothing otherwise (and nothing when NO_COLOR is set).
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn detect() -> Style {
        use std::io::IsTerminal;
        Style { color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// Stop reports.
    pub fn stop(&self, s: &str) -> String {
        self.paint("1;33", s)
    }

    pub fn error(&self, s: &str) -> String {
        self.paint("1;31", s)
    }

    pub fn symbol(&self, s: &str) -> String {
        self.paint("36", s)
    }
}

/// `0x00401000 <hello.exe!EntryPoint>` or just the address.
pub fn addr_sym(symbols: &Symbols, addr: u32, style: &Style) -> String {
    match symbols.describe(addr) {
        Some(s) => format!("{addr:#010x} <{}>", style.symbol(&s)),
        None => format!("{addr:#010x}"),
    }
}

pub fn decode_eflags(eflags: u32) -> String {
    let set: Vec<String> =
        FLAG_BITS.iter().filter(|(_, b)| eflags >> b & 1 != 0).map(|(n, _)| n.to_ascii_uppercase()).collect();
    format!("[ {} ]", set.join(" "))
}

pub fn registers(cpu: &Cpu, symbols: &Symbols, style: &Style, position: u64) -> String {
    let g = &cpu.gpr;
    let mut s = String::new();
    let _ = writeln!(s, "eax {:#010x}  ecx {:#010x}  edx {:#010x}  ebx {:#010x}", g[0], g[1], g[2], g[3]);
    let _ = writeln!(s, "esp {:#010x}  ebp {:#010x}  esi {:#010x}  edi {:#010x}", g[4], g[5], g[6], g[7]);
    let _ = writeln!(s, "eip {}", addr_sym(symbols, cpu.eip, style));
    let _ = writeln!(s, "eflags {:#010x} {}", cpu.eflags(), decode_eflags(cpu.eflags()));
    let segs: Vec<String> =
        (0..6).map(|i| format!("{} {:#06x}", sreg::NAMES[i], cpu.seg[i].selector)).collect();
    let _ = writeln!(s, "{}  fs.base {:#010x}", segs.join("  "), cpu.seg[sreg::FS].base);
    let _ = writeln!(s, "insns {}  position {}", cpu.insns(), position);
    s
}

/// An 80-bit value as a decimal approximation.
fn f80_approx(se: u16, signif: u64) -> String {
    let exp = (se & 0x7fff) as i32;
    let neg = se & 0x8000 != 0;
    let sign = if neg { "-" } else { "" };
    match exp {
        0 if signif == 0 => format!("{sign}0"),
        0x7fff if signif << 1 == 0 => format!("{sign}inf"),
        0x7fff => "nan".into(),
        _ => {
            let v = signif as f64 * 2f64.powi((exp.max(1) - 16383 - 63).clamp(-1100, 1100));
            format!("{}{v:e}", sign)
        }
    }
}

pub fn fpu(cpu: &Cpu) -> String {
    let f = &cpu.fpu;
    let mut s = String::new();
    let fsw = f.status();
    let cc = [(0x100, "C0"), (0x200, "C1"), (0x400, "C2"), (0x4000, "C3")];
    let cc: Vec<&str> = cc.iter().filter(|(b, _)| fsw & b != 0).map(|(_, n)| *n).collect();
    let exc =
        [(1, "IE"), (2, "DE"), (4, "ZE"), (8, "OE"), (0x10, "UE"), (0x20, "PE"), (0x40, "SF"), (0x80, "ES")];
    let exc: Vec<&str> = exc.iter().filter(|(b, _)| fsw & b != 0).map(|(_, n)| *n).collect();
    let pc = ["single", "reserved", "double", "extended"][(f.fcw >> 8 & 3) as usize];
    let rc = ["nearest", "down", "up", "zero"][(f.fcw >> 10 & 3) as usize];
    let _ = writeln!(s, "fcw {:#06x} (precision {pc}, rounding {rc}, masks {:#04x})", f.fcw, f.fcw & 0x3f);
    let _ = writeln!(s, "fsw {fsw:#06x} (top {}, [ {} ] [ {} ])", f.top, cc.join(" "), exc.join(" "));
    let _ = writeln!(
        s,
        "ftw {:#06x}  fop {:#05x}  fip {:#010x}  fdp {:#010x}",
        f.full_tag(),
        f.fop,
        f.fip,
        f.fdp
    );
    for i in 0..8u8 {
        let v = f.st(i);
        let tag = if f.is_empty(i) { "empty" } else { "valid" };
        let _ = writeln!(
            s,
            "st{i} {:04x}{:016x} {tag:<5} {}",
            v.se,
            v.signif,
            if f.is_empty(i) { String::new() } else { f80_approx(v.se, v.signif) }
        );
    }
    s
}

pub fn sse(cpu: &Cpu) -> String {
    let m = cpu.simd.mxcsr;
    let flags = [
        (1, "IE"),
        (2, "DE"),
        (4, "ZE"),
        (8, "OE"),
        (0x10, "UE"),
        (0x20, "PE"),
        (0x40, "DAZ"),
        (0x8000, "FZ"),
        (0x2_0000, "MM"),
    ];
    let set: Vec<&str> = flags.iter().filter(|(b, _)| m & b != 0).map(|(_, n)| *n).collect();
    let rc = ["nearest", "down", "up", "zero"][(m >> 13 & 3) as usize];
    let mut s = String::new();
    let _ = writeln!(s, "mxcsr {m:#010x} [ {} ] rounding {rc}, masks {:#04x}", set.join(" "), m >> 7 & 0x3f);
    for (i, x) in cpu.simd.xmm.iter().enumerate() {
        let lanes: Vec<String> =
            (0..4).rev().map(|l| format!("{}", f32::from_bits((x >> (32 * l)) as u32))).collect();
        let _ = writeln!(s, "xmm{i} {x:#034x}  f32 [{}]", lanes.join(", "));
    }
    s
}

/// A parsed `x/FMT`: count, unit size in bytes, format letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Examine {
    pub count: usize,
    pub unit: usize,
    pub format: char,
}

impl Examine {
    /// Parses gdb's `x/[N][FMT][UNIT]` letters: formats x d u c s (a C string), S (a
    /// UTF-16 string; also `sh`) i (instructions); units b h w g (1, 2, 4, 8 bytes).
    pub fn parse(fmt: &str) -> Result<Examine> {
        let bad = || DebugError::Usage { command: "x", usage: "/[COUNT][x|d|u|c|s|S|i][b|h|w|g] ADDR" };
        let digits: String = fmt.chars().take_while(|c| c.is_ascii_digit()).collect();
        let count = if digits.is_empty() { 1 } else { digits.parse().map_err(|_| bad())? };
        let mut e = Examine { count, unit: 4, format: 'x' };
        let mut unit_given = false;
        for c in fmt[digits.len()..].chars() {
            match c {
                'b' => e.unit = 1,
                'h' => e.unit = 2,
                'w' => e.unit = 4,
                'g' => e.unit = 8,
                'x' | 'd' | 'u' | 'c' | 's' | 'S' | 'i' => {
                    e.format = c;
                    continue;
                }
                _ => return Err(bad()),
            }
            unit_given = true;
        }
        if e.format == 's' && unit_given && e.unit == 2 {
            e.format = 'S';
        }
        if e.format == 'c' && !unit_given {
            e.unit = 1;
        }
        Ok(e)
    }
}

fn escape(units: impl Iterator<Item = char>) -> String {
    let mut s = String::from("\"");
    for c in units {
        match c {
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(s, "\\x{:02x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// Reads a NUL-terminated string of `unit`-byte characters (at most 4 KiB).
fn read_string(cpu: &Cpu, addr: u32, unit: usize) -> Result<(String, u32)> {
    let bytes = read_mapped(cpu, addr, 4096);
    if bytes.len() < unit {
        return Err(DebugError::Unmapped { addr: addr as u64, len: unit });
    }
    let chars: Vec<u32> = bytes
        .chunks_exact(unit)
        .map(|c| if unit == 1 { c[0] as u32 } else { u16::from_le_bytes([c[0], c[1]]) as u32 })
        .take_while(|&c| c != 0)
        .collect();
    let len = (chars.len() as u32 + 1) * unit as u32;
    let text = if unit == 1 {
        escape(chars.iter().map(|&c| char::from_u32(c).unwrap_or('?')))
    } else {
        let u: Vec<u16> = chars.iter().map(|&c| c as u16).collect();
        format!("u{}", escape(char::decode_utf16(u).map(|r| r.unwrap_or('\u{fffd}'))))
    };
    Ok((text, len))
}

pub fn examine(s: &Session, e: Examine, addr: u32, style: &Style) -> Result<String> {
    let cpu = s.cpu();
    let symbols = &s.symbols;
    let mut out = String::new();
    match e.format {
        's' | 'S' => {
            let unit = if e.format == 'S' { 2 } else { 1 };
            let mut a = addr;
            for _ in 0..e.count {
                let (text, len) = read_string(cpu, a, unit)?;
                let _ = writeln!(out, "{}: {text}", addr_sym(symbols, a, style));
                a = a.wrapping_add(len);
            }
        }
        'i' => out = disasm::disassemble(cpu, symbols, addr, e.count, s.syntax)?,
        f => {
            let total = e.count * e.unit;
            let bytes = read_mapped(cpu, addr, total);
            if bytes.len() < e.unit.min(total) {
                return Err(DebugError::Unmapped { addr: addr as u64, len: total });
            }
            let per_line = (16 / e.unit).max(1);
            for (line, chunk) in bytes.chunks(per_line * e.unit).enumerate() {
                let at = addr.wrapping_add((line * per_line * e.unit) as u32);
                let _ = write!(out, "{}:", addr_sym(symbols, at, style));
                for unit in chunk.chunks(e.unit) {
                    let mut b = [0u8; 8];
                    b[..unit.len()].copy_from_slice(unit);
                    let v = u64::from_le_bytes(b);
                    let w = e.unit * 2;
                    let text = match f {
                        'd' => {
                            let shift = 64 - 8 * e.unit as u32;
                            format!("{}", ((v << shift) as i64) >> shift)
                        }
                        'u' => format!("{v}"),
                        'c' => format!("{v:3} {}", escape(std::iter::once(char::from(v as u8)))),
                        _ => format!("0x{v:0w$x}"),
                    };
                    let _ = write!(out, " {text}");
                }
                out.push('\n');
            }
            if bytes.len() < total {
                let _ = writeln!(
                    out,
                    "{}",
                    style.error(&format!(
                        "(stopped at unmapped memory {:#010x})",
                        addr as usize + bytes.len()
                    ))
                );
            }
        }
    }
    Ok(out)
}

/// `n` dwords from ESP, each named when it points into a module.
pub fn stack(cpu: &Cpu, symbols: &Symbols, n: usize, style: &Style) -> Result<String> {
    let esp = cpu.gpr[4];
    let bytes = read_mapped(cpu, esp, n * 4);
    if bytes.len() < 4 {
        return Err(DebugError::Unmapped { addr: esp as u64, len: 4 });
    }
    let mut out = String::new();
    for (i, c) in bytes.chunks_exact(4).enumerate() {
        let v = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        let at = esp.wrapping_add(4 * i as u32);
        let name = symbols.describe(v).map(|s| format!(" <{}>", style.symbol(&s))).unwrap_or_default();
        let _ = writeln!(out, "{at:#010x}: {v:#010x}{name}");
    }
    Ok(out)
}

pub fn backtrace(cpu: &Cpu, symbols: &Symbols, style: &Style) -> String {
    let mut out = String::new();
    for (i, f) in frames::backtrace(cpu, symbols).iter().enumerate() {
        let name = symbols.describe(f.pc).map(|s| style.symbol(&s)).unwrap_or_else(|| "??".into());
        let from = f.slot.map(|s| format!("  (return address at {s:#010x})")).unwrap_or_default();
        let _ = writeln!(out, "#{i:<2} {:#010x} in {name}{from}", f.pc);
    }
    out
}

pub fn seh(cpu: &Cpu, symbols: &Symbols, style: &Style) -> Result<String> {
    let records = frames::seh_chain(cpu).map_err(|a| DebugError::Unmapped { addr: a as u64, len: 8 })?;
    let mut out = format!(
        "fs:[0] = {:#010x} (TEB at {:#010x})\n",
        records.first().map_or(0xFFFF_FFFF, |r| r.at),
        cpu.seg[sreg::FS].base
    );
    if records.is_empty() {
        out.push_str("no handlers registered\n");
    }
    for (i, r) in records.iter().enumerate() {
        let _ = writeln!(
            out,
            "#{i:<2} record {:#010x}  handler {}  next {:#010x}",
            r.at,
            addr_sym(symbols, r.handler, style),
            r.next
        );
    }
    Ok(out)
}

fn prot_text(p: Prot) -> String {
    let mut s = String::new();
    s.push(if p.contains(Prot::READ) { 'r' } else { '-' });
    s.push(if p.contains(Prot::WRITE) { 'w' } else { '-' });
    s.push(if p.contains(Prot::EXEC) { 'x' } else { '-' });
    if p.contains(Prot::GUARD) {
        s.push('g');
    }
    s
}

/// Every mapped region with its protection and what owns it.
pub fn maps(s: &Session) -> String {
    let cpu = s.cpu();
    let mut owners: Vec<(u64, u64, String)> =
        s.symbols.modules.iter().map(|m| (m.base as u64, m.size as u64, m.name.clone())).collect();
    if let Some(p) = s.machine.process() {
        let b = p.blocks();
        let st = p.stack();
        owners.push((st.dealloc as u64, (st.base - st.dealloc) as u64, "stack".into()));
        owners.push((b.teb32 as u64, 0x1000, "TEB32".into()));
        owners.push((b.peb32 as u64, 0x1000, "PEB32".into()));
        owners.push((b.teb64 as u64, 0x2000, "TEB64".into()));
        owners.push((b.peb64 as u64, 0x1000, "PEB64".into()));
        owners.push((0x7FFE_0000, 0x1000, "KUSER_SHARED_DATA".into()));
    }
    let mut out = String::new();
    for r in cpu.mem.regions() {
        let owner: Vec<&str> = owners
            .iter()
            .filter(|(b, n, _)| r.base < b + n && *b < r.base + r.size)
            .map(|(_, _, name)| name.as_str())
            .collect();
        let owner = if owner.is_empty() && r.base >= 1 << 32 {
            "64-bit (wow64/kernel)".to_string()
        } else {
            owner.join(", ")
        };
        let _ = writeln!(
            out,
            "{:#010x}-{:#010x} {:<4} {:>8}K  {owner}",
            r.base,
            r.base + r.size,
            prot_text(r.prot),
            r.size / 1024
        );
    }
    out
}

pub fn modules(symbols: &Symbols) -> String {
    if symbols.modules.is_empty() {
        return "no modules (a bare machine state)\n".into();
    }
    let mut out = String::new();
    for m in &symbols.modules {
        let _ = writeln!(
            out,
            "{:#010x}-{:#010x} {:<12} {:>4} exports  entry {:#010x}  {}{}",
            m.base,
            m.base.wrapping_add(m.size),
            m.name,
            m.exports,
            m.entry,
            m.path,
            if m.is_main { "  (main)" } else { "" }
        );
    }
    out
}

pub fn describe_kind(kind: &BreakKind) -> String {
    match kind {
        BreakKind::Code { addr } => format!("breakpoint at {addr:#010x}"),
        BreakKind::Syscall { service, name } => format!("syscall {name} (service {service:#x})"),
        BreakKind::Exception { codes } if codes.is_empty() => "exception (any)".into(),
        BreakKind::Exception { codes } => {
            let names: Vec<String> = codes.iter().map(|c| status::name(*c)).collect();
            format!("exception {}", names.join(" | "))
        }
        BreakKind::Watch { addr, len, kind } => format!("{} {addr:#010x}:{len}", kind.command()),
    }
}

pub fn breakpoints(c: &Control) -> String {
    if c.breakpoints.is_empty() {
        return "no breakpoints or watchpoints\n".into();
    }
    let mut out = String::from("Num  Enb  Hits  What\n");
    for b in &c.breakpoints {
        let cond = b.cond.as_ref().map(|(t, _)| format!(" if {t}")).unwrap_or_default();
        let spec = if b.spec.is_empty() { String::new() } else { format!(" ({})", b.spec) };
        let gdb = if b.from_gdb { " [gdb]" } else { "" };
        let _ = writeln!(
            out,
            "{:<4} {:<4} {:<5} {}{spec}{cond}{gdb}",
            b.id,
            if b.enabled { "y" } else { "n" },
            b.hits,
            describe_kind(&b.kind)
        );
    }
    out
}

fn hex_bytes(b: &[u8]) -> String {
    if b.is_empty() {
        return "(unmapped)".into();
    }
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
}

fn cpu_exit(e: &Exit) -> String {
    match e {
        Exit::Hlt => "the machine halted (HLT)".into(),
        Exit::Exception { exception, eip } => {
            let mut s = format!(
                "fault: vector {} ({}) at {eip:#010x}",
                exception.vector,
                vector_name(exception.vector)
            );
            if let Some(c) = exception.error_code {
                let _ = write!(s, ", error code {c:#x}");
            }
            if let Detail::Page { addr, access, .. } = exception.detail {
                let _ = write!(s, ", {} {addr:#010x}", access.name());
            }
            s
        }
        Exit::Interrupt(n) => format!("software interrupt {n:#04x}"),
        Exit::FarTransfer { selector, offset, .. } => {
            format!("far transfer to {selector:#06x}:{offset:#010x}")
        }
        Exit::SystemCall => "SYSCALL/SYSENTER".into(),
        other => format!("{other:?}"),
    }
}

fn vector_name(v: u8) -> &'static str {
    match v {
        vector::DE => "#DE",
        vector::DB => "#DB",
        vector::BP => "#BP",
        vector::OF => "#OF",
        vector::BR => "#BR",
        vector::UD => "#UD",
        vector::NM => "#NM",
        vector::GP => "#GP",
        vector::PF => "#PF",
        vector::MF => "#MF",
        vector::AC => "#AC",
        vector::XM => "#XM",
        vector::SS => "#SS",
        _ => "?",
    }
}

/// The report of a stop: why, then the instruction about to run.
pub fn stop_report(s: &Session, ev: &StopEvent, style: &Style) -> String {
    let cpu = s.cpu();
    let sym = |a: u32| addr_sym(&s.symbols, a, style);
    let mut out = String::new();
    let line = match &ev.reason {
        StopReason::Hit(Hit::Tick | Hit::Insns | Hit::Addr) => None,
        StopReason::Hit(Hit::Return) => {
            Some(format!("Run till exit: returned to {}, eax = {:#x}", sym(cpu.eip), cpu.gpr[0]))
        }
        StopReason::Hit(Hit::Break { id }) => Some(format!("Breakpoint {id}, {}", sym(cpu.eip))),
        StopReason::Hit(Hit::Watch { id, addr, access, old, new, service }) => {
            let kind = s.watch_kind(*id).unwrap_or(WatchKind::Write);
            let how = match (access, service) {
                (_, Some(svc)) => format!("changed by the system service {svc}"),
                (Some(x86wow_mmu::Access::Read), _) => format!("read at {addr:#010x}"),
                _ => format!("written at {addr:#010x}"),
            };
            let mut t = format!("Watchpoint {id} ({}): {how}\n", kind.command());
            if *access == Some(x86wow_mmu::Access::Read) {
                let _ = write!(t, "  value: {}", hex_bytes(new));
            } else {
                let _ = write!(t, "  old: {}\n  new: {}", hex_bytes(old), hex_bytes(new));
                if old == new && service.is_none() {
                    t.push_str(" (unchanged)");
                }
            }
            Some(t)
        }
        StopReason::Hit(Hit::Syscall { id, service, name }) => {
            let esp = cpu.gpr[4];
            let slots = s
                .ctl
                .borrow()
                .services
                .as_ref()
                .and_then(|t| t.slots.get(*service as usize).copied())
                .unwrap_or(0);
            let args: Vec<String> = (0..slots as u32)
                .map(|i| read_u32(cpu, esp.wrapping_add(8 + 4 * i)).map_or("?".into(), |v| format!("{v:#x}")))
                .collect();
            Some(format!(
                "Syscall breakpoint {id}: {name} (service {service:#x}) at {}\n  args: ({})",
                sym(cpu.eip),
                args.join(", ")
            ))
        }
        StopReason::Hit(Hit::Exception { id, code, address }) => Some(format!(
            "Exception breakpoint {id}: {} at {} (first chance, entering the dispatcher)",
            status::name(*code),
            sym(*address)
        )),
        StopReason::Hit(Hit::Budget) => {
            Some(format!("Stopped: the instruction limit ({} instructions) is reached", cpu.insns()))
        }
        StopReason::Exited { status: st, message } => {
            let mut t = format!("Process exited with status {st:#x}");
            if let Some(m) = message {
                let _ = write!(t, " ({m})");
            }
            return format!("{}\n", style.stop(&t));
        }
        StopReason::Cpu(e) => Some(format!("Stopped: {}", cpu_exit(e))),
        StopReason::HistoryStart => Some("Reached the start of the recorded history.".into()),
        StopReason::Interrupted => Some("Interrupted.".into()),
    };
    if let Some(l) = line {
        let _ = writeln!(out, "{}", style.stop(&l));
    }
    out.push_str(&current_line(s, style));
    out
}

/// `=> 0x00401000 <hello.exe!EntryPoint>  sub esp, 0x1c`
pub fn current_line(s: &Session, style: &Style) -> String {
    let cpu = s.cpu();
    match cpu.peek_instruction(cpu.eip) {
        Some(ins) => format!(
            "=> {}  {}\n",
            addr_sym(&s.symbols, cpu.eip, style),
            disasm::format_instruction(&ins, &s.symbols, s.syntax)
        ),
        None => format!("=> {} (cannot fetch or decode)\n", addr_sym(&s.symbols, cpu.eip, style)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examine_formats() {
        assert_eq!(Examine::parse("").unwrap(), Examine { count: 1, unit: 4, format: 'x' });
        assert_eq!(Examine::parse("16xb").unwrap(), Examine { count: 16, unit: 1, format: 'x' });
        assert_eq!(Examine::parse("s").unwrap(), Examine { count: 1, unit: 4, format: 's' });
        assert_eq!(Examine::parse("sh").unwrap().format, 'S');
        assert_eq!(Examine::parse("2dg").unwrap(), Examine { count: 2, unit: 8, format: 'd' });
        assert!(Examine::parse("q").is_err());
        assert_eq!(decode_eflags(0x246), "[ PF ZF IF ]");
        assert_eq!(f80_approx(0x3fff, 1 << 63), "1e0");
    }
}
