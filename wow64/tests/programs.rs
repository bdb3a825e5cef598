//! The test programs of testdata/win32 (C sources and build.sh there), run through the
//! public API: exact standard output and exit status.

use pretty_assertions::assert_eq;
use x86wow_wow64::Process;

fn testdata(name: &str) -> Vec<u8> {
    let p = format!("{}/../testdata/win32/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn run(name: &str) -> (u32, String, Option<String>) {
    let (status, stdout, message, _) = run_with(name, true);
    (status, stdout, message)
}

/// Runs a test program with the block cache on or off: exit status, standard output,
/// message, and the finished process (for its CPU state).
fn run_with(name: &str, cached: bool) -> (u32, String, Option<String>, Process) {
    let (b, out) = Process::builder().image_path(format!("C:\\{name}.exe")).capture_output();
    let b = b.file("C:\\adder.dll", testdata("adder.dll")).max_insns(20_000_000);
    let mut p = b.build(&testdata(&format!("{name}.exe"))).unwrap_or_else(|e| panic!("{name}: {e}"));
    p.cpu.set_block_cache(cached);
    let status = p.run_checked().unwrap_or_else(|e| panic!("{name}: {e}"));
    (status, out.stdout.text(), p.message().map(str::to_string), p)
}

fn check_program(name: &str) {
    let (status, stdout, message) = run(name);
    let expected = String::from_utf8(testdata(&format!("{name}.out"))).unwrap();
    assert_eq!(stdout, expected, "{name}: {message:?}");
    assert_eq!(status, 0, "{name}: {message:?}");
}

#[test]
fn hello() {
    check_program("hello");
}

#[test]
fn rtl_memory_routines_and_exit_user_process() {
    let (status, stdout, message) = run("rtlmem");
    let expected = String::from_utf8(testdata("rtlmem.out")).unwrap();
    assert_eq!(stdout, expected, "{message:?}");
    assert_eq!(status, 7, "RtlExitUserProcess(7) ends the process with 7: {message:?}");
}

#[test]
fn files() {
    check_program("files");
}

#[test]
fn memory() {
    check_program("memory");
}

#[test]
fn seh() {
    check_program("seh");
}

#[test]
fn events() {
    check_program("events");
}

#[test]
fn info() {
    check_program("info");
}

#[test]
fn heap() {
    check_program("heap");
}

#[test]
fn dll_imports() {
    check_program("useadder");
}

#[test]
fn unhandled_access_violation_ends_the_process() {
    let (status, stdout, message) = run("crash");
    assert_eq!(stdout, "about to write to address 0x10\n");
    assert_eq!(status, 0xC000_0005);
    let m = message.unwrap();
    assert!(m.contains("STATUS_ACCESS_VIOLATION") && m.contains("writing 0x00000010"), "{m}");
}

#[test]
fn library_calls_exports_with_marshalled_memory() {
    let mut p = Process::builder().image_path("C:\\adder.dll").build_dll(&testdata("adder.dll")).unwrap();
    assert_eq!(p.main_module().name, "adder.dll");
    let f = |p: &Process, name: &str| p.export("adder.dll", name).unwrap();
    assert_eq!(p.call(f(&p, "Add"), &[2, 40]).unwrap(), 42);
    assert_eq!(p.call(f(&p, "Attached"), &[]).unwrap(), 1, "DllMain ran once");
    let mul = p.export_ordinal("adder.dll", 7).unwrap();
    assert_eq!(p.call(mul, &[6, 7]).unwrap(), 42, "an export by ordinal only");
    let s = p.alloc_cstr("stressed").unwrap();
    p.call(f(&p, "Reverse"), &[s]).unwrap();
    assert_eq!(p.read_cstr(s, 64).unwrap(), "desserts");
    assert_eq!(p.call(f(&p, "Length"), &[s]).unwrap(), 8, "a forwarder to ntdll.strlen");
    assert_eq!(p.export("adder.dll", "Nope"), None);
    let listed: Vec<(u32, Option<String>)> =
        p.exports_of("adder.dll").into_iter().map(|(o, n, _)| (o, n)).collect();
    assert!(listed.contains(&(7, None)) && listed.contains(&(1, Some("Add".into()))), "{listed:?}");
}

#[test]
fn command_line_and_current_directory_from_the_peb() {
    let (b, out) = Process::builder()
        .image_path("C:\\tools\\args.exe")
        .args(["one", "two words", "quote\"d"])
        .capture_output();
    let mut p = b.build(&testdata("args.exe")).unwrap();
    assert_eq!(p.run(), 0);
    assert_eq!(
        out.stdout.text(),
        "image: C:\\tools\\args.exe\n\
         command line: C:\\tools\\args.exe one \"two words\" \"quote\\\"d\"\n\
         current directory: C:\\tools\\\n\
         ok: the current directory has a handle\n"
    );
}

/// The compiled-code benchmark (`x86wow bench`'s "program" workload): integer kernels
/// built with -O2. compute.out is what the same C source prints compiled for and run on
/// the host, so this compares ~29 million instructions of compiler output with real
/// hardware, on the cached path and (in optimised builds, where it takes a second or
/// two) on the plain one.
#[test]
fn compiled_kernels_match_the_host() {
    let expected = String::from_utf8(testdata("compute.out")).unwrap();
    let paths: &[bool] = if cfg!(debug_assertions) { &[true] } else { &[true, false] };
    for &cached in paths {
        let (b, out) = Process::builder().image_path("C:\\compute.exe").capture_output();
        let mut p = b.max_insns(100_000_000).build(&testdata("compute.exe")).unwrap();
        p.cpu.set_block_cache(cached);
        let status = p.run_checked().unwrap();
        assert_eq!(out.stdout.text(), expected, "cached {cached}: {:?}", p.message());
        assert_eq!(status, 0, "cached {cached}");
        assert!(p.cpu.insns() > 20_000_000, "{} instructions", p.cpu.insns());
    }
}

/// Every test program runs the same on the plain path (decode per instruction, generic
/// handlers only) as on the cached one (blocks, fast handlers, the translation cache):
/// the same output, exit status, message, retired-instruction count and registers.
#[test]
fn test_programs_run_identically_on_the_plain_path() {
    let programs =
        ["hello", "files", "memory", "seh", "events", "info", "heap", "useadder", "crash", "rtlmem", "args"];
    for name in programs {
        let runs: Vec<_> = [true, false]
            .into_iter()
            .map(|cached| {
                let (status, stdout, message, p) = run_with(name, cached);
                (status, stdout, message, p.cpu.insns(), p.cpu.registers())
            })
            .collect();
        assert_eq!(runs[0], runs[1], "{name}: cached vs plain");
        assert!(runs[0].3 > 100, "{name}: {} instructions", runs[0].3);
    }
}
