//! Access to user-mode memory from the kernel: every pointer a service receives is
//! untrusted, and every failure becomes a status (never a panic).

use x86wow_mmu::{Access, Fault, FaultKind, Memory};

use crate::status::{NtResult, NtStatus};

/// `MM_USER_PROBE_ADDRESS` of 64-bit Windows: user buffers must end below it.
pub const USER_PROBE_ADDRESS: u64 = 0x7FFF_FFFF_0000;

/// The status a kernel-mode access to a bad user pointer turns into.
///
/// A guard page touched by the kernel loses its guard flag (the mmu clears it) and the
/// service fails with `STATUS_GUARD_PAGE_VIOLATION`, as the service's exception handler
/// returns the exception code; everything else is `STATUS_ACCESS_VIOLATION`.
pub fn fault_status(f: Fault) -> NtStatus {
    match f.kind {
        FaultKind::Guard => NtStatus::GUARD_PAGE_VIOLATION,
        _ => NtStatus::ACCESS_VIOLATION,
    }
}

fn in_user_range(addr: u64, len: u64) -> bool {
    len == 0 || addr.checked_add(len).is_some_and(|end| end <= USER_PROBE_ADDRESS)
}

/// `ProbeForRead`: the range must be user addresses and readable.
pub fn probe_read(mem: &mut Memory, addr: u64, len: u64) -> NtResult<()> {
    probe(mem, addr, len, Access::Read)
}

/// `ProbeForWrite`: the range must be user addresses and writable.
pub fn probe_write(mem: &mut Memory, addr: u64, len: u64) -> NtResult<()> {
    probe(mem, addr, len, Access::Write)
}

fn probe(mem: &mut Memory, addr: u64, len: u64, access: Access) -> NtResult<()> {
    if len == 0 {
        return Ok(());
    }
    if !in_user_range(addr, len) {
        return Err(NtStatus::ACCESS_VIOLATION);
    }
    // Check page by page so a huge length does not need a huge buffer.
    let mut a = addr;
    let end = addr + len;
    while a < end {
        let n = (0x1000 - (a & 0xFFF)).min(end - a);
        mem.check(a, n as usize, access).map_err(fault_status)?;
        a += n;
    }
    Ok(())
}

pub fn read_bytes(mem: &mut Memory, addr: u64, len: usize) -> NtResult<Vec<u8>> {
    if !in_user_range(addr, len as u64) {
        return Err(NtStatus::ACCESS_VIOLATION);
    }
    // Validate before allocating: the length is untrusted.
    probe_read(mem, addr, len as u64)?;
    let mut buf = vec![0; len];
    mem.read_bytes(addr, &mut buf).map_err(fault_status)?;
    Ok(buf)
}

pub fn write_bytes(mem: &mut Memory, addr: u64, data: &[u8]) -> NtResult<()> {
    if !in_user_range(addr, data.len() as u64) {
        return Err(NtStatus::ACCESS_VIOLATION);
    }
    mem.write_bytes(addr, data).map_err(fault_status)
}

pub fn read_u16(mem: &mut Memory, addr: u64) -> NtResult<u16> {
    read_array(mem, addr).map(u16::from_le_bytes)
}
pub fn read_u32(mem: &mut Memory, addr: u64) -> NtResult<u32> {
    read_array(mem, addr).map(u32::from_le_bytes)
}
pub fn read_u64(mem: &mut Memory, addr: u64) -> NtResult<u64> {
    read_array(mem, addr).map(u64::from_le_bytes)
}
pub fn read_i64(mem: &mut Memory, addr: u64) -> NtResult<i64> {
    read_array(mem, addr).map(i64::from_le_bytes)
}

fn read_array<const N: usize>(mem: &mut Memory, addr: u64) -> NtResult<[u8; N]> {
    if !in_user_range(addr, N as u64) {
        return Err(NtStatus::ACCESS_VIOLATION);
    }
    mem.read_array(addr).map_err(fault_status)
}

pub fn write_u16(mem: &mut Memory, addr: u64, v: u16) -> NtResult<()> {
    write_bytes(mem, addr, &v.to_le_bytes())
}
pub fn write_u32(mem: &mut Memory, addr: u64, v: u32) -> NtResult<()> {
    write_bytes(mem, addr, &v.to_le_bytes())
}
pub fn write_u64(mem: &mut Memory, addr: u64, v: u64) -> NtResult<()> {
    write_bytes(mem, addr, &v.to_le_bytes())
}

/// Writes an optional `ULONG` out-parameter (a NULL pointer is skipped).
pub fn write_opt_u32(mem: &mut Memory, addr: u64, v: u32) -> NtResult<()> {
    if addr == 0 {
        Ok(())
    } else {
        write_u32(mem, addr, v)
    }
}

/// A 64-bit `UNICODE_STRING` read from user memory, as UTF-16 code units.
///
/// Windows captures `Length` bytes (MaximumLength is not consulted); an odd length is
/// `STATUS_OBJECT_NAME_INVALID` and a buffer that is not 2-byte aligned
/// `STATUS_DATATYPE_MISALIGNMENT`, as the object manager's name capture does.
pub fn read_unicode_string(mem: &mut Memory, us: u64) -> NtResult<Vec<u16>> {
    let len = read_u16(mem, us)?;
    let buffer = read_u64(mem, us + 8)?;
    read_name_buffer(mem, len, buffer)
}

