//! Which iced-x86 `Code`s x86wow covers, by family, and their status.

use iced_x86::{Code, CpuidFeature as F, EncodingKind, Mnemonic};

/// An instruction-set family as the coverage report groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// General-purpose user-mode instructions, plus the privileged and I/O ones that
    /// user mode meets as #GP.
    Integer,
}

/// CPUID features whose instructions belong to the integer family.
const INTEGER_FEATURES: &[F] = &[
    F::INTEL8086,
    F::INTEL186,
    F::INTEL286,
    F::INTEL386,
    F::INTEL486,
    F::CMOV,
    F::CX8,
    F::CPUID,
    F::TSC,
    F::RDTSCP,
    F::MOVBE,
    F::POPCNT,
    F::LZCNT,
    F::BMI1,
    F::BMI2,
    F::ADX,
    F::PAUSE,
    F::MULTIBYTENOP,
    F::CLFSH,
    F::PREFETCHW,
    F::SEP,
    F::SYSCALL,
    F::MSR,
    F::RDPMC,
];

/// Integer instructions tagged with an SSE-era feature that operate on no SIMD state.
const INTEGER_EXTRAS: &[Mnemonic] = &[
    Mnemonic::Lfence,
    Mnemonic::Sfence,
    Mnemonic::Mfence,
    Mnemonic::Prefetchnta,
    Mnemonic::Prefetcht0,
    Mnemonic::Prefetcht1,
    Mnemonic::Prefetcht2,
    Mnemonic::Movnti,
    Mnemonic::Endbr32,
    // Hints in the reserved-NOP space that iced names after newer extensions; a CPU
    // without the extension executes them as NOPs.
    Mnemonic::Prefetchit0,
    Mnemonic::Prefetchit1,
    Mnemonic::Cldemote,
    Mnemonic::Prefetchwt1,
];

/// The family of a code, or `None` when it is outside x86wow's 32-bit scope (64-bit
/// only, AVX, other vendors' extensions...).
pub fn family(code: Code) -> Option<Family> {
    let info = code.op_code();
    if !info.is_instruction() || !info.mode32() || code == Code::INVALID {
        return None;
    }
    // Only the decoder options x86wow uses (AMD) can produce a code.
    let opt = info.decoder_option();
    if opt != 0 && opt != iced_x86::DecoderOptions::AMD {
        return None;
    }
    let enc_ok = match code.encoding() {
        EncodingKind::Legacy => true,
        EncodingKind::VEX => code.cpuid_features().iter().all(|f| matches!(f, F::BMI1 | F::BMI2)),
        _ => false,
    };
    if !enc_ok {
        return None;
    }
    let feats = code.cpuid_features();
    if feats.iter().all(|f| INTEGER_FEATURES.contains(f)) || INTEGER_EXTRAS.contains(&code.mnemonic()) {
        return Some(Family::Integer);
    }
    None
}

/// Every code of a family, in iced order.
pub fn codes(f: Family) -> Vec<Code> {
    Code::values().filter(|&c| family(c) == Some(f)).collect()
}
