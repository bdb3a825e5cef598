//! Conversions between the register format and integers (FILD/FIST/FISTP/FISTTP),
//! f32/f64 memory operands (FLD/FST) and packed BCD (FBLD/FBSTP).

use super::{screen1, unpack, Opnd};
use crate::round::{round_pack, shift_round, TinyMode, Unpacked, F32, F64};
use crate::types::{Exceptions, F80Class, FpResult, Rounding, X87Control, F80};

/// How a float-to-integer store rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntConv {
    /// FIST/FISTP: round according to the control word.
    Round,
    /// FISTTP (SSE3): always truncate toward zero.
    Truncate,
}

fn from_int(neg: bool, mag: u64) -> F80 {
    if mag == 0 {
        return F80::ZERO;
    }
    let lz = mag.leading_zeros();
    F80 { signif: mag << lz, se: ((neg as u16) << 15) | (16383 + 63 - lz as u16) }
}

/// FILD m16: exact.
pub fn from_i16(v: i16) -> F80 {
    from_i64(v as i64)
}

/// FILD m32: exact.
pub fn from_i32(v: i32) -> F80 {
    from_i64(v as i64)
}

/// FILD m64: exact.
pub fn from_i64(v: i64) -> F80 {
    from_int(v < 0, v.unsigned_abs())
}

/// Rounds to an integer magnitude; None if |x| >= 2^64 after rounding.
/// Returns (negative, magnitude, inexact, rounded up).
pub(crate) fn to_int_mag(u: Unpacked, rm: Rounding) -> Option<(bool, u64, bool, bool)> {
    if u.exp >= 64 {
        return None;
    }
    let drop = (127 - u.exp) as u32; // u.exp may be very negative: drop > 128 handled
    let (q, inexact, inc) = shift_round(u.sig, drop, u.sign, rm);
    if q >> 64 != 0 {
        return None;
    }
    Some((u.sign, q as u64, inexact, inc))
}

fn to_int(x: F80, ctl: X87Control, mode: IntConv, bits: u32) -> FpResult<i64> {
    let indefinite = i64::MIN >> (64 - bits);
    let rm = match mode {
        IntConv::Round => ctl.rounding,
        IntConv::Truncate => Rounding::TowardZero,
    };
    let bad = |flags: Exceptions| FpResult::new(indefinite, flags | Exceptions::INVALID, false, ctl.masks);
    // Stores to integer formats never raise DE (measured).
    let (u, _) = unpack(x);
    let dflag = Exceptions::empty();
    match u {
        Opnd::Zero(_) => FpResult::new(0, dflag, false, ctl.masks),
        Opnd::Fin(u) => match to_int_mag(u, rm) {
            Some((neg, mag, inexact, up)) => {
                let limit = 1u64 << (bits - 1);
                if (!neg && mag >= limit) || (neg && mag > limit) {
                    return bad(dflag);
                }
                let v = if neg { (mag as i64).wrapping_neg() } else { mag as i64 };
                let flags = dflag | if inexact { Exceptions::PRECISION } else { Exceptions::empty() };
                FpResult::new(v, flags, up, ctl.masks)
            }
            None => bad(dflag),
        },
        _ => bad(Exceptions::empty()),
    }
}

/// FIST/FISTP/FISTTP m16. Out of range, NaN or infinity: IE and the integer
/// indefinite 0x8000.
pub fn to_i16(x: F80, ctl: X87Control, mode: IntConv) -> FpResult<i16> {
    to_int(x, ctl, mode, 16).map(|v| v as i16)
}

/// FIST/FISTP/FISTTP m32 (integer indefinite 0x80000000).
pub fn to_i32(x: F80, ctl: X87Control, mode: IntConv) -> FpResult<i32> {
    to_int(x, ctl, mode, 32).map(|v| v as i32)
}

/// FIST/FISTP/FISTTP m64 (integer indefinite 0x8000000000000000).
pub fn to_i64(x: F80, ctl: X87Control, mode: IntConv) -> FpResult<i64> {
    to_int(x, ctl, mode, 64)
}

/// Raw widening of a binary floating-point value (no flags, NaNs keep their kind).
#[inline]
fn widen(sign: bool, exp_field: u32, frac: u64, fbits: u32, bias: i32, emax_field: u32) -> F80 {
    let s = (sign as u16) << 15;
    if exp_field == emax_field {
        return F80 { signif: (1 << 63) | (frac << (63 - fbits)), se: s | 0x7FFF };
    }
    if exp_field == 0 {
        if frac == 0 {
            return F80 { signif: 0, se: s };
        }
        let u = Unpacked::normalized(sign, 1 - bias - fbits as i32 + 127, frac as u128);
        return F80 { signif: (u.sig >> 64) as u64, se: s | (u.exp + 16383) as u16 };
    }
    F80 { signif: (1 << 63) | (frac << (63 - fbits)), se: s | (exp_field as i32 - bias + 16383) as u16 }
}

