//! `x86wow::Library` against testdata/win32/interop.dll (source interop.c beside it):
//! every calling convention, every scalar type, strings, buffers, a structure with
//! pointers and a handle, callbacks, faults the library survives, budgets, detach.

use pretty_assertions::assert_eq;
use x86wow::library::{Arg, CallError, Conv, Dir, Field, FieldType, Layout, Library, Struct, Type, Value};
use x86wow::wow64::Process;

const DLL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/win32/interop.dll");

fn lib() -> Library {
    Library::load(DLL).expect("interop.dll loads")
}

fn call(lib: &mut Library, f: &str, conv: Conv, args: &mut [Arg], ret: Type) -> Value {
    lib.call(f, conv, args, ret).unwrap_or_else(|e| panic!("{f}: {e}"))
}

#[test]
fn every_calling_convention() {
    let mut l = lib();
    assert_eq!(
        call(&mut l, "add_stdcall", Conv::Stdcall, &mut [2.into(), 40.into()], Type::I32),
        Value::I32(42)
    );
    assert_eq!(
        call(&mut l, "add_cdecl", Conv::Cdecl, &mut [(-2).into(), 40.into()], Type::I32),
        Value::I32(38)
    );
    // fastcall: 1 in ECX, 2 in EDX, 3 on the stack.
    let mut args = [1.into(), 2.into(), 30.into()];
    assert_eq!(call(&mut l, "add_fastcall", Conv::Fastcall, &mut args, Type::I32), Value::I32(33));
    // thiscall: `this` in ECX points at a Counter { value, calls } the method changes.
    let counter =
        Layout::new(&[("value", FieldType::Scalar(Type::I32)), ("calls", FieldType::Scalar(Type::I32))])
            .unwrap();
    let mut c = Struct::zeroed(&counter);
    c.set("value", Field::Val(Value::I32(10))).unwrap();
    let mut args = [Arg::by_ref(Dir::InOut, c), 5.into()];
    assert_eq!(call(&mut l, "counter_add", Conv::Thiscall, &mut args, Type::I32), Value::I32(15));
    let c = args[0].structure().unwrap();
    assert_eq!(
        (c.get("value").unwrap(), c.get("calls").unwrap()),
        (&Field::Val(Value::I32(15)), &Field::Val(Value::I32(1)))
    );
}

#[test]
fn a_wrong_convention_is_caught_by_the_stack() {
    let mut l = lib();
    // add_stdcall removes 8 bytes; declaring it cdecl is an error, not a corrupted stack.
    let e = l.call("add_stdcall", Conv::Cdecl, &mut [1.into(), 2.into()], Type::I32).unwrap_err();
    assert_eq!(
        e,
        CallError::StackMismatch {
            export: "add_stdcall".into(),
            conv: "cdecl".into(),
            expected: 0,
            popped: 8
        }
    );
    let e = l.call("add_cdecl", Conv::Stdcall, &mut [1.into(), 2.into()], Type::I32).unwrap_err();
    assert!(matches!(e, CallError::StackMismatch { expected: 8, popped: 0, .. }), "{e}");
    assert_eq!(call(&mut l, "add_cdecl", Conv::Cdecl, &mut [1.into(), 2.into()], Type::I32), Value::I32(3));
}

#[test]
fn integers_of_every_width() {
    let mut l = lib();
    let (a, b) = (0x1_0000_0003u64, 0xFFFF_FFFF_0000_0007u64);
    let r = call(&mut l, "mul_u64", Conv::Cdecl, &mut [a.into(), b.into()], Type::U64);
    assert_eq!(r, Value::U64(a.wrapping_mul(b)), "a 64-bit result in EDX:EAX");
    let r = call(&mut l, "sub_i64", Conv::Stdcall, &mut [(-5i64).into(), (1i64 << 40).into()], Type::I64);
    assert_eq!(r, Value::I64(-5 - (1 << 40)));
    // Small arguments are extended in their 4-byte slots.
    let mut args = [(-3i8).into(), 250u8.into(), (-1000i16).into(), 60000u16.into()];
    assert_eq!(
        call(&mut l, "widen_small", Conv::Cdecl, &mut args, Type::I32),
        Value::I32(-3 + 250 - 1000 + 60000)
    );
    // Narrower result types take the low bits of EAX.
    let r = call(&mut l, "add_stdcall", Conv::Stdcall, &mut [0x1FF.into(), 1.into()], Type::U8);
    assert_eq!(r, Value::U8(0));
}

