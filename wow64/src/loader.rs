//! The user-mode loader: maps images through the kernel's SEC_IMAGE sections (so
//! NtQueryVirtualMemory reports MEM_IMAGE), resolves imports by name and ordinal with
//! forwarders, finds DLLs in the sandbox, sets up static TLS, builds the PEB's module
//! lists, and collects the initialisation routines (TLS callbacks, DllMain) in the
//! order Windows runs them.

use std::path::{Path, PathBuf};

use x86wow_mmu::Memory;
use x86wow_syscalls::consts::{MEM_COMMIT, MEM_RESERVE, PAGE_EXECUTE_WRITECOPY, PAGE_READWRITE, SEC_IMAGE};
use x86wow_syscalls::{Kernel, MemType, NtStatus, CURRENT_PROCESS};

use crate::error::{ImageError, LoadError};
use crate::pe::{self, ExportTarget, Exports, Headers, Import, Mapped, Tls};
use crate::teb::GuestHeap;

/// Where the loader keeps its 64-bit structures while it calls the kernel.
const LOADER_SCRATCH: u64 = crate::thunks::SCRATCH_BASE + 0x1000_0000;
/// The sandbox directory that is C:\Windows\SysWOW64 (and System32, for 32-bit code).
pub const SYSTEM_DIR: &str = "C:\\Windows\\SysWOW64";
const MAX_MODULES: usize = 256;
const MAX_FORWARD_DEPTH: u32 = 32;
/// Largest image file the loader reads.
const MAX_FILE: u64 = 0x1000_0000;

/// A mapped module.
#[derive(Debug, Clone)]
pub struct Module {
    /// The base name in lower case (`kernel32.dll`).
    pub name: String,
    /// Win32 path (`C:\Windows\SysWOW64\ntdll.dll`).
    pub path: String,
    pub base: u32,
    pub size: u32,
    /// Absolute entry point, 0 for none.
    pub entry: u32,
    pub headers: Headers,
    pub exports: Exports,
    pub tls: Option<Tls>,
}

impl Module {
    pub fn is_dll(&self) -> bool {
        self.headers.is_dll()
    }
}

/// One call LdrInitializeThunk makes: routine(arg1, arg2, arg3); `check` fails the
/// process start when a DllMain returns FALSE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitRoutine {
    pub routine: u32,
    pub args: [u32; 3],
    pub check: bool,
}

/// The loader over one process.
pub struct Loader<'a> {
    pub k: &'a mut Kernel,
    pub mem: &'a mut Memory,
    pub heap: &'a mut GuestHeap,
    pub root: PathBuf,
    pub modules: Vec<Module>,
    pub init: Vec<InitRoutine>,
    pub limit: u32,
    pub zero_bits: u64,
    /// Directory of the main image (searched first).
    pub app_dir: String,
    tls_pointers: u32,
    next_tls_index: u32,
    scratch_committed: bool,
}

fn lower_base(path: &str) -> String {
    path.rsplit(['\\', '/']).next().unwrap_or(path).to_ascii_lowercase()
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|c| c.to_le_bytes()).collect()
}

/// Finds the host file of a Win32 path under the sandbox root, matching each
/// component case-insensitively as the file system of Windows does.
pub fn host_path(root: &Path, win32: &str) -> Option<PathBuf> {
    let rest = win32.get(..2).filter(|d| d.eq_ignore_ascii_case("c:")).map(|_| &win32[2..])?;
    let mut p = root.to_path_buf();
    for comp in rest.split(['\\', '/']).filter(|c| !c.is_empty()) {
        if comp == "." || comp == ".." {
            return None;
        }
        let exact = p.join(comp);
        if exact.exists() {
            p = exact;
            continue;
        }
        let found = std::fs::read_dir(&p)
            .ok()?
            .filter_map(|e| e.ok())
            .find(|e| e.file_name().to_str().is_some_and(|n| n.eq_ignore_ascii_case(comp)))?;
        p = found.path();
    }
    Some(p)
}

impl<'a> Loader<'a> {
    pub fn new(
        k: &'a mut Kernel,
        mem: &'a mut Memory,
        heap: &'a mut GuestHeap,
        root: PathBuf,
        limit: u32,
        zero_bits: u64,
    ) -> Self {
        Loader {
            k,
            mem,
            heap,
            root,
            modules: Vec::new(),
            init: Vec::new(),
            limit,
            zero_bits,
            app_dir: "C:\\".into(),
            tls_pointers: 0,
            next_tls_index: 0,
            scratch_committed: false,
        }
    }

