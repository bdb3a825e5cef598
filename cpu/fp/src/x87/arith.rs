//! FADD, FSUB, FMUL, FDIV, FSQRT: exact results rounded once, honouring precision
//! control.

use super::{exact, inf, invalid, round_reg, screen1, screen2, zero, Opnd};
use crate::round::{shr_jam, Unpacked};
use crate::types::{Exceptions, FpResult, Rounding, X87Control, F80};

/// Exact sum of two nonzero finite values (jammed); sig == 0 for an exact zero.
#[inline(always)]
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
#[inline(always)]
pub(crate) fn mul_exact(a: Unpacked, b: Unpacked) -> Unpacked {
    // 64-bit significands (every x87 and SSE operand): their product is exact in 128
    // bits and the low half of the full product is zero.
    if a.sig as u64 == 0 && b.sig as u64 == 0 {
        let p = (a.sig >> 64) * (b.sig >> 64);
        return Unpacked::normalized(a.sign ^ b.sign, a.exp + b.exp + 1, p);
    }
    mul_exact_full(a, b)
}

/// [`mul_exact`] for any significands.
pub(crate) fn mul_exact_full(a: Unpacked, b: Unpacked) -> Unpacked {
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
#[inline(always)]
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
#[inline(always)]
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

/// Square root significand (jammed) of a positive normalized value, with at least 90
/// exact leading bits: enough for every rounding to at most 64 bits.
pub(crate) fn sqrt_exact(a: Unpacked) -> Unpacked {
    // Every x87 and SSE operand has at most 64 significant bits; the bit-by-bit root
    // stays for anything wider.
    if a.sig as u64 == 0 {
        return sqrt_exact_64(a);
    }
    sqrt_exact_bitwise(a)
}

/// Integer square root of `n` (which must lie in [2^124, 2^127)) and its remainder.
fn isqrt_127(n: u128) -> (u128, u128) {
    // A host f64 estimate is good to about 52 bits (only as a starting point: the
    // result is then made exact in integers), one Newton step brings it within one unit
    // of the root, and the remainder tests settle it.
    // Below 2^63.5, so a u64 holds it (and the conversion needs no library call).
    let est = ((n >> 64) as u64 as f64 * 18446744073709551616.0).sqrt() as u64 as u128;
    let mut r = (est + n / est) >> 1;
    while r * r > n {
        r -= 1;
    }
    while (r + 1) * (r + 1) <= n {
        r += 1;
    }
    (r, n - r * r)
}

/// [`sqrt_exact`] for significands whose low 64 bits are zero: the integer root of
/// m * 2^124 (m the 64-bit significand, shifted by one for parity), 94 or 95 bits with
/// the remainder as sticky bit. Two steps of 63 and 31 bits replace 125 bitwise ones.
fn sqrt_exact_64(a: Unpacked) -> Unpacked {
    let m = (a.sig >> 64) as u64;
    // value = m * 2^e; n0 = m << t with e - t even.
    let e = a.exp - 63;
    let t = if (e - 62).rem_euclid(2) == 0 { 62 } else { 63 };
    let n0 = (m as u128) << t;
    let (r0, rem0) = isqrt_127(n0);
    // Extend the root by 31 bits: sqrt(n0 * 2^62) = 2^31 * sqrt(r0^2 + rem0), at most
    // 2^31 * r0 + rem0 * 2^30 / r0 (tangent bound), so the floor of that bound is at
    // least the root and only downward corrections can be needed. rem0 <= 2 * r0 <
    // 2^64.5 keeps every term below 2^127.
    let d = (rem0 << 30) / r0;
    let mut r1 = (r0 << 31) + d;
    let mut rem1 = (rem0 << 62) as i128 - ((r0 * d) << 32) as i128 - (d * d) as i128;
    while rem1 < 0 {
        rem1 += (2 * r1 - 1) as i128;
        r1 -= 1;
    }
    // sqrt(value) = r1 * 2^((e - t - 62) / 2), exactly halved (e - t is even).
    Unpacked::normalized(false, (e - t - 62) / 2 + 127, r1 | (rem1 != 0) as u128)
}

/// Square root significand (jammed) computed bit by bit: 125 exact bits.
pub(crate) fn sqrt_exact_bitwise(a: Unpacked) -> Unpacked {
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

#[inline(always)]
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
#[inline(always)]
pub fn add(a: F80, b: F80, ctl: X87Control) -> FpResult<F80> {
    addsub(a, b, false, ctl)
}

/// FSUB: `a - b` (FSUBR is `sub(b, a)`).
#[inline(always)]
pub fn sub(a: F80, b: F80, ctl: X87Control) -> FpResult<F80> {
    addsub(a, b, true, ctl)
}

/// The operand as an [`Unpacked`] if it is a normal number (neither zero, denormal,
/// infinity, NaN nor unsupported): the common case, which needs no screening.
#[inline]
fn normal(x: F80) -> Option<Unpacked> {
    let e = x.biased_exp();
    (e != 0 && e != 0x7FFF && x.signif >> 63 != 0).then(|| Unpacked {
        sign: x.sign(),
        exp: e as i32 - 16383,
        sig: (x.signif as u128) << 64,
    })
}

#[inline(always)]
fn addsub(a: F80, b: F80, negate_b: bool, ctl: X87Control) -> FpResult<F80> {
    if let (Some(x), Some(y)) = (normal(a), normal(b)) {
        let y = Unpacked { sign: y.sign ^ negate_b, ..y };
        let down = ctl.rounding == Rounding::Down;
        return fin_or_zero(add_exact(x, y), ctl.precision.bits(), ctl, Exceptions::empty(), down);
    }
    FpResult::out_of_line(|| addsub_screened(a, b, negate_b, ctl))
}

/// [`addsub`] for any operands (and the reference of its fast path).
fn addsub_screened(a: F80, b: F80, negate_b: bool, ctl: X87Control) -> FpResult<F80> {
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
#[inline(always)]
pub fn mul(a: F80, b: F80, ctl: X87Control) -> FpResult<F80> {
    if let (Some(x), Some(y)) = (normal(a), normal(b)) {
        return round_reg(mul_exact(x, y), ctl.precision.bits(), ctl, Exceptions::empty());
    }
    FpResult::out_of_line(|| mul_screened(a, b, ctl))
}

fn mul_screened(a: F80, b: F80, ctl: X87Control) -> FpResult<F80> {
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
#[inline(always)]
pub fn div(a: F80, b: F80, ctl: X87Control) -> FpResult<F80> {
    if let (Some(x), Some(y)) = (normal(a), normal(b)) {
        return round_reg(div_exact(x, y), ctl.precision.bits(), ctl, Exceptions::empty());
    }
    FpResult::out_of_line(|| div_screened(a, b, ctl))
}

fn div_screened(a: F80, b: F80, ctl: X87Control) -> FpResult<F80> {
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
#[inline]
pub fn sqrt(a: F80, ctl: X87Control) -> FpResult<F80> {
    sqrt_with(a, ctl, sqrt_exact)
}

#[inline]
fn sqrt_with(a: F80, ctl: X87Control, root: fn(Unpacked) -> Unpacked) -> FpResult<F80> {
    match normal(a) {
        Some(x) if !x.sign => round_reg(root(x), ctl.precision.bits(), ctl, Exceptions::empty()),
        _ => FpResult::out_of_line(|| sqrt_screened(a, ctl, root)),
    }
}

fn sqrt_screened(a: F80, ctl: X87Control, root: fn(Unpacked) -> Unpacked) -> FpResult<F80> {
    let (ua, flags) = match screen1(a, ctl) {
        Ok(v) => v,
        Err(r) => return r,
    };
    match ua {
        Opnd::Zero(_) => exact(a, flags, ctl),
        Opnd::Inf(false) => exact(a, flags, ctl),
        Opnd::Inf(true) => invalid(ctl),
        Opnd::Fin(x) if x.sign => invalid(ctl),
        Opnd::Fin(x) => round_reg(root(x), ctl.precision.bits(), ctl, flags),
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
#[inline(always)]
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
#[inline(always)]
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
#[inline(always)]
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
#[inline(always)]
fn merge(r: FpResult<F80>, conv_flags: Exceptions, st0: F80, v: F80, ctl: X87Control) -> FpResult<F80> {
    // Nothing to add: `r` already went through `FpResult::new` with the same masks,
    // which would give it back unchanged.
    if conv_flags.is_empty() {
        return r;
    }
    FpResult::out_of_line(|| merge_screened(r, conv_flags, st0, v, ctl))
}

fn merge_screened(
    r: FpResult<F80>,
    conv_flags: Exceptions,
    st0: F80,
    v: F80,
    ctl: X87Control,
) -> FpResult<F80> {
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

#[cfg(test)]
mod sqrt_tests {
    use super::*;
    use crate::testutil::Rng;
    use crate::types::Precision;

    /// Both roots agree on their leading 90 bits and on whether anything below them
    /// is nonzero, which decides every rounding to at most 88 bits.
    fn same_to_90_bits(x: Unpacked, y: Unpacked) -> bool {
        let lo = (1u128 << 38) - 1;
        x.exp == y.exp && x.sig >> 38 == y.sig >> 38 && (x.sig & lo != 0) == (y.sig & lo != 0)
    }

    fn check(sig: u64, exp: i32) {
        let a = Unpacked { sign: false, exp, sig: (sig as u128) << 64 };
        let (fast, slow) = (sqrt_exact(a), sqrt_exact_bitwise(a));
        assert!(same_to_90_bits(fast, slow), "{sig:#x} exp {exp}: {fast:?} vs {slow:?}");
        for p in Precision::ALL {
            for rounding in Rounding::ALL {
                for masks in [Exceptions::all(), Exceptions::empty()] {
                    let ctl = X87Control { rounding, precision: p, masks };
                    let bits = p.bits();
                    assert_eq!(
                        round_reg(fast, bits, ctl, Exceptions::empty()),
                        round_reg(slow, bits, ctl, Exceptions::empty()),
                        "{sig:#x} exp {exp} {ctl:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn fast_root_equals_the_bitwise_one() {
        let mut rng = Rng(0x5EED_5C27);
        for i in 0..1_000_000u32 {
            let sig = rng.signif();
            // Both parities, and exponents of denormal operands (normalized by unpack).
            let exp = (rng.below(200) as i32 - 100) + if i % 16 == 0 { -16445 } else { 0 };
            check(sig, exp);
        }
    }

    #[test]
    fn fast_root_boundaries() {
        let mut sigs = vec![1u64 << 63, u64::MAX, (1 << 63) | 1, u64::MAX - 1];
        // Perfect squares and their neighbours (exact roots, and roots just below and
        // above an integer).
        for r in [(1u64 << 31) + 1, 0xB504_F333, 0xFFFF_FFFF, 0xC000_0000, 0x8000_0001] {
            let sq = r as u128 * r as u128;
            let sq = (sq << sq.leading_zeros()) >> 64;
            sigs.extend([sq as u64, sq as u64 - 1, sq as u64 + 1]);
        }
        // Squares of 64-bit roots rounded at 24, 53 and 64 bits, near halfway points.
        let mut rng = Rng(42);
        for _ in 0..20_000 {
            let r = rng.signif();
            let sq = r as u128 * r as u128;
            let top = (sq << sq.leading_zeros() >> 64) as u64;
            sigs.extend([top, top.wrapping_sub(1) | 1 << 63, top.saturating_add(1)]);
        }
        for sig in sigs {
            for exp in [-16446, -16383, -16382, -2, -1, 0, 1, 2, 63, 64, 16383] {
                check(sig | 1 << 63, exp);
            }
        }
    }

    /// Bit-by-bit integer square root.
    fn isqrt_reference(n: u128) -> u128 {
        let mut r = 0u128;
        for b in (0..64).rev() {
            let t = r | 1 << b;
            if t * t <= n {
                r = t;
            }
        }
        r
    }

    #[test]
    fn integer_root_of_the_first_step() {
        let mut rng = Rng(0x1507);
        for i in 0..1_000_000u32 {
            let n = match i % 3 {
                // Near perfect squares (exact roots and one off either way).
                0 => {
                    let r = (rng.next() >> 1 | 1 << 62) as u128;
                    (r * r).wrapping_add(rng.below(3) as u128).wrapping_sub(1)
                }
                _ => ((rng.next() as u128) << 64 | rng.next() as u128) >> 1 | 1 << 124,
            };
            if !(1u128 << 124..1 << 127).contains(&n) {
                continue;
            }
            let (r, rem) = isqrt_127(n);
            assert_eq!(r, isqrt_reference(n), "{n:#x}");
            assert_eq!(rem, n - r * r);
        }
    }

    #[test]
    fn public_sqrt_equals_the_reference() {
        let mut rng = Rng(7);
        for _ in 0..300_000 {
            let a = rng.f80();
            let ctl = X87Control::from_fcw(rng.next() as u16);
            assert_eq!(sqrt(a, ctl), sqrt_with(a, ctl, sqrt_exact_bitwise), "{a:?} {ctl:?}");
        }
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;
    use crate::testutil::Rng;

    /// Operands that are mostly normal (the fast paths) with every other class mixed in.
    fn operand(rng: &mut Rng) -> F80 {
        if rng.below(4) == 0 {
            rng.f80()
        } else {
            let e = match rng.below(8) {
                0 => 1 + rng.below(64) as u16,
                1 => 0x7FFE - rng.below(64) as u16,
                _ => 0x3FFF - 40 + rng.below(80) as u16,
            };
            F80::new(e | (rng.bool() as u16) << 15, rng.signif())
        }
    }

    #[test]
    fn short_product_equals_the_full_one() {
        let mut rng = Rng(0x3017);
        for _ in 0..1_000_000 {
            let a =
                Unpacked { sign: rng.bool(), exp: rng.below(64) as i32, sig: (rng.signif() as u128) << 64 };
            let b =
                Unpacked { sign: rng.bool(), exp: rng.below(64) as i32, sig: (rng.signif() as u128) << 64 };
            assert_eq!(mul_exact(a, b), mul_exact_full(a, b));
        }
    }

    #[test]
    fn fast_paths_equal_the_screened_operations() {
        let mut rng = Rng(0xFA57);
        for _ in 0..2_000_000 {
            let (a, b) = (operand(&mut rng), operand(&mut rng));
            let ctl = X87Control::from_fcw(rng.next() as u16);
            assert_eq!(add(a, b, ctl), addsub_screened(a, b, false, ctl), "add {a:?} {b:?} {ctl:?}");
            assert_eq!(sub(a, b, ctl), addsub_screened(a, b, true, ctl), "sub {a:?} {b:?} {ctl:?}");
            assert_eq!(mul(a, b, ctl), mul_screened(a, b, ctl), "mul {a:?} {b:?} {ctl:?}");
            assert_eq!(div(a, b, ctl), div_screened(a, b, ctl), "div {a:?} {b:?} {ctl:?}");
            assert_eq!(sqrt(a, ctl), sqrt_screened(a, ctl, sqrt_exact), "sqrt {a:?} {ctl:?}");
        }
    }

    #[test]
    fn memory_operand_fast_path_equals_the_full_merge() {
        let mut rng = Rng(0x3E36);
        for i in 0..1_000_000u32 {
            let st0 = operand(&mut rng);
            let m = match i % 4 {
                0 => MemOperand::F32(rng.next() as u32),
                1 => MemOperand::F64(rng.next()),
                2 => MemOperand::I16(rng.next() as i16),
                _ => MemOperand::I32(rng.next() as i32),
            };
            let ctl = X87Control::from_fcw(rng.next() as u16);
            let (v, fl) = mem_operand(m);
            for f in [add, sub, mul, div] {
                let full = |r| merge_screened(r, fl, st0, v, ctl);
                assert_eq!(with_mem(st0, m, ctl, f), full(f(st0, v, ctl)), "{st0:?} {m:?} {ctl:?}");
                assert_eq!(with_mem_rev(st0, m, ctl, f), full(f(v, st0, ctl)), "{st0:?} {m:?} {ctl:?}");
            }
        }
    }
}
