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

fn report(name: &str, bad: usize, n: usize) -> usize {
    if bad > 0 {
        eprintln!("{name}: {bad}/{n} mismatches");
    }
    bad
}

#[test]
fn hw_x87_prem() {
    let n = 20000;
    let mut total = 0;
    for (name, ieee) in [("fprem", false), ("fprem1", true)] {
        let mut rng = Rng(11 + ieee as u64);
        let mut bad = 0;
        for i in 0..n {
            let a = rng.f80();
            let b = if i % 3 == 0 {
                // large exponent differences
                F80::new(
                    (a.se & 0x8000) ^ ((rng.bool() as u16) << 15)
                        | ((a.se & 0x7FFF).saturating_sub(rng.below(200) as u16)).max(1),
                    rng.signif(),
                )
            } else {
                rng.f80_near(a)
            };
            let fcw = rng.fcw();
            let out = if ieee { hw::fprem1(fcw, a, b) } else { hw::fprem(fcw, a, b) };
            let ctl = X87Control::from_fcw(fcw);
            let r = if ieee { x87::fprem1(a, b, ctl) } else { x87::fprem(a, b, ctl) };
            let (c0, c1, c2, c3) = r.value.condition_codes();
            let want = if r.write { r.value.rem } else { a };
            let cc = |sw: u16| (sw >> 8) & 0x47;
            let mine = if r.write || r.trap {
                (c0 as u16) | ((c1 as u16) << 1) | ((c2 as u16) << 2) | ((c3 as u16) << 6)
            } else {
                0
            };
            let ok = out.st0 == want
                && (out.sw & 0x3F) as u8 == r.flags.bits()
                && (!r.write || cc(out.sw) == mine);
            if !ok {
                bad += 1;
                if bad <= 10 {
                    eprintln!(
                        "{name} fcw={fcw:04x} a={:04x}:{:016x} b={:04x}:{:016x}: hw st0={:04x}:{:016x} sw={:04x} | sw {:04x}:{:016x} flags={:02x} cc={:x} write={}",
                        a.se, a.signif, b.se, b.signif, out.st0.se, out.st0.signif, out.sw,
                        r.value.rem.se, r.value.rem.signif, r.flags.bits(), mine, r.write
                    );
                }
            }
        }
        total += report(name, bad, n);
    }
    assert_eq!(total, 0);
}

#[test]
fn hw_x87_compare_fxam_fxtract() {
    let n = 20000;
    let mut rng = Rng(21);
    let mut bad = 0;
    for _ in 0..n {
        let a = rng.f80();
        let b = rng.f80_near(a);
        let fcw = rng.fcw();
        let ctl = X87Control::from_fcw(fcw);
        for quiet in [false, true] {
            let out = if quiet { hw::fucom(fcw, a, b) } else { hw::fcom(fcw, a, b) };
            let r = x87::compare(a, b, ctl, quiet);
            let (c3, c2, c0) = r.value.x87_cc();
            let mine = (c0 as u16) | ((c2 as u16) << 2) | ((c3 as u16) << 6);
            let hwcc = (out.sw >> 8) & 0x45;
            let ok = (out.sw & 0x3F) as u8 == r.flags.bits() && (!r.write || hwcc == mine);
            if !ok {
                bad += 1;
                if bad <= 10 {
                    eprintln!("fcom quiet={quiet} fcw={fcw:04x} a={a:?} b={b:?} hw sw={:04x} mine={r:?}", out.sw);
                }
            }
        }
        // FXAM
        let out = hw::fxam(fcw, a, b);
        let (cls, c1) = x87::fxam(a, false);
        let (c3, c2, c0) = cls.cc();
        let mine = (c0 as u16) | ((c1 as u16) << 1) | ((c2 as u16) << 2) | ((c3 as u16) << 6);
        if (out.sw >> 8) & 0x47 != mine || out.sw & 0x3F != 0 {
            bad += 1;
            if bad <= 10 {
                eprintln!("fxam a={a:?} hw sw={:04x} mine={cls:?}", out.sw);
            }
        }
        // FXTRACT
        let out = hw::fxtract(fcw, a);
        let r = x87::fxtract(a, ctl);
        let (want0, want1) = if r.write { (r.value.1, r.value.0) } else { (a, F80::ZERO) };
        let ok = (out.sw & 0x3F) as u8 == r.flags.bits()
            && out.st0 == want0
            && (!r.write || out.st1 == want1);
        if !ok {
            bad += 1;
            if bad <= 10 {
                eprintln!("fxtract fcw={fcw:04x} a={a:?} hw={out:?} mine={r:?}");
            }
        }
    }
    assert_eq!(report("compare/fxam/fxtract", bad, n), 0);
}

