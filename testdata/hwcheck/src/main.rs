//! `x86wow-hwcheck`: the hardware-comparison suite from the command line (long soaks,
//! one code at a time, regenerating `verified.tsv`).
//!
//! ```text
//! cargo run --release -p x86wow-hwcheck -- [--seed S] [--per-code N] [--code NAME]... [--show K] [--write-verified]
//! ```

use std::collections::BTreeMap;

use iced_x86::Code;
use x86wow_cpu::coverage::{codes, Family};
use x86wow_hwcheck::native::NativeRunner;
use x86wow_hwcheck::suite::run_codes;

fn main() {
    let mut seed = 1u64;
    let mut per_code = 200u64;
    let mut only: Vec<String> = Vec::new();
    let mut show = 20usize;
    let mut write_verified = false;
    let mut sequences = 0u64;
    let mut export: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--seed" => seed = parse(&val()),
            "--per-code" => per_code = parse(&val()),
            "--code" => only.push(val()),
            "--show" => show = parse(&val()) as usize,
            "--write-verified" => write_verified = true,
            "--sequences" => sequences = parse(&val()),
            "--export-vectors" => export = Some(val()),
            _ => {
                eprintln!("usage: x86wow-hwcheck [--seed S] [--per-code N] [--code NAME]... [--show K] [--sequences N] [--write-verified]");
                std::process::exit(2);
            }
        }
    }
    let mut runner = match NativeRunner::start() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("SKIPPED: {e}");
            return;
        }
    };
    let family = std::env::var("HWCHECK_FAMILY").unwrap_or_default();
    let fams: Vec<Family> = match family.to_ascii_lowercase().as_str() {
        "x87" => vec![Family::X87],
        "mmx" => vec![Family::Mmx],
        "sse" => vec![Family::Sse],
        "all" => Family::ALL.to_vec(),
        _ => vec![Family::Integer],
    };
    let list: Vec<Code> = fams
        .iter()
        .flat_map(|&f| codes(f))
        .filter(|c| {
            only.is_empty()
                || only.iter().any(|o| {
                    format!("{c:?}").eq_ignore_ascii_case(o)
                        || format!("{:?}", c.mnemonic()).eq_ignore_ascii_case(o)
                })
        })
        .collect();
    if let Some(path) = export {
        export_vectors(&mut runner, &list, per_code, sequences, seed, &path);
        return;
    }
    let t = std::time::Instant::now();
    let mut report = run_codes(&mut runner, &list, per_code, seed);
    if sequences > 0 {
        let seq = x86wow_hwcheck::suite::run_sequences(&mut runner, Family::Integer, sequences, seed);
        println!("sequences: {}", seq.summary());
        report.cases += seq.cases;
        report.mismatches.extend(seq.mismatches);
        report.errors.extend(seq.errors);
    }
    for m in report.mismatches.iter().take(show) {
        print!("{}", m.report());
    }
    let mut by_code: BTreeMap<String, usize> = BTreeMap::new();
    for m in &report.mismatches {
        *by_code.entry(format!("{:?}", m.case.codes[0])).or_default() += 1;
    }
    if !by_code.is_empty() {
        println!("mismatches by code: {by_code:?}");
    }
    for e in report.errors.iter().take(show) {
        println!("error: {e}");
    }
    for (c, why) in &report.skipped {
        println!("skipped {c}: {why}");
    }
    println!("{} in {:.1}s (seed {seed}, {per_code} per code)", report.summary(), t.elapsed().as_secs_f64());
    if write_verified {
        if !report.errors.is_empty() {
            eprintln!("not writing verified.tsv: the run has errors");
            std::process::exit(1);
        }
        // Merge into the file: codes of this run replace their lines; a code with
        // mismatches keeps its case count with a note saying how many differed.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/verified.tsv");
        let mut lines: BTreeMap<String, String> = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once('\t').map(|(c, rest)| (c.to_string(), rest.to_string())))
            .collect();
        for (c, n) in &report.per_code {
            let entry = match by_code.get(c) {
                None => n.to_string(),
                Some(k) => format!("{n}\t{k} of {n} cases differ"),
            };
            lines.insert(c.clone(), entry);
        }
        let s: String = lines.iter().map(|(c, rest)| format!("{c}\t{rest}\n")).collect();
        std::fs::write(path, s).expect("write verified.tsv");
        println!("updated {path}");
    }
    if !report.mismatches.is_empty() {
        std::process::exit(1);
    }
}

fn parse(s: &str) -> u64 {
    if let Some(h) = s.strip_prefix("0x") {
        u64::from_str_radix(h, 16).expect("hex number")
    } else {
        s.parse().expect("number")
    }
}

/// Captures compact, hardware-confirmed vectors for `list` (and sequences) into `path`.
fn export_vectors(
    runner: &mut NativeRunner,
    list: &[Code],
    per_code: u64,
    sequences: u64,
    seed: u64,
    path: &str,
) {
    use x86wow_hwcheck::gen::{self, Rng};
    use x86wow_hwcheck::suite::case_seed;
    let mut cases = Vec::new();
    for &code in list {
        for i in 0..per_code {
            let mut rng = Rng::new(case_seed(seed, code, i));
            if let Ok(c) = gen::single_with(&mut rng, code, true) {
                cases.push(c);
            }
        }
    }
    let pool = codes(Family::Integer);
    for i in 0..sequences {
        let mut rng = Rng::new(seed ^ 0x5e90_0000_0000_0000 ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        cases.push(gen::sequence_with(&mut rng, &pool, true));
    }
    let mut all = Vec::new();
    for chunk in cases.chunks(2000) {
        let (v, problems) = x86wow_hwcheck::vectors::capture(runner, chunk);
        for p in &problems {
            eprintln!("not exported: {p}");
        }
        all.extend(v);
    }
    x86wow_hwcheck::vectors::write(std::path::Path::new(path), &all).expect("write vectors");
    println!("wrote {} vectors to {path}", all.len());
}
