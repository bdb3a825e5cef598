//! Thunks whose structures differ between 32 and 64 bits: information classes rebuilt
//! field by field, and the address-limit rules of 32-bit callers.

use super::{Arg, Call};
use crate::status::*;

const STATUS_PORT_NOT_SET: u32 = 0xC000_0353;
const STATUS_BUFFER_OVERFLOW: u32 = 0x8000_0005;

fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

fn le64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]))
}

/// A ULONG_PTR/SIZE_T narrowed for 32-bit code (clamped).
fn narrow(v: u64) -> u32 {
    v.min(0xFFFF_FFFF) as u32
}

struct Out(Vec<u8>);

impl Out {
    fn new(n: usize) -> Self {
        Out(vec![0; n])
    }
    fn u32(&mut self, o: usize, v: u32) -> &mut Self {
        self.0[o..o + 4].copy_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(&mut self, o: usize, v: &[u8]) -> &mut Self {
        self.0[o..o + v.len()].copy_from_slice(v);
        self
    }
}

/// Layout of a fixed-size class on both sides and how to narrow it.
struct Fixed {
    size32: u32,
    size64: u32,
    narrow: fn(&Call<'_>, &[u8]) -> Vec<u8>,
}

/// Where the buffer, length and return-length arguments sit in a query service, and
/// whether the return length is a SIZE_T (NtQuerySection) or a ULONG.
struct Query {
    buf: usize,
    len: usize,
    ret: usize,
    ret_size_t: bool,
}

impl Call<'_> {
    /// Widened arguments with the buffer, length and return length replaced.
    fn query_args(&self, q: &Query, buf: u64, len: u64, ret: u64) -> Vec<u64> {
        let mut a: Vec<u64> = (0..=q.ret).map(|i| self.arg(i) as u64).collect();
        // Every query service starts with a handle or a class: the handle sign-extends.
        if !self.name.contains("SystemInformation") {
            a[0] = self.arg(0) as i32 as i64 as u64;
        }
        a[q.buf] = buf;
        a[q.len] = len;
        a[q.ret] = ret;
        a
    }

    fn write_ret(&mut self, q: &Query, v: u32) -> Result<(), u32> {
        let p = self.arg(q.ret);
        if p == 0 {
            return Ok(());
        }
        let _ = q.ret_size_t; // a SIZE_T is 4 bytes for 32-bit code, like a ULONG
        self.write32(p, v)
    }

    /// A fixed-size class: the 32-bit length must be exact (else
    /// STATUS_INFO_LENGTH_MISMATCH with the 32-bit size in ReturnLength).
    fn fixed_query(&mut self, q: &Query, f: &Fixed, name: &str) -> u32 {
        if self.arg(q.len) != f.size32 {
            return self.write_ret(q, f.size32).err().unwrap_or(STATUS_INFO_LENGTH_MISMATCH);
        }
        self.convert_query(q, f, name)
    }

    /// A class whose 32-bit buffer must be at least the structure's size.
    fn at_least_query(&mut self, q: &Query, f: &Fixed, name: &str) -> u32 {
        if self.arg(q.len) < f.size32 {
            return self.write_ret(q, f.size32).err().unwrap_or(STATUS_INFO_LENGTH_MISMATCH);
        }
        self.convert_query(q, f, name)
    }

    fn convert_query(&mut self, q: &Query, f: &Fixed, name: &str) -> u32 {
        let r = (|| {
            let t = self.alloc(f.size64 as u64)?;
            let r = self.alloc(8)?;
            let args = self.query_args(q, t, f.size64 as u64, r);
            let st = self.service(name, &args);
            if !is_success(st) && st != STATUS_PORT_NOT_SET {
                return Ok(st);
            }
            let data = self.peek(t, f.size64 as usize);
            let out = (f.narrow)(self, &data);
            self.write(self.arg(q.buf), &out)?;
            self.write_ret(q, f.size32)?;
            Ok(st)
        })();
        r.unwrap_or_else(|e| e)
    }

