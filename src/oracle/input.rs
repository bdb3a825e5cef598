//! Reading the inputs of the oracle commands: one state (`.json`), JSON Lines of states
//! or of test vectors (`.jsonl`, optionally gzip-compressed `.jsonl.gz`).

use std::io::Read;

use serde_json::Value;
use x86wow_cpu::state::MachineState;

/// One input case.
#[derive(Debug, Clone)]
pub struct Case {
    /// `line N`, plus the vector's name when it has one.
    pub label: String,
    /// The vector's instruction code name(s), e.g. `Add_rm32_r32` (empty for a state).
    pub name: String,
    pub state: MachineState,
    /// The vector's expected final state (with its `exit`), when the line is a vector.
    pub expected: Option<Value>,
    /// The vector's undefined-flags mask.
    pub undefined_flags: u32,
}

/// Reads a file's text, decompressing `.gz`.
pub fn read_text(path: &str) -> Result<String, String> {
    let mut text = String::new();
    let res = if path == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else if path.ends_with(".gz") {
        std::fs::File::open(path)
            .and_then(|f| flate2::read::GzDecoder::new(f).read_to_string(&mut text).map(|_| ()))
    } else {
        std::fs::read_to_string(path).map(|s| text = s)
    };
    res.map(|_| text).map_err(|e| format!("cannot read {path}: {e}"))
}

/// Parses the cases of an input; a bad line is an `Err` with its line number.
pub fn read_cases(path: &str) -> Result<Vec<Result<Case, String>>, String> {
    let text = read_text(path)?;
    let single =
        path.ends_with(".json") || (!path.contains(".jsonl") && serde_json::from_str::<Value>(&text).is_ok());
    if single {
        return Ok(vec![case_from(&text, 1)]);
    }
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| case_from(l, i + 1))
        .collect())
}

fn case_from(text: &str, line: usize) -> Result<Case, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("line {line}: invalid JSON: {e}"))?;
    let (state_v, name, expected, undefined) = match v.get("initial") {
        Some(init) => (
            init,
            v.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
            v.get("final").cloned(),
            v.get("undefined_flags").and_then(Value::as_u64).unwrap_or(0) as u32,
        ),
        None => (&v, String::new(), None, 0),
    };
    let state = MachineState::from_json(state_v).map_err(|e| format!("line {line}: {e}"))?;
    let label = if name.is_empty() { format!("line {line}") } else { format!("line {line} ({name})") };
    Ok(Case { label, name, state, expected, undefined_flags: undefined })
}
