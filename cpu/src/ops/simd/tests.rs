//! Behaviours the hardware suite checks only where native execution is available,
//! pinned down here so any host sees them (values measured on Zen 4).

use x86wow_fp::F80;
use x86wow_mmu::Prot;

use crate::exception::vector;
use crate::regs::gpr::{EAX, EDI, ESP};
use crate::{Cpu, Exit};

const CODE: u32 = 0x40_0000;
const DATA: u32 = 0x50_0000;
const RO: u32 = DATA + 0x1000;

fn cpu_with(code: &[u8]) -> Cpu {
    let mut cpu = Cpu::new();
    cpu.mem.map(CODE as u64, 0x1000, Prot::RX).unwrap();
    let mut bytes = code.to_vec();
    bytes.push(0xf4);
    cpu.mem.poke(CODE as u64, &bytes).unwrap();
    cpu.mem.map(DATA as u64, 0x1000, Prot::RW).unwrap();
    cpu.mem.map(RO as u64, 0x1000, Prot::R).unwrap();
    cpu.eip = CODE;
    cpu.gpr[ESP] = DATA + 0x800;
    cpu
}

/// Runs one instruction: `None` when it completed, else the vector it raised (EIP must
/// then still be at it).
fn step(cpu: &mut Cpu) -> Option<u8> {
    match cpu.step() {
        Exit::BudgetExhausted => None,
        Exit::Exception { exception, eip } => {
            assert_eq!(eip, CODE);
            assert_eq!(cpu.eip, CODE);
            Some(exception.vector)
        }
        other => panic!("{other:?}"),
    }
}

const MOVAPS_LOAD: &[u8] = &[0x0f, 0x28, 0x00]; // movaps xmm0, [eax]
const ADDPS_LOAD: &[u8] = &[0x0f, 0x58, 0x00]; // addps xmm0, [eax]
const MOVUPS_LOAD: &[u8] = &[0x0f, 0x10, 0x00]; // movups xmm0, [eax]
const AC: u32 = 1 << 18;

#[test]
fn alignment_classes() {
    let run = |code: &[u8], addr: u32, mm: bool, ac: bool| {
        let mut cpu = cpu_with(code);
        cpu.gpr[EAX] = addr;
        if mm {
            cpu.simd.mxcsr |= super::MXCSR_MM;
        }
        if ac {
            cpu.set_eflags(cpu.eflags() | AC);
        }
        step(&mut cpu)
    };
    let gp = Some(vector::GP);
    let ac = Some(vector::AC);
    // MOVAPS: #GP whatever MM and AC say; aligned is fine.
    assert_eq!(run(MOVAPS_LOAD, DATA + 8, true, true), gp);
    assert_eq!(run(MOVAPS_LOAD, DATA + 16, false, true), None);
    // Legacy 16-byte operand: #GP unless MM, then #AC under alignment checking.
    assert_eq!(run(ADDPS_LOAD, DATA + 8, false, true), gp);
    assert_eq!(run(ADDPS_LOAD, DATA + 8, true, false), None);
    assert_eq!(run(ADDPS_LOAD, DATA + 8, true, true), ac);
    // MOVUPS: never #GP; #AC with a 16-byte granule.
    assert_eq!(run(MOVUPS_LOAD, DATA + 8, false, false), None);
    assert_eq!(run(MOVUPS_LOAD, DATA + 8, false, true), ac);
    // MOVSS m32: #AC at its natural size.
    assert_eq!(run(&[0xf3, 0x0f, 0x10, 0x00], DATA + 4, false, true), None);
    assert_eq!(run(&[0xf3, 0x0f, 0x10, 0x00], DATA + 2, false, true), ac);
}

#[test]
fn low_unpack_loads_only_eight_bytes() {
    // punpcklbw xmm0, [eax] with the upper half of the operand unmapped (MM set).
    let mut cpu = cpu_with(&[0x66, 0x0f, 0x60, 0x00]);
    cpu.gpr[EAX] = RO + 0x1000 - 8;
    cpu.simd.mxcsr |= super::MXCSR_MM;
    assert_eq!(step(&mut cpu), None);
    // A full m128 load faults there.
    let mut cpu = cpu_with(MOVUPS_LOAD);
    cpu.gpr[EAX] = RO + 0x1000 - 8;
    assert_eq!(step(&mut cpu), Some(vector::PF));
}