    fn scratch(&mut self) -> Result<u64, LoadError> {
        if !self.scratch_committed {
            let st = self.k.vm_reserve_at(
                self.mem,
                LOADER_SCRATCH,
                0x1000,
                MEM_RESERVE | MEM_COMMIT,
                PAGE_READWRITE,
                MemType::Private,
            );
            if !st.is_success() {
                return Err(LoadError::Setup { step: "loader scratch memory", status: st.0 });
            }
            self.scratch_committed = true;
        }
        let _ = self.mem.poke(LOADER_SCRATCH, &[0u8; 0x1000]);
        Ok(LOADER_SCRATCH)
    }

    /// Releases the loader's 64-bit scratch memory.
    pub fn finish(&mut self) {
        if self.scratch_committed {
            let _ = self.k.vm_release(self.mem, LOADER_SCRATCH);
            self.scratch_committed = false;
        }
    }

    /// Maps an image file (a Win32 path in the sandbox) and returns its module index.
    /// Imports are not resolved.
    pub fn map(&mut self, win32: &str) -> Result<usize, LoadError> {
        if self.modules.len() >= MAX_MODULES {
            return Err(LoadError::TooManyModules);
        }
        let name = lower_base(win32);
        let host = host_path(&self.root, win32)
            .ok_or_else(|| LoadError::Io { path: win32.into(), error: "not found in the sandbox".into() })?;
        let io = |e: std::io::Error| LoadError::Io { path: win32.into(), error: e.to_string() };
        let len = std::fs::metadata(&host).map_err(io)?.len();
        if len > MAX_FILE {
            return Err(LoadError::Image { name, error: ImageError::BadImageSize { size: len } });
        }
        let bytes = std::fs::read(&host).map_err(io)?;
        let headers = pe::parse(&bytes).map_err(|error| LoadError::Image { name: name.clone(), error })?;
        let base = self.map_section(win32, &name)?;
        let size = headers.size_of_image.next_multiple_of(0x1000);
        if base as u64 + size as u64 - 1 > self.limit as u64 {
            return Err(LoadError::AboveLimit { name, base: base as u64, limit: self.limit as u64 });
        }
        let m = Mapped { mem: self.mem, base, size };
        let bad = |error| LoadError::Image { name: name.clone(), error };
        let exports = Exports::read(&m, headers.directory(pe::dir_export())).map_err(bad)?;
        let tls = pe::tls(&m, headers.directory(9)).map_err(bad)?;
        let entry = if headers.entry_rva != 0 { base.wrapping_add(headers.entry_rva) } else { 0 };
        self.modules.push(Module { name, path: win32.into(), base, size, entry, headers, exports, tls });
        Ok(self.modules.len() - 1)
    }

    /// NtOpenFile + NtCreateSection(SEC_IMAGE) + NtMapViewOfSection, with 64-bit
    /// structures in the loader's scratch page.
    /// NtOpenFile on a Win32 path with 64-bit structures in the loader's scratch page;
    /// returns the handle.
    fn open(&mut self, win32: &str, access: u64, share: u64, options: u64) -> Result<u64, NtStatus> {
        let s = self.scratch().map_err(|_| NtStatus::NO_MEMORY)?;
        let nt_path = utf16(&format!("\\??\\{win32}"));
        let (us, oa, iosb, h, str_at) = (s, s + 0x10, s + 0x40, s + 0x50, s + 0x100);
        if nt_path.len() > 0xE00 {
            return Err(NtStatus::OBJECT_NAME_INVALID);
        }
        let mem = &mut *self.mem;
        let _ = mem.poke(str_at, &nt_path);
        let mut b = [0u8; 16];
        b[0..2].copy_from_slice(&(nt_path.len() as u16).to_le_bytes());
        b[2..4].copy_from_slice(&(nt_path.len() as u16).to_le_bytes());
        b[8..16].copy_from_slice(&str_at.to_le_bytes());
        let _ = mem.poke(us, &b);
        let mut o = [0u8; 48];
        o[0..4].copy_from_slice(&48u32.to_le_bytes());
        o[16..24].copy_from_slice(&us.to_le_bytes());
        o[24..28].copy_from_slice(&0x40u32.to_le_bytes()); // OBJ_CASE_INSENSITIVE
        let _ = mem.poke(oa, &o);
        let st = self.k.nt_open_file(mem, h, access, oa, iosb, share, options);
        if !st.is_success() {
            return Err(st);
        }
        Ok(mem.read_u64(h).unwrap_or(0))
    }

