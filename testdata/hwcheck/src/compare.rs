//! Running one machine state on the hardware and in the interpreter, and comparing.
//!
//! Both sides are reduced to an [`Outcome`]: registers, EFLAGS (RF masked: the kernel
//! reports it set in the frame of a fault, it is not part of the architectural result),
//! how the snippet ended (vector, error code, CR2), segment selectors and memory.
//!
//! End conventions: the interpreter stops before HLT; the hardware raises #GP(0) at it.
//! For the traps INT3/INT 3, INTO/INT 4 and INT1 the hardware reports EIP after the
//! instruction; the interpreter reports it at the instruction and gives the next EIP.

use std::fmt::Write as _;

use x86wow_cpu::state::MachineState;
use x86wow_cpu::{vector, Detail, Exit};

use crate::native::{NativeCase, NativeOutcome, NativeRegion, RunStatus, Selectors};

/// EFLAGS bits compared: everything but RF.
pub const EFLAGS_MASK: u32 = !(1 << 16);

/// How a snippet ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct End {
    pub vector: u32,
    /// Error code, for the vectors that push one (#GP, #SS, #PF, #AC ...).
    pub err: Option<u32>,
    /// Faulting address, for #PF.
    pub cr2: Option<u32>,
}

/// A normalised final state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub gpr: [u32; 8],
    pub eip: u32,
    pub eflags: u32,
    pub end: End,
    /// ES, CS, SS, DS, FS, GS.
    pub selectors: [u16; 6],
    pub regions: Vec<Vec<u8>>,
}

fn has_error_code(v: u32) -> bool {
    matches!(v, 8 | 10..=14 | 17)
}

/// Converts a state into the runner's case.
pub fn native_case(state: &MachineState) -> NativeCase {
    let regions = state
        .memory
        .iter()
        .map(|r| {
            let (start, len) = r.pages();
            let mut data = vec![0u8; len as usize];
            let off = (r.addr as u64 - start) as usize;
            data[off..off + r.bytes.len()].copy_from_slice(&r.bytes);
            NativeRegion { addr: start as u32, prot: r.prot.bits() & 7, data }
        })
        .collect();
    NativeCase {
        gpr: state.regs.gpr(),
        eip: state.regs.eip,
        eflags: state.regs.eflags,
        fs_base: state.fs_base,
        gs_base: state.gs_base,
        fxsave: None,
        regions,
    }
}

/// Normalises a hardware outcome. `Err` if the case did not run to a signal.
pub fn from_native(o: &NativeOutcome) -> Result<Outcome, String> {
    match &o.status {
        RunStatus::Completed => {}
        other => return Err(format!("native run did not complete: {other:?}")),
    }
    let v = o.trapno;
    let s = o.final_selectors;
    Ok(Outcome {
        gpr: o.gpr,
        eip: o.eip,
        eflags: o.eflags & EFLAGS_MASK,
        end: End { vector: v, err: has_error_code(v).then_some(o.err), cr2: (v == 14).then_some(o.cr2) },
        selectors: [s.es, s.cs, s.ss, s.ds, s.fs, s.gs],
        regions: o.regions.clone(),
    })
}

/// The state with the runner's selectors: Linux's user selectors (CS 0x23, data 0x2B)
/// and the runner's TLS selectors for FS and GS (with the case's bases).
pub fn with_selectors(state: &MachineState, sel: &Selectors) -> MachineState {
    let mut st = state.clone();
    st.segs = Some([sel.es, sel.cs, sel.ss, sel.ds, sel.fs, sel.gs]);
    st
}

