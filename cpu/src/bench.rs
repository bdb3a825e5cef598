//! Built-in benchmark workloads, assembled with iced-x86 at start-up: `x86wow bench`
//! runs them, and `cargo run --release -p x86wow-cpu --example bench` too.

use std::time::Instant;

use crate::{Cpu, Exit};
use iced_x86::code_asm::*;
use iced_x86::BlockEncoderOptions;
use x86wow_mmu::Prot;

const CODE: u32 = 0x0040_0000;
const DATA: u32 = 0x0100_0000;
const STACK_TOP: u32 = 0x0080_0000;

/// Assembled code and initial data of a workload.
type Program = (Vec<u8>, Vec<u8>);

/// A benchmark program: code, initial data, and a short description.
pub struct Workload {
    pub name: &'static str,
    pub about: &'static str,
    build: fn() -> Result<Program, IcedError>,
}

fn assemble(a: &mut CodeAssembler) -> Result<Vec<u8>, IcedError> {
    a.assemble(CODE as u64)
}

/// Register-only integer arithmetic in a counted loop.
fn alu_loop() -> Result<Program, IcedError> {
    let mut a = CodeAssembler::new(32)?;
    let mut top = a.create_label();
    a.mov(ecx, 5_000_000u32)?;
    a.mov(eax, 0x1234_5678u32)?;
    a.mov(ebx, 0x9abc_def0u32)?;
    a.xor(edx, edx)?;
    a.set_label(&mut top)?;
    a.add(eax, ebx)?;
    a.xor(edx, eax)?;
    a.rol(ebx, 5)?;
    a.sub(ebx, ecx)?;
    a.lea(esi, dword_ptr(eax + ebx * 2 + 7))?;
    a.and(esi, 0xffffu32)?;
    a.or(edx, esi)?;
    a.shr(edx, 1)?;
    a.inc(eax)?;
    a.cmp(eax, edx)?;
    a.adc(ebx, 0)?;
    a.dec(ecx)?;
    a.jnz(top)?;
    a.hlt()?;
    Ok((assemble(&mut a)?, Vec::new()))
}

/// Table-driven CRC-32 over 4 MiB of pseudo-random data.
fn crc32() -> Result<Program, IcedError> {
    const LEN: u32 = 4 << 20;
    let mut table = Vec::with_capacity(1024);
    for i in 0..256u32 {
        let mut c = i;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
        }
        table.extend_from_slice(&c.to_le_bytes());
    }
    let mut data = table;
    let mut x = 0x2545_f491u32;
    for _ in 0..LEN {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data.push(x as u8);
    }
    let mut a = CodeAssembler::new(32)?;
    let mut top = a.create_label();
    a.mov(esi, DATA + 1024)?;
    a.mov(ecx, LEN)?;
    a.mov(edx, 0xffff_ffffu32)?;
    a.xor(eax, eax)?;
    a.set_label(&mut top)?;
    a.movzx(eax, byte_ptr(esi))?;
    a.xor(al, dl)?;
    a.shr(edx, 8)?;
    a.xor(edx, dword_ptr(eax * 4 + DATA))?;
    a.inc(esi)?;
    a.dec(ecx)?;
    a.jnz(top)?;
    a.not(edx)?;
    a.hlt()?;
    Ok((assemble(&mut a)?, data))
}

