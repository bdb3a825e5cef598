//! Call arguments: scalars, and data the marshaller copies into guest memory for the
//! call and back out of it afterwards.

use super::layout::Struct;
use super::value::Value;
use super::Callback;

/// Which way pointed-to data travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Copied into guest memory before the call.
    In,
    /// Guest memory of the given size (zeroed) is passed; read back after the call.
    Out,
    /// Copied in, and read back after the call.
    InOut,
}

impl Dir {
    pub fn copies_in(self) -> bool {
        self != Dir::Out
    }

    pub fn copies_out(self) -> bool {
        self != Dir::In
    }
}

/// One argument of a call. Pointer arguments point at a copy in guest memory that
/// lives for the duration of the call; after it, `Out` and `InOut` arguments hold what
/// the callee left there.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A scalar, a raw guest pointer or a handle.
    Val(Value),
    /// A NULL pointer.
    Null,
    /// A pointer to bytes.
    Bytes { dir: Dir, data: Vec<u8> },
    /// A pointer to a NUL-terminated 8-bit string (the text's UTF-8 bytes; ASCII is the
    /// same in every ANSI code page). `cap` is the buffer's size in bytes including the
    /// NUL (at least the text's length + 1).
    Str { dir: Dir, text: String, cap: usize },
    /// A pointer to a NUL-terminated UTF-16 string; `cap` counts 16-bit units.
    WStr { dir: Dir, text: String, cap: usize },
    /// A pointer to a structure, in its 32-bit layout.
    Struct { dir: Dir, value: Struct },
    /// A host callback, as a 32-bit function pointer.
    Callback(Callback),
}

impl Arg {
    /// Bytes the callee reads.
    pub fn bytes_in(data: impl Into<Vec<u8>>) -> Arg {
        Arg::Bytes { dir: Dir::In, data: data.into() }
    }

    /// A zeroed buffer of `len` bytes the callee fills.
    pub fn bytes_out(len: usize) -> Arg {
        Arg::Bytes { dir: Dir::Out, data: vec![0; len] }
    }

    /// Bytes the callee reads and changes.
    pub fn bytes_inout(data: impl Into<Vec<u8>>) -> Arg {
        Arg::Bytes { dir: Dir::InOut, data: data.into() }
    }

    /// A string the callee reads.
    pub fn str(text: &str) -> Arg {
        Arg::Str { dir: Dir::In, text: text.into(), cap: text.len() + 1 }
    }

    /// A string buffer of `cap` bytes (NUL included) the callee fills.
    pub fn str_out(cap: usize) -> Arg {
        Arg::Str { dir: Dir::Out, text: String::new(), cap }
    }

    /// A string the callee changes in place, in a buffer of at least `cap` bytes.
    pub fn str_inout(text: &str, cap: usize) -> Arg {
        Arg::Str { dir: Dir::InOut, text: text.into(), cap: cap.max(text.len() + 1) }
    }

    /// A UTF-16 string the callee reads.
    pub fn wstr(text: &str) -> Arg {
        Arg::WStr { dir: Dir::In, text: text.into(), cap: text.encode_utf16().count() + 1 }
    }

    /// A UTF-16 buffer of `cap` units (NUL included) the callee fills.
    pub fn wstr_out(cap: usize) -> Arg {
        Arg::WStr { dir: Dir::Out, text: String::new(), cap }
    }

    /// A structure passed by pointer.
    pub fn by_ref(dir: Dir, value: Struct) -> Arg {
        Arg::Struct { dir, value }
    }

    /// The bytes of a `Bytes` argument.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Arg::Bytes { data, .. } => Some(data),
            _ => None,
        }
    }

    /// The text of a `Str` or `WStr` argument.
    pub fn text(&self) -> Option<&str> {
        match self {
            Arg::Str { text, .. } | Arg::WStr { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The structure of a `Struct` argument.
    pub fn structure(&self) -> Option<&Struct> {
        match self {
            Arg::Struct { value, .. } => Some(value),
            _ => None,
        }
    }
}

impl<T: Into<Value>> From<T> for Arg {
    fn from(v: T) -> Arg {
        Arg::Val(v.into())
    }
}
