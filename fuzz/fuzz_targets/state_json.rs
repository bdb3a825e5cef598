#![no_main]
//! Fuzz target `state_json`: see `x86wow::oracle::fuzz::state_json` for the input structure and the invariants.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    x86wow::oracle::fuzz::state_json(data);
});
