//! The binary encoding (little-endian; `docs/trace-format.md`).
//!
//! ```text
//! header: "X86WTRC\0" | version u16 | flags u16 (0) | n u32 | initial state, n bytes of JSON
//! step:   0x01 | eip u32 | len u8 | bytes[len] | nregs u8 | nregs x (id u8, value[width(id)])
//!              | nwrites u16 | nwrites x (addr u32, len u16, bytes[len])
//! stop:   0x02 | eip u32 | registers and writes as in a step | n u32 | exit object, n bytes of JSON
//!         (the last record)
//! ```

use x86wow_cpu::state::MachineState;

use super::regs::REGS;
use super::{Step, Stop, Trace, TraceError, VERSION};
use crate::oracle::exit::exit_from_json;

/// The first eight bytes of a binary trace.
pub const MAGIC: &[u8; 8] = b"X86WTRC\0";
const STEP: u8 = 1;
const STOP: u8 = 2;

/// Encodes a trace.
pub fn encode(t: &Trace) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    let init = t.initial.to_json(None).to_string();
    out.extend_from_slice(&(init.len() as u32).to_le_bytes());
    out.extend_from_slice(init.as_bytes());
    for s in &t.steps {
        out.push(STEP);
        out.extend_from_slice(&s.eip.to_le_bytes());
        out.push(s.bytes.len() as u8);
        out.extend_from_slice(&s.bytes);
        changes(&mut out, &s.regs, &s.writes);
    }
    out.push(STOP);
    out.extend_from_slice(&t.stop.eip.to_le_bytes());
    changes(&mut out, &t.stop.regs, &t.stop.writes);
    let exit = t.stop.exit.to_json().to_string();
    out.extend_from_slice(&(exit.len() as u32).to_le_bytes());
    out.extend_from_slice(exit.as_bytes());
    out
}

/// Register deltas and memory writes.
fn changes(out: &mut Vec<u8>, regs: &[(u8, u128)], writes: &[(u32, Vec<u8>)]) {
    out.push(regs.len() as u8);
    for &(id, v) in regs {
        out.push(id);
        out.extend_from_slice(&v.to_le_bytes()[..REGS[id as usize].bytes as usize]);
    }
    out.extend_from_slice(&(writes.len() as u16).to_le_bytes());
    for (addr, data) in writes {
        out.extend_from_slice(&addr.to_le_bytes());
        out.extend_from_slice(&(data.len() as u16).to_le_bytes());
        out.extend_from_slice(data);
    }
}

type Changes = (Vec<(u8, u128)>, Vec<(u32, Vec<u8>)>);

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TraceError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or(TraceError::Truncated { at: self.pos })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, TraceError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, TraceError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }
    fn u32(&mut self) -> Result<u32, TraceError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn changes(&mut self, at: usize) -> Result<Changes, TraceError> {
        let nregs = self.u8()?;
        let mut regs = Vec::with_capacity(nregs as usize);
        for _ in 0..nregs {
            let id = self.u8()?;
            let def = REGS
                .get(id as usize)
                .ok_or_else(|| TraceError::Malformed { at, message: format!("unknown register id {id}") })?;
            let mut v = [0u8; 16];
            v[..def.bytes as usize].copy_from_slice(self.take(def.bytes as usize)?);
            regs.push((id, u128::from_le_bytes(v)));
        }
        let nw = self.u16()?;
        let mut writes = Vec::with_capacity(nw as usize);
        for _ in 0..nw {
            let addr = self.u32()?;
            let len = self.u16()? as usize;
            writes.push((addr, self.take(len)?.to_vec()));
        }
        Ok((regs, writes))
    }

    fn json(&mut self) -> Result<serde_json::Value, TraceError> {
        let at = self.pos;
        let n = self.u32()? as usize;
        let text = self.take(n)?;
        serde_json::from_slice(text).map_err(|e| TraceError::Malformed { at, message: e.to_string() })
    }
}

/// Decodes a binary trace.
pub fn decode(data: &[u8]) -> Result<Trace, TraceError> {
    let mut r = Reader { data, pos: 0 };
    if r.take(8).ok() != Some(MAGIC.as_slice()) {
        return Err(TraceError::NotATrace);
    }
    let version = r.u16()?;
    if version != VERSION {
        return Err(TraceError::Version(version));
    }
    let _flags = r.u16()?;
    let at = r.pos;
    let initial = MachineState::from_json(&r.json()?)
        .map_err(|e| TraceError::Malformed { at, message: format!("initial state: {e}") })?;
    let mut steps = Vec::new();
    loop {
        let at = r.pos;
        match r.u8()? {
            STEP => {
                let eip = r.u32()?;
                let n = r.u8()? as usize;
                let bytes = r.take(n)?.to_vec();
                let (regs, writes) = r.changes(at)?;
                steps.push(Step { eip, bytes, regs, writes });
            }
            STOP => {
                let eip = r.u32()?;
                let (regs, writes) = r.changes(at)?;
                let at = r.pos;
                let exit =
                    exit_from_json(&r.json()?).map_err(|message| TraceError::Malformed { at, message })?;
                if r.pos != data.len() {
                    return Err(TraceError::Malformed {
                        at: r.pos,
                        message: "data after the stop record".into(),
                    });
                }
                return Ok(Trace { initial, steps, stop: Stop { eip, exit, regs, writes } });
            }
            k => return Err(TraceError::Malformed { at, message: format!("unknown record kind {k:#x}") }),
        }
    }
}
