//! Data movement and flag instructions: MOV, MOVZX, MOVSX, XCHG, XADD, CMPXCHG,
//! CMPXCHG8B, LEA, CBW/CWDE/CWD/CDQ, LAHF/SAHF, SETcc, CMOVcc, XLAT, CLC/STC/CMC/CLD/STD,
//! SALC and MOVNTI.

use iced_x86::{Code, Instruction, Mnemonic, OpKind};

use crate::cpu::{Cpu, Step};
use crate::flags::{bits, Size};
use crate::operand::{is_addr16, op_size};
use crate::ops::alu::{dword_reg, src32_fast};
use crate::regs::gpr::{EAX, EBX, ECX, EDX};
use crate::table::Table;

fn mov(cpu: &mut Cpu, ins: &Instruction) -> Step {
    // Fast paths for the 32-bit register, immediate and memory forms.
    match (ins.op0_kind(), dword_reg(ins.op0_register())) {
        (OpKind::Register, Some(d)) => {
            let v = match src32_fast(cpu, ins) {
                Some(v) => v,
                None if ins.op1_kind() == OpKind::Memory => {
                    let (seg, off) = (cpu.memory_seg(ins), cpu.effective_address(ins));
                    cpu.read_mem(seg, off, Size::B32)?
                }
                None => return mov_general(cpu, ins),
            };
            cpu.gpr[d] = v;
            Ok(())
        }
        (OpKind::Memory, _) if ins.op1_kind() == OpKind::Register => match dword_reg(ins.op1_register()) {
            Some(s) => {
                let (seg, off) = (cpu.memory_seg(ins), cpu.effective_address(ins));
                cpu.write_mem(seg, off, Size::B32, cpu.gpr[s])
            }
            None => mov_general(cpu, ins),
        },
        _ => mov_general(cpu, ins),
    }
}

#[inline(never)]
fn mov_general(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = op_size(ins, 0);
    let v = cpu.read_op(ins, 1, size)?;
    cpu.write_op(ins, 0, size, v)
}

fn movzx(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let v = cpu.read_op(ins, 1, op_size(ins, 1))?;
    match dword_reg(ins.op0_register()) {
        Some(d) => {
            cpu.gpr[d] = v;
            Ok(())
        }
        None => cpu.write_op(ins, 0, op_size(ins, 0), v),
    }
}

fn movsx(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let src = op_size(ins, 1);
    let v = src.sext(cpu.read_op(ins, 1, src)?);
    let dst = op_size(ins, 0);
    cpu.write_op(ins, 0, dst, v & dst.mask())
}

/// XCHG: the memory operand (if any) is written first, so a fault changes nothing.
fn xchg(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = op_size(ins, 0);
    let l0 = cpu.loc(ins, 0);
    let l1 = cpu.loc(ins, 1);
    let a = cpu.read_loc_rmw(l0, size)?;
    let b = cpu.read_loc_rmw(l1, size)?;
    // Write the memory side first.
    if matches!(l0, crate::operand::Loc::Mem { .. }) {
        cpu.write_loc(l0, size, b)?;
        cpu.write_loc(l1, size, a)
    } else {
        cpu.write_loc(l1, size, a)?;
        cpu.write_loc(l0, size, b)
    }
}

fn xadd(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = op_size(ins, 0);
    let dst = cpu.loc(ins, 0);
    let src = cpu.loc(ins, 1);
    let a = cpu.read_loc_rmw(dst, size)?;
    let b = cpu.read_loc(src, size)?;
    let r = a.wrapping_add(b) & size.mask();
    // Register source gets the old destination; then the destination the sum (when
    // both are the same register the sum wins, as on hardware).
    if let crate::operand::Loc::Mem { .. } = dst {
        cpu.write_loc(dst, size, r)?;
        cpu.write_loc(src, size, a)?;
    } else {
        cpu.write_loc(src, size, a)?;
        cpu.write_loc(dst, size, r)?;
    }
    cpu.flags.set_add(size, a, b, r);
    Ok(())
}

