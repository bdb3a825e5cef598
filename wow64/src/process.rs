//! The 32-bit process: building it (sandbox, kernel, blocks, images), running it (the
//! 0x33 transition, exceptions, interrupts), and the embedding API ([`Process`],
//! [`Library`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use x86wow_cpu::exception::{vector, Detail};
use x86wow_cpu::{Cpu, Exception, Exit};
use x86wow_mmu::{FaultKind, Prot};
use x86wow_syscalls::consts::{MEM_RESERVE, PAGE_GUARD, PAGE_NOACCESS, PAGE_READWRITE};
use x86wow_syscalls::{Kernel, KernelConfig, MemType, ObjectType};

pub use x86wow_syscalls::{Captured, InputStream, OutputStream};

use crate::error::{Error, LoadError};
use crate::loader::{self, Loader, Module};
use crate::ntdll::{self, ServiceTable};
use crate::seh::{self, Raise};
use crate::status::*;
use crate::teb::{self, BlockInit, Blocks, GuestHeap, Params, Stack};
use crate::thunks::{self, Call, Kind, Wow64Info, SCRATCH_BASE};

/// Captured output of a process (see [`ProcessBuilder::capture_output`]).
#[derive(Clone, Default)]
pub struct Output {
    pub stdout: Captured,
    pub stderr: Captured,
}

/// Builds a [`Process`]. See [`Process::builder`].
pub struct ProcessBuilder {
    root: Option<PathBuf>,
    image_path: Option<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: InputStream,
    stdout: OutputStream,
    stderr: OutputStream,
    trace: Option<Box<dyn Write + Send>>,
    max_insns: Option<u64>,
    builtin_ntdll: bool,
    files: Vec<(String, Vec<u8>)>,
}

/// Why the run loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Exited(u32),
    Returned(u32),
    Budget,
    Embedder(Exit),
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
    info: Wow64Info,
    services: ServiceTable,
    modules: Vec<Module>,
    main: usize,
    stack: Stack,
    blocks: Blocks,
    dispatcher: u32,
    return_trap: u32,
    trace: Option<Box<dyn Write + Send>>,
    max_insns: Option<u64>,
    clock_insns: u64,
    exit: Option<u32>,
    message: Option<String>,
    root: PathBuf,
    temp_root: bool,
}

static SANDBOX_COUNTER: AtomicU64 = AtomicU64::new(0);

fn fresh_sandbox() -> Result<PathBuf, LoadError> {
    let n = SANDBOX_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("x86wow-{}-{nanos}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| LoadError::Io { path: dir.display().to_string(), error: e.to_string() })?;
    Ok(dir)
}

/// Writes `data` at a Win32 path in the sandbox unless the file already holds it.
fn install(root: &Path, win32: &str, data: &[u8]) -> Result<(), LoadError> {
    let io = |e: std::io::Error| LoadError::Io { path: win32.into(), error: e.to_string() };
    let host = loader::host_path(root, win32).unwrap_or_else(|| {
        let rel = win32.get(3..).unwrap_or("").replace('\\', "/");
        root.join(rel)
    });
    if std::fs::read(&host).is_ok_and(|cur| cur == data) {
        return Ok(());
    }
    if let Some(dir) = host.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(&host, data).map_err(io)
}

impl Default for ProcessBuilder {
    fn default() -> Self {
        ProcessBuilder {
            root: None,
            image_path: None,
            args: Vec::new(),
            env: vec![
                ("PATH".into(), "C:\\Windows\\system32;C:\\Windows".into()),
                ("SystemRoot".into(), "C:\\Windows".into()),
                ("windir".into(), "C:\\Windows".into()),
            ],
            stdin: InputStream::empty(),
            stdout: OutputStream::null(),
            stderr: OutputStream::null(),
            trace: None,
            max_insns: None,
            builtin_ntdll: true,
            files: Vec::new(),
        }
    }
}

impl ProcessBuilder {
    /// The host directory the guest sees as `C:\` (default: a fresh temporary directory,
    /// removed when the process is dropped).
    pub fn root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.root = Some(dir.into());
        self
    }

    /// Where the image lives in the sandbox (default `C:\program.exe`, or
    /// `C:\library.dll` for [`Library::load`]).
    pub fn image_path(mut self, win32: impl Into<String>) -> Self {
        self.image_path = Some(win32.into());
        self
    }

    /// The program's arguments (after its name).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.env.retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
        self.env.push((key, value.into()));
        self
    }

    pub fn stdin(mut self, s: InputStream) -> Self {
        self.stdin = s;
        self
    }

    pub fn stdout(mut self, s: OutputStream) -> Self {
        self.stdout = s;
        self
    }

    pub fn stderr(mut self, s: OutputStream) -> Self {
        self.stderr = s;
        self
    }

    /// Captures standard output and error in memory.
    pub fn capture_output(self) -> (Self, Output) {
        let (out, o) = OutputStream::capture();
        let (err, e) = OutputStream::capture();
        (self.stdout(out).stderr(err), Output { stdout: o, stderr: e })
    }

    /// The host's standard streams.
    pub fn inherit_stdio(self) -> Self {
        self.stdin(InputStream::new(std::io::stdin()))
            .stdout(OutputStream::new(std::io::stdout()))
            .stderr(OutputStream::new(std::io::stderr()))
    }

    /// Writes one line per service call (32-bit and 64-bit arguments, names, status).
    pub fn trace(mut self, sink: impl Write + Send + 'static) -> Self {
        self.trace = Some(Box::new(sink));
        self
    }

    /// Stops after this many instructions (default: no limit).
    pub fn max_insns(mut self, n: u64) -> Self {
        self.max_insns = Some(n);
        self
    }

    /// Puts a file into the sandbox before the process starts (a DLL the program
    /// imports, input data...), at a Win32 path such as `C:\\adder.dll`.
    pub fn file(mut self, win32: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        self.files.push((win32.into(), data.into()));
        self
    }

    /// Use the ntdll.dll found in the sandbox's C:\Windows\SysWOW64 instead of writing
    /// x86wow's own there (it must have stubs of the Windows 10 shape and the exports
    /// x86wow's start-up code uses).
    pub fn sandbox_ntdll(mut self) -> Self {
        self.builtin_ntdll = false;
        self
    }

    /// Builds the process for a program (or, for a DLL image, a process whose main
    /// module is that DLL, started by [`Library::load`]).
    pub fn build(self, image: &[u8]) -> Result<Process, Error> {
        Ok(Process::create(self, image)?)
    }
}

