//! Per-instruction set-up of x87 cases (operands and memory images that random
//! values would not exercise well). Called for every generated case.
//!
//! Besides shaping operands, it makes some cases start with an unmasked exception
//! pending (waiting instructions must raise #MF, no-wait ones must not) and appends a
//! second, fixed x87 instruction after some instructions under test, so that what the
//! final state alone does not show is compared too: FNSTENV/FNSAVE store the last
//! instruction and data pointers, the opcode and the full tag word; FXSAVE stores the
//! pointers only while an exception is pending; FWAIT and FNOP deliver the #MF of an
//! unmasked exception the instruction under test raised.

use iced_x86::{Code, Encoder, Instruction, Mnemonic as M};
use x86wow_cpu::coverage::{family, Family};

use crate::gen::{mem_target, write_mem, Builder, Skip, CODE, STACK};
use crate::gen_fp;

const PAGE: u32 = 0x1000;

pub(crate) fn special_setup(b: &mut Builder, ins: &mut Instruction, at: u32) -> Result<(), Skip> {
    let code = ins.code();
    if family(code) != Some(Family::X87)
        && !x86wow_cpu::ops::x87::EXTRA_CODES.contains(&code)
        && code != Code::Wait
    {
        return Ok(());
    }
    if b.x87.is_none() {
        // FWAIT (an integer-family code) and the 287-era codes iced files outside the
        // x87 family.
        b.x87 = Some(gen_fp::x87_state(b.rng, false));
        b.mxcsr = Some(gen_fp::mxcsr(b.rng));
        b.xmm = Some(std::array::from_fn(|_| gen_fp::xmm(b.rng)));
    }
    if b.rng.chance(12) {
        unmask(b);
    }
    if b.rng.chance(8) {
        pending_exception(b);
    }
    let m = code.mnemonic();
    match m {
        M::Fxrstor if b.rng.chance(85) => {
            let img = fxsave_image(b);
            let t = mem_target(b, ins);
            write_mem(b, t, &img);
        }
        M::Fldenv | M::Frstor if b.rng.chance(75) => {
            let wide = matches!(code, Code::Fldenv_m28byte | Code::Frstor_m108byte);
            let mut img = env_image(b, wide);
            if m == M::Frstor {
                for _ in 0..8 {
                    img.extend_from_slice(&f80_bytes(b));
                }
            }
            let t = mem_target(b, ins);
            write_mem(b, t, &img);
        }
        M::Fist | M::Fistp | M::Fisttp | M::Fbstp | M::Frndint if b.rng.chance(50) => {
            let v = integerish(b);
            set_st(b, 0, v);
        }
        _ => {}
    }
    // Not in sequences: the next instruction would overwrite only part of it.
    if !b.seq && b.rng.chance(30) {
        append_follow_up(b, ins, at);
    }
    Ok(())
}

/// Unmasks a random set of exceptions (on top of the 15 % of states with random masks
/// already), keeping the sticky flags to the masked ones: the unmasked responses
/// (nothing written or popped, ES and B, the #MF at an appended FWAIT) get more cases.
fn unmask(b: &mut Builder) {
    let masks = if b.rng.chance(30) { 0 } else { b.rng.below(64) as u16 };
    let x = b.x87.as_mut().expect("x87 state");
    x.fcw = (x.fcw & !0x3f) | masks;
    x.fsw &= !(0x3f & !masks) & !0x8080;
}

/// Starts the case with an unmasked exception pending: one sticky flag set with its
/// mask clear (ES and B as the hardware derives them).
fn pending_exception(b: &mut Builder) {
    let bit = b.rng.below(6) as u16;
    let x = b.x87.as_mut().expect("x87 state");
    x.fcw &= !(1 << bit);
    x.fsw |= (1 << bit) | 0x8080;
}

fn set_st(b: &mut Builder, i: usize, (se, m): (u16, u64)) {
    let x = b.x87.as_mut().expect("x87 state");
    x.st[i] = (se as u128) << 64 | m as u128;
    // Mark it valid (the full tag word is in physical order).
    let p = ((x.fsw >> 11) as usize + i) & 7;
    x.ftw &= !(3 << (2 * p));
}

/// A value near the limits of the integer and BCD stores: integers of every size up to
/// 2^64 and 10^18, with halfway and other fractions, both signs.
fn integerish(b: &mut Builder) -> (u16, u64) {
    let sign = (b.rng.below(2) as u16) << 15;
    let k = match b.rng.below(6) {
        0 => 15,
        1 => 31,
        2 => 63,
        3 => 59 + b.rng.below(2), // around 10^18
        _ => b.rng.below(66),
    };
    let mut m = 1u64 << 63 | b.rng.next() >> 1;
    match b.rng.below(4) {
        0 => m = (m & !((1u64 << (63 - k.min(63))) - 1)) | (1u64 << (62 - k.min(62))), // .5
        1 => m |= (1u64 << (63 - k.min(63))) - 1,                                      // just below
        2 => m = 1 << 63,                                                              // power of two
        _ => {}
    }
    if k == 59 && b.rng.chance(50) {
        m = 999_999_999_999_999_999u64 << 4 | b.rng.below(16) as u64; // 10^18 - 1
        return (sign | (0x3fff + 59), m);
    }
    (sign | (0x3fff + k as u16), m)
}

