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
    /// Run the built-in workloads and report MIPS.
    Bench {
        /// Only the named workload(s).
        #[arg(long)]
        workload: Vec<String>,
        /// Runs per workload (the median is reported).
        #[arg(long, default_value_t = 3)]
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
    };
    std::process::exit(code);
}
