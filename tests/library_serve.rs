//! `x86wow serve` and `x86wow call` against testdata/win32/interop.dll: the JSON Lines
//! protocol over stdin/stdout, concurrent clients over TCP and a Unix socket (a Python
//! standard-library client, tests/serve_client.py), and the one-shot command.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_x86wow");
/// Longest wait for one response (the interpreter is slow in debug builds).
const TIMEOUT: Duration = Duration::from_secs(120);

fn dll() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/win32/interop.dll")
}

/// Lines of a child's stdout, read on a thread so that every wait has a timeout.
fn lines_of(out: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// A server child, killed on drop.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Server {
    fn spawn(extra: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .arg("serve")
            .arg(dll())
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("x86wow serve starts");
        let stdin = child.stdin.take();
        let lines = lines_of(child.stdout.take().unwrap());
        Server { child, stdin, lines }
    }

    fn line(&self) -> String {
        self.lines.recv_timeout(TIMEOUT).expect("the server answers in time")
    }

    fn send_raw(&mut self, line: &str) -> Value {
        let w = self.stdin.as_mut().unwrap();
        writeln!(w, "{line}").unwrap();
        w.flush().unwrap();
        let reply = self.line();
        serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{reply:?} is not JSON: {e}"))
    }

    fn req(&mut self, v: Value) -> Value {
        self.send_raw(&v.to_string())
    }

    /// A call that must succeed.
    fn ok(&mut self, v: Value) -> Value {
        let r = self.req(v.clone());
        assert_eq!(r["ok"], json!(true), "{v} gave {r}");
        r
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn i32v(v: i64) -> Value {
    json!({ "type": "i32", "value": v })
}

fn call(export: &str, conv: &str, ret: &str, args: Vec<Value>) -> Value {
    json!({ "op": "call", "export": export, "conv": conv, "ret": ret, "args": args })
}

#[test]
fn serve_over_stdin_and_stdout() {
    let mut s = Server::spawn(&[]);

    let r = s.ok(json!({"id": 1, "op": "hello"}));
    assert_eq!((r["id"].clone(), r["server"].clone()), (json!(1), json!("x86wow")));
    assert_eq!(r["library"], json!("interop.dll"));
    assert!(r["version"].is_string());

    let r = s.ok(json!({"op": "exports"}));
    let exports = r["exports"].as_array().unwrap();
    let add = exports.iter().find(|e| e["name"] == json!("add_stdcall")).unwrap();
    assert_eq!(add["ordinal"], json!(1));
    assert!(add["address"].as_u64().unwrap() > 0);
    let ord = exports.iter().find(|e| e["ordinal"] == json!(50)).unwrap();
    assert_eq!(ord["name"], Value::Null, "ord_only is exported by ordinal only");

    // Every convention, the id echoed verbatim.
    let mut r = s.ok(call("add_stdcall", "stdcall", "i32", vec![i32v(2), i32v(40)]));
    assert_eq!(r["value"], json!(42));
    assert_eq!(r["out"], json!([null, null]));
    r = s.ok(json!({"id": {"n": [1, "x"]}, "op": "call", "export": "add_cdecl", "conv": "cdecl",
        "args": [i32v(-5), i32v(3)]}));
    assert_eq!((r["id"].clone(), r["value"].clone()), (json!({"n": [1, "x"]}), json!(-2)));
    r = s.ok(call("add_fastcall", "fastcall", "i32", vec![i32v(1), i32v(2), i32v(3)]));
    assert_eq!(r["value"], json!(6));
    // thiscall: a Counter {value, calls} as `this`.
    let counter = json!({"type": "struct", "dir": "inout", "fields": [
        {"name": "value", "type": "i32", "value": 10}, {"name": "calls", "type": "i32", "value": 0}]});
    r = s.ok(call("counter_add", "thiscall", "i32", vec![counter, i32v(5)]));
    assert_eq!(r["value"], json!(15));
    assert_eq!(r["out"][0]["fields"][1]["value"], json!(1), "calls counted");
    // By ordinal: "#50" and 50.
    assert_eq!(s.ok(json!({"op": "call", "export": "#50"}))["value"], json!(0x5050));
    assert_eq!(s.ok(json!({"op": "call", "export": 50}))["value"], json!(0x5050));

    // 64-bit and floating-point values, exact.
    r = s.ok(call(
        "mul_u64",
        "cdecl",
        "u64",
        vec![json!({"type": "u64", "value": "0xffffffff"}), json!({"type": "u64", "value": 4294967297u64})],
    ));
    assert_eq!(r["value"], json!(u64::MAX));
    r = s.ok(call(
        "sub_i64",
        "stdcall",
        "i64",
        vec![json!({"type": "i64", "value": i64::MIN + 5}), json!({"type": "i64", "value": 5})],
    ));
    assert_eq!(r["value"], json!(i64::MIN));
    r = s.ok(call(
        "fma_f64",
        "stdcall",
        "f64",
        vec![
            json!({"type": "f64", "value": 1.5}),
            json!({"type": "f64", "value": 4}),
            json!({"type": "f64", "value": "0.25"}),
        ],
    ));
    assert_eq!(r["value"], json!(6.25));
    r = s.ok(call("half_f32", "cdecl", "f32", vec![json!({"type": "f32", "value": 0.2})]));
    assert_eq!(r["value"], json!(0.1));
    r = s.ok(call("fma_f64", "stdcall", "f64", vec![json!({"type": "f64", "value": "inf"}); 3]));
    assert_eq!(r["value"], json!("inf"));

    // Strings, ANSI and UTF-16.
    r = s.ok(call("str_length", "stdcall", "u32", vec![json!({"type": "str", "value": "hello"})]));
    assert_eq!(r["value"], json!(5));
    r = s.ok(call("wstr_length", "stdcall", "u32", vec![json!({"type": "wstr", "value": "h€llo"})]));
    assert_eq!(r["value"], json!(5));
    r = s.ok(call(
        "str_upper",
        "stdcall",
        "void",
        vec![json!({"type": "str_inout", "value": "abc", "cap": 16})],
    ));
    assert_eq!((r["value"].clone(), r["out"].clone()), (Value::Null, json!([{"text": "ABC"}])));
    r = s.ok(call(
        "greet",
        "stdcall",
        "i32",
        vec![json!({"type": "str", "value": "x86"}), json!({"type": "str_out", "cap": 32}), i32v(32)],
    ));
    assert_eq!((r["value"].clone(), r["out"][1].clone()), (json!(11), json!({"text": "Hello, x86!"})));
    r = s.ok(call(
        "wgreet",
        "stdcall",
        "i32",
        vec![json!({"type": "wstr", "value": "wörld"}), json!({"type": "wstr_out", "cap": 32}), i32v(32)],
    ));
    assert_eq!(r["out"][1], json!({"text": "Hello, wörld!"}));

    // Bytes in, out and in-out.
    r = s.ok(call(
        "sum_bytes",
        "stdcall",
        "u32",
        vec![json!({"type": "bytes_in", "hex": "0102ff"}), i32v(3)],
    ));
    assert_eq!(r["value"], json!(258));
    r = s.ok(call(
        "fill_bytes",
        "stdcall",
        "void",
        vec![json!({"type": "bytes_out", "len": 4}), i32v(4), i32v(0xab)],
    ));
    assert_eq!(r["out"][0], json!({"hex": "abababab"}));
    r = s.ok(call(
        "xor_bytes",
        "stdcall",
        "void",
        vec![json!({"type": "bytes_inout", "hex": "00ff10"}), i32v(3), json!({"type": "u8", "value": 0x0f})],
    ));
    assert_eq!(r["out"][0], json!({"hex": "0ff01f"}));

    // A Record round trip.
    let record = |dir: &str| {
        json!({"type": "struct", "dir": dir, "fields": [
            {"name": "id", "type": "u32", "value": 7},
            {"name": "name", "type": "cstr", "value": "bob"},
            {"name": "handle", "type": "handle", "value": -1},
            {"name": "weight", "type": "f64", "value": 1.5},
            {"name": "flags", "type": "u16", "value": 0x12},
            {"name": "data", "type": "bytes", "hex": "010203"},
            {"name": "data_len", "type": "u32", "value": 3},
        ]})
    };
    r = s.ok(call(
        "record_describe",
        "stdcall",
        "i32",
        vec![record("in"), json!({"type": "str_out", "cap": 128}), i32v(128)],
    ));
    assert_eq!(r["out"][0], Value::Null);
    assert_eq!(r["out"][1]["text"], json!("id=7 name=bob handle=-1 weight*4=6 flags=12 sum=6"));
    r = s.ok(call("record_update", "stdcall", "void", vec![record("inout")]));
    let fields = r["out"][0]["fields"].as_array().unwrap();
    let field = |name: &str| fields.iter().find(|f| f["name"] == json!(name)).unwrap().clone();
    assert_eq!(field("id")["value"], json!(8));
    assert_eq!(field("name")["value"], json!("updated"));
    assert_eq!(field("handle")["value"], json!(-2));
    assert_eq!(field("weight")["value"], json!(3.0));
    assert_eq!(field("flags")["value"], json!(0x8012));
    assert_eq!(field("data")["hex"], json!("020304"));

    // Handles: 64 bits on the wire, -1 comes back as -1; one that does not sign-extend
    // is refused, not truncated.
    r = s.ok(call("handle_echo", "stdcall", "handle", vec![json!({"type": "handle", "value": -1})]));
    assert_eq!(r["value"], json!(-1));
    r = s.ok(call(
        "is_current_process",
        "stdcall",
        "bool",
        vec![json!({"type": "handle", "value": u64::MAX})],
    ));
    assert_eq!(r["value"], json!(true));
    r = s.req(call(
        "handle_echo",
        "stdcall",
        "handle",
        vec![json!({"type": "handle", "value": 0x8000_0000u64})],
    ));
    assert_eq!(r["error"]["kind"], json!("narrowing"), "{r}");

    // A pointer the DLL returns can be read.
    r = s.ok(call("handle_echo", "stdcall", "ptr", vec![json!({"type": "handle", "value": add["address"]})]));
    let addr = r["value"].clone();
    assert_eq!(addr, add["address"]);
    r = s.ok(json!({"op": "read", "addr": addr, "len": 4}));
    assert_eq!(r["hex"].as_str().unwrap().len(), 8);
    r = s.req(json!({"op": "read", "addr": 0, "len": 4}));
    assert_eq!(r["error"]["kind"], json!("memory"), "{r}");

    // A fault is an error response; the library goes on.
    r = s.req(json!({"id": "f", "op": "call", "export": "fault_write", "args": [{"type": "null"}]}));
    assert_eq!((r["id"].clone(), r["ok"].clone()), (json!("f"), json!(false)));
    assert_eq!(r["error"]["kind"], json!("fault"));
    assert_eq!(r["error"]["code"], json!(3221225477u64));
    assert!(r["error"]["message"].as_str().unwrap().contains("STATUS_ACCESS_VIOLATION"), "{r}");
    assert!(r["error"]["disassembly"].as_str().unwrap().contains("fault_write"), "{r}");
    assert_eq!(s.ok(call("add_stdcall", "stdcall", "i32", vec![i32v(1), i32v(1)]))["value"], json!(2));
    r = s.req(call("fault_div", "stdcall", "i32", vec![i32v(1), i32v(0)]));
    assert_eq!(r["error"]["code"], json!(0xC000_0094u64), "{r}");

    // A budget.
    r = s.req(json!({"op": "call", "export": "spin", "ret": "void", "budget": 100000}));
    assert_eq!(r["error"]["kind"], json!("budget"), "{r}");
    assert_eq!(s.ok(call("add_stdcall", "stdcall", "i32", vec![i32v(2), i32v(3)]))["value"], json!(5));

    // Malformed input: bad_request, and the server continues.
    for line in ["this is not json", "[1,2,3]", r#"{"op":"dance","id":9}"#, r#"{"op":"call"}"#] {
        let r = s.send_raw(line);
        assert_eq!(r["ok"], json!(false), "{line}");
        assert_eq!(r["error"]["kind"], json!("bad_request"), "{line}");
    }
    assert_eq!(s.send_raw(r#"{"op":"dance","id":9}"#)["id"], json!(9));
    r = s.req(call("add_stdcall", "stdcall", "i32", vec![json!({"type": "i32", "value": 1u64 << 40})]));
    assert_eq!(
        (r["error"]["kind"].clone(), r["error"]["argument"].clone()),
        (json!("bad_argument"), json!(0))
    );
    r = s.req(call("nothing_here", "stdcall", "i32", vec![]));
    assert_eq!(r["error"]["kind"], json!("no_such_export"));
    r = s.req(call("add_cdecl", "stdcall", "i32", vec![i32v(1), i32v(2)]));
    assert_eq!(r["error"]["kind"], json!("stack_mismatch"));
    r = s.req(json!({"op": "call", "export": "enum_values", "args": [{"type": "callback"}]}));
    assert_eq!(r["error"]["kind"], json!("bad_argument"));
    assert_eq!(s.ok(json!({"op": "hello"}))["server"], json!("x86wow"));

    // End of input ends the server.
    drop(s.stdin.take());
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            assert!(st.success(), "{st}");
            break;
        }
        assert!(Instant::now() < deadline, "the server did not exit at end of input");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn have_python() -> bool {
    Command::new("python3").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// Runs tests/serve_client.py against a server listening on `listen`.
fn python_clients(listen: &str) {
    if !have_python() {
        eprintln!("SKIPPED: python3 not found; tests/serve_client.py (concurrent clients) did not run");
        return;
    }
    let s = Server::spawn(&["--listen", listen]);
    let first = s.line();
    let addr =
        first.strip_prefix("listening on ").unwrap_or_else(|| panic!("first line {first:?}")).to_string();
    if let Some(path) = listen.strip_prefix("unix:") {
        assert_eq!(addr, listen);
        assert!(std::path::Path::new(path).exists());
    } else {
        assert!(addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"), "{addr}");
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/serve_client.py");
    let mut client = Command::new("python3")
        .arg(&script)
        .arg(&addr)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let deadline = Instant::now() + Duration::from_secs(300);
    while client.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = client.kill();
            let _ = client.wait();
            panic!("serve_client.py did not finish against {addr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = client.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "serve_client.py against {addr}: {}\n{text}{err}", out.status);
    assert!(text.contains("400 counter values, all distinct"), "{text}");
    drop(s);
}

#[test]
fn serve_concurrent_clients_over_tcp() {
    python_clients("127.0.0.1:0");
}

#[cfg(unix)]
#[test]
fn serve_concurrent_clients_over_a_unix_socket() {
    let path = std::env::temp_dir().join(format!("x86wow-serve-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    python_clients(&format!("unix:{}", path.display()));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn serve_refuses_remote_addresses_and_bad_options() {
    let out = Command::new(BIN).arg("serve").arg(dll()).args(["--listen", "0.0.0.0:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
    let out = Command::new(BIN).args(["serve", "/nonexistent/x.dll"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

fn x86wow_call(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .arg("call")
        .arg(dll())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("x86wow call {args:?} did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn call_prints_the_result_and_out_arguments() {
    let out = x86wow_call(&["add_stdcall", "i32:2", "i32:40"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "42\n");

    let out = x86wow_call(&["greet", "str:x86", "str_out:64", "i32:64"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "11\narg 1: Hello, x86!\n");

    let out = x86wow_call(&["fill_bytes", "bytes_out:4", "i32:4", "i32:255", "--ret", "void"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "void\narg 0: ffffffff\n");

    let out =
        x86wow_call(&["--conv", "cdecl", "--ret", "u64", "mul_u64", "u64:0xffffffff", "u64:4294967297"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "18446744073709551615\n");

    let out = x86wow_call(&["handle_echo", "handle:-1", "--ret", "handle"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "-1\n");

    let out = x86wow_call(&["#50"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "20560\n");
}

#[test]
fn call_failures_exit_1_and_usage_errors_2() {
    let out = x86wow_call(&["fault_write", "null"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("STATUS_ACCESS_VIOLATION") && err.contains("fault_write+"), "{err}");
    assert!(out.stdout.is_empty());

    let out = x86wow_call(&["spin", "--budget", "100000", "--ret", "void"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("budget of 100000"));

    let out = x86wow_call(&["no_such_function"]);
    assert_eq!(out.status.code(), Some(1));

    for bad in
        [&["add_stdcall", "2"][..], &["add_stdcall", "i32:x"], &["add_stdcall", "--conv", "pascal"], &[]]
    {
        let out = x86wow_call(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
