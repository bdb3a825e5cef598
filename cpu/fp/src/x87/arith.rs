//! FADD, FSUB, FMUL, FDIV, FSQRT: exact results rounded once, honouring precision
//! control.

use super::{exact, inf, invalid, round_reg, screen1, screen2, zero, Opnd};
use crate::round::{shr_jam, Unpacked};
use crate::types::{Exceptions, FpResult, Rounding, X87Control, F80};

/// Exact sum of two nonzero finite values (jammed); sig == 0 for an exact zero.
pub(crate) fn add_exact(a: Unpacked, b: Unpacked) -> Unpacked {
    let (x, y) = if (a.exp, a.sig) >= (b.exp, b.sig) { (a, b) } else { (b, a) };
    let d = (x.exp as i64 - y.exp as i64).min(200) as u32;
    let xs = shr_jam(x.sig, 1);
    let ys = shr_jam(y.sig, d.saturating_add(1));
    if x.sign == y.sign {
        Unpacked::normalized(x.sign, x.exp + 1, xs + ys)
    } else {
        Unpacked::normalized(x.sign, x.exp + 1, xs - ys)
    }
}

/// Exact product (jammed) of two normalized values.
pub(crate) fn mul_exact(a: Unpacked, b: Unpacked) -> Unpacked {
    let (hi, lo) = mul128(a.sig, b.sig);
    Unpacked::normalized(a.sign ^ b.sign, a.exp + b.exp + 1, hi | (lo != 0) as u128)
}

/// Full 128x128 -> 256-bit product as (high, low).
pub(crate) fn mul128(a: u128, b: u128) -> (u128, u128) {
    let (a1, a0) = (a >> 64, a & (u64::MAX as u128));
    let (b1, b0) = (b >> 64, b & (u64::MAX as u128));
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & u64::MAX as u128) + (p10 & u64::MAX as u128);
    let lo = (p00 & u64::MAX as u128) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

/// Quotient of two normalized values with 128 significant bits (jammed).
pub(crate) fn div_exact(a: Unpacked, b: Unpacked) -> Unpacked {
    // Operands of 64 significant bits (every x87 register and memory format) divide
    // with two 128-by-64-bit steps; the result is the same 128-bit quotient and sticky
    // bit as the bit-by-bit division below (tested against it).
    if a.sig as u64 == 0 && b.sig as u64 == 0 {
        return div_exact_64(a, b);
    }
    div_exact_bitwise(a, b)
}

/// [`div_exact`] for significands whose low 64 bits are zero.
fn div_exact_64(a: Unpacked, b: Unpacked) -> Unpacked {
    let (n, d) = (a.sig >> 64, b.sig >> 64);
    // The quotient's leading bit is set: take one more numerator bit when n < d.
    let (n, exp) = if n >= d { (n, a.exp - b.exp) } else { (n << 1, a.exp - b.exp - 1) };
    let q_hi = (n << 63) / d;
    let r = (n << 63) % d;
    let q_lo = (r << 64) / d;
    let r2 = (r << 64) % d;
    Unpacked { sign: a.sign ^ b.sign, exp, sig: (q_hi << 64) | q_lo | (r2 != 0) as u128 }
}

/// Long division of a.sig / b.sig, 130 quotient bits, one bit at a time on the high
/// 128 bits (the operands' low bits are folded in through the remainder).
pub(crate) fn div_exact_bitwise(a: Unpacked, b: Unpacked) -> Unpacked {
    let mut rem_hi: u128 = a.sig;
    let d = b.sig;
    let mut q: u128;
    let mut exp = a.exp - b.exp;
    // First quotient bit: a >= b ?
    if rem_hi >= d {
        rem_hi -= d;
        q = 1;
    } else {
        exp -= 1;
        // shift in the next bit
        let carry = rem_hi >> 127;
        rem_hi <<= 1;
        if carry != 0 || rem_hi >= d {
            rem_hi = rem_hi.wrapping_sub(d);
        }
        q = 1;
    }
    for _ in 0..127 {
        let carry = rem_hi >> 127;
        rem_hi <<= 1;
        q <<= 1;
        if carry != 0 || rem_hi >= d {
            rem_hi = rem_hi.wrapping_sub(d);
            q |= 1;
        }
    }
    Unpacked { sign: a.sign ^ b.sign, exp, sig: q | (rem_hi != 0) as u128 }
}

