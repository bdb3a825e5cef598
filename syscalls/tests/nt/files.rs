use pretty_assertions::assert_eq;
use x86wow_syscalls::consts::*;
use x86wow_syscalls::NtStatus;

use crate::common::Env;

const RW: u32 = GENERIC_READ | GENERIC_WRITE | SYNCHRONIZE;
const SHARE_ALL: u32 = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
const SYNC: u32 = FILE_SYNCHRONOUS_IO_NONALERT;

fn info(e: &mut Env, name: &str, disposition: u32) -> (NtStatus, u64) {
    let (st, h, iosb) = e.create_file(name, RW, SHARE_ALL, disposition, SYNC);
    let info = e.rd64(iosb + 8);
    if st == NtStatus::SUCCESS {
        assert_eq!(e.rd32(iosb), 0);
        e.close(h);
    }
    (st, info)
}

#[test]
fn dispositions_and_their_information_values() {
    let mut e = Env::new();
    let f = "\\??\\C:\\f.txt";
    assert_eq!(info(&mut e, f, FILE_OPEN).0, NtStatus::OBJECT_NAME_NOT_FOUND);
    assert_eq!(info(&mut e, f, FILE_OVERWRITE).0, NtStatus::OBJECT_NAME_NOT_FOUND);
    assert_eq!(info(&mut e, f, FILE_CREATE), (NtStatus::SUCCESS, FILE_CREATED));
    assert_eq!(info(&mut e, f, FILE_CREATE).0, NtStatus::OBJECT_NAME_COLLISION);
    assert_eq!(info(&mut e, f, FILE_OPEN), (NtStatus::SUCCESS, FILE_OPENED));
    assert_eq!(info(&mut e, f, FILE_OPEN_IF), (NtStatus::SUCCESS, FILE_OPENED));
    assert_eq!(info(&mut e, f, FILE_OVERWRITE), (NtStatus::SUCCESS, FILE_OVERWRITTEN));
    assert_eq!(info(&mut e, f, FILE_OVERWRITE_IF), (NtStatus::SUCCESS, FILE_OVERWRITTEN));
    assert_eq!(info(&mut e, f, FILE_SUPERSEDE), (NtStatus::SUCCESS, FILE_SUPERSEDED));
    assert_eq!(info(&mut e, "\\??\\C:\\g.txt", FILE_OPEN_IF), (NtStatus::SUCCESS, FILE_CREATED));
    assert_eq!(info(&mut e, "\\??\\C:\\h.txt", FILE_OVERWRITE_IF), (NtStatus::SUCCESS, FILE_CREATED));
    assert_eq!(info(&mut e, "\\??\\C:\\i.txt", FILE_SUPERSEDE), (NtStatus::SUCCESS, FILE_CREATED));
    assert_eq!(info(&mut e, f, 6).0, NtStatus::INVALID_PARAMETER);
    assert!(e.host("i.txt").is_file());
}

#[test]
fn overwrite_truncates() {
    let mut e = Env::new();
    std::fs::write(e.host("t.txt"), b"old contents").unwrap();
    assert_eq!(info(&mut e, "\\??\\C:\\t.txt", FILE_OVERWRITE).0, NtStatus::SUCCESS);
    assert_eq!(std::fs::read(e.host("t.txt")).unwrap(), b"");
}

#[test]
fn missing_directory_in_the_path() {
    let mut e = Env::new();
    assert_eq!(info(&mut e, "\\??\\C:\\nodir\\f.txt", FILE_CREATE).0, NtStatus::OBJECT_PATH_NOT_FOUND);
    std::fs::write(e.host("file"), b"").unwrap();
    assert_eq!(info(&mut e, "\\??\\C:\\file\\f.txt", FILE_CREATE).0, NtStatus::OBJECT_PATH_NOT_FOUND);
}

