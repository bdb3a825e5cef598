//! Issue 7's memory target: a process with 100 MiB of committed (and written) guest
//! memory costs the host no more than about 110 MiB. Its own test binary, so that no
//! other test allocates while the resident set is measured.

#[test]
fn hundred_mib_of_guest_memory_costs_about_as_much_on_the_host() {
    if !cfg!(target_os = "linux") {
        eprintln!("skipped: the resident set is read from /proc/self/status (Linux only)");
        return;
    }
    let f = x86wow::bench::footprint().expect("bigmem.exe runs and the resident set is readable");
    let mib = f.host_bytes as f64 / (1 << 20) as f64;
    println!("100 MiB of guest memory: host resident set grew by {mib:.1} MiB");
    // The lower bound shows the measurement sees the pages at all (written pages are
    // private copies, not the shared zero page).
    assert!(mib >= 99.0, "only {mib:.1} MiB: the measurement missed the guest pages");
    assert!(mib <= 110.0, "{mib:.1} MiB of host memory for 100 MiB of guest memory");
}