    /// Opens a directory for the process parameters' current directory handle.
    pub fn open_directory(&mut self, win32: &str) -> Option<u64> {
        // FILE_TRAVERSE | SYNCHRONIZE; directory, synchronous.
        self.open(win32, 0x0010_0020, 7, 0x21).ok()
    }

    /// NtOpenFile + NtCreateSection(SEC_IMAGE) + NtMapViewOfSection.
    fn map_section(&mut self, win32: &str, name: &str) -> Result<u32, LoadError> {
        let fail = |step, st: NtStatus| LoadError::Map { name: name.into(), step, status: st.0 };
        // FILE_READ_DATA | FILE_EXECUTE | SYNCHRONIZE; share read and delete (as the
        // Windows loader); synchronous, non-directory.
        let file = self.open(win32, 0x0010_0021, 5, 0x60).map_err(|st| fail("NtOpenFile", st))?;
        let s = LOADER_SCRATCH;
        let (sec, base_p, size_p) = (s + 0x58, s + 0x60, s + 0x68);
        let mem = &mut *self.mem;
        let st = self.k.nt_create_section(
            mem,
            sec,
            0x000F_001F,
            0,
            0,
            PAGE_EXECUTE_WRITECOPY as u64,
            SEC_IMAGE as u64,
            file,
        );
        let _ = self.k.nt_close(mem, file);
        if !st.is_success() {
            return Err(fail("NtCreateSection(SEC_IMAGE)", st));
        }
        let section = mem.read_u64(sec).unwrap_or(0);
        let st = self.k.nt_map_view_of_section(
            mem,
            section,
            CURRENT_PROCESS,
            base_p,
            self.zero_bits,
            0,
            0,
            size_p,
            1,
            0,
            PAGE_EXECUTE_WRITECOPY as u64,
        );
        let _ = self.k.nt_close(mem, section);
        if !st.is_success() {
            return Err(fail("NtMapViewOfSection", st));
        }
        Ok(mem.read_u64(base_p).unwrap_or(0) as u32)
    }

    fn find_loaded(&self, name: &str) -> Option<usize> {
        let n = name.to_ascii_lowercase();
        self.modules.iter().position(|m| m.name == n)
    }

    /// The Win32 path of a DLL on the search path: the application's directory, then
    /// the system directory (C:\Windows\SysWOW64), then C:\Windows.
    fn search(&self, dll: &str) -> Option<String> {
        if dll.contains(['\\', '/']) {
            return host_path(&self.root, dll).map(|_| dll.to_string());
        }
        let dirs = [self.app_dir.trim_end_matches('\\').to_string(), SYSTEM_DIR.into(), "C:\\Windows".into()];
        dirs.iter()
            .map(|d| format!("{d}\\{dll}"))
            .find(|p| host_path(&self.root, p).is_some_and(|h| h.is_file()))
    }

    /// Loads a DLL by name (or returns the loaded one), resolving its imports and
    /// queueing its initialisation.
    pub fn load_dll(&mut self, dll: &str, importer: &str) -> Result<usize, LoadError> {
        let dll = if lower_base(dll).contains('.') { dll.to_string() } else { format!("{dll}.dll") };
        if let Some(i) = self.find_loaded(&lower_base(&dll)) {
            return Ok(i);
        }
        let path = self
            .search(&dll)
            .ok_or_else(|| LoadError::DllNotFound { dll: dll.clone(), importer: importer.into() })?;
        let i = self.map(&path)?;
        self.link(i)?;
        Ok(i)
    }

