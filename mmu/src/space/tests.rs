use super::*;
use pretty_assertions::assert_eq;

fn fault(addr: u64, access: Access, kind: FaultKind) -> Fault {
    Fault { addr, access, kind }
}

#[test]
fn map_rejects_bad_ranges_without_changes() {
    let mut m = Memory::new();
    assert_eq!(m.map(0x1001, 0x1000, Prot::RW), Err(MemError::Unaligned { addr: 0x1001, size: 0x1000 }));
    assert_eq!(m.map(0x1000, 0x10, Prot::RW), Err(MemError::Unaligned { addr: 0x1000, size: 0x10 }));
    assert_eq!(m.map(0x1000, 0, Prot::RW), Err(MemError::ZeroSize { addr: 0x1000 }));
    assert_eq!(
        m.map(u64::MAX - 0xfff, 0x2000, Prot::RW),
        Err(MemError::OutOfRange { addr: u64::MAX - 0xfff, size: 0x2000 })
    );
    m.map(0x3000, 0x1000, Prot::R).unwrap();
    assert_eq!(m.map(0x1000, 0x3000, Prot::RW), Err(MemError::Overlap { addr: 0x3000 }));
    // The failed map left nothing behind.
    assert!(!m.is_mapped(0x1000));
    assert_eq!(m.mapped_pages(), 1);
}

#[test]
fn unmap_and_protect_need_mapped_pages() {
    let mut m = Memory::new();
    m.map(0x1000, 0x2000, Prot::RW).unwrap();
    assert_eq!(m.unmap(0x1000, 0x3000), Err(MemError::NotMapped { addr: 0x3000 }));
    assert_eq!(m.protect(0x0, 0x2000, Prot::R), Err(MemError::NotMapped { addr: 0 }));
    assert_eq!(m.prot(0x1000), Some(Prot::RW));
    m.protect(0x2000, 0x1000, Prot::R).unwrap();
    assert_eq!(m.query(0x1000), Some(Region { base: 0x1000, size: 0x1000, prot: Prot::RW }));
    m.unmap(0x1000, 0x1000).unwrap();
    assert_eq!(m.regions(), vec![Region { base: 0x2000, size: 0x1000, prot: Prot::R }]);
}

#[test]
fn protections_are_normalised_to_imply_read() {
    let mut m = Memory::new();
    m.map(0x1000, 0x1000, Prot::WRITE).unwrap();
    m.map(0x2000, 0x1000, Prot::EXEC).unwrap();
    assert_eq!(m.prot(0x1000), Some(Prot::RW));
    assert_eq!(m.prot(0x2000), Some(Prot::RX));
    assert_eq!(Prot::parse("rx"), Some(Prot::RX));
    assert_eq!(Prot::parse(""), Some(Prot::NONE));
    assert_eq!(Prot::parse("rr"), None);
    assert_eq!(Prot::parse("q"), None);
    assert_eq!(Prot::RWX.rwx(), "rwx");
}

#[test]
fn typed_access_all_widths_unaligned_and_crossing() {
    let mut m = Memory::new();
    m.map(0x10000, 0x2000, Prot::RW).unwrap();
    for (i, base) in [0x10000u64, 0x10ffd, 0x10ff9, 0x10ff1, 0x10ff7].into_iter().enumerate() {
        m.write_u8(base, 0x12).unwrap();
        assert_eq!(m.read_u8(base).unwrap(), 0x12);
        m.write_u16(base, 0x3456).unwrap();
        assert_eq!(m.read_u16(base).unwrap(), 0x3456);
        m.write_u32(base, 0x789a_bcde + i as u32).unwrap();
        assert_eq!(m.read_u32(base).unwrap(), 0x789a_bcde + i as u32);
        m.write_u64(base, 0x0123_4567_89ab_cdef).unwrap();
        assert_eq!(m.read_u64(base).unwrap(), 0x0123_4567_89ab_cdef);
        let t = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        m.write_u80(base, t).unwrap();
        assert_eq!(m.read_u80(base).unwrap(), t);
        m.write_u128(base, u128::MAX - 5).unwrap();
        assert_eq!(m.read_u128(base).unwrap(), u128::MAX - 5);
    }
    // Little-endian byte order.
    m.write_u32(0x10100, 0x11223344).unwrap();
    let mut b = [0; 4];
    m.read_bytes(0x10100, &mut b).unwrap();
    assert_eq!(b, [0x44, 0x33, 0x22, 0x11]);
}

