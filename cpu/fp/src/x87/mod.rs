//! x87 (80-bit extended precision) operations.
//!
//! Every function takes raw [`F80`] operands (any bit pattern) and an
//! [`X87Control`] (rounding, precision control and exception masks from the control
//! word) and returns an [`FpResult`] with the value, the exception flags raised, C1
//! and whether the destination is written. Functions never touch global state and
//! never panic.

pub mod arith;
pub mod conv;
pub mod misc;
pub mod trans;

pub use arith::{add, add_mem, div, mem_operand, mul, sqrt, sub, with_mem, with_mem_rev, MemOperand};
pub use conv::{
    from_bcd, from_f32, from_f64, from_i16, from_i32, from_i64, to_bcd, to_f32, to_f64, to_i16, to_i32,
    to_i64, IntConv,
};
pub use misc::{
    compare, constant, fprem, fprem1, frndint, fscale, fxam, fxtract, CompareResult, Constant, FxamClass,
    PremResult,
};
pub use trans::{f2xm1, fcos, fpatan, fptan, fsin, fsincos, fyl2x, fyl2xp1, TransResult};

use crate::round::{round_pack, Format, Kind, Rounded, TinyMode, Unpacked};
use crate::types::{Exceptions, F80Class, FpResult, X87Control, F80};

/// Bias adjustment of the x87 unmasked overflow/underflow responses.
pub const BIAS_ADJUST: i32 = 0x6000;

/// An unpacked operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opnd {
    Zero(bool),
    Fin(Unpacked),
    Inf(bool),
    NaN,
    Bad,
}

/// Unpacks an operand; the flag says it is a (pseudo-)denormal.
pub(crate) fn unpack(x: F80) -> (Opnd, bool) {
    let sign = x.sign();
    // The common case first, without classifying: a normal number.
    let e = x.biased_exp();
    if e != 0 && e != 0x7FFF && x.signif >> 63 != 0 {
        return (Opnd::Fin(Unpacked { sign, exp: e as i32 - 16383, sig: (x.signif as u128) << 64 }), false);
    }
    match x.class() {
        F80Class::Zero => (Opnd::Zero(sign), false),
        F80Class::Denormal | F80Class::PseudoDenormal => {
            (Opnd::Fin(Unpacked::normalized(sign, -16382, (x.signif as u128) << 64)), true)
        }
        F80Class::Normal => (
            Opnd::Fin(Unpacked { sign, exp: x.biased_exp() as i32 - 16383, sig: (x.signif as u128) << 64 }),
            false,
        ),
        F80Class::Infinity => (Opnd::Inf(sign), false),
        F80Class::QNaN | F80Class::SNaN => (Opnd::NaN, false),
        _ => (Opnd::Bad, false),
    }
}

/// Packs a rounded result into the register format.
#[inline(always)]
pub(crate) fn pack(r: &Rounded) -> F80 {
    let s = (r.sign as u16) << 15;
    match r.kind {
        Kind::Zero => F80 { signif: 0, se: s },
        Kind::Inf => F80 { signif: 1 << 63, se: s | 0x7FFF },
        Kind::Finite => {
            if r.sig >> 63 == 0 {
                F80 { signif: r.sig, se: s }
            } else {
                F80 { signif: r.sig, se: s | ((r.exp + 16383) as u16 & 0x7FFF) }
            }
        }
    }
}

/// Quiets a NaN (sets significand bit 62).
pub(crate) fn quiet(x: F80) -> F80 {
    F80 { signif: x.signif | (1 << 62), se: x.se }
}

/// Result for an invalid operation: the default QNaN with IE.
pub(crate) fn invalid(ctl: X87Control) -> FpResult<F80> {
    FpResult::new(F80::INDEFINITE, Exceptions::INVALID, false, ctl.masks)
}

/// The x87 rule for a NaN result from two operands (at least one a NaN): an SNaN
/// raises IE; an SNaN and a QNaN give the QNaN; two NaNs of the same kind give the one
/// with the larger significand (ties: the positive one); the result is quieted.
pub(crate) fn propagate_nan2(a: F80, b: F80, ctl: X87Control) -> FpResult<F80> {
    let an = a.is_nan();
    let bn = b.is_nan();
    let asn = a.class() == F80Class::SNaN;
    let bsn = b.class() == F80Class::SNaN;
    let flags = if asn || bsn { Exceptions::INVALID } else { Exceptions::empty() };
    let pick = if an && bn {
        if asn != bsn {
            if asn {
                b
            } else {
                a
            }
        } else {
            let ma = a.signif & !(1 << 63);
            let mb = b.signif & !(1 << 63);
            if ma > mb || (ma == mb && a.se <= b.se) {
                a
            } else {
                b
            }
        }
    } else if an {
        a
    } else {
        b
    };
    FpResult::new(quiet(pick), flags, false, ctl.masks)
}

