//! Host-independent tests: edge cases with known answers, and "never panics" sweeps
//! over random bit patterns for every public operation.

use crate::sse;
use crate::testutil::Rng;
use crate::types::{Exceptions, Mxcsr, Rounding, X87Control, F80};
use crate::x87;

fn f(v: f64) -> F80 {
    F80::from_f64_bits(v.to_bits())
}

#[test]
fn never_panics_x87() {
    let mut rng = Rng(0xDEAD);
    for i in 0..20000 {
        let (a, b) = if i % 2 == 0 {
            (F80::new(rng.next() as u16, rng.next()), F80::new(rng.next() as u16, rng.next()))
        } else {
            (rng.f80(), rng.f80())
        };
        let ctl = X87Control::from_fcw(rng.next() as u16);
        let _ = x87::add(a, b, ctl);
        let _ = x87::sub(a, b, ctl);
        let _ = x87::mul(a, b, ctl);
        let _ = x87::div(a, b, ctl);
        let _ = x87::sqrt(a, ctl);
        let _ = x87::fprem(a, b, ctl);
        let _ = x87::fprem1(a, b, ctl);
        let _ = x87::frndint(a, ctl);
        let _ = x87::fscale(a, b, ctl);
        let _ = x87::fxtract(a, ctl);
        let _ = x87::compare(a, b, ctl, i % 3 == 0);
        let _ = x87::fxam(a, i % 5 == 0);
        for m in [x87::IntConv::Round, x87::IntConv::Truncate] {
            let _ = x87::to_i16(a, ctl, m);
            let _ = x87::to_i32(a, ctl, m);
            let _ = x87::to_i64(a, ctl, m);
        }
        let _ = x87::to_f32(a, ctl);
        let _ = x87::to_f64(a, ctl);
        let _ = x87::to_bcd(a, ctl);
        let mut bcd = [0u8; 10];
        bcd.iter_mut().for_each(|x| *x = rng.next() as u8);
        let _ = x87::from_bcd(bcd);
        let _ = x87::from_f32(rng.next() as u32, ctl);
        let _ = x87::from_f64(rng.next(), ctl);
        if i % 8 == 0 {
            let _ = x87::fsin(a, ctl);
            let _ = x87::fcos(a, ctl);
            let _ = x87::fsincos(a, ctl);
            let _ = x87::fptan(a, ctl);
            let _ = x87::fpatan(a, b, ctl);
            let _ = x87::f2xm1(a, ctl);
            let _ = x87::fyl2x(a, b, ctl);
            let _ = x87::fyl2xp1(a, b, ctl);
        }
    }
}

#[test]
fn never_panics_sse() {
    let mut rng = Rng(0xBEEF);
    for i in 0..20000 {
        let csr = Mxcsr::from_bits(rng.next() as u32);
        let (a, b) =
            if i % 2 == 0 { (rng.next() as u32, rng.next() as u32) } else { (rng.f32bits(), rng.f32bits()) };
        let (c, d) = if i % 2 == 0 { (rng.next(), rng.next()) } else { (rng.f64bits(), rng.f64bits()) };
        let imm = rng.next() as u8;
        let _ = sse::add_f32(a, b, csr);
        let _ = sse::sub_f32(a, b, csr);
        let _ = sse::mul_f32(a, b, csr);
        let _ = sse::div_f32(a, b, csr);
        let _ = sse::sqrt_f32(a, csr);
        let _ = sse::min_f32(a, b, csr);
        let _ = sse::max_f32(a, b, csr);
        let _ = sse::cmp_f32(a, b, imm, csr);
        let _ = sse::comis_f32(a, b, csr, i % 2 == 0);
        let _ = sse::f32_to_f64(a, csr);
        let _ = sse::f32_to_i32(a, i % 2 == 0, csr);
        let _ = sse::f32_to_i64(a, i % 2 == 0, csr);
        let _ = sse::round_f32(a, imm, csr);
        let _ = sse::rcp_f32(a);
        let _ = sse::rsqrt_f32(a);
        let _ = sse::add_f64(c, d, csr);
        let _ = sse::sub_f64(c, d, csr);
        let _ = sse::mul_f64(c, d, csr);
        let _ = sse::div_f64(c, d, csr);
        let _ = sse::sqrt_f64(c, csr);
        let _ = sse::min_f64(c, d, csr);
        let _ = sse::max_f64(c, d, csr);
        let _ = sse::cmp_f64(c, d, imm, csr);
        let _ = sse::comis_f64(c, d, csr, i % 2 == 0);
        let _ = sse::f64_to_f32(c, csr);
        let _ = sse::f64_to_i32(c, i % 2 == 0, csr);
        let _ = sse::f64_to_i64(c, i % 2 == 0, csr);
        let _ = sse::round_f64(c, imm, csr);
        let _ = sse::i64_to_f32(c as i64, csr);
        let _ = sse::i64_to_f64(c as i64, csr);
        let _ = sse::dpps([a, b, a, b], [b, a, b, a], imm, csr);
        let _ = sse::dppd([c, d], [d, c], imm, csr);
    }
}

