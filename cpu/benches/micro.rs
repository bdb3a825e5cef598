//! Micro-benchmarks of the interpreter's parts, with criterion:
//! `cargo bench -p x86wow-cpu --bench micro [FILTER]`.
//!
//! `x86wow bench` measures whole workloads in MIPS; these isolate what a workload's
//! time is made of: decoding a block, running a cached one, one plain step, a memory
//! access through the translation cache, materialising lazy flags, a per-instruction
//! hook. Each reports time per iteration; the `Throughput::Elements` ones count guest
//! instructions, so criterion also prints instructions per second.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use iced_x86::code_asm::*;
use x86wow_cpu::{Cpu, Exit, HookAction};
use x86wow_mmu::Prot;

const CODE: u32 = 0x40_0000;
const DATA: u32 = 0x50_0000;
const STACK: u32 = 0x60_0000;

/// A CPU with `body` assembled at CODE, a read-write data page and a stack.
fn cpu_with(body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Cpu {
    let mut a = CodeAssembler::new(32).expect("32-bit assembler");
    body(&mut a).expect("assembles");
    let code = a.assemble(CODE as u64).expect("assembles");
    let mut cpu = Cpu::new();
    cpu.mem.map(CODE as u64, 0x1000, Prot::RX).expect("fresh");
    cpu.mem.poke(CODE as u64, &code).expect("mapped");
    cpu.mem.map(DATA as u64, 0x1000, Prot::RW).expect("fresh");
    cpu.mem.map(STACK as u64, 0x1000, Prot::RW).expect("fresh");
    cpu.eip = CODE;
    cpu.gpr[4] = STACK + 0x800;
    cpu
}

/// 30 register-only ALU instructions and a JMP back: one self-looping block of 31.
fn alu_loop(a: &mut CodeAssembler) -> Result<(), IcedError> {
    let mut top = a.create_label();
    a.set_label(&mut top)?;
    for _ in 0..10 {
        a.add(eax, ebx)?;
        a.xor(ecx, eax)?;
        a.shl(edx, 3)?;
    }
    a.jmp(top)
}

fn run_loop(cpu: &mut Cpu, n: u64) {
    assert_eq!(cpu.run(n), Exit::BudgetExhausted);
}

fn blocks(c: &mut Criterion) {
    let mut g = c.benchmark_group("block");
    g.throughput(Throughput::Elements(31 * 32));
    // Decoding: the cache is cleared before every run, so each runs the decoder for
    // one 31-instruction block and then its ops once.
    g.bench_function("decode_and_run_992", |b| {
        let mut cpu = cpu_with(alu_loop);
        b.iter(|| {
            cpu.set_block_cache(true);
            cpu.eip = CODE;
            run_loop(&mut cpu, 31 * 32);
        })
    });
    // The same block from the cache.
    g.bench_function("cached_992", |b| {
        let mut cpu = cpu_with(alu_loop);
        run_loop(&mut cpu, 31 * 32);
        b.iter(|| run_loop(&mut cpu, 31 * 32))
    });
    // The plain path: fetch and decode per instruction.
    g.bench_function("plain_992", |b| {
        let mut cpu = cpu_with(alu_loop);
        cpu.set_block_cache(false);
        b.iter(|| run_loop(&mut cpu, 31 * 32))
    });
    // A counting hook on every instruction.
    g.bench_function("hooked_992", |b| {
        let mut cpu = cpu_with(alu_loop);
        let mut seen = 0u64;
        cpu.add_code_hook(
            0..=u32::MAX,
            Box::new(move |_, _| {
                seen = black_box(seen + 1);
                HookAction::Continue
            }),
        );
        b.iter(|| run_loop(&mut cpu, 31 * 32))
    });
    g.finish();
}

fn steps(c: &mut Criterion) {
    let mut g = c.benchmark_group("step");
    g.throughput(Throughput::Elements(1));
    g.bench_function("add_r32_r32", |b| {
        let mut cpu = cpu_with(alu_loop);
        b.iter(|| {
            cpu.eip = CODE;
            black_box(cpu.step())
        })
    });
    g.finish();
}

/// Stack and memory forms in a cached loop: PUSH/POP, a load, a store, CALL/RET.
fn memory_ops(c: &mut Criterion) {
    let mut g = c.benchmark_group("memory_ops");
    g.throughput(Throughput::Elements(800));
    g.bench_function("push_pop_load_store_call_ret_800", |b| {
        let mut cpu = cpu_with(|a| {
            let mut top = a.create_label();
            let mut func = a.create_label();
            a.set_label(&mut top)?;
            a.push(eax)?;
            a.pop(ebx)?;
            a.mov(ecx, dword_ptr(DATA + 0x10))?;
            a.mov(dword_ptr(DATA + 0x20), ecx)?;
            a.call(func)?;
            a.add(eax, 1)?;
            a.jmp(top)?;
            a.set_label(&mut func)?;
            a.ret()
        });
        run_loop(&mut cpu, 800);
        b.iter(|| run_loop(&mut cpu, 800))
    });
    g.finish();
}

fn mmu(c: &mut Criterion) {
    let mut g = c.benchmark_group("mmu");
    g.bench_function("read_u32_cached_translation", |b| {
        let mut cpu = cpu_with(|a| a.hlt());
        cpu.mem.read_u32(DATA as u64).expect("mapped");
        b.iter(|| black_box(cpu.mem.read_u32(black_box(DATA as u64 + 0x40)).expect("mapped")))
    });
    g.bench_function("write_u32_cached_translation", |b| {
        let mut cpu = cpu_with(|a| a.hlt());
        cpu.mem.write_u32(DATA as u64, 0).expect("mapped");
        b.iter(|| cpu.mem.write_u32(black_box(DATA as u64 + 0x40), black_box(7)).expect("mapped"))
    });
    // A fresh translation per access: the page-table walk.
    g.bench_function("read_u32_walk", |b| {
        b.iter_batched_ref(
            || cpu_with(|a| a.hlt()),
            |cpu| black_box(cpu.mem.read_u32(DATA as u64 + 0x40).expect("mapped")),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn flags(c: &mut Criterion) {
    let mut g = c.benchmark_group("flags");
    // EFLAGS from the lazy representation after an ADD.
    g.bench_function("eflags_after_add", |b| {
        let mut cpu = cpu_with(|a| {
            a.add(eax, ebx)?;
            a.hlt()
        });
        cpu.gpr[0] = 0x7fff_ffff;
        cpu.gpr[3] = 1;
        cpu.step();
        b.iter(|| black_box(black_box(&cpu).eflags()))
    });
    g.finish();
}

criterion_group!(benches, blocks, steps, memory_ops, mmu, flags);
criterion_main!(benches);
