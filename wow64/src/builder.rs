//! Building a process: the sandbox, the kernel, the blocks, the images and the start-up
//! state of the CPU.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use x86wow_cpu::Cpu;
use x86wow_syscalls::consts::{MEM_RESERVE, PAGE_NOACCESS};
use x86wow_syscalls::{Kernel, KernelConfig, MemType};

pub use x86wow_syscalls::{Captured, InputStream, OutputStream};

use crate::error::{Error, LoadError};
use crate::loader::{self, Loader};
use crate::ntdll::{self, ServiceTable};
use crate::process::Process;
use crate::teb::{self, BlockInit, GuestHeap, Params};
use crate::thunks::{Wow64Info, SCRATCH_BASE};

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
    /// `C:\library.dll` for [`ProcessBuilder::build_dll`]).
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
    /// module is that DLL, started by [`ProcessBuilder::build_dll`]).
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
        let dll_inits: Vec<(u32, u32)> = ld.init.iter().map(|r| (r.routine, r.args[0])).collect();
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
            dll_inits,
            host_depth: 0,
            fault: None,
            traps: Vec::new(),
            trap_next: 0,
        })
    }
}
