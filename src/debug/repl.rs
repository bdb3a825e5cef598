//! The command loop. Lines come from a terminal (rustyline: history, completion of
//! commands, registers and symbols), from a pipe, or from a `--batch` file; the last two
//! echo each command after the prompt so a transcript reads like a session.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use super::commands::{self, COMMANDS};
use super::expr::FLAG_BITS;
use super::session::Session;
use super::views::Style;

pub const PROMPT: &str = "(x86wow) ";

/// Where commands come from.
pub enum Source {
    /// A file of commands (`--batch FILE`).
    Batch(PathBuf),
    /// Standard input: a terminal gets line editing, a pipe is read as is.
    Stdin,
}

/// Completes command names at the start of a line, then registers and symbols.
struct DebugHelper {
    words: Vec<String>,
}

impl Completer for DebugHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let before = &line[..pos];
        let start = before
            .rfind(|c: char| c.is_whitespace() || matches!(c, '[' | '(' | '*' | '+' | ','))
            .map_or(0, |i| i + 1);
        let word = &before[start..];
        let first = before[..start].trim().is_empty();
        let mut out: Vec<String> = if first {
            COMMANDS
                .iter()
                .flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()))
                .filter(|n| n.starts_with(word))
                .map(String::from)
                .collect()
        } else {
            let lower = word.to_ascii_lowercase();
            self.words.iter().filter(|w| w.to_ascii_lowercase().starts_with(&lower)).cloned().collect()
        };
        out.sort();
        out.dedup();
        Ok((start, out))
    }
}

impl Hinter for DebugHelper {
    type Hint = String;
}
impl Highlighter for DebugHelper {}
impl Validator for DebugHelper {}
impl Helper for DebugHelper {}

fn completion_words(s: &Session) -> Vec<String> {
    let mut w: Vec<String> = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags"]
        .iter()
        .map(|r| r.to_string())
        .collect();
    w.extend(FLAG_BITS.iter().map(|(f, _)| f.to_string()));
    w.extend(
        [
            "syscall",
            "exception",
            "mem",
            "syntax",
            "syscalls",
            "on",
            "off",
            "breakpoints",
            "registers",
            "modules",
        ]
        .map(String::from),
    );
    w.extend(s.symbols.modules.iter().map(|m| m.name.clone()));
    w.extend(s.symbols.names().map(String::from));
    if let Some(t) = &s.ctl.borrow().services {
        w.extend(t.names.iter().flatten().cloned());
    }
    w
}

/// Runs one line and prints what it produced; returns false to leave.
fn run_line(s: &mut Session, line: &str, style: &Style) -> bool {
    let result = commands::execute(s, line, style);
    if let Some(c) = s.machine.console() {
        c.ensure_line_start();
    }
    let mut out = std::io::stdout().lock();
    match result {
        Ok(reply) => {
            let _ = out.write_all(reply.text.as_bytes());
            let _ = out.flush();
            !reply.quit
        }
        Err(e) => {
            let _ = writeln!(out, "{}", style.error(&format!("error: {e}")));
            let _ = out.flush();
            true
        }
    }
}

fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".x86wow_history"))
}

/// Reads and runs commands until `quit` or the end of input.
pub fn run(s: &mut Session, source: Source, style: &Style) -> std::io::Result<()> {
    match source {
        Source::Batch(path) => {
            let f = std::fs::File::open(&path)?;
            echo_loop(s, std::io::BufReader::new(f), style)
        }
        Source::Stdin if std::io::stdin().is_terminal() => interactive(s, style),
        Source::Stdin => echo_loop(s, std::io::stdin().lock(), style),
    }
}

fn echo_loop(s: &mut Session, input: impl BufRead, style: &Style) -> std::io::Result<()> {
    for line in input.lines() {
        let line = line?;
        println!("{PROMPT}{line}");
        if !run_line(s, &line, style) {
            break;
        }
    }
    Ok(())
}

fn interactive(s: &mut Session, style: &Style) -> std::io::Result<()> {
    let mut rl: Editor<DebugHelper, DefaultHistory> = Editor::new().map_err(std::io::Error::other)?;
    rl.set_helper(Some(DebugHelper { words: completion_words(s) }));
    let history = history_path();
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    let mut last = String::new();
    loop {
        match rl.readline(PROMPT) {
            Ok(line) => {
                // An empty line repeats the last command, as in gdb.
                let line = if line.trim().is_empty() { last.clone() } else { line };
                if line.trim().is_empty() {
                    continue;
                }
                let _ = rl.add_history_entry(line.as_str());
                last = line.clone();
                if !run_line(s, &line, style) {
                    break;
                }
            }
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(std::io::Error::other(e)),
        }
    }
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
    Ok(())
}
