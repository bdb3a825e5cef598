//! Random test cases for the integer instruction set, one iced-x86 `Code` at a time.
//!
//! Every case uses the same layout, chosen so that no memory access can land outside
//! memory the case describes (which would make the hardware read the runner itself):
//!
//! | range | contents |
//! |---|---|
//! | `CODE` (1 page, rx) | `HLT` bytes everywhere except the instruction(s) under test, so any branch target inside the page ends the case |
//! | `DATA` (1 page, rw) | random bytes |
//! | `RO` = `DATA + 0x1000` (1 page, r) | random bytes: stores fault, loads and page-crossing loads work |
//! | `HOLE` = `DATA + 0x2000` | unmapped |
//! | `STACK` (1 page, rw) | random bytes; the page below is unmapped |
//!
//! Memory operands are built from a chosen target address, so base and index registers
//! get the values that reach it; every other register gets a random value biased to
//! the edges (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, ...).

use iced_x86::{Code, Encoder, Instruction, Mnemonic, OpCodeOperandKind as K, OpKind, Register};
use x86wow_cpu::coverage::Family;
use x86wow_cpu::state::{MachineState, MemRegion};

use crate::gen_fp;
use x86wow_mmu::Prot;

pub const CODE: u32 = 0x1000_0000;
pub const DATA: u32 = 0x2000_0000;
pub const RO: u32 = DATA + 0x1000;
pub const HOLE: u32 = DATA + 0x2000;
pub const STACK: u32 = 0x3000_0000;
const PAGE: u32 = 0x1000;

/// A small deterministic generator (SplitMix64): cases depend only on the seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn u32(&mut self) -> u32 {
        self.next() as u32
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u32) -> u32 {
        (((self.next() >> 32) * n as u64) >> 32) as u32
    }
    pub fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < percent
    }
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u32) as usize]
    }
    /// A value biased to the edges of 8, 16 and 32-bit arithmetic.
    pub fn edgy(&mut self) -> u32 {
        const EDGES: [u32; 16] = [
            0,
            1,
            2,
            0x7f,
            0x80,
            0xff,
            0x100,
            0x7fff,
            0x8000,
            0xffff,
            0x1_0000,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            0xffff_fffe,
            0x8000_0001,
        ];
        match self.below(8) {
            0..=2 => self.pick(&EDGES),
            3 => (self.u32() & 0xffff_ff00) | self.pick(&EDGES) & 0xff,
            4 => (self.u32() & 0xffff_0000) | self.pick(&EDGES) & 0xffff,
            5 => self.below(64),
            _ => self.u32(),
        }
    }
}

/// A generated case: the initial state and what it tests.
#[derive(Clone, Debug)]
pub struct GenCase {
    pub state: MachineState,
    /// The codes under test, in program order.
    pub codes: Vec<Code>,
    /// Disassembly of the instructions under test.
    pub text: String,
}

/// Why a code cannot be generated (yet) or must not run natively.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// The code would leave the sandbox of a test process (a real system call, a switch
    /// to 64-bit mode) or depends on the host (CPUID, RDTSC).
    Unsafe(&'static str),
    /// The generator has no way to build its operands.
    NoGenerator(String),
}

/// Codes the hardware suite must not execute natively, and why.
pub fn skip_reason(code: Code) -> Option<&'static str> {
    Some(match code.mnemonic() {
        Mnemonic::Syscall | Mnemonic::Sysenter => "enters the host kernel",
        Mnemonic::Cpuid => "the CPUID model is configurable and differs from the host by design",
        Mnemonic::Rdtsc | Mnemonic::Rdtscp => "the time-stamp counter is deterministic by design",
        Mnemonic::Sgdt | Mnemonic::Sidt | Mnemonic::Smsw | Mnemonic::Sldt | Mnemonic::Str => {
            "Linux emulates it under UMIP for 32-bit processes"
        }
        Mnemonic::Hlt => "the end marker of every case (verified by all of them)",
        _ => return None,
    })
}

pub(crate) struct Builder<'a> {
    pub(crate) rng: &'a mut Rng,
    pub(crate) gpr: [u32; 8],
    /// Registers whose value was fixed by an operand (address bases, counters...).
    pub(crate) fixed: [bool; 8],
    pub(crate) eflags: u32,
    pub(crate) fs_base: u32,
    pub(crate) gs_base: u32,
    pub(crate) code: Vec<u8>,
    pub(crate) data: Vec<u8>,
    pub(crate) ro: Vec<u8>,
    pub(crate) stack: Vec<u8>,
    /// Building a sequence: memory operands are `[EBX + disp]` with EBX fixed.
    pub(crate) seq: bool,
    /// Compact cases (for committed vectors): pages start zeroed and only windows
    /// around the addresses the case touches get random bytes.
    pub(crate) compact: bool,
    /// x87/SSE state for cases of those families (copied into the case's state).
    pub(crate) x87: Option<x86wow_cpu::state::X87State>,
    pub(crate) mxcsr: Option<u32>,
    pub(crate) xmm: Option<[u128; 8]>,
}

const GPR32: [Register; 8] = [
    Register::EAX,
    Register::ECX,
    Register::EDX,
    Register::EBX,
    Register::ESP,
    Register::EBP,
    Register::ESI,
    Register::EDI,
];
const ESP: usize = 4;

fn reg_index(r: Register) -> Option<usize> {
    r.full_register32().number().checked_sub(Register::EAX.number())
}

