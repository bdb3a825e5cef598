//! SSE comparisons against the host CPU.

use crate::hw;
use crate::sse;
use crate::testutil::Rng;
use crate::types::{FpResult, Mxcsr};

fn check<T: PartialEq + Copy + core::fmt::Debug>(
    name: &str,
    bad: &mut usize,
    hw_val: T,
    hw_flags: u32,
    r: FpResult<T>,
    ctx: &dyn Fn() -> String,
) {
    if r.value != hw_val || (hw_flags & 0x3F) as u8 != r.flags.bits() {
        *bad += 1;
        if *bad <= 30 {
            eprintln!(
                "{name}: {} hw={hw_val:x?} flags={:02x} | sw={:x?} flags={:02x}",
                ctx(),
                hw_flags & 0x3F,
                r.value,
                r.flags.bits()
            );
        }
    }
}

type Op32 = fn(u32, u32, Mxcsr) -> FpResult<u32>;
type Op64 = fn(u64, u64, Mxcsr) -> FpResult<u64>;
type HwSse = fn(u32, u128, u128) -> hw::SseOut;

#[test]
fn hw_sse_arith() {
    if crate::hw::skip_unless_zen() {
        return;
    }
    let n = crate::testutil::cases(20000);
    let mut rng = Rng(101);
    let mut bad = 0;
    let ops32: [(&str, HwSse, Op32); 6] = [
        ("addss", hw::addss, sse::add_f32),
        ("subss", hw::subss, sse::sub_f32),
        ("mulss", hw::mulss, sse::mul_f32),
        ("divss", hw::divss, sse::div_f32),
        ("minss", hw::minss, sse::min_f32),
        ("maxss", hw::maxss, sse::max_f32),
    ];
    let ops64: [(&str, HwSse, Op64); 6] = [
        ("addsd", hw::addsd, sse::add_f64),
        ("subsd", hw::subsd, sse::sub_f64),
        ("mulsd", hw::mulsd, sse::mul_f64),
        ("divsd", hw::divsd, sse::div_f64),
        ("minsd", hw::minsd, sse::min_f64),
        ("maxsd", hw::maxsd, sse::max_f64),
    ];
    for _ in 0..n {
        let csr = rng.mxcsr();
        let ctl = Mxcsr::from_bits(csr);
        let a = rng.f32bits();
        let b = if rng.below(3) == 0 {
            a ^ (rng.below(4) as u32) ^ ((rng.bool() as u32) << 31)
        } else {
            rng.f32bits()
        };
        for (name, h, s) in ops32 {
            let o = h(csr, a as u128, b as u128);
            check(name, &mut bad, o.x as u32, o.mxcsr, s(a, b, ctl), &|| {
                format!("csr={csr:04x} a={a:08x} b={b:08x}")
            });
        }
        let o = hw::sqrtss(csr, 0, a as u128);
        check("sqrtss", &mut bad, o.x as u32, o.mxcsr, sse::sqrt_f32(a, ctl), &|| {
            format!("csr={csr:04x} a={a:08x}")
        });
        let a = rng.f64bits();
        let b =
            if rng.below(3) == 0 { a ^ rng.below(4) ^ ((rng.bool() as u64) << 63) } else { rng.f64bits() };
        for (name, h, s) in ops64 {
            let o = h(csr, a as u128, b as u128);
            check(name, &mut bad, o.x as u64, o.mxcsr, s(a, b, ctl), &|| {
                format!("csr={csr:04x} a={a:016x} b={b:016x}")
            });
        }
        let o = hw::sqrtsd(csr, 0, a as u128);
        check("sqrtsd", &mut bad, o.x as u64, o.mxcsr, sse::sqrt_f64(a, ctl), &|| {
            format!("csr={csr:04x} a={a:016x}")
        });
    }
    eprintln!("sse arith (13 ops): {n} cases each, {bad} mismatches");
    assert_eq!(bad, 0);
}

