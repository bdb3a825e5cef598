//! Types and values that cross the 32/64-bit boundary, and the calling conventions.

use std::fmt;
use std::str::FromStr;

use super::error::CallError;

/// A 32-bit calling convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Conv {
    /// Arguments on the stack, right to left; the callee removes them (`ret n`).
    Stdcall,
    /// Arguments on the stack, right to left; the caller removes them.
    Cdecl,
    /// The first two arguments of 32 bits or less (left to right) in ECX and EDX, the
    /// rest on the stack; the callee removes the stack ones.
    Fastcall,
    /// `this` (the first argument, a pointer) in ECX, the rest on the stack; the callee
    /// removes them.
    Thiscall,
}

impl Conv {
    /// Whether the callee removes its stack arguments.
    pub fn callee_pops(self) -> bool {
        self != Conv::Cdecl
    }
}

impl FromStr for Conv {
    type Err = CallError;
    fn from_str(s: &str) -> Result<Self, CallError> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "stdcall" | "winapi" => Conv::Stdcall,
            "cdecl" => Conv::Cdecl,
            "fastcall" => Conv::Fastcall,
            "thiscall" => Conv::Thiscall,
            _ => {
                return Err(CallError::BadArgument {
                    index: None,
                    why: format!("unknown calling convention {s:?}"),
                })
            }
        })
    }
}

impl fmt::Display for Conv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Conv::Stdcall => "stdcall",
            Conv::Cdecl => "cdecl",
            Conv::Fastcall => "fastcall",
            Conv::Thiscall => "thiscall",
        })
    }
}

/// A scalar type of the 32-bit ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    Void,
    /// Win32 `BOOL`: 32 bits, non-zero is true.
    Bool,
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
    F32,
    F64,
    /// A guest pointer: 32 bits in the guest, zero-extended to 64 on the host.
    Ptr,
    /// A handle: 32 bits in the guest, sign-extended to 64 on the host (HANDLE_PTR).
    Handle,
}

impl Type {
    /// Bytes in a 32-bit argument slot sequence or struct (0 for void).
    pub fn size32(self) -> u32 {
        match self {
            Type::Void => 0,
            Type::U8 | Type::I8 => 1,
            Type::U16 | Type::I16 => 2,
            Type::Bool | Type::U32 | Type::I32 | Type::F32 | Type::Ptr | Type::Handle => 4,
            Type::U64 | Type::I64 | Type::F64 => 8,
        }
    }

    /// Bytes in the 64-bit host layout: pointers and handles grow to 8.
    pub fn size64(self) -> u32 {
        match self {
            Type::Ptr | Type::Handle => 8,
            t => t.size32(),
        }
    }

    /// Whether the value travels in ST(0) when returned.
    pub fn is_float(self) -> bool {
        matches!(self, Type::F32 | Type::F64)
    }

    /// 4-byte argument slots the type takes on the stack.
    pub fn slots(self) -> usize {
        match self {
            Type::Void => 0,
            t if t.size32() == 8 => 2,
            _ => 1,
        }
    }
}

impl FromStr for Type {
    type Err = CallError;
    fn from_str(s: &str) -> Result<Self, CallError> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "void" => Type::Void,
            "bool" => Type::Bool,
            "u8" => Type::U8,
            "u16" => Type::U16,
            "u32" => Type::U32,
            "u64" => Type::U64,
            "i8" => Type::I8,
            "i16" => Type::I16,
            "i32" => Type::I32,
            "i64" => Type::I64,
            "f32" => Type::F32,
            "f64" => Type::F64,
            "ptr" => Type::Ptr,
            "handle" => Type::Handle,
            _ => return Err(CallError::BadArgument { index: None, why: format!("unknown type {s:?}") }),
        })
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = format!("{self:?}").to_ascii_lowercase();
        f.write_str(&s)
    }
}

