//! Pre-decoded fast paths for the most frequent instruction forms.
//!
//! When a block is decoded, each instruction whose form appears below gets a
//! [`Fast`] handler and its operands pre-decoded into [`Pre`] (register numbers, the
//! immediate, the memory operand's base, index, scale, displacement and segment), so
//! executing it does not go through iced-x86's generic accessors again. Everything else
//! runs through the generic handler of its family. Both paths share the same
//! arithmetic, flag and memory code, and lockstep tests compare the cached (fast) path
//! with the plain one.

use iced_x86::{Code, Instruction, OpKind, Register};

use crate::cache::Op;
use crate::cpu::{Cpu, Step};
use crate::flags::Size;
use crate::ops::alu::{compute, AluOp};
use crate::regs::{gpr, sreg, sreg_index};

/// "No register" in [`Mem`].
pub const NONE: u8 = 8;

/// A pre-decoded 32-bit-addressing memory operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mem {
    pub base: u8,
    pub index: u8,
    pub shift: u8,
    pub seg: u8,
    pub disp: u32,
}

/// Pre-decoded operands. Register numbers are below 8; handlers index with `& 7`,
/// which changes nothing and spares the bounds checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pre {
    pub r0: u8,
    pub r1: u8,
    pub imm: u32,
    pub mem: Mem,
}

/// A fast handler: it runs the op with its pre-decoded operands (`Op::pre`).
pub type Fast = fn(&mut Cpu, &Op) -> Step;

/// The handler of ops without a fast form: the generic handler of the instruction's
/// family, with the last-opcode value computed when the block was decoded.
pub fn generic(cpu: &mut Cpu, op: &Op) -> Step {
    cpu.cur_fop = op.fop;
    (op.handler)(cpu, &op.ins)
}

impl Cpu {
    #[inline(always)]
    pub(crate) fn ea_of(&self, m: &Mem) -> u32 {
        let mut ea = m.disp;
        if m.base < NONE {
            ea = ea.wrapping_add(self.gpr[m.base as usize]);
        }
        if m.index < NONE {
            ea = ea.wrapping_add(self.gpr[m.index as usize] << m.shift);
        }
        ea
    }

    /// A dword at a pre-decoded operand, if the access is plain and its page is in the
    /// translation cache (see `Cpu::read_cached`).
    #[inline(always)]
    fn cached32(&self, m: &Mem) -> Option<u32> {
        self.read_cached::<4>(m.seg as usize, self.ea_of(m)).map(u32::from_le_bytes)
    }

    /// Pushes a dword if the stack slot is plain and cached; false (nothing done) if not.
    #[inline(always)]
    fn push_cached(&mut self, v: u32) -> bool {
        let sp = self.gpr[gpr::ESP].wrapping_sub(4);
        if self.write_cached(sreg::SS, sp, v.to_le_bytes()) {
            self.gpr[gpr::ESP] = sp;
            return true;
        }
        false
    }
}

fn dword(r: Register) -> Option<u8> {
    let i = (r as u32).wrapping_sub(Register::EAX as u32);
    (i < 8).then_some(i as u8)
}

/// Encoding number of an 8-bit register (AL..BH = 0..7).
fn byte(r: Register) -> Option<u8> {
    let i = (r as u32).wrapping_sub(Register::AL as u32);
    (i < 8).then_some(i as u8)
}

#[inline(always)]
fn get8(cpu: &Cpu, r: u8) -> u32 {
    if r < 4 {
        cpu.gpr[r as usize] & 0xff
    } else {
        (cpu.gpr[(r as usize - 4) & 3] >> 8) & 0xff
    }
}

#[inline(always)]
fn set8(cpu: &mut Cpu, r: u8, v: u32) {
    if r < 4 {
        let g = &mut cpu.gpr[r as usize];
        *g = (*g & !0xff) | (v & 0xff);
    } else {
        let g = &mut cpu.gpr[(r as usize - 4) & 3];
        *g = (*g & !0xff00) | ((v & 0xff) << 8);
    }
}