impl Builder<'_> {
    fn random_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
        (0..n).map(|_| rng.u32() as u8).collect()
    }

    /// In compact mode, fills random bytes around `addr` (the pages are zero otherwise).
    fn touch(&mut self, addr: u32) {
        if !self.compact {
            return;
        }
        let bytes: Vec<u8> = (0..48).map(|_| self.rng.u32() as u8).collect();
        write_mem(self, addr.wrapping_sub(16), &bytes);
    }

    /// Fixes register `i` to `v`; returns false if it is already fixed to something else.
    fn fix(&mut self, i: usize, v: u32) -> bool {
        if self.fixed[i] && self.gpr[i] != v {
            return false;
        }
        self.fixed[i] = true;
        self.gpr[i] = v;
        true
    }

    fn free_reg(&mut self, exclude: &[usize]) -> Option<usize> {
        let cands: Vec<usize> =
            (0..8).filter(|&i| !self.fixed[i] && i != ESP && !exclude.contains(&i)).collect();
        (!cands.is_empty()).then(|| self.rng.pick(&cands))
    }

    /// A target address for a data access of `len` bytes: mostly inside the rw page,
    /// sometimes in the read-only page, across its boundaries or into the hole.
    fn data_target(&mut self, len: u32) -> u32 {
        let len = len.max(1);
        match self.rng.below(20) {
            0 => RO + self.rng.below(PAGE - len),
            1 => RO - self.rng.below(len.min(16)) - 1 + 1, // straddles rw -> ro
            2 => HOLE - self.rng.below(len.min(16)),       // straddles ro -> hole
            3 => HOLE + self.rng.below(PAGE),
            4 => DATA + (self.rng.below(PAGE / len) * len), // aligned
            _ => DATA + self.rng.below(PAGE - len + 1),
        }
    }

    /// A code address for branch targets: a HLT inside the code page, or (rarely) a
    /// non-executable or unmapped one.
    fn code_target(&mut self, avoid: std::ops::Range<u32>) -> u32 {
        match self.rng.below(16) {
            0 => DATA + self.rng.below(PAGE),
            1 => HOLE + self.rng.below(PAGE),
            _ => loop {
                let t = CODE + self.rng.below(PAGE);
                if !avoid.contains(&t) {
                    break t;
                }
            },
        }
    }
}

/// The operand kinds of a code (from iced's opcode tables).
fn op_kinds(code: Code) -> Vec<K> {
    let info = code.op_code();
    (0..info.op_count()).map(|i| info.op_kind(i)).collect()
}

fn mem_size(code: Code) -> u32 {
    let mut ins = Instruction::default();
    ins.set_code(code);
    ins.memory_size().size().max(1) as u32
}

/// Where the instruction under test is placed in the code page.
fn code_offset(rng: &mut Rng) -> u32 {
    if rng.chance(3) {
        // Near the end of the page: long encodings cross into the unmapped next page.
        PAGE - 1 - rng.below(14)
    } else {
        0x400 + rng.below(0x800)
    }
}

/// Builds one single-instruction case for `code`.
pub fn single(rng: &mut Rng, code: Code) -> Result<GenCase, Skip> {
    single_with(rng, code, false)
}

/// Like [`single`]; `compact` leaves the pages zero except around touched addresses.
pub fn single_with(rng: &mut Rng, code: Code, compact: bool) -> Result<GenCase, Skip> {
    if let Some(why) = skip_reason(code) {
        return Err(Skip::Unsafe(why));
    }
    for _ in 0..64 {
        if let Some(c) = try_single(rng, code, compact)? {
            return Ok(c);
        }
    }
    Err(Skip::NoGenerator(format!("{code:?}: could not encode after 64 attempts")))
}

fn page(rng: &mut Rng, compact: bool) -> Vec<u8> {
    if compact {
        vec![0; PAGE as usize]
    } else {
        Builder::random_bytes(rng, PAGE as usize)
    }
}