    /// A class that returns a UNICODE_STRING followed by its characters, `header64`
    /// bytes of fixed part on the 64-bit side (the string first) and `header32` on the
    /// 32-bit side; `rest` narrows the fixed fields after the string header.
    fn string_query(&mut self, q: &Query, header32: u32, header64: u32, name: &str) -> u32 {
        let r = (|| {
            let len32 = self.arg(q.len);
            let grow = header64 - header32;
            let len64 = (len32 as u64 + grow as u64).min(super::SCRATCH_LIMIT / 2);
            let t = self.alloc(len64)?;
            let r = self.alloc(8)?;
            let args = self.query_args(q, t, len64, r);
            let st = self.service(name, &args);
            let ret64 = self.peek64(r);
            let ret64 = if q.ret_size_t { ret64 } else { ret64 & 0xFFFF_FFFF };
            let ret32 = narrow(ret64.saturating_sub(grow as u64));
            if !is_success(st) {
                if st == STATUS_INFO_LENGTH_MISMATCH || st == STATUS_BUFFER_OVERFLOW {
                    self.write_ret(q, ret32)?;
                }
                return Ok(st);
            }
            let hdr = self.peek(t, header64 as usize);
            let slen = u16::from_le_bytes([hdr[0], hdr[1]]);
            let smax = u16::from_le_bytes([hdr[2], hdr[3]]);
            let sbuf = le64(&hdr, 8);
            let buf32 = self.arg(q.buf);
            let mut out = Out::new(header32 as usize);
            out.bytes(0, &hdr[0..4]);
            if sbuf != 0 {
                let chars = self.peek(
                    sbuf,
                    (smax.max(slen) as usize).min((len32 as usize).saturating_sub(header32 as usize)),
                );
                out.u32(4, buf32.wrapping_add(header32));
                out.0.extend_from_slice(&chars);
            }
            // Fixed fields after the string keep their order, 8 bytes earlier.
            out.bytes(8, &hdr[16..header64 as usize]);
            self.write(buf32, &out.0)?;
            self.write_ret(q, ret32)?;
            Ok(st)
        })();
        r.unwrap_or_else(|e| e)
    }
}

const PROC_QUERY: Query = Query { buf: 2, len: 3, ret: 4, ret_size_t: false };

/// NtQueryInformationProcess: classes with pointers or SIZE_Ts are rebuilt.
pub fn query_information_process(c: &mut Call<'_>) -> u32 {
    let name = "NtQueryInformationProcess";
    match c.arg(1) {
        0 => c.fixed_query(
            &PROC_QUERY,
            &Fixed {
                size32: 24,
                size64: 48,
                narrow: |c, b| {
                    let mut o = Out::new(24);
                    o.u32(0, le32(b, 0))
                        .u32(4, c.info.peb32)
                        .u32(8, narrow(le64(b, 16)))
                        .u32(12, le32(b, 24))
                        .u32(16, narrow(le64(b, 32)))
                        .u32(20, narrow(le64(b, 40)));
                    o.0
                },
            },
            name,
        ),
        3 => {
            let ex = c.arg(3) == 48;
            let (size32, size64) = if ex { (48, 96) } else { (44, 88) };
            c.fixed_query(
                &PROC_QUERY,
                &Fixed {
                    size32,
                    size64,
                    narrow: |_, b| {
                        let n = b.len() / 8;
                        let mut o = Out::new(n * 4);
                        for i in 0..n {
                            let v = if i == 2 { le32(b, 16) } else { narrow(le64(b, i * 8)) };
                            o.u32(i * 4, v);
                        }
                        o.0
                    },
                },
                name,
            )
        }
        // ProcessDebugPort, ProcessWow64Information, ProcessDebugObjectHandle: one
        // ULONG_PTR or HANDLE.
        7 | 26 | 30 => {
            c.fixed_query(&PROC_QUERY, &Fixed { size32: 4, size64: 8, narrow: |_, b| b[..4].to_vec() }, name)
        }
        27 | 43 => c.string_query(&PROC_QUERY, 8, 16, name),
        37 => c.fixed_query(
            &PROC_QUERY,
            &Fixed { size32: 48, size64: 64, narrow: |_, b| image_information(b) },
            name,
        ),
        _ => c.generic(&[Arg::Handle, Arg::Ulong, Arg::Ptr, Arg::Ulong, Arg::Ptr]),
    }
}

/// SECTION_IMAGE_INFORMATION (64 bytes) -> SECTION_IMAGE_INFORMATION32 (48 bytes).
fn image_information(b: &[u8]) -> Vec<u8> {
    let mut o = Out::new(48);
    o.u32(0, le64(b, 0) as u32)
        .u32(4, le32(b, 8))
        .u32(8, narrow(le64(b, 0x10)))
        .u32(12, narrow(le64(b, 0x18)))
        .bytes(16, &b[0x20..0x40]);
    o.0
}

const THREAD_QUERY: Query = Query { buf: 2, len: 3, ret: 4, ret_size_t: false };

/// NtQueryInformationThread.
pub fn query_information_thread(c: &mut Call<'_>) -> u32 {
    let name = "NtQueryInformationThread";
    match c.arg(1) {
        0 => c.fixed_query(
            &THREAD_QUERY,
            &Fixed {
                size32: 28,
                size64: 48,
                narrow: |c, b| {
                    let mut o = Out::new(28);
                    o.u32(0, le32(b, 0))
                        .u32(4, c.info.teb32)
                        .u32(8, le64(b, 16) as u32)
                        .u32(12, le64(b, 24) as u32)
                        .u32(16, narrow(le64(b, 32)))
                        .u32(20, le32(b, 40))
                        .u32(24, le32(b, 44));
                    o.0
                },
            },
            name,
        ),
        9 => c.fixed_query(
            &THREAD_QUERY,
            &Fixed { size32: 4, size64: 8, narrow: |_, b| b[..4].to_vec() },
            name,
        ),
        26 => thread_teb_information(c),
        38 => c.string_query(&THREAD_QUERY, 8, 16, name),
        _ => c.generic(&[Arg::Handle, Arg::Ulong, Arg::Ptr, Arg::Ulong, Arg::Ptr]),
    }
}

/// ThreadTebInformation from 32-bit code reads the TEB32: { PVOID Dest; ULONG Offset;
/// ULONG Bytes; } (12 bytes).
fn thread_teb_information(c: &mut Call<'_>) -> u32 {
    let r = (|| {
        if c.arg(3) != 12 {
            return Ok(STATUS_INFO_LENGTH_MISMATCH);
        }
        if c.arg(0) as i32 != -2 {
            // Only the current thread exists; let the kernel judge the handle.
            let st = c.service("NtQueryInformationThread", &[c.arg(0) as i32 as i64 as u64, 26, 0, 0, 0]);
            if st == STATUS_INVALID_HANDLE {
                return Ok(st);
            }
        }
        let req = c.read(c.arg(2), 12)?;
        let (dst, off, n) = (le32(&req, 0), le32(&req, 4), le32(&req, 8));
        if off as u64 + n as u64 > 0x1000 {
            return Ok(STATUS_INFO_LENGTH_MISMATCH);
        }
        let data = c.read(c.info.teb32 + off, n as usize)?;
        c.write(dst, &data)?;
        if c.arg(4) != 0 {
            c.write32(c.arg(4), n)?;
        }
        Ok(STATUS_SUCCESS)
    })();
    r.unwrap_or_else(|e| e)
}

const STATUS_INVALID_HANDLE: u32 = 0xC000_0008;

/// NtQuerySystemInformation: 32-bit code is shown the emulated (x86) machine.
pub fn query_system_information(c: &mut Call<'_>) -> u32 {
    let q = Query { buf: 1, len: 2, ret: 3, ret_size_t: false };
    let name = "NtQuerySystemInformation";
    match c.arg(0) {
        // SystemBasicInformation -> SystemEmulationBasicInformation, narrowed.
        0 | 62 => {
            let class = c.arg(0);
            c.args[0] = 62;
            let st = c.fixed_query(
                &q,
                &Fixed {
                    size32: 44,
                    size64: 64,
                    narrow: |_, b| {
                        let mut o = Out::new(44);
                        o.bytes(0, &b[0..28])
                            .u32(28, narrow(le64(b, 32)))
                            .u32(32, narrow(le64(b, 40)))
                            .u32(36, narrow(le64(b, 48)))
                            .bytes(40, &b[56..60]);
                        o.0
                    },
                },
                name,
            );
            c.args[0] = class;
            st
        }
        // SystemProcessorInformation -> SystemEmulationProcessorInformation.
        1 => {
            c.args[0] = 63;
            c.generic(&[Arg::Ulong, Arg::Ptr, Arg::Ulong, Arg::Ptr])
        }
        _ => c.generic(&[Arg::Ulong, Arg::Ptr, Arg::Ulong, Arg::Ptr]),
    }
}

/// NtQueryVirtualMemory: the 32-bit limit, MEMORY_BASIC_INFORMATION32, and the
/// mapped-file name.
pub fn query_virtual_memory(c: &mut Call<'_>) -> u32 {
    let name = "NtQueryVirtualMemory";
    if c.arg(1) > c.info.limit {
        return STATUS_INVALID_PARAMETER;
    }
    let q = Query { buf: 3, len: 4, ret: 5, ret_size_t: true };
    match c.arg(2) {
        0 => c.at_least_query(
            &q,
            &Fixed {
                size32: 28,
                size64: 48,
                narrow: |c, b| {
                    let base = le64(b, 0);
                    let size = le64(b, 24);
                    // The region ends at the 32-bit limit for 32-bit code.
                    let end = (base + size).min(c.info.limit as u64 + 1);
                    let mut o = Out::new(28);
                    o.u32(0, base as u32)
                        .u32(4, le64(b, 8) as u32)
                        .u32(8, le32(b, 16))
                        .u32(12, narrow(end.saturating_sub(base)))
                        .u32(16, le32(b, 32))
                        .u32(20, le32(b, 36))
                        .u32(24, le32(b, 40));
                    o.0
                },
            },
            name,
        ),
        2 => c.string_query(&q, 8, 16, name),
        _ => c.generic(&[Arg::Handle, Arg::Ptr, Arg::Ulong, Arg::Ptr, Arg::UlongPtr, Arg::SizeInOut]),
    }
}

/// NtAllocateVirtualMemory: a 32-bit caller cannot ask for addresses past its limit.
pub fn allocate_virtual_memory(c: &mut Call<'_>) -> u32 {
    let kinds = [Arg::Handle, Arg::SizeInOut, Arg::ZeroBits, Arg::SizeInOut, Arg::Ulong, Arg::Ulong];
    let r = (|| {
        let args = c.widen(&kinds)?;
        if args[1] != 0 && args[3] != 0 {
            let base = c.peek64(args[1]);
            let size = c.peek64(args[3]);
            if base > c.info.limit as u64 {
                return Ok(STATUS_INVALID_PARAMETER_2);
            }
            if size > c.info.limit as u64 + 1 - base {
                return Ok(STATUS_INVALID_PARAMETER_4);
            }
        }
        let st = c.service("NtAllocateVirtualMemory", &args);
        Ok(c.finish(st))
    })();
    r.unwrap_or_else(|e| e)
}

const STATUS_INVALID_PARAMETER_2: u32 = 0xC000_00F0;
const STATUS_INVALID_PARAMETER_4: u32 = 0xC000_00F2;

/// NtQueryObject: ObjectNameInformation and ObjectTypeInformation start with a
/// UNICODE_STRING.
pub fn query_object(c: &mut Call<'_>) -> u32 {
    let q = Query { buf: 2, len: 3, ret: 4, ret_size_t: false };
    match c.arg(1) {
        1 => c.string_query(&q, 8, 16, "NtQueryObject"),
        2 => c.string_query(&q, 0x60, 0x68, "NtQueryObject"),
        _ => c.generic(&[Arg::Handle, Arg::Ulong, Arg::Ptr, Arg::Ulong, Arg::Ptr]),
    }
}

/// NtQuerySection: SectionBasicInformation and SectionImageInformation.
pub fn query_section(c: &mut Call<'_>) -> u32 {
    let q = Query { buf: 2, len: 3, ret: 4, ret_size_t: true };
    let name = "NtQuerySection";
    match c.arg(1) {
        0 => c.at_least_query(
            &q,
            &Fixed {
                size32: 16,
                size64: 24,
                narrow: |_, b| {
                    let mut o = Out::new(16);
                    o.u32(0, le64(b, 0) as u32).u32(4, le32(b, 8)).bytes(8, &b[16..24]);
                    o.0
                },
            },
            name,
        ),
        1 => {
            c.at_least_query(&q, &Fixed { size32: 48, size64: 64, narrow: |_, b| image_information(b) }, name)
        }
        _ => c.generic(&[Arg::Handle, Arg::Ulong, Arg::Ptr, Arg::UlongPtr, Arg::SizeInOut]),
    }
}

/// Replaces the buffer and length of a set-information call with a 64-bit rebuild.
fn set_with(c: &mut Call<'_>, kinds: &[Arg], buf_arg: usize, len_arg: usize, data: Vec<u8>) -> u32 {
    let r = (|| {
        let mut args = c.widen(kinds)?;
        let len = data.len() as u64;
        args[buf_arg] = c.alloc_with(&data)?;
        args[len_arg] = len;
        let st = c.service(c.name, &args);
        Ok(c.finish(st))
    })();
    r.unwrap_or_else(|e| e)
}

/// NtSetInformationFile: the rename and link classes carry a handle.
pub fn set_information_file(c: &mut Call<'_>) -> u32 {
    let kinds = [Arg::Handle, Arg::Iosb, Arg::Ptr, Arg::Ulong, Arg::Ulong];
    let class = c.arg(4);
    let len = c.arg(3);
    if matches!(class, 10 | 11 | 65 | 72) && len >= 12 {
        let r = (|| {
            // A name is at most 64 KiB; anything past that is not read.
            let b = c.read(c.arg(2), len.min(12 + 0x1_0000) as usize)?;
            let name_len = le32(&b, 8);
            let take = (name_len as usize).min(b.len() - 12);
            let mut w = Out::new(20);
            w.u32(0, le32(&b, 0));
            w.0[8..16].copy_from_slice(&(le32(&b, 4) as i32 as i64).to_le_bytes());
            w.u32(16, name_len);
            w.0.extend_from_slice(&b[12..12 + take]);
            if let Some(t) = &mut c.trace {
                let units: Vec<u16> =
                    b[12..12 + take].chunks_exact(2).map(|p| u16::from_le_bytes([p[0], p[1]])).collect();
                t.strings.push(String::from_utf16_lossy(&units));
            }
            // The 64-bit structure is at least its declared size (24 bytes).
            if w.0.len() < 24 {
                w.0.resize(24, 0);
            }
            Ok(set_with(c, &kinds, 2, 3, w.0))
        })();
        return r.unwrap_or_else(|e| e);
    }
    c.generic(&kinds)
}

/// NtSetInformationThread: the start address and the thread name.
pub fn set_information_thread(c: &mut Call<'_>) -> u32 {
    let kinds = [Arg::Handle, Arg::Ulong, Arg::Ptr, Arg::Ulong];
    match (c.arg(1), c.arg(3)) {
        (9, 4) => {
            let r = c.read32(c.arg(2));
            match r {
                Ok(v) => set_with(c, &kinds, 2, 3, (v as u64).to_le_bytes().to_vec()),
                Err(e) => e,
            }
        }
        (38, 8) => match c.unicode_string(c.arg(2)) {
            Ok(us) => {
                let data = c.peek(us, 16);
                set_with(c, &kinds, 2, 3, data)
            }
            Err(e) => e,
        },
        (9, _) | (38, _) => STATUS_INFO_LENGTH_MISMATCH,
        _ => c.generic(&kinds),
    }
}

/// NtSetInformationProcess: the affinity mask is a KAFFINITY (ULONG_PTR).
pub fn set_information_process(c: &mut Call<'_>) -> u32 {
    let kinds = [Arg::Handle, Arg::Ulong, Arg::Ptr, Arg::Ulong];
    match (c.arg(1), c.arg(3)) {
        (21, 4) => match c.read32(c.arg(2)) {
            Ok(v) => set_with(c, &kinds, 2, 3, (v as u64).to_le_bytes().to_vec()),
            Err(e) => e,
        },
        (21, _) => STATUS_INFO_LENGTH_MISMATCH,
        _ => c.generic(&kinds),
    }
}
