//! Hardware oracle for tests: runs single x87 / SSE instructions on the host CPU via
//! inline assembly. Test-only; compiled on x86_64 hosts only.
#![allow(unsafe_code, dead_code)]

use crate::types::F80;
use core::arch::asm;

/// Output of one x87 instruction: ST(0) and ST(1) afterwards and the status word
/// (read with FNSTSW before FNCLEX).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct X87Out {
    pub st0: F80,
    pub st1: F80,
    pub sw: u16,
}

macro_rules! x87_two {
    ($name:ident, $($insn:literal),+) => {
        /// Runs the instruction with ST(0) = a, ST(1) = b under control word `fcw`.
        pub fn $name(fcw: u16, a: F80, b: F80) -> X87Out {
            let ia = a.to_le_bytes();
            let ib = b.to_le_bytes();
            let mut o0 = [0u8; 10];
            let mut o1 = [0u8; 10];
            let sw: u16;
            // SAFETY: the block only reads the three input buffers and writes the two
            // output buffers (all live locals of the right size); it starts with
            // FNINIT and ends with FNINIT, so the x87 stack is empty and the control
            // word is the ABI default again when it returns; pending exceptions are
            // cleared with FNCLEX before any waiting instruction.
            unsafe {
                asm!(
                    "fninit",
                    "fldcw word ptr [{cw}]",
                    "fld tbyte ptr [{b}]",
                    "fld tbyte ptr [{a}]",
                    $($insn,)+
                    "fnstsw ax",
                    "fnclex",
                    "fstp tbyte ptr [{o0}]",
                    "fstp tbyte ptr [{o1}]",
                    "fninit",
                    cw = in(reg) &fcw,
                    a = in(reg) ia.as_ptr(),
                    b = in(reg) ib.as_ptr(),
                    o0 = in(reg) o0.as_mut_ptr(),
                    o1 = in(reg) o1.as_mut_ptr(),
                    out("ax") sw,
                    out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
                    out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
                    options(nostack),
                );
            }
            X87Out { st0: F80::from_le_bytes(o0), st1: F80::from_le_bytes(o1), sw }
        }
    };
}

x87_two!(fadd, "fadd st(0), st(1)");
x87_two!(fsub, "fsub st(0), st(1)");
x87_two!(fmul, "fmul st(0), st(1)");
x87_two!(fdiv, "fdiv st(0), st(1)");
x87_two!(fsqrt, "fsqrt");
x87_two!(fprem, "fprem");
x87_two!(fprem1, "fprem1");
x87_two!(frndint, "frndint");
x87_two!(fscale, "fscale");
x87_two!(fxam, "fxam");
x87_two!(fcom, "fcom st(1)");
x87_two!(fucom, "fucom st(1)");
x87_two!(fsin, "fsin");
x87_two!(fcos, "fcos");
x87_two!(fptan, "fptan");
x87_two!(fpatan, "fpatan");
x87_two!(f2xm1, "f2xm1");
x87_two!(fyl2x, "fyl2x");
x87_two!(fyl2xp1, "fyl2xp1");

macro_rules! x87_one_push {
    ($name:ident, $($insn:literal),+) => {
        /// Runs a pushing instruction with ST(0) = a under `fcw`; returns the new ST(0)
        /// and ST(1).
        pub fn $name(fcw: u16, a: F80) -> X87Out {
            let ia = a.to_le_bytes();
            let mut o0 = [0u8; 10];
            let mut o1 = [0u8; 10];
            let sw: u16;
            // SAFETY: as in `x87_two!`.
            unsafe {
                asm!(
                    "fninit",
                    "fldcw word ptr [{cw}]",
                    "fld tbyte ptr [{a}]",
                    $($insn,)+
                    "fnstsw ax",
                    "fnclex",
                    "fstp tbyte ptr [{o0}]",
                    "fstp tbyte ptr [{o1}]",
                    "fninit",
                    cw = in(reg) &fcw,
                    a = in(reg) ia.as_ptr(),
                    o0 = in(reg) o0.as_mut_ptr(),
                    o1 = in(reg) o1.as_mut_ptr(),
                    out("ax") sw,
                    out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
                    out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
                    options(nostack),
                );
            }
            X87Out { st0: F80::from_le_bytes(o0), st1: F80::from_le_bytes(o1), sw }
        }
    };
}

