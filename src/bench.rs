//! `x86wow bench`: runs the built-in workloads (x86wow_cpu::bench) and reports
//! instructions retired, seconds (median of several runs) and MIPS.

use x86wow_cpu::bench::{measure_with, WORKLOADS};

type Row = (&'static x86wow_cpu::bench::Workload, u64, f64, f64, f64, f64);

/// Runs `x86wow bench`; returns the exit code.
pub fn run(only: &[String], runs: usize, json: bool) -> i32 {
    let runs = runs.max(1);
    let mut rows = Vec::new();
    for w in WORKLOADS.iter().filter(|w| only.is_empty() || only.iter().any(|n| n == w.name)) {
        let median = |hook: bool| {
            let mut times: Vec<f64> = Vec::new();
            let mut insns = 0;
            for _ in 0..runs {
                let m = measure_with(w, hook);
                insns = m.insns;
                times.push(m.seconds);
            }
            times.sort_by(f64::total_cmp);
            (insns, times[times.len() / 2])
        };
        let (insns, plain) = median(false);
        let (_, hooked) = median(true);
        rows.push((w, insns, plain, insns as f64 / plain / 1e6, hooked, insns as f64 / hooked / 1e6));
    }
    if rows.is_empty() {
        eprintln!(
            "x86wow bench: no such workload; known: {}",
            WORKLOADS.iter().map(|w| w.name).collect::<Vec<_>>().join(", ")
        );
        return 2;
    }
    // The integer workloads' geometric mean is the headline figure; x87 is reported on
    // its own (as the interpreters x86wow is compared with are).
    let int_rows: Vec<&Row> = rows.iter().filter(|r| r.0.name != "x87").collect();
    let geo = |f: fn(&Row) -> f64| {
        (int_rows.iter().map(|r| f(r).ln()).sum::<f64>() / int_rows.len().max(1) as f64).exp()
    };
    let (geo_plain, geo_hook) = (geo(|r| r.3), geo(|r| r.5));
    if json {
        let items: Vec<_> = rows
            .iter()
            .map(|(w, i, s, m, hs, hm)| {
                serde_json::json!({"workload": w.name, "insns": i, "seconds": s, "mips": m,
                                   "hooked_seconds": hs, "hooked_mips": hm})
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"runs": runs, "workloads": items, "geomean_mips": geo_plain, "geomean_hooked_mips": geo_hook})
        );
    } else {
        println!("{:<8} {:>12} {:>10} {:>9} {:>12}", "workload", "insns", "seconds", "MIPS", "hooked MIPS");
        for (w, i, s, m, _, hm) in &rows {
            println!("{:<8} {:>12} {:>10.4} {:>9.1} {:>12.1}  {}", w.name, i, s, m, hm, w.about);
        }
        println!(
            "integer geometric mean: {geo_plain:.1} MIPS, {geo_hook:.1} MIPS with a counting per-instruction hook (median of {runs} runs each)"
        );
    }
    0
}
