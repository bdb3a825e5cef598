//! EFLAGS, with the six arithmetic flags kept lazily.
//!
//! Arithmetic instructions store their (sign-extended) result and an `aux` word from which
//! CF, OF, AF and the parity/sign deltas are read back only when some instruction asks
//! for a flag. This is the representation Bochs made popular; it makes the common ALU
//! path two stores, and any flag state can still be encoded (see [`Flags::set_eflags`]).
//!
//! `aux` layout: bit 31 = CF; bit 30 = CF xor OF; bit 3 = AF; bits 8..16 = a byte whose
//! parity is folded into PF; bit 0 = a delta xor-ed into SF.

/// Bit positions of EFLAGS.
pub mod bits {
    pub const CF: u32 = 1 << 0;
    pub const FIXED1: u32 = 1 << 1;
    pub const PF: u32 = 1 << 2;
    pub const AF: u32 = 1 << 4;
    pub const ZF: u32 = 1 << 6;
    pub const SF: u32 = 1 << 7;
    pub const TF: u32 = 1 << 8;
    pub const IF: u32 = 1 << 9;
    pub const DF: u32 = 1 << 10;
    pub const OF: u32 = 1 << 11;
    pub const IOPL: u32 = 3 << 12;
    pub const NT: u32 = 1 << 14;
    pub const RF: u32 = 1 << 16;
    pub const VM: u32 = 1 << 17;
    pub const AC: u32 = 1 << 18;
    pub const VIF: u32 = 1 << 19;
    pub const VIP: u32 = 1 << 20;
    pub const ID: u32 = 1 << 21;
    /// The six flags computed by arithmetic.
    pub const ARITH: u32 = CF | PF | AF | ZF | SF | OF;
    /// Flags a CPL-3 program can change with POPFD (IOPL 0): everything but IF, IOPL,
    /// VM, RF, VIF and VIP.
    pub const USER_WRITABLE: u32 = ARITH | TF | DF | NT | AC | ID;
}

use bits::*;

/// The named EFLAGS bits (bit position, name), for reports such as "flags differ: CF|ZF".
pub const NAMED_BITS: [(u32, &str); 12] = [
    (0, "CF"),
    (2, "PF"),
    (4, "AF"),
    (6, "ZF"),
    (7, "SF"),
    (8, "TF"),
    (9, "IF"),
    (10, "DF"),
    (11, "OF"),
    (14, "NT"),
    (18, "AC"),
    (21, "ID"),
];

const fn parity_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u8).count_ones() & 1 == 0;
        i += 1;
    }
    t
}

/// `PARITY[b]` is PF for a result whose low byte is `b` (true = even number of ones).
pub static PARITY: [bool; 256] = parity_table();

/// Operand width of an integer operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    B8 = 8,
    B16 = 16,
    B32 = 32,
}

impl Size {
    #[inline]
    pub const fn bits(self) -> u32 {
        self as u32
    }
    #[inline]
    pub const fn bytes(self) -> u32 {
        self as u32 / 8
    }
    #[inline]
    pub const fn mask(self) -> u32 {
        match self {
            Size::B8 => 0xff,
            Size::B16 => 0xffff,
            Size::B32 => 0xffff_ffff,
        }
    }
    #[inline]
    pub const fn sign(self) -> u32 {
        1 << (self as u32 - 1)
    }
    /// Sign-extends the low `self` bits of `v` to 32 bits.
    #[inline]
    pub const fn sext(self, v: u32) -> u32 {
        let sh = 32 - self as u32;
        (((v << sh) as i32) >> sh) as u32
    }
    pub fn from_bytes(n: usize) -> Option<Size> {
        match n {
            1 => Some(Size::B8),
            2 => Some(Size::B16),
            4 => Some(Size::B32),
            _ => None,
        }
    }
}

/// EFLAGS with lazily evaluated arithmetic flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags {
    result: u32,
    aux: u32,
    /// Every non-arithmetic bit (DF, TF, IF, AC, ...); the arithmetic bits here are zero.
    other: u32,
}

impl Default for Flags {
    fn default() -> Self {
        let mut f = Flags { result: 0, aux: 0, other: 0 };
        f.set_eflags(FIXED1 | IF);
        f
    }
}

const CF_BIT: u32 = 31;
const PO_BIT: u32 = 30;

