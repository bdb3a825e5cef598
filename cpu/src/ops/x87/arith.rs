//! FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR in all their forms (register, popping, m32/m64,
//! m16int/m32int), FSQRT, FABS, FCHS, FRNDINT, FSCALE, FXTRACT, FPREM and FPREM1.

use iced_x86::{Instruction, MemorySize, Mnemonic};
use x86wow_fp::x87::{self, MemOperand};
use x86wow_fp::{FpResult, F80};

use super::{
    check_pending, ctl, mem_operand, overflow, pop, push, push_overflows, raise, record, set_c1, set_c320,
    st_index, underflow, C1, C2,
};
use crate::cache::Op as CachedOp;
use crate::cpu::{Cpu, Step};
use crate::fast::{Fast, Pre};
use crate::table::Table;

pub(super) fn register(t: &mut Table) {
    use Mnemonic as M;
    t.mnemonics(
        &[
            M::Fadd,
            M::Faddp,
            M::Fiadd,
            M::Fmul,
            M::Fmulp,
            M::Fimul,
            M::Fsub,
            M::Fsubp,
            M::Fisub,
            M::Fsubr,
            M::Fsubrp,
            M::Fisubr,
            M::Fdiv,
            M::Fdivp,
            M::Fidiv,
            M::Fdivr,
            M::Fdivrp,
            M::Fidivr,
        ],
        binary,
    );
    t.mnemonic(M::Fsqrt, unary);
    t.mnemonic(M::Fabs, unary);
    t.mnemonic(M::Fchs, unary);
    t.mnemonic(M::Frndint, unary);
    t.mnemonic(M::Fscale, fscale);
    t.mnemonic(M::Fxtract, fxtract);
    t.mnemonic(M::Fprem, fprem);
    t.mnemonic(M::Fprem1, fprem);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Mul,
    Sub,
    SubR,
    Div,
    DivR,
}

fn op_of(m: Mnemonic) -> (Op, bool) {
    use Mnemonic as M;
    match m {
        M::Fadd | M::Fiadd => (Op::Add, false),
        M::Faddp => (Op::Add, true),
        M::Fmul | M::Fimul => (Op::Mul, false),
        M::Fmulp => (Op::Mul, true),
        M::Fsub | M::Fisub => (Op::Sub, false),
        M::Fsubp => (Op::Sub, true),
        M::Fsubr | M::Fisubr => (Op::SubR, false),
        M::Fsubrp => (Op::SubR, true),
        M::Fdiv | M::Fidiv => (Op::Div, false),
        M::Fdivp => (Op::Div, true),
        M::Fdivr | M::Fidivr => (Op::DivR, false),
        _ => (Op::DivR, true),
    }
}

/// Reads the memory source operand of an arithmetic or compare instruction.
#[inline(always)]
pub(super) fn read_source_sized(
    cpu: &mut Cpu,
    size: MemorySize,
    seg: usize,
    off: u32,
) -> Result<MemOperand, crate::cpu::Stop> {
    Ok(match size {
        MemorySize::Float32 => MemOperand::F32(u32::from_le_bytes(cpu.read_mem_aligned(seg, off, 4)?)),
        MemorySize::Float64 => MemOperand::F64(u64::from_le_bytes(cpu.read_mem_aligned(seg, off, 8)?)),
        MemorySize::Int16 => MemOperand::I16(i16::from_le_bytes(cpu.read_mem_aligned(seg, off, 2)?)),
        _ => MemOperand::I32(i32::from_le_bytes(cpu.read_mem_aligned(seg, off, 4)?)),
    })
}

/// Delivers an arithmetic result to ST(d): flags, C1, the value unless an unmasked
/// exception suppresses it, and the pop of the popping forms (suppressed likewise).
fn deliver(cpu: &mut Cpu, d: u8, r: FpResult<F80>, popping: bool) {
    let x = &mut cpu.fpu;
    raise(x, r.flags);
    set_c1(x, r.c1);
    if r.write {
        x.set_st(d, r.value);
        if popping {
            pop(x);
        }
    }
}

