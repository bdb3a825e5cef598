//! SSE/AVX scalar and packed floating-point semantics (f32 and f64) under MXCSR.
//!
//! Values are raw bit patterns (`u32` for f32, `u64` for f64) so no host FPU is
//! involved. Every function takes the [`Mxcsr`] state (rounding, FTZ, DAZ, masks) and
//! returns an [`FpResult`] whose `flags` are to be OR-ed into MXCSR. SSE exceptions
//! are precise: whenever an unmasked exception is raised (`trap`), `write` is false and
//! the destination must be left unchanged (the caller raises #XM / #UD per CR4).
//!
//! Packed operations are the lane-wise application of the scalar ones with the flags
//! OR-ed; helpers [`packed_f32`] / [`packed_f64`] do that.

use crate::round::{round_pack, shift_round, Format, Kind, Rounded, TinyMode, Unpacked, F32, F64};
use crate::types::{Exceptions, FpResult, Mxcsr, Rounding};
use crate::x87::CompareResult;

/// Description of an IEEE binary interchange format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SFmt {
    fbits: u32,
    ebits: u32,
    fmt: Format,
}

const S32: SFmt = SFmt { fbits: 23, ebits: 8, fmt: F32 };
const S64: SFmt = SFmt { fbits: 52, ebits: 11, fmt: F64 };

/// The default QNaN ("QNaN floating-point indefinite") for f32.
pub const F32_INDEFINITE: u32 = 0xFFC0_0000;
/// The default QNaN for f64.
pub const F64_INDEFINITE: u64 = 0xFFF8_0000_0000_0000;

impl SFmt {
    fn emax_field(self) -> u64 {
        (1 << self.ebits) - 1
    }
    fn sign(self, x: u64) -> bool {
        (x >> (self.fbits + self.ebits)) & 1 != 0
    }
    fn exp(self, x: u64) -> u64 {
        (x >> self.fbits) & self.emax_field()
    }
    fn frac(self, x: u64) -> u64 {
        x & ((1 << self.fbits) - 1)
    }
    fn is_nan(self, x: u64) -> bool {
        self.exp(x) == self.emax_field() && self.frac(x) != 0
    }
    fn is_snan(self, x: u64) -> bool {
        self.is_nan(x) && (x >> (self.fbits - 1)) & 1 == 0
    }
    fn quiet(self, x: u64) -> u64 {
        x | (1 << (self.fbits - 1))
    }
    fn indefinite(self) -> u64 {
        (1 << (self.fbits + self.ebits)) | (self.emax_field() << self.fbits) | (1 << (self.fbits - 1))
    }
    fn zero(self, sign: bool) -> u64 {
        (sign as u64) << (self.fbits + self.ebits)
    }
    fn inf(self, sign: bool) -> u64 {
        self.zero(sign) | (self.emax_field() << self.fbits)
    }
    fn bias(self) -> i32 {
        self.fmt.emax
    }
    fn pack(self, r: &Rounded) -> u64 {
        match r.kind {
            Kind::Zero => self.zero(r.sign),
            Kind::Inf => self.inf(r.sign),
            Kind::Finite => {
                let frac = (r.sig << 1) >> (64 - self.fbits);
                let e = if r.sig >> 63 == 0 { 0 } else { (r.exp + self.bias()) as u64 };
                self.zero(r.sign) | (e << self.fbits) | frac
            }
        }
    }
}

/// An unpacked SSE operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Zero(bool),
    Fin(Unpacked),
    Inf(bool),
    NaN,
}

/// Unpacks; the flag is set for a denormal operand that raises DE (DAZ clear).
fn unpack(f: SFmt, x: u64, daz: bool) -> (Op, bool) {
    let s = f.sign(x);
    let e = f.exp(x);
    let m = f.frac(x);
    if e == f.emax_field() {
        return (if m == 0 { Op::Inf(s) } else { Op::NaN }, false);
    }
    if e == 0 {
        if m == 0 || daz {
            return (Op::Zero(s), false);
        }
        let u = Unpacked::normalized(s, f.fmt.emin + 127 - f.fbits as i32, m as u128);
        return (Op::Fin(u), true);
    }
    let sig = ((1u128 << f.fbits) | m as u128) << (127 - f.fbits);
    (Op::Fin(Unpacked { sign: s, exp: e as i32 - f.bias(), sig }), false)
}

