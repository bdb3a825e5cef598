//! A small PE32 writer: enough to build the guest ntdll and the images the tests need
//! (good ones and deliberately broken ones). Sections are laid out one after another at
//! the section alignment; the caller fills the data directories.

/// `IMAGE_SCN_*` combinations for the usual sections.
pub mod scn {
    pub const CODE: u32 = 0x6000_0020; // CNT_CODE | MEM_EXECUTE | MEM_READ
    pub const RDATA: u32 = 0x4000_0040; // CNT_INITIALIZED_DATA | MEM_READ
    pub const DATA: u32 = 0xC000_0040; // CNT_INITIALIZED_DATA | MEM_READ | MEM_WRITE
}

/// Data directory indexes.
pub mod dir {
    pub const EXPORT: usize = 0;
    pub const IMPORT: usize = 1;
    pub const BASERELOC: usize = 5;
    pub const TLS: usize = 9;
    pub const IAT: usize = 12;
}

pub const IMAGE_FILE_EXECUTABLE_IMAGE: u16 = 0x0002;
pub const IMAGE_FILE_RELOCS_STRIPPED: u16 = 0x0001;
pub const IMAGE_FILE_LARGE_ADDRESS_AWARE: u16 = 0x0020;
pub const IMAGE_FILE_32BIT_MACHINE: u16 = 0x0100;
pub const IMAGE_FILE_DLL: u16 = 0x2000;

/// One section to write.
#[derive(Debug, Clone)]
pub struct Section {
    pub name: [u8; 8],
    pub rva: u32,
    pub virtual_size: u32,
    pub characteristics: u32,
    pub data: Vec<u8>,
}

/// A PE32 image under construction.
#[derive(Debug, Clone)]
pub struct PeBuilder {
    pub machine: u16,
    pub characteristics: u16,
    pub image_base: u32,
    pub section_alignment: u32,
    pub file_alignment: u32,
    pub entry_rva: u32,
    pub subsystem: u16,
    pub stack_reserve: u32,
    pub stack_commit: u32,
    pub dll_characteristics: u16,
    pub directories: [(u32, u32); 16],
    pub sections: Vec<Section>,
}

impl PeBuilder {
    /// An i386 console executable (or DLL) at `image_base` with relocations stripped.
    pub fn new(image_base: u32, dll: bool) -> Self {
        let mut characteristics =
            IMAGE_FILE_EXECUTABLE_IMAGE | IMAGE_FILE_32BIT_MACHINE | IMAGE_FILE_RELOCS_STRIPPED;
        if dll {
            characteristics |= IMAGE_FILE_DLL;
        }
        PeBuilder {
            machine: 0x14C,
            characteristics,
            image_base,
            section_alignment: 0x1000,
            file_alignment: 0x200,
            entry_rva: 0,
            subsystem: 3,
            stack_reserve: 0x10_0000,
            stack_commit: 0x1000,
            dll_characteristics: 0,
            directories: [(0, 0); 16],
            sections: Vec::new(),
        }
    }

    /// The RVA the next section will get.
    pub fn next_rva(&self) -> u32 {
        match self.sections.last() {
            Some(s) => align(s.rva + s.virtual_size.max(1), self.section_alignment),
            None => self.section_alignment,
        }
    }

    /// Appends a section at [`PeBuilder::next_rva`] and returns its RVA.
    pub fn add_section(&mut self, name: &str, characteristics: u32, data: Vec<u8>) -> u32 {
        let rva = self.next_rva();
        let mut n = [0u8; 8];
        for (d, s) in n.iter_mut().zip(name.bytes()) {
            *d = s;
        }
        self.sections.push(Section {
            name: n,
            rva,
            virtual_size: data.len().max(1) as u32,
            characteristics,
            data,
        });
        rva
    }

    pub fn size_of_image(&self) -> u32 {
        self.next_rva()
    }

