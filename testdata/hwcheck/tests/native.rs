//! Tests of the native runner against the real CPU. Every test is skipped (with a message)
//! when native 32-bit execution is unavailable on this host.

use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use x86wow_hwcheck::native::{
    default_fxsave, NativeCase, NativeOutcome, NativeRegion, NativeRunner, RunStatus,
};

const CODE: u32 = 0x0001_0000;
const DATA: u32 = 0x0002_0000;
const STACK: u32 = 0x0003_0000;
const RO: u32 = 0x0004_0000;
const UNMAPPED: u32 = 0x0005_0000;

const SIGILL: i32 = 4;
const SIGTRAP: i32 = 5;
const SIGBUS: i32 = 7;
const SIGFPE: i32 = 8;
const SIGSEGV: i32 = 11;
const SIGPROF: i32 = 27;
const SIGSYS: i32 = 31;

const CF: u32 = 1 << 0;
const PF: u32 = 1 << 2;
const AF: u32 = 1 << 4;
const ZF: u32 = 1 << 6;
const SF: u32 = 1 << 7;
const TF: u32 = 1 << 8;
const DF: u32 = 1 << 10;
const OF: u32 = 1 << 11;
const NT: u32 = 1 << 14;
const RF: u32 = 1 << 16;
const AC: u32 = 1 << 18;
const ID: u32 = 1 << 21;
const ARITH: u32 = CF | PF | AF | ZF | SF | OF;

/// One runner shared by all tests of this binary (tests run in parallel threads).
fn runner() -> Option<MutexGuard<'static, NativeRunner>> {
    static RUNNER: OnceLock<Option<Mutex<NativeRunner>>> = OnceLock::new();
    let r = RUNNER.get_or_init(|| NativeRunner::start_or_skip().map(Mutex::new));
    match r {
        Some(m) => Some(m.lock().unwrap_or_else(|p| p.into_inner())),
        None => {
            println!("SKIPPED: native 32-bit execution is unavailable on this host");
            None
        }
    }
}

/// A case with `code` at CODE (r-x), a zeroed rw page at DATA, a 2-page rw stack below
/// STACK + 0x2000 (ESP at its top) and a read-only page at RO.
fn case(code: &[u8]) -> NativeCase {
    NativeCase {
        gpr: [0, 0, 0, 0, STACK + 0x2000, 0, 0, 0],
        eip: CODE,
        eflags: 0x202,
        regions: vec![
            NativeRegion::new(CODE, NativeRegion::RX, 1, code),
            NativeRegion::new(DATA, NativeRegion::RW, 1, &[]),
            NativeRegion::new(STACK, NativeRegion::RW, 2, &[]),
            NativeRegion::new(RO, NativeRegion::READ, 1, &[0x11, 0x22, 0x33, 0x44]),
        ],
        ..NativeCase::default()
    }
}

fn run1(r: &mut NativeRunner, c: NativeCase) -> NativeOutcome {
    let mut out = r.run(std::slice::from_ref(&c));
    out.pop().expect("one outcome")
}

fn assert_hlt(o: &NativeOutcome, at: u32) {
    assert_eq!(o.status, RunStatus::Completed, "{}", brief(o));
    assert_eq!((o.signal, o.trapno, o.err, o.eip), (SIGSEGV, 13, 0, at), "{}", brief(o));
}

