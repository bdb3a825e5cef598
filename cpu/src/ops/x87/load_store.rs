//! Loads (FLD, FILD, FBLD, the constants), stores (FST/FSTP, FIST/FISTP, FISTTP,
//! FBSTP), FXCH, FCMOVcc, FFREE/FFREEP and FINCSTP/FDECSTP.

use iced_x86::{Code, Instruction, MemorySize, Mnemonic, OpKind};
use x86wow_fp::x87::{self, Constant, IntConv};
use x86wow_fp::{Exceptions, FpResult, F80};

use super::{
    check_pending, ctl, mem_operand, overflow, pop, push, push_overflows, raise, record, set_c1, st_index,
    underflow,
};
use crate::cache::Op as CachedOp;
use crate::cpu::{Cpu, Step};
use crate::fast::{Fast, Pre};
use crate::table::Table;

pub(super) fn register(t: &mut Table) {
    use Mnemonic as M;
    t.mnemonics(&[M::Fld, M::Fild, M::Fbld], fld);
    t.mnemonics(&[M::Fld1, M::Fldl2t, M::Fldl2e, M::Fldpi, M::Fldlg2, M::Fldln2, M::Fldz], fld_const);
    t.mnemonics(&[M::Fst, M::Fstp, M::Fstpnce], fst);
    t.mnemonics(&[M::Fist, M::Fistp, M::Fisttp, M::Fbstp], fst);
    t.mnemonic(M::Fxch, fxch);
    t.mnemonics(
        &[M::Fcmovb, M::Fcmove, M::Fcmovbe, M::Fcmovu, M::Fcmovnb, M::Fcmovne, M::Fcmovnbe, M::Fcmovnu],
        fcmov,
    );
    t.mnemonics(&[M::Ffree, M::Ffreep], ffree);
    t.mnemonics(&[M::Fincstp, M::Fdecstp], fincstp);
}

/// Pushes a loaded value: stack overflow if ST(7) is in use (masked: the real
/// indefinite is pushed), otherwise the conversion's flags and, unless an unmasked
/// exception suppresses it, the push. C1 is cleared unless the stack overflowed.
fn push_result(cpu: &mut Cpu, r: FpResult<F80>) {
    let x = &mut cpu.fpu;
    if push_overflows(x) {
        if overflow(x) {
            push(x, F80::INDEFINITE);
        }
        return;
    }
    raise(x, r.flags);
    set_c1(x, false);
    if r.write {
        push(x, r.value);
    }
}

fn plain(v: F80) -> FpResult<F80> {
    FpResult { value: v, flags: Exceptions::empty(), c1: false, write: true, trap: false }
}

/// FLD m32/m64/m80/ST(i), FILD m16/m32/m64, FBLD m80.
fn fld(cpu: &mut Cpu, ins: &Instruction) -> Step {
    check_pending(cpu)?;
    if ins.op_kind(0) == OpKind::Register {
        return fld_reg(cpu, ins, st_index(ins.op_register(0)));
    }
    let (seg, off) = mem_operand(cpu, ins);
    fld_mem(cpu, ins, seg, off, ins.memory_size())
}

/// FLD ST(i), once the pending-exception check is done.
#[inline(always)]
fn fld_reg(cpu: &mut Cpu, ins: &Instruction, i: u8) -> Step {
    {
        let x = &mut cpu.fpu;
        // An empty source is reported (as underflow) before a full stack.
        if x.is_empty(i) {
            if underflow(x) {
                push(x, F80::INDEFINITE);
            }
        } else if push_overflows(x) {
            if overflow(x) {
                push(x, F80::INDEFINITE);
            }
        } else {
            let v = x.st(i);
            set_c1(x, false);
            push(x, v);
        }
    }
    record(cpu, ins, None);
    Ok(())
}