/// A scalar value as the host sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Void,
    Bool(bool),
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    /// A guest address (must be below 4 GiB to cross into the guest).
    Ptr(u64),
    /// A 64-bit handle value; it crosses into the guest only if it is the
    /// sign-extension of its low 32 bits.
    Handle(u64),
}

impl Value {
    pub fn ty(&self) -> Type {
        match self {
            Value::Void => Type::Void,
            Value::Bool(_) => Type::Bool,
            Value::U8(_) => Type::U8,
            Value::U16(_) => Type::U16,
            Value::U32(_) => Type::U32,
            Value::U64(_) => Type::U64,
            Value::I8(_) => Type::I8,
            Value::I16(_) => Type::I16,
            Value::I32(_) => Type::I32,
            Value::I64(_) => Type::I64,
            Value::F32(_) => Type::F32,
            Value::F64(_) => Type::F64,
            Value::Ptr(_) => Type::Ptr,
            Value::Handle(_) => Type::Handle,
        }
    }

    /// The value's bytes in the 32-bit guest layout (integers sign- or zero-extended
    /// to the type's size, pointers and handles narrowed under the boundary's rules).
    pub fn to_guest(&self) -> Result<Vec<u8>, CallError> {
        Ok(match *self {
            Value::Void => Vec::new(),
            Value::Bool(b) => (b as u32).to_le_bytes().to_vec(),
            Value::U8(v) => vec![v],
            Value::I8(v) => vec![v as u8],
            Value::U16(v) => v.to_le_bytes().to_vec(),
            Value::I16(v) => v.to_le_bytes().to_vec(),
            Value::U32(v) => v.to_le_bytes().to_vec(),
            Value::I32(v) => v.to_le_bytes().to_vec(),
            Value::U64(v) => v.to_le_bytes().to_vec(),
            Value::I64(v) => v.to_le_bytes().to_vec(),
            Value::F32(v) => v.to_bits().to_le_bytes().to_vec(),
            Value::F64(v) => v.to_bits().to_le_bytes().to_vec(),
            Value::Ptr(p) => narrow_ptr(p)?.to_le_bytes().to_vec(),
            Value::Handle(h) => narrow_handle(h)?.to_le_bytes().to_vec(),
        })
    }

    /// The 32-bit argument slots of the value (small integers extended to 32 bits as
    /// the ABI's caller does, 64-bit values low half first).
    pub fn slots(&self) -> Result<Vec<u32>, CallError> {
        Ok(match *self {
            Value::Void => Vec::new(),
            Value::Bool(b) => vec![b as u32],
            Value::U8(v) => vec![v as u32],
            Value::I8(v) => vec![v as i32 as u32],
            Value::U16(v) => vec![v as u32],
            Value::I16(v) => vec![v as i32 as u32],
            Value::U32(v) => vec![v],
            Value::I32(v) => vec![v as u32],
            Value::F32(v) => vec![v.to_bits()],
            Value::Ptr(p) => vec![narrow_ptr(p)?],
            Value::Handle(h) => vec![narrow_handle(h)?],
            Value::U64(v) => vec![v as u32, (v >> 32) as u32],
            Value::I64(v) => vec![v as u32, (v as u64 >> 32) as u32],
            Value::F64(v) => vec![v.to_bits() as u32, (v.to_bits() >> 32) as u32],
        })
    }

    /// Reads a value of type `ty` from its 32-bit guest bytes (pointers zero-extended,
    /// handles sign-extended). `b` must hold `ty.size32()` bytes.
    pub fn from_guest(ty: Type, b: &[u8]) -> Value {
        let mut w = [0u8; 8];
        let n = (ty.size32() as usize).min(b.len());
        w[..n].copy_from_slice(&b[..n]);
        let q = u64::from_le_bytes(w);
        Value::from_bits(ty, q)
    }

