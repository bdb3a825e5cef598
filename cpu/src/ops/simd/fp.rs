//! SSE floating-point arithmetic: ADD/SUB/MUL/DIV/MIN/MAX/SQRT, RCP/RSQRT, CMP,
//! ROUND (packed and scalar, single and double), HADD/HSUB, ADDSUB, DPPS/DPPD and
//! COMISS/UCOMISS/COMISD/UCOMISD. The arithmetic itself is `x86wow_fp::sse`'s.
//!
//! MXCSR flags: every lane's flags are OR-ed into MXCSR; when any lane raised an
//! unmasked invalid, denormal or divide-by-zero exception the instruction stops before
//! computing (Intel's and AMD's "pre-computation" exceptions), so only those flags (of
//! all lanes) are reported. Any unmasked exception raises #XM with the destination
//! unchanged.

use iced_x86::{Code, Instruction, Mnemonic};
use x86wow_fp::{sse, Exceptions, FpResult, Mxcsr};

use super::{build, lane, read_op, reg_value, vmask, write_op};
use crate::cpu::{Cpu, Step, Stop};
use crate::exception::{vector, Exception};
use crate::flags::bits;
use crate::table::Table;

/// The arithmetic state of MXCSR.
#[inline]
pub(crate) fn csr(cpu: &Cpu) -> Mxcsr {
    Mxcsr::from_bits(cpu.simd.mxcsr)
}

/// Exception flags accumulated over the lanes of one instruction (and over the stages
/// of DPPS/DPPD, each of which ends at its own pre-computation exceptions).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Acc {
    /// Flags of the stages already ended.
    done: Exceptions,
    /// Flags of the current stage.
    flags: Exceptions,
    trap: bool,
}

impl Acc {
    /// Records a lane's flags and returns its value.
    #[inline]
    pub(crate) fn add<T>(&mut self, r: FpResult<T>) -> T {
        self.flags |= r.flags;
        self.trap |= r.trap;
        r.value
    }

    /// Ends a stage of a multi-stage instruction; true when an unmasked exception stops
    /// the instruction there.
    pub(crate) fn end_stage(&mut self, masks: Exceptions) -> bool {
        let pre = Exceptions::INVALID | Exceptions::DENORMAL | Exceptions::ZERO_DIVIDE;
        let mut flags = self.flags;
        if flags.intersects(pre & !masks) {
            flags &= pre;
        }
        self.done |= flags;
        self.flags = Exceptions::empty();
        self.trap || !(self.done & !masks).is_empty()
    }

    /// Sets the flags in MXCSR; `Err(#XM)` when any of them is unmasked (the caller then
    /// leaves its destination alone).
    pub(crate) fn finish(mut self, cpu: &mut Cpu) -> Step {
        let masks = csr(cpu).masks;
        let trap = self.end_stage(masks);
        cpu.simd.mxcsr |= self.done.bits() as u32;
        if trap {
            return Err(Stop::Exc(Exception::new(vector::XM)));
        }
        Ok(())
    }
}

/// A lane operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Min,
    Max,
    Sqrt,
    Rcp,
    Rsqrt,
    Cmp(u8),
    Round(u8),
}

/// An exception-free result.
fn exact<T>(value: T) -> FpResult<T> {
    FpResult { value, flags: Exceptions::empty(), c1: false, write: true, trap: false }
}

fn mask_of(t: bool) -> u64 {
    if t {
        u64::MAX
    } else {
        0
    }
}

/// One lane of `bits` (32 or 64) width.
fn lane_op(op: Op, bits: u32, a: u64, b: u64, c: Mxcsr) -> FpResult<u64> {
    if bits == 32 {
        let (a, b) = (a as u32, b as u32);
        let r = match op {
            Op::Add => sse::add_f32(a, b, c),
            Op::Sub => sse::sub_f32(a, b, c),
            Op::Mul => sse::mul_f32(a, b, c),
            Op::Div => sse::div_f32(a, b, c),
            Op::Min => sse::min_f32(a, b, c),
            Op::Max => sse::max_f32(a, b, c),
            Op::Sqrt => sse::sqrt_f32(b, c),
            Op::Rcp => exact(sse::rcp_f32(b)),
            Op::Rsqrt => exact(sse::rsqrt_f32(b)),
            Op::Cmp(imm) => return sse::cmp_f32(a, b, imm, c).map(mask_of),
            Op::Round(imm) => sse::round_f32(b, imm, c),
        };
        r.map(|v| v as u64)
    } else {
        match op {
            Op::Add => sse::add_f64(a, b, c),
            Op::Sub => sse::sub_f64(a, b, c),
            Op::Mul => sse::mul_f64(a, b, c),
            Op::Div => sse::div_f64(a, b, c),
            Op::Min => sse::min_f64(a, b, c),
            Op::Max => sse::max_f64(a, b, c),
            Op::Sqrt => sse::sqrt_f64(b, c),
            Op::Cmp(imm) => sse::cmp_f64(a, b, imm, c).map(mask_of),
            Op::Round(imm) => sse::round_f64(b, imm, c),
            Op::Rcp | Op::Rsqrt => unreachable!("no double-precision RCP/RSQRT"),
        }
    }
}

