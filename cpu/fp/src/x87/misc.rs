//! FPREM/FPREM1, FRNDINT, FSCALE, FXTRACT, FCOM/FUCOM-style comparison, FXAM and the
//! FLDxx constants.

use super::{exact, inf, invalid, pack, round_reg, screen1, screen2, unpack, zero, Opnd};
use crate::round::{round_pack, shift_round, TinyMode, Unpacked};
use crate::types::{Exceptions, F80Class, FpResult, Rounding, X87Control, F80};

/// Result of FPREM/FPREM1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PremResult {
    /// The (partial) remainder, written to ST(0).
    pub rem: F80,
    /// Low bits of the quotient (C0 = bit 2, C3 = bit 1, C1 = bit 0).
    pub quotient: u64,
    /// C2: the reduction is incomplete (exponent difference >= 64).
    pub incomplete: bool,
}

impl PremResult {
    /// Condition codes (C0, C1, C2, C3) as FPREM sets them.
    pub fn condition_codes(&self) -> (bool, bool, bool, bool) {
        (self.quotient & 4 != 0, self.quotient & 1 != 0, self.incomplete, self.quotient & 2 != 0)
    }
}

/// When the exponent difference D is 64 or more, one FPREM/FPREM1 step develops
/// `N = 32 + (D mod 32)` quotient bits (Intel documents N as implementation specific
/// in 32..=63; this is what AMD Zen 4 does, measured), sets C2 and clears C0/C1/C3.
pub fn prem_step_bits(d: i32) -> u32 {
    32 + (d & 31) as u32
}

/// FPREM: partial remainder with a truncated quotient (`a` = ST(0), `b` = ST(1)).
pub fn fprem(a: F80, b: F80, ctl: X87Control) -> FpResult<PremResult> {
    prem(a, b, ctl, false)
}

/// FPREM1: IEEE partial remainder (quotient rounded to nearest even).
pub fn fprem1(a: F80, b: F80, ctl: X87Control) -> FpResult<PremResult> {
    prem(a, b, ctl, true)
}

fn prem(a: F80, b: F80, ctl: X87Control, ieee: bool) -> FpResult<PremResult> {
    let wrap = |r: FpResult<F80>, q: u64, inc: bool| {
        let mut out = r.map(|rem| PremResult { rem, quotient: q, incomplete: inc });
        out.c1 = q & 1 != 0;
        out
    };
    let (ua, ub, flags) = match screen2(a, b, ctl) {
        Ok(v) => v,
        Err(r) => return wrap(r, 0, false),
    };
    match (ua, ub) {
        (Opnd::Inf(_), _) | (_, Opnd::Zero(_)) => wrap(invalid(ctl), 0, false),
        (Opnd::Zero(_), _) => wrap(exact(a, flags, ctl), 0, false),
        (Opnd::Fin(x), Opnd::Inf(_)) => wrap(round_reg(x, 64, ctl, flags), 0, false),
        (Opnd::Fin(x), Opnd::Fin(y)) => {
            let ma = (x.sig >> 64) as u64;
            let mb = (y.sig >> 64) as u64;
            let d = x.exp - y.exp;
            if d >= 64 {
                let n = prem_step_bits(d);
                let aa = (ma as u128) << n;
                let qq = aa / mb as u128;
                let r = aa % mb as u128;
                let u = Unpacked::normalized(x.sign, x.exp - 63 - n as i32 + 127, r);
                let res = if r == 0 { exact(zero(x.sign), flags, ctl) } else { round_reg(u, 64, ctl, flags) };
                let _ = qq;
                return wrap(res, 0, true);
            }
            if d <= -2 {
                // |a| < |b| / 2: quotient 0, remainder a.
                return wrap(round_reg(x, 64, ctl, flags), 0, false);
            }
            let base = x.exp.min(y.exp);
            let aa = (ma as u128) << (x.exp - base);
            let bb = (mb as u128) << (y.exp - base);
            let mut q = aa / bb;
            let mut r = aa % bb;
            let mut neg = x.sign;
            if ieee && (2 * r > bb || (2 * r == bb && q & 1 == 1)) {
                q += 1;
                r = bb - r;
                neg = !neg;
            }
            let res = if r == 0 {
                exact(zero(x.sign), flags, ctl)
            } else {
                round_reg(Unpacked::normalized(neg, base - 63 + 127, r), 64, ctl, flags)
            };
            wrap(res, q as u64 & 7, false)
        }
        _ => wrap(invalid(ctl), 0, false),
    }
}