/// Pre-decodes a 32-bit-addressing memory operand; `None` for 16-bit addressing or
/// operands the fast paths do not handle.
pub(crate) fn mem_of(ins: &Instruction) -> Option<Mem> {
    if ins.memory_displ_size() == 2 {
        return None;
    }
    let reg = |r: Register| if r == Register::None { Some(NONE) } else { dword(r) };
    Some(Mem {
        base: reg(ins.memory_base())?,
        index: reg(ins.memory_index())?,
        shift: ins.memory_index_scale().trailing_zeros() as u8,
        seg: sreg_index(ins.memory_segment()).unwrap_or(sreg::DS) as u8,
        disp: ins.memory_displacement32(),
    })
}

const NO_MEM: Mem = Mem { base: NONE, index: NONE, shift: 0, seg: sreg::DS as u8, disp: 0 };

pub fn pre() -> Pre {
    Pre { r0: 0, r1: 0, imm: 0, mem: NO_MEM }
}

// ----- handlers -----
//
// The memory forms first try the translation cache (`read_cached`, `write_cached`,
// `push_cached`). When that misses (an uncached page, a fault to come, a hook, AC, an
// odd segment) they run the instruction's generic handler instead, which does it all
// the full way. They change nothing before their last access has succeeded, so the
// generic handler starts from the state the instruction began with, and the fast
// paths need no frame for the slow one: the fallback is a tail call.

fn alu_rr<const OP: u8>(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    let op = AluOp::from_u8(OP);
    let r = compute(cpu, op, Size::B32, cpu.gpr[p.r0 as usize & 7], cpu.gpr[p.r1 as usize & 7]);
    if op.writes() {
        cpu.gpr[p.r0 as usize & 7] = r;
    }
    Ok(())
}

fn alu_ri<const OP: u8>(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    let op = AluOp::from_u8(OP);
    let r = compute(cpu, op, Size::B32, cpu.gpr[p.r0 as usize & 7], p.imm);
    if op.writes() {
        cpu.gpr[p.r0 as usize & 7] = r;
    }
    Ok(())
}

fn alu_rm<const OP: u8>(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    let op = AluOp::from_u8(OP);
    let Some(b) = cpu.cached32(&p.mem) else { return generic(cpu, o) };
    let r = compute(cpu, op, Size::B32, cpu.gpr[p.r0 as usize & 7], b);
    if op.writes() {
        cpu.gpr[p.r0 as usize & 7] = r;
    }
    Ok(())
}

fn alu8_rr<const OP: u8>(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    let op = AluOp::from_u8(OP);
    let r = compute(cpu, op, Size::B8, get8(cpu, p.r0), get8(cpu, p.r1));
    if op.writes() {
        set8(cpu, p.r0, r);
    }
    Ok(())
}

fn alu8_ri<const OP: u8>(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    let op = AluOp::from_u8(OP);
    let r = compute(cpu, op, Size::B8, get8(cpu, p.r0), p.imm & 0xff);
    if op.writes() {
        set8(cpu, p.r0, r);
    }
    Ok(())
}

/// `[m32] op= r32`: the read, then the flags, then the write; if the write cannot take
/// the fast path, the flags are put back and the generic handler does it all.
fn alu_mr<const OP: u8>(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    alu_m::<OP, 4>(cpu, o, cpu.gpr[p.r1 as usize & 7])
}

fn alu_mi<const OP: u8>(cpu: &mut Cpu, o: &Op) -> Step {
    alu_m::<OP, 4>(cpu, o, o.pre.imm)
}

fn alu8_mr<const OP: u8>(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    alu_m::<OP, 1>(cpu, o, get8(cpu, p.r1))
}

fn alu8_mi<const OP: u8>(cpu: &mut Cpu, o: &Op) -> Step {
    alu_m::<OP, 1>(cpu, o, o.pre.imm & 0xff)
}

