//! `x86wow trace record|check`.

use std::io::Write;

use clap::{Parser, Subcommand};
use x86wow_cpu::state::MachineState;

#[derive(Parser, Debug)]
#[command(
    name = "x86wow trace",
    about = "Record a trace of a run, or check another engine's trace against x86wow"
)]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a state in x86wow and write its trace (docs/trace-format.md).
    Record {
        /// Output file (default: stdout).
        #[arg(short, long)]
        output: Option<String>,
        /// Write the JSON Lines form instead of the binary one.
        #[arg(long)]
        jsonl: bool,
        /// Instructions at most.
        #[arg(long, default_value_t = 1_000_000)]
        max_insns: u64,
        /// The initial state (.json).
        state: String,
    },
    /// Compare a trace (binary or JSON Lines) with x86wow's run of the state and report
    /// the first divergence.
    Check {
        /// Compare the flags an instruction leaves undefined too.
        #[arg(long)]
        strict_flags: bool,
        /// Report as JSON.
        #[arg(long)]
        json: bool,
        /// The trace to check.
        trace: String,
        /// The initial state (.json); must be the state the trace starts from.
        state: String,
    },
}

fn load_state(path: &str) -> Result<MachineState, String> {
    let text = crate::oracle::input::read_text(path)?;
    MachineState::parse(&text).map_err(|e| format!("{path}: {e}"))
}

/// Runs the subcommand; returns the exit code (check: 0 agree, 1 diverged; 2 errors).
pub fn main(argv: &[String]) -> i32 {
    let args: Args = match crate::cli::parse_args("x86wow trace", argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    match run(args.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("x86wow trace: {e}");
            2
        }
    }
}

fn run(cmd: Cmd) -> Result<i32, String> {
    match cmd {
        Cmd::Record { output, jsonl, max_insns, state } => {
            let st = load_state(&state)?;
            let t = super::record(&st, max_insns).map_err(|e| format!("{state}: {e}"))?;
            let data = if jsonl { super::jsonl::encode(&t).into_bytes() } else { super::binary::encode(&t) };
            match output.as_deref() {
                None | Some("-") => std::io::stdout().write_all(&data).map_err(|e| e.to_string())?,
                Some(path) => std::fs::write(path, &data).map_err(|e| format!("cannot write {path}: {e}"))?,
            }
            eprintln!("x86wow trace: {} instructions, stop: {}", t.steps.len(), t.stop.exit.to_json());
            Ok(0)
        }
        Cmd::Check { strict_flags, json, trace, state } => {
            let data = std::fs::read(&trace).map_err(|e| format!("cannot read {trace}: {e}"))?;
            let theirs = super::decode(&data).map_err(|e| format!("{trace}: {e}"))?;
            let st = load_state(&state)?;
            if theirs.initial.to_json(None) != st.to_json(None) {
                eprintln!("x86wow trace: warning: the trace's initial state differs from {state}; checking from {state}");
            }
            let max = theirs.steps.len() as u64 + u64::from(theirs.stop.exit.reason != "budget");
            let ours = super::record(&st, max).map_err(|e| format!("{state}: {e}"))?;
            match super::check::compare_with(&ours, &theirs, strict_flags) {
                None => {
                    if json {
                        println!("{}", serde_json::json!({"agree": true, "steps": ours.steps.len()}));
                    } else {
                        println!(
                            "trace agrees with x86wow: {} instructions, stop {}",
                            ours.steps.len(),
                            ours.stop.exit.to_json()
                        );
                    }
                    Ok(0)
                }
                Some(d) => {
                    if json {
                        println!("{}", serde_json::json!({"agree": false, "divergence": d.to_json()}));
                    } else {
                        print!("{d}");
                        println!("  (left: x86wow, right: the trace)");
                    }
                    Ok(1)
                }
            }
        }
    }
}
