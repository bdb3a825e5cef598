#![no_main]
//! Fuzz target `serve_request`: see `x86wow::oracle::fuzz::serve_request` for the input structure and the invariants.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    x86wow::oracle::fuzz::serve_request(data);
});
