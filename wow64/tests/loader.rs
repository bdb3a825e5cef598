//! PE loader: precise errors for bad images (never a panic or unbounded allocation),
//! missing DLLs and exports, MEM_IMAGE mappings, large-address-awareness, and the
//! process start (TLS callbacks, DllMain, entry point).

use x86wow_wow64::error::{Error, ImageError, LoadError};
use x86wow_wow64::pe;
use x86wow_wow64::pebuild::{self, scn, ImportDll, ImportName, PeBuilder};
use x86wow_wow64::Process;

/// mov eax, imm32 ; ret
fn ret_code(v: u32) -> Vec<u8> {
    let mut c = vec![0xB8];
    c.extend_from_slice(&v.to_le_bytes());
    c.push(0xC3);
    c
}

fn exe(code: Vec<u8>) -> PeBuilder {
    let mut pe = PeBuilder::new(0x40_0000, false);
    pe.entry_rva = pe.add_section(".text", scn::CODE, code);
    pe
}

fn image_error(bytes: &[u8]) -> ImageError {
    let e = pe::parse(bytes).unwrap_err();
    match Process::builder().build(bytes) {
        Err(Error::Load(LoadError::Image { error, .. })) => assert_eq!(error, e),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("loaded a bad image"),
    }
    e
}

fn put16(b: &mut [u8], o: usize, v: u16) {
    b[o..o + 2].copy_from_slice(&v.to_le_bytes());
}

fn put32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}

const OH: usize = 0x80 + 24; // optional header offset in pebuild images

#[test]
fn a_good_image_runs_and_is_mapped_as_mem_image() {
    let bytes = exe(ret_code(7)).build();
    assert!(pe::parse(&bytes).is_ok());
    let mut p = Process::builder().build(&bytes).unwrap();
    let base = p.main_module().base;
    assert_eq!(base, 0x40_0000);
    let info = p.kernel.query_memory(&p.cpu.mem, base as u64 + 0x1000);
    assert_eq!(info.ty, x86wow_syscalls::consts::MEM_IMAGE);
    assert_eq!(p.run(), 7);
}

#[test]
fn not_mz_not_pe_and_64_bit_images() {
    assert_eq!(image_error(b"hello"), ImageError::NotMz);
    let mut b = exe(ret_code(0)).build();
    b[0x80] = b'X';
    assert_eq!(image_error(&b), ImageError::NoPeSignature { e_lfanew: 0x80 });
    let mut b = exe(ret_code(0)).build();
    put16(&mut b, OH, 0x20B);
    assert_eq!(image_error(&b), ImageError::NotPe32 { magic: 0x20B });
    let mut b = exe(ret_code(0)).build();
    put16(&mut b, 0x84, 0x8664);
    assert_eq!(image_error(&b), ImageError::WrongMachine { machine: 0x8664 });
    let mut b = exe(ret_code(0)).build();
    put16(&mut b, 0x84 + 18, 0x0100); // not IMAGE_FILE_EXECUTABLE_IMAGE
    assert_eq!(image_error(&b), ImageError::NotExecutable);
}

#[test]
fn truncated_images() {
    let b = exe(ret_code(0)).build();
    for len in [0x40, 0x84, 0x98, 0x100, 0x210] {
        let e = image_error(&b[..len]);
        assert!(
            matches!(e, ImageError::Truncated { .. } | ImageError::NoPeSignature { .. }),
            "{len:#x}: {e:?}"
        );
    }
    // Section data past the end of the file.
    let e = image_error(&b[..b.len() - 0x100]);
    assert!(matches!(e, ImageError::Truncated { what: "section data", .. }), "{e:?}");
    // A huge e_lfanew does not allocate or panic.
    let mut b2 = b.clone();
    put32(&mut b2, 0x3C, 0xFFFF_FFF0);
    assert_eq!(image_error(&b2), ImageError::NoPeSignature { e_lfanew: 0xFFFF_FFF0 });
}