#[test]
fn mmx_writes_alias_the_x87_registers() {
    // movd mm1, eax with TOP = 5 and some registers empty.
    let mut cpu = cpu_with(&[0x0f, 0x6e, 0xc8]);
    cpu.fpu.top = 5;
    cpu.fpu.empty = 0x0f;
    cpu.gpr[EAX] = 0x1234_5678;
    assert_eq!(step(&mut cpu), None);
    assert_eq!(cpu.fpu.regs[1], F80::new(0xffff, 0x1234_5678));
    assert_eq!((cpu.fpu.top, cpu.fpu.empty), (0, 0));
}

#[test]
fn emms_and_pending_x87_exceptions() {
    let mut cpu = cpu_with(&[0x0f, 0x77]);
    cpu.fpu.top = 3;
    cpu.fpu.empty = 0;
    assert_eq!(step(&mut cpu), None);
    assert_eq!((cpu.fpu.top, cpu.fpu.empty), (0, 0xff));
    // With an unmasked exception pending: #MF, nothing changed.
    for code in [&[0x0f, 0x77][..], &[0x0f, 0x6e, 0xc8]] {
        let mut cpu = cpu_with(code);
        cpu.fpu.fcw = 0x037e;
        cpu.fpu.fsw = 0x8081;
        cpu.fpu.top = 3;
        assert_eq!(step(&mut cpu), Some(vector::MF));
        assert_eq!((cpu.fpu.top, cpu.fpu.empty), (3, 0xff));
    }
    // SSE instructions ignore it.
    let mut cpu = cpu_with(&[0x0f, 0x58, 0xc1]);
    cpu.fpu.fsw = 0x8081;
    assert_eq!(step(&mut cpu), None);
}

#[test]
fn ldmxcsr_reserved_bits() {
    for (v, want) in [(0x1f80 | super::MXCSR_MM, None), (0x1_1f80, Some(vector::GP))] {
        let mut cpu = cpu_with(&[0x0f, 0xae, 0x10]); // ldmxcsr [eax]
        cpu.gpr[EAX] = DATA;
        cpu.mem.poke(DATA as u64, &u32::to_le_bytes(v)).unwrap();
        assert_eq!(step(&mut cpu), want);
        assert_eq!(cpu.simd.mxcsr, if want.is_none() { v } else { 0x1f80 });
    }
}

#[test]
fn unmasked_exception_raises_xm_and_keeps_the_destination() {
    // addss xmm0, xmm1: FLT_MAX + FLT_MAX overflows, OE unmasked.
    let mut cpu = cpu_with(&[0xf3, 0x0f, 0x58, 0xc1]);
    cpu.simd.xmm[0] = 0x7f7f_ffff;
    cpu.simd.xmm[1] = 0x7f7f_ffff;
    cpu.simd.mxcsr = 0x1b80;
    assert_eq!(step(&mut cpu), Some(vector::XM));
    assert_eq!(cpu.simd.xmm[0], 0x7f7f_ffff);
    assert_eq!(cpu.simd.mxcsr, 0x1b88);
    // Masked: infinity with OE and PE.
    let mut cpu = cpu_with(&[0xf3, 0x0f, 0x58, 0xc1]);
    cpu.simd.xmm[0] = 0x7f7f_ffff;
    cpu.simd.xmm[1] = 0x7f7f_ffff;
    assert_eq!(step(&mut cpu), None);
    assert_eq!(cpu.simd.xmm[0], 0x7f80_0000);
    assert_eq!(cpu.simd.mxcsr, 0x1fa8);
}

#[test]
fn maskmovdqu_probes_the_whole_destination() {
    // maskmovdqu xmm0, xmm1 with an all-zero mask into the read-only page: #PF.
    let mut cpu = cpu_with(&[0x66, 0x0f, 0xf7, 0xc1]);
    cpu.gpr[EDI] = RO;
    assert_eq!(step(&mut cpu), Some(vector::PF));
    // Selected bytes only.
    let mut cpu = cpu_with(&[0x66, 0x0f, 0xf7, 0xc1]);
    cpu.gpr[EDI] = DATA;
    cpu.simd.xmm[0] = 0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100;
    cpu.simd.xmm[1] = 0x80 << 72;
    cpu.mem.poke(DATA as u64, &[0xaa; 16]).unwrap();
    assert_eq!(step(&mut cpu), None);
    let mut got = [0u8; 16];
    cpu.mem.peek(DATA as u64, &mut got).unwrap();
    let mut want = [0xaa; 16];
    want[9] = 9;
    assert_eq!(got, want);
}