/// CMPXCHG: the destination is always written (with its old value when the comparison
/// fails), so a read-only destination faults either way.
fn cmpxchg(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = op_size(ins, 0);
    let dst = cpu.loc(ins, 0);
    let d = cpu.read_loc_rmw(dst, size)?;
    let src = cpu.read_op(ins, 1, size)?;
    let acc = cpu.gpr[EAX] & size.mask();
    let r = acc.wrapping_sub(d) & size.mask();
    if acc == d {
        cpu.write_loc(dst, size, src)?;
    } else {
        if let crate::operand::Loc::Mem { .. } = dst {
            cpu.write_loc(dst, size, d)?;
        }
        let acc_reg = match size {
            Size::B8 => iced_x86::Register::AL,
            Size::B16 => iced_x86::Register::AX,
            Size::B32 => iced_x86::Register::EAX,
        };
        cpu.write_reg(acc_reg, d);
    }
    cpu.flags.set_sub(size, acc, d, r);
    Ok(())
}

fn cmpxchg8b(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let seg = cpu.memory_seg(ins);
    let off = cpu.effective_address(ins);
    cpu.probe_write(seg, off, 8, 8)?;
    let m = cpu.read_mem_u64(seg, off)?;
    let cmp = (cpu.gpr[EDX] as u64) << 32 | cpu.gpr[EAX] as u64;
    let equal = m == cmp;
    if equal {
        let new = (cpu.gpr[ECX] as u64) << 32 | cpu.gpr[EBX] as u64;
        cpu.write_mem_aligned(seg, off, 8, new.to_le_bytes())?;
    } else {
        cpu.write_mem_aligned(seg, off, 8, m.to_le_bytes())?;
        cpu.gpr[EAX] = m as u32;
        cpu.gpr[EDX] = (m >> 32) as u32;
    }
    cpu.flags.set_masked(if equal { bits::ZF } else { 0 }, bits::ZF);
    Ok(())
}

/// LEA: the effective address, truncated to the operand size; no memory access.
fn lea(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let ea = cpu.effective_address(ins);
    match dword_reg(ins.op0_register()) {
        Some(d) => {
            cpu.gpr[d] = ea;
            Ok(())
        }
        None => cpu.write_op(ins, 0, Size::B16, ea & 0xffff),
    }
}

fn cbw(cpu: &mut Cpu, _: &Instruction) -> Step {
    let v = Size::B8.sext(cpu.gpr[EAX]) & 0xffff;
    cpu.gpr[EAX] = (cpu.gpr[EAX] & !0xffff) | v;
    Ok(())
}

fn cwde(cpu: &mut Cpu, _: &Instruction) -> Step {
    cpu.gpr[EAX] = Size::B16.sext(cpu.gpr[EAX]);
    Ok(())
}

fn cwd(cpu: &mut Cpu, _: &Instruction) -> Step {
    let hi = if cpu.gpr[EAX] & 0x8000 != 0 { 0xffff } else { 0 };
    cpu.gpr[EDX] = (cpu.gpr[EDX] & !0xffff) | hi;
    Ok(())
}

fn cdq(cpu: &mut Cpu, _: &Instruction) -> Step {
    cpu.gpr[EDX] = ((cpu.gpr[EAX] as i32) >> 31) as u32;
    Ok(())
}

/// LAHF: AH = SF:ZF:0:AF:0:PF:1:CF.
fn lahf(cpu: &mut Cpu, _: &Instruction) -> Step {
    let f = cpu.eflags() & 0xd5 | 2;
    cpu.gpr[EAX] = (cpu.gpr[EAX] & !0xff00) | f << 8;
    Ok(())
}

fn sahf(cpu: &mut Cpu, _: &Instruction) -> Step {
    let ah = cpu.gpr[EAX] >> 8 & 0xff;
    cpu.flags.set_masked(ah, bits::SF | bits::ZF | bits::AF | bits::PF | bits::CF);
    Ok(())
}

fn cond_of(ins: &Instruction) -> u8 {
    // ConditionCode enum: None, o, no, b, ae, e, ne, be, a, s, ns, p, np, l, ge, le, g.
    (ins.condition_code() as u8).wrapping_sub(1)
}

fn setcc(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let v = cpu.flags.cond(cond_of(ins)) as u32;
    cpu.write_op(ins, 0, Size::B8, v)
}

/// CMOVcc reads its source even when the condition is false (so it can fault), and in
/// 32-bit mode leaves the destination alone then.
fn cmovcc(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let size = op_size(ins, 0);
    let v = cpu.read_op(ins, 1, size)?;
    if cpu.flags.cond(cond_of(ins)) {
        cpu.write_op(ins, 0, size, v)?;
    }
    Ok(())
}

