//! Calls from the host into guest code, and back.
//!
//! A host call builds a frame on the guest stack whose return address is the guest
//! ntdll's `__x86wow_ReturnTrap` (a `hlt`), loads ECX/EDX for the register conventions,
//! and runs until that trap. Callbacks go the other way: [`Process::alloc_trap`] hands
//! out addresses of `hlt` bytes in a host-trap page; when guest code calls one, the
//! run loop stops and the embedder's handler answers with [`Process::trap_return`].
//!
//! What makes a library usable after a failed call: registers, the x87 state and the
//! TEB's SEH chain head are saved before the call and put back when it fails, and an
//! exception nothing handles inside a host call ends the call, not the process.

use x86wow_cpu::fpu::X87;
use x86wow_fp::F80;
use x86wow_syscalls::consts::{MEM_COMMIT, MEM_RESERVE, PAGE_EXECUTE_READ};
use x86wow_syscalls::MemType;

use crate::error::Error;
use crate::process::{Process, Stop};
use crate::teb;

/// Bytes of `hlt` per host-trap page.
const TRAP_PAGE: u32 = 0x1000;

/// A call from the host into guest code.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GuestCall {
    /// The function's address.
    pub addr: u32,
    /// ECX and EDX at entry (fastcall's first two arguments, thiscall's `this`).
    pub ecx: u32,
    pub edx: u32,
    /// The stack arguments, first argument first (pushed right to left).
    pub stack: Vec<u32>,
    /// At most this many instructions for the call (callbacks included).
    pub max_insns: Option<u64>,
    /// The function returns its value in ST(0): read it and pop it, as the caller
    /// must under the 32-bit ABI.
    pub pop_st0: bool,
}

/// What a guest function left when it returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestReturn {
    pub eax: u32,
    pub edx: u32,
    /// ST(0), when [`GuestCall::pop_st0`] asked for it.
    pub st0: Option<F80>,
    /// Bytes of arguments the callee removed from the stack (`ret n`): 0 for cdecl.
    pub callee_popped: u32,
    /// Instructions the call executed.
    pub insns: u64,
}

/// The guest stopped at a host trap: the embedder's handler for it.
pub type TrapHandler<'a> = dyn FnMut(&mut Process, u32) -> Result<(), Error> + 'a;

/// State put back when a host call fails.
struct Saved {
    gpr: [u32; 8],
    eip: u32,
    eflags: u32,
    fpu: X87,
    seh_head: Option<u32>,
    max_insns: Option<u64>,
}

impl Process {
    /// Calls a guest function (stdcall or cdecl) with 32-bit arguments and returns EAX.
    /// Registers are restored afterwards, so the call may be made between others.
    pub fn call(&mut self, addr: u32, args: &[u32]) -> Result<u32, Error> {
        let call = GuestCall { addr, stack: args.to_vec(), ..GuestCall::default() };
        self.call_with(&call, &mut |_, at| Err(Error::NoTrapHandler { addr: at })).map(|r| r.eax)
    }

