//! MMX, SSE through SSE4.2, AES-NI and PCLMULQDQ (legacy encodings).
//!
//! The shapes repeat, so the handlers are few and generic: an instruction reads its
//! operands as `u128` values ([`read_op`]: an MMX register gives its 64-bit
//! significand, an XMM register all 128 bits, a general register 32 bits and memory
//! the instruction's memory size, zero-extended), computes, and writes back through
//! [`write_op`]. The packed-integer helpers take the vector width in bytes (8 for MMX,
//! 16 for XMM), so one implementation serves both register files.
//!
//! Behaviour measured on this project's AMD Zen 4 (see `cpu/UNDEFINED.md`):
//!
//! * Alignment of 16-byte memory operands ([`Align`]): MOVAPS/MOVAPD/MOVDQA and the
//!   non-temporal MOVNTPS/MOVNTPD/MOVNTDQ/MOVNTDQA always raise #GP(0) when misaligned;
//!   the other legacy-SSE 16-byte operands raise #GP(0) unless MXCSR.MM (AMD's
//!   misaligned SSE mode, bit 17, settable here: MXCSR_MASK is 0x2FFFF) is set, and
//!   then #AC when alignment checking is on; MOVUPS/MOVUPD/MOVDQU/LDDQU and PCMPxSTRx
//!   never #GP but raise #AC for any address that is not 16-byte aligned. Smaller
//!   operands are checked for #AC at their natural size.
//! * An instruction naming an MMX register raises #MF while an x87 exception is pending
//!   (FSW.ES), and when it completes sets TOP to 0 and every tag valid; an MMX register
//!   write stores the value in the significand and 0xFFFF in the sign/exponent. A
//!   faulting instruction changes none of that. CVTPI2PS/CVTPI2PD with a memory source
//!   neither check nor transition. EMMS empties every tag and also sets TOP to 0.

use iced_x86::{Instruction, Mnemonic, OpKind, Register};
use x86wow_fp::F80;

use crate::cpu::{Cpu, Step, Stop};
use crate::exception::{vector, Exception};
use crate::table::Table;

mod convert;
mod crypto;
mod fp;
mod int;
mod mov;
mod mxcsr;
mod shuffle;
mod string;

pub fn register(t: &mut Table) {
    convert::register(t);
    crypto::register(t);
    fp::register(t);
    int::register(t);
    mov::register(t);
    mxcsr::register(t);
    shuffle::register(t);
    string::register(t);
}

/// MXCSR.MM: AMD's misaligned SSE mode.
pub(crate) const MXCSR_MM: u32 = 1 << 17;

#[inline]
pub(crate) fn is_mm(r: Register) -> bool {
    (Register::MM0 as u32..=Register::MM7 as u32).contains(&(r as u32))
}

#[inline]
pub(crate) fn is_xmm(r: Register) -> bool {
    (Register::XMM0 as u32..=Register::XMM7 as u32).contains(&(r as u32))
}

#[inline]
pub(crate) fn mm_index(r: Register) -> usize {
    r as usize - Register::MM0 as usize
}

#[inline]
pub(crate) fn xmm_index(r: Register) -> usize {
    r as usize - Register::XMM0 as usize
}

/// Whether the instruction names an MMX register (and so is an MMX instruction for the
/// x87 state: #MF check and transition).
#[inline]
pub(crate) fn touches_mm(ins: &Instruction) -> bool {
    (0..ins.op_count()).any(|i| ins.op_kind(i) == OpKind::Register && is_mm(ins.op_register(i)))
}

/// Width in bytes of the vector registers an instruction works on: 8 when its first
/// operand is an MMX register, 16 otherwise.
#[inline]
pub(crate) fn width(ins: &Instruction) -> usize {
    if ins.op_kind(0) == OpKind::Register && is_mm(ins.op_register(0)) {
        8
    } else {
        16
    }
}

/// The checks an instruction makes before anything else: #MF for a pending x87
/// exception when it names an MMX register.
#[inline]
pub(crate) fn enter(cpu: &Cpu, ins: &Instruction) -> Step {
    if cpu.fpu.fsw & 0x80 != 0 && touches_mm(ins) {
        return Err(Stop::Exc(Exception::new(vector::MF)));
    }
    Ok(())
}

/// The x87 side of an MMX instruction: TOP = 0 and every register valid.
#[inline]
pub(crate) fn mmx_transition(cpu: &mut Cpu) {
    cpu.fpu.top = 0;
    cpu.fpu.empty = 0;
}

#[inline]
pub(crate) fn read_mm(cpu: &Cpu, i: usize) -> u64 {
    cpu.fpu.regs[i].signif
}

/// Writes MMX register `i`: the significand of physical register `i`, with the
/// sign/exponent field set to all ones.
#[inline]
pub(crate) fn write_mm(cpu: &mut Cpu, i: usize, v: u64) {
    cpu.fpu.regs[i] = F80::new(0xffff, v);
}

/// How a memory operand's alignment is checked (measured; see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    /// #AC (with alignment checking on) at the operand's natural size.
    Natural,
    /// 16-byte legacy SSE operand: #GP(0) when misaligned unless MXCSR.MM, else #AC.
    Legacy16,
    /// Always #GP(0) when misaligned (MOVAPS, MOVNTDQ...).
    Strict16,
    /// Never #GP; #AC for a misaligned address (MOVUPS, LDDQU, PCMPxSTRx...).
    Any16,
}

pub(crate) fn align_class(ins: &Instruction) -> Align {
    use Mnemonic as M;
    match ins.mnemonic() {
        M::Movaps | M::Movapd | M::Movdqa | M::Movntps | M::Movntpd | M::Movntdq | M::Movntdqa => {
            Align::Strict16
        }
        M::Movups
        | M::Movupd
        | M::Movdqu
        | M::Lddqu
        | M::Pcmpestri
        | M::Pcmpestrm
        | M::Pcmpistri
        | M::Pcmpistrm => Align::Any16,
        _ if ins.memory_size().size() == 16 => Align::Legacy16,
        _ => Align::Natural,
    }
}