    /// Writes the image file.
    pub fn build(&self) -> Vec<u8> {
        let lfanew = 0x80u32;
        let nsect = self.sections.len();
        let headers_len = lfanew as usize + 4 + 20 + 224 + 40 * nsect;
        let size_of_headers = align(headers_len as u32, self.file_alignment);
        let mut out = vec![0u8; size_of_headers as usize];
        out[0..2].copy_from_slice(b"MZ");
        put32(&mut out, 0x3C, lfanew);
        let pe = lfanew as usize;
        out[pe..pe + 4].copy_from_slice(b"PE\0\0");
        let fh = pe + 4;
        put16(&mut out, fh, self.machine);
        put16(&mut out, fh + 2, nsect as u16);
        put16(&mut out, fh + 16, 224);
        put16(&mut out, fh + 18, self.characteristics);
        let oh = fh + 20;
        put16(&mut out, oh, 0x10B);
        out[oh + 2] = 14; // linker version
        let code: u32 =
            self.sections.iter().filter(|s| s.characteristics & 0x20 != 0).map(|s| s.virtual_size).sum();
        put32(&mut out, oh + 4, code);
        put32(&mut out, oh + 16, self.entry_rva);
        put32(&mut out, oh + 28, self.image_base);
        put32(&mut out, oh + 32, self.section_alignment);
        put32(&mut out, oh + 36, self.file_alignment);
        put16(&mut out, oh + 40, 6); // OS version 6.0
        put16(&mut out, oh + 48, 6); // subsystem version 6.0
        put32(&mut out, oh + 56, self.size_of_image());
        put32(&mut out, oh + 60, size_of_headers);
        put16(&mut out, oh + 68, self.subsystem);
        put16(&mut out, oh + 70, self.dll_characteristics);
        put32(&mut out, oh + 72, self.stack_reserve);
        put32(&mut out, oh + 76, self.stack_commit);
        put32(&mut out, oh + 80, 0x10_0000);
        put32(&mut out, oh + 84, 0x1000);
        put32(&mut out, oh + 92, 16);
        for (i, (rva, size)) in self.directories.iter().enumerate() {
            put32(&mut out, oh + 96 + i * 8, *rva);
            put32(&mut out, oh + 100 + i * 8, *size);
        }
        let mut raw = size_of_headers;
        let st = oh + 224;
        let mut bodies = Vec::new();
        for (i, s) in self.sections.iter().enumerate() {
            let h = st + i * 40;
            out[h..h + 8].copy_from_slice(&s.name);
            put32(&mut out, h + 8, s.virtual_size);
            put32(&mut out, h + 12, s.rva);
            let raw_size = align(s.data.len() as u32, self.file_alignment);
            put32(&mut out, h + 16, raw_size);
            put32(&mut out, h + 20, if raw_size == 0 { 0 } else { raw });
            put32(&mut out, h + 36, s.characteristics);
            if raw_size != 0 {
                let mut body = s.data.clone();
                body.resize(raw_size as usize, 0);
                bodies.push(body);
                raw += raw_size;
            }
        }
        for b in bodies {
            out.extend_from_slice(&b);
        }
        out
    }
}