#[test]
fn crossing_write_into_readonly_page_changes_nothing() {
    let mut m = Memory::new();
    m.map(0x1000, 0x1000, Prot::RW).unwrap();
    m.map(0x2000, 0x1000, Prot::R).unwrap();
    m.write_u32(0x1ffc, 0xaaaa_aaaa).unwrap();
    assert_eq!(m.write_u64(0x1ffc, u64::MAX), Err(fault(0x2000, Access::Write, FaultKind::Protection)));
    assert_eq!(m.read_u32(0x1ffc).unwrap(), 0xaaaa_aaaa);
    // Fault on the first page reports the access address itself.
    assert_eq!(m.write_u16(0x2ffe, 1), Err(fault(0x2ffe, Access::Write, FaultKind::Protection)));
    // Crossing into unmapped memory.
    assert_eq!(m.read_u32(0x2ffe), Err(fault(0x3000, Access::Read, FaultKind::Unmapped)));
}

#[test]
fn no_access_pages_fault_on_read() {
    let mut m = Memory::new();
    m.map(0x1000, 0x1000, Prot::NONE).unwrap();
    assert_eq!(m.read_u8(0x1234), Err(fault(0x1234, Access::Read, FaultKind::Protection)));
    assert_eq!(m.write_u8(0x1234, 0), Err(fault(0x1234, Access::Write, FaultKind::Protection)));
}

#[test]
fn guard_faults_once_then_clears() {
    let mut m = Memory::new();
    m.map(0x1000, 0x2000, Prot::RW | Prot::GUARD).unwrap();
    assert_eq!(m.read_u8(0x1010), Err(fault(0x1010, Access::Read, FaultKind::Guard)));
    assert_eq!(m.read_u8(0x1010), Ok(0));
    // Only the touched page lost its guard.
    assert_eq!(m.prot(0x2000), Some(Prot::RW | Prot::GUARD));
    assert_eq!(m.write_u32(0x1ffe, 1), Err(fault(0x2000, Access::Write, FaultKind::Guard)));
    assert_eq!(m.read_u16(0x1ffe), Ok(0), "faulting write changed nothing");
    m.write_u32(0x1ffe, 1).unwrap();
}

#[test]
fn fetch_needs_execute_and_has_no_side_effects() {
    let mut m = Memory::new();
    m.map(0x1000, 0x1000, Prot::RX).unwrap();
    m.map(0x2000, 0x1000, Prot::RW | Prot::GUARD).unwrap();
    m.poke(0x1ffe, &[0xaa, 0xbb]).unwrap();
    let mut buf = [0; 15];
    assert_eq!(m.fetch(0x1ffe, &mut buf), 2);
    assert_eq!(&buf[..2], &[0xaa, 0xbb]);
    assert_eq!(m.prot(0x2000), Some(Prot::RW | Prot::GUARD), "fetch probe did not consume the guard");
    assert_eq!(m.check(0x2000, 1, Access::Execute), Err(fault(0x2000, Access::Execute, FaultKind::Guard)));
    assert_eq!(
        m.check(0x2000, 1, Access::Execute),
        Err(fault(0x2000, Access::Execute, FaultKind::Protection))
    );
    assert_eq!(m.fetch(0x5000, &mut buf), 0);
}

#[test]
fn peek_poke_ignore_protection_but_not_mapping() {
    let mut m = Memory::new();
    m.map(0x1000, 0x1000, Prot::NONE).unwrap();
    m.poke(0x1000, &[1, 2, 3]).unwrap();
    let mut b = [0; 3];
    m.peek(0x1000, &mut b).unwrap();
    assert_eq!(b, [1, 2, 3]);
    assert_eq!(m.poke(0x1ffe, &[0; 4]), Err(MemError::NotMapped { addr: 0x2000 }));
    assert_eq!(m.peek(0x5000, &mut b), Err(MemError::NotMapped { addr: 0x5000 }));
}

