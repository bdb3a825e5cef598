//! AES-NI (from FIPS-197), PCLMULQDQ and CRC32 (CRC-32C, SSE4.2).

use iced_x86::{Instruction, Mnemonic};

use super::{read_op, reg_value, write_op};
use crate::cpu::{Cpu, Step};
use crate::table::Table;

/// Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1.
const fn gmul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            p ^= a;
        }
        let hi = a & 0x80;
        a <<= 1;
        if hi != 0 {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    p
}

/// The S-box: multiplicative inverse followed by the affine transformation.
const fn make_sbox() -> [u8; 256] {
    let mut s = [0u8; 256];
    let mut x = 0usize;
    while x < 256 {
        // Inverse by exhaustive search (0 maps to 0).
        let mut inv = 0u8;
        let mut y = 1usize;
        while y < 256 {
            if gmul(x as u8, y as u8) == 1 {
                inv = y as u8;
            }
            y += 1;
        }
        let b = inv;
        s[x] = b ^ b.rotate_left(1) ^ b.rotate_left(2) ^ b.rotate_left(3) ^ b.rotate_left(4) ^ 0x63;
        x += 1;
    }
    s
}

const fn invert(s: &[u8; 256]) -> [u8; 256] {
    let mut r = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        r[s[i] as usize] = i as u8;
        i += 1;
    }
    r
}

static SBOX: [u8; 256] = make_sbox();
static INV_SBOX: [u8; 256] = invert(&make_sbox());

/// The state as FIPS-197 bytes: byte `r + 4c` is row r of column c.
fn bytes(v: u128) -> [u8; 16] {
    v.to_le_bytes()
}

fn shift_rows(s: [u8; 16], inverse: bool) -> [u8; 16] {
    std::array::from_fn(|k| {
        let (r, c) = (k % 4, k / 4);
        let from = if inverse { (c + 4 - r) % 4 } else { (c + r) % 4 };
        s[r + 4 * from]
    })
}

fn sub_bytes(s: [u8; 16], inverse: bool) -> [u8; 16] {
    let t = if inverse { &INV_SBOX } else { &SBOX };
    s.map(|b| t[b as usize])
}

fn mix_columns(s: [u8; 16], inverse: bool) -> [u8; 16] {
    let m: [u8; 4] = if inverse { [14, 11, 13, 9] } else { [2, 3, 1, 1] };
    std::array::from_fn(|k| {
        let (r, c) = (k % 4, k / 4);
        (0..4).fold(0u8, |acc, j| acc ^ gmul(m[(j + 4 - r) % 4], s[j + 4 * c]))
    })
}

fn sub_word(w: u32) -> u32 {
    u32::from_le_bytes(w.to_le_bytes().map(|b| SBOX[b as usize]))
}

/// One AES round or helper step of the mnemonic `m` on state `a` with round key /
/// source `b`.
pub(crate) fn aes(m: Mnemonic, a: u128, b: u128, imm: u8) -> u128 {
    use Mnemonic as M;
    let s = bytes(a);
    let out = match m {
        M::Aesenc => mix_columns(sub_bytes(shift_rows(s, false), false), false),
        M::Aesenclast => sub_bytes(shift_rows(s, false), false),
        M::Aesdec => mix_columns(sub_bytes(shift_rows(s, true), true), true),
        M::Aesdeclast => sub_bytes(shift_rows(s, true), true),
        M::Aesimc => return u128::from_le_bytes(mix_columns(bytes(b), true)),
        _ => {
            // AESKEYGENASSIST
            let x1 = sub_word((b >> 32) as u32);
            let x3 = sub_word((b >> 96) as u32);
            let rcon = imm as u32;
            let w = [x1, x1.rotate_right(8) ^ rcon, x3, x3.rotate_right(8) ^ rcon];
            return w.iter().enumerate().fold(0u128, |acc, (i, &x)| acc | (x as u128) << (32 * i));
        }
    };
    u128::from_le_bytes(out) ^ b
}