#[test]
fn bad_alignment_and_overlapping_sections() {
    let mut pe = exe(ret_code(0));
    pe.section_alignment = 0x3000;
    assert!(matches!(image_error(&pe.build()), ImageError::BadAlignment { what: "section alignment", .. }));
    let mut pe = exe(ret_code(0));
    pe.file_alignment = 0x2000;
    assert!(matches!(image_error(&pe.build()), ImageError::BadAlignment { what: "file alignment", .. }));
    let mut pe = exe(ret_code(0));
    pe.image_base = 0x40_1000;
    assert!(matches!(image_error(&pe.build()), ImageError::BadAlignment { what: "image base", .. }));
    let mut pe = exe(ret_code(0));
    pe.add_section(".data", scn::DATA, vec![1; 16]);
    pe.sections[1].rva = 0x1000; // on top of .text
    let e = image_error(&pe.build());
    assert_eq!(e, ImageError::OverlappingSections { first: ".text".into(), second: ".data".into() });
    let mut pe = exe(ret_code(0));
    pe.sections[0].rva = 0x1800;
    assert!(matches!(image_error(&pe.build()), ImageError::BadAlignment { what: "section address", .. }));
}

#[test]
fn sizes_from_the_headers_are_bounded() {
    let mut b = exe(ret_code(0)).build();
    put32(&mut b, OH + 56, 0xFFFF_F000); // SizeOfImage
    assert!(matches!(image_error(&b), ImageError::BadImageSize { .. }));
    let mut b = exe(ret_code(0)).build();
    put16(&mut b, 0x86, 5000); // NumberOfSections
    assert!(matches!(image_error(&b), ImageError::TooManySections { count: 5000 }));
    let mut pe = exe(ret_code(0));
    pe.sections[0].virtual_size = 0x10_0000; // past SizeOfImage
    let mut b = pe.build();
    put32(&mut b, OH + 56, 0x2000);
    assert!(matches!(image_error(&b), ImageError::OutsideImage { .. }));
}

#[test]
fn missing_dll_and_missing_exports() {
    let mut pe = exe(ret_code(0));
    let rva = pe.next_rva();
    let (idata, _) = pebuild::import_directory(
        rva,
        &[ImportDll { dll: "nowhere.dll".into(), names: vec![ImportName::Name("Foo".into())] }],
    );
    pe.directories[pebuild::dir::IMPORT] = (rva, idata.len() as u32);
    pe.add_section(".idata", scn::DATA, idata);
    match Process::builder().build(&pe.build()) {
        Err(Error::Load(LoadError::DllNotFound { dll, importer })) => {
            assert_eq!((dll.as_str(), importer.as_str()), ("nowhere.dll", "program.exe"))
        }
        other => panic!("{:?}", other.err()),
    }
    for (name, want) in [
        (ImportName::Name("NtNothing".into()), "does not export NtNothing"),
        (ImportName::Ordinal(9999), "does not export ordinal 9999"),
    ] {
        let mut pe = exe(ret_code(0));
        let rva = pe.next_rva();
        let (idata, _) =
            pebuild::import_directory(rva, &[ImportDll { dll: "ntdll.dll".into(), names: vec![name] }]);
        pe.directories[pebuild::dir::IMPORT] = (rva, idata.len() as u32);
        pe.add_section(".idata", scn::DATA, idata);
        let e = Process::builder().build(&pe.build()).err().unwrap();
        assert!(e.to_string().contains(want), "{e}");
    }
}

