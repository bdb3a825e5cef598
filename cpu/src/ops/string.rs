//! String instructions MOVS, CMPS, SCAS, LODS, STOS with REP/REPE/REPNE.
//!
//! Each iteration commits its registers before the next one starts, so a fault in the
//! middle leaves ECX/ESI/EDI counting the completed iterations and EIP at the
//! instruction: executing it again resumes the operation, as on hardware.

use iced_x86::{Instruction, Mnemonic, OpKind};

use crate::cpu::{Cpu, Step, Stop};
use crate::exception::{vector, Exception};
use crate::flags::Size;
use crate::regs::gpr::{EAX, ECX, EDI, ESI};
use crate::regs::{sreg, sreg_index};
use crate::table::Table;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Movs,
    Cmps,
    Scas,
    Lods,
    Stos,
}

/// Element size of a string instruction.
fn elem_size(ins: &Instruction) -> Size {
    Size::from_bytes(ins.memory_size().size()).unwrap_or(Size::B8)
}

/// Whether the instruction uses 16-bit addressing (SI/DI/CX).
fn addr16(ins: &Instruction) -> bool {
    (0..ins.op_count())
        .any(|i| matches!(ins.op_kind(i), OpKind::MemorySegSI | OpKind::MemorySegDI | OpKind::MemoryESDI))
}

/// The source segment (DS unless overridden).
fn source_seg(ins: &Instruction) -> usize {
    (0..ins.op_count())
        .find(|&i| matches!(ins.op_kind(i), OpKind::MemorySegSI | OpKind::MemorySegESI))
        .and_then(|_| sreg_index(ins.memory_segment()))
        .unwrap_or(sreg::DS)
}

fn string(cpu: &mut Cpu, ins: &Instruction, kind: Kind) -> Step {
    let size = elem_size(ins);
    let a16 = addr16(ins);
    let amask = if a16 { 0xffff } else { 0xffff_ffff };
    let step = if cpu.flags.df() { size.bytes().wrapping_neg() } else { size.bytes() };
    let src_seg = source_seg(ins);
    let rep = ins.has_rep_prefix() || ins.has_repne_prefix();
    let repne = ins.has_repne_prefix();
    let count = |cpu: &Cpu| cpu.gpr[ECX] & amask;
    let advance = |cpu: &mut Cpu, r: usize| {
        cpu.gpr[r] = (cpu.gpr[r] & !amask) | (cpu.gpr[r].wrapping_add(step) & amask);
    };
    loop {
        if rep && count(cpu) == 0 {
            return Ok(());
        }
        let si = cpu.gpr[ESI] & amask;
        let di = cpu.gpr[EDI] & amask;
        let mut terminate = false;
        match kind {
            Kind::Movs => {
                let v = cpu.read_mem(src_seg, si, size)?;
                cpu.write_mem(sreg::ES, di, size, v)?;
                advance(cpu, ESI);
                advance(cpu, EDI);
            }
            Kind::Stos => {
                cpu.write_mem(sreg::ES, di, size, cpu.gpr[EAX] & size.mask())?;
                advance(cpu, EDI);
            }
            Kind::Lods => {
                let v = cpu.read_mem(src_seg, si, size)?;
                let r = match size {
                    Size::B8 => iced_x86::Register::AL,
                    Size::B16 => iced_x86::Register::AX,
                    Size::B32 => iced_x86::Register::EAX,
                };
                cpu.write_reg(r, v);
                advance(cpu, ESI);
            }
            Kind::Cmps => {
                // AMD family 19h reads ES:EDI first, except in REPE CMPSB (its fast
                // memcmp path), which reads DS:ESI first; the first read is the one a
                // fault reports.
                let esi_first = rep && !repne && size == Size::B8;
                let (a, b) = if esi_first {
                    let a = cpu.read_mem(src_seg, si, size)?;
                    (a, cpu.read_mem(sreg::ES, di, size)?)
                } else {
                    let b = cpu.read_mem(sreg::ES, di, size)?;
                    (cpu.read_mem(src_seg, si, size)?, b)
                };
                cpu.flags.set_sub(size, a, b, a.wrapping_sub(b) & size.mask());
                advance(cpu, ESI);
                advance(cpu, EDI);
                terminate = true;
            }
            Kind::Scas => {
                let a = cpu.gpr[EAX] & size.mask();
                let b = cpu.read_mem(sreg::ES, di, size)?;
                cpu.flags.set_sub(size, a, b, a.wrapping_sub(b) & size.mask());
                advance(cpu, EDI);
                terminate = true;
            }
        }
        if !rep {
            return Ok(());
        }
        cpu.gpr[ECX] = (cpu.gpr[ECX] & !amask) | (cpu.gpr[ECX].wrapping_sub(1) & amask);
        if terminate && cpu.flags.zf() == repne {
            return Ok(());
        }
        if cpu.flags.tf() && count(cpu) != 0 {
            // Single stepping traps after every iteration, with EIP still at the
            // instruction until the last one.
            return Err(Stop::Exc(Exception::new(vector::DB)));
        }
    }
}

macro_rules! string_handlers {
    ($($name:ident => $k:ident),*) => {
        $(fn $name(cpu: &mut Cpu, ins: &Instruction) -> Step { string(cpu, ins, Kind::$k) })*
    };
}

string_handlers!(movs => Movs, cmps => Cmps, scas => Scas, lods => Lods, stos => Stos);

pub fn register(t: &mut Table) {
    t.mnemonics(&[Mnemonic::Movsb, Mnemonic::Movsw, Mnemonic::Movsd], movs);
    t.mnemonics(&[Mnemonic::Cmpsb, Mnemonic::Cmpsw, Mnemonic::Cmpsd], cmps);
    t.mnemonics(&[Mnemonic::Scasb, Mnemonic::Scasw, Mnemonic::Scasd], scas);
    t.mnemonics(&[Mnemonic::Lodsb, Mnemonic::Lodsw, Mnemonic::Lodsd], lods);
    t.mnemonics(&[Mnemonic::Stosb, Mnemonic::Stosw, Mnemonic::Stosd], stos);
}