/// Correctly rounded square root significand (jammed) of a positive normalized value.
pub(crate) fn sqrt_exact(a: Unpacked) -> Unpacked {
    // value = m * 2^(e-127) with m = a.sig; root of m * 2^s computed bitwise on a
    // 250-bit radicand (m << s) with s chosen for parity; root < 2^125.
    let e = a.exp - 127;
    // radicand = a.sig << s, s in {121, 122}: 249/250 bits.
    let s: i32 = if (e - 121).rem_euclid(2) == 0 { 121 } else { 122 };
    let hi = a.sig >> (128 - s); // bits above 128 of the radicand
    let lo = a.sig << s; // low 128 bits
    let mut rem: u128 = 0;
    let mut root: u128 = 0;
    for i in (0..125).rev() {
        let pos = 2 * i as u32; // bit position of the low bit of the pair
        let pair = if pos >= 128 { (hi >> (pos - 128)) & 3 } else { (lo >> pos) & 3 };
        rem = (rem << 2) | pair;
        let trial = (root << 2) | 1;
        if rem >= trial {
            rem -= trial;
            root = (root << 1) | 1;
        } else {
            root <<= 1;
        }
    }
    // sqrt(value) = root * 2^((e - s)/2)
    Unpacked::normalized(false, (e - s) / 2 + 127, root | (rem != 0) as u128)
}

fn fin_or_zero(x: Unpacked, p: u32, ctl: X87Control, flags: Exceptions, zero_sign: bool) -> FpResult<F80> {
    if x.sig == 0 {
        exact(zero(zero_sign), flags, ctl)
    } else {
        round_reg(x, p, ctl, flags)
    }
}

/// FADD: `a + b`.
///
/// ```
/// use x86wow_fp::{x87, X87Control, F80};
/// let r = x87::add(F80::ONE, F80::ONE, X87Control::default());
/// assert_eq!(r.value, F80::new(0x4000, 1 << 63)); // 2.0
/// assert!(r.flags.is_empty() && !r.c1 && r.write);
/// ```
pub fn add(a: F80, b: F80, ctl: X87Control) -> FpResult<F80> {
    addsub(a, b, false, ctl)
}

/// FSUB: `a - b` (FSUBR is `sub(b, a)`).
pub fn sub(a: F80, b: F80, ctl: X87Control) -> FpResult<F80> {
    addsub(a, b, true, ctl)
}

fn addsub(a: F80, b: F80, negate_b: bool, ctl: X87Control) -> FpResult<F80> {
    let (ua, ub, flags) = match screen2(a, b, ctl) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let p = ctl.precision.bits();
    let down = ctl.rounding == Rounding::Down;
    let neg = |o: Opnd| match o {
        Opnd::Zero(s) => Opnd::Zero(!s),
        Opnd::Inf(s) => Opnd::Inf(!s),
        Opnd::Fin(u) => Opnd::Fin(Unpacked { sign: !u.sign, ..u }),
        other => other,
    };
    let ub = if negate_b { neg(ub) } else { ub };
    match (ua, ub) {
        (Opnd::Inf(sa), Opnd::Inf(sb)) => {
            if sa == sb {
                exact(inf(sa), flags, ctl)
            } else {
                invalid(ctl)
            }
        }
        (Opnd::Inf(s), _) | (_, Opnd::Inf(s)) => exact(inf(s), flags, ctl),
        (Opnd::Zero(sa), Opnd::Zero(sb)) => {
            let s = if sa == sb { sa } else { down };
            exact(zero(s), flags, ctl)
        }
        (Opnd::Zero(_), Opnd::Fin(x)) | (Opnd::Fin(x), Opnd::Zero(_)) => round_reg(x, p, ctl, flags),
        (Opnd::Fin(x), Opnd::Fin(y)) => fin_or_zero(add_exact(x, y), p, ctl, flags, down),
        _ => invalid(ctl),
    }
}

/// FMUL: `a * b`.
pub fn mul(a: F80, b: F80, ctl: X87Control) -> FpResult<F80> {
    let (ua, ub, flags) = match screen2(a, b, ctl) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let s = a.sign() ^ b.sign();
    match (ua, ub) {
        (Opnd::Inf(_), Opnd::Zero(_)) | (Opnd::Zero(_), Opnd::Inf(_)) => invalid(ctl),
        (Opnd::Inf(_), _) | (_, Opnd::Inf(_)) => exact(inf(s), flags, ctl),
        (Opnd::Zero(_), _) | (_, Opnd::Zero(_)) => exact(zero(s), flags, ctl),
        (Opnd::Fin(x), Opnd::Fin(y)) => round_reg(mul_exact(x, y), ctl.precision.bits(), ctl, flags),
        _ => invalid(ctl),
    }
}

/// FDIV: `a / b` (FDIVR is `div(b, a)`).
pub fn div(a: F80, b: F80, ctl: X87Control) -> FpResult<F80> {
    let (ua, ub, flags) = match screen2(a, b, ctl) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let s = a.sign() ^ b.sign();
    match (ua, ub) {
        (Opnd::Inf(_), Opnd::Inf(_)) | (Opnd::Zero(_), Opnd::Zero(_)) => invalid(ctl),
        (Opnd::Inf(_), _) => exact(inf(s), flags, ctl),
        (_, Opnd::Inf(_)) => exact(zero(s), flags, ctl),
        (Opnd::Zero(_), _) => exact(zero(s), flags, ctl),
        (_, Opnd::Zero(_)) => exact(inf(s), Exceptions::ZERO_DIVIDE, ctl),
        (Opnd::Fin(x), Opnd::Fin(y)) => round_reg(div_exact(x, y), ctl.precision.bits(), ctl, flags),
        _ => invalid(ctl),
    }
}

