//! The command language: a table of commands with aliases and help, and the
//! interpreter that runs one line against a [`Session`] and returns the text to show.

use std::fmt::Write;

use super::control::{BreakKind, WatchKind};
use super::disasm;
use super::error::{DebugError, Result};
use super::expr::{parse_number, Reg};
use super::reverse::Edit;
use super::session::{Session, StopEvent, StopReason, Syntax};
use super::views::{self, Examine, Style};

/// One command of the language.
pub struct CommandSpec {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub usage: &'static str,
    pub help: &'static str,
    /// Runs the debuggee (not available as a gdb `monitor` command: gdb would not know
    /// the state changed).
    pub runs: bool,
}

macro_rules! cmd {
    ($name:literal, [$($alias:literal),*], $usage:literal, $runs:literal, $help:literal) => {
        CommandSpec { name: $name, aliases: &[$($alias),*], usage: $usage, help: $help, runs: $runs }
    };
}

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("step", ["s", "stepi", "si"], "[N]", true, "Execute N instructions (default 1); a system call is one instruction."),
    cmd!("next", ["n", "nexti", "ni"], "[N]", true, "Like step, but run a CALL until it returns and a REP string instruction until it is done."),
    cmd!("finish", ["fin"], "", true, "Run until the current function returns (calls and returns are counted, so frameless code works)."),
    cmd!("continue", ["c", "cont"], "", true, "Run until a breakpoint, watchpoint or catchpoint stops the program, or it ends."),
    cmd!("until", ["u"], "ADDR|SYMBOL", true, "Run until the instruction at ADDR is about to execute (breakpoints still stop)."),
    cmd!("run-to-insn", ["rti"], "N", true, "Run forward, or go back, to where N instructions have retired."),
    cmd!("break", ["b", "bp"], "ADDR|MODULE!EXPORT|MODULE+OFFSET [if COND] | syscall NAME [if COND] | exception [VECTOR|CODE]", false,
         "Set a breakpoint: before an instruction; at the WOW64 gate for a system service (NtWriteFile); or when an exception is dispatched (vector 14, code 0xc0000005, or any). COND is an expression such as `eax == 0x10 && [esp+4] != 0`."),
    cmd!("watch", [], "ADDR[:LEN] [if COND]", false, "Stop after an instruction writes the bytes (LEN 1..4096, default 4), or a system service changes them."),
    cmd!("rwatch", [], "ADDR[:LEN] [if COND]", false, "Stop after an instruction reads the bytes."),
    cmd!("awatch", [], "ADDR[:LEN] [if COND]", false, "Stop after an instruction reads or writes the bytes."),
    cmd!("delete", ["d"], "[N...]", false, "Delete breakpoints and watchpoints (all without numbers)."),
    cmd!("disable", [], "[N...]", false, "Disable breakpoints (all without numbers)."),
    cmd!("enable", [], "[N...]", false, "Enable breakpoints (all without numbers)."),
    cmd!("info", ["i"], "breakpoints|registers|modules|position", false, "Show breakpoints (`info b`), registers, modules, or the position in the history."),
    cmd!("regs", ["r", "registers"], "", false, "Show the general registers, EFLAGS decoded, segments and the instruction count."),
    cmd!("fpu", [], "", false, "Show the x87 state: control, status and tag words, ST0..ST7."),
    cmd!("sse", [], "", false, "Show MXCSR decoded and XMM0..XMM7."),
    cmd!("x", [], "/[COUNT][x|d|u|c|s|S|i][b|h|w|g] ADDR", false,
         "Examine memory: units b h w g are 1, 2, 4, 8 bytes; format s is a C string, S (or sh) a UTF-16 string, i instructions."),
    cmd!("stack", ["st"], "[N]", false, "Show N dwords at ESP (default 16), named where they point into modules."),
    cmd!("bt", ["backtrace", "where"], "", false, "Show the call stack by the frame-pointer chain, with symbols."),
    cmd!("seh", [], "", false, "Show the SEH chain at fs:[0]."),
    cmd!("maps", [], "", false, "Show the mapped regions with protection and owner (module, stack, TEB, PEB)."),
    cmd!("modules", ["lm"], "", false, "Show the loaded modules."),
    cmd!("disas", ["dis", "disassemble"], "[/att|/intel] [ADDR] [N]", false, "Disassemble N instructions (default 10) at ADDR (default EIP), with symbols from exports and imports."),
    cmd!("set", [], "REG VALUE | mem ADDR BYTES | syntax intel|att", false,
         "Change a register (eax, ax, al, eip, eflags, zf...) or memory (hex bytes such as `90 90` or `9090`), or the disassembly syntax."),
    cmd!("trace", [], "syscalls on|off", false, "Print each system service as it is called: 32-bit arguments, the widened 64-bit ones, status."),
    cmd!("teb", [], "", false, "Show the TEB, PEB and stack of the thread (and the FS base)."),
    cmd!("reverse-step", ["rs", "rsi", "reverse-stepi"], "[N]", true, "Go back N instructions (snapshots plus deterministic re-execution)."),
    cmd!("reverse-continue", ["rc"], "", true, "Go back to the latest breakpoint or watchpoint hit (or the start)."),
    cmd!("save", [], "FILE.json", false, "Write the machine state (docs/state-format.md): registers, segments, x87/SSE and all 32-bit memory."),
    cmd!("help", ["h", "?"], "[COMMAND]", false, "List the commands, or explain one."),
    cmd!("quit", ["q", "exit"], "", false, "Leave the debugger."),
];

