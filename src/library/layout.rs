//! Structures that cross the boundary: one description, two layouts.
//!
//! A C structure has a different shape in a 32-bit DLL than in the 64-bit host:
//! pointers and handles shrink from 8 bytes to 4, which moves every field after them
//! (and alignment padding with them). A [`Layout`] lists the fields once and computes
//! both shapes with the natural alignment rules MSVC and MinGW use on x86 and x64 (each
//! field aligned to its size, 8-byte integers and doubles to 8 on both, the whole
//! structure padded to its largest alignment).

use super::error::CallError;
use super::value::{narrow_handle, narrow_ptr, Type, Value};

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A scalar, pointer or handle.
    Scalar(Type),
    /// A pointer to a NUL-terminated ANSI string.
    CStr,
    /// A pointer to a NUL-terminated UTF-16 string.
    WStr,
    /// A pointer to bytes.
    Bytes,
}

impl FieldType {
    fn size32(self) -> u32 {
        match self {
            FieldType::Scalar(t) => t.size32(),
            _ => 4,
        }
    }

    fn size64(self) -> u32 {
        match self {
            FieldType::Scalar(t) => t.size64(),
            _ => 8,
        }
    }

    /// The field's type as it sits in memory (pointer-valued fields are pointers).
    pub fn stored(self) -> Type {
        match self {
            FieldType::Scalar(t) => t,
            _ => Type::Ptr,
        }
    }
}

/// The fields of a structure, with their offsets in both layouts.
///
/// ```
/// use x86wow::library::{FieldType, Layout, Type};
///
/// // struct { unsigned id; const char *name; HANDLE h; double w; }
/// let l = Layout::new(&[
///     ("id", FieldType::Scalar(Type::U32)),
///     ("name", FieldType::CStr),
///     ("h", FieldType::Scalar(Type::Handle)),
///     ("w", FieldType::Scalar(Type::F64)),
/// ])
/// .unwrap();
/// assert_eq!(l.offsets32(), vec![0, 4, 8, 16]);
/// assert_eq!(l.offsets64(), vec![0, 8, 16, 24]);
/// assert_eq!((l.size32(), l.size64()), (24, 32));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    fields: Vec<(String, FieldType)>,
    off32: Vec<u32>,
    off64: Vec<u32>,
    size32: u32,
    size64: u32,
}

/// Offsets and total size for natural alignment.
fn place(sizes: impl Iterator<Item = u32>) -> (Vec<u32>, u32) {
    let mut off = Vec::new();
    let (mut at, mut align) = (0u32, 1u32);
    for s in sizes {
        let a = s.max(1);
        at = at.next_multiple_of(a);
        off.push(at);
        at += s;
        align = align.max(a);
    }
    (off, at.next_multiple_of(align))
}

/// At most this many fields in one structure (a bound for layouts read from clients).
const MAX_FIELDS: usize = 256;

impl Layout {
    pub fn new(fields: &[(&str, FieldType)]) -> Result<Layout, CallError> {
        if fields.len() > MAX_FIELDS {
            return Err(CallError::BadArgument {
                index: None,
                why: format!("{} fields (at most {MAX_FIELDS})", fields.len()),
            });
        }
        if let Some((n, _)) = fields.iter().find(|(_, t)| *t == FieldType::Scalar(Type::Void)) {
            return Err(CallError::BadArgument { index: None, why: format!("field {n} is void") });
        }
        let (off32, size32) = place(fields.iter().map(|(_, t)| t.size32()));
        let (off64, size64) = place(fields.iter().map(|(_, t)| t.size64()));
        Ok(Layout {
            fields: fields.iter().map(|(n, t)| (n.to_string(), *t)).collect(),
            off32,
            off64,
            size32,
            size64,
        })
    }

    pub fn fields(&self) -> impl Iterator<Item = (&str, FieldType)> {
        self.fields.iter().map(|(n, t)| (n.as_str(), *t))
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn offsets32(&self) -> Vec<u32> {
        self.off32.clone()
    }

    pub fn offsets64(&self) -> Vec<u32> {
        self.off64.clone()
    }

    pub fn size32(&self) -> u32 {
        self.size32
    }

    pub fn size64(&self) -> u32 {
        self.size64
    }

    /// Rebuilds a structure from its 64-bit host layout in the 32-bit one: pointers
    /// must lie below 4 GiB (they are zero-extended the other way), handles must be
    /// sign-extended 32-bit values; padding becomes zero.
    pub fn narrow(&self, host: &[u8]) -> Result<Vec<u8>, CallError> {
        fits(host, self.size64)?;
        let mut out = vec![0u8; self.size32 as usize];
        for (i, (name, t)) in self.fields.iter().enumerate() {
            let (o64, o32) = (self.off64[i] as usize, self.off32[i] as usize);
            let src = &host[o64..o64 + t.size64() as usize];
            let bytes = match t.stored() {
                Type::Ptr | Type::Handle => {
                    let v = u64::from_le_bytes(src.try_into().expect("8 bytes"));
                    let n = if t.stored() == Type::Ptr { narrow_ptr(v) } else { narrow_handle(v) };
                    n.map_err(|e| e.in_field(name))?.to_le_bytes().to_vec()
                }
                _ => src.to_vec(),
            };
            out[o32..o32 + bytes.len()].copy_from_slice(&bytes);
        }
        Ok(out)
    }

    /// Rebuilds a structure from its 32-bit guest layout in the 64-bit one (pointers
    /// zero-extended, handles sign-extended).
    pub fn widen(&self, guest: &[u8]) -> Result<Vec<u8>, CallError> {
        fits(guest, self.size32)?;
        let mut out = vec![0u8; self.size64 as usize];
        for (i, (_, t)) in self.fields.iter().enumerate() {
            let (o64, o32) = (self.off64[i] as usize, self.off32[i] as usize);
            let v = Value::from_guest(t.stored(), &guest[o32..o32 + t.size32() as usize]);
            let bytes = match v {
                Value::Ptr(p) | Value::Handle(p) => p.to_le_bytes().to_vec(),
                v => v.to_guest()?,
            };
            out[o64..o64 + bytes.len()].copy_from_slice(&bytes);
        }
        Ok(out)
    }
}

/// An error unless `bytes` holds a whole `size`-byte structure image.
fn fits(bytes: &[u8], size: u32) -> Result<(), CallError> {
    if bytes.len() < size as usize {
        return Err(CallError::BadArgument {
            index: None,
            why: format!("{} bytes for a {size}-byte structure", bytes.len()),
        });
    }
    Ok(())
}

/// The value of one field of a [`Struct`].
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Val(Value),
    /// A string for a [`FieldType::CStr`] or [`FieldType::WStr`] field (None = NULL).
    Str(Option<String>),
    /// Bytes for a [`FieldType::Bytes`] field (None = NULL).
    Bytes(Option<Vec<u8>>),
}

