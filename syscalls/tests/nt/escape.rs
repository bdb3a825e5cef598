//! The sandbox-escape corpus: every case asserts the status and that nothing outside the
//! root was read, created, changed or deleted.

use std::os::unix::fs::symlink;

use pretty_assertions::assert_eq;
use x86wow_syscalls::consts::*;
use x86wow_syscalls::NtStatus;

use crate::common::{host_tree, Env};

const RW: u32 = GENERIC_READ | GENERIC_WRITE | SYNCHRONIZE | DELETE;
const SHARE_ALL: u32 = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
const SYNC: u32 = FILE_SYNCHRONOUS_IO_NONALERT;

/// An environment with a secret next to the root and links pointing out of it.
fn setup() -> (Env, Vec<(String, Vec<u8>)>) {
    let e = Env::new();
    std::fs::write(e.outside("secret.txt"), b"top secret").unwrap();
    std::fs::create_dir(e.outside("outdir")).unwrap();
    std::fs::write(e.outside("outdir/inner.txt"), b"inner").unwrap();
    symlink(e.outside("secret.txt"), e.host("abs_link")).unwrap();
    symlink("../secret.txt", e.host("rel_link")).unwrap();
    symlink(e.outside("outdir"), e.host("dir_link")).unwrap();
    symlink("/etc", e.host("etc_link")).unwrap();
    std::fs::create_dir(e.host("in")).unwrap();
    std::fs::write(e.host("in/ok.txt"), b"ok").unwrap();
    symlink("in/ok.txt", e.host("good_link")).unwrap();
    symlink(e.host("in"), e.host("abs_good_dir")).unwrap();
    symlink("loop2", e.host("loop1")).unwrap();
    symlink("loop1", e.host("loop2")).unwrap();
    let snapshot = outside_state(&e);
    (e, snapshot)
}

/// Everything outside the root (the root's own subtree excluded).
fn outside_state(e: &Env) -> Vec<(String, Vec<u8>)> {
    host_tree(&e.outer.0).into_iter().filter(|(p, _)| !p.starts_with("root/")).collect()
}

fn attempt(e: &mut Env, name: &str, disposition: u32) -> NtStatus {
    let (st, h, _) = e.create_file(name, RW, SHARE_ALL, disposition, SYNC);
    if st.is_success() {
        // Whatever was opened, writing through it must stay inside.
        e.write(h, b"PWNED", Some(0));
        e.close(h);
    }
    st
}

fn check(e: &Env, before: &[(String, Vec<u8>)]) {
    assert_eq!(outside_state(e), before, "the host outside the root changed");
}

#[test]
fn dot_dot_never_leaves_the_root() {
    let (mut e, before) = setup();
    assert_eq!(attempt(&mut e, "\\??\\C:\\..\\secret.txt", FILE_OPEN), NtStatus::OBJECT_NAME_NOT_FOUND);
    assert_eq!(
        attempt(&mut e, "\\??\\C:\\in\\..\\..\\..\\secret.txt", FILE_OPEN),
        NtStatus::OBJECT_NAME_NOT_FOUND
    );
    // Creating through .. creates inside the root.
    assert_eq!(attempt(&mut e, "\\??\\C:\\..\\..\\secret.txt", FILE_OVERWRITE_IF), NtStatus::SUCCESS);
    assert_eq!(std::fs::read(e.host("secret.txt")).unwrap(), b"PWNED");
    check(&e, &before);
}

#[test]
fn dot_dot_relative_to_a_directory_handle_stops_at_the_root() {
    let (mut e, before) = setup();
    let (_, d, _) = e.create_file(
        "\\??\\C:\\in",
        FILE_LIST_DIRECTORY | SYNCHRONIZE,
        SHARE_ALL,
        FILE_OPEN,
        SYNC | FILE_DIRECTORY_FILE,
    );
    let h = e.alloc(8);
    let oa = e.oa_rel(d, "..\\..\\..\\secret.txt", 0);
    let iosb = e.iosb();
    let st = e.k.nt_create_file(
        &mut e.mem,
        h,
        RW as u64,
        oa,
        iosb,
        0,
        0,
        SHARE_ALL as u64,
        FILE_OPEN as u64,
        SYNC as u64,
        0,
        0,
    );
    assert_eq!(st, NtStatus::OBJECT_NAME_NOT_FOUND);
    check(&e, &before);
}

