//! Packed integer arithmetic, comparisons, logic, shifts, packs and unpacks, on MMX
//! (8-byte) and XMM (16-byte) registers alike: `dst = op(dst, src)` where the source is
//! a register, memory or (for the shifts by immediate) an imm8.

use iced_x86::{Instruction, Mnemonic, OpKind};

use super::{build, enter, lane, read_op, sext, width, write_op};
use crate::cpu::{Cpu, Step};
use crate::flags::bits;
use crate::table::Table;

/// Signed saturation of `v` to `bits`.
#[inline]
fn sat_s(v: i64, bits: u32) -> u64 {
    let max = (1i64 << (bits - 1)) - 1;
    v.clamp(-max - 1, max) as u64
}

/// Unsigned saturation of `v` to `bits`.
#[inline]
fn sat_u(v: i64, bits: u32) -> u64 {
    v.clamp(0, (1i64 << bits) - 1) as u64
}

/// Lane-wise `f(a[i], b[i])` over a vector of `w` bytes.
#[inline]
fn map2(a: u128, b: u128, bits: u32, w: usize, f: impl Fn(u64, u64) -> u64) -> u128 {
    build(w * 8 / bits as usize, bits, |i| f(lane(a, bits, i), lane(b, bits, i)))
}

/// Horizontal pairs: the low half of the result from pairs of `a`, the high half from
/// pairs of `b`.
#[inline]
fn hpairs(a: u128, b: u128, bits: u32, w: usize, f: impl Fn(u64, u64) -> u64) -> u128 {
    let n = w * 8 / bits as usize;
    build(n, bits, |i| {
        let (v, k) = if i < n / 2 { (a, 2 * i) } else { (b, 2 * (i - n / 2)) };
        f(lane(v, bits, k), lane(v, bits, k + 1))
    })
}

/// Packs lanes of `from` bits of `a` (low half) and `b` (high half) to half width.
#[inline]
fn pack(a: u128, b: u128, from: u32, w: usize, sat: fn(i64, u32) -> u64) -> u128 {
    let n = w * 8 / from as usize; // source lanes per operand
    build(2 * n, from / 2, |i| {
        let (v, k) = if i < n { (a, i) } else { (b, i - n) };
        sat(sext(lane(v, from, k), from), from / 2)
    })
}

/// Interleaves the low (or high) halves of `a` and `b`.
#[inline]
fn unpack(a: u128, b: u128, bits: u32, w: usize, high: bool) -> u128 {
    let n = w * 8 / bits as usize;
    let base = if high { n / 2 } else { 0 };
    build(n, bits, |i| lane(if i & 1 == 0 { a } else { b }, bits, base + i / 2))
}

/// Shifts every lane by `count` (the full 64-bit count: anything >= the lane width
/// clears the lane, or fills it with the sign for arithmetic shifts).
#[inline]
fn shift(a: u128, count: u64, bits: u32, w: usize, kind: u8) -> u128 {
    map2(a, 0, bits, w, |x, _| match kind {
        0 if count < bits as u64 => x << count,
        1 if count < bits as u64 => x >> count,
        2 => (sext(x, bits) >> count.min(bits as u64 - 1)) as u64,
        _ => 0,
    })
}

fn cmp_mask(c: bool) -> u64 {
    if c {
        u64::MAX
    } else {
        0
    }
}

