//! Entry points of the subcommands that live in their own modules. Each takes the raw
//! arguments after the subcommand name and returns the process exit code.

/// Parses a subcommand's arguments (`argv` without the subcommand's name) with its
/// clap parser; on `--help` or a usage error, prints clap's message and gives the exit
/// code (0 for help, 2 for errors).
pub(crate) fn parse_args<T: clap::Parser>(name: &str, argv: &[String]) -> Result<T, i32> {
    T::try_parse_from(std::iter::once(name.to_string()).chain(argv.iter().cloned())).map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            2
        } else {
            0
        }
    })
}

/// `x86wow run PROGRAM.exe [ARGS...]`.
pub fn run(args: &[String]) -> i32 {
    crate::run::main(args)
}

/// `x86wow debug PROGRAM.exe|STATE.json`.
pub fn debug(args: &[String]) -> i32 {
    crate::debug::main(args)
}

/// `x86wow lockstep ...`.
pub fn lockstep(args: &[String]) -> i32 {
    crate::oracle::cli::lockstep_main(args)
}

/// `x86wow trace record|check ...`.
pub fn trace(args: &[String]) -> i32 {
    crate::oracle::cli::trace_main(args)
}

/// `x86wow vectors ...`.
pub fn vectors(args: &[String]) -> i32 {
    crate::oracle::cli::vectors_main(args)
}

/// `x86wow serve DLL [--listen ADDR]`.
pub fn serve(args: &[String]) -> i32 {
    crate::serve::main(args)
}

/// `x86wow call DLL EXPORT [TYPE:VALUE...]`.
pub fn call(args: &[String]) -> i32 {
    crate::call::main(args)
}
