//! The x87 FPU instructions (issue 3): every code of [`Family::X87`] plus the 287-era
//! forms iced files under other features (FNSTSW AX, FSETPM).
//!
//! Arithmetic, conversions and condition codes come from the exact float core
//! (`x86wow_fp`); this module adds the machine around it, as measured on AMD Zen 4:
//!
//! * **Stack faults.** Reading an empty register is stack underflow (IE + SF, C1 = 0);
//!   pushing onto a non-empty one is stack overflow (IE + SF, C1 = 1). Masked, the
//!   destination receives the real indefinite; unmasked, nothing is written or popped.
//! * **Pending exceptions.** ES and B are not stored state: the hardware recomputes them
//!   from the sticky flags and the masks whenever either changes (FLDCW, FLDENV, FRSTOR,
//!   FXRSTOR and a state restore all recompute them; an ES bit loaded without an
//!   unmasked flag reads back as 0). A *waiting* x87 instruction (every one except the
//!   FNxxx control forms, FNENI/FNDISI/FNSETPM and FXSAVE/FXRSTOR) raises #MF before
//!   doing anything when an unmasked flag is set; FWAIT is exactly that check.
//! * **Wait forms** (FSTSW, FSTENV, FINIT...) are two instructions to the hardware: the
//!   FWAIT (9B) and the no-wait form. A single-step trap lands between them, so they
//!   execute here as the FWAIT only and continue at the no-wait form.
//! * **Last instruction and operand pointers.** Every non-control instruction that
//!   completes (with or without a masked or unmasked exception) records FIP (the offset
//!   of its first prefix byte), FCS, FOP (11 bits: low 3 bits of the opcode byte and the
//!   ModRM byte) and, when it has a memory operand, FDP (the effective address, not the
//!   linear one) and FDS (the selector of its segment). Register-only instructions leave
//!   FDP/FDS alone. Control instructions (FLDCW, FNSTCW, FNSTSW, FNCLEX, FNSTENV, FLDENV,
//!   FNSAVE, FRSTOR, FXSAVE, FXRSTOR, FWAIT, FNENI, FNDISI, FNSETPM) do not touch them;
//!   FNINIT (and FNSAVE's implied FNINIT) clears them. FXSAVE stores them only while ES
//!   is set (zeros otherwise); FNSTENV/FNSAVE always store them.
//!
//! [`Family::X87`]: crate::coverage::Family::X87

mod arith;
mod compare;
mod control;
mod env;
mod load_store;
mod transcendental;

use iced_x86::{Code, Instruction, Mnemonic, Register};
use x86wow_fp::{Exceptions, FpResult, X87Control, F80};

use crate::cpu::{Cpu, Stop};
use crate::exception::{vector, Exception};
use crate::fpu::X87;
use crate::regs::sreg;
use crate::table::Table;

/// Condition code bits of the status word.
pub(crate) const C0: u16 = 1 << 8;
pub(crate) const C1: u16 = 1 << 9;
pub(crate) const C2: u16 = 1 << 10;
pub(crate) const C3: u16 = 1 << 14;
/// Stack fault, error summary and busy bits.
pub(crate) const SF: u16 = 1 << 6;
pub(crate) const ES: u16 = 1 << 7;
pub(crate) const B: u16 = 1 << 15;
const IE: u16 = 1;

pub fn register(t: &mut Table) {
    arith::register(t);
    compare::register(t);
    control::register(t);
    env::register(t);
    load_store::register(t);
    transcendental::register(t);
}

/// The fast handler (see `fast.rs`) of an x87 instruction form that has one, with its
/// operands pre-decoded into `p`.
pub(crate) fn fast_for(ins: &Instruction, p: &mut crate::fast::Pre) -> Option<crate::fast::Fast> {
    arith::fast_for(ins, p)
        .or_else(|| load_store::fast_for(ins, p))
        .or_else(|| compare::fast_for(ins, p))
        .or_else(|| control::fast_for(ins))
}