/// Operation, lane width and lane count of a packed or scalar instruction.
fn shape(m: Mnemonic, imm: u8) -> (Op, u32, usize) {
    use Mnemonic as M;
    let (op, suffix) = match m {
        M::Addps | M::Haddps | M::Addsubps => (Op::Add, 0),
        M::Addpd | M::Haddpd | M::Addsubpd => (Op::Add, 1),
        M::Addss => (Op::Add, 2),
        M::Addsd => (Op::Add, 3),
        M::Subps | M::Hsubps => (Op::Sub, 0),
        M::Subpd | M::Hsubpd => (Op::Sub, 1),
        M::Subss => (Op::Sub, 2),
        M::Subsd => (Op::Sub, 3),
        M::Mulps => (Op::Mul, 0),
        M::Mulpd => (Op::Mul, 1),
        M::Mulss => (Op::Mul, 2),
        M::Mulsd => (Op::Mul, 3),
        M::Divps => (Op::Div, 0),
        M::Divpd => (Op::Div, 1),
        M::Divss => (Op::Div, 2),
        M::Divsd => (Op::Div, 3),
        M::Minps => (Op::Min, 0),
        M::Minpd => (Op::Min, 1),
        M::Minss => (Op::Min, 2),
        M::Minsd => (Op::Min, 3),
        M::Maxps => (Op::Max, 0),
        M::Maxpd => (Op::Max, 1),
        M::Maxss => (Op::Max, 2),
        M::Maxsd => (Op::Max, 3),
        M::Sqrtps => (Op::Sqrt, 0),
        M::Sqrtpd => (Op::Sqrt, 1),
        M::Sqrtss => (Op::Sqrt, 2),
        M::Sqrtsd => (Op::Sqrt, 3),
        M::Rcpps => (Op::Rcp, 0),
        M::Rcpss => (Op::Rcp, 2),
        M::Rsqrtps => (Op::Rsqrt, 0),
        M::Rsqrtss => (Op::Rsqrt, 2),
        M::Cmpps => (Op::Cmp(imm & 7), 0),
        M::Cmppd => (Op::Cmp(imm & 7), 1),
        M::Cmpss => (Op::Cmp(imm & 7), 2),
        M::Cmpsd => (Op::Cmp(imm & 7), 3),
        M::Roundps => (Op::Round(imm), 0),
        M::Roundpd => (Op::Round(imm), 1),
        M::Roundss => (Op::Round(imm), 2),
        _ => (Op::Round(imm), 3), // Roundsd
    };
    match suffix {
        0 => (op, 32, 4),
        1 => (op, 64, 2),
        2 => (op, 32, 1),
        _ => (op, 64, 1),
    }
}

/// Packed and scalar arithmetic, compares and rounding, HADD/HSUB and ADDSUB. Scalar
/// forms keep the destination's upper lanes.
fn fp_arith(cpu: &mut Cpu, ins: &Instruction) -> Step {
    use Mnemonic as M;
    let b = read_op(cpu, ins, 1)?;
    let a = reg_value(cpu, ins.op_register(0));
    let m = ins.mnemonic();
    let imm = if ins.op_count() > 2 { ins.immediate8() } else { 0 };
    let (op, bits, n) = shape(m, imm);
    let c = csr(cpu);
    let mut acc = Acc::default();
    let r = build(n, bits, |i| {
        let (o, x, y) = match m {
            M::Haddps | M::Haddpd | M::Hsubps | M::Hsubpd => {
                let (v, k) = if i < n / 2 { (a, 2 * i) } else { (b, 2 * (i - n / 2)) };
                (op, lane(v, bits, k), lane(v, bits, k + 1))
            }
            M::Addsubps | M::Addsubpd => {
                (if i & 1 == 0 { Op::Sub } else { Op::Add }, lane(a, bits, i), lane(b, bits, i))
            }
            _ => (op, lane(a, bits, i), lane(b, bits, i)),
        };
        acc.add(lane_op(o, bits, x, y, c))
    });
    acc.finish(cpu)?;
    let keep = !vmask(n * bits as usize / 8);
    write_op(cpu, ins, 0, (a & keep) | r)
}

