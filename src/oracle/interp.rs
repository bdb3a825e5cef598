//! x86wow's interpreter as a [`Backend`].

use x86wow_cpu::state::{ExitInfo, MachineState, MemRegion, StateError, X87State};
use x86wow_cpu::Cpu;
use x86wow_mmu::PAGE_SIZE;

use super::backend::{Backend, BackendError};

/// The undefined-flags model x86wow implements (see `cpu/UNDEFINED.md`).
pub const X86WOW_FLAGS_MODEL: &str = "amd-family-19h";

/// x86wow's interpreter, with its decoded-block cache ("fast") or without it ("plain":
/// every instruction fetched and decoded as it executes).
pub struct Interpreter {
    cpu: Cpu,
    layout: MachineState,
    block_cache: bool,
}

impl Interpreter {
    /// The interpreter with its decoded-block cache.
    pub fn fast() -> Interpreter {
        Interpreter::new(true)
    }

    /// The interpreter on its plain path.
    pub fn plain() -> Interpreter {
        Interpreter::new(false)
    }

    pub fn new(block_cache: bool) -> Interpreter {
        let mut cpu = Cpu::new();
        cpu.set_block_cache(block_cache);
        Interpreter { cpu, layout: MachineState::default(), block_cache }
    }

    /// The CPU, for hooks and direct inspection.
    pub fn cpu(&self) -> &Cpu {
        &self.cpu
    }

    pub fn cpu_mut(&mut self) -> &mut Cpu {
        &mut self.cpu
    }
}

/// The state with its x87/SSE fields filled in (their defaults where absent), so that
/// the interpreter always reports them.
pub(crate) fn with_fpu(state: &MachineState) -> MachineState {
    let mut s = state.clone();
    let (x, simd) = state.fpu_state();
    if s.x87.is_none() {
        s.x87 = Some(X87State {
            fcw: x.fcw,
            fsw: x.status(),
            ftw: x.full_tag(),
            st: std::array::from_fn(|i| {
                let v = x.st(i as u8);
                (v.se as u128) << 64 | v.signif as u128
            }),
        });
    }
    s.mxcsr.get_or_insert(simd.mxcsr);
    s.xmm.get_or_insert(simd.xmm);
    s
}

impl Backend for Interpreter {
    fn name(&self) -> String {
        if self.block_cache { "x86wow (fast)" } else { "x86wow (plain)" }.to_string()
    }

    fn undefined_flags_model(&self) -> Option<String> {
        Some(X86WOW_FLAGS_MODEL.to_string())
    }

    fn load(&mut self, state: &MachineState) -> Result<(), BackendError> {
        let mut cpu = Cpu::new();
        cpu.set_block_cache(self.block_cache);
        state.load_into(&mut cpu)?;
        self.cpu = cpu;
        self.layout = with_fpu(state);
        Ok(())
    }

    fn map(&mut self, region: &MemRegion) -> Result<(), BackendError> {
        let bad = |e: String| StateError { field: format!("region at {:#x}", region.addr), message: e };
        let (start, len) = region.pages();
        let mut pg = start;
        while pg < start + len {
            if !self.cpu.mem.is_mapped(pg) {
                self.cpu.mem.map(pg, PAGE_SIZE, region.prot).map_err(|e| bad(e.to_string()))?;
            }
            pg += PAGE_SIZE;
        }
        self.cpu.mem.poke(region.addr as u64, &region.bytes).map_err(|e| bad(e.to_string()))?;
        self.layout.memory.push(region.clone());
        Ok(())
    }

    fn read(&mut self, addr: u32, len: u32) -> Result<Vec<u8>, BackendError> {
        let mut buf = vec![0u8; len as usize];
        self.cpu.mem.peek(addr as u64, &mut buf).map_err(|_| BackendError::Unmapped { addr, len })?;
        Ok(buf)
    }

    fn state(&mut self) -> Result<MachineState, BackendError> {
        Ok(self.layout.capture(&self.cpu))
    }

    fn run(&mut self, budget: u64) -> Result<ExitInfo, BackendError> {
        // The fast configuration goes through the block cache even for one
        // instruction (`Cpu::step` would always take the plain path).
        let exit = self.cpu.run(budget);
        Ok(ExitInfo::new(&self.cpu, exit))
    }
}
