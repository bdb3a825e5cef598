//! Calls every export of testdata/win32/interop.dll from 64-bit Rust through
//! `x86wow::Library`, printing each call and its result:
//!
//! ```sh
//! cargo run --release --example interop [path/to/interop.dll]
//! ```
//!
//! The DLL is a 32-bit PE built by MinGW (source: testdata/win32/interop.c); it runs
//! inside the interpreter, in a 32-bit process model of its own.

use x86wow::library::{Arg, CallError, Conv, Dir, Field, FieldType, Layout, Library, Struct, Type, Value};

fn main() -> Result<(), CallError> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "testdata/win32/interop.dll".into());
    let mut lib = Library::load(&path)?;
    let show =
        |lib: &mut Library, f: &str, conv: Conv, args: &mut [Arg], ret: Type| -> Result<Value, CallError> {
            let r = lib.call(f, conv, args, ret);
            match &r {
                Ok(v) => println!("{f:<20} {conv:<9} = {v}"),
                Err(e) => println!("{f:<20} {conv:<9} ! {e}"),
            }
            r
        };

    println!("{} exports:", lib.exports().len());
    for e in lib.exports() {
        println!("  #{:<3} {}", e.ordinal, e.name.as_deref().unwrap_or("(by ordinal only)"));
    }

    // Calling conventions and widths.
    show(&mut lib, "add_stdcall", Conv::Stdcall, &mut [2.into(), 40.into()], Type::I32)?;
    show(&mut lib, "add_cdecl", Conv::Cdecl, &mut [2.into(), 40.into()], Type::I32)?;
    show(&mut lib, "add_fastcall", Conv::Fastcall, &mut [2.into(), 20.into(), 20.into()], Type::I32)?;
    let counter =
        Layout::new(&[("value", FieldType::Scalar(Type::I32)), ("calls", FieldType::Scalar(Type::I32))])?;
    let mut this = [Arg::by_ref(Dir::InOut, Struct::zeroed(&counter)), 42.into()];
    show(&mut lib, "counter_add", Conv::Thiscall, &mut this, Type::I32)?;
    show(&mut lib, "mul_u64", Conv::Cdecl, &mut [(1u64 << 33).into(), 3u64.into()], Type::U64)?;
    show(&mut lib, "sub_i64", Conv::Stdcall, &mut [0i64.into(), (1i64 << 40).into()], Type::I64)?;
    let mut small = [(-1i8).into(), 255u8.into(), (-300i16).into(), 300u16.into()];
    show(&mut lib, "widen_small", Conv::Cdecl, &mut small, Type::I32)?;
    show(&mut lib, "fma_f64", Conv::Stdcall, &mut [1.5f64.into(), 4.0f64.into(), 0.25f64.into()], Type::F64)?;
    show(&mut lib, "half_f32", Conv::Cdecl, &mut [5.0f32.into()], Type::F32)?;
    let mut mixed = [1i8.into(), 2u16.into(), 3i32.into(), 4i64.into(), 0.5f32.into(), 0.25f64.into()];
    show(&mut lib, "mix", Conv::Cdecl, &mut mixed, Type::F64)?;

    // Strings and buffers.
    show(&mut lib, "str_length", Conv::Stdcall, &mut [Arg::str("interop")], Type::U32)?;
    show(&mut lib, "wstr_length", Conv::Stdcall, &mut [Arg::wstr("Ωmega")], Type::U32)?;
    let mut s = [Arg::str_inout("shout", 0)];
    show(&mut lib, "str_upper", Conv::Stdcall, &mut s, Type::Void)?;
    println!("  -> {:?}", s[0].text().unwrap_or_default());
    let mut g = [Arg::str("64-bit host"), Arg::str_out(64), 64.into()];
    show(&mut lib, "greet", Conv::Stdcall, &mut g, Type::I32)?;
    println!("  -> {:?}", g[1].text().unwrap_or_default());
    let mut w = [Arg::wstr("wide"), Arg::wstr_out(64), 64.into()];
    show(&mut lib, "wgreet", Conv::Stdcall, &mut w, Type::I32)?;
    println!("  -> {:?}", w[1].text().unwrap_or_default());
    show(&mut lib, "sum_bytes", Conv::Stdcall, &mut [Arg::bytes_in(vec![1, 2, 3, 4]), 4.into()], Type::U32)?;
    let mut fill = [Arg::bytes_out(4), 4.into(), 0x5A.into()];
    show(&mut lib, "fill_bytes", Conv::Stdcall, &mut fill, Type::Void)?;
    println!("  -> {:02x?}", fill[0].bytes().unwrap_or_default());
    let mut x = [Arg::bytes_inout(vec![0x0F, 0xF0]), 2.into(), 0xFFu8.into()];
    show(&mut lib, "xor_bytes", Conv::Stdcall, &mut x, Type::Void)?;
    println!("  -> {:02x?}", x[0].bytes().unwrap_or_default());

    // A structure with a string pointer, a handle, a double and a bytes pointer: 40
    // bytes in the DLL, 56 in the 64-bit host layout.
    let layout = Layout::new(&[
        ("id", FieldType::Scalar(Type::U32)),
        ("name", FieldType::CStr),
        ("handle", FieldType::Scalar(Type::Handle)),
        ("weight", FieldType::Scalar(Type::F64)),
        ("flags", FieldType::Scalar(Type::U16)),
        ("data", FieldType::Bytes),
        ("data_len", FieldType::Scalar(Type::U32)),
    ])?;
    println!(
        "Record: {} bytes in 32-bit code at {:?}, {} in 64-bit at {:?}",
        layout.size32(),
        layout.offsets32(),
        layout.size64(),
        layout.offsets64()
    );
    let mut rec = Struct::zeroed(&layout);
    rec.set("id", Field::Val(Value::U32(7)))?
        .set("name", Field::Str(Some("seven".into())))?
        .set("handle", Field::Val(Value::Handle(u64::MAX)))?
        .set("weight", Field::Val(Value::F64(1.25)))?
        .set("data", Field::Bytes(Some(vec![10, 20])))?
        .set("data_len", Field::Val(Value::U32(2)))?;
    let mut d = [Arg::by_ref(Dir::In, rec.clone()), Arg::str_out(128), 128.into()];
    show(&mut lib, "record_describe", Conv::Stdcall, &mut d, Type::I32)?;
    println!("  -> {:?}", d[1].text().unwrap_or_default());
    let mut u = [Arg::by_ref(Dir::InOut, rec)];
    show(&mut lib, "record_update", Conv::Stdcall, &mut u, Type::Void)?;
    if let Some(r) = u[0].structure() {
        for ((name, _), f) in r.layout.fields().zip(&r.fields) {
            println!("  -> {name} = {f:?}");
        }
    }

    // Handles: 64-bit on this side, sign-extended across.
    show(&mut lib, "handle_echo", Conv::Stdcall, &mut [Value::Handle(u64::MAX).into()], Type::Handle)?;
    show(&mut lib, "is_current_process", Conv::Stdcall, &mut [Value::Handle(u64::MAX).into()], Type::Bool)?;
    let _ = show(&mut lib, "handle_echo", Conv::Stdcall, &mut [Value::Handle(1 << 32).into()], Type::Handle);

    // Callbacks.
    let cb = lib.callback(Conv::Stdcall, &[Type::I32, Type::Ptr], Type::I32, |_, a| {
        println!("  callback({})", a[0]);
        Ok(Value::I32((a[0] != Value::I32(2)) as i32))
    })?;
    show(&mut lib, "enum_values", Conv::Stdcall, &mut [Arg::Callback(cb), Arg::Null, 10.into()], Type::I32)?;
    let cmp = lib.callback(Conv::Cdecl, &[Type::Ptr, Type::Ptr], Type::I32, |g, a| {
        let mut int = |v: Value| -> Result<i32, String> {
            let Value::Ptr(p) = v else { return Err("not a pointer".into()) };
            let b = g.read(p as u32, 4).map_err(|e| e.to_string())?;
            Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        Ok(Value::I32(int(a[0])?.cmp(&int(a[1])?) as i32))
    })?;
    let ints: Vec<u8> = [3i32, 1, 2].iter().flat_map(|i| i.to_le_bytes()).collect();
    let mut sort = [Arg::bytes_inout(ints), 3.into(), Arg::Callback(cmp)];
    show(&mut lib, "sort_ints", Conv::Stdcall, &mut sort, Type::Void)?;
    println!("  -> {:?}", sort[0].bytes().unwrap_or_default().chunks(4).map(|c| c[0]).collect::<Vec<_>>());
    let sq = lib.callback(Conv::Cdecl, &[Type::F64], Type::F64, |_, a| match a[0] {
        Value::F64(x) => Ok(Value::F64(x * x)),
        _ => Err("not a double".into()),
    })?;
    show(&mut lib, "apply_f64", Conv::Cdecl, &mut [Arg::Callback(sq), 3.0f64.into()], Type::F64)?;
    let shl = lib.callback(Conv::Stdcall, &[Type::I64, Type::I32], Type::I64, |_, a| match (a[0], a[1]) {
        (Value::I64(x), Value::I32(n)) => Ok(Value::I64(x << n)),
        _ => Err("bad arguments".into()),
    })?;
    show(&mut lib, "apply_i64", Conv::Stdcall, &mut [Arg::Callback(shl), 5i64.into()], Type::I64)?;

    // Faults and budgets are errors; the library goes on.
    let _ = show(&mut lib, "fault_write", Conv::Stdcall, &mut [Arg::Null], Type::I32);
    let _ = show(&mut lib, "fault_div", Conv::Stdcall, &mut [1.into(), 0.into()], Type::I32);
    lib.set_budget(Some(1_000_000));
    let _ = show(&mut lib, "spin", Conv::Stdcall, &mut [], Type::Void);
    lib.set_budget(None);
    show(&mut lib, "counter_next", Conv::Stdcall, &mut [], Type::I32)?;
    show(&mut lib, "attach_count", Conv::Stdcall, &mut [], Type::U32)?;
    show(&mut lib, "#50", Conv::Stdcall, &mut [], Type::U32)?;
    lib.unload()
}
