//! The single rounding core shared by every operation and format.
//!
//! An operation computes its exact result as an [`Unpacked`] value: a 128-bit
//! significand whose least significant bit is "jammed" (OR-ed with every bit lost in
//! earlier exact steps), so rounding to at most 64 bits is exact. [`round_pack`] then
//! rounds it to a format with `p` significand bits and a bounded exponent, handling
//! tininess (detected after rounding, as IA-32 does), denormalization, flush to zero,
//! the x87 bias-adjusted unmasked responses, and overflow.

use crate::types::{Exceptions, Rounding};

/// value = (-1)^sign * sig * 2^(exp - 127); `sig` has bit 127 set unless zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unpacked {
    pub sign: bool,
    pub exp: i32,
    pub sig: u128,
}

impl Unpacked {
    /// Normalizes a nonzero significand so that bit 127 is set.
    #[inline(always)]
    pub fn normalized(sign: bool, exp: i32, sig: u128) -> Unpacked {
        if sig == 0 {
            return Unpacked { sign, exp: 0, sig: 0 };
        }
        let lz = sig.leading_zeros();
        Unpacked { sign, exp: exp - lz as i32, sig: sig << lz }
    }
}

/// A destination format: `p` significand bits (including the integer bit) and the
/// exponent range of normal numbers (unbiased exponent of the integer bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Format {
    pub p: u32,
    pub emin: i32,
    pub emax: i32,
}

pub(crate) const F32: Format = Format { p: 24, emin: -126, emax: 127 };
pub(crate) const F64: Format = Format { p: 53, emin: -1022, emax: 1023 };
pub(crate) const fn f80(p: u32) -> Format {
    Format { p, emin: -16382, emax: 16383 }
}

/// How a tiny result is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TinyMode {
    /// IEEE denormalization (masked underflow), or the SSE/memory unmasked case
    /// (flags only; the caller does not write).
    Denormalize,
    /// SSE FTZ: a tiny result with underflow masked becomes a signed zero.
    FlushToZero,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Zero,
    Finite,
    Inf,
}

/// A rounded result. For `Finite`, `sig` holds the significand left-aligned (bit 63
/// is the integer bit of a normal number); a denormal has `exp == emin` and bit 63
/// clear. `exp` may lie outside the format's range only for the x87 bias-adjusted
/// responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rounded {
    pub sign: bool,
    pub kind: Kind,
    pub exp: i32,
    pub sig: u64,
    pub flags: Exceptions,
    /// Magnitude was increased by rounding (x87 C1).
    pub up: bool,
}

/// Shifts `sig` right by `drop` bits, rounding according to `rm`.
/// Returns (rounded quotient, inexact, incremented).
pub(crate) fn shift_round(sig: u128, drop: u32, neg: bool, rm: Rounding) -> (u128, bool, bool) {
    if drop == 0 {
        return (sig, false, false);
    }
    let (q, rem, half) = if drop > 128 {
        (0u128, sig, None)
    } else if drop == 128 {
        (0u128, sig, Some(1u128 << 127))
    } else {
        (sig >> drop, sig & ((1u128 << drop) - 1), Some(1u128 << (drop - 1)))
    };
    let inexact = rem != 0;
    let inc = match rm {
        Rounding::NearestEven => match half {
            Some(h) => rem > h || (rem == h && q & 1 == 1),
            None => false,
        },
        Rounding::Up => inexact && !neg,
        Rounding::Down => inexact && neg,
        Rounding::TowardZero => false,
    };
    (q + inc as u128, inexact, inc)
}

/// Shift right with jamming of lost bits into the least significant bit.
#[inline(always)]
pub(crate) fn shr_jam(x: u128, n: u32) -> u128 {
    if n == 0 {
        x
    } else if n >= 128 {
        (x != 0) as u128
    } else {
        (x >> n) | ((x & ((1u128 << n) - 1)) != 0) as u128
    }
}

/// The largest finite magnitude of the format, left-aligned.
fn max_sig(p: u32) -> u64 {
    (u64::MAX >> (64 - p)) << (64 - p)
}

