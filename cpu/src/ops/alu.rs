//! Two-operand arithmetic and logic (ADD, OR, ADC, SBB, AND, SUB, XOR, CMP, TEST) and the
//! one-operand INC, DEC, NEG, NOT.

use iced_x86::{Instruction, Mnemonic};

use crate::cpu::{Cpu, Step};
use crate::flags::Size;
use crate::operand::op_size;
use crate::table::Table;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
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

/// Computes `a op b` at `size`, sets the flags, and returns the (masked) result.
#[inline]
fn compute(cpu: &mut Cpu, op: Op, size: Size, a: u32, b: u32) -> u32 {
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

#[inline]
fn binary(cpu: &mut Cpu, ins: &Instruction, op: Op) -> Step {
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
    let of = if dec { a == size.sign() } else { r == size.sign() };
    let af = if dec { a & 0xf == 0 } else { r & 0xf == 0 };
    let cf = cpu.flags.cf();
    cpu.flags.set_result(size, r, cf, of, af);
    Ok(())
}

fn inc(cpu: &mut Cpu, ins: &Instruction) -> Step {
    inc_dec(cpu, ins, false)
}

fn dec(cpu: &mut Cpu, ins: &Instruction) -> Step {
    inc_dec(cpu, ins, true)
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
