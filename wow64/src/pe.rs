//! PE32 validation with precise errors, and readers for the tables the user-mode loader
//! walks (exports, imports, TLS) in a mapped image.
//!
//! Every size and offset is untrusted: reads are bounds checked, loops are bounded by the
//! table sizes, and nothing allocates more than the file or image it describes.

use x86wow_mmu::Memory;

use crate::error::ImageError;

pub const MACHINE_I386: u16 = 0x14C;
pub const MAX_SECTIONS: usize = 96;
/// The kernel maps images up to 256 MiB; the loader refuses larger ones up front.
pub const MAX_IMAGE_SIZE: u64 = 0x1000_0000;
/// Longest import/export name the loader reads.
const MAX_NAME: usize = 1024;

/// What the loader needs from the headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    pub image_base: u32,
    pub size_of_image: u32,
    pub entry_rva: u32,
    pub characteristics: u16,
    pub dll_characteristics: u16,
    pub subsystem: u16,
    pub stack_reserve: u32,
    pub stack_commit: u32,
    pub directories: Vec<(u32, u32)>,
    pub sections: Vec<SectionHeader>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionHeader {
    pub name: String,
    pub rva: u32,
    pub virtual_size: u32,
    pub raw_ptr: u32,
    pub raw_size: u32,
    pub characteristics: u32,
}

impl Headers {
    pub fn is_dll(&self) -> bool {
        self.characteristics & 0x2000 != 0
    }

    pub fn large_address_aware(&self) -> bool {
        self.characteristics & 0x0020 != 0
    }

    pub fn directory(&self, i: usize) -> Option<(u32, u32)> {
        self.directories.get(i).copied().filter(|&(rva, size)| rva != 0 && size != 0)
    }
}

fn rd<const N: usize>(data: &[u8], what: &'static str, off: u64) -> Result<[u8; N], ImageError> {
    let bad = || ImageError::Truncated { what, offset: off, len: N as u64, file_len: data.len() as u64 };
    let start = usize::try_from(off).map_err(|_| bad())?;
    let end = start.checked_add(N).ok_or_else(bad)?;
    data.get(start..end).and_then(|s| s.try_into().ok()).ok_or_else(bad)
}

fn u16at(data: &[u8], what: &'static str, off: u64) -> Result<u16, ImageError> {
    rd::<2>(data, what, off).map(u16::from_le_bytes)
}

fn u32at(data: &[u8], what: &'static str, off: u64) -> Result<u32, ImageError> {
    rd::<4>(data, what, off).map(u32::from_le_bytes)
}

