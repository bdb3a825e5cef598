//! Compiles the freestanding i386 runner (runner/runner.c) used by `native`.
//!
//! A failure never fails the build: the reason is passed to the crate as
//! `X86WOW_HWRUNNER_ERROR` and `NativeRunner::start()` reports it as
//! `Unavailable`. On success `X86WOW_HWRUNNER_PATH` names the executable
//! (it is also embedded with `include_bytes!`, so an empty file is written on
//! failure).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const FLAGS: &[&str] = &[
    "-m32",
    "-march=i686",
    "-ffreestanding",
    "-nostdlib",
    "-static",
    "-no-pie",
    "-O2",
    "-fno-pic",
    "-fno-stack-protector",
    "-fno-asynchronous-unwind-tables",
    "-fno-builtin",
    "-mno-sse",
    "-mno-mmx",
    "-Wall",
    "-Wl,-Ttext-segment=0x90000000",
    "-Wl,-z,noexecstack",
    "-Wl,--build-id=none",
];

fn main() {
    println!("cargo:rerun-if-changed=runner/runner.c");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=X86WOW_HWCHECK_CC");
    println!("cargo:rerun-if-env-changed=CC");

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let exe = out_dir.join("x86wow-hwrunner");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let src = manifest.join("runner").join("runner.c");

    let result = if arch != "x86_64" || os != "linux" {
        Err(format!("native execution needs an x86_64 Linux host (this build targets {arch}-{os})"))
    } else {
        compile(&src, &exe)
    };
    match result {
        Ok(()) => println!("cargo:rustc-env=X86WOW_HWRUNNER_PATH={}", exe.display()),
        Err(e) => {
            let _ = fs::write(&exe, b"");
            let one_line: String = e
                .split(['\n', '\r'])
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" | ");
            let one_line: String = one_line.chars().take(2000).collect();
            println!("cargo:warning=x86wow-hwcheck: native runner unavailable: {one_line}");
            println!("cargo:rustc-env=X86WOW_HWRUNNER_ERROR={one_line}");
        }
    }
}

fn compile(src: &Path, exe: &Path) -> Result<(), String> {
    let mut candidates: Vec<String> = Vec::new();
    for var in ["X86WOW_HWCHECK_CC", "CC"] {
        if let Ok(v) = env::var(var) {
            if !v.trim().is_empty() {
                candidates.push(v);
            }
        }
    }
    for c in ["cc", "gcc", "clang"] {
        if !candidates.iter().any(|x| x == c) {
            candidates.push(c.to_string());
        }
    }
    let mut errors = Vec::new();
    for cc in &candidates {
        let mut parts = cc.split_whitespace();
        let Some(prog) = parts.next() else { continue };
        let mut cmd = Command::new(prog);
        cmd.args(parts).args(FLAGS).arg("-o").arg(exe).arg(src);
        match cmd.output() {
            Ok(o) if o.status.success() => {
                let ok = fs::read(exe)
                    .map(|b| b.len() > 52 && b.starts_with(b"\x7fELF\x01\x01") && b[18] == 3)
                    .unwrap_or(false);
                if ok {
                    return Ok(());
                }
                errors.push(format!("{cc}: did not produce an i386 ELF executable"));
            }
            Ok(o) => errors.push(format!(
                "{cc} -m32 failed ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => errors.push(format!("{cc}: {e}")),
        }
    }
    Err(format!("no C compiler could build the i386 runner: {}", errors.join("; ")))
}