#[test]
fn hw_sse_compare_convert_round() {
    if crate::hw::skip_unless_zen() {
        return;
    }
    let n = crate::testutil::cases(20000);
    let mut rng = Rng(202);
    let mut bad = 0;
    for i in 0..n {
        let csr = rng.mxcsr();
        let ctl = Mxcsr::from_bits(csr);
        let a = rng.f32bits();
        let b = if rng.below(3) == 0 { a ^ (rng.below(2) as u32) } else { rng.f32bits() };
        let imm = (i % 32) as u8;
        let o = hw::cmpss(csr, a as u128, b as u128, imm);
        let r = sse::cmp_f32(a, b, imm, ctl).map(|v| if v { u32::MAX } else { 0 });
        check("cmpss", &mut bad, o.x as u32, o.mxcsr, r, &|| {
            format!("imm={imm} csr={csr:04x} a={a:08x} b={b:08x}")
        });
        for sig in [true, false] {
            let o = if sig {
                hw::comiss(csr, a as u128, b as u128)
            } else {
                hw::ucomiss(csr, a as u128, b as u128)
            };
            let r = sse::comis_f32(a, b, ctl, sig).map(|c| {
                let (z, p, c) = c.eflags();
                (z as u64) << 6 | (p as u64) << 2 | c as u64
            });
            let fl = o.rflags & 0x8D5;
            check("comiss", &mut bad, fl, o.mxcsr, r, &|| {
                format!("sig={sig} csr={csr:04x} a={a:08x} b={b:08x}")
            });
        }
        let o = hw::cvtss2sd(csr, 0, a as u128);
        check("cvtss2sd", &mut bad, o.x as u64, o.mxcsr, sse::f32_to_f64(a, ctl), &|| {
            format!("csr={csr:04x} a={a:08x}")
        });
        for t in [false, true] {
            let o = if t { hw::cvttss2si32(csr, 0, a as u128) } else { hw::cvtss2si32(csr, 0, a as u128) };
            check("cvtss2si32", &mut bad, o.x as u32 as i32, o.mxcsr, sse::f32_to_i32(a, t, ctl), &|| {
                format!("t={t} csr={csr:04x} a={a:08x}")
            });
            let o = if t { hw::cvttss2si64(csr, 0, a as u128) } else { hw::cvtss2si64(csr, 0, a as u128) };
            check("cvtss2si64", &mut bad, o.x as u64 as i64, o.mxcsr, sse::f32_to_i64(a, t, ctl), &|| {
                format!("t={t} csr={csr:04x} a={a:08x}")
            });
        }
        let imm = (i % 16) as u8;
        let o = hw::roundss(csr, 0, a as u128, imm);
        check("roundss", &mut bad, o.x as u32, o.mxcsr, sse::round_f32(a, imm, ctl), &|| {
            format!("imm={imm} csr={csr:04x} a={a:08x}")
        });

        let a = rng.f64bits();
        let b = if rng.below(3) == 0 { a ^ rng.below(2) } else { rng.f64bits() };
        let imm = (i % 32) as u8;
        let o = hw::cmpsd(csr, a as u128, b as u128, imm);
        let r = sse::cmp_f64(a, b, imm, ctl).map(|v| if v { u64::MAX } else { 0 });
        check("cmpsd", &mut bad, o.x as u64, o.mxcsr, r, &|| {
            format!("imm={imm} csr={csr:04x} a={a:016x} b={b:016x}")
        });
        for sig in [true, false] {
            let o = if sig {
                hw::comisd(csr, a as u128, b as u128)
            } else {
                hw::ucomisd(csr, a as u128, b as u128)
            };
            let r = sse::comis_f64(a, b, ctl, sig).map(|c| {
                let (z, p, c) = c.eflags();
                (z as u64) << 6 | (p as u64) << 2 | c as u64
            });
            check("comisd", &mut bad, o.rflags & 0x8D5, o.mxcsr, r, &|| {
                format!("sig={sig} csr={csr:04x} a={a:016x} b={b:016x}")
            });
        }
        let o = hw::cvtsd2ss(csr, 0, a as u128);
        check("cvtsd2ss", &mut bad, o.x as u32, o.mxcsr, sse::f64_to_f32(a, ctl), &|| {
            format!("csr={csr:04x} a={a:016x}")
        });
        for t in [false, true] {
            let o = if t { hw::cvttsd2si32(csr, 0, a as u128) } else { hw::cvtsd2si32(csr, 0, a as u128) };
            check("cvtsd2si32", &mut bad, o.x as u32 as i32, o.mxcsr, sse::f64_to_i32(a, t, ctl), &|| {
                format!("t={t} csr={csr:04x} a={a:016x}")
            });
            let o = if t { hw::cvttsd2si64(csr, 0, a as u128) } else { hw::cvtsd2si64(csr, 0, a as u128) };
            check("cvtsd2si64", &mut bad, o.x as u64 as i64, o.mxcsr, sse::f64_to_i64(a, t, ctl), &|| {
                format!("t={t} csr={csr:04x} a={a:016x}")
            });
        }
        let imm = (i % 16) as u8;
        let o = hw::roundsd(csr, 0, a as u128, imm);
        check("roundsd", &mut bad, o.x as u64, o.mxcsr, sse::round_f64(a, imm, ctl), &|| {
            format!("imm={imm} csr={csr:04x} a={a:016x}")
        });
        // integer sources
        let v = (rng.next() as i64) >> rng.below(64);
        let o = hw::cvtsi2ss64(csr, 0, v as u64 as u128);
        check("cvtsi2ss64", &mut bad, o.x as u32, o.mxcsr, sse::i64_to_f32(v, ctl), &|| {
            format!("csr={csr:04x} v={v}")
        });
        let o = hw::cvtsi2sd64(csr, 0, v as u64 as u128);
        check("cvtsi2sd64", &mut bad, o.x as u64, o.mxcsr, sse::i64_to_f64(v, ctl), &|| {
            format!("csr={csr:04x} v={v}")
        });
        let o = hw::cvtsi2ss32(csr, 0, v as u32 as u128);
        check("cvtsi2ss32", &mut bad, o.x as u32, o.mxcsr, sse::i64_to_f32(v as i32 as i64, ctl), &|| {
            format!("csr={csr:04x} v={}", v as i32)
        });
        let o = hw::cvtsi2sd32(csr, 0, v as u32 as u128);
        check("cvtsi2sd32", &mut bad, o.x as u64, o.mxcsr, sse::i64_to_f64(v as i32 as i64, ctl), &|| {
            format!("csr={csr:04x} v={}", v as i32)
        });
    }
    eprintln!("sse compare/convert/round (24 ops): {n} cases each, {bad} mismatches");
    assert_eq!(bad, 0);
}

