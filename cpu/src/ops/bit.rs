//! Bit instructions: BT/BTS/BTR/BTC, BSF/BSR, POPCNT/LZCNT/TZCNT, BMI1, BMI2 and ADX.

use iced_x86::{Instruction, Mnemonic, OpKind};

use crate::cpu::{Cpu, Step};
use crate::flags::{bits, Size, PARITY};
use crate::operand::{is_addr16, op_size, Loc};
use crate::regs::gpr::EDX;
use crate::table::Table;

#[derive(Clone, Copy, PartialEq, Eq)]
enum BitOp {
    Test,
    Set,
    Reset,
    Complement,
}

/// BT family. With a register bit offset and a memory operand the offset is signed and
/// selects an operand-sized unit relative to the effective address.
fn bt(cpu: &mut Cpu, ins: &Instruction, op: BitOp) -> Step {
    let size = op_size(ins, 0);
    let raw = cpu.read_op(ins, 1, size)?;
    let mut loc = cpu.loc(ins, 0);
    let bit = if ins.op_kind(1) == OpKind::Register {
        if let Loc::Mem { seg, off } = loc {
            let signed = size.sext(raw) as i32;
            let unit = (signed >> size.bits().trailing_zeros()) as u32;
            // The adjusted offset wraps like any effective address: at 64 KiB under
            // 16-bit addressing.
            let amask = if is_addr16(ins) { 0xffff } else { u32::MAX };
            loc = Loc::Mem { seg, off: off.wrapping_add(unit.wrapping_mul(size.bytes())) & amask };
        }
        raw & (size.bits() - 1)
    } else {
        raw & (size.bits() - 1)
    };
    let v = if op == BitOp::Test { cpu.read_loc(loc, size)? } else { cpu.read_loc_rmw(loc, size)? };
    let cf = v >> bit & 1 != 0;
    let r = match op {
        BitOp::Test => v,
        BitOp::Set => v | 1 << bit,
        BitOp::Reset => v & !(1 << bit),
        BitOp::Complement => v ^ 1 << bit,
    };
    if op != BitOp::Test {
        cpu.write_loc(loc, size, r)?;
    }
    cpu.flags.set_cf(cf);
    Ok(())
}

fn bt_test(cpu: &mut Cpu, ins: &Instruction) -> Step {
    bt(cpu, ins, BitOp::Test)
}
fn bts(cpu: &mut Cpu, ins: &Instruction) -> Step {
    bt(cpu, ins, BitOp::Set)
}
fn btr(cpu: &mut Cpu, ins: &Instruction) -> Step {
    bt(cpu, ins, BitOp::Reset)
}
fn btc(cpu: &mut Cpu, ins: &Instruction) -> Step {
    bt(cpu, ins, BitOp::Complement)
}

/// BSF/BSR: on a zero source the destination is left unchanged (AMD documents this).
/// Flags on AMD family 19h (Zen 4): ZF = (source == 0), PF = parity of the index (of 0
/// for a zero source), CF = OF = SF = AF = 0.
fn bit_scan(cpu: &mut Cpu, ins: &Instruction, reverse: bool) -> Step {
    let size = op_size(ins, 0);
    let src = cpu.read_op(ins, 1, size)?;
    let idx = if src == 0 {
        0
    } else if reverse {
        31 - src.leading_zeros()
    } else {
        src.trailing_zeros()
    };
    if src != 0 {
        cpu.write_op(ins, 0, size, idx)?;
    }
    let pf = if PARITY[idx as usize] { bits::PF } else { 0 };
    let zf = if src == 0 { bits::ZF } else { 0 };
    cpu.flags.set_masked(pf | zf, bits::ARITH);
    Ok(())
}

fn bsf(cpu: &mut Cpu, ins: &Instruction) -> Step {
    bit_scan(cpu, ins, false)
}
fn bsr(cpu: &mut Cpu, ins: &Instruction) -> Step {
    bit_scan(cpu, ins, true)
}

fn popcnt(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = op_size(ins, 0);
    let src = cpu.read_op(ins, 1, size)?;
    cpu.write_op(ins, 0, size, src.count_ones())?;
    cpu.flags.set_eflags((cpu.eflags() & !bits::ARITH) | if src == 0 { bits::ZF } else { 0 });
    Ok(())
}

