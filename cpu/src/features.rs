//! The instruction-set features the interpreter implements, as CPUID reports them.
//! The default CPUID model is built from these constants, so CPUID never advertises an
//! extension whose instructions would raise #UD.

use crate::config::{ext1, leaf1_ecx, leaf1_edx, leaf7_ebx};

pub const LEAF1_EDX: u32 = leaf1_edx::TSC | leaf1_edx::CX8 | leaf1_edx::CMOV | leaf1_edx::CLFSH;
pub const LEAF1_ECX: u32 = leaf1_ecx::MOVBE | leaf1_ecx::POPCNT;
pub const LEAF7_EBX: u32 = leaf7_ebx::BMI1 | leaf7_ebx::BMI2 | leaf7_ebx::ADX;
pub const EXT1_ECX: u32 = ext1::ECX_LAHF | ext1::ECX_ABM | ext1::ECX_PREFETCHW;
pub const EXT1_EDX: u32 = ext1::EDX_RDTSCP;