fn result<T>(value: T, flags: Exceptions, csr: Mxcsr) -> FpResult<T> {
    let mut r = FpResult::new(value, flags, false, csr.masks);
    if r.trap {
        r.write = false;
    }
    r
}

fn round_to(f: SFmt, x: Unpacked, csr: Mxcsr, flags: Exceptions) -> FpResult<u64> {
    round_to_rm(f, x, csr, csr.rounding, flags)
}

fn round_to_rm(f: SFmt, x: Unpacked, csr: Mxcsr, rm: Rounding, flags: Exceptions) -> FpResult<u64> {
    if x.sig == 0 {
        return result(f.zero(x.sign), flags, csr);
    }
    let tiny = if csr.ftz { TinyMode::FlushToZero } else { TinyMode::Denormalize };
    let r = round_pack(x, f.fmt, rm, csr.masks, None, tiny);
    let mut raised = r.flags;
    if raised.intersects((Exceptions::OVERFLOW | Exceptions::UNDERFLOW) & !csr.masks) {
        // Unmasked overflow/underflow (measured on Zen 4): PE is reported exactly when
        // the significand is inexact at the format's precision with the exponent
        // unbounded, even where the x87's bias-adjusted result would still be out of
        // range (CVTPD2PS of 2^-1022 reports UE alone).
        let n = Unpacked::normalized(x.sign, x.exp, x.sig);
        raised.set(Exceptions::PRECISION, n.sig & ((1u128 << (128 - f.fmt.p)) - 1) != 0);
    }
    result(f.pack(&r), flags | raised, csr)
}