/// The operation of a two-operand packed-integer mnemonic on vectors of `w` bytes.
pub(crate) fn binop(m: Mnemonic, a: u128, b: u128, w: usize) -> u128 {
    use Mnemonic as M;
    let wm = super::vmask(w);
    let s8 = |x: u64| sext(x, 8);
    let s16 = |x: u64| sext(x, 16);
    let s32 = |x: u64| sext(x, 32);
    let r = match m {
        M::Paddb => map2(a, b, 8, w, u64::wrapping_add),
        M::Paddw => map2(a, b, 16, w, u64::wrapping_add),
        M::Paddd => map2(a, b, 32, w, u64::wrapping_add),
        M::Paddq => map2(a, b, 64, w, u64::wrapping_add),
        M::Psubb => map2(a, b, 8, w, u64::wrapping_sub),
        M::Psubw => map2(a, b, 16, w, u64::wrapping_sub),
        M::Psubd => map2(a, b, 32, w, u64::wrapping_sub),
        M::Psubq => map2(a, b, 64, w, u64::wrapping_sub),
        M::Paddsb => map2(a, b, 8, w, |x, y| sat_s(s8(x) + s8(y), 8)),
        M::Paddsw => map2(a, b, 16, w, |x, y| sat_s(s16(x) + s16(y), 16)),
        M::Psubsb => map2(a, b, 8, w, |x, y| sat_s(s8(x) - s8(y), 8)),
        M::Psubsw => map2(a, b, 16, w, |x, y| sat_s(s16(x) - s16(y), 16)),
        M::Paddusb => map2(a, b, 8, w, |x, y| sat_u(x as i64 + y as i64, 8)),
        M::Paddusw => map2(a, b, 16, w, |x, y| sat_u(x as i64 + y as i64, 16)),
        M::Psubusb => map2(a, b, 8, w, |x, y| sat_u(x as i64 - y as i64, 8)),
        M::Psubusw => map2(a, b, 16, w, |x, y| sat_u(x as i64 - y as i64, 16)),
        M::Pmullw => map2(a, b, 16, w, |x, y| x.wrapping_mul(y)),
        M::Pmulhw => map2(a, b, 16, w, |x, y| ((s16(x) * s16(y)) >> 16) as u64),
        M::Pmulhuw => map2(a, b, 16, w, |x, y| (x * y) >> 16),
        M::Pmulhrsw => map2(a, b, 16, w, |x, y| ((((s16(x) * s16(y)) >> 14) + 1) >> 1) as u64),
        M::Pmulld => map2(a, b, 32, w, |x, y| x.wrapping_mul(y)),
        M::Pmuludq => map2(a, b, 64, w, |x, y| (x & 0xffff_ffff) * (y & 0xffff_ffff)),
        M::Pmuldq => map2(a, b, 64, w, |x, y| (s32(x & 0xffff_ffff) * s32(y & 0xffff_ffff)) as u64),
        M::Pmaddwd => build(w / 4, 32, |i| {
            let p = |k: usize| s16(lane(a, 16, k)) * s16(lane(b, 16, k));
            (p(2 * i) + p(2 * i + 1)) as u64
        }),
        M::Pmaddubsw => build(w / 2, 16, |i| {
            let p = |k: usize| lane(a, 8, k) as i64 * s8(lane(b, 8, k));
            sat_s(p(2 * i) + p(2 * i + 1), 16)
        }),
        M::Pavgb => map2(a, b, 8, w, |x, y| (x + y + 1) >> 1),
        M::Pavgw => map2(a, b, 16, w, |x, y| (x + y + 1) >> 1),
        M::Pminub => map2(a, b, 8, w, u64::min),
        M::Pmaxub => map2(a, b, 8, w, u64::max),
        M::Pminuw => map2(a, b, 16, w, u64::min),
        M::Pmaxuw => map2(a, b, 16, w, u64::max),
        M::Pminud => map2(a, b, 32, w, u64::min),
        M::Pmaxud => map2(a, b, 32, w, u64::max),
        M::Pminsb => map2(a, b, 8, w, |x, y| s8(x).min(s8(y)) as u64),
        M::Pmaxsb => map2(a, b, 8, w, |x, y| s8(x).max(s8(y)) as u64),
        M::Pminsw => map2(a, b, 16, w, |x, y| s16(x).min(s16(y)) as u64),
        M::Pmaxsw => map2(a, b, 16, w, |x, y| s16(x).max(s16(y)) as u64),
        M::Pminsd => map2(a, b, 32, w, |x, y| s32(x).min(s32(y)) as u64),
        M::Pmaxsd => map2(a, b, 32, w, |x, y| s32(x).max(s32(y)) as u64),
        M::Pcmpeqb => map2(a, b, 8, w, |x, y| cmp_mask(x == y)),
        M::Pcmpeqw => map2(a, b, 16, w, |x, y| cmp_mask(x == y)),
        M::Pcmpeqd => map2(a, b, 32, w, |x, y| cmp_mask(x == y)),
        M::Pcmpeqq => map2(a, b, 64, w, |x, y| cmp_mask(x == y)),
        M::Pcmpgtb => map2(a, b, 8, w, |x, y| cmp_mask(s8(x) > s8(y))),
        M::Pcmpgtw => map2(a, b, 16, w, |x, y| cmp_mask(s16(x) > s16(y))),
        M::Pcmpgtd => map2(a, b, 32, w, |x, y| cmp_mask(s32(x) > s32(y))),
        M::Pcmpgtq => map2(a, b, 64, w, |x, y| cmp_mask((x as i64) > (y as i64))),
        M::Pand | M::Andps | M::Andpd => a & b,
        M::Pandn | M::Andnps | M::Andnpd => !a & b,
        M::Por | M::Orps | M::Orpd => a | b,
        M::Pxor | M::Xorps | M::Xorpd => a ^ b,
        M::Psadbw => {
            build(w / 8, 64, |q| (0..8).map(|k| lane(a, 8, 8 * q + k).abs_diff(lane(b, 8, 8 * q + k))).sum())
        }
        M::Psignb | M::Psignw | M::Psignd => {
            let bits = match m {
                M::Psignb => 8,
                M::Psignw => 16,
                _ => 32,
            };
            map2(a, b, bits, w, |x, y| match sext(y, bits).signum() {
                -1 => x.wrapping_neg(),
                0 => 0,
                _ => x,
            })
        }
        M::Pabsb => map2(a, b, 8, w, |_, y| s8(y).unsigned_abs()),
        M::Pabsw => map2(a, b, 16, w, |_, y| s16(y).unsigned_abs()),
        M::Pabsd => map2(a, b, 32, w, |_, y| s32(y).unsigned_abs()),
        M::Phaddw => hpairs(a, b, 16, w, u64::wrapping_add),
        M::Phaddd => hpairs(a, b, 32, w, u64::wrapping_add),
        M::Phsubw => hpairs(a, b, 16, w, u64::wrapping_sub),
        M::Phsubd => hpairs(a, b, 32, w, u64::wrapping_sub),
        M::Phaddsw => hpairs(a, b, 16, w, |x, y| sat_s(s16(x) + s16(y), 16)),
        M::Phsubsw => hpairs(a, b, 16, w, |x, y| sat_s(s16(x) - s16(y), 16)),
        M::Packsswb => pack(a, b, 16, w, sat_s),
        M::Packssdw => pack(a, b, 32, w, sat_s),
        M::Packuswb => pack(a, b, 16, w, sat_u),
        M::Packusdw => pack(a, b, 32, w, sat_u),
        M::Punpcklbw => unpack(a, b, 8, w, false),
        M::Punpcklwd => unpack(a, b, 16, w, false),
        M::Punpckldq | M::Unpcklps => unpack(a, b, 32, w, false),
        M::Punpcklqdq | M::Unpcklpd => unpack(a, b, 64, w, false),
        M::Punpckhbw => unpack(a, b, 8, w, true),
        M::Punpckhwd => unpack(a, b, 16, w, true),
        M::Punpckhdq | M::Unpckhps => unpack(a, b, 32, w, true),
        M::Punpckhqdq | M::Unpckhpd => unpack(a, b, 64, w, true),
        M::Psllw => shift(a, b as u64, 16, w, 0),
        M::Pslld => shift(a, b as u64, 32, w, 0),
        M::Psllq => shift(a, b as u64, 64, w, 0),
        M::Psrlw => shift(a, b as u64, 16, w, 1),
        M::Psrld => shift(a, b as u64, 32, w, 1),
        M::Psrlq => shift(a, b as u64, 64, w, 1),
        M::Psraw => shift(a, b as u64, 16, w, 2),
        M::Psrad => shift(a, b as u64, 32, w, 2),
        M::Pslldq => {
            let n = b as u64;
            if n > 15 {
                0
            } else {
                a << (8 * n)
            }
        }
        M::Psrldq => {
            let n = b as u64;
            if n > 15 {
                0
            } else {
                a >> (8 * n)
            }
        }
        M::Pshufb => build(w, 8, |i| {
            let sel = lane(b, 8, i);
            if sel & 0x80 != 0 {
                0
            } else {
                lane(a, 8, sel as usize & (w - 1))
            }
        }),
        _ => unreachable!("packed integer op {m:?}"),
    };
    r & wm
}

