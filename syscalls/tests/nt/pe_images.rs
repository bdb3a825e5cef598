//! SEC_IMAGE sections: PE32 and PE32+ images built by hand, mapped, relocated, and
//! malformed in many ways.

use pretty_assertions::assert_eq;
use x86wow_syscalls::consts::*;
use x86wow_syscalls::{parse_image, NtStatus};

use crate::common::Env;
use crate::sections::{create_section, map};

const P: u64 = u64::MAX;
const SCN_CODE: u32 = 0x20;
const SCN_IDATA: u32 = 0x40;
const SCN_X: u32 = 0x2000_0000;
const SCN_R: u32 = 0x4000_0000;
const SCN_W: u32 = 0x8000_0000;

pub struct Sect {
    pub name: &'static str,
    pub va: u32,
    pub vsize: u32,
    pub data: Vec<u8>,
    pub ch: u32,
}

pub struct Pe {
    pub pe32_plus: bool,
    pub base: u64,
    pub sections: Vec<Sect>,
    /// RVAs of HIGHLOW (PE32) or DIR64 (PE32+) fixups; adds a .reloc section.
    pub relocs: Option<Vec<u32>>,
    pub characteristics: u16,
    pub entry: u32,
    pub section_alignment: u32,
    pub file_alignment: u32,
}

impl Pe {
    pub fn new(pe32_plus: bool) -> Pe {
        Pe {
            pe32_plus,
            base: if pe32_plus { 0x1_4000_0000 } else { 0x40_0000 },
            sections: vec![
                Sect {
                    name: ".text",
                    va: 0x1000,
                    vsize: 0x10,
                    data: vec![0xC3; 0x10],
                    ch: SCN_CODE | SCN_X | SCN_R,
                },
                Sect {
                    name: ".rdata",
                    va: 0x2000,
                    vsize: 0x1800,
                    data: b"read only".to_vec(),
                    ch: SCN_IDATA | SCN_R,
                },
                Sect {
                    name: ".data",
                    va: 0x4000,
                    vsize: 0x2000,
                    data: vec![0; 0x10],
                    ch: SCN_IDATA | SCN_R | SCN_W,
                },
            ],
            relocs: None,
            characteristics: 0x0102 | if pe32_plus { 0x20 } else { 0 },
            entry: 0x1000,
            section_alignment: 0x1000,
            file_alignment: 0x200,
        }
    }

