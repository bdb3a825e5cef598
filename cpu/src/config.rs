//! Everything that would otherwise make a run depend on the host: CPUID, the time-stamp
//! counter, which software interrupts stop the CPU, and the undefined-flags model.

use std::collections::BTreeMap;

/// Which vendor's behaviour fills in the flags and results the manuals leave undefined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UndefinedModel {
    /// AMD family 19h (Zen 3 / Zen 4), measured on the project's machines; see
    /// `cpu/UNDEFINED.md`. It makes the interpreter match that hardware bit for bit.
    #[default]
    AmdZen,
}

/// One CPUID leaf's output registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuidLeaf {
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
}

/// The CPUID model: a table keyed by (leaf, subleaf). Leaves missing from the table
/// return zeros, as leaves above the maximum do on AMD parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuidModel {
    pub leaves: BTreeMap<(u32, u32), CpuidLeaf>,
    /// Leaves whose output does not depend on ECX.
    pub ignore_subleaf: Vec<u32>,
}

/// Feature bits of CPUID leaf 1 EDX.
pub mod leaf1_edx {
    pub const FPU: u32 = 1 << 0;
    pub const TSC: u32 = 1 << 4;
    pub const CX8: u32 = 1 << 8;
    pub const CMOV: u32 = 1 << 15;
    pub const CLFSH: u32 = 1 << 19;
    pub const MMX: u32 = 1 << 23;
    pub const FXSR: u32 = 1 << 24;
    pub const SSE: u32 = 1 << 25;
    pub const SSE2: u32 = 1 << 26;
}

/// Feature bits of CPUID leaf 1 ECX.
pub mod leaf1_ecx {
    pub const SSE3: u32 = 1 << 0;
    pub const PCLMULQDQ: u32 = 1 << 1;
    pub const SSSE3: u32 = 1 << 9;
    pub const SSE41: u32 = 1 << 19;
    pub const SSE42: u32 = 1 << 20;
    pub const MOVBE: u32 = 1 << 22;
    pub const POPCNT: u32 = 1 << 23;
    pub const AES: u32 = 1 << 25;
}

/// Feature bits of CPUID leaf 7 subleaf 0 EBX.
pub mod leaf7_ebx {
    pub const BMI1: u32 = 1 << 3;
    pub const BMI2: u32 = 1 << 8;
    pub const ADX: u32 = 1 << 19;
}

/// Feature bits of CPUID leaf 0x8000_0001 ECX / EDX.
pub mod ext1 {
    pub const ECX_LAHF: u32 = 1 << 0;
    pub const ECX_ABM: u32 = 1 << 5;
    pub const ECX_PREFETCHW: u32 = 1 << 8;
    pub const EDX_RDTSCP: u32 = 1 << 27;
}

fn text_regs(s: &[u8; 12]) -> (u32, u32, u32) {
    let w = |i: usize| u32::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]);
    (w(0), w(4), w(8))
}

impl CpuidModel {
    /// The default model: an AMD family 19h part that advertises exactly the
    /// instruction-set features the interpreter implements, and nothing else.
    pub fn x86wow_default() -> Self {
        use crate::features;
        let mut leaves = BTreeMap::new();
        let mut put = |leaf: u32, sub: u32, eax, ebx, ecx, edx| {
            leaves.insert((leaf, sub), CpuidLeaf { eax, ebx, ecx, edx });
        };
        let (b, d, c) = text_regs(b"AuthenticAMD");
        put(0, 0, 7, b, c, d);
        // Family 19h, model 21h, stepping 0 (Zen 3): base family 0xF + extended 0x0A.
        let signature = (0x0a << 20) | (0x2 << 16) | (0xf << 8) | (0x1 << 4);
        // CLFLUSH line size 8 qwords, one logical processor, APIC id 0.
        put(1, 0, signature, 8 << 8, features::LEAF1_ECX, features::LEAF1_EDX);
        put(7, 0, 0, features::LEAF7_EBX, 0, 0);
        put(0x8000_0000, 0, 0x8000_0008, b, c, d);
        put(0x8000_0001, 0, signature, 0, features::EXT1_ECX, features::EXT1_EDX);
        let brand = *b"x86wow reference IA-32 interpreter\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
        for (i, chunk) in brand.chunks(16).enumerate() {
            let w = |j: usize| u32::from_le_bytes(chunk[j..j + 4].try_into().unwrap());
            put(0x8000_0002 + i as u32, 0, w(0), w(4), w(8), w(12));
        }
        // 48-bit virtual, 40-bit physical addresses.
        put(0x8000_0008, 0, 0x3028, 0, 0, 0);
        CpuidModel {
            leaves,
            ignore_subleaf: vec![
                0,
                1,
                0x8000_0000,
                0x8000_0001,
                0x8000_0002,
                0x8000_0003,
                0x8000_0004,
                0x8000_0008,
            ],
        }
    }

    /// Looks up a leaf.
    pub fn query(&self, leaf: u32, subleaf: u32) -> CpuidLeaf {
        let sub = if self.ignore_subleaf.contains(&leaf) { 0 } else { subleaf };
        self.leaves.get(&(leaf, sub)).copied().unwrap_or_default()
    }
}

/// CPU configuration. Two CPUs with equal configurations and equal initial states
/// produce equal results.
#[derive(Debug, Clone)]
pub struct Config {
    pub cpuid: CpuidModel,
    /// RDTSC returns `tsc_start + tsc_per_insn * instructions_retired`.
    pub tsc_start: u64,
    pub tsc_per_insn: u64,
    /// IA32_TSC_AUX as RDTSCP reports it in ECX.
    pub tsc_aux: u32,
    /// `INT n` with `stop_on_int[n]` stops the CPU with [`crate::Exit::Interrupt`]; every
    /// other `INT n` (n != 3) raises #GP as a user-mode IDT without a DPL-3 gate does.
    /// Default: only 0x80.
    pub stop_on_int: [bool; 256],
    /// CR0.AM: with it, EFLAGS.AC enables alignment checking (Linux and Windows set it).
    pub alignment_mask: bool,
    pub undefined: UndefinedModel,
}

impl Default for Config {
    fn default() -> Self {
        let mut stop_on_int = [false; 256];
        stop_on_int[0x80] = true;
        Config {
            cpuid: CpuidModel::x86wow_default(),
            tsc_start: 0,
            tsc_per_insn: 1,
            tsc_aux: 0,
            stop_on_int,
            alignment_mask: true,
            undefined: UndefinedModel::AmdZen,
        }
    }
}