/// `dst = op(dst, src)` for packed integer and logic instructions.
fn int_binop(cpu: &mut Cpu, ins: &Instruction) -> Step {
    use Mnemonic as M;
    enter(cpu, ins)?;
    // Measured: the low unpacks and the shifts by an XMM count load only the low 8 bytes
    // of their m128 operand (alignment is still checked for 16).
    let low_half = matches!(
        ins.mnemonic(),
        M::Punpcklbw
            | M::Punpcklwd
            | M::Punpckldq
            | M::Punpcklqdq
            | M::Unpcklps
            | M::Unpcklpd
            | M::Psllw
            | M::Pslld
            | M::Psllq
            | M::Psrlw
            | M::Psrld
            | M::Psrlq
            | M::Psraw
            | M::Psrad
    ) && ins.op_kind(1) == OpKind::Memory
        && ins.memory_size().size() == 16;
    let b = if low_half { super::read_mem_n(cpu, ins, 8)? } else { read_op(cpu, ins, 1)? };
    let a = super::reg_value(cpu, ins.op_register(0));
    write_op(cpu, ins, 0, binop(ins.mnemonic(), a, b, width(ins)))
}

/// PALIGNR: the concatenation dst:src shifted right by imm8 bytes.
fn palignr(cpu: &mut Cpu, ins: &Instruction) -> Step {
    enter(cpu, ins)?;
    let b = read_op(cpu, ins, 1)?;
    let a = super::reg_value(cpu, ins.op_register(0));
    let w = width(ins);
    let n = ins.immediate8() as usize;
    let byte = |k: usize| -> u64 {
        match k {
            _ if k < w => lane(b, 8, k),
            _ if k < 2 * w => lane(a, 8, k - w),
            _ => 0,
        }
    };
    write_op(cpu, ins, 0, build(w, 8, |i| byte(i + n)))
}

