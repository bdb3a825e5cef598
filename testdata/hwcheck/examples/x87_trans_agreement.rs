//! Agreement of x86wow's x87 transcendentals with this machine's CPU on random
//! in-domain operands, through the whole interpreter (instruction, flags, C1, stack):
//!
//! ```text
//! cargo run --release -p x86wow-hwcheck --example x87_trans_agreement -- [CASES] [SEED]
//! ```
//!
//! For each of FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X and FYL2XP1 it runs CASES
//! (default 20,000) operands with random rounding and precision control (all exceptions
//! masked, flags clear) and reports the share of cases whose final state is bit-exact
//! (registers, status word including C1, tags), the share whose result values are
//! exact, and the worst distance of a result value in units in the last place.

use x86wow_cpu::state::{MachineState, MemRegion, X87State};
use x86wow_hwcheck::compare::{from_native, interpret, native_case};
use x86wow_hwcheck::gen::{Rng, CODE, STACK};
use x86wow_hwcheck::native::NativeRunner;
use x86wow_mmu::Prot;

/// An 80-bit value with a random significand and an exponent in `lo..=hi`.
fn value(rng: &mut Rng, lo: i32, hi: i32, negative: Option<bool>) -> u128 {
    let e = lo + rng.below((hi - lo + 1) as u32) as i32;
    let neg = negative.unwrap_or_else(|| rng.chance(50));
    let se = (e + 0x3fff) as u16 | if neg { 0x8000 } else { 0 };
    (se as u128) << 64 | (rng.next() | 1 << 63) as u128
}

/// Position of an 80-bit value on the line of representable values (normals only).
fn ordinal(v: u128) -> i128 {
    let se = (v >> 64) as u16;
    let mag = ((se & 0x7fff) as i128) << 63 | (v as u64 & !(1 << 63)) as i128;
    if se & 0x8000 != 0 {
        -mag
    } else {
        mag
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().map_or(20_000, |s| s.parse().expect("case count"));
    let seed: u64 = args.get(1).map_or(1, |s| s.parse().expect("seed"));
    let mut runner = match NativeRunner::start() {
        Ok(r) => r,
        Err(e) => {
            println!("SKIPPED: {e}");
            return;
        }
    };
    // (name, opcode byte after D9, results in ST(0)/ST(1), operand generator)
    type Gen = fn(&mut Rng) -> (u128, u128);
    let ops: [(&str, u8, usize, Gen); 8] = [
        ("fsin", 0xfe, 1, |r| (value(r, -30, 62, None), 0)),
        ("fcos", 0xff, 1, |r| (value(r, -30, 62, None), 0)),
        ("fsincos", 0xfb, 2, |r| (value(r, -30, 62, None), 0)),
        ("fptan", 0xf2, 2, |r| (value(r, -30, 62, None), 0)),
        ("fpatan", 0xf3, 1, |r| (value(r, -30, 30, None), value(r, -30, 30, None))),
        ("f2xm1", 0xf0, 1, |r| (value(r, -40, -1, None), 0)),
        ("fyl2x", 0xf1, 1, |r| (value(r, -30, 30, Some(false)), value(r, -30, 30, None))),
        ("fyl2xp1", 0xf9, 1, |r| (value(r, -40, -3, None), value(r, -30, 30, None))),
    ];
    println!("| op | cases | bit-exact | values exact | worst error |");
    println!("|---|---|---|---|---|");
    for (k, (name, op, results, gen)) in ops.iter().enumerate() {
        let mut rng = Rng::new(seed ^ (k as u64) << 32);
        let mut code = vec![0xf4u8; 0x1000];
        code[..2].copy_from_slice(&[0xd9, *op]);
        let states: Vec<MachineState> = (0..n)
            .map(|_| {
                let (x, y) = gen(&mut rng);
                let fcw =
                    0x037f & !0x0f00 | (rng.below(4) as u16) << 10 | [0u16, 2, 3][rng.below(3) as usize] << 8;
                // TOP = 6: ST(0) and ST(1) valid (physical 6 and 7), the rest empty.
                let mut st = [0u128; 8];
                st[0] = x;
                st[1] = y;
                let mut s = MachineState::default();
                s.regs.eip = CODE;
                s.regs.eflags = 0x202;
                s.regs.esp = STACK + 0x800;
                s.x87 = Some(X87State { fcw, fsw: 6 << 11, ftw: 0x0fff, st });
                s.mxcsr = Some(0x1f80);
                s.xmm = Some([0; 8]);
                s.memory = vec![
                    MemRegion { addr: CODE, size: 0x1000, prot: Prot::RX, bytes: code.clone() },
                    MemRegion { addr: STACK, size: 0x1000, prot: Prot::RW, bytes: vec![0; 0x1000] },
                ];
                s
            })
            .collect();
        let (mut exact, mut values, mut worst) = (0usize, 0usize, 0i128);
        for chunk in states.chunks(2000) {
            let cases: Vec<_> = chunk.iter().map(native_case).collect();
            for (s, o) in chunk.iter().zip(runner.run(&cases)) {
                let hw = from_native(&o).expect("native run");
                let emu = interpret(s, &o.selectors, 10).expect("interpreter");
                if hw.fx == emu.fx && hw.end == emu.end {
                    exact += 1;
                }
                let mut same = true;
                for i in 0..*results {
                    let (a, b) = (hw.fx.st[i], emu.fx.st[i]);
                    if a != b {
                        same = false;
                        worst = worst.max((ordinal(a) - ordinal(b)).abs());
                    }
                }
                values += same as usize;
            }
        }
        let pct = |c: usize| 100.0 * c as f64 / n as f64;
        println!("| {name} | {n} | {:.2} % | {:.2} % | {worst} ulp |", pct(exact), pct(values));
    }
}