#[test]
fn floats_travel_on_the_stack_and_come_back_in_st0() {
    let mut l = lib();
    let mut args = [1.5f64.into(), 4.0f64.into(), 0.25f64.into()];
    assert_eq!(call(&mut l, "fma_f64", Conv::Stdcall, &mut args, Type::F64), Value::F64(6.25));
    assert_eq!(call(&mut l, "half_f32", Conv::Cdecl, &mut [3.0f32.into()], Type::F32), Value::F32(1.5));
    let mut args =
        [(-1i8).into(), 2u16.into(), 3i32.into(), (1i64 << 40).into(), 0.5f32.into(), 0.25f64.into()];
    let r = call(&mut l, "mix", Conv::Cdecl, &mut args, Type::F64);
    assert_eq!(r, Value::F64(-1.0 + 2.0 + 3.0 + (1u64 << 40) as f64 + 0.5 + 0.25));
    // Each float result was popped: the x87 stack is empty again.
    let fpu = l.process().cpu.fpu;
    assert!((0..8).all(|i| fpu.is_empty(i)), "ST(0) left on the stack");
}

#[test]
fn strings_ansi_and_utf16() {
    let mut l = lib();
    assert_eq!(call(&mut l, "str_length", Conv::Stdcall, &mut [Arg::str("hello")], Type::U32), Value::U32(5));
    assert_eq!(call(&mut l, "str_length", Conv::Stdcall, &mut [Arg::Null], Type::U32), Value::U32(0));
    assert_eq!(
        call(&mut l, "wstr_length", Conv::Stdcall, &mut [Arg::wstr("héllo→")], Type::U32),
        Value::U32(6)
    );
    let mut args = [Arg::str_inout("MiXed 42", 0)];
    call(&mut l, "str_upper", Conv::Stdcall, &mut args, Type::Void);
    assert_eq!(args[0].text(), Some("MIXED 42"));
    let mut args = [Arg::str("wow64"), Arg::str_out(64), 64.into()];
    assert_eq!(call(&mut l, "greet", Conv::Stdcall, &mut args, Type::I32), Value::I32(13));
    assert_eq!(args[1].text(), Some("Hello, wow64!"));
    // Truncated to the buffer, which the callee NUL-terminates.
    let mut args = [Arg::str("wow64"), Arg::str_out(6), 6.into()];
    assert_eq!(call(&mut l, "greet", Conv::Stdcall, &mut args, Type::I32), Value::I32(13));
    assert_eq!(args[1].text(), Some("Hello"));
    let mut args = [Arg::wstr("Ωmega"), Arg::wstr_out(32), 32.into()];
    assert_eq!(call(&mut l, "wgreet", Conv::Stdcall, &mut args, Type::I32), Value::I32(13));
    assert_eq!(args[1].text(), Some("Hello, Ωmega!"));
}

#[test]
fn byte_buffers_in_out_and_inout() {
    let mut l = lib();
    let data: Vec<u8> = (0..=255).collect();
    let mut args = [Arg::bytes_in(data.clone()), (data.len() as i32).into()];
    assert_eq!(call(&mut l, "sum_bytes", Conv::Stdcall, &mut args, Type::U32), Value::U32(255 * 128));
    assert_eq!(args[0].bytes(), Some(&data[..]), "an in buffer is not read back");
    let mut args = [Arg::bytes_out(5), 5.into(), 0xAB.into()];
    call(&mut l, "fill_bytes", Conv::Stdcall, &mut args, Type::Void);
    assert_eq!(args[0].bytes(), Some(&[0xAB; 5][..]));
    let mut args = [Arg::bytes_inout(vec![1, 2, 3]), 3.into(), 0xF0u8.into()];
    call(&mut l, "xor_bytes", Conv::Stdcall, &mut args, Type::Void);
    assert_eq!(args[0].bytes(), Some(&[0xF1, 0xF2, 0xF3][..]));
}