/// Calls through a table of function pointers and an indirect-jump switch (the
/// tables live in the data segment: 4 function pointers, then 4 case addresses).
fn branchy() -> Result<Program, IcedError> {
    let mut a = CodeAssembler::new(32)?;
    let mut top = a.create_label();
    let mut funcs = [a.create_label(), a.create_label(), a.create_label(), a.create_label()];
    let mut cases = [a.create_label(), a.create_label(), a.create_label(), a.create_label()];
    let mut join = a.create_label();
    a.mov(ecx, 1_000_000u32)?;
    a.xor(eax, eax)?;
    a.xor(edi, edi)?;
    a.set_label(&mut top)?;
    a.mov(ebx, ecx)?;
    a.and(ebx, 3)?;
    a.call(dword_ptr(ebx * 4 + DATA))?;
    a.jmp(dword_ptr(ebx * 4 + (DATA + 16)))?;
    for (i, l) in cases.iter_mut().enumerate() {
        a.set_label(l)?;
        a.add(edi, i as u32 + 1)?;
        a.jmp(join)?;
    }
    a.set_label(&mut join)?;
    a.push(eax)?;
    a.pop(edx)?;
    a.dec(ecx)?;
    a.jnz(top)?;
    a.hlt()?;
    for (i, l) in funcs.iter_mut().enumerate() {
        a.set_label(l)?;
        a.add(eax, i as u32 * 3 + 1)?;
        a.ret()?;
    }
    let result = a.assemble_options(CODE as u64, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
    let mut data = Vec::new();
    for l in funcs.iter().chain(cases.iter()) {
        data.extend_from_slice(&(result.label_ip(l)? as u32).to_le_bytes());
    }
    Ok((result.inner.code_buffer, data))
}

/// x87 arithmetic: a damped recurrence with loads, stores, multiply, add, divide,
/// square root and integer conversion, the stack kept balanced.
fn x87() -> Result<Program, IcedError> {
    let mut data = Vec::new();
    for v in [0.999_f64, 0.5, 1.0e-3, 3.0] {
        data.extend_from_slice(&v.to_le_bytes());
    }
    data.extend_from_slice(&[0u8; 32]);
    let mut a = CodeAssembler::new(32)?;
    let mut top = a.create_label();
    a.mov(ecx, 1_000_000u32)?;
    a.finit()?;
    a.fld(qword_ptr(DATA + 8))?; // st0 = y
    a.set_label(&mut top)?;
    a.fmul(qword_ptr(DATA))?; // y *= 0.999
    a.fadd(qword_ptr(DATA + 16))?; // y += 1e-3
    a.fld(st0)?;
    a.fsqrt()?;
    a.fdiv(qword_ptr(DATA + 24))?;
    a.fadd_2(st0, st1)?;
    a.fistp(dword_ptr(DATA + 32))?;
    a.fild(dword_ptr(DATA + 32))?;
    a.fcomp_2(st0, st1)?;
    a.fnstsw(ax)?;
    a.fst(qword_ptr(DATA + 40))?;
    a.dec(ecx)?;
    a.jnz(top)?;
    a.fstp(st0)?;
    a.hlt()?;
    Ok((assemble(&mut a)?, data))
}

pub const WORKLOADS: &[Workload] = &[
    Workload { name: "alu", about: "register-only integer ALU loop", build: alu_loop },
    Workload { name: "crc32", about: "table-driven CRC-32 over 4 MiB", build: crc32 },
    Workload { name: "branch", about: "indirect calls and jumps through tables", build: branchy },
    Workload { name: "x87", about: "x87 loads, stores, arithmetic, sqrt and conversions", build: x87 },
];

/// A CPU loaded with a workload, ready to run.
pub fn prepare(w: &Workload) -> Cpu {
    let (code, data) = (w.build)().expect("bench workloads assemble");
    let mut cpu = Cpu::new();
    let round = |n: usize| ((n as u64 + 0xfff) & !0xfff).max(0x1000);
    cpu.mem.map(CODE as u64, round(code.len()), Prot::RX).expect("fresh space");
    cpu.mem.poke(CODE as u64, &code).expect("mapped");
    if !data.is_empty() {
        cpu.mem.map(DATA as u64, round(data.len()), Prot::RW).expect("fresh space");
        cpu.mem.poke(DATA as u64, &data).expect("mapped");
    }
    cpu.mem.map((STACK_TOP - 0x10000) as u64, 0x10000, Prot::RW).expect("fresh space");
    cpu.eip = CODE;
    cpu.gpr[4] = STACK_TOP - 16;
    cpu
}

/// One measured run.
pub struct Measurement {
    pub insns: u64,
    pub seconds: f64,
}

pub fn measure(w: &Workload) -> Measurement {
    measure_with(w, false)
}

/// Measures a workload, optionally with a per-instruction code hook that counts the
/// instructions it sees (the count is checked against the retired count).
pub fn measure_with(w: &Workload, counting_hook: bool) -> Measurement {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let mut cpu = prepare(w);
    let seen = Arc::new(AtomicU64::new(0));
    if counting_hook {
        let s = seen.clone();
        cpu.add_code_hook(
            0..=u32::MAX,
            Box::new(move |_, _| {
                s.fetch_add(1, Ordering::Relaxed);
                crate::HookAction::Continue
            }),
        );
    }
    let t = Instant::now();
    let exit = cpu.run(u64::MAX);
    let seconds = t.elapsed().as_secs_f64();
    assert_eq!(exit, Exit::Hlt, "workload {} must end at its HLT", w.name);
    if counting_hook {
        // The hook also sees the final HLT, which does not retire.
        assert_eq!(seen.load(Ordering::Relaxed), cpu.insns() + 1, "the hook saw every instruction");
    }
    Measurement { insns: cpu.insns(), seconds }
}
