//! `x86wow serve DLL`: a surrogate process for a 32-bit DLL. It loads the DLL into an
//! interpreted 32-bit process ([`Library`]) and answers JSON Lines requests
//! ([`protocol`], docs/serve.md) on stdin/stdout, a Unix socket or a loopback TCP port.
//!
//! A [`Library`] is not `Send`, so it stays on the thread that loaded it (the library
//! thread). With `--listen`, each connection has a thread of its own that reads and
//! parses request lines and hands them, with a reply channel, to the library thread,
//! which runs them one at a time in arrival order: calls from different clients never
//! interleave, and a client that goes away mid-request only loses its own reply.

pub mod protocol;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::mpsc;

use clap::Parser;
use x86wow_wow64::{OutputStream, Process};

use crate::library::Library;
use protocol::{Failure, Request};

/// Longest request line (a 16 MiB buffer in hex is 32 MiB).
pub const MAX_LINE: usize = 64 << 20;

#[derive(Parser, Debug)]
#[command(
    name = "x86wow serve",
    about = "Load a 32-bit DLL and serve calls into it over a JSON Lines protocol (docs/serve.md)"
)]
struct Args {
    /// The DLL (PE32).
    dll: PathBuf,
    /// Listen on `unix:PATH` or `HOST:PORT` (port 0 picks a free one) instead of
    /// serving stdin/stdout; prints `listening on ADDRESS` on stdout first.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Accept a TCP address that is not loopback (the protocol has no authentication).
    #[arg(long)]
    allow_remote: bool,
    /// Instruction budget of each call (a request's "budget" overrides it; default: none).
    #[arg(long, value_name = "N")]
    budget: Option<u64>,
    /// Print each system call of the guest on stderr.
    #[arg(long)]
    trace: bool,
}

/// Loads a library for `serve` and `call`: the guest's stdout and stderr go to the
/// host's stderr (stdout carries results), with a system call trace if asked for.
pub(crate) fn load(dll: &std::path::Path, trace: bool) -> Result<Library, crate::library::CallError> {
    let mut b =
        Process::builder().stdout(OutputStream::new(io::stderr())).stderr(OutputStream::new(io::stderr()));
    if trace {
        b = b.trace(io::stderr());
    }
    Library::load_with(b, dll)
}

/// Runs the subcommand; returns the exit code.
pub fn main(argv: &[String]) -> i32 {
    let args: Args = match crate::cli::parse_args("x86wow serve", argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    // Bind before loading, so that an address in use is a usage error that costs nothing.
    let listener = match args.listen.as_deref().map(|a| Listener::bind(a, args.allow_remote)).transpose() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("x86wow serve: {e}");
            return 2;
        }
    };
    let mut lib = match load(&args.dll, args.trace) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("x86wow serve: {e}");
            return 2;
        }
    };
    let r = match listener {
        None => serve_stdio(&mut lib, args.budget),
        Some(l) => serve_listener(&mut lib, l, args.budget),
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("x86wow serve: {e}");
            1
        }
    }
}

/// One line of input.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Text(Vec<u8>),
    /// A line longer than the limit (skipped up to its newline).
    TooLong,
    Eof,
}

/// Reads one line of at most `max` bytes (without its `\n` or `\r\n`), never holding
/// more than `max` bytes of an over-long one.
pub fn read_line(r: &mut impl BufRead, max: usize) -> io::Result<Line> {
    let mut buf = Vec::new();
    let mut too_long = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(match (too_long, buf.is_empty()) {
                (true, _) => Line::TooLong,
                (false, true) => Line::Eof,
                (false, false) => Line::Text(buf),
            });
        }
        let (chunk, used, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (&avail[..i], i + 1, true),
            None => (avail, avail.len(), false),
        };
        if !too_long && buf.len() + chunk.len() <= max {
            buf.extend_from_slice(chunk);
        } else {
            too_long = true;
            buf = Vec::new();
        }
        r.consume(used);
        if done {
            if too_long {
                return Ok(Line::TooLong);
            }
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(Line::Text(buf));
        }
    }
}

/// What a connection makes of one input line: a request for the library thread, or
/// the response already (malformed input), or nothing (a blank line).
enum Parsed {
    Request(Request),
    Response(String),
    Blank,
}