/// The command a word names (its name or an alias).
pub fn find(word: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name == word || c.aliases.contains(&word))
}

/// What running a line produced.
#[derive(Debug, Default)]
pub struct Reply {
    pub text: String,
    pub quit: bool,
}

impl Reply {
    fn text(text: String) -> Reply {
        Reply { text, quit: false }
    }
}

fn usage(spec: &CommandSpec) -> DebugError {
    DebugError::Usage { command: spec.name, usage: spec.usage }
}

fn count_arg(spec: &CommandSpec, args: &str, default: u64) -> Result<u64> {
    if args.is_empty() {
        return Ok(default);
    }
    parse_number(args).map(u64::from).ok_or_else(|| usage(spec))
}

/// Splits `SPEC if COND`.
fn split_cond(args: &str) -> (&str, Option<String>) {
    match args.find(" if ") {
        Some(i) => (args[..i].trim(), Some(args[i + 4..].trim().to_string())),
        None => match args.strip_prefix("if ") {
            Some(c) => ("", Some(c.trim().to_string())),
            None => (args.trim(), None),
        },
    }
}

/// Exception codes for a vector or a code (`break exception 14`, `... 0xc0000005`).
fn exception_codes(arg: &str) -> Result<Vec<u32>> {
    use x86wow_wow64::status::*;
    if arg.is_empty() {
        return Ok(Vec::new());
    }
    let v =
        parse_number(arg).ok_or(DebugError::Usage { command: "break", usage: "exception [VECTOR|CODE]" })?;
    const FLOAT: [u32; 7] =
        [0xC000_008D, 0xC000_008E, 0xC000_008F, 0xC000_0090, 0xC000_0091, 0xC000_0092, 0xC000_0093];
    Ok(match v {
        0 => vec![STATUS_INTEGER_DIVIDE_BY_ZERO, STATUS_INTEGER_OVERFLOW],
        1 => vec![STATUS_SINGLE_STEP],
        3 => vec![STATUS_BREAKPOINT],
        4 => vec![STATUS_INTEGER_OVERFLOW],
        5 => vec![STATUS_ARRAY_BOUNDS_EXCEEDED],
        6 => vec![STATUS_ILLEGAL_INSTRUCTION],
        13 => vec![STATUS_ACCESS_VIOLATION, STATUS_PRIVILEGED_INSTRUCTION],
        14 => vec![STATUS_ACCESS_VIOLATION, STATUS_GUARD_PAGE_VIOLATION],
        16 => FLOAT.to_vec(),
        17 => vec![STATUS_DATATYPE_MISALIGNMENT],
        19 => [&FLOAT[..], &[STATUS_FLOAT_MULTIPLE_TRAPS]].concat(),
        v if v < 32 => {
            return Err(DebugError::Usage {
                command: "break",
                usage: "exception [VECTOR|CODE] (vector 0, 1, 3..6, 13, 14, 16, 17 or 19)",
            })
        }
        code => vec![code],
    })
}

/// Parses `ADDR[:LEN]`.
fn watch_range(s: &Session, spec: &str) -> Result<(u32, u32)> {
    let (a, len) = match spec.rsplit_once(':') {
        Some((a, l)) => (
            a,
            parse_number(l)
                .filter(|n| (1..=4096).contains(n))
                .ok_or(DebugError::Usage { command: "watch", usage: "ADDR[:LEN] with LEN 1..4096" })?,
        ),
        None => (spec, 4),
    };
    Ok((s.eval(a)?, len))
}