#[test]
fn high_memory_above_4gib() {
    let mut m = Memory::new();
    let hi = 0x1_0000_0000u64;
    m.map(hi - 0x1000, 0x2000, Prot::RW).unwrap();
    m.write_u64(hi - 4, 0x1122_3344_5566_7788).unwrap();
    assert_eq!(m.read_u64(hi - 4).unwrap(), 0x1122_3344_5566_7788);
    m.map(0x7fff_0000_0000, 0x1000, Prot::R).unwrap();
    assert_eq!(
        m.regions(),
        vec![
            Region { base: hi - 0x1000, size: 0x2000, prot: Prot::RW },
            Region { base: 0x7fff_0000_0000, size: 0x1000, prot: Prot::R },
        ]
    );
    assert_eq!(m.read_u8(u64::MAX), Err(fault(u64::MAX, Access::Read, FaultKind::Unmapped)));
    assert_eq!(m.read_u16(u64::MAX).unwrap_err().access, Access::Read);
}

#[test]
fn generation_changes_only_after_code_page_write() {
    let mut m = Memory::new();
    m.map(0x1000, 0x2000, Prot::RWX).unwrap();
    let g = m.mark_code(0x1000).unwrap();
    assert_eq!(m.mark_code(0x1000), Some(g));
    m.write_u8(0x2000, 1).unwrap(); // other page
    assert_eq!(m.generation(0x1000), Some(g));
    m.write_u8(0x1fff, 1).unwrap();
    let g2 = m.generation(0x1000).unwrap();
    assert_ne!(g2, g);
    let g3 = m.mark_code(0x1000).unwrap();
    assert_ne!(g3, g2);
    m.poke(0x1000, &[0x90]).unwrap();
    assert_ne!(m.generation(0x1000), Some(g3));
}

#[test]
fn snapshot_restore_is_copy_on_write() {
    let mut m = Memory::new();
    m.map(0x1000, 0x1000, Prot::RW).unwrap();
    m.write_u32(0x1000, 7).unwrap();
    let snap = m.snapshot();
    m.write_u32(0x1000, 9).unwrap();
    m.map(0x5000, 0x1000, Prot::RW).unwrap();
    m.protect(0x1000, 0x1000, Prot::R).unwrap();
    assert_eq!(m.read_u32(0x1000).unwrap(), 9);
    let e = m.epoch();
    m.restore(&snap);
    assert_ne!(m.epoch(), e);
    assert_eq!(m.read_u32(0x1000).unwrap(), 7);
    assert_eq!(m.prot(0x1000), Some(Prot::RW));
    assert!(!m.is_mapped(0x5000));
    // The snapshot itself is unaffected by later writes.
    m.write_u32(0x1000, 11).unwrap();
    m.restore(&snap);
    assert_eq!(m.read_u32(0x1000).unwrap(), 7);
}

#[test]
fn restored_page_never_reuses_a_cached_generation_with_other_content() {
    let mut m = Memory::new();
    m.map(0x1000, 0x1000, Prot::RWX).unwrap();
    let snap = m.snapshot();
    let cached = m.mark_code(0x1000).unwrap();
    m.restore(&snap);
    assert_ne!(m.generation(0x1000), Some(cached));
}

#[test]
fn zero_pages_are_shared_until_written() {
    let mut m = Memory::new();
    m.map(0x100000, 100 << 20, Prot::RW).unwrap();
    assert_eq!(m.private_pages(), 0);
    m.write_u8(0x100000, 1).unwrap();
    m.write_u8(0x200000, 1).unwrap();
    assert_eq!(m.private_pages(), 2);
}

// The translation cache must never let a read or write see a stale page.

#[test]
fn cached_write_pointer_does_not_leak_into_a_snapshot() {
    let mut m = Memory::new();
    m.map(0x1000, 0x1000, Prot::RW).unwrap();
    m.write_u32(0x1000, 1).unwrap(); // copies the zero page
    m.write_u32(0x1004, 2).unwrap(); // cached write pointer now
    let snap = m.snapshot();
    m.write_u32(0x1000, 3).unwrap();
    m.restore(&snap);
    assert_eq!(m.read_u32(0x1000).unwrap(), 1);
}