/// The outcome without the bulky FXSAVE image and region bytes.
fn brief(o: &NativeOutcome) -> String {
    format!(
        "status {:?} signal {} trapno {} err {:#x} cr2 {:#x} eip {:#x} eflags {:#x} gpr {:x?} sel {:x?}",
        o.status, o.signal, o.trapno, o.err, o.cr2, o.eip, o.eflags, o.gpr, o.final_selectors
    )
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

#[test]
fn add_registers_and_flags() {
    let Some(mut r) = runner() else { return };
    // add eax, ebx ; hlt
    let mut c = case(&[0x01, 0xD8, 0xF4]);
    c.gpr[0] = 0xFFFF_FFFF;
    c.gpr[3] = 1;
    c.gpr[1] = 0x1111_1111;
    c.gpr[2] = 0x2222_2222;
    c.gpr[5] = 0x5555_5555;
    c.gpr[6] = 0x6666_6666;
    c.gpr[7] = 0x7777_7777;
    let o = run1(&mut r, c.clone());
    assert_hlt(&o, CODE + 2);
    let mut want = c.gpr;
    want[0] = 0;
    assert_eq!(o.gpr, want);
    assert_eq!(o.eflags & ARITH, CF | PF | AF | ZF, "eflags {:#x}", o.eflags);
    assert_eq!(o.eflags & 0x202, 0x202);
    println!("eflags after the HLT #GP: {:#x} (RF = {})", o.eflags, o.eflags & RF != 0);
    assert_eq!(o.selectors, r.info().selectors);
    assert_eq!(o.final_selectors, o.selectors);
    println!("selectors: {:x?}", o.selectors);
    // Read-only regions come back unchanged.
    assert_eq!(o.regions, c.regions.iter().map(|r| r.data.clone()).collect::<Vec<_>>());
}

#[test]
fn all_user_flags_arrive() {
    let Some(mut r) = runner() else { return };
    // pushfd ; pop eax ; hlt
    for flags in [0, ARITH | DF | NT | AC | ID, CF | ZF | NT, OF | SF | ID | AC, DF | PF | AF] {
        let mut c = case(&[0x9C, 0x58, 0xF4]);
        c.eflags = 0x202 | flags;
        let o = run1(&mut r, c);
        assert_hlt(&o, CODE + 2);
        assert_eq!(o.gpr[0], 0x202 | flags, "flags {flags:#x}: pushfd gave {:#x}", o.gpr[0]);
        assert_eq!(o.eflags & !RF, 0x202 | flags, "flags {flags:#x}: final {:#x}", o.eflags);
    }
}

#[test]
fn memory_write_to_rw_page() {
    let Some(mut r) = runner() else { return };
    // mov [DATA+0x10], eax ; mov byte [DATA+0xFFF], bl ; hlt
    let mut code = vec![0xA3];
    code.extend_from_slice(&(DATA + 0x10).to_le_bytes());
    code.extend_from_slice(&[0x88, 0x1D]);
    code.extend_from_slice(&(DATA + 0xFFF).to_le_bytes());
    code.push(0xF4);
    let mut c = case(&code);
    c.gpr[0] = 0xDEAD_BEEF;
    c.gpr[3] = 0x7F;
    c.regions[1].data[0x20] = 0x99; // pre-existing data survives
    let o = run1(&mut r, c);
    assert_hlt(&o, CODE + 11);
    let d = &o.regions[1];
    assert_eq!(u32_at(d, 0x10), 0xDEAD_BEEF);
    assert_eq!(d[0xFFF], 0x7F);
    assert_eq!(d[0x20], 0x99);
    assert_eq!(d.iter().filter(|&&b| b != 0).count(), 6);
}

#[test]
fn write_to_read_only_page_faults() {
    let Some(mut r) = runner() else { return };
    // mov [RO+8], eax ; hlt
    let mut code = vec![0xA3];
    code.extend_from_slice(&(RO + 8).to_le_bytes());
    code.push(0xF4);
    let o = run1(&mut r, case(&code));
    assert_eq!(o.status, RunStatus::Completed);
    assert_eq!((o.signal, o.trapno, o.cr2, o.eip), (SIGSEGV, 14, RO + 8, CODE), "{}", brief(&o));
    // present | write | user
    assert_eq!(o.err & 7, 7, "err {:#x}", o.err);
    assert_eq!(o.regions[3][..4], [0x11, 0x22, 0x33, 0x44]);
    println!("write to r/o page: err {:#x}, eflags {:#x}", o.err, o.eflags);
}

#[test]
fn read_of_unmapped_address_faults() {
    let Some(mut r) = runner() else { return };
    // mov eax, [UNMAPPED+0x123] ; hlt
    let mut code = vec![0xA1];
    code.extend_from_slice(&(UNMAPPED + 0x123).to_le_bytes());
    code.push(0xF4);
    let o = run1(&mut r, case(&code));
    assert_eq!((o.signal, o.trapno, o.cr2, o.eip), (SIGSEGV, 14, UNMAPPED + 0x123, CODE), "{}", brief(&o));
    assert_eq!(o.err & 7, 4, "not-present user read: err {:#x}", o.err);
    println!("read of unmapped address: err {:#x}", o.err);
}

#[test]
fn instruction_fetch_faults() {
    let Some(mut r) = runner() else { return };
    // jmp to the (non-executable) data page, then to an unmapped page.
    for (target, what) in [(DATA, "rw- page"), (UNMAPPED, "unmapped page")] {
        let mut code = vec![0xB8];
        code.extend_from_slice(&target.to_le_bytes());
        code.extend_from_slice(&[0xFF, 0xE0]); // jmp eax
        let o = run1(&mut r, case(&code));
        assert_eq!((o.signal, o.trapno, o.eip, o.cr2), (SIGSEGV, 14, target, target), "{}", brief(&o));
        assert_ne!(o.err & 0x10, 0, "fetch from {what}: err {:#x} lacks I/D", o.err);
        println!("fetch from {what}: err {:#x}", o.err);
    }
}

#[test]
fn divide_by_zero() {
    let Some(mut r) = runner() else { return };
    // xor ecx, ecx ; div ecx ; hlt
    let o = run1(&mut r, case(&[0x31, 0xC9, 0xF7, 0xF1, 0xF4]));
    assert_eq!((o.signal, o.trapno, o.eip), (SIGFPE, 0, CODE + 2), "{}", brief(&o));
}

#[test]
fn ud2_is_invalid_opcode() {
    let Some(mut r) = runner() else { return };
    let o = run1(&mut r, case(&[0x90, 0x0F, 0x0B]));
    assert_eq!((o.signal, o.trapno, o.eip), (SIGILL, 6, CODE + 1), "{}", brief(&o));
}

#[test]
fn int3_reports_eip_after() {
    let Some(mut r) = runner() else { return };
    let o = run1(&mut r, case(&[0x40, 0xCC, 0xF4]));
    assert_eq!((o.signal, o.trapno, o.eip, o.gpr[0]), (SIGTRAP, 3, CODE + 2, 1), "{}", brief(&o));
}

#[test]
fn trap_flag_single_steps() {
    let Some(mut r) = runner() else { return };
    // inc eax ; inc eax ; hlt
    let mut c = case(&[0x40, 0x40, 0xF4]);
    c.eflags = 0x202 | TF;
    let o = run1(&mut r, c);
    assert_eq!((o.signal, o.trapno, o.eip, o.gpr[0]), (SIGTRAP, 1, CODE + 1, 1), "{}", brief(&o));
    assert_ne!(o.eflags & TF, 0);
    println!("single step: eflags {:#x}, err {:#x}", o.eflags, o.err);
}

#[test]
fn alignment_check() {
    let Some(mut r) = runner() else { return };
    // mov eax, [DATA+1] ; hlt
    let mut code = vec![0xA1];
    code.extend_from_slice(&(DATA + 1).to_le_bytes());
    code.push(0xF4);
    let mut c = case(&code);
    c.eflags = 0x202 | AC;
    let o = run1(&mut r, c.clone());
    assert_eq!((o.signal, o.trapno, o.eip), (SIGBUS, 17, CODE), "{}", brief(&o));
    println!("#AC: err {:#x}, eflags {:#x}", o.err, o.eflags);
    // Without AC the same load works.
    c.eflags = 0x202;
    assert_hlt(&run1(&mut r, c), CODE + 5);
}

#[test]
fn fs_and_gs_bases() {
    let Some(mut r) = runner() else { return };
    // mov eax, fs:[0x110] ; mov ebx, gs:[0x20] ; mov fs:[0x200], ecx ; hlt
    let code = [
        0x64, 0xA1, 0x10, 0x01, 0x00, 0x00, //
        0x65, 0x8B, 0x1D, 0x20, 0x00, 0x00, 0x00, //
        0x64, 0x89, 0x0D, 0x00, 0x02, 0x00, 0x00, //
        0xF4,
    ];
    for (fs_base, gs_base) in [(DATA - 0x100, RO), (DATA, RO - 0x20), (DATA - 0x100, RO)] {
        let mut c = case(&code);
        c.fs_base = fs_base;
        c.gs_base = gs_base;
        c.gpr[1] = 0xCAFE_F00D;
        c.regions[1].data[0x10..0x14].copy_from_slice(&0x1234_5678u32.to_le_bytes());
        c.regions[1].data[0x110..0x114].copy_from_slice(&0x8765_4321u32.to_le_bytes());
        let o = run1(&mut r, c);
        assert_hlt(&o, CODE + 20);
        let want_eax = if fs_base == DATA { 0x8765_4321 } else { 0x1234_5678 };
        let want_ebx = if gs_base == RO { 0 } else { 0x4433_2211 };
        assert_eq!((o.gpr[0], o.gpr[3]), (want_eax, want_ebx), "fs {fs_base:#x} gs {gs_base:#x}");
        assert_eq!(u32_at(&o.regions[1], (fs_base + 0x200 - DATA) as usize), 0xCAFE_F00D);
    }
    println!("fs/gs selectors: {:#x}/{:#x}", r.info().selectors.fs, r.info().selectors.gs);
}

fn f80(v: f64) -> [u8; 10] {
    let bits = v.to_bits();
    let sign = (bits >> 63) as u16;
    let exp = ((bits >> 52) & 0x7FF) as u16;
    let frac = bits & ((1 << 52) - 1);
    let mut out = [0u8; 10];
    if v != 0.0 {
        let mant: u64 = (1 << 63) | (frac << 11);
        out[..8].copy_from_slice(&mant.to_le_bytes());
        out[8..].copy_from_slice(&((sign << 15) | (exp - 1023 + 16383)).to_le_bytes());
    }
    out
}

fn xmm_f32(fx: &mut [u8; 512], reg: usize, v: [f32; 4]) {
    for (k, x) in v.iter().enumerate() {
        let off = 160 + 16 * reg + 4 * k;
        fx[off..off + 4].copy_from_slice(&x.to_le_bytes());
    }
}

#[test]
fn x87_and_sse_state_in_and_out() {
    let Some(mut r) = runner() else { return };
    let mut fx = default_fxsave();
    // x87: RC = toward zero, ST0 = 2.75 in physical register 7 (TOP = 7).
    fx[0..2].copy_from_slice(&0x0F7Fu16.to_le_bytes());
    fx[2..4].copy_from_slice(&(7u16 << 11).to_le_bytes());
    fx[4] = 0x80;
    fx[32..42].copy_from_slice(&f80(2.75));
    // SSE: MXCSR RC = round down, XMM0/1/3 set.
    fx[24..28].copy_from_slice(&0x3F80u32.to_le_bytes());
    xmm_f32(&mut fx, 0, [1.0, 2.0, 3.0, 4.0]);
    xmm_f32(&mut fx, 1, [10.0, 20.0, 30.0, 40.0]);
    xmm_f32(&mut fx, 3, [1.5, -1.5, 2.5, 0.7]);
    xmm_f32(&mut fx, 7, [7.0, 7.0, 7.0, 7.0]);
    let code = [
        0xD9, 0xFC, // frndint            (2.75 -> 2.0 with RC = chop)
        0xD9, 0xE8, // fld1
        0xDE, 0xC1, // faddp st1, st0     (3.0)
        0xD9, 0x15, 0x20, 0x00, 0x02, 0x00, // fst dword [DATA+0x20]
        0x0F, 0x58, 0xC1, // addps xmm0, xmm1
        0x66, 0x0F, 0x5B, 0xD3, // cvtps2dq xmm2, xmm3 (round down)
        0x0F, 0x11, 0x15, 0x40, 0x00, 0x02, 0x00, // movups [DATA+0x40], xmm2
        0xF4,
    ];
    let mut c = case(&code);
    c.fxsave = Some(fx.clone());
    let o = run1(&mut r, c);
    assert_hlt(&o, CODE + 26);
    assert_eq!(u32_at(&o.regions[1], 0x20), 3.0f32.to_bits());
    let cvt: Vec<i32> = (0..4).map(|k| u32_at(&o.regions[1], 0x40 + 4 * k) as i32).collect();
    assert_eq!(cvt, [1, -2, 2, 0]);
    let f = &o.fxsave;
    assert_eq!(&f[0..2], &0x0F7Fu16.to_le_bytes(), "FCW");
    assert_eq!((u16::from_le_bytes([f[2], f[3]]) >> 11) & 7, 7, "TOP");
    assert_eq!(f[4], 0x80, "FTW");
    assert_eq!(&f[32..42], &f80(3.0), "ST0");
    assert_eq!(u32_at(&f[..], 24), 0x3F80 | 0x20, "MXCSR (PE set by cvtps2dq)");
    let xmm = |k: usize, j: usize| f32::from_le_bytes(f[160 + 16 * k + 4 * j..][..4].try_into().unwrap());
    assert_eq!([xmm(0, 0), xmm(0, 1), xmm(0, 2), xmm(0, 3)], [11.0, 22.0, 33.0, 44.0]);
    assert_eq!([xmm(7, 0), xmm(7, 3)], [7.0, 7.0]);
    // (On the Zen 4 this was written on, FIP/FDP/FOP are not updated by x87 instructions
    // that raise no exception: they stay as delivered. See `unmasked_x87_and_sse_exceptions`.)
    println!("x87 pointers after fst: FOP/FIP/FDP bytes 6..24: {:02x?}", &f[6..24]);
}

#[test]
fn x87_environment_pointers_arrive() {
    let Some(mut r) = runner() else { return };
    let mut fx = default_fxsave();
    fx[2..4].copy_from_slice(&0x0021u16.to_le_bytes()); // IE and PE flags (masked)
    fx[6..8].copy_from_slice(&0x01D9u16.to_le_bytes()); // FOP
    fx[8..12].copy_from_slice(&0x1234_5678u32.to_le_bytes()); // FIP
    fx[12..14].copy_from_slice(&0x0023u16.to_le_bytes()); // FCS
    fx[16..20].copy_from_slice(&0x9ABC_DEF0u32.to_le_bytes()); // FDP
    fx[20..22].copy_from_slice(&0x002Bu16.to_le_bytes()); // FDS
                                                          // fnstenv [DATA] ; hlt
    let mut c = case(&[0xD9, 0x35, 0x00, 0x00, 0x02, 0x00, 0xF4]);
    c.fxsave = Some(fx);
    let o = run1(&mut r, c);
    assert_hlt(&o, CODE + 6);
    let env = &o.regions[1][..28];
    let w = |k: usize| u32_at(env, 4 * k);
    println!(
        "fnstenv: FCW {:#x} FSW {:#x} FTW {:#x} FIP {:#x} FCS|FOP {:#x} FDP {:#x} FDS {:#x}",
        w(0),
        w(1),
        w(2),
        w(3),
        w(4),
        w(5),
        w(6)
    );
    assert_eq!(w(1) & 0xFFFF, 0x0021);
    assert_eq!(w(3), 0x1234_5678, "FIP");
    assert_eq!(w(4) >> 16, 0x01D9, "FOP");
    assert_eq!(w(5), 0x9ABC_DEF0, "FDP");
}

#[test]
fn mxcsr_with_reserved_bits_is_rejected() {
    let Some(mut r) = runner() else { return };
    let mut fx = default_fxsave();
    fx[24..28].copy_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
    let mut c = case(&[0xF4]);
    c.fxsave = Some(fx);
    let o = run1(&mut r, c);
    assert!(matches!(o.status, RunStatus::Rejected(_)), "{:?}", o.status);
    println!("{:?} (MXCSR_MASK {:#x})", o.status, r.info().mxcsr_mask);
    assert_hlt(&run1(&mut r, case(&[0xF4])), CODE);
}

#[test]
fn unmasked_x87_and_sse_exceptions() {
    let Some(mut r) = runner() else { return };
    // x87: unmask ZE, fld1 ; fldz ; fdivp ; fwait -> #MF at the fwait
    let mut fx = default_fxsave();
    fx[0..2].copy_from_slice(&0x037Bu16.to_le_bytes());
    let mut c = case(&[0xD9, 0xE8, 0xD9, 0xEE, 0xDE, 0xF9, 0x9B, 0xF4]);
    c.fxsave = Some(fx);
    let o = run1(&mut r, c);
    assert_eq!((o.signal, o.trapno, o.eip), (SIGFPE, 16, CODE + 6), "{}", brief(&o));
    let f = &o.fxsave;
    let fsw = u16::from_le_bytes([f[2], f[3]]);
    assert_eq!(fsw & 0x84, 0x84, "FSW {fsw:#x}: ES and ZE");
    // The faulting FDIVP (DE F9) is the last x87 instruction: FOP = 0x6F9, FIP = its address.
    let fop = u16::from_le_bytes([f[6], f[7]]);
    let fip = u64::from_le_bytes(f[8..16].try_into().unwrap());
    println!("#MF: FSW {fsw:#x} FOP {fop:#x} FIP {fip:#x} FDP bytes {:02x?}", &f[16..24]);
    assert_eq!((fop, fip), (0x6F9, (CODE + 4) as u64));
    // SSE: unmask ZE in MXCSR, divps xmm0, xmm1 with xmm1 = 0 -> #XM
    let mut fx = default_fxsave();
    fx[24..28].copy_from_slice(&(0x1F80u32 & !0x200).to_le_bytes());
    xmm_f32(&mut fx, 0, [1.0; 4]);
    let mut c = case(&[0x0F, 0x5E, 0xC1, 0xF4]);
    c.fxsave = Some(fx);
    let o = run1(&mut r, c);
    assert_eq!((o.signal, o.trapno, o.eip), (SIGFPE, 19, CODE), "{}", brief(&o));
    assert_ne!(u32_at(&o.fxsave[..], 24) & 4, 0, "MXCSR.ZE set");
}

#[test]
fn bound_into_and_int_n() {
    let Some(mut r) = runner() else { return };
    // bound eax, [DATA] with bounds [0, 0] and eax = 5 -> #BR
    let mut c = case(&[0x62, 0x05, 0x00, 0x00, 0x02, 0x00, 0xF4]);
    c.gpr[0] = 5;
    let o = run1(&mut r, c);
    assert_eq!((o.signal, o.trapno, o.eip), (SIGSEGV, 5, CODE), "{}", brief(&o));
    // add with overflow ; into -> #OF (trap: EIP after INTO)
    let mut c = case(&[0x01, 0xC0, 0xCE, 0xF4]);
    c.gpr[0] = 0x4000_0000;
    let o = run1(&mut r, c);
    assert_eq!((o.signal, o.trapno, o.eip), (SIGSEGV, 4, CODE + 3), "{}", brief(&o));
    // int 0x21 -> #GP with error code (vector << 3) | 2
    let o = run1(&mut r, case(&[0xCD, 0x21, 0xF4]));
    assert_eq!((o.signal, o.trapno, o.err, o.eip), (SIGSEGV, 13, 0x21 * 8 + 2, CODE), "{}", brief(&o));
}

#[test]
fn system_calls_are_refused() {
    let Some(mut r) = runner() else { return };
    let before = r.restarts();
    // mov eax, 37 (kill) ; mov ebx, -1 ; mov ecx, 9 ; int 0x80 ; hlt
    let code = [0xB8, 37, 0, 0, 0, 0xBB, 0xFF, 0xFF, 0xFF, 0xFF, 0xB9, 9, 0, 0, 0, 0xCD, 0x80, 0xF4];
    let o = run1(&mut r, case(&code));
    assert_eq!((o.signal, o.eip), (SIGSYS, CODE + 17), "{}", brief(&o));
    println!("int 0x80 from a snippet: {:x?}", (o.signal, o.trapno, o.err, o.cr2, o.gpr[0]));
    // sysenter / syscall
    for insn in [[0x0F, 0x34], [0x0F, 0x05]] {
        let mut code = vec![0xB8, 20, 0, 0, 0];
        code.extend_from_slice(&insn);
        code.push(0xF4);
        let o = run1(&mut r, case(&code));
        assert_eq!(o.status, RunStatus::Completed);
        assert!(o.signal != SIGSEGV || o.trapno != 13 || o.eip != CODE + 7, "{}", brief(&o));
        println!("{insn:02x?}: {}", brief(&o));
    }
    assert_eq!(r.restarts(), before);
}

#[test]
fn push_with_unmapped_esp() {
    let Some(mut r) = runner() else { return };
    let before = r.restarts();
    for esp in [UNMAPPED + 0x1000, 0x0000_0004, 0xFFFF_FFF0, 0x9000_0800, CODE + 0x10] {
        // push eax ; hlt
        let mut c = case(&[0x50, 0xF4]);
        c.gpr[4] = esp;
        let o = run1(&mut r, c);
        assert_eq!(o.status, RunStatus::Completed);
        assert_eq!((o.signal, o.trapno, o.eip, o.gpr[4]), (SIGSEGV, 14, CODE, esp), "{}", brief(&o));
        assert_eq!(o.cr2, esp.wrapping_sub(4), "{}", brief(&o));
        assert_eq!(o.err & 2, 2, "write: err {:#x}", o.err);
    }
    let mut c = case(&[0x50, 0xF4]);
    c.gpr[0] = 0xABCD_0123;
    let o = run1(&mut r, c);
    assert_hlt(&o, CODE + 1);
    assert_eq!(u32_at(&o.regions[2], 0x1FFC), 0xABCD_0123);
    assert_eq!(r.restarts(), before);
}

#[test]
fn timeout_ends_runaway_snippet() {
    let Some(mut r) = runner() else { return };
    r.set_timeout(Duration::from_millis(200));
    let t = Instant::now();
    let out = r.run(&[case(&[0x40, 0xEB, 0xFD]), case(&[0xF4])]);
    r.set_timeout(Duration::from_secs(1));
    println!("timeout case took {:?}", t.elapsed());
    assert_eq!(out[0].status, RunStatus::TimedOut, "{}", brief(&out[0]));
    assert_eq!(out[0].signal, SIGPROF);
    assert!(out[0].eip == CODE + 1 || out[0].eip == CODE + 3, "{}", brief(&out[0]));
    assert!(out[0].gpr[0] > 0);
    assert_hlt(&out[1], CODE);
}

#[test]
fn bad_regions_are_map_failures() {
    let Some(mut r) = runner() else { return };
    let mut bad = Vec::new();
    for (addr, len) in
        [(0x1000, 4096), (0x10800, 4096), (0x7FFF_0000, 4096), (0x7FFE_F000, 8192), (0x20000, 100)]
    {
        let mut c = case(&[0xF4]);
        c.regions.push(NativeRegion { addr, prot: 3, data: vec![0; len] });
        bad.push(c);
    }
    let mut c = case(&[0xF4]);
    c.regions.push(NativeRegion::new(DATA, 3, 1, &[]));
    bad.push(c);
    bad.push(case(&[0xF4]));
    let out = r.run(&bad);
    for o in &out[..bad.len() - 1] {
        assert!(matches!(o.status, RunStatus::MapFailed(_)), "{:?}", o.status);
    }
    assert_hlt(&out[bad.len() - 1], CODE);
}

#[test]
fn runner_death_is_reported_and_survived() {
    let Some(mut r) = runner() else { return };
    // Zero the runner's own writable image (its state and stacks), then HLT: the runner
    // cannot handle the signal and dies.
    // The runner's writable image: contiguous rw mappings from the first one above 0x90000000.
    let mut maps: Vec<_> = r.info().runner_mappings.clone();
    maps.sort_by_key(|m| m.start);
    let first = maps
        .iter()
        .position(|m| m.perms.starts_with("rw") && m.start >= 0x9000_0000)
        .expect("runner rw mapping");
    let (start, mut end) = (maps[first].start, maps[first].end);
    for m in &maps[first + 1..] {
        if m.start != end || !m.perms.starts_with("rw") {
            break;
        }
        end = m.end;
    }
    // cld ; rep stosd ; hlt
    let mut killer = case(&[0xFC, 0xF3, 0xAB, 0xF4]);
    killer.gpr[0] = 0;
    killer.gpr[1] = (end - start) / 4;
    killer.gpr[7] = start;
    let mut cases = Vec::new();
    for k in 0..5u32 {
        let mut c = case(&[0x40, 0xF4]);
        c.gpr[0] = k;
        cases.push(c);
    }
    cases.insert(2, killer);
    let before = r.restarts();
    let out = r.run(&cases);
    for (k, o) in out.iter().enumerate() {
        if k == 2 {
            assert!(matches!(o.status, RunStatus::RunnerDied(_)), "{:?}", o.status);
            println!("killer case: {:?}", o.status);
        } else {
            assert_hlt(o, CODE + 1);
            assert_eq!(o.gpr[0], cases[k].gpr[0] + 1);
        }
    }
    // One restart if the runner's death notice named the case; two if it was too damaged to
    // do so and the case had to be found by re-running it alone.
    assert!(r.restarts() == before + 1 || r.restarts() == before + 2, "{}", r.restarts());
    println!("restarts: {}", r.restarts() - before);
}

fn xorshift(seed: &mut u64) -> u32 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed as u32
}

