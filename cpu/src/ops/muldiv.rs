//! MUL, IMUL (one, two and three operands), DIV and IDIV.
//!
//! Undefined flags follow AMD family 19h: multiplies keep SF, ZF, AF and PF; a division
//! that does not fault keeps CF and OF and sets SF = ZF = PF = 0, AF = 1.

use iced_x86::{Instruction, Mnemonic};

use crate::cpu::{Cpu, Step};
use crate::exception::Exception;
use crate::flags::Size;
use crate::operand::op_size;
use crate::regs::gpr::{EAX, EDX};
use crate::table::Table;

/// Reads the implicit accumulator pair as one value: AX (8-bit forms), DX:AX, EDX:EAX.
fn read_acc(cpu: &Cpu, size: Size) -> u64 {
    let (a, d) = (cpu.gpr[EAX] as u64, cpu.gpr[EDX] as u64);
    match size {
        Size::B8 => a & 0xffff,
        Size::B16 => (d & 0xffff) << 16 | (a & 0xffff),
        Size::B32 => d << 32 | a,
    }
}

/// Writes a double-width result: AH:AL, DX:AX or EDX:EAX.
fn write_pair(cpu: &mut Cpu, size: Size, lo: u32, hi: u32) {
    match size {
        Size::B8 => cpu.gpr[EAX] = (cpu.gpr[EAX] & !0xffff) | (hi & 0xff) << 8 | (lo & 0xff),
        Size::B16 => {
            cpu.gpr[EAX] = (cpu.gpr[EAX] & !0xffff) | (lo & 0xffff);
            cpu.gpr[EDX] = (cpu.gpr[EDX] & !0xffff) | (hi & 0xffff);
        }
        Size::B32 => {
            cpu.gpr[EAX] = lo;
            cpu.gpr[EDX] = hi;
        }
    }
}

fn mul(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = op_size(ins, 0);
    let src = cpu.read_op(ins, 0, size)? as u64;
    let a = (cpu.gpr[EAX] & size.mask()) as u64;
    let p = a * src;
    let hi = (p >> size.bits()) as u32;
    write_pair(cpu, size, p as u32, hi);
    cpu.flags.set_cf_of(hi != 0, hi != 0);
    Ok(())
}

fn imul(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = op_size(ins, 0);
    let sext = |v: u32| size.sext(v) as i32 as i64;
    if ins.op_count() == 1 {
        let src = sext(cpu.read_op(ins, 0, size)?);
        let p = sext(cpu.gpr[EAX]) * src;
        let lo = p as u32 & size.mask();
        let hi = (p >> size.bits()) as u32;
        write_pair(cpu, size, lo, hi);
        let overflow = sext(lo) != p;
        cpu.flags.set_cf_of(overflow, overflow);
        return Ok(());
    }
    let (a, b) = if ins.op_count() == 2 {
        (cpu.read_op(ins, 0, size)?, cpu.read_op(ins, 1, size)?)
    } else {
        (cpu.read_op(ins, 1, size)?, cpu.read_op(ins, 2, size)?)
    };
    let p = sext(a) * sext(b);
    let r = p as u32 & size.mask();
    cpu.write_op(ins, 0, size, r)?;
    let overflow = sext(r) != p;
    cpu.flags.set_cf_of(overflow, overflow);
    Ok(())
}

fn div_flags(cpu: &mut Cpu) {
    cpu.flags.set_szap(false, false, true, false);
}

fn div(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = op_size(ins, 0);
    let d = cpu.read_op(ins, 0, size)? as u64;
    if d == 0 {
        return Err(Exception::de().into());
    }
    let n = read_acc(cpu, size);
    let q = n / d;
    if q > size.mask() as u64 {
        return Err(Exception::de().into());
    }
    write_pair(cpu, size, q as u32, (n % d) as u32);
    div_flags(cpu);
    Ok(())
}

fn idiv(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = op_size(ins, 0);
    let d = size.sext(cpu.read_op(ins, 0, size)?) as i32 as i64;
    if d == 0 {
        return Err(Exception::de().into());
    }
    let raw = read_acc(cpu, size);
    let bits = 2 * size.bits();
    let n = ((raw << (64 - bits)) as i64) >> (64 - bits);
    // i64::MIN / -1 cannot occur: n has at most 64 significant bits only for 32-bit
    // operands, where it is checked below by the quotient range instead.
    let (q, r) = match (n.checked_div(d), n.checked_rem(d)) {
        (Some(q), Some(r)) => (q, r),
        _ => return Err(Exception::de().into()),
    };
    let max = (size.sign() - 1) as i64;
    if q > max || q < -max - 1 {
        return Err(Exception::de().into());
    }
    write_pair(cpu, size, q as u32 & size.mask(), r as u32 & size.mask());
    div_flags(cpu);
    Ok(())
}

pub fn register(t: &mut Table) {
    t.mnemonic(Mnemonic::Mul, mul);
    t.mnemonic(Mnemonic::Imul, imul);
    t.mnemonic(Mnemonic::Div, div);
    t.mnemonic(Mnemonic::Idiv, idiv);
}