#[test]
fn unmap_and_remap_forgets_the_old_page() {
    let mut m = Memory::new();
    m.map(0x1000, 0x1000, Prot::RW).unwrap();
    m.write_u32(0x1000, 0xdead).unwrap();
    assert_eq!(m.read_u32(0x1000).unwrap(), 0xdead);
    m.unmap(0x1000, 0x1000).unwrap();
    assert_eq!(m.read_u32(0x1000).unwrap_err().kind, FaultKind::Unmapped);
    m.map(0x1000, 0x1000, Prot::RW).unwrap();
    assert_eq!(m.read_u32(0x1000).unwrap(), 0);
}

#[test]
fn protection_change_is_seen_by_cached_pages() {
    let mut m = Memory::new();
    m.map(0x1000, 0x1000, Prot::RW).unwrap();
    m.write_u32(0x1000, 5).unwrap();
    m.write_u32(0x1000, 6).unwrap();
    m.protect(0x1000, 0x1000, Prot::R).unwrap();
    assert_eq!(m.write_u32(0x1000, 7).unwrap_err().kind, FaultKind::Protection);
    m.protect(0x1000, 0x1000, Prot::NONE).unwrap();
    assert_eq!(m.read_u32(0x1000).unwrap_err().kind, FaultKind::Protection);
}

#[test]
fn marking_code_routes_writes_through_the_generation_bump() {
    let mut m = Memory::new();
    m.map(0x1000, 0x1000, Prot::RWX).unwrap();
    m.write_u8(0x1000, 1).unwrap();
    m.write_u8(0x1001, 1).unwrap();
    let g = m.mark_code(0x1000).unwrap();
    let writes = m.code_writes();
    m.write_u8(0x1002, 1).unwrap();
    assert_ne!(m.generation(0x1000), Some(g));
    assert_eq!(m.code_writes(), writes + 1);
}

#[test]
fn zero_page_reads_are_cached_but_writes_copy() {
    let mut m = Memory::new();
    m.map(0x1000, 0x2000, Prot::RW).unwrap();
    assert_eq!(m.read_u32(0x1000).unwrap(), 0);
    assert_eq!(m.read_u32(0x2000).unwrap(), 0);
    m.write_u32(0x1000, 9).unwrap();
    assert_eq!(m.read_u32(0x1000).unwrap(), 9);
    assert_eq!(m.read_u32(0x2000).unwrap(), 0, "the other zero page is untouched");
}

/// Regions placed at round addresses must not share translation-cache slots: the
/// first pages of 64 KiB-aligned regions below 16 MiB (Windows' allocation
/// granularity) and of 1 MiB-aligned regions below 512 MiB all get distinct slots,
/// and so do the pages of one 2 MiB stretch. With the low bits alone as the index, an
/// image at 0x400000, a heap at 0x500000 and a stack at 0x600000 evicted each other.
#[test]
fn round_region_bases_get_distinct_translation_slots() {
    fn distinct(pns: impl Iterator<Item = u64>) -> bool {
        let mut seen = std::collections::HashSet::new();
        pns.map(tlb_slot).all(|slot| seen.insert(slot))
    }
    assert!(distinct((0..256u64).map(|k| k * 16)));
    assert!(distinct((0..512u64).map(|k| k * 256)));
    assert!(distinct(0x400..0x600u64));
    // Translations of colliding-before pages stay usable side by side.
    let mut m = Memory::new();
    for base in [0x40_0000u64, 0x50_0000, 0x60_0000] {
        m.map(base, 0x1000, Prot::RW).unwrap();
        m.write_u32(base, base as u32).unwrap();
    }
    for base in [0x40_0000u64, 0x50_0000, 0x60_0000] {
        assert_eq!(m.read_array_cached::<4>(base), Some((base as u32).to_le_bytes()), "{base:#x}");
    }
}