fn try_single(rng: &mut Rng, code: Code, compact: bool) -> Result<Option<GenCase>, Skip> {
    let mut b = Builder {
        gpr: [0; 8],
        fixed: [false; 8],
        eflags: 0x202,
        fs_base: 0,
        gs_base: 0,
        code: vec![0xf4; PAGE as usize],
        data: page(rng, compact),
        ro: page(rng, compact),
        stack: page(rng, compact),
        seq: false,
        compact,
        x87: None,
        mxcsr: None,
        xmm: None,
        rng,
    };
    let family = x86wow_cpu::coverage::family(code);
    if matches!(family, Some(Family::X87 | Family::Mmx | Family::Sse)) {
        b.x87 = Some(gen_fp::x87_state(b.rng, family == Some(Family::Mmx)));
        b.mxcsr = Some(gen_fp::mxcsr(b.rng));
        b.xmm = Some(std::array::from_fn(|_| gen_fp::xmm(b.rng)));
    }
    for i in 0..8 {
        b.gpr[i] = b.rng.edgy();
    }
    // Flags: random arithmetic flags and DF; sometimes AC (alignment checks) or TF.
    b.eflags |= b.rng.u32() & 0x8d5;
    if b.rng.chance(8) {
        b.eflags |= 1 << 18;
    }
    if b.rng.chance(3) {
        b.eflags |= 1 << 8;
    }
    b.fs_base = DATA.wrapping_sub(b.rng.below(0x10_0000));
    b.gs_base = if b.rng.chance(50) { 0 } else { DATA.wrapping_sub(0x1_0000 + b.rng.below(0x1_0000)) };
    // ESP: inside the stack page, usually aligned; sometimes at its lower edge so a push
    // faults, sometimes misaligned.
    let esp = match b.rng.below(16) {
        0 => STACK + b.rng.below(8),
        1 => STACK + 0x800 + b.rng.below(4) + 1,
        _ => STACK + 0x400 + (b.rng.below(0x600) & !3),
    };
    b.fix(ESP, esp);
    b.touch(esp);
    let at = CODE + code_offset(b.rng);
    let ins = match build_instruction(&mut b, code, at)? {
        Some(i) => i,
        None => return Ok(None),
    };
    let mut enc = Encoder::new(32);
    let Ok(len) = enc.encode(&ins, at as u64) else { return Ok(None) };
    let bytes = enc.take_buffer();
    let off = (at - CODE) as usize;
    let fit = bytes.len().min(PAGE as usize - off);
    b.code[off..off + fit].copy_from_slice(&bytes[..fit]);
    let _ = len;
    let text = format!("{ins}");
    let mut state = MachineState::default();
    state.regs.set_gpr(b.gpr);
    state.regs.eip = at;
    state.regs.eflags = b.eflags;
    state.fs_base = b.fs_base;
    state.gs_base = b.gs_base;
    state.x87 = b.x87.clone();
    state.mxcsr = b.mxcsr;
    state.xmm = b.xmm;
    state.memory = vec![
        MemRegion { addr: CODE, size: PAGE, prot: Prot::RX, bytes: b.code },
        MemRegion { addr: DATA, size: PAGE, prot: Prot::RW, bytes: b.data },
        MemRegion { addr: RO, size: PAGE, prot: Prot::R, bytes: b.ro },
        MemRegion { addr: STACK, size: PAGE, prot: Prot::RW, bytes: b.stack },
    ];
    Ok(Some(GenCase { state, codes: vec![code], text }))
}

/// Chooses a memory operand reaching `target` for instruction `ins` (operand index
/// `op`), using free registers as base/index; `None` if no registers are free.
fn memory_operand(b: &mut Builder, ins: &mut Instruction, op: u32, size: u32, addr16_ok: bool) -> Option<()> {
    if b.seq {
        ins.set_op_kind(op, OpKind::Memory);
        ins.set_memory_base(Register::EBX);
        ins.set_memory_index(Register::None);
        ins.set_memory_index_scale(1);
        let disp = b.rng.below(0x100) * 4 + b.rng.below(4) * b.rng.below(2);
        ins.set_memory_displacement32(disp);
        ins.set_memory_displ_size(if disp < 0x80 { 1 } else { 4 });
        return Some(());
    }
    let mut target = b.data_target(size);
    let seg = match b.rng.below(10) {
        0 => Register::FS,
        1 => Register::GS,
        2 => Register::ES,
        3 => Register::SS,
        4 => Register::CS,
        _ => Register::None,
    };
    let seg_base = match seg {
        Register::FS => b.fs_base,
        Register::GS => b.gs_base,
        _ => 0,
    };
    // A CS override can only read: point reads at the code page sometimes.
    if seg == Register::CS && b.rng.chance(50) {
        target = CODE + b.rng.below(PAGE - size);
    }
    let ea = target.wrapping_sub(seg_base);
    ins.set_op_kind(op, OpKind::Memory);
    ins.set_segment_prefix(seg);
    if addr16_ok && seg_base != 0 && b.rng.chance(25) && ea < 0x1_0000 {
        // 16-bit addressing: [bx|bp + si|di + disp16], wrapping at 64 KiB.
        let base = b.rng.pick(&[Register::BX, Register::BP, Register::None]);
        let index = b.rng.pick(&[Register::SI, Register::DI, Register::None]);
        let mut rest = ea;
        let disp = if base == Register::None && index == Register::None { ea } else { b.rng.below(0x100) };
        rest = rest.wrapping_sub(disp);
        if index != Register::None {
            let i = reg_index(index)?;
            let v = b.rng.below(rest.clamp(1, 0x1000));
            if !b.fix(i, (b.gpr[i] & 0xffff_0000) | v) {
                return None;
            }
            rest = rest.wrapping_sub(v);
        }
        if base != Register::None {
            let i = reg_index(base)?;
            if !b.fix(i, (b.gpr[i] & 0xffff_0000) | (rest & 0xffff)) {
                return None;
            }
        } else if index != Register::None && rest != 0 {
            return None;
        }
        ins.set_memory_base(base);
        ins.set_memory_index(index);
        ins.set_memory_index_scale(1);
        ins.set_memory_displacement32(disp & 0xffff);
        ins.set_memory_displ_size(if disp != 0 || base == Register::None && index == Register::None {
            2
        } else {
            0
        });
        return Some(());
    }
    let disp = match b.rng.below(4) {
        0 => 0,
        1 => (b.rng.below(256) as i32 - 128) as u32,
        _ => b.rng.u32() & 0xfff,
    };
    let use_index = b.rng.chance(40);
    let base_i = if b.rng.chance(5) { None } else { b.free_reg(&[]) };
    let index_i = if use_index { b.free_reg(&base_i.into_iter().collect::<Vec<_>>()) } else { None };
    let scale = b.rng.pick(&[1u32, 2, 4, 8]);
    let mut rest = ea.wrapping_sub(disp);
    if let Some(i) = index_i {
        let v = b.rng.below(0x40).wrapping_sub(0x10);
        b.fix(i, v);
        rest = rest.wrapping_sub(v.wrapping_mul(scale));
    }
    match base_i {
        Some(i) => {
            b.fix(i, rest);
        }
        None if index_i.is_none() => {
            // Absolute displacement.
            ins.set_memory_base(Register::None);
            ins.set_memory_index(Register::None);
            ins.set_memory_displacement32(ea);
            ins.set_memory_displ_size(4);
            return Some(());
        }
        None => return None,
    }
    ins.set_memory_base(base_i.map_or(Register::None, |i| GPR32[i]));
    ins.set_memory_index(index_i.map_or(Register::None, |i| GPR32[i]));
    ins.set_memory_index_scale(if index_i.is_some() { scale } else { 1 });
    ins.set_memory_displacement32(disp);
    ins.set_memory_displ_size(if disp == 0 {
        0
    } else if (disp as i32) >= -128 && (disp as i32) < 128 {
        1
    } else {
        4
    });
    Some(())
}