impl Flags {
    #[inline]
    pub fn cf(&self) -> bool {
        self.aux >> CF_BIT != 0
    }
    #[inline]
    pub fn of(&self) -> bool {
        ((self.aux >> CF_BIT) ^ (self.aux >> PO_BIT)) & 1 != 0
    }
    #[inline]
    pub fn af(&self) -> bool {
        self.aux & 8 != 0
    }
    #[inline]
    pub fn zf(&self) -> bool {
        self.result == 0
    }
    #[inline]
    pub fn sf(&self) -> bool {
        ((self.result >> 31) ^ self.aux) & 1 != 0
    }
    #[inline]
    pub fn pf(&self) -> bool {
        PARITY[((self.result ^ (self.aux >> 8)) & 0xff) as usize]
    }
    #[inline]
    pub fn df(&self) -> bool {
        self.other & DF != 0
    }
    #[inline]
    pub fn tf(&self) -> bool {
        self.other & TF != 0
    }
    #[inline]
    pub fn ac(&self) -> bool {
        self.other & AC != 0
    }

    /// The full 32-bit EFLAGS value.
    pub fn eflags(&self) -> u32 {
        self.other
            | self.cf() as u32
            | (self.pf() as u32) << 2
            | (self.af() as u32) << 4
            | (self.zf() as u32) << 6
            | (self.sf() as u32) << 7
            | (self.of() as u32) << 11
    }

    /// Loads every bit of EFLAGS as given (bit 1 is forced to 1, bits 3, 5, 15, 22..31 to 0).
    pub fn set_eflags(&mut self, v: u32) {
        let reserved0 = (1 << 3) | (1 << 5) | (1 << 15) | 0xffc0_0000;
        self.other = (v & !ARITH & !reserved0) | FIXED1;
        self.encode_arith(v);
    }

    /// Replaces the bits in `mask` with those of `v`, keeping the others.
    pub fn set_masked(&mut self, v: u32, mask: u32) {
        let cur = self.eflags();
        self.set_eflags((cur & !mask) | (v & mask));
    }

    fn encode_arith(&mut self, v: u32) {
        let cf = v & CF != 0;
        let of = v & OF != 0;
        // A zero result gives ZF; a non-zero one with a zero low byte and clear bit 31
        // lets the deltas alone decide SF and PF.
        self.result = if v & ZF != 0 { 0 } else { 0x100 };
        let pdb = (v & PF == 0) as u32; // parity(0) is even; a delta of 1 makes it odd
        self.aux = ((cf as u32) << CF_BIT)
            | (((cf ^ of) as u32) << PO_BIT)
            | (((v & AF != 0) as u32) << 3)
            | (pdb << 8)
            | (v & SF != 0) as u32;
    }

    #[inline]
    pub fn set_other_bit(&mut self, bit: u32, on: bool) {
        debug_assert_eq!(bit & ARITH, 0);
        if on {
            self.other |= bit
        } else {
            self.other &= !bit
        }
    }

    /// Sets CF alone (CLC/STC/CMC, BT, shifts by one...).
    #[inline]
    pub fn set_cf(&mut self, cf: bool) {
        let of = self.of();
        self.aux = (self.aux & !(3 << PO_BIT)) | (cf as u32) << CF_BIT | ((cf ^ of) as u32) << PO_BIT;
    }

    /// Sets CF and OF, keeping SF, ZF, AF and PF.
    #[inline]
    pub fn set_cf_of(&mut self, cf: bool, of: bool) {
        self.aux = (self.aux & !(3 << PO_BIT)) | (cf as u32) << CF_BIT | ((cf ^ of) as u32) << PO_BIT;
    }

    /// Sets SF, ZF, AF and PF to explicit values, keeping CF and OF.
    #[inline]
    pub fn set_szap(&mut self, sf: bool, zf: bool, af: bool, pf: bool) {
        self.result = if zf { 0 } else { 0x100 };
        self.aux = (self.aux & (3 << PO_BIT)) | (af as u32) << 3 | ((!pf) as u32) << 8 | sf as u32;
    }

    /// Result flags after an addition (ADD, ADC, INC without CF) of `a + b (+carry) = r`.
    #[inline]
    pub fn set_add(&mut self, size: Size, a: u32, b: u32, r: u32) {
        let cv = (a & b) | ((a | b) & !r);
        self.result = size.sext(r);
        self.aux = ((cv << (32 - size.bits())) & 0xc000_0000) | (cv & 8);
    }

