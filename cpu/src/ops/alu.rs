//! Two-operand arithmetic and logic (ADD, OR, ADC, SBB, AND, SUB, XOR, CMP, TEST) and the
//! one-operand INC, DEC, NEG, NOT.

use iced_x86::{Instruction, Mnemonic, OpKind};

use crate::cpu::{Cpu, Step};
use crate::flags::Size;
use crate::operand::op_size;
use crate::table::Table;

/// The two-operand ALU operations.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AluOp {
    Add,
    Or,
    Adc,
    Sbb,
    And,
    Sub,
    Xor,
    Cmp,
    Test,
}

type Op = AluOp;

impl AluOp {
    const ALL: [AluOp; 9] = [
        AluOp::Add,
        AluOp::Or,
        AluOp::Adc,
        AluOp::Sbb,
        AluOp::And,
        AluOp::Sub,
        AluOp::Xor,
        AluOp::Cmp,
        AluOp::Test,
    ];

    /// The operation numbered `n` in declaration order (for const-generic handlers).
    #[inline(always)]
    pub const fn from_u8(n: u8) -> AluOp {
        Self::ALL[n as usize]
    }

    /// Whether the result is stored (all but CMP and TEST).
    #[inline(always)]
    pub const fn writes(self) -> bool {
        !matches!(self, AluOp::Cmp | AluOp::Test)
    }

    pub fn of(m: Mnemonic) -> Option<AluOp> {
        Some(match m {
            Mnemonic::Add => AluOp::Add,
            Mnemonic::Or => AluOp::Or,
            Mnemonic::Adc => AluOp::Adc,
            Mnemonic::Sbb => AluOp::Sbb,
            Mnemonic::And => AluOp::And,
            Mnemonic::Sub => AluOp::Sub,
            Mnemonic::Xor => AluOp::Xor,
            Mnemonic::Cmp => AluOp::Cmp,
            Mnemonic::Test => AluOp::Test,
            _ => return None,
        })
    }
}

/// Computes `a op b` at `size`, sets the flags, and returns the (masked) result.
#[inline(always)]
pub fn compute(cpu: &mut Cpu, op: Op, size: Size, a: u32, b: u32) -> u32 {
    let m = size.mask();
    match op {
        Op::Add | Op::Adc => {
            let c = (op == Op::Adc && cpu.flags.cf()) as u32;
            let r = a.wrapping_add(b).wrapping_add(c) & m;
            cpu.flags.set_add(size, a, b, r);
            r
        }
        Op::Sub | Op::Sbb | Op::Cmp => {
            let c = (op == Op::Sbb && cpu.flags.cf()) as u32;
            let r = a.wrapping_sub(b).wrapping_sub(c) & m;
            cpu.flags.set_sub(size, a, b, r);
            r
        }
        Op::Or => {
            let r = a | b;
            cpu.flags.set_logic(size, r);
            r
        }
        Op::And | Op::Test => {
            let r = a & b;
            cpu.flags.set_logic(size, r);
            r
        }
        Op::Xor => {
            let r = a ^ b;
            cpu.flags.set_logic(size, r);
            r
        }
    }
}

/// Index of a 32-bit general register operand (EAX..EDI), if it is one.
#[inline]
pub fn dword_reg(r: iced_x86::Register) -> Option<usize> {
    let i = (r as u32).wrapping_sub(iced_x86::Register::EAX as u32);
    (i < 8).then_some(i as usize)
}

/// The value of operand 1 when it is a 32-bit register or immediate.
#[inline(always)]
pub fn src32_fast(cpu: &Cpu, ins: &Instruction) -> Option<u32> {
    match ins.op1_kind() {
        OpKind::Register => dword_reg(ins.op1_register()).map(|s| cpu.gpr[s]),
        OpKind::Immediate32 => Some(ins.immediate32()),
        OpKind::Immediate8to32 => Some(ins.immediate8to32() as u32),
        _ => None,
    }
}

#[inline]
fn binary(cpu: &mut Cpu, ins: &Instruction, op: Op) -> Step {
    // Fast path: a 32-bit register destination with a register, immediate or memory source.
    if ins.op0_kind() == OpKind::Register {
        if let Some(d) = dword_reg(ins.op0_register()) {
            let b = match src32_fast(cpu, ins) {
                Some(b) => b,
                None if ins.op1_kind() == OpKind::Memory => {
                    let (seg, off) = (cpu.memory_seg(ins), cpu.effective_address(ins));
                    cpu.read_mem(seg, off, Size::B32)?
                }
                None => return binary_general(cpu, ins, op),
            };
            let r = compute(cpu, op, Size::B32, cpu.gpr[d], b);
            if !matches!(op, Op::Cmp | Op::Test) {
                cpu.gpr[d] = r;
            }
            return Ok(());
        }
    }
    binary_general(cpu, ins, op)
}

