//! Data movement: MOVD/MOVQ, the aligned, unaligned and non-temporal full moves,
//! MOVSS/MOVSD, the half moves (MOVLPS, MOVHPS, MOVHLPS, ...), the duplicating moves,
//! MOVQ2DQ/MOVDQ2Q, the sign-mask extractions and the byte-masked stores.

use iced_x86::{Code, Instruction, Mnemonic, OpKind};

use super::{enter, lane, read_op, reg_value, touches_mm, vmask, write_op};
use crate::cpu::{Cpu, Step};
use crate::table::Table;

/// Bytes a plain move transfers: the memory size, or 8 for the register-only
/// MOVQ2DQ/MOVDQ2Q.
fn transfer(ins: &Instruction) -> usize {
    match ins.memory_size().size() {
        0 => 8,
        n => n,
    }
}

/// Moves the transfer width, zero-extending into a wider register destination: MOVD,
/// MOVQ, MOVAPS/MOVUPS/MOVDQA/..., MOVNTx, LDDQU, MOVQ2DQ, MOVDQ2Q.
fn mov_zx(cpu: &mut Cpu, ins: &Instruction) -> Step {
    enter(cpu, ins)?;
    let v = read_op(cpu, ins, 1)? & vmask(transfer(ins));
    write_op(cpu, ins, 0, v)
}

/// MOVSS/MOVSD/MOVLPS/MOVLPD (and the stores of MOVHPS/MOVHPD): a load from memory into
/// a register zero-extends for MOVSS/MOVSD and merges otherwise; register to register
/// merges the low element; a store writes the element.
fn mov_low(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let n = transfer(ins);
    let high = matches!(ins.mnemonic(), Mnemonic::Movhps | Mnemonic::Movhpd);
    let mut v = read_op(cpu, ins, 1)?;
    if ins.op_kind(0) == OpKind::Memory {
        if high {
            v >>= 64;
        }
        return write_op(cpu, ins, 0, v);
    }
    let dst = reg_value(cpu, ins.op_register(0));
    let scalar = matches!(ins.mnemonic(), Mnemonic::Movss | Mnemonic::Movsd);
    let r = if high {
        (dst & vmask(8)) | v << 64
    } else if scalar && ins.op_kind(1) == OpKind::Memory {
        v & vmask(n)
    } else {
        (dst & !vmask(n)) | (v & vmask(n))
    };
    write_op(cpu, ins, 0, r)
}

/// MOVHLPS (dst.low = src.high) and MOVLHPS (dst.high = src.low).
fn movhl_lh(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let s = read_op(cpu, ins, 1)?;
    let d = reg_value(cpu, ins.op_register(0));
    let r = if ins.mnemonic() == Mnemonic::Movhlps {
        (d & !vmask(8)) | s >> 64
    } else {
        (d & vmask(8)) | s << 64
    };
    write_op(cpu, ins, 0, r)
}

/// MOVSLDUP, MOVSHDUP, MOVDDUP.
fn movdup(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let s = read_op(cpu, ins, 1)?;
    let r = match ins.mnemonic() {
        Mnemonic::Movsldup => super::build(4, 32, |i| lane(s, 32, i & !1)),
        Mnemonic::Movshdup => super::build(4, 32, |i| lane(s, 32, i | 1)),
        _ => super::build(2, 64, |_| lane(s, 64, 0)),
    };
    write_op(cpu, ins, 0, r)
}

/// MOVMSKPS, MOVMSKPD, PMOVMSKB: the sign bits of the lanes into a general register.
fn movmsk(cpu: &mut Cpu, ins: &Instruction) -> Step {
    enter(cpu, ins)?;
    let s = reg_value(cpu, ins.op_register(1));
    let bits = match ins.mnemonic() {
        Mnemonic::Movmskps => 32,
        Mnemonic::Movmskpd => 64,
        _ => 8,
    };
    let w = if super::is_mm(ins.op_register(1)) { 8 } else { 16 };
    let n = w * 8 / bits as usize;
    let m = (0..n).fold(0u128, |acc, i| acc | ((lane(s, bits, i) >> (bits - 1)) as u128) << i);
    write_op(cpu, ins, 0, m)
}

/// MASKMOVQ / MASKMOVDQU: stores the bytes of the first register whose mask byte (second
/// register) has its top bit set, at DS:EDI (segment override allowed). Measured: the
/// whole 8/16-byte destination is checked for writing first (a fault is raised even
/// with an all-zero mask), and alignment checking uses an 8-byte granule for both.
fn maskmov(cpu: &mut Cpu, ins: &Instruction) -> Step {
    enter(cpu, ins)?;
    let w = if super::is_mm(ins.op_register(1)) { 8 } else { 16 };
    let seg = cpu.memory_seg(ins);
    let off = match ins.op_kind(0) {
        OpKind::MemorySegDI => cpu.gpr[crate::regs::gpr::EDI] & 0xffff,
        _ => cpu.gpr[crate::regs::gpr::EDI],
    };
    let data = reg_value(cpu, ins.op_register(1));
    let mask = reg_value(cpu, ins.op_register(2));
    // Measured: MASKMOVQ makes the x87 transition even when the store faults.
    if touches_mm(ins) {
        super::mmx_transition(cpu);
    }
    cpu.probe_write(seg, off, w as u32, 8)?;
    for i in 0..w {
        if lane(mask, 8, i) & 0x80 != 0 {
            cpu.write_mem_aligned(seg, off.wrapping_add(i as u32), 1, [lane(data, 8, i) as u8])?;
        }
    }
    Ok(())
}

pub fn register(t: &mut Table) {
    use Mnemonic as M;
    t.mnemonics(
        &[
            M::Movd,
            M::Movq,
            M::Movaps,
            M::Movapd,
            M::Movups,
            M::Movupd,
            M::Movdqa,
            M::Movdqu,
            M::Lddqu,
            M::Movntps,
            M::Movntpd,
            M::Movntdq,
            M::Movntdqa,
            M::Movntq,
            M::Movq2dq,
            M::Movdq2q,
        ],
        mov_zx,
    );
    t.mnemonics(&[M::Movss, M::Movlps, M::Movlpd, M::Movhps, M::Movhpd], mov_low);
    for c in [Code::Movsd_xmm_xmmm64, Code::Movsd_xmmm64_xmm] {
        t.code(c, mov_low);
    }
    t.mnemonics(&[M::Movhlps, M::Movlhps], movhl_lh);
    t.mnemonics(&[M::Movsldup, M::Movshdup, M::Movddup], movdup);
    t.mnemonics(&[M::Movmskps, M::Movmskpd, M::Pmovmskb], movmsk);
    t.mnemonics(&[M::Maskmovq, M::Maskmovdqu], maskmov);
}
