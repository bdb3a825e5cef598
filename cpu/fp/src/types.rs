//! Shared vocabulary: exception flags, rounding and precision control, the 80-bit
//! register format and the result type every operation returns.

use bitflags::bitflags;

bitflags! {
    /// Floating-point exception flags, in the bit order shared by the x87 status word
    /// (bits 0..=5), the x87 control-word masks (bits 0..=5), the MXCSR flags
    /// (bits 0..=5) and the MXCSR masks (bits 7..=12, i.e. shifted left by 7).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Exceptions: u8 {
        /// Invalid operation (IE).
        const INVALID = 0x01;
        /// Denormal operand (DE).
        const DENORMAL = 0x02;
        /// Divide by zero (ZE).
        const ZERO_DIVIDE = 0x04;
        /// Overflow (OE).
        const OVERFLOW = 0x08;
        /// Underflow (UE).
        const UNDERFLOW = 0x10;
        /// Precision / inexact (PE).
        const PRECISION = 0x20;
    }
}

/// Rounding control, encoded as in the x87 control word bits 10..=11 and MXCSR
/// bits 13..=14.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Rounding {
    /// Round to nearest, ties to even (RC = 00).
    #[default]
    NearestEven = 0,
    /// Round toward negative infinity (RC = 01).
    Down = 1,
    /// Round toward positive infinity (RC = 10).
    Up = 2,
    /// Round toward zero / truncate (RC = 11).
    TowardZero = 3,
}

impl Rounding {
    /// Decodes a two-bit rounding-control field (only the low two bits are used).
    pub fn from_bits(bits: u32) -> Rounding {
        match bits & 3 {
            0 => Rounding::NearestEven,
            1 => Rounding::Down,
            2 => Rounding::Up,
            _ => Rounding::TowardZero,
        }
    }

    /// All four modes, in encoding order.
    pub const ALL: [Rounding; 4] =
        [Rounding::NearestEven, Rounding::Down, Rounding::Up, Rounding::TowardZero];
}

/// x87 precision control (control word bits 8..=9): the significand width that
/// FADD/FSUB/FMUL/FDIV/FSQRT (and their variants) round their result to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    /// 24-bit significand (PC = 00).
    Single = 0,
    /// 53-bit significand (PC = 10).
    Double = 2,
    /// 64-bit significand (PC = 11, the FNINIT default).
    #[default]
    Extended = 3,
}

impl Precision {
    /// Decodes the two-bit PC field. The reserved value 01 behaves like
    /// [`Precision::Extended`] on the measured AMD Zen 4 hardware.
    pub fn from_bits(bits: u32) -> Precision {
        match bits & 3 {
            0 => Precision::Single,
            1 => Precision::Extended,
            2 => Precision::Double,
            _ => Precision::Extended,
        }
    }

    /// Number of significand bits (24, 53 or 64).
    pub fn bits(self) -> u32 {
        match self {
            Precision::Single => 24,
            Precision::Double => 53,
            Precision::Extended => 64,
        }
    }

    /// All three settings.
    pub const ALL: [Precision; 3] = [Precision::Single, Precision::Double, Precision::Extended];
}

/// An x87 80-bit extended-precision value exactly as held in a register or in memory
/// (`m80`): a 64-bit significand with an explicit integer bit (bit 63) and a 16-bit
/// sign/exponent word (bit 15 sign, bits 0..=14 biased exponent, bias 16383).
///
/// Every bit pattern is representable, including the encodings the 80387 and later
/// reject (unnormals, pseudo-NaNs, pseudo-infinities), which operations treat as
/// invalid operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct F80 {
    /// Significand, bit 63 is the explicit integer bit J.
    pub signif: u64,
    /// Sign (bit 15) and biased exponent (bits 0..=14).
    pub se: u16,
}

/// Classification of an [`F80`] bit pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum F80Class {
    /// ±0.
    Zero,
    /// Exponent 0, J = 0, nonzero fraction.
    Denormal,
    /// Exponent 0, J = 1 (accepted as a denormal operand).
    PseudoDenormal,
    /// Exponent 1..=0x7FFE, J = 1.
    Normal,
    /// Exponent 1..=0x7FFE, J = 0 (including pseudo-zero): unsupported.
    Unnormal,
    /// Exponent 0x7FFF, J = 1, fraction 0.
    Infinity,
    /// Exponent 0x7FFF, J = 1, fraction bit 62 set.
    QNaN,
    /// Exponent 0x7FFF, J = 1, fraction bit 62 clear, nonzero fraction.
    SNaN,
    /// Exponent 0x7FFF, J = 0, fraction 0: unsupported.
    PseudoInfinity,
    /// Exponent 0x7FFF, J = 0, nonzero fraction: unsupported.
    PseudoNaN,
}