/// Segment, offset and #AC granule of the memory operand, after the SSE alignment
/// checks that raise #GP(0).
pub(crate) fn mem_check(cpu: &Cpu, ins: &Instruction, size: usize) -> Result<(usize, u32, u32), Stop> {
    let seg = cpu.memory_seg(ins);
    let off = cpu.effective_address(ins);
    let lin = cpu.seg[seg].base.wrapping_add(off);
    let granule = match align_class(ins) {
        Align::Strict16 if lin & 15 != 0 => return Err(Stop::Exc(Exception::gp(0))),
        Align::Legacy16 if lin & 15 != 0 && cpu.simd.mxcsr & MXCSR_MM == 0 => {
            return Err(Stop::Exc(Exception::gp(0)))
        }
        Align::Natural => size as u32,
        _ => 16,
    };
    Ok((seg, off, granule))
}

/// Reads `size` bytes (1, 2, 4, 8 or 16) of the memory operand, zero-extended.
pub(crate) fn read_mem_n(cpu: &mut Cpu, ins: &Instruction, size: usize) -> Result<u128, Stop> {
    let (seg, off, g) = mem_check(cpu, ins, size)?;
    Ok(match size {
        1 => cpu.read_mem_aligned::<1>(seg, off, g)?[0] as u128,
        2 => u16::from_le_bytes(cpu.read_mem_aligned(seg, off, g)?) as u128,
        4 => u32::from_le_bytes(cpu.read_mem_aligned(seg, off, g)?) as u128,
        8 => u64::from_le_bytes(cpu.read_mem_aligned(seg, off, g)?) as u128,
        _ => u128::from_le_bytes(cpu.read_mem_aligned(seg, off, g)?),
    })
}

/// Writes the low `size` bytes of `v` to the memory operand.
pub(crate) fn write_mem_n(cpu: &mut Cpu, ins: &Instruction, size: usize, v: u128) -> Step {
    let (seg, off, g) = mem_check(cpu, ins, size)?;
    match size {
        1 => cpu.write_mem_aligned(seg, off, g, [v as u8]),
        2 => cpu.write_mem_aligned(seg, off, g, (v as u16).to_le_bytes()),
        4 => cpu.write_mem_aligned(seg, off, g, (v as u32).to_le_bytes()),
        8 => cpu.write_mem_aligned(seg, off, g, (v as u64).to_le_bytes()),
        _ => cpu.write_mem_aligned(seg, off, g, v.to_le_bytes()),
    }
}

/// The value of a register operand: XMM (128 bits), MMX (64) or general (32).
#[inline]
pub(crate) fn reg_value(cpu: &Cpu, r: Register) -> u128 {
    if is_xmm(r) {
        cpu.simd.xmm[xmm_index(r)]
    } else if is_mm(r) {
        read_mm(cpu, mm_index(r)) as u128
    } else {
        cpu.read_reg(r) as u128
    }
}

/// Reads operand `op`: a register, memory of the instruction's memory size
/// (zero-extended) or an immediate.
#[inline]
pub(crate) fn read_op(cpu: &mut Cpu, ins: &Instruction, op: u32) -> Result<u128, Stop> {
    match ins.op_kind(op) {
        OpKind::Register => Ok(reg_value(cpu, ins.op_register(op))),
        OpKind::Memory => read_mem_n(cpu, ins, ins.memory_size().size()),
        _ => Ok(ins.immediate(op) as u128),
    }
}

/// Writes operand `op` (an XMM register takes all 128 bits, an MMX register the low 64,
/// a general register the low 32, memory the memory size), then makes the MMX
/// transition when the instruction names an MMX register.
#[inline]
pub(crate) fn write_op(cpu: &mut Cpu, ins: &Instruction, op: u32, v: u128) -> Step {
    match ins.op_kind(op) {
        OpKind::Register => {
            let r = ins.op_register(op);
            if is_xmm(r) {
                cpu.simd.xmm[xmm_index(r)] = v;
            } else if is_mm(r) {
                write_mm(cpu, mm_index(r), v as u64);
            } else {
                cpu.write_reg(r, v as u32);
            }
        }
        _ => write_mem_n(cpu, ins, ins.memory_size().size(), v)?,
    }
    if touches_mm(ins) {
        mmx_transition(cpu);
    }
    Ok(())
}

/// Mask of the low `bytes` bytes of a vector.
#[inline]
pub(crate) fn vmask(bytes: usize) -> u128 {
    if bytes >= 16 {
        u128::MAX
    } else {
        (1u128 << (8 * bytes)) - 1
    }
}

/// Lane `i` of `bits` width.
#[inline]
pub(crate) fn lane(v: u128, bits: u32, i: usize) -> u64 {
    let x = (v >> (bits as usize * i)) as u64;
    if bits == 64 {
        x
    } else {
        x & ((1u64 << bits) - 1)
    }
}

/// Sign-extends a `bits`-wide lane.
#[inline]
pub(crate) fn sext(v: u64, bits: u32) -> i64 {
    ((v << (64 - bits)) as i64) >> (64 - bits)
}

/// Builds a vector of `n` lanes of `bits` width from `f(i)` (truncated to the lane).
#[inline]
pub(crate) fn build(n: usize, bits: u32, mut f: impl FnMut(usize) -> u64) -> u128 {
    let m = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    (0..n).fold(0u128, |acc, i| acc | ((f(i) & m) as u128) << (bits as usize * i))
}

#[cfg(test)]
mod tests;
