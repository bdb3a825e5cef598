//! PE image parsing for SEC_IMAGE sections (PE32 and PE32+), with every size taken from
//! the file treated as untrusted.

use object::endian::LittleEndian as LE;
use object::pe;
use object::read::pe::{ImageNtHeaders, ImageOptionalHeader, RelocationBlockIterator};

use crate::status::{NtResult, NtStatus};
use crate::vm::{
    PAGE, PAGE_EXECUTE, PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY, PAGE_NOACCESS,
    PAGE_READONLY, PAGE_READWRITE, PAGE_WRITECOPY,
};

/// Largest image the model maps (Windows has no such small limit; this is a sandbox).
pub const MAX_IMAGE_SIZE: u64 = 0x1000_0000;
/// Largest image file the model reads (headers and section data must lie in it).
pub const MAX_IMAGE_FILE: u64 = 0x1000_0000;
/// The loader's limit on the number of sections.
pub const MAX_SECTIONS: usize = 96;

/// One contiguous part of a mapped image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageBlock {
    pub rva: u64,
    /// Bytes (page multiple).
    pub size: u64,
    pub protect: u32,
    /// Initial contents (at most `size` bytes; the rest is zero).
    pub data: Vec<u8>,
}

/// What the kernel knows of a parsed image (`SECTION_IMAGE_INFORMATION` and the layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub pe32_plus: bool,
    pub machine: u16,
    pub image_base: u64,
    pub size_of_image: u64,
    pub entry_rva: u32,
    pub characteristics: u16,
    pub dll_characteristics: u16,
    pub subsystem: u16,
    pub subsystem_version: (u16, u16),
    pub os_version: (u16, u16),
    pub stack_reserve: u64,
    pub stack_commit: u64,
    pub loader_flags: u32,
    pub checksum: u32,
    pub file_size: u64,
    pub contains_code: bool,
    /// The base relocation directory (rva, size), if any.
    pub relocs: Option<(u32, u32)>,
    pub blocks: Vec<ImageBlock>,
}

impl ImageInfo {
    pub fn relocs_stripped(&self) -> bool {
        self.characteristics & pe::IMAGE_FILE_RELOCS_STRIPPED != 0 || self.relocs.is_none()
    }

    /// The 64-byte 64-bit `SECTION_IMAGE_INFORMATION` for the image mapped at `base`
    /// (its preferred base when it is not mapped).
    pub fn section_image_information(&self, base: u64) -> [u8; 64] {
        let mut b = [0u8; 64];
        let entry = if self.entry_rva != 0 { base.wrapping_add(self.entry_rva as u64) } else { 0 };
        b[0..8].copy_from_slice(&entry.to_le_bytes());
        b[0x10..0x18].copy_from_slice(&self.stack_reserve.to_le_bytes());
        b[0x18..0x20].copy_from_slice(&self.stack_commit.to_le_bytes());
        b[0x20..0x24].copy_from_slice(&(self.subsystem as u32).to_le_bytes());
        b[0x24..0x26].copy_from_slice(&self.subsystem_version.1.to_le_bytes());
        b[0x26..0x28].copy_from_slice(&self.subsystem_version.0.to_le_bytes());
        b[0x28..0x2A].copy_from_slice(&self.os_version.0.to_le_bytes());
        b[0x2A..0x2C].copy_from_slice(&self.os_version.1.to_le_bytes());
        b[0x2C..0x2E].copy_from_slice(&self.characteristics.to_le_bytes());
        b[0x2E..0x30].copy_from_slice(&self.dll_characteristics.to_le_bytes());
        b[0x30..0x32].copy_from_slice(&self.machine.to_le_bytes());
        b[0x32] = self.contains_code as u8;
        b[0x34..0x38].copy_from_slice(&self.loader_flags.to_le_bytes());
        b[0x38..0x3C].copy_from_slice(&(self.file_size.min(u32::MAX as u64) as u32).to_le_bytes());
        b[0x3C..0x40].copy_from_slice(&self.checksum.to_le_bytes());
        b
    }
}

