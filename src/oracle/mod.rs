//! The oracle: x86wow as the reference other execution engines are checked against.
pub mod fuzz;