#[inline(always)]
fn alu_m<const OP: u8, const N: usize>(cpu: &mut Cpu, o: &Op, b: u32) -> Step {
    let p = &o.pre;
    let op = AluOp::from_u8(OP);
    let (seg, ea) = (p.mem.seg as usize, cpu.ea_of(&p.mem));
    let Some(bytes) = cpu.read_cached::<N>(seg, ea) else { return generic(cpu, o) };
    let mut a = [0u8; 4];
    a[..N].copy_from_slice(&bytes);
    let size = if N == 1 { Size::B8 } else { Size::B32 };
    let saved = cpu.flags;
    let r = compute(cpu, op, size, u32::from_le_bytes(a), b);
    if op.writes() {
        let mut out = [0u8; N];
        out.copy_from_slice(&r.to_le_bytes()[..N]);
        if !cpu.write_cached(seg, ea, out) {
            cpu.flags = saved;
            return generic(cpu, o);
        }
    }
    Ok(())
}

/// Stores `data` at the op's memory operand, or runs the generic handler.
#[inline(always)]
fn store<const N: usize>(cpu: &mut Cpu, o: &Op, data: [u8; N]) -> Step {
    let p = &o.pre;
    let ea = cpu.ea_of(&p.mem);
    if cpu.write_cached(p.mem.seg as usize, ea, data) {
        return Ok(());
    }
    generic(cpu, o)
}

/// The byte at the op's memory operand, if the fast path can read it.
#[inline(always)]
fn load8(cpu: &Cpu, o: &Op) -> Option<u32> {
    let p = &o.pre;
    cpu.read_cached::<1>(p.mem.seg as usize, cpu.ea_of(&p.mem)).map(|[v]| v as u32)
}

fn mov_m8r(cpu: &mut Cpu, o: &Op) -> Step {
    store(cpu, o, [get8(cpu, o.pre.r1) as u8])
}

fn mov_m8i(cpu: &mut Cpu, o: &Op) -> Step {
    store(cpu, o, [o.pre.imm as u8])
}

fn mov_r8m(cpu: &mut Cpu, o: &Op) -> Step {
    let Some(v) = load8(cpu, o) else { return generic(cpu, o) };
    set8(cpu, o.pre.r0, v);
    Ok(())
}

/// IMUL r32, r/m32 (`THREE` false: the destination is the first factor) or
/// IMUL r32, r/m32, imm32 (the immediate is). CF and OF tell whether the signed product
/// did not fit; the other flags are kept, as the generic handler keeps them.
fn imul_r<const MEM: bool, const THREE: bool>(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    let src = if MEM {
        let Some(v) = cpu.cached32(&p.mem) else { return generic(cpu, o) };
        v
    } else {
        cpu.gpr[p.r1 as usize & 7]
    };
    let other = if THREE { p.imm } else { cpu.gpr[p.r0 as usize & 7] };
    let full = (src as i32 as i64) * (other as i32 as i64);
    let r = full as u32;
    cpu.gpr[p.r0 as usize & 7] = r;
    let overflow = r as i32 as i64 != full;
    cpu.flags.set_cf_of(overflow, overflow);
    Ok(())
}

fn mov_rr(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    cpu.gpr[p.r0 as usize & 7] = cpu.gpr[p.r1 as usize & 7];
    Ok(())
}

fn mov_ri(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    cpu.gpr[p.r0 as usize & 7] = p.imm;
    Ok(())
}

fn mov_rm(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    let Some(v) = cpu.cached32(&p.mem) else { return generic(cpu, o) };
    cpu.gpr[p.r0 as usize & 7] = v;
    Ok(())
}

fn mov_mr(cpu: &mut Cpu, o: &Op) -> Step {
    store(cpu, o, cpu.gpr[o.pre.r1 as usize & 7].to_le_bytes())
}

fn mov_mi(cpu: &mut Cpu, o: &Op) -> Step {
    store(cpu, o, o.pre.imm.to_le_bytes())
}

fn movzx_rm8(cpu: &mut Cpu, o: &Op) -> Step {
    let Some(v) = load8(cpu, o) else { return generic(cpu, o) };
    cpu.gpr[o.pre.r0 as usize & 7] = v;
    Ok(())
}

fn movzx_rr8(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    cpu.gpr[p.r0 as usize & 7] = get8(cpu, p.r1);
    Ok(())
}

fn lea(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    cpu.gpr[p.r0 as usize & 7] = cpu.ea_of(&p.mem);
    Ok(())
}