/// Validates a PE32 i386 image file and returns its headers.
pub fn parse(data: &[u8]) -> Result<Headers, ImageError> {
    if data.len() < 2 || &data[..2] != b"MZ" {
        return Err(ImageError::NotMz);
    }
    let lfanew = u32at(data, "DOS header", 0x3C)?;
    let pe = lfanew as u64;
    if rd::<4>(data, "PE signature", pe).ok() != Some(*b"PE\0\0") {
        return Err(ImageError::NoPeSignature { e_lfanew: lfanew });
    }
    let fh = pe + 4;
    let machine = u16at(data, "file header", fh)?;
    let nsect = u16at(data, "file header", fh + 2)? as usize;
    let opt_size = u16at(data, "file header", fh + 16)? as u64;
    let characteristics = u16at(data, "file header", fh + 18)?;
    let oh = fh + 20;
    let magic = u16at(data, "optional header", oh)?;
    if magic != 0x10B {
        return Err(ImageError::NotPe32 { magic });
    }
    if machine != MACHINE_I386 {
        return Err(ImageError::WrongMachine { machine });
    }
    if characteristics & 0x0002 == 0 {
        return Err(ImageError::NotExecutable);
    }
    if opt_size < 96 {
        return Err(ImageError::Truncated {
            what: "optional header",
            offset: oh,
            len: 96,
            file_len: opt_size,
        });
    }
    let o32 = |off: u64| u32at(data, "optional header", oh + off);
    let o16 = |off: u64| u16at(data, "optional header", oh + off);
    let entry_rva = o32(16)?;
    let image_base = o32(28)?;
    let sect_align = o32(32)?;
    let file_align = o32(36)?;
    let size_of_image = o32(56)?;
    let size_of_headers = o32(60)?;
    let subsystem = o16(68)?;
    let dll_characteristics = o16(70)?;
    let stack_reserve = o32(72)?;
    let stack_commit = o32(76)?;
    let ndirs = (o32(92)? as u64).min(16).min((opt_size - 96) / 8);
    if !sect_align.is_power_of_two() {
        return Err(ImageError::BadAlignment { what: "section alignment", value: sect_align as u64 });
    }
    if !file_align.is_power_of_two() || file_align > sect_align {
        return Err(ImageError::BadAlignment { what: "file alignment", value: file_align as u64 });
    }
    if sect_align < 0x1000 && file_align != sect_align {
        return Err(ImageError::BadAlignment {
            what: "file alignment (small section alignment)",
            value: file_align as u64,
        });
    }
    if image_base & 0xFFFF != 0 || image_base == 0 {
        return Err(ImageError::BadAlignment { what: "image base", value: image_base as u64 });
    }
    if size_of_image == 0 || size_of_image as u64 > MAX_IMAGE_SIZE {
        return Err(ImageError::BadImageSize { size: size_of_image as u64 });
    }
    if image_base as u64 + size_of_image as u64 > 0x1_0000_0000 {
        return Err(ImageError::OutsideImage { what: "the image (base + size past 4 GiB)".into() });
    }
    if size_of_headers == 0 || size_of_headers > size_of_image {
        return Err(ImageError::BadImageSize { size: size_of_headers as u64 });
    }
    let mut directories = Vec::new();
    for i in 0..ndirs {
        let rva = o32(96 + i * 8)?;
        let size = o32(100 + i * 8)?;
        if size != 0 && rva as u64 + size as u64 > size_of_image as u64 {
            return Err(ImageError::OutsideImage { what: format!("data directory {i}") });
        }
        directories.push((rva, size));
    }
    if nsect > MAX_SECTIONS {
        return Err(ImageError::TooManySections { count: nsect });
    }
    let st = oh + opt_size;
    let mut sections: Vec<SectionHeader> = Vec::with_capacity(nsect);
    for i in 0..nsect as u64 {
        let h = st + i * 40;
        let raw_name = rd::<8>(data, "section table", h)?;
        let name: String = raw_name.iter().take_while(|&&b| b != 0).map(|&b| b as char).collect::<String>();
        let s = SectionHeader {
            name: if name.is_empty() { format!("#{i}") } else { name },
            virtual_size: u32at(data, "section table", h + 8)?,
            rva: u32at(data, "section table", h + 12)?,
            raw_size: u32at(data, "section table", h + 16)?,
            raw_ptr: u32at(data, "section table", h + 20)?,
            characteristics: u32at(data, "section table", h + 36)?,
        };
        sections.push(s);
    }
    let page_aligned = sect_align >= 0x1000;
    let headers_end = if page_aligned { align_up(size_of_headers as u64, sect_align as u64) } else { 0 };
    let mut spans: Vec<(u64, u64, usize)> = Vec::new();
    for (i, s) in sections.iter().enumerate() {
        let span = if s.virtual_size != 0 { s.virtual_size } else { s.raw_size } as u64;
        if span == 0 {
            continue;
        }
        if s.rva % sect_align != 0 {
            return Err(ImageError::BadAlignment { what: "section address", value: s.rva as u64 });
        }
        let end = s.rva as u64 + align_up(span, sect_align as u64);
        if end > align_up(size_of_image as u64, 0x1000) {
            return Err(ImageError::OutsideImage { what: format!("section {}", s.name) });
        }
        if (s.rva as u64) < headers_end {
            return Err(ImageError::OverlappingSections { first: "headers".into(), second: s.name.clone() });
        }
        if let Some(&(_, _, j)) = spans.iter().find(|&&(a, b, _)| (s.rva as u64) < b && a < end) {
            return Err(ImageError::OverlappingSections {
                first: sections[j].name.clone(),
                second: s.name.clone(),
            });
        }
        spans.push((s.rva as u64, end, i));
        let copy = (s.raw_size as u64).min(align_up(span, sect_align as u64));
        if copy != 0 && s.raw_ptr as u64 + copy > data.len() as u64 {
            return Err(ImageError::Truncated {
                what: "section data",
                offset: s.raw_ptr as u64,
                len: copy,
                file_len: data.len() as u64,
            });
        }
        if !page_aligned && s.raw_ptr != s.rva {
            return Err(ImageError::BadAlignment {
                what: "section file offset (small alignment)",
                value: s.raw_ptr as u64,
            });
        }
    }
    Ok(Headers {
        image_base,
        size_of_image,
        entry_rva,
        characteristics,
        dll_characteristics,
        subsystem,
        stack_reserve,
        stack_commit,
        directories,
        sections,
    })
}

fn align_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a.max(1)) * a.max(1)
}

/// A mapped image read through RVAs, ignoring page protection (as the loader's own
/// mappings allow it), every read checked against SizeOfImage.
pub struct Mapped<'a> {
    pub mem: &'a Memory,
    pub base: u32,
    pub size: u32,
}