/// FSQRT: square root.
pub fn sqrt(a: F80, ctl: X87Control) -> FpResult<F80> {
    let (ua, flags) = match screen1(a, ctl) {
        Ok(v) => v,
        Err(r) => return r,
    };
    match ua {
        Opnd::Zero(_) => exact(a, flags, ctl),
        Opnd::Inf(false) => exact(a, flags, ctl),
        Opnd::Inf(true) => invalid(ctl),
        Opnd::Fin(x) if x.sign => invalid(ctl),
        Opnd::Fin(x) => round_reg(sqrt_exact(x), ctl.precision.bits(), ctl, flags),
        _ => invalid(ctl),
    }
}

/// A memory source operand of an x87 arithmetic instruction (FADD m32fp, FIMUL m16int,
/// ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemOperand {
    /// m32fp
    F32(u32),
    /// m64fp
    F64(u64),
    /// m16int
    I16(i16),
    /// m32int
    I32(i32),
}

/// Converts a memory operand to the register format, returning the flags the
/// conversion itself raises (DE for a denormal m32/m64, nothing else) and whether it
/// was a signalling NaN. The SNaN is *not* quieted here: the arithmetic applies the
/// usual NaN rules to it (measured: FADD m32 behaves like FLD m32 + FADD except that
/// the operand keeps its SNaN identity for the NaN choice).
pub fn mem_operand(m: MemOperand) -> (F80, Exceptions) {
    match m {
        MemOperand::F32(b) => {
            let den = (b >> 23) & 0xFF == 0 && b & 0x7F_FFFF != 0;
            (super::conv::f32_to_f80_raw(b), if den { Exceptions::DENORMAL } else { Exceptions::empty() })
        }
        MemOperand::F64(b) => {
            let den = (b >> 52) & 0x7FF == 0 && b & ((1 << 52) - 1) != 0;
            (super::conv::f64_to_f80_raw(b), if den { Exceptions::DENORMAL } else { Exceptions::empty() })
        }
        MemOperand::I16(v) => (super::conv::from_i16(v), Exceptions::empty()),
        MemOperand::I32(v) => (super::conv::from_i32(v), Exceptions::empty()),
    }
}

/// FADD with a memory operand: `st0 + m`.
pub fn add_mem(st0: F80, m: MemOperand, ctl: X87Control) -> FpResult<F80> {
    with_mem(st0, m, ctl, add)
}

/// Applies a two-operand arithmetic function to ST(0) and a memory operand (in the
/// order `f(st0, m)`; for the reversed forms such as FSUBR m32 call
/// `with_mem_rev`).
pub fn with_mem(
    st0: F80,
    m: MemOperand,
    ctl: X87Control,
    f: fn(F80, F80, X87Control) -> FpResult<F80>,
) -> FpResult<F80> {
    let (v, fl) = mem_operand(m);
    merge(f(st0, v, ctl), fl, st0, v, ctl)
}

/// As [`with_mem`] with the operands reversed: `f(m, st0)` (FSUBR/FDIVR m32/m64/mint).
pub fn with_mem_rev(
    st0: F80,
    m: MemOperand,
    ctl: X87Control,
    f: fn(F80, F80, X87Control) -> FpResult<F80>,
) -> FpResult<F80> {
    let (v, fl) = mem_operand(m);
    merge(f(v, st0, ctl), fl, st0, v, ctl)
}

/// Adds the memory operand's DE unless the operation was decided before the denormal
/// check (NaN or unsupported operand, invalid operation, division by zero), as in the
/// register forms.
fn merge(r: FpResult<F80>, conv_flags: Exceptions, st0: F80, v: F80, ctl: X87Control) -> FpResult<F80> {
    if r.flags.intersects(Exceptions::INVALID | Exceptions::ZERO_DIVIDE)
        || st0.is_nan()
        || v.is_nan()
        || st0.is_unsupported()
    {
        return r;
    }
    FpResult::new(r.value, r.flags | conv_flags, r.c1, ctl.masks)
}

#[cfg(test)]
mod div_tests {
    use super::*;

    #[test]
    fn fast_division_equals_the_bitwise_one() {
        let mut x = 0x1234_5678_9abc_def1u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..200_000 {
            let mut n = next() | 1 << 63;
            let mut d = next() | 1 << 63;
            if i % 7 == 0 {
                d = n; // equal significands
            }
            if i % 11 == 0 {
                n = u64::MAX;
            }
            if i % 13 == 0 {
                d = 1 << 63;
            }
            let a = Unpacked { sign: i % 2 == 0, exp: (next() % 100) as i32, sig: (n as u128) << 64 };
            let b = Unpacked { sign: i % 3 == 0, exp: (next() % 100) as i32, sig: (d as u128) << 64 };
            assert_eq!(div_exact_64(a, b), div_exact_bitwise(a, b), "{n:#x} / {d:#x}");
        }
    }
}