fn parse_line(line: Line) -> Parsed {
    let text = match line {
        Line::Text(t) => t,
        Line::TooLong => {
            let f = Failure::BadRequest(format!("request line longer than {MAX_LINE} bytes"));
            return Parsed::Response(protocol::response(None, Err(f)));
        }
        Line::Eof => return Parsed::Blank,
    };
    let Ok(text) = std::str::from_utf8(&text) else {
        return Parsed::Response(protocol::response(
            None,
            Err(Failure::BadRequest("the request line is not UTF-8".into())),
        ));
    };
    if text.trim().is_empty() {
        return Parsed::Blank;
    }
    match protocol::parse_request(text) {
        Ok(r) => Parsed::Request(r),
        Err((id, f)) => Parsed::Response(protocol::response(id.as_ref(), Err(f))),
    }
}

fn run(lib: &mut Library, r: Request, budget: Option<u64>) -> String {
    protocol::response(r.id.as_ref(), protocol::execute(lib, r.op, budget))
}

/// Reads request lines from `r` and writes one response line per request to `w`
/// (flushed after each) until the input ends. `execute` answers a well-formed request;
/// `None` means the answer can no longer come (the server is going away).
fn answer_lines(
    r: impl Read,
    mut w: impl Write,
    mut execute: impl FnMut(Request) -> Option<String>,
) -> io::Result<()> {
    let mut input = BufReader::new(r);
    loop {
        let line = read_line(&mut input, MAX_LINE)?;
        if line == Line::Eof {
            return Ok(());
        }
        let reply = match parse_line(line) {
            Parsed::Blank => continue,
            Parsed::Response(r) => r,
            Parsed::Request(r) => match execute(r) {
                Some(reply) => reply,
                None => return Ok(()),
            },
        };
        let mut bytes = reply.into_bytes();
        bytes.push(b'\n');
        w.write_all(&bytes)?;
        w.flush()?;
    }
}

/// Requests on stdin, one response line per request on stdout; ends at end of input.
fn serve_stdio(lib: &mut Library, budget: Option<u64>) -> io::Result<()> {
    answer_lines(io::stdin().lock(), io::stdout().lock(), |r| Some(run(lib, r, budget)))
}

/// A request handed to the library thread, with where its response goes.
struct Job {
    request: Request,
    reply: mpsc::Sender<String>,
}

enum Listener {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixListener, PathBuf),
}

impl Listener {
    fn bind(addr: &str, allow_remote: bool) -> Result<Listener, String> {
        if let Some(path) = addr.strip_prefix("unix:") {
            #[cfg(unix)]
            {
                return bind_unix(path);
            }
            #[cfg(not(unix))]
            {
                return Err(format!("unix:{path}: Unix sockets are not available on this system"));
            }
        }
        let addrs: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|e| format!("{addr}: not HOST:PORT or unix:PATH ({e})"))?
            .collect();
        if addrs.is_empty() {
            return Err(format!("{addr}: no address"));
        }
        if !allow_remote {
            if let Some(a) = addrs.iter().find(|a| !a.ip().is_loopback()) {
                return Err(format!(
                    "{addr} ({}) is not a loopback address; the protocol has no authentication \
                     (--allow-remote accepts it anyway)",
                    a.ip()
                ));
            }
        }
        TcpListener::bind(&addrs[..]).map(Listener::Tcp).map_err(|e| format!("cannot listen on {addr}: {e}"))
    }

    /// The address as printed after `listening on`.
    fn shown(&self) -> String {
        match self {
            Listener::Tcp(l) => l.local_addr().map(|a| a.to_string()).unwrap_or_else(|e| format!("? ({e})")),
            #[cfg(unix)]
            Listener::Unix(_, p) => format!("unix:{}", p.display()),
        }
    }
}

/// Binds a Unix socket; a stale socket file (nobody accepting on it) is replaced.
#[cfg(unix)]
fn bind_unix(path: &str) -> Result<Listener, String> {
    use std::os::unix::fs::FileTypeExt;
    use std::os::unix::net::{UnixListener, UnixStream};
    let p = PathBuf::from(path);
    if let Ok(m) = std::fs::symlink_metadata(&p) {
        if !m.file_type().is_socket() {
            return Err(format!("unix:{path}: the file exists and is not a socket"));
        }
        if UnixStream::connect(&p).is_ok() {
            return Err(format!("unix:{path}: another server is listening there"));
        }
        let _ = std::fs::remove_file(&p);
    }
    UnixListener::bind(&p)
        .map(|l| Listener::Unix(l, p))
        .map_err(|e| format!("cannot listen on unix:{path}: {e}"))
}