/// FRNDINT: rounds to an integer according to the rounding control (precision control
/// does not apply). PE if inexact, C1 if rounded up in magnitude.
pub fn frndint(a: F80, ctl: X87Control) -> FpResult<F80> {
    let (ua, flags) = match screen1(a, ctl) {
        Ok(v) => v,
        Err(r) => return r,
    };
    match ua {
        Opnd::Fin(u) if u.exp < 63 => {
            let drop = (127 - u.exp) as u32;
            let (q, inexact, up) = shift_round(u.sig, drop, u.sign, ctl.rounding);
            let f = flags | if inexact { Exceptions::PRECISION } else { Exceptions::empty() };
            let v = if q == 0 {
                zero(u.sign)
            } else {
                let n = Unpacked::normalized(u.sign, 127, q);
                F80 { signif: (n.sig >> 64) as u64, se: ((u.sign as u16) << 15) | (n.exp + 16383) as u16 }
            };
            FpResult::new(v, f, up, ctl.masks)
        }
        Opnd::Fin(u) => round_reg(u, 64, ctl, flags),
        _ => exact(a, flags, ctl),
    }
}

/// FSCALE: `a * 2^trunc(b)` (`a` = ST(0), `b` = ST(1)).
pub fn fscale(a: F80, b: F80, ctl: X87Control) -> FpResult<F80> {
    let (ua, ub, flags) = match screen2(a, b, ctl) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let sa = a.sign();
    match (ua, ub) {
        (Opnd::Zero(_), Opnd::Inf(false)) | (Opnd::Inf(_), Opnd::Inf(true)) => invalid(ctl),
        (Opnd::Zero(_), _) | (Opnd::Inf(_), _) => exact(a, flags, ctl),
        (Opnd::Fin(_), Opnd::Inf(false)) => exact(inf(sa), flags, ctl),
        (Opnd::Fin(_), Opnd::Inf(true)) => exact(zero(sa), flags, ctl),
        (Opnd::Fin(x), Opnd::Zero(_)) => round_reg(x, 64, ctl, flags),
        (Opnd::Fin(x), Opnd::Fin(y)) => {
            let n: i64 = if y.exp >= 40 {
                if y.sign {
                    -(1 << 40)
                } else {
                    1 << 40
                }
            } else {
                let (m, _, _) = shift_round(y.sig, (127 - y.exp) as u32, y.sign, Rounding::TowardZero);
                if y.sign {
                    -(m as i64)
                } else {
                    m as i64
                }
            };
            let e = (x.exp as i64 + n).clamp(-(1 << 20), 1 << 20) as i32;
            round_reg(Unpacked { exp: e, ..x }, 64, ctl, flags)
        }
        _ => invalid(ctl),
    }
}

/// FXTRACT: splits `a` into (exponent, significand): the exponent (unbiased, as a
/// floating-point integer) goes to ST(1) and the significand (exponent 0) to ST(0).
/// Zero gives (−∞ with ZE, ±0); infinity gives (+∞, ±∞).
pub fn fxtract(a: F80, ctl: X87Control) -> FpResult<(F80, F80)> {
    let (ua, flags) = match screen1(a, ctl) {
        Ok(v) => v,
        Err(r) => return r.map(|v| (v, v)),
    };
    match ua {
        Opnd::Zero(s) => {
            FpResult::new((inf(true), zero(s)), flags | Exceptions::ZERO_DIVIDE, false, ctl.masks)
        }
        Opnd::Inf(s) => FpResult::new((inf(false), inf(s)), flags, false, ctl.masks),
        Opnd::Fin(u) => {
            let e = super::conv::from_i32(u.exp);
            let sig = F80 { signif: (u.sig >> 64) as u64, se: ((u.sign as u16) << 15) | 0x3FFF };
            FpResult::new((e, sig), flags, false, ctl.masks)
        }
        _ => invalid(ctl).map(|v| (v, v)),
    }
}

/// Outcome of a floating-point comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareResult {
    /// a < b
    Less,
    /// a == b (including +0 == −0)
    Equal,
    /// a > b
    Greater,
    /// At least one operand is a NaN or unsupported.
    Unordered,
}

