//! The JSON Lines protocol of `x86wow serve` (docs/serve.md): requests parsed into
//! [`Request`]s, executed against a [`Library`], and results, out-arguments and
//! [`CallError`]s turned back into JSON.
//!
//! Parsing never panics on client input: every problem becomes an error response
//! (`bad_request` for the shape of a request, `bad_argument` for one argument).
//! 64-bit values are exact in both directions: JSON integers are read as `u64`/`i64`
//! (or from decimal/`0x` strings) and written as integers, handles as signed 64-bit.

use serde_json::{json, Map, Value as J};

use crate::library::{
    Arg, CallError, Conv, Dir, Export, ExportTarget, Field, FieldType, Layout, Library, Struct, Type, Value,
};

/// Largest buffer, string capacity or read a request may ask for (16 MiB).
pub const MAX_BUFFER: usize = 16 << 20;
/// Largest total of the buffers of one call (64 MiB).
pub const MAX_CALL_DATA: usize = 64 << 20;
/// Most arguments of one call.
pub const MAX_ARGS: usize = 256;

/// One request: its `id` (echoed verbatim) and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: Option<J>,
    pub op: Op,
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Hello,
    Exports,
    Call(CallSpec),
    Read { addr: u32, len: usize },
    ReadStr { addr: u32 },
}

/// A call: the export, its convention, the result type, the arguments and an optional
/// instruction budget (overriding the server's).
#[derive(Debug, Clone, PartialEq)]
pub struct CallSpec {
    pub export: Export,
    pub conv: Conv,
    pub ret: Type,
    pub args: Vec<Arg>,
    pub budget: Option<u64>,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The request itself is malformed (not JSON, no op, an unknown op, a missing field).
    BadRequest(String),
    /// The library reported an error (or an argument could not be built).
    Call(CallError),
}

impl From<CallError> for Failure {
    fn from(e: CallError) -> Failure {
        Failure::Call(e)
    }
}

fn bad(why: impl Into<String>) -> Failure {
    Failure::BadRequest(why.into())
}

fn bad_arg(index: usize, why: impl Into<String>) -> CallError {
    CallError::BadArgument { index: Some(index), why: why.into() }
}

/// Parses one request line. On failure, the request's id (when there was one to find)
/// comes with the error so the response can echo it.
pub fn parse_request(line: &str) -> Result<Request, (Option<J>, Failure)> {
    let v: J = serde_json::from_str(line).map_err(|e| (None, bad(format!("malformed JSON: {e}"))))?;
    let J::Object(o) = v else {
        return Err((None, bad("a request is a JSON object")));
    };
    let id = o.get("id").cloned();
    parse_op(&o).map(|op| Request { id: id.clone(), op }).map_err(|e| (id, e))
}

fn parse_op(o: &Map<String, J>) -> Result<Op, Failure> {
    let op = match o.get("op") {
        Some(J::String(s)) => s.as_str(),
        Some(_) => return Err(bad("\"op\" must be a string")),
        None => return Err(bad("the request has no \"op\"")),
    };
    Ok(match op {
        "hello" => Op::Hello,
        "exports" => Op::Exports,
        "call" => Op::Call(parse_call(o)?),
        "read" => {
            let addr = addr_field(o, "addr")?;
            let len = size_field(o, "len")?.ok_or_else(|| bad("read needs \"len\""))?;
            Op::Read { addr, len }
        }
        "read_str" => Op::ReadStr { addr: addr_field(o, "addr")? },
        other => return Err(bad(format!("unknown op {other:?} (hello, exports, call, read, read_str)"))),
    })
}

fn parse_call(o: &Map<String, J>) -> Result<CallSpec, Failure> {
    let export = match o.get("export") {
        Some(J::String(s)) if !s.is_empty() => Export::from(s.as_str()),
        Some(J::Number(n)) => Export::Ordinal(
            n.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad(format!("ordinal {n} is not a 32-bit unsigned integer")))?,
        ),
        Some(_) => return Err(bad("\"export\" is a name, \"#N\" or an ordinal number")),
        None => return Err(bad("call needs \"export\"")),
    };
    let conv = match o.get("conv") {
        None | Some(J::Null) => Conv::Stdcall,
        Some(J::String(s)) => s.parse::<Conv>()?,
        Some(_) => return Err(bad("\"conv\" must be a string")),
    };
    let ret = match o.get("ret") {
        None | Some(J::Null) => Type::I32,
        Some(J::String(s)) => s.parse::<Type>()?,
        Some(_) => return Err(bad("\"ret\" must be a string")),
    };
    let args = match o.get("args") {
        None | Some(J::Null) => Vec::new(),
        Some(J::Array(a)) => parse_args(a)?,
        Some(_) => return Err(bad("\"args\" must be an array")),
    };
    let budget = match o.get("budget") {
        None | Some(J::Null) => None,
        Some(v) => Some(json_u64(v).ok_or_else(|| bad("\"budget\" must be a non-negative integer"))?),
    };
    Ok(CallSpec { export, conv, ret, args, budget })
}

