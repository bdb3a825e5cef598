//! Randomized comparisons against the host CPU (x86_64 only).

use crate::hw;
use crate::testutil::Rng;
use crate::types::{FpResult, X87Control, F80};
use crate::x87;

pub(crate) const SW_C1: u16 = 1 << 9;

/// Compares an op's result with the hardware's ST(0) and status word.
pub(crate) fn x87_matches(r: &FpResult<F80>, a: F80, out: &hw::X87Out) -> bool {
    let want_val = if r.write { r.value } else { a };
    out.st0 == want_val && (out.sw & 0x3F) as u8 == r.flags.bits() && ((out.sw & SW_C1) != 0) == r.c1
}

pub(crate) fn describe(r: &FpResult<F80>, out: &hw::X87Out) -> String {
    format!(
        "hw st0={:04x}:{:016x} sw={:04x} | sw st0={:04x}:{:016x} flags={:02x} c1={} write={}",
        out.st0.se,
        out.st0.signif,
        out.sw,
        r.value.se,
        r.value.signif,
        r.flags.bits(),
        r.c1,
        r.write
    )
}

type BinSw = fn(F80, F80, X87Control) -> FpResult<F80>;
type BinHw = fn(u16, F80, F80) -> hw::X87Out;

pub(crate) fn run_bin(name: &str, seed: u64, n: usize, hwf: BinHw, swf: BinSw) -> usize {
    let mut rng = Rng(seed);
    let mut bad = 0;
    for _ in 0..n {
        let a = rng.f80();
        let b = rng.f80_near(a);
        let fcw = rng.fcw();
        let out = hwf(fcw, a, b);
        let r = swf(a, b, X87Control::from_fcw(fcw));
        if !x87_matches(&r, a, &out) {
            bad += 1;
            if bad <= 12 {
                eprintln!(
                    "{name} fcw={fcw:04x} a={:04x}:{:016x} b={:04x}:{:016x}: {}",
                    a.se,
                    a.signif,
                    b.se,
                    b.signif,
                    describe(&r, &out)
                );
            }
        }
    }
    if bad > 0 {
        eprintln!("{name}: {bad}/{n} mismatches");
    }
    bad
}

fn sqrt2(a: F80, _b: F80, c: X87Control) -> FpResult<F80> {
    x87::sqrt(a, c)
}
fn frndint2(a: F80, _b: F80, c: X87Control) -> FpResult<F80> {
    x87::frndint(a, c)
}

#[test]
fn hw_x87_arith() {
    let n = 20000;
    let mut bad = 0;
    bad += run_bin("fadd", 1, n, hw::fadd, x87::add);
    bad += run_bin("fsub", 2, n, hw::fsub, x87::sub);
    bad += run_bin("fmul", 3, n, hw::fmul, x87::mul);
    bad += run_bin("fdiv", 4, n, hw::fdiv, x87::div);
    bad += run_bin("fsqrt", 5, n, hw::fsqrt, sqrt2);
    bad += run_bin("frndint", 6, n, hw::frndint, frndint2);
    bad += run_bin("fscale", 7, n, hw::fscale, x87::fscale);
    assert_eq!(bad, 0);
}
