//! The `library_call` harness: arbitrary calls into testdata/win32/interop.dll through
//! [`crate::library::Library`], with arbitrary conventions, argument kinds, result
//! types and structure layouts.

use arbitrary::{Arbitrary, Unstructured};

use crate::library::{Arg, CallError, Conv, Dir, Field, FieldType, Layout, Library, Struct, Type, Value};
use x86wow_wow64::Process;

/// The DLL every input calls into (imports only ntdll).
const DLL: &[u8] = include_bytes!("../../../testdata/win32/interop.dll");

/// Instructions per fuzzed call (`spin` never returns).
const BUDGET: u64 = 200_000;

const TYPES: [Type; 14] = [
    Type::Void,
    Type::Bool,
    Type::U8,
    Type::U16,
    Type::U32,
    Type::U64,
    Type::I8,
    Type::I16,
    Type::I32,
    Type::I64,
    Type::F32,
    Type::F64,
    Type::Ptr,
    Type::Handle,
];

/// One fuzzed argument.
#[derive(Debug, Clone, Arbitrary)]
pub enum FuzzArg {
    /// A scalar of `TYPES[ty % 14]` from the bits.
    Scalar {
        ty: u8,
        bits: u64,
    },
    Null,
    Bytes {
        dir: u8,
        data: Vec<u8>,
    },
    Str {
        dir: u8,
        text: String,
        cap: u16,
    },
    WStr {
        dir: u8,
        text: String,
        cap: u16,
    },
    /// A structure: each field's kind and bits.
    Struct {
        dir: u8,
        fields: Vec<(u8, u64, Option<String>)>,
    },
}

/// The input of [`library_call`].
#[derive(Debug, Clone, Arbitrary)]
pub struct LibraryCall {
    /// Export by ordinal (1..=50 exist or are empty slots) when `by_ordinal`, else the
    /// `export`-th named export.
    pub export: u8,
    pub by_ordinal: bool,
    pub conv: u8,
    pub ret: u8,
    pub args: Vec<FuzzArg>,
}

fn dir(d: u8) -> Dir {
    [Dir::In, Dir::Out, Dir::InOut][d as usize % 3]
}

impl FuzzArg {
    fn to_arg(&self) -> Arg {
        match self {
            FuzzArg::Scalar { ty, bits } => {
                Arg::Val(Value::from_bits(TYPES[*ty as usize % TYPES.len()], *bits))
            }
            FuzzArg::Null => Arg::Null,
            FuzzArg::Bytes { dir: d, data } => Arg::Bytes { dir: dir(*d), data: data.clone() },
            FuzzArg::Str { dir: d, text, cap } => {
                Arg::Str { dir: dir(*d), text: text.clone(), cap: *cap as usize }
            }
            FuzzArg::WStr { dir: d, text, cap } => {
                Arg::WStr { dir: dir(*d), text: text.clone(), cap: *cap as usize }
            }
            FuzzArg::Struct { dir: d, fields } => {
                let kinds: Vec<(String, FieldType)> = fields
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _, _))| {
                        let t = match k % 17 {
                            14 => FieldType::CStr,
                            15 => FieldType::WStr,
                            16 => FieldType::Bytes,
                            n => FieldType::Scalar(TYPES[n as usize]),
                        };
                        (format!("f{i}"), t)
                    })
                    .collect();
                let named: Vec<(&str, FieldType)> = kinds.iter().map(|(n, t)| (n.as_str(), *t)).collect();
                let Ok(layout) = Layout::new(&named) else { return Arg::Null };
                let values = fields
                    .iter()
                    .zip(&kinds)
                    .map(|((_, bits, text), (_, t))| match t {
                        FieldType::Scalar(ty) => Field::Val(Value::from_bits(*ty, *bits)),
                        FieldType::CStr | FieldType::WStr => Field::Str(text.clone()),
                        FieldType::Bytes => Field::Bytes(text.clone().map(String::into_bytes)),
                    })
                    .collect();
                Arg::Struct { dir: dir(*d), value: Struct { layout, fields: values } }
            }
        }
    }
}

/// Calls one export of a freshly loaded interop.dll with the input's convention,
/// arguments and result type. Invariants: nothing panics; an argument the boundary
/// cannot carry is an error before the call; after any outcome but the process's end
/// the library still answers `add_stdcall(2, 40) = 42`, and a call that returned or
/// failed in marshalling leaves no argument memory behind.
pub fn library_call(data: &[u8]) {
    let Ok(c) = LibraryCall::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let root = super::scratch_dir("library_call");
    {
        let b = Process::builder().root(&root);
        let mut lib = Library::load_image(b, "interop.dll", DLL).expect("interop.dll loads");
        lib.set_budget(Some(BUDGET));
        let export = if c.by_ordinal {
            Some(c.export as u32 % 52)
        } else {
            let named: Vec<u32> =
                lib.exports().iter().filter(|e| e.name.is_some()).map(|e| e.ordinal).collect();
            named.get(c.export as usize % named.len().max(1)).copied()
        };
        let conv = [Conv::Stdcall, Conv::Cdecl, Conv::Fastcall, Conv::Thiscall][c.conv as usize % 4];
        let ret = TYPES[c.ret as usize % TYPES.len()];
        let mut args: Vec<Arg> = c.args.iter().take(16).map(FuzzArg::to_arg).collect();
        let before = lib.process().kernel.allocations().len();
        let r = match export {
            Some(o) => lib.call(o, conv, &mut args, ret),
            None => Err(CallError::NoSuchExport { export: String::new() }),
        };
        if let Ok(v) = &r {
            assert!(v.ty() == ret || ret == Type::Void, "{v:?} for {ret:?}");
        }
        let clean = matches!(
            r,
            Ok(_)
                | Err(CallError::BadArgument { .. })
                | Err(CallError::Narrowing { .. })
                | Err(CallError::NoSuchExport { .. })
                | Err(CallError::StackMismatch { .. })
        );
        if clean {
            assert_eq!(
                lib.process().kernel.allocations().len(),
                before,
                "argument memory left behind: {r:?}"
            );
        }
        if !matches!(r, Err(CallError::Exited { .. })) {
            let mut args = [Arg::from(2), Arg::from(40)];
            let again = lib.call("add_stdcall", Conv::Stdcall, &mut args, Type::I32);
            assert_eq!(again, Ok(Value::I32(42)), "after {r:?}");
        }
    }
    let _ = std::fs::remove_dir_all(&root);
}