fn inc_dec_r<const DEC: bool>(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    let a = cpu.gpr[p.r0 as usize & 7];
    let r = if DEC { a.wrapping_sub(1) } else { a.wrapping_add(1) };
    cpu.gpr[p.r0 as usize & 7] = r;
    let of = if DEC { a == 0x8000_0000 } else { r == 0x8000_0000 };
    let af = if DEC { a & 0xf == 0 } else { r & 0xf == 0 };
    let cf = cpu.flags.cf();
    cpu.flags.set_result(Size::B32, r, cf, of, af);
    Ok(())
}

fn push_r(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    // PUSH ESP stores the value ESP had before the push.
    if cpu.push_cached(cpu.gpr[p.r0 as usize & 7]) {
        return Ok(());
    }
    generic(cpu, o)
}

fn push_i(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    if cpu.push_cached(p.imm) {
        return Ok(());
    }
    generic(cpu, o)
}

fn pop_r(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    let Some(v) = cpu.read_cached::<4>(sreg::SS, cpu.gpr[gpr::ESP]) else { return generic(cpu, o) };
    // ESP is incremented before the destination is written: POP ESP loads the value.
    cpu.gpr[gpr::ESP] = cpu.gpr[gpr::ESP].wrapping_add(4);
    cpu.gpr[p.r0 as usize & 7] = u32::from_le_bytes(v);
    Ok(())
}

fn jmp_rel(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    cpu.eip = p.imm;
    Ok(())
}

fn jcc<const CC: u8>(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    if cpu.flags.cond(CC) {
        cpu.eip = p.imm;
    }
    Ok(())
}

fn call_rel(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    if !cpu.push_cached(cpu.eip) {
        return generic(cpu, o);
    }
    cpu.eip = p.imm;
    Ok(())
}

fn call_m(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    // The target is read with ESP as it was before the push (CALL [ESP+n]).
    let Some(target) = cpu.cached32(&p.mem) else { return generic(cpu, o) };
    if !cpu.push_cached(cpu.eip) {
        return generic(cpu, o);
    }
    cpu.eip = target;
    Ok(())
}

fn call_r(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    let target = cpu.gpr[p.r0 as usize & 7];
    if !cpu.push_cached(cpu.eip) {
        return generic(cpu, o);
    }
    cpu.eip = target;
    Ok(())
}

fn jmp_m(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    let Some(target) = cpu.cached32(&p.mem) else { return generic(cpu, o) };
    cpu.eip = target;
    Ok(())
}

fn jmp_r(cpu: &mut Cpu, o: &Op) -> Step {
    let p = &o.pre;
    cpu.eip = cpu.gpr[p.r0 as usize & 7];
    Ok(())
}

fn ret(cpu: &mut Cpu, o: &Op) -> Step {
    let Some(v) = cpu.read_cached::<4>(sreg::SS, cpu.gpr[gpr::ESP]) else { return generic(cpu, o) };
    cpu.eip = u32::from_le_bytes(v);
    cpu.gpr[gpr::ESP] = cpu.gpr[gpr::ESP].wrapping_add(4);
    Ok(())
}

