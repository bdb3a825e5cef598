//! The register file of a trace: every register a step may change, by id.

use x86wow_cpu::state::MachineState;
use x86wow_cpu::Cpu;

/// A traced register: name and width in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegDef {
    pub name: &'static str,
    pub bytes: u8,
}

const fn r(name: &'static str, bytes: u8) -> RegDef {
    RegDef { name, bytes }
}

/// Register ids (the index) of format version 1. New registers get new ids at the end.
pub const REGS: [RegDef; 37] = [
    r("eax", 4),
    r("ecx", 4),
    r("edx", 4),
    r("ebx", 4),
    r("esp", 4),
    r("ebp", 4),
    r("esi", 4),
    r("edi", 4),
    r("eflags", 4),
    r("es", 2),
    r("cs", 2),
    r("ss", 2),
    r("ds", 2),
    r("fs", 2),
    r("gs", 2),
    r("fs_base", 4),
    r("gs_base", 4),
    r("fcw", 2),
    r("fsw", 2),
    r("ftw", 2),
    r("st0", 10),
    r("st1", 10),
    r("st2", 10),
    r("st3", 10),
    r("st4", 10),
    r("st5", 10),
    r("st6", 10),
    r("st7", 10),
    r("mxcsr", 4),
    r("xmm0", 16),
    r("xmm1", 16),
    r("xmm2", 16),
    r("xmm3", 16),
    r("xmm4", 16),
    r("xmm5", 16),
    r("xmm6", 16),
    r("xmm7", 16),
];

/// Id of the register named `name`.
pub fn reg_id(name: &str) -> Option<u8> {
    REGS.iter().position(|d| d.name == name).map(|i| i as u8)
}

pub(crate) const EFLAGS: usize = 8;
const SEG0: usize = 9;
const X87: usize = 17;
const ST0: usize = 20;
const MXCSR: usize = 28;
const XMM0: usize = 29;

/// Every traced register's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegFile(pub [u128; 37]);

impl RegFile {
    /// The registers of a state (segments default to a WOW64 thread's, x87/SSE to
    /// their reset values).
    pub fn of_state(s: &MachineState) -> RegFile {
        let mut v = [0u128; 37];
        for (i, g) in s.regs.gpr().iter().enumerate() {
            v[i] = *g as u128;
        }
        v[EFLAGS] = s.regs.eflags as u128;
        let segs = s.segs.unwrap_or([0x2b, 0x23, 0x2b, 0x2b, 0x53, 0x2b]);
        for (i, sel) in segs.iter().enumerate() {
            v[SEG0 + i] = *sel as u128;
        }
        v[15] = s.fs_base as u128;
        v[16] = s.gs_base as u128;
        let full = super::super::interp::with_fpu(s);
        let x = full.x87.expect("filled in");
        v[X87] = x.fcw as u128;
        v[X87 + 1] = x.fsw as u128;
        v[X87 + 2] = x.ftw as u128;
        v[ST0..ST0 + 8].copy_from_slice(&x.st);
        v[MXCSR] = full.mxcsr.expect("filled in") as u128;
        for (i, x) in full.xmm.expect("filled in").iter().enumerate() {
            v[XMM0 + i] = *x;
        }
        RegFile(v)
    }

    /// The registers of a CPU.
    pub fn of_cpu(cpu: &Cpu) -> RegFile {
        let mut v = [0u128; 37];
        for (i, g) in cpu.gpr.iter().enumerate() {
            v[i] = *g as u128;
        }
        v[EFLAGS] = cpu.eflags() as u128;
        for i in 0..6 {
            v[SEG0 + i] = cpu.seg[i].selector as u128;
        }
        v[15] = cpu.seg[4].base as u128;
        v[16] = cpu.seg[5].base as u128;
        let f = &cpu.fpu;
        v[X87] = f.fcw as u128;
        v[X87 + 1] = f.status() as u128;
        v[X87 + 2] = f.full_tag() as u128;
        for i in 0..8 {
            let st = f.st(i as u8);
            v[ST0 + i] = (st.se as u128) << 64 | st.signif as u128;
        }
        v[MXCSR] = cpu.simd.mxcsr as u128;
        v[XMM0..XMM0 + 8].copy_from_slice(&cpu.simd.xmm);
        RegFile(v)
    }

    /// The registers that differ from `before`, as (id, new value).
    pub fn delta(&self, before: &RegFile) -> Vec<(u8, u128)> {
        (0..REGS.len()).filter(|&i| self.0[i] != before.0[i]).map(|i| (i as u8, self.0[i])).collect()
    }

    /// Applies a delta.
    pub fn apply(&mut self, delta: &[(u8, u128)]) {
        for &(id, v) in delta {
            if let Some(slot) = self.0.get_mut(id as usize) {
                *slot = v;
            }
        }
    }
}