#[test]
fn host_paths_and_forward_slashes_are_refused() {
    let (mut e, before) = setup();
    let outer = e.outer.0.to_string_lossy().into_owned();
    assert_eq!(
        attempt(&mut e, &format!("\\??\\{outer}/secret.txt"), FILE_OPEN),
        NtStatus::OBJECT_NAME_NOT_FOUND
    );
    assert_eq!(
        attempt(&mut e, &format!("\\??\\C:\\{outer}/secret.txt"), FILE_OPEN),
        NtStatus::OBJECT_NAME_INVALID
    );
    assert_eq!(attempt(&mut e, "\\??\\C:\\../secret.txt", FILE_OPEN), NtStatus::OBJECT_NAME_INVALID);
    assert_eq!(
        attempt(&mut e, "\\??\\C:\\in/../../secret.txt", FILE_OVERWRITE_IF),
        NtStatus::OBJECT_NAME_INVALID
    );
    assert_eq!(attempt(&mut e, "\\etc\\passwd", FILE_OPEN), NtStatus::OBJECT_PATH_NOT_FOUND);
    assert_eq!(attempt(&mut e, "\\??\\UNC\\server\\share\\x", FILE_OPEN), NtStatus::OBJECT_PATH_NOT_FOUND);
    assert_eq!(attempt(&mut e, "\\??\\D:\\secret.txt", FILE_OPEN), NtStatus::OBJECT_PATH_NOT_FOUND);
    check(&e, &before);
}

#[test]
fn symlinks_out_of_the_root_are_refused() {
    let (mut e, before) = setup();
    for name in ["abs_link", "rel_link", "dir_link\\inner.txt", "etc_link\\passwd", "ABS_LINK"] {
        let path = format!("\\??\\C:\\{name}");
        for disp in [FILE_OPEN, FILE_OVERWRITE_IF, FILE_SUPERSEDE, FILE_OPEN_IF] {
            assert_eq!(attempt(&mut e, &path, disp), NtStatus::ACCESS_DENIED, "{path} disposition {disp}");
        }
    }
    assert_eq!(attempt(&mut e, "\\??\\C:\\dir_link\\new.txt", FILE_CREATE), NtStatus::ACCESS_DENIED);
    assert_eq!(attempt(&mut e, "\\??\\C:\\loop1", FILE_OPEN), NtStatus::ACCESS_DENIED);
    check(&e, &before);
}

#[test]
fn symlinks_inside_the_root_are_followed() {
    let (mut e, before) = setup();
    let (st, h, _) =
        e.create_file("\\??\\C:\\good_link", GENERIC_READ | SYNCHRONIZE, SHARE_ALL, FILE_OPEN, SYNC);
    assert_eq!(st, NtStatus::SUCCESS);
    assert_eq!(e.read(h, 2, None).1, b"ok".to_vec());
    let (st, h, _) = e.create_file(
        "\\??\\C:\\abs_good_dir\\ok.txt",
        GENERIC_READ | SYNCHRONIZE,
        SHARE_ALL,
        FILE_OPEN,
        SYNC,
    );
    assert_eq!(st, NtStatus::SUCCESS);
    assert_eq!(e.read(h, 2, None).1, b"ok".to_vec());
    check(&e, &before);
}

#[test]
fn metadata_services_do_not_follow_links_out() {
    let (mut e, before) = setup();
    let buf = e.alloc(56);
    for name in ["\\??\\C:\\abs_link", "\\??\\C:\\dir_link\\inner.txt"] {
        let oa = e.oa(name, 0);
        assert_eq!(e.k.nt_query_attributes_file(&mut e.mem, oa, buf), NtStatus::ACCESS_DENIED);
        assert_eq!(e.k.nt_query_full_attributes_file(&mut e.mem, oa, buf), NtStatus::ACCESS_DENIED);
        assert_eq!(e.k.nt_delete_file(&mut e.mem, oa), NtStatus::ACCESS_DENIED);
    }
    check(&e, &before);
}

#[test]
fn directory_listing_hides_links_out_of_the_root() {
    let (mut e, before) = setup();
    let (_, d, _) = e.create_file(
        "\\??\\C:\\",
        FILE_LIST_DIRECTORY | SYNCHRONIZE,
        SHARE_ALL,
        FILE_OPEN,
        SYNC | FILE_DIRECTORY_FILE,
    );
    let buf = e.alloc(4096);
    let iosb = e.iosb();
    assert_eq!(
        e.k.nt_query_directory_file(&mut e.mem, d, 0, 0, 0, iosb, buf, 4096, 12, 0, 0, 0),
        NtStatus::SUCCESS
    );
    let mut names = Vec::new();
    let mut off = 0;
    loop {
        let n = e.rd32(buf + off + 8) as usize;
        let s: Vec<u16> =
            e.bytes(buf + off + 12, n).chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        names.push(String::from_utf16(&s).unwrap());
        let next = e.rd32(buf + off) as u64;
        if next == 0 {
            break;
        }
        off += next;
    }
    assert_eq!(names, vec!["abs_good_dir", "good_link", "in"]);
    check(&e, &before);
}

