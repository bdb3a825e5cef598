//! The `x86wow` command line.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "x86wow", version, about = "A reference IA-32 interpreter and WOW64 model")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run machine states (docs/state-format.md): a .json file with one state, or .jsonl
    /// with one per line ("-" reads stdin); writes the final states.
    Exec {
        /// Input file (.json or .jsonl), or "-" for stdin.
        input: String,
        /// Output file ("-" or absent: stdout).
        #[arg(short, long)]
        output: Option<String>,
        /// Instruction budget per state.
        #[arg(long, default_value_t = 1_000_000)]
        max_insns: u64,
    },
    /// List every iced-x86 Code of the covered instruction sets with its status.
    Coverage {
        /// Only print the summary and the codes that are not implemented.
        #[arg(long)]
        missing: bool,
    },
    /// Run a 32-bit Windows console program (PE32) under the WOW64 model.
    #[command(disable_help_flag = true)]
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Step debugger for a program or a machine state.
    #[command(disable_help_flag = true)]
    Debug {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run two execution engines side by side and report the first divergence.
    #[command(disable_help_flag = true)]
    Lockstep {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Record a trace of a run, or check another engine's trace against x86wow.
    #[command(disable_help_flag = true)]
    Trace {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Export hardware-confirmed per-instruction test vectors.
    #[command(disable_help_flag = true)]
    Vectors {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Load a 32-bit DLL and serve calls into it over JSON Lines (stdin/stdout or a socket).
    #[command(disable_help_flag = true)]
    Serve {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Load a 32-bit DLL, call one export and print its result.
    #[command(disable_help_flag = true)]
    Call {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the built-in workloads and report MIPS.
    Bench {
        /// Only the named workload(s).
        #[arg(long)]
        workload: Vec<String>,
        /// Runs per workload (the median is reported). Eleven, because single runs on a
        /// shared VM vary by ±10% or more.
        #[arg(long, default_value_t = 11)]
        runs: usize,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Exec { input, output, max_insns } => x86wow::exec::run(&input, output.as_deref(), max_insns),
        Command::Coverage { missing } => x86wow::coverage::print(missing),
        Command::Bench { workload, runs, json } => x86wow::bench::run(&workload, runs, json),
        Command::Run { args } => x86wow::cli::run(&args),
        Command::Debug { args } => x86wow::cli::debug(&args),
        Command::Lockstep { args } => x86wow::cli::lockstep(&args),
        Command::Trace { args } => x86wow::cli::trace(&args),
        Command::Vectors { args } => x86wow::cli::vectors(&args),
        Command::Serve { args } => x86wow::cli::serve(&args),
        Command::Call { args } => x86wow::cli::call(&args),
    };
    std::process::exit(code);
}