/// NaN propagation for two-source arithmetic: the first source's NaN (quieted) if it
/// is a NaN, else the second's; IE if either is an SNaN.
fn nan2(f: SFmt, a: u64, b: u64, csr: Mxcsr) -> FpResult<u64> {
    let flags = if f.is_snan(a) || f.is_snan(b) { Exceptions::INVALID } else { Exceptions::empty() };
    let v = if f.is_nan(a) { f.quiet(a) } else { f.quiet(b) };
    result(v, flags, csr)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

fn arith(f: SFmt, op: Arith, a: u64, b: u64, csr: Mxcsr) -> FpResult<u64> {
    if f.is_nan(a) || f.is_nan(b) {
        return nan2(f, a, b, csr);
    }
    let (ua, da) = unpack(f, a, csr.daz);
    let (ub, db) = unpack(f, b, csr.daz);
    let den = if da || db { Exceptions::DENORMAL } else { Exceptions::empty() };
    let inv = || result(f.indefinite(), Exceptions::INVALID, csr);
    let down = csr.rounding == Rounding::Down;
    let neg = |o: Op| match o {
        Op::Zero(s) => Op::Zero(!s),
        Op::Inf(s) => Op::Inf(!s),
        Op::Fin(u) => Op::Fin(Unpacked { sign: !u.sign, ..u }),
        Op::NaN => Op::NaN,
    };
    match op {
        Arith::Add | Arith::Sub => {
            let ub = if op == Arith::Sub { neg(ub) } else { ub };
            match (ua, ub) {
                (Op::Inf(x), Op::Inf(y)) if x != y => inv(),
                (Op::Inf(s), _) | (_, Op::Inf(s)) => result(f.inf(s), den, csr),
                (Op::Zero(x), Op::Zero(y)) => result(f.zero(if x == y { x } else { down }), den, csr),
                (Op::Zero(_), Op::Fin(u)) | (Op::Fin(u), Op::Zero(_)) => round_to(f, u, csr, den),
                (Op::Fin(x), Op::Fin(y)) => {
                    let s = crate::x87::arith::add_exact(x, y);
                    if s.sig == 0 {
                        result(f.zero(down), den, csr)
                    } else {
                        round_to(f, s, csr, den)
                    }
                }
                _ => inv(),
            }
        }
        Arith::Mul => {
            let s = f.sign(a) ^ f.sign(b);
            match (ua, ub) {
                (Op::Inf(_), Op::Zero(_)) | (Op::Zero(_), Op::Inf(_)) => inv(),
                (Op::Inf(_), _) | (_, Op::Inf(_)) => result(f.inf(s), den, csr),
                (Op::Zero(_), _) | (_, Op::Zero(_)) => result(f.zero(s), den, csr),
                (Op::Fin(x), Op::Fin(y)) => round_to(f, crate::x87::arith::mul_exact(x, y), csr, den),
                _ => inv(),
            }
        }
        Arith::Div => {
            let s = f.sign(a) ^ f.sign(b);
            match (ua, ub) {
                (Op::Inf(_), Op::Inf(_)) | (Op::Zero(_), Op::Zero(_)) => inv(),
                (Op::Inf(_), _) => result(f.inf(s), den, csr),
                (_, Op::Inf(_)) | (Op::Zero(_), _) => result(f.zero(s), den, csr),
                // x / 0: ZE only, a denormal dividend does not add DE (measured)
                (_, Op::Zero(_)) => result(f.inf(s), Exceptions::ZERO_DIVIDE, csr),
                (Op::Fin(x), Op::Fin(y)) => round_to(f, crate::x87::arith::div_exact(x, y), csr, den),
                _ => inv(),
            }
        }
    }
}

fn sqrt_g(f: SFmt, b: u64, csr: Mxcsr) -> FpResult<u64> {
    if f.is_nan(b) {
        return nan2(f, b, b, csr);
    }
    let (u, d) = unpack(f, b, csr.daz);
    let den = if d { Exceptions::DENORMAL } else { Exceptions::empty() };
    match u {
        Op::Zero(s) => result(f.zero(s), den, csr),
        Op::Inf(false) => result(b, den, csr),
        Op::Inf(true) => result(f.indefinite(), Exceptions::INVALID, csr),
        Op::Fin(x) if x.sign => result(f.indefinite(), Exceptions::INVALID, csr),
        Op::Fin(x) => round_to(f, crate::x87::arith::sqrt_exact(x), csr, den),
        Op::NaN => result(f.indefinite(), Exceptions::INVALID, csr),
    }
}

macro_rules! scalar_fns {
    ($t:ty, $f:expr, $add:ident, $sub:ident, $mul:ident, $div:ident, $sqrt:ident) => {
        /// ADDSS/ADDSD (and packed lanes): `a + b`.
        pub fn $add(a: $t, b: $t, csr: Mxcsr) -> FpResult<$t> {
            arith($f, Arith::Add, a as u64, b as u64, csr).map(|v| v as $t)
        }
        /// SUBSS/SUBSD: `a - b`.
        pub fn $sub(a: $t, b: $t, csr: Mxcsr) -> FpResult<$t> {
            arith($f, Arith::Sub, a as u64, b as u64, csr).map(|v| v as $t)
        }
        /// MULSS/MULSD: `a * b`.
        pub fn $mul(a: $t, b: $t, csr: Mxcsr) -> FpResult<$t> {
            arith($f, Arith::Mul, a as u64, b as u64, csr).map(|v| v as $t)
        }
        /// DIVSS/DIVSD: `a / b`.
        pub fn $div(a: $t, b: $t, csr: Mxcsr) -> FpResult<$t> {
            arith($f, Arith::Div, a as u64, b as u64, csr).map(|v| v as $t)
        }
        /// SQRTSS/SQRTSD: square root of the source.
        pub fn $sqrt(b: $t, csr: Mxcsr) -> FpResult<$t> {
            sqrt_g($f, b as u64, csr).map(|v| v as $t)
        }
    };
}

scalar_fns!(u32, S32, add_f32, sub_f32, mul_f32, div_f32, sqrt_f32);
scalar_fns!(u64, S64, add_f64, sub_f64, mul_f64, div_f64, sqrt_f64);

/// MINSS/MAXSS semantics: returns `a` if `a < b` (resp. `a > b`), otherwise `b` —
/// so a NaN in either operand or two zeros of any sign return the second operand `b`
/// unchanged (an SNaN is not quieted). Any NaN raises IE.
fn minmax(f: SFmt, a: u64, b: u64, csr: Mxcsr, max: bool) -> FpResult<u64> {
    let (ua, da) = unpack(f, a, csr.daz);
    let (ub, db) = unpack(f, b, csr.daz);
    let daz_val = |x: u64, u: Op| match u {
        Op::Zero(s) => f.zero(s),
        _ => x,
    };
    if f.is_nan(a) || f.is_nan(b) {
        // the second operand is returned (after DAZ), unquieted
        return result(daz_val(b, ub), Exceptions::INVALID, csr);
    }
    let den = if da || db { Exceptions::DENORMAL } else { Exceptions::empty() };
    let ord = order(ua, ub);
    let pick_a = if max { ord == CompareResult::Greater } else { ord == CompareResult::Less };
    let v = if pick_a { daz_val(a, ua) } else { daz_val(b, ub) };
    result(v, den, csr)
}

/// MINSS (and MINPS lanes) on f32 bits.
pub fn min_f32(a: u32, b: u32, csr: Mxcsr) -> FpResult<u32> {
    minmax(S32, a as u64, b as u64, csr, false).map(|v| v as u32)
}
/// MAXSS (and MAXPS lanes) on f32 bits.
pub fn max_f32(a: u32, b: u32, csr: Mxcsr) -> FpResult<u32> {
    minmax(S32, a as u64, b as u64, csr, true).map(|v| v as u32)
}
/// MINSD (and MINPD lanes) on f64 bits.
pub fn min_f64(a: u64, b: u64, csr: Mxcsr) -> FpResult<u64> {
    minmax(S64, a, b, csr, false)
}
/// MAXSD (and MAXPD lanes) on f64 bits.
pub fn max_f64(a: u64, b: u64, csr: Mxcsr) -> FpResult<u64> {
    minmax(S64, a, b, csr, true)
}

/// Orders two non-NaN operands.
fn order(a: Op, b: Op) -> CompareResult {
    let key = |o: Op| -> (i8, i32, u128) {
        match o {
            Op::Zero(_) | Op::NaN => (0, 0, 0),
            Op::Inf(s) => (if s { -2 } else { 2 }, 0, 0),
            Op::Fin(u) => (if u.sign { -1 } else { 1 }, u.exp, u.sig),
        }
    };
    let (ka, kb) = (key(a), key(b));
    let ord = if ka.0 != kb.0 {
        ka.0.cmp(&kb.0)
    } else if ka.0 == 1 {
        (ka.1, ka.2).cmp(&(kb.1, kb.2))
    } else if ka.0 == -1 {
        (kb.1, kb.2).cmp(&(ka.1, ka.2))
    } else {
        core::cmp::Ordering::Equal
    };
    match ord {
        core::cmp::Ordering::Less => CompareResult::Less,
        core::cmp::Ordering::Equal => CompareResult::Equal,
        core::cmp::Ordering::Greater => CompareResult::Greater,
    }
}

fn compare_g(f: SFmt, a: u64, b: u64, csr: Mxcsr, signaling: bool) -> FpResult<CompareResult> {
    if f.is_nan(a) || f.is_nan(b) {
        let ie = signaling || f.is_snan(a) || f.is_snan(b);
        let flags = if ie { Exceptions::INVALID } else { Exceptions::empty() };
        return result(CompareResult::Unordered, flags, csr);
    }
    let (ua, da) = unpack(f, a, csr.daz);
    let (ub, db) = unpack(f, b, csr.daz);
    let den = if da || db { Exceptions::DENORMAL } else { Exceptions::empty() };
    result(order(ua, ub), den, csr)
}

/// COMISS (`signaling` = true: IE on any NaN) / UCOMISS (IE on SNaN only). Map the
/// result to ZF/PF/CF with [`CompareResult::eflags`]; OF, AF and SF are cleared.
pub fn comis_f32(a: u32, b: u32, csr: Mxcsr, signaling: bool) -> FpResult<CompareResult> {
    compare_g(S32, a as u64, b as u64, csr, signaling)
}

/// COMISD / UCOMISD.
pub fn comis_f64(a: u64, b: u64, csr: Mxcsr, signaling: bool) -> FpResult<CompareResult> {
    compare_g(S64, a, b, csr, signaling)
}

/// Evaluates one of the 32 CMPPS/CMPSS/VCMPxx predicates (`imm & 31`). Returns the
/// predicate's truth value (the caller writes all-ones or zero). Predicates whose name
/// ends in `_S` (and the legacy LT/LE/NLT/NLE) raise IE on QNaN operands as well.
pub fn cmp_predicate(r: CompareResult, imm: u8) -> (bool, bool) {
    let (lt, eq, gt, un) = (
        r == CompareResult::Less,
        r == CompareResult::Equal,
        r == CompareResult::Greater,
        r == CompareResult::Unordered,
    );
    let low = imm & 15;
    let v = match low {
        0 => eq,
        1 => lt,
        2 => lt || eq,
        3 => un,
        4 => !eq,
        5 => !lt,
        6 => !(lt || eq),
        7 => !un,
        8 => eq || un,
        9 => lt || un,
        10 => lt || eq || un,
        11 => false,
        12 => lt || gt,
        13 => gt || eq,
        14 => gt,
        _ => true,
    };
    let signaling_low = matches!(low, 1 | 2 | 5 | 6 | 9 | 10 | 13 | 14);
    let signaling = signaling_low ^ (imm & 16 != 0);
    (v, signaling)
}

fn cmp_g(f: SFmt, a: u64, b: u64, imm: u8, csr: Mxcsr) -> FpResult<bool> {
    let (_, signaling) = cmp_predicate(CompareResult::Equal, imm);
    compare_g(f, a, b, csr, signaling).map(|r| cmp_predicate(r, imm).0)
}

/// CMPSS/CMPPS lane: predicate `imm` (0..=31) of `a` vs `b`.
pub fn cmp_f32(a: u32, b: u32, imm: u8, csr: Mxcsr) -> FpResult<bool> {
    cmp_g(S32, a as u64, b as u64, imm, csr)
}

/// CMPSD/CMPPD lane.
pub fn cmp_f64(a: u64, b: u64, imm: u8, csr: Mxcsr) -> FpResult<bool> {
    cmp_g(S64, a, b, imm, csr)
}

/// Converts between formats (CVTSS2SD / CVTSD2SS).
fn convert(from: SFmt, to: SFmt, x: u64, csr: Mxcsr) -> FpResult<u64> {
    if from.is_nan(x) {
        let flags = if from.is_snan(x) { Exceptions::INVALID } else { Exceptions::empty() };
        let s = from.sign(x);
        let frac = from.frac(x);
        let frac = if to.fbits >= from.fbits {
            frac << (to.fbits - from.fbits)
        } else {
            frac >> (from.fbits - to.fbits)
        };
        let v = to.quiet(to.inf(s) | frac);
        return result(v, flags, csr);
    }
    let (u, d) = unpack(from, x, csr.daz);
    let den = if d { Exceptions::DENORMAL } else { Exceptions::empty() };
    match u {
        Op::Zero(s) => result(to.zero(s), den, csr),
        Op::Inf(s) => result(to.inf(s), den, csr),
        Op::Fin(v) => round_to(to, v, csr, den),
        Op::NaN => result(to.indefinite(), Exceptions::INVALID, csr),
    }
}

/// CVTSS2SD: exact widening (SNaN: IE and quieted; denormal: DE unless DAZ).
pub fn f32_to_f64(x: u32, csr: Mxcsr) -> FpResult<u64> {
    convert(S32, S64, x as u64, csr)
}

/// CVTSD2SS: rounding narrowing.
pub fn f64_to_f32(x: u64, csr: Mxcsr) -> FpResult<u32> {
    convert(S64, S32, x, csr).map(|v| v as u32)
}

fn to_int_g(f: SFmt, x: u64, bits: u32, truncate: bool, csr: Mxcsr) -> FpResult<i64> {
    let indefinite = i64::MIN >> (64 - bits);
    let rm = if truncate { Rounding::TowardZero } else { csr.rounding };
    let bad = || result(indefinite, Exceptions::INVALID, csr);
    if f.is_nan(x) {
        return bad();
    }
    let (u, _) = unpack(f, x, csr.daz);
    match u {
        Op::Zero(_) => result(0, Exceptions::empty(), csr),
        Op::Inf(_) | Op::NaN => bad(),
        Op::Fin(u) => match crate::x87::conv::to_int_mag(u, rm) {
            Some((neg, mag, inexact, _)) => {
                let limit = 1u64 << (bits - 1);
                if (!neg && mag >= limit) || (neg && mag > limit) {
                    return bad();
                }
                let v = if neg { (mag as i64).wrapping_neg() } else { mag as i64 };
                let flags = if inexact { Exceptions::PRECISION } else { Exceptions::empty() };
                result(v, flags, csr)
            }
            None => bad(),
        },
    }
}

/// CVTSS2SI / CVTTSS2SI (32-bit destination): out of range or NaN gives IE and the
/// integer indefinite 0x80000000. Denormal sources do not raise DE.
pub fn f32_to_i32(x: u32, truncate: bool, csr: Mxcsr) -> FpResult<i32> {
    to_int_g(S32, x as u64, 32, truncate, csr).map(|v| v as i32)
}
/// CVTSS2SI / CVTTSS2SI with a 64-bit destination (indefinite 0x8000000000000000).
pub fn f32_to_i64(x: u32, truncate: bool, csr: Mxcsr) -> FpResult<i64> {
    to_int_g(S32, x as u64, 64, truncate, csr)
}
/// CVTSD2SI / CVTTSD2SI, 32-bit destination.
pub fn f64_to_i32(x: u64, truncate: bool, csr: Mxcsr) -> FpResult<i32> {
    to_int_g(S64, x, 32, truncate, csr).map(|v| v as i32)
}
/// CVTSD2SI / CVTTSD2SI, 64-bit destination.
pub fn f64_to_i64(x: u64, truncate: bool, csr: Mxcsr) -> FpResult<i64> {
    to_int_g(S64, x, 64, truncate, csr)
}

fn from_int_g(f: SFmt, v: i64, csr: Mxcsr) -> FpResult<u64> {
    if v == 0 {
        return result(0, Exceptions::empty(), csr);
    }
    let u = Unpacked::normalized(v < 0, 127, v.unsigned_abs() as u128);
    round_to(f, u, csr, Exceptions::empty())
}

/// CVTSI2SS (32- or 64-bit source sign-extended to i64): rounds per MXCSR.
pub fn i64_to_f32(v: i64, csr: Mxcsr) -> FpResult<u32> {
    from_int_g(S32, v, csr).map(|x| x as u32)
}
/// CVTSI2SD: exact for 32-bit sources, rounds per MXCSR for 64-bit ones.
pub fn i64_to_f64(v: i64, csr: Mxcsr) -> FpResult<u64> {
    from_int_g(S64, v, csr)
}

fn round_g(f: SFmt, x: u64, imm: u8, csr: Mxcsr) -> FpResult<u64> {
    if f.is_nan(x) {
        return nan2(f, x, x, csr);
    }
    let rm = if imm & 4 != 0 { csr.rounding } else { Rounding::from_bits(imm as u32) };
    // ROUNDSS/SD never raise DE (measured); DAZ still applies.
    let (u, _) = unpack(f, x, csr.daz);
    let den = Exceptions::empty();
    match u {
        Op::Zero(s) => result(f.zero(s), den, csr),
        Op::Inf(_) => result(x, den, csr),
        Op::Fin(v) if v.exp >= f.fbits as i32 => result(x, den, csr),
        Op::Fin(v) => {
            let (q, inexact, _) = shift_round(v.sig, (127 - v.exp) as u32, v.sign, rm);
            let pe = if inexact && imm & 8 == 0 { Exceptions::PRECISION } else { Exceptions::empty() };
            if q == 0 {
                return result(f.zero(v.sign), den | pe, csr);
            }
            let n = Unpacked::normalized(v.sign, 127, q);
            round_to_rm(f, n, csr, rm, den | pe)
        }
        Op::NaN => result(f.indefinite(), Exceptions::INVALID, csr),
    }
}

/// ROUNDSS/ROUNDPS lane: `imm` bits 1:0 select the rounding mode, bit 2 uses
/// MXCSR.RC instead, bit 3 suppresses the precision exception.
pub fn round_f32(x: u32, imm: u8, csr: Mxcsr) -> FpResult<u32> {
    round_g(S32, x as u64, imm, csr).map(|v| v as u32)
}
/// ROUNDSD/ROUNDPD lane.
pub fn round_f64(x: u64, imm: u8, csr: Mxcsr) -> FpResult<u64> {
    round_g(S64, x, imm, csr)
}

/// Applies a lane-wise f32 operation over four lanes, OR-ing the flags. If any lane
/// traps, no lane is written.
pub fn packed_f32(
    a: [u32; 4],
    b: [u32; 4],
    mut op: impl FnMut(u32, u32) -> FpResult<u32>,
) -> FpResult<[u32; 4]> {
    let mut out = [0u32; 4];
    let mut flags = Exceptions::empty();
    let mut trap = false;
    for i in 0..4 {
        let r = op(a[i], b[i]);
        out[i] = r.value;
        flags |= r.flags;
        trap |= r.trap;
    }
    FpResult { value: out, flags, c1: false, write: !trap, trap }
}

/// Lane-wise f64 operation over two lanes.
pub fn packed_f64(
    a: [u64; 2],
    b: [u64; 2],
    mut op: impl FnMut(u64, u64) -> FpResult<u64>,
) -> FpResult<[u64; 2]> {
    let r0 = op(a[0], b[0]);
    let r1 = op(a[1], b[1]);
    let trap = r0.trap || r1.trap;
    FpResult { value: [r0.value, r1.value], flags: r0.flags | r1.flags, c1: false, write: !trap, trap }
}

/// DPPS: dot product of the lanes selected by `imm[7:4]` (unselected products are
/// +0.0), summed as `(p0 + p1) + (p2 + p3)` with each step rounded per MXCSR, and
/// broadcast to the lanes selected by `imm[3:0]` (others +0.0).
pub fn dpps(a: [u32; 4], b: [u32; 4], imm: u8, csr: Mxcsr) -> FpResult<[u32; 4]> {
    let mut flags = Exceptions::empty();
    let mut p = [0u32; 4];
    for i in 0..4 {
        if imm & (0x10 << i) != 0 {
            let r = mul_f32(a[i], b[i], csr);
            flags |= r.flags;
            p[i] = r.value;
        }
    }
    let s01 = add_f32(p[0], p[1], csr);
    let s23 = add_f32(p[2], p[3], csr);
    let s = add_f32(s01.value, s23.value, csr);
    flags |= s01.flags | s23.flags | s.flags;
    let mut out = [0u32; 4];
    for (i, o) in out.iter_mut().enumerate() {
        if imm & (1 << i) != 0 {
            *o = s.value;
        }
    }
    result(out, flags, csr)
}

/// DPPD: `imm[5:4]` select the products, summed `p0 + p1`, broadcast per `imm[1:0]`.
pub fn dppd(a: [u64; 2], b: [u64; 2], imm: u8, csr: Mxcsr) -> FpResult<[u64; 2]> {
    let mut flags = Exceptions::empty();
    let mut p = [0u64; 2];
    for i in 0..2 {
        if imm & (0x10 << i) != 0 {
            let r = mul_f64(a[i], b[i], csr);
            flags |= r.flags;
            p[i] = r.value;
        }
    }
    let s = add_f64(p[0], p[1], csr);
    flags |= s.flags;
    let mut out = [0u64; 2];
    for (i, o) in out.iter_mut().enumerate() {
        if imm & (1 << i) != 0 {
            *o = s.value;
        }
    }
    result(out, flags, csr)
}

fn table12(t: &str, i: usize) -> u32 {
    let b = &t.as_bytes()[3 * i..3 * i + 3];
    b.iter().fold(0u32, |acc, &c| {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => 0,
        };
        (acc << 4) | d as u32
    })
}