/// Stack underflow of an instruction whose result goes to ST(d).
fn underflow_to(cpu: &mut Cpu, d: u8, popping: bool) {
    let x = &mut cpu.fpu;
    if underflow(x) {
        x.set_st(d, F80::INDEFINITE);
        if popping {
            pop(x);
        }
    }
}

fn binary(cpu: &mut Cpu, ins: &Instruction) -> Step {
    check_pending(cpu)?;
    let (op, popping) = op_of(ins.mnemonic());
    if ins.op_kind(0) == iced_x86::OpKind::Memory {
        let (seg, off) = mem_operand(cpu, ins);
        return binary_mem(cpu, ins, op, seg, off, ins.memory_size());
    }
    binary_reg(cpu, ins, op, popping, st_index(ins.op_register(0)), st_index(ins.op_register(1)))
}

/// The memory forms of [`binary`] once the pending-exception check is done.
#[inline(always)]
fn binary_mem(cpu: &mut Cpu, ins: &Instruction, op: Op, seg: usize, off: u32, size: MemorySize) -> Step {
    let m = read_source_sized(cpu, size, seg, off)?;
    if cpu.fpu.is_empty(0) {
        underflow_to(cpu, 0, false);
    } else {
        let st0 = cpu.fpu.st(0);
        let c = ctl(&cpu.fpu);
        // One direct call per operation, so that the float core's fast paths can be
        // inlined instead of returning their result through memory.
        let r = match op {
            Op::Add => x87::with_mem(st0, m, c, x87::add),
            Op::Mul => x87::with_mem(st0, m, c, x87::mul),
            Op::Sub => x87::with_mem(st0, m, c, x87::sub),
            Op::SubR => x87::with_mem_rev(st0, m, c, x87::sub),
            Op::Div => x87::with_mem(st0, m, c, x87::div),
            Op::DivR => x87::with_mem_rev(st0, m, c, x87::div),
        };
        deliver(cpu, 0, r, false);
    }
    record(cpu, ins, Some((seg, off)));
    Ok(())
}

/// The register forms of [`binary`] (ST(d) = ST(d) op ST(s)) once the pending-exception
/// check is done.
#[inline(always)]
fn binary_reg(cpu: &mut Cpu, ins: &Instruction, op: Op, popping: bool, d: u8, s: u8) -> Step {
    if cpu.fpu.is_empty(d) || cpu.fpu.is_empty(s) {
        underflow_to(cpu, d, popping);
    } else {
        let (a, b) = (cpu.fpu.st(d), cpu.fpu.st(s));
        let c = ctl(&cpu.fpu);
        let r = match op {
            Op::Add => x87::add(a, b, c),
            Op::Mul => x87::mul(a, b, c),
            Op::Sub => x87::sub(a, b, c),
            Op::SubR => x87::sub(b, a, c),
            Op::Div => x87::div(a, b, c),
            Op::DivR => x87::div(b, a, c),
        };
        deliver(cpu, d, r, popping);
    }
    record(cpu, ins, None);
    Ok(())
}

const OPS: [Op; 6] = [Op::Add, Op::Mul, Op::Sub, Op::SubR, Op::Div, Op::DivR];
const SIZES: [MemorySize; 4] =
    [MemorySize::Float32, MemorySize::Float64, MemorySize::Int16, MemorySize::Int32];

/// Fast handler (see `fast.rs`) of the memory forms: the operand pre-decoded.
fn fast_binary_m<const OP: u8, const SIZE: u8>(cpu: &mut Cpu, o: &CachedOp) -> Step {
    cpu.cur_fop = o.fop;
    check_pending(cpu)?;
    let seg = o.pre.mem.seg as usize;
    let off = cpu.ea_of(&o.pre.mem);
    binary_mem(cpu, &o.ins, OPS[OP as usize], seg, off, SIZES[SIZE as usize])
}