    /// Resolves the imports of module `i` (loading what it needs), sets up its TLS and
    /// queues its initialisation after that of its dependencies.
    pub fn link(&mut self, i: usize) -> Result<(), LoadError> {
        let (name, base, size, dir) = {
            let m = &self.modules[i];
            (m.name.clone(), m.base, m.size, m.headers.directory(1))
        };
        let imports = pe::imports(&Mapped { mem: self.mem, base, size }, dir)
            .map_err(|error| LoadError::Image { name: name.clone(), error })?;
        for imp in imports {
            let d = self.load_dll(&imp.dll, &name)?;
            for (what, slot) in imp.entries {
                let addr = self.resolve(d, &what, &name, 0)?;
                let _ = self.mem.poke(base as u64 + slot as u64, &addr.to_le_bytes());
            }
        }
        self.setup_tls(i)?;
        let m = &self.modules[i];
        if let Some(tls) = &m.tls {
            for &cb in &tls.callbacks {
                self.init.push(InitRoutine { routine: cb, args: [m.base, 1, 0], check: false });
            }
        }
        let m = &self.modules[i];
        if m.is_dll() && m.entry != 0 {
            // lpReserved is non-NULL for DLLs loaded with the process.
            self.init.push(InitRoutine { routine: m.entry, args: [m.base, 1, 1], check: true });
        }
        Ok(())
    }

    /// The address an import resolves to, following forwarders.
    fn resolve(&mut self, d: usize, what: &Import, importer: &str, depth: u32) -> Result<u32, LoadError> {
        let m = &self.modules[d];
        let view = Mapped { mem: self.mem, base: m.base, size: m.size };
        let target = match what {
            Import::Name(n) => m.exports.by_name(&view, n),
            Import::Ordinal(o) => m.exports.by_ordinal(&view, *o),
        };
        let dll = m.name.clone();
        let target = target.ok_or_else(|| match what {
            Import::Name(n) => {
                LoadError::ImportNotFound { dll: dll.clone(), name: n.clone(), importer: importer.into() }
            }
            Import::Ordinal(o) => {
                LoadError::OrdinalNotFound { dll: dll.clone(), ordinal: *o, importer: importer.into() }
            }
        })?;
        match target {
            ExportTarget::Address(a) => Ok(a),
            ExportTarget::Forward(f) => {
                let export = format!("{dll}!{what:?}");
                if depth >= MAX_FORWARD_DEPTH {
                    return Err(LoadError::BadForwarder {
                        export,
                        detail: "forwarder chain too long".into(),
                    });
                }
                let (fdll, fname) = f.rsplit_once('.').ok_or_else(|| LoadError::BadForwarder {
                    export: export.clone(),
                    detail: format!("{f:?}"),
                })?;
                let next = match fname.strip_prefix('#') {
                    Some(o) => Import::Ordinal(o.parse().map_err(|_| LoadError::BadForwarder {
                        export: export.clone(),
                        detail: format!("{f:?}"),
                    })?),
                    None => Import::Name(fname.to_string()),
                };
                let fd = self.load_dll(fdll, &dll)?;
                self.resolve(fd, &next, importer, depth + 1)
            }
        }
    }

    /// Static TLS: gives the module an index, copies its template into a block and
    /// points the thread's TLS array slot at it.
    fn setup_tls(&mut self, i: usize) -> Result<(), LoadError> {
        let Some(tls) = self.modules[i].tls.clone() else { return Ok(()) };
        let name = self.modules[i].name.clone();
        let bad = |detail: String| LoadError::Image {
            name: name.clone(),
            error: ImageError::BadTable { what: "TLS directory", detail },
        };
        let len = tls.raw_end.checked_sub(tls.raw_start).ok_or_else(|| bad("end before start".into()))?;
        if len > 0x100_0000 {
            return Err(bad(format!("template of {len:#x} bytes")));
        }
        if self.tls_pointers == 0 {
            self.tls_pointers = self.heap.alloc(self.k, self.mem, 64 * 4, self.limit)?;
        }
        if self.next_tls_index >= 64 {
            return Err(bad("more than 64 TLS modules".into()));
        }
        let mut data = vec![0u8; len as usize];
        if len != 0 && self.mem.peek(tls.raw_start as u64, &mut data).is_err() {
            return Err(bad("template outside the image".into()));
        }
        let block = self.heap.alloc(self.k, self.mem, len.max(4) + 0x100, self.limit)?;
        let _ = self.mem.poke(block as u64, &data);
        let index = self.next_tls_index;
        self.next_tls_index += 1;
        let _ = self.mem.poke((self.tls_pointers + index * 4) as u64, &block.to_le_bytes());
        if self.mem.poke(tls.index_addr as u64, &index.to_le_bytes()).is_err() {
            return Err(bad("index slot outside the image".into()));
        }
        Ok(())
    }