#[test]
fn hw_sse_dot_product() {
    if crate::hw::skip_unless_zen() {
        return;
    }
    let n = crate::testutil::cases(20000);
    let mut rng = Rng(303);
    let mut bad = 0;
    let imms32 =
        [0x0fu8, 0x1f, 0x3f, 0x7f, 0xff, 0xf1, 0x71, 0x31, 0x11, 0xe1, 0xd1, 0xb1, 0x91, 0x5f, 0xaf, 0xcc];
    let imms64 = [0x11u8, 0x21, 0x31, 0x12, 0x22, 0x32, 0x13, 0x23, 0x33, 0x03, 0x30];
    for i in 0..n {
        let csr = rng.mxcsr();
        let ctl = Mxcsr::from_bits(csr);
        let a: [u32; 4] = core::array::from_fn(|_| rng.f32bits());
        let b: [u32; 4] = core::array::from_fn(|_| {
            if rng.below(3) == 0 {
                rng.next() as u32 & 0x807F_FFFF | 0x3F80_0000
            } else {
                rng.f32bits()
            }
        });
        let pack32 = |v: [u32; 4]| v.iter().rev().fold(0u128, |acc, &x| acc << 32 | x as u128);
        let imm = imms32[i % imms32.len()];
        let o = hw::dpps(csr, pack32(a), pack32(b), imm);
        let r = sse::dpps(a, b, imm, ctl).map(pack32);
        check("dpps", &mut bad, o.x, o.mxcsr, r, &|| {
            format!("imm={imm:02x} csr={csr:04x} a={a:08x?} b={b:08x?}")
        });
        let a: [u64; 2] = core::array::from_fn(|_| rng.f64bits());
        let b: [u64; 2] = core::array::from_fn(|_| rng.f64bits());
        let pack64 = |v: [u64; 2]| (v[1] as u128) << 64 | v[0] as u128;
        let imm = imms64[i % imms64.len()];
        let o = hw::dppd(csr, pack64(a), pack64(b), imm);
        let r = sse::dppd(a, b, imm, ctl).map(pack64);
        check("dppd", &mut bad, o.x, o.mxcsr, r, &|| {
            format!("imm={imm:02x} csr={csr:04x} a={a:016x?} b={b:016x?}")
        });
    }
    eprintln!("dpps/dppd: {n} cases each, {bad} mismatches");
    assert_eq!(bad, 0);
}