/// Rounds an exact result to the register with the given precision control.
#[inline(always)]
pub(crate) fn round_reg(x: Unpacked, p: u32, ctl: X87Control, flags: Exceptions) -> FpResult<F80> {
    // Far from both ends of the exponent range neither underflow nor overflow can
    // happen (rounding adds at most one to the exponent): what `round_pack` would do
    // then is `normal_round` alone.
    if x.sig != 0 && (-16000..16000).contains(&x.exp) {
        let r = crate::round::normal_round(x, p, ctl.rounding);
        return FpResult::new(pack(&r), flags | r.flags, r.up, ctl.masks);
    }
    FpResult::out_of_line(|| round_reg_full(x, p, ctl, flags))
}

/// [`round_reg`] for any exponent (and the reference of its fast path).
pub(crate) fn round_reg_full(x: Unpacked, p: u32, ctl: X87Control, flags: Exceptions) -> FpResult<F80> {
    let fmt: Format = crate::round::f80(p);
    let r = round_pack(x, fmt, ctl.rounding, ctl.masks, Some(BIAS_ADJUST), TinyMode::Denormalize);
    FpResult::new(pack(&r), flags | r.flags, r.up, ctl.masks)
}

/// Common operand screening for two-operand arithmetic: unsupported encodings and
/// NaNs produce the final result (`Err`); otherwise the unpacked operands and the
/// denormal flag.
pub(crate) fn screen2(a: F80, b: F80, ctl: X87Control) -> Result<(Opnd, Opnd, Exceptions), FpResult<F80>> {
    let (ua, da) = unpack(a);
    let (ub, db) = unpack(b);
    if ua == Opnd::Bad || ub == Opnd::Bad {
        return Err(invalid(ctl));
    }
    if ua == Opnd::NaN || ub == Opnd::NaN {
        return Err(propagate_nan2(a, b, ctl));
    }
    let flags = if da || db { Exceptions::DENORMAL } else { Exceptions::empty() };
    Ok((ua, ub, flags))
}

/// Screening for one-operand operations.
pub(crate) fn screen1(a: F80, ctl: X87Control) -> Result<(Opnd, Exceptions), FpResult<F80>> {
    let (ua, da) = unpack(a);
    match ua {
        Opnd::Bad => Err(invalid(ctl)),
        Opnd::NaN => Err(propagate_nan2(a, a, ctl)),
        _ => Ok((ua, if da { Exceptions::DENORMAL } else { Exceptions::empty() })),
    }
}

/// A finite, exactly representable value delivered without rounding (flags only).
pub(crate) fn exact(x: F80, flags: Exceptions, ctl: X87Control) -> FpResult<F80> {
    FpResult::new(x, flags, false, ctl.masks)
}

/// Signed zero / infinity constructors.
pub(crate) fn zero(sign: bool) -> F80 {
    F80 { signif: 0, se: (sign as u16) << 15 }
}
pub(crate) fn inf(sign: bool) -> F80 {
    F80 { signif: 1 << 63, se: ((sign as u16) << 15) | 0x7FFF }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    #[test]
    fn round_reg_fast_path_equals_round_pack() {
        let mut rng = Rng(0x2E6);
        for i in 0..2_000_000u32 {
            let sig = (rng.signif() as u128) << 64 | if i % 2 == 0 { rng.next() as u128 } else { 0 };
            // Around both ends of the fast range and of the register's exponent range.
            let exp = [-16000, 15999, -16383, 16383, 0][i as usize % 5] + rng.below(64) as i32 - 32;
            let x = Unpacked { sign: rng.bool(), exp, sig };
            let ctl = X87Control::from_fcw(rng.next() as u16);
            let p = ctl.precision.bits();
            assert_eq!(
                round_reg(x, p, ctl, Exceptions::empty()),
                round_reg_full(x, p, ctl, Exceptions::empty())
            );
        }
    }
}