    pub fn build(&self) -> Vec<u8> {
        let mut sections: Vec<(String, u32, u32, Vec<u8>, u32)> =
            self.sections.iter().map(|s| (s.name.to_string(), s.va, s.vsize, s.data.clone(), s.ch)).collect();
        let mut reloc_dir = (0u32, 0u32);
        if let Some(r) = &self.relocs {
            let last = sections.iter().map(|s| s.1 + s.2).max().unwrap_or(0x1000);
            let va = (last + 0xFFF) & !0xFFF;
            let mut table = Vec::new();
            let mut pages: Vec<u32> = r.iter().map(|x| x & !0xFFF).collect();
            pages.dedup();
            for p in pages {
                let entries: Vec<u16> = r
                    .iter()
                    .filter(|x| *x & !0xFFF == p)
                    .map(|x| ((if self.pe32_plus { 10 } else { 3 }) << 12) | (*x & 0xFFF) as u16)
                    .collect();
                let mut entries = entries;
                if entries.len() % 2 == 1 {
                    entries.push(0);
                }
                table.extend(p.to_le_bytes());
                table.extend((8 + 2 * entries.len() as u32).to_le_bytes());
                for e in entries {
                    table.extend(e.to_le_bytes());
                }
            }
            reloc_dir = (va, table.len() as u32);
            sections.push((".reloc".into(), va, table.len() as u32, table, SCN_IDATA | SCN_R));
        }
        let opt_size: u16 = if self.pe32_plus { 240 } else { 224 };
        let hdr_end = 0x40 + 4 + 20 + opt_size as usize + 40 * sections.len();
        let fa = self.file_alignment as usize;
        let size_of_headers = hdr_end.div_ceil(fa) * fa;
        let mut file = vec![0u8; size_of_headers];
        file[0..2].copy_from_slice(b"MZ");
        file[0x3C..0x40].copy_from_slice(&0x40u32.to_le_bytes());
        file[0x40..0x44].copy_from_slice(b"PE\0\0");
        let fh = 0x44;
        let machine: u16 = if self.pe32_plus { 0x8664 } else { 0x14C };
        file[fh..fh + 2].copy_from_slice(&machine.to_le_bytes());
        file[fh + 2..fh + 4].copy_from_slice(&(sections.len() as u16).to_le_bytes());
        file[fh + 16..fh + 18].copy_from_slice(&opt_size.to_le_bytes());
        file[fh + 18..fh + 20].copy_from_slice(&self.characteristics.to_le_bytes());
        let oh = fh + 20;
        let w16 = |f: &mut Vec<u8>, o: usize, v: u16| f[o..o + 2].copy_from_slice(&v.to_le_bytes());
        let w32 = |f: &mut Vec<u8>, o: usize, v: u32| f[o..o + 4].copy_from_slice(&v.to_le_bytes());
        let w64 = |f: &mut Vec<u8>, o: usize, v: u64| f[o..o + 8].copy_from_slice(&v.to_le_bytes());
        w16(&mut file, oh, if self.pe32_plus { 0x20B } else { 0x10B });
        w32(&mut file, oh + 16, self.entry);
        let sa = self.section_alignment;
        let size_of_image =
            sections.iter().map(|s| s.1 + s.2.max(s.3.len() as u32)).max().unwrap_or(0x1000).div_ceil(sa)
                * sa;
        if self.pe32_plus {
            w64(&mut file, oh + 24, self.base);
        } else {
            w32(&mut file, oh + 28, self.base as u32);
        }
        w32(&mut file, oh + 32, sa);
        w32(&mut file, oh + 36, self.file_alignment);
        w16(&mut file, oh + 40, 6);
        w16(&mut file, oh + 48, 6);
        w16(&mut file, oh + 50, 1);
        w32(&mut file, oh + 56, size_of_image);
        w32(&mut file, oh + 60, size_of_headers as u32);
        w16(&mut file, oh + 68, 3); // console
        w16(&mut file, oh + 70, 0x8140);
        let (dirs, n_rva) = if self.pe32_plus {
            w64(&mut file, oh + 72, 0x10_0000);
            w64(&mut file, oh + 80, 0x1000);
            (oh + 112, oh + 108)
        } else {
            w32(&mut file, oh + 72, 0x10_0000);
            w32(&mut file, oh + 76, 0x1000);
            (oh + 96, oh + 92)
        };
        w32(&mut file, n_rva, 16);
        w32(&mut file, dirs + 5 * 8, reloc_dir.0);
        w32(&mut file, dirs + 5 * 8 + 4, reloc_dir.1);
        let mut st = oh + opt_size as usize;
        for (name, va, vsize, data, ch) in &sections {
            let raw_ptr = file.len();
            let raw_size = data.len().div_ceil(fa) * fa;
            let mut n = [0u8; 8];
            n[..name.len()].copy_from_slice(name.as_bytes());
            file[st..st + 8].copy_from_slice(&n);
            w32(&mut file, st + 8, *vsize);
            w32(&mut file, st + 12, *va);
            w32(&mut file, st + 16, raw_size as u32);
            w32(&mut file, st + 20, if raw_size == 0 { 0 } else { raw_ptr as u32 });
            w32(&mut file, st + 36, *ch);
            file.extend_from_slice(data);
            file.resize(raw_ptr + raw_size, 0);
            st += 40;
        }
        file
    }
}