fn xlat(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let seg = cpu.memory_seg(ins);
    let al = cpu.gpr[EAX] & 0xff;
    let off =
        if is_addr16(ins) { cpu.gpr[EBX].wrapping_add(al) & 0xffff } else { cpu.gpr[EBX].wrapping_add(al) };
    let v = cpu.read_mem(seg, off, Size::B8)?;
    cpu.gpr[EAX] = (cpu.gpr[EAX] & !0xff) | v;
    Ok(())
}

fn flag_op(cpu: &mut Cpu, ins: &Instruction) -> Step {
    match ins.mnemonic() {
        Mnemonic::Clc => cpu.flags.set_cf(false),
        Mnemonic::Stc => cpu.flags.set_cf(true),
        Mnemonic::Cmc => cpu.flags.set_cf(!cpu.flags.cf()),
        Mnemonic::Cld => cpu.flags.set_other_bit(bits::DF, false),
        Mnemonic::Std => cpu.flags.set_other_bit(bits::DF, true),
        _ => unreachable!("flag_op registered for {:?}", ins.mnemonic()),
    }
    Ok(())
}

/// SALC (undocumented, valid outside 64-bit mode): AL = CF ? 0xFF : 0.
fn salc(cpu: &mut Cpu, _: &Instruction) -> Step {
    let v = if cpu.flags.cf() { 0xff } else { 0 };
    cpu.gpr[EAX] = (cpu.gpr[EAX] & !0xff) | v;
    Ok(())
}

pub fn register(t: &mut Table) {
    for c in Code::values() {
        if c.mnemonic() == Mnemonic::Mov {
            let ok = {
                let info = c.op_code();
                (0..info.op_count()).all(|i| {
                    use iced_x86::OpCodeOperandKind as K;
                    !matches!(info.op_kind(i), K::seg_reg | K::cr_reg | K::dr_reg | K::tr_reg)
                })
            };
            if ok {
                t.code(c, mov);
            }
        }
    }
    t.mnemonic(Mnemonic::Movzx, movzx);
    t.mnemonic(Mnemonic::Movsx, movsx);
    t.mnemonic(Mnemonic::Movnti, mov);
    t.mnemonic(Mnemonic::Xchg, xchg);
    t.mnemonic(Mnemonic::Xadd, xadd);
    t.mnemonic(Mnemonic::Cmpxchg, cmpxchg);
    t.mnemonic(Mnemonic::Cmpxchg8b, cmpxchg8b);
    t.mnemonic(Mnemonic::Lea, lea);
    t.mnemonic(Mnemonic::Cbw, cbw);
    t.mnemonic(Mnemonic::Cwde, cwde);
    t.mnemonic(Mnemonic::Cwd, cwd);
    t.mnemonic(Mnemonic::Cdq, cdq);
    t.mnemonic(Mnemonic::Lahf, lahf);
    t.mnemonic(Mnemonic::Sahf, sahf);
    t.mnemonics(
        &[
            Mnemonic::Seto,
            Mnemonic::Setno,
            Mnemonic::Setb,
            Mnemonic::Setae,
            Mnemonic::Sete,
            Mnemonic::Setne,
            Mnemonic::Setbe,
            Mnemonic::Seta,
            Mnemonic::Sets,
            Mnemonic::Setns,
            Mnemonic::Setp,
            Mnemonic::Setnp,
            Mnemonic::Setl,
            Mnemonic::Setge,
            Mnemonic::Setle,
            Mnemonic::Setg,
        ],
        setcc,
    );
    t.mnemonics(
        &[
            Mnemonic::Cmovo,
            Mnemonic::Cmovno,
            Mnemonic::Cmovb,
            Mnemonic::Cmovae,
            Mnemonic::Cmove,
            Mnemonic::Cmovne,
            Mnemonic::Cmovbe,
            Mnemonic::Cmova,
            Mnemonic::Cmovs,
            Mnemonic::Cmovns,
            Mnemonic::Cmovp,
            Mnemonic::Cmovnp,
            Mnemonic::Cmovl,
            Mnemonic::Cmovge,
            Mnemonic::Cmovle,
            Mnemonic::Cmovg,
        ],
        cmovcc,
    );
    t.mnemonic(Mnemonic::Xlatb, xlat);
    t.mnemonics(&[Mnemonic::Clc, Mnemonic::Stc, Mnemonic::Cmc, Mnemonic::Cld, Mnemonic::Std], flag_op);
    t.mnemonic(Mnemonic::Salc, salc);
    let _ = OpKind::Register;
}
