//! `x86wow run PROGRAM.exe [ARGS...]`: runs a 32-bit Windows console program in a
//! sandbox under the WOW64 model; the program's exit status is the command's.

use std::path::{Path, PathBuf};

use clap::Parser;
use x86wow_wow64::{Error, Process};

#[derive(Parser, Debug)]
#[command(name = "x86wow run", about = "Run a 32-bit Windows console program (PE32) under the WOW64 model")]
struct Args {
    /// Host directory the program sees as C:\ (default: a fresh temporary directory,
    /// removed afterwards). A program inside it runs from there; otherwise it is copied
    /// to C:\NAME.exe. x86wow's ntdll.dll is written to C:\Windows\SysWOW64 there.
    #[arg(long)]
    root: Option<PathBuf>,
    /// Print each system call: 32-bit arguments, the 64-bit ones, names and status.
    #[arg(long)]
    trace: bool,
    /// Stop after this many instructions.
    #[arg(long)]
    max_insns: Option<u64>,
    /// Wait for gdb on HOST:PORT (or PORT, on loopback) and run under its control.
    #[arg(long, value_name = "HOST:PORT")]
    gdb: Option<String>,
    /// The program.
    program: PathBuf,
    /// Its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Where the program lives in the sandbox: its path under the root if it is inside it,
/// else `C:\` plus its file name (`x86wow debug` places programs the same way).
pub(crate) fn guest_path(root: Option<&Path>, program: &Path) -> String {
    if let (Some(root), Ok(prog)) = (root.and_then(|r| r.canonicalize().ok()), program.canonicalize()) {
        if let Ok(rel) = prog.strip_prefix(&root) {
            let parts: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
            return format!("C:\\{}", parts.join("\\"));
        }
    }
    let name = program.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or("program.exe".into());
    format!("C:\\{name}")
}

/// Runs the subcommand; returns the exit code.
pub fn main(argv: &[String]) -> i32 {
    let args: Args = match crate::cli::parse_args("x86wow run", argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    if let Some(addr) = &args.gdb {
        let root = args.root.as_deref();
        return crate::debug::run_under_gdb(
            &args.program,
            &args.args,
            root,
            args.max_insns,
            args.trace,
            addr,
        );
    }
    let image = match std::fs::read(&args.program) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("x86wow run: {}: {e}", args.program.display());
            return 2;
        }
    };
    let mut b = Process::builder()
        .inherit_stdio()
        .image_path(guest_path(args.root.as_deref(), &args.program))
        .args(args.args.iter().cloned());
    if let Some(r) = &args.root {
        b = b.root(r);
    }
    if args.trace {
        b = b.trace(std::io::stderr());
    }
    if let Some(n) = args.max_insns {
        b = b.max_insns(n);
    }
    let mut p = match b.build(&image) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("x86wow run: cannot load {}: {e}", args.program.display());
            return 2;
        }
    };
    match p.run_checked() {
        Ok(status) => {
            if let Some(m) = p.message() {
                eprintln!("x86wow run: {m}");
            }
            status as i32
        }
        Err(Error::BudgetExhausted) => {
            eprintln!("x86wow run: {}", p.message().unwrap_or("instruction budget exhausted"));
            124
        }
        Err(e) => {
            eprintln!("x86wow run: {e}");
            2
        }
    }
}