#[test]
fn rename_cannot_move_a_file_out() {
    let (mut e, before) = setup();
    let (_, h) = e.open_rw("\\??\\C:\\in\\ok.txt", FILE_OPEN);
    let rename = |e: &mut Env, to: &str| {
        let name: Vec<u8> = to.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        let mut b = vec![0u8; 20];
        b[0] = 1;
        b[16..20].copy_from_slice(&(name.len() as u32).to_le_bytes());
        b.extend_from_slice(&name);
        let len = b.len() as u64;
        let buf = e.put(&b);
        let iosb = e.iosb();
        e.k.nt_set_information_file(&mut e.mem, h, iosb, buf, len, 10)
    };
    assert_eq!(rename(&mut e, "\\??\\C:\\dir_link\\stolen.txt"), NtStatus::ACCESS_DENIED);
    assert_eq!(rename(&mut e, "\\??\\C:\\abs_link"), NtStatus::ACCESS_DENIED);
    assert_eq!(rename(&mut e, "..\\..\\escaped.txt"), NtStatus::INVALID_PARAMETER);
    assert_eq!(rename(&mut e, "\\??\\C:\\..\\..\\escaped.txt"), NtStatus::SUCCESS);
    assert!(e.host("escaped.txt").is_file());
    check(&e, &before);
}

#[test]
fn device_names_are_refused() {
    let (mut e, before) = setup();
    for name in ["CON", "nul", "Aux.txt", "COM1", "lpt9.log", "in\\PRN", "CONIN$", "nul .txt"] {
        let path = format!("\\??\\C:\\{name}");
        assert_eq!(attempt(&mut e, &path, FILE_OVERWRITE_IF), NtStatus::OBJECT_NAME_INVALID, "{path}");
    }
    assert_eq!(attempt(&mut e, "\\??\\C:\\COM10", FILE_CREATE), NtStatus::SUCCESS, "not a device name");
    check(&e, &before);
}

#[test]
fn alternate_data_streams_are_refused() {
    let (mut e, before) = setup();
    assert_eq!(
        attempt(&mut e, "\\??\\C:\\in\\ok.txt:evil", FILE_OVERWRITE_IF),
        NtStatus::OBJECT_NAME_INVALID
    );
    assert_eq!(attempt(&mut e, "\\??\\C:\\in\\ok.txt:evil:$DATA", FILE_OPEN), NtStatus::OBJECT_NAME_INVALID);
    assert_eq!(attempt(&mut e, "\\??\\C:\\in:x\\ok.txt", FILE_OPEN), NtStatus::OBJECT_NAME_INVALID);
    // The unnamed data stream is the file itself.
    let (st, h, _) =
        e.create_file("\\??\\C:\\in\\ok.txt::$DATA", GENERIC_READ | SYNCHRONIZE, SHARE_ALL, FILE_OPEN, SYNC);
    assert_eq!(st, NtStatus::SUCCESS);
    assert_eq!(e.read(h, 2, None).1, b"ok".to_vec());
    assert_eq!(host_tree(&e.host("in")).len(), 1, "no stream file was created");
    check(&e, &before);
}

#[test]
fn invalid_characters_and_empty_components() {
    let (mut e, before) = setup();
    for name in ["a*b", "a?b", "a<b", "a>b", "a|b", "a\"b", "a\u{1}b", "in\\\\ok.txt"] {
        let path = format!("\\??\\C:\\{name}");
        assert_eq!(attempt(&mut e, &path, FILE_OVERWRITE_IF), NtStatus::OBJECT_NAME_INVALID, "{path:?}");
    }
    let long = "x".repeat(256);
    assert_eq!(attempt(&mut e, &format!("\\??\\C:\\{long}"), FILE_CREATE), NtStatus::OBJECT_NAME_INVALID);
    check(&e, &before);
}

fn create_with(e: &mut Env, us: u64) -> NtStatus {
    let h = e.alloc(8);
    let oa = e.oa_raw(0, us, 0);
    let iosb = e.iosb();
    e.k.nt_create_file(
        &mut e.mem,
        h,
        RW as u64,
        oa,
        iosb,
        0,
        0,
        SHARE_ALL as u64,
        FILE_OVERWRITE_IF as u64,
        SYNC as u64,
        0,
        0,
    )
}

