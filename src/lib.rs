//! x86wow: a reference IA-32 interpreter and WOW64 thunking model.
//!
//! This facade re-exports the layers ([`cpu`], [`mmu`]) and holds the command-line
//! front ends.

pub use x86wow_cpu as cpu;
pub use x86wow_mmu as mmu;
pub use x86wow_wow64 as wow64;

pub mod bench;
pub mod call;
pub mod cli;
pub mod coverage;
pub mod debug;
pub mod exec;
pub mod library;
pub mod oracle;
pub mod run;
pub mod serve;

pub use library::Library;

/// The README's Rust examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
