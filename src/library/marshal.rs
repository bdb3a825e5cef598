//! Copies arguments into guest memory for a call, and results back out.
//!
//! Everything a call points at lives in one allocation (the arena), laid out in
//! argument order with 16-byte alignment and freed when the call ends. Laying out is a
//! pure function of the arguments and the arena's base, so the size is found by laying
//! out at base 0 first.

use x86wow_wow64::Process;

use super::arg::{Arg, Dir};
use super::error::CallError;
use super::layout::{Field, FieldType, Struct};
use super::value::Value;

/// Longest string read back through a pointer the callee chose (64 KiB).
const MAX_STRING: usize = 0x1_0000;

/// Where an argument's data went.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    None,
    Data { addr: u32, len: u32 },
    Struct { addr: u32, fields: Vec<Place> },
}

/// An argument as the call passes it: its 32-bit slots, and whether it may travel in
/// a register (fastcall: 32 bits or less, not floating point).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Passed {
    pub slots: Vec<u32>,
    pub in_register: bool,
}

/// Arguments laid out in guest memory.
#[derive(Debug)]
pub(crate) struct Marshalled {
    pub passed: Vec<Passed>,
    arena: Option<u32>,
    places: Vec<Place>,
}

struct Layout {
    base: u32,
    at: u32,
    writes: Vec<(u32, Vec<u8>)>,
}

impl Layout {
    fn put(&mut self, bytes: Vec<u8>) -> Result<u32, CallError> {
        let len = bytes.len().max(1) as u32;
        let addr = self.base.checked_add(self.at).ok_or(CallError::BadArgument {
            index: None,
            why: "the arguments do not fit in 32-bit memory".into(),
        })?;
        self.at = self.at.checked_add(len).and_then(|a| a.checked_next_multiple_of(16)).ok_or(
            CallError::BadArgument { index: None, why: "the arguments do not fit in 32-bit memory".into() },
        )?;
        self.writes.push((addr, bytes));
        Ok(addr)
    }
}

fn utf16z(text: &str, cap: usize) -> Vec<u8> {
    let mut units: Vec<u16> = text.encode_utf16().collect();
    units.resize(cap.max(units.len() + 1), 0);
    units.iter().flat_map(|u| u.to_le_bytes()).collect()
}

fn bytesz(text: &str, cap: usize) -> Vec<u8> {
    let mut b = text.as_bytes().to_vec();
    b.resize(cap.max(b.len() + 1), 0);
    b
}

/// The bytes a pointer argument points at (zeroed for `Out`).
fn pointee(dir: Dir, mut bytes: Vec<u8>) -> Vec<u8> {
    if !dir.copies_in() {
        bytes.iter_mut().for_each(|b| *b = 0);
    }
    bytes
}

fn lay_struct(l: &mut Layout, dir: Dir, s: &Struct) -> Result<Place, CallError> {
    s.check()?;
    let offsets = s.layout.offsets32();
    let mut image = vec![0u8; s.layout.size32() as usize];
    let mut fields = Vec::with_capacity(s.fields.len());
    for (((name, t), f), &off) in s.layout.fields().zip(&s.fields).zip(&offsets) {
        let (bytes, place) = match (t, f) {
            (_, Field::Val(v)) => (v.to_guest().map_err(|e| e.in_field(name))?, Place::None),
            (_, Field::Str(None) | Field::Bytes(None)) => (vec![0; 4], Place::None),
            (FieldType::WStr, Field::Str(Some(text))) => {
                let b = utf16z(text, 0);
                let len = b.len() as u32;
                let addr = l.put(b)?;
                (addr.to_le_bytes().to_vec(), Place::Data { addr, len })
            }
            (_, Field::Str(Some(text))) => {
                let b = bytesz(text, 0);
                let len = b.len() as u32;
                let addr = l.put(b)?;
                (addr.to_le_bytes().to_vec(), Place::Data { addr, len })
            }
            (_, Field::Bytes(Some(data))) => {
                let len = data.len() as u32;
                let addr = l.put(data.clone())?;
                (addr.to_le_bytes().to_vec(), Place::Data { addr, len })
            }
        };
        image[off as usize..off as usize + bytes.len()].copy_from_slice(&bytes);
        fields.push(place);
    }
    if !dir.copies_in() {
        // An out structure starts zeroed; its pointer fields still point at their data.
        for ((_, t), &off) in s.layout.fields().zip(&offsets) {
            if let FieldType::Scalar(ty) = t {
                image[off as usize..(off + ty.size32()) as usize].fill(0);
            }
        }
    }
    let addr = l.put(image)?;
    Ok(Place::Struct { addr, fields })
}

fn lay_out(args: &[Arg], base: u32) -> Result<(Vec<Passed>, Vec<Place>, Layout), CallError> {
    let mut l = Layout { base, at: 0, writes: Vec::new() };
    let mut passed = Vec::with_capacity(args.len());
    let mut places = Vec::with_capacity(args.len());
    for (i, a) in args.iter().enumerate() {
        let (slots, place, in_register) = (|| -> Result<_, CallError> {
            Ok(match a {
                Arg::Val(Value::Void) => {
                    return Err(CallError::BadArgument {
                        index: None,
                        why: "void is not a value to pass".into(),
                    })
                }
                Arg::Val(v) => (v.slots()?, Place::None, v.ty().slots() == 1 && !v.ty().is_float()),
                Arg::Null => (vec![0], Place::None, true),
                Arg::Callback(cb) => (vec![cb.addr()], Place::None, true),
                Arg::Bytes { dir, data } => {
                    let addr = l.put(pointee(*dir, data.clone()))?;
                    (vec![addr], Place::Data { addr, len: data.len() as u32 }, true)
                }
                Arg::Str { dir, text, cap } => {
                    let b = pointee(*dir, bytesz(text, *cap));
                    let len = b.len() as u32;
                    let addr = l.put(b)?;
                    (vec![addr], Place::Data { addr, len }, true)
                }
                Arg::WStr { dir, text, cap } => {
                    let b = pointee(*dir, utf16z(text, *cap));
                    let len = b.len() as u32;
                    let addr = l.put(b)?;
                    (vec![addr], Place::Data { addr, len }, true)
                }
                Arg::Struct { dir, value } => {
                    let p = lay_struct(&mut l, *dir, value)?;
                    let Place::Struct { addr, .. } = p else {
                        unreachable!("lay_struct gives a struct place")
                    };
                    (vec![addr], p, true)
                }
            })
        })()
        .map_err(|e| e.at(i))?;
        passed.push(Passed { slots, in_register });
        places.push(place);
    }
    Ok((passed, places, l))
}

