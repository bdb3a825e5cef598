//! Recording a trace of x86wow's run.

use std::cell::RefCell;
use std::rc::Rc;

use x86wow_cpu::state::{ExitInfo, MachineState, StateError};
use x86wow_cpu::{Cpu, HookAction};

use super::regs::RegFile;
use super::{coalesce, Step, Stop, Trace};

/// Runs `state` in x86wow (plain path, one instruction at a time) for at most
/// `max_insns` instructions and records the trace. Memory writes are captured with a
/// memory hook on the whole address space and read back after each instruction.
pub fn record(state: &MachineState, max_insns: u64) -> Result<Trace, StateError> {
    let mut cpu = Cpu::new();
    cpu.set_block_cache(false);
    state.load_into(&mut cpu)?;
    let writes: Rc<RefCell<Vec<(u32, u32)>>> = Rc::default();
    let sink = writes.clone();
    cpu.add_mem_hook(
        0..=u32::MAX,
        false,
        true,
        Box::new(move |addr, size, _| {
            sink.borrow_mut().push((addr, size));
            HookAction::Continue
        }),
    );
    let mut steps = Vec::new();
    let mut regs = RegFile::of_cpu(&cpu);
    // Bytes written so far (the memory before a step is this over the initial state).
    let mut shadow: std::collections::HashMap<u32, u8> = std::collections::HashMap::new();
    loop {
        if cpu.insns() >= max_insns {
            let exit = ExitInfo::new(&cpu, x86wow_cpu::Exit::BudgetExhausted);
            let stop = Stop { eip: cpu.eip, exit, regs: Vec::new(), writes: Vec::new() };
            return Ok(Trace { initial: state.clone(), steps, stop });
        }
        let eip = cpu.eip;
        let bytes = instruction_bytes(&cpu, eip);
        let before = cpu.insns();
        writes.borrow_mut().clear();
        let exit = cpu.run(1);
        let now = RegFile::of_cpu(&cpu);
        let delta = now.delta(&regs);
        let written = coalesce(&read_back(&cpu, &writes.borrow()));
        regs = now;
        if cpu.insns() > before {
            for (addr, data) in &written {
                for (i, b) in data.iter().enumerate() {
                    shadow.insert(addr.wrapping_add(i as u32), *b);
                }
            }
            steps.push(Step { eip, bytes, regs: delta, writes: written });
            if exit == x86wow_cpu::Exit::BudgetExhausted {
                continue;
            }
            let stop =
                Stop { eip: cpu.eip, exit: ExitInfo::new(&cpu, exit), regs: Vec::new(), writes: Vec::new() };
            return Ok(Trace { initial: state.clone(), steps, stop });
        }
        // An instruction that did not retire may have written part of its data (REP
        // string iterations, a PUSHA frame) or only attempted to: keep the bytes that
        // changed.
        let before = |a: u32| shadow.get(&a).copied().unwrap_or_else(|| initial_byte(state, a));
        let changed: Vec<(u32, Vec<u8>)> = written
            .iter()
            .flat_map(|(addr, data)| {
                data.iter().enumerate().map(move |(i, b)| (addr.wrapping_add(i as u32), *b))
            })
            .filter(|&(a, b)| cpu.mem.is_mapped(a as u64) && b != before(a))
            .map(|(a, b)| (a, vec![b]))
            .collect();
        let stop =
            Stop { eip: cpu.eip, exit: ExitInfo::new(&cpu, exit), regs: delta, writes: coalesce(&changed) };
        return Ok(Trace { initial: state.clone(), steps, stop });
    }
}

/// A byte of the initial state's memory (0 where no region gives it).
fn initial_byte(state: &MachineState, a: u32) -> u8 {
    state
        .memory
        .iter()
        .find_map(|r| a.checked_sub(r.addr).and_then(|off| r.bytes.get(off as usize)).copied())
        .unwrap_or(0)
}

/// The bytes at the written addresses, after the instruction.
fn read_back(cpu: &Cpu, writes: &[(u32, u32)]) -> Vec<(u32, Vec<u8>)> {
    writes
        .iter()
        .map(|&(addr, size)| {
            let data = (0..size)
                .map(|i| {
                    let mut b = [0u8];
                    let _ = cpu.mem.peek(addr.wrapping_add(i) as u64, &mut b);
                    b[0]
                })
                .collect();
            (addr, data)
        })
        .collect()
}

/// The bytes of the instruction at `eip` (up to 15 when it does not decode).
fn instruction_bytes(cpu: &Cpu, eip: u32) -> Vec<u8> {
    let len = cpu.peek_instruction(eip).map_or(15, |i| i.len());
    let mut out = Vec::with_capacity(len);
    for i in 0..len as u32 {
        let mut b = [0u8];
        if cpu.mem.peek(eip.wrapping_add(i) as u64, &mut b).is_err() {
            break;
        }
        out.push(b[0]);
    }
    out
}
