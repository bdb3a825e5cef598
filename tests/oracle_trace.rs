//! Traces: both encodings round-trip, the recorded steps replay to the final state, and
//! `trace check` finds the first difference in registers, memory and the stop.

use std::path::Path;
use std::process::Command;

use x86wow::cpu::state::MachineState;
use x86wow::oracle::input::read_cases;
use x86wow::oracle::trace::{self, binary, jsonl, RegFile, Trace};

fn root(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn sum() -> MachineState {
    MachineState::parse(&std::fs::read_to_string(root("testdata/states/sum.json")).unwrap()).unwrap()
}

/// Applies a trace's steps to its initial state: registers and memory.
fn replay(t: &Trace) -> (RegFile, MachineState) {
    let mut regs = RegFile::of_state(&t.initial);
    let mut mem = t.initial.clone();
    let stop = (t.stop.regs.clone(), t.stop.writes.clone());
    for (delta, writes) in t.steps.iter().map(|s| (&s.regs, &s.writes)).chain([(&stop.0, &stop.1)]) {
        regs.apply(delta);
        for (addr, data) in writes {
            for (i, b) in data.iter().enumerate() {
                let a = addr.wrapping_add(i as u32);
                let r = mem
                    .memory
                    .iter_mut()
                    .find(|r| (r.addr..r.addr + r.size).contains(&a))
                    .expect("written memory is described");
                let off = (a - r.addr) as usize;
                if r.bytes.len() <= off {
                    r.bytes.resize(off + 1, 0);
                }
                r.bytes[off] = *b;
            }
        }
    }
    (regs, mem)
}

#[test]
fn vectors_round_trip_and_replay() {
    let cases = read_cases(&root("testdata/vectors/integer.jsonl.gz").to_string_lossy()).unwrap();
    let mut steps = 0;
    for case in cases.into_iter().step_by(3) {
        let case = case.unwrap();
        let t = trace::record(&case.state, 10_000).unwrap();
        steps += t.steps.len();
        assert_eq!(binary::decode(&binary::encode(&t)).unwrap(), t, "{}", case.label);
        assert_eq!(jsonl::decode(&jsonl::encode(&t)).unwrap(), t, "{}", case.label);
        // The trace holds everything the run changed: replaying it gives the final state.
        let (fin, exit) = case.state.run(10_000).unwrap();
        assert_eq!(t.stop.exit, exit, "{}", case.label);
        assert_eq!(t.stop.eip, fin.regs.eip, "{}", case.label);
        let (regs, mem) = replay(&t);
        let want = RegFile::of_state(&fin);
        assert_eq!(regs, want, "{}: registers", case.label);
        for (a, b) in mem.memory.iter().zip(&fin.memory) {
            let n = a.bytes.len().max(b.bytes.len());
            let pad = |v: &[u8]| {
                let mut v = v.to_vec();
                v.resize(n, 0);
                v
            };
            assert!(pad(&a.bytes) == pad(&b.bytes), "{}: memory at {:#x}", case.label, a.addr);
        }
        assert!(trace::compare(&t, &t).is_none());
    }
    assert!(steps > 1000);
}

#[test]
fn check_finds_the_first_difference() {
    let t = trace::record(&sum(), 1_000_000).unwrap();
    assert_eq!(t.steps.len(), 203);
    // A register.
    let mut bad = t.clone();
    bad.steps[20].regs.push((0, 7));
    let d = trace::compare(&t, &bad).expect("diverges");
    assert_eq!((d.index, d.diffs[0].field.as_str()), (20, "eax"));
    // A memory write.
    let mut bad = t.clone();
    let last = bad.steps.len() - 1;
    bad.steps[last].writes[0].1[0] ^= 1;
    let d = trace::compare(&t, &bad).expect("diverges");
    assert_eq!((d.index, d.diffs[0].field.as_str()), (last, "mem"));
    // The stop.
    let mut bad = t.clone();
    bad.stop.exit.reason = "fault";
    let d = trace::compare(&t, &bad).expect("diverges");
    assert_eq!((d.index, d.diffs[0].field.as_str()), (203, "stop.reason"));
    // A shorter trace.
    let mut bad = t.clone();
    bad.steps.truncate(100);
    let d = trace::compare(&t, &bad).expect("diverges");
    assert_eq!((d.index, d.diffs[0].field.as_str()), (100, "steps"));
    // Undefined flags are masked: `mul` leaves SF/ZF/AF/PF undefined.
    let st = MachineState::parse(
        r#"{"regs": {"eax": 3, "ecx": 5, "eip": 4096}, "memory": [{"addr": 4096, "prot": "rx", "hex": "f7e1f4"}]}"#,
    )
    .unwrap();
    let t = trace::record(&st, 10).unwrap();
    let mut other = t.clone();
    let flags = other.steps[0].regs.iter_mut().find(|r| r.0 == 8);
    match flags {
        Some(f) => f.1 ^= 0xc4,
        None => other.steps[0].regs.push((8, (2 ^ 0xc4) as u128)),
    }
    assert!(trace::compare(&t, &other).is_none(), "{:?}", trace::compare(&t, &other));
    assert!(trace::compare_with(&t, &other, true).is_some());
}

#[test]
fn cli_record_and_check() {
    let exe = env!("CARGO_BIN_EXE_x86wow");
    let dir = std::env::temp_dir().join(format!("x86wow-trace-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = root("testdata/states/sum.json");
    for (name, extra) in [("sum.trc", None), ("sum.jsonl", Some("--jsonl"))] {
        let out = dir.join(name);
        let mut cmd = Command::new(exe);
        cmd.args(["trace", "record", "-o"]).arg(&out);
        if let Some(e) = extra {
            cmd.arg(e);
        }
        assert!(cmd.arg(&state).status().unwrap().success());
        let check = Command::new(exe).args(["trace", "check"]).arg(&out).arg(&state).output().unwrap();
        assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
        assert!(String::from_utf8_lossy(&check.stdout).contains("trace agrees with x86wow: 203 instructions"));
    }
    // A doctored JSON Lines trace: step 9 claims EAX = 1.
    let text = std::fs::read_to_string(dir.join("sum.jsonl")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut v: serde_json::Value = serde_json::from_str(&lines[10]).unwrap();
    v["regs"]["eax"] = serde_json::json!(1);
    lines[10] = v.to_string();
    std::fs::write(dir.join("bad.jsonl"), lines.join("\n")).unwrap();
    let check = Command::new(exe)
        .args(["trace", "check", "--json"])
        .arg(dir.join("bad.jsonl"))
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(v["divergence"]["index"], 9);
    assert_eq!(v["divergence"]["diffs"][0]["field"], "eax");
    let _ = std::fs::remove_dir_all(&dir);
}