/// Parses a call's argument list, bounding its count and the data it carries.
pub fn parse_args(a: &[J]) -> Result<Vec<Arg>, CallError> {
    if a.len() > MAX_ARGS {
        return Err(CallError::BadArgument {
            index: None,
            why: format!("{} arguments (at most {MAX_ARGS})", a.len()),
        });
    }
    let mut total = 0usize;
    let mut out = Vec::with_capacity(a.len());
    for (i, v) in a.iter().enumerate() {
        let arg = parse_arg(i, v)?;
        total = total.saturating_add(arg_data(&arg));
        if total > MAX_CALL_DATA {
            return Err(bad_arg(i, format!("the arguments carry more than {MAX_CALL_DATA} bytes")));
        }
        out.push(arg);
    }
    Ok(out)
}

/// Bytes of guest memory an argument takes (about).
fn arg_data(a: &Arg) -> usize {
    match a {
        Arg::Bytes { data, .. } => data.len(),
        Arg::Str { text, cap, .. } => text.len().max(*cap),
        Arg::WStr { text, cap, .. } => 2 * text.len().max(*cap),
        Arg::Struct { value, .. } => {
            value.layout.size32() as usize
                + value
                    .fields
                    .iter()
                    .map(|f| match f {
                        Field::Str(Some(s)) => 2 * s.len() + 2,
                        Field::Bytes(Some(b)) => b.len(),
                        _ => 0,
                    })
                    .sum::<usize>()
        }
        _ => 0,
    }
}

/// One argument object (`{"type":"i32","value":2}`, `{"type":"str_out","cap":32}`...);
/// `index` names it in errors.
pub fn parse_arg(index: usize, v: &J) -> Result<Arg, CallError> {
    let J::Object(o) = v else {
        return Err(bad_arg(index, "an argument is an object such as {\"type\":\"i32\",\"value\":2}"));
    };
    let ty = match o.get("type") {
        Some(J::String(s)) => s.as_str(),
        _ => return Err(bad_arg(index, "the argument has no \"type\"")),
    };
    let text = |key: &str| -> Result<String, CallError> {
        match o.get(key) {
            Some(J::String(s)) => Ok(s.clone()),
            _ => Err(bad_arg(index, format!("a {ty} argument needs a string \"{key}\""))),
        }
    };
    let size = |key: &str| -> Result<Option<usize>, CallError> {
        size_field(o, key).map_err(|e| match e {
            Failure::BadRequest(why) => bad_arg(index, why),
            Failure::Call(e) => e.at(index),
        })
    };
    let need = |key: &str| -> Result<usize, CallError> {
        size(key)?.ok_or_else(|| bad_arg(index, format!("a {ty} argument needs \"{key}\"")))
    };
    let hex = || -> Result<Vec<u8>, CallError> {
        let h = text("hex")?;
        let b = from_hex(&h).map_err(|why| bad_arg(index, why))?;
        if b.len() > MAX_BUFFER {
            return Err(bad_arg(index, format!("{} bytes (at most {MAX_BUFFER})", b.len())));
        }
        Ok(b)
    };
    let text_len = |t: &str| -> Result<(), CallError> {
        if t.len() > MAX_BUFFER {
            return Err(bad_arg(index, format!("a string of {} bytes (at most {MAX_BUFFER})", t.len())));
        }
        Ok(())
    };
    Ok(match ty {
        "null" => Arg::Null,
        "str" | "wstr" | "str_inout" | "wstr_inout" => {
            let t = text("value")?;
            text_len(&t)?;
            let wide = ty.starts_with('w');
            let units = if wide { t.encode_utf16().count() } else { t.len() };
            let cap = size("cap")?.unwrap_or(0).max(units + 1);
            let dir = if ty.ends_with("_inout") { Dir::InOut } else { Dir::In };
            if wide {
                Arg::WStr { dir, text: t, cap }
            } else {
                Arg::Str { dir, text: t, cap }
            }
        }
        "str_out" => Arg::str_out(need("cap")?),
        "wstr_out" => Arg::wstr_out(need("cap")?),
        "bytes_in" => Arg::bytes_in(hex()?),
        "bytes_inout" => Arg::bytes_inout(hex()?),
        "bytes_out" => Arg::bytes_out(need("len")?),
        "struct" => parse_struct(index, o)?,
        "callback" => {
            return Err(bad_arg(
                index,
                "callbacks are not available over the protocol (a closure cannot cross a pipe)",
            ))
        }
        scalar => {
            let t: Type =
                scalar.parse().map_err(|_| bad_arg(index, format!("unknown argument type {scalar:?}")))?;
            if t == Type::Void {
                return Err(bad_arg(index, "void is not a value to pass"));
            }
            let v =
                o.get("value").ok_or_else(|| bad_arg(index, format!("a {t} argument needs \"value\"")))?;
            Arg::Val(scalar_from_json(t, v).map_err(|e| e.at(index))?)
        }
    })
}