/// Runs `n` cases of `add eax, ebx ; sbb ecx, edx ; hlt` with random registers and flags in
/// one `run` call, checks every result and prints the rate.
fn batch(r: &mut NativeRunner, base: &NativeCase, n: usize, what: &str) {
    let mut seed = 0x1234_5678_9ABC_DEF0u64;
    let cases: Vec<NativeCase> = (0..n)
        .map(|_| {
            let mut c = base.clone();
            for k in [0, 1, 2, 3, 5, 6, 7] {
                c.gpr[k] = xorshift(&mut seed);
            }
            c.eflags = 0x202 | (xorshift(&mut seed) & ARITH);
            c
        })
        .collect();
    let t = Instant::now();
    let out = r.run(&cases);
    let dt = t.elapsed();
    for (c, o) in cases.iter().zip(&out) {
        assert_hlt(o, CODE + 4);
        let (s, carry) = c.gpr[0].overflowing_add(c.gpr[3]);
        let d = c.gpr[1].wrapping_sub(c.gpr[2]).wrapping_sub(carry as u32);
        assert_eq!((o.gpr[0], o.gpr[1]), (s, d));
    }
    println!(
        "{n} cases ({what}) in {dt:?}: {:.0} cases/second ({} build)",
        n as f64 / dt.as_secs_f64(),
        if cfg!(debug_assertions) { "debug" } else { "release" }
    );
}

