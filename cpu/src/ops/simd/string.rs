//! SSE4.2 string comparisons: PCMPESTRI, PCMPESTRM, PCMPISTRI, PCMPISTRM.
//!
//! imm8[1:0] element format (unsigned/signed bytes/words), [3:2] aggregation (equal
//! any, ranges, equal each, equal ordered), [5:4] polarity, [6] index of the most
//! significant match (…I) or a byte/word mask instead of a bit mask (…M). Explicit
//! lengths are |EAX| and |EDX| saturated to the element count; implicit ones end at the
//! first zero element. Flags: CF = result != 0, ZF = the second operand is shorter
//! than the register, SF = the first is, OF = result bit 0, AF = PF = 0.

use iced_x86::{Instruction, Mnemonic};

use super::{build, lane, read_op, reg_value, sext};
use crate::cpu::{Cpu, Step};
use crate::flags::bits;
use crate::regs::gpr::{EAX, ECX, EDX};
use crate::table::Table;

/// Result of a string comparison: IntRes2, the two lengths and the element count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StrResult {
    pub res: u32,
    pub la: usize,
    pub lb: usize,
    pub n: usize,
}

fn explicit_len(v: u32, n: usize) -> usize {
    ((v as i32).unsigned_abs() as usize).min(n)
}

fn implicit_len(v: u128, bits: u32, n: usize) -> usize {
    (0..n).find(|&i| lane(v, bits, i) == 0).unwrap_or(n)
}

/// The comparison core: `a` is the first operand (a register), `b` the second.
pub(crate) fn compare(a: u128, b: u128, imm: u8, lens: Option<(u32, u32)>) -> StrResult {
    let words = imm & 1 != 0;
    let signed = imm & 2 != 0;
    let (bits, n) = if words { (16u32, 8usize) } else { (8, 16) };
    let (la, lb) = match lens {
        Some((ea, ed)) => (explicit_len(ea, n), explicit_len(ed, n)),
        None => (implicit_len(a, bits, n), implicit_len(b, bits, n)),
    };
    let val = |v: u128, i: usize| -> i64 {
        let x = lane(v, bits, i);
        if signed {
            sext(x, bits)
        } else {
            x as i64
        }
    };
    let agg = (imm >> 2) & 3;
    // BoolRes[i][j] with the overrides for invalid elements.
    let boolres = |i: usize, j: usize| -> bool {
        let (va, vb) = (i < la, j < lb);
        match (va, vb) {
            (true, true) => match agg {
                1 => {
                    if i & 1 == 0 {
                        val(b, j) >= val(a, i)
                    } else {
                        val(b, j) <= val(a, i)
                    }
                }
                _ => val(a, i) == val(b, j),
            },
            (false, false) => agg >= 2,
            (false, true) => agg == 3,
            (true, false) => false,
        }
    };
    let mut res1 = 0u32;
    for j in 0..n {
        let bit = match agg {
            0 => (0..n).any(|i| boolres(i, j)),
            1 => (0..n / 2).any(|k| boolres(2 * k, j) && boolres(2 * k + 1, j)),
            2 => boolres(j, j),
            _ => (0..n - j).all(|k| boolres(k, j + k)),
        };
        res1 |= (bit as u32) << j;
    }
    let all = (1u32 << n) - 1;
    let res = match (imm >> 4) & 3 {
        1 => !res1 & all,
        3 => res1 ^ ((1u32 << lb) - 1),
        _ => res1,
    };
    StrResult { res, la, lb, n }
}

fn pcmpstr(cpu: &mut Cpu, ins: &Instruction) -> Step {
    use Mnemonic as M;
    let b = read_op(cpu, ins, 1)?;
    let a = reg_value(cpu, ins.op_register(0));
    let imm = ins.immediate8();
    let m = ins.mnemonic();
    let explicit = matches!(m, M::Pcmpestri | M::Pcmpestrm);
    let lens = explicit.then(|| (cpu.gpr[EAX], cpu.gpr[EDX]));
    let r = compare(a, b, imm, lens);
    if matches!(m, M::Pcmpestri | M::Pcmpistri) {
        cpu.gpr[ECX] = if r.res == 0 {
            r.n as u32
        } else if imm & 0x40 != 0 {
            31 - r.res.leading_zeros()
        } else {
            r.res.trailing_zeros()
        };
    } else {
        cpu.simd.xmm[0] = if imm & 0x40 != 0 {
            let bits = 128 / r.n as u32;
            build(r.n, bits, |i| if r.res >> i & 1 != 0 { u64::MAX } else { 0 })
        } else {
            r.res as u128
        };
    }
    let mut f = 0;
    if r.res != 0 {
        f |= bits::CF;
    }
    if r.lb < r.n {
        f |= bits::ZF;
    }
    if r.la < r.n {
        f |= bits::SF;
    }
    if r.res & 1 != 0 {
        f |= bits::OF;
    }
    cpu.flags.set_masked(f, bits::CF | bits::PF | bits::AF | bits::ZF | bits::SF | bits::OF);
    Ok(())
}

pub fn register(t: &mut Table) {
    use Mnemonic as M;
    t.mnemonics(&[M::Pcmpestri, M::Pcmpestrm, M::Pcmpistri, M::Pcmpistrm], pcmpstr);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &[u8]) -> u128 {
        let mut b = [0u8; 16];
        b[..text.len()].copy_from_slice(text);
        u128::from_le_bytes(b)
    }

    #[test]
    fn equal_ordered_finds_a_substring() {
        // imm 0x0c: unsigned bytes, equal ordered: where "lo" starts in "hello world".
        let r = compare(s(b"lo"), s(b"hello world"), 0x0c, None);
        assert_eq!(r.res & 0x7ff, 1 << 3);
        assert_eq!((r.la, r.lb), (2, 11));
    }

    #[test]
    fn ranges_and_equal_any() {
        // Ranges "az": lowercase letters of "aZb".
        let r = compare(s(b"az"), s(b"aZb"), 0x04, None);
        assert_eq!(r.res, 0b101);
        // Equal any with negative polarity over explicit lengths.
        let r = compare(s(b"ab"), s(b"abcab"), 0x10, Some((2, 5)));
        assert_eq!(r.res, 0xffff & !0b11011);
    }
}