/// PMOVSX/PMOVZX: widen the low lanes of the source.
fn pmovx(cpu: &mut Cpu, ins: &Instruction) -> Step {
    use Mnemonic as M;
    let src = read_op(cpu, ins, 1)?;
    let (from, to, signed) = match ins.mnemonic() {
        M::Pmovsxbw => (8, 16, true),
        M::Pmovsxbd => (8, 32, true),
        M::Pmovsxbq => (8, 64, true),
        M::Pmovsxwd => (16, 32, true),
        M::Pmovsxwq => (16, 64, true),
        M::Pmovsxdq => (32, 64, true),
        M::Pmovzxbw => (8, 16, false),
        M::Pmovzxbd => (8, 32, false),
        M::Pmovzxbq => (8, 64, false),
        M::Pmovzxwd => (16, 32, false),
        M::Pmovzxwq => (16, 64, false),
        _ => (32, 64, false),
    };
    let v = build(128 / to as usize, to, |i| {
        let x = lane(src, from, i);
        if signed {
            sext(x, from) as u64
        } else {
            x
        }
    });
    write_op(cpu, ins, 0, v)
}

/// PTEST: ZF = (dst AND src) == 0, CF = (NOT dst AND src) == 0; OF, AF, SF, PF cleared.
fn ptest(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let b = read_op(cpu, ins, 1)?;
    let a = super::reg_value(cpu, ins.op_register(0));
    let mut f = 0;
    if a & b == 0 {
        f |= bits::ZF;
    }
    if !a & b == 0 {
        f |= bits::CF;
    }
    cpu.flags.set_masked(f, bits::CF | bits::PF | bits::AF | bits::ZF | bits::SF | bits::OF);
    Ok(())
}

/// PHMINPOSUW: the smallest unsigned word and its (lowest) index; other bits zero.
fn phminposuw(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let b = read_op(cpu, ins, 1)?;
    let (idx, min) = (0..8).map(|i| (i, lane(b, 16, i))).min_by_key(|&(i, v)| (v, i)).unwrap_or((0, 0));
    write_op(cpu, ins, 0, min as u128 | (idx as u128) << 16)
}

/// MPSADBW: eight sums of absolute differences of 4-byte groups; imm8[2] selects the
/// destination's starting byte (0 or 4), imm8[1:0] the source's 4-byte block.
fn mpsadbw(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let b = read_op(cpu, ins, 1)?;
    let a = super::reg_value(cpu, ins.op_register(0));
    let imm = ins.immediate8() as usize;
    let ao = (imm >> 2 & 1) * 4;
    let bo = (imm & 3) * 4;
    let v = build(8, 16, |i| (0..4).map(|j| lane(a, 8, ao + i + j).abs_diff(lane(b, 8, bo + j))).sum());
    write_op(cpu, ins, 0, v)
}

