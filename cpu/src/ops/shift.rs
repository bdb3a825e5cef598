//! Shifts and rotates: ROL, ROR, RCL, RCR, SHL/SAL, SHR, SAR, SHLD, SHRD.
//!
//! The count is masked to 5 bits. A masked count of zero changes nothing (no flags, no
//! store). For counts above one the manuals leave OF undefined and for shifts AF too;
//! AMD family 19h computes OF with the count-of-one formula applied to the final result
//! (left: MSB(result) xor CF; right: MSB(result) xor next-to-MSB(result)) and sets AF.

use iced_x86::{Instruction, Mnemonic, OpKind};

use crate::ops::alu::dword_reg;

use crate::cache::Op;
use crate::cpu::{Cpu, Step};
use crate::fast::Fast;
use crate::flags::Size;
use crate::operand::op_size;
use crate::table::Table;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rol,
    Ror,
    Rcl,
    Rcr,
    Shl,
    Shr,
    Sar,
}

#[inline]
fn msb(size: Size, v: u32) -> bool {
    v & size.sign() != 0
}

#[inline]
fn msb2(size: Size, v: u32) -> bool {
    v & (size.sign() >> 1) != 0
}

#[inline(always)]
fn shift(cpu: &mut Cpu, ins: &Instruction, kind: Kind) -> Step {
    // Fast path: a 32-bit register shifted by an immediate, 1 or CL.
    if ins.op0_kind() == OpKind::Register {
        if let Some(d) = dword_reg(ins.op0_register()) {
            let count = match ins.op1_kind() {
                OpKind::Immediate8 => ins.immediate8() as u32,
                OpKind::Register => cpu.gpr[1],
                _ => 1,
            } & 31;
            if count != 0 {
                let (r, cf) = shift_value(cpu, kind, Size::B32, cpu.gpr[d], count);
                cpu.gpr[d] = r;
                shift_flags(cpu, kind, Size::B32, r, cf);
            }
            return Ok(());
        }
    }
    shift_general(cpu, ins, kind)
}

#[inline(never)]
fn shift_general(cpu: &mut Cpu, ins: &Instruction, kind: Kind) -> Step {
    let size = op_size(ins, 0);
    let count = if ins.op_count() > 1 { cpu.read_op(ins, 1, Size::B8)? } else { 1 } & 31;
    let loc = cpu.loc(ins, 0);
    let a = cpu.read_loc_rmw(loc, size)?;
    if count == 0 {
        return Ok(());
    }
    let (r, cf) = shift_value(cpu, kind, size, a, count);
    cpu.write_loc(loc, size, r)?;
    shift_flags(cpu, kind, size, r, cf);
    Ok(())
}

/// The result and carry of shifting `a` by a masked, non-zero `count`.
#[inline(always)]
fn shift_value(cpu: &Cpu, kind: Kind, size: Size, a: u32, count: u32) -> (u32, bool) {
    let bits = size.bits();
    let m = size.mask();
    let a64 = a as u64;
    match kind {
        Kind::Shl => {
            let r = (a64 << count) as u32 & m;
            let cf = (a64 << (count - 1)) >> (bits - 1) & 1 != 0;
            (r, cf)
        }
        Kind::Shr => ((a64 >> count) as u32, (a64 >> (count - 1)) & 1 != 0),
        Kind::Sar => {
            let s = size.sext(a) as i32 as i64;
            ((s >> count) as u32 & m, (s >> (count - 1)) & 1 != 0)
        }
        Kind::Rol => {
            let c = count % bits;
            let r = if c == 0 { a } else { ((a << c) | (a >> (bits - c))) & m };
            (r, r & 1 != 0)
        }
        Kind::Ror => {
            let c = count % bits;
            let r = if c == 0 { a } else { ((a >> c) | (a << (bits - c))) & m };
            (r, msb(size, r))
        }
        Kind::Rcl | Kind::Rcr => {
            let w = bits + 1;
            let c = count % w;
            let t = (cpu.flags.cf() as u64) << bits | a64;
            let c = if kind == Kind::Rcl { c } else { (w - c) % w };
            let rot = ((t << c) | (t >> ((w - c) % w))) & ((1u64 << w) - 1);
            let rot = if c == 0 { t } else { rot };
            (rot as u32 & m, rot >> bits & 1 != 0)
        }
    }
}

#[inline(always)]
fn shift_flags(cpu: &mut Cpu, kind: Kind, size: Size, r: u32, cf: bool) {
    let of = match kind {
        Kind::Shl | Kind::Rol | Kind::Rcl => msb(size, r) ^ cf,
        Kind::Shr | Kind::Sar | Kind::Ror | Kind::Rcr => msb(size, r) ^ msb2(size, r),
    };
    match kind {
        Kind::Shl | Kind::Shr | Kind::Sar => cpu.flags.set_result(size, r, cf, of, true),
        _ => cpu.flags.set_cf_of(cf, of),
    }
}

macro_rules! shift_handlers {
    ($($name:ident => $k:ident),*) => {
        $(fn $name(cpu: &mut Cpu, ins: &Instruction) -> Step { shift(cpu, ins, Kind::$k) })*
    };
}

shift_handlers!(rol => Rol, ror => Ror, rcl => Rcl, rcr => Rcr, shl => Shl, shr => Shr, sar => Sar);