#[test]
fn write_then_read_through_the_file_position() {
    let mut e = Env::new();
    let (st, h) = e.open_rw("\\??\\C:\\data.bin", FILE_CREATE);
    assert_eq!(st, NtStatus::SUCCESS);
    assert_eq!(e.write(h, b"hello ", None), (NtStatus::SUCCESS, 6));
    assert_eq!(e.write(h, b"world", None), (NtStatus::SUCCESS, 5));
    assert_eq!(e.read(h, 4, Some(0)), (NtStatus::SUCCESS, b"hell".to_vec()));
    assert_eq!(e.read(h, 100, None), (NtStatus::SUCCESS, b"o world".to_vec()));
    let iosb = e.iosb();
    let buf = e.alloc(8);
    assert_eq!(e.k.nt_read_file(&mut e.mem, h, 0, 0, 0, iosb, buf, 8, 0, 0), NtStatus::END_OF_FILE);
    assert_eq!(e.iosb_info(iosb), (NtStatus::END_OF_FILE.0, 0));
    e.close(h);
    assert_eq!(std::fs::read(e.host("data.bin")).unwrap(), b"hello world");
}

#[test]
fn explicit_offsets_and_write_to_end() {
    let mut e = Env::new();
    std::fs::write(e.host("o.bin"), b"0123456789").unwrap();
    let (_, h) = e.open_rw("\\??\\C:\\o.bin", FILE_OPEN);
    assert_eq!(e.write(h, b"AB", Some(4)).0, NtStatus::SUCCESS);
    assert_eq!(e.write(h, b"Z", Some(-1)).0, NtStatus::SUCCESS);
    assert_eq!(e.read(h, 3, Some(-2)), (NtStatus::END_OF_FILE, vec![]), "current position is the end");
    e.close(h);
    assert_eq!(std::fs::read(e.host("o.bin")).unwrap(), b"0123AB6789Z");
}

#[test]
fn asynchronous_handles_need_an_offset() {
    let mut e = Env::new();
    std::fs::write(e.host("a.bin"), b"abc").unwrap();
    let (st, h, _) = e.create_file("\\??\\C:\\a.bin", GENERIC_READ, SHARE_ALL, FILE_OPEN, 0);
    assert_eq!(st, NtStatus::SUCCESS);
    assert_eq!(e.read(h, 3, None).0, NtStatus::INVALID_PARAMETER);
    assert_eq!(e.read(h, 3, Some(1)), (NtStatus::SUCCESS, b"bc".to_vec()));
}

#[test]
fn synchronous_io_needs_synchronize() {
    let mut e = Env::new();
    let (st, ..) = e.create_file("\\??\\C:\\s.bin", FILE_READ_DATA, SHARE_ALL, FILE_OPEN_IF, SYNC);
    assert_eq!(st, NtStatus::INVALID_PARAMETER);
}

#[test]
fn append_only_handle_writes_at_the_end() {
    let mut e = Env::new();
    std::fs::write(e.host("log.txt"), b"one\n").unwrap();
    let (st, h, _) =
        e.create_file("\\??\\C:\\log.txt", FILE_APPEND_DATA | SYNCHRONIZE, SHARE_ALL, FILE_OPEN, SYNC);
    assert_eq!(st, NtStatus::SUCCESS);
    assert_eq!(e.write(h, b"two\n", Some(0)).0, NtStatus::SUCCESS);
    e.close(h);
    assert_eq!(std::fs::read(e.host("log.txt")).unwrap(), b"one\ntwo\n");
}

#[test]
fn writing_through_a_read_only_handle_is_denied() {
    let mut e = Env::new();
    std::fs::write(e.host("r.txt"), b"keep").unwrap();
    let (_, h, _) = e.create_file("\\??\\C:\\r.txt", GENERIC_READ | SYNCHRONIZE, SHARE_ALL, FILE_OPEN, SYNC);
    assert_eq!(e.write(h, b"x", None).0, NtStatus::ACCESS_DENIED);
    assert_eq!(std::fs::read(e.host("r.txt")).unwrap(), b"keep");
}

#[test]
fn read_only_attribute_denies_write_access() {
    let mut e = Env::new();
    std::fs::write(e.host("ro.txt"), b"x").unwrap();
    let mut p = std::fs::metadata(e.host("ro.txt")).unwrap().permissions();
    p.set_readonly(true);
    std::fs::set_permissions(e.host("ro.txt"), p).unwrap();
    assert_eq!(e.open_rw("\\??\\C:\\ro.txt", FILE_OPEN).0, NtStatus::ACCESS_DENIED);
}