/// RCPSS/RSQRTSS structure exploration (see crate docs):
/// `cargo test --release -p x86wow-fp explore_rcp -- --ignored --nocapture`.
#[test]
#[ignore]
fn explore_rcp() {
    if crate::hw::skip_unless_zen() {
        return;
    }
    for (name, f, base) in [
        ("rcpss", hw::rcpss as fn(u32, u128, u128) -> hw::SseOut, 0x3F80_0000u32),
        ("rsqrtss", hw::rsqrtss, 0x3F80_0000u32),
    ] {
        let run = |x: u32| f(0x1F80, 0, x as u128).x as u32;
        // exponent independence (even exponent steps for rsqrt)
        let mut dep = 0;
        for m in (0..(1u32 << 23)).step_by(997) {
            let r0 = run(base | m);
            for k in [2i32, 4, -2, -20, 40] {
                let x = (base as i32 + (k << 23)) as u32 | m;
                let r = run(x);
                if r & 0x7F_FFFF != r0 & 0x7F_FFFF {
                    dep += 1;
                }
            }
        }
        // table over mantissas (two exponents for rsqrt)
        let mut outs = Vec::with_capacity(1 << 24);
        for e in 0..2u32 {
            for m in 0..(1u32 << 23) {
                outs.push(run((base + (e << 23)) | m) & 0x7F_FFFF);
            }
        }
        let low_bits = outs.iter().fold(0u32, |acc, &o| acc | (o & 0xFFF));
        let mut distinct = outs.clone();
        distinct.sort_unstable();
        distinct.dedup();
        // depends only on top k input bits?
        let mut only_top = 23;
        for k in (1..=23).rev() {
            let shift = 23 - k;
            let ok = (0..2usize).all(|e| {
                (0..(1usize << 23))
                    .all(|m| outs[e * (1 << 23) + m] == outs[e * (1 << 23) + ((m >> shift) << shift)])
            });
            if !ok {
                break;
            }
            only_top = k;
        }
        eprintln!("{name}: exponent-dependent mantissas {dep}; distinct outputs {}; OR of low 12 output bits {low_bits:03x}; depends only on top {only_top} mantissa bits", distinct.len());
    }
}

#[test]
#[ignore]
fn dump_rcp_tables() {
    if crate::hw::skip_unless_zen() {
        return;
    }
    use std::io::Write;
    let mut f = std::fs::File::create("/tmp/rcp_tables.txt").unwrap();
    for i in 0..4096u32 {
        let x = 0x3F80_0000 | (i << 11);
        let r = hw::rcpss(0x1F80, 0, x as u128).x as u32;
        let s0 = hw::rsqrtss(0x1F80, 0, x as u128).x as u32;
        let s1 = hw::rsqrtss(0x1F80, 0, (x + (1 << 23)) as u128).x as u32;
        writeln!(f, "{i} {r:08x} {s0:08x} {s1:08x}").unwrap();
    }
}

fn rcp_sweep(step: usize, csrs: &[u32]) -> (u64, u64) {
    let mut n = 0u64;
    let mut bad = 0u64;
    for &csr in csrs {
        let mut x: u64 = 0;
        while x < 1 << 32 {
            let v = x as u32;
            let h = hw::rcpss(csr, 0, v as u128);
            let r = sse::rcp_f32(v);
            n += 1;
            if h.x as u32 != r || h.mxcsr & 0x3F != 0 {
                bad += 1;
                if bad < 10 {
                    eprintln!(
                        "rcpss csr={csr:04x} x={v:08x}: hw {:08x} flags {:02x} | sw {r:08x}",
                        h.x as u32,
                        h.mxcsr & 0x3F
                    );
                }
            }
            let h = hw::rsqrtss(csr, 0, v as u128);
            let r = sse::rsqrt_f32(v);
            n += 1;
            if h.x as u32 != r || h.mxcsr & 0x3F != 0 {
                bad += 1;
                if bad < 10 {
                    eprintln!(
                        "rsqrtss csr={csr:04x} x={v:08x}: hw {:08x} flags {:02x} | sw {r:08x}",
                        h.x as u32,
                        h.mxcsr & 0x3F
                    );
                }
            }
            x += step as u64;
        }
    }
    (n, bad)
}

#[test]
fn hw_rcp_rsqrt_sampled() {
    if crate::hw::skip_unless_zen() {
        return;
    }
    let (n, bad) = rcp_sweep(4099, &[0x1F80, 0x9FC0 | 0x6000]);
    eprintln!("rcp/rsqrt sampled: {n} cases, {bad} mismatches");
    assert_eq!(bad, 0);
}

/// Exhaustive: all 2^32 inputs for both instructions under the default MXCSR and
/// under FTZ|DAZ|RC=toward-zero:
/// `cargo test --release -p x86wow-fp soak_rcp_exhaustive -- --ignored --nocapture`.
#[test]
#[ignore]
fn soak_rcp_exhaustive() {
    if crate::hw::skip_unless_zen() {
        return;
    }
    let (n, bad) = rcp_sweep(1, &[0x1F80, 0xFFC0]);
    eprintln!("rcp/rsqrt exhaustive: {n} cases, {bad} mismatches");
    assert_eq!(bad, 0);
}