#[test]
fn imports_are_bound_and_tls_callbacks_run_before_the_entry_point() {
    // .text: callback: inc dword [counter] ; ret 12      (at 0x401000)
    //        entry:    mov eax, [counter] ; add eax, [iat] ; ret
    // The IAT slot holds ntdll!NtClose; the entry returns counter + &NtClose, and we
    // check both.
    let text_rva = 0x1000u32;
    let data_rva = 0x2000u32;
    let idata_rva = 0x3000u32;
    let counter = 0x40_0000 + data_rva;
    let mut code = vec![0xFF, 0x05];
    code.extend_from_slice(&counter.to_le_bytes());
    code.extend_from_slice(&[0xC2, 12, 0]);
    let entry = code.len() as u32;
    code.push(0xA1);
    code.extend_from_slice(&counter.to_le_bytes());
    code.push(0xC3);
    let mut pe = PeBuilder::new(0x40_0000, false);
    pe.add_section(".text", scn::CODE, code);
    pe.entry_rva = text_rva + entry;
    // .data: counter, TLS index, callback list, TLS directory, template.
    let mut data = vec![0u8; 0x100];
    let d = |o: u32| 0x40_0000 + data_rva + o;
    put32(&mut data, 0x10, 0x40_1000); // callbacks[0]
    put32(&mut data, 0x20, d(0x40)); // raw start
    put32(&mut data, 0x24, d(0x48)); // raw end
    put32(&mut data, 0x28, d(0x4)); // index slot
    put32(&mut data, 0x2C, d(0x10)); // callbacks
    put32(&mut data, 0x40, 0x1234_5678); // template
    put32(&mut data, 0x4, 0xFFFF);
    pe.add_section(".data", scn::DATA, data);
    pe.directories[pebuild::dir::TLS] = (data_rva + 0x20, 24);
    let (idata, iats) = pebuild::import_directory(
        idata_rva,
        &[ImportDll { dll: "NTDLL.DLL".into(), names: vec![ImportName::Name("NtClose".into())] }],
    );
    pe.directories[pebuild::dir::IMPORT] = (idata_rva, idata.len() as u32);
    pe.add_section(".idata", scn::DATA, idata);
    let mut p = Process::builder().build(&pe.build()).unwrap();
    let nt_close = p.export("ntdll.dll", "NtClose").unwrap();
    let mut slot = [0u8; 4];
    p.cpu.mem.peek(0x40_0000 + iats[0] as u64, &mut slot).unwrap();
    assert_eq!(u32::from_le_bytes(slot), nt_close);
    assert_eq!(p.run(), 1, "the TLS callback ran once before the entry point");
    // The TLS index was assigned and the block holds the template.
    let teb = p.blocks().teb32 as u64;
    let mut b = [0u8; 4];
    p.cpu.mem.peek(d(0x4) as u64, &mut b).unwrap();
    assert_eq!(u32::from_le_bytes(b), 0);
    p.cpu.mem.peek(teb + 0x2C, &mut b).unwrap();
    let array = u32::from_le_bytes(b) as u64;
    p.cpu.mem.peek(array, &mut b).unwrap();
    p.cpu.mem.peek(u32::from_le_bytes(b) as u64, &mut b).unwrap();
    assert_eq!(u32::from_le_bytes(b), 0x1234_5678);
}

#[test]
fn large_address_aware_raises_the_limit() {
    let mut pe = exe(ret_code(0));
    pe.characteristics |= pebuild::IMAGE_FILE_LARGE_ADDRESS_AWARE;
    let p = Process::builder().build(&pe.build()).unwrap();
    assert_eq!(p.wow64_info().limit, 0xFFFE_FFFF);
    let p = Process::builder().build(&exe(ret_code(0)).build()).unwrap();
    assert_eq!(p.wow64_info().limit, 0x7FFE_FFFF);
}

#[test]
fn an_image_above_the_limit_is_refused_without_relocations() {
    let mut pe = exe(ret_code(0));
    pe.image_base = 0x9000_0000;
    let e = Process::builder().build(&pe.build()).err().unwrap();
    assert!(matches!(e, Error::Load(LoadError::Map { .. } | LoadError::AboveLimit { .. })), "{e}");
}
