//! CPUID, time-stamp counter, NOPs and hints, fences, cache control, UD0/UD1/UD2, and
//! the instructions that user mode may not execute (#GP) — privileged, I/O, CLI/STI.

use iced_x86::{Code, Instruction, Mnemonic};

use crate::cpu::{Cpu, Step, Stop};
use crate::exception::{Exception, Exit};
use crate::regs::gpr::{EAX, EBX, ECX, EDX};
use crate::table::Table;

fn cpuid(cpu: &mut Cpu, _: &Instruction) -> Step {
    let l = cpu.config.cpuid.query(cpu.gpr[EAX], cpu.gpr[ECX]);
    cpu.gpr[EAX] = l.eax;
    cpu.gpr[EBX] = l.ebx;
    cpu.gpr[ECX] = l.ecx;
    cpu.gpr[EDX] = l.edx;
    Ok(())
}

fn tsc(cpu: &Cpu) -> u64 {
    cpu.config.tsc_start.wrapping_add(cpu.config.tsc_per_insn.wrapping_mul(cpu.insns()))
}

fn rdtsc(cpu: &mut Cpu, _: &Instruction) -> Step {
    let t = tsc(cpu);
    cpu.gpr[EAX] = t as u32;
    cpu.gpr[EDX] = (t >> 32) as u32;
    Ok(())
}

fn rdtscp(cpu: &mut Cpu, ins: &Instruction) -> Step {
    rdtsc(cpu, ins)?;
    cpu.gpr[ECX] = cpu.config.tsc_aux;
    Ok(())
}

/// NOP, multi-byte NOPs, PAUSE, fences, prefetches, reserved-NOP hint space and
/// ENDBR32 (a NOP when CET is not enabled): no architectural effect.
fn nop(_: &mut Cpu, _: &Instruction) -> Step {
    Ok(())
}

/// CLFLUSH: checks that the byte is mapped and readable, like a load.
fn clflush(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let seg = cpu.memory_seg(ins);
    let off = cpu.effective_address(ins);
    let lin = cpu.linear(seg, off, 1, 1, false)?;
    cpu.mem.check(lin as u64, 1, x86wow_mmu::Access::Read)?;
    Ok(())
}

fn ud(_: &mut Cpu, _: &Instruction) -> Step {
    Err(Exception::ud().into())
}

fn gp0(_: &mut Cpu, _: &Instruction) -> Step {
    Err(Exception::gp(0).into())
}

/// SYSCALL from 32-bit user code: left to the embedder (not executed).
fn syscall(_: &mut Cpu, _: &Instruction) -> Step {
    Err(Stop::Before(Exit::SystemCall))
}

pub fn register(t: &mut Table) {
    t.mnemonic(Mnemonic::Cpuid, cpuid);
    t.mnemonic(Mnemonic::Rdtsc, rdtsc);
    t.mnemonic(Mnemonic::Rdtscp, rdtscp);
    t.mnemonics(
        &[
            Mnemonic::Nop,
            Mnemonic::Pause,
            Mnemonic::Lfence,
            Mnemonic::Sfence,
            Mnemonic::Mfence,
            Mnemonic::Prefetchnta,
            Mnemonic::Prefetcht0,
            Mnemonic::Prefetcht1,
            Mnemonic::Prefetcht2,
            Mnemonic::Prefetchw,
            Mnemonic::Prefetch,
            Mnemonic::Reservednop,
            Mnemonic::Endbr32,
            Mnemonic::Prefetchit0,
            Mnemonic::Prefetchit1,
            Mnemonic::Cldemote,
            Mnemonic::Prefetchwt1,
        ],
        nop,
    );
    // FWAIT checks for pending unmasked x87 exceptions; with none pending it is a NOP.
    t.mnemonic(Mnemonic::Wait, nop);
    t.mnemonic(Mnemonic::Clflush, clflush);
    t.mnemonics(&[Mnemonic::Ud0, Mnemonic::Ud1, Mnemonic::Ud2], ud);
    // 0F 0D is AMD's PREFETCH group: its register forms are #UD.
    for c in [Code::Reservednop_rm16_r16_0F0D, Code::Reservednop_rm32_r32_0F0D] {
        t.code(c, ud);
    }
    // SYSENTER is #UD in compatibility mode on AMD processors.
    t.mnemonic(Mnemonic::Sysenter, ud);
    t.mnemonic(Mnemonic::Syscall, syscall);
    // Privileged at CPL 3 (or, for SGDT/SIDT/SLDT/STR/SMSW, with CR4.UMIP as on
    // current systems), and I/O without permission (IOPL 0, no I/O bitmap).
    t.mnemonics(
        &[
            Mnemonic::Cli,
            Mnemonic::Sti,
            Mnemonic::In,
            Mnemonic::Out,
            Mnemonic::Insb,
            Mnemonic::Insw,
            Mnemonic::Insd,
            Mnemonic::Outsb,
            Mnemonic::Outsw,
            Mnemonic::Outsd,
            Mnemonic::Lgdt,
            Mnemonic::Lidt,
            Mnemonic::Lldt,
            Mnemonic::Ltr,
            Mnemonic::Lmsw,
            Mnemonic::Clts,
            Mnemonic::Invd,
            Mnemonic::Wbinvd,
            Mnemonic::Invlpg,
            Mnemonic::Rdmsr,
            Mnemonic::Wrmsr,
            Mnemonic::Rdpmc,
            Mnemonic::Sgdt,
            Mnemonic::Sidt,
            Mnemonic::Sldt,
            Mnemonic::Str,
            Mnemonic::Smsw,
            Mnemonic::Sysexit,
            Mnemonic::Sysret,
            Mnemonic::Rsm,
        ],
        gp0,
    );
    for c in Code::values() {
        // MOV to/from control and debug registers.
        if c.mnemonic() == Mnemonic::Mov {
            let info = c.op_code();
            use iced_x86::OpCodeOperandKind as K;
            if (0..info.op_count()).any(|i| matches!(info.op_kind(i), K::cr_reg | K::dr_reg | K::tr_reg)) {
                t.code(c, gp0);
            }
        }
    }
}
