//! Floating-point and SIMD inputs for the hardware suite: random x87/MMX/SSE register
//! state and memory operands biased to the values where implementations go wrong —
//! ±0, denormals, the smallest and largest normals, infinities, QNaN and SNaN,
//! unnormals and pseudo-denormals (x87), integer edges and halfway cases.

use iced_x86::MemorySize;
use x86wow_cpu::state::X87State;

use crate::gen::Rng;

/// A random `f32` bit pattern biased to special values.
pub fn f32_bits(rng: &mut Rng) -> u32 {
    let sign = (rng.u32() & 1) << 31;
    let v = match rng.below(16) {
        0 => 0,                                                    // zero
        1 => rng.u32() & 0x007f_ffff | 1,                          // denormal
        2 => 0x0080_0000,                                          // smallest normal
        3 => 0x7f7f_ffff,                                          // largest normal
        4 => 0x7f80_0000,                                          // infinity
        5 => 0x7fc0_0000 | rng.u32() & 0x003f_ffff,                // QNaN
        6 => 0x7f80_0001 | rng.u32() & 0x003f_ffff,                // SNaN
        7 => 0x3f80_0000 + (rng.below(64)),                        // just above 1
        8 => 0x3f7f_ffff - (rng.below(64)),                        // just below 1
        9 => (rng.below(200) + 100) << 23 | rng.u32() & 0x7f_ffff, // moderate range
        10 => 0x4b00_0000 + rng.below(1 << 23),                    // integers near 2^23 (rounding)
        11 => 0x3f00_0000 | rng.below(2) << 22,                    // 0.5 / 0.75 (halfway)
        12 => 0x4f00_0000 | rng.u32() & 0x7f_ffff,                 // around 2^31 (conversion limits)
        _ => rng.u32() & 0x7fff_ffff,
    };
    sign | v
}

/// A random `f64` bit pattern biased to special values.
pub fn f64_bits(rng: &mut Rng) -> u64 {
    let sign = (rng.next() & 1) << 63;
    let frac = rng.next() & 0x000f_ffff_ffff_ffff;
    let v = match rng.below(16) {
        0 => 0,
        1 => frac | 1,
        2 => 0x0010_0000_0000_0000,
        3 => 0x7fef_ffff_ffff_ffff,
        4 => 0x7ff0_0000_0000_0000,
        5 => 0x7ff8_0000_0000_0000 | frac >> 1,
        6 => 0x7ff0_0000_0000_0001 | frac >> 1,
        7 => 0x3ff0_0000_0000_0000 + rng.below(64) as u64,
        8 => 0x3fef_ffff_ffff_ffff - rng.below(64) as u64,
        9 => ((rng.below(1600) + 200) as u64) << 52 | frac,
        10 => 0x4330_0000_0000_0000 + (rng.next() & 0xf_ffff_ffff_ffff),
        11 => 0x3fe0_0000_0000_0000 | (rng.below(2) as u64) << 51,
        12 => 0x41e0_0000_0000_0000 | frac,
        _ => rng.next() & 0x7fff_ffff_ffff_ffff,
    };
    sign | v
}

/// A random 80-bit x87 value as (sign/exponent, significand), including encodings that
/// only the x87 has: pseudo-denormals, unnormals, pseudo-infinities and pseudo-NaNs.
pub fn f80(rng: &mut Rng) -> (u16, u64) {
    let sign = (rng.below(2) as u16) << 15;
    let frac = rng.next() & 0x7fff_ffff_ffff_ffff;
    let (e, m) = match rng.below(20) {
        0 => (0, 0),
        1 => (0, frac | 1),                                    // denormal
        2 => (0, 1 << 63 | frac),                              // pseudo-denormal
        3 => (1, 1 << 63),                                     // smallest normal
        4 => (0x7ffe, u64::MAX),                               // largest normal
        5 => (0x7fff, 1 << 63),                                // infinity
        6 => (0x7fff, 0xc000_0000_0000_0000 | frac >> 1),      // QNaN
        7 => (0x7fff, 0x8000_0000_0000_0001 | frac >> 2),      // SNaN
        8 => (1 + rng.below(0x7ffe) as u16, frac),             // unnormal (J = 0)
        9 => (0x7fff, frac),                                   // pseudo-NaN / pseudo-inf
        10 => (0x3fff, 1 << 63 | (rng.below(64) as u64)),      // just above 1
        11 => (0x3ffe, u64::MAX - rng.below(64) as u64),       // just below 1
        12 => (0x3fff + rng.below(64) as u16, 1 << 63 | frac), // integers / large
        13 => (0x403e, 1 << 63 | frac),                        // around 2^63
        14 => (0x3fff - rng.below(80) as u16, 1 << 63 | frac), // small magnitudes
        _ => (0x3f00 + rng.below(0x200) as u16, 1 << 63 | frac),
    };
    (sign | e, m)
}

