//! The `lockstep`, `trace` and `vectors` subcommands.

use std::collections::BTreeMap;
use std::io::Write;

use clap::Parser;

use super::backend::Backend;
use super::corrupt::Corrupt;
use super::input::read_cases;
use super::interp::Interpreter;
use super::lockstep::{Granularity, Lockstep, Options, Outcome};
use super::pipe::PipeBackend;

use crate::cli::parse_args as parse;

#[derive(Parser, Debug)]
#[command(
    name = "x86wow lockstep",
    about = "Run x86wow and another engine side by side and report the first divergence",
    after_help = "The first engine is x86wow with its block cache. The second is x86wow's plain path \
                  (--plain, the default) or an engine speaking the JSON Lines protocol of docs/oracle.md \
                  (--engine). With --serve, x86wow itself answers that protocol on stdin/stdout."
)]
struct LockstepArgs {
    /// The second engine: a command speaking the JSON Lines protocol, e.g.
    /// 'python3 testdata/oracle/unicorn_engine.py'.
    #[arg(long, conflicts_with = "plain")]
    engine: Option<String>,
    /// Compare against x86wow without its block cache (the default).
    #[arg(long)]
    plain: bool,
    /// Compare after every instruction (the default).
    #[arg(long, conflicts_with = "per")]
    per_insn: bool,
    /// Compare after every N instructions (a difference is narrowed down by replaying).
    #[arg(long, value_name = "N")]
    per: Option<u64>,
    /// Instructions per state at most.
    #[arg(long, default_value_t = 1_000_000)]
    max_insns: u64,
    /// Compare the flags an instruction leaves undefined too.
    #[arg(long)]
    strict_flags: bool,
    /// Full reports for this many divergences (the rest get one line).
    #[arg(long, default_value_t = 5)]
    show: usize,
    /// One JSON object per state on stdout instead of text.
    #[arg(long)]
    json: bool,
    /// Serve the protocol on stdin/stdout with x86wow as the engine.
    #[arg(long)]
    serve: bool,
    /// With --serve: XOR 0x1 into register --corrupt-reg after K instructions (tests).
    #[arg(long, value_name = "K", requires = "serve")]
    corrupt_after: Option<u64>,
    /// With --corrupt-after: the register, 0 EAX .. 7 EDI.
    #[arg(long, default_value_t = 0, requires = "corrupt_after")]
    corrupt_reg: usize,
    /// A state (.json), or states or test vectors (.jsonl, .jsonl.gz).
    #[arg(required_unless_present = "serve")]
    input: Option<String>,
}

/// `x86wow lockstep`: returns the exit code (0 all agree, 1 a divergence, 2 an error).
pub fn lockstep_main(argv: &[String]) -> i32 {
    let args: LockstepArgs = match parse("x86wow lockstep", argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    if args.serve {
        let mut engine: Box<dyn Backend> =
            if args.plain { Box::new(Interpreter::plain()) } else { Box::new(Interpreter::fast()) };
        if let Some(k) = args.corrupt_after {
            engine = Box::new(Corrupt::new(engine, k, args.corrupt_reg, 1));
        }
        let stdin = std::io::stdin();
        return match super::protocol::serve(&mut engine, stdin.lock(), std::io::stdout().lock()) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("x86wow lockstep --serve: {e}");
                2
            }
        };
    }
    let input = args.input.as_deref().expect("required");
    let cases = match read_cases(input) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("x86wow lockstep: {e}");
            return 2;
        }
    };
    let mut left = Interpreter::fast();
    let mut right: Box<dyn Backend> = match &args.engine {
        Some(cmd) => match PipeBackend::spawn(cmd) {
            Ok(b) => Box::new(b),
            Err(e) => {
                eprintln!("x86wow lockstep: {e}");
                return 2;
            }
        },
        None => Box::new(Interpreter::plain()),
    };
    let options = Options {
        granularity: args.per.map_or(Granularity::PerInstruction, Granularity::Every),
        max_insns: args.max_insns,
        strict_flags: args.strict_flags,
    };
    let (mut agree, mut diverged, mut errors) = (0usize, 0usize, 0usize);
    let mut by_insn: BTreeMap<String, usize> = BTreeMap::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for case in cases {
        let case = match case {
            Ok(c) => c,
            Err(e) => {
                eprintln!("x86wow lockstep: {input}: {e}");
                errors += 1;
                continue;
            }
        };
        let result = Lockstep::new(&mut left, &mut right, options).run(&case.state);
        let line = match result {
            Ok(Outcome::Agree { exit }) => {
                agree += 1;
                args.json.then(|| {
                    serde_json::json!({"case": case.label, "name": case.name, "agree": true, "exit": exit.to_json()})
                        .to_string()
                })
            }
            Ok(Outcome::Diverged(d)) => {
                diverged += 1;
                let mnemonic = d.disasm.split_whitespace().next().unwrap_or("(undecodable)").to_string();
                *by_insn.entry(mnemonic).or_default() += 1;
                Some(if args.json {
                    serde_json::json!({"case": case.label, "name": case.name, "agree": false, "divergence": d.to_json()})
                        .to_string()
                } else if diverged <= args.show {
                    format!("{}: {d}", case.label)
                } else {
                    let fields: Vec<&str> = d.diffs.iter().map(|f| f.field.as_str()).collect();
                    format!(
                        "{}: diverged at {:#010x} `{}`: {}",
                        case.label,
                        d.eip,
                        d.disasm,
                        fields.join(", ")
                    )
                })
            }
            Err(e) => {
                errors += 1;
                eprintln!("x86wow lockstep: {}: {e}", case.label);
                if args.engine.is_some() && matches!(e, super::LockstepError::Backend { which: 1, .. }) {
                    // The engine may have died: start it again for the next case.
                    if let Some(cmd) = &args.engine {
                        match PipeBackend::spawn(cmd) {
                            Ok(b) => right = Box::new(b),
                            Err(e) => {
                                eprintln!("x86wow lockstep: {e}");
                                return 2;
                            }
                        }
                    }
                }
                None
            }
        };
        if let Some(l) = line {
            if writeln!(out, "{l}").is_err() {
                return 2;
            }
        }
    }
    if !args.json {
        let _ = writeln!(
            out,
            "{} vs {}: {} states: {agree} agree, {diverged} diverged, {errors} errors",
            left.name(),
            right.name(),
            agree + diverged + errors
        );
        if !by_insn.is_empty() {
            let list: Vec<String> = by_insn.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(out, "divergences by mnemonic: {}", list.join(", "));
        }
    }
    if errors > 0 {
        2
    } else if diverged > 0 {
        1
    } else {
        0
    }
}

/// `x86wow trace record|check`.
pub fn trace_main(argv: &[String]) -> i32 {
    super::trace::cli::main(argv)
}

/// `x86wow vectors`.
pub fn vectors_main(argv: &[String]) -> i32 {
    super::vectors::main(argv)
}