/// Fast handler of the register forms: ST(d) and ST(s) in `pre.r0` and `pre.r1`.
fn fast_binary_r<const OP: u8, const POP: bool>(cpu: &mut Cpu, o: &CachedOp) -> Step {
    cpu.cur_fop = o.fop;
    check_pending(cpu)?;
    binary_reg(cpu, &o.ins, OPS[OP as usize], POP, o.pre.r0 & 7, o.pre.r1 & 7)
}

/// The fast handler of an FADD/FMUL/FSUB(R)/FDIV(R) form, with its operands put in `p`.
pub(crate) fn fast_for(ins: &Instruction, p: &mut Pre) -> Option<Fast> {
    use Mnemonic as M;
    let m = ins.mnemonic();
    match m {
        M::Fsqrt => return Some(fast_unary::<0>),
        M::Fabs => return Some(fast_unary::<1>),
        M::Fchs => return Some(fast_unary::<2>),
        M::Frndint => return Some(fast_unary::<3>),
        _ => {}
    }
    if !matches!(
        m,
        M::Fadd
            | M::Faddp
            | M::Fiadd
            | M::Fmul
            | M::Fmulp
            | M::Fimul
            | M::Fsub
            | M::Fsubp
            | M::Fisub
            | M::Fsubr
            | M::Fsubrp
            | M::Fisubr
            | M::Fdiv
            | M::Fdivp
            | M::Fidiv
            | M::Fdivr
            | M::Fdivrp
            | M::Fidivr
    ) || ins.op_count() == 0
    {
        return None;
    }
    let (op, popping) = op_of(m);
    if ins.op0_kind() == iced_x86::OpKind::Memory {
        let size = SIZES.iter().position(|&s| s == ins.memory_size())?;
        p.mem = crate::fast::mem_of(ins)?;
        const M: [[Fast; 4]; 6] = [
            [fast_binary_m::<0, 0>, fast_binary_m::<0, 1>, fast_binary_m::<0, 2>, fast_binary_m::<0, 3>],
            [fast_binary_m::<1, 0>, fast_binary_m::<1, 1>, fast_binary_m::<1, 2>, fast_binary_m::<1, 3>],
            [fast_binary_m::<2, 0>, fast_binary_m::<2, 1>, fast_binary_m::<2, 2>, fast_binary_m::<2, 3>],
            [fast_binary_m::<3, 0>, fast_binary_m::<3, 1>, fast_binary_m::<3, 2>, fast_binary_m::<3, 3>],
            [fast_binary_m::<4, 0>, fast_binary_m::<4, 1>, fast_binary_m::<4, 2>, fast_binary_m::<4, 3>],
            [fast_binary_m::<5, 0>, fast_binary_m::<5, 1>, fast_binary_m::<5, 2>, fast_binary_m::<5, 3>],
        ];
        return Some(M[op as usize][size]);
    }
    if ins.op_count() != 2
        || ins.op0_kind() != iced_x86::OpKind::Register
        || ins.op1_kind() != iced_x86::OpKind::Register
    {
        return None;
    }
    p.r0 = st_index(ins.op_register(0));
    p.r1 = st_index(ins.op_register(1));
    const R: [[Fast; 2]; 6] = [
        [fast_binary_r::<0, false>, fast_binary_r::<0, true>],
        [fast_binary_r::<1, false>, fast_binary_r::<1, true>],
        [fast_binary_r::<2, false>, fast_binary_r::<2, true>],
        [fast_binary_r::<3, false>, fast_binary_r::<3, true>],
        [fast_binary_r::<4, false>, fast_binary_r::<4, true>],
        [fast_binary_r::<5, false>, fast_binary_r::<5, true>],
    ];
    Some(R[op as usize][popping as usize])
}

/// FSQRT, FABS, FCHS, FRNDINT: ST(0) in place.
fn unary(cpu: &mut Cpu, ins: &Instruction) -> Step {
    check_pending(cpu)?;
    unary_of(cpu, ins, ins.mnemonic())
}