#[test]
fn hw_x87_constants() {
    use x87::Constant::*;
    let table: [(x87::Constant, fn(u16) -> hw::X87Out); 7] = [
        (One, hw::fld1),
        (L2T, hw::fldl2t),
        (L2E, hw::fldl2e),
        (Pi, hw::fldpi),
        (Lg2, hw::fldlg2),
        (Ln2, hw::fldln2),
        (Zero, hw::fldz),
    ];
    for (c, f) in table {
        for rc in 0..4u16 {
            for pc in [0u16, 1, 2, 3] {
                let fcw = 0x7F | (pc << 8) | (rc << 10);
                let out = f(fcw);
                let v = x87::constant(c, crate::Rounding::from_bits(rc as u32));
                assert_eq!(out.st0, v, "{c:?} fcw={fcw:04x}");
                assert_eq!(out.sw & 0x23F, 0, "{c:?} fcw={fcw:04x} sw={:04x}", out.sw);
            }
        }
    }
}

#[test]
fn hw_x87_conversions() {
    let n = 20000;
    let mut rng = Rng(31);
    let mut bad = 0;
    let mut note = |what: &str, ok: bool, detail: String| {
        if !ok {
            bad += 1;
            if bad <= 20 {
                eprintln!("{what}: {detail}");
            }
        }
    };
    use x87::IntConv::*;
    for i in 0..n {
        let mut a = rng.f80();
        if i % 4 == 0 {
            // values in integer range
            let v = (rng.next() as i64) >> rng.below(64);
            let f = x87::from_i64(v);
            a = F80::new(f.se.wrapping_sub(rng.below(3) as u16), f.signif ^ rng.below(16));
        }
        let fcw = rng.fcw();
        let ctl = X87Control::from_fcw(fcw);
        let chk = |m: [u8; 10], sw: u16, n: usize, r: FpResult<i64>| {
            let wrote = m[0] != 0xAA || m[1] != 0xAA;
            let mut want = [0xAAu8; 10];
            if r.write {
                want[..n].copy_from_slice(&r.value.to_le_bytes()[..n]);
            }
            (m == want || (!r.write && !wrote))
                && (sw & 0x3F) as u8 == r.flags.bits()
                && ((sw & SW_C1) != 0) == r.c1
        };
        let (m, sw) = hw::fist16(fcw, a);
        let r = x87::to_i16(a, ctl, Round).map(|v| v as i64);
        note("fist16", chk(m, sw, 2, r), format!("fcw={fcw:04x} a={a:?} hw={m:x?} sw={sw:04x} r={r:?}"));
        let (m, sw) = hw::fist32(fcw, a);
        let r = x87::to_i32(a, ctl, Round).map(|v| v as i64);
        note("fist32", chk(m, sw, 4, r), format!("fcw={fcw:04x} a={a:?} hw={m:x?} sw={sw:04x} r={r:?}"));
        let (m, sw) = hw::fistp64(fcw, a);
        let r = x87::to_i64(a, ctl, Round);
        note("fistp64", chk(m, sw, 8, r), format!("fcw={fcw:04x} a={a:?} hw={m:x?} sw={sw:04x} r={r:?}"));
        let (m, sw) = hw::fisttp16(fcw, a);
        let r = x87::to_i16(a, ctl, Truncate).map(|v| v as i64);
        note("fisttp16", chk(m, sw, 2, r), format!("fcw={fcw:04x} a={a:?} hw={m:x?} sw={sw:04x} r={r:?}"));
        let (m, sw) = hw::fisttp32(fcw, a);
        let r = x87::to_i32(a, ctl, Truncate).map(|v| v as i64);
        note("fisttp32", chk(m, sw, 4, r), format!("fcw={fcw:04x} a={a:?} hw={m:x?} sw={sw:04x} r={r:?}"));
        let (m, sw) = hw::fisttp64(fcw, a);
        let r = x87::to_i64(a, ctl, Truncate);
        note("fisttp64", chk(m, sw, 8, r), format!("fcw={fcw:04x} a={a:?} hw={m:x?} sw={sw:04x} r={r:?}"));
        let (m, sw) = hw::fst32(fcw, a);
        let r = x87::to_f32(a, ctl).map(|v| v as i64);
        note("fst32", chk(m, sw, 4, r), format!("fcw={fcw:04x} a={a:?} hw={m:x?} sw={sw:04x} r={r:?}"));
        let (m, sw) = hw::fst64(fcw, a);
        let r = x87::to_f64(a, ctl).map(|v| v as i64);
        note("fst64", chk(m, sw, 8, r), format!("fcw={fcw:04x} a={a:?} hw={m:x?} sw={sw:04x} r={r:?}"));
        // FBSTP
        let mut b = a;
        if i % 2 == 0 {
            let v = (rng.next() >> 4) % 2_000_000_000_000_000_000;
            let f = x87::from_i64(v as i64);
            b = F80::new(f.se.wrapping_sub(rng.below(3) as u16) | (rng.bool() as u16) << 15, f.signif ^ rng.below(16));
        }
        let (m, sw) = hw::fbstp(fcw, b);
        let r = x87::to_bcd(b, ctl);
        let want = if r.write { r.value } else { [0xAA; 10] };
        note(
            "fbstp",
            m == want && (sw & 0x3F) as u8 == r.flags.bits() && ((sw & SW_C1) != 0) == r.c1,
            format!("fcw={fcw:04x} a={b:?} hw={m:x?} sw={sw:04x} r={r:?}"),
        );
        // loads
        let bits = rng.f80();
        let f32b = match rng.below(4) {
            0 => (bits.se as u32) << 16 | (bits.signif as u32 & 0x807FFFFF),
            _ => (bits.signif >> 32) as u32,
        };
        let mut mem = [0u8; 10];
        mem[..4].copy_from_slice(&f32b.to_le_bytes());
        let (v, sw) = hw::fld32(fcw, mem);
        let r = x87::from_f32(f32b, ctl);
        let want = if r.write { r.value } else { F80::INDEFINITE };
        note("fld32", (r.write && v == want || !r.write) && (sw & 0x3F) as u8 == r.flags.bits(), format!("fcw={fcw:04x} {f32b:08x} hw={v:?} sw={sw:04x} r={r:?}"));
        let f64b = match rng.below(4) {
            0 => (bits.se as u64) << 48 | (bits.signif & 0x800F_FFFF_FFFF_FFFF),
            _ => bits.signif,
        };
        mem[..8].copy_from_slice(&f64b.to_le_bytes());
        let (v, sw) = hw::fld64(fcw, mem);
        let r = x87::from_f64(f64b, ctl);
        note("fld64", (r.write && v == r.value || !r.write) && (sw & 0x3F) as u8 == r.flags.bits(), format!("fcw={fcw:04x} {f64b:016x} hw={v:?} sw={sw:04x} r={r:?}"));
        // FBLD with arbitrary bytes
        let mut bcd = [0u8; 10];
        for byte in bcd.iter_mut() {
            *byte = rng.next() as u8;
        }
        if rng.below(2) == 0 {
            for byte in bcd.iter_mut().take(9) {
                *byte = ((rng.below(10) as u8) << 4) | rng.below(10) as u8;
            }
        }
        let (v, sw) = hw::fbld(fcw, bcd);
        note("fbld", v == x87::from_bcd(bcd) && sw & 0x3F == 0, format!("{bcd:x?} hw={v:?} mine={:?}", x87::from_bcd(bcd)));
        // FILD
        let iv = rng.next() as i64 >> rng.below(64);
        mem[..8].copy_from_slice(&iv.to_le_bytes());
        let (v, _) = hw::fild64(fcw, mem);
        note("fild64", v == x87::from_i64(iv), format!("{iv}"));
        let (v, _) = hw::fild32(fcw, mem);
        note("fild32", v == x87::from_i32(iv as i32), format!("{iv}"));
        let (v, _) = hw::fild16(fcw, mem);
        note("fild16", v == x87::from_i16(iv as i16), format!("{iv}"));
    }
    assert_eq!(report("conversions", bad, n), 0);
}

#[test]
#[ignore]
fn explore_fprem_step() {
    for d in [64, 65, 70, 80, 95, 96, 100, 127, 128, 200, 1000, 2060] {
        let a = F80::new(0x3FFF + d as u16, 0xFFFF_FFFF_FFFF_FFFF);
        let b = F80::new(0x3FFF, 0xC90F_DAA2_2168_C235);
        let out = hw::fprem(0x37F, a, b);
        let out1 = hw::fprem1(0x37F, a, b);
        eprintln!(
            "D={d}: prem exp diff {} cc={:x} | prem1 exp diff {} cc={:x}",
            (a.se as i32) - (out.st0.se as i32),
            (out.sw >> 8) & 0x47,
            (a.se as i32) - (out1.st0.se as i32),
            (out1.sw >> 8) & 0x47
        );
    }
}
