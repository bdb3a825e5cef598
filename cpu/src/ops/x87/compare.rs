//! Comparisons: FCOM/FCOMP/FCOMPP, FUCOM/FUCOMP/FUCOMPP, FICOM/FICOMP, FTST (status
//! word C3/C2/C0), FCOMI/FCOMIP/FUCOMI/FUCOMIP (EFLAGS ZF/PF/CF), and FXAM.

use iced_x86::{Instruction, Mnemonic, OpKind};
use x86wow_fp::x87::{self, CompareResult};
use x86wow_fp::{Exceptions, FpResult, F80};

use super::arith::read_source;
use super::{
    check_pending, ctl, fp_result, mem_operand, pop, raise, record, set_c1, set_c320, st_index, underflow,
};
use crate::cpu::{Cpu, Step};
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
        let m = read_source(cpu, ins, seg, off)?;
        let x = &cpu.fpu;
        if x.is_empty(0) {
            return Ok((None, Some((seg, off))));
        }
        return Ok((Some(compare_mem(x.st(0), m, ctl(x), quiet)), Some((seg, off))));
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
    if x.is_empty(0) || b_empty {
        return Ok((None, None));
    }
    Ok((Some(x87::compare(x.st(0), b, ctl(x), quiet)), None))
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