/// Creates an image section; a PE32 image makes the process a wow64 one (a native
/// process mapping it would get STATUS_IMAGE_MACHINE_TYPE_MISMATCH).
fn image_section(e: &mut Env, name: &str, bytes: &[u8]) -> (NtStatus, u64) {
    if parse_image(bytes).is_ok_and(|i| !i.pe32_plus) && e.k.process().peb32 == 0 {
        e.k.set_process_blocks(0x7FF0_0000_0000, 0x7FF0_0001_0000, 0x7EFD_E000);
    }
    std::fs::write(e.host(name), bytes).unwrap();
    let (st, f, _) = e.create_file(
        &format!("\\??\\C:\\{name}"),
        GENERIC_READ | FILE_EXECUTE | SYNCHRONIZE,
        FILE_SHARE_READ,
        FILE_OPEN,
        FILE_SYNCHRONOUS_IO_NONALERT,
    );
    assert_eq!(st, NtStatus::SUCCESS);
    create_section(e, None, PAGE_EXECUTE, SEC_IMAGE, f)
}

#[test]
fn pe32_image_maps_at_its_preferred_base_with_section_protections() {
    let mut e = Env::new();
    let (st, sec) = image_section(&mut e, "app.exe", &Pe::new(false).build());
    assert_eq!(st, NtStatus::SUCCESS);
    let (st, base, size, _) = map(&mut e, sec, 0, None, 0, PAGE_READWRITE);
    assert_eq!((st, base, size), (NtStatus::SUCCESS, 0x40_0000, 0x6000));
    assert_eq!(e.bytes(base, 2), b"MZ".to_vec());
    assert_eq!(e.mem.read_u8(base + 0x1000).unwrap(), 0xC3);
    assert_eq!(e.bytes(base + 0x2000, 9), b"read only".to_vec());
    let q = |e: &mut Env, a: u64| {
        let i = e.k.query_memory(&e.mem, a);
        (i.base, i.region_size, i.protect, i.ty, i.allocation_base, i.allocation_protect)
    };
    assert_eq!(q(&mut e, base), (base, 0x1000, PAGE_READONLY, MEM_IMAGE, base, PAGE_EXECUTE_WRITECOPY));
    assert_eq!(q(&mut e, base + 0x1000).2, PAGE_EXECUTE_READ);
    assert_eq!(
        q(&mut e, base + 0x2000).0..q(&mut e, base + 0x2000).0 + q(&mut e, base + 0x2000).1,
        base + 0x2000..base + 0x4000
    );
    assert_eq!(q(&mut e, base + 0x4000).2, PAGE_WRITECOPY);
    assert!(e.mem.write_u8(base + 0x2000, 0).is_err());
    assert!(e.mem.write_u8(base + 0x4000, 0).is_ok());
    assert!(e.mem.fetch(base + 0x1000, &mut [0u8; 1]) == 1);
}

#[test]
fn section_image_information_bytes() {
    let mut e = Env::new();
    let (_, sec) = image_section(&mut e, "app.exe", &Pe::new(false).build());
    let buf = e.alloc(64);
    let rl = e.u64_cell(0);
    assert_eq!(e.k.nt_query_section(&mut e.mem, sec, 1, buf, 64, rl), NtStatus::SUCCESS);
    let b = e.bytes(buf, 64);
    let mut want = vec![0u8; 64];
    want[0..8].copy_from_slice(&0x40_1000u64.to_le_bytes());
    want[0x10..0x18].copy_from_slice(&0x10_0000u64.to_le_bytes());
    want[0x18..0x20].copy_from_slice(&0x1000u64.to_le_bytes());
    want[0x20..0x24].copy_from_slice(&3u32.to_le_bytes());
    want[0x24..0x26].copy_from_slice(&1u16.to_le_bytes());
    want[0x26..0x28].copy_from_slice(&6u16.to_le_bytes());
    want[0x28..0x2A].copy_from_slice(&6u16.to_le_bytes());
    want[0x2C..0x2E].copy_from_slice(&0x0102u16.to_le_bytes());
    want[0x2E..0x30].copy_from_slice(&0x8140u16.to_le_bytes());
    want[0x30..0x32].copy_from_slice(&0x14Cu16.to_le_bytes());
    want[0x32] = 1;
    let file_len = std::fs::metadata(e.host("app.exe")).unwrap().len() as u32;
    want[0x38..0x3C].copy_from_slice(&file_len.to_le_bytes());
    assert_eq!(b, want);
    assert_eq!(e.rd64(rl), 64);
    let buf = e.alloc(24);
    e.k.nt_query_section(&mut e.mem, sec, 0, buf, 24, 0);
    assert_eq!((e.rd32(buf + 8), e.rd64(buf + 16)), (SEC_IMAGE | SEC_FILE, 0x6000));
}

