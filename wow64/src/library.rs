//! The embedding API around a process: guest memory helpers and [`Library`], a 32-bit
//! DLL whose exports the host calls.

use x86wow_syscalls::consts::{MEM_RESERVE, PAGE_READWRITE};
use x86wow_syscalls::MemType;

use crate::error::Error;
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
