use pretty_assertions::assert_eq;
use x86wow_syscalls::consts::*;
use x86wow_syscalls::NtStatus;

use crate::common::Env;

const P: u64 = u64::MAX;

pub fn create_section(e: &mut Env, size: Option<u64>, prot: u32, attrs: u32, file: u64) -> (NtStatus, u64) {
    let h = e.alloc(8);
    let s = size.map(|s| e.u64_cell(s)).unwrap_or(0);
    let st = e.k.nt_create_section(&mut e.mem, h, 0xF001F, 0, s, prot as u64, attrs as u64, file);
    (st, e.rd64(h))
}

/// NtMapViewOfSection; returns (status, base, size, offset).
pub fn map(
    e: &mut Env,
    sec: u64,
    base: u64,
    offset: Option<u64>,
    size: u64,
    prot: u32,
) -> (NtStatus, u64, u64, u64) {
    let b = e.u64_cell(base);
    let s = e.u64_cell(size);
    let o = offset.map(|o| e.u64_cell(o)).unwrap_or(0);
    let st = e.k.nt_map_view_of_section(&mut e.mem, sec, P, b, 0, 0, o, s, 1, 0, prot as u64);
    let off = if o != 0 { e.rd64(o) } else { 0 };
    (st, e.rd64(b), e.rd64(s), off)
}

fn query_basic(e: &mut Env, sec: u64) -> (NtStatus, Vec<u8>) {
    let buf = e.alloc(24);
    let rl = e.u64_cell(0);
    let st = e.k.nt_query_section(&mut e.mem, sec, 0, buf, 24, rl);
    (st, e.bytes(buf, 24))
}

#[test]
fn pagefile_section_contents_survive_unmap_and_remap() {
    let mut e = Env::new();
    let (st, sec) = create_section(&mut e, Some(0x1800), PAGE_READWRITE, SEC_COMMIT, 0);
    assert_eq!(st, NtStatus::SUCCESS);
    let (st, base, size, _) = map(&mut e, sec, 0, None, 0, PAGE_READWRITE);
    assert_eq!((st, base % 0x1_0000, size), (NtStatus::SUCCESS, 0, 0x2000));
    e.mem.write_u32(base + 0x1004, 0xC0FFEE).unwrap();
    assert_eq!(e.k.nt_unmap_view_of_section(&mut e.mem, P, base + 0x1000), NtStatus::SUCCESS);
    assert!(e.mem.read_u8(base).is_err());
    let (_, base2, ..) = map(&mut e, sec, 0, None, 0, PAGE_READONLY);
    assert_eq!(e.mem.read_u32(base2 + 0x1004).unwrap(), 0xC0FFEE);
    assert!(e.mem.write_u8(base2, 0).is_err());
}

#[test]
fn section_basic_information() {
    let mut e = Env::new();
    let (_, sec) = create_section(&mut e, Some(0x1800), PAGE_READWRITE, SEC_COMMIT, 0);
    let (st, b) = query_basic(&mut e, sec);
    let mut want = vec![0u8; 24];
    want[8..12].copy_from_slice(&SEC_COMMIT.to_le_bytes());
    want[16..24].copy_from_slice(&0x2000u64.to_le_bytes());
    assert_eq!((st, b), (NtStatus::SUCCESS, want));
    let buf = e.alloc(64);
    assert_eq!(e.k.nt_query_section(&mut e.mem, sec, 1, buf, 64, 0), NtStatus::SECTION_NOT_IMAGE);
    assert_eq!(e.k.nt_query_section(&mut e.mem, sec, 0, buf, 16, 0), NtStatus::INFO_LENGTH_MISMATCH);
}

#[test]
fn section_creation_checks_its_arguments() {
    let mut e = Env::new();
    assert_eq!(create_section(&mut e, None, PAGE_READWRITE, SEC_COMMIT, 0).0, NtStatus::INVALID_PARAMETER_4);
    assert_eq!(create_section(&mut e, Some(0x1000), PAGE_READWRITE, 0, 0).0, NtStatus::INVALID_PARAMETER_6);
    assert_eq!(
        create_section(&mut e, Some(0x1000), PAGE_READWRITE, SEC_COMMIT | SEC_RESERVE, 0).0,
        NtStatus::INVALID_PARAMETER_6
    );
    assert_eq!(
        create_section(&mut e, Some(0x1000), PAGE_READWRITE | PAGE_GUARD, SEC_COMMIT, 0).0,
        NtStatus::INVALID_PAGE_PROTECTION
    );
    assert_eq!(
        create_section(&mut e, Some(0x1000), PAGE_EXECUTE, SEC_IMAGE, 0).0,
        NtStatus::INVALID_FILE_FOR_SECTION
    );
    assert_eq!(
        create_section(&mut e, Some(1 << 40), PAGE_READWRITE, SEC_COMMIT, 0).0,
        NtStatus::COMMITMENT_LIMIT
    );
    assert_eq!(create_section(&mut e, Some(1 << 40), PAGE_READWRITE, SEC_RESERVE, 0).0, NtStatus::SUCCESS);
}

