//! The JSON Lines engine protocol (`docs/oracle.md`): requests and answers, and a
//! server that exposes any [`Backend`] over it.

use std::io::{self, BufRead, Write};

use serde_json::{json, Value};
use x86wow_cpu::state::{MachineState, MemRegion};

use super::backend::Backend;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u64 = 1;

/// Reads one region object (`{"addr", "size"?, "prot"?, "hex"?}`) of the state format.
pub fn region_from_json(v: &Value) -> Result<MemRegion, String> {
    let doc = json!({"regs": {}, "memory": [v]});
    let st = MachineState::from_json(&doc).map_err(|e| e.to_string().replace("memory[0]", "region"))?;
    Ok(st.memory.into_iter().next().expect("one region"))
}

/// The region as the state format writes it.
pub fn region_to_json(r: &MemRegion) -> Value {
    let st = MachineState { memory: vec![r.clone()], ..MachineState::default() };
    st.to_json(None)["memory"][0].clone()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Answers one request.
fn answer(backend: &mut dyn Backend, req: &Value) -> Result<Value, String> {
    let op = req.get("op").and_then(Value::as_str).ok_or("missing `op`")?;
    let e = |e: super::BackendError| e.to_string();
    match op {
        "hello" => Ok(json!({
            "ok": true,
            "protocol": PROTOCOL_VERSION,
            "engine": backend.name(),
            "undefined_flags": backend.undefined_flags_model(),
        })),
        "load" => {
            let st = MachineState::from_json(req.get("state").ok_or("missing `state`")?)
                .map_err(|e| e.to_string())?;
            backend.load(&st).map_err(e)?;
            Ok(json!({"ok": true}))
        }
        "map" => {
            let r = region_from_json(req.get("region").ok_or("missing `region`")?)?;
            backend.map(&r).map_err(e)?;
            Ok(json!({"ok": true}))
        }
        "read" => {
            let num = |k: &str| {
                req.get(k)
                    .and_then(Value::as_u64)
                    .filter(|&v| v <= u32::MAX as u64)
                    .ok_or(format!("missing `{k}`"))
            };
            let bytes = backend.read(num("addr")? as u32, num("len")?.min(1 << 24) as u32).map_err(e)?;
            Ok(json!({"ok": true, "hex": hex(&bytes)}))
        }
        "step" => {
            let count = req.get("count").and_then(Value::as_u64).unwrap_or(1);
            let exit = backend.run(count).map_err(e)?;
            let mut out = json!({"ok": true, "exit": exit.to_json()});
            if req.get("state").and_then(Value::as_bool) == Some(true) {
                out["state"] = backend.state().map_err(e)?.to_json(None);
            }
            Ok(out)
        }
        "get" => Ok(json!({"ok": true, "state": backend.state().map_err(e)?.to_json(None)})),
        "quit" => Ok(json!({"ok": true})),
        other => Err(format!("unknown op {other:?}")),
    }
}

/// Serves the protocol on `input`/`output` until `quit` or the end of the input.
///
/// ```
/// use x86wow::oracle::{serve, Interpreter};
///
/// let requests = concat!(
///     r#"{"op": "load", "state": {"regs": {"eip": 4096}, "memory": [{"addr": 4096, "prot": "rx", "hex": "40f4"}]}}"#, "\n",
///     r#"{"op": "step", "count": 10}"#, "\n",
/// );
/// let mut out = Vec::new();
/// serve(&mut Interpreter::fast(), requests.as_bytes(), &mut out).unwrap();
/// let lines: Vec<&str> = std::str::from_utf8(&out).unwrap().lines().collect();
/// assert_eq!(lines[1], r#"{"exit":{"insns":1,"reason":"hlt"},"ok":true}"#);
/// ```
pub fn serve(backend: &mut dyn Backend, input: impl BufRead, mut output: impl Write) -> io::Result<()> {
    for line in input.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let (reply, quit) = match serde_json::from_str::<Value>(&line) {
            Ok(req) => {
                let quit = req.get("op").and_then(Value::as_str) == Some("quit");
                (answer(backend, &req).unwrap_or_else(|e| json!({"ok": false, "error": e})), quit)
            }
            Err(e) => (json!({"ok": false, "error": format!("invalid JSON: {e}")}), false),
        };
        writeln!(output, "{reply}")?;
        output.flush()?;
        if quit {
            break;
        }
    }
    Ok(())
}
