//! Behaviour of the run loop: exits, precise faults, restartable strings, hooks,
//! breakpoints and single stepping. Instruction results are checked against the
//! hardware by the suite in testdata/hwcheck; these tests pin down the API.

use super::*;
use crate::exception::{vector, Detail};
use iced_x86::code_asm::*;
use iced_x86::BlockEncoderOptions;
use pretty_assertions::assert_eq;
use x86wow_mmu::{Access, FaultKind, Prot};

const CODE: u32 = 0x40_0000;
const DATA: u32 = 0x50_0000;
const STACK: u32 = 0x60_0000;

fn cpu_with(f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Cpu {
    let mut a = CodeAssembler::new(32).unwrap();
    f(&mut a).unwrap();
    let code = a.assemble(CODE as u64).unwrap();
    let mut cpu = Cpu::new();
    cpu.mem.map(CODE as u64, 0x1000, Prot::RX).unwrap();
    cpu.mem.poke(CODE as u64, &code).unwrap();
    cpu.mem.map(DATA as u64, 0x1000, Prot::RW).unwrap();
    cpu.mem.map(DATA as u64 + 0x1000, 0x1000, Prot::R).unwrap();
    cpu.mem.map(STACK as u64, 0x1000, Prot::RW).unwrap();
    cpu.eip = CODE;
    cpu.gpr[gpr::ESP] = STACK + 0x800;
    cpu
}

/// A CPU that runs `form` and then HLT, with the block cache on or off.
fn cpu_running(form: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>, cached: bool) -> Cpu {
    let mut cpu = cpu_with(|a| {
        form(a)?;
        a.hlt()
    });
    cpu.set_block_cache(cached);
    cpu
}

fn exc(exit: Exit) -> (Exception, u32) {
    match exit {
        Exit::Exception { exception, eip } => (exception, eip),
        other => panic!("expected an exception, got {other:?}"),
    }
}

#[test]
fn hlt_stops_before_and_is_not_retired() {
    let mut cpu = cpu_with(|a| {
        a.nop()?;
        a.hlt()
    });
    assert_eq!(cpu.run(10), Exit::Hlt);
    assert_eq!((cpu.eip, cpu.insns()), (CODE + 1, 1));
}

#[test]
fn budget_counts_instructions() {
    let mut cpu = cpu_with(|a| {
        let mut l = a.create_label();
        a.set_label(&mut l)?;
        a.inc(eax)?;
        a.jmp(l)
    });
    assert_eq!(cpu.run(1001), Exit::BudgetExhausted);
    assert_eq!(cpu.insns(), 1001);
    assert_eq!(cpu.gpr[0], 501);
}

#[test]
fn faulting_store_changes_nothing() {
    let mut cpu = cpu_with(|a| {
        a.add(dword_ptr(ebx), eax)?;
        a.hlt()
    });
    cpu.gpr[3] = DATA + 0x1000; // read-only page
    cpu.gpr[0] = 1;
    cpu.set_eflags(0x202);
    let before = cpu.registers();
    let (e, eip) = exc(cpu.run(10));
    assert_eq!(e.vector, vector::PF);
    assert_eq!(e.error_code, Some(0b111)); // present, write, user
    assert_eq!(
        e.detail,
        Detail::Page { addr: DATA + 0x1000, access: Access::Write, kind: FaultKind::Protection }
    );
    assert_eq!(eip, CODE);
    assert_eq!(cpu.registers(), before);
}

#[test]
fn push_fault_keeps_esp() {
    let mut cpu = cpu_with(|a| {
        a.push(eax)?;
        a.hlt()
    });
    cpu.gpr[gpr::ESP] = STACK + 2; // the push would cross below the stack page
    let (e, _) = exc(cpu.run(10));
    assert_eq!(e.vector, vector::PF);
    assert_eq!(cpu.gpr[gpr::ESP], STACK + 2);
}

#[test]
fn rep_movs_fault_is_restartable() {
    let mut cpu = cpu_with(|a| {
        a.rep().movsb()?;
        a.hlt()
    });
    cpu.gpr[gpr::ESI] = DATA;
    cpu.gpr[gpr::EDI] = DATA + 0xff0; // 16 bytes writable, then the read-only page
    cpu.gpr[gpr::ECX] = 40;
    let (e, eip) = exc(cpu.run(10));
    assert_eq!((e.vector, eip), (vector::PF, CODE));
    assert_eq!(cpu.gpr[gpr::ECX], 24, "16 iterations completed");
    assert_eq!(cpu.gpr[gpr::EDI], DATA + 0x1000);
    // Make the page writable and resume: the instruction finishes the remaining 24.
    cpu.mem.protect(DATA as u64 + 0x1000, 0x1000, Prot::RW).unwrap();
    assert_eq!(cpu.run(10), Exit::Hlt);
    assert_eq!((cpu.gpr[gpr::ECX], cpu.insns()), (0, 1));
}

#[test]
fn int80_stops_after_other_ints_fault() {
    let mut cpu = cpu_with(|a| {
        a.int(0x80)?;
        a.int(0x21)?;
        a.hlt()
    });
    assert_eq!(cpu.run(10), Exit::Interrupt(0x80));
    assert_eq!(cpu.eip, CODE + 2);
    let (e, eip) = exc(cpu.run(10));
    assert_eq!((e.vector, e.error_code, eip), (vector::GP, Some(0x21 << 3 | 2), CODE + 2));
}

#[test]
fn far_jump_to_gate_selector_stops_before() {
    let mut cpu = cpu_with(|a| a.db(&[0xea, 0x78, 0x56, 0x34, 0x12, 0x33, 0x00]));
    assert_eq!(cpu.run(10), Exit::FarTransfer { selector: 0x33, offset: 0x1234_5678, call: false });
    assert_eq!((cpu.eip, cpu.insns()), (CODE, 0));
}

#[test]
fn undecodable_and_unimplemented_are_ud() {
    let mut cpu = cpu_with(|a| a.db(&[0x0f, 0x0b]));
    let (e, _) = exc(cpu.run(1));
    assert_eq!((e.vector, e.detail), (vector::UD, Detail::Invalid));
    let mut cpu = cpu_with(|a| a.db(&[0xf0, 0x01, 0xc0])); // lock add eax, eax
    let (e, _) = exc(cpu.run(1));
    assert_eq!(e.vector, vector::UD);
}

#[test]
fn instruction_crossing_into_unmapped_page_faults_on_fetch() {
    let mut cpu = cpu_with(|a| a.nop());
    cpu.mem.poke(CODE as u64 + 0xffe, &[0xb8, 0x01]).unwrap(); // mov eax, imm32 (3 bytes missing)
    cpu.eip = CODE + 0xffe;
    let (e, eip) = exc(cpu.run(1));
    assert_eq!(eip, CODE + 0xffe);
    assert_eq!(
        e.detail,
        Detail::Page { addr: CODE + 0x1000, access: Access::Execute, kind: FaultKind::Unmapped }
    );
    assert_eq!(e.error_code, Some(0b10100));
}

#[test]
fn too_long_instruction_is_gp() {
    let mut cpu = cpu_with(|a| a.db(&[0x66; 15]));
    cpu.mem.poke(CODE as u64 + 15, &[0x90]).unwrap();
    let (e, _) = exc(cpu.run(1));
    assert_eq!((e.vector, e.error_code), (vector::GP, Some(0)));
}

#[test]
fn trap_flag_single_steps() {
    let mut cpu = cpu_with(|a| {
        a.inc(eax)?;
        a.inc(eax)?;
        a.hlt()
    });
    cpu.set_eflags(0x302);
    let (e, eip) = exc(cpu.run(10));
    assert_eq!((e.vector, eip, cpu.gpr[0], cpu.insns()), (vector::DB, CODE + 1, 1, 1));
}

#[test]
fn breakpoints_stop_before_and_resume() {
    let mut cpu = cpu_with(|a| {
        a.inc(eax)?;
        a.inc(eax)?;
        a.hlt()
    });
    cpu.add_breakpoint(CODE + 1);
    assert_eq!(cpu.run(10), Exit::Breakpoint(CODE + 1));
    assert_eq!(cpu.gpr[0], 1);
    assert_eq!(cpu.run(10), Exit::Hlt);
    assert_eq!(cpu.gpr[0], 2);
}

#[test]
fn hooks_see_every_instruction_and_can_be_added_mid_run() {
    use std::cell::RefCell;
    use std::rc::Rc;
    let mut cpu = cpu_with(|a| {
        a.mov(ecx, 10u32)?;
        let mut l = a.create_label();
        a.set_label(&mut l)?;
        a.dec(ecx)?;
        a.jnz(l)?;
        a.hlt()
    });
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s2 = seen.clone();
    let late = Rc::new(RefCell::new(0u32));
    let late2 = late.clone();
    cpu.add_code_hook(
        0..=u32::MAX,
        Box::new(move |cpu, eip| {
            s2.borrow_mut().push(eip);
            if s2.borrow().len() == 5 {
                let l3 = late2.clone();
                cpu.add_code_hook(
                    0..=u32::MAX,
                    Box::new(move |_, _| {
                        *l3.borrow_mut() += 1;
                        HookAction::Continue
                    }),
                );
            }
            HookAction::Continue
        }),
    );
    assert_eq!(cpu.run(100), Exit::Hlt);
    assert_eq!(seen.borrow().len() as u64, cpu.insns() + 1, "the HLT is seen too");
    assert!(*late.borrow() > 0, "a hook added mid-run runs");
}

#[test]
fn write_hooks_report_and_can_stop() {
    let mut cpu = cpu_with(|a| {
        a.mov(dword_ptr(DATA + 8), eax)?;
        a.mov(dword_ptr(DATA + 0x100), eax)?;
        a.hlt()
    });
    cpu.add_mem_hook(DATA + 0x100..=DATA + 0x103, false, true, Box::new(|_, _, _| HookAction::Stop));
    assert_eq!(cpu.run(10), Exit::HookStop);
    assert_eq!(cpu.insns(), 2);
}

#[test]
fn alignment_check_needs_ac() {
    let mut cpu = cpu_with(|a| {
        a.mov(eax, dword_ptr(DATA + 1))?;
        a.hlt()
    });
    assert_eq!(cpu.run(10), Exit::Hlt);
    cpu.eip = CODE;
    cpu.set_eflags(0x4_0202);
    let (e, _) = exc(cpu.run(10));
    assert_eq!((e.vector, e.error_code), (vector::AC, Some(0)));
}

#[test]
fn rdtsc_is_deterministic() {
    let mut cpu = cpu_with(|a| {
        a.nop()?;
        a.rdtsc()?;
        a.hlt()
    });
    cpu.config.tsc_start = 1000;
    cpu.config.tsc_per_insn = 3;
    cpu.run(10);
    assert_eq!((cpu.gpr[0], cpu.gpr[2]), (1003, 0));
}

#[test]
fn self_modifying_code_in_the_same_block_takes_effect() {
    // mov byte [next+1], 42 ; next: mov al, 1 ; hlt  — the store patches the immediate
    // of the very next instruction, which sits in the same cached block.
    let mut cpu = cpu_with(|a| {
        // mov byte [CODE+8], 42 is 7 bytes; the mov al, 1 after it has its immediate at +8.
        a.mov(byte_ptr(CODE + 8), 42u32)?;
        a.mov(al, 1u32)?;
        a.hlt()
    });
    cpu.mem.protect(CODE as u64, 0x1000, Prot::RWX).unwrap();
    assert_eq!(cpu.run(10), Exit::Hlt);
    assert_eq!(cpu.gpr[0] & 0xff, 42);
    // Run it again from the start: the patched bytes stay patched.
    cpu.eip = CODE;
    assert_eq!(cpu.run(10), Exit::Hlt);
    assert_eq!(cpu.gpr[0] & 0xff, 42);
}

#[test]
fn code_written_by_a_loader_after_running_is_redecoded() {
    let mut cpu = cpu_with(|a| {
        a.mov(eax, 1u32)?;
        a.hlt()
    });
    assert_eq!(cpu.run(10), Exit::Hlt);
    assert_eq!(cpu.gpr[0], 1);
    cpu.mem.poke(CODE as u64 + 1, &7u32.to_le_bytes()).unwrap();
    cpu.eip = CODE;
    assert_eq!(cpu.run(10), Exit::Hlt);
    assert_eq!(cpu.gpr[0], 7);
}

#[test]
fn removing_execute_permission_invalidates_cached_code() {
    let mut cpu = cpu_with(|a| {
        a.nop()?;
        a.hlt()
    });
    assert_eq!(cpu.run(10), Exit::Hlt);
    cpu.mem.protect(CODE as u64, 0x1000, Prot::R).unwrap();
    cpu.eip = CODE;
    let (e, _) = exc(cpu.run(10));
    assert_eq!((e.vector, e.error_code), (vector::PF, Some(0b10101)));
}

#[test]
fn block_cache_and_plain_path_agree_on_random_programs() {
    use crate::flags::bits;
    // Random bytes as code (the plain path is the reference): same exits, same state.
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..300 {
        let mut code = vec![0u8; 0x1000];
        for b in code.iter_mut() {
            *b = next() as u8;
        }
        let flags = 0x202 | (next() as u32 & bits::ARITH);
        let mut runs = Vec::new();
        for cached in [true, false] {
            let mut cpu = Cpu::new();
            cpu.set_block_cache(cached);
            cpu.mem.map(CODE as u64, 0x1000, Prot::RWX).unwrap();
            cpu.mem.poke(CODE as u64, &code).unwrap();
            cpu.mem.map(STACK as u64, 0x1000, Prot::RW).unwrap();
            cpu.eip = CODE + (code[0] as u32 & 0x3f);
            cpu.gpr = [
                CODE,
                7,
                0x8000_0000,
                CODE + 0x800,
                STACK + 0x800,
                STACK + 0x400,
                CODE + 0x100,
                CODE + 0x200,
            ];
            cpu.set_eflags(flags);
            let exit = cpu.run(500);
            let mut mem = vec![0u8; 0x1000];
            cpu.mem.peek(CODE as u64, &mut mem).unwrap();
            runs.push((exit, cpu.registers(), cpu.insns(), mem));
        }
        assert_eq!(runs[0], runs[1]);
    }
}

#[test]
fn snapshot_and_restore_replay_exactly() {
    let mut cpu = cpu_with(|a| {
        let mut l = a.create_label();
        a.mov(ecx, 50u32)?;
        a.set_label(&mut l)?;
        a.add(dword_ptr(DATA), ecx)?;
        a.rol(eax, 3)?;
        a.xor(eax, ecx)?;
        a.dec(ecx)?;
        a.jnz(l)?;
        a.hlt()
    });
    cpu.run(37);
    let snap = cpu.snapshot();
    let at = (cpu.registers(), cpu.insns(), cpu.mem.read_u32(DATA as u64).unwrap());
    assert_eq!(cpu.run(1000), Exit::Hlt);
    let end = (cpu.registers(), cpu.insns(), cpu.mem.read_u32(DATA as u64).unwrap());
    cpu.restore(&snap);
    assert_eq!((cpu.registers(), cpu.insns(), cpu.mem.read_u32(DATA as u64).unwrap()), at);
    assert_eq!(cpu.run(1000), Exit::Hlt);
    assert_eq!((cpu.registers(), cpu.insns(), cpu.mem.read_u32(DATA as u64).unwrap()), end);
}

/// A block goes on through a direct JMP/CALL within its page; what it followed must
/// behave as if each instruction ran on its own.
#[test]
fn followed_jumps_keep_eip_hooks_and_self_modifying_code_exact() {
    let build = |a: &mut CodeAssembler| {
        let mut target = a.create_label();
        let mut func = a.create_label();
        a.jmp(target)?; // 0: followed
        a.hlt()?; // skipped
        a.set_label(&mut target)?;
        a.call(func)?; // followed
        a.add(eax, 1u32)?; // runs after the RET
        a.hlt()?;
        a.set_label(&mut func)?;
        a.mov(eax, 10u32)?;
        a.ret()
    };
    let mut cpu = cpu_with(build);
    assert_eq!(cpu.run(100), Exit::Hlt);
    assert_eq!((cpu.gpr[0], cpu.insns()), (11, 5));
    let hlt_at = cpu.eip;

    // Single-stepping reports each instruction of the followed chain in turn (#DB after
    // each, so the EIPs are where each one went).
    let mut probe = cpu_with(build);
    probe.set_eflags(0x302);
    let eips: Vec<u32> = (0..5)
        .map(|_| exc(probe.run(100)))
        .map(|(e, eip)| {
            assert_eq!(e.vector, vector::DB);
            eip
        })
        .collect();
    let func_at = eips[1];
    assert_eq!(eips, [CODE + 3, func_at, func_at + 5, CODE + 8, CODE + 13]);

    // The target of a followed CALL patched by a loader: re-decoded.
    let mut cpu2 = cpu_with(build);
    assert_eq!(cpu2.run(100), Exit::Hlt);
    cpu2.mem.poke(func_at as u64 + 1, &20u32.to_le_bytes()).unwrap();
    cpu2.eip = CODE;
    assert_eq!(cpu2.run(100), Exit::Hlt);
    assert_eq!(cpu2.gpr[0], 21, "the patched MOV inside the followed CALL's target ran");

    // A breakpoint on the followed CALL's target stops there, with the return address pushed.
    let mut cpu3 = cpu_with(build);
    cpu3.add_breakpoint(func_at);
    assert_eq!(cpu3.run(100), Exit::Breakpoint(func_at));
    assert_eq!(cpu3.insns(), 2);
    assert_eq!(cpu3.gpr[gpr::ESP], STACK + 0x800 - 4);
    assert_eq!(cpu3.run(100), Exit::Hlt);
    assert_eq!((cpu3.eip, cpu3.gpr[0]), (hlt_at, 11));

    // A followed CALL whose push faults: precise, EIP at the CALL, nothing retired after.
    let mut cpu4 = cpu_with(build);
    cpu4.gpr[gpr::ESP] = DATA + 0x1000 + 0x800; // the read-only page
    let (e, eip) = exc(cpu4.run(100));
    assert_eq!((e.vector, eip, cpu4.insns()), (vector::PF, CODE + 3, 1));
    assert_eq!(cpu4.gpr[gpr::ESP], DATA + 0x1800);
}

/// Where [`many_blocks`] puts its function (`add edx, imm8; add edx, ecx; ret`).
const FUNC: u32 = CODE + 0xc0;

/// A program of many blocks for the run-loop tests: a counted loop through a followed
/// CALL, an indirect JMP, RDTSC (which reads the retired count), a store into a later
/// block's code and a POPF that sets TF (so what follows single-steps). One
/// iteration patches the immediate of the called function's first instruction, which
/// the calling block has already decoded (it follows the CALL).
fn many_blocks(cached: bool) -> Cpu {
    const PATCH: u32 = CODE + 0x80;
    let mut a = CodeAssembler::new(32).unwrap();
    let mut top = a.create_label();
    let mut after = a.create_label();
    a.mov(ecx, 12u32).unwrap();
    a.set_label(&mut top).unwrap();
    a.rdtsc().unwrap();
    a.add(ebx, eax).unwrap();
    a.mov(dword_ptr(DATA), ecx).unwrap();
    // Once (ECX = 5) the store goes to the function's immediate, from a block cached and
    // found valid in the iterations before: it runs back to back with the others.
    a.mov(edi, DATA + 0x10).unwrap();
    a.mov(esi, FUNC + 2).unwrap();
    a.cmp(ecx, 5).unwrap();
    a.cmove(edi, esi).unwrap();
    a.mov(byte_ptr(edi), cl).unwrap();
    a.call(FUNC as u64).unwrap();
    a.jmp(dword_ptr(DATA + 8)).unwrap();
    a.set_label(&mut after).unwrap();
    a.dec(ecx).unwrap();
    a.jnz(top).unwrap();
    a.mov(byte_ptr(PATCH + 1), 5u32).unwrap();
    a.jmp(PATCH as u64).unwrap();
    let r = a.assemble_options(CODE as u64, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS).unwrap();
    let after_at = r.label_ip(&after).unwrap() as u32;
    let code = r.inner.code_buffer;
    assert!(code.len() <= 0x80);
    // Twice through a POPF: the second time (its blocks cached by then) it sets TF.
    let mut b = CodeAssembler::new(32).unwrap();
    let mut again = b.create_label();
    b.mov(eax, 1u32).unwrap();
    b.mov(esi, 0x202u32).unwrap();
    b.mov(ebp, 2u32).unwrap();
    b.set_label(&mut again).unwrap();
    b.push(esi).unwrap();
    b.popfd().unwrap();
    b.nop().unwrap();
    b.mov(esi, 0x302u32).unwrap();
    b.dec(ebp).unwrap();
    b.jnz(again).unwrap();
    b.hlt().unwrap();
    let tail = b.assemble(PATCH as u64).unwrap();
    assert!(tail.len() <= 0x40);
    let func = [0x83, 0xc2, 0x00, 0x01, 0xca, 0xc3]; // add edx, 0; add edx, ecx; ret

    let mut cpu = cpu_with(|_| Ok(()));
    cpu.mem.poke(CODE as u64, &code).unwrap();
    cpu.mem.poke(PATCH as u64, &tail).unwrap();
    cpu.mem.poke(FUNC as u64, &func).unwrap();
    cpu.mem.write_u32(DATA as u64 + 8, after_at).unwrap();
    cpu.set_block_cache(cached);
    cpu.mem.protect(CODE as u64, 0x1000, Prot::RWX).unwrap();
    cpu.config.tsc_per_insn = 1;
    cpu
}

type RunState = (Exit, Registers, u64, u32, u32);

fn run_state(cpu: &mut Cpu, budget: u64) -> RunState {
    let exit = cpu.run(budget);
    (
        exit,
        cpu.registers(),
        cpu.insns(),
        cpu.mem.read_u32(DATA as u64).unwrap(),
        cpu.mem.read_u32(CODE as u64 + 0x80).unwrap(),
    )
}

/// The cached path runs many blocks back to back between checks; every budget must
/// still stop exactly where the plain path stops, with the same state.
#[test]
fn blocks_run_back_to_back_stop_exactly_at_every_budget() {
    let mut reference = many_blocks(false);
    let mut trace = Vec::new();
    loop {
        let s = run_state(&mut reference, 1);
        trace.push(s);
        if s.0 != Exit::BudgetExhausted {
            break;
        }
    }
    let total = trace.len() as u64;
    assert!(total > 100, "{total}");
    // The patch (CL = 5) reached the ADD EDX, imm8 (RDTSC leaves EDX = 0; ECX = 1).
    assert_eq!(reference.gpr[gpr::EDX], 6);
    let mut cached = many_blocks(true);
    assert_eq!(run_state(&mut cached, u64::MAX), *trace.last().unwrap());
    for budget in 1..=total + 2 {
        let mut plain = many_blocks(false);
        let mut cached = many_blocks(true);
        let p = run_state(&mut plain, budget);
        let c = run_state(&mut cached, budget);
        assert_eq!(c, p, "budget {budget}");
        // And the rest, run on from there, ends the same way.
        assert_eq!(
            run_state(&mut cached, u64::MAX),
            run_state(&mut plain, u64::MAX),
            "after budget {budget}"
        );
    }
    // Run in slices, the cached path retraces the plain path step for step.
    let mut cached = many_blocks(true);
    let mut slices = Vec::new();
    loop {
        let s = run_state(&mut cached, 7);
        slices.push(s);
        if s.0 != Exit::BudgetExhausted {
            break;
        }
    }
    let last = *slices.last().unwrap();
    let mut plain = many_blocks(false);
    let mut end = None;
    for _ in 0..slices.len() {
        end = Some(run_state(&mut plain, 7));
    }
    assert_eq!(end.unwrap(), last);
}

/// Breakpoints and code hooks added after blocks have been cached and run back to back
/// still stop or see exactly the instructions the plain path does.
#[test]
fn breakpoints_and_hooks_added_after_caching_take_effect() {
    for cached in [true, false] {
        let mut cpu = many_blocks(cached);
        // Stop a few instructions before the third CALL of FUNC.
        assert_eq!(cpu.run(37), Exit::BudgetExhausted);
        let func_at = FUNC;
        cpu.add_breakpoint(func_at);
        let at = cpu.insns();
        assert_eq!(cpu.run(u64::MAX), Exit::Breakpoint(func_at));
        assert!(cpu.insns() > at && cpu.insns() - at <= 16, "within one iteration of the loop");
        let stopped = cpu.insns();
        cpu.remove_breakpoint(func_at);
        let seen = std::rc::Rc::new(std::cell::Cell::new(0u64));
        let s = seen.clone();
        cpu.add_code_hook(
            0..=u32::MAX,
            Box::new(move |_, _| {
                s.set(s.get() + 1);
                HookAction::Continue
            }),
        );
        assert_eq!(cpu.run(30), Exit::BudgetExhausted);
        // The instruction resumed at the breakpoint is not reported to hooks again.
        assert_eq!((seen.get(), cpu.insns()), (29, stopped + 30));
        let mut reference = many_blocks(false);
        reference.run(stopped + 30);
        assert_eq!(cpu.registers(), reference.registers(), "cached: {cached}");
    }
}

/// Shifts and rotates of a register by a constant (fast handlers on the cached path)
/// give the results and flags of the plain path, for every count the encoding allows
/// and carry in either state.
#[test]
fn constant_shifts_agree_with_the_plain_path() {
    type Emit = fn(&mut CodeAssembler, u32) -> Result<(), IcedError>;
    let forms: [Emit; 16] = [
        |a, n| a.rol(edx, n),
        |a, n| a.ror(edx, n),
        |a, n| a.rcl(edx, n),
        |a, n| a.rcr(edx, n),
        |a, n| a.shl(edx, n),
        |a, n| a.sal(edx, n),
        |a, n| a.shr(edx, n),
        |a, n| a.sar(edx, n),
        |a, _| a.rol(esi, 1),
        |a, _| a.ror(esi, 1),
        |a, _| a.rcl(esi, 1),
        |a, _| a.rcr(esi, 1),
        |a, _| a.shl(esi, 1),
        |a, _| a.sal(esi, 1),
        |a, _| a.shr(esi, 1),
        |a, _| a.sar(esi, 1),
    ];
    for (i, form) in forms.iter().enumerate() {
        for count in [0u32, 1, 2, 7, 16, 31, 32, 33, 63, 255] {
            for (value, flags) in
                [(0x8000_0001u32, 0x203u32), (0x1234_5678, 0x202), (0xffff_ffff, 0xa03), (0, 0x2d7)]
            {
                let mut runs = Vec::new();
                for cached in [true, false] {
                    let mut cpu = cpu_running(|a| form(a, count), cached);
                    cpu.gpr[gpr::EDX] = value;
                    cpu.gpr[gpr::ESI] = value;
                    cpu.set_eflags(flags);
                    let exit = cpu.run(10);
                    runs.push((exit, cpu.registers(), cpu.insns()));
                }
                assert_eq!(runs[0], runs[1], "form {i} count {count} value {value:#x}");
            }
        }
    }
}

/// The run loop takes the block cache out of the CPU while blocks run from it; the
/// placeholder left behind (what a CPU would keep if a handler panicked meanwhile) must
/// still work as an empty cache.
#[test]
fn placeholder_block_cache_works_as_an_empty_one() {
    let mut cpu = cpu_with(|a| {
        a.mov(eax, 5u32)?;
        a.hlt()
    });
    cpu.cache = BlockCache::default();
    cpu.cache.enabled = true;
    assert_eq!(cpu.run(10), Exit::Hlt);
    assert_eq!((cpu.gpr[0], cpu.insns()), (5, 1));
    cpu.eip = CODE;
    assert_eq!(cpu.run(10), Exit::Hlt);
    assert_eq!((cpu.gpr[0], cpu.insns()), (5, 2));
}

/// A block that ends by branching back to its own start runs again without a lookup;
/// it must still stop at every budget exactly where the plain path does, and see the
/// store one of its iterations makes into one of its own later instructions.
#[test]
fn self_looping_block_stops_exactly_and_sees_its_own_patch() {
    let build = |cached: bool| {
        let mut cpu = cpu_with(|a| {
            let mut top = a.create_label();
            a.mov(ecx, 30u32)?;
            a.set_label(&mut top)?;
            a.mov(edi, DATA)?;
            a.mov(esi, CODE + 26)?;
            a.cmp(ecx, 10)?;
            a.cmove(edi, esi)?;
            a.mov(byte_ptr(edi), 7u32)?;
            a.db(&[0x83, 0xc0, 0x03])?; // add eax, 3 at CODE + 24 (its immediate at + 26)
            a.dec(ecx)?;
            a.jnz(top)?;
            a.hlt()
        });
        cpu.mem.protect(CODE as u64, 0x1000, Prot::RWX).unwrap();
        cpu.set_block_cache(cached);
        let mut add = [0u8; 3];
        cpu.mem.peek(CODE as u64 + 24, &mut add).unwrap();
        assert_eq!(add, [0x83, 0xc0, 0x03]);
        cpu
    };
    let state = |cpu: &mut Cpu, budget: u64| (cpu.run(budget), cpu.registers(), cpu.insns());
    let mut reference = build(false);
    let end = state(&mut reference, u64::MAX);
    assert_eq!(end.0, Exit::Hlt);
    // ECX = 30..=11 add 3; from ECX = 10 on (the patch comes before the ADD) add 7.
    assert_eq!(reference.gpr[0], 20 * 3 + 10 * 7);
    for budget in 1..=end.2 + 1 {
        let mut plain = build(false);
        let mut cached = build(true);
        assert_eq!(state(&mut cached, budget), state(&mut plain, budget), "budget {budget}");
        assert_eq!(state(&mut cached, u64::MAX), end, "after budget {budget}");
    }
    // The loop body was indeed cached as a block that loops to itself.
    let mut cached = build(true);
    cached.run(u64::MAX);
    let i = cached.cache.get(CODE + 5).expect("the loop body is cached");
    assert!(cached.cache.block(i).looping);
}

/// The memory forms of the fast handlers take the translation cache when they can and
/// otherwise run the generic handler. Whatever makes them fall back (a cold
/// translation, a fault, a read-only page, an access crossing a page or the 4 GiB
/// boundary, a segment with a base, a null segment, a CS-override write, alignment
/// checking, a memory hook), the result must be the plain path's, with nothing half
/// done; and with the translation warm, the same.
#[test]
fn memory_fast_forms_fall_back_to_the_generic_handlers_exactly() {
    type Emit = fn(&mut CodeAssembler) -> Result<(), IcedError>;
    let forms: &[(&str, Emit)] = &[
        ("add m,r", |a| a.add(dword_ptr(ebx), ecx)),
        ("adc m,r", |a| a.adc(dword_ptr(ebx), ecx)),
        ("sub m,i", |a| a.sub(dword_ptr(ebx), 0x7f)),
        ("sbb m,i", |a| a.sbb(dword_ptr(ebx), 0x1234_5678)),
        ("cmp m,r", |a| a.cmp(dword_ptr(ebx), ecx)),
        ("test m,i", |a| a.test(dword_ptr(ebx), 0x4000_0040)),
        ("lock xor m,r", |a| a.lock().xor(dword_ptr(ebx), ecx)),
        ("add m8,r8", |a| a.add(byte_ptr(ebx), ch)),
        ("cmp m8,r8", |a| a.cmp(byte_ptr(ebx), cl)),
        ("and m8,i", |a| a.and(byte_ptr(ebx), 0x3c)),
        ("cmp m8,i", |a| a.cmp(byte_ptr(ebx), 0x40)),
        ("mov m8,r8", |a| a.mov(byte_ptr(ebx), ah)),
        ("mov m8,i", |a| a.mov(byte_ptr(ebx), 0x5a)),
        ("mov r8,m8", |a| a.mov(dh, byte_ptr(ebx))),
        ("imul r,m", |a| a.imul_2(ecx, dword_ptr(ebx))),
        ("imul r,m,i", |a| a.imul_3(ecx, dword_ptr(ebx), 0x7fff_ffff)),
        ("mov r,m", |a| a.mov(eax, dword_ptr(ebx))),
        ("mov m,r", |a| a.mov(dword_ptr(ebx), ecx)),
        ("mov m,i", |a| a.mov(dword_ptr(ebx), 0x1234_5678)),
        ("movzx r,m8", |a| a.movzx(eax, byte_ptr(ebx))),
        ("add r,m", |a| a.add(eax, dword_ptr(ebx))),
        ("mov r,fs:m", |a| a.mov(eax, dword_ptr(ebx).fs())),
        ("mov es:m,r", |a| a.mov(dword_ptr(ebx).es(), ecx)),
        ("mov cs:m,r", |a| a.mov(dword_ptr(ebx).cs(), ecx)),
        ("push r", |a| a.push(ecx)),
        ("push esp", |a| a.push(esp)),
        ("push i", |a| a.push(0x55aa_u32)),
        ("pop r", |a| a.pop(eax)),
        ("pop esp", |a| a.pop(esp)),
        ("call m", |a| a.call(dword_ptr(ebx))),
        ("call r", |a| a.call(ecx)),
        ("jmp m", |a| a.jmp(dword_ptr(ebx))),
        ("ret", |a| a.ret()),
    ];
    // A landing page of HLTs: every dword read from the data pages (filled with 0x40)
    // is 0x4040_4040, a valid target.
    const LAND: u32 = 0x4040_4000;
    let addrs = [
        DATA + 0x100,  // read-write
        DATA + 0x1100, // read-only
        DATA + 0xffe,  // crosses from read-write into read-only
        DATA + 0x1ffe, // crosses into unmapped
        0x10,          // unmapped
        0xffff_fffe,   // wraps at 4 GiB
        STACK + 0x801, // misaligned (faults only with AC)
    ];
    #[derive(Clone, Copy, Debug)]
    enum Extra {
        None,
        FsBase,
        NullEs,
        Ac,
        Hook,
    }
    for &(name, form) in forms {
        for addr in addrs {
            for extra in [Extra::None, Extra::FsBase, Extra::NullEs, Extra::Ac, Extra::Hook] {
                for warm in [false, true] {
                    let mut runs = Vec::new();
                    for cached in [true, false] {
                        let mut cpu = cpu_running(form, cached);
                        cpu.mem.map(LAND as u64, 0x1000, Prot::RX).unwrap();
                        cpu.mem.poke(LAND as u64, &[0xf4; 0x1000]).unwrap();
                        cpu.mem.poke(DATA as u64, &[0x40; 0x1000]).unwrap();
                        cpu.mem.poke(STACK as u64, &[0x40; 0x1000]).unwrap();
                        cpu.gpr[gpr::EBX] = addr;
                        cpu.gpr[gpr::ECX] = LAND + 0x10;
                        cpu.gpr[gpr::ESP] = if name.starts_with("push") || name.starts_with("call") {
                            addr.wrapping_add(4)
                        } else if name.starts_with("pop") || name == "ret" {
                            addr
                        } else {
                            STACK + 0x800
                        };
                        let hooked = std::rc::Rc::new(std::cell::Cell::new(0u32));
                        match extra {
                            Extra::None => {}
                            Extra::FsBase => cpu.set_fs_base(0x100),
                            Extra::NullEs => cpu.load_segment(sreg::ES, 0).unwrap(),
                            Extra::Ac => {
                                cpu.config.alignment_mask = true;
                                cpu.set_eflags(0x4_0202);
                            }
                            Extra::Hook => {
                                let h = hooked.clone();
                                cpu.add_mem_hook(
                                    0..=u32::MAX,
                                    true,
                                    true,
                                    Box::new(move |a, _, _| {
                                        h.set(h.get().wrapping_add(a) | 1);
                                        HookAction::Continue
                                    }),
                                );
                            }
                        }
                        if warm {
                            // Fill the translation cache for every page the access may touch.
                            for a in [addr.wrapping_sub(4), addr, addr.wrapping_add(4)] {
                                let _ = cpu.mem.read_u32(a as u64 & !3);
                            }
                            for a in [DATA, DATA + 0x1000, STACK, STACK + 0x800] {
                                let v = cpu.mem.read_u32(a as u64).unwrap();
                                let _ = cpu.mem.write_u32(a as u64, v);
                            }
                        }
                        let exit = cpu.run(5);
                        let mut data = vec![0; 0x2000];
                        cpu.mem.peek(DATA as u64, &mut data).unwrap();
                        let mut stack = vec![0; 0x1000];
                        cpu.mem.peek(STACK as u64, &mut stack).unwrap();
                        runs.push((exit, cpu.registers(), cpu.insns(), data, stack, hooked.get()));
                    }
                    assert!(
                        runs[0] == runs[1],
                        "{name} at {addr:#x} with {extra:?}, warm {warm}: cached {:?} vs plain {:?}",
                        (&runs[0].0, &runs[0].1, runs[0].2, runs[0].5),
                        (&runs[1].0, &runs[1].1, runs[1].2, runs[1].5)
                    );
                }
            }
        }
    }
}

/// A loop closed by a JMP back to its top is one looping block: the JMP is not
/// followed into code the block already holds (following it unrolled the loop up to
/// the block length limit and made one block per instruction of the loop, each decoded
/// in turn). The same for a JMP back into the middle of the block. Results match the
/// plain path at every budget.
#[test]
fn jmp_back_into_the_block_is_not_followed() {
    let build = |cached: bool, to_mid: bool| {
        let mut cpu = cpu_with(|a| {
            let mut top = a.create_label();
            let mut mid = a.create_label();
            a.set_label(&mut top)?;
            for _ in 0..5 {
                a.add(eax, ebx)?;
                a.xor(ecx, eax)?;
            }
            a.set_label(&mut mid)?;
            for _ in 0..5 {
                a.rol(ebx, 3)?;
                a.inc(edx)?;
            }
            if to_mid {
                a.jmp(mid)
            } else {
                a.jmp(top)
            }
        });
        cpu.set_block_cache(cached);
        cpu.gpr[gpr::EBX] = 0x1357_9bdf;
        cpu
    };
    for to_mid in [false, true] {
        let mut cpu = build(true, to_mid);
        assert_eq!(cpu.run(10_000), Exit::BudgetExhausted);
        // The loop from the top; for the JMP to mid, also the loop from mid.
        assert!(cpu.cache.len() <= 2, "to mid {to_mid}: {} blocks", cpu.cache.len());
        for budget in [1, 20, 21, 22, 23, 31, 32, 33, 100, 1000, 10_000] {
            let (mut a, mut b) = (build(true, to_mid), build(false, to_mid));
            assert_eq!(run_state(&mut a, budget), run_state(&mut b, budget), "budget {budget}");
        }
    }
}

/// IMUL r32, r/m32 (two and three operands) and shifts and rotates of a register by
/// CL (fast handlers on the cached path) give the plain path's results and flags for
/// edge values, every CL the masking distinguishes, and carry in either state.
#[test]
fn imul_and_cl_shifts_agree_with_the_plain_path() {
    type Emit = fn(&mut CodeAssembler) -> Result<(), IcedError>;
    let forms: &[Emit] = &[
        |a| a.imul_2(edx, esi),
        |a| a.imul_2(edx, edx),
        |a| a.imul_3(edx, esi, 3),
        |a| a.imul_3(edx, esi, -1),
        |a| a.imul_3(edx, esi, 0x7fff_ffff),
        |a| a.rol(edx, cl),
        |a| a.ror(edx, cl),
        |a| a.rcl(edx, cl),
        |a| a.rcr(edx, cl),
        |a| a.shl(edx, cl),
        |a| a.sal(edx, cl),
        |a| a.shr(edx, cl),
        |a| a.sar(edx, cl),
        |a| a.shl(ecx, cl),
    ];
    let values = [0u32, 1, 2, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x1234_5678, 0x0001_0000, 0xffff_0000];
    for (i, form) in forms.iter().enumerate() {
        for &v in &values {
            for &w in &values {
                for count in [0u32, 1, 5, 31, 32, 33, 0x1ff] {
                    for flags in [0x202u32, 0x2d7 | 0x800] {
                        let mut runs = Vec::new();
                        for cached in [true, false] {
                            let mut cpu = cpu_running(form, cached);
                            cpu.gpr[gpr::EDX] = v;
                            cpu.gpr[gpr::ESI] = w;
                            cpu.gpr[gpr::ECX] = count;
                            cpu.set_eflags(flags);
                            let exit = cpu.run(10);
                            runs.push((exit, cpu.registers(), cpu.insns()));
                        }
                        assert_eq!(runs[0], runs[1], "form {i} {v:#x} {w:#x} cl {count:#x} flags {flags:#x}");
                    }
                }
            }
        }
    }
}

/// A JMP to itself after other instructions is not followed either (it would fill
/// the block with copies of itself): it becomes a one-op looping block.
#[test]
fn jmp_to_itself_mid_block_is_one_looping_block() {
    let build = |cached: bool| {
        cpu_running(
            |a| {
                let mut here = a.create_label();
                a.add(eax, 1)?;
                a.set_label(&mut here)?;
                a.jmp(here)
            },
            cached,
        )
    };
    let mut cpu = build(true);
    assert_eq!(cpu.run(1000), Exit::BudgetExhausted);
    assert!(cpu.cache.len() <= 2, "{} blocks", cpu.cache.len());
    assert!(cpu.cache.block(cpu.cache.len() - 1).ops.len() == 1, "the JMP alone");
    for budget in [1, 2, 3, 33, 1000] {
        let (mut a, mut b) = (build(true), build(false));
        assert_eq!(run_state(&mut a, budget), run_state(&mut b, budget), "budget {budget}");
    }
}
