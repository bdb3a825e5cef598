//! Comparisons: FCOM/FCOMP/FCOMPP, FUCOM/FUCOMP/FUCOMPP, FICOM/FICOMP, FTST (status
//! word C3/C2/C0), FCOMI/FCOMIP/FUCOMI/FUCOMIP (EFLAGS ZF/PF/CF), and FXAM.

use iced_x86::{Instruction, MemorySize, Mnemonic, OpKind};
use x86wow_fp::x87::{self, CompareResult};
use x86wow_fp::{Exceptions, FpResult, F80};

use super::arith::read_source_sized;
use super::{
    check_pending, ctl, fp_result, mem_operand, pop, raise, record, set_c1, set_c320, st_index, underflow,
};
use crate::cache::Op as CachedOp;
use crate::cpu::{Cpu, Step};
use crate::fast::{Fast, Pre};
use crate::flags::bits;
use crate::table::Table;

pub(super) fn register(t: &mut Table) {
    use Mnemonic as M;
    t.mnemonics(
        &[M::Fcom, M::Fcomp, M::Fcompp, M::Fucom, M::Fucomp, M::Fucompp, M::Ficom, M::Ficomp, M::Ftst],
        fcom,
    );
    t.mnemonics(&[M::Fcomi, M::Fcomip, M::Fucomi, M::Fucomip], fcomi);
    t.mnemonic(M::Fxam, fxam);
}

/// Compares ST(0) with a memory operand: the operand's own denormal flag is added
/// unless the comparison was decided by an invalid operand (as the arithmetic does).
fn compare_mem(a: F80, m: x87::MemOperand, c: x86wow_fp::X87Control, quiet: bool) -> FpResult<CompareResult> {
    let (b, conv) = x87::mem_operand(m);
    let r = x87::compare(a, b, c, quiet);
    if r.flags.contains(Exceptions::INVALID) || a.is_nan() || b.is_nan() || a.is_unsupported() {
        return r;
    }
    fp_result(r.value, r.flags | conv, false, c.masks)
}

/// A comparison's result (`None`: stack underflow) and its memory operand, if any.
type Outcome = (Option<FpResult<CompareResult>>, Option<(usize, u32)>);

/// The outcome of a comparison instruction.
fn compare(cpu: &mut Cpu, ins: &Instruction, quiet: bool) -> Result<Outcome, crate::cpu::Stop> {
    let last = ins.op_count().saturating_sub(1);
    if ins.op_count() > 0 && ins.op_kind(last) == OpKind::Memory {
        let (seg, off) = mem_operand(cpu, ins);
        return compare_memory(cpu, seg, off, ins.memory_size(), quiet);
    }
    let x = &cpu.fpu;
    let (b, b_empty) = match ins.mnemonic() {
        Mnemonic::Ftst => (F80::ZERO, false),
        Mnemonic::Fcompp | Mnemonic::Fucompp => (x.st(1), x.is_empty(1)),
        _ => {
            let i = st_index(ins.op_register(last));
            (x.st(i), x.is_empty(i))
        }
    };
    Ok(compare_st0(cpu, b, b_empty, quiet))
}

/// [`compare`] with a memory operand.
#[inline(always)]
fn compare_memory(
    cpu: &mut Cpu,
    seg: usize,
    off: u32,
    size: MemorySize,
    quiet: bool,
) -> Result<Outcome, crate::cpu::Stop> {
    let m = read_source_sized(cpu, size, seg, off)?;
    let x = &cpu.fpu;
    if x.is_empty(0) {
        return Ok((None, Some((seg, off))));
    }
    Ok((Some(compare_mem(x.st(0), m, ctl(x), quiet)), Some((seg, off))))
}

/// [`compare`] of ST(0) with a register value `b`.
#[inline(always)]
fn compare_st0(cpu: &Cpu, b: F80, b_empty: bool, quiet: bool) -> Outcome {
    let x = &cpu.fpu;
    if x.is_empty(0) || b_empty {
        return (None, None);
    }
    (Some(x87::compare(x.st(0), b, ctl(x), quiet)), None)
}

fn fcom(cpu: &mut Cpu, ins: &Instruction) -> Step {
    use Mnemonic as M;
    check_pending(cpu)?;
    let m = ins.mnemonic();
    let quiet = matches!(m, M::Fucom | M::Fucomp | M::Fucompp);
    let pops = match m {
        M::Fcomp | M::Fucomp | M::Ficomp => 1,
        M::Fcompp | M::Fucompp => 2,
        _ => 0,
    };
    let (r, mem) = compare(cpu, ins, quiet)?;
    fcom_finish(cpu, ins, r, mem, pops)
}