/// The memory forms of [`fld`], once the pending-exception check is done.
#[inline(always)]
fn fld_mem(cpu: &mut Cpu, ins: &Instruction, seg: usize, off: u32, size: MemorySize) -> Step {
    let c = ctl(&cpu.fpu);
    let r = match size {
        MemorySize::Float32 => x87::from_f32(u32::from_le_bytes(cpu.read_mem_aligned(seg, off, 4)?), c),
        MemorySize::Float64 => x87::from_f64(u64::from_le_bytes(cpu.read_mem_aligned(seg, off, 8)?), c),
        MemorySize::Float80 => plain(F80::from_le_bytes(cpu.read_mem_aligned(seg, off, 8)?)),
        MemorySize::Bcd => plain(x87::from_bcd(cpu.read_mem_aligned(seg, off, 8)?)),
        MemorySize::Int16 => plain(x87::from_i16(i16::from_le_bytes(cpu.read_mem_aligned(seg, off, 2)?))),
        MemorySize::Int32 => plain(x87::from_i32(i32::from_le_bytes(cpu.read_mem_aligned(seg, off, 4)?))),
        _ => plain(x87::from_i64(i64::from_le_bytes(cpu.read_mem_aligned(seg, off, 8)?))),
    };
    // An unmasked denormal-operand exception does not stop the load (only an invalid
    // one, from an SNaN, does).
    let r = if r.flags == Exceptions::DENORMAL { FpResult { write: true, ..r } } else { r };
    push_result(cpu, r);
    record(cpu, ins, Some((seg, off)));
    Ok(())
}

/// FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ: rounded per RC, no flags.
fn fld_const(cpu: &mut Cpu, ins: &Instruction) -> Step {
    check_pending(cpu)?;
    let k = match ins.mnemonic() {
        Mnemonic::Fld1 => Constant::One,
        Mnemonic::Fldl2t => Constant::L2T,
        Mnemonic::Fldl2e => Constant::L2E,
        Mnemonic::Fldpi => Constant::Pi,
        Mnemonic::Fldlg2 => Constant::Lg2,
        Mnemonic::Fldln2 => Constant::Ln2,
        _ => Constant::Zero,
    };
    let v = x87::constant(k, ctl(&cpu.fpu).rounding);
    push_result(cpu, plain(v));
    record(cpu, ins, None);
    Ok(())
}

/// A store's memory image and outcome.
struct Stored<const N: usize> {
    bytes: [u8; N],
    flags: Exceptions,
    c1: bool,
    write: bool,
}

fn stored<T, const N: usize>(r: FpResult<T>, f: impl FnOnce(T) -> [u8; N]) -> Stored<N> {
    Stored { bytes: f(r.value), flags: r.flags, c1: r.c1, write: r.write }
}

/// Writes a store's image (when it is written at all) and then updates the FPU, so
/// that a faulting store leaves the FPU as it was.
#[inline(always)]
fn commit<const N: usize>(
    cpu: &mut Cpu,
    ins: &Instruction,
    s: Option<Stored<N>>,
    (seg, off): (usize, u32),
    align: u32,
    indefinite: [u8; N],
    popping: bool,
) -> Step {
    match s {
        None => {
            // ST(0) empty: stack underflow; masked, the indefinite is stored.
            if cpu.fpu.fcw & 1 != 0 {
                cpu.write_mem_aligned(seg, off, align, indefinite)?;
            } else {
                cpu.probe_write(seg, off, N as u32, align)?;
            }
            let x = &mut cpu.fpu;
            if underflow(x) && popping {
                pop(x);
            }
        }
        Some(s) => {
            if s.write {
                cpu.write_mem_aligned(seg, off, align, s.bytes)?;
            } else {
                cpu.probe_write(seg, off, N as u32, align)?;
            }
            let x = &mut cpu.fpu;
            raise(x, s.flags);
            set_c1(x, s.c1);
            if s.write && popping {
                pop(x);
            }
        }
    }
    record(cpu, ins, Some((seg, off)));
    Ok(())
}