impl CompareResult {
    /// x87 condition codes (C3, C2, C0) as FCOM/FUCOM/FTST set them.
    pub fn x87_cc(self) -> (bool, bool, bool) {
        match self {
            CompareResult::Greater => (false, false, false),
            CompareResult::Less => (false, false, true),
            CompareResult::Equal => (true, false, false),
            CompareResult::Unordered => (true, true, true),
        }
    }

    /// EFLAGS (ZF, PF, CF) as FCOMI/FUCOMI and COMISS/UCOMISS set them.
    pub fn eflags(self) -> (bool, bool, bool) {
        self.x87_cc()
    }
}

/// Compares two values. `quiet` selects the FUCOM family (IE only for SNaN or
/// unsupported operands); otherwise (FCOM, FTST, FCOMI) any NaN raises IE.
pub fn compare(a: F80, b: F80, ctl: X87Control, quiet: bool) -> FpResult<CompareResult> {
    // Two normal numbers (the common case) order by sign, then by exponent and
    // significand, reversed for negatives.
    let normal = |x: F80| x.biased_exp() != 0 && x.biased_exp() != 0x7FFF && x.signif >> 63 != 0;
    if normal(a) && normal(b) {
        let ord = match (a.sign(), b.sign()) {
            (false, true) => core::cmp::Ordering::Greater,
            (true, false) => core::cmp::Ordering::Less,
            (s, _) => {
                let o = (a.biased_exp(), a.signif).cmp(&(b.biased_exp(), b.signif));
                if s {
                    o.reverse()
                } else {
                    o
                }
            }
        };
        let r = match ord {
            core::cmp::Ordering::Less => CompareResult::Less,
            core::cmp::Ordering::Equal => CompareResult::Equal,
            core::cmp::Ordering::Greater => CompareResult::Greater,
        };
        return FpResult::new(r, Exceptions::empty(), false, ctl.masks);
    }
    compare_screened(a, b, ctl, quiet)
}

/// [`compare`] for any operands (and the reference of its fast path).
fn compare_screened(a: F80, b: F80, ctl: X87Control, quiet: bool) -> FpResult<CompareResult> {
    let (ua, da) = unpack(a);
    let (ub, db) = unpack(b);
    let mut flags = if da || db { Exceptions::DENORMAL } else { Exceptions::empty() };
    if ua == Opnd::Bad || ub == Opnd::Bad {
        return FpResult::new(CompareResult::Unordered, Exceptions::INVALID, false, ctl.masks);
    }
    if ua == Opnd::NaN || ub == Opnd::NaN {
        let snan = a.class() == F80Class::SNaN || b.class() == F80Class::SNaN;
        flags = if snan || !quiet { Exceptions::INVALID } else { Exceptions::empty() };
        return FpResult::new(CompareResult::Unordered, flags, false, ctl.masks);
    }
    let key = |o: Opnd| -> (i8, i32, u128) {
        match o {
            Opnd::Zero(_) => (0, 0, 0),
            Opnd::Inf(s) => (if s { -2 } else { 2 }, 0, 0),
            Opnd::Fin(u) => (if u.sign { -1 } else { 1 }, u.exp, u.sig),
            _ => (0, 0, 0),
        }
    };
    let (ka, kb) = (key(ua), key(ub));
    let ord = if ka.0 != kb.0 {
        ka.0.cmp(&kb.0)
    } else if ka.0 == 1 {
        (ka.1, ka.2).cmp(&(kb.1, kb.2))
    } else if ka.0 == -1 {
        (kb.1, kb.2).cmp(&(ka.1, ka.2))
    } else {
        core::cmp::Ordering::Equal
    };
    let r = match ord {
        core::cmp::Ordering::Less => CompareResult::Less,
        core::cmp::Ordering::Equal => CompareResult::Equal,
        core::cmp::Ordering::Greater => CompareResult::Greater,
    };
    FpResult::new(r, flags, false, ctl.masks)
}

/// FXAM classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FxamClass {
    /// Unnormal, pseudo-NaN or pseudo-infinity (C3,C2,C0 = 000).
    Unsupported,
    /// NaN (001).
    NaN,
    /// Normal finite (010).
    Normal,
    /// Infinity (011).
    Infinity,
    /// Zero (100).
    Zero,
    /// Empty register (101).
    Empty,
    /// Denormal or pseudo-denormal (110).
    Denormal,
}

