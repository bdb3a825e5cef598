//! Conversions between integers, single and double precision: CVTPI2PS/PD,
//! CVT(T)PS2PI, CVT(T)PD2PI (MMX forms), CVTSI2SS/SD, CVT(T)SS2SI, CVT(T)SD2SI,
//! CVTPS2PD, CVTPD2PS, CVTSS2SD, CVTSD2SS, CVTDQ2PS, CVT(T)PS2DQ, CVTDQ2PD and
//! CVT(T)PD2DQ. Failed float-to-integer conversions give the integer indefinite
//! 0x80000000 with IE (from `x86wow_fp`).

use iced_x86::{Instruction, Mnemonic, OpKind};
use x86wow_fp::sse;

use super::fp::{csr, Acc};
use super::{
    build, enter, is_mm, lane, mmx_transition, read_op, reg_value, sext, touches_mm, vmask, write_op,
};
use crate::cpu::{Cpu, Step};
use crate::table::Table;

fn cvt(cpu: &mut Cpu, ins: &Instruction) -> Step {
    use Mnemonic as M;
    enter(cpu, ins)?;
    let s = read_op(cpu, ins, 1)?;
    let d = match ins.op_kind(0) {
        OpKind::Register if !is_mm(ins.op_register(0)) => reg_value(cpu, ins.op_register(0)),
        _ => 0,
    };
    let c = csr(cpu);
    let mut acc = Acc::default();
    let m = ins.mnemonic();
    let trunc =
        matches!(m, M::Cvttps2pi | M::Cvttpd2pi | M::Cvttss2si | M::Cvttsd2si | M::Cvttps2dq | M::Cvttpd2dq);
    let i32_of = |v: u128, i: usize| sext(lane(v, 32, i), 32);
    let r: u128 = match m {
        M::Cvtpi2ps => (d & !vmask(8)) | build(2, 32, |i| acc.add(sse::i64_to_f32(i32_of(s, i), c)) as u64),
        M::Cvtpi2pd | M::Cvtdq2pd => build(2, 64, |i| acc.add(sse::i64_to_f64(i32_of(s, i), c))),
        M::Cvtps2pi | M::Cvttps2pi => {
            build(2, 32, |i| acc.add(sse::f32_to_i32(lane(s, 32, i) as u32, trunc, c)) as u32 as u64)
        }
        M::Cvtpd2pi | M::Cvttpd2pi | M::Cvtpd2dq | M::Cvttpd2dq => {
            build(2, 32, |i| acc.add(sse::f64_to_i32(lane(s, 64, i), trunc, c)) as u32 as u64)
        }
        M::Cvtsi2ss => (d & !vmask(4)) | acc.add(sse::i64_to_f32(i32_of(s, 0), c)) as u128,
        M::Cvtsi2sd => (d & !vmask(8)) | acc.add(sse::i64_to_f64(i32_of(s, 0), c)) as u128,
        M::Cvtss2si | M::Cvttss2si => acc.add(sse::f32_to_i32(s as u32, trunc, c)) as u32 as u128,
        M::Cvtsd2si | M::Cvttsd2si => acc.add(sse::f64_to_i32(s as u64, trunc, c)) as u32 as u128,
        M::Cvtps2pd => build(2, 64, |i| acc.add(sse::f32_to_f64(lane(s, 32, i) as u32, c))),
        M::Cvtpd2ps => build(2, 32, |i| acc.add(sse::f64_to_f32(lane(s, 64, i), c)) as u64),
        M::Cvtss2sd => (d & !vmask(8)) | acc.add(sse::f32_to_f64(s as u32, c)) as u128,
        M::Cvtsd2ss => (d & !vmask(4)) | acc.add(sse::f64_to_f32(s as u64, c)) as u128,
        M::Cvtdq2ps => build(4, 32, |i| acc.add(sse::i64_to_f32(i32_of(s, i), c)) as u64),
        _ => {
            // Cvtps2dq, Cvttps2dq
            build(4, 32, |i| acc.add(sse::f32_to_i32(lane(s, 32, i) as u32, trunc, c)) as u32 as u64)
        }
    };
    if let Err(e) = acc.finish(cpu) {
        // Measured: an MMX-register form makes the x87 transition even when it raises #XM.
        if touches_mm(ins) {
            mmx_transition(cpu);
        }
        return Err(e);
    }
    write_op(cpu, ins, 0, r)
}

pub fn register(t: &mut Table) {
    use Mnemonic as M;
    t.mnemonics(
        &[
            M::Cvtpi2ps,
            M::Cvtpi2pd,
            M::Cvtps2pi,
            M::Cvttps2pi,
            M::Cvtpd2pi,
            M::Cvttpd2pi,
            M::Cvtsi2ss,
            M::Cvtsi2sd,
            M::Cvtss2si,
            M::Cvttss2si,
            M::Cvtsd2si,
            M::Cvttsd2si,
            M::Cvtps2pd,
            M::Cvtpd2ps,
            M::Cvtss2sd,
            M::Cvtsd2ss,
            M::Cvtdq2ps,
            M::Cvtps2dq,
            M::Cvttps2dq,
            M::Cvtdq2pd,
            M::Cvtpd2dq,
            M::Cvttpd2dq,
        ],
        cvt,
    );
}
