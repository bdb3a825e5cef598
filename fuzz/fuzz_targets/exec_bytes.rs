#![no_main]
//! Fuzz target `exec_bytes`: see `x86wow::oracle::fuzz::exec_bytes` for the input structure and the invariants.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    x86wow::oracle::fuzz::exec_bytes(data);
});
