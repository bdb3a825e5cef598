//! The 32-bit process at run time: the 0x33 transition and the services that act on the
//! CPU, exceptions and interrupts, stack growth, and host-initiated calls.

use std::io::Write;
use std::path::{Path, PathBuf};

use x86wow_cpu::exception::{vector, Detail};
use x86wow_cpu::{Cpu, Exception, Exit};
use x86wow_mmu::{FaultKind, Prot};
use x86wow_syscalls::consts::{PAGE_GUARD, PAGE_READWRITE};
use x86wow_syscalls::{Kernel, ObjectType};

pub use crate::builder::{Output, ProcessBuilder};

use crate::error::Error;
use crate::loader::Module;
use crate::ntdll::{self, ServiceTable};
use crate::seh::{self, Raise};
use crate::status::*;
use crate::teb::{self, Blocks, Stack};
use crate::thunks::{self, Call, Kind, Wow64Info};

/// Why the run loop stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    Exited(u32),
    Returned(u32),
    Budget,
    Embedder(Exit),
    /// Guest code reached a host trap (its address).
    Trap(u32),
    /// An exception nothing handled, inside a host call.
    Faulted(Raise),
}

/// What a serviced call does to control flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Return to the stub with the status in EAX.
    Return,
    /// The service set EIP itself (NtContinue, an exception delivery).
    Jumped,
    /// The process ended.
    Exit,
}

/// A running 32-bit process.
///
/// ```
/// use x86wow_wow64::{Process, pebuild::PeBuilder, pebuild::scn};
///
/// // A program that returns 42 from its entry point: mov eax, 42 ; ret
/// let mut pe = PeBuilder::new(0x40_0000, false);
/// pe.entry_rva = pe.add_section(".text", scn::CODE, vec![0xB8, 42, 0, 0, 0, 0xC3]);
/// let mut p = Process::builder().build(&pe.build()).unwrap();
/// assert_eq!(p.run(), 42);
/// ```
pub struct Process {
    pub cpu: Cpu,
    pub kernel: Kernel,
    pub(crate) info: Wow64Info,
    pub(crate) services: ServiceTable,
    pub(crate) modules: Vec<Module>,
    pub(crate) main: usize,
    pub(crate) stack: Stack,
    pub(crate) blocks: Blocks,
    pub(crate) dispatcher: u32,
    pub(crate) return_trap: u32,
    pub(crate) trace: Option<Box<dyn Write + Send>>,
    pub(crate) max_insns: Option<u64>,
    pub(crate) clock_insns: u64,
    pub(crate) exit: Option<u32>,
    pub(crate) message: Option<String>,
    pub(crate) root: PathBuf,
    pub(crate) temp_root: bool,
    /// The initialisation routines LdrInitializeThunk ran (TLS callbacks, DllMain),
    /// in order, with their module base: what a detach calls in reverse.
    pub(crate) dll_inits: Vec<(u32, u32)>,
    /// Host calls in progress (see [`crate::hostcall`]).
    pub(crate) host_depth: u32,
    /// An unhandled exception that ended the innermost host call.
    pub(crate) fault: Option<Raise>,
    /// Host-trap pages, and the next free trap in the last one.
    pub(crate) traps: Vec<u32>,
    pub(crate) trap_next: u32,
}

impl Process {
    /// Runs the process to its end and returns the exit status. If the instruction
    /// budget runs out first, returns `STATUS_TIMEOUT`-like 0x102 and sets
    /// [`Process::message`]; see [`Process::run_checked`] to tell the cases apart.
    pub fn run(&mut self) -> u32 {
        self.run_checked().unwrap_or(0x102)
    }

    /// Runs the process to its end: `Err(Error::BudgetExhausted)` if the instruction
    /// budget ran out first.
    pub fn run_checked(&mut self) -> Result<u32, Error> {
        loop {
            match self.run_loop() {
                Stop::Exited(s) => return Ok(s),
                Stop::Budget => {
                    self.message = Some(format!("instruction budget exhausted at {:#010x}", self.cpu.eip));
                    return Err(Error::BudgetExhausted);
                }
                // A host call's return trap reached from the start code: no entry point.
                Stop::Returned(_) => return Ok(self.exit.unwrap_or(0)),
                Stop::Embedder(_) => continue,
                Stop::Trap(at) => {
                    self.message = Some(format!("a host trap at {at:#010x} was called outside a host call"));
                    return Err(Error::NoTrapHandler { addr: at });
                }
                Stop::Faulted(r) => {
                    return Err(Error::Fault { code: r.code, address: r.address, params: r.params })
                }
            }
        }
    }