/// COMISS/COMISD (IE on any NaN) and UCOMISS/UCOMISD (IE on SNaN): ZF, PF, CF from the
/// comparison, OF, AF, SF cleared.
fn comis(cpu: &mut Cpu, ins: &Instruction) -> Step {
    use Mnemonic as M;
    let b = read_op(cpu, ins, 1)?;
    let a = reg_value(cpu, ins.op_register(0));
    let c = csr(cpu);
    let m = ins.mnemonic();
    let signaling = matches!(m, M::Comiss | M::Comisd);
    let r = if matches!(m, M::Comiss | M::Ucomiss) {
        sse::comis_f32(a as u32, b as u32, c, signaling)
    } else {
        sse::comis_f64(a as u64, b as u64, c, signaling)
    };
    let mut acc = Acc::default();
    let (zf, pf, cf) = acc.add(r).eflags();
    acc.finish(cpu)?;
    let f = ((zf as u32) * bits::ZF) | ((pf as u32) * bits::PF) | ((cf as u32) * bits::CF);
    cpu.flags.set_masked(f, bits::CF | bits::PF | bits::AF | bits::ZF | bits::SF | bits::OF);
    Ok(())
}

/// DPPS / DPPD: the selected products (others +0.0), summed pairwise with each step
/// rounded, broadcast to the selected lanes. Measured: the multiplications, the first
/// additions and the last addition are stages; an unmasked exception stops the
/// instruction at the end of its stage, and the flags of earlier stages stay reported.
fn dp(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let b = read_op(cpu, ins, 1)?;
    let a = reg_value(cpu, ins.op_register(0));
    let imm = ins.immediate8() as usize;
    let c = csr(cpu);
    let (bits, n) = if ins.mnemonic() == Mnemonic::Dpps { (32, 4) } else { (64, 2) };
    let mut acc = Acc::default();
    let p: Vec<u64> = (0..n)
        .map(|i| {
            if imm & (0x10 << i) != 0 {
                acc.add(lane_op(Op::Mul, bits, lane(a, bits, i), lane(b, bits, i), c))
            } else {
                0
            }
        })
        .collect();
    if acc.end_stage(c.masks) {
        return acc.finish(cpu);
    }
    let sum = if n == 4 {
        let s01 = acc.add(lane_op(Op::Add, bits, p[0], p[1], c));
        let s23 = acc.add(lane_op(Op::Add, bits, p[2], p[3], c));
        if acc.end_stage(c.masks) {
            return acc.finish(cpu);
        }
        acc.add(lane_op(Op::Add, bits, s01, s23, c))
    } else {
        acc.add(lane_op(Op::Add, bits, p[0], p[1], c))
    };
    acc.finish(cpu)?;
    write_op(cpu, ins, 0, build(n, bits, |i| if imm >> i & 1 != 0 { sum } else { 0 }))
}

pub fn register(t: &mut Table) {
    use Mnemonic as M;
    t.mnemonics(
        &[
            M::Addps,
            M::Addpd,
            M::Addss,
            M::Addsd,
            M::Subps,
            M::Subpd,
            M::Subss,
            M::Subsd,
            M::Mulps,
            M::Mulpd,
            M::Mulss,
            M::Mulsd,
            M::Divps,
            M::Divpd,
            M::Divss,
            M::Divsd,
            M::Minps,
            M::Minpd,
            M::Minss,
            M::Minsd,
            M::Maxps,
            M::Maxpd,
            M::Maxss,
            M::Maxsd,
            M::Sqrtps,
            M::Sqrtpd,
            M::Sqrtss,
            M::Sqrtsd,
            M::Rcpps,
            M::Rcpss,
            M::Rsqrtps,
            M::Rsqrtss,
            M::Cmpps,
            M::Cmppd,
            M::Cmpss,
            M::Roundps,
            M::Roundpd,
            M::Roundss,
            M::Roundsd,
            M::Haddps,
            M::Haddpd,
            M::Hsubps,
            M::Hsubpd,
            M::Addsubps,
            M::Addsubpd,
        ],
        fp_arith,
    );
    // CMPSD shares its mnemonic with the string instruction.
    t.code(Code::Cmpsd_xmm_xmmm64_imm8, fp_arith);
    t.mnemonics(&[M::Comiss, M::Comisd, M::Ucomiss, M::Ucomisd], comis);
    t.mnemonics(&[M::Dpps, M::Dppd], dp);
}
