//! Unit tests for what the hardware suite does not see directly (its cases start with
//! the pointers zeroed and end at the first exception), with the behaviours measured on
//! Zen 4 written out.

use x86wow_fp::F80;
use x86wow_mmu::Prot;

use crate::exception::vector;
use crate::{Cpu, Exit};

const CODE: u32 = 0x1000_0000;
const DATA: u32 = 0x2000_0000;
const RO: u32 = 0x2000_1000;

fn cpu(code: &[u8]) -> Cpu {
    let mut cpu = Cpu::new();
    cpu.mem.map(CODE as u64, 0x1000, Prot::RX).unwrap();
    cpu.mem.map(DATA as u64, 0x1000, Prot::RW).unwrap();
    cpu.mem.map(RO as u64, 0x1000, Prot::R).unwrap();
    let mut bytes = code.to_vec();
    bytes.push(0xf4);
    cpu.mem.poke(CODE as u64, &bytes).unwrap();
    cpu.eip = CODE;
    cpu.gpr[3] = DATA; // EBX
    cpu
}

fn peek<const N: usize>(cpu: &Cpu, addr: u32) -> [u8; N] {
    let mut b = [0u8; N];
    cpu.mem.peek(addr as u64, &mut b).unwrap();
    b
}

fn exception_at(exit: Exit) -> (u8, u32) {
    match exit {
        Exit::Exception { exception, eip } => (exception.vector, eip),
        other => panic!("expected an exception, got {other:?}"),
    }
}

#[test]
fn unmasked_exception_is_delivered_at_the_next_waiting_instruction() {
    // fldz; fld1; fdivrp st(1) (1/0, ZE unmasked); fnstsw ax; fnop; fld1
    let mut cpu = cpu(&[0xd9, 0xee, 0xd9, 0xe8, 0xde, 0xf1, 0xdf, 0xe0, 0xd9, 0xd0, 0xd9, 0xe8]);
    cpu.fpu.fcw = 0x037b; // ZE unmasked
    let (v, eip) = exception_at(cpu.run(100));
    // The division completes (no write: ST(1) keeps 0, no pop), sets ZE, ES and B;
    // FNSTSW does not wait; FNOP raises #MF before executing.
    assert_eq!((v, eip), (vector::MF, CODE + 8));
    assert_eq!(cpu.gpr[0] & 0xffff, 0xb084); // B | TOP=6 | ES | ZE
    assert_eq!(cpu.fpu.top, 6);
    assert_eq!(cpu.fpu.st(1), F80::ZERO);
    // The faulting FNOP did not record itself: FIP is still the FDIVRP's.
    assert_eq!(cpu.fpu.fip, CODE + 4);
    assert_eq!(cpu.fpu.fop, 0x6f1);
    // Masking ZE (as FLDCW or FNCLEX would) clears ES, and execution continues.
    cpu.fpu.fsw &= !0x04;
    super::sync_es(&mut cpu.fpu);
    assert_eq!(cpu.run(100), Exit::Hlt);
    assert_eq!(cpu.fpu.top, 5);
}

#[test]
fn es_follows_the_masks() {
    // fldcw [ebx] (unmasks IE with IE set); fnstsw ax; fwait
    let mut cpu = cpu(&[0xd9, 0x2b, 0xdf, 0xe0, 0x9b]);
    cpu.mem.poke(DATA as u64, &0xffffu16.to_le_bytes()).unwrap();
    cpu.fpu.fsw = 0x0001;
    assert_eq!(cpu.run(100), Exit::Hlt);
    // Reserved control-word bits: 13..15 read 0, bit 6 reads 1.
    assert_eq!(cpu.fpu.fcw, 0x1f7f);
    assert_eq!(cpu.gpr[0] & 0xffff, 0x0001, "all masked: no ES");
    let mut cpu2 = self::cpu(&[0xd9, 0x2b, 0xdf, 0xe0, 0x9b]);
    cpu2.mem.poke(DATA as u64, &0x037eu16.to_le_bytes()).unwrap();
    cpu2.fpu.fsw = 0x0001;
    let (v, eip) = exception_at(cpu2.run(100));
    assert_eq!((v, eip), (vector::MF, CODE + 4));
    assert_eq!(cpu2.gpr[0] & 0xffff, 0x8081);
}