    /// The exit status, once the process has ended.
    pub fn exit_status(&self) -> Option<u32> {
        self.exit
    }

    /// Why the process ended abnormally (unhandled exception, fast fail, budget).
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The loaded modules (ntdll first, then the main image, then its DLLs).
    pub fn modules(&self) -> &[Module] {
        &self.modules
    }

    /// The main image.
    pub fn main_module(&self) -> &Module {
        &self.modules[self.main]
    }

    /// The guest's TEB/PEB addresses.
    pub fn blocks(&self) -> Blocks {
        self.blocks
    }

    /// The thread's stack.
    pub fn stack(&self) -> Stack {
        self.stack
    }

    /// What the thunks know of the process (limit, PEB32, TEB32).
    pub fn wow64_info(&self) -> Wow64Info {
        self.info
    }

    /// The sandbox root (the guest's `C:\`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn run_loop(&mut self) -> Stop {
        loop {
            if let Some(s) = self.exit {
                return Stop::Exited(s);
            }
            if let Some(r) = self.fault.take() {
                return Stop::Faulted(r);
            }
            let budget = match self.max_insns {
                Some(m) => m.saturating_sub(self.cpu.insns()),
                None => u64::MAX,
            };
            if budget == 0 {
                return Stop::Budget;
            }
            match self.cpu.run(budget) {
                Exit::FarTransfer { selector: 0x33, .. } => self.system_call(),
                Exit::FarTransfer { .. } => {
                    let mut r = Raise::new(STATUS_ACCESS_VIOLATION, self.cpu.eip);
                    r.params = vec![0, 0xFFFF_FFFF];
                    self.deliver(r);
                }
                Exit::Exception { exception, eip } => self.on_exception(exception, eip),
                Exit::Interrupt(n) => self.on_interrupt(n),
                Exit::Hlt if self.cpu.eip == self.return_trap => return Stop::Returned(self.cpu.gpr[0]),
                Exit::Hlt if self.is_trap(self.cpu.eip) => return Stop::Trap(self.cpu.eip),
                Exit::Hlt => self.deliver(Raise::new(STATUS_PRIVILEGED_INSTRUCTION, self.cpu.eip)),
                // SYSENTER is #UD in long mode on AMD; SYSCALL from compatibility mode is
                // not a way into the NT kernel either.
                Exit::SystemCall => self.deliver(Raise::new(STATUS_ILLEGAL_INSTRUCTION, self.cpu.eip)),
                Exit::BudgetExhausted => {}
                e @ (Exit::Breakpoint(_) | Exit::HookStop) => return Stop::Embedder(e),
            }
        }
    }

    fn trace_line(&mut self, line: &str) {
        if let Some(t) = &mut self.trace {
            let _ = writeln!(t, "[x86wow] {line}");
        }
    }

    fn end(&mut self, status: u32, message: Option<String>) {
        self.kernel.set_exit_status(status);
        self.exit = Some(self.kernel.exit_status().unwrap_or(status));
        if let Some(m) = message {
            self.trace_line(&m);
            self.message = Some(m);
        }
    }

    // ----- system calls -----

    fn system_call(&mut self) {
        let esp = self.cpu.gpr[4];
        let ret = match self.cpu.mem.read_u32(esp as u64) {
            Ok(r) => r,
            Err(_) => {
                return self.end(STATUS_ACCESS_VIOLATION, Some("the stack is gone at a system call".into()))
            }
        };
        let (status, flow) = self.service(self.cpu.gpr[0], esp.wrapping_add(8));
        if flow == Flow::Return {
            self.cpu.gpr[0] = status;
            self.cpu.eip = ret;
            self.cpu.gpr[4] = esp.wrapping_add(4);
        }
    }

    /// Services call `eax` with its arguments at `args`.
    fn service(&mut self, eax: u32, args: u32) -> (u32, Flow) {
        let now = self.cpu.insns();
        self.kernel.advance_clock(&mut self.cpu.mem, now.saturating_sub(self.clock_insns));
        self.clock_insns = now;
        let Some(name) = self.services.lookup(eax).map(str::to_string) else {
            self.trace_line(&format!("service {eax:#x} = {}", name(STATUS_INVALID_SYSTEM_SERVICE)));
            return (STATUS_INVALID_SYSTEM_SERVICE, Flow::Return);
        };
        let Some(thunk) = thunks::find(&name) else {
            self.trace_line(&format!(
                "{name}: not implemented (no thunk) = {}",
                crate::status::name(STATUS_NOT_IMPLEMENTED)
            ));
            return (STATUS_NOT_IMPLEMENTED, Flow::Return);
        };
        let mut a = Vec::with_capacity(thunk.slots());
        for i in 0..thunk.slots() as u32 {
            match self.cpu.mem.read_u32(args.wrapping_add(4 * i) as u64) {
                Ok(v) => a.push(v),
                Err(_) => return (STATUS_ACCESS_VIOLATION, Flow::Return),
            }
        }
        match thunk.kind {
            Kind::Cpu => {
                let (st, flow) = self.cpu_service(thunk.name, &a, args);
                let line = crate::trace::line(thunk.name, &a, &[], &[], st);
                self.trace_line(&line);
                (st, flow)
            }
            Kind::NotImplemented => {
                let line = crate::trace::line(thunk.name, &a, &[], &[], STATUS_NOT_IMPLEMENTED);
                self.trace_line(&format!("{line} (not implemented by x86wow)"));
                (STATUS_NOT_IMPLEMENTED, Flow::Return)
            }
            _ => {
                let tracing = self.trace.is_some();
                let (mut st, mut line);
                // A service that touches the stack's guard page grows the stack and goes
                // on, as the kernel's own fault handling does on Windows.
                let mut tries = 0;
                loop {
                    let guard = self.stack.limit.wrapping_sub(0x1000);
                    let armed = |m: &x86wow_mmu::Memory| {
                        m.prot(guard as u64).is_some_and(|p| p.contains(Prot::GUARD))
                    };
                    let armed_before = armed(&self.cpu.mem);
                    let mut call = Call::new(
                        &mut self.cpu.mem,
                        &mut self.kernel,
                        self.info,
                        thunk.name,
                        a.clone(),
                        tracing,
                    );
                    st = thunks::dispatch(&mut call, thunk);
                    line = tracing.then(|| {
                        let strings = call.trace.as_ref().map(|t| t.strings.clone()).unwrap_or_default();
                        crate::trace::line(thunk.name, &call.args, &call.args64, &strings, st)
                    });
                    drop(call);
                    let consumed = armed_before && !armed(&self.cpu.mem);
                    if st != STATUS_GUARD_PAGE_VIOLATION || !consumed || tries == 16 {
                        break;
                    }
                    if self.stack_guard(guard) != Guard::Grown {
                        break;
                    }
                    tries += 1;
                }
                if let Some(l) = line {
                    self.trace_line(&l);
                    for n in self.kernel.take_notes() {
                        self.trace_line(&format!("  note: {n}"));
                    }
                }
                if let Some(s) = self.kernel.exit_status() {
                    self.exit = Some(s);
                    return (st, Flow::Exit);
                }
                (st, Flow::Return)
            }
        }
    }

    fn read_guest(&mut self, addr: u32, len: usize) -> Option<Vec<u8>> {
        let mut b = vec![0u8; len];
        self.cpu.mem.read_bytes(addr as u64, &mut b).ok().map(|_| b)
    }

    /// Services that act on the CPU state.
    fn cpu_service(&mut self, name: &str, a: &[u32], args_at: u32) -> (u32, Flow) {
        let arg = |i: usize| a.get(i).copied().unwrap_or(0);
        match name {
            "NtContinue" | "NtSetContextThread" => {
                let ctx_at = if name == "NtContinue" { arg(0) } else { arg(1) };
                if name == "NtSetContextThread" && !self.is_current_thread(arg(0)) {
                    return (STATUS_INVALID_PARAMETER, Flow::Return);
                }
                let Some(ctx) = self.read_guest(ctx_at, 0xCC) else {
                    return (STATUS_ACCESS_VIOLATION, Flow::Return);
                };
                seh::apply_context(&mut self.cpu, &ctx);
                (STATUS_SUCCESS, Flow::Jumped)
            }
            "NtRaiseException" => {
                let Some(rec) = self.read_guest(arg(0), 0x50) else {
                    return (STATUS_ACCESS_VIOLATION, Flow::Return);
                };
                let Some(ctx) = self.read_guest(arg(1), 0xCC) else {
                    return (STATUS_ACCESS_VIOLATION, Flow::Return);
                };
                let eip = u32::from_le_bytes([ctx[0xB8], ctx[0xB9], ctx[0xBA], ctx[0xBB]]);
                let r = Raise::from_record(&rec, eip);
                if arg(2) != 0 {
                    seh::apply_context(&mut self.cpu, &ctx);
                    self.deliver(r);
                    (STATUS_SUCCESS, Flow::Jumped)
                } else if self.host_depth > 0 {
                    // Inside a host call the exception ends the call, not the process.
                    let msg = unhandled_message(&r);
                    self.trace_line(&msg);
                    self.fault = Some(r);
                    (STATUS_SUCCESS, Flow::Jumped)
                } else {
                    let msg = unhandled_message(&r);
                    self.end(r.code, Some(msg));
                    (r.code, Flow::Exit)
                }
            }
            "NtGetContextThread" => {
                if !self.is_current_thread(arg(0)) {
                    return (STATUS_INVALID_PARAMETER, Flow::Return);
                }
                // The state the caller will see after the stub returns.
                let caller_ret = self.cpu.mem.read_u32(args_at.wrapping_sub(4) as u64).unwrap_or(0);
                let saved = (self.cpu.gpr[0], self.cpu.gpr[4]);
                self.cpu.gpr[0] = 0;
                self.cpu.gpr[4] = args_at.wrapping_add(4 * a.len() as u32);
                let mut ctx = seh::context(&self.cpu, caller_ret, 0);
                (self.cpu.gpr[0], self.cpu.gpr[4]) = saved;
                let Some(cur) = self.read_guest(arg(1), 4) else {
                    return (STATUS_ACCESS_VIOLATION, Flow::Return);
                };
                ctx[..4].copy_from_slice(&cur);
                match self.cpu.mem.write_bytes(arg(1) as u64 + 0x8C, &ctx[0x8C..0xCC]) {
                    Ok(()) => (STATUS_SUCCESS, Flow::Return),
                    Err(f) => (thunks::fault(f), Flow::Return),
                }
            }
            "NtTerminateProcess" | "NtTerminateThread" => {
                let h = arg(0) as i32 as i64 as u64;
                if name == "NtTerminateProcess" && h == 0 {
                    return (STATUS_SUCCESS, Flow::Return);
                }
                let st = if name == "NtTerminateProcess" {
                    self.kernel.nt_terminate_process(&mut self.cpu.mem, h, arg(1) as u64)
                } else {
                    self.kernel.nt_terminate_thread(&mut self.cpu.mem, h, arg(1) as u64)
                };
                match self.kernel.exit_status() {
                    Some(s) => {
                        self.exit = Some(s);
                        (st.0, Flow::Exit)
                    }
                    None => (st.0, Flow::Return),
                }
            }
            "NtTestAlert" => (STATUS_SUCCESS, Flow::Return),
            _ => (STATUS_NOT_IMPLEMENTED, Flow::Return),
        }
    }

    fn is_current_thread(&self, h: u32) -> bool {
        h == 0xFFFF_FFFE || self.kernel.handle_type(h as i32 as i64 as u64) == Some(ObjectType::Thread)
    }

    // ----- interrupts and exceptions -----

    fn on_interrupt(&mut self, n: u8) {
        match n {
            // The legacy system-call gate: EAX = service, EDX = the arguments.
            0x2E => {
                let (st, flow) = self.service(self.cpu.gpr[0], self.cpu.gpr[2]);
                if flow == Flow::Return {
                    self.cpu.gpr[0] = st;
                }
            }
            // __fastfail(code): the process ends at once, no handler runs.
            0x29 => {
                let code = self.cpu.gpr[1];
                let at = self.cpu.eip.wrapping_sub(2);
                self.end(
                    STATUS_STACK_BUFFER_OVERRUN,
                    Some(format!(
                        "fast fail (code {code}) at {at:#010x}: {}",
                        name(STATUS_STACK_BUFFER_OVERRUN)
                    )),
                );
            }
            // int 2c: an assertion failure exception at the int.
            0x2C => {
                let mut r = Raise::new(STATUS_ASSERTION_FAILURE, self.cpu.eip.wrapping_sub(2));
                r.context_eip = self.cpu.eip;
                self.deliver(r);
            }
            _ => {}
        }
    }

    fn on_exception(&mut self, e: Exception, eip: u32) {
        if let (vector::PF, Detail::Page { addr, access, kind: FaultKind::Guard }) = (e.vector, e.detail) {
            match self.stack_guard(addr) {
                Guard::Grown => return,
                Guard::Overflow => {
                    let mut r = Raise::new(STATUS_STACK_OVERFLOW, eip);
                    r.params = vec![seh::access_code(access), addr];
                    return self.deliver(r);
                }
                Guard::NotStack => {}
            }
        }
        let r = seh::translate(&mut self.cpu, &e, eip);
        self.deliver(r);
    }

    /// A guard page was touched at `addr`: grow the stack as Windows does.
    fn stack_guard(&mut self, addr: u32) -> Guard {
        let page = addr & !0xFFF;
        if page < self.stack.dealloc || page >= self.stack.base {
            return Guard::NotStack;
        }
        self.stack.limit = self.stack.limit.min(page);
        let _ = self
            .cpu
            .mem
            .poke((self.blocks.teb32 + teb::teb32::STACK_LIMIT) as u64, &self.stack.limit.to_le_bytes());
        // The bottom page of the reservation is never committed.
        if page < self.stack.dealloc + 0x2000 {
            return Guard::Overflow;
        }
        let st = self.kernel.vm_commit(
            &mut self.cpu.mem,
            (page - 0x1000) as u64,
            0x1000,
            PAGE_READWRITE | PAGE_GUARD,
        );
        if st.is_success() {
            Guard::Grown
        } else {
            Guard::Overflow
        }
    }

    /// Writes to the guest stack, growing it through guard pages.
    pub(crate) fn write_stack(&mut self, at: u32, data: &[u8]) -> bool {
        for _ in 0..8 {
            match self.cpu.mem.write_bytes(at as u64, data) {
                Ok(()) => return true,
                Err(f) if f.kind == FaultKind::Guard => {
                    if self.stack_guard(f.addr as u32) == Guard::NotStack {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }

    /// Builds EXCEPTION_RECORD32 and CONTEXT32 on the guest stack and enters
    /// KiUserExceptionDispatcher with ESP at [&record, &context].
    fn deliver(&mut self, r: Raise) {
        let ctx = seh::context(&self.cpu, r.context_eip, r.clear_flags);
        let esp = self.cpu.gpr[4];
        let ctx_at = esp.wrapping_sub(ntdll::ctx::SIZE) & !3;
        let rec_at = ctx_at.wrapping_sub(ntdll::rec::SIZE);
        let args_at = rec_at.wrapping_sub(8);
        let mut frame = Vec::with_capacity(8 + 0x50 + 0x2CC);
        frame.extend_from_slice(&rec_at.to_le_bytes());
        frame.extend_from_slice(&ctx_at.to_le_bytes());
        frame.extend_from_slice(&r.record());
        frame.extend_from_slice(&ctx);
        if esp < 0x1_0000 || !self.write_stack(args_at, &frame) {
            let msg = format!("{} (no stack left to deliver it)", unhandled_message(&r));
            if self.host_depth > 0 {
                self.trace_line(&msg);
                self.fault = Some(r);
                return;
            }
            return self.end(r.code, Some(msg));
        }
        if let Some(n) = &r.note {
            let n = format!("exception {} at {:#010x}: {n}", name(r.code), r.address);
            self.trace_line(&n);
            self.message = Some(n);
        }
        self.cpu.gpr[4] = args_at;
        self.cpu.eip = self.dispatcher;
        self.cpu.set_eflags(self.cpu.eflags() & !0x100);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guard {
    Grown,
    Overflow,
    NotStack,
}

fn unhandled_message(r: &Raise) -> String {
    let mut m = format!("unhandled exception {} at {:#010x}", name(r.code), r.address);
    if r.code == STATUS_ACCESS_VIOLATION && r.params.len() >= 2 {
        let what = match r.params[0] {
            1 => "writing",
            8 => "executing",
            _ => "reading",
        };
        m.push_str(&format!(" ({what} {:#010x})", r.params[1]));
    }
    if let Some(n) = &r.note {
        m.push_str(&format!(": {n}"));
    }
    m
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.temp_root {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}
