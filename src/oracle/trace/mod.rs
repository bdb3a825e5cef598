//! Traces.
pub mod cli;