/// LZCNT/TZCNT: CF = (source == 0), ZF = (result == 0). Undefined on paper; on AMD
/// family 19h (Zen 4) SF = AF = PF = 0 and OF keeps its value.
fn count_zeros(cpu: &mut Cpu, ins: &Instruction, leading: bool) -> Step {
    let size = op_size(ins, 0);
    let src = cpu.read_op(ins, 1, size)?;
    let r = if src == 0 {
        size.bits()
    } else if leading {
        src.leading_zeros() - (32 - size.bits())
    } else {
        src.trailing_zeros()
    };
    cpu.write_op(ins, 0, size, r)?;
    let v = if src == 0 { bits::CF } else { 0 } | if r == 0 { bits::ZF } else { 0 };
    cpu.flags.set_masked(v, bits::ARITH & !bits::OF);
    Ok(())
}

fn lzcnt(cpu: &mut Cpu, ins: &Instruction) -> Step {
    count_zeros(cpu, ins, true)
}
fn tzcnt(cpu: &mut Cpu, ins: &Instruction) -> Step {
    count_zeros(cpu, ins, false)
}

/// Sets the flags of the BMI1/BMI2 logic group: SF, ZF from the result, CF as given,
/// OF = 0; AF and PF are undefined on paper, and AMD family 19h (Zen 4) gives AF = 0 and
/// PF = parity of the result.
fn bmi_flags(cpu: &mut Cpu, r: u32, cf: bool) {
    cpu.flags.set_result(Size::B32, r, cf, false, false);
}

fn andn(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let a = cpu.read_op(ins, 1, Size::B32)?;
    let b = cpu.read_op(ins, 2, Size::B32)?;
    let r = !a & b;
    cpu.write_op(ins, 0, Size::B32, r)?;
    bmi_flags(cpu, r, false);
    Ok(())
}

fn bextr(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let src = cpu.read_op(ins, 1, Size::B32)? as u64;
    let ctl = cpu.read_op(ins, 2, Size::B32)?;
    let start = ctl & 0xff;
    let len = (ctl >> 8) & 0xff;
    let r = if start >= 32 { 0 } else { (src >> start) & ((1u64 << len.min(32)) - 1) } as u32;
    cpu.write_op(ins, 0, Size::B32, r)?;
    // Zen 4: ZF and PF from the result, CF = OF = SF = 0, AF = 1.
    let pf = if PARITY[(r & 0xff) as usize] { bits::PF } else { 0 };
    let zf = if r == 0 { bits::ZF } else { 0 };
    cpu.flags.set_masked(pf | zf | bits::AF, bits::ARITH);
    Ok(())
}

fn blsi(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let s = cpu.read_op(ins, 1, Size::B32)?;
    let r = s & s.wrapping_neg();
    cpu.write_op(ins, 0, Size::B32, r)?;
    bmi_flags(cpu, r, s != 0);
    Ok(())
}

fn blsmsk(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let s = cpu.read_op(ins, 1, Size::B32)?;
    let r = s ^ s.wrapping_sub(1);
    cpu.write_op(ins, 0, Size::B32, r)?;
    bmi_flags(cpu, r, s == 0);
    Ok(())
}

fn blsr(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let s = cpu.read_op(ins, 1, Size::B32)?;
    let r = s & s.wrapping_sub(1);
    cpu.write_op(ins, 0, Size::B32, r)?;
    bmi_flags(cpu, r, s == 0);
    Ok(())
}

fn bzhi(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let src = cpu.read_op(ins, 1, Size::B32)?;
    let n = cpu.read_op(ins, 2, Size::B32)? & 0xff;
    let r = if n >= 32 { src } else { src & ((1u32 << n) - 1) };
    cpu.write_op(ins, 0, Size::B32, r)?;
    bmi_flags(cpu, r, n > 31);
    Ok(())
}

/// MULX: dest_hi (op0), dest_lo (op1) = EDX * src (op2); no flags. When both
/// destinations are the same register it receives the high half.
fn mulx(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let src = cpu.read_op(ins, 2, Size::B32)? as u64;
    let p = cpu.gpr[EDX] as u64 * src;
    cpu.write_op(ins, 1, Size::B32, p as u32)?;
    cpu.write_op(ins, 0, Size::B32, (p >> 32) as u32)?;
    Ok(())
}

fn pdep(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let src = cpu.read_op(ins, 1, Size::B32)?;
    let mut mask = cpu.read_op(ins, 2, Size::B32)?;
    let (mut r, mut k) = (0u32, 0);
    while mask != 0 {
        let bit = mask & mask.wrapping_neg();
        if src >> k & 1 != 0 {
            r |= bit;
        }
        k += 1;
        mask &= mask - 1;
    }
    cpu.write_op(ins, 0, Size::B32, r)
}

fn pext(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let src = cpu.read_op(ins, 1, Size::B32)?;
    let mut mask = cpu.read_op(ins, 2, Size::B32)?;
    let (mut r, mut k) = (0u32, 0);
    while mask != 0 {
        let bit = mask & mask.wrapping_neg();
        if src & bit != 0 {
            r |= 1 << k;
        }
        k += 1;
        mask &= mask - 1;
    }
    cpu.write_op(ins, 0, Size::B32, r)
}

