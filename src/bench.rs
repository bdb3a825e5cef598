//! `x86wow bench`: runs the built-in workloads (x86wow_cpu::bench) and reports
//! instructions retired, seconds (median of several runs) and MIPS.

use x86wow_cpu::bench::{measure, WORKLOADS};

/// Runs `x86wow bench`; returns the exit code.
pub fn run(only: &[String], runs: usize, json: bool) -> i32 {
    let runs = runs.max(1);
    let mut rows = Vec::new();
    for w in WORKLOADS.iter().filter(|w| only.is_empty() || only.iter().any(|n| n == w.name)) {
        let mut times: Vec<f64> = Vec::new();
        let mut insns = 0;
        for _ in 0..runs {
            let m = measure(w);
            insns = m.insns;
            times.push(m.seconds);
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        rows.push((w, insns, median, insns as f64 / median / 1e6));
    }
    if rows.is_empty() {
        eprintln!(
            "x86wow bench: no such workload; known: {}",
            WORKLOADS.iter().map(|w| w.name).collect::<Vec<_>>().join(", ")
        );
        return 2;
    }
    let geo = (rows.iter().map(|r| r.3.ln()).sum::<f64>() / rows.len() as f64).exp();
    if json {
        let items: Vec<_> = rows
            .iter()
            .map(|(w, i, s, m)| serde_json::json!({"workload": w.name, "insns": i, "seconds": s, "mips": m}))
            .collect();
        println!("{}", serde_json::json!({"runs": runs, "workloads": items, "geomean_mips": geo}));
    } else {
        println!("{:<8} {:>12} {:>10} {:>9}  {}", "workload", "insns", "seconds", "MIPS", "");
        for (w, i, s, m) in &rows {
            println!("{:<8} {:>12} {:>10.4} {:>9.1}  {}", w.name, i, s, m, w.about);
        }
        println!("geometric mean: {geo:.1} MIPS (median of {runs} runs each)");
    }
    0
}