fn record_layout() -> Layout {
    Layout::new(&[
        ("id", FieldType::Scalar(Type::U32)),
        ("name", FieldType::CStr),
        ("handle", FieldType::Scalar(Type::Handle)),
        ("weight", FieldType::Scalar(Type::F64)),
        ("flags", FieldType::Scalar(Type::U16)),
        ("data", FieldType::Bytes),
        ("data_len", FieldType::Scalar(Type::U32)),
    ])
    .unwrap()
}

fn record(name: Option<&str>, handle: u64) -> Struct {
    let mut r = Struct::zeroed(&record_layout());
    r.set("id", Field::Val(Value::U32(41))).unwrap();
    r.set("name", Field::Str(name.map(str::to_string))).unwrap();
    r.set("handle", Field::Val(Value::Handle(handle))).unwrap();
    r.set("weight", Field::Val(Value::F64(2.25))).unwrap();
    r.set("flags", Field::Val(Value::U16(0x12))).unwrap();
    r.set("data", Field::Bytes(Some(vec![1, 2, 3]))).unwrap();
    r.set("data_len", Field::Val(Value::U32(3))).unwrap();
    r
}

#[test]
fn a_struct_with_pointers_and_a_handle_crosses_in_its_32_bit_layout() {
    let mut l = lib();
    let mut args = [Arg::by_ref(Dir::In, record(Some("rec"), u64::MAX - 1)), Arg::str_out(128), 128.into()];
    call(&mut l, "record_describe", Conv::Stdcall, &mut args, Type::I32);
    assert_eq!(args[1].text(), Some("id=41 name=rec handle=-2 weight*4=9 flags=12 sum=6"));
    let mut args = [Arg::by_ref(Dir::In, record(None, 8)), Arg::str_out(128), 128.into()];
    call(&mut l, "record_describe", Conv::Stdcall, &mut args, Type::I32);
    assert_eq!(args[1].text(), Some("id=41 name=(null) handle=8 weight*4=9 flags=12 sum=6"));

    let mut args = [Arg::by_ref(Dir::InOut, record(Some("rec"), 0x40))];
    call(&mut l, "record_update", Conv::Stdcall, &mut args, Type::Void);
    let r = args[0].structure().unwrap();
    assert_eq!(r.get("id").unwrap(), &Field::Val(Value::U32(42)));
    assert_eq!(r.get("name").unwrap(), &Field::Str(Some("updated".into())), "the callee repointed it");
    assert_eq!(r.get("handle").unwrap(), &Field::Val(Value::Handle(0x3F)));
    assert_eq!(r.get("weight").unwrap(), &Field::Val(Value::F64(4.5)));
    assert_eq!(r.get("flags").unwrap(), &Field::Val(Value::U16(0x8012)));
    assert_eq!(r.get("data").unwrap(), &Field::Bytes(Some(vec![2, 3, 4])));
    // A handle of 0 decremented is -1: it comes back sign-extended to 64 bits.
    let mut args = [Arg::by_ref(Dir::InOut, record(None, 0))];
    call(&mut l, "record_update", Conv::Stdcall, &mut args, Type::Void);
    assert_eq!(args[0].structure().unwrap().get("handle").unwrap(), &Field::Val(Value::Handle(u64::MAX)));
}

