//! The integer hardware suite: at least 100,000 generated cases with fixed seeds, each
//! run on this machine's CPU and in x86wow, compared register for register, flag for
//! flag (including the flags the manuals leave undefined: x86wow models AMD family 19h),
//! byte for byte and exception for exception. Skips with a message where native 32-bit
//! execution is unavailable; `vectors.rs` then still checks the committed vectors.
//!
//! Longer soaks: `cargo run --release -p x86wow-hwcheck -- --seed S --per-code N --sequences M`.

use x86wow_cpu::coverage::{codes, Family};
use x86wow_hwcheck::gen::{skip_reason, Rng, Skip};
use x86wow_hwcheck::native::NativeRunner;
use x86wow_hwcheck::suite::{run_codes, run_sequences};

#[test]
fn every_integer_code_matches_the_hardware() {
    let Some(mut runner) = NativeRunner::start_or_skip() else { return };
    let list = codes(Family::Integer);
    // 115 cases per code over ~700 codes: about 80,000 single-instruction cases.
    let mut report = run_codes(&mut runner, &list, 115, 0x5eed_0001);
    report.check(&mut runner);
    assert!(report.cases >= 75_000, "only {} cases ran", report.cases);
    // Every code is generated, except the few that must not run natively.
    for (code, why) in &report.skipped {
        let c = list.iter().find(|c| format!("{c:?}") == *code).copied();
        assert!(c.and_then(skip_reason).is_some(), "{code} has no generator: {why}");
    }
}

#[test]
fn instruction_sequences_match_the_hardware() {
    let Some(mut runner) = NativeRunner::start_or_skip() else { return };
    let mut report = run_sequences(&mut runner, Family::Integer, 25_000, 0x5eed_0002);
    report.check(&mut runner);
    assert_eq!(report.cases, 25_000);
}

#[test]
fn generator_is_deterministic() {
    let c = codes(Family::Integer)[40];
    let a = x86wow_hwcheck::gen::single(&mut Rng::new(7), c);
    let b = x86wow_hwcheck::gen::single(&mut Rng::new(7), c);
    match (a, b) {
        (Ok(a), Ok(b)) => assert_eq!(a.state, b.state),
        (Err(Skip::Unsafe(_)), Err(Skip::Unsafe(_))) => {}
        other => panic!("{other:?}"),
    }
}
