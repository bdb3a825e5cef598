//! Which iced-x86 `Code`s x86wow covers, by family, and their status.

use iced_x86::{Code, CpuidFeature as F, EncodingKind, Mnemonic};

/// An instruction-set family as the coverage report groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// General-purpose user-mode instructions, plus the privileged and I/O ones that
    /// user mode meets as #GP.
    Integer,
    /// The x87 FPU (with FCMOVcc, FISTTP and FXSAVE/FXRSTOR).
    X87,
    /// MMX, including the MMX-register forms added by SSE, SSE2 and SSSE3.
    Mmx,
    /// SSE, SSE2, SSE3, SSSE3, SSE4.1, SSE4.2 (with CRC32), AES-NI and PCLMULQDQ, in
    /// their legacy (non-VEX) encodings.
    Sse,
}

impl Family {
    pub const ALL: [Family; 4] = [Family::Integer, Family::X87, Family::Mmx, Family::Sse];
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
    if code.encoding() != EncodingKind::Legacy {
        return None;
    }
    use iced_x86::OpCodeOperandKind as K;
    let kinds: Vec<K> = (0..info.op_count()).map(|i| info.op_kind(i)).collect();
    let has_mm = kinds.iter().any(|k| matches!(k, K::mm_reg | K::mm_rm | K::mm_or_mem));
    if feats.iter().all(|f| matches!(f, F::FPU | F::FPU287 | F::FPU387 | F::CMOV))
        || code.mnemonic() == Mnemonic::Fisttp
        || matches!(code.mnemonic(), Mnemonic::Fxsave | Mnemonic::Fxrstor)
    {
        return Some(Family::X87);
    }
    const SIMD: &[F] =
        &[F::MMX, F::SSE, F::SSE2, F::SSE3, F::SSSE3, F::SSE4_1, F::SSE4_2, F::AES, F::PCLMULQDQ];
    if feats.iter().all(|f| SIMD.contains(f)) && code.mnemonic() != Mnemonic::Fisttp {
        return Some(if has_mm { Family::Mmx } else { Family::Sse });
    }
    None
}

/// Every code of a family, in iced order.
pub fn codes(f: Family) -> Vec<Code> {
    Code::values().filter(|&c| family(c) == Some(f)).collect()
}