    /// The thread's TLS pointer array (0 if no module has TLS).
    pub fn tls_array(&self) -> u32 {
        self.tls_pointers
    }

    /// Builds PEB_LDR_DATA32 with the three module lists (load order = memory order =
    /// the order modules were mapped; initialisation order = DLLs in init order).
    pub fn build_ldr(&mut self) -> Result<u32, LoadError> {
        let n = self.modules.len() as u32;
        let ldr = self.heap.alloc(self.k, self.mem, 0x30, self.limit)?;
        let mut entries = Vec::new();
        for m in self.modules.clone() {
            let e = self.heap.alloc(self.k, self.mem, 0xA8, self.limit)?;
            let full: Vec<u8> = utf16(&m.path).into_iter().chain([0, 0]).collect();
            let full_at = self.heap.put(self.k, self.mem, &full, self.limit)?;
            let base_off = (m.path.rfind('\\').map(|i| i + 1).unwrap_or(0) * 2) as u32;
            let mut b = vec![0u8; 0xA8];
            let put = |b: &mut Vec<u8>, o: usize, v: u32| b[o..o + 4].copy_from_slice(&v.to_le_bytes());
            put(&mut b, 0x18, m.base);
            put(&mut b, 0x1C, m.entry);
            put(&mut b, 0x20, m.size);
            let flen = (full.len() - 2) as u32;
            put(&mut b, 0x24, flen | (flen + 2) << 16);
            put(&mut b, 0x28, full_at);
            let blen = flen - base_off;
            put(&mut b, 0x2C, blen | (blen + 2) << 16);
            put(&mut b, 0x30, full_at + base_off);
            put(&mut b, 0x34, if m.is_dll() { 0x4 } else { 0 }); // LDRP_IMAGE_DLL
            b[0x38..0x3A].copy_from_slice(&0xFFFFu16.to_le_bytes());
            let _ = self.mem.poke(e as u64, &b);
            entries.push(e);
        }
        // Circular doubly linked lists through LIST_ENTRY32 {Flink, Blink}.
        let link = |mem: &mut Memory, head: u32, nodes: &[u32]| {
            let all: Vec<u32> = std::iter::once(head).chain(nodes.iter().copied()).collect();
            for (i, &at) in all.iter().enumerate() {
                let next = all[(i + 1) % all.len()];
                let prev = all[(i + all.len() - 1) % all.len()];
                let _ = mem.poke(at as u64, &next.to_le_bytes());
                let _ = mem.poke(at as u64 + 4, &prev.to_le_bytes());
            }
        };
        let mut hdr = vec![0u8; 0x30];
        hdr[0..4].copy_from_slice(&0x30u32.to_le_bytes());
        hdr[4] = 1;
        let _ = self.mem.poke(ldr as u64, &hdr);
        link(self.mem, ldr + 0x0C, &entries);
        let mem_order: Vec<u32> = entries.iter().map(|e| e + 8).collect();
        link(self.mem, ldr + 0x14, &mem_order);
        let init_order: Vec<u32> =
            self.modules.iter().zip(&entries).filter(|(m, _)| m.is_dll()).map(|(_, e)| e + 0x10).collect();
        link(self.mem, ldr + 0x1C, &init_order);
        let _ = n;
        Ok(ldr)
    }

    /// Writes the block LdrInitializeThunk reads (see [`crate::ntdll`]).
    pub fn init_block(&mut self, entry: u32, entry_arg: u32) -> Result<u32, LoadError> {
        let mut b = Vec::new();
        b.extend_from_slice(&(self.init.len() as u32).to_le_bytes());
        b.extend_from_slice(&entry.to_le_bytes());
        b.extend_from_slice(&entry_arg.to_le_bytes());
        for r in &self.init {
            for v in [r.routine, r.args[0], r.args[1], r.args[2], r.check as u32] {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        self.heap.put(self.k, self.mem, &b, self.limit)
    }
}
