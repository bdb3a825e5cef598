//! `pe_load`: arbitrary bytes as a PE32 image.

use x86wow_wow64::Process;

/// Largest input loaded through the whole process builder (the parsers see everything).
const MAX_LOAD: usize = 1 << 20;

/// Validates the bytes with both image parsers (the wow64 loader's and the kernel's
/// SEC_IMAGE one) and, when the loader accepts the headers, builds a process from the
/// image in a sandbox directory: maps it through a SEC_IMAGE section, links it against
/// the guest ntdll and prepares its initial thread. Nothing may panic or hang.
pub fn pe_load(data: &[u8]) {
    let _ = x86wow_syscalls::parse_image(data);
    if x86wow_wow64::pe::parse(data).is_err() || data.len() > MAX_LOAD {
        return;
    }
    let root = super::scratch_dir("pe_load");
    let _ = Process::builder().root(&root).max_insns(10_000).build(data);
    // Nothing is left in the system temporary directory once the input is done.
    let _ = std::fs::remove_dir_all(&root);
}
