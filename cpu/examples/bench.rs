//! Runs the built-in workloads without the CLI:
//! `cargo run --release -p x86wow-cpu --example bench [quick]`.
//! `quick` runs the first 2 million instructions of each workload once, for
//! instruction-counting profilers (`valgrind --tool=callgrind`), whose counts do not
//! depend on what else the machine is doing.

fn main() {
    let quick = std::env::args().nth(1).as_deref() == Some("quick");
    for w in x86wow_cpu::bench::WORKLOADS {
        if quick {
            let mut cpu = x86wow_cpu::bench::prepare(w);
            cpu.run(2_000_000);
            println!("{:<8} {} insns", w.name, cpu.insns());
            continue;
        }
        let mut best = f64::MAX;
        let mut insns = 0;
        for _ in 0..3 {
            let m = x86wow_cpu::bench::measure(w);
            insns = m.insns;
            best = best.min(m.seconds);
        }
        println!("{:<8} {:>12} insns {:>8.1} MIPS (best of 3)", w.name, insns, insns as f64 / best / 1e6);
    }
}
