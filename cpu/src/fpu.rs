//! x87 and SSE register state, and the FXSAVE image both are saved in.
//!
//! The x87 keeps eight physical 80-bit registers; ST(i) is physical register
//! `(TOP + i) & 7`. Internally only the "empty" bit of each tag is kept (as the
//! hardware does: FXSAVE stores the abridged tag); the full two-bit tags that
//! FNSTENV/FNSAVE report are computed from the register contents. MMX registers alias
//! the significands of the physical registers.

use x86wow_fp::{F80Class, F80};

/// The x87 FPU state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct X87 {
    /// Physical registers R0..R7.
    pub regs: [F80; 8],
    /// Control word.
    pub fcw: u16,
    /// Status word without the TOP field (bits 11..13 are kept in `top`).
    pub fsw: u16,
    pub top: u8,
    /// Bit i set: physical register i is empty.
    pub empty: u8,
    /// Last instruction pointer, data pointer and opcode (11 bits).
    pub fip: u32,
    pub fcs: u16,
    pub fdp: u32,
    pub fds: u16,
    pub fop: u16,
}

impl Default for X87 {
    /// The FNINIT state.
    fn default() -> Self {
        X87 {
            regs: [F80::ZERO; 8],
            fcw: 0x037f,
            fsw: 0,
            top: 0,
            empty: 0xff,
            fip: 0,
            fcs: 0,
            fdp: 0,
            fds: 0,
            fop: 0,
        }
    }
}

/// Tag values of the full tag word.
pub mod tag {
    pub const VALID: u16 = 0;
    pub const ZERO: u16 = 1;
    pub const SPECIAL: u16 = 2;
    pub const EMPTY: u16 = 3;
}

impl X87 {
    /// Physical register index of ST(i).
    #[inline]
    pub fn phys(&self, i: u8) -> usize {
        ((self.top + i) & 7) as usize
    }

    /// ST(i) (regardless of its tag).
    #[inline]
    pub fn st(&self, i: u8) -> F80 {
        self.regs[self.phys(i)]
    }

    #[inline]
    pub fn is_empty(&self, i: u8) -> bool {
        self.empty >> self.phys(i) & 1 != 0
    }

    /// Writes ST(i) and marks it valid.
    #[inline]
    pub fn set_st(&mut self, i: u8, v: F80) {
        let p = self.phys(i);
        self.regs[p] = v;
        self.empty &= !(1 << p);
    }

    /// The status word with TOP in bits 11..13.
    pub fn status(&self) -> u16 {
        (self.fsw & !0x3800) | (self.top as u16) << 11
    }

    pub fn set_status(&mut self, v: u16) {
        self.fsw = v & !0x3800;
        self.top = ((v >> 11) & 7) as u8;
    }

    /// The tag a register's contents call for (when not empty).
    pub fn tag_of(v: F80) -> u16 {
        match v.class() {
            F80Class::Zero => tag::ZERO,
            F80Class::Normal => tag::VALID,
            _ => tag::SPECIAL,
        }
    }

    /// The full 16-bit tag word (physical register order), as FNSTENV stores it.
    pub fn full_tag(&self) -> u16 {
        (0..8).fold(0u16, |t, p| {
            let v = if self.empty >> p & 1 != 0 { tag::EMPTY } else { Self::tag_of(self.regs[p]) };
            t | v << (2 * p)
        })
    }

    /// Loads a full tag word: only "empty" (11) versus anything else is kept.
    pub fn set_full_tag(&mut self, t: u16) {
        self.empty = (0..8).fold(0u8, |e, p| e | (((t >> (2 * p)) & 3 == 3) as u8) << p);
    }

    /// The abridged tag byte of FXSAVE (bit set = valid).
    pub fn abridged_tag(&self) -> u8 {
        !self.empty
    }
}

/// SSE state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Simd {
    pub xmm: [u128; 8],
    pub mxcsr: u32,
}

impl Default for Simd {
    fn default() -> Self {
        Simd { xmm: [0; 8], mxcsr: 0x1f80 }
    }
}

