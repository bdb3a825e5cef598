//! `x86wow bench`: runs the built-in workloads (x86wow_cpu::bench) and reports
//! instructions retired, seconds (median of several runs) and MIPS.

use std::time::Instant;

use x86wow_cpu::bench::{measure_with, Measurement, WORKLOADS};

/// One workload's figures: instructions, median seconds without and with a counting
/// per-instruction hook.
struct Row {
    name: &'static str,
    about: &'static str,
    insns: u64,
    seconds: f64,
    hooked_seconds: f64,
}

impl Row {
    fn mips(&self) -> f64 {
        self.insns as f64 / self.seconds / 1e6
    }
    fn hooked_mips(&self) -> f64 {
        self.insns as f64 / self.hooked_seconds / 1e6
    }
}

/// The integer workloads whose geometric mean is the headline figure.
const INTEGER: [&str; 3] = ["alu", "crc32", "branch"];

/// The compiled-code workload: integer kernels in C (testdata/win32/compute.c, built
/// with MinGW -O2), run as a whole 32-bit process through the WOW64 model.
pub const PROGRAM: &str = "program";
const PROGRAM_ABOUT: &str = "compiled C (-O2): sort, sieve, matmul, text, switch VM, pointer chase, u64";

/// The guest program of the "program" workload.
pub const COMPUTE_EXE: &[u8] = include_bytes!("../testdata/win32/compute.exe");

/// What compute.exe prints: the same kernels compiled for and run on the host.
pub const COMPUTE_OUT: &str = include_str!("../testdata/win32/compute.out");

/// Runs compute.exe once (the process is built before the clock starts) and checks
/// its output against the host's.
pub fn measure_program(counting_hook: bool) -> Result<Measurement, String> {
    let (b, output) = x86wow_wow64::Process::builder().capture_output();
    let mut p = b.build(COMPUTE_EXE).map_err(|e| format!("compute.exe: {e}"))?;
    let seen = std::rc::Rc::new(std::cell::Cell::new(0u64));
    if counting_hook {
        let s = seen.clone();
        p.cpu.add_code_hook(
            0..=u32::MAX,
            Box::new(move |_, _| {
                s.set(s.get() + 1);
                x86wow_cpu::HookAction::Continue
            }),
        );
    }
    let t = Instant::now();
    let status = p.run();
    let seconds = t.elapsed().as_secs_f64();
    let insns = p.cpu.insns();
    if status != 0 || output.stdout.text() != COMPUTE_OUT {
        return Err(format!("compute.exe exited with {status:#x} and printed:\n{}", output.stdout.text()));
    }
    // The hook sees every retired instruction, and also those stopped before retiring
    // (the system-call stops), so it must have seen at least the retired count.
    if counting_hook && seen.get() < insns {
        return Err(format!("the hook saw {} of {insns} instructions", seen.get()));
    }
    Ok(Measurement { insns, seconds })
}

/// Runs `x86wow bench`; returns the exit code.
pub fn run(only: &[String], runs: usize, json: bool) -> i32 {
    let runs = runs.max(1);
    let known: Vec<&str> = WORKLOADS.iter().map(|w| w.name).chain([PROGRAM]).collect();
    if let Some(bad) = only.iter().find(|n| !known.contains(&n.as_str())) {
        eprintln!("x86wow bench: no workload {bad}; known: {}", known.join(", "));
        return 2;
    }
    let wanted = |name: &str| only.is_empty() || only.iter().any(|n| n == name);
    // The footprint is measured only on a full run (it grows this process by 100 MiB),
    // and first: memory the workloads free would otherwise be reused and hide growth.
    let mem = if only.is_empty() { footprint() } else { None };
    let median = |f: &dyn Fn(bool) -> Result<Measurement, String>, hook: bool| {
        let mut times: Vec<f64> = Vec::new();
        let mut insns = 0;
        for _ in 0..runs {
            let m = f(hook)?;
            insns = m.insns;
            times.push(m.seconds);
        }
        times.sort_by(f64::total_cmp);
        Ok::<_, String>((insns, times[times.len() / 2]))
    };
    let both = |f: &dyn Fn(bool) -> Result<Measurement, String>| {
        Ok::<_, String>((median(f, false)?, median(f, true)?))
    };
    let mut rows = Vec::new();
    for w in WORKLOADS.iter().filter(|w| wanted(w.name)) {
        match both(&|hook| Ok(measure_with(w, hook))) {
            Ok(((insns, seconds), (_, hooked_seconds))) => {
                rows.push(Row { name: w.name, about: w.about, insns, seconds, hooked_seconds })
            }
            Err(e) => {
                eprintln!("x86wow bench: {e}");
                return 1;
            }
        }
    }
    if wanted(PROGRAM) {
        match both(&measure_program) {
            Ok(((insns, seconds), (_, hooked_seconds))) => {
                rows.push(Row { name: PROGRAM, about: PROGRAM_ABOUT, insns, seconds, hooked_seconds })
            }
            Err(e) => {
                eprintln!("x86wow bench: {e}");
                return 1;
            }
        }
    }
    // The integer workloads' geometric mean is the headline figure; x87 and the
    // compiled program are reported on their own.
    let int_rows: Vec<&Row> = rows.iter().filter(|r| INTEGER.contains(&r.name)).collect();
    let geo = |f: fn(&Row) -> f64| {
        (int_rows.iter().map(|r| f(r).ln()).sum::<f64>() / int_rows.len().max(1) as f64).exp()
    };
    let (geo_plain, geo_hook) = (geo(Row::mips), geo(Row::hooked_mips));
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    if json {
        let items: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({"workload": r.name, "insns": r.insns, "seconds": r.seconds, "mips": r.mips(),
                                   "hooked_seconds": r.hooked_seconds, "hooked_mips": r.hooked_mips()})
            })
            .collect();
        let mut out = serde_json::json!({"runs": runs, "workloads": items,
                           "memory": mem.map(|m| serde_json::json!({"guest_bytes": m.guest_bytes, "host_bytes": m.host_bytes}))});
        if !int_rows.is_empty() {
            out["geomean_mips"] = geo_plain.into();
            out["geomean_hooked_mips"] = geo_hook.into();
        }
        println!("{out}");
    } else {
        println!("{:<8} {:>12} {:>10} {:>9} {:>12}", "workload", "insns", "seconds", "MIPS", "hooked MIPS");
        for r in &rows {
            println!(
                "{:<8} {:>12} {:>10.4} {:>9.1} {:>12.1}  {}",
                r.name,
                r.insns,
                r.seconds,
                r.mips(),
                r.hooked_mips(),
                r.about
            );
        }
        if !int_rows.is_empty() {
            println!(
                "integer geometric mean: {geo_plain:.1} MIPS, {geo_hook:.1} MIPS with a counting per-instruction hook (median of {runs} runs each)"
            );
        }
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