/// Parses bytes: `90 90`, `9090`, `0x90 0x90`.
fn parse_bytes(text: &str) -> Result<Vec<u8>> {
    let bad = || DebugError::Usage { command: "set", usage: "mem ADDR BYTES (hex, e.g. `90 90` or `9090`)" };
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let w = word.trim_start_matches("0x");
        if w.is_empty() || !w.len().is_multiple_of(2) {
            return Err(bad());
        }
        for i in (0..w.len()).step_by(2) {
            out.push(u8::from_str_radix(&w[i..i + 2], 16).map_err(|_| bad())?);
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

fn help(topic: &str) -> Result<String> {
    let mut out = String::new();
    if topic.is_empty() {
        out.push_str("Commands (aliases in parentheses); `help COMMAND` for more:\n");
        for c in COMMANDS {
            let aliases =
                if c.aliases.is_empty() { String::new() } else { format!(" ({})", c.aliases.join(", ")) };
            let _ = writeln!(
                out,
                "  {:<18} {}",
                format!("{}{aliases}", c.name),
                c.help.split(". ").next().unwrap_or(c.help).trim_end_matches('.')
            );
        }
        out.push_str(
            "Addresses are expressions: 0x401000, esp+8, [esp+4], adder.dll!Add, hello.exe+0x1000, $entry.\n",
        );
        return Ok(out);
    }
    let c = find(topic).ok_or_else(|| DebugError::UnknownCommand(topic.to_string()))?;
    let _ = writeln!(out, "{} {}", c.name, c.usage);
    if !c.aliases.is_empty() {
        let _ = writeln!(out, "  aliases: {}", c.aliases.join(", "));
    }
    let _ = writeln!(out, "  {}", c.help);
    Ok(out)
}

/// Runs one command line.
pub fn execute(s: &mut Session, line: &str, style: &Style) -> Result<Reply> {
    execute_with(s, line, style, true)
}

/// Runs one command line as a gdb `monitor` command (no execution commands).
pub fn execute_monitor(s: &mut Session, line: &str, style: &Style) -> Result<Reply> {
    execute_with(s, line, style, false)
}

fn execute_with(s: &mut Session, line: &str, style: &Style, may_run: bool) -> Result<Reply> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(Reply::default());
    }
    let (word, args) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let args = args.trim();
    let (word, modifier) = match word.split_once('/') {
        Some((w, m)) => (w, Some(m)),
        None => (word, None),
    };
    let spec = find(word).ok_or_else(|| DebugError::UnknownCommand(word.to_string()))?;
    if spec.runs && !may_run {
        return Err(DebugError::Usage {
            command: spec.name,
            usage: "is not a monitor command: use gdb's own stepping and continuing commands",
        });
    }
    if modifier.is_some() && !matches!(spec.name, "x" | "disas") {
        return Err(usage(spec));
    }
    let stop = |s: &Session, ev: StopEvent| Ok(Reply::text(views::stop_report(s, &ev, style)));
    match spec.name {
        "step" => {
            let n = count_arg(spec, args, 1)?;
            let ev = s.step(n)?;
            stop(s, ev)
        }
        "next" => {
            let n = count_arg(spec, args, 1)?;
            let mut ev = s.step_over()?;
            for _ in 1..n {
                if !matches!(
                    ev.reason,
                    StopReason::Hit(super::control::Hit::Tick | super::control::Hit::Return)
                ) {
                    break;
                }
                ev = s.step_over()?;
            }
            stop(s, ev)
        }
        "finish" => {
            let ev = s.finish()?;
            stop(s, ev)
        }
        "continue" => {
            let ev = s.cont()?;
            stop(s, ev)
        }
        "until" => {
            if args.is_empty() {
                return Err(usage(spec));
            }
            let a = s.eval(args)?;
            let ev = s.until(a)?;
            stop(s, ev)
        }
        "run-to-insn" => {
            let n = parse_number(args).ok_or_else(|| usage(spec))?;
            let ev = s.run_to_insns(n as u64)?;
            stop(s, ev)
        }
        "reverse-step" => {
            let n = count_arg(spec, args, 1)?;
            let ev = s.reverse_step(n)?;
            stop(s, ev)
        }
        "reverse-continue" => {
            let ev = s.reverse_continue()?;
            stop(s, ev)
        }
        "break" => break_cmd(s, args),
        "watch" | "rwatch" | "awatch" => {
            let kind = match spec.name {
                "watch" => WatchKind::Write,
                "rwatch" => WatchKind::Read,
                _ => WatchKind::Access,
            };
            let (range, cond) = split_cond(args);
            if range.is_empty() {
                return Err(usage(spec));
            }
            let (addr, len) = watch_range(s, range)?;
            let id =
                s.add_breakpoint(BreakKind::Watch { addr, len, kind }, range.to_string(), cond, false)?;
            Ok(Reply::text(format!("Watchpoint {id} ({}): {addr:#010x}:{len}\n", kind.command())))
        }
        "delete" | "disable" | "enable" => {
            let ids: Vec<u32> = args
                .split_whitespace()
                .map(|w| parse_number(w).ok_or_else(|| usage(spec)))
                .collect::<Result<_>>()?;
            match spec.name {
                "delete" => {
                    let n = s.delete_breakpoints(&ids)?;
                    Ok(Reply::text(format!("deleted {n}\n")))
                }
                name => {
                    s.enable_breakpoints(&ids, name == "enable")?;
                    Ok(Reply::default())
                }
            }
        }
        "info" => match args {
            "b" | "break" | "breakpoints" | "watch" | "watchpoints" => {
                Ok(Reply::text(views::breakpoints(&s.ctl.borrow())))
            }
            "r" | "reg" | "registers" => {
                Ok(Reply::text(views::registers(s.cpu(), &s.symbols, style, s.position())))
            }
            "modules" | "sharedlibrary" => Ok(Reply::text(views::modules(&s.symbols))),
            "position" => Ok(Reply::text(format!("position {}  insns {}\n", s.position(), s.cpu().insns()))),
            _ => Err(usage(spec)),
        },
        "regs" => Ok(Reply::text(views::registers(s.cpu(), &s.symbols, style, s.position()))),
        "fpu" => Ok(Reply::text(views::fpu(s.cpu()))),
        "sse" => Ok(Reply::text(views::sse(s.cpu()))),
        "x" => {
            let e = Examine::parse(modifier.unwrap_or(""))?;
            if args.is_empty() {
                return Err(usage(spec));
            }
            let a = s.eval(args)?;
            Ok(Reply::text(views::examine(s, e, a, style)?))
        }
        "stack" => {
            let n = count_arg(spec, args, 16)?.clamp(1, 4096);
            Ok(Reply::text(views::stack(s.cpu(), &s.symbols, n as usize, style)?))
        }
        "bt" => Ok(Reply::text(views::backtrace(s.cpu(), &s.symbols, style))),
        "seh" => Ok(Reply::text(views::seh(s.cpu(), &s.symbols, style)?)),
        "maps" => Ok(Reply::text(views::maps(s))),
        "modules" => Ok(Reply::text(views::modules(&s.symbols))),
        "disas" => {
            let syntax = match modifier {
                None => s.syntax,
                Some("att") => Syntax::Att,
                Some("intel") => Syntax::Intel,
                Some(_) => return Err(usage(spec)),
            };
            let words: Vec<&str> = args.split_whitespace().collect();
            let (addr, n) = match words.as_slice() {
                [] => (s.cpu().eip, 10),
                [a] => (s.eval(a)?, 10),
                [a, n] => (s.eval(a)?, parse_number(n).ok_or_else(|| usage(spec))?),
                _ => return Err(usage(spec)),
            };
            Ok(Reply::text(disasm::disassemble(
                s.cpu(),
                &s.symbols,
                addr,
                n.clamp(1, 1000) as usize,
                syntax,
            )?))
        }
        "set" => set_cmd(s, args),
        "trace" => {
            let console = s.machine.console().ok_or(DebugError::NeedsProcess("trace syscalls"))?;
            match args.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["syscalls", "on"] => console.set_trace(true),
                ["syscalls", "off"] => console.set_trace(false),
                _ => return Err(usage(spec)),
            }
            Ok(Reply::text(format!("syscall trace {}\n", if console.trace_on() { "on" } else { "off" })))
        }
        "teb" => Ok(Reply::text(teb(s)?)),
        "save" => {
            if args.is_empty() {
                return Err(usage(spec));
            }
            let json = s.capture_state().to_json(None);
            let text = serde_json::to_string(&json).map_err(|e| DebugError::Internal(e.to_string()))?;
            std::fs::write(args, text + "\n")
                .map_err(|e| DebugError::Io { path: args.to_string(), error: e.to_string() })?;
            Ok(Reply::text(format!("saved the machine state to {args}\n")))
        }
        "help" => Ok(Reply::text(help(args)?)),
        "quit" => Ok(Reply { text: String::new(), quit: true }),
        _ => Err(DebugError::UnknownCommand(word.to_string())),
    }
}

