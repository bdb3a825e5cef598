//! Throughput of the native runner.
//!
//! `cargo run --release -p x86wow-hwcheck --example native_bench -- [CASES] [PER_RUN] [small|big]`
//! runs CASES cases of `add eax, ebx ; sbb ecx, edx ; hlt`, PER_RUN cases per `run` call, with
//! a code page and a stack page (`small`, default) or five pages in four regions (`big`).

use std::time::Instant;

use x86wow_hwcheck::native::{NativeCase, NativeRegion, NativeRunner, RunStatus};

fn cpu_ticks(pid: &str) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let get = |k: usize| f.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
    (get(11), get(12))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(50_000);
    let per_run: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(n).max(1);
    let big = args.next().as_deref() == Some("big");
    let mut r = match NativeRunner::start() {
        Ok(r) => r,
        Err(e) => {
            println!("{e}");
            return;
        }
    };
    let code = [0x01u8, 0xD8, 0x19, 0xD1, 0xF4];
    let mut regions = vec![
        NativeRegion::new(0x10000, NativeRegion::RX, 1, &code),
        NativeRegion::new(0x31000, NativeRegion::RW, 1, &[]),
    ];
    if big {
        regions[1] = NativeRegion::new(0x30000, NativeRegion::RW, 2, &[]);
        regions.push(NativeRegion::new(0x20000, NativeRegion::RW, 1, &[]));
        regions.push(NativeRegion::new(0x40000, NativeRegion::READ, 1, &[1, 2, 3, 4]));
    }
    let base = NativeCase {
        gpr: [0, 0, 0, 0, 0x32000, 0, 0, 0],
        eip: 0x10000,
        eflags: 0x202,
        regions,
        ..NativeCase::default()
    };
    let cases: Vec<NativeCase> = (0..n)
        .map(|i| {
            let mut c = base.clone();
            c.gpr[0] = i as u32;
            c.gpr[3] = (i as u32).wrapping_mul(0x9E37_79B9);
            c
        })
        .collect();
    let t = Instant::now();
    for chunk in cases.chunks(per_run) {
        let out = r.run(chunk);
        assert!(out.iter().all(|o| o.status == RunStatus::Completed));
    }
    let dt = t.elapsed();
    println!("{n} cases in {dt:?}: {:.0} cases/second", n as f64 / dt.as_secs_f64());
    let (ru, rs) = cpu_ticks(&r.info().pid.to_string());
    let (hu, hs) = cpu_ticks("self");
    println!("CPU ticks: runner user {ru} system {rs}; host user {hu} system {hs}");
}
