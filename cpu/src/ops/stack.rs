//! Stack instructions: PUSH, POP, PUSHA, POPA, PUSHF, POPF, ENTER, LEAVE.
//!
//! The stack is SS:ESP with a 32-bit stack segment. Every push computes the new ESP,
//! stores (which may fault) and only then updates ESP, so faults are precise.

use iced_x86::{Instruction, Mnemonic, OpKind};

use crate::cpu::{Cpu, Step};
use crate::flags::{bits, Size};
use crate::operand::op_size;
use crate::regs::gpr::{EBP, ESP};
use crate::regs::{sreg, sreg_index};
use crate::table::Table;

impl Cpu {
    /// Pushes a value of `size` (16 or 32 bits).
    #[inline]
    pub fn push(&mut self, size: Size, v: u32) -> Step {
        let sp = self.gpr[ESP].wrapping_sub(size.bytes());
        self.write_mem(sreg::SS, sp, size, v)?;
        self.gpr[ESP] = sp;
        Ok(())
    }

    /// Reads the value `depth` bytes above ESP without popping.
    pub fn peek_stack(&mut self, size: Size, depth: u32) -> Result<u32, crate::cpu::Stop> {
        let sp = self.gpr[ESP].wrapping_add(depth);
        self.read_mem(sreg::SS, sp, size)
    }

    /// Pops a value of `size`.
    #[inline]
    pub fn pop(&mut self, size: Size) -> Result<u32, crate::cpu::Stop> {
        let v = self.read_mem(sreg::SS, self.gpr[ESP], size)?;
        self.gpr[ESP] = self.gpr[ESP].wrapping_add(size.bytes());
        Ok(v)
    }
}

/// Operand size of a stack instruction (16 with the 0x66 prefix, else 32).
pub(crate) fn stack_size(ins: &Instruction) -> Size {
    if ins.code().op_code().operand_size() == 16 {
        Size::B16
    } else {
        Size::B32
    }
}

fn push(cpu: &mut Cpu, ins: &Instruction) -> Step {
    if ins.code() == iced_x86::Code::Push_r32 {
        let v = cpu.gpr[ins.op0_register().number() - iced_x86::Register::EAX.number()];
        return cpu.push(Size::B32, v);
    }
    let size = stack_size(ins);
    if ins.op_kind(0) == OpKind::Register {
        if let Some(s) = sreg_index(ins.op_register(0)) {
            return push_sreg(cpu, size, s);
        }
    }
    // The source (including [ESP+n]) is evaluated with ESP before the push.
    let v = cpu.read_op(ins, 0, size)?;
    cpu.push(size, v)
}

/// PUSH Sreg: with a 32-bit operand AMD family 19h stores the selector zero-extended
/// (Intel's recent cores store only 16 bits).
fn push_sreg(cpu: &mut Cpu, size: Size, s: usize) -> Step {
    let sel = cpu.seg[s].selector as u32;
    cpu.push(size, sel)
}

fn pop(cpu: &mut Cpu, ins: &Instruction) -> Step {
    if ins.code() == iced_x86::Code::Pop_r32 {
        let v = cpu.read_mem(sreg::SS, cpu.gpr[ESP], Size::B32)?;
        cpu.gpr[ESP] = cpu.gpr[ESP].wrapping_add(4);
        cpu.gpr[ins.op0_register().number() - iced_x86::Register::EAX.number()] = v;
        return Ok(());
    }
    let size = stack_size(ins);
    if ins.op_kind(0) == OpKind::Register {
        let r = ins.op_register(0);
        if let Some(s) = sreg_index(r) {
            let v = cpu.peek_stack(size, 0)?;
            cpu.load_segment(s, v as u16)?;
            cpu.gpr[ESP] = cpu.gpr[ESP].wrapping_add(size.bytes());
            if s == sreg::SS {
                cpu.inhibit_trap = true;
            }
            return Ok(());
        }
        let v = cpu.peek_stack(size, 0)?;
        cpu.gpr[ESP] = cpu.gpr[ESP].wrapping_add(size.bytes());
        cpu.write_reg(r, v);
        return Ok(());
    }
    // POP m: the destination address is computed with ESP already incremented.
    let v = cpu.peek_stack(size, 0)?;
    let old = cpu.gpr[ESP];
    cpu.gpr[ESP] = old.wrapping_add(size.bytes());
    let seg = cpu.memory_seg(ins);
    let off = cpu.effective_address(ins);
    if let Err(e) = cpu.write_mem(seg, off, size, v) {
        cpu.gpr[ESP] = old;
        return Err(e);
    }
    Ok(())
}