x87_one_push!(fsincos, "fsincos");
x87_one_push!(fptan_push, "fptan");
x87_one_push!(fxtract, "fxtract");

macro_rules! x87_const {
    ($name:ident, $insn:literal) => {
        /// Loads the constant under `fcw`.
        pub fn $name(fcw: u16) -> X87Out {
            let z = F80::ZERO;
            let r = x87_one_push_const(fcw, z, $insn);
            r
        }
    };
}

/// Loads a constant: runs `insn` (one of the FLDxx) and returns ST(0).
fn x87_one_push_const(fcw: u16, _z: F80, which: &str) -> X87Out {
    let mut o0 = [0u8; 10];
    let sw: u16;
    macro_rules! ld {
        ($insn:literal) => {
            // SAFETY: as in `x87_two!`.
            unsafe {
                asm!(
                    "fninit",
                    "fldcw word ptr [{cw}]",
                    $insn,
                    "fnstsw ax",
                    "fnclex",
                    "fstp tbyte ptr [{o0}]",
                    "fninit",
                    cw = in(reg) &fcw,
                    o0 = in(reg) o0.as_mut_ptr(),
                    out("ax") sw,
                    out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
                    out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
                    options(nostack),
                )
            }
        };
    }
    match which {
        "fld1" => ld!("fld1"),
        "fldl2t" => ld!("fldl2t"),
        "fldl2e" => ld!("fldl2e"),
        "fldpi" => ld!("fldpi"),
        "fldlg2" => ld!("fldlg2"),
        "fldln2" => ld!("fldln2"),
        _ => ld!("fldz"),
    }
    X87Out { st0: F80::from_le_bytes(o0), st1: F80::ZERO, sw }
}

x87_const!(fld1, "fld1");
x87_const!(fldl2t, "fldl2t");
x87_const!(fldl2e, "fldl2e");
x87_const!(fldpi, "fldpi");
x87_const!(fldlg2, "fldlg2");
x87_const!(fldln2, "fldln2");
x87_const!(fldz, "fldz");

macro_rules! x87_store {
    ($name:ident, $n:literal, $insn:literal) => {
        /// Stores ST(0) = a to memory with the instruction; returns the memory bytes
        /// (prefilled with 0xAA) and the status word.
        pub fn $name(fcw: u16, a: F80) -> ([u8; 10], u16) {
            let ia = a.to_le_bytes();
            let mut m = [0xAAu8; 10];
            let sw: u16;
            // SAFETY: as in `x87_two!`; the store writes at most 10 bytes to `m`.
            unsafe {
                asm!(
                    "fninit",
                    "fldcw word ptr [{cw}]",
                    "fld tbyte ptr [{a}]",
                    $insn,
                    "fnstsw ax",
                    "fninit",
                    cw = in(reg) &fcw,
                    a = in(reg) ia.as_ptr(),
                    m = in(reg) m.as_mut_ptr(),
                    out("ax") sw,
                    out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
                    out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
                    options(nostack),
                );
            }
            let _ = $n;
            (m, sw)
        }
    };
}

x87_store!(fist16, 2, "fist word ptr [{m}]");
x87_store!(fist32, 4, "fist dword ptr [{m}]");
x87_store!(fistp64, 8, "fistp qword ptr [{m}]");
x87_store!(fisttp16, 2, "fisttp word ptr [{m}]");
x87_store!(fisttp32, 4, "fisttp dword ptr [{m}]");
x87_store!(fisttp64, 8, "fisttp qword ptr [{m}]");
x87_store!(fst32, 4, "fst dword ptr [{m}]");
x87_store!(fst64, 8, "fst qword ptr [{m}]");
x87_store!(fbstp, 10, "fbstp tbyte ptr [{m}]");