#[test]
fn wait_forms_are_two_instructions() {
    // fstsw ax (9B DF E0) with an exception pending: #MF at the FWAIT byte.
    let mut cpu = cpu(&[0x9b, 0xdf, 0xe0]);
    cpu.fpu.fcw = 0x037e;
    cpu.fpu.fsw = 0x8081;
    let (v, eip) = exception_at(cpu.run(100));
    assert_eq!((v, eip), (vector::MF, CODE));
    // Without: two instructions retire, and a single step stops between them.
    let mut cpu = self::cpu(&[0x3e, 0x9b, 0xdf, 0xe0]);
    cpu.set_eflags(0x302);
    let (v, eip) = exception_at(cpu.step());
    assert_eq!((v, eip), (vector::DB, CODE + 2));
    assert_eq!(cpu.insns(), 1);
    cpu.set_eflags(0x202);
    assert_eq!(cpu.run(100), Exit::Hlt);
    assert_eq!(cpu.insns(), 2);
}

#[test]
fn fnstenv_layouts_and_pointers() {
    // fld dword ptr fs:[0x40]; fnstenv [ebx+0x100]; o16 fnstenv [ebx+0x200]
    let mut cpu = cpu(&[
        0x64, 0xd9, 0x05, 0x40, 0, 0, 0, // fld fs:[0x40]
        0xd9, 0xb3, 0x00, 0x01, 0, 0, // fnstenv [ebx+0x100]
        0x66, 0xd9, 0xb3, 0x00, 0x02, 0, 0, // o16 fnstenv [ebx+0x200]
    ]);
    cpu.set_fs_base(DATA);
    cpu.mem.poke(DATA as u64 + 0x40, &1.0f32.to_le_bytes()).unwrap();
    assert_eq!(cpu.run(100), Exit::Hlt);
    let cs = cpu.seg[crate::regs::sreg::CS].selector as u32;
    let fs = cpu.seg[crate::regs::sreg::FS].selector as u32;
    let env: [u8; 28] = peek(&cpu, DATA + 0x100);
    let d = |i: usize| u32::from_le_bytes(env[4 * i..4 * i + 4].try_into().unwrap());
    assert_eq!(d(0), 0xffff_037f);
    assert_eq!(d(1), 0xffff_3800); // TOP = 7
    assert_eq!(d(2), 0xffff_3fff); // physical register 7 valid, the rest empty
    assert_eq!(d(3), CODE, "FIP: the first prefix byte");
    assert_eq!(d(4), cs | 0x105 << 16, "FCS and FOP (D9 05)");
    assert_eq!(d(5), 0x40, "FDP: the offset, not the linear address");
    assert_eq!(d(6), 0xffff_0000 | fs);
    // FNSTENV masks every exception afterwards; the 16-bit layout has no FOP.
    let env16: [u8; 14] = peek(&cpu, DATA + 0x200);
    let w = |i: usize| u16::from_le_bytes([env16[2 * i], env16[2 * i + 1]]) as u32;
    assert_eq!([w(0), w(1), w(2), w(3), w(4), w(5), w(6)], [0x037f, 0x3800, 0x3fff, 0, cs, 0x40, fs]);
}

#[test]
fn fxsave_stores_pointers_only_while_an_exception_is_pending() {
    // fld1; fxsave [ebx+0x200]
    let mut cpu = cpu(&[0xd9, 0xe8, 0x0f, 0xae, 0x83, 0x00, 0x02, 0, 0]);
    assert_eq!(cpu.run(100), Exit::Hlt);
    let img: [u8; 32] = peek(&cpu, DATA + 0x200);
    assert!(img[6..24].iter().all(|&b| b == 0), "{img:02x?}");
    assert_eq!(u32::from_le_bytes(img[28..32].try_into().unwrap()), 0x2ffff);
    assert_eq!(cpu.fpu.fip, CODE, "the pointers are kept all the same");
    // With an exception pending (FXSAVE does not wait):
    let mut cpu = self::cpu(&[0xd9, 0xe8, 0x0f, 0xae, 0x83, 0x00, 0x02, 0, 0]);
    cpu.fpu.fcw = 0x037e;
    cpu.fpu.fsw = 0x8081;
    cpu.fpu.fdp = 0x1234;
    assert_eq!(cpu.run(100), Exit::Exception { exception: crate::Exception::new(vector::MF), eip: CODE });
    cpu.fpu.fsw = 0x8081;
    cpu.eip = CODE + 2;
    assert_eq!(cpu.run(100), Exit::Hlt);
    let img: [u8; 32] = peek(&cpu, DATA + 0x200);
    assert_eq!(&img[16..20], &0x1234u32.to_le_bytes());
}