impl FxamClass {
    /// (C3, C2, C0).
    pub fn cc(self) -> (bool, bool, bool) {
        match self {
            FxamClass::Unsupported => (false, false, false),
            FxamClass::NaN => (false, false, true),
            FxamClass::Normal => (false, true, false),
            FxamClass::Infinity => (false, true, true),
            FxamClass::Zero => (true, false, false),
            FxamClass::Empty => (true, false, true),
            FxamClass::Denormal => (true, true, false),
        }
    }
}

/// FXAM: classifies a register (`empty` = its tag is empty). Returns the class and C1
/// (the sign bit).
pub fn fxam(x: F80, empty: bool) -> (FxamClass, bool) {
    let c = if empty {
        FxamClass::Empty
    } else {
        match x.class() {
            F80Class::Zero => FxamClass::Zero,
            F80Class::Denormal | F80Class::PseudoDenormal => FxamClass::Denormal,
            F80Class::Normal => FxamClass::Normal,
            F80Class::Infinity => FxamClass::Infinity,
            F80Class::QNaN | F80Class::SNaN => FxamClass::NaN,
            _ => FxamClass::Unsupported,
        }
    };
    (c, x.sign())
}

/// The constants loaded by FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2 and FLDZ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Constant {
    /// +1.0 (FLD1)
    One,
    /// log2(10) (FLDL2T)
    L2T,
    /// log2(e) (FLDL2E)
    L2E,
    /// pi (FLDPI)
    Pi,
    /// log10(2) (FLDLG2)
    Lg2,
    /// ln(2) (FLDLN2)
    Ln2,
    /// +0.0 (FLDZ)
    Zero,
}

/// 128-bit significands (value = sig * 2^(exp-127)).
pub(crate) const PI128: (i32, u128) = (1, 0xc90fdaa22168c234c4c6628b80dc1cd1);
pub(crate) const L2T128: (i32, u128) = (1, 0xd49a784bcd1b8afe492bf6ff4dafdb4c);
pub(crate) const L2E128: (i32, u128) = (0, 0xb8aa3b295c17f0bbbe87fed0691d3e88);
pub(crate) const LG2128: (i32, u128) = (-2, 0x9a209a84fbcff7988f8959ac0b7c9178);
pub(crate) const LN2128: (i32, u128) = (-1, 0xb17217f7d1cf79abc9e3b39803f2f6af);

/// Loads a constant, rounded to 64 bits according to the rounding control (precision
/// control does not apply; no exception flags; C1 is cleared).
pub fn constant(c: Constant, rounding: Rounding) -> F80 {
    let (exp, sig) = match c {
        Constant::One => return F80::ONE,
        Constant::Zero => return F80::ZERO,
        Constant::L2T => L2T128,
        Constant::L2E => L2E128,
        Constant::Pi => PI128,
        Constant::Lg2 => LG2128,
        Constant::Ln2 => LN2128,
    };
    let r = round_pack(
        Unpacked { sign: false, exp, sig },
        crate::round::f80(64),
        rounding,
        Exceptions::all(),
        None,
        TinyMode::Denormalize,
    );
    pack(&r)
}

#[cfg(test)]
mod compare_tests {
    use super::*;
    use crate::testutil::Rng;

    #[test]
    fn compare_fast_path_equals_the_screened_one() {
        let mut rng = Rng(0xC0C0);
        for i in 0..2_000_000u32 {
            let a = if i % 4 == 0 { rng.f80() } else { F80::new(rng.next() as u16, rng.signif()) };
            // Close pairs: equal values, the same exponent, opposite signs.
            let b = match i % 5 {
                0 => a,
                1 => F80::new(a.se, rng.signif()),
                2 => a.negate(),
                3 => rng.f80(),
                _ => F80::new(rng.next() as u16, rng.signif()),
            };
            let ctl = X87Control::from_fcw(rng.next() as u16);
            for quiet in [false, true] {
                assert_eq!(compare(a, b, ctl, quiet), compare_screened(a, b, ctl, quiet), "{a:?} {b:?}");
            }
        }
    }
}