fn rorx(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let src = cpu.read_op(ins, 1, Size::B32)?;
    let n = ins.immediate(2) as u32 & 31;
    cpu.write_op(ins, 0, Size::B32, src.rotate_right(n))
}

fn shift_x(cpu: &mut Cpu, ins: &Instruction, f: fn(u32, u32) -> u32) -> Step {
    let src = cpu.read_op(ins, 1, Size::B32)?;
    let n = cpu.read_op(ins, 2, Size::B32)? & 31;
    cpu.write_op(ins, 0, Size::B32, f(src, n))
}

fn sarx(cpu: &mut Cpu, ins: &Instruction) -> Step {
    shift_x(cpu, ins, |v, n| ((v as i32) >> n) as u32)
}
fn shlx(cpu: &mut Cpu, ins: &Instruction) -> Step {
    shift_x(cpu, ins, |v, n| v << n)
}
fn shrx(cpu: &mut Cpu, ins: &Instruction) -> Step {
    shift_x(cpu, ins, |v, n| v >> n)
}

/// ADCX (carry in/out through CF) and ADOX (through OF); no other flag changes.
fn adx(cpu: &mut Cpu, ins: &Instruction, use_of: bool) -> Step {
    let a = cpu.read_op(ins, 0, Size::B32)? as u64;
    let b = cpu.read_op(ins, 1, Size::B32)? as u64;
    let c = if use_of { cpu.flags.of() } else { cpu.flags.cf() } as u64;
    let s = a + b + c;
    cpu.write_op(ins, 0, Size::B32, s as u32)?;
    let carry = s >> 32 != 0;
    if use_of {
        cpu.flags.set_cf_of(cpu.flags.cf(), carry);
    } else {
        cpu.flags.set_cf(carry);
    }
    Ok(())
}

fn adcx(cpu: &mut Cpu, ins: &Instruction) -> Step {
    adx(cpu, ins, false)
}
fn adox(cpu: &mut Cpu, ins: &Instruction) -> Step {
    adx(cpu, ins, true)
}

/// BSWAP: a 16-bit operand gives an undefined result; AMD family 19h writes zero.
fn bswap(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = op_size(ins, 0);
    let v = cpu.read_op(ins, 0, size)?;
    let r = match size {
        Size::B32 => v.swap_bytes(),
        _ => 0,
    };
    cpu.write_op(ins, 0, size, r)
}

/// MOVBE: a load or store with the bytes reversed.
fn movbe(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = op_size(ins, 0);
    let v = cpu.read_op(ins, 1, size)?;
    let r = match size {
        Size::B16 => (v as u16).swap_bytes() as u32,
        _ => v.swap_bytes(),
    };
    cpu.write_op(ins, 0, size, r)
}

pub fn register(t: &mut Table) {
    t.mnemonic(Mnemonic::Bt, bt_test);
    t.mnemonic(Mnemonic::Bts, bts);
    t.mnemonic(Mnemonic::Btr, btr);
    t.mnemonic(Mnemonic::Btc, btc);
    t.mnemonic(Mnemonic::Bsf, bsf);
    t.mnemonic(Mnemonic::Bsr, bsr);
    t.mnemonic(Mnemonic::Popcnt, popcnt);
    t.mnemonic(Mnemonic::Lzcnt, lzcnt);
    t.mnemonic(Mnemonic::Tzcnt, tzcnt);
    t.mnemonic(Mnemonic::Andn, andn);
    t.mnemonic(Mnemonic::Bextr, bextr);
    t.mnemonic(Mnemonic::Blsi, blsi);
    t.mnemonic(Mnemonic::Blsmsk, blsmsk);
    t.mnemonic(Mnemonic::Blsr, blsr);
    t.mnemonic(Mnemonic::Bzhi, bzhi);
    t.mnemonic(Mnemonic::Mulx, mulx);
    t.mnemonic(Mnemonic::Pdep, pdep);
    t.mnemonic(Mnemonic::Pext, pext);
    t.mnemonic(Mnemonic::Rorx, rorx);
    t.mnemonic(Mnemonic::Sarx, sarx);
    t.mnemonic(Mnemonic::Shlx, shlx);
    t.mnemonic(Mnemonic::Shrx, shrx);
    t.mnemonic(Mnemonic::Adcx, adcx);
    t.mnemonic(Mnemonic::Adox, adox);
    t.mnemonic(Mnemonic::Bswap, bswap);
    t.mnemonic(Mnemonic::Movbe, movbe);
}
