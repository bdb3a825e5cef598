//! Control instructions: FLDCW, FNSTCW, FNSTSW (m16 and AX), FNCLEX, FNINIT, FNOP,
//! FWAIT and the wait forms, and the 8087/80287 leftovers FNENI, FNDISI and FNSETPM
//! (no operation on this processor: they neither check for pending exceptions nor
//! record the instruction pointer).

use iced_x86::{Code, Instruction, Mnemonic, Register};

use super::{check_pending, fwait, mem_operand, normalize_fcw, record, sync_es};
use crate::cpu::{Cpu, Step};
use crate::fpu::X87;
use crate::table::Table;

pub(super) fn register(t: &mut Table) {
    use Mnemonic as M;
    t.mnemonic(M::Fldcw, fldcw);
    t.mnemonic(M::Fnstcw, fnstcw);
    t.mnemonic(M::Fnstsw, fnstsw);
    t.code(Code::Fnstsw_AX, fnstsw);
    t.mnemonic(M::Fnclex, fnclex);
    t.mnemonic(M::Fninit, fninit);
    t.mnemonic(M::Fnop, fnop);
    t.mnemonics(&[M::Fneni, M::Fndisi], nop);
    t.code(Code::Fnsetpm, nop);
    // FWAIT itself and every wait form: the FWAIT part only (see `fwait`).
    t.code(Code::Wait, fwait);
    t.mnemonics(&[M::Fstcw, M::Fstsw, M::Fclex, M::Finit, M::Feni, M::Fdisi, M::Fstenv, M::Fsave], fwait);
    t.code(Code::Fstsw_AX, fwait);
    t.code(Code::Fsetpm, fwait);
}

/// FNINIT: control word 0x037F, status 0, all registers empty, pointers cleared (the
/// register contents stay).
pub(super) fn init(x: &mut X87) {
    x.fcw = 0x037f;
    x.fsw = 0;
    x.top = 0;
    x.empty = 0xff;
    x.fip = 0;
    x.fcs = 0;
    x.fop = 0;
    x.fdp = 0;
    x.fds = 0;
}

fn fldcw(cpu: &mut Cpu, ins: &Instruction) -> Step {
    check_pending(cpu)?;
    let (seg, off) = mem_operand(cpu, ins);
    let v = u16::from_le_bytes(cpu.read_mem_aligned(seg, off, 2)?);
    cpu.fpu.fcw = normalize_fcw(v);
    sync_es(&mut cpu.fpu);
    Ok(())
}

fn fnstcw(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let (seg, off) = mem_operand(cpu, ins);
    cpu.write_mem_aligned(seg, off, 2, cpu.fpu.fcw.to_le_bytes())
}

fn fnstsw(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let v = cpu.fpu.status();
    if ins.op_kind(0) == iced_x86::OpKind::Register {
        cpu.write_reg(Register::AX, v as u32);
        return Ok(());
    }
    let (seg, off) = mem_operand(cpu, ins);
    cpu.write_mem_aligned(seg, off, 2, v.to_le_bytes())
}

/// Fast handler (see `fast.rs`) of FNSTSW AX.
fn fast_fnstsw_ax(cpu: &mut Cpu, o: &crate::cache::Op) -> Step {
    cpu.cur_fop = o.fop;
    let v = cpu.fpu.status();
    cpu.gpr[0] = (cpu.gpr[0] & !0xffff) | v as u32;
    Ok(())
}

/// The fast handler of a control instruction that has one.
pub(super) fn fast_for(ins: &Instruction) -> Option<crate::fast::Fast> {
    (ins.code() == Code::Fnstsw_AX).then_some(fast_fnstsw_ax as crate::fast::Fast)
}

/// FNCLEX: clears the exception flags, SF, ES and B (condition codes and TOP stay).
fn fnclex(cpu: &mut Cpu, _: &Instruction) -> Step {
    cpu.fpu.fsw &= !0x80ff;
    Ok(())
}

fn fninit(cpu: &mut Cpu, _: &Instruction) -> Step {
    init(&mut cpu.fpu);
    Ok(())
}

/// FNOP: a waiting instruction that records its pointer and does nothing else.
fn fnop(cpu: &mut Cpu, ins: &Instruction) -> Step {
    check_pending(cpu)?;
    record(cpu, ins, None);
    Ok(())
}

fn nop(_: &mut Cpu, _: &Instruction) -> Step {
    Ok(())
}