pub fn register(t: &mut Table) {
    use Mnemonic as M;
    t.mnemonics(
        &[
            M::Paddb,
            M::Paddw,
            M::Paddd,
            M::Paddq,
            M::Psubb,
            M::Psubw,
            M::Psubd,
            M::Psubq,
            M::Paddsb,
            M::Paddsw,
            M::Psubsb,
            M::Psubsw,
            M::Paddusb,
            M::Paddusw,
            M::Psubusb,
            M::Psubusw,
            M::Pmullw,
            M::Pmulhw,
            M::Pmulhuw,
            M::Pmulhrsw,
            M::Pmulld,
            M::Pmuludq,
            M::Pmuldq,
            M::Pmaddwd,
            M::Pmaddubsw,
            M::Pavgb,
            M::Pavgw,
            M::Pminub,
            M::Pmaxub,
            M::Pminuw,
            M::Pmaxuw,
            M::Pminud,
            M::Pmaxud,
            M::Pminsb,
            M::Pmaxsb,
            M::Pminsw,
            M::Pmaxsw,
            M::Pminsd,
            M::Pmaxsd,
            M::Pcmpeqb,
            M::Pcmpeqw,
            M::Pcmpeqd,
            M::Pcmpeqq,
            M::Pcmpgtb,
            M::Pcmpgtw,
            M::Pcmpgtd,
            M::Pcmpgtq,
            M::Pand,
            M::Andps,
            M::Andpd,
            M::Pandn,
            M::Andnps,
            M::Andnpd,
            M::Por,
            M::Orps,
            M::Orpd,
            M::Pxor,
            M::Xorps,
            M::Xorpd,
            M::Psadbw,
            M::Psignb,
            M::Psignw,
            M::Psignd,
            M::Pabsb,
            M::Pabsw,
            M::Pabsd,
            M::Phaddw,
            M::Phaddd,
            M::Phsubw,
            M::Phsubd,
            M::Phaddsw,
            M::Phsubsw,
            M::Packsswb,
            M::Packssdw,
            M::Packuswb,
            M::Packusdw,
            M::Punpcklbw,
            M::Punpcklwd,
            M::Punpckldq,
            M::Punpcklqdq,
            M::Unpcklps,
            M::Unpcklpd,
            M::Punpckhbw,
            M::Punpckhwd,
            M::Punpckhdq,
            M::Punpckhqdq,
            M::Unpckhps,
            M::Unpckhpd,
            M::Psllw,
            M::Pslld,
            M::Psllq,
            M::Psrlw,
            M::Psrld,
            M::Psrlq,
            M::Psraw,
            M::Psrad,
            M::Pslldq,
            M::Psrldq,
            M::Pshufb,
        ],
        int_binop,
    );
    t.mnemonic(M::Palignr, palignr);
    t.mnemonics(
        &[
            M::Pmovsxbw,
            M::Pmovsxbd,
            M::Pmovsxbq,
            M::Pmovsxwd,
            M::Pmovsxwq,
            M::Pmovsxdq,
            M::Pmovzxbw,
            M::Pmovzxbd,
            M::Pmovzxbq,
            M::Pmovzxwd,
            M::Pmovzxwq,
            M::Pmovzxdq,
        ],
        pmovx,
    );
    t.mnemonic(M::Ptest, ptest);
    t.mnemonic(M::Phminposuw, phminposuw);
    t.mnemonic(M::Mpsadbw, mpsadbw);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturating_and_wrapping_lanes() {
        let r = binop(Mnemonic::Paddsw, 0x7fff_8000, 0x0001_ffff, 8);
        assert_eq!(r, 0x7fff_8000);
        assert_eq!(binop(Mnemonic::Paddw, 0xffff, 1, 8), 0);
        assert_eq!(binop(Mnemonic::Psubusb, 0x10, 0x20, 16), 0);
        assert_eq!(binop(Mnemonic::Pmulhrsw, 0x4000, 0x4000, 8), 0x2000);
    }

    #[test]
    fn packs_and_unpacks_by_width() {
        // MMX: the low half from dst, the high half from src.
        assert_eq!(binop(Mnemonic::Packsswb, 0x0001_7fff_8000_0100, 0x0002, 8), 0x0000_0002_017f_807f);
        assert_eq!(binop(Mnemonic::Punpcklbw, 0x0201, 0x0403, 8), 0x0402_0301);
        assert_eq!(binop(Mnemonic::Punpckhqdq, 1 << 64, 2 << 64, 16), 1 | 2 << 64);
    }

    #[test]
    fn shifts_use_the_whole_count() {
        assert_eq!(binop(Mnemonic::Psrlw, 0x8000, 15, 8), 1);
        assert_eq!(binop(Mnemonic::Psrlw, 0x8000, 1 << 32, 8), 0);
        assert_eq!(binop(Mnemonic::Psraw, 0x8000, 100, 8), 0xffff);
        assert_eq!(binop(Mnemonic::Pslldq, 1, 16, 16), 0);
    }

    #[test]
    fn pshufb_indexes_within_the_register() {
        // MMX uses index bits 2:0 only.
        assert_eq!(binop(Mnemonic::Pshufb, 0x0807_0605_0403_0201, 0x0f, 8), 0x0101_0101_0101_0108);
        assert_eq!(binop(Mnemonic::Pshufb, 0xff, 0x80, 16), u128::MAX << 8);
    }
}