/// Chooses a fast handler for an instruction, with its pre-decoded operands.
pub fn select(ins: &Instruction) -> Option<(Fast, Pre)> {
    use Code as C;
    let mut p = pre();
    let k0 = if ins.op_count() > 0 { ins.op0_kind() } else { OpKind::Register };
    let k1 = if ins.op_count() > 1 { ins.op1_kind() } else { OpKind::Register };
    let r0 = || dword(ins.op0_register());
    let r1 = || dword(ins.op1_register());
    macro_rules! alu {
        ($op:expr) => {{
            const OPS: [u8; 9] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
            let _ = OPS;
            match (k0, k1) {
                (OpKind::Register, OpKind::Register) => {
                    p.r0 = r0()?;
                    p.r1 = r1()?;
                    Some(alu_table_rr($op))
                }
                (OpKind::Register, OpKind::Immediate32 | OpKind::Immediate8to32) => {
                    p.r0 = r0()?;
                    p.imm = ins.immediate(1) as u32;
                    Some(alu_table_ri($op))
                }
                (OpKind::Register, OpKind::Memory) => {
                    p.r0 = r0()?;
                    p.mem = mem_of(ins)?;
                    Some(alu_table_rm($op))
                }
                (OpKind::Memory, OpKind::Register) => {
                    p.r1 = r1()?;
                    p.mem = mem_of(ins)?;
                    Some(table!(alu_mr)[$op as usize])
                }
                (OpKind::Memory, OpKind::Immediate32 | OpKind::Immediate8to32) => {
                    p.imm = ins.immediate(1) as u32;
                    p.mem = mem_of(ins)?;
                    Some(table!(alu_mi)[$op as usize])
                }
                _ => None,
            }
        }};
    }
    let code = ins.code();
    let f: Fast = match code {
        C::Add_rm32_r32 | C::Add_r32_rm32 | C::Add_rm32_imm32 | C::Add_rm32_imm8 | C::Add_EAX_imm32 => {
            alu!(AluOp::Add)?
        }
        C::Or_rm32_r32 | C::Or_r32_rm32 | C::Or_rm32_imm32 | C::Or_rm32_imm8 | C::Or_EAX_imm32 => {
            alu!(AluOp::Or)?
        }
        C::Adc_rm32_r32 | C::Adc_r32_rm32 | C::Adc_rm32_imm32 | C::Adc_rm32_imm8 | C::Adc_EAX_imm32 => {
            alu!(AluOp::Adc)?
        }
        C::Sbb_rm32_r32 | C::Sbb_r32_rm32 | C::Sbb_rm32_imm32 | C::Sbb_rm32_imm8 | C::Sbb_EAX_imm32 => {
            alu!(AluOp::Sbb)?
        }
        C::And_rm32_r32 | C::And_r32_rm32 | C::And_rm32_imm32 | C::And_rm32_imm8 | C::And_EAX_imm32 => {
            alu!(AluOp::And)?
        }
        C::Sub_rm32_r32 | C::Sub_r32_rm32 | C::Sub_rm32_imm32 | C::Sub_rm32_imm8 | C::Sub_EAX_imm32 => {
            alu!(AluOp::Sub)?
        }
        C::Xor_rm32_r32 | C::Xor_r32_rm32 | C::Xor_rm32_imm32 | C::Xor_rm32_imm8 | C::Xor_EAX_imm32 => {
            alu!(AluOp::Xor)?
        }
        C::Cmp_rm32_r32 | C::Cmp_r32_rm32 | C::Cmp_rm32_imm32 | C::Cmp_rm32_imm8 | C::Cmp_EAX_imm32 => {
            alu!(AluOp::Cmp)?
        }
        C::Test_rm32_r32 | C::Test_rm32_imm32 | C::Test_EAX_imm32 => alu!(AluOp::Test)?,
        C::Add_rm8_r8
        | C::Add_r8_rm8
        | C::Or_rm8_r8
        | C::Or_r8_rm8
        | C::Adc_rm8_r8
        | C::Adc_r8_rm8
        | C::Sbb_rm8_r8
        | C::Sbb_r8_rm8
        | C::And_rm8_r8
        | C::And_r8_rm8
        | C::Sub_rm8_r8
        | C::Sub_r8_rm8
        | C::Xor_rm8_r8
        | C::Xor_r8_rm8
        | C::Cmp_rm8_r8
        | C::Cmp_r8_rm8
        | C::Test_rm8_r8 => {
            let op = AluOp::of(ins.mnemonic())?;
            match (k0, k1) {
                (OpKind::Register, OpKind::Register) => {
                    p.r0 = byte(ins.op0_register())?;
                    p.r1 = byte(ins.op1_register())?;
                    alu8_table_rr(op)
                }
                (OpKind::Memory, OpKind::Register) => {
                    p.r1 = byte(ins.op1_register())?;
                    p.mem = mem_of(ins)?;
                    table!(alu8_mr)[op as usize]
                }
                _ => return None,
            }
        }
        C::Add_rm8_imm8
        | C::Or_rm8_imm8
        | C::Adc_rm8_imm8
        | C::Sbb_rm8_imm8
        | C::And_rm8_imm8
        | C::Sub_rm8_imm8
        | C::Xor_rm8_imm8
        | C::Cmp_rm8_imm8
        | C::Test_rm8_imm8
        | C::Add_AL_imm8
        | C::Or_AL_imm8
        | C::Adc_AL_imm8
        | C::Sbb_AL_imm8
        | C::And_AL_imm8
        | C::Sub_AL_imm8
        | C::Xor_AL_imm8
        | C::Cmp_AL_imm8
        | C::Test_AL_imm8 => {
            let op = AluOp::of(ins.mnemonic())?;
            p.imm = ins.immediate(1) as u32;
            if k0 == OpKind::Memory {
                p.mem = mem_of(ins)?;
                table!(alu8_mi)[op as usize]
            } else {
                p.r0 = byte(ins.op0_register())?;
                alu8_table_ri(op)
            }
        }
        C::Mov_rm8_r8 if k0 == OpKind::Memory => {
            p.r1 = byte(ins.op1_register())?;
            p.mem = mem_of(ins)?;
            mov_m8r
        }
        C::Mov_rm8_imm8 if k0 == OpKind::Memory => {
            p.imm = ins.immediate8() as u32;
            p.mem = mem_of(ins)?;
            mov_m8i
        }
        C::Mov_r8_rm8 if k1 == OpKind::Memory => {
            p.r0 = byte(ins.op0_register())?;
            p.mem = mem_of(ins)?;
            mov_r8m
        }
        C::Imul_r32_rm32 => {
            p.r0 = r0()?;
            if k1 == OpKind::Memory {
                p.mem = mem_of(ins)?;
                imul_r::<true, false>
            } else {
                p.r1 = r1()?;
                imul_r::<false, false>
            }
        }
        C::Imul_r32_rm32_imm32 | C::Imul_r32_rm32_imm8 => {
            p.r0 = r0()?;
            p.imm = ins.immediate(2) as u32;
            if k1 == OpKind::Memory {
                p.mem = mem_of(ins)?;
                imul_r::<true, true>
            } else {
                p.r1 = r1()?;
                imul_r::<false, true>
            }
        }
        C::Mov_rm32_r32 | C::Mov_r32_rm32 => match (k0, k1) {
            (OpKind::Register, OpKind::Register) => {
                p.r0 = r0()?;
                p.r1 = r1()?;
                mov_rr
            }
            (OpKind::Register, OpKind::Memory) => {
                p.r0 = r0()?;
                p.mem = mem_of(ins)?;
                mov_rm
            }
            (OpKind::Memory, OpKind::Register) => {
                p.r1 = r1()?;
                p.mem = mem_of(ins)?;
                mov_mr
            }
            _ => return None,
        },
        C::Mov_r32_imm32 | C::Mov_rm32_imm32 => match k0 {
            OpKind::Register => {
                p.r0 = r0()?;
                p.imm = ins.immediate32();
                mov_ri
            }
            _ => {
                p.mem = mem_of(ins)?;
                p.imm = ins.immediate32();
                mov_mi
            }
        },
        C::Movzx_r32_rm8 => {
            p.r0 = r0()?;
            if k1 == OpKind::Memory {
                p.mem = mem_of(ins)?;
                movzx_rm8
            } else {
                p.r1 = byte(ins.op1_register())?;
                movzx_rr8
            }
        }
        C::Rol_rm32_imm8
        | C::Ror_rm32_imm8
        | C::Rcl_rm32_imm8
        | C::Rcr_rm32_imm8
        | C::Shl_rm32_imm8
        | C::Sal_rm32_imm8
        | C::Shr_rm32_imm8
        | C::Sar_rm32_imm8
        | C::Rol_rm32_1
        | C::Ror_rm32_1
        | C::Rcl_rm32_1
        | C::Rcr_rm32_1
        | C::Shl_rm32_1
        | C::Sal_rm32_1
        | C::Shr_rm32_1
        | C::Sar_rm32_1
            if k0 == OpKind::Register =>
        {
            p.r0 = r0()?;
            let count =
                if ins.op_count() > 1 && k1 == OpKind::Immediate8 { ins.immediate8() as u32 } else { 1 };
            p.imm = count & 31;
            crate::ops::shift::fast_for(ins.mnemonic(), false)?
        }
        C::Rol_rm32_CL
        | C::Ror_rm32_CL
        | C::Rcl_rm32_CL
        | C::Rcr_rm32_CL
        | C::Shl_rm32_CL
        | C::Sal_rm32_CL
        | C::Shr_rm32_CL
        | C::Sar_rm32_CL
            if k0 == OpKind::Register =>
        {
            p.r0 = r0()?;
            crate::ops::shift::fast_for(ins.mnemonic(), true)?
        }
        C::Lea_r32_m => {
            p.r0 = r0()?;
            p.mem = mem_of(ins)?;
            lea
        }
        C::Inc_r32 | C::Inc_rm32 if k0 == OpKind::Register => {
            p.r0 = r0()?;
            inc_dec_r::<false>
        }
        C::Dec_r32 | C::Dec_rm32 if k0 == OpKind::Register => {
            p.r0 = r0()?;
            inc_dec_r::<true>
        }
        C::Push_r32 => {
            p.r0 = r0()?;
            push_r
        }
        C::Pushd_imm32 | C::Pushd_imm8 => {
            p.imm = ins.immediate(0) as u32;
            push_i
        }
        C::Pop_r32 => {
            p.r0 = r0()?;
            pop_r
        }
        C::Jmp_rel32_32 | C::Jmp_rel8_32 => {
            p.imm = ins.near_branch32();
            jmp_rel
        }
        C::Call_rel32_32 => {
            p.imm = ins.near_branch32();
            call_rel
        }
        C::Call_rm32 => match k0 {
            OpKind::Register => {
                p.r0 = r0()?;
                call_r
            }
            _ => {
                p.mem = mem_of(ins)?;
                call_m
            }
        },
        C::Jmp_rm32 => match k0 {
            OpKind::Register => {
                p.r0 = r0()?;
                jmp_r
            }
            _ => {
                p.mem = mem_of(ins)?;
                jmp_m
            }
        },
        C::Retnd => ret,
        _ if crate::coverage::family(code) == Some(crate::coverage::Family::X87) => {
            crate::ops::x87::fast_for(ins, &mut p)?
        }
        _ if ins.is_jcc_short_or_near() && k0 == OpKind::NearBranch32 => {
            p.imm = ins.near_branch32();
            jcc_table((ins.condition_code() as u8).wrapping_sub(1))
        }
        _ => return None,
    };
    Some((f, p))
}