/// Accepts clients on their own threads and runs their requests here, one at a time.
fn serve_listener(lib: &mut Library, listener: Listener, budget: Option<u64>) -> io::Result<()> {
    let (tx, rx) = mpsc::channel::<Job>();
    {
        let mut out = io::stdout().lock();
        writeln!(out, "listening on {}", listener.shown())?;
        out.flush()?;
    }
    let accept = std::thread::Builder::new().name("serve-accept".into());
    match listener {
        Listener::Tcp(l) => accept.spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else {
                    accept_failed();
                    continue;
                };
                let _ = s.set_nodelay(true);
                if let Ok(w) = s.try_clone() {
                    spawn_connection(s, w, tx.clone());
                }
            }
        })?,
        #[cfg(unix)]
        Listener::Unix(l, _) => accept.spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else {
                    accept_failed();
                    continue;
                };
                if let Ok(w) = s.try_clone() {
                    spawn_connection(s, w, tx.clone());
                }
            }
        })?,
    };
    // The library thread: requests from every client, one at a time. The loop ends
    // only if the accepting thread goes away.
    for job in rx {
        let reply = run(lib, job.request, budget);
        // The client may be gone; that is its business.
        let _ = job.reply.send(reply);
    }
    Ok(())
}

/// After a failed accept (out of file descriptors, say): a pause instead of a busy loop.
fn accept_failed() {
    std::thread::sleep(std::time::Duration::from_millis(50));
}

fn spawn_connection<R: Read + Send + 'static, W: Write + Send + 'static>(
    r: R,
    w: W,
    jobs: mpsc::Sender<Job>,
) {
    let _ = std::thread::Builder::new().name("serve-client".into()).spawn(move || {
        let _ = connection(r, w, jobs);
    });
}

/// Serves one client until it closes its end (or writing to it fails).
fn connection(r: impl Read, w: impl Write, jobs: mpsc::Sender<Job>) -> io::Result<()> {
    let (reply_tx, reply_rx) = mpsc::channel();
    answer_lines(r, w, |request| {
        jobs.send(Job { request, reply: reply_tx.clone() }).ok()?;
        reply_rx.recv().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::protocol::Op;
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<Line> {
        let mut r = BufReader::with_capacity(4, input);
        let mut out = Vec::new();
        loop {
            let l = read_line(&mut r, max).unwrap();
            let end = l == Line::Eof;
            out.push(l);
            if end {
                return out;
            }
        }
    }

    #[test]
    fn serve_lines_are_bounded() {
        assert_eq!(
            lines(b"ab\r\n0123456789\ncd", 8),
            vec![Line::Text(b"ab".to_vec()), Line::TooLong, Line::Text(b"cd".to_vec()), Line::Eof]
        );
        assert_eq!(lines(b"", 8), vec![Line::Eof]);
        assert_eq!(lines(b"\n0123456789", 8), vec![Line::Text(vec![]), Line::TooLong, Line::Eof]);
    }

    #[test]
    fn serve_refuses_remote_addresses() {
        let e = Listener::bind("8.8.8.8:0", false).err().unwrap();
        assert!(e.contains("not a loopback address"), "{e}");
        assert!(Listener::bind("nonsense", false).is_err());
        let l = Listener::bind("127.0.0.1:0", false).unwrap();
        assert!(l.shown().starts_with("127.0.0.1:"));
    }

    #[test]
    fn serve_parses_lines_without_the_library() {
        assert!(matches!(parse_line(Line::Text(b"  ".to_vec())), Parsed::Blank));
        assert!(
            matches!(parse_line(Line::Text(vec![0xff, b'{'])), Parsed::Response(r) if r.contains("UTF-8"))
        );
        assert!(matches!(parse_line(Line::TooLong), Parsed::Response(r) if r.contains("bad_request")));
        assert!(
            matches!(parse_line(Line::Text(br#"{"op":"hello"}"#.to_vec())), Parsed::Request(r) if r.op == Op::Hello)
        );
    }
}