impl Marshalled {
    /// Lays the arguments out and copies them into a fresh guest allocation.
    pub fn new(p: &mut Process, args: &[Arg]) -> Result<Marshalled, CallError> {
        let (_, _, dry) = lay_out(args, 0)?;
        if dry.at == 0 {
            let (passed, places, _) = lay_out(args, 0)?;
            return Ok(Marshalled { passed, arena: None, places });
        }
        let base = p.alloc(dry.at)?;
        let laid = lay_out(args, base);
        let (passed, places, l) = match laid {
            Ok(v) => v,
            Err(e) => {
                let _ = p.free(base);
                return Err(e);
            }
        };
        let m = Marshalled { passed, arena: Some(base), places };
        for (addr, bytes) in &l.writes {
            if let Err(e) = p.write(*addr, bytes) {
                m.free(p);
                return Err(e.into());
            }
        }
        Ok(m)
    }

    /// Frees the arena.
    pub fn free(&self, p: &mut Process) {
        if let Some(a) = self.arena {
            let _ = p.free(a);
        }
    }

    /// Copies `Out`/`InOut` data back into the arguments.
    pub fn read_back(&self, p: &mut Process, args: &mut [Arg]) -> Result<(), CallError> {
        for (a, place) in args.iter_mut().zip(&self.places) {
            match (a, place) {
                (Arg::Bytes { dir, data }, Place::Data { addr, len }) if dir.copies_out() => {
                    *data = p.read(*addr, *len as usize)?;
                }
                (Arg::Str { dir, text, .. }, Place::Data { addr, len }) if dir.copies_out() => {
                    let b = p.read(*addr, *len as usize)?;
                    *text = narrow_text(&b);
                }
                (Arg::WStr { dir, text, .. }, Place::Data { addr, len }) if dir.copies_out() => {
                    let b = p.read(*addr, *len as usize)?;
                    *text = wide_text(&b);
                }
                (Arg::Struct { dir, value }, Place::Struct { addr, fields }) if dir.copies_out() => {
                    read_struct(p, *addr, value, fields)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn narrow_text(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn wide_text(b: &[u8]) -> String {
    let units: Vec<u16> =
        b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).take_while(|&u| u != 0).collect();
    String::from_utf16_lossy(&units)
}

/// Reads a NUL-terminated string of `unit`-byte characters the callee points at,
/// stopping at the first inaccessible byte.
pub(crate) fn read_string(p: &mut Process, addr: u32, unit: usize) -> Result<String, CallError> {
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < MAX_STRING * unit {
        // Page by page, so a string that ends just before an unmapped page reads.
        let in_page = (0x1000 - (at & 0xFFF)) as usize;
        let chunk = p.read(at, in_page)?;
        for c in chunk.chunks_exact(unit) {
            if c.iter().all(|&b| b == 0) {
                return Ok(if unit == 1 { narrow_text(&out) } else { wide_text(&out) });
            }
            out.extend_from_slice(c);
        }
        at = at.checked_add(in_page as u32).ok_or(CallError::Memory { addr: at as u64, len: 1 })?;
    }
    Err(CallError::BadArgument {
        index: None,
        why: format!("no NUL in the first {MAX_STRING} characters at {addr:#010x}"),
    })
}

fn read_struct(p: &mut Process, addr: u32, s: &mut Struct, places: &[Place]) -> Result<(), CallError> {
    let image = p.read(addr, s.layout.size32() as usize)?;
    let offsets = s.layout.offsets32();
    let types: Vec<(String, FieldType)> = s.layout.fields().map(|(n, t)| (n.to_string(), t)).collect();
    for (i, (name, t)) in types.iter().enumerate() {
        let off = offsets[i] as usize;
        let raw = Value::from_guest(t.stored(), &image[off..]);
        s.fields[i] = match t {
            FieldType::Scalar(_) => Field::Val(raw),
            FieldType::CStr | FieldType::WStr => {
                let Value::Ptr(ptr) = raw else { unreachable!("pointer fields read as pointers") };
                if ptr == 0 {
                    Field::Str(None)
                } else {
                    let unit = if *t == FieldType::CStr { 1 } else { 2 };
                    Field::Str(Some(read_string(p, ptr as u32, unit).map_err(|e| e.in_field(name))?))
                }
            }
            FieldType::Bytes => {
                let Value::Ptr(ptr) = raw else { unreachable!("pointer fields read as pointers") };
                // Read back with the length the data went in with.
                let len = match (&s.fields[i], &places[i]) {
                    (_, Place::Data { len, .. }) => *len as usize,
                    _ => 0,
                };
                if ptr == 0 {
                    Field::Bytes(None)
                } else {
                    Field::Bytes(Some(p.read(ptr as u32, len)?))
                }
            }
        };
    }
    Ok(())
}
