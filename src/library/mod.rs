//! Load a 32-bit DLL into this 64-bit program and call it.
//!
//! A 64-bit process cannot load a 32-bit DLL. [`Library`] runs one inside the
//! interpreter instead, in a 32-bit process model of its own (the WOW64 layer): its
//! imports are resolved, its TLS callbacks and `DllMain(DLL_PROCESS_ATTACH)` run, and
//! its exports are called by name or ordinal with the 32-bit calling conventions.
//! Arguments cross the boundary under the WOW64 rules: pointers are 32-bit guest
//! addresses (zero-extended on the host), handles are 64-bit on the host side and
//! must be sign-extended 32-bit values to cross (never truncated), and data behind
//! pointers ([`Arg::Bytes`], strings, [`Struct`]s in their 32-bit layout) is copied
//! into guest memory for the call and back after it.
//!
//! ```
//! use x86wow::library::{Arg, Conv, Library, Type, Value};
//!
//! let mut lib = Library::load("testdata/win32/interop.dll").unwrap();
//! let sum = lib.call("add_stdcall", Conv::Stdcall, &mut [Arg::from(2), Arg::from(40)], Type::I32).unwrap();
//! assert_eq!(sum, Value::I32(42));
//!
//! // A string in, a string out.
//! let mut args = [Arg::str("x86"), Arg::str_out(32), Arg::from(32)];
//! lib.call("greet", Conv::Stdcall, &mut args, Type::I32).unwrap();
//! assert_eq!(args[1].text(), Some("Hello, x86!"));
//!
//! // A host closure as a 32-bit callback: the DLL calls it for 0, 1, 2... while it
//! // returns non-zero.
//! let cb = lib
//!     .callback(Conv::Stdcall, &[Type::I32, Type::Ptr], Type::I32, |_, args| {
//!         Ok(Value::I32((args[0] != Value::I32(3)) as i32))
//!     })
//!     .unwrap();
//! let mut args = [Arg::Callback(cb), Arg::Null, Arg::from(10)];
//! assert_eq!(lib.call("enum_values", Conv::Stdcall, &mut args, Type::I32).unwrap(), Value::I32(4));
//!
//! // A fault is an error, and the library goes on.
//! let err = lib.call("fault_write", Conv::Stdcall, &mut [Arg::Null], Type::I32).unwrap_err();
//! assert!(err.to_string().contains("STATUS_ACCESS_VIOLATION"));
//! assert_eq!(lib.call("add_cdecl", Conv::Cdecl, &mut [Arg::from(1), Arg::from(2)], Type::I32).unwrap(), Value::I32(3));
//! ```

mod arg;
mod error;
mod layout;
mod marshal;
mod value;

use std::path::{Path, PathBuf};

use x86wow_fp::x87::conv::{to_f32, to_f64};
use x86wow_fp::{X87Control, F80};
use x86wow_wow64::hostcall::{GuestCall, GuestReturn};
use x86wow_wow64::{Process, ProcessBuilder};

pub use arg::{Arg, Dir};
pub use error::CallError;
pub use layout::{Field, FieldType, Layout, Struct};
pub use value::{narrow_handle, narrow_ptr, Conv, Type, Value};

use marshal::Marshalled;

/// Instructions a detach (DllMain with DLL_PROCESS_DETACH) may take on drop.
const DETACH_BUDGET: u64 = 50_000_000;

/// Most DLLs copied from beside a library into its sandbox.
const MAX_SIBLINGS: usize = 64;

/// An export, by name or by ordinal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Export {
    Name(String),
    Ordinal(u32),
}

impl From<&str> for Export {
    /// A name, or `#N` for ordinal N.
    fn from(s: &str) -> Export {
        match s.strip_prefix('#').map(str::parse) {
            Some(Ok(n)) => Export::Ordinal(n),
            _ => Export::Name(s.to_string()),
        }
    }
}

impl From<u32> for Export {
    fn from(n: u32) -> Export {
        Export::Ordinal(n)
    }
}

impl std::fmt::Display for Export {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Export::Name(n) => f.write_str(n),
            Export::Ordinal(o) => write!(f, "#{o}"),
        }
    }
}

/// One export of a library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportInfo {
    pub ordinal: u32,
    pub name: Option<String>,
    /// Its address in guest memory, or where it forwards to (`DLL.Function`).
    pub target: ExportTarget,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportTarget {
    Address(u32),
    Forward(String),
}