macro_rules! x87_load {
    ($name:ident, $insn:literal) => {
        /// Loads from the 10-byte buffer with the instruction; returns ST(0) and SW.
        pub fn $name(fcw: u16, m: [u8; 10]) -> (F80, u16) {
            let mut o0 = [0u8; 10];
            let sw: u16;
            // SAFETY: as in `x87_two!`; the load reads at most 10 bytes of `m`.
            unsafe {
                asm!(
                    "fninit",
                    "fldcw word ptr [{cw}]",
                    $insn,
                    "fnstsw ax",
                    "fnclex",
                    "fstp tbyte ptr [{o0}]",
                    "fninit",
                    cw = in(reg) &fcw,
                    m = in(reg) m.as_ptr(),
                    o0 = in(reg) o0.as_mut_ptr(),
                    out("ax") sw,
                    out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
                    out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
                    options(nostack),
                );
            }
            (F80::from_le_bytes(o0), sw)
        }
    };
}

x87_load!(fld32, "fld dword ptr [{m}]");
x87_load!(fld64, "fld qword ptr [{m}]");
x87_load!(fbld, "fbld tbyte ptr [{m}]");
x87_load!(fild16, "fild word ptr [{m}]");
x87_load!(fild32, "fild dword ptr [{m}]");
x87_load!(fild64, "fild qword ptr [{m}]");

/// Result of one SSE instruction: xmm0 afterwards and the MXCSR (read with STMXCSR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseOut {
    pub x: u128,
    pub mxcsr: u32,
    pub rflags: u64,
}

macro_rules! sse_two {
    ($name:ident, $($insn:literal),+) => {
        /// Runs `insn xmm0, xmm1` with xmm0 = a, xmm1 = b under `mxcsr` (all
        /// exceptions must be masked in `mxcsr`).
        pub fn $name(mxcsr: u32, a: u128, b: u128) -> SseOut {
            let mut x = a;
            let mut csr = mxcsr;
            let saved: u32 = 0x1F80;
            let fl: u64;
            // SAFETY: reads/writes only the listed locals; MXCSR is restored to the
            // ABI default 0x1F80 before the block ends; callers pass masked MXCSR values
            // so no SIMD exception can trap.
            unsafe {
                asm!(
                    "movdqu xmm0, [{x}]",
                    "movdqu xmm1, [{b}]",
                    "ldmxcsr [{csr}]",
                    $($insn,)+
                    "pushfq",
                    "pop {fl}",
                    "stmxcsr [{csr}]",
                    "ldmxcsr [{saved}]",
                    "movdqu [{x}], xmm0",
                    x = in(reg) &mut x,
                    b = in(reg) &b,
                    csr = in(reg) &mut csr,
                    saved = in(reg) &saved,
                    fl = out(reg) fl,
                    out("xmm0") _, out("xmm1") _,
                );
            }
            SseOut { x, mxcsr: csr, rflags: fl }
        }
    };
}