fn parse_struct(index: usize, o: &Map<String, J>) -> Result<Arg, CallError> {
    let dir = match o.get("dir") {
        None | Some(J::Null) => Dir::In,
        Some(J::String(s)) if s == "in" => Dir::In,
        Some(J::String(s)) if s == "out" => Dir::Out,
        Some(J::String(s)) if s == "inout" => Dir::InOut,
        Some(_) => return Err(bad_arg(index, "a struct's \"dir\" is \"in\", \"out\" or \"inout\"")),
    };
    let Some(J::Array(fields)) = o.get("fields") else {
        return Err(bad_arg(index, "a struct argument needs a \"fields\" array"));
    };
    let mut names: Vec<(String, FieldType)> = Vec::with_capacity(fields.len());
    let mut values = Vec::with_capacity(fields.len());
    for f in fields {
        let J::Object(f) = f else {
            return Err(bad_arg(index, "a struct field is an object with \"name\" and \"type\""));
        };
        let Some(J::String(name)) = f.get("name") else {
            return Err(bad_arg(index, "a struct field needs a string \"name\""));
        };
        if names.iter().any(|(n, _)| n == name) {
            return Err(bad_arg(index, format!("two fields named {name:?}")));
        }
        let Some(J::String(ty)) = f.get("type") else {
            return Err(bad_arg(index, format!("field {name} needs a string \"type\"")));
        };
        let in_field = |why: String| bad_arg(index, format!("field {name}: {why}"));
        let value = f.get("value").filter(|v| !v.is_null());
        let (ft, field) = match ty.as_str() {
            "cstr" | "wstr" => {
                let ft = if ty == "cstr" { FieldType::CStr } else { FieldType::WStr };
                match value {
                    None => (ft, Field::Str(None)),
                    Some(J::String(s)) if s.len() <= MAX_BUFFER => (ft, Field::Str(Some(s.clone()))),
                    Some(J::String(_)) => return Err(in_field(format!("longer than {MAX_BUFFER} bytes"))),
                    Some(_) => return Err(in_field("a string field's value is a string or null".into())),
                }
            }
            "bytes" => match (f.get("hex"), value) {
                (Some(J::String(h)), _) => {
                    let b = from_hex(h).map_err(in_field)?;
                    if b.len() > MAX_BUFFER {
                        return Err(in_field(format!("more than {MAX_BUFFER} bytes")));
                    }
                    (FieldType::Bytes, Field::Bytes(Some(b)))
                }
                (None | Some(J::Null), None) => (FieldType::Bytes, Field::Bytes(None)),
                _ => return Err(in_field("a bytes field has \"hex\", or a null value".into())),
            },
            scalar => {
                let t: Type =
                    scalar.parse().map_err(|_| in_field(format!("unknown field type {scalar:?}")))?;
                if t == Type::Void {
                    return Err(in_field("a field cannot be void".into()));
                }
                let v = match value {
                    None => Value::from_bits(t, 0),
                    Some(v) => scalar_from_json(t, v).map_err(|e| in_field(e.to_string()))?,
                };
                (FieldType::Scalar(t), Field::Val(v))
            }
        };
        names.push((name.clone(), ft));
        values.push(field);
    }
    let refs: Vec<(&str, FieldType)> = names.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let layout = Layout::new(&refs).map_err(|e| e.at(index))?;
    Ok(Arg::Struct { dir, value: Struct { layout, fields: values } })
}

/// A scalar of type `t` from JSON: an integer (exact, 64 bits included), a string
/// (decimal, `0x` hex, `nan`/`inf` for floats), a number for floats, `true`/`false`
/// for bool.
pub fn scalar_from_json(t: Type, v: &J) -> Result<Value, CallError> {
    let not = |what: &str| CallError::BadArgument { index: None, why: format!("{what} is not a {t}") };
    match v {
        J::String(s) => Value::parse_as(t, s),
        J::Bool(b) if t == Type::Bool => Ok(Value::Bool(*b)),
        J::Number(n) => {
            if let Some(u) = n.as_u64() {
                match t {
                    Type::F32 => Ok(Value::F32(u as f32)),
                    Type::F64 => Ok(Value::F64(u as f64)),
                    _ => Value::parse_as(t, &u.to_string()),
                }
            } else if let Some(i) = n.as_i64() {
                match t {
                    Type::F32 => Ok(Value::F32(i as f32)),
                    Type::F64 => Ok(Value::F64(i as f64)),
                    _ => Value::parse_as(t, &i.to_string()),
                }
            } else {
                let f = n.as_f64().ok_or_else(|| not(&n.to_string()))?;
                match t {
                    Type::F32 => Ok(Value::F32(f as f32)),
                    Type::F64 => Ok(Value::F64(f)),
                    // An integral float (1e3) is exact below 2^53; anything else would
                    // silently lose bits.
                    _ if f.fract() == 0.0 && f.abs() < (1u64 << 53) as f64 => {
                        Value::parse_as(t, &(f as i64).to_string())
                    }
                    _ => Err(not(&n.to_string())),
                }
            }
        }
        other => Err(not(&other.to_string())),
    }
}