    /// Calls guest code as [`GuestCall`] describes; guest calls to host traps go to
    /// `on_trap`. On success the general registers, EIP and EFLAGS are as before the
    /// call (the callee's effects on memory and on the x87 control state stay, as
    /// they would in a real process). On failure (an unhandled exception, the budget,
    /// a handler's error) the x87 state and the SEH chain head are put back too, so
    /// the process can take the next call.
    pub fn call_with(
        &mut self,
        call: &GuestCall,
        on_trap: &mut TrapHandler<'_>,
    ) -> Result<GuestReturn, Error> {
        if let Some(s) = self.exit {
            return Err(Error::ProcessExited { status: s });
        }
        let teb_list = self.blocks.teb32.wrapping_add(teb::teb32::EXCEPTION_LIST) as u64;
        let saved = Saved {
            gpr: self.cpu.gpr,
            eip: self.cpu.eip,
            eflags: self.cpu.eflags(),
            fpu: self.cpu.fpu,
            seh_head: self.cpu.mem.read_u32(teb_list).ok(),
            max_insns: self.max_insns,
        };
        let mut frame = vec![self.return_trap];
        frame.extend_from_slice(&call.stack);
        let bytes: Vec<u8> = frame.iter().flat_map(|v| v.to_le_bytes()).collect();
        // Leave a red zone under the caller's frame, and put the first argument on a
        // 16-byte boundary (ESP + 4 at entry), as compilers that assume an aligned
        // incoming stack (GCC's i386 default) expect; the Windows ABI needs only 4.
        let args_len = 4 * call.stack.len() as u32;
        let args_at = saved.gpr[4].wrapping_sub(64).wrapping_sub(args_len) & !15;
        let esp = args_at.wrapping_sub(4);
        if esp < 0x1_0000 || !self.write_stack(esp, &bytes) {
            return Err(Error::Memory { addr: esp as u64, len: bytes.len() });
        }
        self.cpu.gpr[4] = esp;
        self.cpu.gpr[1] = call.ecx;
        self.cpu.gpr[2] = call.edx;
        self.cpu.eip = call.addr;
        let start = self.cpu.insns();
        if let Some(n) = call.max_insns {
            let limit = start.saturating_add(n);
            self.max_insns = Some(self.max_insns.map_or(limit, |m| m.min(limit)));
        }
        self.host_depth += 1;
        let result = loop {
            match self.run_loop() {
                Stop::Returned(eax) => break self.returned(call, eax, esp, start),
                Stop::Trap(at) => {
                    if let Err(e) = on_trap(self, at) {
                        break Err(e);
                    }
                }
                Stop::Faulted(r) => {
                    break Err(Error::Fault { code: r.code, address: r.address, params: r.params.clone() })
                }
                Stop::Exited(s) => break Err(Error::ProcessExited { status: s }),
                Stop::Budget => break Err(Error::BudgetExhausted),
                Stop::Embedder(e) => break Err(Error::Stopped { why: format!("{e:?}") }),
            }
        };
        self.host_depth -= 1;
        self.max_insns = saved.max_insns;
        self.cpu.gpr = saved.gpr;
        self.cpu.eip = saved.eip;
        self.cpu.set_eflags(saved.eflags);
        if result.is_err() && self.exit.is_none() {
            self.cpu.fpu = saved.fpu;
            if let Some(h) = saved.seh_head {
                let _ = self.cpu.mem.poke(teb_list, &h.to_le_bytes());
            }
        }
        result
    }

    fn returned(&mut self, call: &GuestCall, eax: u32, esp: u32, start: u64) -> Result<GuestReturn, Error> {
        // The trap's `hlt` was reached by the callee's `ret`: ESP is past the return
        // address and whatever `ret n` removed.
        let callee_popped = self.cpu.gpr[4].wrapping_sub(esp).wrapping_sub(4);
        let st0 = if call.pop_st0 {
            let fpu = &mut self.cpu.fpu;
            if fpu.is_empty(0) {
                return Err(Error::Abi { what: "the function returned no value in ST(0)".into() });
            }
            let v = fpu.st(0);
            let p = fpu.phys(0);
            fpu.empty |= 1 << p;
            fpu.top = (fpu.top + 1) & 7;
            Some(v)
        } else {
            None
        };
        Ok(GuestReturn { eax, edx: self.cpu.gpr[2], st0, callee_popped, insns: self.cpu.insns() - start })
    }

    /// Allocates a host trap: an address guest code can call (or jump to) that stops
    /// the run loop and hands control to the current [`Process::call_with`]'s handler.
    pub fn alloc_trap(&mut self) -> Result<u32, Error> {
        if self.traps.is_empty() || self.trap_next == TRAP_PAGE {
            let page = self
                .kernel
                .vm_allocate(
                    &mut self.cpu.mem,
                    TRAP_PAGE as u64,
                    MEM_COMMIT | MEM_RESERVE,
                    PAGE_EXECUTE_READ,
                    self.info.limit as u64,
                    MemType::Private,
                )
                .map_err(|s| Error::Alloc { size: TRAP_PAGE as u64, status: s.0 })?
                as u32;
            // Written past the page's protection: the guest can run the traps but
            // not change them.
            let fill = vec![0xF4u8; TRAP_PAGE as usize];
            self.cpu
                .mem
                .poke(page as u64, &fill)
                .map_err(|_| Error::Memory { addr: page as u64, len: fill.len() })?;
            self.traps.push(page);
            self.trap_next = 0;
        }
        let at = self.traps[self.traps.len() - 1] + self.trap_next;
        self.trap_next += 1;
        Ok(at)
    }