/// RCPSS/RCPPS lane, reproducing AMD Zen 4 bit for bit (table measured exhaustively;
/// other implementations return different approximations). Raises no exceptions and
/// ignores MXCSR: denormal inputs count as zero (result ±∞), results too small for a
/// normal number are flushed to ±0, NaNs are quieted, ±∞ gives ±0.
pub fn rcp_f32(x: u32) -> u32 {
    let s = x & 0x8000_0000;
    let e = (x >> 23) & 0xFF;
    let m = x & 0x7F_FFFF;
    if e == 0xFF {
        return if m != 0 { x | 0x40_0000 } else { s };
    }
    if e == 0 {
        return s | 0x7F80_0000;
    }
    let oe = 253 - e as i32;
    if oe <= 0 {
        return s;
    }
    s | ((oe as u32) << 23) | (table12(crate::rcp_tables::RCP, (m >> 11) as usize) << 11)
}

/// RSQRTSS/RSQRTPS lane, reproducing AMD Zen 4 bit for bit. No exceptions: negative
/// nonzero inputs give the default NaN, ±0 and denormals give ±∞, +∞ gives +0.
pub fn rsqrt_f32(x: u32) -> u32 {
    let s = x & 0x8000_0000;
    let e = (x >> 23) & 0xFF;
    let m = x & 0x7F_FFFF;
    if e == 0xFF && m != 0 {
        return x | 0x40_0000;
    }
    if e == 0 {
        return s | 0x7F80_0000;
    }
    if s != 0 {
        return F32_INDEFINITE;
    }
    if e == 0xFF {
        return 0;
    }
    let k = e as i32 - 127;
    let (tab, half) = if k.rem_euclid(2) == 0 {
        (crate::rcp_tables::RSQRT_EVEN, k / 2)
    } else {
        (crate::rcp_tables::RSQRT_ODD, (k - 1) / 2)
    };
    let oe = (126 - half) as u32;
    (oe << 23) | (table12(tab, (m >> 11) as usize) << 11)
}
