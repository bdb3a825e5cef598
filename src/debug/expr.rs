//! Address and condition expressions: `0x401000`, `esp+8`, `[esp+4]`, `adder.dll!Add`,
//! `hello.exe+0x1000`, `eax == 0x10 && [esi] != 0`.
//!
//! Symbols are resolved when the expression is parsed, so a compiled [`Expr`] needs only
//! the CPU to evaluate: breakpoint conditions run inside the per-instruction hook.

use x86wow_cpu::regs::sreg;
use x86wow_cpu::Cpu;

use super::error::{DebugError, Result};

/// Looks up a symbol's address while parsing.
pub trait SymbolLookup {
    fn lookup(&self, name: &str) -> Option<u32>;
}

/// No symbols (a bare machine state).
impl SymbolLookup for () {
    fn lookup(&self, _name: &str) -> Option<u32> {
        None
    }
}

/// A register an expression or `set` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reg {
    /// A general register by encoding index (see `x86wow_cpu::regs::gpr`).
    Gpr32(usize),
    Gpr16(usize),
    /// AL..BL (index 0..3) and AH..BH (index 4..7) as in the encoding.
    Gpr8(usize),
    Eip,
    Eflags,
    /// One EFLAGS bit.
    Flag(u32),
    /// A segment selector (read only in expressions).
    Seg(usize),
}

const GPR32: [&str; 8] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
const GPR16: [&str; 8] = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"];
const GPR8: [&str; 8] = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"];
/// EFLAGS bits by name, as `regs` shows them.
pub const FLAG_BITS: [(&str, u32); 9] =
    [("cf", 0), ("pf", 2), ("af", 4), ("zf", 6), ("sf", 7), ("tf", 8), ("if", 9), ("df", 10), ("of", 11)];

impl Reg {
    /// Parses a register name (case-insensitive, an optional `$` as in gdb).
    pub fn parse(name: &str) -> Option<Reg> {
        let n = name.strip_prefix('$').unwrap_or(name).to_ascii_lowercase();
        let find = |t: &[&str]| t.iter().position(|r| *r == n);
        if let Some(i) = find(&GPR32) {
            return Some(Reg::Gpr32(i));
        }
        if let Some(i) = find(&GPR16) {
            return Some(Reg::Gpr16(i));
        }
        if let Some(i) = find(&GPR8) {
            return Some(Reg::Gpr8(i));
        }
        if let Some(i) = find(&sreg::NAMES) {
            return Some(Reg::Seg(i));
        }
        match n.as_str() {
            "eip" | "pc" => Some(Reg::Eip),
            "eflags" | "efl" => Some(Reg::Eflags),
            _ => FLAG_BITS.iter().find(|(f, _)| *f == n).map(|&(_, b)| Reg::Flag(b)),
        }
    }

    pub fn read(self, cpu: &Cpu) -> u32 {
        match self {
            Reg::Gpr32(i) => cpu.gpr[i],
            Reg::Gpr16(i) => cpu.gpr[i] & 0xffff,
            Reg::Gpr8(i) if i < 4 => cpu.gpr[i] & 0xff,
            Reg::Gpr8(i) => (cpu.gpr[i - 4] >> 8) & 0xff,
            Reg::Eip => cpu.eip,
            Reg::Eflags => cpu.eflags(),
            Reg::Flag(b) => (cpu.eflags() >> b) & 1,
            Reg::Seg(i) => cpu.seg[i].selector as u32,
        }
    }

