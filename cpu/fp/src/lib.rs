//! Exact x87 80-bit extended-precision and SSE scalar/packed floating-point semantics.
#![cfg_attr(not(test), forbid(unsafe_code))]
#![cfg_attr(test, deny(unsafe_code))]

mod bigf;
mod rcp_tables;
mod round;
pub mod sse;
pub mod types;
pub mod x87;

pub use types::{Exceptions, F80Class, FpResult, Mxcsr, Precision, Rounding, X87Control, F80};

#[cfg(all(test, target_arch = "x86_64"))]
mod hw;
#[cfg(all(test, target_arch = "x86_64"))]
mod hwtests;
#[cfg(all(test, target_arch = "x86_64"))]
mod ssetests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod testutil;