const KINDS: [Kind; 7] = [Kind::Rol, Kind::Ror, Kind::Rcl, Kind::Rcr, Kind::Shl, Kind::Shr, Kind::Sar];

/// Fast handler (see `fast.rs`): a 32-bit register shifted by a constant count (the
/// count in `pre.imm`, already masked to 5 bits) or, with `CL`, by CL. Same arithmetic
/// and flags as [`shift`].
fn fast_shift<const K: u8, const CL: bool>(cpu: &mut Cpu, op: &Op) -> Step {
    let count = if CL { cpu.gpr[1] & 31 } else { op.pre.imm };
    if count != 0 {
        let kind = KINDS[K as usize];
        let d = op.pre.r0 as usize & 7;
        let (r, cf) = shift_value(cpu, kind, Size::B32, cpu.gpr[d], count);
        cpu.gpr[d] = r;
        shift_flags(cpu, kind, Size::B32, r, cf);
    }
    Ok(())
}

/// The fast handler for a shift or rotate of a register by a constant count or, with
/// `by_cl`, by CL.
pub(crate) fn fast_for(m: Mnemonic, by_cl: bool) -> Option<Fast> {
    const IMM: [Fast; 7] = [
        fast_shift::<0, false>,
        fast_shift::<1, false>,
        fast_shift::<2, false>,
        fast_shift::<3, false>,
        fast_shift::<4, false>,
        fast_shift::<5, false>,
        fast_shift::<6, false>,
    ];
    const BY_CL: [Fast; 7] = [
        fast_shift::<0, true>,
        fast_shift::<1, true>,
        fast_shift::<2, true>,
        fast_shift::<3, true>,
        fast_shift::<4, true>,
        fast_shift::<5, true>,
        fast_shift::<6, true>,
    ];
    let k = match m {
        Mnemonic::Rol => 0,
        Mnemonic::Ror => 1,
        Mnemonic::Rcl => 2,
        Mnemonic::Rcr => 3,
        Mnemonic::Shl | Mnemonic::Sal => 4,
        Mnemonic::Shr => 5,
        Mnemonic::Sar => 6,
        _ => return None,
    };
    Some(if by_cl { BY_CL[k] } else { IMM[k] })
}

/// SHLD/SHRD. Operands: dest (r/m), src (reg), count (imm8 or CL).
fn double_shift(cpu: &mut Cpu, ins: &Instruction, left: bool) -> Step {
    let size = op_size(ins, 0);
    let count = cpu.read_op(ins, 2, Size::B8)? & 31;
    let loc = cpu.loc(ins, 0);
    let b = cpu.read_op(ins, 1, size)?;
    let a = cpu.read_loc_rmw(loc, size)?;
    if count == 0 {
        return Ok(());
    }
    let (r, cf) = match size {
        Size::B32 => {
            let t = (a as u64) << 32 | b as u64;
            if left {
                let s = t << count;
                ((s >> 32) as u32, (t >> (64 - count)) & 1 != 0)
            } else {
                let t = (b as u64) << 32 | a as u64;
                ((t >> count) as u32, (t >> (count - 1)) & 1 != 0)
            }
        }
        _ => {
            // 16-bit operands: the manuals leave counts above 16 undefined. AMD family 19h
            // (Zen 4) shifts through a 48-bit value that repeats the source:
            // dest:src:src for SHLD, src:src:dest for SHRD (dest at the low end).
            let (a, b) = (a as u64, b as u64);
            if left {
                let t = a << 32 | b << 16 | b;
                (((t << count) >> 32) as u32 & 0xffff, (t >> (48 - count)) & 1 != 0)
            } else {
                let t = b << 32 | b << 16 | a;
                ((t >> count) as u32 & 0xffff, (t >> (count - 1)) & 1 != 0)
            }
        }
    };
    cpu.write_loc(loc, size, r)?;
    // Zen 4, 16-bit operands: counts above 16 give CF = 0, and SHLD's OF equals CF
    // for counts of 16 and above.
    let cf = cf && !(size == Size::B16 && count > 16);
    let of = match (left, size == Size::B16 && count >= 16) {
        (true, true) => cf,
        (true, false) => msb(size, r) ^ cf,
        (false, _) => msb(size, r) ^ msb2(size, r),
    };
    cpu.flags.set_result(size, r, cf, of, true);
    Ok(())
}

fn shld(cpu: &mut Cpu, ins: &Instruction) -> Step {
    double_shift(cpu, ins, true)
}

fn shrd(cpu: &mut Cpu, ins: &Instruction) -> Step {
    double_shift(cpu, ins, false)
}

pub fn register(t: &mut Table) {
    t.mnemonic(Mnemonic::Rol, rol);
    t.mnemonic(Mnemonic::Ror, ror);
    t.mnemonic(Mnemonic::Rcl, rcl);
    t.mnemonic(Mnemonic::Rcr, rcr);
    t.mnemonic(Mnemonic::Shl, shl);
    t.mnemonic(Mnemonic::Sal, shl);
    t.mnemonic(Mnemonic::Shr, shr);
    t.mnemonic(Mnemonic::Sar, sar);
    t.mnemonic(Mnemonic::Shld, shld);
    t.mnemonic(Mnemonic::Shrd, shrd);
}
