//! Decimal adjust: DAA, DAS, AAA, AAS, AAM, AAD, with AMD family 19h's values for the
//! flags the manuals leave undefined (see `cpu/UNDEFINED.md`).

use iced_x86::{Instruction, Mnemonic};

use crate::cpu::{Cpu, Step};
use crate::exception::Exception;
use crate::flags::Size;
use crate::regs::gpr::EAX;
use crate::table::Table;

fn al(cpu: &Cpu) -> u32 {
    cpu.gpr[EAX] & 0xff
}

fn set_al(cpu: &mut Cpu, v: u32) {
    cpu.gpr[EAX] = (cpu.gpr[EAX] & !0xff) | (v & 0xff);
}

/// DAA/DAS: OF is the signed overflow of adding (subtracting) the total adjustment to AL.
fn decimal_adjust(cpu: &mut Cpu, sub: bool) {
    let old = al(cpu);
    let old_cf = cpu.flags.cf();
    let mut adj = 0u32;
    let mut cf = false;
    let af = (old & 0xf) > 9 || cpu.flags.af();
    if af {
        adj = 6;
        cf = old_cf || if sub { old < 6 } else { old + 6 > 0xff };
    }
    if old > 0x99 || old_cf {
        adj += 0x60;
        cf = true;
    }
    let r = if sub { old.wrapping_sub(adj) } else { old.wrapping_add(adj) } & 0xff;
    set_al(cpu, r);
    let of = if sub { (old ^ adj) & (old ^ r) & 0x80 != 0 } else { !(old ^ adj) & (old ^ r) & 0x80 != 0 };
    cpu.flags.set_result(Size::B8, r, cf, of, af);
}

fn daa(cpu: &mut Cpu, _: &Instruction) -> Step {
    decimal_adjust(cpu, false);
    Ok(())
}

fn das(cpu: &mut Cpu, _: &Instruction) -> Step {
    decimal_adjust(cpu, true);
    Ok(())
}

/// AAA/AAS: AX += 0x106 (AAA) or AX -= 0x106 (AAS) when AL's low nibble is above 9
/// or AF is set, then AL &= 0x0F; CF = AF = whether it adjusted. AMD family 19h (Zen 4)
/// sets SF, ZF, PF and OF as a 16-bit ADD/SUB of AX and the adjustment (0 or 0x106),
/// computed before AL is masked.
fn ascii_adjust(cpu: &mut Cpu, sub: bool) {
    let ax = cpu.gpr[EAX] & 0xffff;
    let adjust = (ax & 0xf) > 9 || cpu.flags.af();
    let b = if adjust { 0x106 } else { 0 };
    let t = if sub { ax.wrapping_sub(b) } else { ax.wrapping_add(b) } & 0xffff;
    cpu.gpr[EAX] = (cpu.gpr[EAX] & !0xffff) | (t & 0xff0f);
    let of = if sub { (ax ^ b) & (ax ^ t) & 0x8000 != 0 } else { !(ax ^ b) & (ax ^ t) & 0x8000 != 0 };
    cpu.flags.set_result(Size::B16, t, adjust, of, adjust);
}

fn aaa(cpu: &mut Cpu, _: &Instruction) -> Step {
    ascii_adjust(cpu, false);
    Ok(())
}

fn aas(cpu: &mut Cpu, _: &Instruction) -> Step {
    ascii_adjust(cpu, true);
    Ok(())
}

/// AAM imm8: #DE for a zero base; OF = AF = CF = 0.
fn aam(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let base = ins.immediate(0) as u32 & 0xff;
    if base == 0 {
        return Err(Exception::de().into());
    }
    let a = al(cpu);
    let r = a % base;
    cpu.gpr[EAX] = (cpu.gpr[EAX] & !0xffff) | (a / base) << 8 | r;
    cpu.flags.set_logic(Size::B8, r);
    Ok(())
}

/// AAD imm8: CF, AF, OF are those of the byte addition AL + AH * imm8.
fn aad(cpu: &mut Cpu, ins: &Instruction) -> Step {
    let base = ins.immediate(0) as u32 & 0xff;
    let a = al(cpu);
    let b = (((cpu.gpr[EAX] >> 8) & 0xff) * base) & 0xff;
    let r = (a + b) & 0xff;
    cpu.gpr[EAX] = (cpu.gpr[EAX] & !0xffff) | r;
    cpu.flags.set_add(Size::B8, a, b, r);
    Ok(())
}

pub fn register(t: &mut Table) {
    t.mnemonic(Mnemonic::Daa, daa);
    t.mnemonic(Mnemonic::Das, das);
    t.mnemonic(Mnemonic::Aaa, aaa);
    t.mnemonic(Mnemonic::Aas, aas);
    t.mnemonic(Mnemonic::Aam, aam);
    t.mnemonic(Mnemonic::Aad, aad);
}
