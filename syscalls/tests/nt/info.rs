use pretty_assertions::assert_eq;
use x86wow_syscalls::{NtStatus, KUSER_SHARED_DATA};

use crate::common::Env;

const P: u64 = u64::MAX;

fn qip(e: &mut Env, class: u64, len: u64) -> (NtStatus, Vec<u8>, u32) {
    let buf = e.alloc(len.max(1));
    let rl = e.u32_cell(0xFFFF);
    let st = e.k.nt_query_information_process(&mut e.mem, P, class, buf, len, rl);
    (st, e.bytes(buf, len as usize), e.rd32(rl))
}

#[test]
fn process_basic_information_bytes() {
    let mut e = Env::new();
    e.k.set_process_blocks(0x7FF0_0000_0000, 0x7FF0_0001_0000, 0x7FF0_1000);
    let (st, b, rl) = qip(&mut e, 0, 48);
    assert_eq!((st, rl), (NtStatus::SUCCESS, 48));
    let mut want = vec![0u8; 48];
    want[0..4].copy_from_slice(&0x103u32.to_le_bytes());
    want[8..16].copy_from_slice(&0x7FF0_0000_0000u64.to_le_bytes());
    want[16..24].copy_from_slice(&1u64.to_le_bytes());
    want[24..28].copy_from_slice(&8u32.to_le_bytes());
    want[32..40].copy_from_slice(&0x1A4u64.to_le_bytes());
    want[40..48].copy_from_slice(&0x10Cu64.to_le_bytes());
    assert_eq!(b, want);
}

#[test]
fn wrong_length_is_a_mismatch_with_the_needed_size() {
    let mut e = Env::new();
    let (st, _, rl) = qip(&mut e, 0, 40);
    assert_eq!((st, rl), (NtStatus::INFO_LENGTH_MISMATCH, 48));
    let (st, _, rl) = qip(&mut e, 26, 4);
    assert_eq!((st, rl), (NtStatus::INFO_LENGTH_MISMATCH, 8));
}

#[test]
fn wow64_information_reports_the_peb32() {
    let mut e = Env::new();
    let (_, b, _) = qip(&mut e, 26, 8);
    assert_eq!(b, 0u64.to_le_bytes().to_vec(), "native process");
    e.k.set_process_blocks(0x7FF0_0000_0000, 0x7FF0_0001_0000, 0x7EFD_E000);
    let (st, b, _) = qip(&mut e, 26, 8);
    assert_eq!((st, b), (NtStatus::SUCCESS, 0x7EFD_E000u64.to_le_bytes().to_vec()));
}

#[test]
fn image_file_name_is_a_unicode_string_after_the_header() {
    let mut e = Env::new();
    e.k.set_process_image("C:\\app\\hello.exe", None, 0x40_0000);
    let buf = e.alloc(256);
    let rl = e.u32_cell(0);
    assert_eq!(
        e.k.nt_query_information_process(&mut e.mem, P, 27, buf, 20, rl),
        NtStatus::INFO_LENGTH_MISMATCH
    );
    let need = e.rd32(rl);
    let name = "\\Device\\HarddiskVolume1\\app\\hello.exe";
    assert_eq!(need as usize, 16 + name.len() * 2 + 2);
    assert_eq!(e.k.nt_query_information_process(&mut e.mem, P, 27, buf, 256, rl), NtStatus::SUCCESS);
    assert_eq!((e.mem.read_u16(buf).unwrap() as usize, e.rd64(buf + 8)), (name.len() * 2, buf + 16));
    let s: Vec<u16> =
        e.bytes(buf + 16, name.len() * 2).chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    assert_eq!(String::from_utf16(&s).unwrap(), name);
}

#[test]
fn small_process_classes() {
    let mut e = Env::new();
    assert_eq!(qip(&mut e, 7, 8).1, vec![0; 8]);
    assert_eq!(qip(&mut e, 12, 4).1, vec![1, 0, 0, 0]);
    assert_eq!(qip(&mut e, 31, 4).1, vec![1, 0, 0, 0]);
    let (st, b, _) = qip(&mut e, 36, 4);
    assert_eq!(st, NtStatus::SUCCESS);
    assert_ne!(b, vec![0; 4]);
    let (st, b, _) = qip(&mut e, 30, 8);
    assert_eq!((st, b), (NtStatus::PORT_NOT_SET, vec![0; 8]));
    assert_eq!(qip(&mut e, 1000, 8).0, NtStatus::INVALID_INFO_CLASS);
}

#[test]
fn set_hard_error_mode_is_remembered() {
    let mut e = Env::new();
    let v = e.u32_cell(7);
    assert_eq!(e.k.nt_set_information_process(&mut e.mem, P, 12, v, 4), NtStatus::SUCCESS);
    assert_eq!(qip(&mut e, 12, 4).1, vec![7, 0, 0, 0]);
    assert_eq!(e.k.nt_set_information_process(&mut e.mem, P, 12, v, 8), NtStatus::INFO_LENGTH_MISMATCH);
}

#[test]
fn thread_basic_information_has_the_teb_and_client_id() {
    let mut e = Env::new();
    e.k.set_process_blocks(0x7FF0_0000_0000, 0x7FF0_0001_0000, 0);
    let buf = e.alloc(48);
    assert_eq!(e.k.nt_query_information_thread(&mut e.mem, u64::MAX - 1, 0, buf, 48, 0), NtStatus::SUCCESS);
    assert_eq!((e.rd64(buf + 8), e.rd64(buf + 16), e.rd64(buf + 24)), (0x7FF0_0001_0000, 0x1A4, 0x1A8));
    assert_eq!(
        e.k.nt_query_information_thread(&mut e.mem, u64::MAX, 0, buf, 48, 0),
        NtStatus::OBJECT_TYPE_MISMATCH
    );
}