/// Whether an unmasked exception is pending (what a waiting instruction checks).
#[inline]
pub fn exception_pending(x: &X87) -> bool {
    x.fsw & !x.fcw & 0x3f != 0
}

/// The check a waiting x87 instruction makes before it executes (and all of what FWAIT
/// does): #MF when an unmasked exception is pending. MMX instructions and EMMS make the
/// same check on this processor.
#[inline]
pub fn check_pending(cpu: &Cpu) -> Result<(), Exception> {
    if exception_pending(&cpu.fpu) {
        Err(Exception::new(vector::MF))
    } else {
        Ok(())
    }
}

/// Recomputes ES and B from the sticky flags and the masks, as the hardware does after
/// every change of either.
#[inline]
pub(crate) fn sync_es(x: &mut X87) {
    if exception_pending(x) {
        x.fsw |= ES | B;
    } else {
        x.fsw &= !(ES | B);
    }
}

/// The control word as loaded by FLDCW, FLDENV, FRSTOR and FXRSTOR: bits 13..15 read
/// as 0 and bit 6 as 1 (measured).
#[inline]
pub(crate) fn normalize_fcw(v: u16) -> u16 {
    (v & 0x1f3f) | 0x40
}

#[inline]
pub(crate) fn ctl(x: &X87) -> X87Control {
    X87Control::from_fcw(x.fcw)
}

/// ORs exception flags into the status word.
#[inline]
pub(crate) fn raise(x: &mut X87, f: Exceptions) {
    if !f.is_empty() {
        x.fsw |= f.bits() as u16;
        sync_es(x);
    }
}

#[inline]
pub(crate) fn set_c1(x: &mut X87, v: bool) {
    x.fsw = (x.fsw & !C1) | if v { C1 } else { 0 };
}

/// Sets C3, C2 and C0 (C1 left alone).
#[inline]
pub(crate) fn set_c320(x: &mut X87, (c3, c2, c0): (bool, bool, bool)) {
    x.fsw = (x.fsw & !(C3 | C2 | C0))
        | if c3 { C3 } else { 0 }
        | if c2 { C2 } else { 0 }
        | if c0 { C0 } else { 0 };
}

/// Whether the invalid-operation exception is masked.
#[inline]
pub(crate) fn ie_masked(x: &X87) -> bool {
    x.fcw & IE != 0
}

/// Stack underflow (an operand register is empty): IE + SF, C1 = 0. Returns whether
/// IE is masked (the masked response then writes the real indefinite).
pub(crate) fn underflow(x: &mut X87) -> bool {
    x.fsw = (x.fsw | IE | SF) & !C1;
    sync_es(x);
    ie_masked(x)
}

/// Stack overflow (a push onto a non-empty register): IE + SF, C1 = 1. Returns whether
/// IE is masked.
pub(crate) fn overflow(x: &mut X87) -> bool {
    x.fsw |= IE | SF | C1;
    sync_es(x);
    ie_masked(x)
}

/// Whether a push would overflow (the register below ST(0) is in use).
#[inline]
pub(crate) fn push_overflows(x: &X87) -> bool {
    !x.is_empty(7)
}

#[inline]
pub(crate) fn push(x: &mut X87, v: F80) {
    x.top = (x.top + 7) & 7;
    x.set_st(0, v);
}

#[inline]
pub(crate) fn pop(x: &mut X87) {
    let p = x.phys(0);
    x.empty |= 1 << p;
    x.top = (x.top + 1) & 7;
}

/// Index of an ST(i) register operand.
#[inline]
pub(crate) fn st_index(r: Register) -> u8 {
    (r as u32).wrapping_sub(Register::ST0 as u32) as u8 & 7
}

/// The largest ST(i) index among the register operands (0 when there are none): the
/// `+i` of the encoding.
fn sti_of(ins: &Instruction) -> u8 {
    (0..ins.op_count())
        .filter(|&i| ins.op_kind(i) == iced_x86::OpKind::Register)
        .map(|i| ins.op_register(i))
        .filter(|r| (Register::ST0..=Register::ST7).contains(r))
        .map(st_index)
        .max()
        .unwrap_or(0)
}