/// Builds an export directory placed at `rva`: `exports` are (name, function RVA) and
/// `forwards` are (name, "DLL.Function") forwarders whose strings live in the directory.
/// Names are sorted as the loader's binary search requires. Ordinals start at `ordinal_base`.
pub fn export_directory(
    rva: u32,
    dll_name: &str,
    ordinal_base: u32,
    exports: &[(&str, u32)],
    forwards: &[(&str, &str)],
) -> Vec<u8> {
    let mut all: Vec<(String, Option<u32>, Option<String>)> = exports
        .iter()
        .map(|(n, r)| (n.to_string(), Some(*r), None))
        .chain(forwards.iter().map(|(n, f)| (n.to_string(), None, Some(f.to_string()))))
        .collect();
    // Functions keep the order given (ordinals); names are sorted separately.
    let n = all.len() as u32;
    let funcs_off = 40u32;
    let names_off = funcs_off + 4 * n;
    let ords_off = names_off + 4 * n;
    let strings_off = ords_off + 2 * n;
    let mut strings: Vec<u8> = Vec::new();
    let string_rva = |s: &str, strings: &mut Vec<u8>| -> u32 {
        let r = rva + strings_off + strings.len() as u32;
        strings.extend_from_slice(s.as_bytes());
        strings.push(0);
        r
    };
    let dll_name_rva = string_rva(dll_name, &mut strings);
    let mut funcs = Vec::new();
    for (_, r, f) in &all {
        funcs.push(match (r, f) {
            (Some(r), _) => *r,
            (None, Some(f)) => string_rva(f, &mut strings),
            _ => 0,
        });
    }
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.sort_by(|&a, &b| all[a].0.as_bytes().cmp(all[b].0.as_bytes()));
    let mut name_rvas = Vec::new();
    let mut ords = Vec::new();
    for &i in &order {
        let name = std::mem::take(&mut all[i].0);
        name_rvas.push(string_rva(&name, &mut strings));
        ords.push(i as u16);
    }
    let mut d = vec![0u8; strings_off as usize];
    put32(&mut d, 12, dll_name_rva);
    put32(&mut d, 16, ordinal_base);
    put32(&mut d, 20, n);
    put32(&mut d, 24, n);
    put32(&mut d, 28, rva + funcs_off);
    put32(&mut d, 32, rva + names_off);
    put32(&mut d, 36, rva + ords_off);
    for (i, f) in funcs.iter().enumerate() {
        put32(&mut d, (funcs_off as usize) + 4 * i, *f);
    }
    for (i, r) in name_rvas.iter().enumerate() {
        put32(&mut d, (names_off as usize) + 4 * i, *r);
    }
    for (i, o) in ords.iter().enumerate() {
        put16(&mut d, (ords_off as usize) + 2 * i, *o);
    }
    d.extend_from_slice(&strings);
    d
}

/// An import to describe with [`import_directory`]: a DLL and its (name or ordinal) imports.
#[derive(Debug, Clone)]
pub struct ImportDll {
    pub dll: String,
    pub names: Vec<ImportName>,
}

#[derive(Debug, Clone)]
pub enum ImportName {
    Name(String),
    Ordinal(u16),
}

/// Builds an import directory placed at `rva`. Returns the section bytes and, per DLL,
/// the RVA of its first IAT slot (slots are 4 bytes, in the order given).
pub fn import_directory(rva: u32, dlls: &[ImportDll]) -> (Vec<u8>, Vec<u32>) {
    let desc_len = 20 * (dlls.len() as u32 + 1);
    // Per DLL: ILT then IAT (each names.len() + 1 slots).
    let mut off = desc_len;
    let mut layout = Vec::new();
    for d in dlls {
        let slots = 4 * (d.names.len() as u32 + 1);
        layout.push((off, off + slots));
        off += 2 * slots;
    }
    let mut out = vec![0u8; off as usize];
    let mut iats = Vec::new();
    for (i, d) in dlls.iter().enumerate() {
        let (ilt, iat) = layout[i];
        let name_rva = rva + out.len() as u32;
        out.extend_from_slice(d.dll.as_bytes());
        out.push(0);
        if out.len() % 2 == 1 {
            out.push(0);
        }
        put32(&mut out, i * 20, rva + ilt);
        put32(&mut out, i * 20 + 12, name_rva);
        put32(&mut out, i * 20 + 16, rva + iat);
        iats.push(rva + iat);
        for (j, n) in d.names.iter().enumerate() {
            let v = match n {
                ImportName::Ordinal(o) => 0x8000_0000 | *o as u32,
                ImportName::Name(s) => {
                    let hint_rva = rva + out.len() as u32;
                    out.extend_from_slice(&[0, 0]);
                    out.extend_from_slice(s.as_bytes());
                    out.push(0);
                    if out.len() % 2 == 1 {
                        out.push(0);
                    }
                    hint_rva
                }
            };
            put32(&mut out, (ilt as usize) + 4 * j, v);
            put32(&mut out, (iat as usize) + 4 * j, v);
        }
    }
    (out, iats)
}

pub fn align(v: u32, a: u32) -> u32 {
    v.div_ceil(a) * a
}

pub fn put16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

pub fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
