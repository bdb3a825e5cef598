//! Segment registers: MOV to and from Sreg, LDS/LES/LFS/LGS/LSS, ARPL, LAR, LSL, VERR,
//! VERW, and the selector-load checks they share with POP Sreg.
//!
//! The model is flat: every descriptor spans 4 GiB, and only FS/GS bases differ. Loads
//! check the selector against [`crate::regs::DescriptorTable`] the way a user-mode load
//! does: a null selector is accepted for DS/ES/FS/GS (later accesses through it are
//! #GP(0)), rejected for SS; a selector without a usable descriptor is #GP(selector).

use iced_x86::{Code, Instruction, Mnemonic, OpKind};

use crate::cpu::{Cpu, Step};
use crate::exception::Exception;
use crate::flags::{bits, Size};
use crate::operand::op_size;
use crate::regs::{sreg, sreg_index, DescKind, Segment};
use crate::table::Table;

/// Loads segment register `s` with `selector` (user-mode rules; see the module docs).
pub fn load(cpu: &mut Cpu, s: usize, selector: u16) -> Result<(), Exception> {
    if s == sreg::CS {
        return Err(Exception::ud());
    }
    if selector & !3 == 0 {
        if s == sreg::SS {
            return Err(Exception::gp(0));
        }
        cpu.seg[s] = Segment { selector, base: 0, usable: false };
        return Ok(());
    }
    let err = Exception::gp(selector as u32 & 0xfffc);
    let d = cpu.descriptors.get(selector).ok_or(err)?;
    let ok = match s {
        // SS needs a writable data segment with RPL = DPL = CPL = 3.
        sreg::SS => d.kind == DescKind::Data && selector & 3 == 3,
        // Data registers accept data and readable code segments (DPL 3 >= RPL always).
        _ => matches!(d.kind, DescKind::Data | DescKind::Code32),
    };
    if !ok {
        return Err(err);
    }
    cpu.seg[s] = Segment { selector, base: d.base, usable: true };
    Ok(())
}

/// MOV r/m16, Sreg (a register destination with a 32-bit operand is zero-extended) and
/// MOV Sreg, r/m16.
fn mov_sreg(cpu: &mut Cpu, ins: &Instruction) -> Step {
    if let Some(s) = sreg_index(ins.op_register(0)).filter(|_| ins.op_kind(0) == OpKind::Register) {
        let v = cpu.read_op(ins, 1, Size::B16)?;
        cpu.load_segment(s, v as u16)?;
        if s == sreg::SS {
            cpu.inhibit_trap = true;
        }
        return Ok(());
    }
    let s = sreg_index(ins.op_register(1)).expect("MOV r/m, Sreg has a segment source");
    let v = cpu.seg[s].selector as u32;
    match ins.op_kind(0) {
        OpKind::Register => {
            let size = op_size(ins, 0);
            cpu.write_op(ins, 0, size, v)
        }
        _ => cpu.write_op(ins, 0, Size::B16, v),
    }
}

/// LDS/LES/LFS/LGS/LSS r, m16:16/32.
fn load_far_pointer(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = op_size(ins, 0);
    let seg = cpu.memory_seg(ins);
    let off = cpu.effective_address(ins);
    let o = cpu.read_mem(seg, off, size)?;
    let sel = cpu.read_mem(seg, off.wrapping_add(size.bytes()), Size::B16)? as u16;
    let s = match ins.mnemonic() {
        Mnemonic::Lds => sreg::DS,
        Mnemonic::Les => sreg::ES,
        Mnemonic::Lfs => sreg::FS,
        Mnemonic::Lgs => sreg::GS,
        _ => sreg::SS,
    };
    cpu.load_segment(s, sel)?;
    cpu.write_op(ins, 0, size, o)
}

/// ARPL r/m16, r16: raise the destination's RPL to the source's; ZF tells if it did.
/// The destination is read without write intent and stored only when adjusted.
fn arpl(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let loc = cpu.loc(ins, 0);
    let d = cpu.read_loc(loc, Size::B16)?;
    let s = cpu.read_reg(ins.op_register(1)) & 0xffff;
    let adjust = d & 3 < s & 3;
    if adjust {
        cpu.write_loc(loc, Size::B16, (d & !3) | (s & 3))?;
    }
    cpu.flags.set_masked(if adjust { bits::ZF } else { 0 }, bits::ZF);
    Ok(())
}

/// Access rights as LAR returns them on AMD: bits 8..24 of the descriptor's high dword
/// (including limit bits 19:16, which Intel masks) of a flat, present, accessed DPL-3
/// descriptor with 4 KiB granularity.
fn access_rights(kind: DescKind) -> u32 {
    match kind {
        DescKind::Code32 => 0x00cf_fb00,
        DescKind::Code64 => 0x00af_fb00,
        DescKind::Data => 0x00cf_f300,
    }
}

/// LAR/LSL/VERR/VERW: ZF = 1 and a result when the selector names a descriptor visible
/// at CPL 3; otherwise ZF = 0 and the destination is unchanged.
fn descriptor_query(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let src = if ins.mnemonic() == Mnemonic::Verr || ins.mnemonic() == Mnemonic::Verw { 0 } else { 1 };
    let sel = cpu.read_op(ins, src, Size::B16)? as u16;
    let d = if sel & !3 == 0 { None } else { cpu.descriptors.get(sel) };
    let ok = match (ins.mnemonic(), d) {
        (_, None) => false,
        (Mnemonic::Verr, Some(d)) => {
            matches!(d.kind, DescKind::Data | DescKind::Code32 | DescKind::Code64)
        }
        (Mnemonic::Verw, Some(d)) => d.kind == DescKind::Data,
        _ => true,
    };
    if ok && src == 1 {
        let kind = d.map(|d| d.kind).unwrap_or(DescKind::Data);
        let size = op_size(ins, 0);
        let v = if ins.mnemonic() == Mnemonic::Lar { access_rights(kind) } else { 0xffff_ffff };
        cpu.write_op(ins, 0, size, v & size.mask())?;
    }
    cpu.flags.set_masked(if ok { bits::ZF } else { 0 }, bits::ZF);
    Ok(())
}

pub fn register(t: &mut Table) {
    for c in Code::values() {
        if c.mnemonic() == Mnemonic::Mov {
            let info = c.op_code();
            if (0..info.op_count()).any(|i| info.op_kind(i) == iced_x86::OpCodeOperandKind::seg_reg) {
                t.code(c, mov_sreg);
            }
        }
    }
    t.mnemonics(
        &[Mnemonic::Lds, Mnemonic::Les, Mnemonic::Lfs, Mnemonic::Lgs, Mnemonic::Lss],
        load_far_pointer,
    );
    t.mnemonic(Mnemonic::Arpl, arpl);
    t.mnemonics(&[Mnemonic::Lar, Mnemonic::Lsl, Mnemonic::Verr, Mnemonic::Verw], descriptor_query);
}