#[test]
fn x87_edge_cases() {
    let c = X87Control::default();
    // 1/3 rounded in every precision
    let third = x87::div(F80::ONE, f(3.0), c);
    assert_eq!(third.value, F80::new(0x3FFD, 0xAAAA_AAAA_AAAA_AAAB));
    assert!(third.c1 && third.flags == Exceptions::PRECISION);
    let single = X87Control { precision: crate::Precision::Single, ..c };
    assert_eq!(x87::div(F80::ONE, f(3.0), single).value, F80::new(0x3FFD, 0xAAAA_AB00_0000_0000));
    // x - x = +0, or -0 when rounding down
    assert_eq!(x87::sub(f(2.5), f(2.5), c).value, F80::ZERO);
    let down = X87Control { rounding: Rounding::Down, ..c };
    assert_eq!(x87::sub(f(2.5), f(2.5), down).value, F80::ZERO.negate());
    // invalid operations give the real indefinite
    let inf = F80::INFINITY;
    let r = x87::sub(inf, inf, c);
    assert_eq!(r.value, F80::INDEFINITE);
    assert_eq!(r.flags, Exceptions::INVALID);
    // unsupported encodings are invalid operands
    let unnormal = F80::new(0x3FFF, 0x4000_0000_0000_0000);
    assert_eq!(x87::add(unnormal, F80::ONE, c).flags, Exceptions::INVALID);
    // denormal operand
    let den = F80::new(0, 1);
    assert!(x87::add(den, F80::ONE, c).flags.contains(Exceptions::DENORMAL));
    // masked overflow: infinity with OE|PE and C1
    let big = F80::new(0x7FFE, u64::MAX);
    let r = x87::mul(big, big, c);
    assert_eq!(r.value, F80::INFINITY);
    assert_eq!(r.flags, Exceptions::OVERFLOW | Exceptions::PRECISION);
    assert!(r.c1);
    // unmasked overflow: bias-adjusted result
    let unmasked = X87Control { masks: Exceptions::all() - Exceptions::OVERFLOW, ..c };
    let r = x87::mul(big, big, unmasked);
    assert!(r.write && r.trap);
    assert_eq!(r.value.biased_exp(), 0x7FFE + 0x7FFE - 0x3FFF + 1 - 0x6000);
    // unmasked zero divide: destination not written
    let zd = X87Control { masks: Exceptions::all() - Exceptions::ZERO_DIVIDE, ..c };
    let r = x87::div(F80::ONE, F80::ZERO, zd);
    assert!(!r.write && r.trap && r.flags == Exceptions::ZERO_DIVIDE);
    // NaN selection: larger significand wins
    let q1 = F80::new(0x7FFF, 0xC000_0000_0000_0001);
    let q2 = F80::new(0xFFFF, 0xC000_0000_0000_0002);
    assert_eq!(x87::add(q1, q2, c).value, q2);
    // SNaN is quieted with IE
    let sn = F80::new(0x7FFF, 0x8000_0000_0000_0001);
    let r = x87::add(sn, F80::ONE, c);
    assert_eq!(r.value, F80::new(0x7FFF, 0xC000_0000_0000_0001));
    assert_eq!(r.flags, Exceptions::INVALID);
    // integer conversion overflow -> indefinite
    let r = x87::to_i16(f(40000.0), c, x87::IntConv::Round);
    assert_eq!(r.value, i16::MIN);
    assert_eq!(r.flags, Exceptions::INVALID);
    assert_eq!(x87::to_i32(f(-2.5), c, x87::IntConv::Round).value, -2);
    assert_eq!(x87::to_i32(f(-2.5), c, x87::IntConv::Truncate).value, -2);
    assert_eq!(x87::to_i32(f(-2.5), down, x87::IntConv::Round).value, -3);
    // BCD round trip and indefinite
    let v = x87::from_i64(-123_456_789_012_345_678);
    let b = x87::to_bcd(v, c).value;
    assert_eq!(b, [0x78, 0x56, 0x34, 0x12, 0x90, 0x78, 0x56, 0x34, 0x12, 0x80]);
    assert_eq!(x87::from_bcd(b), v);
    assert_eq!(x87::to_bcd(f(1e18), c).value, x87::conv::BCD_INDEFINITE);
    // FPREM quotient bits and FPREM1 sign
    let r = x87::fprem(f(7.0), f(2.0), c);
    assert_eq!(r.value.rem, F80::ONE);
    assert_eq!(r.value.quotient, 3);
    let r = x87::fprem1(f(7.0), f(2.0), c);
    assert_eq!(r.value.rem, F80::ONE.negate());
    assert_eq!(r.value.quotient, 4);
    // FRNDINT, FSCALE, FXTRACT
    assert_eq!(x87::frndint(f(2.5), c).value, f(2.0));
    assert_eq!(x87::fscale(f(3.0), f(4.9), c).value, f(48.0));
    let (e, s) = x87::fxtract(f(48.0), c).value;
    assert_eq!((e, s), (f(5.0), f(1.5)));
    // constants follow the rounding control
    assert_eq!(x87::constant(x87::Constant::Pi, Rounding::NearestEven).signif, 0xC90F_DAA2_2168_C235);
    assert_eq!(x87::constant(x87::Constant::Pi, Rounding::Down).signif, 0xC90F_DAA2_2168_C234);
    // transcendentals: out of range, special values
    assert!(x87::fsin(f(1e19), c).value.is_none());
    assert_eq!(x87::fcos(F80::ZERO, c).value, Some(F80::ONE));
    assert_eq!(x87::fptan(F80::ZERO, c).value, Some((F80::ZERO, F80::ONE)));
    assert_eq!(x87::fyl2x(f(8.0), f(3.0), c).value, f(9.0));
    assert_eq!(x87::f2xm1(F80::ONE, c).value, F80::ONE);
    assert_eq!(x87::fyl2x(f(-1.0), F80::ONE, c).flags, Exceptions::INVALID);
    assert_eq!(x87::fpatan(F80::ONE, F80::ZERO, c).value, F80::ZERO);
    // sin(1) correctly rounded
    assert_eq!(x87::fsin(F80::ONE, c).value, Some(F80::new(0x3FFE, 0xD76A_A478_4867_7021)));
}

