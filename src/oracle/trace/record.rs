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
    loop {
        if cpu.insns() >= max_insns {
            let exit = ExitInfo::new(&cpu, x86wow_cpu::Exit::BudgetExhausted);
            return Ok(Trace { initial: state.clone(), steps, stop: Stop { eip: cpu.eip, exit } });
        }
        let eip = cpu.eip;
        let bytes = instruction_bytes(&cpu, eip);
        let before = cpu.insns();
        writes.borrow_mut().clear();
        let exit = cpu.run(1);
        if cpu.insns() > before {
            let now = RegFile::of_cpu(&cpu);
            let written: Vec<(u32, Vec<u8>)> = writes
                .borrow()
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
                .collect();
            steps.push(Step { eip, bytes, regs: now.delta(&regs), writes: coalesce(&written) });
            regs = now;
        }
        if exit != x86wow_cpu::Exit::BudgetExhausted {
            let info = ExitInfo::new(&cpu, exit);
            return Ok(Trace { initial: state.clone(), steps, stop: Stop { eip: cpu.eip, exit: info } });
        }
    }
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