/// A scalar as JSON: integers exact (handles as signed 64-bit), floats as numbers or
/// the strings `"nan"`, `"inf"`, `"-inf"`, void as null.
pub fn value_json(v: &Value) -> J {
    fn float(f: f64) -> J {
        if f.is_nan() {
            J::from("nan")
        } else if f.is_infinite() {
            J::from(if f > 0.0 { "inf" } else { "-inf" })
        } else {
            J::from(f)
        }
    }
    match *v {
        Value::Void => J::Null,
        Value::Bool(b) => J::from(b),
        Value::U8(x) => J::from(x),
        Value::U16(x) => J::from(x),
        Value::U32(x) => J::from(x),
        Value::U64(x) => J::from(x),
        Value::I8(x) => J::from(x),
        Value::I16(x) => J::from(x),
        Value::I32(x) => J::from(x),
        Value::I64(x) => J::from(x),
        Value::Ptr(p) => J::from(p),
        Value::Handle(h) => J::from(h as i64),
        // The shortest decimal that reads back as the same f32 (0.1, not
        // 0.10000000149011612).
        Value::F32(x) => float(format!("{x:?}").parse::<f64>().unwrap_or(x as f64)),
        Value::F64(x) => float(x),
    }
}

/// What an argument holds after the call: `{"text":..}` for string buffers the callee
/// may change, `{"hex":..}` for byte buffers, `{"fields":[..]}` for structures, null
/// for everything passed in only.
pub fn out_json(a: &Arg) -> J {
    match a {
        Arg::Str { dir, text, .. } | Arg::WStr { dir, text, .. } if dir.copies_out() => {
            json!({ "text": text })
        }
        Arg::Bytes { dir, data } if dir.copies_out() => json!({ "hex": to_hex(data) }),
        Arg::Struct { dir, value } if dir.copies_out() => json!({ "fields": struct_fields_json(value) }),
        _ => J::Null,
    }
}

fn struct_fields_json(s: &Struct) -> Vec<J> {
    s.layout
        .fields()
        .zip(&s.fields)
        .map(|((name, t), f)| {
            let ty = match t {
                FieldType::Scalar(t) => t.to_string(),
                FieldType::CStr => "cstr".into(),
                FieldType::WStr => "wstr".into(),
                FieldType::Bytes => "bytes".into(),
            };
            match f {
                Field::Val(v) => json!({ "name": name, "type": ty, "value": value_json(v) }),
                Field::Str(s) => json!({ "name": name, "type": ty, "value": s }),
                Field::Bytes(Some(b)) => json!({ "name": name, "type": ty, "hex": to_hex(b) }),
                Field::Bytes(None) => json!({ "name": name, "type": ty, "value": null }),
            }
        })
        .collect()
}

/// The machine-readable kind of an error.
pub fn error_kind(e: &CallError) -> &'static str {
    match e {
        CallError::Load { .. } => "load",
        CallError::NoSuchExport { .. } => "no_such_export",
        CallError::BadArgument { .. } => "bad_argument",
        CallError::Narrowing { .. } => "narrowing",
        CallError::Fault { .. } => "fault",
        CallError::Budget { .. } => "budget",
        CallError::StackMismatch { .. } => "stack_mismatch",
        CallError::Callback { .. } => "callback",
        CallError::Exited { .. } => "exited",
        CallError::Memory { .. } => "memory",
        CallError::Guest(_) => "guest",
    }
}

/// The `"error"` object of a failed request.
pub fn error_json(f: &Failure) -> J {
    let e = match f {
        Failure::BadRequest(why) => return json!({ "kind": "bad_request", "message": why }),
        Failure::Call(e) => e,
    };
    let mut o = Map::new();
    o.insert("kind".into(), J::from(error_kind(e)));
    o.insert("message".into(), J::from(e.to_string()));
    match e {
        CallError::Fault { code, address, params, disassembly } => {
            o.insert("code".into(), J::from(*code));
            o.insert("address".into(), J::from(*address));
            o.insert("params".into(), J::from(params.clone()));
            o.insert("disassembly".into(), J::from(disassembly.clone()));
        }
        CallError::BadArgument { index: Some(i), .. } => {
            o.insert("argument".into(), J::from(*i));
        }
        CallError::Narrowing { what, value, field } => {
            o.insert("what".into(), J::from(*what));
            let v = if *what == "handle" { J::from(*value as i64) } else { J::from(*value) };
            o.insert("value".into(), v);
            if let Some(f) = field {
                o.insert("field".into(), J::from(f.clone()));
            }
        }
        CallError::Budget { insns } => {
            o.insert("budget".into(), J::from(*insns));
        }
        CallError::StackMismatch { expected, popped, .. } => {
            o.insert("expected".into(), J::from(*expected));
            o.insert("popped".into(), J::from(*popped));
        }
        CallError::Exited { status } => {
            o.insert("status".into(), J::from(*status));
        }
        CallError::Memory { addr, len } => {
            o.insert("address".into(), J::from(*addr));
            o.insert("len".into(), J::from(*len));
        }
        _ => {}
    }
    J::Object(o)
}