/// A structure's values, marshalled into guest memory in the 32-bit layout and read
/// back after the call. Pointer-valued fields ([`FieldType::CStr`], `WStr`, `Bytes`)
/// are copied into guest memory of their own; after the call a string field holds
/// the string its pointer then points to (the callee may have redirected it), and a
/// bytes field its bytes as the callee left them.
#[derive(Debug, Clone, PartialEq)]
pub struct Struct {
    pub layout: Layout,
    pub fields: Vec<Field>,
}

impl Struct {
    /// A structure with every field zero (pointers NULL).
    pub fn zeroed(layout: &Layout) -> Struct {
        let fields = layout
            .fields()
            .map(|(_, t)| match t {
                FieldType::Scalar(ty) => Field::Val(Value::from_bits(ty, 0)),
                FieldType::CStr | FieldType::WStr => Field::Str(None),
                FieldType::Bytes => Field::Bytes(None),
            })
            .collect();
        Struct { layout: layout.clone(), fields }
    }

    /// Sets a field by name.
    pub fn set(&mut self, name: &str, value: Field) -> Result<&mut Self, CallError> {
        let i = self.index(name)?;
        self.fields[i] = value;
        Ok(self)
    }

    /// A field by name.
    pub fn get(&self, name: &str) -> Result<&Field, CallError> {
        Ok(&self.fields[self.index(name)?])
    }

    fn index(&self, name: &str) -> Result<usize, CallError> {
        self.layout
            .fields()
            .position(|(n, _)| n == name)
            .ok_or_else(|| CallError::BadArgument { index: None, why: format!("no field named {name}") })
    }

    /// Checks that each field's value suits its type.
    pub(crate) fn check(&self) -> Result<(), CallError> {
        if self.fields.len() != self.layout.len() {
            return Err(CallError::BadArgument {
                index: None,
                why: format!("{} values for {} fields", self.fields.len(), self.layout.len()),
            });
        }
        for ((name, t), f) in self.layout.fields().zip(&self.fields) {
            let ok = match (t, f) {
                (FieldType::Scalar(ty), Field::Val(v)) => v.ty() == ty,
                (FieldType::CStr | FieldType::WStr, Field::Str(_)) => true,
                (FieldType::Bytes, Field::Bytes(_)) => true,
                _ => false,
            };
            if !ok {
                return Err(CallError::BadArgument {
                    index: None,
                    why: format!("field {name} is {t:?}, not {f:?}"),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Layout {
        // The Record of testdata/win32/interop.c.
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

    #[test]
    fn offsets_match_the_compilers() {
        // 32-bit offsets are _Static_assert'ed in interop.c; the 64-bit ones are what
        // x64 MSVC/MinGW give the same declaration.
        let l = record();
        assert_eq!(l.offsets32(), vec![0, 4, 8, 16, 24, 28, 32]);
        assert_eq!(l.size32(), 40);
        assert_eq!(l.offsets64(), vec![0, 8, 16, 24, 32, 40, 48]);
        assert_eq!(l.size64(), 56);
    }

    #[test]
    fn narrow_and_widen_apply_the_boundary_rules() {
        let l = Layout::new(&[("p", FieldType::Scalar(Type::Ptr)), ("h", FieldType::Scalar(Type::Handle))])
            .unwrap();
        let mut host = Vec::new();
        host.extend_from_slice(&0x1234_5678u64.to_le_bytes());
        host.extend_from_slice(&u64::MAX.to_le_bytes());
        let guest = l.narrow(&host).unwrap();
        assert_eq!(guest, [0x78, 0x56, 0x34, 0x12, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(l.widen(&guest).unwrap(), host);
        // A pointer above 4 GiB and a handle that does not sign-extend do not cross.
        host[4] = 1;
        assert!(matches!(l.narrow(&host), Err(CallError::Narrowing { what: "pointer", .. })));
        host[4] = 0;
        host[8..16].copy_from_slice(&0x8000_0000u64.to_le_bytes());
        assert!(matches!(l.narrow(&host), Err(CallError::Narrowing { what: "handle", .. })));
        assert!(l.narrow(&host[..8]).is_err(), "short input is an error, not a panic");
    }

    #[test]
    fn fields_are_checked_against_the_layout() {
        let mut s = Struct::zeroed(&record());
        s.check().unwrap();
        s.set("id", Field::Val(Value::U32(7))).unwrap();
        assert!(s.set("nope", Field::Val(Value::U32(7))).is_err());
        s.set("id", Field::Val(Value::I32(7))).unwrap();
        assert!(s.check().is_err(), "an i32 in a u32 field");
    }
}