    /// Writes the register; segment selectors are refused (a selector load needs the
    /// descriptor checks, and the WOW64 model fixes them).
    pub fn write(self, cpu: &mut Cpu, v: u32) -> Result<()> {
        match self {
            Reg::Gpr32(i) => cpu.gpr[i] = v,
            Reg::Gpr16(i) => cpu.gpr[i] = (cpu.gpr[i] & !0xffff) | (v & 0xffff),
            Reg::Gpr8(i) if i < 4 => cpu.gpr[i] = (cpu.gpr[i] & !0xff) | (v & 0xff),
            Reg::Gpr8(i) => cpu.gpr[i - 4] = (cpu.gpr[i - 4] & !0xff00) | ((v & 0xff) << 8),
            Reg::Eip => cpu.eip = v,
            Reg::Eflags => cpu.set_eflags(v),
            Reg::Flag(b) => {
                let e = cpu.eflags() & !(1 << b);
                cpu.set_eflags(e | ((v & 1) << b));
            }
            Reg::Seg(i) => {
                return Err(DebugError::UnknownRegister(format!("{} (read only)", sreg::NAMES[i])))
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    And,
    Or,
    Xor,
    Shl,
    Shr,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LogAnd,
    LogOr,
}

/// A compiled expression (unsigned 32-bit arithmetic, comparisons give 0 or 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Num(u32),
    Reg(Reg),
    /// `[e]` / `*e`: the dword at an address; `byte [e]`/`word [e]` narrower.
    Deref(Box<Expr>, u8),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    LogNot(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
}

impl Expr {
    /// Evaluates against the CPU; reading unmapped memory is an error.
    pub fn eval(&self, cpu: &Cpu) -> Result<u32> {
        Ok(match self {
            Expr::Num(v) => *v,
            Expr::Reg(r) => r.read(cpu),
            Expr::Deref(e, size) => {
                let a = e.eval(cpu)?;
                let mut b = [0u8; 4];
                let n = *size as usize;
                cpu.mem
                    .peek(a as u64, &mut b[..n])
                    .map_err(|_| DebugError::Unmapped { addr: a as u64, len: n })?;
                u32::from_le_bytes(b)
            }
            Expr::Neg(e) => e.eval(cpu)?.wrapping_neg(),
            Expr::Not(e) => !e.eval(cpu)?,
            Expr::LogNot(e) => (e.eval(cpu)? == 0) as u32,
            Expr::Bin(op, a, b) => {
                let x = a.eval(cpu)?;
                // Short-circuit so that `ptr != 0 && [ptr] == 1` is safe.
                match op {
                    BinOp::LogAnd if x == 0 => return Ok(0),
                    BinOp::LogOr if x != 0 => return Ok(1),
                    _ => {}
                }
                let y = b.eval(cpu)?;
                apply(*op, x, y).ok_or_else(|| DebugError::Syntax {
                    text: String::new(),
                    problem: "division by zero".into(),
                })?
            }
        })
    }

    /// The value if the expression needs no CPU (numbers and symbols only).
    pub fn constant(&self) -> Option<u32> {
        match self {
            Expr::Num(v) => Some(*v),
            _ => None,
        }
    }
}

/// Parses a number: `0x` hex, `0b` binary, otherwise decimal (as gdb does).
pub fn parse_number(s: &str) -> Option<u32> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(&h.replace('_', ""), 16).ok()?
    } else if let Some(b) = s.strip_prefix("0b") {
        u64::from_str_radix(&b.replace('_', ""), 2).ok()?
    } else {
        s.replace('_', "").parse::<u64>().ok()?
    };
    if v > u32::MAX as u64 {
        return None;
    }
    Some(if neg { (v as u32).wrapping_neg() } else { v as u32 })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Num(u32),
    Ident(String),
    Op(&'static str),
}

const OPS: [&str; 24] = [
    "&&", "||", "==", "!=", "<=", ">=", "<<", ">>", "+", "-", "*", "/", "&", "|", "^", "~", "!", "<", ">",
    "(", ")", "[", "]", "=",
];

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || matches!(c, '_' | '$' | '@' | '?' | '.')
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '@' | '?' | '.' | '!')
}

