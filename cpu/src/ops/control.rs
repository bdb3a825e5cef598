//! Control transfer: JMP, Jcc, CALL, RET, LOOP/LOOPcc, JCXZ/JECXZ, far JMP/CALL/RET,
//! IRET, INT n, INT3, INTO, INT1, BOUND and HLT.

use iced_x86::{Code, Instruction, Mnemonic, OpKind};

use crate::cpu::{Cpu, Step, Stop};
use crate::exception::{vector, Exception, Exit};
use crate::flags::{bits, Size};
use crate::operand::op_size;
use crate::regs::gpr::ECX;
use crate::regs::{sreg, DescKind};
use crate::table::Table;

/// Target of a relative or indirect near branch; 16-bit operand size truncates EIP.
fn near_target(cpu: &mut Cpu, ins: &Instruction) -> Result<u32, Stop> {
    Ok(match ins.op_kind(0) {
        OpKind::NearBranch16 => ins.near_branch16() as u32,
        OpKind::NearBranch32 => ins.near_branch32(),
        _ => {
            let size = op_size(ins, 0);
            cpu.read_op(ins, 0, size)?
        }
    })
}

fn jmp(cpu: &mut Cpu, ins: &Instruction) -> Step {
    if ins.is_jmp_far() || ins.is_jmp_far_indirect() {
        return far(cpu, ins, false);
    }
    cpu.eip = near_target(cpu, ins)?;
    Ok(())
}

fn jcc(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let cc = (ins.condition_code() as u8).wrapping_sub(1);
    if cpu.flags.cond(cc) {
        cpu.eip =
            if ins.op0_kind() == OpKind::NearBranch32 { ins.near_branch32() } else { near_target(cpu, ins)? };
    }
    Ok(())
}

fn call(cpu: &mut Cpu, ins: &Instruction) -> Step {
    if ins.code() == Code::Call_rel32_32 {
        cpu.push(Size::B32, cpu.eip)?;
        cpu.eip = ins.near_branch32();
        return Ok(());
    }
    if ins.is_call_far() || ins.is_call_far_indirect() {
        return far(cpu, ins, true);
    }
    let target = near_target(cpu, ins)?;
    let size = if ins.stack_pointer_increment() == -2 { Size::B16 } else { Size::B32 };
    cpu.push(size, cpu.eip & size.mask())?;
    cpu.eip = target;
    Ok(())
}

fn ret(cpu: &mut Cpu, ins: &Instruction) -> Step {
    if ins.code() == Code::Retnd {
        let esp = crate::regs::gpr::ESP;
        cpu.eip = cpu.read_mem(sreg::SS, cpu.gpr[esp], Size::B32)?;
        cpu.gpr[esp] = cpu.gpr[esp].wrapping_add(4);
        return Ok(());
    }
    let size = if matches!(ins.code(), Code::Retnw | Code::Retnw_imm16) { Size::B16 } else { Size::B32 };
    let target = cpu.peek_stack(size, 0)?;
    let extra = if ins.op_count() > 0 { ins.immediate(0) as u32 & 0xffff } else { 0 };
    cpu.gpr[crate::regs::gpr::ESP] = cpu.gpr[crate::regs::gpr::ESP].wrapping_add(size.bytes() + extra);
    cpu.eip = target;
    Ok(())
}

/// Counter register of LOOP/JECXZ: CX with a 0x67 prefix, else ECX.
fn counter_is_cx(ins: &Instruction) -> bool {
    matches!(
        ins.code(),
        Code::Loop_rel8_16_CX
            | Code::Loop_rel8_32_CX
            | Code::Loope_rel8_16_CX
            | Code::Loope_rel8_32_CX
            | Code::Loopne_rel8_16_CX
            | Code::Loopne_rel8_32_CX
            | Code::Jcxz_rel8_16
            | Code::Jcxz_rel8_32
    )
}

fn loop_(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let cx16 = counter_is_cx(ins);
    let target = near_target(cpu, ins)?;
    let count = if cx16 {
        let c = (cpu.gpr[ECX] as u16).wrapping_sub(1);
        cpu.gpr[ECX] = (cpu.gpr[ECX] & !0xffff) | c as u32;
        c as u32
    } else {
        cpu.gpr[ECX] = cpu.gpr[ECX].wrapping_sub(1);
        cpu.gpr[ECX]
    };
    let take = count != 0
        && match ins.mnemonic() {
            Mnemonic::Loope => cpu.flags.zf(),
            Mnemonic::Loopne => !cpu.flags.zf(),
            _ => true,
        };
    if take {
        cpu.eip = target;
    }
    Ok(())
}

