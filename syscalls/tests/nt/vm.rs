use pretty_assertions::assert_eq;
use x86wow_mmu::{Access, FaultKind};
use x86wow_syscalls::consts::*;
use x86wow_syscalls::{MemoryInfo, NtStatus};

use crate::common::Env;

const P: u64 = u64::MAX;

/// NtAllocateVirtualMemory; returns (status, base, size).
fn alloc(e: &mut Env, base: u64, size: u64, zero_bits: u64, ty: u32, prot: u32) -> (NtStatus, u64, u64) {
    let b = e.u64_cell(base);
    let s = e.u64_cell(size);
    let st = e.k.nt_allocate_virtual_memory(&mut e.mem, P, b, zero_bits, s, ty as u64, prot as u64);
    (st, e.rd64(b), e.rd64(s))
}

fn free(e: &mut Env, base: u64, size: u64, ty: u32) -> (NtStatus, u64, u64) {
    let b = e.u64_cell(base);
    let s = e.u64_cell(size);
    let st = e.k.nt_free_virtual_memory(&mut e.mem, P, b, s, ty as u64);
    (st, e.rd64(b), e.rd64(s))
}

fn protect(e: &mut Env, base: u64, size: u64, prot: u32) -> (NtStatus, u64, u64, u32) {
    let b = e.u64_cell(base);
    let s = e.u64_cell(size);
    let old = e.u32_cell(0xAAAA);
    let st = e.k.nt_protect_virtual_memory(&mut e.mem, P, b, s, prot as u64, old);
    (st, e.rd64(b), e.rd64(s), e.rd32(old))
}

fn query(e: &mut Env, addr: u64) -> (NtStatus, MemoryInfo) {
    let buf = e.alloc(48);
    let rl = e.u64_cell(0);
    let st = e.k.nt_query_virtual_memory(&mut e.mem, P, addr, 0, buf, 48, rl);
    let b = e.bytes(buf, 48);
    let r = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let r32 = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    if st == NtStatus::SUCCESS {
        assert_eq!(e.rd64(rl), 48);
    }
    (
        st,
        MemoryInfo {
            base: r(0),
            allocation_base: r(8),
            allocation_protect: r32(16),
            region_size: r(24),
            state: r32(32),
            protect: r32(36),
            ty: r32(40),
        },
    )
}