fn aes_op(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let b = read_op(cpu, ins, 1)?;
    let a = reg_value(cpu, ins.op_register(0));
    let imm = if ins.op_count() > 2 { ins.immediate8() } else { 0 };
    write_op(cpu, ins, 0, aes(ins.mnemonic(), a, b, imm))
}

/// Carry-less 64 x 64 -> 128-bit multiplication.
pub(crate) fn clmul(a: u64, b: u64) -> u128 {
    (0..64).filter(|i| b >> i & 1 != 0).fold(0u128, |acc, i| acc ^ (a as u128) << i)
}

/// PCLMULQDQ: imm8[0] selects the destination's quadword, imm8[4] the source's.
fn pclmulqdq(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let b = read_op(cpu, ins, 1)?;
    let a = reg_value(cpu, ins.op_register(0));
    let imm = ins.immediate8();
    let qa = (a >> (64 * (imm & 1) as u32)) as u64;
    let qb = (b >> (64 * (imm >> 4 & 1) as u32)) as u64;
    write_op(cpu, ins, 0, clmul(qa, qb))
}

/// CRC-32C of `bytes` bytes of `v` continuing from `crc` (bit-reflected, polynomial
/// 0x1EDC6F41, no inversion: the instruction's definition).
pub(crate) fn crc32c(mut crc: u32, v: u32, bytes: usize) -> u32 {
    for k in 0..bytes {
        crc ^= (v >> (8 * k)) & 0xff;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
        }
    }
    crc
}

fn crc32(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = crate::operand::op_size(ins, 1);
    let v = cpu.read_op(ins, 1, size)?;
    let crc = cpu.read_reg(ins.op_register(0));
    cpu.write_reg(ins.op_register(0), crc32c(crc, v, size.bytes() as usize));
    Ok(())
}

pub fn register(t: &mut Table) {
    use Mnemonic as M;
    t.mnemonics(&[M::Aesenc, M::Aesenclast, M::Aesdec, M::Aesdeclast, M::Aesimc, M::Aeskeygenassist], aes_op);
    t.mnemonic(M::Pclmulqdq, pclmulqdq);
    t.mnemonic(M::Crc32, crc32);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sbox_matches_fips197() {
        assert_eq!(SBOX[0x00], 0x63);
        assert_eq!(SBOX[0x53], 0xed);
        assert_eq!(INV_SBOX[0x63], 0x00);
    }

    /// FIPS-197 appendix C.1 (AES-128): the first round of encryption, and the last.
    #[test]
    fn aes_rounds_match_fips197() {
        let h = |s: &str| u128::from_str_radix(s, 16).unwrap().swap_bytes();
        // Start of round 1 -> start of round 2, round key 1.
        let s1 = h("00102030405060708090a0b0c0d0e0f0");
        let k1 = h("d6aa74fdd2af72fadaa678f1d6ab76fe");
        assert_eq!(aes(Mnemonic::Aesenc, s1, k1, 0), h("89d810e8855ace682d1843d8cb128fe4"));
        // Round 10: start -> output with the last round key.
        let s10 = h("bd6e7c3df2b5779e0b61216e8b10b689");
        let k10 = h("13111d7fe3944a17f307a78b4d2b30c5");
        assert_eq!(aes(Mnemonic::Aesenclast, s10, k10, 0), h("69c4e0d86a7b0430d8cdb78070b4c55a"));
    }

    #[test]
    fn crc32c_check_value() {
        // CRC-32C("123456789") = 0xE3069283 with the usual pre/post inversion.
        let crc = b"123456789".iter().fold(!0u32, |c, &b| crc32c(c, b as u32, 1));
        assert_eq!(!crc, 0xe306_9283);
    }

    #[test]
    fn clmul_small() {
        assert_eq!(clmul(0b11, 0b11), 0b101);
        assert_eq!(clmul(u64::MAX, 2), (u64::MAX as u128) << 1);
    }
}
