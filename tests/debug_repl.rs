//! `x86wow debug` sessions driven by a script (`--batch` and a pipe). Sessions on a
//! WOW64 process are checked for the lines that matter (the guest ntdll is built by
//! x86wow and moves as it grows, so its addresses and service numbers are not pinned);
//! sessions on machine states are checked against the expected transcripts in
//! testdata/debug/. After a deliberate change of output, regenerate those with
//! `X86WOW_BLESS=1 cargo test --test debug_repl`. The programs are copies of
//! testdata/win32's in testdata/debug/, so that rebuilding those does not move them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// A fresh scratch directory for the files a script saves.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("x86wow-debug-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs a script with `--batch`; returns the transcript with the scratch directory
/// written as `$TMP`.
fn run_batch(script: &str, tmp: &Path, args: &[&str]) -> String {
    let text = std::fs::read_to_string(repo(&format!("testdata/debug/{script}"))).unwrap();
    let cmds = tmp.join("commands");
    std::fs::write(&cmds, text.replace("$TMP", tmp.to_str().unwrap())).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_x86wow"))
        .arg("debug")
        .arg("--batch")
        .arg(&cmds)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().replace(tmp.to_str().unwrap(), "$TMP")
}

/// Compares with the expected transcript (or writes it when blessing).
fn check_transcript(name: &str, got: &str) {
    let path = repo(&format!("testdata/debug/{name}"));
    if std::env::var_os("X86WOW_BLESS").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    pretty_assertions::assert_eq!(want, got, "transcript {name} differs (X86WOW_BLESS=1 regenerates it)");
}

fn same_file(a: &Path, b: &Path) {
    let (x, y) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert!(x.len() > 100, "{} is a machine state", a.display());
    assert!(
        x == y,
        "{} and {} differ: reverse execution did not restore the state bit for bit",
        a.display(),
        b.display()
    );
}

#[test]
fn useadder_session() {
    let tmp = scratch("useadder");
    let dll = repo("testdata/debug/adder.dll");
    let exe = repo("testdata/debug/useadder.exe");
    let got = run_batch("useadder.cmds", &tmp, &["--file", dll.to_str().unwrap(), exe.to_str().unwrap()]);
    // The points the transcript must make, whatever else changes in it.
    for needle in [
        "Watchpoint 2 (watch): written at 0x64b03000\n  old: 00 00 00 00\n  new: 01 00 00 00",
        "Breakpoint 1, 0x64b01018 <adder.dll!Add>",
        "#1  0x0040110a in useadder.exe!EntryPoint+0x11",
        "Run till exit: returned to 0x0040110a <useadder.exe!EntryPoint+0x11>, eax = 0x2a",
        "mov esi, [useadder.exe!__imp_Add]",
        "Syscall breakpoint 3: NtWriteFile (service 0x",
        "  args: (0x8, 0x0, 0x0, 0x0, 0x",
        "[x86wow] NtWriteFile(0x8, 0x0, 0x0, 0x0, 0x",
        "0x402000, 0x4, 0x0, 0x0) = STATUS_SUCCESS",
        "=> 0x0040110a <useadder.exe!EntryPoint+0x11>  mov ebx, eax\n(x86wow) disas useadder.exe!EntryPoint 10",
        "error: symbol not found: nosuch!Thing",
        "error: unknown command `frobnicate`",
        "error: memory at 0x00000010 (16 bytes) is not mapped",
    ] {
        assert!(got.contains(needle), "missing {needle:?} in:\n{got}");
    }
    same_file(&tmp.join("before.json"), &tmp.join("after.json"));
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn machine_state_session() {
    let tmp = scratch("state");
    let state = repo("testdata/debug/sum.json");
    let got = run_batch("state.cmds", &tmp, &[state.to_str().unwrap()]);
    assert!(got.contains("old: 00 00 00 00\n  new: ba 13 00 00"), "{got}");
    assert!(got.contains("error: `break syscall` needs a WOW64 process"), "{got}");
    same_file(&tmp.join("before.json"), &tmp.join("after.json"));
    check_transcript("state.out", &got);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Reverse execution across the automatic snapshots of a long run, and a conditional
/// watchpoint found again after going back to the start.
#[test]
fn long_run_snapshots() {
    let tmp = scratch("loop");
    let state = repo("testdata/debug/loop.json");
    let got = run_batch("loop.cmds", &tmp, &[state.to_str().unwrap()]);
    assert!(got.contains("position 600002  insns 600001"), "{got}");
    assert!(got.contains("eax 0x098d1318  ecx 0x000249f0"), "{got}");
    same_file(&tmp.join("l1.json"), &tmp.join("l2.json"));
    check_transcript("loop.out", &got);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Commands from a pipe work like a batch file; errors do not end the session.
#[test]
fn piped_commands() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_x86wow"))
        .args(["debug", repo("testdata/debug/hello.exe").to_str().unwrap()])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"bogus\nb hello.exe!EntryPoint\nc\nn 3\nbreak exception\nc\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("(x86wow) bogus\nerror: unknown command `bogus`"), "{text}");
    assert!(text.contains("Breakpoint 1, 0x00401000 <hello.exe!EntryPoint>"), "{text}");
    assert!(text.contains("Hello, world!\nProcess exited with status 0x0"), "{text}");
    assert_eq!(out.status.code(), Some(0));
}

/// `break exception` stops where the exception is dispatched, with its code.
#[test]
fn exception_breakpoint() {
    let tmp = scratch("crash");
    let cmds = tmp.join("commands");
    std::fs::write(&cmds, "break exception 14\ncontinue\nbt\nseh\ncontinue\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_x86wow"))
        .args([
            "debug",
            "--batch",
            cmds.to_str().unwrap(),
            repo("testdata/debug/crash.exe").to_str().unwrap(),
        ])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Exception breakpoint 1: STATUS_ACCESS_VIOLATION (0xc0000005) at"), "{text}");
    assert!(text.contains("<ntdll.dll!KiUserExceptionDispatcher>"), "{text}");
    assert!(text.contains("Process exited with status 0xc0000005"), "{text}");
    let _ = std::fs::remove_dir_all(&tmp);
}