/// The `n`th register after `base` in iced's numbering (ST0..ST7, MM0..MM7, XMM0..XMM7).
fn reg_at(base: Register, n: u32) -> Register {
    Register::values().nth(base as usize + n as usize).unwrap_or(base)
}

/// Register of the given width for encoding number `n` (0..8).
fn reg_of(width: u32, n: usize) -> Register {
    let base = match width {
        8 => Register::AL,
        16 => Register::AX,
        _ => Register::EAX,
    };
    iced_x86::Register::values().nth(base as usize + n).unwrap_or(Register::None)
}

fn gpr_width(k: K) -> Option<u32> {
    Some(match k {
        K::r8_reg | K::r8_opcode | K::r8_or_mem => 8,
        K::r16_reg | K::r16_rm | K::r16_opcode | K::r16_reg_mem | K::r16_or_mem => 16,
        K::r32_reg | K::r32_rm | K::r32_opcode | K::r32_vvvv | K::r32_reg_mem | K::r32_or_mem => 32,
        _ => return None,
    })
}

/// Selectors that exist (or deliberately do not) in a Linux process's GDT and that a
/// test may load without leaving 32-bit mode.
fn selector(b: &mut Builder) -> u32 {
    // Not 0x7B: Linux's per-CPU segment, whose limit is the CPU number.
    let s = b.rng.pick(&[0x2bu32, 0x2b, 0x2b, 0x23, 0x0, 0x3, 0x2a, 0x10, 0x18, 0x1234]);
    (b.rng.u32() & 0xffff_0000) | s
}

