//! Hardware comparison harness for the x86wow interpreter.
//!
//! [`native`] runs 32-bit x86 snippets on the host CPU from an exact machine state and reports
//! the exact final state, so that the interpreter can be compared against real hardware.

pub mod compare;
pub mod gen;
pub mod gen_fp;
mod gen_sse;
mod gen_x87;
pub mod native;
pub mod suite;
pub mod vectors;
