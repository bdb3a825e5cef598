//! FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X and FYL2XP1.
//!
//! The values come from `x86wow_fp`, which models AMD's reduction (66-bit pi), its
//! 68-bit intermediates, its sine polynomial's error curve and out-of-domain behaviour
//! exactly, but otherwise rounds the function correctly where the hardware's microcode
//! is off by up to about 0.6 ulp: 0.1-7 % of in-domain operands differ from the hardware
//! by one ulp or in C1 (see the float crate's README).

use iced_x86::{Instruction, Mnemonic};
use x86wow_fp::x87;
use x86wow_fp::F80;

use super::{check_pending, ctl, overflow, pop, push, push_overflows, raise, record, set_c1, underflow, C2};
use crate::cpu::{Cpu, Step};
use crate::table::Table;

pub(super) fn register(t: &mut Table) {
    use Mnemonic as M;
    t.mnemonics(&[M::Fsin, M::Fcos], trig);
    t.mnemonics(&[M::Fptan, M::Fsincos], trig_push);
    t.mnemonics(&[M::Fpatan, M::Fyl2x, M::Fyl2xp1], binary_pop);
    t.mnemonic(M::F2xm1, f2xm1);
}

/// Sets C2 (the out-of-range indicator of the trigonometric instructions).
fn set_c2(x: &mut crate::fpu::X87, v: bool) {
    x.fsw = (x.fsw & !C2) | if v { C2 } else { 0 };
}

/// FSIN, FCOS: ST(0) in place; |x| >= 2^63 sets C2 and leaves ST(0) alone.
fn trig(cpu: &mut Cpu, ins: &Instruction) -> Step {
    check_pending(cpu)?;
    let x = &mut cpu.fpu;
    if x.is_empty(0) {
        if underflow(x) {
            x.set_st(0, F80::INDEFINITE);
        }
        set_c2(x, false);
    } else {
        let (a, c) = (x.st(0), ctl(x));
        let r = if ins.mnemonic() == Mnemonic::Fsin { x87::fsin(a, c) } else { x87::fcos(a, c) };
        raise(x, r.flags);
        set_c1(x, r.c1);
        match r.value {
            None => set_c2(x, true),
            Some(v) => {
                set_c2(x, false);
                if r.write {
                    x.set_st(0, v);
                }
            }
        }
    }
    record(cpu, ins, None);
    Ok(())
}

/// FPTAN (ST(0) = tan, push 1.0) and FSINCOS (ST(0) = sin, push cos).
fn trig_push(cpu: &mut Cpu, ins: &Instruction) -> Step {
    check_pending(cpu)?;
    let x = &mut cpu.fpu;
    if x.is_empty(0) {
        if underflow(x) {
            x.set_st(0, F80::INDEFINITE);
            push(x, F80::INDEFINITE);
        }
        set_c2(x, false);
    } else if push_overflows(x) {
        if overflow(x) {
            x.set_st(0, F80::INDEFINITE);
            push(x, F80::INDEFINITE);
        }
        set_c2(x, false);
    } else {
        let (a, c) = (x.st(0), ctl(x));
        let r = if ins.mnemonic() == Mnemonic::Fptan { x87::fptan(a, c) } else { x87::fsincos(a, c) };
        raise(x, r.flags);
        set_c1(x, r.c1);
        match r.value {
            None => set_c2(x, r.write),
            Some((v, pushed)) => {
                set_c2(x, false);
                if r.write {
                    x.set_st(0, v);
                    push(x, pushed);
                }
            }
        }
    }
    record(cpu, ins, None);
    Ok(())
}

/// FPATAN, FYL2X, FYL2XP1: ST(1) = f(ST(0), ST(1)), then pop.
fn binary_pop(cpu: &mut Cpu, ins: &Instruction) -> Step {
    check_pending(cpu)?;
    let x = &mut cpu.fpu;
    if x.is_empty(0) || x.is_empty(1) {
        if underflow(x) {
            x.set_st(1, F80::INDEFINITE);
            pop(x);
        }
    } else {
        let (a, b, c) = (x.st(0), x.st(1), ctl(x));
        let r = match ins.mnemonic() {
            Mnemonic::Fpatan => x87::fpatan(a, b, c),
            Mnemonic::Fyl2x => x87::fyl2x(a, b, c),
            _ => x87::fyl2xp1(a, b, c),
        };
        raise(x, r.flags);
        set_c1(x, r.c1);
        if r.write {
            x.set_st(1, r.value);
            pop(x);
        }
    }
    record(cpu, ins, None);
    Ok(())
}

/// F2XM1: ST(0) = 2^ST(0) - 1.
fn f2xm1(cpu: &mut Cpu, ins: &Instruction) -> Step {
    check_pending(cpu)?;
    let x = &mut cpu.fpu;
    if x.is_empty(0) {
        if underflow(x) {
            x.set_st(0, F80::INDEFINITE);
        }
    } else {
        let r = x87::f2xm1(x.st(0), ctl(x));
        raise(x, r.flags);
        set_c1(x, r.c1);
        if r.write {
            x.set_st(0, r.value);
        }
    }
    record(cpu, ins, None);
    Ok(())
}