/// The page protection Windows gives a section from its characteristics.
pub fn section_protection(characteristics: u32) -> u32 {
    let x = characteristics & pe::IMAGE_SCN_MEM_EXECUTE != 0;
    let r = characteristics & pe::IMAGE_SCN_MEM_READ != 0;
    let w = characteristics & pe::IMAGE_SCN_MEM_WRITE != 0;
    let shared = characteristics & pe::IMAGE_SCN_MEM_SHARED != 0;
    match (x, r, w) {
        (false, false, false) => PAGE_NOACCESS,
        (true, false, false) => PAGE_EXECUTE,
        (false, true, false) => PAGE_READONLY,
        (true, true, false) => PAGE_EXECUTE_READ,
        (false, _, true) if shared => PAGE_READWRITE,
        (true, _, true) if shared => PAGE_EXECUTE_READWRITE,
        (false, _, true) => PAGE_WRITECOPY,
        (true, _, true) => PAGE_EXECUTE_WRITECOPY,
    }
}

fn align_up(v: u64, a: u64) -> Option<u64> {
    v.checked_add(a - 1).map(|x| x & !(a - 1))
}

fn slice(data: &[u8], off: u64, len: u64) -> Option<&[u8]> {
    let end = off.checked_add(len)?;
    data.get(usize::try_from(off).ok()?..usize::try_from(end).ok()?)
}

