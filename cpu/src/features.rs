//! The instruction-set features the interpreter implements, as CPUID reports them.
//! The default CPUID model is built from these constants, so CPUID never advertises an
//! extension whose instructions would raise #UD.

use crate::config::{ext1, leaf1_ecx, leaf1_edx, leaf7_ebx};

/// MMX, SSE and SSE2 (`ops::simd`).
const SIMD_EDX: u32 = leaf1_edx::MMX | leaf1_edx::SSE | leaf1_edx::SSE2;
/// SSE3, SSSE3, SSE4.1, SSE4.2 (with CRC32), PCLMULQDQ and AES-NI (`ops::simd`).
const SIMD_ECX: u32 = leaf1_ecx::SSE3 | leaf1_ecx::SSSE3 | leaf1_ecx::SSE41 | leaf1_ecx::SSE42;
const CRYPTO_ECX: u32 = leaf1_ecx::PCLMULQDQ | leaf1_ecx::AES;
/// CPUID 8000_0001h ECX bit 7, MisAlignSse: MXCSR.MM (misaligned SSE mode) is settable.
const EXT1_MISALIGNSSE: u32 = 1 << 7;

/// The x87 FPU with FXSAVE/FXRSTOR (`ops::x87`).
const X87_EDX: u32 = leaf1_edx::FPU | leaf1_edx::FXSR;

pub const LEAF1_EDX: u32 =
    X87_EDX | leaf1_edx::TSC | leaf1_edx::CX8 | leaf1_edx::CMOV | leaf1_edx::CLFSH | SIMD_EDX;
pub const LEAF1_ECX: u32 = leaf1_ecx::MOVBE | leaf1_ecx::POPCNT | SIMD_ECX | CRYPTO_ECX;
pub const LEAF7_EBX: u32 = leaf7_ebx::BMI1 | leaf7_ebx::BMI2 | leaf7_ebx::ADX;
pub const EXT1_ECX: u32 = ext1::ECX_LAHF | ext1::ECX_ABM | ext1::ECX_PREFETCHW | EXT1_MISALIGNSSE;
pub const EXT1_EDX: u32 = ext1::EDX_RDTSCP;
