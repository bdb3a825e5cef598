//! Per-instruction set-up of MMX/SSE cases (operands and memory images that random
//! values would not exercise well). Called for every generated case.
//!
//! * 16-byte memory operands are moved to a 16-byte aligned address in most cases (the
//!   generator's addresses are random, and most of these instructions raise #GP(0) on a
//!   misaligned operand before doing anything else); AMD's misaligned SSE mode
//!   (MXCSR.MM) is switched on in some cases.
//! * Shifts by a register or memory count get small counts most of the time.
//! * PCMPxSTRx get short strings over a small alphabet with embedded zeros, explicit
//!   lengths in EAX/EDX around the element count, and any imm8.
//! * Byte selectors (PSHUFB), blend masks (XMM0) and imm8s get their full range.
//! * A few cases start with an x87 exception pending (FSW.ES), for #MF.
//! * XMM register operands of floating-point instructions get lanes of the
//!   instruction's element type, biased to special values.

use iced_x86::{Instruction, MemorySize, Mnemonic, OpKind, Register};
use x86wow_cpu::coverage::{family, Family};

use crate::gen::{mem_target, write_mem, Builder, Skip};
use crate::gen_fp;

/// MXCSR.MM (AMD misaligned SSE mode).
const MXCSR_MM: u32 = 1 << 17;

fn xmm_of(r: Register) -> Option<usize> {
    let n = (r as usize).checked_sub(Register::XMM0 as usize)?;
    (n < 8).then_some(n)
}

fn mm_of(r: Register) -> Option<usize> {
    let n = (r as usize).checked_sub(Register::MM0 as usize)?;
    (n < 8).then_some(n)
}

fn mem_op(ins: &Instruction) -> Option<u32> {
    (0..ins.op_count()).find(|&i| ins.op_kind(i) == OpKind::Memory)
}

/// Whether the memory operand uses 16-bit addressing (its displacement wraps at 64 KiB).
fn addr16(ins: &Instruction) -> bool {
    ins.memory_base().size() == 2
        || ins.memory_index().size() == 2
        || (ins.memory_base() == Register::None
            && ins.memory_index() == Register::None
            && ins.memory_displ_size() == 2)
}

/// Sets the value of operand `op` (a register or the memory operand) to `v`.
fn set_operand(b: &mut Builder, ins: &Instruction, op: u32, v: u128) {
    match ins.op_kind(op) {
        OpKind::Register => {
            let r = ins.op_register(op);
            if let (Some(i), Some(x)) = (xmm_of(r), b.xmm.as_mut()) {
                x[i] = v;
            } else if let (Some(i), Some(st)) = (mm_of(r), b.x87.as_mut()) {
                // MMX register i is physical register i: ST((i - TOP) & 7).
                let top = (st.fsw >> 11) & 7;
                let k = (i as u16).wrapping_sub(top) as usize & 7;
                st.st[k] = (st.st[k] & !((1u128 << 64) - 1)) | v as u64 as u128;
            }
        }
        OpKind::Memory => {
            let t = mem_target(b, ins);
            let n = ins.memory_size().size().max(1);
            write_mem(b, t, &v.to_le_bytes()[..n.min(16)]);
        }
        _ => {}
    }
}

/// A short string over a small alphabet, with zeros sometimes embedded.
fn string(b: &mut Builder, words: bool) -> u128 {
    let alphabet: [u16; 8] = [0, b'a' as u16, b'b' as u16, b'c' as u16, 0x7f, 0x80, 0xff, 0x8000];
    let n = if words { 8 } else { 16 };
    let bits = 128 / n;
    let zero_at = if b.rng.chance(60) { b.rng.below(n as u32 + 1) as usize } else { n };
    (0..n).fold(0u128, |acc, i| {
        let mut e = b.rng.pick(&alphabet) as u128;
        if !words {
            e &= 0xff;
        }
        if i == zero_at {
            e = 0;
        }
        acc | e << (bits * i)
    })
}