#[inline(never)]
fn binary_general(cpu: &mut Cpu, ins: &Instruction, op: Op) -> Step {
    let size = op_size(ins, 0);
    let loc = cpu.loc(ins, 0);
    let b = cpu.read_op(ins, 1, size)?;
    let writes = !matches!(op, Op::Cmp | Op::Test);
    let a = if writes { cpu.read_loc_rmw(loc, size)? } else { cpu.read_loc(loc, size)? };
    // Compute on a copy of the flags so that a faulting store leaves them untouched.
    let saved = cpu.flags;
    let r = compute(cpu, op, size, a, b);
    if writes {
        if let Err(e) = cpu.write_loc(loc, size, r) {
            cpu.flags = saved;
            return Err(e);
        }
    }
    Ok(())
}

macro_rules! binary_handlers {
    ($($name:ident => $op:ident),*) => {
        $(fn $name(cpu: &mut Cpu, ins: &Instruction) -> Step { binary(cpu, ins, Op::$op) })*
    };
}

binary_handlers!(add => Add, or => Or, adc => Adc, sbb => Sbb, and => And, sub => Sub, xor => Xor, cmp => Cmp, test => Test);

fn inc_dec(cpu: &mut Cpu, ins: &Instruction, dec: bool) -> Step {
    let size = op_size(ins, 0);
    let loc = cpu.loc(ins, 0);
    let a = cpu.read_loc_rmw(loc, size)?;
    let r = if dec { a.wrapping_sub(1) } else { a.wrapping_add(1) } & size.mask();
    cpu.write_loc(loc, size, r)?;
    inc_dec_flags(cpu, size, a, r, dec);
    Ok(())
}

/// INC/DEC flags: as ADD/SUB of 1, except that CF keeps its value.
#[inline(always)]
fn inc_dec_flags(cpu: &mut Cpu, size: Size, a: u32, r: u32, dec: bool) {
    let of = if dec { a == size.sign() } else { r == size.sign() };
    let af = if dec { a & 0xf == 0 } else { r & 0xf == 0 };
    let cf = cpu.flags.cf();
    cpu.flags.set_result(size, r, cf, of, af);
}

/// INC/DEC r32 (the one-byte forms 40+r/48+r and FF /0, /1 with a register).
fn inc_dec_r32(cpu: &mut Cpu, ins: &Instruction, dec: bool) -> Step {
    match dword_reg(ins.op0_register()).filter(|_| ins.op0_kind() == OpKind::Register) {
        Some(d) => {
            let a = cpu.gpr[d];
            let r = if dec { a.wrapping_sub(1) } else { a.wrapping_add(1) };
            cpu.gpr[d] = r;
            inc_dec_flags(cpu, Size::B32, a, r, dec);
            Ok(())
        }
        None => inc_dec(cpu, ins, dec),
    }
}

fn inc(cpu: &mut Cpu, ins: &Instruction) -> Step {
    inc_dec_r32(cpu, ins, false)
}

fn dec(cpu: &mut Cpu, ins: &Instruction) -> Step {
    inc_dec_r32(cpu, ins, true)
}

fn neg(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = op_size(ins, 0);
    let loc = cpu.loc(ins, 0);
    let a = cpu.read_loc_rmw(loc, size)?;
    let r = 0u32.wrapping_sub(a) & size.mask();
    cpu.write_loc(loc, size, r)?;
    cpu.flags.set_sub(size, 0, a, r);
    Ok(())
}

fn not(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = op_size(ins, 0);
    let loc = cpu.loc(ins, 0);
    let a = cpu.read_loc_rmw(loc, size)?;
    cpu.write_loc(loc, size, !a & size.mask())
}

pub fn register(t: &mut Table) {
    t.mnemonic(Mnemonic::Add, add);
    t.mnemonic(Mnemonic::Or, or);
    t.mnemonic(Mnemonic::Adc, adc);
    t.mnemonic(Mnemonic::Sbb, sbb);
    t.mnemonic(Mnemonic::And, and);
    t.mnemonic(Mnemonic::Sub, sub);
    t.mnemonic(Mnemonic::Xor, xor);
    t.mnemonic(Mnemonic::Cmp, cmp);
    t.mnemonic(Mnemonic::Test, test);
    t.mnemonic(Mnemonic::Inc, inc);
    t.mnemonic(Mnemonic::Dec, dec);
    t.mnemonic(Mnemonic::Neg, neg);
    t.mnemonic(Mnemonic::Not, not);
}