#[inline]
pub(crate) fn f64_to_f80_raw(bits: u64) -> F80 {
    widen(bits >> 63 != 0, ((bits >> 52) & 0x7FF) as u32, bits & ((1 << 52) - 1), 52, 1023, 0x7FF)
}

#[inline]
pub(crate) fn f32_to_f80_raw(bits: u32) -> F80 {
    widen(bits >> 31 != 0, (bits >> 23) & 0xFF, (bits & 0x7F_FFFF) as u64, 23, 127, 0xFF)
}

fn load_flags(x: F80, is_denormal: bool, ctl: X87Control) -> FpResult<F80> {
    let mut flags = Exceptions::empty();
    let mut v = x;
    if x.class() == F80Class::SNaN {
        flags |= Exceptions::INVALID;
        v = super::quiet(x);
    }
    if is_denormal {
        flags |= Exceptions::DENORMAL;
    }
    FpResult::new(v, flags, false, ctl.masks)
}

/// FLD m32: exact widening; an SNaN raises IE and is quieted, a denormal raises DE.
pub fn from_f32(bits: u32, ctl: X87Control) -> FpResult<F80> {
    let den = (bits >> 23) & 0xFF == 0 && bits & 0x7F_FFFF != 0;
    load_flags(f32_to_f80_raw(bits), den, ctl)
}

/// FLD m64: exact widening; an SNaN raises IE and is quieted, a denormal raises DE.
pub fn from_f64(bits: u64, ctl: X87Control) -> FpResult<F80> {
    let den = (bits >> 52) & 0x7FF == 0 && bits & ((1 << 52) - 1) != 0;
    load_flags(f64_to_f80_raw(bits), den, ctl)
}

/// Narrowing store common to FST m32 / m64. Returns (sign, biased exp, fraction).
fn narrow(x: F80, ctl: X87Control, fmt: crate::round::Format, fbits: u32) -> FpResult<(bool, u32, u64)> {
    // A normal number whose exponent is a normal one of the format, one below its top
    // (rounding may add one): no underflow or overflow, so `round_pack` would only
    // round.
    if let (Opnd::Fin(u), _) = unpack(x) {
        if (fmt.emin..fmt.emax).contains(&u.exp) {
            let r = crate::round::normal_round(u, fmt.p, ctl.rounding);
            let frac = (r.sig << 1) >> (64 - fbits);
            return FpResult::new((u.sign, (r.exp + fmt.emax) as u32, frac), r.flags, r.up, ctl.masks);
        }
    }
    narrow_screened(x, ctl, fmt, fbits)
}

/// [`narrow`] for any operand (and the reference of its fast path).
fn narrow_screened(
    x: F80,
    ctl: X87Control,
    fmt: crate::round::Format,
    fbits: u32,
) -> FpResult<(bool, u32, u64)> {
    let ebits = if fbits == 23 { 8 } else { 11 };
    let emax_field = (1u32 << ebits) - 1;
    let bias = fmt.emax;
    let s = x.sign();
    // FST to memory never raises DE (measured on Zen 4).
    let (u, _) = unpack(x);
    let dflag = Exceptions::empty();
    let nan_of = |v: F80| (v.sign(), emax_field, ((v.signif << 1) >> (64 - fbits)) | (1 << (fbits - 1)));
    match u {
        Opnd::Bad => FpResult::new(nan_of(F80::INDEFINITE), Exceptions::INVALID, false, ctl.masks),
        Opnd::NaN => {
            let flags = if x.class() == F80Class::SNaN { Exceptions::INVALID } else { Exceptions::empty() };
            FpResult::new(nan_of(x), flags, false, ctl.masks)
        }
        Opnd::Zero(_) => FpResult::new((s, 0, 0), dflag, false, ctl.masks),
        Opnd::Inf(_) => FpResult::new((s, emax_field, 0), dflag, false, ctl.masks),
        Opnd::Fin(u) => {
            let r = round_pack(u, fmt, ctl.rounding, ctl.masks, None, TinyMode::Denormalize);
            let v = match r.kind {
                crate::round::Kind::Zero => (s, 0, 0),
                crate::round::Kind::Inf => (s, emax_field, 0),
                crate::round::Kind::Finite => {
                    let frac = (r.sig << 1) >> (64 - fbits);
                    if r.sig >> 63 == 0 {
                        (s, 0, frac)
                    } else {
                        (s, (r.exp + bias) as u32, frac)
                    }
                }
            };
            let ou = Exceptions::OVERFLOW | Exceptions::UNDERFLOW;
            if (r.flags & !ctl.masks).intersects(ou) {
                // Unmasked overflow/underflow on a store: memory is not written and
                // only OE/UE is reported (no PE, C1 clear), as measured.
                let mut res = FpResult::new(v, r.flags & ou, false, ctl.masks);
                res.write = false;
                return res;
            }
            FpResult::new(v, dflag | r.flags, r.up, ctl.masks)
        }
    }
}

