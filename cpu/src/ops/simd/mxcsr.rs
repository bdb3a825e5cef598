//! LDMXCSR, STMXCSR and EMMS.

use iced_x86::{Instruction, Mnemonic};

use super::{read_op, write_op};
use crate::cpu::{Cpu, Step, Stop};
use crate::exception::{vector, Exception};
use crate::fpu::MXCSR_MASK;
use crate::table::Table;

/// LDMXCSR: #GP(0) for bits outside MXCSR_MASK (0x2FFFF here: MM is settable). Loading
/// flags whose exceptions are unmasked raises nothing.
fn ldmxcsr(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let v = read_op(cpu, ins, 0)? as u32;
    if v & !MXCSR_MASK != 0 {
        return Err(Stop::Exc(Exception::gp(0)));
    }
    cpu.simd.mxcsr = v;
    Ok(())
}

fn stmxcsr(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let v = cpu.simd.mxcsr;
    write_op(cpu, ins, 0, v as u128)
}

/// EMMS: #MF when an x87 exception is pending; then every register empty and (measured
/// on Zen 4) TOP = 0.
fn emms(cpu: &mut Cpu, _ins: &Instruction) -> Step {
    if cpu.fpu.fsw & 0x80 != 0 {
        return Err(Stop::Exc(Exception::new(vector::MF)));
    }
    cpu.fpu.empty = 0xff;
    cpu.fpu.top = 0;
    Ok(())
}

pub fn register(t: &mut Table) {
    t.mnemonic(Mnemonic::Ldmxcsr, ldmxcsr);
    t.mnemonic(Mnemonic::Stmxcsr, stmxcsr);
    t.mnemonic(Mnemonic::Emms, emms);
}