/// FST/FSTP (m32, m64, m80, ST(i)), FIST/FISTP/FISTTP (m16, m32, m64), FBSTP.
fn fst(cpu: &mut Cpu, ins: &Instruction) -> Step {
    use Mnemonic as M;
    check_pending(cpu)?;
    let popping = !matches!(ins.mnemonic(), M::Fst | M::Fist);
    if ins.op_kind(0) == OpKind::Register {
        return fst_reg(cpu, ins, st_index(ins.op_register(0)), popping, ins.mnemonic() == M::Fstpnce);
    }
    let (seg, off) = mem_operand(cpu, ins);
    let mode = if ins.mnemonic() == M::Fisttp { IntConv::Truncate } else { IntConv::Round };
    fst_mem(cpu, ins, seg, off, ins.memory_size(), popping, mode)
}

/// FST/FSTP ST(i) (`nce`: FSTP1), once the pending-exception check is done.
#[inline(always)]
fn fst_reg(cpu: &mut Cpu, ins: &Instruction, i: u8, popping: bool, nce: bool) -> Step {
    {
        let x = &mut cpu.fpu;
        if x.is_empty(0) && nce {
            // FSTP1 ("no check empty"): an empty ST(0) is not an error; nothing is
            // stored and the stack pops.
            set_c1(x, false);
            pop(x);
        } else if x.is_empty(0) {
            if underflow(x) {
                x.set_st(i, F80::INDEFINITE);
                if popping {
                    pop(x);
                }
            }
        } else {
            let v = x.st(0);
            set_c1(x, false);
            x.set_st(i, v);
            if popping {
                pop(x);
            }
        }
    }
    record(cpu, ins, None);
    Ok(())
}

/// The memory forms of [`fst`], once the pending-exception check is done.
#[inline(always)]
fn fst_mem(
    cpu: &mut Cpu,
    ins: &Instruction,
    seg: usize,
    off: u32,
    size: MemorySize,
    popping: bool,
    mode: IntConv,
) -> Step {
    let x = &cpu.fpu;
    let (v, empty, c) = (x.st(0), x.is_empty(0), ctl(x));
    match size {
        MemorySize::Float32 => {
            let s = (!empty).then(|| stored(x87::to_f32(v, c), u32::to_le_bytes));
            commit(cpu, ins, s, (seg, off), 4, 0xffc0_0000u32.to_le_bytes(), popping)
        }
        MemorySize::Float64 => {
            let s = (!empty).then(|| stored(x87::to_f64(v, c), u64::to_le_bytes));
            commit(cpu, ins, s, (seg, off), 8, 0xfff8_0000_0000_0000u64.to_le_bytes(), popping)
        }
        MemorySize::Float80 => {
            let s = (!empty).then(|| stored(plain(v), F80::to_le_bytes));
            commit(cpu, ins, s, (seg, off), 8, F80::INDEFINITE.to_le_bytes(), popping)
        }
        MemorySize::Bcd => {
            let s = (!empty).then(|| stored(x87::to_bcd(v, c), |b| b));
            commit(cpu, ins, s, (seg, off), 8, x87::conv::BCD_INDEFINITE, popping)
        }
        MemorySize::Int16 => {
            let s = (!empty).then(|| stored(x87::to_i16(v, c, mode), i16::to_le_bytes));
            commit(cpu, ins, s, (seg, off), 2, 0x8000u16.to_le_bytes(), popping)
        }
        MemorySize::Int32 => {
            let s = (!empty).then(|| stored(x87::to_i32(v, c, mode), i32::to_le_bytes));
            commit(cpu, ins, s, (seg, off), 4, 0x8000_0000u32.to_le_bytes(), popping)
        }
        _ => {
            let s = (!empty).then(|| stored(x87::to_i64(v, c, mode), i64::to_le_bytes));
            commit(cpu, ins, s, (seg, off), 8, (1u64 << 63).to_le_bytes(), popping)
        }
    }
}