#[test]
fn odd_unicode_strings() {
    let (mut e, before) = setup();
    let units: Vec<u16> = "\\??\\C:\\odd.txt".encode_utf16().collect();
    let n = (units.len() * 2) as u16;
    // Odd byte count.
    let us = e.ustr_raw(&units, n - 1, n);
    assert_eq!(create_with(&mut e, us), NtStatus::OBJECT_NAME_INVALID);
    // Length > MaximumLength: Length is what counts (as Windows captures it).
    let us = e.ustr_raw(&units, n, 2);
    assert_eq!(create_with(&mut e, us), NtStatus::SUCCESS);
    assert!(e.host("odd.txt").is_file());
    // Length shorter than the text: only that prefix is the name.
    let us = e.ustr_raw(&units, n - 8, n);
    assert_eq!(create_with(&mut e, us), NtStatus::SUCCESS);
    assert!(e.host("odd").is_file());
    // Unaligned buffer.
    let raw: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
    let buf = e.alloc(n as u64 + 2) + 1;
    e.mem.write_bytes(buf, &raw).unwrap();
    let us = e.ustr_at(buf, n, n);
    assert_eq!(create_with(&mut e, us), NtStatus::DATATYPE_MISALIGNMENT);
    // Unmapped buffer, and a buffer running off the end of mapped memory.
    let us = e.ustr_at(0x6000_0000, n, n);
    assert_eq!(create_with(&mut e, us), NtStatus::ACCESS_VIOLATION);
    let end = crate::common::SCRATCH + crate::common::SCRATCH_SIZE - 4;
    let us = e.ustr_at(end, 0xFFFE, 0xFFFE);
    assert_eq!(create_with(&mut e, us), NtStatus::ACCESS_VIOLATION);
    // Unmapped UNICODE_STRING and OBJECT_ATTRIBUTES.
    assert_eq!(create_with(&mut e, 0x6000_0000), NtStatus::ACCESS_VIOLATION);
    let h = e.alloc(8);
    let iosb = e.iosb();
    let st =
        e.k.nt_create_file(&mut e.mem, h, RW as u64, 0x6000_0000, iosb, 0, 0, 0, FILE_OPEN as u64, 0, 0, 0);
    assert_eq!(st, NtStatus::ACCESS_VIOLATION);
    // Embedded NUL and a lone surrogate.
    let mut bad: Vec<u16> = "\\??\\C:\\a".encode_utf16().collect();
    bad.push(0);
    bad.extend("b".encode_utf16());
    let us = e.ustr_raw(&bad, (bad.len() * 2) as u16, (bad.len() * 2) as u16);
    assert_eq!(create_with(&mut e, us), NtStatus::OBJECT_NAME_INVALID);
    let mut sur: Vec<u16> = "\\??\\C:\\a".encode_utf16().collect();
    sur.push(0xD800);
    let us = e.ustr_raw(&sur, (sur.len() * 2) as u16, (sur.len() * 2) as u16);
    assert_eq!(create_with(&mut e, us), NtStatus::OBJECT_NAME_INVALID);
    check(&e, &before);
}

#[test]
fn unmapped_output_pointers_leave_no_handle_and_no_file() {
    let (mut e, before) = setup();
    let oa = e.oa("\\??\\C:\\never.txt", 0);
    let iosb = e.iosb();
    let st = e.k.nt_create_file(
        &mut e.mem,
        0x6000_0000,
        RW as u64,
        oa,
        iosb,
        0,
        0,
        0,
        FILE_CREATE as u64,
        SYNC as u64,
        0,
        0,
    );
    assert_eq!(st, NtStatus::ACCESS_VIOLATION);
    let h = e.alloc(8);
    let st = e.k.nt_create_file(
        &mut e.mem,
        h,
        RW as u64,
        oa,
        0x6000_0000,
        0,
        0,
        0,
        FILE_CREATE as u64,
        SYNC as u64,
        0,
        0,
    );
    assert_eq!(st, NtStatus::ACCESS_VIOLATION);
    assert!(!e.host("never.txt").exists());
    assert_eq!(e.k.handle_count(), 3);
    check(&e, &before);
}

#[test]
fn read_and_write_buffers_are_checked_before_io() {
    let (mut e, before) = setup();
    let (_, h) = e.open_rw("\\??\\C:\\in\\ok.txt", FILE_OPEN);
    let iosb = e.iosb();
    assert_eq!(
        e.k.nt_read_file(&mut e.mem, h, 0, 0, 0, iosb, 0x6000_0000, 2, 0, 0),
        NtStatus::ACCESS_VIOLATION
    );
    assert_eq!(
        e.k.nt_write_file(&mut e.mem, h, 0, 0, 0, iosb, 0x6000_0000, 2, 0, 0),
        NtStatus::ACCESS_VIOLATION
    );
    let end = crate::common::SCRATCH + crate::common::SCRATCH_SIZE - 1;
    assert_eq!(e.k.nt_write_file(&mut e.mem, h, 0, 0, 0, iosb, end, 2, 0, 0), NtStatus::ACCESS_VIOLATION);
    assert_eq!(std::fs::read(e.host("in/ok.txt")).unwrap(), b"ok");
    check(&e, &before);
}