fn break_cmd(s: &mut Session, args: &str) -> Result<Reply> {
    let (what, cond) = split_cond(args);
    let (kind, spec) = if let Some(name) = what.strip_prefix("syscall ").map(str::trim) {
        let (service, name) = s.service_number(name)?;
        (BreakKind::Syscall { service, name: name.clone() }, name)
    } else if what == "syscall" {
        return Err(DebugError::Usage { command: "break", usage: "syscall NAME" });
    } else if what == "exception" || what.starts_with("exception ") {
        if s.machine.process().is_none() {
            return Err(DebugError::NeedsProcess("break exception"));
        }
        let arg = what["exception".len()..].trim();
        (BreakKind::Exception { codes: exception_codes(arg)? }, arg.to_string())
    } else {
        let addr = if what.is_empty() { s.cpu().eip } else { s.eval(what.trim_start_matches('*'))? };
        (BreakKind::Code { addr }, what.to_string())
    };
    let text = views::describe_kind(&kind);
    let id = s.add_breakpoint(kind.clone(), spec, cond, false)?;
    let at = match kind {
        BreakKind::Code { addr } => s.symbols.describe(addr).map(|d| format!(" <{d}>")).unwrap_or_default(),
        _ => String::new(),
    };
    Ok(Reply::text(format!("Breakpoint {id}: {text}{at}\n")))
}