fn build_instruction(b: &mut Builder, code: Code, at: u32) -> Result<Option<Instruction>, Skip> {
    let kinds = op_kinds(code);
    let mut ins = Instruction::default();
    ins.set_code(code);
    let m = code.mnemonic();
    let msize = mem_size(code);
    // Register numbers chosen so far (for instructions that need distinct registers).
    for (i, &k) in kinds.iter().enumerate() {
        let i = i as u32;
        if let Some(w) = gpr_width(k) {
            let mem_ok = matches!(k, K::r8_or_mem | K::r16_or_mem | K::r32_or_mem);
            if mem_ok && b.rng.chance(45) {
                if memory_operand(b, &mut ins, i, msize, true).is_none() {
                    return Ok(None);
                }
                continue;
            }
            // Keep ESP out of explicit operands most of the time (the stack must stay
            // inside its page for pushes and calls).
            let n = if b.rng.chance(3) { ESP } else { b.rng.pick(&[0usize, 1, 2, 3, 5, 6, 7]) };
            let r = reg_of(w, n);
            ins.set_op_kind(i, OpKind::Register);
            ins.set_op_register(i, r);
            continue;
        }
        match k {
            K::mem | K::mem_mpx | K::mem_mib => {
                if memory_operand(b, &mut ins, i, msize, true).is_none() {
                    return Ok(None);
                }
            }
            K::mem_offs => {
                let t = b.data_target(msize);
                ins.set_op_kind(i, OpKind::Memory);
                ins.set_memory_base(Register::None);
                ins.set_memory_index(Register::None);
                ins.set_memory_displacement32(t);
                ins.set_memory_displ_size(4);
            }
            K::imm8 => {
                ins.set_op_kind(
                    i,
                    if i > 0 && kinds[..i as usize].contains(&K::imm16) {
                        OpKind::Immediate8_2nd
                    } else {
                        OpKind::Immediate8
                    },
                );
                let v = b.rng.edgy() as u8;
                if ins.op_kind(i) == OpKind::Immediate8_2nd {
                    ins.set_immediate8_2nd(v);
                } else {
                    ins.set_immediate8(v);
                }
            }
            K::imm8_const_1 => {
                ins.set_op_kind(i, OpKind::Immediate8);
                ins.set_immediate8(1);
            }
            K::imm8sex16 => {
                ins.set_op_kind(i, OpKind::Immediate8to16);
                ins.set_immediate8to16(b.rng.edgy() as i8 as i16);
            }
            K::imm8sex32 => {
                ins.set_op_kind(i, OpKind::Immediate8to32);
                ins.set_immediate8to32(b.rng.edgy() as i8 as i32);
            }
            K::imm16 => {
                ins.set_op_kind(i, OpKind::Immediate16);
                ins.set_immediate16(b.rng.edgy() as u16);
            }
            K::imm32 => {
                ins.set_op_kind(i, OpKind::Immediate32);
                ins.set_immediate32(b.rng.edgy());
            }
            K::al | K::cl | K::ax | K::dx | K::eax => {
                let r = match k {
                    K::al => Register::AL,
                    K::cl => Register::CL,
                    K::ax => Register::AX,
                    K::dx => Register::DX,
                    _ => Register::EAX,
                };
                ins.set_op_kind(i, OpKind::Register);
                ins.set_op_register(i, r);
            }
            K::es | K::cs | K::ss | K::ds | K::fs | K::gs => {
                let r = match k {
                    K::es => Register::ES,
                    K::cs => Register::CS,
                    K::ss => Register::SS,
                    K::ds => Register::DS,
                    K::fs => Register::FS,
                    _ => Register::GS,
                };
                ins.set_op_kind(i, OpKind::Register);
                ins.set_op_register(i, r);
            }
            K::st0 => {
                ins.set_op_kind(i, OpKind::Register);
                ins.set_op_register(i, Register::ST0);
            }
            K::sti_opcode => {
                ins.set_op_kind(i, OpKind::Register);
                ins.set_op_register(i, reg_at(Register::ST0, b.rng.below(8)));
            }
            K::mm_reg | K::mm_rm | K::mm_or_mem | K::xmm_reg | K::xmm_rm | K::xmm_or_mem => {
                let mem_ok = matches!(k, K::mm_or_mem | K::xmm_or_mem);
                if mem_ok && b.rng.chance(40) {
                    if memory_operand(b, &mut ins, i, msize, true).is_none() {
                        return Ok(None);
                    }
                    continue;
                }
                let base = if matches!(k, K::mm_reg | K::mm_rm | K::mm_or_mem) {
                    Register::MM0
                } else {
                    Register::XMM0
                };
                ins.set_op_kind(i, OpKind::Register);
                ins.set_op_register(i, reg_at(base, b.rng.below(8)));
            }
            K::cr_reg | K::dr_reg | K::tr_reg => {
                // Privileged in user mode (#GP): any encodable register will do.
                let r = match k {
                    K::cr_reg => b.rng.pick(&[Register::CR0, Register::CR2, Register::CR3, Register::CR4]),
                    K::dr_reg => b.rng.pick(&[Register::DR0, Register::DR3, Register::DR6, Register::DR7]),
                    _ => Register::TR6,
                };
                ins.set_op_kind(i, OpKind::Register);
                ins.set_op_register(i, r);
            }
            K::seg_reg => {
                let r = b.rng.pick(&[
                    Register::ES,
                    Register::SS,
                    Register::DS,
                    Register::FS,
                    Register::GS,
                    Register::CS,
                ]);
                ins.set_op_kind(i, OpKind::Register);
                ins.set_op_register(i, r);
            }
            K::br16_1 | K::br32_1 | K::br16_2 | K::br32_4 => {
                let short = matches!(k, K::br16_1 | K::br32_1);
                let guess = at + 8;
                let t = if short {
                    // Never the instruction itself: a branch to itself would loop.
                    let mut t;
                    loop {
                        t = (guess as i64 + b.rng.below(200) as i64 - 100)
                            .clamp(CODE as i64, (CODE + PAGE - 1) as i64) as u32;
                        if !(at.saturating_sub(2)..at + 16).contains(&t) {
                            break;
                        }
                    }
                    t
                } else {
                    b.code_target(at..at + 16)
                };
                if matches!(k, K::br16_1 | K::br16_2) {
                    ins.set_op_kind(i, OpKind::NearBranch16);
                    ins.set_near_branch16(t as u16);
                } else {
                    ins.set_op_kind(i, OpKind::NearBranch32);
                    ins.set_near_branch32(t);
                }
            }
            K::farbr2_2 | K::farbr4_2 => {
                let sel = if b.rng.chance(70) { 0x23 } else { selector(b) as u16 };
                let t = b.code_target(at..at + 16);
                ins.set_far_branch_selector(sel);
                if k == K::farbr2_2 {
                    ins.set_op_kind(i, OpKind::FarBranch16);
                    ins.set_far_branch16(t as u16);
                } else {
                    ins.set_op_kind(i, OpKind::FarBranch32);
                    ins.set_far_branch32(t);
                }
            }
            K::seg_rSI | K::es_rDI | K::seg_rDI | K::seg_rBX_al => {
                let a16 = b.rng.chance(10);
                let (kind, reg) = match (k, a16) {
                    (K::seg_rSI, false) => (OpKind::MemorySegESI, 6),
                    (K::seg_rSI, true) => (OpKind::MemorySegSI, 6),
                    (K::es_rDI, false) => (OpKind::MemoryESEDI, 7),
                    (K::es_rDI, true) => (OpKind::MemoryESDI, 7),
                    (K::seg_rDI, false) => (OpKind::MemorySegEDI, 7),
                    (K::seg_rDI, true) => (OpKind::MemorySegDI, 7),
                    _ => (OpKind::Memory, 3),
                };
                if kind == OpKind::Memory {
                    // XLAT: [ebx + al]
                    let t = b.data_target(1);
                    let al = b.gpr[0] & 0xff;
                    b.fix(3, t.wrapping_sub(al));
                    ins.set_op_kind(i, OpKind::Memory);
                    ins.set_memory_base(Register::EBX);
                    ins.set_memory_index(Register::AL);
                    ins.set_memory_index_scale(1);
                    continue;
                }
                if a16 {
                    // 16-bit string addressing needs a segment base to reach mapped memory:
                    // only the source can be overridden, so give up on ES:DI forms.
                    return Ok(None);
                }
                let t = b.data_target(msize);
                if !b.fix(reg, t) {
                    return Ok(None);
                }
                ins.set_op_kind(i, kind);
            }
            _ => return Err(Skip::NoGenerator(format!("{code:?}: operand kind {k:?}"))),
        }
    }
    if ins.op_count() > 0
        && (0..ins.op_count()).any(|i| ins.op_kind(i) == OpKind::Memory)
        && !matches!(x86wow_cpu::coverage::family(code), Some(Family::Integer) | None)
        && b.rng.chance(80)
    {
        let t = mem_target(b, &ins);
        let bytes = gen_fp::memory_bytes(b.rng, ins.memory_size());
        write_mem(b, t, &bytes);
    }
    special_setup(b, &mut ins, m, at)?;
    Ok(Some(ins))
}