#[test]
fn pe32_plus_image_maps_too() {
    let mut e = Env::new();
    let (st, sec) = image_section(&mut e, "app64.exe", &Pe::new(true).build());
    assert_eq!(st, NtStatus::SUCCESS);
    let (st, base, ..) = map(&mut e, sec, 0, None, 0, PAGE_READWRITE);
    assert_eq!((st, base), (NtStatus::SUCCESS, 0x1_4000_0000));
    assert_eq!(e.k.section_image_info(sec).map(|i| (i.pe32_plus, i.machine)), Some((true, 0x8664)));
}

#[test]
fn wow64_process_mapping_a_64_bit_image_gets_machine_type_mismatch() {
    let mut e = Env::new();
    e.k.set_process_blocks(0x7FF0_0000_0000, 0x7FF0_0001_0000, 0x7EFD_E000);
    let (_, sec) = image_section(&mut e, "app64.exe", &Pe::new(true).build());
    assert_eq!(map(&mut e, sec, 0, None, 0, PAGE_READWRITE).0, NtStatus::IMAGE_MACHINE_TYPE_MISMATCH);
    let (_, sec) = image_section(&mut e, "app32.exe", &Pe::new(false).build());
    assert_eq!(map(&mut e, sec, 0, None, 0, PAGE_READWRITE).0, NtStatus::SUCCESS);
}

#[test]
fn native_process_mapping_a_32_bit_image_gets_machine_type_mismatch() {
    let mut e = Env::new();
    std::fs::write(e.host("a.exe"), Pe::new(false).build()).unwrap();
    let (_, f, _) = e.create_file(
        "\\??\\C:\\a.exe",
        GENERIC_READ | FILE_EXECUTE | SYNCHRONIZE,
        FILE_SHARE_READ,
        FILE_OPEN,
        FILE_SYNCHRONOUS_IO_NONALERT,
    );
    let (_, sec) = create_section(&mut e, None, PAGE_EXECUTE, SEC_IMAGE, f);
    assert_eq!(map(&mut e, sec, 0, None, 0, PAGE_READWRITE).0, NtStatus::IMAGE_MACHINE_TYPE_MISMATCH);
}

fn relocatable(pe32_plus: bool) -> Pe {
    let mut pe = Pe::new(pe32_plus);
    let ptr_size = if pe32_plus { 8 } else { 4 };
    let mut data = vec![0u8; 0x10];
    let target = pe.base + 0x2000;
    data[..ptr_size].copy_from_slice(&target.to_le_bytes()[..ptr_size]);
    pe.sections[2].data = data;
    pe.relocs = Some(vec![0x4000]);
    pe.characteristics &= !1;
    pe
}

