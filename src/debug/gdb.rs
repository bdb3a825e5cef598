//! The GDB remote-serial-protocol stub.

use super::error::{DebugError, Result};
use super::session::Session;

/// Serves one gdb connection on `addr`; returns the exit code.
pub fn serve(_s: &mut Session, addr: &str) -> Result<i32> {
    Err(DebugError::Load(format!("--gdb {addr}: not available yet")))
}
