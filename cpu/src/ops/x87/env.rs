//! The environment and state images: FLDENV/FNSTENV (14 and 28 bytes), FRSTOR/FNSAVE
//! (94 and 108 bytes) and FXSAVE/FXRSTOR (512 bytes).
//!
//! Layouts as this processor writes them in 32-bit protected mode:
//!
//! * 28-byte environment: FCW, FSW, the full tag word (recomputed from the register
//!   contents), each in a dword whose upper half reads 0xFFFF; FIP; FCS in bits 0..15
//!   with FOP in bits 16..26 (bits 27..31 zero); FDP; FDS with an upper half of 0xFFFF.
//! * 14-byte environment (operand-size prefix): FCW, FSW, tag word, FIP[15:0], FCS,
//!   FDP[15:0], FDS; loading it zero-extends FIP/FDP and clears FOP.
//! * FNSAVE/FRSTOR: the environment followed by ST(0)..ST(7), 10 bytes each.
//! * FXSAVE writes only bytes 0..287 (the XMM8-15 area and beyond are left alone) but
//!   checks all 512; FOP/FIP/FCS/FDP/FDS are stored only while ES is set (zeros
//!   otherwise); MXCSR_MASK reads 0x0002FFFF (bit 17 is AMD's misaligned-SSE mask).
//!   FXRSTOR loads the pointers whatever ES says.
//!
//! Accesses of these structures are checked first at their first field (4 bytes, or 2
//! for the 16-bit layouts: a fault there is reported as for any operand, at the first
//! byte of the bad page) and then at their last byte: a structure whose first field
//! fits in a good page but which runs into a bad one reports its *last* byte as the
//! faulting address (CR2). Alignment checking (EFLAGS.AC) wants 4 bytes for the 32-bit
//! forms and 2 for the 16-bit ones. FXSAVE/FXRSTOR check their alignment before
//! anything else (a CS override included): #AC (with EFLAGS.AC) when not 4-byte
//! aligned, otherwise #GP(0) when not 16-byte aligned; then their last byte, then the
//! first (a 512-byte area entirely in a bad page reports its last byte).
//!
//! FLDENV and FRSTOR are waiting instructions (#MF first); FNSTENV, FNSAVE, FXSAVE and
//! FXRSTOR are not.

use iced_x86::{Instruction, MemorySize, Mnemonic};
use x86wow_fp::F80;
use x86wow_mmu::Access;

use super::control::init;
use super::{check_pending, mem_operand, normalize_fcw, sync_es, ES};
use crate::cpu::{Cpu, Step, Stop};
use crate::exception::Exception;
use crate::fpu::X87;
use crate::table::Table;

pub(super) fn register(t: &mut Table) {
    use Mnemonic as M;
    t.mnemonic(M::Fldenv, fldenv);
    t.mnemonic(M::Fnstenv, fnstenv);
    t.mnemonic(M::Frstor, frstor);
    t.mnemonic(M::Fnsave, fnsave);
    t.mnemonic(M::Fxsave, fxsave);
    t.mnemonic(M::Fxrstor, fxrstor);
}

/// Checks a structure access as the hardware does: its first field (`align` bytes, a
/// fault inside it reported like any operand's), then its last byte (a fault there
/// reports that byte), then the lot.
fn probe(cpu: &mut Cpu, seg: usize, off: u32, len: u32, align: u32, write: bool) -> Result<(), Stop> {
    let lin = cpu.linear(seg, off, len, align, write)?;
    let access = if write { Access::Write } else { Access::Read };
    cpu.mem.check(lin as u64, align as usize, access)?;
    cpu.mem.check(lin.wrapping_add(len - 1) as u64, 1, access)?;
    cpu.mem.check(lin as u64, len as usize, access)?;
    Ok(())
}

/// Whether the instruction uses the 16-bit (14/94-byte) layouts.
fn is16(ins: &Instruction) -> bool {
    matches!(ins.memory_size(), MemorySize::FpuEnv14 | MemorySize::FpuState94)
}