fn jcxz(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let c = if counter_is_cx(ins) { cpu.gpr[ECX] & 0xffff } else { cpu.gpr[ECX] };
    if c == 0 {
        cpu.eip = near_target(cpu, ins)?;
    }
    Ok(())
}

/// Far JMP/CALL (direct ptr16:16/32 or indirect m16:16/32). Transfers to the current
/// 32-bit code segment are executed; to a 64-bit code selector they stop the CPU
/// ([`Exit::FarTransfer`], the WOW64 gate); anything else is #GP(selector).
fn far(cpu: &mut Cpu, ins: &Instruction, is_call: bool) -> Step {
    let osize = if matches!(ins.op_kind(0), OpKind::FarBranch16)
        || (ins.op_kind(0) == OpKind::Memory && ins.memory_size().size() == 4)
    {
        Size::B16
    } else {
        Size::B32
    };
    let (selector, offset) = match ins.op_kind(0) {
        OpKind::FarBranch16 => (ins.far_branch_selector(), ins.far_branch16() as u32),
        OpKind::FarBranch32 => (ins.far_branch_selector(), ins.far_branch32()),
        _ => {
            let seg = cpu.memory_seg(ins);
            let off = cpu.effective_address(ins);
            let o = cpu.read_mem(seg, off, osize)?;
            let s = cpu.read_mem(seg, off.wrapping_add(osize.bytes()), Size::B16)? as u16;
            (s, o)
        }
    };
    check_code_selector(cpu, selector, offset, is_call)?;
    if is_call {
        // CS (zero-extended) then EIP, stored one after the other: a fault on the
        // second store leaves the first in memory and ESP unchanged (AMD family 19h).
        let sp = cpu.gpr[crate::regs::gpr::ESP];
        let n = osize.bytes();
        cpu.write_mem(sreg::SS, sp.wrapping_sub(n), osize, cpu.seg[sreg::CS].selector as u32)?;
        cpu.write_mem(sreg::SS, sp.wrapping_sub(2 * n), osize, cpu.eip & osize.mask())?;
        cpu.gpr[crate::regs::gpr::ESP] = sp.wrapping_sub(2 * n);
    }
    cpu.seg[sreg::CS].selector = selector;
    cpu.eip = offset;
    Ok(())
}

/// Validates a far-transfer target for a transfer within CPL 3.
fn check_code_selector(cpu: &Cpu, selector: u16, offset: u32, is_call: bool) -> Result<(), Stop> {
    if selector & !3 == 0 {
        return Err(Exception::gp(0).into());
    }
    match cpu.descriptors.get(selector) {
        Some(d) if d.kind == DescKind::Code32 && selector & 3 == 3 => Ok(()),
        Some(d) if d.kind == DescKind::Code64 && selector & 3 == 3 => {
            Err(Stop::Before(Exit::FarTransfer { selector, offset, call: is_call }))
        }
        _ => Err(Exception::gp(selector as u32 & 0xfffc).into()),
    }
}

fn retf(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = if matches!(ins.code(), Code::Retfw | Code::Retfw_imm16) { Size::B16 } else { Size::B32 };
    let offset = cpu.peek_stack(size, 0)?;
    let selector = cpu.peek_stack(Size::B16, size.bytes())? as u16;
    let extra = if ins.op_count() > 0 { ins.immediate(0) as u32 & 0xffff } else { 0 };
    if selector & 3 != 3 {
        // RPL != CPL: AMD family 19h starts an inter-privilege return, reading the outer
        // SS then ESP above the released bytes, before it finds the selector unusable.
        outer_stack_reads(cpu, size, 2 * size.bytes() + extra)?;
        return Err(Exception::gp(selector as u32 & 0xfffc).into());
    }
    check_code_selector(cpu, selector, offset, false)?;
    let esp = &mut cpu.gpr[crate::regs::gpr::ESP];
    *esp = esp.wrapping_add(2 * size.bytes() + extra);
    cpu.seg[sreg::CS].selector = selector;
    cpu.eip = offset;
    Ok(())
}

/// The reads of an inter-privilege RETF/IRET: the outer SS at `depth + n`, then the
/// outer ESP at `depth`, both relative to ESP.
fn outer_stack_reads(cpu: &mut Cpu, size: Size, depth: u32) -> Result<(), Stop> {
    cpu.peek_stack(size, depth + size.bytes())?;
    cpu.peek_stack(size, depth)?;
    Ok(())
}

