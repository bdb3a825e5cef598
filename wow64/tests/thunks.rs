//! The thunks one by one against a recording fake of the 64-bit side: the exact 64-bit
//! argument values and structure bytes the service sees, and how results come back.

use pretty_assertions::assert_eq;
use x86wow_mmu::{Memory, Prot};
use x86wow_wow64::thunks::{self, Arg, Call, Services, Wow64Info, SCRATCH_BASE};

/// A 64-bit side that records each call (with the bytes of every argument that points
/// into scratch memory) and answers with a scripted status and output.
#[derive(Default)]
struct Fake {
    calls: Vec<(String, Vec<u64>, Vec<Vec<u8>>)>,
    status: u32,
    /// Bytes to write at argument `i` (a pointer) before returning.
    outputs: Vec<(usize, Vec<u8>)>,
    committed: Vec<(u64, u64)>,
}

impl Services for Fake {
    fn call(&mut self, mem: &mut Memory, name: &str, args: &[u64]) -> u32 {
        let snap = args
            .iter()
            .map(|&a| {
                let mut b = vec![0u8; 48];
                if a >= SCRATCH_BASE {
                    let _ = mem.peek(a, &mut b);
                } else {
                    b.clear();
                }
                b
            })
            .collect();
        self.calls.push((name.to_string(), args.to_vec(), snap));
        for (i, data) in &self.outputs {
            mem.poke(args[*i], data).unwrap();
        }
        self.status
    }
    fn commit_scratch(&mut self, mem: &mut Memory, base: u64, size: u64) -> bool {
        self.committed.push((base, size));
        mem.map(base, size, Prot::RW).is_ok()
    }
    fn release_scratch(&mut self, mem: &mut Memory, base: u64) {
        let size = self.committed.iter().find(|c| c.0 == base).map(|c| c.1).unwrap();
        mem.unmap(base, size).unwrap();
    }
}

const INFO: Wow64Info = Wow64Info { limit: 0x7FFE_FFFF, peb32: 0x7FFD_1000, teb32: 0x7FFC_2000 };
const GUEST: u64 = 0x10_0000;

fn guest() -> Memory {
    let mut m = Memory::new();
    m.map(GUEST, 0x1_0000, Prot::RW).unwrap();
    m
}

/// Runs the thunk of `name` with 32-bit `args`.
fn call(mem: &mut Memory, fake: &mut Fake, info: Wow64Info, name: &str, args: &[u32]) -> u32 {
    let t = thunks::find(name).unwrap();
    let mut c = Call::new(mem, fake, info, t.name, args.to_vec(), false);
    thunks::dispatch(&mut c, t)
}