#[test]
fn lookup_is_case_insensitive_on_a_case_sensitive_host() {
    let mut e = Env::new();
    std::fs::create_dir(e.host("Dir")).unwrap();
    std::fs::write(e.host("Dir/Hello.TXT"), b"hi").unwrap();
    let (st, h) = e.open_rw("\\??\\C:\\dIR\\hello.txt", FILE_OPEN);
    assert_eq!(st, NtStatus::SUCCESS);
    assert_eq!(e.read(h, 10, None).1, b"hi".to_vec());
    // The name reported is the one on disk.
    let buf = e.alloc(100);
    let iosb = e.iosb();
    assert_eq!(e.k.nt_query_information_file(&mut e.mem, h, iosb, buf, 100, 9), NtStatus::SUCCESS);
    let n = e.rd32(buf) as usize;
    let s: Vec<u16> = e.bytes(buf + 4, n).chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    assert_eq!(String::from_utf16(&s).unwrap(), "\\Dir\\Hello.TXT");
    assert_eq!(e.iosb_info(iosb), (0, 4 + n as u64));
}

#[test]
fn directory_and_non_directory_options() {
    let mut e = Env::new();
    std::fs::create_dir(e.host("d")).unwrap();
    std::fs::write(e.host("f"), b"").unwrap();
    let (st, ..) = e.create_file("\\??\\C:\\f", GENERIC_READ, SHARE_ALL, FILE_OPEN, FILE_DIRECTORY_FILE);
    assert_eq!(st, NtStatus::NOT_A_DIRECTORY);
    let (st, ..) = e.create_file("\\??\\C:\\d", GENERIC_READ, SHARE_ALL, FILE_OPEN, FILE_NON_DIRECTORY_FILE);
    assert_eq!(st, NtStatus::FILE_IS_A_DIRECTORY);
    let (st, ..) =
        e.create_file("\\??\\C:\\d", GENERIC_READ, SHARE_ALL, FILE_OVERWRITE_IF, FILE_DIRECTORY_FILE);
    assert_eq!(st, NtStatus::INVALID_PARAMETER);
    let (st, _, iosb) =
        e.create_file("\\??\\C:\\newdir", GENERIC_READ, SHARE_ALL, FILE_CREATE, FILE_DIRECTORY_FILE);
    assert_eq!((st, e.rd64(iosb + 8)), (NtStatus::SUCCESS, FILE_CREATED));
    assert!(e.host("newdir").is_dir());
    let (st, h, _) = e.create_file("\\??\\C:\\d", GENERIC_READ, SHARE_ALL, FILE_OPEN, 0);
    assert_eq!(st, NtStatus::SUCCESS);
    assert_eq!(e.read(h, 1, Some(0)).0, NtStatus::INVALID_DEVICE_REQUEST);
}

#[test]
fn delete_on_close_removes_the_file_with_the_last_handle() {
    let mut e = Env::new();
    let (st, h, _) =
        e.create_file("\\??\\C:\\tmp.txt", RW | DELETE, SHARE_ALL, FILE_CREATE, SYNC | FILE_DELETE_ON_CLOSE);
    assert_eq!(st, NtStatus::SUCCESS);
    let (st, h2) = e.open_rw("\\??\\C:\\tmp.txt", FILE_OPEN);
    assert_eq!(st, NtStatus::SUCCESS);
    e.close(h);
    assert!(e.host("tmp.txt").exists(), "another handle is open");
    e.close(h2);
    assert!(!e.host("tmp.txt").exists());
    let (st, ..) = e.create_file("\\??\\C:\\x.txt", RW, SHARE_ALL, FILE_CREATE, SYNC | FILE_DELETE_ON_CLOSE);
    assert_eq!(st, NtStatus::INVALID_PARAMETER, "needs DELETE access");
}

