use pretty_assertions::assert_eq;
use x86wow_syscalls::consts::*;
use x86wow_syscalls::{status_name, NtStatus, ObjectType, SERVICES};

use crate::common::Env;

#[test]
fn close_current_process_pseudo_handle_succeeds() {
    let mut e = Env::new();
    assert_eq!(e.close(0xFFFF_FFFF_FFFF_FFFF), NtStatus::SUCCESS);
    assert_eq!(e.close(0xFFFF_FFFF_FFFF_FFFE), NtStatus::SUCCESS);
}

#[test]
fn close_unknown_handle_is_invalid_handle() {
    let mut e = Env::new();
    assert_eq!(e.close(0xdeadbeef), NtStatus::INVALID_HANDLE);
    assert_eq!(e.close(0), NtStatus::INVALID_HANDLE);
}

#[test]
fn console_handles_come_first_and_new_handles_are_multiples_of_four() {
    let mut e = Env::new();
    assert_eq!(e.k.console_handles(), [4, 8, 12]);
    let (st, h) = e.create_event(None, 0, true, false);
    assert_eq!((st, h), (NtStatus::SUCCESS, 16));
    let (_, h2) = e.create_event(None, 0, true, false);
    assert_eq!(h2, 20);
    assert_eq!(e.close(h), NtStatus::SUCCESS);
    assert_eq!(e.close(h), NtStatus::INVALID_HANDLE);
    let (_, h3) = e.create_event(None, 0, true, false);
    assert_eq!(h3, 16, "the lowest free handle is reused");
}

#[test]
fn named_event_created_twice_with_openif_gives_name_exists_and_a_handle() {
    let mut e = Env::new();
    let (st, h1) = e.create_event(Some("\\BaseNamedObjects\\Ev"), OBJ_OPENIF, true, false);
    assert_eq!(st, NtStatus::SUCCESS);
    let (st, h2) = e.create_event(Some("\\BaseNamedObjects\\Ev"), OBJ_OPENIF, true, false);
    assert_eq!(st, NtStatus::OBJECT_NAME_EXISTS);
    assert_ne!(h2, h1);
    // Both handles reach one object.
    assert_eq!(e.k.nt_set_event(&mut e.mem, h1, 0), NtStatus::SUCCESS);
    let buf = e.alloc(8);
    assert_eq!(e.k.nt_query_event(&mut e.mem, h2, 0, buf, 8, 0), NtStatus::SUCCESS);
    assert_eq!(e.rd32(buf + 4), 1);
}

#[test]
fn named_event_created_twice_without_openif_is_a_collision() {
    let mut e = Env::new();
    assert_eq!(e.create_event(Some("\\BaseNamedObjects\\Ev"), 0, true, false).0, NtStatus::SUCCESS);
    let before = e.k.handle_count();
    assert_eq!(
        e.create_event(Some("\\BaseNamedObjects\\Ev"), 0, true, false).0,
        NtStatus::OBJECT_NAME_COLLISION
    );
    assert_eq!(e.k.handle_count(), before);
}

#[test]
fn creating_a_name_held_by_another_type_is_a_type_mismatch_with_openif() {
    let mut e = Env::new();
    assert_eq!(e.create_event(Some("\\BaseNamedObjects\\X"), 0, true, false).0, NtStatus::SUCCESS);
    let h = e.alloc(8);
    let oa = e.oa("\\BaseNamedObjects\\X", OBJ_OPENIF);
    assert_eq!(e.k.nt_create_mutant(&mut e.mem, h, 0x1F0001, oa, 0), NtStatus::OBJECT_TYPE_MISMATCH);
    let oa = e.oa("\\BaseNamedObjects\\X", 0);
    assert_eq!(e.k.nt_create_mutant(&mut e.mem, h, 0x1F0001, oa, 0), NtStatus::OBJECT_NAME_COLLISION);
    let oa = e.oa("\\BaseNamedObjects\\X", 0);
    assert_eq!(e.k.nt_open_mutant(&mut e.mem, h, 0x1F0001, oa), NtStatus::OBJECT_TYPE_MISMATCH);
}

#[test]
fn open_reports_name_not_found_path_not_found_and_syntax_bad() {
    let mut e = Env::new();
    let h = e.alloc(8);
    let oa = e.oa("\\BaseNamedObjects\\Nope", 0);
    assert_eq!(e.k.nt_open_event(&mut e.mem, h, 0x1F0003, oa), NtStatus::OBJECT_NAME_NOT_FOUND);
    let oa = e.oa("\\NoSuchDir\\Nope", 0);
    assert_eq!(e.k.nt_open_event(&mut e.mem, h, 0x1F0003, oa), NtStatus::OBJECT_PATH_NOT_FOUND);
    let oa = e.oa("Relative", 0);
    assert_eq!(e.k.nt_open_event(&mut e.mem, h, 0x1F0003, oa), NtStatus::OBJECT_PATH_SYNTAX_BAD);
    assert_eq!(e.k.nt_open_event(&mut e.mem, h, 0x1F0003, 0), NtStatus::INVALID_PARAMETER);
}