/// IRET within CPL 3: pops EIP, CS, EFLAGS; IF, IOPL and VM are not changed by CPL-3 code.
fn iret(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = if ins.code() == Code::Iretw { Size::B16 } else { Size::B32 };
    let n = size.bytes();
    if cpu.flags.eflags() & bits::NT != 0 {
        // A task return needs a TSS; user mode has none to return to.
        return Err(Exception::gp(0).into());
    }
    let offset = cpu.peek_stack(size, 0)?;
    let selector = cpu.peek_stack(Size::B16, n)? as u16;
    let fl = cpu.peek_stack(size, 2 * n)?;
    if selector & 3 != 3 {
        outer_stack_reads(cpu, size, 3 * n)?;
        return Err(Exception::gp(selector as u32 & 0xfffc).into());
    }
    check_code_selector(cpu, selector, offset, false)?;
    let esp = &mut cpu.gpr[crate::regs::gpr::ESP];
    *esp = esp.wrapping_add(3 * n);
    cpu.seg[sreg::CS].selector = selector;
    cpu.eip = offset;
    let mask = (bits::USER_WRITABLE | bits::RF) & size.mask();
    cpu.flags.set_masked(fl, mask & !bits::RF);
    Ok(())
}

/// `INT n`: configured vectors stop the CPU; 3 and 4 reach their DPL-3 gates (#BP, #OF);
/// every other vector hits a DPL-0 gate and raises #GP with the IDT error code.
fn int_n(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let n = ins.immediate(0) as u8;
    if cpu.config.stop_on_int[n as usize] {
        return Err(Stop::After(Exit::Interrupt(n)));
    }
    match n {
        3 => Err(Exception::new(vector::BP).into()),
        4 => Err(Exception::new(vector::OF).into()),
        _ => Err(Exception::gp((n as u32) << 3 | 2).into()),
    }
}

fn int3(_: &mut Cpu, _: &Instruction) -> Step {
    Err(Exception::new(vector::BP).into())
}

fn into(cpu: &mut Cpu, _: &Instruction) -> Step {
    if cpu.flags.of() {
        return Err(Exception::new(vector::OF).into());
    }
    Ok(())
}

fn int1(_: &mut Cpu, _: &Instruction) -> Step {
    Err(Exception::new(vector::DB).into())
}

/// BOUND r, m: #BR when the signed index is outside [lower, upper].
fn bound(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = op_size(ins, 0);
    let seg = cpu.memory_seg(ins);
    let off = cpu.effective_address(ins);
    let idx = size.sext(cpu.read_reg(ins.op_register(0))) as i32;
    let lo = size.sext(cpu.read_mem(seg, off, size)?) as i32;
    let hi = size.sext(cpu.read_mem(seg, off.wrapping_add(size.bytes()), size)?) as i32;
    if idx < lo || idx > hi {
        return Err(Exception::new(vector::BR).into());
    }
    Ok(())
}

/// HLT is privileged; x86wow stops before it (the state format's end marker).
fn hlt(_: &mut Cpu, _: &Instruction) -> Step {
    Err(Stop::Before(Exit::Hlt))
}

pub fn register(t: &mut Table) {
    t.mnemonic(Mnemonic::Jmp, jmp);
    t.mnemonics(
        &[
            Mnemonic::Jo,
            Mnemonic::Jno,
            Mnemonic::Jb,
            Mnemonic::Jae,
            Mnemonic::Je,
            Mnemonic::Jne,
            Mnemonic::Jbe,
            Mnemonic::Ja,
            Mnemonic::Js,
            Mnemonic::Jns,
            Mnemonic::Jp,
            Mnemonic::Jnp,
            Mnemonic::Jl,
            Mnemonic::Jge,
            Mnemonic::Jle,
            Mnemonic::Jg,
        ],
        jcc,
    );
    t.mnemonic(Mnemonic::Call, call);
    t.mnemonic(Mnemonic::Ret, ret);
    t.mnemonic(Mnemonic::Retf, retf);
    t.mnemonics(&[Mnemonic::Iret, Mnemonic::Iretd], iret);
    t.mnemonics(&[Mnemonic::Loop, Mnemonic::Loope, Mnemonic::Loopne], loop_);
    t.mnemonics(&[Mnemonic::Jcxz, Mnemonic::Jecxz], jcxz);
    t.mnemonic(Mnemonic::Int, int_n);
    t.mnemonic(Mnemonic::Int3, int3);
    t.mnemonic(Mnemonic::Into, into);
    t.mnemonic(Mnemonic::Int1, int1);
    t.mnemonic(Mnemonic::Bound, bound);
    t.mnemonic(Mnemonic::Hlt, hlt);
}