/// Per-mnemonic set-up of implicit operands (counters, stack contents, targets).
fn special_setup(b: &mut Builder, ins: &mut Instruction, m: Mnemonic, at: u32) -> Result<(), Skip> {
    use Mnemonic as M;
    let esp = b.gpr[ESP];
    let stack_off = |a: u32| a.wrapping_sub(STACK) as usize;
    let put32 = |b: &mut Builder, a: u32, v: u32| {
        let o = stack_off(a);
        if o + 4 <= PAGE as usize {
            b.stack[o..o + 4].copy_from_slice(&v.to_le_bytes());
        }
    };
    match m {
        M::Movsb
        | M::Movsw
        | M::Movsd
        | M::Cmpsb
        | M::Cmpsw
        | M::Cmpsd
        | M::Scasb
        | M::Scasw
        | M::Scasd
        | M::Lodsb
        | M::Lodsw
        | M::Lodsd
        | M::Stosb
        | M::Stosw
        | M::Stosd => {
            let rep = b.rng.below(3);
            match rep {
                0 => {}
                1 => ins.set_has_rep_prefix(true),
                _ => {
                    if matches!(m, M::Cmpsb | M::Cmpsw | M::Cmpsd | M::Scasb | M::Scasw | M::Scasd) {
                        ins.set_has_repne_prefix(true)
                    } else {
                        ins.set_has_rep_prefix(true)
                    }
                }
            }
            if !b.fixed[1] {
                let n = b.rng.pick(&[0u32, 1, 2, 3, 7, 16, 33, 100, 300, 0x1_0000]);
                let keep_high = if b.rng.chance(80) { 0 } else { 0xffff_0000 };
                b.fix(1, (b.gpr[1] & keep_high) | n);
            }
            // Keep the string inside mapped or deliberately faulting memory.
            let elem = 4u32;
            let count = b.gpr[1].min(0x2000) * elem;
            if count > 2 * PAGE && b.rng.chance(70) {
                b.gpr[1] = b.rng.below(64);
            }
        }
        M::Ret | M::Retf | M::Iret | M::Iretd => {
            let t = b.code_target(at..at + 16);
            put32(b, esp, t);
            let sel = if b.rng.chance(85) { 0x23 } else { selector(b) };
            put32(b, esp.wrapping_add(4), sel);
            if matches!(ins.code(), Code::Retfw | Code::Retfw_imm16 | Code::Iretw) {
                put32(b, esp, (t & 0xffff) | sel << 16);
            }
            let fl = (b.rng.u32() & 0x0024_0fd5) | 0x202;
            put32(b, esp.wrapping_add(8), fl);
            if ins.code() == Code::Iretw {
                put32(b, esp.wrapping_add(4), fl & 0xffff);
            }
        }
        M::Pop | M::Popa | M::Popad => {
            if let Some(s) = (ins.op_kind(0) == OpKind::Register)
                .then(|| ins.op_register(0))
                .filter(|r| r.is_segment_register())
            {
                let _ = s;
                let v = selector(b);
                put32(b, esp, v);
            }
        }
        M::Jmp | M::Call => {
            if ins.op_kind(0) == OpKind::Register {
                if let Some(i) = reg_index(ins.op_register(0)) {
                    if i == ESP {
                        // CALL/JMP ESP: the target is the stack page (not executable).
                        return Ok(());
                    }
                    let t = b.code_target(at..at + 16);
                    let v = if ins.op_register(0).size() == 2 {
                        (b.gpr[i] & 0xffff_0000) | (t & 0xffff)
                    } else {
                        t
                    };
                    b.gpr[i] = v;
                    b.fixed[i] = true;
                }
            } else if ins.op_kind(0) == OpKind::Memory {
                // Write the target (and selector for far forms) where the operand points.
                let t = b.code_target(at..at + 16);
                let sel = if b.rng.chance(80) { 0x23 } else { selector(b) };
                let ea = mem_target(b, ins);
                let far = ins.is_jmp_far_indirect() || ins.is_call_far_indirect();
                let osz = ins.memory_size().size() as u32;
                let mut bytes = t.to_le_bytes().to_vec();
                if far {
                    bytes.truncate((osz - 2) as usize);
                    bytes.extend_from_slice(&(sel as u16).to_le_bytes());
                } else {
                    bytes.truncate(osz as usize);
                }
                write_mem(b, ea, &bytes);
            }
        }
        M::Loop | M::Loope | M::Loopne | M::Jecxz | M::Jcxz if !b.fixed[1] => {
            let r = b.rng.u32();
            let v = b.rng.pick(&[0u32, 1, 2, 0x1_0000, 0x1_0001, r]);
            b.gpr[1] = v;
        }
        M::Enter => {
            let ebp = STACK + 0x400 + b.rng.below(0x800);
            b.touch(ebp);
            if !b.fix(5, ebp) {
                return Err(Skip::NoGenerator("ENTER with a fixed EBP".into()));
            }
            let level = if b.rng.chance(70) { b.rng.below(4) } else { b.rng.below(256) };
            ins.set_immediate8_2nd(level as u8);
            ins.set_immediate16(if b.rng.chance(70) { b.rng.below(64) } else { b.rng.u32() } as u16);
        }
        M::Leave => {
            let ebp = STACK + b.rng.below(PAGE);
            b.touch(ebp);
            b.fix(5, ebp);
        }
        M::Int => {
            let mut n = b.rng.u32() as u8;
            if n == 0x80 {
                n = 0x81;
            }
            if b.rng.chance(20) {
                n = b.rng.pick(&[3u8, 4, 1, 0x2e, 0x29]);
            }
            ins.set_immediate8(n);
        }
        M::Lds | M::Les | M::Lfs | M::Lgs | M::Lss => {
            let ea = mem_target(b, ins);
            let osz = if ins.op_register(0).size() == 2 { 2 } else { 4 };
            let sel = selector(b) as u16;
            let mut bytes = b.rng.u32().to_le_bytes()[..osz].to_vec();
            bytes.extend_from_slice(&sel.to_le_bytes());
            write_mem(b, ea, &bytes);
        }
        M::Mov if ins.op_kind(0) == OpKind::Register && ins.op_register(0).is_segment_register() => {
            if ins.op_register(0) == Register::CS {
                // MOV CS is #UD: fine as is.
            } else if ins.op_kind(1) == OpKind::Register {
                if let Some(i) = reg_index(ins.op_register(1)) {
                    if i != ESP && !b.fixed[i] {
                        b.gpr[i] = selector(b);
                    }
                }
            } else {
                let ea = mem_target(b, ins);
                let v = selector(b) as u16;
                write_mem(b, ea, &v.to_le_bytes());
            }
        }
        M::Push if ins.op_kind(0) == OpKind::Register && ins.op_register(0) == Register::ESP => {}
        _ => {}
    }
    crate::gen_x87::special_setup(b, ins, at)?;
    crate::gen_sse::special_setup(b, ins)?;
    // LOCK on lockable forms with a memory destination.
    if ins.code().op_code().can_use_lock_prefix() && ins.op_kind(0) == OpKind::Memory && b.rng.chance(30) {
        ins.set_has_lock_prefix(true);
    }
    Ok(())
}