sse_two!(addss, "addss xmm0, xmm1");
sse_two!(subss, "subss xmm0, xmm1");
sse_two!(mulss, "mulss xmm0, xmm1");
sse_two!(divss, "divss xmm0, xmm1");
sse_two!(sqrtss, "sqrtss xmm0, xmm1");
sse_two!(minss, "minss xmm0, xmm1");
sse_two!(maxss, "maxss xmm0, xmm1");
sse_two!(addsd, "addsd xmm0, xmm1");
sse_two!(subsd, "subsd xmm0, xmm1");
sse_two!(mulsd, "mulsd xmm0, xmm1");
sse_two!(divsd, "divsd xmm0, xmm1");
sse_two!(sqrtsd, "sqrtsd xmm0, xmm1");
sse_two!(minsd, "minsd xmm0, xmm1");
sse_two!(maxsd, "maxsd xmm0, xmm1");
sse_two!(cvtss2sd, "cvtss2sd xmm0, xmm1");
sse_two!(cvtsd2ss, "cvtsd2ss xmm0, xmm1");
sse_two!(comiss, "comiss xmm0, xmm1");
sse_two!(ucomiss, "ucomiss xmm0, xmm1");
sse_two!(comisd, "comisd xmm0, xmm1");
sse_two!(ucomisd, "ucomisd xmm0, xmm1");
sse_two!(rcpss, "rcpss xmm0, xmm1");
sse_two!(rsqrtss, "rsqrtss xmm0, xmm1");
sse_two!(dpps_ff, "dpps xmm0, xmm1, 0xff");
sse_two!(dppd_33, "dppd xmm0, xmm1, 0x33");
sse_two!(cvtss2si32, "cvtss2si eax, xmm1", "movd xmm0, eax");
sse_two!(cvttss2si32, "cvttss2si eax, xmm1", "movd xmm0, eax");
sse_two!(cvtsd2si32, "cvtsd2si eax, xmm1", "movd xmm0, eax");
sse_two!(cvttsd2si32, "cvttsd2si eax, xmm1", "movd xmm0, eax");
sse_two!(cvtss2si64, "cvtss2si rax, xmm1", "movq xmm0, rax");
sse_two!(cvttss2si64, "cvttss2si rax, xmm1", "movq xmm0, rax");
sse_two!(cvtsd2si64, "cvtsd2si rax, xmm1", "movq xmm0, rax");
sse_two!(cvttsd2si64, "cvttsd2si rax, xmm1", "movq xmm0, rax");
sse_two!(cvtsi2ss32, "movd eax, xmm1", "cvtsi2ss xmm0, eax");
sse_two!(cvtsi2ss64, "movq rax, xmm1", "cvtsi2ss xmm0, rax");
sse_two!(cvtsi2sd32, "movd eax, xmm1", "cvtsi2sd xmm0, eax");
sse_two!(cvtsi2sd64, "movq rax, xmm1", "cvtsi2sd xmm0, rax");

/// Generates a const-generic SSE runner plus a dispatcher over the immediate.
macro_rules! sse_imm {
    ($gen:ident, $name:ident, $insn:literal, [$($i:literal),*]) => {
        fn $gen<const IMM: u8>(mxcsr: u32, a: u128, b: u128) -> SseOut {
            let mut x = a;
            let mut csr = mxcsr;
            let saved: u32 = 0x1F80;
            let fl: u64;
            // SAFETY: as in `sse_two!`.
            unsafe {
                asm!(
                    "movdqu xmm0, [{x}]",
                    "movdqu xmm1, [{b}]",
                    "ldmxcsr [{csr}]",
                    $insn,
                    "pushfq",
                    "pop {fl}",
                    "stmxcsr [{csr}]",
                    "ldmxcsr [{saved}]",
                    "movdqu [{x}], xmm0",
                    x = in(reg) &mut x,
                    b = in(reg) &b,
                    csr = in(reg) &mut csr,
                    saved = in(reg) &saved,
                    fl = out(reg) fl,
                    imm = const IMM,
                    out("xmm0") _, out("xmm1") _,
                );
            }
            SseOut { x, mxcsr: csr, rflags: fl }
        }
        /// Runs the instruction with the given immediate.
        pub fn $name(mxcsr: u32, a: u128, b: u128, imm: u8) -> SseOut {
            match imm {
                $($i => $gen::<$i>(mxcsr, a, b),)*
                _ => $gen::<0>(mxcsr, a, b),
            }
        }
    };
}

sse_imm!(
    cmpss_g,
    cmpss,
    "vcmpss xmm0, xmm0, xmm1, {imm}",
    [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,
        28, 29, 30, 31
    ]
);
sse_imm!(
    cmpsd_g,
    cmpsd,
    "vcmpsd xmm0, xmm0, xmm1, {imm}",
    [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,
        28, 29, 30, 31
    ]
);
sse_imm!(
    roundss_g,
    roundss,
    "roundss xmm0, xmm1, {imm}",
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
);
sse_imm!(
    roundsd_g,
    roundsd,
    "roundsd xmm0, xmm1, {imm}",
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
);
sse_imm!(
    dpps_g,
    dpps,
    "dpps xmm0, xmm1, {imm}",
    [0x0f, 0x1f, 0x3f, 0x7f, 0xff, 0xf1, 0x71, 0x31, 0x11, 0xe1, 0xd1, 0xb1, 0x91, 0x5f, 0xaf, 0xcc]
);
sse_imm!(
    dppd_g,
    dppd,
    "dppd xmm0, xmm1, {imm}",
    [0x11, 0x21, 0x31, 0x12, 0x22, 0x32, 0x13, 0x23, 0x33, 0x03, 0x30]
);

