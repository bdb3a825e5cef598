#![no_main]
//! Fuzz target `pe_load`: see `x86wow::oracle::fuzz::pe_load` for the input structure and the invariants.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    x86wow::oracle::fuzz::pe_load(data);
});
