//! `x86wow vectors`: confirmed on the hardware where it can be, refused elsewhere
//! unless `--unconfirmed`, and the output replays through lockstep.

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_x86wow")).arg("vectors").args(args).output().unwrap()
}

fn read(path: &std::path::Path) -> Vec<serde_json::Value> {
    x86wow_hwcheck::vectors::read(path).expect("a vector file")
}

#[test]
fn export_and_replay() {
    let dir = std::env::temp_dir().join(format!("x86wow-vectors-test-{}", std::process::id()));
    let out = dir.to_string_lossy().into_owned();
    let confirmed = run(&[
        "--family",
        "integer",
        "--count",
        "2",
        "--seed",
        "7",
        "--code",
        "adc",
        "--code",
        "Shld_rm32_r32_CL",
        "-o",
        &out,
    ]);
    let file = dir.join("integer.jsonl.gz");
    if confirmed.status.success() {
        let vs = read(&file);
        assert!(vs.len() >= 10, "{}", vs.len());
        for v in &vs {
            assert!(v["confirmed"].as_str().unwrap().starts_with("hardware: "), "{v}");
            assert!(v["undefined_flags"].is_u64());
            x86wow_hwcheck::vectors::replay(v).unwrap();
        }
        // The same seed gives the same vectors.
        let again = run(&[
            "--family",
            "integer",
            "--count",
            "2",
            "--seed",
            "7",
            "--code",
            "adc",
            "--code",
            "Shld_rm32_r32_CL",
            "-o",
            &out,
        ]);
        assert!(again.status.success());
        assert_eq!(read(&file), vs);
        let lockstep =
            Command::new(env!("CARGO_BIN_EXE_x86wow")).arg("lockstep").arg(&file).output().unwrap();
        assert!(lockstep.status.success(), "{}", String::from_utf8_lossy(&lockstep.stdout));
    } else {
        // No hardware confirmation here: refused with the reason.
        assert_eq!(confirmed.status.code(), Some(2));
        let err = String::from_utf8_lossy(&confirmed.stderr);
        assert!(err.contains("--unconfirmed"), "{err}");
        eprintln!("hardware confirmation unavailable: {err}");
    }
    let unconfirmed =
        run(&["--family", "integer", "--count", "1", "--code", "add", "-o", &out, "--unconfirmed"]);
    assert!(unconfirmed.status.success(), "{}", String::from_utf8_lossy(&unconfirmed.stderr));
    let vs = read(&file);
    assert!(!vs.is_empty());
    for v in &vs {
        assert!(v["confirmed"].as_str().unwrap().starts_with("unconfirmed"), "{v}");
        x86wow_hwcheck::vectors::replay(v).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn families_and_errors() {
    for fam in ["x87", "mmx", "sse"] {
        let out = run(&["--family", fam, "--count", "1", "--code", "nonexistent", "-o", "/nonexistent"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("no instruction code"), "{fam}");
    }
    let out = run(&["--family", "avx512", "-o", "/tmp"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown family"));
}
