//! Call frames by the frame-pointer chain, and the SEH chain at fs:[0].

use iced_x86::{Code, Mnemonic, OpKind, Register};
use x86wow_cpu::regs::sreg;
use x86wow_cpu::Cpu;

use super::control::read_u32;
use super::symbols::Symbols;

/// Most frames `bt` and `seh` walk (a corrupt chain could loop).
const MAX_FRAMES: usize = 64;

/// One frame: where it executes and, for callers, the address of the return slot the
/// address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub pc: u32,
    pub slot: Option<u32>,
}

/// Whether the instruction at EIP is a function's first (`push ebp` or a symbol start),
/// or its second (`mov ebp, esp` after `push ebp`): the frame pointer is still the
/// caller's then, and the return address sits at ESP (or ESP+4).
fn prologue_return_slot(cpu: &Cpu, symbols: &Symbols) -> Option<u32> {
    let esp = cpu.gpr[4];
    let ins = cpu.peek_instruction(cpu.eip)?;
    let push_ebp = ins.code() == Code::Push_r32 && ins.op0_register() == Register::EBP;
    let mov_ebp_esp = ins.mnemonic() == Mnemonic::Mov
        && ins.op0_kind() == OpKind::Register
        && ins.op0_register() == Register::EBP
        && ins.op1_kind() == OpKind::Register
        && ins.op1_register() == Register::ESP;
    if symbols.is_symbol_start(cpu.eip) || push_ebp || ins.mnemonic() == Mnemonic::Ret {
        Some(esp)
    } else if mov_ebp_esp {
        Some(esp.wrapping_add(4))
    } else {
        None
    }
}

/// The call stack: frame 0 at EIP, then the callers found through EBP
/// (`[ebp]` = the caller's EBP, `[ebp+4]` = the return address). Functions compiled
/// without frame pointers do not appear (their callers do, through the chain).
pub fn backtrace(cpu: &Cpu, symbols: &Symbols) -> Vec<Frame> {
    let mut frames = vec![Frame { pc: cpu.eip, slot: None }];
    if let Some(slot) = prologue_return_slot(cpu, symbols) {
        if let Some(ret) = read_u32(cpu, slot) {
            frames.push(Frame { pc: ret, slot: Some(slot) });
        }
    }
    let mut ebp = cpu.gpr[5];
    while frames.len() < MAX_FRAMES && ebp != 0 {
        let (Some(next), Some(ret)) = (read_u32(cpu, ebp), read_u32(cpu, ebp.wrapping_add(4))) else { break };
        if ret == 0 || cpu.peek_instruction(ret).is_none() {
            break;
        }
        frames.push(Frame { pc: ret, slot: Some(ebp.wrapping_add(4)) });
        // The chain runs up the stack; anything else is not a chain.
        if next <= ebp {
            break;
        }
        ebp = next;
    }
    frames
}

/// One registration of the SEH chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SehRecord {
    pub at: u32,
    pub next: u32,
    pub handler: u32,
}

/// The exception registration records from fs:[0] (the TEB's ExceptionList) to the
/// 0xFFFFFFFF terminator.
pub fn seh_chain(cpu: &Cpu) -> Result<Vec<SehRecord>, u32> {
    let fs = cpu.seg[sreg::FS].base;
    let mut at = read_u32(cpu, fs).ok_or(fs)?;
    let mut out = Vec::new();
    while at != 0xFFFF_FFFF && out.len() < MAX_FRAMES {
        let next = read_u32(cpu, at).ok_or(at)?;
        let handler = read_u32(cpu, at.wrapping_add(4)).ok_or(at)?;
        out.push(SehRecord { at, next, handler });
        at = next;
    }
    Ok(out)
}