/// Fast handler of FSQRT, FABS, FCHS and FRNDINT (see `fast.rs`).
fn fast_unary<const K: u8>(cpu: &mut Cpu, o: &CachedOp) -> Step {
    cpu.cur_fop = o.fop;
    check_pending(cpu)?;
    const M: [Mnemonic; 4] = [Mnemonic::Fsqrt, Mnemonic::Fabs, Mnemonic::Fchs, Mnemonic::Frndint];
    unary_of(cpu, &o.ins, M[K as usize])
}

/// [`unary`] once the pending-exception check is done.
#[inline(always)]
fn unary_of(cpu: &mut Cpu, ins: &Instruction, m: Mnemonic) -> Step {
    if cpu.fpu.is_empty(0) {
        underflow_to(cpu, 0, false);
    } else {
        let a = cpu.fpu.st(0);
        let c = ctl(&cpu.fpu);
        let r = match m {
            Mnemonic::Fsqrt => x87::sqrt(a, c),
            Mnemonic::Frndint => x87::frndint(a, c),
            Mnemonic::Fabs => {
                FpResult { value: a.abs(), flags: Default::default(), c1: false, write: true, trap: false }
            }
            _ => {
                FpResult { value: a.negate(), flags: Default::default(), c1: false, write: true, trap: false }
            }
        };
        deliver(cpu, 0, r, false);
    }
    record(cpu, ins, None);
    Ok(())
}

/// FSCALE: ST(0) = ST(0) * 2^trunc(ST(1)).
fn fscale(cpu: &mut Cpu, ins: &Instruction) -> Step {
    check_pending(cpu)?;
    if cpu.fpu.is_empty(0) || cpu.fpu.is_empty(1) {
        underflow_to(cpu, 0, false);
    } else {
        let r = x87::fscale(cpu.fpu.st(0), cpu.fpu.st(1), ctl(&cpu.fpu));
        deliver(cpu, 0, r, false);
    }
    record(cpu, ins, None);
    Ok(())
}

/// FXTRACT: ST(0) = exponent, then push the significand.
fn fxtract(cpu: &mut Cpu, ins: &Instruction) -> Step {
    check_pending(cpu)?;
    let x = &mut cpu.fpu;
    if x.is_empty(0) {
        if underflow(x) {
            x.set_st(0, F80::INDEFINITE);
            push(x, F80::INDEFINITE);
        }
    } else if push_overflows(x) {
        if overflow(x) {
            x.set_st(0, F80::INDEFINITE);
            push(x, F80::INDEFINITE);
        }
    } else {
        let r = x87::fxtract(x.st(0), ctl(x));
        raise(x, r.flags);
        set_c1(x, r.c1);
        if r.write {
            let (e, s) = r.value;
            x.set_st(0, e);
            push(x, s);
        }
    }
    record(cpu, ins, None);
    Ok(())
}

/// FPREM / FPREM1: ST(0) = partial remainder of ST(0) / ST(1); C0, C3, C1 = low
/// quotient bits, C2 = incomplete reduction.
fn fprem(cpu: &mut Cpu, ins: &Instruction) -> Step {
    check_pending(cpu)?;
    let x = &mut cpu.fpu;
    if x.is_empty(0) || x.is_empty(1) {
        // C2 = 0, C0 and C3 unchanged.
        x.fsw &= !C2;
        if underflow(x) {
            x.set_st(0, F80::INDEFINITE);
        }
    } else {
        let (a, b, c) = (x.st(0), x.st(1), ctl(x));
        let r = if ins.mnemonic() == Mnemonic::Fprem { x87::fprem(a, b, c) } else { x87::fprem1(a, b, c) };
        raise(x, r.flags);
        if !r.write || r.value.rem.is_nan() {
            // A NaN result (NaN operand or invalid operation) or an unmasked exception:
            // C2 = C1 = 0, C0 and C3 keep their values.
            x.fsw &= !(C1 | C2);
        } else {
            let (c0, c1, c2, c3) = r.value.condition_codes();
            set_c320(x, (c3, c2, c0));
            set_c1(x, c1);
        }
        if r.write {
            x.set_st(0, r.value.rem);
        }
    }
    record(cpu, ins, None);
    Ok(())
}
