//! Runs one instruction natively over random inputs and prints JSON lines of inputs and
//! outputs, for studying undefined behaviour:
//! `cargo run --release -p x86wow-hwcheck --example probe -- HEXBYTES [COUNT] [SEED]`.
//! Registers are random (edge-biased); EFLAGS is random over the arithmetic flags.

use x86wow_hwcheck::gen::{Rng, CODE, DATA, STACK};
use x86wow_hwcheck::native::{NativeCase, NativeRegion, NativeRunner};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let hex = &args[0];
    let count: usize = args.get(1).map_or(1000, |s| s.parse().unwrap());
    let seed: u64 = args.get(2).map_or(1, |s| s.parse().unwrap());
    let bytes: Vec<u8> =
        (0..hex.len() / 2).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
    let mut code = vec![0xf4u8; 4096];
    code[..bytes.len()].copy_from_slice(&bytes);
    let mut runner = NativeRunner::start().expect("native runner");
    let mut rng = Rng::new(seed);
    let cases: Vec<NativeCase> = (0..count)
        .map(|_| {
            let mut gpr = [0u32; 8];
            for g in gpr.iter_mut() {
                *g = rng.edgy();
            }
            gpr[4] = STACK + 0x800;
            NativeCase {
                gpr,
                eip: CODE,
                eflags: 0x202 | (rng.u32() & 0x8d5),
                fs_base: DATA,
                gs_base: DATA,
                fxsave: None,
                regions: vec![
                    NativeRegion { addr: CODE, prot: 5, data: code.clone() },
                    NativeRegion { addr: DATA, prot: 3, data: vec![0; 4096] },
                    NativeRegion { addr: STACK, prot: 3, data: vec![0; 4096] },
                ],
            }
        })
        .collect();
    for (c, o) in cases.iter().zip(runner.run(&cases)) {
        println!(
            "{{\"in\":{:?},\"fl\":{},\"out\":{:?},\"ofl\":{},\"trap\":{},\"eip\":{},\"cr2\":{},\"err\":{}}}",
            c.gpr,
            c.eflags,
            o.gpr,
            o.eflags & !0x10000,
            o.trapno,
            o.eip.wrapping_sub(CODE),
            o.cr2,
            o.err
        );
    }
}