/// PUSHA: the eight stores happen one after the other; if one faults, the earlier ones
/// stay in memory (as on AMD family 19h) while ESP keeps its old value.
fn pusha(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = stack_size(ins);
    let n = size.bytes();
    let sp0 = cpu.gpr[ESP];
    let top = sp0.wrapping_sub(8 * n);
    for i in 0..8 {
        let sp = sp0.wrapping_sub((i as u32 + 1) * n);
        cpu.write_mem(sreg::SS, sp, size, cpu.gpr[i])?;
    }
    cpu.gpr[ESP] = top;
    Ok(())
}

fn popa(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = stack_size(ins);
    let n = size.bytes();
    let mut vals = [0u32; 8];
    for (i, v) in vals.iter_mut().enumerate() {
        *v = cpu.peek_stack(size, (7 - i as u32) * n)?;
    }
    for (i, &v) in vals.iter().enumerate() {
        if i != ESP {
            write_sized(cpu, i, size, v);
        }
    }
    cpu.gpr[ESP] = cpu.gpr[ESP].wrapping_add(8 * n);
    Ok(())
}

fn write_sized(cpu: &mut Cpu, i: usize, size: Size, v: u32) {
    cpu.gpr[i] = match size {
        Size::B16 => (cpu.gpr[i] & !0xffff) | (v & 0xffff),
        _ => v,
    };
}

fn pushf(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = stack_size(ins);
    let v = cpu.eflags_image() & size.mask();
    cpu.push(size, v)
}

/// POPF at CPL 3 with IOPL 0: IF, IOPL, VM, RF, VIF and VIP keep their values.
fn popf(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = stack_size(ins);
    let v = cpu.peek_stack(size, 0)?;
    cpu.gpr[ESP] = cpu.gpr[ESP].wrapping_add(size.bytes());
    let mask = bits::USER_WRITABLE & size.mask();
    cpu.flags.set_masked(v, mask);
    Ok(())
}

/// ENTER imm16, imm8 (nesting level modulo 32). As on AMD family 19h the stores happen
/// in order — EBP, the display copied from the old frame, the new frame pointer — and
/// only then is the final stack pointer probed for writing; a fault at any point leaves
/// the stores already made in memory and the registers unchanged.
fn enter(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = stack_size(ins);
    let n = size.bytes();
    let alloc = ins.immediate(0) as u32 & 0xffff;
    let level = ins.immediate(1) as u32 & 31;
    let ebp = cpu.gpr[EBP];
    let mut sp = cpu.gpr[ESP].wrapping_sub(n);
    cpu.write_mem(sreg::SS, sp, size, ebp)?;
    let frame = sp;
    if level > 0 {
        for i in 1..level {
            let v = cpu.read_mem(sreg::SS, ebp.wrapping_sub(i * n), size)?;
            sp = sp.wrapping_sub(n);
            cpu.write_mem(sreg::SS, sp, size, v)?;
        }
        sp = sp.wrapping_sub(n);
        cpu.write_mem(sreg::SS, sp, size, frame)?;
    }
    let final_sp = sp.wrapping_sub(alloc);
    cpu.probe_write(sreg::SS, final_sp, n, n)?;
    write_sized(cpu, EBP, size, frame);
    cpu.gpr[ESP] = final_sp;
    Ok(())
}

fn leave(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = stack_size(ins);
    let v = cpu.read_mem(sreg::SS, cpu.gpr[EBP], size)?;
    cpu.gpr[ESP] = cpu.gpr[EBP].wrapping_add(size.bytes());
    write_sized(cpu, EBP, size, v);
    Ok(())
}

pub fn register(t: &mut Table) {
    t.mnemonic(Mnemonic::Push, push);
    t.mnemonic(Mnemonic::Pop, pop);
    t.mnemonics(&[Mnemonic::Pusha, Mnemonic::Pushad], pusha);
    t.mnemonics(&[Mnemonic::Popa, Mnemonic::Popad], popa);
    t.mnemonics(&[Mnemonic::Pushf, Mnemonic::Pushfd], pushf);
    t.mnemonics(&[Mnemonic::Popf, Mnemonic::Popfd], popf);
    t.mnemonic(Mnemonic::Enter, enter);
    t.mnemonic(Mnemonic::Leave, leave);
    let _ = op_size;
}