pub(crate) fn special_setup(b: &mut Builder, ins: &mut Instruction) -> Result<(), Skip> {
    use Mnemonic as M;
    let code = ins.code();
    if !matches!(family(code), Some(Family::Mmx | Family::Sse)) {
        return Ok(());
    }
    // Sequences start without x87/SSE state: the first SIMD instruction gives them one.
    if b.seq && b.xmm.is_none() {
        let mmx = family(code) == Some(Family::Mmx);
        b.x87 = Some(gen_fp::x87_state(b.rng, mmx));
        b.mxcsr = Some(gen_fp::mxcsr(b.rng));
        b.xmm = Some(std::array::from_fn(|_| gen_fp::xmm(b.rng)));
    }
    // A pending x87 exception now and then (unmasked IE with ES and B set): MMX
    // instructions and EMMS raise #MF, the others ignore it.
    if let Some(x) = b.x87.as_mut() {
        if b.rng.chance(4) {
            x.fcw &= !1;
            x.fsw |= 0x8081;
        }
    }
    // Misaligned SSE mode now and then.
    if let Some(m) = b.mxcsr.as_mut() {
        if b.rng.chance(15) {
            *m |= MXCSR_MM;
        }
    }
    // Align most 16-byte memory operands.
    if let Some(op) = mem_op(ins) {
        if ins.op_kind(op) == OpKind::Memory
            && ins.memory_size().size() == 16
            && !addr16(ins)
            && !b.seq
            && b.rng.chance(70)
        {
            let t = mem_target(b, ins);
            let adj = t & 15;
            if adj != 0 {
                ins.set_memory_displacement32(ins.memory_displacement32().wrapping_sub(adj));
                ins.set_memory_displ_size(4);
                let t = mem_target(b, ins);
                let bytes = gen_fp::memory_bytes(b.rng, ins.memory_size());
                write_mem(b, t, &bytes);
            }
        }
    }
    // Register operands of floating-point instructions get lanes of their own type
    // (the generic XMM values mix float, double and integer lanes).
    let elem = ins.memory_size().element_type();
    let float = matches!(elem, MemorySize::Float32 | MemorySize::Float64);
    if let (true, Some(m)) = (float, b.mxcsr.as_mut()) {
        // Clear sticky flags (so the flags raised show) and unmask one exception.
        if b.rng.chance(30) {
            *m &= !0x3f;
        }
        if b.rng.chance(15) {
            *m = (*m | 0x1f80) & !(0x80 << b.rng.below(6));
        }
    }
    if float && b.rng.chance(70) {
        for op in 0..ins.op_count() {
            if ins.op_kind(op) == OpKind::Register && xmm_of(ins.op_register(op)).is_some() {
                let v = if elem == MemorySize::Float32 {
                    (0..4).fold(0u128, |v, i| v | (gen_fp::f32_bits(b.rng) as u128) << (32 * i))
                } else {
                    (0..2).fold(0u128, |v, i| v | (gen_fp::f64_bits(b.rng) as u128) << (64 * i))
                };
                set_operand(b, ins, op, v);
            }
        }
    }
    let m = code.mnemonic();
    // One draw decides whether the mnemonic's special shaping applies.
    let p = b.rng.below(100);
    let shift_reg = ins.op_kind(1) != OpKind::Immediate8;
    match m {
        M::Psllw | M::Pslld | M::Psllq | M::Psrlw | M::Psrld | M::Psrlq | M::Psraw | M::Psrad
            if shift_reg && p < 75 =>
        {
            let count = b.rng.below(70) as u128;
            set_operand(b, ins, 1, count);
        }
        M::Psllw
        | M::Pslld
        | M::Psllq
        | M::Psrlw
        | M::Psrld
        | M::Psrlq
        | M::Psraw
        | M::Psrad
        | M::Pslldq
        | M::Psrldq
            if !shift_reg && p < 75 =>
        {
            ins.set_immediate8(b.rng.below(70) as u8);
        }
        M::Pcmpestri | M::Pcmpestrm | M::Pcmpistri | M::Pcmpistrm => {
            let imm = b.rng.u32() as u8;
            ins.set_immediate8(imm);
            let words = imm & 1 != 0;
            if b.rng.chance(85) {
                let s0 = string(b, words);
                set_operand(b, ins, 0, s0);
                let s1 = if b.rng.chance(20) { s0 } else { string(b, words) };
                set_operand(b, ins, 1, s1);
            }
            let n = if words { 8 } else { 16 };
            for r in [0usize, 2] {
                if !b.fixed[r] && b.rng.chance(85) {
                    let v = b.rng.below(2 * n + 3) as i32 - n as i32 - 1;
                    b.gpr[r] = if b.rng.chance(80) { v.unsigned_abs() } else { v as u32 };
                }
            }
        }
        M::Cmpps
        | M::Cmppd
        | M::Cmpss
        | M::Cmpsd
        | M::Roundps
        | M::Roundpd
        | M::Roundss
        | M::Roundsd
        | M::Pshufd
        | M::Pshufhw
        | M::Pshuflw
        | M::Pshufw
        | M::Shufps
        | M::Shufpd
        | M::Blendps
        | M::Blendpd
        | M::Pblendw
        | M::Mpsadbw
        | M::Dpps
        | M::Dppd
        | M::Insertps
        | M::Pclmulqdq
        | M::Palignr
        | M::Aeskeygenassist
            if p < 60 =>
        {
            ins.set_immediate8(b.rng.u32() as u8);
        }
        M::Pshufb if p < 50 => {
            let sel = (b.rng.next() as u128) << 64 | b.rng.next() as u128;
            let sel = sel & 0x8f8f_8f8f_8f8f_8f8f_8f8f_8f8f_8f8f_8f8f;
            set_operand(b, ins, 1, sel);
        }
        M::Blendvps | M::Blendvpd | M::Pblendvb => {
            let mask = (b.rng.next() as u128) << 64 | b.rng.next() as u128;
            if let Some(x) = b.xmm.as_mut() {
                x[0] = mask;
            }
        }
        _ => {}
    }
    Ok(())
}
