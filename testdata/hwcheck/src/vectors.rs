//! Hardware-confirmed test vectors: gzip-compressed JSON Lines, one vector per line.
//!
//! ```json
//! {"name": "Add_rm32_r32", "text": "add [ebx+10h],eax", "initial": {...state...},
//!  "final": {...state with "exit"...}, "undefined_flags": 0, "confirmed": "hardware: ..."}
//! ```
//!
//! `initial` and `final` are machine states in the project's format (docs/state-format.md),
//! with the optional `segs` field giving the selectors the hardware ran with. A vector is
//! written only when x86wow's result equals the host CPU's, so `final` is both what the
//! hardware did and what x86wow does. `undefined_flags` is the EFLAGS mask of the flags
//! the manuals leave undefined for the instruction(s) (iced-x86's instruction info);
//! engines that do not model AMD family 19h should mask them when comparing.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use iced_x86::{Decoder, DecoderOptions, RflagsBits};
use serde_json::{json, Value};
use x86wow_cpu::state::{ExitInfo, MachineState};

use crate::compare::{diff, from_native, interpret, native_case, with_selectors};
use crate::gen::GenCase;
use crate::native::NativeRunner;

/// The host CPU as /proc/cpuinfo names it (vendor, family, model, stepping).
pub fn host_cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |k: &str| {
        info.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    format!(
        "{} family {} model {} stepping {} ({})",
        field("vendor_id"),
        field("cpu family"),
        field("model\t"),
        field("stepping"),
        field("model name")
    )
}

/// EFLAGS mask of the flags left undefined by the instructions of a case.
pub fn undefined_flags(case: &GenCase) -> u32 {
    let mut mask = 0;
    let eip = case.state.regs.eip;
    let Some(code) = case.state.memory.iter().find(|r| (r.addr..r.addr + r.size).contains(&eip)) else {
        return 0;
    };
    let off = (eip - code.addr) as usize;
    let mut dec = Decoder::with_ip(32, &code.bytes[off..], eip as u64, DecoderOptions::AMD);
    for _ in 0..case.codes.len() {
        let ins = dec.decode();
        let u = ins.rflags_undefined();
        for (bit, flag) in [
            (RflagsBits::CF, 0),
            (RflagsBits::PF, 2),
            (RflagsBits::AF, 4),
            (RflagsBits::ZF, 6),
            (RflagsBits::SF, 7),
            (RflagsBits::OF, 11),
        ] {
            if u & bit != 0 {
                mask |= 1 << flag;
            }
        }
    }
    mask
}

/// Runs cases natively and in x86wow and returns one vector per case whose results
/// agree, plus the reports of those that do not (which are not exported).
pub fn capture(runner: &mut NativeRunner, cases: &[GenCase]) -> (Vec<Value>, Vec<String>) {
    let confirmed = format!("hardware: {}", host_cpu());
    let native: Vec<_> = cases.iter().map(|c| native_case(&c.state)).collect();
    let mut vectors = Vec::new();
    let mut problems = Vec::new();
    for (case, o) in cases.iter().zip(runner.run(&native)) {
        let hw = match from_native(&o) {
            Ok(h) => h,
            Err(e) => {
                problems.push(format!("{}: {e}", case.text));
                continue;
            }
        };
        let emu = match interpret(&case.state, &o.selectors, 100_000) {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!("{}: {e}", case.text));
                continue;
            }
        };
        let d = diff(&hw, &emu, &case.state);
        if !d.is_empty() {
            problems.push(format!("{}: {}", case.text, d.join("; ")));
            continue;
        }
        let initial = with_selectors(&case.state, &o.selectors);
        let (fin, exit) = match initial.run(100_000) {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("{}: {e}", case.text));
                continue;
            }
        };
        vectors.push(json!({
            "name": case.codes.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(";"),
            "text": case.text,
            "initial": initial.to_json(None),
            "final": fin.to_json(Some(&exit)),
            "undefined_flags": undefined_flags(case),
            "confirmed": confirmed,
        }));
    }
    (vectors, problems)
}

/// Writes vectors as gzip-compressed JSON Lines.
pub fn write(path: &Path, vectors: &[Value]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut gz = GzEncoder::new(std::fs::File::create(path)?, Compression::best());
    for v in vectors {
        writeln!(gz, "{v}")?;
    }
    gz.finish()?.flush()
}

/// Reads a vector file.
pub fn read(path: &Path) -> std::io::Result<Vec<Value>> {
    let r = BufReader::new(GzDecoder::new(std::fs::File::open(path)?));
    r.lines()
        .map(|l| {
            let l = l?;
            serde_json::from_str(&l).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        })
        .collect()
}

/// Runs a vector's initial state in x86wow and compares with its final state; returns
/// a description of the first difference.
pub fn replay(v: &Value) -> Result<(), String> {
    let initial = MachineState::from_json(&v["initial"]).map_err(|e| format!("initial: {e}"))?;
    let (fin, exit): (MachineState, ExitInfo) = initial.run(100_000).map_err(|e| e.to_string())?;
    let got = fin.to_json(Some(&exit));
    if got == v["final"] {
        return Ok(());
    }
    let want = &v["final"];
    let mut diffs = Vec::new();
    for key in ["regs", "segs", "exit", "fs_base", "gs_base"] {
        if got[key] != want[key] {
            diffs.push(format!("{key}: x86wow {} expected {}", got[key], want[key]));
        }
    }
    if got["memory"] != want["memory"] {
        diffs.push("memory differs".into());
    }
    Err(format!("{} `{}`: {}", v["name"], v["text"], diffs.join("; ")))
}