#[test]
fn handles_are_64_bit_on_the_host_and_never_truncated() {
    let mut l = lib();
    let cur = Value::Handle(u64::MAX);
    assert_eq!(call(&mut l, "handle_echo", Conv::Stdcall, &mut [cur.into()], Type::Handle), cur);
    assert_eq!(
        call(&mut l, "is_current_process", Conv::Stdcall, &mut [cur.into()], Type::Bool),
        Value::Bool(true)
    );
    let h = Value::Handle(0x7FFF_FFFC);
    assert_eq!(call(&mut l, "handle_echo", Conv::Stdcall, &mut [h.into()], Type::Handle), h);
    for bad in [0x8000_0000u64, 0x1_0000_0004] {
        let e =
            l.call("handle_echo", Conv::Stdcall, &mut [Value::Handle(bad).into()], Type::Handle).unwrap_err();
        assert_eq!(e, CallError::Narrowing { what: "handle", value: bad, field: None });
    }
    let e = l.call("str_length", Conv::Stdcall, &mut [Value::Ptr(1 << 32).into()], Type::U32).unwrap_err();
    assert!(matches!(e, CallError::Narrowing { what: "pointer", .. }), "{e}");
    let mut args = [Arg::by_ref(Dir::In, record(None, 0x1_0000_0000))];
    let e = l.call("record_update", Conv::Stdcall, &mut args, Type::Void).unwrap_err();
    assert_eq!(
        e,
        CallError::Narrowing { what: "handle", value: 0x1_0000_0000, field: Some("handle".into()) }
    );
}

#[test]
fn host_closures_as_callbacks() {
    let mut l = lib();
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let log = seen.clone();
    let cb = l
        .callback(Conv::Stdcall, &[Type::I32, Type::Ptr], Type::I32, move |g, a| {
            let ctx = match a[1] {
                Value::Ptr(p) => g.read_str(p as u32).map_err(|e| e.to_string())?,
                _ => unreachable!(),
            };
            log.borrow_mut().push((a[0], ctx));
            Ok(Value::I32((a[0] != Value::I32(4)) as i32))
        })
        .unwrap();
    let mut args = [Arg::Callback(cb), Arg::str("ctx"), 10.into()];
    assert_eq!(call(&mut l, "enum_values", Conv::Stdcall, &mut args, Type::I32), Value::I32(5));
    let seen = seen.borrow();
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[4], (Value::I32(4), "ctx".to_string()));

    // A cdecl comparator that reads the guest's ints through the pointers it gets.
    let cmp = l
        .callback(Conv::Cdecl, &[Type::Ptr, Type::Ptr], Type::I32, |g, a| {
            let mut get = |v: Value| -> Result<i32, String> {
                let Value::Ptr(p) = v else { unreachable!() };
                let b = g.read(p as u32, 4).map_err(|e| e.to_string())?;
                Ok(i32::from_le_bytes(b.try_into().unwrap()))
            };
            let (x, y) = (get(a[0])?, get(a[1])?);
            Ok(Value::I32(x.cmp(&y) as i32))
        })
        .unwrap();
    let nums = [5i32, -3, 9, 0, 7, -8];
    let bytes: Vec<u8> = nums.iter().flat_map(|n| n.to_le_bytes()).collect();
    let mut args = [Arg::bytes_inout(bytes), 6.into(), Arg::Callback(cmp)];
    call(&mut l, "sort_ints", Conv::Stdcall, &mut args, Type::Void);
    let sorted: Vec<i32> =
        args[0].bytes().unwrap().chunks(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(sorted, vec![-8, -3, 0, 5, 7, 9]);

    // Float and 64-bit callback results: ST(0) and EDX:EAX.
    let sq = l.callback(Conv::Cdecl, &[Type::F64], Type::F64, |_, a| match a[0] {
        Value::F64(x) => Ok(Value::F64(x * x)),
        _ => unreachable!(),
    });
    let mut args = [Arg::Callback(sq.unwrap()), 1.5f64.into()];
    assert_eq!(call(&mut l, "apply_f64", Conv::Cdecl, &mut args, Type::F64), Value::F64(3.25));
    let shl = l.callback(Conv::Stdcall, &[Type::I64, Type::I32], Type::I64, |_, a| match (a[0], a[1]) {
        (Value::I64(x), Value::I32(n)) => Ok(Value::I64(x << n)),
        _ => unreachable!(),
    });
    let mut args = [Arg::Callback(shl.unwrap()), (-(1i64 << 33)).into()];
    assert_eq!(call(&mut l, "apply_i64", Conv::Stdcall, &mut args, Type::I64), Value::I64(-(1i64 << 37)));
}

