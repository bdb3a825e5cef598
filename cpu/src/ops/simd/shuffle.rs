//! Shuffles, blends, inserts and extracts: PSHUFW/PSHUFD/PSHUFHW/PSHUFLW,
//! SHUFPS/SHUFPD, BLENDPS/BLENDPD/PBLENDW, BLENDVPS/BLENDVPD/PBLENDVB (mask in XMM0),
//! PINSRB/W/D, PEXTRB/W/D, EXTRACTPS and INSERTPS.

use iced_x86::{Instruction, Mnemonic, OpKind};

use super::{build, enter, is_mm, lane, read_op, reg_value, write_op};
use crate::cpu::{Cpu, Step};
use crate::table::Table;

fn shuffle(cpu: &mut Cpu, ins: &Instruction) -> Step {
    use Mnemonic as M;
    enter(cpu, ins)?;
    let b = read_op(cpu, ins, 1)?;
    let a = reg_value(cpu, ins.op_register(0));
    let imm = ins.immediate8() as usize;
    let sel = |i: usize| (imm >> (2 * i)) & 3;
    let r = match ins.mnemonic() {
        M::Pshufw => build(4, 16, |i| lane(b, 16, sel(i))),
        M::Pshufd => build(4, 32, |i| lane(b, 32, sel(i))),
        M::Pshufhw => build(8, 16, |i| if i < 4 { lane(b, 16, i) } else { lane(b, 16, 4 + sel(i - 4)) }),
        M::Pshuflw => build(8, 16, |i| if i < 4 { lane(b, 16, sel(i)) } else { lane(b, 16, i) }),
        M::Shufps => build(4, 32, |i| lane(if i < 2 { a } else { b }, 32, sel(i))),
        M::Shufpd => build(2, 64, |i| lane(if i == 0 { a } else { b }, 64, (imm >> i) & 1)),
        M::Blendps => build(4, 32, |i| lane(if imm >> i & 1 != 0 { b } else { a }, 32, i)),
        M::Blendpd => build(2, 64, |i| lane(if imm >> i & 1 != 0 { b } else { a }, 64, i)),
        M::Pblendw => build(8, 16, |i| lane(if imm >> i & 1 != 0 { b } else { a }, 16, i)),
        _ => unreachable!(),
    };
    write_op(cpu, ins, 0, r)
}

/// BLENDVPS/BLENDVPD/PBLENDVB: lanes of the source where the implicit XMM0 lane has its
/// top bit set.
fn blendv(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let b = read_op(cpu, ins, 1)?;
    let a = reg_value(cpu, ins.op_register(0));
    let mask = cpu.simd.xmm[0];
    let bits = match ins.mnemonic() {
        Mnemonic::Blendvps => 32,
        Mnemonic::Blendvpd => 64,
        _ => 8,
    };
    let r = build(128 / bits as usize, bits, |i| {
        lane(if lane(mask, bits, i) >> (bits - 1) != 0 { b } else { a }, bits, i)
    });
    write_op(cpu, ins, 0, r)
}

/// PEXTRB/PEXTRW/PEXTRD and EXTRACTPS: an element, zero-extended into a general
/// register or stored at its own size.
fn extract(cpu: &mut Cpu, ins: &Instruction) -> Step {
    enter(cpu, ins)?;
    let src = ins.op_register(1);
    let v = reg_value(cpu, src);
    let w = if is_mm(src) { 8 } else { 16 };
    let bits = match ins.mnemonic() {
        Mnemonic::Pextrb => 8,
        Mnemonic::Pextrw => 16,
        _ => 32,
    };
    let n = w * 8 / bits as usize;
    let e = lane(v, bits, ins.immediate8() as usize & (n - 1));
    write_op(cpu, ins, 0, e as u128)
}

/// PINSRB/PINSRW/PINSRD: the low element of a general register or memory into the
/// selected element.
fn insert(cpu: &mut Cpu, ins: &Instruction) -> Step {
    enter(cpu, ins)?;
    let s = read_op(cpu, ins, 1)?;
    let d = reg_value(cpu, ins.op_register(0));
    let w = if is_mm(ins.op_register(0)) { 8 } else { 16 };
    let bits = match ins.mnemonic() {
        Mnemonic::Pinsrb => 8,
        Mnemonic::Pinsrw => 16,
        _ => 32,
    };
    let n = w * 8 / bits as usize;
    let k = ins.immediate8() as usize & (n - 1);
    let r = build(n, bits, |i| if i == k { lane(s, bits, 0) } else { lane(d, bits, i) });
    write_op(cpu, ins, 0, r)
}

/// INSERTPS: imm8[7:6] selects the source element (register source only), imm8[5:4]
/// the destination element, imm8[3:0] the elements then zeroed.
fn insertps(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let s = read_op(cpu, ins, 1)?;
    let d = reg_value(cpu, ins.op_register(0));
    let imm = ins.immediate8() as usize;
    let e = if ins.op_kind(1) == OpKind::Register { lane(s, 32, imm >> 6) } else { lane(s, 32, 0) };
    let k = (imm >> 4) & 3;
    let r = build(4, 32, |i| match i {
        _ if imm >> i & 1 != 0 => 0,
        _ if i == k => e,
        _ => lane(d, 32, i),
    });
    write_op(cpu, ins, 0, r)
}

pub fn register(t: &mut Table) {
    use Mnemonic as M;
    t.mnemonics(
        &[
            M::Pshufw,
            M::Pshufd,
            M::Pshufhw,
            M::Pshuflw,
            M::Shufps,
            M::Shufpd,
            M::Blendps,
            M::Blendpd,
            M::Pblendw,
        ],
        shuffle,
    );
    t.mnemonics(&[M::Blendvps, M::Blendvpd, M::Pblendvb], blendv);
    t.mnemonics(&[M::Pextrb, M::Pextrw, M::Pextrd, M::Extractps], extract);
    t.mnemonics(&[M::Pinsrb, M::Pinsrw, M::Pinsrd], insert);
    t.mnemonic(M::Insertps, insertps);
}