/// FADD m32 with ST(0) = a; returns ST(0) and SW.
pub fn fadd_m32(fcw: u16, a: F80, m: u32) -> (F80, u16) {
    let ia = a.to_le_bytes();
    let mut o0 = [0u8; 10];
    let sw: u16;
    // SAFETY: as in `x87_two!`; reads 4 bytes of `m`.
    unsafe {
        asm!(
            "fninit",
            "fldcw word ptr [{cw}]",
            "fld tbyte ptr [{a}]",
            "fadd dword ptr [{m}]",
            "fnstsw ax",
            "fnclex",
            "fstp tbyte ptr [{o0}]",
            "fninit",
            cw = in(reg) &fcw,
            a = in(reg) ia.as_ptr(),
            m = in(reg) &m,
            o0 = in(reg) o0.as_mut_ptr(),
            out("ax") sw,
            out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
            out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
            options(nostack),
        );
    }
    (F80::from_le_bytes(o0), sw)
}

macro_rules! x87_mem {
    ($name:ident, $t:ty, $insn:literal) => {
        /// Runs the memory-operand instruction with ST(0) = a; returns ST(0) and SW.
        pub fn $name(fcw: u16, a: F80, m: $t) -> (F80, u16) {
            let ia = a.to_le_bytes();
            let mut o0 = [0u8; 10];
            let sw: u16;
            // SAFETY: as in `x87_two!`; reads `size_of::<$t>()` bytes of `m`.
            unsafe {
                asm!(
                    "fninit",
                    "fldcw word ptr [{cw}]",
                    "fld tbyte ptr [{a}]",
                    $insn,
                    "fnstsw ax",
                    "fnclex",
                    "fstp tbyte ptr [{o0}]",
                    "fninit",
                    cw = in(reg) &fcw,
                    a = in(reg) ia.as_ptr(),
                    m = in(reg) &m,
                    o0 = in(reg) o0.as_mut_ptr(),
                    out("ax") sw,
                    out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
                    out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
                    options(nostack),
                );
            }
            (F80::from_le_bytes(o0), sw)
        }
    };
}

x87_mem!(fdiv_m32, u32, "fdiv dword ptr [{m}]");
x87_mem!(fdivr_m64, u64, "fdivr qword ptr [{m}]");
x87_mem!(fsubr_m32, u32, "fsubr dword ptr [{m}]");
x87_mem!(fmul_m64, u64, "fmul qword ptr [{m}]");

/// True when the host is an AMD family 19h CPU (Zen 3 / Zen 4), the hardware this
/// crate's model was measured on. Hardware-comparison tests are skipped elsewhere
/// (other vendors differ in implementation-specific results such as RCPSS tables,
/// the FPREM step and transcendental rounding).
pub fn is_amd_family_19h() -> bool {
    // SAFETY: the CPUID instruction exists on every x86_64 CPU (the intrinsic is an
    // `unsafe fn` on older toolchains, hence the block).
    #[allow(unused_unsafe)]
    let (v, f) = unsafe {
        let l0 = core::arch::x86_64::__cpuid(0);
        let l1 = core::arch::x86_64::__cpuid(1);
        ((l0.ebx, l0.edx, l0.ecx), l1.eax)
    };
    let vendor_ok = v == (0x6874_7541, 0x6974_6E65, 0x444D_4163); // "AuthenticAMD"
    let base = (f >> 8) & 0xF;
    let family = if base == 0xF { base + ((f >> 20) & 0xFF) } else { base };
    vendor_ok && family == 0x19
}

/// Skips (returns true) with a note when the host is not the measured hardware.
pub fn skip_unless_zen() -> bool {
    if is_amd_family_19h() {
        false
    } else {
        eprintln!("skipped: host is not AMD family 19h (the hardware the model matches)");
        true
    }
}
