//! The SSE hardware suite (SSE, SSE2, SSE3, SSSE3, SSE4.1, SSE4.2 with CRC32 and
//! PCMPxSTRx, AES-NI, PCLMULQDQ): every code of `Family::Sse` generated with fixed
//! seeds, run on this machine's CPU and in x86wow, and compared register for register
//! including the FXSAVE image (MXCSR, XMM0-7, the x87 state), EFLAGS, memory and
//! exceptions (#GP on misaligned operands, #AC, #XM with unmasked exceptions, #PF).
//! Skips with a message where native 32-bit execution is unavailable.
//!
//! Longer soaks: `HWCHECK_FAMILY=sse cargo run --release -p x86wow-hwcheck -- --per-code N --seed S`.

use x86wow_cpu::coverage::{codes, Family};
use x86wow_hwcheck::native::NativeRunner;
use x86wow_hwcheck::suite::{run_codes, run_sequences};

#[test]
fn every_sse_code_matches_the_hardware() {
    let Some(mut runner) = NativeRunner::start_or_skip() else { return };
    let list = codes(Family::Sse);
    // 100 cases per code over 270 codes.
    let mut report = run_codes(&mut runner, &list, 100, 0x5eed_55e1);
    report.check(&mut runner);
    assert!(report.skipped.is_empty(), "codes without cases: {:?}", report.skipped);
    assert_eq!(report.per_code.len(), list.len(), "every code is generated");
    assert!(report.cases >= 27_000, "only {} cases ran", report.cases);
}

/// Straight-line sequences of SSE and MMX instructions (memory operands `[EBX + disp]`),
/// so results, MXCSR flags and the MMX/x87 state feed later instructions.
#[test]
fn simd_sequences_match_the_hardware() {
    let Some(mut runner) = NativeRunner::start_or_skip() else { return };
    for (family, seed) in [(Family::Sse, 0x5eed_5e51), (Family::Mmx, 0x5eed_5e52)] {
        let report = run_sequences(&mut runner, family, 2_000, seed);
        for m in report.mismatches.iter().take(20) {
            println!("{}", m.report());
        }
        println!("{family:?} sequences: {}", report.summary());
        assert!(report.mismatches.is_empty(), "{} mismatches against the hardware", report.mismatches.len());
        assert!(report.errors.is_empty(), "{} cases could not be compared", report.errors.len());
        assert_eq!(report.cases, 2_000);
    }
}
