//! Exact, portable x87 80-bit extended-precision and SSE floating-point semantics for
//! the x86wow reference interpreter, matched bit for bit (values, exception flags,
//! condition codes) against AMD Zen 4 (family 19h) hardware.
//!
//! # Why a hand-written implementation
//!
//! Results must not depend on the host FPU, and the crate must build anywhere with
//! only crates.io. Berkeley SoftFloat 3e (`softfloat-sys`/`softfloat-wrapper`) covers
//! IEEE add/sub/mul/div/sqrt with an 8086-SSE specialization and extF80 rounding
//! precision, but none of the x87-specific behaviour this crate must reproduce
//! (pseudo-denormals, unnormals, C1, the 0x6000 bias-adjusted unmasked responses,
//! FPREM's partial step, FBLD/FBSTP, the transcendentals, RCPSS tables), needs a C
//! toolchain, and would still have to be wrapped in exactly the same special-case
//! logic. `rustc_apfloat` has no x87 unsupported encodings or exception-mask model
//! either. The arithmetic here is therefore plain integer code: every operation
//! computes its exact result (or a 128-bit significand with a sticky bit) and rounds
//! once through a single rounding core (`round.rs`), which handles precision control,
//! all rounding modes, tininess after rounding, denormalization, FTZ and the
//! bias-adjusted responses. Transcendentals are evaluated with a 256-bit software float
//! (`bigf.rs`) and rounded once. No `unsafe` code exists outside the tests' inline
//! assembly; the only dependency is `bitflags`.
//!
//! # API
//!
//! * [`F80`] (raw 80-bit register/memory value), [`F80Class`], [`Exceptions`] (IE, DE,
//!   ZE, OE, UE, PE in x87 status-word / MXCSR bit order), [`Rounding`],
//!   [`Precision`], [`X87Control`] (decoded FCW: rounding, precision, masks),
//!   [`Mxcsr`] (rounding, masks, FTZ, DAZ).
//! * Every operation returns an [`FpResult`]: `value`, `flags` raised, `c1` (x87),
//!   `write` (false: an unmasked exception suppresses the destination update — and for
//!   popping x87 instructions the pop) and `trap` (an unmasked exception is pending).
//! * [`x87`]: `add`, `sub`, `mul`, `div`, `sqrt`, `fprem`, `fprem1`, `frndint`,
//!   `fscale`, `fxtract`, `compare` (FCOM/FUCOM/FCOMI/FTST), `fxam`, `constant`
//!   (FLD1/FLDL2T/FLDL2E/FLDPI/FLDLG2/FLDLN2/FLDZ), integer conversions (`from_i16/32/64`,
//!   `to_i16/32/64` with [`x87::IntConv`] for FIST vs FISTTP), `from_f32/f64`,
//!   `to_f32/f64` (FLD/FST m32/m64), `from_bcd`/`to_bcd` (FBLD/FBSTP), and the
//!   transcendentals `fsin`, `fcos`, `fsincos`, `fptan`, `fpatan`, `f2xm1`, `fyl2x`,
//!   `fyl2xp1`.
//! * [`sse`]: `add/sub/mul/div/sqrt/min/max_f32/f64`, `cmp_f32/f64` (all 32
//!   predicates), `comis_f32/f64` (COMISx/UCOMISx), `f32_to_f64`, `f64_to_f32`,
//!   `f32/f64_to_i32/i64` (rounding and truncating), `i64_to_f32/f64`,
//!   `round_f32/f64` (ROUNDSS/SD immediates), `dpps`, `dppd`, `rcp_f32`, `rsqrt_f32`,
//!   and `packed_f32`/`packed_f64` lane helpers.
//!
//! ```
//! use x86wow_fp::{x87, Exceptions, Rounding, X87Control, F80};
//! let ctl = X87Control::from_fcw(0x037F); // FNINIT state
//! let third = x87::div(F80::ONE, F80::new(0x4000, 0xC000_0000_0000_0000), ctl);
//! assert_eq!(third.value, F80::new(0x3FFD, 0xAAAA_AAAA_AAAA_AAAB));
//! assert_eq!(third.flags, Exceptions::PRECISION);
//! assert!(third.c1); // rounded up
//! assert_eq!(x87::constant(x87::Constant::Pi, Rounding::Down).signif, 0xC90F_DAA2_2168_C234);
//! ```
//!
//! # Hardware behaviour modelled (measured on AMD EPYC, Zen 4)
//!
//! * Tininess is detected after rounding; masked underflow reports UE only when the
//!   result is inexact; with precision control the denormalized result is rounded at
//!   the reduced precision. Unmasked overflow/underflow deliver the result with the
//!   exponent adjusted by 0x6000 (a result still out of range becomes ∞ or 0).
//! * Unsupported encodings (unnormals, pseudo-NaN, pseudo-∞) are invalid operands
//!   yielding the real indefinite; pseudo-denormals are denormal operands (DE). NaN
//!   choice: SNaN+QNaN → the QNaN, otherwise the larger significand (ties: positive).
//! * An unmasked IE/DE/ZE reports only those flags, clears C1, and writes/pops nothing.
//!   x/0 and log(0) report ZE without DE; √(negative denormal) reports IE without DE.
//! * Stores (FST m32/m64, FIST/FISTTP, FBSTP) never raise DE; unmasked OE/UE on a store
//!   report only OE/UE, no PE, and leave memory unwritten.
//! * FPREM/FPREM1 with exponent difference D >= 64 reduce by N = 32 + (D mod 32) bits,
//!   set C2 and clear C0/C1/C3. FSCALE and FRNDINT ignore precision control.
//! * The FLDxx constants are rounded per RC (PC ignored, no flags).
//! * FBLD weights invalid BCD nibbles by their binary value.
//! * FSIN/FCOS/FSINCOS/FPTAN reduce with pi rounded to 66 bits (like Intel), set C2 for
//!   |x| >= 2^63; FPTAN pushes the NaN itself (not 1.0) for NaN results; FSINCOS's C1
//!   is that of the sine. FPATAN uses the same 66-bit pi for the quadrant terms.
//!   F2XM1 returns the operand unchanged with PE for |x| > 1; FYL2XP1 returns x with PE
//!   for x <= -1; FYL2X/FYL2XP1 always signal PE and round their logarithm to the
//!   68-bit internal format before multiplying by y. Precision control does not apply
//!   to the transcendentals.
//! * SSE: first-source NaN rule, default NaN 0xFFC00000/0xFFF8000000000000, MIN/MAX
//!   return the (DAZ-processed, unquieted) second operand on NaN or equal zeros,
//!   ROUNDSS and the float-to-integer conversions never raise DE, x/0 reports ZE
//!   without DE. RCPSS/RSQRTSS depend only on the top 12 mantissa bits (and the
//!   exponent parity) and are reproduced from tables measured exhaustively.
//!
//! # Agreement with the hardware
//!
//! Everything except the x87 transcendentals matched the hardware on every randomized
//! case tried (values, flags, C1/condition codes, all rounding and precision modes,
//! masked and unmasked x87 exceptions; SSE with masked exceptions, FTZ/DAZ), and
//! RCPSS/RSQRTSS matched on all 2^32 inputs. The transcendentals are evaluated to
//! 256 bits and rounded correctly for the modelled function; AMD's microcode is not
//! correctly rounded (errors up to about 0.6 ulp), so 0.5-8 % of random in-domain
//! inputs differ by 1 ulp or in C1 — see `README.md` in this crate for the measured
//! table and the soak commands.

#![cfg_attr(not(test), forbid(unsafe_code))]
#![cfg_attr(test, deny(unsafe_code))]
#![warn(missing_docs)]

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
#[cfg(test)]
mod proptests;
#[cfg(all(test, target_arch = "x86_64"))]
mod ssetests;
#[cfg(test)]
mod testutil;
