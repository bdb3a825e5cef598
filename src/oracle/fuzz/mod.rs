//! Fuzzing harnesses, shared by the cargo-fuzz targets in `fuzz/` and by the regression
//! tests in `tests/fuzz_regressions.rs`: each function takes the raw fuzzer input,
//! decodes it (structure-aware, with [`arbitrary`]) and panics when an invariant fails.
//!
//! | target | input | invariants |
//! |---|---|---|
//! | [`exec_bytes`] | code bytes + registers ([`Program`]) | no panic; a fault leaves the registers as the faulting instruction found them; a retired instruction counts once and moves EIP unless it is a branch or a REP string instruction; HLT and faults do not retire |
//! | [`lockstep_fastpath`] | the same | the decoded-block cache and the plain path end in identical states |
//! | [`pe_load`] | bytes as a PE32 image | validation and the wow64 loader (SEC_IMAGE sections) never panic, hang or allocate without bound |
//! | [`wow64_service`] | service index, argument slots, guest memory | every thunk returns a status; scratch memory is released; files only in a temporary sandbox |
//! | [`library_call`] | an export, convention, result type and arguments (scalars, buffers, strings, structures) for interop.dll | no panic; what cannot cross is an error before the call; after anything but the process's end the library still answers, and argument memory is freed |
//! | [`serve_request`] | request lines of the `x86wow serve` protocol, built from its vocabulary, or raw | no panic; every response is one JSON line with `ok` that echoes the `id`; the library answers afterwards |
//! | [`state_json`] | bytes as a machine-state document | the parser never panics; what it accepts serialises and parses back to the same document |
//!
//! ```
//! // Any bytes are a valid input; these run `nop; hlt` with registers from the input.
//! x86wow::oracle::fuzz::exec_bytes(&[0u8; 64]);
//! x86wow::oracle::fuzz::lockstep_fastpath(b"\x90\x90\xf4 some more input bytes for the registers");
//! ```

mod exec;
mod image;
mod library;
mod program;
mod serve;
mod service;
mod state;

pub use exec::{exec_bytes, lockstep_fastpath};
pub use image::pe_load;
pub use library::{library_call, FuzzArg, LibraryCall};
pub use program::{Program, RegInit, CODE, DATA, STACK};
pub use serve::{serve_request, Json, Line};
pub use service::{wow64_service, ServiceCall, Slot};
pub use state::state_json;

/// A directory for this process's sandboxes under the system temporary directory
/// (created if missing; each harness removes it when its input is done).
fn scratch_dir(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("x86wow-fuzz-{what}-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}
