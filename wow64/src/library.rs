//! The embedding API around a process: guest memory helpers, exports, and DLL
//! processes whose exports the host calls (the typed, marshalling API on top of this
//! is `x86wow::Library` in the facade crate).

use x86wow_syscalls::consts::{MEM_RESERVE, PAGE_READWRITE};
use x86wow_syscalls::MemType;

use crate::error::Error;
use crate::pe::{ExportTarget, Mapped};
use crate::process::{Process, ProcessBuilder};

impl Process {
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

    /// Frees memory from [`Process::alloc`].
    pub fn free(&mut self, addr: u32) -> Result<(), Error> {
        let st = self.kernel.vm_release(&mut self.cpu.mem, addr as u64);
        if st.is_success() {
            Ok(())
        } else {
            Err(Error::Memory { addr: addr as u64, len: 0 })
        }
    }

    /// The address of an export of a loaded module (forwarders followed by name).
    pub fn export(&self, module: &str, name: &str) -> Option<u32> {
        self.export_where(module, Key::Name(name), 0)
    }

    /// The address of an export of a loaded module by ordinal (forwarders followed).
    pub fn export_ordinal(&self, module: &str, ordinal: u32) -> Option<u32> {
        self.export_where(module, Key::Ordinal(ordinal), 0)
    }

    fn export_where(&self, module: &str, key: Key<'_>, depth: u32) -> Option<u32> {
        let m = self.modules.iter().find(|m| m.name.eq_ignore_ascii_case(module))?;
        let view = Mapped { mem: &self.cpu.mem, base: m.base, size: m.size };
        let target = match key {
            Key::Name(n) => m.exports.by_name(&view, n),
            Key::Ordinal(o) => m.exports.by_ordinal(&view, o),
        };
        match target? {
            ExportTarget::Address(a) => Some(a),
            // Forwarder chains are bounded: a loop between modules is not an export.
            ExportTarget::Forward(_) if depth >= 16 => None,
            ExportTarget::Forward(f) => {
                let (dll, func) = f.rsplit_once('.')?;
                let dll = if dll.contains('.') { dll.to_string() } else { format!("{dll}.dll") };
                let key = match func.strip_prefix('#') {
                    Some(ord) => Key::Ordinal(ord.parse().ok()?),
                    None => Key::Name(func),
                };
                self.export_where(&dll, key, depth + 1)
            }
        }
    }

    /// Every export of a loaded module: (ordinal, name if any, address or forwarder).
    pub fn exports_of(&self, module: &str) -> Vec<(u32, Option<String>, ExportTarget)> {
        let Some(m) = self.modules.iter().find(|m| m.name.eq_ignore_ascii_case(module)) else {
            return Vec::new();
        };
        let view = Mapped { mem: &self.cpu.mem, base: m.base, size: m.size };
        let names: Vec<(String, u32)> = m.exports.names().map(|(n, i)| (n.to_string(), i)).collect();
        (0..m.exports.count())
            .filter_map(|index| {
                let ordinal = m.exports.ordinal_base.checked_add(index)?;
                let target = m.exports.by_ordinal(&view, ordinal)?;
                let name = names.iter().find(|(_, i)| *i == index).map(|(n, _)| n.clone());
                Some((ordinal, name, target))
            })
            .collect()
    }
}

/// How an export is looked up.
#[derive(Clone, Copy)]
enum Key<'a> {
    Name(&'a str),
    Ordinal(u32),
}

impl ProcessBuilder {
    /// Builds a process whose main module is a DLL and runs its initialisation
    /// (DllMain with DLL_PROCESS_ATTACH, after its dependencies', and TLS callbacks);
    /// its exports are then called with [`Process::call`] or
    /// [`Process::call_with`].
    ///
    /// ```
    /// use x86wow_wow64::{pebuild, Process};
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
    /// let mut p = Process::builder().image_path("C:\\adder.dll").build_dll(&pe.build()).unwrap();
    /// let add = p.export_ordinal("adder.dll", 1).unwrap();
    /// assert_eq!(p.call(add, &[2, 40]).unwrap(), 42);
    /// ```
    pub fn build_dll(self, dll: &[u8]) -> Result<Process, Error> {
        let mut process = self.build(dll)?;
        process.initialize()?;
        Ok(process)
    }
}