#[test]
fn a_failing_callback_abandons_the_call_and_the_library_goes_on() {
    let mut l = lib();
    let cb =
        l.callback(Conv::Stdcall, &[Type::I32, Type::Ptr], Type::I32, |_, _| Err("no more".into())).unwrap();
    let e = l
        .call("enum_values", Conv::Stdcall, &mut [Arg::Callback(cb), Arg::Null, 3.into()], Type::I32)
        .unwrap_err();
    assert_eq!(e, CallError::Callback { addr: cb.addr(), why: "no more".into() });
    let wrong =
        l.callback(Conv::Stdcall, &[Type::I32, Type::Ptr], Type::I32, |_, _| Ok(Value::F64(1.0))).unwrap();
    let e = l.call("enum_values", Conv::Stdcall, &mut [Arg::Callback(wrong), Arg::Null, 3.into()], Type::I32);
    assert!(matches!(e, Err(CallError::Callback { .. })), "{e:?}");
    assert!(l.callback(Conv::Fastcall, &[], Type::Void, |_, _| Ok(Value::Void)).is_err());
    assert_eq!(call(&mut l, "counter_next", Conv::Stdcall, &mut [], Type::I32), Value::I32(1));
}

#[test]
fn faults_are_reported_and_survived() {
    let mut l = lib();
    assert_eq!(call(&mut l, "counter_next", Conv::Stdcall, &mut [], Type::I32), Value::I32(1));
    let e = l.call("fault_write", Conv::Stdcall, &mut [Arg::Null], Type::I32).unwrap_err();
    let CallError::Fault { code, address, ref params, ref disassembly } = e else { panic!("{e}") };
    assert_eq!((code, params.as_slice()), (0xC000_0005, &[1, 0][..]), "writing address 0");
    assert_eq!(Some(address), l.export("fault_write").map(|a| a + 4), "the faulting mov");
    assert!(
        disassembly.contains("interop.dll!fault_write+0x4")
            && disassembly.contains("mov dword ptr [eax],4D2h"),
        "{disassembly}"
    );
    assert!(
        e.to_string().contains("STATUS_ACCESS_VIOLATION") && e.to_string().contains("writing 0x00000000"),
        "{e}"
    );
    let e = l.call("fault_div", Conv::Stdcall, &mut [7.into(), 0.into()], Type::I32).unwrap_err();
    assert!(matches!(e, CallError::Fault { code: 0xC000_0094, .. }), "{e}");
    assert!(e.to_string().contains("idiv"), "{e}");
    // The state the DLL keeps is intact, and calls go on.
    assert_eq!(call(&mut l, "counter_next", Conv::Stdcall, &mut [], Type::I32), Value::I32(2));
    assert_eq!(call(&mut l, "fault_div", Conv::Stdcall, &mut [7.into(), 2.into()], Type::I32), Value::I32(3));
}

#[test]
fn a_budget_stops_a_runaway_call() {
    let mut l = lib();
    l.set_budget(Some(100_000));
    let e = l.call("spin", Conv::Stdcall, &mut [], Type::Void).unwrap_err();
    assert_eq!(e, CallError::Budget { insns: 100_000 });
    assert_eq!(call(&mut l, "counter_next", Conv::Stdcall, &mut [], Type::I32), Value::I32(1));
    l.set_budget(None);
    assert_eq!(
        call(&mut l, "add_stdcall", Conv::Stdcall, &mut [1.into(), 1.into()], Type::I32),
        Value::I32(2)
    );
}

#[test]
fn exports_by_name_and_ordinal() {
    let mut l = lib();
    let ex = l.exports();
    let by_ord = |o: u32| ex.iter().find(|e| e.ordinal == o).cloned();
    assert_eq!(by_ord(1).unwrap().name.as_deref(), Some("add_stdcall"));
    assert_eq!(by_ord(50).unwrap().name, None, "ord_only is exported by ordinal only");
    assert!(by_ord(40).is_none(), "an empty slot is not an export");
    assert_eq!(l.call(50u32, Conv::Stdcall, &mut [], Type::U32).unwrap(), Value::U32(0x5050));
    assert_eq!(call(&mut l, "#1", Conv::Stdcall, &mut [1.into(), 2.into()], Type::I32), Value::I32(3));
    let e = l.call("nope", Conv::Stdcall, &mut [], Type::Void).unwrap_err();
    assert_eq!(e, CallError::NoSuchExport { export: "nope".into() });
    assert!(l.call(40u32, Conv::Stdcall, &mut [], Type::Void).is_err());
}