#[test]
fn large_batch_throughput() {
    let Some(mut r) = runner() else { return };
    let before = r.restarts();
    let info = r.info();
    println!(
        "runner: system calls through the vDSO: {}, rt_sigreturn with SYSCALL: {}",
        info.vdso_syscalls, info.syscall_sigreturn
    );
    let code = [0x01, 0xD8, 0x19, 0xD1, 0xF4];
    // The simplest useful case: a code page and a stack page.
    let mut simple = case(&code);
    simple.regions = vec![
        NativeRegion::new(CODE, NativeRegion::RX, 1, &code),
        NativeRegion::new(STACK, NativeRegion::RW, 1, &[]),
    ];
    simple.gpr[4] = STACK + 0x1000;
    batch(&mut r, &simple, 50_000, "code + stack page");
    // The five pages of `case()`.
    batch(&mut r, &case(&code), 20_000, "5 pages in 4 regions");
    assert_eq!(r.restarts(), before);
}

#[test]
fn avx_state_starts_clean_in_every_case() {
    let Some(mut r) = runner() else { return };
    if !std::arch::is_x86_feature_detected!("avx") {
        println!("SKIPPED: no AVX on this CPU");
        return;
    }
    let mut fx = default_fxsave();
    xmm_f32(&mut fx, 1, [1.0, 2.0, 3.0, 4.0]);
    // vinsertf128 ymm0, ymm0, xmm1, 1 ; vextractf128 xmm2, ymm0, 1 ; movups [DATA], xmm2 ; hlt
    let mut dirty = case(&[
        0xC4, 0xE3, 0x7D, 0x18, 0xC1, 0x01, //
        0xC4, 0xE3, 0x7D, 0x19, 0xC2, 0x01, //
        0x0F, 0x11, 0x15, 0x00, 0x00, 0x02, 0x00, 0xF4,
    ]);
    dirty.fxsave = Some(fx);
    // vextractf128 xmm2, ymm0, 1 ; movups [DATA], xmm2 ; hlt
    let mut check =
        case(&[0xC4, 0xE3, 0x7D, 0x19, 0xC2, 0x01, 0x0F, 0x11, 0x15, 0x00, 0x00, 0x02, 0x00, 0xF4]);
    check.regions[1].data[..16].fill(0xEE);
    let out = r.run(&[dirty, check]);
    assert_hlt(&out[0], CODE + 19);
    assert_eq!(u32_at(&out[0].regions[1], 0), 1.0f32.to_bits(), "upper half of YMM0 was written");
    assert_hlt(&out[1], CODE + 13);
    assert_eq!(&out[1].regions[1][..16], &[0u8; 16], "YMM0 upper half starts as zero");
}