/// The linear address an already-built memory operand reaches (with this case's
/// registers and segment bases).
pub(crate) fn mem_target(b: &Builder, ins: &Instruction) -> u32 {
    let mut ea = ins.memory_displacement32();
    let base = ins.memory_base();
    let index = ins.memory_index();
    let val = |r: Register| -> u32 {
        let i = reg_index(r).unwrap_or(0);
        if r.size() == 2 {
            b.gpr[i] & 0xffff
        } else {
            b.gpr[i]
        }
    };
    if base != Register::None {
        ea = ea.wrapping_add(val(base));
    }
    if index != Register::None {
        ea = ea.wrapping_add(val(index).wrapping_mul(ins.memory_index_scale()));
    }
    if base.size() == 2
        || index.size() == 2
        || (base == Register::None && index == Register::None && ins.memory_displ_size() == 2)
    {
        ea &= 0xffff;
    }
    let seg = match ins.memory_segment() {
        Register::FS => b.fs_base,
        Register::GS => b.gs_base,
        _ => 0,
    };
    seg.wrapping_add(ea)
}

/// Writes bytes into whichever case region holds them (ignoring parts outside).
pub(crate) fn write_mem(b: &mut Builder, addr: u32, bytes: &[u8]) {
    for (k, &v) in bytes.iter().enumerate() {
        let a = addr.wrapping_add(k as u32);
        let (buf, base) = match a {
            _ if (DATA..DATA + PAGE).contains(&a) => (&mut b.data, DATA),
            _ if (RO..RO + PAGE).contains(&a) => (&mut b.ro, RO),
            _ if (STACK..STACK + PAGE).contains(&a) => (&mut b.stack, STACK),
            _ => continue,
        };
        buf[(a - base) as usize] = v;
    }
}