impl Process {
    pub fn builder() -> ProcessBuilder {
        ProcessBuilder::default()
    }

    fn create(b: ProcessBuilder, image: &[u8]) -> Result<Process, LoadError> {
        let headers = crate::pe::parse(image).map_err(|error| LoadError::Image {
            name: b.image_path.clone().unwrap_or_else(|| "program".into()),
            error,
        })?;
        let is_dll = headers.is_dll();
        let image_path = b.image_path.clone().unwrap_or_else(|| {
            if is_dll {
                "C:\\library.dll".into()
            } else {
                "C:\\program.exe".into()
            }
        });
        let (root, temp_root) = match &b.root {
            Some(r) => (r.clone(), false),
            None => (fresh_sandbox()?, true),
        };
        let mut p = Self::create_in(b, image, &headers, &image_path, root.clone());
        if let Ok(p) = &mut p {
            p.temp_root = temp_root;
        } else if temp_root {
            let _ = std::fs::remove_dir_all(&root);
        }
        p
    }

    fn create_in(
        b: ProcessBuilder,
        image: &[u8],
        headers: &crate::pe::Headers,
        image_path: &str,
        root: PathBuf,
    ) -> Result<Process, LoadError> {
        install(&root, image_path, image)?;
        for (path, data) in &b.files {
            install(&root, path, data)?;
        }
        let ntdll_path = format!("{}\\ntdll.dll", loader::SYSTEM_DIR);
        if b.builtin_ntdll {
            install(&root, &ntdll_path, &ntdll::build())?;
        }
        let limit: u32 = if headers.large_address_aware() { 0xFFFE_FFFF } else { 0x7FFE_FFFF };
        let mut cfg = KernelConfig::new(&root);
        cfg.console.stdin = b.stdin.clone();
        cfg.console.stdout = b.stdout.clone();
        cfg.console.stderr = b.stderr.clone();
        cfg.emulation_highest_user_address = limit as u64;
        let (pid, tid, locale) = (cfg.process_id as u32, cfg.thread_id as u32, cfg.locale);
        let (identity, processors) = (cfg.identity, cfg.number_of_processors);
        let mut kernel = Kernel::new(cfg);
        let mut cpu = Cpu::new();
        let st = kernel.init_process(&mut cpu.mem);
        if !st.is_success() {
            return Err(LoadError::Setup { step: "KUSER_SHARED_DATA", status: st.0 });
        }
        // The 64 KiB above the highest user address is never handed out (as on Windows).
        let _ = kernel.vm_reserve_at(
            &mut cpu.mem,
            limit as u64 + 1,
            0x1_0000,
            MEM_RESERVE,
            PAGE_NOACCESS,
            MemType::Private,
        );
        let blocks = teb::allocate_blocks(&mut kernel, &mut cpu.mem, limit)?;
        kernel.set_process_blocks(blocks.peb64 as u64, blocks.teb64 as u64, blocks.peb32 as u64);
        let zero_bits = if limit > 0x7FFF_FFFF { 0xFFFF_FFFF } else { 0x7FFF_FFFF };
        let mut heap = GuestHeap::default();
        let mut ld = Loader::new(&mut kernel, &mut cpu.mem, &mut heap, root.clone(), limit, zero_bits);
        ld.app_dir = image_path.rsplit_once('\\').map(|(d, _)| format!("{d}\\")).unwrap_or("C:\\".into());
        let nt = ld.map(&ntdll_path)?;
        let main = ld.map(image_path)?;
        let linked = ld.link(main);
        let result = linked.and_then(|_| {
            let m = &ld.modules[main];
            let entry = if m.is_dll() { 0 } else { m.entry };
            let ldr = ld.build_ldr()?;
            let block = ld.init_block(entry, blocks.peb32)?;
            let app_dir = ld.app_dir.clone();
            let cwd = ld.open_directory(&app_dir).unwrap_or(0);
            Ok((ldr, block, ld.tls_array(), cwd))
        });
        ld.finish();
        let modules = std::mem::take(&mut ld.modules);
        drop(ld);
        let (ldr32, init_block, tls_array, cwd_handle) = result?;
        let ntm = &modules[nt];
        let view = crate::pe::Mapped { mem: &cpu.mem, base: ntm.base, size: ntm.size };
        let export = |name: &str| -> Result<u32, LoadError> {
            match ntm.exports.by_name(&view, name) {
                Some(crate::pe::ExportTarget::Address(a)) => Ok(a),
                _ => Err(LoadError::MissingNtdllExport { name: name.into() }),
            }
        };
        let ldr_init = export("LdrInitializeThunk")?;
        let dispatcher = export("KiUserExceptionDispatcher")?;
        let return_trap = export("__x86wow_ReturnTrap")?;
        let gate = export("Wow64SystemServiceCall").unwrap_or(0);
        let services = ServiceTable::from_exports(
            ntm.exports.names().filter_map(|(n, i)| ntm.exports.address_of_index(i).map(|a| (n, a))),
            |a| {
                let mut b = vec![0u8; 16];
                cpu.mem.peek(a as u64, &mut b).ok().map(|_| b)
            },
        );
        let mh = &modules[main].headers;
        let stack = teb::allocate_stack(&mut kernel, &mut cpu.mem, mh.stack_reserve, mh.stack_commit, limit)?;
        let mut command_line = teb::quote_arg(image_path);
        for a in &b.args {
            command_line.push(' ');
            command_line.push_str(&teb::quote_arg(a));
        }
        let app_dir = image_path.rsplit_once('\\').map(|(d, _)| format!("{d}\\")).unwrap_or("C:\\".into());
        let std_handles = kernel.console_handles();
        let params = teb::build_params(
            &mut kernel,
            &mut cpu.mem,
            &mut heap,
            &Params {
                image_path,
                command_line: &command_line,
                current_directory: &app_dir,
                dll_path: &format!("{};{}", app_dir.trim_end_matches('\\'), loader::SYSTEM_DIR),
                environment: &b.env,
                std_handles,
                cwd_handle,
            },
            limit,
        )?;
        let main_base = modules[main].base;
        teb::fill_blocks(
            &mut cpu.mem,
            &BlockInit {
                blocks,
                stack,
                image_base: main_base,
                process_parameters: params,
                ldr32,
                gate,
                identity,
                processors,
                pid,
                tid,
                locale,
                subsystem: (mh.subsystem, 6, 0),
                scratch: (SCRATCH_BASE, crate::thunks::SCRATCH_LIMIT),
                _marker: std::marker::PhantomData,
            },
        );
        let _ = cpu.mem.poke((blocks.teb32 + teb::teb32::TLS_POINTER) as u64, &tls_array.to_le_bytes());
        let _ = cpu.mem.poke((blocks.peb64 + teb::peb64::LDR as u32) as u64, &0u64.to_le_bytes());
        kernel.set_process_image(image_path, x86wow_syscalls::parse_image(image).ok(), main_base as u64);
        kernel.set_emulation_highest_user_address(limit as u64);

        cpu.set_fs_base(blocks.teb32);
        cpu.config.stop_on_int = [false; 256];
        for n in [0x29, 0x2C, 0x2E] {
            cpu.config.stop_on_int[n] = true;
        }
        // LdrInitializeThunk(init_block), entered with a null return address.
        let esp = stack.base - 16;
        let _ = cpu.mem.poke(esp as u64, &0u32.to_le_bytes());
        let _ = cpu.mem.poke(esp as u64 + 4, &init_block.to_le_bytes());
        cpu.gpr[4] = esp;
        cpu.eip = ldr_init;

        Ok(Process {
            cpu,
            kernel,
            info: Wow64Info { limit, peb32: blocks.peb32, teb32: blocks.teb32 },
            services,
            modules,
            main,
            stack,
            blocks,
            dispatcher,
            return_trap,
            trace: b.trace,
            max_insns: b.max_insns,
            clock_insns: 0,
            exit: None,
            message: None,
            root,
            temp_root: false,
        })
    }

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