impl Mapped<'_> {
    fn bad(&self, what: &'static str, rva: u32) -> ImageError {
        ImageError::BadTable { what, detail: format!("RVA {rva:#x} outside the image") }
    }

    pub fn bytes(&self, what: &'static str, rva: u32, len: u32) -> Result<Vec<u8>, ImageError> {
        if rva as u64 + len as u64 > self.size as u64 {
            return Err(self.bad(what, rva));
        }
        let mut buf = vec![0u8; len as usize];
        self.mem.peek(self.base as u64 + rva as u64, &mut buf).map_err(|_| self.bad(what, rva))?;
        Ok(buf)
    }

    pub fn u32(&self, what: &'static str, rva: u32) -> Result<u32, ImageError> {
        let b = self.bytes(what, rva, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u16(&self, what: &'static str, rva: u32) -> Result<u16, ImageError> {
        let b = self.bytes(what, rva, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    /// A NUL-terminated ASCII string (at most 1 KiB).
    pub fn cstr(&self, what: &'static str, rva: u32) -> Result<String, ImageError> {
        let mut out = Vec::new();
        let mut r = rva;
        while out.len() < MAX_NAME {
            if r >= self.size {
                return Err(self.bad(what, r));
            }
            let mut b = [0u8; 1];
            self.mem.peek(self.base as u64 + r as u64, &mut b).map_err(|_| self.bad(what, r))?;
            if b[0] == 0 {
                return Ok(String::from_utf8_lossy(&out).into_owned());
            }
            out.push(b[0]);
            r += 1;
        }
        Err(ImageError::BadTable { what, detail: format!("name at RVA {rva:#x} is not terminated") })
    }
}

/// One export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportTarget {
    /// An address in the image (absolute).
    Address(u32),
    /// "DLL.Name" or "DLL.#ordinal".
    Forward(String),
}

/// The export directory of a mapped image.
#[derive(Debug, Clone, Default)]
pub struct Exports {
    pub ordinal_base: u32,
    /// Function RVAs by (ordinal - base); 0 = no export.
    functions: Vec<u32>,
    /// (name, index into functions), sorted by name as in the image.
    names: Vec<(String, u32)>,
    dir: (u32, u32),
    base: u32,
}

/// Most exports the loader reads from one DLL.
const MAX_EXPORTS: u32 = 0x1_0000;

impl Exports {
    pub fn read(m: &Mapped<'_>, dir: Option<(u32, u32)>) -> Result<Exports, ImageError> {
        let Some(dir) = dir else {
            return Ok(Exports { base: m.base, ..Exports::default() });
        };
        let what = "export directory";
        let ordinal_base = m.u32(what, dir.0 + 16)?;
        let nfuncs = m.u32(what, dir.0 + 20)?;
        let nnames = m.u32(what, dir.0 + 24)?;
        if nfuncs > MAX_EXPORTS || nnames > MAX_EXPORTS {
            return Err(ImageError::BadTable { what, detail: format!("{nfuncs} functions, {nnames} names") });
        }
        let funcs_rva = m.u32(what, dir.0 + 28)?;
        let names_rva = m.u32(what, dir.0 + 32)?;
        let ords_rva = m.u32(what, dir.0 + 36)?;
        let fb = m.bytes(what, funcs_rva, nfuncs * 4)?;
        let functions = fb.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        let nb = m.bytes(what, names_rva, nnames * 4)?;
        let ob = m.bytes(what, ords_rva, nnames * 2)?;
        let mut names = Vec::with_capacity(nnames as usize);
        for (n, o) in nb.chunks_exact(4).zip(ob.chunks_exact(2)) {
            let name = m.cstr(what, u32::from_le_bytes([n[0], n[1], n[2], n[3]]))?;
            names.push((name, u16::from_le_bytes([o[0], o[1]]) as u32));
        }
        Ok(Exports { ordinal_base, functions, names, dir, base: m.base })
    }

    fn target(&self, m: &Mapped<'_>, index: u32) -> Option<ExportTarget> {
        let rva = *self.functions.get(index as usize)?;
        if rva == 0 {
            return None;
        }
        if rva >= self.dir.0 && rva < self.dir.0 + self.dir.1 {
            return m.cstr("forwarder", rva).ok().map(ExportTarget::Forward);
        }
        Some(ExportTarget::Address(self.base.wrapping_add(rva)))
    }

    pub fn by_name(&self, m: &Mapped<'_>, name: &str) -> Option<ExportTarget> {
        // The table is sorted, but a sloppy image may not be: search linearly on a miss.
        let i = match self.names.binary_search_by(|(n, _)| n.as_bytes().cmp(name.as_bytes())) {
            Ok(i) => i,
            Err(_) => self.names.iter().position(|(n, _)| n == name)?,
        };
        self.target(m, self.names[i].1)
    }

    pub fn by_ordinal(&self, m: &Mapped<'_>, ordinal: u32) -> Option<ExportTarget> {
        self.target(m, ordinal.checked_sub(self.ordinal_base)?)
    }

    /// Entries in the export address table (ordinal = base + index).
    pub fn count(&self) -> u32 {
        self.functions.len() as u32
    }

    /// Every named export with its function index.
    pub fn names(&self) -> impl Iterator<Item = (&str, u32)> {
        self.names.iter().map(|(n, i)| (n.as_str(), *i))
    }

    /// The absolute address of a function index (forwarders excluded).
    pub fn address_of_index(&self, index: u32) -> Option<u32> {
        let rva = *self.functions.get(index as usize)?;
        let forward = rva >= self.dir.0 && rva < self.dir.0 + self.dir.1;
        (rva != 0 && !forward).then(|| self.base.wrapping_add(rva))
    }
}

/// One imported DLL: its name and (import lookup entry, IAT slot RVA) pairs.
#[derive(Debug, Clone)]
pub struct ImportedDll {
    pub dll: String,
    pub entries: Vec<(Import, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Import {
    Name(String),
    Ordinal(u32),
}

/// Most import descriptors / thunks the loader reads.
const MAX_IMPORT_DLLS: u32 = 4096;
const MAX_THUNKS: u32 = 0x1_0000;

pub fn imports(m: &Mapped<'_>, dir: Option<(u32, u32)>) -> Result<Vec<ImportedDll>, ImageError> {
    let Some(dir) = dir else { return Ok(Vec::new()) };
    let what = "import directory";
    let mut out = Vec::new();
    for i in 0..MAX_IMPORT_DLLS {
        // RVAs from the file: sums that pass 4 GiB are errors, not wrapped reads.
        let d = dir.0.checked_add(i * 20).ok_or_else(|| m.bad(what, dir.0))?;
        let ilt = m.u32(what, d)?;
        let name_rva = m.u32(what, d.saturating_add(12))?;
        let iat = m.u32(what, d.saturating_add(16))?;
        if ilt == 0 && name_rva == 0 && iat == 0 {
            return Ok(out);
        }
        let dll = m.cstr(what, name_rva)?;
        // Old binders leave the lookup table out; the IAT then holds the names.
        let lookup = if ilt != 0 { ilt } else { iat };
        let mut entries = Vec::new();
        for j in 0..MAX_THUNKS {
            let v = m.u32(what, lookup.checked_add(j * 4).ok_or_else(|| m.bad(what, lookup))?)?;
            if v == 0 {
                break;
            }
            let imp = if v & 0x8000_0000 != 0 {
                Import::Ordinal(v & 0xFFFF)
            } else {
                Import::Name(m.cstr(what, v.wrapping_add(2))?)
            };
            entries.push((imp, iat.checked_add(j * 4).ok_or_else(|| m.bad(what, iat))?));
        }
        out.push(ImportedDll { dll, entries });
    }
    Err(ImageError::BadTable { what, detail: "descriptor list without end".into() })
}

/// TLS directory: the index slot to fill and the callbacks (absolute addresses).
#[derive(Debug, Clone, Default)]
pub struct Tls {
    pub raw_start: u32,
    pub raw_end: u32,
    pub index_addr: u32,
    pub callbacks: Vec<u32>,
}

const MAX_TLS_CALLBACKS: u32 = 256;

pub fn tls(m: &Mapped<'_>, dir: Option<(u32, u32)>) -> Result<Option<Tls>, ImageError> {
    let Some(dir) = dir else { return Ok(None) };
    let what = "TLS directory";
    let raw_start = m.u32(what, dir.0)?;
    let raw_end = m.u32(what, dir.0 + 4)?;
    let index_addr = m.u32(what, dir.0 + 8)?;
    let cb_addr = m.u32(what, dir.0 + 12)?;
    let mut callbacks = Vec::new();
    if cb_addr != 0 {
        let rva = cb_addr.wrapping_sub(m.base);
        for i in 0..MAX_TLS_CALLBACKS {
            let f = m.u32(what, rva.wrapping_add(i * 4))?;
            if f == 0 {
                break;
            }
            callbacks.push(f);
        }
    }
    Ok(Some(Tls { raw_start, raw_end, index_addr, callbacks }))
}

/// IMAGE_DIRECTORY_ENTRY_EXPORT.
pub const fn dir_export() -> usize {
    0
}