/// Builds an [`FpResult`] as the float core does: an unmasked IE, DE or ZE suppresses
/// the write, leaves only those flags and clears C1.
pub(crate) fn fp_result<T>(value: T, flags: Exceptions, c1: bool, masks: Exceptions) -> FpResult<T> {
    let pre = Exceptions::INVALID | Exceptions::DENORMAL | Exceptions::ZERO_DIVIDE;
    let unmasked = flags & !masks;
    let no_write = unmasked.intersects(pre);
    let flags = if no_write { flags & pre } else { flags };
    FpResult { value, flags, c1: c1 && !no_write, write: !no_write, trap: !unmasked.is_empty() }
}

/// The bytes of the instruction at EIP `ip` (up to its length), as fetched.
fn insn_bytes(cpu: &Cpu, ins: &Instruction) -> ([u8; 15], usize) {
    let mut buf = [0u8; 15];
    let lin = cpu.seg[sreg::CS].base.wrapping_add(ins.ip32());
    let n = cpu.mem.fetch(lin as u64, &mut buf[..ins.len().min(15)]);
    (buf, n)
}

/// Number of legacy prefix bytes at the start of `b`.
fn prefix_len(b: &[u8]) -> usize {
    b.iter()
        .take_while(|b| {
            matches!(b, 0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 | 0x66 | 0x67 | 0xf0 | 0xf2 | 0xf3)
        })
        .count()
}

/// What the last-opcode value needs from an instruction's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FopBase {
    /// Two-byte opcode (register forms): FOP is this plus the ST(i) index.
    Reg(u16),
    /// One-byte opcode with a ModRM /digit (memory forms): the escape byte's low bits
    /// and the digit, in place; mod and r/m come from the encoding.
    Mem(u16),
    /// Anything else: the bytes decide.
    Other,
}

/// [`FopBase`] of every code, computed once: cheaper per instruction than looking up
/// iced's opcode tables.
fn fop_base(code: Code) -> FopBase {
    static TABLE: std::sync::OnceLock<Box<[FopBase]>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        Code::values()
            .map(|c| {
                let oc = c.op_code();
                match (oc.op_code_len(), u32::try_from(oc.group_index())) {
                    (2, _) => FopBase::Reg((oc.op_code() & 0x7ff) as u16),
                    (1, Ok(reg)) => FopBase::Mem((((oc.op_code() & 7) << 8) | (reg << 3)) as u16),
                    _ => FopBase::Other,
                }
            })
            .collect()
    });
    table[code as usize]
}

/// The 11-bit last-opcode value of an instruction: the low three bits of its escape
/// byte and its ModRM byte.
fn fop(cpu: &Cpu, ins: &Instruction) -> u16 {
    match fop_base(ins.code()) {
        FopBase::Reg(base) => base + sti_of(ins) as u16,
        FopBase::Mem(base) => match fop_from_decoding(ins, base) {
            Some(v) => v,
            None => fop_from_bytes(cpu, ins),
        },
        FopBase::Other => fop_from_bytes(cpu, ins),
    }
}

/// The last-opcode value from the instruction's bytes, fetched again.
fn fop_from_bytes(cpu: &Cpu, ins: &Instruction) -> u16 {
    let (b, n) = insn_bytes(cpu, ins);
    let p = prefix_len(&b[..n]);
    if p + 1 < n {
        ((b[p] as u16 & 7) << 8) | b[p + 1] as u16
    } else {
        ((ins.code().op_code().op_code() & 7) as u16) << 8
    }
}

