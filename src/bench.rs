//! `x86wow bench`: runs the built-in workloads (x86wow_cpu::bench) and reports
//! instructions retired, seconds (median of several runs) and MIPS.

use x86wow_cpu::bench::{measure_with, WORKLOADS};

type Row = (&'static x86wow_cpu::bench::Workload, u64, f64, f64, f64, f64);

/// Runs `x86wow bench`; returns the exit code.
pub fn run(only: &[String], runs: usize, json: bool) -> i32 {
    let runs = runs.max(1);
    // The footprint is measured only on a full run (it grows this process by 100 MiB),
    // and first: memory the workloads free would otherwise be reused and hide growth.
    let mem = if only.is_empty() { footprint() } else { None };
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
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
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
            serde_json::json!({"runs": runs, "workloads": items, "geomean_mips": geo_plain, "geomean_hooked_mips": geo_hook,
                               "memory": mem.map(|m| serde_json::json!({"guest_bytes": m.guest_bytes, "host_bytes": m.host_bytes}))})
        );
    } else {
        println!("{:<8} {:>12} {:>10} {:>9} {:>12}", "workload", "insns", "seconds", "MIPS", "hooked MIPS");
        for (w, i, s, m, _, hm) in &rows {
            println!("{:<8} {:>12} {:>10.4} {:>9.1} {:>12.1}  {}", w.name, i, s, m, hm, w.about);
        }
        println!(
            "integer geometric mean: {geo_plain:.1} MIPS, {geo_hook:.1} MIPS with a counting per-instruction hook (median of {runs} runs each)"
        );
        if let Some(m) = mem {
            println!(
                "memory: a guest that commits and writes {:.0} MiB grows the host process by {:.1} MiB",
                mib(m.guest_bytes),
                mib(m.host_bytes)
            );
        }
    }
    0
}

/// Host memory of a guest that commits and writes 100 MiB (`testdata/win32/bigmem.exe`,
/// run in this process): the resident-set growth from before the process is built to
/// after it has run, while it is still alive.
#[derive(Debug, Clone, Copy)]
pub struct Footprint {
    /// Guest memory committed and written, in bytes.
    pub guest_bytes: u64,
    /// Growth of this host process's resident set, in bytes.
    pub host_bytes: u64,
}

/// The guest program [`footprint`] runs.
pub const BIGMEM_EXE: &[u8] = include_bytes!("../testdata/win32/bigmem.exe");

/// Measures [`Footprint`] on Linux (from `/proc/self/status`); `None` elsewhere, or if
/// the guest program did not succeed. Meaningful only in a process that does nothing
/// else meanwhile (the resident set is the whole process's).
pub fn footprint() -> Option<Footprint> {
    let before = resident_bytes()?;
    let (b, _output) = x86wow_wow64::Process::builder().capture_output();
    let mut p = b.build(BIGMEM_EXE).ok()?;
    if p.run() != 0 {
        return None;
    }
    let after = resident_bytes()?;
    let f = Footprint { guest_bytes: 100 << 20, host_bytes: after.saturating_sub(before) };
    drop(p);
    Some(f)
}

fn resident_bytes() -> Option<u64> {
    // VmRSS is in kB whatever the page size.
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
