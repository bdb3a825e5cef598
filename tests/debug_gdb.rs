//! `x86wow debug --gdb` driven by a real gdb in batch mode: connect, break, continue,
//! registers and memory, step, watch, reverse, monitor commands, detach. Skipped (with
//! a message) when gdb is missing and cannot be installed with apt-get.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn have_gdb() -> bool {
    Command::new("gdb").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// gdb, installing the Debian package when it is missing (CI machines start bare).
fn ensure_gdb() -> bool {
    if have_gdb() {
        return true;
    }
    eprintln!("gdb not found; trying apt-get install gdb");
    let ok =
        |c: &mut Command| c.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    let _ = ok(Command::new("apt-get").args(["update", "-qq"]));
    let _ = ok(Command::new("apt-get")
        .args(["install", "-y", "-qq", "gdb"])
        .env("DEBIAN_FRONTEND", "noninteractive"));
    have_gdb()
}

/// Kills the child when the test ends early (a failed assertion must not leave a stub
/// waiting for gdb).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for a child with a deadline.
fn wait_for(child: &mut std::process::Child, secs: u64, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "{what} did not finish in {secs} s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn gdb_drives_the_stub() {
    if !ensure_gdb() {
        eprintln!("SKIPPED gdb_drives_the_stub: gdb is not installed and apt-get could not install it");
        return;
    }
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let server = Command::new(env!("CARGO_BIN_EXE_x86wow"))
        .args(["debug", "--gdb", &addr, "--file"])
        .arg(repo("testdata/debug/adder.dll"))
        .arg(repo("testdata/debug/useadder.exe"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = KillOnDrop(server);
    // Wait until it listens.
    let mut err = BufReader::new(server.0.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("waiting for gdb"), "{line}");

    let script = [
        "set pagination off",
        "set confirm off",
        &format!("target remote {addr}"),
        "info registers eip esp",
        "break *0x64b01018",
        "continue",
        "info registers eip eax",
        "x/4xw $esp",
        "stepi",
        "p/x $pc",
        "p/x $eax",
        "p/x $cs",
        "p $st0",
        "p/x $mxcsr",
        "reverse-stepi",
        "p/x $pc",
        "delete",
        "watch -l *(int*)($esp+4)",
        "continue",
        "delete",
        "info sharedlibrary",
        "monitor teb",
        "monitor break syscall NtWriteFile",
        "continue",
        "p/x $pc",
        "monitor delete",
        "monitor syscalls 1",
        "detach",
    ];
    let mut gdb = Command::new("gdb");
    gdb.args(["-nx", "-batch"]);
    for c in script {
        gdb.arg("-ex").arg(c);
    }
    let start = Instant::now();
    let dir = std::env::temp_dir().join(format!("x86wow-gdb-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (out_path, err_path) = (dir.join("out"), dir.join("err"));
    gdb.stdout(std::fs::File::create(&out_path).unwrap()).stderr(std::fs::File::create(&err_path).unwrap());
    let mut client = KillOnDrop(gdb.spawn().unwrap());
    wait_for(&mut client.0, 120, "gdb");
    let text = format!(
        "{}{}",
        std::fs::read_to_string(&out_path).unwrap_or_default(),
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    let _ = std::fs::remove_dir_all(&dir);
    for needle in [
        "eip            0x7790",
        "Breakpoint 1, 0x64b01018 in ?? ()",
        "eax            0x4010f9",
        "0x0040110a\t0x00000002\t0x00000028",
        "$1 = 0x64b0101c",
        "$2 = 0x28",
        "$3 = 0x23",
        "$4 = 0",
        "$5 = 0x1f80",
        "$6 = 0x64b01018",
        "C:\\adder.dll",
        "C:\\Windows\\SysWOW64\\ntdll.dll",
        "TEB32 0x",
        "Hardware watchpoint 2: -location *(int*)($esp+4)",
        "Old value = 2",
        "Program received signal SIGTRAP",
        "$7 = 0x7790",
        "NtAllocateVirtualMemory(0xffffffff,",
        "Inferior 1 (process 1) detached",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in gdb's output:\n{text}");
    }
    // After the detach the program runs to its end.
    let status = wait_for(&mut server.0, 60, "x86wow after the detach");
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut err, &mut rest);
    assert_eq!(status.code(), Some(0), "{rest}");
    assert!(rest.contains("the program exited with status 0x0"), "{rest}");
    eprintln!("gdb session took {:?}", start.elapsed());
}

/// `x86wow run --gdb`: the program as `run` runs it, under gdb; after the detach it
/// finishes and its output and status are the program's.
#[test]
fn run_with_gdb_flag() {
    if !ensure_gdb() {
        eprintln!("SKIPPED run_with_gdb_flag: gdb is not installed and apt-get could not install it");
        return;
    }
    let port = free_port().to_string();
    let server = Command::new(env!("CARGO_BIN_EXE_x86wow"))
        .args(["run", "--gdb", &port])
        .arg(repo("testdata/debug/hello.exe"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = KillOnDrop(server);
    let mut err = BufReader::new(server.0.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("waiting for gdb on 127.0.0.1:"), "{line}");
    let out = Command::new("gdb")
        .args(["-nx", "-batch", "-ex", &format!("target remote 127.0.0.1:{port}")])
        .args(["-ex", "break *0x401000", "-ex", "continue", "-ex", "p/x $eip", "-ex", "detach"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("$1 = 0x401000"), "{text}");
    let status = wait_for(&mut server.0, 60, "x86wow run after the detach");
    assert_eq!(status.code(), Some(0));
    let mut stdout = String::new();
    std::io::Read::read_to_string(server.0.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    assert_eq!(stdout, "Hello, world!\n");
}