#[test]
fn disposition_information_deletes_and_pending_delete_blocks_opens() {
    let mut e = Env::new();
    std::fs::write(e.host("del.txt"), b"x").unwrap();
    let (_, h) = e.open_rw("\\??\\C:\\del.txt", FILE_OPEN);
    let one = e.put(&[1]);
    let iosb = e.iosb();
    assert_eq!(e.k.nt_set_information_file(&mut e.mem, h, iosb, one, 1, 13), NtStatus::SUCCESS);
    assert_eq!(e.open_rw("\\??\\C:\\del.txt", FILE_OPEN).0, NtStatus::DELETE_PENDING);
    let buf = e.alloc(24);
    e.k.nt_query_information_file(&mut e.mem, h, iosb, buf, 24, 5);
    assert_eq!(e.bytes(buf + 20, 1), vec![1], "DeletePending");
    e.close(h);
    assert!(!e.host("del.txt").exists());
}

#[test]
fn nt_delete_file_and_non_empty_directories() {
    let mut e = Env::new();
    std::fs::write(e.host("gone.txt"), b"x").unwrap();
    std::fs::create_dir(e.host("full")).unwrap();
    std::fs::write(e.host("full/x"), b"x").unwrap();
    let oa = e.oa("\\??\\C:\\gone.txt", 0);
    assert_eq!(e.k.nt_delete_file(&mut e.mem, oa), NtStatus::SUCCESS);
    assert!(!e.host("gone.txt").exists());
    let oa = e.oa("\\??\\C:\\full", 0);
    assert_eq!(e.k.nt_delete_file(&mut e.mem, oa), NtStatus::DIRECTORY_NOT_EMPTY);
    let oa = e.oa("\\??\\C:\\gone.txt", 0);
    assert_eq!(e.k.nt_delete_file(&mut e.mem, oa), NtStatus::OBJECT_NAME_NOT_FOUND);
}

fn rename(e: &mut Env, h: u64, to: &str, replace: bool) -> NtStatus {
    let name: Vec<u8> = to.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    let mut b = vec![0u8; 20];
    b[0] = replace as u8;
    b[16..20].copy_from_slice(&(name.len() as u32).to_le_bytes());
    b.extend_from_slice(&name);
    let len = b.len() as u64;
    let buf = e.put(&b);
    let iosb = e.iosb();
    e.k.nt_set_information_file(&mut e.mem, h, iosb, buf, len, 10)
}

#[test]
fn rename_within_the_sandbox() {
    let mut e = Env::new();
    std::fs::create_dir(e.host("sub")).unwrap();
    std::fs::write(e.host("a.txt"), b"A").unwrap();
    std::fs::write(e.host("b.txt"), b"B").unwrap();
    let (_, h) = e.open_rw("\\??\\C:\\a.txt", FILE_OPEN);
    assert_eq!(rename(&mut e, h, "\\??\\C:\\b.txt", false), NtStatus::OBJECT_NAME_COLLISION);
    assert_eq!(rename(&mut e, h, "\\??\\C:\\sub\\moved.txt", false), NtStatus::SUCCESS);
    assert_eq!(std::fs::read(e.host("sub/moved.txt")).unwrap(), b"A");
    assert!(!e.host("a.txt").exists());
    assert_eq!(rename(&mut e, h, "plain.txt", false), NtStatus::SUCCESS);
    assert!(e.host("sub/plain.txt").exists());
    assert_eq!(rename(&mut e, h, "\\??\\C:\\b.txt", true), NtStatus::SUCCESS);
    assert_eq!(std::fs::read(e.host("b.txt")).unwrap(), b"A");
}

#[test]
fn sharing_violations() {
    let mut e = Env::new();
    std::fs::write(e.host("s.txt"), b"x").unwrap();
    let (st, h, _) =
        e.create_file("\\??\\C:\\s.txt", GENERIC_READ | SYNCHRONIZE, FILE_SHARE_READ, FILE_OPEN, SYNC);
    assert_eq!(st, NtStatus::SUCCESS);
    let (st, ..) = e.create_file("\\??\\C:\\s.txt", GENERIC_WRITE | SYNCHRONIZE, SHARE_ALL, FILE_OPEN, SYNC);
    assert_eq!(st, NtStatus::SHARING_VIOLATION);
    let (st, ..) = e.create_file(
        "\\??\\C:\\s.txt",
        GENERIC_READ | SYNCHRONIZE,
        FILE_SHARE_READ | FILE_SHARE_WRITE,
        FILE_OPEN,
        SYNC,
    );
    assert_eq!(st, NtStatus::SUCCESS);
    let (st, ..) = e.create_file("\\??\\C:\\s.txt", FILE_READ_ATTRIBUTES, 0, FILE_OPEN, 0);
    assert_eq!(st, NtStatus::SUCCESS, "attribute-only opens do not conflict");
    e.close(h);
}