impl F80 {
    /// +0.0
    pub const ZERO: F80 = F80 { signif: 0, se: 0 };
    /// +1.0
    pub const ONE: F80 = F80 { signif: 1 << 63, se: 0x3FFF };
    /// +infinity
    pub const INFINITY: F80 = F80 { signif: 1 << 63, se: 0x7FFF };
    /// The default QNaN ("real indefinite"): sign 1, exponent 0x7FFF, significand
    /// 0xC000000000000000.
    pub const INDEFINITE: F80 = F80 { signif: 0xC000_0000_0000_0000, se: 0xFFFF };

    /// Builds a value from its raw parts.
    pub const fn new(se: u16, signif: u64) -> F80 {
        F80 { signif, se }
    }

    /// Builds a value from the 10-byte little-endian memory image.
    pub fn from_le_bytes(b: [u8; 10]) -> F80 {
        let mut s = [0u8; 8];
        s.copy_from_slice(&b[..8]);
        F80 { signif: u64::from_le_bytes(s), se: u16::from_le_bytes([b[8], b[9]]) }
    }

    /// The 10-byte little-endian memory image.
    pub fn to_le_bytes(self) -> [u8; 10] {
        let mut out = [0u8; 10];
        out[..8].copy_from_slice(&self.signif.to_le_bytes());
        out[8..].copy_from_slice(&self.se.to_le_bytes());
        out
    }

    /// Sign bit.
    pub fn sign(self) -> bool {
        self.se & 0x8000 != 0
    }

    /// Biased exponent (0..=0x7FFF).
    pub fn biased_exp(self) -> u16 {
        self.se & 0x7FFF
    }

    /// The value with its sign bit flipped (FCHS).
    pub fn negate(self) -> F80 {
        F80 { signif: self.signif, se: self.se ^ 0x8000 }
    }

    /// The value with its sign bit cleared (FABS).
    pub fn abs(self) -> F80 {
        F80 { signif: self.signif, se: self.se & 0x7FFF }
    }

    /// Classifies the bit pattern.
    pub fn class(self) -> F80Class {
        let e = self.biased_exp();
        let j = self.signif >> 63 != 0;
        let frac = self.signif & !(1u64 << 63);
        match (e, j) {
            (0, _) if self.signif == 0 => F80Class::Zero,
            (0, false) => F80Class::Denormal,
            (0, true) => F80Class::PseudoDenormal,
            (0x7FFF, true) if frac == 0 => F80Class::Infinity,
            (0x7FFF, true) if frac >> 62 != 0 => F80Class::QNaN,
            (0x7FFF, true) => F80Class::SNaN,
            (0x7FFF, false) if frac == 0 => F80Class::PseudoInfinity,
            (0x7FFF, false) => F80Class::PseudoNaN,
            (_, true) => F80Class::Normal,
            (_, false) => F80Class::Unnormal,
        }
    }

    /// True for QNaN and SNaN (not for pseudo-NaNs).
    pub fn is_nan(self) -> bool {
        matches!(self.class(), F80Class::QNaN | F80Class::SNaN)
    }

    /// True for encodings the 80387 and later reject as operands (unnormals,
    /// pseudo-NaNs, pseudo-infinities).
    pub fn is_unsupported(self) -> bool {
        matches!(self.class(), F80Class::Unnormal | F80Class::PseudoInfinity | F80Class::PseudoNaN)
    }

    /// Exact conversion from a host `f64` (bit-level; no host FPU involved).
    pub fn from_f64_bits(bits: u64) -> F80 {
        crate::x87::conv::f64_to_f80_raw(bits)
    }
}

/// The result of one floating-point operation.
///
/// `flags` are the exception flags the operation raised (to be OR-ed into the sticky
/// status flags); for the x87 `c1` is the value of condition code C1 (for arithmetic:
/// the result was rounded up in magnitude). If `write` is false an unmasked
/// pre-computation exception (invalid, denormal, zero-divide, or an unmasked
/// overflow/underflow on a store to memory / an SSE unmasked exception) means the
/// destination must be left unchanged; `value` then holds what the masked response
/// would have been, for information only. `trap` is true when any raised exception is
/// unmasked (the caller sets ES/B, or raises #XM for SSE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FpResult<T> {
    /// The value delivered to the destination (when `write`).
    pub value: T,
    /// Exception flags raised.
    pub flags: Exceptions,
    /// x87 condition code C1 (rounded up / roundup indication); false for SSE.
    pub c1: bool,
    /// Whether the destination is written.
    pub write: bool,
    /// Whether an unmasked exception was raised.
    pub trap: bool,
}