/// The last-opcode value of a memory-operand instruction rebuilt from its decoding,
/// without fetching its bytes again: possible when the instruction has the shortest
/// length its operand allows, for then it has no prefix and no optional SIB byte, and
/// its ModRM byte follows from the base, index and displacement size. `None` when the
/// bytes are needed (checked against the bytes for every encoding in the tests).
fn fop_from_decoding(ins: &Instruction, base_fop: u16) -> Option<u16> {
    use iced_x86::CodeSize;
    let (base, index) = (ins.memory_base(), ins.memory_index());
    let plain = |r: Register| r == Register::None || (Register::EAX..=Register::EDI).contains(&r);
    if ins.code_size() != CodeSize::Code32 || !plain(base) || !plain(index) {
        return None;
    }
    let disp = ins.memory_displ_size();
    let sib = index != Register::None || base == Register::ESP;
    let rm = |b: Register| if sib { 4 } else { (b as u32 - Register::EAX as u32) as u16 };
    let (md, rm) = match (base, disp) {
        (Register::None, 4) => (0, if sib { 4 } else { 5 }),
        (Register::None, _) | (Register::EBP, 0) => return None,
        (b, 0) => (0, rm(b)),
        (b, 1) => (1, rm(b)),
        (b, 4) => (2, rm(b)),
        _ => return None,
    };
    if ins.len() != 2 + sib as usize + disp as usize {
        return None;
    }
    Some(base_fop | (md << 6) | rm)
}

/// Marks a last-opcode value computed when the instruction's block was decoded.
const DECODED: u16 = 0x8000;

/// The last-opcode value of an x87 instruction for the decoded-block cache (with
/// [`DECODED`] set), or 0 for other instructions: computed once per decode instead of
/// on every execution, from the same bytes.
pub(crate) fn decoded_fop(cpu: &Cpu, ins: &Instruction) -> u16 {
    if crate::coverage::family(ins.code()) == Some(crate::coverage::Family::X87) {
        DECODED | fop(cpu, ins)
    } else {
        0
    }
}

/// Records the last instruction (and, for memory operands, data) pointer of a completed
/// non-control instruction.
#[inline(always)]
pub(crate) fn record(cpu: &mut Cpu, ins: &Instruction, mem: Option<(usize, u32)>) {
    let op = if cpu.cur_fop & DECODED != 0 { cpu.cur_fop & 0x7ff } else { fop(cpu, ins) };
    let cs = cpu.seg[sreg::CS].selector;
    let x = &mut cpu.fpu;
    x.fip = ins.ip32();
    x.fcs = cs;
    x.fop = op;
    if let Some((seg, off)) = mem {
        x.fdp = off;
        x.fds = cpu.seg[seg].selector;
    }
}

/// The memory operand of an instruction: segment index and effective address.
#[inline]
pub(crate) fn mem_operand(cpu: &Cpu, ins: &Instruction) -> (usize, u32) {
    (cpu.memory_seg(ins), cpu.effective_address(ins))
}

/// Offset of the FWAIT byte inside a wait form (FSTSW, FSTENV, FINIT, ...): the hardware
/// executes it as an instruction of its own, with any prefixes in front of it.
fn wait_byte_offset(cpu: &Cpu, ins: &Instruction) -> u32 {
    let (b, n) = insn_bytes(cpu, ins);
    b[..n].iter().position(|&v| v == 0x9b).unwrap_or(0) as u32
}

/// FWAIT and the wait forms: #MF if an exception is pending; a wait form then continues
/// at its no-wait instruction, which executes as the next instruction (as on the
/// hardware, where single stepping stops between the two).
fn fwait(cpu: &mut Cpu, ins: &Instruction) -> Result<(), Stop> {
    check_pending(cpu)?;
    if ins.mnemonic() != Mnemonic::Wait {
        cpu.eip = ins.ip32().wrapping_add(wait_byte_offset(cpu, ins) + 1);
    }
    Ok(())
}

/// Codes outside [`crate::coverage::Family::X87`] that this module implements: the
/// 80287 forms iced tags FPU287 (FNSTSW AX is the most used x87 instruction of all).
pub const EXTRA_CODES: [Code; 4] = [Code::Fnstsw_AX, Code::Fstsw_AX, Code::Fnsetpm, Code::Fsetpm];

#[cfg(test)]
mod tests;