// ----- fast handlers (see `fast.rs`): operands pre-decoded -----

const LOAD_SIZES: [MemorySize; 6] = [
    MemorySize::Float32,
    MemorySize::Float64,
    MemorySize::Float80,
    MemorySize::Int16,
    MemorySize::Int32,
    MemorySize::Int64,
];
const STORE_SIZES: [MemorySize; 5] =
    [MemorySize::Float32, MemorySize::Float64, MemorySize::Int16, MemorySize::Int32, MemorySize::Int64];

fn fast_fld_r(cpu: &mut Cpu, o: &CachedOp) -> Step {
    cpu.cur_fop = o.fop;
    check_pending(cpu)?;
    fld_reg(cpu, &o.ins, o.pre.r0 & 7)
}

fn fast_fld_m<const SIZE: u8>(cpu: &mut Cpu, o: &CachedOp) -> Step {
    cpu.cur_fop = o.fop;
    check_pending(cpu)?;
    let off = cpu.ea_of(&o.pre.mem);
    fld_mem(cpu, &o.ins, o.pre.mem.seg as usize, off, LOAD_SIZES[SIZE as usize])
}

fn fast_fst_r<const POP: bool>(cpu: &mut Cpu, o: &CachedOp) -> Step {
    cpu.cur_fop = o.fop;
    check_pending(cpu)?;
    fst_reg(cpu, &o.ins, o.pre.r0 & 7, POP, false)
}

fn fast_fst_m<const SIZE: u8, const POP: bool, const TRUNC: bool>(cpu: &mut Cpu, o: &CachedOp) -> Step {
    cpu.cur_fop = o.fop;
    check_pending(cpu)?;
    let off = cpu.ea_of(&o.pre.mem);
    let mode = if TRUNC { IntConv::Truncate } else { IntConv::Round };
    fst_mem(cpu, &o.ins, o.pre.mem.seg as usize, off, STORE_SIZES[SIZE as usize], POP, mode)
}

/// The fast handler of an FLD/FILD/FST(P)/FIST(P)/FISTTP form, with its operands put
/// in `p`.
pub(super) fn fast_for(ins: &Instruction, p: &mut Pre) -> Option<Fast> {
    use Mnemonic as M;
    let m = ins.mnemonic();
    if ins.op_count() != 1 {
        return None;
    }
    let mem = ins.op0_kind() == OpKind::Memory;
    if !mem && ins.op0_kind() != OpKind::Register {
        return None;
    }
    match (m, mem) {
        (M::Fld, false) => {
            p.r0 = st_index(ins.op_register(0));
            Some(fast_fld_r)
        }
        (M::Fld | M::Fild, true) => {
            let size = LOAD_SIZES.iter().position(|&s| s == ins.memory_size())?;
            p.mem = crate::fast::mem_of(ins)?;
            const T: [Fast; 6] = [
                fast_fld_m::<0>,
                fast_fld_m::<1>,
                fast_fld_m::<2>,
                fast_fld_m::<3>,
                fast_fld_m::<4>,
                fast_fld_m::<5>,
            ];
            Some(T[size])
        }
        (M::Fst | M::Fstp, false) => {
            p.r0 = st_index(ins.op_register(0));
            Some(if m == M::Fstp { fast_fst_r::<true> } else { fast_fst_r::<false> })
        }
        (M::Fst | M::Fstp | M::Fist | M::Fistp | M::Fisttp, true) => {
            let size = STORE_SIZES.iter().position(|&s| s == ins.memory_size())?;
            p.mem = crate::fast::mem_of(ins)?;
            const KEEP: [Fast; 5] = [
                fast_fst_m::<0, false, false>,
                fast_fst_m::<1, false, false>,
                fast_fst_m::<2, false, false>,
                fast_fst_m::<3, false, false>,
                fast_fst_m::<4, false, false>,
            ];
            const POP: [Fast; 5] = [
                fast_fst_m::<0, true, false>,
                fast_fst_m::<1, true, false>,
                fast_fst_m::<2, true, false>,
                fast_fst_m::<3, true, false>,
                fast_fst_m::<4, true, false>,
            ];
            const TRUNC: [Fast; 5] = [
                fast_fst_m::<0, true, true>,
                fast_fst_m::<1, true, true>,
                fast_fst_m::<2, true, true>,
                fast_fst_m::<3, true, true>,
                fast_fst_m::<4, true, true>,
            ];
            Some(match m {
                M::Fst | M::Fist => KEEP[size],
                M::Fisttp => TRUNC[size],
                _ => POP[size],
            })
        }
        _ => None,
    }
}

