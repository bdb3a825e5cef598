//! The MMX hardware suite: every code of `Family::Mmx` (MMX and the MMX-register forms
//! of SSE, SSE2 and SSSE3) generated with fixed seeds, run on this machine's CPU and in
//! x86wow, and compared register for register including the FXSAVE image (the MMX
//! registers aliased on the x87 registers, TOP and the tags, MXCSR, XMM0-7), EFLAGS,
//! memory and exceptions (#AC, #XM with unmasked exceptions, #PF, #GP).
//! Skips with a message where native 32-bit execution is unavailable.
//!
//! Longer soaks: `HWCHECK_FAMILY=mmx cargo run --release -p x86wow-hwcheck -- --per-code N --seed S`.

use x86wow_cpu::coverage::{codes, Family};
use x86wow_hwcheck::native::NativeRunner;
use x86wow_hwcheck::suite::run_codes;

#[test]
fn every_mmx_code_matches_the_hardware() {
    let Some(mut runner) = NativeRunner::start_or_skip() else { return };
    let list = codes(Family::Mmx);
    // 100 cases per code over 97 codes.
    let mut report = run_codes(&mut runner, &list, 100, 0x5eed_3330);
    report.check(&mut runner);
    assert!(report.skipped.is_empty(), "codes without cases: {:?}", report.skipped);
    assert_eq!(report.per_code.len(), list.len(), "every code is generated");
    assert!(report.cases >= 9_700, "only {} cases ran", report.cases);
}
