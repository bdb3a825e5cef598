//! Test helpers: a small deterministic RNG and generators biased toward the
//! interesting encodings.

use crate::types::F80;

/// SplitMix64.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn bool(&mut self) -> bool {
        self.next() & 1 != 0
    }

    /// A significand with boundary-heavy low bits.
    pub fn signif(&mut self) -> u64 {
        let r = self.next();
        match self.below(8) {
            0 => r | (1 << 63),
            1 => (r | (1 << 63)) & !((1u64 << self.below(64)) - 1),
            2 => (r | (1 << 63)) | ((1u64 << self.below(64)) - 1),
            3 => (1 << 63) | (1u64 << self.below(63)),
            4 => 1 << 63,
            5 => u64::MAX,
            6 => {
                // halfway patterns for 24/53/64-bit rounding
                let p = [24u32, 53, 11, 40][self.below(4) as usize];
                let base = (r | (1 << 63)) & !((1u64 << p) - 1);
                base | (1u64 << (p - 1)) | if self.bool() { 1 } else { 0 }
            }
            _ => r | (1 << 63),
        }
    }

    /// A biased random extended value (including unsupported encodings).
    pub fn f80(&mut self) -> F80 {
        let s = (self.bool() as u16) << 15;
        let e: u16 = match self.below(24) {
            0 => return F80::new(s, 0),
            1 => return F80::new(s, self.signif() >> (1 + self.below(63))), // denormal
            2 => return F80::new(s, self.signif()),                         // pseudo-denormal
            3 => return F80::new(s | 0x7FFF, 1 << 63),                      // inf
            4 => return F80::new(s | 0x7FFF, self.next() | (3 << 62)),      // QNaN
            5 => {
                let m = (self.next() >> 2).max(1);
                return F80::new(s | 0x7FFF, (1 << 63) | m); // SNaN
            }
            6 => {
                // unsupported
                return match self.below(3) {
                    0 => F80::new(s | (1 + self.below(0x7FFE) as u16), self.next() >> 1),
                    1 => F80::new(s | 0x7FFF, 0),
                    _ => F80::new(s | 0x7FFF, (self.next() >> 1).max(1)),
                };
            }
            7 => 1 + self.below(4) as u16,
            8 => 0x7FFE - self.below(4) as u16,
            9..=11 => 0x3FF8 + self.below(16) as u16, // near 1
            12 => {
                // integers and half-integers
                let n = self.below(1 << 20) as i64 - (1 << 19);
                let half = self.bool();
                let v = F80::from_f64_bits(((n as f64) + if half { 0.5 } else { 0.0 }).to_bits());
                return if v.signif == 0 { F80::ONE } else { v };
            }
            13 => 0x3FFF + 60 + self.below(8) as u16, // around 2^63
            14 => 0x3F80 + self.below(0x100) as u16,
            _ => 1 + self.below(0x7FFE) as u16,
        };
        F80::new(s | e, self.signif())
    }

    /// A second operand related to `a` (same or nearby exponent) or independent.
    pub fn f80_near(&mut self, a: F80) -> F80 {
        match self.below(4) {
            0 => F80::new(
                (a.se & 0x7FFF).wrapping_add(self.below(5) as u16).wrapping_sub(2) & 0x7FFF
                    | (self.bool() as u16) << 15,
                self.signif(),
            ),
            1 => F80::new(a.se ^ ((self.bool() as u16) << 15), a.signif ^ self.below(4)),
            _ => self.f80(),
        }
    }

    /// A control word: random rounding/precision, usually all masked.
    pub fn fcw(&mut self) -> u16 {
        let masks = if self.below(4) == 0 { self.next() as u16 & 0x3F } else { 0x3F };
        let pc = self.below(4) as u16;
        0x40 | masks | (pc << 8) | ((self.below(4) as u16) << 10)
    }
}

impl Rng {
    /// A biased f32 bit pattern.
    pub fn f32bits(&mut self) -> u32 {
        let s = (self.bool() as u32) << 31;
        let r = self.next() as u32;
        let frac = match self.below(6) {
            0 => r & 0x7F_FFFF,
            1 => 0,
            2 => 0x7F_FFFF,
            3 => (r & 0x7F_FFFF) | 1,
            4 => (r & 0x7F_FFFF) & !((1 << self.below(23)) - 1),
            _ => (r & 0x7F_FFFF) | ((1 << self.below(23)) - 1),
        };
        let e = match self.below(16) {
            0 => 0,
            1 => 0xFF,
            2 => 1 + self.below(3) as u32,
            3 => 0xFE - self.below(3) as u32,
            4..=8 => 0x7F - 12 + self.below(40) as u32,
            9 => 0x7F + 20 + self.below(50) as u32,
            _ => self.below(256) as u32,
        };
        let mut frac = frac;
        if e == 0xFF && frac == 0 && self.below(3) != 0 {
            frac = (1 + (r & 0x3F_FFFF)) | if self.bool() { 0x40_0000 } else { 0 };
        }
        s | (e << 23) | frac
    }

    /// A biased f64 bit pattern.
    pub fn f64bits(&mut self) -> u64 {
        let s = (self.bool() as u64) << 63;
        let r = self.next();
        let m = (1u64 << 52) - 1;
        let mut frac = match self.below(6) {
            0 => r & m,
            1 => 0,
            2 => m,
            3 => (r & m) | 1,
            4 => (r & m) & !((1 << self.below(52)) - 1),
            _ => (r & m) | ((1 << self.below(52)) - 1),
        };
        let e = match self.below(16) {
            0 => 0,
            1 => 0x7FF,
            2 => 1 + self.below(3),
            3 => 0x7FE - self.below(3),
            4..=8 => 0x3FF - 12 + self.below(80),
            9 => {
                if self.bool() {
                    0x3FF - 155 + self.below(35)
                } else {
                    0x3FF + 120 + self.below(15)
                }
            } // f32 limits
            _ => self.below(0x800),
        } & 0x7FF;
        if e == 0x7FF && frac == 0 && self.below(3) != 0 {
            frac = (1 + (r & (m >> 1))) | if self.bool() { 1 << 51 } else { 0 };
        }
        s | (e << 52) | frac
    }

    /// A random MXCSR with all exceptions masked.
    pub fn mxcsr(&mut self) -> u32 {
        0x1F80
            | ((self.below(4) as u32) << 13)
            | if self.below(4) == 0 { 0x8000 } else { 0 }
            | if self.below(4) == 0 { 0x40 } else { 0 }
    }
}

/// Number of random cases for a hardware comparison: `default` times the
/// `FP_SOAK_MULT` environment variable (1 when unset). Soak run:
/// `FP_SOAK_MULT=100 cargo test --release -p x86wow-fp hw_ -- --nocapture`.
pub fn cases(default: usize) -> usize {
    let mult: usize = std::env::var("FP_SOAK_MULT").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    default * mult.max(1)
}