#[test]
fn prot_none_region_faults() {
    let Some(mut r) = runner() else { return };
    for fill in [false, true] {
        // mov eax, [UNMAPPED+4] ; hlt   with UNMAPPED mapped PROT_NONE
        let mut code = vec![0xA1];
        code.extend_from_slice(&(UNMAPPED + 4).to_le_bytes());
        code.push(0xF4);
        let mut c = case(&code);
        let content: &[u8] = if fill { &[1, 2, 3, 4, 5, 6, 7, 8] } else { &[] };
        c.regions.push(NativeRegion::new(UNMAPPED, 0, 1, content));
        let o = run1(&mut r, c);
        assert_eq!((o.signal, o.trapno, o.cr2, o.eip), (SIGSEGV, 14, UNMAPPED + 4, CODE), "{}", brief(&o));
        println!("read of a PROT_NONE page (populated: {fill}): err {:#x}", o.err);
        assert_eq!(
            o.regions[4][..8],
            content[..content.len().min(8)].iter().copied().chain([0u8; 8]).take(8).collect::<Vec<_>>()[..]
        );
    }
}

#[test]
fn regions_are_fresh_in_every_case() {
    let Some(mut r) = runner() else { return };
    // mov eax, [DATA+0x100] ; mov [DATA+0x100], ebx ; hlt
    let code = [0xA1, 0x00, 0x01, 0x02, 0x00, 0x89, 0x1D, 0x00, 0x01, 0x02, 0x00, 0xF4];
    let with_data = |prot: u8, pages: usize, fill: u8| {
        let mut c = case(&code);
        c.gpr[3] = 0xAAAA_AAAA;
        c.regions[1] = NativeRegion::new(DATA, prot, pages, &[]);
        c.regions[1].data[0x100..0x104].fill(fill);
        c
    };
    let mut gone = case(&code);
    gone.regions.remove(1);
    let cases = vec![
        with_data(NativeRegion::RW, 1, 0),   // reads 0, writes
        with_data(NativeRegion::RW, 1, 0),   // must read 0 again
        with_data(NativeRegion::READ, 1, 5), // reads 0x05050505, write faults
        with_data(NativeRegion::READ, 1, 5), // same content, still read-only
        with_data(NativeRegion::READ, 1, 6), // new content behind a reused r/o mapping
        with_data(NativeRegion::RW, 1, 7),   // r/o -> rw
        gone,                                // region gone: read faults
        with_data(NativeRegion::RW, 2, 8),   // different size
    ];
    let out = r.run(&cases);
    let eax: Vec<u32> = out.iter().map(|o| o.gpr[0]).collect();
    let faults: Vec<(i32, u32)> = out.iter().map(|o| (o.trapno as i32, o.cr2)).collect();
    assert_eq!(eax, [0, 0, 0x0505_0505, 0x0505_0505, 0x0606_0606, 0x0707_0707, 0, 0x0808_0808]);
    let wr = (14, DATA + 0x100);
    assert_eq!(faults, [(13, 0), (13, 0), wr, wr, wr, (13, 0), wr, (13, 0)]);
    assert_eq!(out[6].err & 1, 0, "not present");
    assert_eq!(out[2].err & 3, 3, "present, write");
    for k in [0, 1, 5, 7] {
        assert_eq!(u32_at(&out[k].regions[1], 0x100), 0xAAAA_AAAA, "case {k}");
    }
    assert_eq!(out[7].regions[1].len(), 8192);
}

