#![no_main]
//! Fuzz target `lockstep_fastpath`: see `x86wow::oracle::fuzz::lockstep_fastpath` for the input structure and the invariants.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    x86wow::oracle::fuzz::lockstep_fastpath(data);
});