#[test]
fn stack_faults() {
    // Push onto a full stack with IE masked: the indefinite is pushed, C1 = 1.
    let mut cpu = cpu(&[0xd9, 0xe8]);
    cpu.fpu.empty = 0;
    assert_eq!(cpu.run(100), Exit::Hlt);
    assert_eq!(cpu.fpu.st(0), F80::INDEFINITE);
    assert_eq!(cpu.fpu.status() & 0x0241, 0x0241);
    // Unmasked: nothing changes but the flags.
    let mut cpu = self::cpu(&[0xd9, 0xe8]);
    cpu.fpu.empty = 0;
    cpu.fpu.fcw = 0x037e;
    assert_eq!(cpu.run(100), Exit::Hlt);
    assert_eq!((cpu.fpu.top, cpu.fpu.status()), (0, 0x82c1));
    // Reading an empty register: underflow, C1 = 0; FSTP m64 stores the indefinite.
    let mut cpu = self::cpu(&[0xdd, 0x1b]);
    cpu.fpu.fsw = 0x0200;
    assert_eq!(cpu.run(100), Exit::Hlt);
    assert_eq!(peek::<8>(&cpu, DATA), 0xfff8_0000_0000_0000u64.to_le_bytes());
    assert_eq!((cpu.fpu.top, cpu.fpu.status() & 0x0241), (1, 0x41));
}

#[test]
fn a_faulting_store_changes_nothing() {
    // fld1; fstp qword ptr [RO]
    let mut cpu = cpu(&[0xd9, 0xe8, 0xdd, 0x1d, 0x00, 0x10, 0x00, 0x20]);
    cpu.fpu.fsw = 0x0020;
    let (v, eip) = exception_at(cpu.run(100));
    assert_eq!((v, eip), (vector::PF, CODE + 2));
    assert_eq!((cpu.fpu.top, cpu.fpu.empty, cpu.fpu.fsw), (7, 0x7f, 0x0020));
    assert_eq!(cpu.fpu.fip, CODE, "the faulting store did not record itself");
}

#[test]
fn fnsave_frstor_round_trip() {
    // fldpi; fld1; fnsave [ebx]; frstor [ebx]
    let mut cpu = cpu(&[0xd9, 0xeb, 0xd9, 0xe8, 0xdd, 0x33, 0xdd, 0x23]);
    cpu.run(3);
    // FNSAVE reinitialises (registers keep their contents, all empty).
    assert_eq!((cpu.fpu.fcw, cpu.fpu.status(), cpu.fpu.empty, cpu.fpu.fip), (0x037f, 0, 0xff, 0));
    assert_eq!(cpu.run(100), Exit::Hlt);
    assert_eq!((cpu.fpu.top, cpu.fpu.empty, cpu.fpu.st(0), cpu.fpu.fip), (6, 0x3f, F80::ONE, CODE + 2));
}

#[test]
fn fxsave_alignment_comes_first() {
    // cs: fxsave [ebx+2] with EFLAGS.AC: #AC, not the #GP of a write through CS.
    let mut cpu = cpu(&[0x2e, 0x0f, 0xae, 0x43, 0x02]);
    cpu.set_eflags(0x40202);
    assert_eq!(exception_at(cpu.run(10)), (vector::AC, CODE));
    let mut cpu = self::cpu(&[0x0f, 0xae, 0x43, 0x08]);
    cpu.set_eflags(0x40202);
    assert_eq!(exception_at(cpu.run(10)), (vector::GP, CODE));
}

#[test]
fn f2xm1_of_one_is_inexact() {
    // Measured: 2^1 - 1 comes out as 1 - tiny, 2^-1 - 1 as -0.5, both with PE.
    for (rc, plus, c1) in [
        (0u16, F80::ONE, true),
        (1, F80::new(0x3ffe, u64::MAX), false),
        (2, F80::ONE, true),
        (3, F80::new(0x3ffe, u64::MAX), false),
    ] {
        for (x, want, c1) in [(F80::ONE, plus, c1), (F80::ONE.negate(), F80::new(0xbffe, 1 << 63), false)] {
            let mut cpu = cpu(&[0xd9, 0xf0]);
            cpu.fpu.fcw = 0x037f | rc << 10;
            cpu.fpu.top = 7;
            cpu.fpu.set_st(0, x);
            assert_eq!(cpu.run(10), Exit::Hlt);
            assert_eq!(
                (cpu.fpu.st(0), cpu.fpu.status()),
                (want, 0x3820 | if c1 { 0x200 } else { 0 }),
                "rc {rc} x {x:?}"
            );
        }
    }
}