/// The response line (without its newline) for a result: `"ok"`, the body or
/// `"error"`, and `"id"` when the request had one.
pub fn response(id: Option<&J>, result: Result<Map<String, J>, Failure>) -> String {
    let mut o = Map::new();
    if let Some(id) = id {
        o.insert("id".into(), id.clone());
    }
    match result {
        Ok(body) => {
            o.insert("ok".into(), J::from(true));
            o.extend(body);
        }
        Err(f) => {
            o.insert("ok".into(), J::from(false));
            o.insert("error".into(), error_json(&f));
        }
    }
    J::Object(o).to_string()
}

/// Runs a request against the library. `budget` is the server's default instruction
/// budget per call.
pub fn execute(lib: &mut Library, op: Op, budget: Option<u64>) -> Result<Map<String, J>, Failure> {
    let mut o = Map::new();
    match op {
        Op::Hello => {
            let name = lib.path().file_name().map(|n| n.to_string_lossy().into_owned());
            o.insert("server".into(), J::from("x86wow"));
            o.insert("version".into(), J::from(env!("CARGO_PKG_VERSION")));
            o.insert("library".into(), J::from(name));
        }
        Op::Exports => {
            let list: Vec<J> = lib
                .exports()
                .into_iter()
                .map(|e| match e.target {
                    ExportTarget::Address(a) => json!({ "ordinal": e.ordinal, "name": e.name, "address": a }),
                    ExportTarget::Forward(f) => json!({ "ordinal": e.ordinal, "name": e.name, "forward": f }),
                })
                .collect();
            o.insert("exports".into(), J::from(list));
        }
        Op::Call(mut c) => {
            lib.set_budget(c.budget.or(budget));
            let v = lib.call(c.export, c.conv, &mut c.args, c.ret)?;
            o.insert("type".into(), J::from(c.ret.to_string()));
            o.insert("value".into(), value_json(&v));
            o.insert("out".into(), J::from(c.args.iter().map(out_json).collect::<Vec<_>>()));
        }
        Op::Read { addr, len } => {
            o.insert("hex".into(), J::from(to_hex(&lib.read(addr, len)?)));
        }
        Op::ReadStr { addr } => {
            o.insert("text".into(), J::from(lib.read_str(addr)?));
        }
    }
    Ok(o)
}

/// Parses and runs one request line, giving the response line.
pub fn handle_line(lib: &mut Library, line: &str, budget: Option<u64>) -> String {
    match parse_request(line) {
        Ok(r) => response(r.id.as_ref(), execute(lib, r.op, budget)),
        Err((id, f)) => response(id.as_ref(), Err(f)),
    }
}

/// A non-negative integer from a JSON integer or a decimal/`0x` string.
pub fn json_u64(v: &J) -> Option<u64> {
    match v {
        J::Number(n) => n.as_u64(),
        J::String(s) => match Value::parse_as(Type::U64, s) {
            Ok(Value::U64(u)) => Some(u),
            _ => None,
        },
        _ => None,
    }
}

fn addr_field(o: &Map<String, J>, key: &str) -> Result<u32, Failure> {
    let v = o.get(key).ok_or_else(|| bad(format!("the request needs \"{key}\"")))?;
    json_u64(v)
        .and_then(|a| u32::try_from(a).ok())
        .ok_or_else(|| bad(format!("\"{key}\" must be a 32-bit guest address")))
}

/// A size (buffer length, capacity) bounded by [`MAX_BUFFER`]; None when absent.
fn size_field(o: &Map<String, J>, key: &str) -> Result<Option<usize>, Failure> {
    match o.get(key) {
        None | Some(J::Null) => Ok(None),
        Some(v) => match json_u64(v) {
            Some(n) if n <= MAX_BUFFER as u64 => Ok(Some(n as usize)),
            Some(n) => Err(bad(format!("\"{key}\" is {n}, more than {MAX_BUFFER}"))),
            None => Err(bad(format!("\"{key}\" must be a non-negative integer"))),
        },
    }
}

/// Lower-case hex.
pub fn to_hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 * b.len());
    for &x in b {
        s.push(DIGITS[(x >> 4) as usize] as char);
        s.push(DIGITS[(x & 15) as usize] as char);
    }
    s
}

