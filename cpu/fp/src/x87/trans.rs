//! Transcendental instructions (placeholder).
use crate::types::{FpResult, X87Control, F80};

/// Result of a transcendental.
pub type TransResult = FpResult<F80>;

/// FSIN
pub fn fsin(a: F80, ctl: X87Control) -> TransResult { super::invalid(ctl).map(|_| a) }
/// FCOS
pub fn fcos(a: F80, ctl: X87Control) -> TransResult { super::invalid(ctl).map(|_| a) }
/// FSINCOS
pub fn fsincos(a: F80, ctl: X87Control) -> TransResult { super::invalid(ctl).map(|_| a) }
/// FPTAN
pub fn fptan(a: F80, ctl: X87Control) -> TransResult { super::invalid(ctl).map(|_| a) }
/// FPATAN
pub fn fpatan(a: F80, _b: F80, ctl: X87Control) -> TransResult { super::invalid(ctl).map(|_| a) }
/// F2XM1
pub fn f2xm1(a: F80, ctl: X87Control) -> TransResult { super::invalid(ctl).map(|_| a) }
/// FYL2X
pub fn fyl2x(a: F80, _b: F80, ctl: X87Control) -> TransResult { super::invalid(ctl).map(|_| a) }
/// FYL2XP1
pub fn fyl2xp1(a: F80, _b: F80, ctl: X87Control) -> TransResult { super::invalid(ctl).map(|_| a) }