#[test]
fn names_match_case_insensitively_only_with_obj_case_insensitive() {
    let mut e = Env::new();
    e.create_event(Some("\\BaseNamedObjects\\MixedCase"), 0, true, false);
    let h = e.alloc(8);
    let oa = e.oa("\\BaseNamedObjects\\mixedcase", 0);
    assert_eq!(e.k.nt_open_event(&mut e.mem, h, 0x1F0003, oa), NtStatus::OBJECT_NAME_NOT_FOUND);
    let oa = e.oa("\\BaseNamedObjects\\mixedcase", OBJ_CASE_INSENSITIVE);
    assert_eq!(e.k.nt_open_event(&mut e.mem, h, 0x1F0003, oa), NtStatus::SUCCESS);
}

#[test]
fn session_and_global_prefixes_reach_base_named_objects() {
    let mut e = Env::new();
    e.create_event(Some("\\Sessions\\1\\BaseNamedObjects\\Local\\S"), 0, true, false);
    let h = e.alloc(8);
    let oa = e.oa("\\BaseNamedObjects\\Global\\S", 0);
    assert_eq!(e.k.nt_open_event(&mut e.mem, h, 0x1F0003, oa), NtStatus::SUCCESS);
}

#[test]
fn names_relative_to_an_object_directory_handle() {
    let mut e = Env::new();
    let dh = e.alloc(8);
    let oa = e.oa("\\Sessions\\1\\BaseNamedObjects", 0);
    assert_eq!(e.k.nt_open_directory_object(&mut e.mem, dh, 0xF000F, oa), NtStatus::SUCCESS);
    let dir = e.rd64(dh);
    assert_eq!(e.k.handle_type(dir), Some(ObjectType::Directory));
    let h = e.alloc(8);
    let oa = e.oa_rel(dir, "Rel", 0);
    assert_eq!(e.k.nt_create_event(&mut e.mem, h, 0x1F0003, oa, 0, 0), NtStatus::SUCCESS);
    let oa = e.oa("\\BaseNamedObjects\\Rel", 0);
    assert_eq!(e.k.nt_open_event(&mut e.mem, h, 0x1F0003, oa), NtStatus::SUCCESS);
    // A root that is not a directory.
    let (_, ev) = e.create_event(None, 0, true, false);
    let oa = e.oa_rel(ev, "Rel", 0);
    assert_eq!(e.k.nt_open_event(&mut e.mem, h, 0x1F0003, oa), NtStatus::OBJECT_TYPE_MISMATCH);
}

#[test]
fn named_object_goes_away_with_its_last_handle() {
    let mut e = Env::new();
    let (_, h) = e.create_event(Some("\\BaseNamedObjects\\Temp"), 0, true, false);
    assert_eq!(e.close(h), NtStatus::SUCCESS);
    let p = e.alloc(8);
    let oa = e.oa("\\BaseNamedObjects\\Temp", 0);
    assert_eq!(e.k.nt_open_event(&mut e.mem, p, 0x1F0003, oa), NtStatus::OBJECT_NAME_NOT_FOUND);
}

#[test]
fn set_event_needs_event_modify_state() {
    let mut e = Env::new();
    let h = e.alloc(8);
    assert_eq!(
        e.k.nt_create_event(&mut e.mem, h, (EVENT_QUERY_STATE | SYNCHRONIZE) as u64, 0, 0, 0),
        NtStatus::SUCCESS
    );
    let h = e.rd64(h);
    assert_eq!(e.k.nt_set_event(&mut e.mem, h, 0), NtStatus::ACCESS_DENIED);
}

#[test]
fn generic_rights_are_mapped_per_type() {
    let mut e = Env::new();
    let h = e.alloc(8);
    e.k.nt_create_event(&mut e.mem, h, GENERIC_READ as u64, 0, 0, 0);
    let ev = e.rd64(h);
    assert_eq!(e.k.handle_access(ev), Some(0x0002_0001));
    e.k.nt_create_semaphore(&mut e.mem, h, (GENERIC_WRITE | GENERIC_EXECUTE) as u64, 0, 0, 1);
    let sem = e.rd64(h);
    assert_eq!(e.k.handle_access(sem), Some(0x0012_0002));
    e.k.nt_create_mutant(&mut e.mem, h, MAXIMUM_ALLOWED as u64, 0, 0);
    let m = e.rd64(h);
    assert_eq!(e.k.handle_access(m), Some(0x001F_0001));
}