/// A random 128-bit XMM value: float lanes, double lanes or integer edge lanes.
pub fn xmm(rng: &mut Rng) -> u128 {
    match rng.below(4) {
        0 => (0..4).fold(0u128, |v, i| v | (f32_bits(rng) as u128) << (32 * i)),
        1 => (0..2).fold(0u128, |v, i| v | (f64_bits(rng) as u128) << (64 * i)),
        2 => (0..4).fold(0u128, |v, i| v | (rng.edgy() as u128) << (32 * i)),
        _ => (rng.next() as u128) << 64 | rng.next() as u128,
    }
}

/// Random x87 state: any TOP, some registers empty, FCW with random rounding and
/// precision control and (mostly) all exceptions masked; the status word carries random
/// condition codes and sticky flags but no pending-exception summary.
pub fn x87_state(rng: &mut Rng, mmx: bool) -> X87State {
    let masks = if rng.chance(85) { 0x3f } else { rng.below(64) as u16 };
    let fcw = 0x0040 | masks | (rng.below(4) as u16) << 10 | [0u16, 2, 3][rng.below(3) as usize] << 8;
    let top = rng.below(8) as u16;
    // Condition codes C0..C3 and sticky exception flags; ES/B only with unmasked flags.
    let mut fsw = (rng.u32() as u16) & 0x4700 | (rng.u32() as u16) & 0x3f & masks;
    fsw |= top << 11;
    let mut ftw = 0u16;
    for p in 0..8 {
        let empty = if mmx { rng.chance(20) } else { rng.chance(30) };
        ftw |= if empty { 3 } else { rng.below(3) as u16 } << (2 * p);
    }
    let st = std::array::from_fn(|_| {
        if mmx && rng.chance(60) {
            // MMX data in the significand, exponent as left by earlier MMX writes.
            (0xffffu128 << 64) | (rng.edgy() as u128) << 32 | rng.edgy() as u128
        } else {
            let (se, m) = f80(rng);
            (se as u128) << 64 | m as u128
        }
    });
    X87State { fcw, fsw, ftw, st }
}

/// Random MXCSR: any rounding mode, FTZ and DAZ, and (mostly) all exceptions masked.
pub fn mxcsr(rng: &mut Rng) -> u32 {
    let masks = if rng.chance(85) { 0x1f80 } else { rng.below(64) << 7 };
    let flags = rng.u32() & 0x3f;
    masks
        | flags
        | (rng.below(4) << 13)
        | if rng.chance(25) { 0x8000 } else { 0 }
        | if rng.chance(25) { 0x40 } else { 0 }
}

/// Bytes of a memory operand of `size`, biased to interesting values of its type.
pub fn memory_bytes(rng: &mut Rng, size: MemorySize) -> Vec<u8> {
    use MemorySize as M;
    let n = size.size().max(1);
    match size {
        M::Float32 => f32_bits(rng).to_le_bytes().to_vec(),
        M::Float64 => f64_bits(rng).to_le_bytes().to_vec(),
        M::Float80 => {
            let (se, m) = f80(rng);
            let mut v = m.to_le_bytes().to_vec();
            v.extend_from_slice(&se.to_le_bytes());
            v
        }
        M::Packed128_Float32 | M::Packed64_Float32 => {
            (0..n / 4).flat_map(|_| f32_bits(rng).to_le_bytes()).collect()
        }
        M::Packed128_Float64 => (0..n / 8).flat_map(|_| f64_bits(rng).to_le_bytes()).collect(),
        M::Bcd => {
            let mut v: Vec<u8> = (0..9).map(|_| (rng.below(10) << 4 | rng.below(10)) as u8).collect();
            if rng.chance(10) {
                v[rng.below(9) as usize] = rng.u32() as u8; // invalid digits
            }
            v.push(if rng.chance(50) { 0x80 } else { 0 });
            v
        }
        _ => (0..n).map(|_| rng.edgy() as u8).collect(),
    }
}