/// Bytes from hex (either case, an even number of digits).
pub fn from_hex(s: &str) -> Result<Vec<u8>, String> {
    let s = s.as_bytes();
    if s.len() & 1 == 1 {
        return Err("hex needs an even number of digits".into());
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.chunks_exact(2)
        .map(|p| match (digit(p[0]), digit(p[1])) {
            (Some(h), Some(l)) => Ok(h << 4 | l),
            _ => Err(format!("{:?} is not hex", String::from_utf8_lossy(p))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(v: J) -> Result<Arg, CallError> {
        parse_arg(3, &v)
    }

    fn call(line: &str) -> CallSpec {
        match parse_request(line).unwrap().op {
            Op::Call(c) => c,
            op => panic!("not a call: {op:?}"),
        }
    }

    fn bad_request(line: &str) -> String {
        match parse_request(line) {
            Err((_, Failure::BadRequest(why))) => why,
            other => panic!("{line}: expected bad_request, got {other:?}"),
        }
    }

    #[test]
    fn every_scalar_type_parses() {
        let cases = [
            ("bool", json!(true), Value::Bool(true)),
            ("bool", json!(0), Value::Bool(false)),
            ("u8", json!(255), Value::U8(255)),
            ("i8", json!(-128), Value::I8(-128)),
            ("u16", json!("0xffff"), Value::U16(0xFFFF)),
            ("i16", json!(-2), Value::I16(-2)),
            ("u32", json!(4_294_967_295u64), Value::U32(u32::MAX)),
            ("i32", json!(2), Value::I32(2)),
            ("i32", json!(1e3), Value::I32(1000)),
            ("u64", json!(u64::MAX), Value::U64(u64::MAX)),
            ("u64", json!("0xffffffffffffffff"), Value::U64(u64::MAX)),
            ("i64", json!(i64::MIN), Value::I64(i64::MIN)),
            ("i64", json!("-9223372036854775808"), Value::I64(i64::MIN)),
            ("f32", json!(0.5), Value::F32(0.5)),
            ("f64", json!(2.5), Value::F64(2.5)),
            ("f64", json!(3), Value::F64(3.0)),
            ("f64", json!("-inf"), Value::F64(f64::NEG_INFINITY)),
            ("ptr", json!(0x1000), Value::Ptr(0x1000)),
            ("handle", json!(-1), Value::Handle(u64::MAX)),
            ("handle", json!(u64::MAX), Value::Handle(u64::MAX)),
        ];
        for (t, v, want) in cases {
            let got = arg(json!({ "type": t, "value": v.clone() })).unwrap();
            assert_eq!(got, Arg::Val(want), "{t} {v}");
        }
        match arg(json!({"type": "f64", "value": "nan"})).unwrap() {
            Arg::Val(Value::F64(f)) => assert!(f.is_nan()),
            a => panic!("{a:?}"),
        }
    }

    #[test]
    fn scalars_out_of_range_or_inexact_are_bad_arguments() {
        for (t, v) in [
            ("u8", json!(256)),
            ("i8", json!(-129)),
            ("u32", json!(-1)),
            ("i64", json!(u64::MAX)),
            ("i32", json!(1.5)),
            ("u64", json!(1e300)),
            ("i32", json!("x")),
            ("i32", json!(true)),
            ("i32", json!(null)),
            ("bool", json!("maybe")),
            ("void", json!(0)),
            ("nonsense", json!(0)),
        ] {
            match arg(json!({ "type": t, "value": v.clone() })) {
                Err(CallError::BadArgument { index: Some(3), .. }) => {}
                other => panic!("{t} {v}: {other:?}"),
            }
        }
        assert!(arg(json!({"type": "i32"})).is_err(), "no value");
        assert!(arg(json!("i32")).is_err(), "not an object");
        assert!(arg(json!({"value": 1})).is_err(), "no type");
    }

    #[test]
    fn buffers_and_strings_parse() {
        assert_eq!(arg(json!({"type": "null"})).unwrap(), Arg::Null);
        assert_eq!(arg(json!({"type": "str", "value": "x"})).unwrap(), Arg::str("x"));
        assert_eq!(arg(json!({"type": "str_out", "cap": 32})).unwrap(), Arg::str_out(32));
        assert_eq!(arg(json!({"type": "str_out", "cap": "0x20"})).unwrap(), Arg::str_out(32));
        assert_eq!(
            arg(json!({"type": "str_inout", "value": "abc", "cap": 16})).unwrap(),
            Arg::str_inout("abc", 16)
        );
        assert_eq!(
            arg(json!({"type": "str_inout", "value": "abcdef", "cap": 2})).unwrap(),
            Arg::str_inout("abcdef", 7),
            "the capacity grows to hold the text"
        );
        assert_eq!(arg(json!({"type": "wstr", "value": "é€"})).unwrap(), Arg::wstr("é€"));
        assert_eq!(arg(json!({"type": "wstr_out", "cap": 8})).unwrap(), Arg::wstr_out(8));
        assert_eq!(
            arg(json!({"type": "wstr_inout", "value": "ab", "cap": 8})).unwrap(),
            Arg::WStr { dir: Dir::InOut, text: "ab".into(), cap: 8 }
        );
        assert_eq!(arg(json!({"type": "bytes_in", "hex": "0102fF"})).unwrap(), Arg::bytes_in([1, 2, 255]));
        assert_eq!(arg(json!({"type": "bytes_inout", "hex": ""})).unwrap(), Arg::bytes_inout([]));
        assert_eq!(arg(json!({"type": "bytes_out", "len": 4})).unwrap(), Arg::bytes_out(4));
        for bad in [
            json!({"type": "str"}),
            json!({"type": "str", "value": 5}),
            json!({"type": "str_out"}),
            json!({"type": "str_out", "cap": -1}),
            json!({"type": "str_out", "cap": 1u64 << 40}),
            json!({"type": "bytes_out", "len": MAX_BUFFER + 1}),
            json!({"type": "bytes_in", "hex": "123"}),
            json!({"type": "bytes_in", "hex": "zz"}),
            json!({"type": "bytes_in"}),
            json!({"type": "callback"}),
        ] {
            assert!(matches!(arg(bad.clone()), Err(CallError::BadArgument { index: Some(3), .. })), "{bad}");
        }
    }

    #[test]
    fn structs_parse_with_their_layout() {
        let a = arg(json!({"type": "struct", "dir": "inout", "fields": [
            {"name": "id", "type": "u32", "value": 7},
            {"name": "name", "type": "cstr", "value": "bob"},
            {"name": "h", "type": "handle", "value": -1},
            {"name": "w", "type": "f64", "value": 1.5},
            {"name": "flags", "type": "u16"},
            {"name": "data", "type": "bytes", "hex": "010203"},
            {"name": "wide", "type": "wstr", "value": null},
            {"name": "none", "type": "bytes", "value": null},
        ]}))
        .unwrap();
        let Arg::Struct { dir: Dir::InOut, value } = a else { panic!("{a:?}") };
        assert_eq!(value.layout.offsets32(), vec![0, 4, 8, 16, 24, 28, 32, 36]);
        assert_eq!(value.get("id").unwrap(), &Field::Val(Value::U32(7)));
        assert_eq!(value.get("name").unwrap(), &Field::Str(Some("bob".into())));
        assert_eq!(value.get("h").unwrap(), &Field::Val(Value::Handle(u64::MAX)));
        assert_eq!(value.get("flags").unwrap(), &Field::Val(Value::U16(0)), "absent is zero");
        assert_eq!(value.get("data").unwrap(), &Field::Bytes(Some(vec![1, 2, 3])));
        assert_eq!(value.get("wide").unwrap(), &Field::Str(None));
        assert_eq!(value.get("none").unwrap(), &Field::Bytes(None));
        // The out form of the same structure.
        let j = out_json(&Arg::Struct { dir: Dir::Out, value });
        assert_eq!(j["fields"][2], json!({"name": "h", "type": "handle", "value": -1}));
        assert_eq!(j["fields"][5], json!({"name": "data", "type": "bytes", "hex": "010203"}));
        assert_eq!(j["fields"][6], json!({"name": "wide", "type": "wstr", "value": null}));

        for bad in [
            json!({"type": "struct"}),
            json!({"type": "struct", "dir": "sideways", "fields": []}),
            json!({"type": "struct", "fields": [{"name": "a"}]}),
            json!({"type": "struct", "fields": [{"type": "u8"}]}),
            json!({"type": "struct", "fields": [{"name": "a", "type": "void"}]}),
            json!({"type": "struct", "fields": [{"name": "a", "type": "u8", "value": 300}]}),
            json!({"type": "struct", "fields": [{"name": "a", "type": "u8"}, {"name": "a", "type": "u8"}]}),
            json!({"type": "struct", "fields": [{"name": "a", "type": "cstr", "value": 1}]}),
            json!({"type": "struct", "fields": [{"name": "a", "type": "bytes", "hex": "0"}]}),
            json!({"type": "struct", "fields": [1]}),
        ] {
            assert!(matches!(arg(bad.clone()), Err(CallError::BadArgument { index: Some(3), .. })), "{bad}");
        }
    }

    #[test]
    fn calls_parse_with_defaults_and_ordinals() {
        let c = call(r#"{"op":"call","export":"add_stdcall","args":[{"type":"i32","value":2}]}"#);
        assert_eq!(
            (c.export, c.conv, c.ret, c.budget),
            (Export::Name("add_stdcall".into()), Conv::Stdcall, Type::I32, None)
        );
        assert_eq!(c.args, vec![Arg::Val(Value::I32(2))]);
        let c = call(r##"{"op":"call","export":"#50","conv":"cdecl","ret":"u64","budget":"0x10"}"##);
        assert_eq!(
            (c.export, c.conv, c.ret, c.budget),
            (Export::Ordinal(50), Conv::Cdecl, Type::U64, Some(16))
        );
        assert_eq!(call(r#"{"op":"call","export":50}"#).export, Export::Ordinal(50));
        assert_eq!(call(r#"{"op":"call","export":"f","conv":"thiscall"}"#).conv, Conv::Thiscall);
    }

    #[test]
    fn malformed_requests_are_bad_requests_with_their_id() {
        for line in [
            "",
            "{",
            "nonsense",
            "[1,2]",
            "{}",
            r#"{"op":7}"#,
            r#"{"op":"dance"}"#,
            r#"{"op":"call"}"#,
            r#"{"op":"call","export":-1}"#,
            r#"{"op":"call","export":4294967296}"#,
            r#"{"op":"call","export":"f","args":{}}"#,
            r#"{"op":"call","export":"f","budget":-5}"#,
            r#"{"op":"read","addr":4096}"#,
            r#"{"op":"read","addr":4294967296,"len":1}"#,
            r#"{"op":"read","addr":0,"len":16777217}"#,
            r#"{"op":"read_str"}"#,
        ] {
            bad_request(line);
        }
        assert!(matches!(
            parse_request(r#"{"op":"call","export":"f","conv":"pascal"}"#),
            Err((None, Failure::Call(CallError::BadArgument { .. })))
        ));
        // The id is echoed even when the request is wrong.
        let (id, f) = parse_request(r#"{"id":{"k":[1]},"op":"dance"}"#).unwrap_err();
        let line = response(id.as_ref(), Err(f));
        let v: J = serde_json::from_str(&line).unwrap();
        assert_eq!(v["id"], json!({"k": [1]}));
        assert_eq!(v["ok"], json!(false));
        assert_eq!(v["error"]["kind"], json!("bad_request"));
        // Too many arguments.
        let many = vec![json!({"type": "i32", "value": 0}); MAX_ARGS + 1];
        assert!(parse_args(&many).is_err());
    }

    #[test]
    fn values_are_exact_on_the_wire() {
        assert_eq!(value_json(&Value::U64(u64::MAX)).to_string(), "18446744073709551615");
        assert_eq!(value_json(&Value::I64(i64::MIN)).to_string(), "-9223372036854775808");
        assert_eq!(value_json(&Value::Handle(u64::MAX)), json!(-1));
        assert_eq!(value_json(&Value::Handle(0xFFFF_FFFF_8000_0000)), json!(-2147483648));
        assert_eq!(value_json(&Value::Ptr(0xFFFF_FFFF)), json!(4294967295u64));
        assert_eq!(value_json(&Value::F32(0.1)).to_string(), "0.1");
        assert_eq!(value_json(&Value::F64(f64::NAN)), json!("nan"));
        assert_eq!(value_json(&Value::F64(f64::NEG_INFINITY)), json!("-inf"));
        assert_eq!(value_json(&Value::Void), J::Null);
        assert_eq!(value_json(&Value::Bool(true)), json!(true));
        // A round trip through text keeps every bit.
        for v in [u64::MAX, 1 << 63, (1 << 53) + 1] {
            let line = json!({ "type": "u64", "value": value_json(&Value::U64(v)) }).to_string();
            let back = parse_arg(0, &serde_json::from_str(&line).unwrap()).unwrap();
            assert_eq!(back, Arg::Val(Value::U64(v)));
        }
        // A handle that does not sign-extend parses (64 bits on the wire) and is
        // refused by the library when it would have to narrow.
        let h = arg(json!({"type": "handle", "value": "0x80000000"})).unwrap();
        assert_eq!(h, Arg::Val(Value::Handle(0x8000_0000)));
        let Arg::Val(v) = h else { unreachable!() };
        assert!(matches!(v.slots(), Err(CallError::Narrowing { what: "handle", .. })));
    }

    #[test]
    fn errors_carry_their_kind_and_details() {
        let fault = CallError::Fault {
            code: 0xC000_0005,
            address: 0x1000,
            params: vec![1, 0],
            disassembly: "interop!fault_write: mov".into(),
        };
        let e = error_json(&Failure::Call(fault));
        assert_eq!(e["kind"], json!("fault"));
        assert_eq!(e["code"], json!(3221225477u64));
        assert_eq!(e["address"], json!(4096));
        assert!(e["message"].as_str().unwrap().contains("STATUS_ACCESS_VIOLATION"));
        let e = error_json(&Failure::Call(CallError::Narrowing {
            what: "handle",
            value: 0x8000_0000,
            field: None,
        }));
        assert_eq!((e["kind"].clone(), e["value"].clone()), (json!("narrowing"), json!(0x8000_0000u64)));
        assert_eq!(error_json(&Failure::Call(CallError::Budget { insns: 5 }))["kind"], json!("budget"));
        assert_eq!(
            error_json(&Failure::BadRequest("x".into())),
            json!({"kind": "bad_request", "message": "x"})
        );
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(to_hex(&[0, 1, 0xab, 0xff]), "0001abff");
        assert_eq!(from_hex("0001ABff").unwrap(), vec![0, 1, 0xab, 0xff]);
        assert!(from_hex("é0").is_err(), "non-ASCII is an error, not a panic");
        assert!(from_hex("0g").is_err());
    }
}