fn tokenize(text: &str) -> Result<Vec<Tok>> {
    let bad = |problem: String| DebugError::Syntax { text: text.to_string(), problem };
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let s: String = chars[start..i].iter().collect();
            out.push(Tok::Num(parse_number(&s).ok_or_else(|| bad(format!("`{s}` is not a 32-bit number")))?));
        } else if is_ident_start(c) {
            let start = i;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let op = OPS
                .iter()
                .find(|op| rest.starts_with(**op))
                .ok_or_else(|| bad(format!("unexpected `{c}`")))?;
            if *op == "=" {
                return Err(bad("`=` is not a comparison (use `==`)".into()));
            }
            out.push(Tok::Op(op));
            i += op.len();
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    text: &'a str,
    symbols: &'a dyn SymbolLookup,
}

impl Parser<'_> {
    fn bad(&self, problem: impl Into<String>) -> DebugError {
        DebugError::Syntax { text: self.text.to_string(), problem: problem.into() }
    }

    fn peek_op(&self) -> Option<&'static str> {
        match self.toks.get(self.pos) {
            Some(Tok::Op(o)) => Some(o),
            _ => None,
        }
    }

    fn eat(&mut self, op: &str) -> bool {
        if self.peek_op() == Some(op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Binary operators by precedence level, loosest first.
    fn binary(&mut self, level: usize) -> Result<Expr> {
        const LEVELS: [&[(&str, BinOp)]; 9] = [
            &[("||", BinOp::LogOr)],
            &[("&&", BinOp::LogAnd)],
            &[("==", BinOp::Eq), ("!=", BinOp::Ne)],
            &[("<=", BinOp::Le), (">=", BinOp::Ge), ("<", BinOp::Lt), (">", BinOp::Gt)],
            &[("|", BinOp::Or)],
            &[("^", BinOp::Xor)],
            &[("&", BinOp::And)],
            &[("<<", BinOp::Shl), (">>", BinOp::Shr)],
            &[("+", BinOp::Add), ("-", BinOp::Sub)],
        ];
        if level == LEVELS.len() {
            return self.product();
        }
        let mut lhs = self.binary(level + 1)?;
        'outer: loop {
            for (tok, op) in LEVELS[level] {
                if self.eat(tok) {
                    let rhs = self.binary(level + 1)?;
                    lhs = fold(*op, lhs, rhs);
                    continue 'outer;
                }
            }
            return Ok(lhs);
        }
    }

    fn product(&mut self) -> Result<Expr> {
        let mut lhs = self.unary()?;
        loop {
            let op = if self.eat("*") {
                BinOp::Mul
            } else if self.eat("/") {
                BinOp::Div
            } else {
                return Ok(lhs);
            };
            let rhs = self.unary()?;
            lhs = fold(op, lhs, rhs);
        }
    }

    fn unary(&mut self) -> Result<Expr> {
        if self.eat("-") {
            return Ok(match self.unary()? {
                Expr::Num(v) => Expr::Num(v.wrapping_neg()),
                e => Expr::Neg(Box::new(e)),
            });
        }
        if self.eat("~") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat("!") {
            return Ok(Expr::LogNot(Box::new(self.unary()?)));
        }
        if self.eat("*") {
            return Ok(Expr::Deref(Box::new(self.unary()?), 4));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Num(v)) => {
                self.pos += 1;
                Ok(Expr::Num(v))
            }
            Some(Tok::Op("(")) => {
                self.pos += 1;
                let e = self.binary(0)?;
                if !self.eat(")") {
                    return Err(self.bad("missing `)`"));
                }
                Ok(e)
            }
            Some(Tok::Op("[")) => {
                self.pos += 1;
                let e = self.binary(0)?;
                if !self.eat("]") {
                    return Err(self.bad("missing `]`"));
                }
                Ok(Expr::Deref(Box::new(e), 4))
            }
            Some(Tok::Ident(name)) => {
                self.pos += 1;
                let size = match name.to_ascii_lowercase().as_str() {
                    "byte" => Some(1),
                    "word" => Some(2),
                    "dword" => Some(4),
                    _ => None,
                };
                if let (Some(size), Some("[")) = (size, self.peek_op()) {
                    return match self.primary()? {
                        Expr::Deref(e, _) => Ok(Expr::Deref(e, size)),
                        _ => Err(self.bad("expected `[`")),
                    };
                }
                if let Some(r) = Reg::parse(&name) {
                    return Ok(Expr::Reg(r));
                }
                self.symbols.lookup(&name).map(Expr::Num).ok_or(DebugError::SymbolNotFound(name))
            }
            Some(Tok::Op(o)) => Err(self.bad(format!("unexpected `{o}`"))),
            None => Err(self.bad("unexpected end")),
        }
    }
}

