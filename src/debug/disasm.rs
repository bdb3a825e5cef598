//! Disassembly with iced-x86's formatters, naming branch targets and memory operands
//! from the process's symbols.

use std::fmt::Write;
use std::rc::Rc;

use iced_x86::{Decoder, DecoderOptions, Formatter, GasFormatter, Instruction, IntelFormatter};
use x86wow_cpu::Cpu;
use x86wow_mmu::PAGE_SIZE;

use super::error::{DebugError, Result};
use super::session::Syntax;
use super::symbols::{Resolver, Symbols};

/// Reads up to `len` bytes at `addr`, stopping at the first unmapped page.
pub fn read_mapped(cpu: &Cpu, addr: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut a = addr as u64;
    while out.len() < len && a < 1 << 32 {
        let in_page = (PAGE_SIZE - (a % PAGE_SIZE)) as usize;
        let n = in_page.min(len - out.len());
        let mut buf = vec![0u8; n];
        if cpu.mem.peek(a, &mut buf).is_err() {
            break;
        }
        out.extend_from_slice(&buf);
        a += n as u64;
    }
    out
}

fn formatter(symbols: &Rc<Symbols>, syntax: Syntax) -> Box<dyn Formatter> {
    let resolver = Some(Box::new(Resolver(symbols.clone())) as Box<dyn iced_x86::SymbolResolver>);
    let mut f: Box<dyn Formatter> = match syntax {
        Syntax::Intel => Box::new(IntelFormatter::with_options(resolver, None)),
        Syntax::Att => Box::new(GasFormatter::with_options(resolver, None)),
    };
    let o = f.options_mut();
    o.set_hex_prefix("0x");
    o.set_hex_suffix("");
    o.set_uppercase_hex(false);
    o.set_space_after_operand_separator(true);
    o.set_show_branch_size(false);
    f
}

/// Formats one decoded instruction.
pub fn format_instruction(ins: &Instruction, symbols: &Rc<Symbols>, syntax: Syntax) -> String {
    let mut s = String::new();
    formatter(symbols, syntax).format(ins, &mut s);
    s
}

/// `count` instructions from `addr`, one per line, with a label line where a symbol
/// starts and `=>` at the current EIP.
pub fn disassemble(
    cpu: &Cpu,
    symbols: &Rc<Symbols>,
    addr: u32,
    count: usize,
    syntax: Syntax,
) -> Result<String> {
    let bytes = read_mapped(cpu, addr, count * 15);
    if bytes.is_empty() {
        return Err(DebugError::Unmapped { addr: addr as u64, len: 1 });
    }
    let mut f = formatter(symbols, syntax);
    let mut decoder = Decoder::with_ip(32, &bytes, addr as u64, DecoderOptions::AMD);
    let mut out = String::new();
    let mut text = String::new();
    for _ in 0..count {
        if !decoder.can_decode() {
            break;
        }
        let ins = decoder.decode();
        let ip = ins.ip32();
        if let Some((name, 0)) = symbols.symbol_at(ip) {
            let _ = writeln!(out, "{name}:");
        }
        let len = ins.len();
        let start = (ip - addr) as usize;
        let hex: String = bytes[start..start + len].iter().map(|b| format!("{b:02x}")).collect();
        text.clear();
        if ins.is_invalid() {
            text.push_str("(bad)");
        } else {
            f.format(&ins, &mut text);
        }
        let mark = if ip == cpu.eip { "=>" } else { "  " };
        let _ = writeln!(out, "{mark} {ip:#010x}  {hex:<16} {text}");
    }
    Ok(out)
}