    /// Whether `eip` is a host trap.
    pub(crate) fn is_trap(&self, eip: u32) -> bool {
        self.traps.iter().any(|&p| eip.wrapping_sub(p) < TRAP_PAGE)
    }

    /// Returns from a host trap that guest code reached by a near CALL: EAX and EDX
    /// take the result, `value` (if any) is pushed on the x87 stack (a float result),
    /// and the return pops `pop_bytes` of arguments as `ret n` would (stdcall).
    pub fn trap_return(
        &mut self,
        eax: u32,
        edx: u32,
        value: Option<F80>,
        pop_bytes: u32,
    ) -> Result<(), Error> {
        let esp = self.cpu.gpr[4];
        let ret =
            self.cpu.mem.read_u32(esp as u64).map_err(|_| Error::Memory { addr: esp as u64, len: 4 })?;
        self.cpu.gpr[0] = eax;
        self.cpu.gpr[2] = edx;
        if let Some(v) = value {
            let fpu = &mut self.cpu.fpu;
            fpu.top = (fpu.top + 7) & 7;
            fpu.set_st(0, v);
        }
        self.cpu.gpr[4] = esp.wrapping_add(4).wrapping_add(pop_bytes);
        self.cpu.eip = ret;
        Ok(())
    }

    /// The stack arguments of the trap being handled: `n` dwords above the return
    /// address.
    pub fn trap_args(&mut self, n: usize) -> Result<Vec<u32>, Error> {
        let esp = self.cpu.gpr[4];
        (0..n as u32)
            .map(|i| {
                let at = esp.wrapping_add(4 + 4 * i);
                self.cpu.mem.read_u32(at as u64).map_err(|_| Error::Memory { addr: at as u64, len: 4 })
            })
            .collect()
    }

    /// Runs the start-up code (DllMain of every DLL, TLS callbacks) without calling an
    /// entry point; used for libraries.
    pub(crate) fn initialize(&mut self) -> Result<(), Error> {
        match self.run_loop() {
            Stop::Returned(_) => {
                // LdrInitializeThunk ran into the return trap: reset the stack.
                self.cpu.gpr[4] = self.stack.base - 16;
                Ok(())
            }
            Stop::Exited(s) => Err(Error::ProcessExited { status: s }),
            Stop::Faulted(r) => Err(Error::Fault { code: r.code, address: r.address, params: r.params }),
            Stop::Trap(at) => Err(Error::NoTrapHandler { addr: at }),
            Stop::Budget => Err(Error::BudgetExhausted),
            Stop::Embedder(e) => Err(Error::Stopped { why: format!("{e:?}") }),
        }
    }

