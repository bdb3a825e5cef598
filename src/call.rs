//! `x86wow call DLL EXPORT [TYPE:VALUE...]`: loads a 32-bit DLL, calls one export and
//! prints the result (docs/serve.md). Arguments are written `type:value` and read
//! with the `serve` protocol's argument rules.

use std::path::PathBuf;

use clap::Parser;
use serde_json::{json, Value as J};

use crate::library::{Arg, Conv, Export, Type, Value};
use crate::serve::protocol::{parse_arg, to_hex};

#[derive(Parser, Debug)]
#[command(
    name = "x86wow call",
    about = "Load a 32-bit DLL, call one export and print its result",
    after_help = "ARGS are TYPE:VALUE: i32:2, u64:0xffffffffffffffff, f64:2.5, bool:true, ptr:0x1000, \
                  handle:-1, null, str:TEXT, str_out:CAP, str_inout:TEXT, wstr:TEXT, wstr_out:CAP, \
                  wstr_inout:TEXT, bytes_in:HEX, bytes_out:LEN, bytes_inout:HEX.\n\
                  Prints the result, then `arg N: TEXT|HEX` for each out argument (N from 0).\n\
                  Exit status: 0 success, 1 the call failed, 2 usage error or the DLL did not load."
)]
struct Args {
    /// The DLL (PE32).
    dll: PathBuf,
    /// The export: a name, or #N for ordinal N.
    export: String,
    /// Arguments, TYPE:VALUE each.
    args: Vec<String>,
    /// Calling convention: stdcall, cdecl, fastcall or thiscall.
    #[arg(long, default_value = "stdcall")]
    conv: String,
    /// Result type: void, bool, u8..u64, i8..i64, f32, f64, ptr, handle.
    #[arg(long, default_value = "i32")]
    ret: String,
    /// Instruction budget of the call (default: none).
    #[arg(long, value_name = "N")]
    budget: Option<u64>,
    /// Print each system call of the guest on stderr.
    #[arg(long)]
    trace: bool,
}

/// The protocol's argument object for `TYPE:VALUE` (or `null`).
pub fn arg_json(s: &str) -> Result<J, String> {
    if s == "null" {
        return Ok(json!({ "type": "null" }));
    }
    let Some((ty, rest)) = s.split_once(':') else {
        return Err(format!("{s:?} is not TYPE:VALUE (e.g. i32:2, str:hello, bytes_out:16, null)"));
    };
    Ok(match ty {
        "str" | "wstr" | "str_inout" | "wstr_inout" => json!({ "type": ty, "value": rest }),
        "str_out" | "wstr_out" => json!({ "type": ty, "cap": rest }),
        "bytes_in" | "bytes_inout" => json!({ "type": ty, "hex": rest }),
        "bytes_out" => json!({ "type": ty, "len": rest }),
        "struct" => return Err("structures cannot be written on the command line; use x86wow serve".into()),
        _ => json!({ "type": ty, "value": rest }),
    })
}

/// Parses the command line's arguments.
pub fn parse_args(args: &[String]) -> Result<Vec<Arg>, String> {
    args.iter()
        .enumerate()
        .map(|(i, s)| {
            let j = arg_json(s).map_err(|e| format!("argument {i}: {e}"))?;
            parse_arg(i, &j).map_err(|e| e.to_string())
        })
        .collect()
}

/// The result as printed.
fn shown(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        v => v.to_string(),
    }
}

/// Runs the subcommand; returns the exit code.
pub fn main(argv: &[String]) -> i32 {
    let args: Args = match crate::cli::parse_args("x86wow call", argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let usage = |e: String| {
        eprintln!("x86wow call: {e}");
        2
    };
    let conv: Conv = match args.conv.parse() {
        Ok(c) => c,
        Err(e) => return usage(format!("--conv: {e}")),
    };
    let ret: Type = match args.ret.parse() {
        Ok(t) => t,
        Err(e) => return usage(format!("--ret: {e}")),
    };
    let mut call_args = match parse_args(&args.args) {
        Ok(a) => a,
        Err(e) => return usage(e),
    };
    let mut lib = match crate::serve::load(&args.dll, args.trace) {
        Ok(l) => l,
        Err(e) => return usage(e.to_string()),
    };
    lib.set_budget(args.budget);
    let v = match lib.call(Export::from(args.export.as_str()), conv, &mut call_args, ret) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("x86wow call: {}: {e}", args.export);
            return 1;
        }
    };
    println!("{}", shown(&v));
    for (i, a) in call_args.iter().enumerate() {
        let out = match a {
            Arg::Str { dir, text, .. } | Arg::WStr { dir, text, .. } if dir.copies_out() => text.clone(),
            Arg::Bytes { dir, data } if dir.copies_out() => to_hex(data),
            _ => continue,
        };
        println!("arg {i}: {out}");
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[&str]) -> Result<Vec<Arg>, String> {
        parse_args(&s.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn command_line_arguments_use_the_protocol_rules() {
        assert_eq!(
            parse(&["i32:2", "u64:0xffffffffffffffff", "handle:-1", "null", "f64:2.5"]).unwrap(),
            vec![
                Arg::from(2),
                Arg::from(u64::MAX),
                Arg::Val(Value::Handle(u64::MAX)),
                Arg::Null,
                Arg::from(2.5)
            ]
        );
        assert_eq!(
            parse(&["str:a:b", "str_out:64", "wstr:x", "bytes_in:0102", "bytes_out:16", "str_inout:abc"])
                .unwrap(),
            vec![
                Arg::str("a:b"),
                Arg::str_out(64),
                Arg::wstr("x"),
                Arg::bytes_in([1, 2]),
                Arg::bytes_out(16),
                Arg::str_inout("abc", 4)
            ]
        );
        for bad in ["2", "i32:x", "i99:1", "str_out:lots", "bytes_in:1", "struct:x", "void:0"] {
            assert!(parse(&[bad]).is_err(), "{bad}");
        }
    }
}