/// FST/FSTP m32: rounds to single precision per the rounding control (precision
/// control does not apply). Unmasked overflow/underflow leave memory unwritten.
pub fn to_f32(x: F80, ctl: X87Control) -> FpResult<u32> {
    narrow(x, ctl, F32, 23).map(|(s, e, f)| ((s as u32) << 31) | (e << 23) | f as u32)
}

/// FST/FSTP m64: rounds to double precision per the rounding control.
pub fn to_f64(x: F80, ctl: X87Control) -> FpResult<u64> {
    narrow(x, ctl, F64, 52).map(|(s, e, f)| ((s as u64) << 63) | ((e as u64) << 52) | f)
}

/// FBLD: loads an 18-digit packed BCD integer (10 bytes, little endian, sign in bit 7
/// of byte 9). Nibbles above 9 are weighted by their binary value, as the measured
/// hardware does; no exceptions.
pub fn from_bcd(b: [u8; 10]) -> F80 {
    let mut v: u64 = 0;
    for i in (0..9).rev() {
        v = v * 10 + (b[i] >> 4) as u64;
        v = v * 10 + (b[i] & 15) as u64;
    }
    let neg = b[9] & 0x80 != 0;
    let r = from_int(neg, v);
    if v == 0 {
        super::zero(neg)
    } else {
        r
    }
}

/// The packed-BCD indefinite written by FBSTP on invalid operands.
pub const BCD_INDEFINITE: [u8; 10] = [0, 0, 0, 0, 0, 0, 0, 0xC0, 0xFF, 0xFF];

/// FBSTP: rounds per the rounding control and stores 18 BCD digits; |result| >=
/// 10^18, NaN, infinity or unsupported give IE and the BCD indefinite.
pub fn to_bcd(x: F80, ctl: X87Control) -> FpResult<[u8; 10]> {
    let bad =
        |flags: Exceptions| FpResult::new(BCD_INDEFINITE, flags | Exceptions::INVALID, false, ctl.masks);
    let s = x.sign();
    let (u, _) = match screen1(x, ctl) {
        Ok(v) => v,
        Err(_) => return bad(Exceptions::empty()),
    };
    let den = Exceptions::empty(); // FBSTP never raises DE (measured)
    let (mag, flags, up) = match u {
        Opnd::Zero(_) => (0, den, false),
        Opnd::Fin(u) => match to_int_mag(u, ctl.rounding) {
            Some((_, m, inexact, up)) if m < 1_000_000_000_000_000_000 => {
                (m, den | if inexact { Exceptions::PRECISION } else { Exceptions::empty() }, up)
            }
            _ => return bad(den),
        },
        _ => return bad(den),
    };
    let mut out = [0u8; 10];
    let mut m = mag;
    for byte in out.iter_mut().take(9) {
        let lo = (m % 10) as u8;
        m /= 10;
        let hi = (m % 10) as u8;
        m /= 10;
        *byte = lo | (hi << 4);
    }
    out[9] = if s { 0x80 } else { 0 };
    FpResult::new(out, flags, up, ctl.masks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    #[test]
    fn narrowing_fast_path_equals_the_screened_one() {
        let mut rng = Rng(0x4A77);
        for i in 0..2_000_000u32 {
            let x = if i % 4 == 0 {
                rng.f80()
            } else {
                // Around the normal ranges of f32 and f64 (and their edges).
                let centre =
                    [0x3FFF, 0x3FFF - 126, 0x3FFF + 127, 0x3FFF - 1022, 0x3FFF + 1023][i as usize % 5];
                let e = (centre + rng.below(8) as i32 - 4) as u16;
                F80::new(e | (rng.bool() as u16) << 15, rng.signif())
            };
            let ctl = X87Control::from_fcw(rng.next() as u16);
            assert_eq!(narrow(x, ctl, F32, 23), narrow_screened(x, ctl, F32, 23), "{x:?} {ctl:?}");
            assert_eq!(narrow(x, ctl, F64, 52), narrow_screened(x, ctl, F64, 52), "{x:?} {ctl:?}");
        }
    }
}