#[test]
fn hide_from_debugger_then_query_it() {
    let mut e = Env::new();
    assert_eq!(e.k.nt_set_information_thread(&mut e.mem, u64::MAX - 1, 17, 0, 0), NtStatus::SUCCESS);
    let b = e.alloc(1);
    assert_eq!(e.k.nt_query_information_thread(&mut e.mem, u64::MAX - 1, 17, b, 1, 0), NtStatus::SUCCESS);
    assert_eq!(e.bytes(b, 1), vec![1]);
}

#[test]
fn system_basic_information_reports_the_configured_limit() {
    let mut e = Env::new();
    let buf = e.alloc(64);
    assert_eq!(e.k.nt_query_system_information(&mut e.mem, 0, buf, 64, 0), NtStatus::SUCCESS);
    assert_eq!(
        (e.rd32(buf + 8), e.rd32(buf + 24), e.rd64(buf + 32), e.rd64(buf + 40)),
        (0x1000, 0x1_0000, 0x1_0000, 0x7FFF_FFFE_FFFF)
    );
    assert_eq!(e.k.nt_query_system_information(&mut e.mem, 0, buf, 44, 0), NtStatus::INFO_LENGTH_MISMATCH);
}

#[test]
fn emulation_information_reports_32_bit_limits() {
    let mut e = Env::new();
    let buf = e.alloc(64);
    assert_eq!(e.k.nt_query_system_information(&mut e.mem, 62, buf, 64, 0), NtStatus::SUCCESS);
    assert_eq!(e.rd64(buf + 40), 0x7FFE_FFFF);
    e.k.set_emulation_highest_user_address(0xFFFE_FFFF);
    e.k.nt_query_system_information(&mut e.mem, 62, buf, 64, 0);
    assert_eq!(e.rd64(buf + 40), 0xFFFE_FFFF);
    let p = e.alloc(12);
    assert_eq!(e.k.nt_query_system_information(&mut e.mem, 63, p, 12, 0), NtStatus::SUCCESS);
    assert_eq!(e.mem.read_u16(p).unwrap(), 0, "PROCESSOR_ARCHITECTURE_INTEL");
    assert_eq!(e.k.nt_query_system_information(&mut e.mem, 1, p, 12, 0), NtStatus::SUCCESS);
    assert_eq!(e.mem.read_u16(p).unwrap(), 9, "PROCESSOR_ARCHITECTURE_AMD64");
}

#[test]
fn time_of_day_accepts_a_prefix() {
    let mut e = Env::new();
    let buf = e.alloc(48);
    assert_eq!(e.k.nt_query_system_information(&mut e.mem, 3, buf, 16, 0), NtStatus::SUCCESS);
    assert_eq!(e.rd64(buf + 8), x86wow_syscalls::DEFAULT_CLOCK_START);
    assert_eq!(e.k.nt_query_system_information(&mut e.mem, 3, buf, 49, 0), NtStatus::INFO_LENGTH_MISMATCH);
}

#[test]
fn terminate_process_records_the_exit_status() {
    let mut e = Env::new();
    assert_eq!(e.k.exit_status(), None);
    assert_eq!(e.k.nt_terminate_process(&mut e.mem, 0, 5), NtStatus::SUCCESS);
    assert_eq!(e.k.exit_status(), None, "NULL handle ends the other threads only");
    assert_eq!(e.k.nt_terminate_process(&mut e.mem, u64::MAX, 42), NtStatus::SUCCESS);
    assert_eq!(e.k.exit_status(), Some(42));
    let (_, b, _) = qip(&mut e, 0, 48);
    assert_eq!(b[0..4].to_vec(), vec![42, 0, 0, 0]);
}

#[test]
fn kuser_shared_data_fields() {
    let mut e = Env::new();
    let k = KUSER_SHARED_DATA;
    assert_eq!((e.rd32(k + 0x260), e.rd32(k + 0x26C), e.rd32(k + 0x270)), (19045, 10, 0));
    assert_eq!(e.mem.read_u16(k + 0x26A).unwrap(), 9);
    assert_eq!(e.rd64(k + 0x300), 10_000_000);
    assert_eq!(e.rd32(k + 0x4), 0x0FA0_0000);
    assert_eq!(
        e.bytes(k + 0x30, 20),
        "C:\\Windows".encode_utf16().flat_map(|u| u.to_le_bytes()).collect::<Vec<u8>>()
    );
    let it = e.rd64(k + 0x8);
    e.k.advance_clock(&mut e.mem, 10_000_000);
    assert_eq!(e.rd64(k + 0x8) - it, 1_000_000);
    let ticks = e.rd32(k + 0x320) as u64;
    assert_eq!(ticks, e.k.clock().interrupt_time() / 156_250);
}

#[test]
fn locale_services() {
    let mut e = Env::new();
    let l = e.alloc(4);
    assert_eq!(e.k.nt_query_default_locale(&mut e.mem, 1, l), NtStatus::SUCCESS);
    assert_eq!(e.rd32(l), 0x409);
    assert_eq!(e.k.nt_query_default_ui_language(&mut e.mem, l), NtStatus::SUCCESS);
    assert_eq!(e.mem.read_u16(l).unwrap(), 0x409);
    assert_eq!(e.k.nt_query_install_ui_language(&mut e.mem, 0x10), NtStatus::ACCESS_VIOLATION);
}