/// Delivers a comparison's outcome to the status word and pops `pops` times.
#[inline(always)]
fn fcom_finish(
    cpu: &mut Cpu,
    ins: &Instruction,
    r: Option<FpResult<CompareResult>>,
    mem: Option<(usize, u32)>,
    pops: u8,
) -> Step {
    let x = &mut cpu.fpu;
    let done = match r {
        None => {
            let masked = underflow(x);
            set_c320(x, (true, true, true));
            masked
        }
        Some(r) => {
            raise(x, r.flags);
            set_c1(x, false);
            set_c320(x, r.value.x87_cc());
            r.write
        }
    };
    if done {
        for _ in 0..pops {
            pop(x);
        }
    }
    record(cpu, ins, mem);
    Ok(())
}

// ----- fast handlers (see `fast.rs`): operands pre-decoded -----

const SIZES: [MemorySize; 4] =
    [MemorySize::Float32, MemorySize::Float64, MemorySize::Int16, MemorySize::Int32];

/// FCOM/FCOMP/FUCOM/FUCOMP ST(i) (`pre.r1`), FCOMPP/FUCOMPP (ST(1)).
fn fast_fcom_r<const QUIET: bool, const POPS: u8>(cpu: &mut Cpu, o: &CachedOp) -> Step {
    cpu.cur_fop = o.fop;
    check_pending(cpu)?;
    let i = o.pre.r1 & 7;
    let x = &cpu.fpu;
    let r = compare_st0(cpu, x.st(i), x.is_empty(i), QUIET);
    fcom_finish(cpu, &o.ins, r.0, r.1, POPS)
}

/// FCOM/FCOMP m32/m64 and FICOM/FICOMP m16/m32.
fn fast_fcom_m<const SIZE: u8, const POPS: u8>(cpu: &mut Cpu, o: &CachedOp) -> Step {
    cpu.cur_fop = o.fop;
    check_pending(cpu)?;
    let off = cpu.ea_of(&o.pre.mem);
    let (r, mem) = compare_memory(cpu, o.pre.mem.seg as usize, off, SIZES[SIZE as usize], false)?;
    fcom_finish(cpu, &o.ins, r, mem, POPS)
}

/// The fast handler of an FCOM-family form, with its operands put in `p`.
pub(super) fn fast_for(ins: &Instruction, p: &mut Pre) -> Option<Fast> {
    use Mnemonic as M;
    let m = ins.mnemonic();
    let Some(last) = ins.op_count().checked_sub(1) else {
        // FCOMPP and FUCOMPP compare with ST(1).
        p.r1 = 1;
        return match m {
            M::Fcompp => Some(fast_fcom_r::<false, 2>),
            M::Fucompp => Some(fast_fcom_r::<true, 2>),
            _ => None,
        };
    };
    if ins.op_kind(last) == OpKind::Memory {
        let size = SIZES.iter().position(|&s| s == ins.memory_size())?;
        p.mem = crate::fast::mem_of(ins)?;
        const KEEP: [Fast; 4] =
            [fast_fcom_m::<0, 0>, fast_fcom_m::<1, 0>, fast_fcom_m::<2, 0>, fast_fcom_m::<3, 0>];
        const POP: [Fast; 4] =
            [fast_fcom_m::<0, 1>, fast_fcom_m::<1, 1>, fast_fcom_m::<2, 1>, fast_fcom_m::<3, 1>];
        return match m {
            M::Fcom | M::Ficom => Some(KEEP[size]),
            M::Fcomp | M::Ficomp => Some(POP[size]),
            _ => None,
        };
    }
    if ins.op_kind(last) != OpKind::Register {
        return None;
    }
    p.r1 = st_index(ins.op_register(last));
    Some(match m {
        M::Fcom => fast_fcom_r::<false, 0>,
        M::Fcomp => fast_fcom_r::<false, 1>,
        M::Fucom => fast_fcom_r::<true, 0>,
        M::Fucomp => fast_fcom_r::<true, 1>,
        _ => return None,
    })
}

fn fcomi(cpu: &mut Cpu, ins: &Instruction) -> Step {
    use Mnemonic as M;
    check_pending(cpu)?;
    let m = ins.mnemonic();
    let quiet = matches!(m, M::Fucomi | M::Fucomip);
    let popping = matches!(m, M::Fcomip | M::Fucomip);
    let (r, _) = compare(cpu, ins, quiet)?;
    let x = &mut cpu.fpu;
    let (done, (zf, pf, cf)) = match r {
        None => (underflow(x), (true, true, true)),
        Some(r) => {
            raise(x, r.flags);
            (r.write, r.value.eflags())
        }
    };
    if done && popping {
        pop(x);
    }
    {
        let v = if zf { bits::ZF } else { 0 } | if pf { bits::PF } else { 0 } | if cf { bits::CF } else { 0 };
        cpu.flags.set_masked(v, bits::ARITH);
    }
    record(cpu, ins, None);
    Ok(())
}

/// FXAM: C3/C2/C0 classify ST(0) (empty included), C1 = its sign bit.
fn fxam(cpu: &mut Cpu, ins: &Instruction) -> Step {
    check_pending(cpu)?;
    let x = &mut cpu.fpu;
    let (class, sign) = x87::fxam(x.st(0), x.is_empty(0));
    set_c320(x, class.cc());
    set_c1(x, sign);
    record(cpu, ins, None);
    Ok(())
}