/// A host function exposed to guest code as a 32-bit function pointer
/// ([`Library::callback`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Callback {
    addr: u32,
}

impl Callback {
    /// The guest address the DLL calls.
    pub fn addr(&self) -> u32 {
        self.addr
    }
}

/// What a callback sees of the guest while it runs.
pub struct Guest<'a> {
    process: &'a mut Process,
}

impl Guest<'_> {
    /// Reads guest memory.
    pub fn read(&mut self, addr: u32, len: usize) -> Result<Vec<u8>, CallError> {
        Ok(self.process.read(addr, len)?)
    }

    /// Writes guest memory (protection is checked as for the guest).
    pub fn write(&mut self, addr: u32, data: &[u8]) -> Result<(), CallError> {
        Ok(self.process.write(addr, data)?)
    }

    /// Reads a NUL-terminated 8-bit string (at most 64 KiB).
    pub fn read_str(&mut self, addr: u32) -> Result<String, CallError> {
        marshal::read_string(self.process, addr, 1)
    }

    /// Reads a NUL-terminated UTF-16 string (at most 64 Ki units).
    pub fn read_wstr(&mut self, addr: u32) -> Result<String, CallError> {
        marshal::read_string(self.process, addr, 2)
    }
}

type HostFn = dyn FnMut(&mut Guest<'_>, &[Value]) -> Result<Value, String>;

struct Slot {
    addr: u32,
    conv: Conv,
    params: Vec<Type>,
    ret: Type,
    f: Box<HostFn>,
}

/// A 32-bit DLL loaded into an interpreted 32-bit process of its own, with its exports
/// callable from the host. See the [module documentation](self) for an example.
///
/// Dropping it detaches the DLL (its TLS callbacks and `DllMain` get
/// `DLL_PROCESS_DETACH` with `lpReserved` NULL, in the reverse of the attach order,
/// as FreeLibrary does) and frees the process; [`Library::unload`] does the same and
/// reports errors.
pub struct Library {
    process: Process,
    module: String,
    callbacks: Vec<Slot>,
    budget: Option<u64>,
    detached: bool,
    path: PathBuf,
}

impl Library {
    /// Loads a DLL from a host file into a fresh sandbox (a temporary directory seen as
    /// `C:\`, removed on drop). DLLs beside it whose names the image mentions are copied
    /// in too, so its own imports resolve.
    pub fn load(path: impl AsRef<Path>) -> Result<Library, CallError> {
        Library::load_with(Process::builder(), path)
    }

    /// Loads a DLL with process options (output capture, a trace, a sandbox root...).
    pub fn load_with(builder: ProcessBuilder, path: impl AsRef<Path>) -> Result<Library, CallError> {
        let path = path.as_ref();
        let fail = |why: String| CallError::Load { path: path.display().to_string(), why };
        let image = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "library.dll".into());
        let mut b = builder;
        for (sibling, data) in siblings(path, &image) {
            b = b.file(format!("C:\\{sibling}"), data);
        }
        let mut lib = Library::load_image(b, &name, &image)?;
        lib.path = path.into();
        Ok(lib)
    }

    /// Loads a DLL image from memory as `C:\NAME` (its imports other than ntdll must
    /// be given to the builder with [`ProcessBuilder::file`]).
    pub fn load_image(builder: ProcessBuilder, name: &str, image: &[u8]) -> Result<Library, CallError> {
        let fail = |why: String| CallError::Load { path: name.into(), why };
        if name.is_empty() || name.contains(['\\', '/', ':']) {
            return Err(fail("the name must be a plain file name".into()));
        }
        // An executable's start-up would run its entry point as a program: only DLLs
        // (IMAGE_FILE_DLL) are libraries.
        match x86wow_wow64::pe::parse(image) {
            Ok(h) if !h.is_dll() => {
                return Err(fail("not a DLL (an executable image: IMAGE_FILE_DLL is clear)".into()))
            }
            Err(e) => return Err(fail(e.to_string())),
            Ok(_) => {}
        }
        let process =
            builder.image_path(format!("C:\\{name}")).build_dll(image).map_err(|e| fail(e.to_string()))?;
        let module = process.main_module().name.clone();
        Ok(Library {
            process,
            module,
            callbacks: Vec::new(),
            budget: None,
            detached: false,
            path: name.into(),
        })
    }

    /// The host path the library was loaded from (the name, for [`Library::load_image`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every export: ordinal, name (if exported by name), address or forwarder.
    pub fn exports(&self) -> Vec<ExportInfo> {
        self.process
            .exports_of(&self.module)
            .into_iter()
            .map(|(ordinal, name, t)| ExportInfo {
                ordinal,
                name,
                target: match t {
                    x86wow_wow64::pe::ExportTarget::Address(a) => ExportTarget::Address(a),
                    x86wow_wow64::pe::ExportTarget::Forward(f) => ExportTarget::Forward(f),
                },
            })
            .collect()
    }

    /// The address of an export (forwarders followed).
    pub fn export(&self, export: impl Into<Export>) -> Option<u32> {
        match export.into() {
            Export::Name(n) => self.process.export(&self.module, &n),
            Export::Ordinal(o) => self.process.export_ordinal(&self.module, o),
        }
    }

    /// Limits every following call (callbacks included) to `n` instructions; `None`
    /// lifts the limit. A call that runs out fails with [`CallError::Budget`] and the
    /// library stays usable.
    pub fn set_budget(&mut self, n: Option<u64>) {
        self.budget = n;
    }

    /// Calls an export. `Out` and `InOut` arguments hold the callee's data afterwards.
    pub fn call(
        &mut self,
        export: impl Into<Export>,
        conv: Conv,
        args: &mut [Arg],
        ret: Type,
    ) -> Result<Value, CallError> {
        let export = export.into();
        let addr = self
            .export(export.clone())
            .ok_or_else(|| CallError::NoSuchExport { export: export.to_string() })?;
        self.call_at(&export.to_string(), addr, conv, args, ret)
    }

    /// Calls a function by guest address (a function pointer the DLL handed out).
    pub fn call_addr(
        &mut self,
        addr: u32,
        conv: Conv,
        args: &mut [Arg],
        ret: Type,
    ) -> Result<Value, CallError> {
        self.call_at(&format!("{addr:#010x}"), addr, conv, args, ret)
    }

    fn call_at(
        &mut self,
        what: &str,
        addr: u32,
        conv: Conv,
        args: &mut [Arg],
        ret: Type,
    ) -> Result<Value, CallError> {
        let m = Marshalled::new(&mut self.process, args)?;
        let result = self.invoke(what, addr, conv, &m, ret);
        let back = if result.is_ok() { m.read_back(&mut self.process, args) } else { Ok(()) };
        m.free(&mut self.process);
        back?;
        result
    }

    fn invoke(
        &mut self,
        what: &str,
        addr: u32,
        conv: Conv,
        m: &Marshalled,
        ret: Type,
    ) -> Result<Value, CallError> {
        let mut regs = Vec::new();
        let mut stack = Vec::new();
        for (i, p) in m.passed.iter().enumerate() {
            let to_reg = match conv {
                Conv::Fastcall => p.in_register && regs.len() < 2,
                Conv::Thiscall if i == 0 => {
                    if !p.in_register {
                        return Err(CallError::BadArgument {
                            index: Some(0),
                            why: "thiscall's first argument (this) must be a pointer-sized value".into(),
                        });
                    }
                    true
                }
                _ => false,
            };
            if to_reg {
                regs.push(p.slots[0]);
            } else {
                stack.extend_from_slice(&p.slots);
            }
        }
        if conv == Conv::Thiscall && regs.is_empty() {
            return Err(CallError::BadArgument { index: None, why: "thiscall needs a this pointer".into() });
        }
        let stack_bytes = 4 * stack.len() as u32;
        let call = GuestCall {
            addr,
            ecx: regs.first().copied().unwrap_or(0),
            edx: regs.get(1).copied().unwrap_or(0),
            stack,
            max_insns: self.budget,
            pop_st0: ret.is_float(),
        };
        let r = self.run(&call)?;
        let expected = if conv.callee_pops() { stack_bytes } else { 0 };
        if r.callee_popped != expected {
            return Err(CallError::StackMismatch {
                export: what.into(),
                conv: conv.to_string(),
                expected,
                popped: r.callee_popped,
            });
        }
        Ok(match ret {
            Type::F32 => Value::F32(f32::from_bits(to_f32(r.st0.unwrap_or(F80::ZERO), host_fpu()).value)),
            Type::F64 => Value::F64(f64::from_bits(to_f64(r.st0.unwrap_or(F80::ZERO), host_fpu()).value)),
            t => Value::from_bits(t, (r.edx as u64) << 32 | r.eax as u64),
        })
    }

    /// Runs a guest call, serving its callbacks.
    fn run(&mut self, call: &GuestCall) -> Result<GuestReturn, CallError> {
        let callbacks = &mut self.callbacks;
        let mut failed = None;
        let r = self.process.call_with(call, &mut |p, at| {
            on_trap(callbacks, p, at).map_err(|e| {
                failed = Some(e);
                x86wow_wow64::Error::Stopped { why: format!("the callback at {at:#010x} failed") }
            })
        });
        match (r, failed) {
            (Ok(r), _) => Ok(r),
            (Err(_), Some(e)) => Err(e),
            (Err(e), None) => Err(self.call_error(e)),
        }
    }

    fn call_error(&mut self, e: x86wow_wow64::Error) -> CallError {
        use x86wow_wow64::Error as E;
        match e {
            E::Fault { code, address, params } => {
                CallError::Fault { code, address, params, disassembly: self.disassemble(address) }
            }
            E::BudgetExhausted => CallError::Budget { insns: self.budget.unwrap_or(0) },
            e => e.into(),
        }
    }

    /// `module!symbol+off: bytes  instruction` at `addr`.
    fn disassemble(&self, addr: u32) -> String {
        use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};
        let p = &self.process;
        let bytes = crate::debug::disasm::read_mapped(&p.cpu, addr, 15);
        let symbols = crate::debug::symbols::Symbols::from_modules(p.modules(), &self.module, &p.cpu.mem);
        let place = symbols.describe(addr).unwrap_or_else(|| format!("{addr:#010x}"));
        let mut d = Decoder::with_ip(32, &bytes, addr as u64, DecoderOptions::NONE);
        if bytes.is_empty() {
            return format!("{place}: (not mapped)");
        }
        let ins = d.decode();
        let mut text = String::new();
        IntelFormatter::new().format(&ins, &mut text);
        let hex: Vec<String> =
            bytes[..ins.len().min(bytes.len())].iter().map(|b| format!("{b:02x}")).collect();
        format!("{place} ({addr:#010x}): {}  {text}", hex.join(" "))
    }

    /// Exposes a host closure to guest code as a 32-bit function pointer with the
    /// given convention (stdcall or cdecl), parameter types and result type. The
    /// closure sees the guest's memory through [`Guest`]; an `Err` abandons the whole
    /// call with [`CallError::Callback`].
    pub fn callback(
        &mut self,
        conv: Conv,
        params: &[Type],
        ret: Type,
        f: impl FnMut(&mut Guest<'_>, &[Value]) -> Result<Value, String> + 'static,
    ) -> Result<Callback, CallError> {
        if !matches!(conv, Conv::Stdcall | Conv::Cdecl) {
            return Err(CallError::BadArgument {
                index: None,
                why: format!("callbacks are stdcall or cdecl, not {conv}"),
            });
        }
        if params.contains(&Type::Void) {
            return Err(CallError::BadArgument {
                index: None,
                why: "a callback parameter cannot be void".into(),
            });
        }
        let addr = self.process.alloc_trap()?;
        self.callbacks.push(Slot { addr, conv, params: params.to_vec(), ret, f: Box::new(f) });
        Ok(Callback { addr })
    }

    /// Guest memory that outlives calls (for data the DLL keeps pointers to).
    pub fn alloc(&mut self, len: u32) -> Result<u32, CallError> {
        Ok(self.process.alloc(len)?)
    }

    /// Reads guest memory.
    pub fn read(&mut self, addr: u32, len: usize) -> Result<Vec<u8>, CallError> {
        Ok(self.process.read(addr, len)?)
    }

    /// Writes guest memory.
    pub fn write(&mut self, addr: u32, data: &[u8]) -> Result<(), CallError> {
        Ok(self.process.write(addr, data)?)
    }

    /// Reads a NUL-terminated 8-bit string the DLL points at.
    pub fn read_str(&mut self, addr: u32) -> Result<String, CallError> {
        marshal::read_string(&mut self.process, addr, 1)
    }

    /// The process the library lives in (its kernel, CPU and modules).
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    /// Detaches the DLL (and the DLLs it brought in) with DLL_PROCESS_DETACH,
    /// reporting the first failure.
    pub fn unload(mut self) -> Result<(), CallError> {
        self.detach()
    }

    fn detach(&mut self) -> Result<(), CallError> {
        if std::mem::replace(&mut self.detached, true) {
            return Ok(());
        }
        let mut first = Ok(());
        for (entry, base) in self.process.dll_entries() {
            let call = GuestCall {
                addr: entry,
                stack: vec![base, 0, 0],
                max_insns: Some(self.budget.unwrap_or(DETACH_BUDGET)),
                ..GuestCall::default()
            };
            let r = self.run(&call);
            if let (Err(e), Ok(())) = (r, &first) {
                first = Err(e);
            }
        }
        first
    }
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("path", &self.path)
            .field("module", &self.module)
            .field("callbacks", &self.callbacks.len())
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl Drop for Library {
    fn drop(&mut self) {
        let _ = self.detach();
    }
}

/// The control word host-side conversions of x87 results use: round to nearest.
fn host_fpu() -> X87Control {
    X87Control::from_fcw(0x037F)
}

/// Runs the callback at `at`: reads its arguments, calls the closure, returns to the
/// guest as the convention requires.
fn on_trap(callbacks: &mut [Slot], p: &mut Process, at: u32) -> Result<(), CallError> {
    let stopped = |why: String| CallError::Callback { addr: at, why };
    let Some(slot) = callbacks.iter_mut().find(|s| s.addr == at) else {
        return Err(x86wow_wow64::Error::NoTrapHandler { addr: at }.into());
    };
    let nslots: usize = slot.params.iter().map(|t| t.slots()).sum();
    let words = p.trap_args(nslots)?;
    let mut values = Vec::with_capacity(slot.params.len());
    let mut i = 0;
    for t in &slot.params {
        let q = match t.slots() {
            2 => words[i] as u64 | (words[i + 1] as u64) << 32,
            _ => words[i] as u64,
        };
        i += t.slots();
        values.push(Value::from_bits(*t, q));
    }
    let v = (slot.f)(&mut Guest { process: p }, &values).map_err(stopped)?;
    if v.ty() != slot.ret {
        return Err(stopped(format!("returned {} for a {} result", v.ty(), slot.ret)));
    }
    let (mut eax, mut edx, mut st0) = (0, 0, None);
    match v {
        Value::F32(f) => st0 = Some(F80::from_f64_bits((f as f64).to_bits())),
        Value::F64(f) => st0 = Some(F80::from_f64_bits(f.to_bits())),
        Value::Void => {}
        v => {
            let s = v.slots().map_err(|e| stopped(e.to_string()))?;
            eax = s[0];
            edx = s.get(1).copied().unwrap_or(0);
        }
    }
    let pop = if slot.conv.callee_pops() { 4 * nslots as u32 } else { 0 };
    Ok(p.trap_return(eax, edx, st0, pop)?)
}

/// DLLs beside `path` that `image` names (case-insensitively), and theirs in turn:
/// the files a DLL's imports will look for in its own directory.
fn siblings(path: &Path, image: &[u8]) -> Vec<(String, Vec<u8>)> {
    let Some(dir) = path.parent() else { return Vec::new() };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let own = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase());
    let candidates: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let lower = name.to_ascii_lowercase();
            (lower.ends_with(".dll") && Some(&lower) != own.as_ref() && lower != "ntdll.dll")
                .then(|| (name, e.path()))
        })
        .collect();
    let mut found: Vec<(String, Vec<u8>)> = Vec::new();
    let mut queue = vec![image.to_ascii_lowercase()];
    while let Some(img) = queue.pop() {
        for (name, p) in &candidates {
            if found.len() >= MAX_SIBLINGS || found.iter().any(|(n, _)| n == name) {
                continue;
            }
            let needle = name.to_ascii_lowercase().into_bytes();
            if img.windows(needle.len()).any(|w| w == needle.as_slice()) {
                if let Ok(data) = std::fs::read(p) {
                    queue.push(data.to_ascii_lowercase());
                    found.push((name.clone(), data));
                }
            }
        }
    }
    found
}