#[test]
fn second_mapping_is_relocated() {
    for pe32_plus in [false, true] {
        let mut e = Env::new();
        let (st, sec) = image_section(&mut e, "dll.dll", &relocatable(pe32_plus).build());
        assert_eq!(st, NtStatus::SUCCESS);
        let (st, first, ..) = map(&mut e, sec, 0, None, 0, PAGE_READWRITE);
        assert_eq!(st, NtStatus::SUCCESS);
        let (st, second, ..) = map(&mut e, sec, 0, None, 0, PAGE_READWRITE);
        assert_eq!(st, NtStatus::IMAGE_NOT_AT_BASE);
        assert_ne!(first, second);
        let (v1, v2) = if pe32_plus {
            (e.rd64(first + 0x4000), e.rd64(second + 0x4000))
        } else {
            (e.rd32(first + 0x4000) as u64, e.rd32(second + 0x4000) as u64)
        };
        assert_eq!((v1, v2), (first + 0x2000, second + 0x2000));
    }
}

#[test]
fn image_without_relocations_cannot_move() {
    let mut e = Env::new();
    let (_, sec) = image_section(&mut e, "fixed.exe", &Pe::new(false).build());
    assert_eq!(map(&mut e, sec, 0, None, 0, PAGE_READWRITE).0, NtStatus::SUCCESS);
    assert_eq!(map(&mut e, sec, 0, None, 0, PAGE_READWRITE).0, NtStatus::CONFLICTING_ADDRESSES);
}

#[test]
fn unmapping_an_image_frees_its_range() {
    let mut e = Env::new();
    let (_, sec) = image_section(&mut e, "app.exe", &Pe::new(false).build());
    let (_, base, ..) = map(&mut e, sec, 0, None, 0, PAGE_READWRITE);
    assert_eq!(e.k.nt_unmap_view_of_section(&mut e.mem, P, base + 0x4010), NtStatus::SUCCESS);
    assert_eq!(e.k.query_memory(&e.mem, base).state, MEM_FREE);
    assert_eq!(map(&mut e, sec, 0, None, 0, PAGE_READWRITE).1, base);
}

fn malformed(bytes: &[u8]) -> NtStatus {
    let mut e = Env::new();
    image_section(&mut e, "bad.exe", bytes).0
}

fn patch(mut v: Vec<u8>, at: usize, bytes: &[u8]) -> Vec<u8> {
    v[at..at + bytes.len()].copy_from_slice(bytes);
    v
}

#[test]
fn not_mz_dos_ne_and_le_images() {
    assert_eq!(malformed(b""), NtStatus::INVALID_IMAGE_NOT_MZ);
    assert_eq!(malformed(b"#!/bin/sh\necho hi\n"), NtStatus::INVALID_IMAGE_NOT_MZ);
    let mut dos = vec![0u8; 0x100];
    dos[0..2].copy_from_slice(b"MZ");
    dos[0x3C..0x40].copy_from_slice(&0x1000u32.to_le_bytes());
    assert_eq!(malformed(&dos), NtStatus::INVALID_IMAGE_PROTECT);
    let ne = patch(patch(dos.clone(), 0x3C, &0x80u32.to_le_bytes()), 0x80, b"NE");
    assert_eq!(malformed(&ne), NtStatus::INVALID_IMAGE_NE_FORMAT);
    let win16 = patch(ne.clone(), 0x80 + 0x36, &[2]);
    assert_eq!(malformed(&win16), NtStatus::INVALID_IMAGE_WIN_16);
    let le = patch(ne, 0x80, b"LE");
    assert_eq!(malformed(&le), NtStatus::INVALID_IMAGE_LE_FORMAT);
    let zz = patch(dos.clone(), 0x3C, &0x80u32.to_le_bytes());
    assert_eq!(malformed(&zz), NtStatus::INVALID_IMAGE_PROTECT);
}