#[test]
fn segment_register_changes_are_reported() {
    let Some(mut r) = runner() else { return };
    // push 0 ; pop ds ; mov eax, [DATA] ; hlt   -> #GP(0) through the null DS
    let o = run1(&mut r, case(&[0x6A, 0x00, 0x1F, 0xA1, 0x00, 0x00, 0x02, 0x00, 0xF4]));
    assert_eq!((o.signal, o.trapno, o.err, o.eip), (SIGSEGV, 13, 0, CODE + 3), "{}", brief(&o));
    assert_eq!(o.final_selectors.ds, 0);
    assert_eq!(o.selectors.ds, r.info().selectors.ds);
    // mov eax, fs ; mov ebx, gs ; mov ecx, cs ; mov edx, ss ; hlt
    let o = run1(&mut r, case(&[0x8C, 0xE0, 0x8C, 0xEB, 0x8C, 0xC9, 0x8C, 0xD2, 0xF4]));
    assert_hlt(&o, CODE + 8);
    let s = r.info().selectors;
    assert_eq!(
        [o.gpr[0], o.gpr[3], o.gpr[1], o.gpr[2]].map(|v| v & 0xFFFF),
        [s.fs, s.gs, s.cs, s.ss].map(u32::from)
    );
    // Far jump into 64-bit mode (CS 0x33), then HLT there: the runner survives.
    let mut code = vec![0xEA];
    code.extend_from_slice(&(CODE + 7).to_le_bytes());
    code.extend_from_slice(&[0x33, 0x00, 0xF4]);
    let before = r.restarts();
    let o = run1(&mut r, case(&code));
    assert_eq!(
        (o.signal, o.trapno, o.eip, o.final_selectors.cs),
        (SIGSEGV, 13, CODE + 7, 0x33),
        "{}",
        brief(&o)
    );
    assert_hlt(&run1(&mut r, case(&[0xF4])), CODE);
    assert_eq!(r.restarts(), before);
}
