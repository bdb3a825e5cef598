//! A backend in another process, spoken to over the JSON Lines protocol.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{json, Value};
use x86wow_cpu::state::{ExitInfo, MachineState, MemRegion};

use super::backend::{Backend, BackendError};
use super::exit::exit_from_json;
use super::protocol::region_to_json;

/// An engine in a child process that reads requests on its standard input and answers
/// on its standard output, one JSON object per line (see `docs/oracle.md`). Its
/// standard error is passed through.
///
/// ```no_run
/// use x86wow::oracle::{Backend, PipeBackend};
///
/// let mut engine = PipeBackend::spawn("python3 testdata/oracle/unicorn_engine.py").unwrap();
/// println!("{} (undefined flags: {:?})", engine.name(), engine.undefined_flags_model());
/// ```
pub struct PipeBackend {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    name: String,
    flags_model: Option<String>,
}

/// Splits a command line at spaces; single or double quotes group words.
pub fn split_command(cmd: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut started = false;
    for c in cmd.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                started = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if started || !cur.is_empty() {
        words.push(cur);
    }
    words
}

impl PipeBackend {
    /// Starts `command` (split at spaces, quotes group words) and greets it.
    pub fn spawn(command: &str) -> Result<PipeBackend, BackendError> {
        let words = split_command(command);
        let Some((program, args)) = words.split_first() else {
            return Err(BackendError::Spawn {
                command: command.to_string(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"),
            });
        };
        let mut cmd = Command::new(program);
        cmd.args(args);
        Self::spawn_command(cmd, command)
    }

    /// Starts a prepared command and greets it (`hello`).
    pub fn spawn_command(mut cmd: Command, display: &str) -> Result<PipeBackend, BackendError> {
        let spawn_err = |source| BackendError::Spawn { command: display.to_string(), source };
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(spawn_err)?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut b = PipeBackend { child, stdin, stdout, name: display.to_string(), flags_model: None };
        let hello = b.request(&json!({"op": "hello", "protocol": super::protocol::PROTOCOL_VERSION}))?;
        if let Some(n) = hello.get("engine").and_then(Value::as_str) {
            b.name = n.to_string();
        }
        b.flags_model = hello.get("undefined_flags").and_then(Value::as_str).map(str::to_string);
        Ok(b)
    }

    /// Sends one request and reads its answer; `{"ok": false}` becomes an error.
    pub fn request(&mut self, req: &Value) -> Result<Value, BackendError> {
        let op = req.get("op").and_then(Value::as_str).unwrap_or("?").to_string();
        let io = |source| BackendError::Io { engine: self.name.clone(), source };
        writeln!(self.stdin, "{req}").map_err(io)?;
        self.stdin.flush().map_err(|source| BackendError::Io { engine: self.name.clone(), source })?;
        let mut line = String::new();
        let n = self
            .stdout
            .read_line(&mut line)
            .map_err(|source| BackendError::Io { engine: self.name.clone(), source })?;
        if n == 0 {
            return Err(BackendError::Closed { engine: self.name.clone(), request: op });
        }
        let v: Value = serde_json::from_str(&line).map_err(|e| BackendError::Protocol {
            engine: self.name.clone(),
            message: format!("answer to `{op}` is not JSON ({e}): {}", line.trim_end()),
        })?;
        match v.get("ok").and_then(Value::as_bool) {
            Some(true) => Ok(v),
            Some(false) => Err(BackendError::Refused {
                engine: self.name.clone(),
                request: op,
                message: v.get("error").and_then(Value::as_str).unwrap_or("(no message)").to_string(),
            }),
            None => Err(BackendError::Protocol {
                engine: self.name.clone(),
                message: format!("answer to `{op}` has no `ok`: {}", line.trim_end()),
            }),
        }
    }

    fn protocol(&self, message: String) -> BackendError {
        BackendError::Protocol { engine: self.name.clone(), message }
    }

    fn parse_state(&self, v: Option<&Value>) -> Result<MachineState, BackendError> {
        let v = v.ok_or_else(|| self.protocol("answer without `state`".into()))?;
        MachineState::from_json(v).map_err(|e| self.protocol(format!("state: {e}")))
    }

    fn parse_exit(&self, v: Option<&Value>) -> Result<ExitInfo, BackendError> {
        let v = v.ok_or_else(|| self.protocol("answer without `exit`".into()))?;
        exit_from_json(v).map_err(|e| self.protocol(e))
    }
}

impl Drop for PipeBackend {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "{}", json!({"op": "quit"}));
        let _ = self.stdin.flush();
        // Give a well-behaved engine a moment to leave, then make sure it does.
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Backend for PipeBackend {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn undefined_flags_model(&self) -> Option<String> {
        self.flags_model.clone()
    }

    fn load(&mut self, state: &MachineState) -> Result<(), BackendError> {
        self.request(&json!({"op": "load", "state": state.to_json(None)})).map(|_| ())
    }

    fn map(&mut self, region: &MemRegion) -> Result<(), BackendError> {
        self.request(&json!({"op": "map", "region": region_to_json(region)})).map(|_| ())
    }

    fn read(&mut self, addr: u32, len: u32) -> Result<Vec<u8>, BackendError> {
        let v = self.request(&json!({"op": "read", "addr": addr, "len": len}))?;
        let hex =
            v.get("hex").and_then(Value::as_str).ok_or_else(|| self.protocol("read: no `hex`".into()))?;
        let bytes: Option<Vec<u8>> = (0..hex.len() / 2)
            .map(|i| hex.get(2 * i..2 * i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect();
        match bytes {
            Some(b) if b.len() == len as usize && hex.len() % 2 == 0 => Ok(b),
            _ => Err(self.protocol(format!("read: bad `hex` for {len} bytes"))),
        }
    }

    fn state(&mut self) -> Result<MachineState, BackendError> {
        let v = self.request(&json!({"op": "get"}))?;
        self.parse_state(v.get("state"))
    }

    fn run(&mut self, budget: u64) -> Result<ExitInfo, BackendError> {
        let v = self.request(&json!({"op": "step", "count": budget}))?;
        self.parse_exit(v.get("exit"))
    }

    fn run_and_state(&mut self, budget: u64) -> Result<(ExitInfo, MachineState), BackendError> {
        let v = self.request(&json!({"op": "step", "count": budget, "state": true}))?;
        Ok((self.parse_exit(v.get("exit"))?, self.parse_state(v.get("state"))?))
    }
}