#[test]
fn dllmain_runs_attach_on_load_and_detach_on_drop() {
    let (b, out) = Process::builder().capture_output();
    let mut l = Library::load_with(b, DLL).unwrap();
    assert_eq!(call(&mut l, "attach_count", Conv::Stdcall, &mut [], Type::U32), Value::U32(1));
    assert_eq!(out.stdout.text(), "interop: attach\n");
    drop(l);
    assert_eq!(out.stdout.text(), "interop: attach\ninterop: detach\n", "FreeLibrary's lpReserved NULL");
    let (b, out) = Process::builder().capture_output();
    Library::load_with(b, DLL).unwrap().unload().unwrap();
    assert_eq!(out.stdout.text(), "interop: attach\ninterop: detach\n");
}

#[test]
fn bad_arguments_are_errors_not_panics() {
    let mut l = lib();
    let e = l.call("add_fastcall", Conv::Thiscall, &mut [], Type::I32).unwrap_err();
    assert!(matches!(e, CallError::BadArgument { .. }), "{e}");
    let e = l.call("add_fastcall", Conv::Thiscall, &mut [1.5f64.into()], Type::I32).unwrap_err();
    assert!(matches!(e, CallError::BadArgument { index: Some(0), .. }), "{e}");
    let e = l.call("add_stdcall", Conv::Stdcall, &mut [Arg::Val(Value::Void)], Type::I32).unwrap_err();
    assert!(matches!(e, CallError::BadArgument { index: Some(0), .. }), "{e}");
    let mut s = Struct::zeroed(&record_layout());
    s.fields.pop();
    let e = l.call("record_update", Conv::Stdcall, &mut [Arg::by_ref(Dir::In, s)], Type::Void).unwrap_err();
    assert!(matches!(e, CallError::BadArgument { index: Some(0), .. }), "{e}");
    let e = Library::load(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/win32/hello.c")).unwrap_err();
    assert!(matches!(e, CallError::Load { .. }), "{e}");
    // An executable is not a library: its entry point must not run.
    let (b, out) = Process::builder().capture_output();
    let e =
        Library::load_with(b, concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/win32/hello.exe")).unwrap_err();
    assert!(e.to_string().contains("not a DLL"), "{e}");
    assert_eq!(out.stdout.text(), "", "hello.exe did not run");
    // A raw pointer to unmapped memory makes the callee fault, which is reported.
    let e = l.call("str_length", Conv::Stdcall, &mut [Value::Ptr(0x10).into()], Type::U32).unwrap_err();
    assert!(matches!(e, CallError::Fault { code: 0xC000_0005, .. }), "{e}");
}

#[test]
fn argument_memory_is_freed_after_each_call() {
    let mut l = lib();
    let before = l.process().kernel.allocations().len();
    for _ in 0..50 {
        let mut args = [Arg::str("x"), Arg::str_out(4096), 4096.into()];
        call(&mut l, "greet", Conv::Stdcall, &mut args, Type::I32);
        let _ = l.call("fault_write", Conv::Stdcall, &mut [Arg::Null], Type::I32);
    }
    assert_eq!(l.process().kernel.allocations().len(), before);
}

#[test]
fn a_software_exception_nothing_handles_ends_the_call_too() {
    // RtlRaiseStatus from the guest ntdll: no hardware fault, the exception goes
    // through the dispatcher and NtRaiseException's last chance, inside the call.
    let mut l = lib();
    let raise = l.process().export("ntdll.dll", "RtlRaiseStatus").expect("ntdll exports RtlRaiseStatus");
    let e = l.call_addr(raise, Conv::Stdcall, &mut [0xE000_0042u32.into()], Type::Void).unwrap_err();
    assert!(matches!(e, CallError::Fault { code: 0xE000_0042, .. }), "{e}");
    assert_eq!(call(&mut l, "counter_next", Conv::Stdcall, &mut [], Type::I32), Value::I32(1));
}