#[test]
fn duplicate_with_same_access_and_close_source() {
    let mut e = Env::new();
    let (_, h) = e.create_event(None, 0, true, false);
    let t = e.alloc(8);
    let st = e.k.nt_duplicate_object(
        &mut e.mem,
        u64::MAX,
        h,
        u64::MAX,
        t,
        0,
        0,
        (DUPLICATE_SAME_ACCESS | DUPLICATE_CLOSE_SOURCE) as u64,
    );
    assert_eq!(st, NtStatus::SUCCESS);
    let d = e.rd64(t);
    assert_eq!(e.k.handle_access(d), Some(0x1F0003));
    assert_eq!(e.close(h), NtStatus::INVALID_HANDLE);
    assert_eq!(e.k.nt_set_event(&mut e.mem, d, 0), NtStatus::SUCCESS);
}

#[test]
fn duplicating_the_process_pseudo_handle_gives_a_real_process_handle() {
    let mut e = Env::new();
    let t = e.alloc(8);
    let st = e.k.nt_duplicate_object(
        &mut e.mem,
        u64::MAX,
        u64::MAX,
        u64::MAX,
        t,
        0,
        0,
        DUPLICATE_SAME_ACCESS as u64,
    );
    assert_eq!(st, NtStatus::SUCCESS);
    let h = e.rd64(t);
    assert_eq!(h % 4, 0);
    assert_eq!(e.k.handle_type(h), Some(ObjectType::Process));
    assert_eq!(e.close(h), NtStatus::SUCCESS);
}

#[test]
fn protected_handle_cannot_be_closed() {
    let mut e = Env::new();
    let (_, h) = e.create_event(None, 0, true, false);
    let flags = e.put(&[0, 1]);
    assert_eq!(e.k.nt_set_information_object(&mut e.mem, h, 4, flags, 2), NtStatus::SUCCESS);
    assert_eq!(e.close(h), NtStatus::HANDLE_NOT_CLOSABLE);
    let q = e.alloc(2);
    assert_eq!(e.k.nt_query_object(&mut e.mem, h, 4, q, 2, 0), NtStatus::SUCCESS);
    assert_eq!(e.bytes(q, 2), vec![0, 1]);
}

#[test]
fn query_object_basic_information() {
    let mut e = Env::new();
    let (_, h) = e.create_event(None, 0, true, false);
    let buf = e.alloc(56);
    let rl = e.alloc(4);
    assert_eq!(e.k.nt_query_object(&mut e.mem, h, 0, buf, 56, rl), NtStatus::SUCCESS);
    assert_eq!((e.rd32(buf), e.rd32(buf + 4), e.rd32(buf + 8), e.rd32(rl)), (0, 0x1F0003, 1, 56));
    assert_eq!(e.k.nt_query_object(&mut e.mem, h, 0, buf, 40, rl), NtStatus::INFO_LENGTH_MISMATCH);
}

#[test]
fn query_object_name_and_type() {
    let mut e = Env::new();
    let (_, h) = e.create_event(Some("\\BaseNamedObjects\\Named"), 0, true, false);
    let buf = e.alloc(256);
    assert_eq!(e.k.nt_query_object(&mut e.mem, h, 1, buf, 256, 0), NtStatus::SUCCESS);
    let len = e.mem.read_u16(buf).unwrap() as usize;
    let p = e.rd64(buf + 8);
    let name: Vec<u16> = e.bytes(p, len).chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    assert_eq!(String::from_utf16(&name).unwrap(), "\\BaseNamedObjects\\Named");
    assert_eq!(e.k.nt_query_object(&mut e.mem, h, 2, buf, 256, 0), NtStatus::SUCCESS);
    let len = e.mem.read_u16(buf).unwrap() as usize;
    let p = e.rd64(buf + 8);
    assert_eq!(e.bytes(p, len), "Event".encode_utf16().flat_map(|u| u.to_le_bytes()).collect::<Vec<u8>>());
}