#[test]
fn fop_rebuilt_from_the_decoding_matches_the_bytes() {
    use iced_x86::{Decoder, DecoderOptions, OpKind};
    let prefixes: [&[u8]; 7] = [&[], &[0x3e], &[0x26], &[0x66], &[0x67], &[0xf3], &[0x3e, 0x64]];
    let mut rebuilt = 0;
    for bitness in [32, 16] {
        for esc in 0xd8u8..=0xdf {
            for modrm in 0u8..0xc0 {
                let sibs: Vec<u8> = if modrm & 7 == 4 { (0..=255).collect() } else { vec![0x90] };
                for sib in sibs {
                    for pre in prefixes {
                        let mut b = pre.to_vec();
                        b.extend([esc, modrm, sib, 0x80, 0x01, 0x02, 0x83, 0x90, 0x90]);
                        let ins = Decoder::new(bitness, &b, DecoderOptions::NONE).decode();
                        if ins.is_invalid() || (0..ins.op_count()).all(|i| ins.op_kind(i) != OpKind::Memory) {
                            continue;
                        }
                        let oc = ins.code().op_code();
                        let base = (((oc.op_code() & 7) << 8) | ((oc.group_index() as u32) << 3)) as u16;
                        assert_eq!(super::fop_base(ins.code()), super::FopBase::Mem(base), "{ins}");
                        if let Some(v) = super::fop_from_decoding(&ins, base) {
                            assert_eq!(bitness, 32);
                            let want = ((esc as u16 & 7) << 8) | modrm as u16;
                            assert_eq!(v, want, "{b:02x?} {ins}");
                            rebuilt += 1;
                        }
                    }
                }
            }
        }
    }
    // Every prefix-free memory form without an optional SIB byte is rebuilt.
    assert!(rebuilt > 8 * (192 - 24), "{rebuilt}");
}

#[test]
fn fop_of_register_forms_matches_the_opcode_tables() {
    use iced_x86::{Decoder, DecoderOptions};
    for esc in 0xd8u8..=0xdf {
        for modrm in 0xc0u8..=0xff {
            let b = [esc, modrm, 0x90];
            let ins = Decoder::new(32, &b, DecoderOptions::NONE).decode();
            if ins.is_invalid() {
                continue;
            }
            let oc = ins.code().op_code();
            assert_eq!(oc.op_code_len(), 2, "{ins}");
            assert_eq!(super::fop_base(ins.code()), super::FopBase::Reg((oc.op_code() & 0x7ff) as u16));
            // Every register form's FOP is its own escape and ModRM bytes.
            assert_eq!(
                (oc.op_code() & 0x7ff) as u16 + super::sti_of(&ins) as u16,
                ((esc as u16 & 7) << 8) | modrm as u16,
                "{ins}"
            );
        }
    }
}

/// The last-opcode value comes from the block's decode on the cached path and from the
/// instruction on the plain path: both agree, also for a prefixed form whose value needs
/// the bytes, and after the code is patched (the block is decoded again).
#[test]
fn last_opcode_agrees_between_cached_and_plain_paths_and_follows_patched_code() {
    // fld qword [ebx]; 3e fadd qword [ebx+0] (a prefix and a disp8 of 0: the bytes decide)
    let code = [0xdd, 0x03, 0x3e, 0xdc, 0x43, 0x00];
    let run = |cached: bool, patch: Option<u8>| {
        let mut c = cpu(&code);
        c.set_block_cache(cached);
        assert_eq!(c.run(100), Exit::Hlt);
        if let Some(modrm) = patch {
            c.mem.poke(CODE as u64 + 4, &[modrm]).unwrap();
            c.eip = CODE;
            assert_eq!(c.run(100), Exit::Hlt);
        }
        (c.fpu.fop, c.fpu.fip)
    };
    // DC /0 with ModRM 0x43: FOP = (0xDC & 7) << 8 | 0x43.
    assert_eq!(run(true, None), (0x443, CODE + 2));
    assert_eq!(run(false, None), (0x443, CODE + 2));
    // Patched to DC /1 (FMUL qword [ebx+0], ModRM 0x4B) after the block was cached.
    assert_eq!(run(true, Some(0x4b)), (0x44b, CODE + 2));
    assert_eq!(run(false, Some(0x4b)), (0x44b, CODE + 2));
}