    /// A value of type `ty` from the low bits of `q` (EDX:EAX, a slot pair...).
    pub fn from_bits(ty: Type, q: u64) -> Value {
        match ty {
            Type::Void => Value::Void,
            Type::Bool => Value::Bool(q as u32 != 0),
            Type::U8 => Value::U8(q as u8),
            Type::I8 => Value::I8(q as i8),
            Type::U16 => Value::U16(q as u16),
            Type::I16 => Value::I16(q as i16),
            Type::U32 => Value::U32(q as u32),
            Type::I32 => Value::I32(q as i32),
            Type::U64 => Value::U64(q),
            Type::I64 => Value::I64(q as i64),
            Type::F32 => Value::F32(f32::from_bits(q as u32)),
            Type::F64 => Value::F64(f64::from_bits(q)),
            Type::Ptr => Value::Ptr(q as u32 as u64),
            Type::Handle => Value::Handle(q as u32 as i32 as i64 as u64),
        }
    }

    /// The value converted to type `ty` from a number given without one (the JSON
    /// protocol and the command line): integers must fit, floats are rounded.
    pub fn parse_as(ty: Type, text: &str) -> Result<Value, CallError> {
        let bad = || CallError::BadArgument { index: None, why: format!("{text:?} is not a {ty}") };
        let int = |t: &str| -> Option<i128> {
            let (neg, t) = match t.strip_prefix('-') {
                Some(r) => (true, r),
                None => (false, t),
            };
            let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(h) => i128::from_str_radix(h, 16).ok()?,
                None => t.parse::<i128>().ok()?,
            };
            Some(if neg { -v } else { v })
        };
        let t = text.trim();
        Ok(match ty {
            Type::Void => return Err(bad()),
            Type::Bool => match t {
                "true" | "1" => Value::Bool(true),
                "false" | "0" => Value::Bool(false),
                _ => return Err(bad()),
            },
            Type::F32 => Value::F32(t.parse().map_err(|_| bad())?),
            Type::F64 => Value::F64(t.parse().map_err(|_| bad())?),
            _ => {
                let v = int(t).ok_or_else(bad)?;
                let fit = |lo: i128, hi: i128| if (lo..=hi).contains(&v) { Ok(v) } else { Err(bad()) };
                match ty {
                    Type::U8 => Value::U8(fit(0, u8::MAX as i128)? as u8),
                    Type::I8 => Value::I8(fit(i8::MIN as i128, i8::MAX as i128)? as i8),
                    Type::U16 => Value::U16(fit(0, u16::MAX as i128)? as u16),
                    Type::I16 => Value::I16(fit(i16::MIN as i128, i16::MAX as i128)? as i16),
                    Type::U32 => Value::U32(fit(0, u32::MAX as i128)? as u32),
                    Type::I32 => Value::I32(fit(i32::MIN as i128, i32::MAX as i128)? as i32),
                    Type::U64 => Value::U64(fit(0, u64::MAX as i128)? as u64),
                    Type::I64 => Value::I64(fit(i64::MIN as i128, i64::MAX as i128)? as i64),
                    Type::Ptr => Value::Ptr(fit(0, u64::MAX as i128)? as u64),
                    // Handles are 64-bit on the wire: -1 and 0xFFFFFFFFFFFFFFFF are the
                    // same handle.
                    Type::Handle => Value::Handle(fit(i64::MIN as i128, u64::MAX as i128)? as u64),
                    _ => unreachable!("floats and bool handled above"),
                }
            }
        })
    }

    /// The value as i128 (integers, pointers, handles as signed 64-bit), for display
    /// and the protocol.
    pub fn as_i128(&self) -> Option<i128> {
        Some(match *self {
            Value::Bool(b) => b as i128,
            Value::U8(v) => v as i128,
            Value::U16(v) => v as i128,
            Value::U32(v) => v as i128,
            Value::U64(v) => v as i128,
            Value::I8(v) => v as i128,
            Value::I16(v) => v as i128,
            Value::I32(v) => v as i128,
            Value::I64(v) => v as i128,
            Value::Ptr(v) => v as i128,
            Value::Handle(v) => v as i64 as i128,
            Value::Void | Value::F32(_) | Value::F64(_) => return None,
        })
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Void => f.write_str("void"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::F32(v) => write!(f, "{v:?}"),
            Value::F64(v) => write!(f, "{v:?}"),
            Value::Ptr(p) => write!(f, "{p:#010x}"),
            v => write!(f, "{}", v.as_i128().unwrap_or_default()),
        }
    }
}