/// The nine instances of a handler generic over the ALU operation, indexed by
/// `AluOp as usize`.
macro_rules! table {
    ($f:ident) => {{
        const T: [Fast; 9] =
            [$f::<0>, $f::<1>, $f::<2>, $f::<3>, $f::<4>, $f::<5>, $f::<6>, $f::<7>, $f::<8>];
        T
    }};
}
use table;

fn alu_table_rr(op: AluOp) -> Fast {
    table!(alu_rr)[op as usize]
}

fn alu_table_ri(op: AluOp) -> Fast {
    table!(alu_ri)[op as usize]
}

fn alu_table_rm(op: AluOp) -> Fast {
    table!(alu_rm)[op as usize]
}

fn alu8_table_rr(op: AluOp) -> Fast {
    table!(alu8_rr)[op as usize]
}

fn alu8_table_ri(op: AluOp) -> Fast {
    table!(alu8_ri)[op as usize]
}

fn jcc_table(cc: u8) -> Fast {
    const T: [Fast; 16] = [
        jcc::<0>, jcc::<1>, jcc::<2>, jcc::<3>, jcc::<4>, jcc::<5>, jcc::<6>, jcc::<7>, jcc::<8>, jcc::<9>,
        jcc::<10>, jcc::<11>, jcc::<12>, jcc::<13>, jcc::<14>, jcc::<15>,
    ];
    T[(cc & 15) as usize]
}