    /// Result flags after a subtraction (SUB, SBB, CMP, NEG) of `a - b (-borrow) = r`.
    #[inline]
    pub fn set_sub(&mut self, size: Size, a: u32, b: u32, r: u32) {
        let bv = (!a & b) | ((!a ^ b) & r);
        self.result = size.sext(r);
        self.aux = ((bv << (32 - size.bits())) & 0xc000_0000) | (bv & 8);
    }

    /// Result flags for logic instructions: CF = OF = AF = 0, SF/ZF/PF from the result.
    #[inline]
    pub fn set_logic(&mut self, size: Size, r: u32) {
        self.result = size.sext(r);
        self.aux = 0;
    }

    /// SF, ZF, PF from `r`, and explicit CF, OF, AF.
    #[inline]
    pub fn set_result(&mut self, size: Size, r: u32, cf: bool, of: bool, af: bool) {
        self.result = size.sext(r);
        self.aux = (cf as u32) << CF_BIT | ((cf ^ of) as u32) << PO_BIT | (af as u32) << 3;
    }

    /// Evaluates a condition code (the low nibble of Jcc/SETcc/CMOVcc opcodes).
    #[inline]
    pub fn cond(&self, cc: u8) -> bool {
        let r = match cc >> 1 {
            0 => self.of(),
            1 => self.cf(),
            2 => self.zf(),
            3 => self.cf() || self.zf(),
            4 => self.sf(),
            5 => self.pf(),
            6 => self.sf() != self.of(),
            _ => self.zf() || (self.sf() != self.of()),
        };
        r ^ (cc & 1 != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_arith_combination_round_trips() {
        for v in 0..64u32 {
            let spread = (v & 1)
                | (v >> 1 & 1) << 2
                | (v >> 2 & 1) << 4
                | (v >> 3 & 1) << 6
                | (v >> 4 & 1) << 7
                | (v >> 5 & 1) << 11;
            let mut f = Flags::default();
            f.set_eflags(spread | DF | TF);
            assert_eq!(f.eflags(), spread | DF | TF | FIXED1, "flags {spread:#x}");
        }
    }

    #[test]
    fn reserved_bits_are_fixed() {
        let mut f = Flags::default();
        f.set_eflags(0xffff_ffff);
        assert_eq!(f.eflags(), 0x003f_7fd7);
        f.set_eflags(0);
        assert_eq!(f.eflags(), FIXED1);
    }

    #[test]
    fn add_and_sub_flags_match_the_definitions() {
        let mut f = Flags::default();
        for size in [Size::B8, Size::B16, Size::B32] {
            let m = size.mask() as u64;
            let samples = [
                0u64,
                1,
                0x7f,
                0x80,
                0xff,
                0x7fff,
                0x8000,
                0xffff,
                0x7fff_ffff,
                0x8000_0000,
                0xffff_ffff,
                0x1234_5678,
            ];
            for &a in &samples {
                for &b in &samples {
                    let (a, b) = (a & m, b & m);
                    let r = (a + b) & m;
                    f.set_add(size, a as u32, b as u32, r as u32);
                    let sign = 1u64 << (size.bits() - 1);
                    assert_eq!(f.cf(), a + b > m);
                    assert_eq!(f.zf(), r == 0);
                    assert_eq!(f.sf(), r & sign != 0);
                    assert_eq!(f.of(), (a & sign) == (b & sign) && (r & sign) != (a & sign));
                    assert_eq!(f.af(), ((a ^ b ^ r) & 0x10) != 0);
                    assert_eq!(f.pf(), (r as u8).count_ones() & 1 == 0);
                    let r = a.wrapping_sub(b) & m;
                    f.set_sub(size, a as u32, b as u32, r as u32);
                    assert_eq!(f.cf(), a < b);
                    assert_eq!(f.of(), (a & sign) != (b & sign) && (r & sign) != (a & sign));
                    assert_eq!(f.af(), ((a ^ b ^ r) & 0x10) != 0);
                    assert_eq!(f.sf(), r & sign != 0);
                }
            }
        }
    }

    #[test]
    fn set_cf_keeps_of() {
        let mut f = Flags::default();
        f.set_eflags(OF | FIXED1);
        f.set_cf(true);
        assert!(f.of() && f.cf());
        f.set_cf(false);
        assert!(f.of() && !f.cf());
    }
}