#[test]
fn standard_position_and_end_of_file_information() {
    let mut e = Env::new();
    let (_, h) = e.open_rw("\\??\\C:\\sz.bin", FILE_CREATE);
    e.write(h, &[7; 5000], None);
    let buf = e.alloc(24);
    let iosb = e.iosb();
    assert_eq!(e.k.nt_query_information_file(&mut e.mem, h, iosb, buf, 24, 5), NtStatus::SUCCESS);
    assert_eq!(
        (e.rd64(buf), e.rd64(buf + 8), e.rd32(buf + 16), e.bytes(buf + 20, 2)),
        (8192, 5000, 1, vec![0, 0])
    );
    assert_eq!(e.iosb_info(iosb), (0, 24));
    assert_eq!(
        e.k.nt_query_information_file(&mut e.mem, h, iosb, buf, 23, 5),
        NtStatus::INFO_LENGTH_MISMATCH
    );
    assert_eq!(e.k.nt_query_information_file(&mut e.mem, h, iosb, buf, 8, 14), NtStatus::SUCCESS);
    assert_eq!(e.rd64(buf), 5000);
    let pos = e.u64_cell(10);
    assert_eq!(e.k.nt_set_information_file(&mut e.mem, h, iosb, pos, 8, 14), NtStatus::SUCCESS);
    assert_eq!(e.read(h, 2, None).0, NtStatus::SUCCESS);
    let eof = e.u64_cell(100);
    assert_eq!(e.k.nt_set_information_file(&mut e.mem, h, iosb, eof, 8, 20), NtStatus::SUCCESS);
    assert_eq!(std::fs::metadata(e.host("sz.bin")).unwrap().len(), 100);
    assert_eq!(e.k.nt_query_information_file(&mut e.mem, h, iosb, buf, 8, 999), NtStatus::INVALID_INFO_CLASS);
}

#[test]
fn basic_and_all_information() {
    let mut e = Env::new();
    std::fs::create_dir(e.host("x")).unwrap();
    std::fs::write(e.host("x/y.txt"), b"12345").unwrap();
    let (_, h) = e.open_rw("\\??\\C:\\x\\y.txt", FILE_OPEN);
    let buf = e.alloc(200);
    let iosb = e.iosb();
    assert_eq!(e.k.nt_query_information_file(&mut e.mem, h, iosb, buf, 40, 4), NtStatus::SUCCESS);
    assert_eq!(e.rd32(buf + 32), 0x20, "FILE_ATTRIBUTE_ARCHIVE");
    assert!(e.rd64(buf + 16) > 116_444_736_000_000_000);
    assert_eq!(e.k.nt_query_information_file(&mut e.mem, h, iosb, buf, 200, 18), NtStatus::SUCCESS);
    assert_eq!((e.rd64(buf + 48), e.rd32(buf + 96)), (5, 16));
    assert_eq!(e.iosb_info(iosb), (0, 116));
    // Too small for the name: partial, STATUS_BUFFER_OVERFLOW.
    assert_eq!(e.k.nt_query_information_file(&mut e.mem, h, iosb, buf, 104, 18), NtStatus::BUFFER_OVERFLOW);
    assert_eq!(e.iosb_info(iosb), (NtStatus::BUFFER_OVERFLOW.0, 104));
}

