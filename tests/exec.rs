//! `x86wow exec` end to end: the bundled state, JSON Lines batches, and the error
//! messages for malformed input (line and field named, other lines unaffected).

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

fn exec(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_x86wow"))
        .arg("exec")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run x86wow");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn bundled_state_sums_to_5050() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/states/sum.json");
    let (code, out, err) = exec(&[path], "");
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["regs"]["eax"], 5050);
    assert_eq!(v["exit"]["reason"], "hlt");
    assert_eq!(v["exit"]["insns"], 203);
    // The result was stored at 0x2000: the data region's final bytes show it.
    assert_eq!(v["memory"][1]["hex"], "ba13");
}

#[test]
fn jsonl_reports_bad_lines_and_runs_the_others() {
    let good = r#"{"regs":{"eip":4096,"eax":1},"memory":[{"addr":4096,"prot":"rx","hex":"40f4"}]}"#;
    let bad_prot = r#"{"regs":{"eip":4096},"memory":[{"addr":4096,"prot":"q","hex":"f4"}]}"#;
    let bad_json = r#"{"regs": "#;
    let input = format!("{good}\n{bad_prot}\n{bad_json}\n{good}\n");
    let (code, out, err) = exec(&["-"], &input);
    assert_eq!(code, 1);
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["regs"]["eax"], 2);
    assert_eq!(lines[1]["line"], 2);
    assert!(lines[1]["error"].as_str().unwrap().contains("memory[0].prot"));
    assert_eq!(lines[2]["line"], 3);
    assert_eq!(lines[3]["regs"]["eax"], 2);
    assert!(err.contains("line 2: field `memory[0].prot`"), "{err}");
    assert!(err.contains("line 3: invalid JSON"), "{err}");
}

#[test]
fn malformed_single_state_names_the_field() {
    let (code, _, err) = exec(&["-"], r#"{"regs":{"eip":-1}}"#);
    assert_eq!(code, 1);
    assert!(err.contains("field `regs.eip`"), "{err}");
    let (code, _, err) = exec(&["-"], r#"{"regs":{},"memory":[{"addr":4096,"hex":"f"}]}"#);
    assert_eq!(code, 1);
    assert!(err.contains("memory[0].hex") && err.contains("odd"), "{err}");
    let (code, _, err) = exec(&["-"], r#"{"regs":{},"bogus":1}"#);
    assert_eq!(code, 1);
    assert!(err.contains("field `bogus`: unknown field"), "{err}");
}

#[test]
fn faults_report_vector_address_and_access() {
    // mov [0x5000], eax with 0x5000 unmapped.
    let st = r#"{"regs":{"eip":4096},"memory":[{"addr":4096,"prot":"rx","hex":"a300500000f4"}]}"#;
    let (code, out, _) = exec(&["-"], st);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    let e = &v["exit"];
    assert_eq!((e["reason"].as_str(), e["vector"].as_u64()), (Some("fault"), Some(14)));
    assert_eq!((e["addr"].as_u64(), e["access"].as_str()), (Some(0x5000), Some("write")));
    assert_eq!(v["regs"]["eip"], 4096);
    assert_eq!(e["insns"], 0);
}

#[test]
fn int3_reports_next_eip_and_int80_stops() {
    let st = r#"{"regs":{"eip":4096},"memory":[{"addr":4096,"prot":"rx","hex":"cc"}]}"#;
    let v: Value = serde_json::from_str(&exec(&["-"], st).1).unwrap();
    assert_eq!((v["exit"]["vector"].as_u64(), v["exit"]["next_eip"].as_u64()), (Some(3), Some(4097)));
    let st = r#"{"regs":{"eip":4096},"memory":[{"addr":4096,"prot":"rx","hex":"cd80f4"}]}"#;
    let v: Value = serde_json::from_str(&exec(&["-"], st).1).unwrap();
    assert_eq!((v["exit"]["reason"].as_str(), v["exit"]["vector"].as_u64()), (Some("interrupt"), Some(128)));
    assert_eq!(v["regs"]["eip"], 4098);
}

#[test]
fn budget_exhaustion_is_reported() {
    let st = r#"{"regs":{"eip":4096},"memory":[{"addr":4096,"prot":"rx","hex":"ebfe"}]}"#;
    let (code, out, _) = exec(&["--max-insns", "1000", "-"], st);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["exit"]["reason"].as_str(), v["exit"]["insns"].as_u64()), (Some("budget"), Some(1000)));
}