impl<T> FpResult<T> {
    #[inline(always)]
    pub(crate) fn new(value: T, flags: Exceptions, c1: bool, masks: Exceptions) -> Self {
        let unmasked = flags & !masks;
        let no_write =
            unmasked.intersects(Exceptions::INVALID | Exceptions::DENORMAL | Exceptions::ZERO_DIVIDE);
        let pre = Exceptions::INVALID | Exceptions::DENORMAL | Exceptions::ZERO_DIVIDE;
        let flags = if no_write { flags & pre } else { flags };
        FpResult { value, flags, c1: c1 && !no_write, write: !no_write, trap: !unmasked.is_empty() }
    }

    /// Maps the value, keeping flags.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> FpResult<U> {
        FpResult { value: f(self.value), flags: self.flags, c1: self.c1, write: self.write, trap: self.trap }
    }
}

impl FpResult<F80> {
    /// Runs a general (rarely taken) path out of line and brings its result back in two
    /// registers. Returned the usual way, through memory, it meets the fast path's
    /// result in a stack slot that is then read with wider loads than it was written
    /// with, which stalls store forwarding on every call, fast path included.
    #[inline(always)]
    pub(crate) fn out_of_line(f: impl FnOnce() -> FpResult<F80>) -> FpResult<F80> {
        #[inline(never)]
        fn words(f: impl FnOnce() -> FpResult<F80>) -> (u64, u64) {
            let r = f();
            let bits = r.value.se as u64
                | (r.flags.bits() as u64) << 16
                | (r.c1 as u64) << 24
                | (r.write as u64) << 25
                | (r.trap as u64) << 26;
            (r.value.signif, bits)
        }
        let (signif, b) = words(f);
        FpResult {
            value: F80 { signif, se: b as u16 },
            flags: Exceptions::from_bits_retain((b >> 16) as u8),
            c1: b >> 24 & 1 != 0,
            write: b >> 25 & 1 != 0,
            trap: b >> 26 & 1 != 0,
        }
    }
}

/// x87 control state that arithmetic depends on: the fields of the FPU control word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct X87Control {
    /// Rounding control.
    pub rounding: Rounding,
    /// Precision control.
    pub precision: Precision,
    /// Exception masks (a set bit masks the exception).
    pub masks: Exceptions,
}

impl Default for X87Control {
    /// The FNINIT state: control word 0x037F.
    fn default() -> Self {
        X87Control::from_fcw(0x037F)
    }
}

impl X87Control {
    /// Decodes an x87 control word.
    pub fn from_fcw(fcw: u16) -> X87Control {
        X87Control {
            rounding: Rounding::from_bits((fcw >> 10) as u32),
            precision: Precision::from_bits((fcw >> 8) as u32),
            masks: Exceptions::from_bits_truncate(fcw as u8 & 0x3F),
        }
    }

    /// Encodes back to a control word (reserved bit 6 set as FNINIT does).
    pub fn to_fcw(self) -> u16 {
        0x0040 | self.masks.bits() as u16 | ((self.precision as u16) << 8) | ((self.rounding as u16) << 10)
    }
}

/// SSE control state: the MXCSR fields that affect arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mxcsr {
    /// Rounding control (bits 13..=14).
    pub rounding: Rounding,
    /// Exception masks (bits 7..=12).
    pub masks: Exceptions,
    /// Flush to zero (bit 15).
    pub ftz: bool,
    /// Denormals are zeros (bit 6).
    pub daz: bool,
}

impl Default for Mxcsr {
    /// The reset state 0x1F80.
    fn default() -> Self {
        Mxcsr::from_bits(0x1F80)
    }
}

impl Mxcsr {
    /// Decodes an MXCSR value (flag bits 0..=5 are ignored).
    pub fn from_bits(v: u32) -> Mxcsr {
        Mxcsr {
            rounding: Rounding::from_bits(v >> 13),
            masks: Exceptions::from_bits_truncate((v >> 7) as u8 & 0x3F),
            ftz: v & 0x8000 != 0,
            daz: v & 0x40 != 0,
        }
    }

    /// Encodes (with no flags set).
    pub fn to_bits(self) -> u32 {
        ((self.masks.bits() as u32) << 7)
            | ((self.rounding as u32) << 13)
            | if self.ftz { 0x8000 } else { 0 }
            | if self.daz { 0x40 } else { 0 }
    }
}