fn f80_bytes(b: &mut Builder) -> [u8; 10] {
    let (se, m) = gen_fp::f80(b.rng);
    let mut v = [0u8; 10];
    v[..8].copy_from_slice(&m.to_le_bytes());
    v[8..].copy_from_slice(&se.to_le_bytes());
    v
}

/// A control word: mostly all masked, any rounding and precision control, sometimes
/// reserved bits set.
fn fcw(b: &mut Builder) -> u16 {
    let masks = if b.rng.chance(70) { 0x3f } else { b.rng.below(64) as u16 };
    let mut v = 0x0040 | masks | (b.rng.below(16) as u16) << 8;
    if b.rng.chance(15) {
        v |= b.rng.u32() as u16;
    }
    v
}

/// A tag word: each register valid, zero, special or empty.
fn ftw(b: &mut Builder) -> u16 {
    (0..8).fold(0, |t, p| t | (b.rng.below(4) as u16) << (2 * p))
}

/// An FLDENV/FRSTOR environment (28 or 14 bytes) with plausible and odd values.
fn env_image(b: &mut Builder, wide: bool) -> Vec<u8> {
    let fcw = fcw(b);
    let fsw = b.rng.u32() as u16;
    let ftw = ftw(b);
    let mut v = Vec::new();
    let hi = |b: &mut Builder| if b.rng.chance(70) { 0xffffu16 } else { b.rng.u32() as u16 };
    if wide {
        for w in [fcw, fsw, ftw] {
            v.extend_from_slice(&w.to_le_bytes());
            let h = hi(b);
            v.extend_from_slice(&h.to_le_bytes());
        }
        for _ in 0..4 {
            let d = b.rng.edgy();
            v.extend_from_slice(&d.to_le_bytes());
        }
    } else {
        for w in [fcw, fsw, ftw] {
            v.extend_from_slice(&w.to_le_bytes());
        }
        for _ in 0..4 {
            let w = b.rng.edgy() as u16;
            v.extend_from_slice(&w.to_le_bytes());
        }
    }
    v
}

/// A 512-byte FXRSTOR image, mostly with a valid MXCSR.
fn fxsave_image(b: &mut Builder) -> Vec<u8> {
    let mut v = vec![0u8; 512];
    let fcw = fcw(b);
    v[0..2].copy_from_slice(&fcw.to_le_bytes());
    v[2..4].copy_from_slice(&(b.rng.u32() as u16).to_le_bytes());
    v[4] = b.rng.u32() as u8;
    v[5] = if b.rng.chance(80) { 0 } else { b.rng.u32() as u8 };
    for o in [6usize, 8, 12, 16, 20] {
        let d = b.rng.edgy();
        v[o..o + 4].copy_from_slice(&d.to_le_bytes());
    }
    let mxcsr = match b.rng.below(20) {
        0 => gen_fp::mxcsr(b.rng) | 1 << (16 + b.rng.below(16)), // reserved: #GP
        1 => gen_fp::mxcsr(b.rng) | 1 << 17,                     // MM
        _ => gen_fp::mxcsr(b.rng),
    };
    v[24..28].copy_from_slice(&mxcsr.to_le_bytes());
    v[28..32].copy_from_slice(&b.rng.u32().to_le_bytes());
    for i in 0..8 {
        let r = f80_bytes(b);
        v[32 + 16 * i..][..10].copy_from_slice(&r);
        if b.rng.chance(20) {
            for k in 10..16 {
                v[32 + 16 * i + k] = b.rng.u32() as u8;
            }
        }
    }
    for i in 0..8 {
        let x = gen_fp::xmm(b.rng);
        v[160 + 16 * i..][..16].copy_from_slice(&x.to_le_bytes());
    }
    for byte in &mut v[288..] {
        *byte = b.rng.u32() as u8;
    }
    v
}

/// Appends a fixed x87 instruction after the one under test (when it fits in the code
/// page): the pointers, the opcode, the full tag word and #MF delivery then show in the
/// compared state.
fn append_follow_up(b: &mut Builder, ins: &Instruction, at: u32) {
    let Ok(len) = Encoder::new(32).encode(ins, at as u64) else { return };
    let env = (STACK + 0x40).to_le_bytes();
    let fx = (STACK + 0xc00).to_le_bytes();
    let bytes: Vec<u8> = match b.rng.below(10) {
        // FNSTENV [STACK+0x40]
        0..=3 => [&[0xd9, 0x35][..], &env].concat(),
        // FNSAVE (16-bit layout) [STACK+0x40]
        4 => [&[0x66, 0xdd, 0x35][..], &env].concat(),
        // FWAIT
        5 => vec![0x9b],
        // FNSTSW AX; FWAIT
        6 => vec![0xdf, 0xe0, 0x9b],
        // FNOP
        7 => vec![0xd9, 0xd0],
        // FXSAVE [STACK+0xC00]
        _ => [&[0x0f, 0xae, 0x05][..], &fx].concat(),
    };
    let off = (at - CODE) as usize + len;
    if off + bytes.len() < PAGE as usize {
        b.code[off..off + bytes.len()].copy_from_slice(&bytes);
    }
}