/// Rounds `x` to `fmt`.
///
/// `masks` decides the overflow/underflow responses: a masked overflow delivers ∞ or
/// the largest finite number; an unmasked one with `bias = Some(b)` (x87 register
/// destination) delivers the rounded value with exponent reduced by `b`, and with
/// `bias = None` delivers the masked value (the caller does not write it). Likewise
/// for underflow (exponent increased by `b`).
pub(crate) fn round_pack(
    x: Unpacked,
    fmt: Format,
    rm: Rounding,
    masks: Exceptions,
    bias: Option<i32>,
    tiny_mode: TinyMode,
) -> Rounded {
    let sign = x.sign;
    if x.sig == 0 {
        return Rounded { sign, kind: Kind::Zero, exp: 0, sig: 0, flags: Exceptions::empty(), up: false };
    }
    let p = fmt.p;
    let mut e = x.exp;
    let mut flags = Exceptions::empty();
    if e < fmt.emin {
        let tiny = if e == fmt.emin - 1 {
            let (q, _, _) = shift_round(x.sig, 128 - p, sign, rm);
            q < (1u128 << p)
        } else {
            true
        };
        if tiny {
            let ue_unmasked = !masks.contains(Exceptions::UNDERFLOW);
            if ue_unmasked {
                if let Some(b) = bias {
                    let mut r = normal_round(x, p, rm);
                    r.exp += b;
                    r.flags |= Exceptions::UNDERFLOW;
                    if r.exp < fmt.emin {
                        // Still out of range after the bias adjustment: a signed zero.
                        return Rounded {
                            sign,
                            kind: Kind::Zero,
                            exp: 0,
                            sig: 0,
                            flags: Exceptions::UNDERFLOW | Exceptions::PRECISION,
                            up: false,
                        };
                    }
                    return r;
                }
            }
            if tiny_mode == TinyMode::FlushToZero && !ue_unmasked {
                return Rounded {
                    sign,
                    kind: Kind::Zero,
                    exp: 0,
                    sig: 0,
                    flags: Exceptions::UNDERFLOW | Exceptions::PRECISION,
                    up: false,
                };
            }
            let shift = (fmt.emin - e) as u32;
            let drop = (128 - p).saturating_add(shift);
            let (q, inexact, inc) = shift_round(x.sig, drop, sign, rm);
            if inexact {
                flags |= Exceptions::PRECISION | Exceptions::UNDERFLOW;
            } else if ue_unmasked {
                flags |= Exceptions::UNDERFLOW;
            }
            if q == 0 {
                return Rounded { sign, kind: Kind::Zero, exp: 0, sig: 0, flags, up: false };
            }
            return Rounded {
                sign,
                kind: Kind::Finite,
                exp: fmt.emin,
                sig: (q << (64 - p)) as u64,
                flags,
                up: inc,
            };
        }
    }
    let mut r = normal_round(x, p, rm);
    e = r.exp;
    if e > fmt.emax {
        let oe_unmasked = !masks.contains(Exceptions::OVERFLOW);
        if oe_unmasked {
            if let Some(b) = bias {
                r.exp -= b;
                r.flags |= Exceptions::OVERFLOW;
                if r.exp <= fmt.emax {
                    return r;
                }
                // Still out of range after the bias adjustment: infinity.
                return Rounded {
                    sign,
                    kind: Kind::Inf,
                    exp: 0,
                    sig: 1 << 63,
                    flags: Exceptions::OVERFLOW | Exceptions::PRECISION,
                    up: true,
                };
            }
        }
        flags = Exceptions::OVERFLOW | Exceptions::PRECISION;
        let to_inf = match rm {
            Rounding::NearestEven => true,
            Rounding::TowardZero => false,
            Rounding::Up => !sign,
            Rounding::Down => sign,
        };
        return if to_inf {
            Rounded { sign, kind: Kind::Inf, exp: 0, sig: 1 << 63, flags, up: true }
        } else {
            Rounded { sign, kind: Kind::Finite, exp: fmt.emax, sig: max_sig(p), flags, up: false }
        };
    }
    r
}

/// Rounds to `p` bits (1..=64) with an unbounded exponent.
#[inline(always)]
pub(crate) fn normal_round(x: Unpacked, p: u32, rm: Rounding) -> Rounded {
    // Every result passes through here: 64-bit halves instead of the general u128
    // shifts of [`shift_round`] (tested against [`normal_round_reference`]).
    let (hi, lo) = ((x.sig >> 64) as u64, x.sig as u64);
    // q: the kept bits; r: the dropped bits left-aligned (half an ulp is 1 << 63);
    // sticky: anything below r.
    let (q, r, sticky) =
        if p == 64 { (hi, lo, false) } else { (hi >> (64 - p), hi << p | lo >> (64 - p), lo << p != 0) };
    let inexact = r != 0 || sticky;
    let inc = match rm {
        Rounding::NearestEven => r > 1 << 63 || (r == 1 << 63 && (sticky || q & 1 == 1)),
        Rounding::Up => inexact && !x.sign,
        Rounding::Down => inexact && x.sign,
        Rounding::TowardZero => false,
    };
    let (mut q, carry) = q.overflowing_add(inc as u64);
    let mut e = x.exp;
    // Rounding up to 2^p: the significand becomes 1.0 of the next binade.
    if carry || (p < 64 && q >> p != 0) {
        q = 1 << (p - 1);
        e += 1;
    }
    Rounded {
        sign: x.sign,
        kind: Kind::Finite,
        exp: e,
        sig: q << (64 - p),
        flags: if inexact { Exceptions::PRECISION } else { Exceptions::empty() },
        up: inc,
    }
}

/// The straightforward form of [`normal_round`], kept as its reference.
#[cfg(test)]
fn normal_round_reference(x: Unpacked, p: u32, rm: Rounding) -> Rounded {
    let (mut q, inexact, inc) = shift_round(x.sig, 128 - p, x.sign, rm);
    let mut e = x.exp;
    if q >> p != 0 {
        q >>= 1;
        e += 1;
    }
    Rounded {
        sign: x.sign,
        kind: Kind::Finite,
        exp: e,
        sig: (q << (64 - p)) as u64,
        flags: if inexact { Exceptions::PRECISION } else { Exceptions::empty() },
        up: inc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    #[test]
    fn normal_round_equals_the_reference() {
        let mut rng = Rng(0x0A0B);
        for i in 0..3_000_000u32 {
            let hi = rng.signif();
            let lo = match i % 4 {
                0 => 0,
                1 => rng.next(),
                2 => 1 << rng.below(64),
                _ => rng.next() >> rng.below(64),
            };
            // Mostly normalized significands, some not (the function is defined for any).
            let hi = if i % 8 == 7 { hi >> rng.below(64) } else { hi };
            let x = Unpacked {
                sign: rng.bool(),
                exp: rng.below(100) as i32 - 50,
                sig: (hi as u128) << 64 | lo as u128,
            };
            let p = [24, 53, 64, 1 + rng.below(64) as u32][i as usize % 4];
            for rm in Rounding::ALL {
                assert_eq!(normal_round(x, p, rm), normal_round_reference(x, p, rm), "{x:?} p {p} {rm:?}");
            }
        }
    }
}