fn set_cmd(s: &mut Session, args: &str) -> Result<Reply> {
    let bad = DebugError::Usage { command: "set", usage: "REG VALUE | mem ADDR BYTES | syntax intel|att" };
    let (what, rest) = args.split_once(char::is_whitespace).ok_or(bad.clone())?;
    let rest = rest.trim().trim_start_matches('=').trim();
    match what {
        "syntax" => {
            s.syntax = match rest {
                "intel" => Syntax::Intel,
                "att" => Syntax::Att,
                _ => return Err(bad),
            };
            Ok(Reply::default())
        }
        "mem" => {
            let (a, bytes) = rest.split_once(char::is_whitespace).ok_or(bad)?;
            let addr = s.eval(a)?;
            let bytes = parse_bytes(bytes)?;
            let n = bytes.len();
            s.edit(Edit::Mem(addr, bytes))?;
            Ok(Reply::text(format!("wrote {n} byte{} at {addr:#010x}\n", if n == 1 { "" } else { "s" })))
        }
        reg => {
            let r = Reg::parse(reg).ok_or_else(|| DebugError::UnknownRegister(reg.to_string()))?;
            let v = s.eval(rest)?;
            s.edit(Edit::Reg(r, v))?;
            Ok(Reply::text(format!("{reg} = {:#x}\n", r.read(s.cpu()))))
        }
    }
}

fn teb(s: &Session) -> Result<String> {
    let p = s.machine.process().ok_or(DebugError::NeedsProcess("teb"))?;
    let b = p.blocks();
    let st = p.stack();
    let cpu = s.cpu();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "TEB32 {:#010x}  (fs {:#06x}, fs.base {:#010x})",
        b.teb32,
        cpu.seg[x86wow_cpu::regs::sreg::FS].selector,
        cpu.seg[x86wow_cpu::regs::sreg::FS].base
    );
    let _ = writeln!(out, "PEB32 {:#010x}", b.peb32);
    let _ = writeln!(out, "TEB64 {:#010x}  PEB64 {:#010x}", b.teb64, b.peb64);
    let _ =
        writeln!(out, "stack {:#010x}-{:#010x} (committed down to {:#010x})", st.dealloc, st.base, st.limit);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_bytes_and_exception_filters() {
        assert_eq!(split_cond("adder!Add if eax == 1"), ("adder!Add", Some("eax == 1".to_string())));
        assert_eq!(split_cond("0x401000"), ("0x401000", None));
        assert_eq!(parse_bytes("90 90").unwrap(), vec![0x90, 0x90]);
        assert_eq!(parse_bytes("0xcc c3").unwrap(), vec![0xcc, 0xc3]);
        assert_eq!(parse_bytes("deadbeef").unwrap(), vec![0xde, 0xad, 0xbe, 0xef]);
        assert!(parse_bytes("9").is_err() && parse_bytes("zz").is_err());
        assert_eq!(exception_codes("").unwrap(), Vec::<u32>::new());
        assert!(exception_codes("14").unwrap().contains(&0xC000_0005));
        assert_eq!(exception_codes("0xc0000094").unwrap(), vec![0xC000_0094]);
        assert!(exception_codes("2").is_err());
    }

    #[test]
    fn every_alias_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in COMMANDS {
            for w in std::iter::once(c.name).chain(c.aliases.iter().copied()) {
                assert!(seen.insert(w), "{w} names two commands");
                assert_eq!(find(w).unwrap().name, c.name);
            }
        }
    }
}
