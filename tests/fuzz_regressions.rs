//! Inputs the fuzz targets of `fuzz/` found crashing, replayed through the same
//! harnesses (`x86wow::oracle::fuzz`) under plain `cargo test`. The inputs are in
//! `testdata/oracle/fuzz-regressions/`, named `<target>-<what>`.

use std::path::Path;

fn input(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/oracle/fuzz-regressions").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `XLAT` with a 16-bit address size (`67 D7`) once computed `EBX + AL` with a plain
/// `+`: with EBX near 0xFFFFFFFF it overflowed, a panic where overflow checks are on
/// (debug builds, the fuzz build). Found by `exec_bytes`; the sum now wraps before
/// the mask to 16 bits.
#[test]
fn exec_bytes_xlat_addr16_overflow() {
    x86wow::oracle::fuzz::exec_bytes(&input("exec_bytes-xlat-addr16-overflow"));
}

/// The seed corpus runs through every harness without a failure.
#[test]
fn seed_corpus_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    type Harness = fn(&[u8]);
    let targets: [(&str, Harness); 7] = [
        ("exec_bytes", x86wow::oracle::fuzz::exec_bytes),
        ("lockstep_fastpath", x86wow::oracle::fuzz::lockstep_fastpath),
        ("pe_load", x86wow::oracle::fuzz::pe_load),
        ("wow64_service", x86wow::oracle::fuzz::wow64_service),
        ("library_call", x86wow::oracle::fuzz::library_call),
        ("serve_request", x86wow::oracle::fuzz::serve_request),
        ("state_json", x86wow::oracle::fuzz::state_json),
    ];
    for (name, harness) in targets {
        let mut n = 0;
        for entry in std::fs::read_dir(root.join(name)).expect("corpus directory") {
            let path = entry.expect("entry").path();
            harness(&std::fs::read(&path).expect("corpus file"));
            n += 1;
        }
        assert!(n > 0, "{name}: empty corpus");
    }
}

/// MASKMOVQ raising #AC: the harness took the x87 transition it makes before faulting
/// (measured on the hardware, cpu/UNDEFINED.md) for a fault that changed registers.
#[test]
fn exec_bytes_maskmovq_fault_after_the_x87_transition() {
    x86wow::oracle::fuzz::exec_bytes(&input("exec_bytes-maskmovq-ac"));
}

/// MASKMOVQ with an x87 exception pending: #MF is taken before the instruction starts,
/// so there is no x87-to-MMX transition; the harness expected the one MASKMOVQ makes
/// before its other faults. Found by `exec_bytes`.
#[test]
fn exec_bytes_maskmovq_pending_mf_without_the_transition() {
    x86wow::oracle::fuzz::exec_bytes(&input("exec_bytes-maskmovq-pending-mf"));
}

/// CVTTPS2PI mm, m64 raising #AC: no x87 transition (only #XM keeps it), which the
/// first version of the MASKMOVQ allowance above wrongly expected.
#[test]
fn exec_bytes_cvttps2pi_fault_without_the_x87_transition() {
    x86wow::oracle::fuzz::exec_bytes(&input("exec_bytes-cvttps2pi-ac"));
}

/// An information class returning a UNICODE_STRING (NtQueryObject's name) with the
/// 32-bit buffer near 4 GiB: the narrowed string pointer (buffer + header) overflowed
/// with a plain `+` (wow64/src/thunks/info.rs). Now it wraps, and the write of the
/// result faults into STATUS_ACCESS_VIOLATION as on Windows.
#[test]
fn wow64_service_string_query_near_4_gib() {
    x86wow::oracle::fuzz::wow64_service(&input("wow64_service-string-query-overflow"));
}

/// An import descriptor whose IAT RVA is near 4 GiB: the address of the n-th IAT slot
/// overflowed (wow64/src/pe.rs, `imports`). RVA sums past 4 GiB are now image errors.
#[test]
fn pe_load_import_rva_near_4_gib() {
    x86wow::oracle::fuzz::pe_load(&input("pe_load-import-rva-overflow"));
}

/// A request whose `id` was the float 4.7969906497263885e-88 got back
/// 4.796990649726389e-88: serde_json's default float parsing is not correctly rounded,
/// so the id was not echoed verbatim. serde_json now parses with `float_roundtrip`.
/// Found by `serve_request`.
#[test]
fn serve_request_float_id_roundtrip() {
    x86wow::oracle::fuzz::serve_request(&input("serve_request-float-id-roundtrip"));
}

/// Found by `lockstep_fastpath`: `FSTP qword [EAX]` with EAX pointing at itself, in a
/// writable code page, stores the indefinite over its own opcode. The plain path took
/// the last-opcode value (FOP) from the bytes after the store (0); the cached path,
/// like the hardware, from the instruction as decoded (0x51C). The plain path now
/// takes it before the instruction runs.
#[test]
fn lockstep_fastpath_fstp_over_its_own_opcode() {
    x86wow::oracle::fuzz::lockstep_fastpath(&input("lockstep_fastpath-fstp-over-own-opcode"));
}
