//! Runs the built-in workloads without the CLI:
//! `cargo run --release -p x86wow-cpu --example bench [quick]`.
//! `quick` runs the first 2 million instructions of each workload once, for
//! instruction-counting profilers (`valgrind --tool=callgrind`), whose counts do not
//! depend on what else the machine is doing. Naming workloads (`quick branch`) runs
//! only those.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "quick");
    let hook = args.iter().any(|a| a == "hook");
    let named: Vec<&String> = args
        .iter()
        .skip(1)
        .filter(|a| x86wow_cpu::bench::WORKLOADS.iter().any(|w| w.name == a.as_str()))
        .collect();
    for w in x86wow_cpu::bench::WORKLOADS {
        if !named.is_empty() && !named.iter().any(|n| n.as_str() == w.name) {
            continue;
        }
        if quick {
            let mut cpu = x86wow_cpu::bench::prepare(w);
            if hook {
                let n = std::rc::Rc::new(std::cell::Cell::new(0u64));
                let seen = n.clone();
                cpu.add_code_hook(
                    0..=u32::MAX,
                    Box::new(move |_, _| {
                        seen.set(seen.get() + 1);
                        x86wow_cpu::HookAction::Continue
                    }),
                );
                cpu.run(2_000_000);
                println!("{:<8} {} insns, hook saw {}", w.name, cpu.insns(), n.get());
                continue;
            }
            cpu.run(if w.name == "x87" { 300_000 } else { 2_000_000 });
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