#[test]
fn view_offsets_sizes_and_alignment() {
    let mut e = Env::new();
    let (_, sec) = create_section(&mut e, Some(0x3_0000), PAGE_READWRITE, SEC_COMMIT, 0);
    let (st, base, size, off) = map(&mut e, sec, 0, Some(0x1_2000), 0x1000, PAGE_READWRITE);
    assert_eq!((st, base % 0x1_0000, size, off), (NtStatus::SUCCESS, 0, 0x3000, 0x1_0000));
    assert_eq!(
        map(&mut e, sec, 0x5000_1000, Some(0x1_2000), 0x1000, PAGE_READWRITE).0,
        NtStatus::MAPPED_ALIGNMENT
    );
    let (st, base, ..) = map(&mut e, sec, 0x5000_2000, Some(0x1_2000), 0x1000, PAGE_READWRITE);
    assert_eq!((st, base), (NtStatus::SUCCESS, 0x5000_0000));
    assert_eq!(map(&mut e, sec, 0, Some(0x3_0000), 0, PAGE_READWRITE).0, NtStatus::INVALID_VIEW_SIZE);
    assert_eq!(map(&mut e, sec, 0, Some(0x2_0000), 0x1_0001, PAGE_READWRITE).0, NtStatus::INVALID_VIEW_SIZE);
    assert_eq!(map(&mut e, sec, 0x5000_0000, None, 0, PAGE_READWRITE).0, NtStatus::CONFLICTING_ADDRESSES);
}

#[test]
fn view_protection_must_fit_the_section() {
    let mut e = Env::new();
    let (_, sec) = create_section(&mut e, Some(0x1000), PAGE_READONLY, SEC_COMMIT, 0);
    assert_eq!(map(&mut e, sec, 0, None, 0, PAGE_READWRITE).0, NtStatus::SECTION_PROTECTION);
    assert_eq!(map(&mut e, sec, 0, None, 0, PAGE_EXECUTE_READ).0, NtStatus::SECTION_PROTECTION);
    assert_eq!(map(&mut e, sec, 0, None, 0, PAGE_WRITECOPY).0, NtStatus::SUCCESS);
    let h = e.alloc(8);
    let size = e.u64_cell(0x1000);
    e.k.nt_create_section(
        &mut e.mem,
        h,
        SECTION_MAP_READ as u64,
        0,
        size,
        PAGE_READWRITE as u64,
        SEC_COMMIT as u64,
        0,
    );
    let ro = e.rd64(h);
    assert_eq!(map(&mut e, ro, 0, None, 0, PAGE_READWRITE).0, NtStatus::ACCESS_DENIED);
    assert_eq!(map(&mut e, ro, 0, None, 0, PAGE_READONLY).0, NtStatus::SUCCESS);
}

#[test]
fn mapped_views_are_reported_as_mem_mapped() {
    let mut e = Env::new();
    let (_, sec) = create_section(&mut e, Some(0x2000), PAGE_READWRITE, SEC_COMMIT, 0);
    let (_, base, ..) = map(&mut e, sec, 0, None, 0, PAGE_READONLY);
    let info = e.k.query_memory(&e.mem, base);
    assert_eq!(
        (info.ty, info.state, info.protect, info.allocation_protect, info.region_size),
        (MEM_MAPPED, MEM_COMMIT, PAGE_READONLY, PAGE_READONLY, 0x2000)
    );
    let b = e.u64_cell(base);
    let s = e.u64_cell(0);
    assert_eq!(
        e.k.nt_free_virtual_memory(&mut e.mem, P, b, s, MEM_RELEASE as u64),
        NtStatus::UNABLE_TO_DELETE_SECTION
    );
    assert_eq!(e.k.nt_unmap_view_of_section(&mut e.mem, P, 0x7000_0000), NtStatus::NOT_MAPPED_VIEW);
}

#[test]
fn section_lives_while_a_view_is_mapped() {
    let mut e = Env::new();
    let (_, sec) = create_section(&mut e, Some(0x1000), PAGE_READWRITE, SEC_COMMIT, 0);
    let charge = e.k.commit_charge();
    let (_, base, ..) = map(&mut e, sec, 0, None, 0, PAGE_READWRITE);
    e.close(sec);
    assert_eq!(e.k.commit_charge(), charge, "the view keeps the section");
    e.mem.write_u8(base, 1).unwrap();
    assert_eq!(e.k.nt_unmap_view_of_section(&mut e.mem, P, base), NtStatus::SUCCESS);
    assert_eq!(e.k.commit_charge(), charge - 0x1000);
}

#[test]
fn sec_reserve_views_commit_on_demand() {
    let mut e = Env::new();
    let (_, sec) = create_section(&mut e, Some(0x4000), PAGE_READWRITE, SEC_RESERVE, 0);
    let (_, base, ..) = map(&mut e, sec, 0, None, 0, PAGE_READWRITE);
    assert!(e.mem.read_u8(base).is_err());
    assert_eq!(e.k.query_memory(&e.mem, base).state, MEM_RESERVE);
    let b = e.u64_cell(base + 0x1000);
    let s = e.u64_cell(0x1000);
    assert_eq!(
        e.k.nt_allocate_virtual_memory(&mut e.mem, P, b, 0, s, MEM_COMMIT as u64, PAGE_READWRITE as u64),
        NtStatus::SUCCESS
    );
    e.mem.write_u8(base + 0x1000, 9).unwrap();
    e.k.nt_unmap_view_of_section(&mut e.mem, P, base);
    let (_, base, ..) = map(&mut e, sec, 0, None, 0, PAGE_READWRITE);
    assert_eq!(e.mem.read_u8(base + 0x1000).unwrap(), 9, "committed pages stay committed");
    assert!(e.mem.read_u8(base).is_err());
}

