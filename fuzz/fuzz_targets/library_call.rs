#![no_main]
//! Fuzz target `library_call`: see `x86wow::oracle::fuzz::library_call` for the input structure and the invariants.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    x86wow::oracle::fuzz::library_call(data);
});
