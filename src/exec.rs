//! `x86wow exec`: runs machine states (one JSON object, or JSON Lines).

use std::io::{self, BufRead, Read, Write};

use serde_json::{json, Value};
use x86wow_cpu::state::MachineState;

/// Parses and runs one state document; returns the output object.
pub fn exec_one(text: &str, max_insns: u64) -> Result<Value, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let state = MachineState::from_json(&v).map_err(|e| e.to_string())?;
    let (out, exit) = state.run(max_insns).map_err(|e| e.to_string())?;
    Ok(out.to_json(Some(&exit)))
}

/// Input kinds `exec` accepts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Json,
    JsonLines,
}

/// Decides the input format from the file name; for stdin, from the content: a
/// document that parses as one JSON value is a single state.
pub fn detect(path: &str, content: &str) -> Format {
    if path.ends_with(".jsonl") || path.ends_with(".ndjson") {
        Format::JsonLines
    } else if path.ends_with(".json") || serde_json::from_str::<Value>(content).is_ok() {
        Format::Json
    } else {
        Format::JsonLines
    }
}

/// Runs `exec`. Returns the process exit code: 0 if every state ran, 1 if any input
/// was malformed (reported on stderr with its line and field), 2 on I/O errors.
pub fn run(input: &str, output: Option<&str>, max_insns: u64) -> i32 {
    let mut content = String::new();
    let read = if input == "-" {
        io::stdin().read_to_string(&mut content).map(|_| ())
    } else {
        std::fs::read_to_string(input).map(|s| content = s)
    };
    if let Err(e) = read {
        eprintln!("x86wow exec: cannot read {input}: {e}");
        return 2;
    }
    let mut out: Box<dyn Write> = match output {
        None | Some("-") => Box::new(io::BufWriter::new(io::stdout().lock())),
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Box::new(io::BufWriter::new(f)),
            Err(e) => {
                eprintln!("x86wow exec: cannot create {path}: {e}");
                return 2;
            }
        },
    };
    let mut status = 0;
    let write = |out: &mut dyn Write, v: &Value| writeln!(out, "{v}");
    match detect(input, &content) {
        Format::Json => match exec_one(&content, max_insns) {
            Ok(v) => {
                let pretty = serde_json::to_string_pretty(&v).expect("serialisable");
                if let Err(e) = writeln!(out, "{pretty}") {
                    eprintln!("x86wow exec: write failed: {e}");
                    return 2;
                }
            }
            Err(e) => {
                eprintln!("x86wow exec: {input}: {e}");
                return 1;
            }
        },
        Format::JsonLines => {
            for (i, line) in content.as_bytes().lines().enumerate() {
                let Ok(line) = line else { continue };
                if line.trim().is_empty() {
                    continue;
                }
                let result = exec_one(&line, max_insns).unwrap_or_else(|e| {
                    eprintln!("x86wow exec: {input}: line {}: {e}", i + 1);
                    status = 1;
                    json!({"error": e, "line": i + 1})
                });
                if let Err(e) = write(&mut *out, &result) {
                    eprintln!("x86wow exec: write failed: {e}");
                    return 2;
                }
            }
        }
    }
    if let Err(e) = out.flush() {
        eprintln!("x86wow exec: write failed: {e}");
        return 2;
    }
    status
}