/// The fast handlers of the frequent x87 forms (arithmetic with a memory or register
/// operand, loads and stores) on the cached path against the generic handlers on the
/// plain path: the whole FPU (stack, status, pointers, opcode), the registers, memory
/// and the exit agree with a normal, empty or full stack, masked or unmasked
/// exceptions, a pending exception, and operands on a read-only or unmapped page.
#[test]
fn fast_x87_forms_agree_with_the_generic_handlers() {
    use iced_x86::code_asm::*;
    type Emit = fn(&mut CodeAssembler) -> Result<(), IcedError>;
    let forms: &[Emit] = &[
        |a| a.fadd(qword_ptr(ebx)),
        |a| a.fmul(qword_ptr(ebx)),
        |a| a.fsub(qword_ptr(ebx)),
        |a| a.fsubr(qword_ptr(ebx)),
        |a| a.fdiv(qword_ptr(ebx)),
        |a| a.fdivr(qword_ptr(ebx)),
        |a| a.fadd(dword_ptr(ebx + 8)),
        |a| a.fdiv(dword_ptr(ebx + 8)),
        |a| a.fiadd(word_ptr(ebx + 16)),
        |a| a.fidivr(word_ptr(ebx + 16)),
        |a| a.fimul(dword_ptr(ebx + 24)),
        |a| a.fisub(dword_ptr(ebx + 24)),
        |a| a.fadd(qword_ptr(ebx + ecx * 8 + 0x40)),
        |a| a.fadd_2(st0, st1),
        |a| a.fadd_2(st1, st0),
        |a| a.faddp(st1, st0),
        |a| a.fmul_2(st0, st0),
        |a| a.fsub_2(st0, st1),
        |a| a.fsubp(st2, st0),
        |a| a.fsubr_2(st1, st0),
        |a| a.fsubrp(st1, st0),
        |a| a.fdiv_2(st0, st1),
        |a| a.fdivp(st1, st0),
        |a| a.fdivr_2(st0, st2),
        |a| a.fdivrp(st1, st0),
        |a| a.fld(qword_ptr(ebx)),
        |a| a.fld(dword_ptr(ebx + 8)),
        |a| a.fld(tword_ptr(ebx + 32)),
        |a| a.fild(word_ptr(ebx + 16)),
        |a| a.fild(dword_ptr(ebx + 24)),
        |a| a.fild(qword_ptr(ebx)),
        |a| a.fld(st0),
        |a| a.fld(st1),
        |a| a.fld(st7),
        |a| a.fst(qword_ptr(ebx + 0x80)),
        |a| a.fstp(qword_ptr(ebx + 0x80)),
        |a| a.fst(dword_ptr(ebx + 0x80)),
        |a| a.fstp(dword_ptr(ebx + 0x80)),
        |a| a.fist(word_ptr(ebx + 0x80)),
        |a| a.fistp(word_ptr(ebx + 0x80)),
        |a| a.fist(dword_ptr(ebx + 0x80)),
        |a| a.fistp(dword_ptr(ebx + 0x80)),
        |a| a.fistp(qword_ptr(ebx + 0x80)),
        |a| a.fisttp(dword_ptr(ebx + 0x80)),
        |a| a.fisttp(qword_ptr(ebx + 0x80)),
        |a| a.fisttp(word_ptr(ebx + 0x80)),
        |a| a.fst(st0),
        |a| a.fst(st3),
        |a| a.fstp(st0),
        |a| a.fstp(st1),
        |a| a.fcom(qword_ptr(ebx)),
        |a| a.fcomp(qword_ptr(ebx)),
        |a| a.fcom(dword_ptr(ebx + 8)),
        |a| a.ficom(word_ptr(ebx + 16)),
        |a| a.ficomp(dword_ptr(ebx + 24)),
        |a| a.fcom_2(st0, st1),
        |a| a.fcomp_2(st0, st2),
        |a| a.fucom(st0, st1),
        |a| a.fucomp(st0, st1),
        |a| a.fcompp(),
        |a| a.fucompp(),
        |a| a.fsqrt(),
        |a| a.fabs(),
        |a| a.fchs(),
        |a| a.frndint(),
        |a| a.fnstsw(ax),
        |a| a.db(&[0x64, 0xdc, 0x03]),       // fadd qword fs:[ebx]
        |a| a.db(&[0x26, 0xdd, 0x53, 0x40]), // fst qword es:[ebx+0x40]
        |a| a.db(&[0xd9, 0xd8]),             // fstp1 st(0): the no-check-empty alias
    ];
    let mut data = Vec::new();
    data.extend_from_slice(&1.75f64.to_le_bytes()); // +0
    data.extend_from_slice(&(-3.25f32).to_le_bytes()); // +8
    data.extend_from_slice(&[0; 4]);
    data.extend_from_slice(&(-7i16).to_le_bytes()); // +16
    data.extend_from_slice(&[0; 6]);
    data.extend_from_slice(&100_000i32.to_le_bytes()); // +24
    data.extend_from_slice(&[0; 4]);
    data.extend_from_slice(&F80::from_f64_bits((0.1f64).to_bits()).to_le_bytes()); // +32
    data.resize(0x40, 0);
    data.extend_from_slice(&1e300f64.to_le_bytes()); // +0x40
    data.extend_from_slice(&0.3f64.to_le_bytes()); // +0x48
                                                   // Stack set-ups: two values, empty, full; masked, all unmasked, a pending exception.
    let setups: [(usize, u16, bool); 10] = [
        (2, 0x037f, false),
        (0, 0x037f, false),
        (8, 0x037f, false),
        (2, 0x0340, false),
        (0, 0x0340, false),
        (2, 0x037b, true),
        (4, 0x037f, false),
        (5, 0x037f, false),
        (4, 0x0340, false),
        (5, 0x0340, false),
    ];
    for (f, form) in forms.iter().enumerate() {
        for &(depth, fcw, pending) in &setups {
            for base in [DATA, RO, 0x3000_0000] {
                let mut runs = Vec::new();
                for cached in [true, false] {
                    let mut a = CodeAssembler::new(32).unwrap();
                    form(&mut a).unwrap();
                    a.hlt().unwrap();
                    let code = a.assemble(CODE as u64).unwrap();
                    let mut c = Cpu::new();
                    c.set_block_cache(cached);
                    c.mem.map(CODE as u64, 0x1000, Prot::RX).unwrap();
                    c.mem.map(DATA as u64, 0x1000, Prot::RW).unwrap();
                    c.mem.map(RO as u64, 0x1000, Prot::R).unwrap();
                    c.mem.poke(CODE as u64, &code).unwrap();
                    c.mem.poke(DATA as u64, &data).unwrap();
                    c.mem.poke(RO as u64, &data).unwrap();
                    c.eip = CODE;
                    c.gpr[3] = base;
                    c.gpr[1] = 1; // ECX
                    let values = [
                        F80::from_f64_bits(2.5f64.to_bits()),
                        F80::from_f64_bits((-0.375f64).to_bits()),
                        F80::from_f64_bits(1e-300f64.to_bits()),
                        F80::new(0x7fff, 0xa000_0000_0000_0000), // SNaN
                        F80::new(0, 0x0000_0000_1234_5678),      // denormal
                    ];
                    for i in 0..depth {
                        c.fpu.top = c.fpu.top.wrapping_sub(1) & 7;
                        let p = c.fpu.top as usize;
                        c.fpu.regs[p] = values[i % values.len()];
                        c.fpu.empty &= !(1 << p);
                    }
                    c.fpu.fcw = fcw;
                    if pending {
                        c.fpu.fsw |= 0x04; // ZE, unmasked by 0x037b
                        super::sync_es(&mut c.fpu);
                    }
                    let exit = c.run(10);
                    let mut mem = [0u8; 0x100];
                    c.mem.peek(DATA as u64, &mut mem).unwrap();
                    runs.push((exit, c.registers(), c.insns(), c.fpu, mem.to_vec()));
                }
                assert_eq!(
                    runs[0], runs[1],
                    "form {f}, depth {depth}, fcw {fcw:#x}, pending {pending}, base {base:#x}"
                );
            }
        }
    }
}