/// Reads `len` bytes of UTF-16 at `buffer` with the name-capture checks.
pub fn read_name_buffer(mem: &mut Memory, len: u16, buffer: u64) -> NtResult<Vec<u16>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    if len & 1 != 0 {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    if buffer & 1 != 0 {
        return Err(NtStatus::DATATYPE_MISALIGNMENT);
    }
    let bytes = read_bytes(mem, buffer, len as usize)?;
    Ok(bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect())
}

/// A captured 64-bit `OBJECT_ATTRIBUTES`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectAttributes {
    pub root: u64,
    /// `None` when `ObjectName` is NULL.
    pub name: Option<Vec<u16>>,
    pub attributes: u32,
}

/// Size of the 64-bit `OBJECT_ATTRIBUTES`.
pub const OBJECT_ATTRIBUTES_SIZE: u32 = 48;

pub const OBJ_INHERIT: u32 = 0x2;
pub const OBJ_PERMANENT: u32 = 0x10;
pub const OBJ_EXCLUSIVE: u32 = 0x20;
pub const OBJ_CASE_INSENSITIVE: u32 = 0x40;
pub const OBJ_OPENIF: u32 = 0x80;
pub const OBJ_OPENLINK: u32 = 0x100;
pub const OBJ_KERNEL_HANDLE: u32 = 0x200;
/// `OBJ_VALID_ATTRIBUTES` of Windows 10.
pub const OBJ_VALID_ATTRIBUTES: u32 = 0x1FF2;

/// Captures an `OBJECT_ATTRIBUTES` (64-bit layout: Length u32 @0, RootDirectory @8,
/// ObjectName @16, Attributes u32 @24, SecurityDescriptor @32, SecurityQualityOfService @40).
/// A wrong `Length` or unknown attribute bits are `STATUS_INVALID_PARAMETER`.
pub fn read_object_attributes(mem: &mut Memory, oa: u64) -> NtResult<ObjectAttributes> {
    let length = read_u32(mem, oa)?;
    let root = read_u64(mem, oa + 8)?;
    let name_ptr = read_u64(mem, oa + 16)?;
    let attributes = read_u32(mem, oa + 24)?;
    if length != OBJECT_ATTRIBUTES_SIZE {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    if attributes & !OBJ_VALID_ATTRIBUTES != 0 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let name = if name_ptr == 0 { None } else { Some(read_unicode_string(mem, name_ptr)?) };
    Ok(ObjectAttributes { root, name, attributes })
}

/// Writes a 64-bit `IO_STATUS_BLOCK` (Status @0 as a pointer-sized slot, Information @8).
pub fn write_iosb(mem: &mut Memory, iosb: u64, status: NtStatus, information: u64) -> NtResult<()> {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&status.0.to_le_bytes());
    b[8..].copy_from_slice(&information.to_le_bytes());
    write_bytes(mem, iosb, &b)
}

/// `UNICODE_STRING.Length` for a string of `units` code units (clamped to what a u16 holds).
pub fn us_len(units: usize) -> u16 {
    units.saturating_mul(2).min(0xFFFC) as u16
}

/// `UNICODE_STRING.MaximumLength` with room for a terminating NUL.
pub fn us_max(units: usize) -> u16 {
    us_len(units) + 2
}

/// Decodes UTF-16 (lossy) for names and traces.
pub fn utf16_to_string(s: &[u16]) -> String {
    String::from_utf16_lossy(s)
}

pub fn str_to_utf16(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

/// Little-endian structure builder used by the information services.
#[derive(Debug, Default, Clone)]
pub struct Buf(pub Vec<u8>);

impl Buf {
    pub fn new(size: usize) -> Buf {
        Buf(vec![0; size])
    }
    pub fn u8(&mut self, off: usize, v: u8) -> &mut Self {
        self.put(off, &[v])
    }
    pub fn u16(&mut self, off: usize, v: u16) -> &mut Self {
        self.put(off, &v.to_le_bytes())
    }
    pub fn u32(&mut self, off: usize, v: u32) -> &mut Self {
        self.put(off, &v.to_le_bytes())
    }
    pub fn u64(&mut self, off: usize, v: u64) -> &mut Self {
        self.put(off, &v.to_le_bytes())
    }
    pub fn put(&mut self, off: usize, data: &[u8]) -> &mut Self {
        if self.0.len() < off + data.len() {
            self.0.resize(off + data.len(), 0);
        }
        self.0[off..off + data.len()].copy_from_slice(data);
        self
    }
    pub fn utf16(&mut self, off: usize, s: &[u16]) -> &mut Self {
        let bytes: Vec<u8> = s.iter().flat_map(|c| c.to_le_bytes()).collect();
        self.put(off, &bytes)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    #[allow(dead_code)]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