/// FXCH ST(i) (and its reserved aliases): an empty operand is stack underflow; masked,
/// the empty registers take the real indefinite before the exchange.
fn fxch(cpu: &mut Cpu, ins: &Instruction) -> Step {
    check_pending(cpu)?;
    let i = st_index(ins.op_register(1));
    let x = &mut cpu.fpu;
    let (e0, ei) = (x.is_empty(0), x.is_empty(i));
    if e0 || ei {
        if !underflow(x) {
            record(cpu, ins, None);
            return Ok(());
        }
        if e0 {
            x.set_st(0, F80::INDEFINITE);
        }
        if ei {
            x.set_st(i, F80::INDEFINITE);
        }
    } else {
        set_c1(x, false);
    }
    let (a, b) = (x.st(0), x.st(i));
    x.set_st(0, b);
    x.set_st(i, a);
    record(cpu, ins, None);
    Ok(())
}

/// FCMOVcc ST(0), ST(i).
fn fcmov(cpu: &mut Cpu, ins: &Instruction) -> Step {
    use Mnemonic as M;
    check_pending(cpu)?;
    let f = &cpu.flags;
    let cond = match ins.mnemonic() {
        M::Fcmovb => f.cf(),
        M::Fcmove => f.zf(),
        M::Fcmovbe => f.cf() || f.zf(),
        M::Fcmovu => f.pf(),
        M::Fcmovnb => !f.cf(),
        M::Fcmovne => !f.zf(),
        M::Fcmovnbe => !f.cf() && !f.zf(),
        _ => !f.pf(),
    };
    let i = st_index(ins.op_register(1));
    let x = &mut cpu.fpu;
    if x.is_empty(0) || x.is_empty(i) {
        // Masked, ST(0) takes the indefinite whether or not the condition holds.
        if underflow(x) {
            x.set_st(0, F80::INDEFINITE);
        }
    } else if cond {
        // C1 is left alone.
        let v = x.st(i);
        x.set_st(0, v);
    }
    record(cpu, ins, None);
    Ok(())
}

/// FFREE ST(i) marks the register empty (and clears C1); FFREEP also pops.
fn ffree(cpu: &mut Cpu, ins: &Instruction) -> Step {
    check_pending(cpu)?;
    let i = st_index(ins.op_register(0));
    let x = &mut cpu.fpu;
    let p = x.phys(i);
    x.empty |= 1 << p;
    set_c1(x, false);
    if ins.code() == Code::Ffreep_sti {
        pop(x);
    }
    record(cpu, ins, None);
    Ok(())
}

/// FINCSTP / FDECSTP rotate TOP (tags unchanged), C1 = 0.
fn fincstp(cpu: &mut Cpu, ins: &Instruction) -> Step {
    check_pending(cpu)?;
    let x = &mut cpu.fpu;
    x.top = if ins.mnemonic() == Mnemonic::Fincstp { (x.top + 1) & 7 } else { (x.top + 7) & 7 };
    set_c1(x, false);
    record(cpu, ins, None);
    Ok(())
}
