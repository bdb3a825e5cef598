//! `exec_bytes` and `lockstep_fastpath`: arbitrary code run with a budget.

use iced_x86::{FlowControl, Instruction};
use x86wow_cpu::{vector, Cpu, Exit};

use super::program::Program;

/// The architectural registers a fault must leave untouched (the x87 instruction and
/// data pointers are left out: they describe the last x87 instruction, not a register).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Regs {
    gpr: [u32; 8],
    eip: u32,
    eflags: u32,
    seg: [u16; 6],
    bases: [u32; 6],
    x87: (u16, u16, u8, u8, [(u16, u64); 8]),
    simd: x86wow_cpu::fpu::Simd,
}

impl Regs {
    fn of(cpu: &Cpu) -> Regs {
        let f = &cpu.fpu;
        Regs {
            gpr: cpu.gpr,
            eip: cpu.eip,
            eflags: cpu.eflags(),
            seg: std::array::from_fn(|i| cpu.seg[i].selector),
            bases: std::array::from_fn(|i| cpu.seg[i].base),
            x87: (f.fcw, f.fsw, f.top, f.empty, f.regs.map(|r| (r.se, r.signif))),
            simd: cpu.simd,
        }
    }
}

/// REP/REPNE string instructions: a fault leaves ECX/ESI/EDI counting the completed
/// iterations (and the status flags of the last one), and a retired one may leave EIP where it was (when interrupted).
fn is_rep_string(ins: &Instruction) -> bool {
    (ins.has_rep_prefix() || ins.has_repne_prefix()) && ins.is_string_instruction()
}

/// Runs a [`Program`] one instruction at a time and checks, at every step:
///
/// - a fault (any exception but the traps #DB, #BP, #OF) leaves every register as the
///   faulting instruction found them, EIP at the instruction, nothing retired (REP
///   string instructions may have advanced ECX/ESI/EDI);
/// - HLT stops without retiring and without moving EIP;
/// - a retired instruction counts once, and EIP moves unless the instruction is a
///   branch (which may target itself) or a REP string instruction;
/// - no panic anywhere.
pub fn exec_bytes(data: &[u8]) {
    let Some(p) = Program::decode(data) else { return };
    let mut cpu = p.cpu(false);
    for _ in 0..p.budget.max(1) {
        let before = Regs::of(&cpu);
        let insns = cpu.insns();
        let ins = cpu.peek_instruction(cpu.eip);
        let exit = cpu.step();
        let after = Regs::of(&cpu);
        match exit {
            Exit::BudgetExhausted => {
                assert_eq!(cpu.insns(), insns + 1, "a retired instruction counts once: {ins:?}");
                if after.eip == before.eip {
                    let ins = ins.expect("an instruction that retired decodes");
                    assert!(
                        ins.flow_control() != FlowControl::Next || is_rep_string(&ins),
                        "EIP did not move after `{ins}`"
                    );
                }
            }
            Exit::Hlt => {
                assert_eq!(after, before, "HLT changed the registers");
                assert_eq!(cpu.insns(), insns, "HLT retired");
                return;
            }
            Exit::Exception { exception, eip } => {
                if exception.vector == vector::DB && cpu.insns() == insns + 1 {
                    // The single-step trap after an instruction that retired (INT1's
                    // #DB is reported at the instruction, like a fault).
                    return;
                }
                assert_eq!(eip, before.eip, "{exception} reported away from the instruction");
                assert_eq!(cpu.insns(), insns, "{exception}: the faulting instruction retired");
                let mut want = before.clone();
                if ins.as_ref().is_some_and(is_rep_string) {
                    // ...and the flags of the last completed iteration (REPE/REPNE CMPS/SCAS).
                    // (and EAX for LODS; a TF trap between iterations looks the same).
                    for r in [0, 1, 6, 7] {
                        want.gpr[r] = after.gpr[r];
                    }
                    want.eflags = (want.eflags & !0x8d5) | (after.eflags & 0x8d5);
                }
                if ins.as_ref().is_some_and(|i| transitions_before_faulting(i, exception.vector)) {
                    // Measured (cpu/UNDEFINED.md): MASKMOVQ makes the x87-to-MMX
                    // transition (TOP = 0, every tag valid) before its store faults, and
                    // the MMX-register conversions make it before raising #XM.
                    want.x87.2 = 0;
                    want.x87.3 = 0;
                }
                assert_eq!(after, want, "{exception} changed registers; instruction {ins:?}");
                return;
            }
            // Interrupts, far transfers and system calls are stops the embedder handles.
            _ => return,
        }
    }
}

/// Runs a [`Program`] with the decoded-block cache and on the plain path, and requires
/// identical results: the exit, the instruction count, every register (including the
/// x87 and SSE state) and every byte of memory.
pub fn lockstep_fastpath(data: &[u8]) {
    let Some(p) = Program::decode(data) else { return };
    let budget = p.budget as u64;
    let mut fast = p.cpu(true);
    let mut plain = p.cpu(false);
    // Two runs each, so that the second one starts from a warm block cache.
    for _ in 0..2 {
        let a = fast.run(budget);
        let b = plain.run(budget);
        assert_eq!(a, b, "exit: cache {a:?} plain {b:?}");
        assert_eq!(fast.insns(), plain.insns(), "instructions retired");
        assert_eq!(Regs::of(&fast), Regs::of(&plain), "registers after {a:?}");
        assert_eq!(fast.fpu, plain.fpu, "x87 state after {a:?}");
        assert!(Program::memory(&fast) == Program::memory(&plain), "memory after {a:?}");
        if a != Exit::BudgetExhausted {
            break;
        }
    }
}

/// Whether an instruction's x87 transition survives its fault `vector` (see
/// `exec_bytes`): MASKMOVQ's does whatever the fault but #MF, the MMX-register conversions'
/// only with #XM.
fn transitions_before_faulting(ins: &iced_x86::Instruction, vector: u8) -> bool {
    use iced_x86::Mnemonic as M;
    let mmx_operand = (0..ins.op_count())
        .any(|i| ins.op_kind(i) == iced_x86::OpKind::Register && ins.op_register(i).is_mm());
    mmx_operand
        && match ins.mnemonic() {
            // Not for a pending x87 exception (#MF): that is taken before the
            // instruction starts.
            M::Maskmovq => vector != vector::MF,
            M::Cvtpi2ps | M::Cvtpi2pd | M::Cvtps2pi | M::Cvttps2pi | M::Cvtpd2pi | M::Cvttpd2pi => {
                vector == vector::XM
            }
            _ => false,
        }
}