/// Runs the state in the interpreter with the runner's selectors.
pub fn interpret(state: &MachineState, sel: &Selectors, budget: u64) -> Result<Outcome, String> {
    let state = &with_selectors(state, sel);
    let mut cpu = state.to_cpu().map_err(|e| e.to_string())?;
    let exit = cpu.run(budget);
    let end = match exit {
        Exit::Hlt => End { vector: 13, err: Some(0), cr2: None },
        Exit::Exception { exception, eip } => {
            // INT1 would be reported after the instruction too on bare metal; under this
            // project's hypervisor the host reports it at the instruction, like x86wow.
            let trap_at_insn = matches!(exception.vector, vector::BP | vector::OF);
            if trap_at_insn {
                if let Some(i) = cpu.peek_instruction(eip) {
                    cpu.eip = i.next_ip32();
                }
            }
            let v = exception.vector as u32;
            End {
                vector: v,
                err: has_error_code(v).then(|| exception.error_code.unwrap_or(0)),
                cr2: match exception.detail {
                    Detail::Page { addr, .. } => Some(addr),
                    _ => None,
                },
            }
        }
        other => return Err(format!("interpreter stopped with {other:?}")),
    };
    let fin = state.capture(&cpu);
    let regs = cpu.registers();
    Ok(Outcome {
        gpr: regs.gpr(),
        eip: regs.eip,
        eflags: regs.eflags & EFLAGS_MASK,
        end,
        selectors: std::array::from_fn(|i| cpu.seg[i].selector),
        regions: fin.memory.iter().map(|r| r.bytes.clone()).collect(),
    })
}

const NAMES: [&str; 8] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
const SEGS: [&str; 6] = ["es", "cs", "ss", "ds", "fs", "gs"];

/// The differences between a hardware and an interpreter outcome, one line each.
pub fn diff(hw: &Outcome, emu: &Outcome, state: &MachineState) -> Vec<String> {
    let mut d = Vec::new();
    for i in 0..8 {
        if hw.gpr[i] != emu.gpr[i] {
            d.push(format!("{}: hw {:#010x} emu {:#010x}", NAMES[i], hw.gpr[i], emu.gpr[i]));
        }
    }
    if hw.eip != emu.eip {
        d.push(format!("eip: hw {:#010x} emu {:#010x}", hw.eip, emu.eip));
    }
    if hw.eflags != emu.eflags {
        d.push(format!(
            "eflags: hw {:#x} emu {:#x} (differ {:#x}: {})",
            hw.eflags,
            emu.eflags,
            hw.eflags ^ emu.eflags,
            flag_names(hw.eflags ^ emu.eflags)
        ));
    }
    if hw.end != emu.end {
        d.push(format!("end: hw {:?} emu {:?}", hw.end, emu.end));
    }
    for i in 0..6 {
        if hw.selectors[i] != emu.selectors[i] {
            d.push(format!("{}: hw {:#x} emu {:#x}", SEGS[i], hw.selectors[i], emu.selectors[i]));
        }
    }
    for (k, (a, b)) in hw.regions.iter().zip(&emu.regions).enumerate() {
        if a != b {
            let base = state.memory.get(k).map_or(0, |r| r.addr);
            let diffs: Vec<usize> = (0..a.len().min(b.len())).filter(|&i| a[i] != b[i]).collect();
            let mut s = format!("memory[{k}] ({} bytes differ):", diffs.len());
            for &i in diffs.iter().take(8) {
                let _ = write!(s, " {:#x}: hw {:02x} emu {:02x};", base as usize + i, a[i], b[i]);
            }
            d.push(s);
        }
    }
    if hw.regions.len() != emu.regions.len() {
        d.push(format!("region count: hw {} emu {}", hw.regions.len(), emu.regions.len()));
    }
    d
}

/// Names of the EFLAGS bits set in `bits`.
pub fn flag_names(bits: u32) -> String {
    const N: [(u32, &str); 12] = [
        (0, "CF"),
        (2, "PF"),
        (4, "AF"),
        (6, "ZF"),
        (7, "SF"),
        (8, "TF"),
        (9, "IF"),
        (10, "DF"),
        (11, "OF"),
        (14, "NT"),
        (18, "AC"),
        (21, "ID"),
    ];
    N.iter().filter(|(b, _)| bits >> b & 1 != 0).map(|(_, n)| *n).collect::<Vec<_>>().join(" ")
}