#[test]
fn sse_edge_cases() {
    let c = Mxcsr::default();
    let one = 1.0f32.to_bits();
    let qnan = 0x7FC0_0001u32;
    let snan = 0x7F80_0001u32;
    // first operand's NaN wins, quieted
    assert_eq!(sse::add_f32(snan, qnan, c).value, 0x7FC0_0001);
    assert_eq!(sse::add_f32(one, snan, c).value, 0x7FC0_0001);
    assert_eq!(sse::add_f32(one, snan, c).flags, Exceptions::INVALID);
    // min/max return the second operand on NaN or equal zeros
    assert_eq!(sse::min_f32(qnan, one, c).value, one);
    assert_eq!(sse::min_f32(one, snan, c).value, snan);
    assert_eq!(sse::max_f32(0x8000_0000, 0, c).value, 0);
    assert_eq!(sse::max_f32(0, 0x8000_0000, c).value, 0x8000_0000);
    // invalid gives the default NaN
    assert_eq!(sse::sqrt_f32((-1.0f32).to_bits(), c).value, sse::F32_INDEFINITE);
    // FTZ / DAZ
    let tiny = f32::MIN_POSITIVE.to_bits();
    let ftz = Mxcsr { ftz: true, ..c };
    let r = sse::mul_f32(tiny, 0.5f32.to_bits(), ftz);
    assert_eq!(r.value, 0);
    assert_eq!(r.flags, Exceptions::UNDERFLOW | Exceptions::PRECISION);
    let daz = Mxcsr { daz: true, ..c };
    assert_eq!(sse::add_f32(1, 1, daz).value, 0);
    assert_eq!(sse::add_f32(1, 1, c).flags, Exceptions::DENORMAL);
    // conversions
    assert_eq!(sse::f32_to_i32(3e9f32.to_bits(), false, c).value, i32::MIN);
    assert_eq!(sse::f64_to_i64(f64::NAN.to_bits(), true, c).value, i64::MIN);
    assert_eq!(sse::f32_to_i32(2.5f32.to_bits(), false, c).value, 2);
    assert_eq!(sse::f32_to_i32(2.5f32.to_bits(), true, c).value, 2);
    assert_eq!(sse::i64_to_f32(16_777_217, c).value, 16_777_216f32.to_bits());
    // ROUNDSS: imm 0x8 suppresses PE; imm 0x4 uses MXCSR
    let r = sse::round_f32(2.5f32.to_bits(), 0x0, c);
    assert_eq!((r.value, r.flags), (2.0f32.to_bits(), Exceptions::PRECISION));
    let r = sse::round_f32(2.5f32.to_bits(), 0xA, c);
    assert_eq!((r.value, r.flags), (3.0f32.to_bits(), Exceptions::empty()));
    // compare predicates
    assert!(sse::cmp_f32(one, qnan, 4, c).value); // NEQ_UQ
    assert_eq!(sse::cmp_f32(one, qnan, 0, c).flags, Exceptions::empty());
    assert_eq!(sse::cmp_f32(one, qnan, 1, c).flags, Exceptions::INVALID);
    // dot product
    let a = [1.0f32, 2.0, 3.0, 4.0].map(f32::to_bits);
    let r = sse::dpps(a, a, 0xF1, c);
    assert_eq!(r.value, [30.0f32.to_bits(), 0, 0, 0]);
    // unmasked SSE exceptions suppress the write
    let unmasked = Mxcsr { masks: Exceptions::all() - Exceptions::PRECISION, ..c };
    let r = sse::div_f32(one, 3.0f32.to_bits(), unmasked);
    assert!(r.trap && !r.write);
    // RCPSS table
    assert_eq!(sse::rcp_f32(one), 0x3F7F_F000);
    assert_eq!(sse::rcp_f32(0), 0x7F80_0000);
}
