//! `x86wow debug`: a step debugger for a WOW64 process or a bare machine state, with a
//! line REPL (also scriptable through a pipe or `--batch FILE`) and a GDB remote stub
//! (`--gdb HOST:PORT`).
//!
//! Layout: [`target`] builds and runs the debuggee; [`control`] is the per-instruction
//! hook (breakpoints, watchpoints, goals, positions); [`session`] holds the execution
//! commands and [`reverse`] the history; [`symbols`], [`disasm`], [`frames`] and
//! [`views`] turn state into text; [`commands`] and [`repl`] are the command language
//! and loop; [`gdb`] is the remote stub.

pub mod commands;
pub mod control;
pub mod disasm;
pub mod error;
pub mod expr;
pub mod frames;
pub mod gdb;
pub mod repl;
pub mod reverse;
pub mod session;
pub mod symbols;
pub mod target;
pub mod views;

use std::path::{Path, PathBuf};

use clap::Parser;
use x86wow_cpu::state::MachineState;

use error::{DebugError, Result};
use session::{Session, Syntax};
use target::{Console, Machine, ProcessSpec};
use views::Style;

#[derive(Parser, Debug)]
#[command(
    name = "x86wow debug",
    about = "Step debugger for a 32-bit Windows program (PE32, run as `x86wow run` runs it) or a machine state (.json)"
)]
struct Args {
    /// Read commands from this file (each is echoed after the prompt), then exit.
    #[arg(long, value_name = "FILE")]
    batch: Option<PathBuf>,
    /// Serve the GDB remote protocol on this address (e.g. 127.0.0.1:1234) instead of
    /// the REPL.
    #[arg(long, value_name = "HOST:PORT")]
    gdb: Option<String>,
    /// Host directory the program sees as C:\ (default: a fresh temporary directory,
    /// rebuilt for each re-execution so that reverse execution is deterministic).
    #[arg(long)]
    root: Option<PathBuf>,
    /// A host file to put beside the program in the sandbox (a DLL it imports).
    #[arg(long, value_name = "PATH")]
    file: Vec<PathBuf>,
    /// Stop when this many instructions have retired.
    #[arg(long)]
    max_insns: Option<u64>,
    /// Disassembly syntax.
    #[arg(long, value_parser = ["intel", "att"], default_value = "intel")]
    syntax: String,
    /// The program (.exe) or machine state (.json).
    program: PathBuf,
    /// The program's arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| DebugError::Io { path: path.display().to_string(), error: e.to_string() })
}

/// Loads the debuggee: a machine state for `.json`, else a PE32 program.
fn load(args: &Args) -> Result<Machine> {
    let is_state = args.program.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_state {
        let text = String::from_utf8_lossy(&read(&args.program)?).into_owned();
        let state = MachineState::parse(&text)
            .map_err(|e| DebugError::Load(format!("{}: {e}", args.program.display())))?;
        let cpu = state.to_cpu().map_err(|e| DebugError::Load(format!("{}: {e}", args.program.display())))?;
        return Ok(Machine::State { initial: Box::new(state), cpu: Box::new(cpu) });
    }
    let image_path = crate::run::guest_path(args.root.as_deref(), &args.program);
    let dir = image_path.rsplit_once('\\').map_or("C:", |(d, _)| d).to_string();
    let mut files = Vec::new();
    for f in &args.file {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        files.push((format!("{dir}\\{name}"), read(f)?));
    }
    let spec = ProcessSpec {
        image: read(&args.program)?,
        image_path,
        args: args.args.clone(),
        root: args.root.clone(),
        files,
    };
    let console = Console::new(Box::new(std::io::stdout()));
    let process = spec.build(&console)?;
    Ok(Machine::Process { spec: Box::new(spec), process: Box::new(process), console })
}

/// The first lines of a session: what is loaded and where it stands.
fn banner(s: &Session, style: &Style) -> String {
    let mut out = match s.machine.process() {
        Some(p) => {
            let main = p.main_module();
            let names: Vec<String> =
                s.symbols.modules.iter().map(|m| format!("{} {:#010x}", m.name, m.base)).collect();
            format!(
                "x86wow debug: {} loaded ({}); entry point {:#010x}\nstopped at the process start\n",
                main.path,
                names.join(", "),
                main.entry
            )
        }
        None => "x86wow debug: machine state loaded\n".to_string(),
    };
    out.push_str(&views::current_line(s, style));
    out
}

/// `x86wow run --gdb HOST:PORT`: the program as `run` would run it, under the GDB stub
/// (after gdb detaches it runs to its end). Returns the exit code.
pub fn run_under_gdb(
    program: &Path,
    args: &[String],
    root: Option<&Path>,
    max_insns: Option<u64>,
    trace: bool,
    addr: &str,
) -> i32 {
    let a = Args {
        batch: None,
        gdb: Some(addr.to_string()),
        root: root.map(Path::to_path_buf),
        file: Vec::new(),
        max_insns,
        syntax: "intel".into(),
        program: program.to_path_buf(),
        args: args.to_vec(),
    };
    let machine = match load(&a) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("x86wow run: {e}");
            return 2;
        }
    };
    if let Some(c) = machine.console() {
        c.set_trace(trace);
    }
    match gdb::serve(Session::new(machine, max_insns), addr) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("x86wow run: {e}");
            2
        }
    }
}

/// Runs the subcommand; returns the exit code.
pub fn main(argv: &[String]) -> i32 {
    let args: Args = match crate::cli::parse_args("x86wow debug", argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let machine = match load(&args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("x86wow debug: {e}");
            return 2;
        }
    };
    let mut session = Session::new(machine, args.max_insns);
    if args.syntax == "att" {
        session.syntax = Syntax::Att;
    }
    if let Some(addr) = &args.gdb {
        return match gdb::serve(session, addr) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("x86wow debug: {e}");
                2
            }
        };
    }
    let style = Style::detect();
    print!("{}", banner(&session, &style));
    let source = match args.batch {
        Some(f) => repl::Source::Batch(f),
        None => repl::Source::Stdin,
    };
    match repl::run(&mut session, source, &style) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("x86wow debug: {e}");
            2
        }
    }
}