/// Mnemonics a sequence may not contain: control flow (the sequence runs straight
/// through), instructions with implicit memory operands addressed by registers the
/// sequence does not control, and anything that loads segment registers or writes EBX
/// or ESP implicitly.
fn sequence_ok(code: Code) -> bool {
    use iced_x86::FlowControl;
    use Mnemonic as M;
    if code.flow_control() != FlowControl::Next || skip_reason(code).is_some() || code.is_privileged() {
        return false;
    }
    let kinds = op_kinds(code);
    if kinds.iter().any(|k| {
        matches!(
            k,
            K::seg_rSI
                | K::es_rDI
                | K::seg_rDI
                | K::seg_rBX_al
                | K::seg_reg
                | K::es
                | K::cs
                | K::ss
                | K::ds
                | K::fs
                | K::gs
                | K::mem_offs
        )
    }) {
        return false;
    }
    !matches!(
        code.mnemonic(),
        M::Cpuid
            | M::Popa
            | M::Popad
            | M::Enter
            | M::Leave
            | M::Lds
            | M::Les
            | M::Lfs
            | M::Lgs
            | M::Lss
            | M::Cmpxchg8b
            | M::Bound
            | M::In
            | M::Out
            | M::Lar
            | M::Lsl
            | M::Verr
            | M::Verw
    )
}

/// A straight-line sequence of 2 to 6 instructions drawn from `pool`: registers random,
/// memory operands `[EBX + disp]` inside the data page, so lazily computed flags are
/// consumed by later instructions (ADC after ADD, Jcc-free SETcc/CMOVcc, ...).
pub fn sequence(rng: &mut Rng, pool: &[Code]) -> GenCase {
    sequence_with(rng, pool, false)
}

/// Like [`sequence`], optionally compact (see [`single_with`]).
pub fn sequence_with(rng: &mut Rng, pool: &[Code], compact: bool) -> GenCase {
    let pool: Vec<Code> = pool.iter().copied().filter(|&c| sequence_ok(c)).collect();
    loop {
        if let Some(c) = try_sequence(rng, &pool, compact) {
            return c;
        }
    }
}

fn try_sequence(rng: &mut Rng, pool: &[Code], compact: bool) -> Option<GenCase> {
    let mut b = Builder {
        gpr: [0; 8],
        fixed: [false; 8],
        eflags: 0x202,
        fs_base: DATA,
        gs_base: 0,
        code: vec![0xf4; PAGE as usize],
        data: page(rng, compact),
        ro: page(rng, compact),
        stack: page(rng, compact),
        seq: true,
        compact,
        x87: None,
        mxcsr: None,
        xmm: None,
        rng,
    };
    for i in 0..8 {
        b.gpr[i] = b.rng.edgy();
    }
    b.eflags |= b.rng.u32() & 0x8d5;
    b.fix(3, DATA + 0x400 - 0x200);
    b.fix(ESP, STACK + 0x800);
    if compact {
        // Sequences address [EBX + 0..0x400] and the stack near ESP.
        let d: Vec<u8> = (0..0x480).map(|_| b.rng.u32() as u8).collect();
        write_mem(&mut b, DATA + 0x1e0, &d);
        b.touch(STACK + 0x800);
    }
    let n = 2 + b.rng.below(5);
    let start = CODE + 0x400;
    let mut at = start;
    let mut codes = Vec::new();
    let mut text = Vec::new();
    let mut factory = iced_x86::InstructionInfoFactory::new();
    for _ in 0..n {
        let code = b.rng.pick(pool);
        let Ok(Some(ins)) = build_instruction(&mut b, code, at) else { return None };
        // Reject explicit writes of EBX or ESP (push/pop move ESP implicitly; fine).
        let info = factory.info(&ins);
        let bad = info.used_registers().iter().any(|u| {
            matches!(u.register().full_register32(), Register::EBX | Register::ESP)
                && matches!(
                    u.access(),
                    iced_x86::OpAccess::Write
                        | iced_x86::OpAccess::ReadWrite
                        | iced_x86::OpAccess::CondWrite
                        | iced_x86::OpAccess::ReadCondWrite
                )
                && !ins.is_stack_instruction()
        }) || (ins.is_stack_instruction()
            && info.used_registers().iter().any(|u| {
                u.register() == Register::ESP
                    && u.access() != iced_x86::OpAccess::ReadWrite
                    && u.access() != iced_x86::OpAccess::Read
            }));
        if bad {
            return None;
        }
        let mut enc = Encoder::new(32);
        let len = enc.encode(&ins, at as u64).ok()?;
        let bytes = enc.take_buffer();
        let off = (at - CODE) as usize;
        b.code[off..off + len].copy_from_slice(&bytes);
        at += len as u32;
        codes.push(code);
        text.push(format!("{ins}"));
    }
    // Single stepping through a sequence is covered by single-instruction cases.
    b.eflags &= !(1 << 8);
    let mut state = MachineState::default();
    state.regs.set_gpr(b.gpr);
    state.regs.eip = start;
    state.regs.eflags = b.eflags;
    state.fs_base = b.fs_base;
    state.gs_base = b.gs_base;
    // x87/SSE state, when an instruction's set-up gave the sequence one (SIMD families).
    state.x87 = b.x87.take();
    state.mxcsr = b.mxcsr;
    state.xmm = b.xmm;
    state.memory = vec![
        MemRegion { addr: CODE, size: PAGE, prot: Prot::RX, bytes: b.code },
        MemRegion { addr: DATA, size: PAGE, prot: Prot::RW, bytes: b.data },
        MemRegion { addr: RO, size: PAGE, prot: Prot::R, bytes: b.ro },
        MemRegion { addr: STACK, size: PAGE, prot: Prot::RW, bytes: b.stack },
    ];
    Some(GenCase { state, codes, text: text.join("; ") })
}