#[test]
fn commit_of_0x2345_bytes_commits_three_pages_at_a_granule() {
    let mut e = Env::new();
    let (st, base, size) = alloc(&mut e, 0, 0x2345, 0, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    assert_eq!((st, base % 0x1_0000, size), (NtStatus::SUCCESS, 0, 0x3000));
    assert_eq!(base, 0x1_0000, "bottom-up from the lowest user address");
    e.mem.write_u32(base + 0x2FFC, 7).unwrap();
    assert!(e.mem.read_u8(base + 0x3000).is_err());
}

#[test]
fn reservation_at_an_unaligned_base_rounds_down_to_the_granule() {
    let mut e = Env::new();
    let (st, base, size) = alloc(&mut e, 0x1000_1000, 0x1000, 0, MEM_RESERVE, PAGE_READWRITE);
    assert_eq!((st, base, size), (NtStatus::SUCCESS, 0x1000_0000, 0x2000));
}

#[test]
fn overlapping_reservation_conflicts() {
    let mut e = Env::new();
    alloc(&mut e, 0x2000_0000, 0x2_0000, 0, MEM_RESERVE, PAGE_READWRITE);
    let (st, ..) = alloc(&mut e, 0x2001_0000, 0x1000, 0, MEM_RESERVE, PAGE_READWRITE);
    assert_eq!(st, NtStatus::CONFLICTING_ADDRESSES);
    let (st, ..) = alloc(&mut e, 0x1FFF_0000, 0x2_0000, 0, MEM_RESERVE, PAGE_READWRITE);
    assert_eq!(st, NtStatus::CONFLICTING_ADDRESSES);
}

#[test]
fn size_zero_and_bad_zero_bits_are_invalid_parameters() {
    let mut e = Env::new();
    assert_eq!(alloc(&mut e, 0, 0, 0, MEM_RESERVE, PAGE_READWRITE).0, NtStatus::INVALID_PARAMETER_4);
    assert_eq!(alloc(&mut e, 0, 0x1000, 22, MEM_RESERVE, PAGE_READWRITE).0, NtStatus::INVALID_PARAMETER_3);
    assert_eq!(alloc(&mut e, 0, 0x1000, 31, MEM_RESERVE, PAGE_READWRITE).0, NtStatus::INVALID_PARAMETER_3);
    // A mask with too many leading zeros (more than 53).
    assert_eq!(alloc(&mut e, 0, 0x1000, 0x3FF, MEM_RESERVE, PAGE_READWRITE).0, NtStatus::INVALID_PARAMETER_3);
    assert_eq!(alloc(&mut e, 0, 0x1000, 0, 0, PAGE_READWRITE).0, NtStatus::INVALID_PARAMETER_5);
    assert_eq!(alloc(&mut e, 0, 0x1000, 0, MEM_COMMIT, 0x3).0, NtStatus::INVALID_PAGE_PROTECTION);
    assert_eq!(alloc(&mut e, 0, 0x1000, 0, MEM_COMMIT, PAGE_WRITECOPY).0, NtStatus::INVALID_PAGE_PROTECTION);
    assert_eq!(
        alloc(&mut e, 0x7FFF_FFFF_0000, 0x1000, 0, MEM_RESERVE, PAGE_READWRITE).0,
        NtStatus::INVALID_PARAMETER_2
    );
}

#[test]
fn zero_bits_as_count_and_as_mask_keep_allocations_low() {
    let mut e = Env::new();
    let (st, base, _) =
        alloc(&mut e, 0, 0x1000, 0x7FFF_FFFF, MEM_RESERVE | MEM_COMMIT | MEM_TOP_DOWN, PAGE_READWRITE);
    assert_eq!(st, NtStatus::SUCCESS);
    assert!((0x7000_0000..0x8000_0000).contains(&base), "{base:#x}");
    let (st, base, _) = alloc(&mut e, 0, 0x1000, 2, MEM_RESERVE | MEM_TOP_DOWN, PAGE_READWRITE);
    assert_eq!(st, NtStatus::SUCCESS);
    assert!(base + 0x1000 <= 0x4000_0000, "{base:#x}");
    // Without a limit, top-down goes near the highest user address.
    let (st, base, _) = alloc(&mut e, 0, 0x1000, 0, MEM_RESERVE | MEM_TOP_DOWN, PAGE_READWRITE);
    assert_eq!((st, base), (NtStatus::SUCCESS, 0x7FFF_FFFE_0000));
}

#[test]
fn reserved_memory_faults_until_committed() {
    let mut e = Env::new();
    let (_, base, _) = alloc(&mut e, 0x3000_0000, 0x1_0000, 0, MEM_RESERVE, PAGE_READWRITE);
    let f = e.mem.read_u8(base + 0x1000).unwrap_err();
    assert_eq!(f.kind, FaultKind::Unmapped);
    let (st, b, s) = alloc(&mut e, base + 0x1234, 0x10, 0, MEM_COMMIT, PAGE_READWRITE);
    assert_eq!((st, b, s), (NtStatus::SUCCESS, base + 0x1000, 0x1000));
    e.mem.write_u8(base + 0x1000, 1).unwrap();
    assert!(e.mem.read_u8(base).is_err());
}

#[test]
fn commit_outside_a_reservation_conflicts() {
    let mut e = Env::new();
    assert_eq!(
        alloc(&mut e, 0x3000_0000, 0x1000, 0, MEM_COMMIT, PAGE_READWRITE).0,
        NtStatus::CONFLICTING_ADDRESSES
    );
    alloc(&mut e, 0x3000_0000, 0x1_0000, 0, MEM_RESERVE, PAGE_READWRITE);
    assert_eq!(
        alloc(&mut e, 0x3000_F000, 0x2000, 0, MEM_COMMIT, PAGE_READWRITE).0,
        NtStatus::CONFLICTING_ADDRESSES
    );
}

#[test]
fn recommitting_keeps_contents_and_takes_the_new_protection() {
    let mut e = Env::new();
    let (_, base, _) = alloc(&mut e, 0, 0x1000, 0, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    e.mem.write_u32(base, 0x1234).unwrap();
    assert_eq!(alloc(&mut e, base, 0x1000, 0, MEM_COMMIT, PAGE_READONLY).0, NtStatus::SUCCESS);
    assert_eq!(e.mem.read_u32(base).unwrap(), 0x1234);
    assert_eq!(query(&mut e, base).1.protect, PAGE_READONLY);
}

#[test]
fn query_committed_region_fills_memory_basic_information() {
    let mut e = Env::new();
    let (_, base, _) = alloc(&mut e, 0x4000_0000, 0x4_0000, 0, MEM_RESERVE, PAGE_READWRITE);
    alloc(&mut e, 0x4000_1000, 0x2000, 0, MEM_COMMIT, PAGE_EXECUTE_READ);
    let (st, mbi) = query(&mut e, 0x4000_1abc);
    assert_eq!(st, NtStatus::SUCCESS);
    assert_eq!(
        mbi,
        MemoryInfo {
            base: 0x4000_1000,
            allocation_base: base,
            allocation_protect: PAGE_READWRITE,
            region_size: 0x2000,
            state: MEM_COMMIT,
            protect: PAGE_EXECUTE_READ,
            ty: MEM_PRIVATE,
        }
    );
    let (_, mbi) = query(&mut e, 0x4000_3000);
    assert_eq!(
        (mbi.base, mbi.region_size, mbi.state, mbi.protect, mbi.ty),
        (0x4000_3000, 0x3_D000, MEM_RESERVE, 0, MEM_PRIVATE)
    );
}

#[test]
fn query_free_memory_runs_to_the_next_allocation() {
    let mut e = Env::new();
    alloc(&mut e, 0x5000_0000, 0x1000, 0, MEM_RESERVE, PAGE_READWRITE);
    let (st, mbi) = query(&mut e, 0x4FFF_0123);
    assert_eq!(st, NtStatus::SUCCESS);
    assert_eq!(
        mbi,
        MemoryInfo {
            base: 0x4FFF_0000,
            allocation_base: 0,
            allocation_protect: 0,
            region_size: 0x1_0000,
            state: MEM_FREE,
            protect: PAGE_NOACCESS,
            ty: 0,
        }
    );
}

#[test]
fn query_with_a_short_buffer_is_an_info_length_mismatch() {
    let mut e = Env::new();
    let buf = e.alloc(48);
    assert_eq!(
        e.k.nt_query_virtual_memory(&mut e.mem, P, 0x1_0000, 0, buf, 28, 0),
        NtStatus::INFO_LENGTH_MISMATCH
    );
    assert_eq!(
        e.k.nt_query_virtual_memory(&mut e.mem, P, 0x1_0000, 0, buf, 47, 0),
        NtStatus::INFO_LENGTH_MISMATCH
    );
    assert_eq!(
        e.k.nt_query_virtual_memory(&mut e.mem, P, 0x1_0000, 7, buf, 48, 0),
        NtStatus::INVALID_INFO_CLASS
    );
}

#[test]
fn query_past_the_highest_user_address_is_invalid_parameter() {
    let mut e = Env::with(|c| c.highest_user_address = 0x7FFE_FFFF);
    let buf = e.alloc(48);
    assert_eq!(
        e.k.nt_query_virtual_memory(&mut e.mem, P, 0x7FFF_0000, 0, buf, 48, 0),
        NtStatus::INVALID_PARAMETER
    );
    assert_eq!(
        e.k.nt_query_virtual_memory(&mut e.mem, P, 0xFFFF_FFFF, 0, buf, 48, 0),
        NtStatus::INVALID_PARAMETER
    );
}

#[test]
fn free_region_size_is_clipped_at_the_limit() {
    let mut e = Env::with(|c| c.highest_user_address = 0x7FFE_FFFF);
    // KUSER_SHARED_DATA is the last allocation; the free run after it ends at the limit.
    let (st, mbi) = query(&mut e, 0x7FFE_1000);
    assert_eq!(
        (st, mbi.state, mbi.base, mbi.region_size),
        (NtStatus::SUCCESS, MEM_FREE, 0x7FFE_1000, 0xF000)
    );
}

#[test]
fn kuser_shared_data_is_a_read_only_private_page() {
    let mut e = Env::new();
    let (_, mbi) = query(&mut e, 0x7FFE_0000);
    assert_eq!(
        (mbi.base, mbi.region_size, mbi.state, mbi.protect, mbi.ty),
        (0x7FFE_0000, 0x1000, MEM_COMMIT, PAGE_READONLY, MEM_PRIVATE)
    );
    let f = e.mem.write_u8(0x7FFE_0000, 0).unwrap_err();
    assert_eq!((f.access, f.kind), (Access::Write, FaultKind::Protection));
    assert_eq!(free(&mut e, 0x7FFE_0000, 0, MEM_RELEASE).0, NtStatus::INVALID_PARAMETER_2);
    assert_eq!(protect(&mut e, 0x7FFE_0000, 0x1000, PAGE_READWRITE).0, NtStatus::INVALID_PARAMETER_2);
}

#[test]
fn protect_rounds_the_range_and_returns_the_old_protection() {
    let mut e = Env::new();
    let (_, base, _) = alloc(&mut e, 0, 0x4000, 0, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    let (st, b, s, old) = protect(&mut e, base + 0x1800, 0x1000, PAGE_READONLY);
    assert_eq!((st, b, s, old), (NtStatus::SUCCESS, base + 0x1000, 0x2000, PAGE_READWRITE));
    assert!(e.mem.write_u8(base + 0x1000, 0).is_err());
    assert!(e.mem.write_u8(base, 0).is_ok());
    let (_, mbi) = query(&mut e, base + 0x1000);
    assert_eq!((mbi.region_size, mbi.protect), (0x2000, PAGE_READONLY));
    let (st, .., old) = protect(&mut e, base + 0x1000, 1, PAGE_EXECUTE_READWRITE);
    assert_eq!((st, old), (NtStatus::SUCCESS, PAGE_READONLY));
}

#[test]
fn protect_of_reserved_or_free_memory_fails() {
    let mut e = Env::new();
    let (_, base, _) = alloc(&mut e, 0x3000_0000, 0x2000, 0, MEM_RESERVE, PAGE_READWRITE);
    assert_eq!(protect(&mut e, base, 0x1000, PAGE_READONLY).0, NtStatus::NOT_COMMITTED);
    assert_eq!(protect(&mut e, 0x3100_0000, 0x1000, PAGE_READONLY).0, NtStatus::CONFLICTING_ADDRESSES);
    assert_eq!(protect(&mut e, base, 0x1000, 0x5).0, NtStatus::INVALID_PAGE_PROTECTION);
}

#[test]
fn guard_page_is_reported_until_touched() {
    let mut e = Env::new();
    let (_, base, _) = alloc(&mut e, 0, 0x2000, 0, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD);
    assert_eq!(query(&mut e, base).1.protect, PAGE_READWRITE | PAGE_GUARD);
    let f = e.mem.read_u8(base + 0x10).unwrap_err();
    assert_eq!(f.kind, FaultKind::Guard);
    let (_, mbi) = query(&mut e, base);
    assert_eq!((mbi.protect, mbi.region_size), (PAGE_READWRITE, 0x1000));
    assert_eq!(query(&mut e, base + 0x1000).1.protect, PAGE_READWRITE | PAGE_GUARD);
    assert_eq!(e.mem.read_u8(base + 0x10).unwrap(), 0);
    // NtProtectVirtualMemory reports the current (disarmed) state as the old protection.
    assert_eq!(protect(&mut e, base, 0x1000, PAGE_READONLY).3, PAGE_READWRITE);
}

#[test]
fn kernel_write_into_a_guard_page_is_a_guard_page_violation() {
    let mut e = Env::new();
    let (_, base, _) = alloc(&mut e, 0, 0x1000, 0, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE | PAGE_GUARD);
    assert_eq!(e.k.nt_query_system_time(&mut e.mem, base), NtStatus::GUARD_PAGE_VIOLATION);
    assert_eq!(e.k.nt_query_system_time(&mut e.mem, base), NtStatus::SUCCESS);
}

#[test]
fn noaccess_pages_are_committed_but_fault() {
    let mut e = Env::new();
    let (_, base, _) = alloc(&mut e, 0, 0x1000, 0, MEM_RESERVE | MEM_COMMIT, PAGE_NOACCESS);
    assert_eq!(e.mem.read_u8(base).unwrap_err().kind, FaultKind::Protection);
    assert_eq!(query(&mut e, base).1.state, MEM_COMMIT);
    assert_eq!(e.k.nt_query_system_time(&mut e.mem, base), NtStatus::ACCESS_VIOLATION);
}

#[test]
fn release_needs_the_allocation_base() {
    let mut e = Env::new();
    let (_, base, _) = alloc(&mut e, 0, 0x3000, 0, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    assert_eq!(free(&mut e, base + 0x1000, 0, MEM_RELEASE).0, NtStatus::FREE_VM_NOT_AT_BASE);
    assert_eq!(free(&mut e, base, 0x1000, MEM_RELEASE).0, NtStatus::FREE_VM_NOT_AT_BASE);
    assert_eq!(free(&mut e, base, 0, MEM_RELEASE), (NtStatus::SUCCESS, base, 0x3000));
    assert_eq!(query(&mut e, base).1.state, MEM_FREE);
    assert!(e.mem.read_u8(base).is_err());
    assert_eq!(free(&mut e, base, 0, MEM_RELEASE).0, NtStatus::MEMORY_NOT_ALLOCATED);
    assert_eq!(free(&mut e, base, 0, 0x1234).0, NtStatus::INVALID_PARAMETER_4);
}

#[test]
fn decommit_part_of_an_allocation() {
    let mut e = Env::new();
    let (_, base, _) = alloc(&mut e, 0, 0x3000, 0, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    let charge = e.k.commit_charge();
    assert_eq!(free(&mut e, base + 0x1100, 0x100, MEM_DECOMMIT), (NtStatus::SUCCESS, base + 0x1000, 0x1000));
    assert_eq!(e.k.commit_charge(), charge - 0x1000);
    let (_, mbi) = query(&mut e, base + 0x1000);
    assert_eq!((mbi.state, mbi.region_size, mbi.protect), (MEM_RESERVE, 0x1000, 0));
    assert!(e.mem.read_u8(base + 0x1000).is_err());
    assert!(e.mem.read_u8(base + 0x2000).is_ok());
}

#[test]
fn commit_limit_is_enforced() {
    let mut e = Env::with(|c| c.commit_limit = 0x20_0000);
    // The scratch region already uses 1 MiB.
    let (st, ..) = alloc(&mut e, 0, 0x10_0000, 0, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    assert_eq!(st, NtStatus::COMMITMENT_LIMIT);
    let (st, base, _) = alloc(&mut e, 0, 0x100_0000, 0, MEM_RESERVE, PAGE_READWRITE);
    assert_eq!(st, NtStatus::SUCCESS, "reservations are not charged");
    assert_eq!(alloc(&mut e, base, 0x10_0000, 0, MEM_COMMIT, PAGE_READWRITE).0, NtStatus::COMMITMENT_LIMIT);
    assert_eq!(alloc(&mut e, base, 0x8_0000, 0, MEM_COMMIT, PAGE_READWRITE).0, NtStatus::SUCCESS);
}

#[test]
fn address_space_exhaustion_is_no_memory() {
    let mut e = Env::new();
    let (st, ..) = alloc(&mut e, 0, 0x7FFF_FFF0_0000, 0, MEM_RESERVE, PAGE_READWRITE);
    assert_eq!(st, NtStatus::NO_MEMORY);
}

#[test]
fn bad_pointers_are_access_violations() {
    let mut e = Env::new();
    let s = e.u64_cell(0x1000);
    assert_eq!(
        e.k.nt_allocate_virtual_memory(
            &mut e.mem,
            P,
            0x6000_0000,
            0,
            s,
            (MEM_COMMIT | MEM_RESERVE) as u64,
            4
        ),
        NtStatus::ACCESS_VIOLATION
    );
    let b = e.u64_cell(0);
    assert_eq!(
        e.k.nt_allocate_virtual_memory(
            &mut e.mem,
            P,
            b,
            0,
            0x6000_0000,
            (MEM_COMMIT | MEM_RESERVE) as u64,
            4
        ),
        NtStatus::ACCESS_VIOLATION
    );
    assert_eq!(e.k.allocations().len(), 2, "only KUSER_SHARED_DATA and the scratch region");
}

#[test]
fn other_process_handles_are_invalid() {
    let mut e = Env::new();
    let b = e.u64_cell(0);
    let s = e.u64_cell(0x1000);
    assert_eq!(
        e.k.nt_allocate_virtual_memory(&mut e.mem, 0x1234, b, 0, s, (MEM_COMMIT | MEM_RESERVE) as u64, 4),
        NtStatus::INVALID_HANDLE
    );
    let (_, ev) = e.create_event(None, 0, true, false);
    assert_eq!(
        e.k.nt_allocate_virtual_memory(&mut e.mem, ev, b, 0, s, (MEM_COMMIT | MEM_RESERVE) as u64, 4),
        NtStatus::OBJECT_TYPE_MISMATCH
    );
}
