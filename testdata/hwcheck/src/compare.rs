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

/// The x87/SSE part of a final state, as an FXSAVE image holds it (the instruction
/// and data pointers and the opcode are not compared: this processor updates them only
/// when an x87 instruction raises an exception).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FxState {
    pub fcw: u16,
    pub fsw: u16,
    /// Abridged tag (bit i: physical register i is valid).
    pub tag: u8,
    /// ST(0)..ST(7), 80 bits each.
    pub st: [u128; 8],
    pub mxcsr: u32,
    pub xmm: [u128; 8],
}

impl FxState {
    /// Reads the compared fields of an FXSAVE image (32- or 64-bit pointer format).
    pub fn parse(b: &[u8; 512]) -> FxState {
        let w = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
        FxState {
            fcw: w(0),
            fsw: w(2),
            tag: b[4],
            st: std::array::from_fn(|i| {
                let mut v = [0u8; 16];
                v[..10].copy_from_slice(&b[32 + 16 * i..][..10]);
                u128::from_le_bytes(v)
            }),
            mxcsr: u32::from_le_bytes(b[24..28].try_into().expect("4 bytes")),
            xmm: std::array::from_fn(|i| {
                u128::from_le_bytes(b[160 + 16 * i..][..16].try_into().expect("16 bytes"))
            }),
        }
    }
}

/// A normalised final state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub fx: FxState,
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
    let has_fp = state.x87.is_some() || state.mxcsr.is_some() || state.xmm.is_some();
    let fxsave = has_fp.then(|| {
        let (x, s) = state.fpu_state();
        Box::new(x86wow_cpu::fpu::fxsave(&x, &s))
    });
    NativeCase {
        gpr: state.regs.gpr(),
        eip: state.regs.eip,
        eflags: state.regs.eflags,
        fs_base: state.fs_base,
        gs_base: state.gs_base,
        fxsave,
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
        fx: FxState::parse(&o.fxsave),
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
        fx: FxState::parse(&x86wow_cpu::fpu::fxsave(&cpu.fpu, &cpu.simd)),
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
    for (i, name) in NAMES.iter().enumerate() {
        if hw.gpr[i] != emu.gpr[i] {
            d.push(format!("{name}: hw {:#010x} emu {:#010x}", hw.gpr[i], emu.gpr[i]));
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
    let (a, b) = (&hw.fx, &emu.fx);
    if a.fcw != b.fcw {
        d.push(format!("fcw: hw {:#06x} emu {:#06x}", a.fcw, b.fcw));
    }
    if a.fsw != b.fsw {
        d.push(format!("fsw: hw {:#06x} emu {:#06x} (differ {:#06x})", a.fsw, b.fsw, a.fsw ^ b.fsw));
    }
    if a.tag != b.tag {
        d.push(format!("abridged tag: hw {:#04x} emu {:#04x}", a.tag, b.tag));
    }
    for i in 0..8 {
        if a.st[i] != b.st[i] {
            d.push(format!("st({i}): hw {:020x} emu {:020x}", a.st[i], b.st[i]));
        }
        if a.xmm[i] != b.xmm[i] {
            d.push(format!("xmm{i}: hw {:032x} emu {:032x}", a.xmm[i], b.xmm[i]));
        }
    }
    if a.mxcsr != b.mxcsr {
        d.push(format!("mxcsr: hw {:#x} emu {:#x} (differ {:#x})", a.mxcsr, b.mxcsr, a.mxcsr ^ b.mxcsr));
    }
    for (i, name) in SEGS.iter().enumerate() {
        if hw.selectors[i] != emu.selectors[i] {
            d.push(format!("{name}: hw {:#x} emu {:#x}", hw.selectors[i], emu.selectors[i]));
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
    use x86wow_cpu::flags::NAMED_BITS as N;
    N.iter().filter(|(b, _)| bits >> b & 1 != 0).map(|(_, n)| *n).collect::<Vec<_>>().join(" ")
}
