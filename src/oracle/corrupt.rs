//! A backend wrapper that plants a divergence: a register corrupted after instruction k.

use x86wow_cpu::state::{ExitInfo, MachineState, MemRegion};

use super::backend::{Backend, BackendError};

/// Wraps a backend and, once `after` instructions have retired, XORs `mask` into the
/// general register `reg` (encoding order: 0 EAX .. 7 EDI). Used to check that
/// lockstep reports a divergence where and as it happened.
///
/// ```
/// use x86wow::cpu::state::MachineState;
/// use x86wow::oracle::{Corrupt, Interpreter, Lockstep, Options, Outcome};
///
/// let state = MachineState::parse(r#"{"regs": {"eip": 4096},
///     "memory": [{"addr": 4096, "prot": "rx", "hex": "404040f4"}]}"#).unwrap(); // inc eax x3
/// let mut good = Interpreter::fast();
/// let mut bad = Corrupt::new(Interpreter::plain(), 2, 3, 0x100); // EBX after the 2nd
/// let Outcome::Diverged(d) = Lockstep::new(&mut good, &mut bad, Options::default()).run(&state).unwrap()
/// else { panic!("no divergence") };
/// assert_eq!((d.index, d.eip, d.diffs[0].field.as_str()), (1, 4097, "regs.ebx"));
/// ```
pub struct Corrupt<B> {
    inner: B,
    after: u64,
    reg: usize,
    mask: u32,
    /// Instructions retired before the inner backend was last reloaded.
    offset: u64,
    /// Instructions retired since the last load of the wrapper.
    retired: u64,
    done: bool,
}

impl<B: Backend> Corrupt<B> {
    pub fn new(inner: B, after: u64, reg: usize, mask: u32) -> Corrupt<B> {
        Corrupt { inner, after, reg: reg & 7, mask, offset: 0, retired: 0, done: false }
    }

    fn plant(&mut self, retired: u64) -> Result<(), BackendError> {
        let mut st = self.inner.state()?;
        let mut gpr = st.regs.gpr();
        gpr[self.reg] ^= self.mask;
        st.regs.set_gpr(gpr);
        self.inner.load(&st)?;
        self.offset = retired;
        self.done = true;
        Ok(())
    }
}

impl<B: Backend> Backend for Corrupt<B> {
    fn name(&self) -> String {
        format!("{} (corrupted after {})", self.inner.name(), self.after)
    }

    fn undefined_flags_model(&self) -> Option<String> {
        self.inner.undefined_flags_model()
    }

    fn load(&mut self, state: &MachineState) -> Result<(), BackendError> {
        self.offset = 0;
        self.retired = 0;
        self.done = false;
        self.inner.load(state)
    }

    fn map(&mut self, region: &MemRegion) -> Result<(), BackendError> {
        self.inner.map(region)
    }

    fn read(&mut self, addr: u32, len: u32) -> Result<Vec<u8>, BackendError> {
        self.inner.read(addr, len)
    }

    fn state(&mut self) -> Result<MachineState, BackendError> {
        self.inner.state()
    }

    fn run(&mut self, budget: u64) -> Result<ExitInfo, BackendError> {
        let mut left = budget;
        if !self.done {
            let first = self.after.saturating_sub(self.retired).min(left);
            let mut exit = self.inner.run(first)?;
            exit.insns += self.offset;
            self.retired = exit.insns;
            left -= first;
            if exit.reason != "budget" || exit.insns < self.after {
                return Ok(exit);
            }
            self.plant(exit.insns)?;
            if left == 0 {
                return Ok(exit);
            }
        }
        let mut exit = self.inner.run(left)?;
        exit.insns += self.offset;
        self.retired = exit.insns;
        Ok(exit)
    }
}
