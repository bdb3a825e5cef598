//! The `serve_request` harness: JSON requests of the `x86wow serve` protocol, built
//! from the protocol's own vocabulary so that most inputs reach the argument decoding
//! and the call, run against testdata/win32/interop.dll.

use arbitrary::{Arbitrary, Unstructured};
use serde_json::{Map, Number, Value as J};

use crate::library::Library;
use crate::serve::protocol::handle_line;
use x86wow_wow64::Process;

const DLL: &[u8] = include_bytes!("../../../testdata/win32/interop.dll");

/// Strings the protocol gives meaning to: keys, ops, conventions, types, directions,
/// export names.
const WORDS: &[&str] = &[
    "id",
    "op",
    "hello",
    "exports",
    "call",
    "read",
    "read_str",
    "export",
    "conv",
    "ret",
    "args",
    "budget",
    "addr",
    "len",
    "type",
    "value",
    "cap",
    "hex",
    "dir",
    "fields",
    "name",
    "in",
    "out",
    "inout",
    "stdcall",
    "cdecl",
    "fastcall",
    "thiscall",
    "void",
    "bool",
    "u8",
    "u16",
    "u32",
    "u64",
    "i8",
    "i16",
    "i32",
    "i64",
    "f32",
    "f64",
    "ptr",
    "handle",
    "null",
    "str",
    "str_out",
    "str_inout",
    "wstr",
    "wstr_out",
    "wstr_inout",
    "bytes_in",
    "bytes_out",
    "bytes_inout",
    "struct",
    "cstr",
    "bytes",
    "add_stdcall",
    "add_fastcall",
    "counter_add",
    "greet",
    "wgreet",
    "record_update",
    "record_describe",
    "handle_echo",
    "fault_write",
    "spin",
    "mix",
    "#50",
    "-1",
    "0x7fffffff",
    "0xffffffffffffffff",
    "nan",
    "inf",
    "0102ff",
];

/// A JSON value drawn mostly from [`WORDS`].
#[derive(Debug, Clone, Arbitrary)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Word(u8),
    Text(String),
    Array(Vec<Json>),
    Object(Vec<(u8, Json)>),
}

impl Json {
    fn to_json(&self, depth: u32) -> J {
        if depth > 8 {
            return J::Null;
        }
        match self {
            Json::Null => J::Null,
            Json::Bool(b) => J::Bool(*b),
            Json::Int(v) => J::from(*v),
            Json::UInt(v) => J::from(*v),
            Json::Float(f) => Number::from_f64(*f).map_or(J::Null, J::Number),
            Json::Word(w) => J::String(WORDS[*w as usize % WORDS.len()].into()),
            Json::Text(t) => J::String(t.clone()),
            Json::Array(a) => J::Array(a.iter().take(32).map(|v| v.to_json(depth + 1)).collect()),
            Json::Object(o) => {
                let mut m = Map::new();
                for (k, v) in o.iter().take(32) {
                    m.insert(WORDS[*k as usize % WORDS.len()].into(), v.to_json(depth + 1));
                }
                J::Object(m)
            }
        }
    }
}

/// The input of [`serve_request`]: requests, or raw lines.
#[derive(Debug, Clone, Arbitrary)]
pub enum Line {
    Request(Json),
    Raw(String),
}

/// Runs up to 8 request lines through the protocol against one library. Invariants:
/// no panic; every response is one line of JSON, an object with a boolean `ok`, and
/// echoes the request's `id`; afterwards the library still answers a call.
pub fn serve_request(data: &[u8]) {
    let Ok(lines) = Vec::<Line>::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let root = super::scratch_dir("serve_request");
    {
        let mut lib = Library::load_image(Process::builder().root(&root), "interop.dll", DLL)
            .expect("interop.dll loads");
        for line in lines.iter().take(8) {
            let (text, sent) = match line {
                Line::Request(j) => {
                    let v = j.to_json(0);
                    (v.to_string(), Some(v))
                }
                Line::Raw(s) => (s.clone(), None),
            };
            let reply = handle_line(&mut lib, &text, Some(200_000));
            assert!(!reply.contains('\n'), "a response is one line: {reply}");
            let r: J = serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: {reply}"));
            assert!(r.get("ok").is_some_and(J::is_boolean), "{reply}");
            if let Some(J::Object(req)) = &sent {
                assert_eq!(r.get("id"), req.get("id"), "the id is echoed: {text} -> {reply}");
            }
        }
        let again = handle_line(
            &mut lib,
            r#"{"op":"call","export":"add_stdcall","args":[{"type":"i32","value":2},{"type":"i32","value":40}]}"#,
            None,
        );
        assert!(again.contains("\"value\":42"), "{again}");
    }
    let _ = std::fs::remove_dir_all(&root);
}
