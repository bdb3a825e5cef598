//! `x86wow vectors`: per-instruction test vectors, confirmed on the hardware.
//!
//! Cases come from the hardware suite's generator (`x86wow_hwcheck::gen`, compact
//! layout); on an x86-64 Linux host each one runs natively and in x86wow and is written
//! only if both agree ([`x86wow_hwcheck::vectors::capture`]). Elsewhere the command
//! refuses unless `--unconfirmed` is given; unconfirmed vectors hold x86wow's results
//! and say so in their `confirmed` field.

use std::path::{Path, PathBuf};

use clap::Parser;
use iced_x86::Code;
use serde_json::{json, Value};
use x86wow_cpu::coverage::{codes, Family};
use x86wow_hwcheck::gen::{self, GenCase, Rng};
use x86wow_hwcheck::native::NativeRunner;
use x86wow_hwcheck::suite::case_seed;

#[derive(Parser, Debug)]
#[command(
    name = "x86wow vectors",
    about = "Export per-instruction test vectors (gzip-compressed JSON Lines of initial state, final state, \
             undefined-flags mask), each confirmed on the hardware"
)]
struct Args {
    /// Instruction family: integer, x87, mmx or sse.
    #[arg(long, default_value = "integer")]
    family: String,
    /// Vectors per instruction code.
    #[arg(long, default_value_t = 4)]
    count: u64,
    /// Random multi-instruction sequences to add (integer family).
    #[arg(long, default_value_t = 0)]
    sequences: u64,
    /// Seed of the generator: the same seed gives the same cases.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Only these codes (iced-x86 `Code` names, or mnemonics), repeatable.
    #[arg(long = "code")]
    codes: Vec<String>,
    /// Output directory; the file is DIR/FAMILY.jsonl.gz.
    #[arg(short, long)]
    output: PathBuf,
    /// Without hardware confirmation: write x86wow's results, marked unconfirmed.
    #[arg(long)]
    unconfirmed: bool,
}

/// The family of a name given on the command line.
pub fn family(name: &str) -> Option<Family> {
    Some(match name.to_ascii_lowercase().as_str() {
        "integer" | "int" => Family::Integer,
        "x87" | "fpu" => Family::X87,
        "mmx" => Family::Mmx,
        "sse" | "simd" => Family::Sse,
        _ => return None,
    })
}

/// Generates the cases: `count` per code (codes that must not run natively or have no
/// generator are skipped and reported), then `sequences`.
pub fn cases(
    list: &[Code],
    count: u64,
    sequences: u64,
    seed: u64,
    pool: &[Code],
) -> (Vec<GenCase>, Vec<String>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for &code in list {
        for i in 0..count {
            let mut rng = Rng::new(case_seed(seed, code, i));
            match gen::single_with(&mut rng, code, true) {
                Ok(c) => out.push(c),
                Err(why) => {
                    skipped.push(format!("{code:?}: {why:?}"));
                    break;
                }
            }
        }
    }
    for i in 0..sequences {
        let mut rng = Rng::new(seed ^ 0x5e90_0000_0000_0000 ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        out.push(gen::sequence_with(&mut rng, pool, true));
    }
    (out, skipped)
}

/// Vectors of x86wow's results without hardware confirmation.
pub fn unconfirmed(cases: &[GenCase]) -> (Vec<Value>, Vec<String>) {
    let mut vectors = Vec::new();
    let mut problems = Vec::new();
    let host = format!("unconfirmed: x86wow's results, not run on hardware ({})", std::env::consts::ARCH);
    for case in cases {
        match case.state.run(100_000) {
            Ok((fin, exit)) => vectors.push(json!({
                "name": case.codes.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(";"),
                "text": case.text,
                "initial": case.state.to_json(None),
                "final": fin.to_json(Some(&exit)),
                "undefined_flags": x86wow_hwcheck::vectors::undefined_flags(case),
                "confirmed": host,
            })),
            Err(e) => problems.push(format!("{}: {e}", case.text)),
        }
    }
    (vectors, problems)
}

/// Runs the subcommand; returns the exit code.
pub fn main(argv: &[String]) -> i32 {
    let args: Args = match crate::cli::parse_args("x86wow vectors", argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let Some(fam) = family(&args.family) else {
        eprintln!("x86wow vectors: unknown family {:?} (integer, x87, mmx, sse)", args.family);
        return 2;
    };
    let pool = codes(fam);
    let list: Vec<Code> = pool
        .iter()
        .copied()
        .filter(|c| {
            args.codes.is_empty()
                || args.codes.iter().any(|o| {
                    format!("{c:?}").eq_ignore_ascii_case(o)
                        || format!("{:?}", c.mnemonic()).eq_ignore_ascii_case(o)
                })
        })
        .collect();
    if list.is_empty() {
        eprintln!("x86wow vectors: no instruction code of family {} matches {:?}", args.family, args.codes);
        return 2;
    }
    let mut runner = None;
    if !args.unconfirmed {
        match NativeRunner::start() {
            Ok(r) => runner = Some(r),
            Err(e) => {
                eprintln!(
                    "x86wow vectors: cannot confirm vectors on this host ({e}); \
                     pass --unconfirmed to write x86wow's results marked as unconfirmed"
                );
                return 2;
            }
        }
    }
    let sequences = if fam == Family::Integer { args.sequences } else { 0 };
    let (cases, skipped) = cases(&list, args.count, sequences, args.seed, &pool);
    for s in &skipped {
        eprintln!("x86wow vectors: skipped {s}");
    }
    let mut all = Vec::new();
    let mut rejected = 0;
    for chunk in cases.chunks(2000) {
        let (v, problems) = match runner.as_mut() {
            Some(r) => x86wow_hwcheck::vectors::capture(r, chunk),
            None => unconfirmed(chunk),
        };
        for p in &problems {
            eprintln!("x86wow vectors: not exported (hardware and x86wow disagree or the case failed): {p}");
        }
        rejected += problems.len();
        all.extend(v);
    }
    let path = args.output.join(format!("{}.jsonl.gz", fam_name(fam)));
    if let Err(e) = x86wow_hwcheck::vectors::write(Path::new(&path), &all) {
        eprintln!("x86wow vectors: cannot write {}: {e}", path.display());
        return 2;
    }
    let how = if runner.is_some() { "confirmed on this CPU" } else { "UNCONFIRMED" };
    println!("wrote {} vectors ({how}) to {}; {rejected} not exported", all.len(), path.display());
    0
}

fn fam_name(f: Family) -> &'static str {
    match f {
        Family::Integer => "integer",
        Family::X87 => "x87",
        Family::Mmx => "mmx",
        Family::Sse => "sse",
    }
}