fn u32s(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

#[test]
fn handles_sign_extend_and_ulongs_zero_extend() {
    let (mut mem, mut fake) = (guest(), Fake::default());
    call(&mut mem, &mut fake, INFO, "NtClose", &[0xFFFF_FFFF]);
    call(&mut mem, &mut fake, INFO, "NtClose", &[0xDEAD_BEEF]);
    call(&mut mem, &mut fake, INFO, "NtSetTimerResolution", &[0x8000_0000, 1, 0x10_0000]);
    assert_eq!(fake.calls[0].1, vec![0xFFFF_FFFF_FFFF_FFFF]);
    assert_eq!(fake.calls[1].1, vec![0xFFFF_FFFF_DEAD_BEEF]);
    assert_eq!(fake.calls[2].1, vec![0x8000_0000, 1, 0x10_0000]);
}

#[test]
fn object_attributes_and_unicode_string_are_rebuilt() {
    let (mut mem, mut fake) = (guest(), Fake::default());
    // UNICODE_STRING32 at GUEST+0x100 -> "ab" at GUEST+0x200.
    mem.write_bytes(GUEST + 0x200, &[b'a', 0, b'b', 0]).unwrap();
    mem.write_bytes(GUEST + 0x100, &[4, 0, 6, 0, 0x00, 0x02, 0x10, 0x00]).unwrap();
    // OBJECT_ATTRIBUTES32 at GUEST+0x300: Length 24, Root -4, Name, Attributes 0x40, SD, QoS.
    let oa: Vec<u8> = [24u32, 0xFFFF_FFFC, GUEST as u32 + 0x100, 0x40, 0x8000_1000, 0x1234]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    mem.write_bytes(GUEST + 0x300, &oa).unwrap();
    mem.write_u32(GUEST + 0x400, 0x1111).unwrap();
    fake.outputs = vec![(0, 0x1_0000_0044u64.to_le_bytes().to_vec())];
    let st = call(
        &mut mem,
        &mut fake,
        INFO,
        "NtCreateEvent",
        &[GUEST as u32 + 0x400, 0x1F0003, GUEST as u32 + 0x300, 0, 1],
    );
    assert_eq!(st, 0);
    let (name, args, snaps) = &fake.calls[0];
    assert_eq!(name, "NtCreateEvent");
    assert!(args[0] >= SCRATCH_BASE && args[2] >= SCRATCH_BASE, "{args:x?}");
    assert_eq!(&args[1..2], &[0x1F0003]);
    assert_eq!(&args[3..], &[0, 1]);
    // The handle temporary started as the guest's value, widened.
    assert_eq!(&snaps[0][..8], &0x1111u64.to_le_bytes());
    // OBJECT_ATTRIBUTES (64-bit): Length 48, Root sign-extended, Name -> UNICODE_STRING
    // in scratch, Attributes, SD and QoS zero-extended.
    let oa64 = &snaps[2];
    let q = |o: usize| u64::from_le_bytes(oa64[o..o + 8].try_into().unwrap());
    assert_eq!(u32s(&oa64[..4]), vec![48]);
    assert_eq!(q(8), 0xFFFF_FFFF_FFFF_FFFC);
    assert_eq!(u32s(&oa64[24..28]), vec![0x40]);
    assert_eq!((q(32), q(40)), (0x8000_1000, 0x1234));
    let us = q(16);
    assert!(us >= SCRATCH_BASE);
    // The handle came back truncated; scratch is gone.
    assert_eq!(mem.read_u32(GUEST + 0x400).unwrap(), 0x44);
    assert!(!mem.is_mapped(SCRATCH_BASE));
    let _ = us;
}

#[test]
fn unicode_string_layout() {
    let (mut mem, mut fake) = (guest(), Fake::default());
    mem.write_bytes(GUEST + 0x100, &[4, 0, 6, 0, 0x00, 0x02, 0x10, 0x00]).unwrap();
    let mut c = Call::new(&mut mem, &mut fake, INFO, "NtQueryDirectoryFile", vec![], false);
    let us = c.unicode_string(GUEST as u32 + 0x100).unwrap();
    assert_eq!(c.peek(us, 16), vec![4, 0, 6, 0, 0, 0, 0, 0, 0x00, 0x02, 0x10, 0, 0, 0, 0, 0]);
    // OBJECT_ATTRIBUTES32 with a Length other than 24 becomes a zeroed structure.
    c.write(GUEST as u32 + 0x300, &[48, 0, 0, 0]).unwrap();
    let oa = c.object_attributes(GUEST as u32 + 0x300).unwrap();
    assert_eq!(c.peek(oa, 48), vec![0u8; 48]);
    assert_eq!(c.object_attributes(0).unwrap(), 0);
    c.release();
}

#[test]
fn handle_out_is_written_only_on_success() {
    let (mut mem, mut fake) = (guest(), Fake::default());
    mem.write_u32(GUEST + 0x400, 0x5555).unwrap();
    fake.status = 0xC000_0022;
    fake.outputs = vec![(0, 0x88u64.to_le_bytes().to_vec())];
    call(&mut mem, &mut fake, INFO, "NtOpenEvent", &[GUEST as u32 + 0x400, 0, 0]);
    assert_eq!(mem.read_u32(GUEST + 0x400).unwrap(), 0x5555);
}

#[test]
fn sizes_are_widened_and_narrowed_with_clamping_on_success() {
    let (mut mem, mut fake) = (guest(), Fake::default());
    mem.write_u32(GUEST + 0x10, 0x1000).unwrap(); // base
    mem.write_u32(GUEST + 0x14, 0x2345).unwrap(); // size
    fake.outputs =
        vec![(1, 0x20_0000u64.to_le_bytes().to_vec()), (3, 0x1_2345_6789u64.to_le_bytes().to_vec())];
    let st = call(
        &mut mem,
        &mut fake,
        INFO,
        "NtAllocateVirtualMemory",
        &[0xFFFF_FFFF, GUEST as u32 + 0x10, 0, GUEST as u32 + 0x14, 0x3000, 4],
    );
    assert_eq!(st, 0);
    let (_, args, snaps) = &fake.calls[0];
    assert_eq!(args[0], u64::MAX);
    assert_eq!(args[2], 0x7FFF_FFFF, "ZeroBits 0 becomes the 2 GiB mask");
    assert_eq!(&snaps[1][..8], &0x1000u64.to_le_bytes());
    assert_eq!(&snaps[3][..8], &0x2345u64.to_le_bytes());
    assert_eq!(mem.read_u32(GUEST + 0x10).unwrap(), 0x20_0000);
    assert_eq!(mem.read_u32(GUEST + 0x14).unwrap(), 0xFFFF_FFFF, "clamped");
    // Large-address-aware: the 4 GiB mask.
    mem.write_u32(GUEST + 0x14, 0x2345).unwrap();
    let laa = Wow64Info { limit: 0xFFFE_FFFF, ..INFO };
    call(
        &mut mem,
        &mut fake,
        laa,
        "NtAllocateVirtualMemory",
        &[0xFFFF_FFFF, GUEST as u32 + 0x10, 0, GUEST as u32 + 0x14, 0x3000, 4],
    );
    assert_eq!(fake.calls[1].1[2], 0xFFFF_FFFF);
    // An explicit ZeroBits passes through (the service rejects 22).
    mem.write_u32(GUEST + 0x14, 0x2345).unwrap();
    call(
        &mut mem,
        &mut fake,
        INFO,
        "NtAllocateVirtualMemory",
        &[0xFFFF_FFFF, GUEST as u32 + 0x10, 22, GUEST as u32 + 0x14, 0x3000, 4],
    );
    assert_eq!(fake.calls[2].1[2], 22);
    // Failure: nothing written back.
    mem.write_u32(GUEST + 0x10, 0).unwrap();
    mem.write_u32(GUEST + 0x14, 0x2345).unwrap();
    fake.status = 0xC000_0018;
    call(
        &mut mem,
        &mut fake,
        INFO,
        "NtAllocateVirtualMemory",
        &[0xFFFF_FFFF, GUEST as u32 + 0x10, 0, GUEST as u32 + 0x14, 0x3000, 4],
    );
    assert_eq!(mem.read_u32(GUEST + 0x10).unwrap(), 0);
}

#[test]
fn addresses_past_the_32_bit_limit_are_refused_before_the_service() {
    let (mut mem, mut fake) = (guest(), Fake::default());
    mem.write_u32(GUEST + 0x10, 0x9000_0000).unwrap();
    mem.write_u32(GUEST + 0x14, 0x1000).unwrap();
    let st = call(
        &mut mem,
        &mut fake,
        INFO,
        "NtAllocateVirtualMemory",
        &[0xFFFF_FFFF, GUEST as u32 + 0x10, 0, GUEST as u32 + 0x14, 0x3000, 4],
    );
    assert_eq!(st, 0xC000_00F0);
    let st = call(
        &mut mem,
        &mut fake,
        INFO,
        "NtQueryVirtualMemory",
        &[0xFFFF_FFFF, 0x8000_0000, 0, GUEST as u32, 28, 0],
    );
    assert_eq!(st, 0xC000_000D);
    assert!(fake.calls.is_empty());
}

#[test]
fn io_status_block_is_narrowed_when_written() {
    let (mut mem, mut fake) = (guest(), Fake::default());
    mem.write_bytes(GUEST + 0x20, &[0xAA; 8]).unwrap();
    let mut iosb = vec![0u8; 16];
    iosb[8..16].copy_from_slice(&0x1_0000_0010u64.to_le_bytes());
    fake.outputs = vec![(4, iosb)];
    call(
        &mut mem,
        &mut fake,
        INFO,
        "NtWriteFile",
        &[8, 0, 0, 0, GUEST as u32 + 0x20, GUEST as u32 + 0x100, 16, 0, 0],
    );
    let (_, args, snaps) = &fake.calls[0];
    assert_eq!(&args[5..], &[GUEST + 0x100, 16, 0, 0]);
    // The 64-bit block started as the guest's, widened field by field.
    assert_eq!(&snaps[4][..16], &[0xAA, 0xAA, 0xAA, 0xAA, 0, 0, 0, 0, 0xAA, 0xAA, 0xAA, 0xAA, 0, 0, 0, 0]);
    assert_eq!(mem.read_u32(GUEST + 0x20).unwrap(), 0);
    assert_eq!(mem.read_u32(GUEST + 0x24).unwrap(), 0x10, "Information truncated to 32 bits");
}

#[test]
fn bad_guest_pointers_are_access_violations_not_crashes() {
    let (mut mem, mut fake) = (guest(), Fake::default());
    for (name, args) in [
        ("NtCreateEvent", vec![0x10u32, 0, 0, 0, 0]),
        ("NtCreateEvent", vec![GUEST as u32, 0, 0xFFFF_FFF0, 0, 0]),
        ("NtWriteFile", vec![8, 0, 0, 0, 0x1234, 0, 0, 0, 0]),
        ("NtWaitForMultipleObjects", vec![2, 0x20, 0, 0, 0]),
        ("NtOpenProcess", vec![GUEST as u32, 0, 0, 0x30]),
        ("NtQueryInformationProcess", vec![0xFFFF_FFFF, 0, 0x40, 24, 0]),
        // A huge length on a small valid buffer: no huge allocation, just a fault.
        ("NtSetInformationFile", vec![8, GUEST as u32, GUEST as u32, 0xFFFF_0000, 10]),
    ] {
        fake.outputs.clear();
        let st = call(&mut mem, &mut fake, INFO, name, &args);
        assert_eq!(st, 0xC000_0005, "{name} {args:x?}");
    }
}

#[test]
fn handle_arrays_widen_each_handle() {
    let (mut mem, mut fake) = (guest(), Fake::default());
    mem.write_bytes(GUEST + 0x30, &[0x10, 0, 0, 0, 0xFE, 0xFF, 0xFF, 0xFF]).unwrap();
    call(&mut mem, &mut fake, INFO, "NtWaitForMultipleObjects", &[2, GUEST as u32 + 0x30, 1, 0, 0]);
    let snap = &fake.calls[0].2[1];
    assert_eq!(&snap[..16], &[0x10, 0, 0, 0, 0, 0, 0, 0, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
}

#[test]
fn large_integer_by_value_takes_two_slots() {
    let (mut mem, mut fake) = (guest(), Fake::default());
    let mut c = Call::new(&mut mem, &mut fake, INFO, "NtTest", vec![7, 0x89AB_CDEF, 0x0123_4567, 9], false);
    assert_eq!(
        c.widen(&[Arg::Ulong, Arg::LargeInt, Arg::Handle]).unwrap(),
        vec![7, 0x0123_4567_89AB_CDEF, 9]
    );
}

#[test]
fn memory_basic_information_is_narrowed_and_clipped() {
    let (mut mem, mut fake) = (guest(), Fake::default());
    let mut mbi = vec![0u8; 48];
    mbi[0..8].copy_from_slice(&0x7FFE_0000u64.to_le_bytes());
    mbi[8..16].copy_from_slice(&0x7FFE_0000u64.to_le_bytes());
    mbi[16..20].copy_from_slice(&2u32.to_le_bytes());
    mbi[24..32].copy_from_slice(&0x7FFF_FFF0_0000u64.to_le_bytes()); // a 64-bit sized region
    mbi[32..36].copy_from_slice(&0x1000u32.to_le_bytes());
    mbi[36..40].copy_from_slice(&2u32.to_le_bytes());
    mbi[40..44].copy_from_slice(&0x2_0000u32.to_le_bytes());
    fake.outputs = vec![(3, mbi)];
    mem.write_u32(GUEST + 0x80, 0xAAAA).unwrap();
    let st = call(
        &mut mem,
        &mut fake,
        INFO,
        "NtQueryVirtualMemory",
        &[0xFFFF_FFFF, 0x7FFE_0000, 0, GUEST as u32, 28, GUEST as u32 + 0x80],
    );
    assert_eq!(st, 0);
    assert_eq!(fake.calls[0].1[4], 48, "the service is asked for the 64-bit size");
    let mut out = [0u8; 32];
    mem.read_bytes(GUEST, &mut out).unwrap();
    assert_eq!(u32s(&out[..28]), vec![0x7FFE_0000, 0x7FFE_0000, 2, 0x1_0000, 0x1000, 2, 0x2_0000]);
    assert_eq!(mem.read_u32(GUEST + 0x80).unwrap(), 28, "ReturnLength is the 32-bit size");
    // Short buffer: the 32-bit rule, without calling the service.
    let st = call(
        &mut mem,
        &mut fake,
        INFO,
        "NtQueryVirtualMemory",
        &[0xFFFF_FFFF, 0x7FFE_0000, 0, GUEST as u32, 27, 0],
    );
    assert_eq!(st, 0xC000_0004);
    assert_eq!(fake.calls.len(), 1);
}

#[test]
fn process_and_system_information_for_32_bit_code() {
    let (mut mem, mut fake) = (guest(), Fake::default());
    let mut pbi = vec![0u8; 48];
    pbi[0..4].copy_from_slice(&0x103u32.to_le_bytes());
    pbi[8..16].copy_from_slice(&0x7FFD_0000u64.to_le_bytes()); // PEB64
    pbi[16..24].copy_from_slice(&1u64.to_le_bytes());
    pbi[24..28].copy_from_slice(&8u32.to_le_bytes());
    pbi[32..40].copy_from_slice(&0x1A4u64.to_le_bytes());
    pbi[40..48].copy_from_slice(&0x10Cu64.to_le_bytes());
    fake.outputs = vec![(2, pbi)];
    let st = call(
        &mut mem,
        &mut fake,
        INFO,
        "NtQueryInformationProcess",
        &[0xFFFF_FFFF, 0, GUEST as u32, 24, GUEST as u32 + 0x80],
    );
    assert_eq!(st, 0);
    assert_eq!(fake.calls[0].1[3], 48);
    let mut out = [0u8; 24];
    mem.read_bytes(GUEST, &mut out).unwrap();
    assert_eq!(u32s(&out), vec![0x103, INFO.peb32, 1, 8, 0x1A4, 0x10C]);
    assert_eq!(mem.read_u32(GUEST + 0x80).unwrap(), 24);
    // Wrong length: the 32-bit size in ReturnLength, no call.
    let st = call(
        &mut mem,
        &mut fake,
        INFO,
        "NtQueryInformationProcess",
        &[0xFFFF_FFFF, 0, GUEST as u32, 48, GUEST as u32 + 0x80],
    );
    assert_eq!((st, mem.read_u32(GUEST + 0x80).unwrap(), fake.calls.len()), (0xC000_0004, 24, 1));

    // SystemBasicInformation goes to SystemEmulationBasicInformation (62).
    let mut sbi = vec![0u8; 64];
    for (i, v) in [0u32, 156_250, 0x1000, 0x40_0000, 1, 0x40_0000, 0x1_0000].iter().enumerate() {
        sbi[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    sbi[32..40].copy_from_slice(&0x1_0000u64.to_le_bytes());
    sbi[40..48].copy_from_slice(&0x7FFE_FFFFu64.to_le_bytes());
    sbi[48..56].copy_from_slice(&1u64.to_le_bytes());
    sbi[56] = 1;
    fake.outputs = vec![(1, sbi)];
    let st = call(&mut mem, &mut fake, INFO, "NtQuerySystemInformation", &[0, GUEST as u32, 44, 0]);
    assert_eq!(st, 0);
    assert_eq!(fake.calls[1].1[0], 62);
    let mut out = [0u8; 44];
    mem.read_bytes(GUEST, &mut out).unwrap();
    assert_eq!(
        u32s(&out),
        vec![0, 156_250, 0x1000, 0x40_0000, 1, 0x40_0000, 0x1_0000, 0x1_0000, 0x7FFE_FFFF, 1, 1]
    );
}

#[test]
fn every_thunk_survives_hostile_arguments() {
    // Bounded fuzz: each service with argument values from a small hostile set; the
    // thunk must return a status (never panic) and release its scratch memory.
    let values = [0u32, 1, 0x10, GUEST as u32, GUEST as u32 + 0xFFF8, 0x7FFE_FFFF, 0xFFFF_FFFF, 0xDEAD_BEEF];
    for t in thunks::THUNKS {
        for seed in 0..24u32 {
            let (mut mem, mut fake) = (guest(), Fake::default());
            let args: Vec<u32> =
                (0..t.slots() as u32).map(|i| values[((seed * 7 + i * 3) % 8) as usize]).collect();
            let _ = call(&mut mem, &mut fake, INFO, t.name, &args);
            assert!(!mem.is_mapped(SCRATCH_BASE), "{} leaked scratch", t.name);
        }
    }
}

/// Calls an ntdll service of a real process (kernel and all) from the host.
fn service(p: &mut x86wow_wow64::Process, name: &str, args: &[u32]) -> u32 {
    let f = p.export("ntdll.dll", name).unwrap();
    p.call(f, args).unwrap()
}

fn us32(p: &mut x86wow_wow64::Process, at: u32) -> (u16, u16, u32, String) {
    let h = p.read(at, 8).unwrap();
    let (len, max) = (u16::from_le_bytes([h[0], h[1]]), u16::from_le_bytes([h[2], h[3]]));
    let buf = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    let b = p.read(buf, len as usize).unwrap();
    let units: Vec<u16> = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    (len, max, buf, String::from_utf16_lossy(&units))
}

#[test]
fn string_classes_come_back_as_unicode_string32() {
    use x86wow_wow64::pebuild::{scn, PeBuilder};
    let mut pe = PeBuilder::new(0x40_0000, false);
    pe.entry_rva = pe.add_section(".text", scn::CODE, vec![0xC3]);
    let mut p = x86wow_wow64::Process::builder().build(&pe.build()).unwrap();
    let buf = p.alloc(0x1000).unwrap();
    let ret = buf + 0x800;
    // ProcessImageFileName (27): the NT name, Buffer right after the 8-byte header.
    assert_eq!(service(&mut p, "NtQueryInformationProcess", &[0xFFFF_FFFF, 27, buf, 0x200, ret]), 0);
    let (len, _, b, name) = us32(&mut p, buf);
    assert_eq!((b, name.as_str()), (buf + 8, "\\Device\\HarddiskVolume1\\program.exe"));
    assert_eq!(p.read(ret, 4).unwrap(), (8 + len as u32 + 2).to_le_bytes());
    // Too small: STATUS_INFO_LENGTH_MISMATCH with the 32-bit size.
    assert_eq!(service(&mut p, "NtQueryInformationProcess", &[0xFFFF_FFFF, 27, buf, 8, ret]), 0xC000_0004);
    assert_eq!(p.read(ret, 4).unwrap(), (8 + len as u32 + 2).to_le_bytes());
    // ProcessImageFileNameWin32 (43).
    assert_eq!(service(&mut p, "NtQueryInformationProcess", &[0xFFFF_FFFF, 43, buf, 0x200, 0]), 0);
    assert_eq!(us32(&mut p, buf).3, "C:\\program.exe");
    // MemoryMappedFilenameInformation on the image.
    assert_eq!(service(&mut p, "NtQueryVirtualMemory", &[0xFFFF_FFFF, 0x40_1000, 2, buf, 0x200, ret]), 0);
    assert_eq!(us32(&mut p, buf).3, "\\Device\\HarddiskVolume1\\program.exe");
    // MemoryBasicInformation through the real kernel: MEM_IMAGE, execute-read.
    assert_eq!(service(&mut p, "NtQueryVirtualMemory", &[0xFFFF_FFFF, 0x40_1000, 0, buf, 28, ret]), 0);
    let m = u32s(&p.read(buf, 28).unwrap());
    assert_eq!(m, vec![0x40_1000, 0x40_0000, 0x80, 0x1000, 0x1000, 0x20, 0x100_0000]);
}
