#![no_main]
//! Fuzz target `wow64_service`: see `x86wow::oracle::fuzz::wow64_service` for the input structure and the invariants.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    x86wow::oracle::fuzz::wow64_service(data);
});