    fn run_loop(&mut self) -> Stop {
        loop {
            if let Some(s) = self.exit {
                return Stop::Exited(s);
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
        self.kernel.advance_clock(&mut self.cpu.mem, now - self.clock_insns);
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
    fn write_stack(&mut self, at: u32, data: &[u8]) -> bool {
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

    // ----- host-initiated calls -----

    /// Calls a guest function (stdcall or cdecl) with 32-bit arguments and returns EAX.
    /// Registers are restored afterwards, so the call may be made between others.
    pub fn call(&mut self, addr: u32, args: &[u32]) -> Result<u32, Error> {
        if let Some(s) = self.exit {
            return Err(Error::ProcessExited { status: s });
        }
        let saved = (self.cpu.gpr, self.cpu.eip, self.cpu.eflags());
        let mut frame = vec![self.return_trap];
        frame.extend_from_slice(args);
        let bytes: Vec<u8> = frame.iter().flat_map(|v| v.to_le_bytes()).collect();
        let esp = (saved.0[4] & !3).wrapping_sub(64).wrapping_sub(bytes.len() as u32);
        if !self.write_stack(esp, &bytes) {
            return Err(Error::Memory { addr: esp as u64, len: bytes.len() });
        }
        self.cpu.gpr[4] = esp;
        self.cpu.eip = addr;
        let stop = self.run_loop();
        let result = match stop {
            Stop::Returned(v) => Ok(v),
            Stop::Exited(s) => Err(match &self.message {
                Some(_) if s & 0xC000_0000 == 0xC000_0000 => Error::Unhandled { code: s, eip: self.cpu.eip },
                _ => Error::ProcessExited { status: s },
            }),
            Stop::Budget => Err(Error::BudgetExhausted),
            Stop::Embedder(_) => Err(Error::BudgetExhausted),
        };
        if result.is_ok() {
            self.cpu.gpr = saved.0;
            self.cpu.eip = saved.1;
            self.cpu.set_eflags(saved.2);
        }
        result
    }

    /// Runs the start-up code (DllMain of every DLL, TLS callbacks) without calling an
    /// entry point; used for libraries.
    fn initialize(&mut self) -> Result<(), Error> {
        match self.run_loop() {
            Stop::Returned(_) => {
                // LdrInitializeThunk ran into the return trap: reset the stack.
                self.cpu.gpr[4] = self.stack.base - 16;
                Ok(())
            }
            Stop::Exited(s) => Err(Error::ProcessExited { status: s }),
            Stop::Budget | Stop::Embedder(_) => Err(Error::BudgetExhausted),
        }
    }

    /// Allocates committed read-write guest memory (below the 32-bit limit).
    pub fn alloc(&mut self, size: u32) -> Result<u32, Error> {
        use x86wow_syscalls::consts::MEM_COMMIT;
        self.kernel
            .vm_allocate(
                &mut self.cpu.mem,
                size.max(1) as u64,
                MEM_COMMIT | MEM_RESERVE,
                PAGE_READWRITE,
                self.info.limit as u64,
                MemType::Private,
            )
            .map(|a| a as u32)
            .map_err(|s| Error::Alloc { size: size as u64, status: s.0 })
    }

    /// Writes guest memory (as the guest would: protection is checked).
    pub fn write(&mut self, addr: u32, data: &[u8]) -> Result<(), Error> {
        self.cpu
            .mem
            .write_bytes(addr as u64, data)
            .map_err(|_| Error::Memory { addr: addr as u64, len: data.len() })
    }

    /// Reads guest memory.
    pub fn read(&mut self, addr: u32, len: usize) -> Result<Vec<u8>, Error> {
        let mut b = vec![0u8; len];
        self.cpu.mem.read_bytes(addr as u64, &mut b).map_err(|_| Error::Memory { addr: addr as u64, len })?;
        Ok(b)
    }

    /// Allocates a NUL-terminated byte string in guest memory.
    pub fn alloc_cstr(&mut self, s: &str) -> Result<u32, Error> {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        let at = self.alloc(b.len() as u32)?;
        self.write(at, &b)?;
        Ok(at)
    }

    /// Allocates a NUL-terminated UTF-16 string in guest memory.
    pub fn alloc_wstr(&mut self, s: &str) -> Result<u32, Error> {
        let b: Vec<u8> = s.encode_utf16().chain([0]).flat_map(|c| c.to_le_bytes()).collect();
        let at = self.alloc(b.len() as u32)?;
        self.write(at, &b)?;
        Ok(at)
    }

    /// Reads a NUL-terminated byte string (at most `max` bytes).
    pub fn read_cstr(&mut self, addr: u32, max: usize) -> Result<String, Error> {
        let mut out = Vec::new();
        for i in 0..max as u32 {
            let b = self
                .cpu
                .mem
                .read_u8(addr.wrapping_add(i) as u64)
                .map_err(|_| Error::Memory { addr: addr as u64, len: 1 })?;
            if b == 0 {
                break;
            }
            out.push(b);
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// The address of an export of a loaded module (forwarders followed by name).
    pub fn export(&self, module: &str, name: &str) -> Option<u32> {
        let m = self.modules.iter().find(|m| m.name.eq_ignore_ascii_case(module))?;
        let view = crate::pe::Mapped { mem: &self.cpu.mem, base: m.base, size: m.size };
        match m.exports.by_name(&view, name)? {
            crate::pe::ExportTarget::Address(a) => Some(a),
            crate::pe::ExportTarget::Forward(f) => {
                let (dll, func) = f.rsplit_once('.')?;
                let dll = if dll.contains('.') { dll.to_string() } else { format!("{dll}.dll") };
                self.export(&dll, func)
            }
        }
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

/// A 32-bit DLL loaded into its own process, with its exports callable from the host.
///
/// ```
/// use x86wow_wow64::{Library, Process, pebuild};
///
/// // A DLL exporting `Add(a, b)` (stdcall): mov eax,[esp+4] ; add eax,[esp+8] ; ret 8
/// let mut pe = pebuild::PeBuilder::new(0x1000_0000, true);
/// let code = vec![0x8B, 0x44, 0x24, 0x04, 0x03, 0x44, 0x24, 0x08, 0xC2, 0x08, 0x00];
/// let text = pe.add_section(".text", pebuild::scn::CODE, code);
/// let edata_rva = pe.next_rva();
/// let edata = pebuild::export_directory(edata_rva, "adder.dll", 1, &[("Add", text)], &[]);
/// pe.directories[pebuild::dir::EXPORT] = (edata_rva, edata.len() as u32);
/// pe.add_section(".edata", pebuild::scn::RDATA, edata);
///
/// let mut lib = Library::load(Process::builder(), &pe.build()).unwrap();
/// assert_eq!(lib.call("Add", &[2, 40]).unwrap(), 42);
/// ```
pub struct Library {
    process: Process,
}

impl Library {
    /// Loads a DLL image into a new process and runs its initialisation (DllMain with
    /// DLL_PROCESS_ATTACH, after its dependencies').
    pub fn load(builder: ProcessBuilder, dll: &[u8]) -> Result<Library, Error> {
        let mut process = builder.build(dll)?;
        process.initialize()?;
        Ok(Library { process })
    }

    /// The address of an export of the library.
    pub fn export(&self, name: &str) -> Option<u32> {
        let m = self.process.main_module().name.clone();
        self.process.export(&m, name)
    }

    /// Calls an export with 32-bit arguments; returns EAX.
    pub fn call(&mut self, name: &str, args: &[u32]) -> Result<u32, Error> {
        let addr = self.export(name).ok_or_else(|| Error::NoSuchExport { name: name.into() })?;
        self.process.call(addr, args)
    }

    /// The process the library lives in (for memory helpers and the kernel).
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }
}