    /// What a detach calls, in order: the initialisation routines (TLS callbacks and
    /// DllMain of every DLL) in the reverse of the order they ran at attach, each with
    /// its module base. Call each as `routine(base, DLL_PROCESS_DETACH, reserved)`.
    pub fn dll_entries(&self) -> Vec<(u32, u32)> {
        self.dll_inits.iter().rev().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pebuild::{dir, export_directory, scn, PeBuilder};

    /// A DLL (test.dll) whose export `f` is `code`.
    fn dll(code: &[u8]) -> (Process, u32) {
        let mut pe = PeBuilder::new(0x1000_0000, true);
        let text = pe.add_section(".text", scn::CODE, code.to_vec());
        let edata_rva = pe.next_rva();
        let edata = export_directory(edata_rva, "test.dll", 1, &[("f", text)], &[]);
        pe.directories[dir::EXPORT] = (edata_rva, edata.len() as u32);
        pe.add_section(".edata", scn::RDATA, edata);
        let p = Process::builder().image_path("C:\\test.dll").build_dll(&pe.build()).unwrap();
        let f = p.export("test.dll", "f").unwrap();
        (p, f)
    }

    fn no_traps(_: &mut Process, at: u32) -> Result<(), Error> {
        Err(Error::NoTrapHandler { addr: at })
    }

    #[test]
    fn the_first_argument_is_16_byte_aligned_at_entry() {
        let (mut p, f) = dll(&[0x89, 0xE0, 0xC3]); // mov eax, esp ; ret
        for n in 0..6 {
            let call = GuestCall { addr: f, stack: vec![0; n], ..GuestCall::default() };
            let r = p.call_with(&call, &mut no_traps).unwrap();
            assert_eq!(r.eax.wrapping_add(4) % 16, 0, "{n} arguments: ESP {:#x} at entry", r.eax);
            assert_eq!(r.callee_popped, 0);
        }
    }

    #[test]
    fn registers_results_and_the_callee_cleanup_are_reported() {
        // lea eax, [ecx + edx] ; mov edx, 7 ; ret 8
        let (mut p, f) = dll(&[0x8D, 0x04, 0x11, 0xBA, 7, 0, 0, 0, 0xC2, 8, 0]);
        let esp = p.cpu.gpr[4];
        let call = GuestCall { addr: f, ecx: 40, edx: 2, stack: vec![1, 2], ..GuestCall::default() };
        let r = p.call_with(&call, &mut no_traps).unwrap();
        assert_eq!((r.eax, r.edx, r.callee_popped, r.insns), (42, 7, 8, 3));
        assert_eq!(p.cpu.gpr[4], esp, "the caller's registers are back");
    }

    #[test]
    fn a_float_result_is_popped_from_st0() {
        let (mut p, f) = dll(&[0xD9, 0xE8, 0xC3]); // fld1 ; ret
        let call = GuestCall { addr: f, pop_st0: true, ..GuestCall::default() };
        let r = p.call_with(&call, &mut no_traps).unwrap();
        assert_eq!(r.st0, Some(F80::ONE));
        assert!((0..8).all(|i| p.cpu.fpu.is_empty(i)), "ST(0) popped");
        let (mut p, f) = dll(&[0xC3]); // ret: nothing in ST(0)
        let call = GuestCall { addr: f, pop_st0: true, ..GuestCall::default() };
        assert!(matches!(p.call_with(&call, &mut no_traps), Err(Error::Abi { .. })));
    }

    #[test]
    fn a_trap_calls_the_host_and_returns_into_the_guest() {
        // mov eax, [esp+4] ; push 5 ; call eax ; ret 4  (calls f(5), stdcall, and returns it)
        let (mut p, f) = dll(&[0x8B, 0x44, 0x24, 0x04, 0x6A, 0x05, 0xFF, 0xD0, 0xC2, 4, 0]);
        let trap = p.alloc_trap().unwrap();
        let call = GuestCall { addr: f, stack: vec![trap], ..GuestCall::default() };
        let mut seen = Vec::new();
        let r = p
            .call_with(&call, &mut |p, at| {
                let a = p.trap_args(1)?;
                seen.push((at, a[0]));
                p.trap_return(a[0] + 1, 0, None, 4)
            })
            .unwrap();
        assert_eq!((r.eax, seen), (6, vec![(trap, 5)]));
        // Without a handler the call fails, and the process goes on.
        assert_eq!(p.call_with(&call, &mut no_traps), Err(Error::NoTrapHandler { addr: trap }));
        let ok = GuestCall { addr: trap, ..GuestCall::default() };
        let r = p.call_with(&ok, &mut |p, _| p.trap_return(9, 0, None, 0)).unwrap();
        assert_eq!(r.eax, 9, "a trap called directly by the host call");
    }

    #[test]
    fn a_fault_ends_the_call_and_puts_the_state_back() {
        // fld1 ; mov dword ptr [0], eax
        let (mut p, f) = dll(&[0xD9, 0xE8, 0xA3, 0, 0, 0, 0]);
        let before = (p.cpu.gpr, p.cpu.fpu);
        let teb = p.blocks.teb32 as u64;
        let seh = p.cpu.mem.read_u32(teb).unwrap();
        let call = GuestCall { addr: f, ..GuestCall::default() };
        let e = p.call_with(&call, &mut no_traps).unwrap_err();
        assert_eq!(e, Error::Fault { code: 0xC000_0005, address: f + 2, params: vec![1, 0] });
        assert_eq!((p.cpu.gpr, p.cpu.fpu), before, "registers and the x87 stack are back");
        assert_eq!(p.cpu.mem.read_u32(teb).unwrap(), seh);
        assert_eq!(p.exit_status(), None, "the process goes on");
        // A budget ends a call the same way.
        let (mut p, f) = dll(&[0xEB, 0xFE]); // jmp $
        let call = GuestCall { addr: f, max_insns: Some(1000), ..GuestCall::default() };
        assert_eq!(p.call_with(&call, &mut no_traps), Err(Error::BudgetExhausted));
    }
}