/// Parses a PE image file. Statuses, as the kernel's image section creation gives them:
/// no `MZ` -> `STATUS_INVALID_IMAGE_NOT_MZ`; an `MZ` file whose `e_lfanew` leads nowhere
/// (a DOS program) -> `STATUS_INVALID_IMAGE_PROTECT`; NE -> `STATUS_INVALID_IMAGE_WIN_16`
/// (Windows) or `STATUS_INVALID_IMAGE_NE_FORMAT`; LE/LX -> `STATUS_INVALID_IMAGE_LE_FORMAT`;
/// everything else wrong with the PE headers or layout -> `STATUS_INVALID_IMAGE_FORMAT`.
pub fn parse_image(data: &[u8]) -> NtResult<ImageInfo> {
    if data.len() < 64 || &data[..2] != b"MZ" {
        return Err(NtStatus::INVALID_IMAGE_NOT_MZ);
    }
    let lfanew = u32::from_le_bytes([data[0x3C], data[0x3D], data[0x3E], data[0x3F]]) as u64;
    let Some(sig) = slice(data, lfanew, 4) else {
        return Err(NtStatus::INVALID_IMAGE_PROTECT);
    };
    match sig {
        b"PE\0\0" => {}
        [b'N', b'E', ..] => {
            let exetyp = slice(data, lfanew + 0x36, 1).map(|b| b[0]);
            return Err(if exetyp == Some(2) {
                NtStatus::INVALID_IMAGE_WIN_16
            } else {
                NtStatus::INVALID_IMAGE_NE_FORMAT
            });
        }
        [b'L', b'E', ..] | [b'L', b'X', ..] => return Err(NtStatus::INVALID_IMAGE_LE_FORMAT),
        _ => return Err(NtStatus::INVALID_IMAGE_PROTECT),
    }
    let magic = slice(data, lfanew + 24, 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or(NtStatus::INVALID_IMAGE_FORMAT)?;
    match magic {
        pe::IMAGE_NT_OPTIONAL_HDR32_MAGIC => parse_nt::<pe::ImageNtHeaders32>(data, lfanew),
        pe::IMAGE_NT_OPTIONAL_HDR64_MAGIC => parse_nt::<pe::ImageNtHeaders64>(data, lfanew),
        _ => Err(NtStatus::INVALID_IMAGE_FORMAT),
    }
}

fn parse_nt<H: ImageNtHeaders>(data: &[u8], lfanew: u64) -> NtResult<ImageInfo> {
    let bad = NtStatus::INVALID_IMAGE_FORMAT;
    let mut off = lfanew;
    let (nt, dirs) = H::parse(data, &mut off).map_err(|_| bad)?;
    let fh = nt.file_header();
    let oh = nt.optional_header();
    let machine = fh.machine.get(LE);
    let pe32_plus = nt.is_type_64();
    match (machine, pe32_plus) {
        (pe::IMAGE_FILE_MACHINE_I386, false) | (pe::IMAGE_FILE_MACHINE_AMD64, true) => {}
        _ => return Err(bad),
    }
    let characteristics = fh.characteristics.get(LE);
    if characteristics & pe::IMAGE_FILE_EXECUTABLE_IMAGE == 0 {
        return Err(bad);
    }
    let sect_align = oh.section_alignment() as u64;
    let file_align = oh.file_alignment() as u64;
    if !sect_align.is_power_of_two() || !file_align.is_power_of_two() || file_align > sect_align {
        return Err(bad);
    }
    let small = sect_align < PAGE;
    if small && file_align != sect_align {
        return Err(bad);
    }
    let image_base = oh.image_base();
    if image_base & 0xFFFF != 0 || image_base == 0 {
        return Err(bad);
    }
    let size_of_image = align_up(oh.size_of_image() as u64, PAGE).ok_or(bad)?;
    if size_of_image == 0 || size_of_image > MAX_IMAGE_SIZE {
        return Err(bad);
    }
    let top = if pe32_plus { u64::MAX } else { 0xFFFF_FFFF };
    if image_base.checked_add(size_of_image - 1).map_or(true, |e| e > top) {
        return Err(bad);
    }
    let size_of_headers = oh.size_of_headers() as u64;
    if size_of_headers == 0 || size_of_headers > size_of_image {
        return Err(bad);
    }
    let nsect = fh.number_of_sections.get(LE) as usize;
    if nsect > MAX_SECTIONS {
        return Err(bad);
    }
    let sections = nt.sections(data, off).map_err(|_| bad)?;
    let file_len = data.len() as u64;

    let mut blocks = Vec::new();
    let mut contains_code = false;
    if small {
        // Sections are laid out in the file exactly as in memory; the whole image is one
        // block mapped execute-write-copy, as Windows maps such images.
        for s in sections.iter() {
            if s.pointer_to_raw_data.get(LE) != s.virtual_address.get(LE) {
                return Err(bad);
            }
            contains_code |= s.characteristics.get(LE) & pe::IMAGE_SCN_CNT_CODE != 0;
        }
        let n = file_len.min(size_of_image) as usize;
        blocks.push(ImageBlock {
            rva: 0,
            size: size_of_image,
            protect: PAGE_EXECUTE_WRITECOPY,
            data: data[..n].to_vec(),
        });
    } else {
        let header_span = align_up(size_of_headers, sect_align).ok_or(bad)?.min(size_of_image);
        let header_span = align_up(header_span, PAGE).ok_or(bad)?;
        let n = size_of_headers.min(file_len) as usize;
        blocks.push(ImageBlock {
            rva: 0,
            size: header_span,
            protect: PAGE_READONLY,
            data: data[..n].to_vec(),
        });
        let mut next = header_span;
        for s in sections.iter() {
            let va = s.virtual_address.get(LE) as u64;
            let vsize = s.virtual_size.get(LE) as u64;
            let raw_size = s.size_of_raw_data.get(LE) as u64;
            let raw_ptr = s.pointer_to_raw_data.get(LE) as u64;
            let ch = s.characteristics.get(LE);
            let span = if vsize != 0 { vsize } else { raw_size };
            if span == 0 {
                continue;
            }
            if va % sect_align != 0 || va < next {
                return Err(bad);
            }
            let span = align_up(span, sect_align).ok_or(bad)?;
            let span = align_up(span, PAGE).ok_or(bad)?;
            let end = va.checked_add(span).ok_or(bad)?;
            if end > size_of_image {
                return Err(bad);
            }
            if va > next {
                // A hole between sections: present but inaccessible.
                blocks.push(ImageBlock {
                    rva: next,
                    size: va - next,
                    protect: PAGE_NOACCESS,
                    data: Vec::new(),
                });
            }
            let copy = raw_size.min(span);
            let bytes = if copy == 0 { Vec::new() } else { slice(data, raw_ptr, copy).ok_or(bad)?.to_vec() };
            contains_code |= ch & pe::IMAGE_SCN_CNT_CODE != 0;
            blocks.push(ImageBlock { rva: va, size: span, protect: section_protection(ch), data: bytes });
            next = end;
        }
        if next < size_of_image {
            blocks.push(ImageBlock {
                rva: next,
                size: size_of_image - next,
                protect: PAGE_NOACCESS,
                data: Vec::new(),
            });
        }
    }
    let relocs = dirs
        .get(pe::IMAGE_DIRECTORY_ENTRY_BASERELOC)
        .map(|d| (d.virtual_address.get(LE), d.size.get(LE)))
        .filter(|&(va, size)| va != 0 && size != 0);
    Ok(ImageInfo {
        pe32_plus,
        machine,
        image_base,
        size_of_image,
        entry_rva: oh.address_of_entry_point(),
        characteristics,
        dll_characteristics: oh.dll_characteristics(),
        subsystem: oh.subsystem(),
        subsystem_version: (oh.major_subsystem_version(), oh.minor_subsystem_version()),
        os_version: (oh.major_operating_system_version(), oh.minor_operating_system_version()),
        stack_reserve: oh.size_of_stack_reserve(),
        stack_commit: oh.size_of_stack_commit(),
        loader_flags: oh.loader_flags(),
        checksum: oh.check_sum(),
        file_size: file_len,
        contains_code,
        relocs,
        blocks,
    })
}

/// Largest relocation table the model reads.
pub const MAX_RELOC_TABLE: u32 = 0x0400_0000;

/// Applies base relocations to an image mapped at `base` (`size` bytes, already in
/// `mem`) for a move by `delta`, ignoring page protection as the kernel does. A
/// malformed table or a fixup outside the image is `STATUS_INVALID_IMAGE_FORMAT`.
pub fn apply_relocations(
    mem: &mut x86wow_mmu::Memory,
    base: u64,
    size: u64,
    relocs: (u32, u32),
    delta: u64,
) -> NtResult<()> {
    let bad = NtStatus::INVALID_IMAGE_FORMAT;
    if relocs.1 > MAX_RELOC_TABLE || relocs.0 as u64 + relocs.1 as u64 > size {
        return Err(bad);
    }
    let mut table = vec![0u8; relocs.1 as usize];
    mem.peek(base + relocs.0 as u64, &mut table).map_err(|_| bad)?;
    let mut fix = |rva: u64, len: usize, f: &dyn Fn(u64) -> u64| -> NtResult<()> {
        if rva + len as u64 > size {
            return Err(bad);
        }
        let mut b = [0u8; 8];
        mem.peek(base + rva, &mut b[..len]).map_err(|_| bad)?;
        let v = f(u64::from_le_bytes(b));
        mem.poke(base + rva, &v.to_le_bytes()[..len]).map_err(|_| bad)
    };
    let mut blocks = RelocationBlockIterator::new(&table);
    while let Some(block) = blocks.next().map_err(|_| bad)? {
        for r in block {
            let at = r.virtual_address as u64;
            match r.typ {
                pe::IMAGE_REL_BASED_ABSOLUTE => {}
                pe::IMAGE_REL_BASED_HIGHLOW => fix(at, 4, &|v| (v as u32).wrapping_add(delta as u32) as u64)?,
                pe::IMAGE_REL_BASED_DIR64 => fix(at, 8, &|v| v.wrapping_add(delta))?,
                pe::IMAGE_REL_BASED_HIGH => {
                    fix(at, 2, &|v| (v as u16).wrapping_add((delta >> 16) as u16) as u64)?
                }
                pe::IMAGE_REL_BASED_LOW => fix(at, 2, &|v| (v as u16).wrapping_add(delta as u16) as u64)?,
                _ => return Err(bad),
            }
        }
    }
    Ok(())
}