/// The environment image: 28 bytes (or the first 14 in the 16-bit layout).
fn env_image(x: &X87, wide: bool) -> ([u8; 28], usize) {
    let mut b = [0u8; 28];
    if wide {
        let d = [
            x.fcw as u32 | 0xffff_0000,
            x.status() as u32 | 0xffff_0000,
            x.full_tag() as u32 | 0xffff_0000,
            x.fip,
            x.fcs as u32 | ((x.fop as u32 & 0x7ff) << 16),
            x.fdp,
            x.fds as u32 | 0xffff_0000,
        ];
        for (i, v) in d.iter().enumerate() {
            b[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
        (b, 28)
    } else {
        let w = [x.fcw, x.status(), x.full_tag(), x.fip as u16, x.fcs, x.fdp as u16, x.fds];
        for (i, v) in w.iter().enumerate() {
            b[2 * i..2 * i + 2].copy_from_slice(&v.to_le_bytes());
        }
        (b, 14)
    }
}

/// Loads an environment image (ES and B recomputed).
fn load_env(x: &mut X87, b: &[u8], wide: bool) {
    let w = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let d = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    if wide {
        x.fcw = normalize_fcw(w(0));
        x.set_status(w(4));
        x.set_full_tag(w(8));
        x.fip = d(12);
        x.fcs = w(16);
        x.fop = w(18) & 0x7ff;
        x.fdp = d(20);
        x.fds = w(24);
    } else {
        x.fcw = normalize_fcw(w(0));
        x.set_status(w(2));
        x.set_full_tag(w(4));
        x.fip = w(6) as u32;
        x.fcs = w(8);
        x.fop = 0;
        x.fdp = w(10) as u32;
        x.fds = w(12);
    }
    sync_es(x);
}

fn fnstenv(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let (seg, off) = mem_operand(cpu, ins);
    let wide = !is16(ins);
    let (img, n) = env_image(&cpu.fpu, wide);
    if wide {
        probe(cpu, seg, off, 28, 4, true)?;
        cpu.write_mem_aligned(seg, off, 4, img)?;
    } else {
        probe(cpu, seg, off, 14, 2, true)?;
        let mut b = [0u8; 14];
        b.copy_from_slice(&img[..n]);
        cpu.write_mem_aligned(seg, off, 2, b)?;
    }
    // FNSTENV then masks every exception.
    cpu.fpu.fcw |= 0x3f;
    sync_es(&mut cpu.fpu);
    Ok(())
}

fn fldenv(cpu: &mut Cpu, ins: &Instruction) -> Step {
    check_pending(cpu)?;
    let (seg, off) = mem_operand(cpu, ins);
    if is16(ins) {
        probe(cpu, seg, off, 14, 2, false)?;
        let b: [u8; 14] = cpu.read_mem_aligned(seg, off, 2)?;
        load_env(&mut cpu.fpu, &b, false);
    } else {
        probe(cpu, seg, off, 28, 4, false)?;
        let b: [u8; 28] = cpu.read_mem_aligned(seg, off, 4)?;
        load_env(&mut cpu.fpu, &b, true);
    }
    Ok(())
}

fn fnsave(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let (seg, off) = mem_operand(cpu, ins);
    let wide = !is16(ins);
    let (img, n) = env_image(&cpu.fpu, wide);
    let mut b = [0u8; 108];
    b[..n].copy_from_slice(&img[..n]);
    for i in 0..8u8 {
        b[n + 10 * i as usize..][..10].copy_from_slice(&cpu.fpu.st(i).to_le_bytes());
    }
    if wide {
        probe(cpu, seg, off, 108, 4, true)?;
        cpu.write_mem_aligned(seg, off, 4, b)?;
    } else {
        probe(cpu, seg, off, 94, 2, true)?;
        let mut s = [0u8; 94];
        s.copy_from_slice(&b[..94]);
        cpu.write_mem_aligned(seg, off, 2, s)?;
    }
    init(&mut cpu.fpu);
    Ok(())
}

fn frstor(cpu: &mut Cpu, ins: &Instruction) -> Step {
    check_pending(cpu)?;
    let (seg, off) = mem_operand(cpu, ins);
    let wide = !is16(ins);
    let mut b = [0u8; 108];
    let n = if wide {
        probe(cpu, seg, off, 108, 4, false)?;
        b = cpu.read_mem_aligned(seg, off, 4)?;
        28
    } else {
        probe(cpu, seg, off, 94, 2, false)?;
        let s: [u8; 94] = cpu.read_mem_aligned(seg, off, 2)?;
        b[..94].copy_from_slice(&s);
        14
    };
    let x = &mut cpu.fpu;
    load_env(x, &b[..n], wide);
    for i in 0..8u8 {
        let v = F80::from_le_bytes(b[n + 10 * i as usize..][..10].try_into().expect("10 bytes"));
        let p = x.phys(i);
        x.regs[p] = v;
    }
    Ok(())
}

/// The FXSAVE/FXRSTOR operand. Alignment comes first (before the segment checks, so
/// even a CS override): with EFLAGS.AC, #AC unless 4-byte aligned; then #GP(0) unless
/// 16-byte aligned. Then the last byte is checked, then the first.
fn fx_operand(cpu: &mut Cpu, ins: &Instruction, write: bool) -> Result<(usize, u32), Stop> {
    let (seg, off) = mem_operand(cpu, ins);
    let lin = cpu.seg[seg].base.wrapping_add(off);
    if lin & 3 != 0 && cpu.flags.ac() && cpu.config.alignment_mask {
        return Err(Exception::ac().into());
    }
    if lin & 15 != 0 {
        return Err(Exception::gp(0).into());
    }
    let lin = cpu.linear(seg, off, 512, 16, write)?;
    let access = if write { Access::Write } else { Access::Read };
    cpu.mem.check(lin.wrapping_add(511) as u64, 1, access)?;
    cpu.mem.check(lin as u64, 512, access)?;
    Ok((seg, off))
}

fn fxsave(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let (seg, off) = fx_operand(cpu, ins, true)?;
    let full = crate::fpu::fxsave(&cpu.fpu, &cpu.simd);
    let mut b = [0u8; 288];
    b.copy_from_slice(&full[..288]);
    if cpu.fpu.fsw & ES == 0 {
        // No exception pending: the pointers and the opcode are not saved.
        b[6..24].fill(0);
    }
    cpu.write_mem_aligned(seg, off, 16, b)
}

fn fxrstor(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let (seg, off) = fx_operand(cpu, ins, false)?;
    let b: [u8; 512] = cpu.read_mem_aligned(seg, off, 16)?;
    let (mut x, mut s) = (cpu.fpu, cpu.simd);
    if crate::fpu::fxrstor(&b, &mut x, &mut s).is_err() {
        // Reserved MXCSR bits.
        return Err(Exception::gp(0).into());
    }
    x.fcw = normalize_fcw(x.fcw);
    sync_es(&mut x);
    cpu.fpu = x;
    cpu.simd = s;
    Ok(())
}