/// MXCSR bits that may be set (the MXCSR_MASK FXSAVE reports), as measured on Zen 4:
/// bits 0..15 (DAZ is supported) and bit 17, MM (AMD's misaligned SSE mode).
pub const MXCSR_MASK: u32 = 0x2ffff;

/// Builds the 512-byte FXSAVE image (32-bit format: FIP/FCS and FDP/FDS).
pub fn fxsave(x: &X87, s: &Simd) -> [u8; 512] {
    let mut b = [0u8; 512];
    b[0..2].copy_from_slice(&x.fcw.to_le_bytes());
    b[2..4].copy_from_slice(&x.status().to_le_bytes());
    b[4] = x.abridged_tag();
    b[6..8].copy_from_slice(&x.fop.to_le_bytes());
    b[8..12].copy_from_slice(&x.fip.to_le_bytes());
    b[12..14].copy_from_slice(&x.fcs.to_le_bytes());
    b[16..20].copy_from_slice(&x.fdp.to_le_bytes());
    b[20..22].copy_from_slice(&x.fds.to_le_bytes());
    b[24..28].copy_from_slice(&s.mxcsr.to_le_bytes());
    b[28..32].copy_from_slice(&MXCSR_MASK.to_le_bytes());
    for i in 0..8u8 {
        let v = x.st(i).to_le_bytes();
        b[32 + 16 * i as usize..][..10].copy_from_slice(&v);
    }
    for (i, v) in s.xmm.iter().enumerate() {
        b[160 + 16 * i..][..16].copy_from_slice(&v.to_le_bytes());
    }
    b
}

/// Loads an FXSAVE image; `Err` if MXCSR has reserved bits set (FXRSTOR's #GP, which
/// the caller raises).
#[allow(clippy::result_unit_err)]
pub fn fxrstor(b: &[u8; 512], x: &mut X87, s: &mut Simd) -> Result<(), ()> {
    let mxcsr = u32::from_le_bytes(b[24..28].try_into().expect("4 bytes"));
    if mxcsr & !MXCSR_MASK != 0 {
        return Err(());
    }
    let w = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let d = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
    x.fcw = w(0);
    x.set_status(w(2));
    x.empty = !b[4];
    x.fop = w(6) & 0x7ff;
    x.fip = d(8);
    x.fcs = w(12);
    x.fdp = d(16);
    x.fds = w(20);
    s.mxcsr = mxcsr;
    for i in 0..8u8 {
        let v = F80::from_le_bytes(b[32 + 16 * i as usize..][..10].try_into().expect("10 bytes"));
        let p = x.phys(i);
        x.regs[p] = v;
    }
    for (i, v) in s.xmm.iter_mut().enumerate() {
        *v = u128::from_le_bytes(b[160 + 16 * i..][..16].try_into().expect("16 bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fxsave_round_trips() {
        let mut x = X87 { top: 5, ..X87::default() };
        x.set_st(0, F80::ONE);
        x.set_st(3, F80::new(0x7fff, 0xc000_0000_0000_0000));
        x.fsw = 0x4021;
        x.fop = 0x123;
        let s = Simd { xmm: std::array::from_fn(|i| (i as u128) << 100 | 7), mxcsr: 0x9fc0 };
        let img = fxsave(&x, &s);
        let (mut x2, mut s2) = (X87::default(), Simd::default());
        fxrstor(&img, &mut x2, &mut s2).unwrap();
        assert_eq!((x2, s2), (x, s));
        let mut bad = img;
        bad[26] = 1;
        assert!(fxrstor(&bad, &mut x2, &mut s2).is_err());
    }

    #[test]
    fn full_tag_reflects_contents() {
        let mut x = X87::default();
        assert_eq!(x.full_tag(), 0xffff);
        x.set_st(0, F80::ZERO); // physical 0
        x.top = 7;
        x.set_st(0, F80::ONE); // physical 7
        assert_eq!(x.full_tag(), 0x3ffd);
        x.set_full_tag(0xfff0);
        assert_eq!(x.empty, 0xfc);
    }
}