#[test]
fn file_backed_section_reads_and_writes_the_file() {
    let mut e = Env::new();
    std::fs::write(e.host("m.bin"), b"mapped file contents").unwrap();
    let (st, f) = e.open_rw("\\??\\C:\\m.bin", FILE_OPEN);
    assert_eq!(st, NtStatus::SUCCESS);
    let (st, sec) = create_section(&mut e, None, PAGE_READWRITE, SEC_COMMIT, f);
    assert_eq!(st, NtStatus::SUCCESS);
    let (_, b) = query_basic(&mut e, sec);
    assert_eq!(
        (u32::from_le_bytes(b[8..12].try_into().unwrap()), u64::from_le_bytes(b[16..24].try_into().unwrap())),
        (SEC_FILE | SEC_COMMIT, 20)
    );
    let (st, base, size, _) = map(&mut e, sec, 0, None, 0, PAGE_READWRITE);
    assert_eq!((st, size), (NtStatus::SUCCESS, 0x1000));
    assert_eq!(e.bytes(base, 20), b"mapped file contents".to_vec());
    let buf = e.alloc(512);
    assert_eq!(e.k.nt_query_virtual_memory(&mut e.mem, P, base + 5, 2, buf, 512, 0), NtStatus::SUCCESS);
    let n = e.mem.read_u16(buf).unwrap() as usize;
    let name: Vec<u16> = e.bytes(buf + 16, n).chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    assert_eq!(String::from_utf16(&name).unwrap(), "\\Device\\HarddiskVolume1\\m.bin");
    e.mem.write_bytes(base, b"MAPPED").unwrap();
    e.mem.write_bytes(base + 30, b"beyond eof").unwrap();
    assert_eq!(e.k.nt_unmap_view_of_section(&mut e.mem, P, base), NtStatus::SUCCESS);
    assert_eq!(std::fs::read(e.host("m.bin")).unwrap(), b"MAPPED file contents");
}

#[test]
fn file_backed_section_checks_size_and_access() {
    let mut e = Env::new();
    std::fs::write(e.host("empty"), b"").unwrap();
    std::fs::write(e.host("small"), b"abc").unwrap();
    let (_, f) = e.open_rw("\\??\\C:\\empty", FILE_OPEN);
    assert_eq!(create_section(&mut e, None, PAGE_READONLY, SEC_COMMIT, f).0, NtStatus::MAPPED_FILE_SIZE_ZERO);
    let (_, f) = e.open_rw("\\??\\C:\\small", FILE_OPEN);
    assert_eq!(
        create_section(&mut e, Some(0x100), PAGE_READONLY, SEC_COMMIT, f).0,
        NtStatus::SECTION_TOO_BIG
    );
    assert_eq!(create_section(&mut e, Some(0x100), PAGE_READWRITE, SEC_COMMIT, f).0, NtStatus::SUCCESS);
    assert_eq!(
        std::fs::metadata(e.host("small")).unwrap().len(),
        0x100,
        "a writable section extends the file"
    );
    let (_, ro, _) = e.create_file(
        "\\??\\C:\\small",
        GENERIC_READ | SYNCHRONIZE,
        7,
        FILE_OPEN,
        FILE_SYNCHRONOUS_IO_NONALERT,
    );
    assert_eq!(create_section(&mut e, None, PAGE_READWRITE, SEC_COMMIT, ro).0, NtStatus::ACCESS_DENIED);
    let (_, ev) = e.create_event(None, 0, true, false);
    assert_eq!(create_section(&mut e, None, PAGE_READONLY, SEC_COMMIT, ev).0, NtStatus::OBJECT_TYPE_MISMATCH);
    let out = e.k.console_handles()[1];
    assert_eq!(
        create_section(&mut e, None, PAGE_READONLY, SEC_COMMIT, out).0,
        NtStatus::INVALID_FILE_FOR_SECTION
    );
}

#[test]
fn named_sections_open_by_name() {
    let mut e = Env::new();
    let h = e.alloc(8);
    let oa = e.oa("\\BaseNamedObjects\\Shared", 0);
    let s = e.u64_cell(0x1000);
    assert_eq!(
        e.k.nt_create_section(&mut e.mem, h, 0xF001F, oa, s, PAGE_READWRITE as u64, SEC_COMMIT as u64, 0),
        NtStatus::SUCCESS
    );
    let oa = e.oa("\\BaseNamedObjects\\Shared", 0);
    assert_eq!(e.k.nt_open_section(&mut e.mem, h, SECTION_MAP_READ as u64, oa), NtStatus::SUCCESS);
}
