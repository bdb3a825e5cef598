//! `x86wow run` end to end: the binary runs a 32-bit program and exits with its status.

use std::process::Command;

fn program(name: &str) -> String {
    format!("{}/testdata/win32/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn run_hello() {
    let out =
        Command::new(env!("CARGO_BIN_EXE_x86wow")).args(["run", &program("hello.exe")]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, world!\n");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn run_trace_shows_services_and_statuses() {
    let out = Command::new(env!("CARGO_BIN_EXE_x86wow"))
        .args(["run", "--trace", &program("hello.exe")])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("NtWriteFile(0x8,") && err.contains("-> 64-bit (0x8,"), "{err}");
    assert!(err.contains("= STATUS_SUCCESS (0x00000000)"), "{err}");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn run_reports_load_errors_and_exit_statuses() {
    let out = Command::new(env!("CARGO_BIN_EXE_x86wow")).args(["run", &program("hello.c")]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an executable"));
    let out =
        Command::new(env!("CARGO_BIN_EXE_x86wow")).args(["run", &program("crash.exe")]).output().unwrap();
    // 0xC0000005 as a process exit code (the host keeps its low bits).
    assert_eq!(out.status.code(), Some(0xC000_0005u32 as i32 & 0xFF));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unhandled exception STATUS_ACCESS_VIOLATION"));
}
