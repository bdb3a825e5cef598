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
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--seed" => seed = parse(&val()),
            "--per-code" => per_code = parse(&val()),
            "--code" => only.push(val()),
            "--show" => show = parse(&val()) as usize,
            "--write-verified" => write_verified = true,
            _ => {
                eprintln!("usage: x86wow-hwcheck [--seed S] [--per-code N] [--code NAME]... [--show K] [--write-verified]");
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
    let list: Vec<Code> = codes(Family::Integer)
        .into_iter()
        .filter(|c| {
            only.is_empty()
                || only.iter().any(|o| {
                    format!("{c:?}").eq_ignore_ascii_case(o)
                        || format!("{:?}", c.mnemonic()).eq_ignore_ascii_case(o)
                })
        })
        .collect();
    let t = std::time::Instant::now();
    let report = run_codes(&mut runner, &list, per_code, seed);
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
        if !report.mismatches.is_empty() || !report.errors.is_empty() {
            eprintln!("not writing verified.tsv: the run has mismatches or errors");
            std::process::exit(1);
        }
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/verified.tsv");
        let mut s = String::new();
        for (c, n) in &report.per_code {
            s.push_str(&format!("{c}\t{n}\n"));
        }
        std::fs::write(path, s).expect("write verified.tsv");
        println!("wrote {path}");
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