/// One binary operation; `None` for a division by zero.
fn apply(op: BinOp, x: u32, y: u32) -> Option<u32> {
    Some(match op {
        BinOp::Add => x.wrapping_add(y),
        BinOp::Sub => x.wrapping_sub(y),
        BinOp::Mul => x.wrapping_mul(y),
        BinOp::Div => x.checked_div(y)?,
        BinOp::And => x & y,
        BinOp::Or => x | y,
        BinOp::Xor => x ^ y,
        BinOp::Shl => x.checked_shl(y).unwrap_or(0),
        BinOp::Shr => x.checked_shr(y).unwrap_or(0),
        BinOp::Eq => (x == y) as u32,
        BinOp::Ne => (x != y) as u32,
        BinOp::Lt => (x < y) as u32,
        BinOp::Le => (x <= y) as u32,
        BinOp::Gt => (x > y) as u32,
        BinOp::Ge => (x >= y) as u32,
        BinOp::LogAnd => (x != 0 && y != 0) as u32,
        BinOp::LogOr => (x != 0 || y != 0) as u32,
    })
}

/// Builds a binary node, computing it at once when both sides are constants (so that
/// `module+0x10` is a plain address).
fn fold(op: BinOp, a: Expr, b: Expr) -> Expr {
    match (a.constant(), b.constant()) {
        (Some(x), Some(y)) => {
            apply(op, x, y).map_or_else(|| Expr::Bin(op, Box::new(a), Box::new(b)), Expr::Num)
        }
        _ => Expr::Bin(op, Box::new(a), Box::new(b)),
    }
}

/// Parses an expression, resolving symbols now.
pub fn parse(text: &str, symbols: &dyn SymbolLookup) -> Result<Expr> {
    let toks = tokenize(text)?;
    if toks.is_empty() {
        return Err(DebugError::Syntax { text: text.to_string(), problem: "empty".into() });
    }
    let mut p = Parser { toks, pos: 0, text, symbols };
    let e = p.binary(0)?;
    if p.pos != p.toks.len() {
        return Err(p.bad("trailing input"));
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Syms;
    impl SymbolLookup for Syms {
        fn lookup(&self, name: &str) -> Option<u32> {
            match name {
                "adder.dll!Add" => Some(0x1000_1000),
                "hello.exe" => Some(0x40_0000),
                _ => None,
            }
        }
    }

    #[test]
    fn numbers_symbols_and_registers() {
        let mut cpu = Cpu::new();
        cpu.gpr[0] = 0x10;
        cpu.gpr[4] = 0x2000;
        assert_eq!(parse("hello.exe+0x1000", &Syms).unwrap(), Expr::Num(0x40_1000));
        assert_eq!(parse("adder.dll!Add", &Syms).unwrap(), Expr::Num(0x1000_1000));
        assert_eq!(parse("eax == 0x10", &Syms).unwrap().eval(&cpu).unwrap(), 1);
        assert_eq!(parse("$esp + 8", &Syms).unwrap().eval(&cpu).unwrap(), 0x2008);
        assert_eq!(parse("al != 16 || 1", &Syms).unwrap().eval(&cpu).unwrap(), 1);
        assert_eq!(parse("2 + 3 * 4", &Syms).unwrap(), Expr::Num(14));
        assert_eq!(parse("nosuch", &Syms), Err(DebugError::SymbolNotFound("nosuch".into())));
        assert!(matches!(parse("eax = 1", &Syms), Err(DebugError::Syntax { .. })));
        assert!(matches!(parse("[esp]", &Syms).unwrap().eval(&cpu), Err(DebugError::Unmapped { .. })));
    }
}