#[test]
fn object_attributes_are_validated() {
    let mut e = Env::new();
    let h = e.alloc(8);
    // Wrong Length.
    let oa = e.oa("\\BaseNamedObjects\\A", 0);
    e.mem.write_u32(oa, 24).unwrap();
    assert_eq!(e.k.nt_create_event(&mut e.mem, h, 0x1F0003, oa, 0, 0), NtStatus::INVALID_PARAMETER);
    // Unknown attribute bits.
    let oa = e.oa("\\BaseNamedObjects\\A", 0x1_0000);
    assert_eq!(e.k.nt_create_event(&mut e.mem, h, 0x1F0003, oa, 0, 0), NtStatus::INVALID_PARAMETER);
    // Odd length and unaligned buffer.
    let units: Vec<u16> = "\\BaseNamedObjects\\A".encode_utf16().collect();
    let us = e.ustr_raw(&units, 7, 40);
    let oa = e.oa_raw(0, us, 0);
    assert_eq!(e.k.nt_create_event(&mut e.mem, h, 0x1F0003, oa, 0, 0), NtStatus::OBJECT_NAME_INVALID);
    let buf = e.alloc(64) + 1;
    let us = e.ustr_at(buf, 4, 4);
    let oa = e.oa_raw(0, us, 0);
    assert_eq!(e.k.nt_create_event(&mut e.mem, h, 0x1F0003, oa, 0, 0), NtStatus::DATATYPE_MISALIGNMENT);
    // Unmapped object attributes and name buffer.
    assert_eq!(e.k.nt_create_event(&mut e.mem, h, 0x1F0003, 0x5000_0000, 0, 0), NtStatus::ACCESS_VIOLATION);
    let us = e.ustr_at(0x5000_0000, 4, 4);
    let oa = e.oa_raw(0, us, 0);
    assert_eq!(e.k.nt_create_event(&mut e.mem, h, 0x1F0003, oa, 0, 0), NtStatus::ACCESS_VIOLATION);
    assert_eq!(e.k.handle_count(), 3, "nothing was created");
}

#[test]
fn unwritable_handle_pointer_creates_nothing() {
    let mut e = Env::new();
    assert_eq!(e.k.nt_create_event(&mut e.mem, 0x5000_0000, 0x1F0003, 0, 0, 0), NtStatus::ACCESS_VIOLATION);
    // A kernel-range pointer too.
    assert_eq!(
        e.k.nt_create_event(&mut e.mem, 0xFFFF_8000_0000_0000, 0x1F0003, 0, 0, 0),
        NtStatus::ACCESS_VIOLATION
    );
    assert_eq!(e.k.handle_count(), 3);
}

#[test]
fn open_process_by_client_id() {
    let mut e = Env::new();
    let pid = e.k.config().process_id;
    let cid = e.put(&[pid.to_le_bytes(), 0u64.to_le_bytes()].concat());
    let h = e.alloc(8);
    assert_eq!(e.k.nt_open_process(&mut e.mem, h, 0x1000, 0, cid), NtStatus::SUCCESS);
    let ph = e.rd64(h);
    assert_eq!(e.k.handle_type(ph), Some(ObjectType::Process));
    let cid = e.put(&[0x9999u64.to_le_bytes(), 0u64.to_le_bytes()].concat());
    assert_eq!(e.k.nt_open_process(&mut e.mem, h, 0x1000, 0, cid), NtStatus::INVALID_CID);
}

#[test]
fn dispatch_by_name() {
    let mut e = Env::new();
    assert_eq!(e.k.call(&mut e.mem, "NtClose", &[0xdeadbeef]), NtStatus::INVALID_HANDLE);
    assert_eq!(e.k.call(&mut e.mem, "ZwClose", &[u64::MAX]), NtStatus::SUCCESS);
    assert_eq!(e.k.call(&mut e.mem, "NtOpenKey", &[0, 0, 0]), NtStatus::NOT_IMPLEMENTED);
    assert_eq!(e.k.call(&mut e.mem, "NtCreateEvent", &[0, 0]), NtStatus::INVALID_PARAMETER);
    assert!(e.k.take_notes().iter().any(|n| n.contains("NtOpenKey")));
}

#[test]
fn service_table_is_sorted_unique_with_counts() {
    for w in SERVICES.windows(2) {
        assert!(w[0].name < w[1].name, "{} / {}", w[0].name, w[1].name);
    }
    let count = |n: &str| SERVICES.iter().find(|s| s.name == n).map(|s| s.args);
    assert_eq!(count("NtCreateFile"), Some(11));
    assert_eq!(count("NtMapViewOfSection"), Some(10));
    assert_eq!(count("NtYieldExecution"), Some(0));
    assert_eq!(count("NtAllocateVirtualMemory"), Some(6));
}

#[test]
fn every_status_has_a_name() {
    for (v, n) in x86wow_syscalls::all_statuses() {
        assert_eq!(status_name(*v), Some(*n).filter(|_| *v != 0).or(Some("STATUS_SUCCESS")));
    }
    assert_eq!(status_name(0xC0000008), Some("STATUS_INVALID_HANDLE"));
    assert_eq!(format!("{:?}", NtStatus::OBJECT_NAME_EXISTS), "STATUS_OBJECT_NAME_EXISTS(0x40000000)");
}