/// A guest pointer from a host value: pointers are zero-extended across the boundary,
/// so one above 4 GiB has no 32-bit form.
pub fn narrow_ptr(p: u64) -> Result<u32, CallError> {
    u32::try_from(p).map_err(|_| CallError::Narrowing { what: "pointer", value: p, field: None })
}

/// A guest handle from a 64-bit one: only values that are the sign-extension of their
/// low 32 bits cross (HANDLE_PTR is 64 bits on the wire; it is never truncated).
pub fn narrow_handle(h: u64) -> Result<u32, CallError> {
    if h as u32 as i32 as i64 as u64 == h {
        Ok(h as u32)
    } else {
        Err(CallError::Narrowing { what: "handle", value: h, field: None })
    }
}

macro_rules! from_scalar {
    ($($t:ty => $v:ident),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::$v(v)
            }
        }
    )*};
}
from_scalar!(bool => Bool, u8 => U8, u16 => U16, u32 => U32, u64 => U64, i8 => I8, i16 => I16,
    i32 => I32, i64 => I64, f32 => F32, f64 => F64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_cross_only_when_they_sign_extend() {
        assert_eq!(narrow_handle(u64::MAX).unwrap(), 0xFFFF_FFFF, "NtCurrentProcess");
        assert_eq!(narrow_handle(0x7FFF_FFFF).unwrap(), 0x7FFF_FFFF);
        assert!(narrow_handle(0x8000_0000).is_err(), "would come back as 0xFFFFFFFF80000000");
        assert!(narrow_handle(0x1_0000_0004).is_err());
        assert_eq!(Value::from_bits(Type::Handle, 0xFFFF_FFFE), Value::Handle(0xFFFF_FFFF_FFFF_FFFE));
        assert_eq!(Value::from_bits(Type::Ptr, 0xFFFF_FFFE), Value::Ptr(0xFFFF_FFFE), "pointers zero-extend");
        assert!(narrow_ptr(0x1_0000_0000).is_err());
    }

    #[test]
    fn small_integers_are_extended_in_their_slot() {
        assert_eq!(Value::I8(-2).slots().unwrap(), vec![0xFFFF_FFFE]);
        assert_eq!(Value::U16(0xFFFF).slots().unwrap(), vec![0xFFFF]);
        assert_eq!(Value::I64(-2).slots().unwrap(), vec![0xFFFF_FFFE, 0xFFFF_FFFF]);
        assert_eq!(Value::F64(1.0).slots().unwrap(), vec![0, 0x3FF0_0000]);
    }

    #[test]
    fn parsing_checks_ranges() {
        assert_eq!(Value::parse_as(Type::I8, "-128").unwrap(), Value::I8(-128));
        assert!(Value::parse_as(Type::I8, "128").is_err());
        assert_eq!(Value::parse_as(Type::U32, "0xffffffff").unwrap(), Value::U32(u32::MAX));
        assert_eq!(Value::parse_as(Type::Handle, "-1").unwrap(), Value::Handle(u64::MAX));
        assert_eq!(Value::parse_as(Type::F64, "2.5").unwrap(), Value::F64(2.5));
        assert!(Value::parse_as(Type::U64, "x").is_err());
        assert_eq!("thiscall".parse::<Conv>().unwrap(), Conv::Thiscall);
        assert_eq!("handle".parse::<Type>().unwrap(), Type::Handle);
    }
}