#[test]
fn bad_pe_headers_are_invalid_image_format() {
    let good = Pe::new(false).build();
    let oh = 0x58;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("optional header magic", patch(good.clone(), oh, &0x999u16.to_le_bytes())),
        ("machine", patch(good.clone(), 0x44, &0x1C0u16.to_le_bytes())),
        ("PE32 with AMD64", patch(good.clone(), 0x44, &0x8664u16.to_le_bytes())),
        ("not executable", patch(good.clone(), 0x44 + 18, &0u16.to_le_bytes())),
        ("section alignment", patch(good.clone(), oh + 32, &0x1800u32.to_le_bytes())),
        ("file alignment above section", patch(good.clone(), oh + 36, &0x2000u32.to_le_bytes())),
        ("image base", patch(good.clone(), oh + 28, &0x40_1000u32.to_le_bytes())),
        ("size of image", patch(good.clone(), oh + 56, &0u32.to_le_bytes())),
        ("huge size of image", patch(good.clone(), oh + 56, &0xFFFF_F000u32.to_le_bytes())),
        ("headers larger than image", patch(good.clone(), oh + 60, &0x10_0000u32.to_le_bytes())),
        ("too many sections", patch(good.clone(), 0x44 + 2, &200u16.to_le_bytes())),
        ("section table beyond file", patch(good.clone(), 0x44 + 2, &90u16.to_le_bytes())),
        ("optional header too small", patch(good.clone(), 0x44 + 16, &8u16.to_le_bytes())),
        ("raw data beyond the file", patch(good.clone(), oh + 224 + 20, &0x10_0000u32.to_le_bytes())),
        ("section past SizeOfImage", patch(good.clone(), oh + 224 + 40 * 2 + 8, &0x10_0000u32.to_le_bytes())),
        ("sections out of order", patch(good.clone(), oh + 224 + 40 + 12, &0x1000u32.to_le_bytes())),
        ("truncated", good[..0x60].to_vec()),
    ];
    for (what, bytes) in cases {
        assert_eq!(malformed(&bytes), NtStatus::INVALID_IMAGE_FORMAT, "{what}");
    }
}

#[test]
fn bad_relocations_fail_the_relocated_mapping() {
    let mut pe = relocatable(false);
    pe.relocs = Some(vec![0x6FFE]); // crosses the end of the image
    let mut e = Env::new();
    let (st, sec) = image_section(&mut e, "r.dll", &pe.build());
    assert_eq!(st, NtStatus::SUCCESS);
    assert_eq!(map(&mut e, sec, 0, None, 0, PAGE_READWRITE).0, NtStatus::SUCCESS);
    let allocs = e.k.allocations().len();
    assert_eq!(map(&mut e, sec, 0, None, 0, PAGE_READWRITE).0, NtStatus::INVALID_IMAGE_FORMAT);
    assert_eq!(e.k.allocations().len(), allocs, "nothing left mapped");
}

#[test]
fn small_alignment_image_is_one_block() {
    let mut pe = Pe::new(false);
    pe.section_alignment = 0x200;
    pe.file_alignment = 0x200;
    pe.sections = vec![Sect {
        name: ".text",
        va: 0x200,
        vsize: 0x10,
        data: vec![0x90; 0x10],
        ch: SCN_CODE | SCN_X | SCN_R,
    }];
    pe.entry = 0x200;
    let info = parse_image(&pe.build()).unwrap();
    assert_eq!(info.blocks.len(), 1);
    assert_eq!((info.blocks[0].protect, info.blocks[0].size), (PAGE_EXECUTE_WRITECOPY, 0x1000));
}

#[test]
fn mutated_images_never_panic() {
    // A deterministic mutation fuzz over both header kinds.
    let mut seed = 0x1234_5678_9ABC_DEF0u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for base in [Pe::new(false).build(), relocatable(true).build()] {
        for _ in 0..400 {
            let mut m = base.clone();
            for _ in 0..(1 + next() % 8) {
                let at = (next() as usize) % m.len().min(0x400);
                m[at] = next() as u8;
            }
            if next() % 5 == 0 {
                m.truncate((next() as usize) % m.len());
            }
            let _ = parse_image(&m);
        }
    }
}