#[test]
fn set_basic_information_makes_a_file_read_only() {
    let mut e = Env::new();
    let (_, h) = e.open_rw("\\??\\C:\\b.txt", FILE_CREATE);
    let mut b = vec![0u8; 40];
    b[32] = 1; // FILE_ATTRIBUTE_READONLY
    let buf = e.put(&b);
    let iosb = e.iosb();
    assert_eq!(e.k.nt_set_information_file(&mut e.mem, h, iosb, buf, 40, 4), NtStatus::SUCCESS);
    assert!(std::fs::metadata(e.host("b.txt")).unwrap().permissions().readonly());
    let q = e.alloc(40);
    e.k.nt_query_information_file(&mut e.mem, h, iosb, q, 40, 4);
    assert_eq!(e.rd32(q + 32), 0x21);
}

fn list(
    e: &mut Env,
    h: u64,
    class: u32,
    mask: Option<&str>,
    single: bool,
    restart: bool,
    len: u64,
) -> (NtStatus, Vec<String>) {
    let buf = e.alloc(len);
    let iosb = e.iosb();
    let m = mask.map(|m| e.ustr(m)).unwrap_or(0);
    let st = e.k.nt_query_directory_file(
        &mut e.mem,
        h,
        0,
        0,
        0,
        iosb,
        buf,
        len,
        class as u64,
        single as u64,
        m,
        restart as u64,
    );
    let mut names = Vec::new();
    if st == NtStatus::SUCCESS {
        let (name_len_off, name_off) = match class {
            1 => (60, 64),
            2 => (60, 68),
            3 => (60, 94),
            12 => (8, 12),
            _ => unreachable!(),
        };
        let mut off = 0u64;
        loop {
            let next = e.rd32(buf + off) as u64;
            let n = e.rd32(buf + off + name_len_off) as usize;
            let s: Vec<u16> = e
                .bytes(buf + off + name_off, n)
                .chunks(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            names.push(String::from_utf16(&s).unwrap());
            if next == 0 {
                break;
            }
            assert_eq!(next % 8, 0);
            off += next;
        }
    }
    (st, names)
}

fn open_dir(e: &mut Env, name: &str) -> u64 {
    let (st, h, _) = e.create_file(
        name,
        FILE_LIST_DIRECTORY | SYNCHRONIZE,
        SHARE_ALL,
        FILE_OPEN,
        SYNC | FILE_DIRECTORY_FILE,
    );
    assert_eq!(st, NtStatus::SUCCESS);
    h
}

#[test]
fn directory_enumeration_with_wildcards() {
    let mut e = Env::new();
    std::fs::create_dir(e.host("d")).unwrap();
    for n in ["b.txt", "A.txt", "c.log", "sub"] {
        if n == "sub" {
            std::fs::create_dir(e.host("d/sub")).unwrap();
        } else {
            std::fs::write(e.host(&format!("d/{n}")), b"x").unwrap();
        }
    }
    let h = open_dir(&mut e, "\\??\\C:\\d");
    let (st, names) = list(&mut e, h, 3, None, false, false, 4096);
    assert_eq!(
        (st, names),
        (
            NtStatus::SUCCESS,
            vec![".", "..", "A.txt", "b.txt", "c.log", "sub"].into_iter().map(String::from).collect()
        )
    );
    assert_eq!(list(&mut e, h, 3, None, false, false, 4096).0, NtStatus::NO_MORE_FILES);
    let (st, names) = list(&mut e, h, 1, Some("*.TXT"), false, true, 4096);
    assert_eq!((st, names), (NtStatus::SUCCESS, vec!["A.txt".to_string(), "b.txt".to_string()]));
    let h2 = open_dir(&mut e, "\\??\\C:\\d");
    assert_eq!(list(&mut e, h2, 12, Some("?.log"), false, false, 4096).1, vec!["c.log".to_string()]);
    let h3 = open_dir(&mut e, "\\??\\C:\\d");
    assert_eq!(list(&mut e, h3, 2, Some("*.exe"), false, false, 4096).0, NtStatus::NO_SUCH_FILE);
}

#[test]
fn directory_enumeration_one_entry_at_a_time_and_restart() {
    let mut e = Env::new();
    std::fs::write(e.host("one"), b"").unwrap();
    std::fs::write(e.host("two"), b"").unwrap();
    let h = open_dir(&mut e, "\\??\\C:\\");
    assert_eq!(
        list(&mut e, h, 12, None, true, false, 4096).1,
        vec!["one".to_string()],
        "no . or .. at the root"
    );
    assert_eq!(list(&mut e, h, 12, None, true, false, 4096).1, vec!["two".to_string()]);
    assert_eq!(list(&mut e, h, 12, None, true, false, 4096).0, NtStatus::NO_MORE_FILES);
    assert_eq!(list(&mut e, h, 12, None, true, true, 4096).1, vec!["one".to_string()]);
    // A buffer that holds the header but not the name.
    assert_eq!(list(&mut e, h, 12, None, false, false, 13).0, NtStatus::BUFFER_OVERFLOW);
    assert_eq!(list(&mut e, h, 12, None, false, false, 8).0, NtStatus::INFO_LENGTH_MISMATCH);
    assert_eq!(list(&mut e, h, 12, None, false, false, 4096).1, vec!["two".to_string()]);
}

#[test]
fn query_directory_on_a_file_is_invalid() {
    let mut e = Env::new();
    let (_, h) = e.open_rw("\\??\\C:\\f", FILE_CREATE);
    assert_eq!(list(&mut e, h, 1, None, false, false, 4096).0, NtStatus::INVALID_PARAMETER);
}

#[test]
fn volume_information() {
    let mut e = Env::new();
    let (_, h) = e.open_rw("\\??\\C:\\v", FILE_CREATE);
    let buf = e.alloc(64);
    let iosb = e.iosb();
    assert_eq!(e.k.nt_query_volume_information_file(&mut e.mem, h, iosb, buf, 8, 4), NtStatus::SUCCESS);
    assert_eq!((e.rd32(buf), e.rd32(buf + 4)), (7, 0x20));
    assert_eq!(e.k.nt_query_volume_information_file(&mut e.mem, h, iosb, buf, 64, 5), NtStatus::SUCCESS);
    assert_eq!((e.rd32(buf + 8), e.bytes(buf + 12, 8)), (8, b"N\0T\0F\0S\0".to_vec()));
    assert_eq!(e.iosb_info(iosb), (0, 20));
    assert_eq!(e.k.nt_query_volume_information_file(&mut e.mem, h, iosb, buf, 24, 3), NtStatus::SUCCESS);
    assert_eq!((e.rd32(buf + 16), e.rd32(buf + 20)), (8, 512));
    assert_eq!(e.k.nt_query_volume_information_file(&mut e.mem, h, iosb, buf, 64, 1), NtStatus::SUCCESS);
    assert_eq!(e.iosb_info(iosb), (0, 18));
    let out = e.k.console_handles()[1];
    assert_eq!(e.k.nt_query_volume_information_file(&mut e.mem, out, iosb, buf, 8, 4), NtStatus::SUCCESS);
    assert_eq!(e.rd32(buf), 0x50, "FILE_DEVICE_CONSOLE");
}

#[test]
fn console_output_and_input() {
    let mut e = Env::with_input(b"typed", |_| {});
    let [inp, out, err] = e.k.console_handles();
    assert_eq!(e.write(out, b"to stdout", None), (NtStatus::SUCCESS, 9));
    assert_eq!(e.write(err, b"to stderr", None), (NtStatus::SUCCESS, 9));
    assert_eq!((e.out.text(), e.err.text()), ("to stdout".to_string(), "to stderr".to_string()));
    assert_eq!(e.read(inp, 3, None), (NtStatus::SUCCESS, b"typ".to_vec()));
    assert_eq!(e.read(inp, 10, None), (NtStatus::SUCCESS, b"ed".to_vec()));
    assert_eq!(e.read(inp, 10, None).0, NtStatus::END_OF_FILE);
}

#[test]
fn null_device_and_conout() {
    let mut e = Env::new();
    let (st, h, _) = e.create_file("\\??\\NUL", RW, SHARE_ALL, FILE_OPEN, SYNC);
    assert_eq!(st, NtStatus::SUCCESS);
    assert_eq!(e.write(h, b"gone", None), (NtStatus::SUCCESS, 4));
    assert_eq!(e.read(h, 4, None).0, NtStatus::END_OF_FILE);
    let (st, h, _) = e.create_file("\\??\\CONOUT$", RW, SHARE_ALL, FILE_OPEN, SYNC);
    assert_eq!(st, NtStatus::SUCCESS);
    e.write(h, b"hi", None);
    assert_eq!(e.out.text(), "hi");
}

#[test]
fn query_attributes_without_opening() {
    let mut e = Env::new();
    std::fs::write(e.host("q.txt"), b"123").unwrap();
    let oa = e.oa("\\??\\C:\\Q.TXT", OBJ_CASE_INSENSITIVE);
    let buf = e.alloc(56);
    assert_eq!(e.k.nt_query_full_attributes_file(&mut e.mem, oa, buf), NtStatus::SUCCESS);
    assert_eq!((e.rd64(buf + 40), e.rd32(buf + 48)), (3, 0x20));
    assert_eq!(e.k.nt_query_attributes_file(&mut e.mem, oa, buf), NtStatus::SUCCESS);
    let oa = e.oa("\\??\\C:\\", 0);
    assert_eq!(e.k.nt_query_attributes_file(&mut e.mem, oa, buf), NtStatus::SUCCESS);
    assert_eq!(e.rd32(buf + 32), 0x10);
    let oa = e.oa("\\??\\C:\\missing", 0);
    assert_eq!(e.k.nt_query_attributes_file(&mut e.mem, oa, buf), NtStatus::OBJECT_NAME_NOT_FOUND);
}

#[test]
fn relative_opens_through_a_directory_handle() {
    let mut e = Env::new();
    std::fs::create_dir(e.host("base")).unwrap();
    std::fs::write(e.host("base/in.txt"), b"in").unwrap();
    let d = open_dir(&mut e, "\\??\\C:\\base");
    let h = e.alloc(8);
    let oa = e.oa_rel(d, "in.txt", 0);
    let iosb = e.iosb();
    let st = e.k.nt_open_file(
        &mut e.mem,
        h,
        (GENERIC_READ | SYNCHRONIZE) as u64,
        oa,
        iosb,
        SHARE_ALL as u64,
        SYNC as u64,
    );
    assert_eq!(st, NtStatus::SUCCESS);
    let fh = e.rd64(h);
    assert_eq!(e.read(fh, 2, None).1, b"in".to_vec());
}

#[test]
fn dos_devices_prefix_and_other_drives() {
    let mut e = Env::new();
    std::fs::write(e.host("z"), b"").unwrap();
    assert_eq!(info(&mut e, "\\DosDevices\\C:\\z", FILE_OPEN).0, NtStatus::SUCCESS);
    assert_eq!(info(&mut e, "\\??\\c:\\Z", FILE_OPEN).0, NtStatus::SUCCESS);
    assert_eq!(info(&mut e, "\\??\\D:\\z", FILE_OPEN).0, NtStatus::OBJECT_PATH_NOT_FOUND);
    assert_eq!(info(&mut e, "C:\\z", FILE_OPEN).0, NtStatus::OBJECT_PATH_SYNTAX_BAD);
    assert_eq!(info(&mut e, "\\??\\C:", FILE_OPEN).0, NtStatus::ACCESS_DENIED);
}

#[test]
fn flush_and_duplicate_file_handles_share_the_file_object() {
    let mut e = Env::new();
    let (_, h) = e.open_rw("\\??\\C:\\dup.txt", FILE_CREATE);
    e.write(h, b"abc", None);
    let iosb = e.iosb();
    assert_eq!(e.k.nt_flush_buffers_file(&mut e.mem, h, iosb), NtStatus::SUCCESS);
    let t = e.alloc(8);
    e.k.nt_duplicate_object(&mut e.mem, u64::MAX, h, u64::MAX, t, 0, 0, DUPLICATE_SAME_ACCESS as u64);
    let d = e.rd64(t);
    e.close(h);
    assert_eq!(e.read(d, 3, Some(0)).1, b"abc".to_vec());
    assert_eq!(e.write(d, b"d", None).1, 1);
    e.close(d);
    assert_eq!(std::fs::read(e.host("dup.txt")).unwrap(), b"abcd");
}
