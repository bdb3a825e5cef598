//! Per-thread and per-process blocks: TEB64/TEB32, PEB64/PEB32, the process parameters
//! in both layouts, the 32-bit stack with its guard page, and a small bump allocator
//! for the loader's own guest data.

use x86wow_mmu::Memory;
use x86wow_syscalls::consts::{MEM_COMMIT, MEM_RESERVE, MEM_TOP_DOWN, PAGE_GUARD, PAGE_READWRITE};
use x86wow_syscalls::{Kernel, MemType};

use crate::error::LoadError;

/// TEB32 offsets.
pub mod teb32 {
    pub const EXCEPTION_LIST: u32 = 0x00;
    pub const STACK_BASE: u32 = 0x04;
    pub const STACK_LIMIT: u32 = 0x08;
    pub const VERSION: u32 = 0x10;
    pub const SELF: u32 = 0x18;
    pub const CLIENT_ID: u32 = 0x20;
    pub const TLS_POINTER: u32 = 0x2C;
    pub const PEB: u32 = 0x30;
    pub const LAST_ERROR: u32 = 0x34;
    pub const WOW32_RESERVED: u32 = 0xC0;
    pub const CURRENT_LOCALE: u32 = 0xC4;
    pub const LAST_STATUS: u32 = 0xBF4;
    pub const STATIC_UNICODE: u32 = 0xBF8;
    pub const STATIC_UNICODE_BUFFER: u32 = 0xC00;
    pub const DEALLOCATION_STACK: u32 = 0xE0C;
    pub const TLS_SLOTS: u32 = 0xE10;
    pub const WOW_TEB_OFFSET: u32 = 0xFDC;
}

/// TEB64 offsets.
pub mod teb64 {
    pub const EXCEPTION_LIST: u64 = 0x00;
    pub const STACK_BASE: u64 = 0x08;
    pub const STACK_LIMIT: u64 = 0x10;
    pub const SELF: u64 = 0x30;
    pub const CLIENT_ID: u64 = 0x40;
    pub const PEB: u64 = 0x60;
    pub const LAST_ERROR: u64 = 0x68;
    pub const CURRENT_LOCALE: u64 = 0x108;
    pub const DEALLOCATION_STACK: u64 = 0x1478;
    pub const TLS_SLOTS: u64 = 0x1480;
    pub const WOW_TEB_OFFSET: u64 = 0x180C;
}

/// PEB32 offsets.
pub mod peb32 {
    pub const BEING_DEBUGGED: u32 = 0x02;
    pub const MUTANT: u32 = 0x04;
    pub const IMAGE_BASE: u32 = 0x08;
    pub const LDR: u32 = 0x0C;
    pub const PROCESS_PARAMETERS: u32 = 0x10;
    pub const PROCESS_HEAP: u32 = 0x18;
    pub const NUMBER_OF_PROCESSORS: u32 = 0x64;
    pub const NT_GLOBAL_FLAG: u32 = 0x68;
    pub const OS_MAJOR: u32 = 0xA4;
    pub const OS_MINOR: u32 = 0xA8;
    pub const OS_BUILD: u32 = 0xAC;
    pub const OS_PLATFORM: u32 = 0xB0;
    pub const IMAGE_SUBSYSTEM: u32 = 0xB4;
    pub const SUBSYSTEM_MAJOR: u32 = 0xB8;
    pub const SUBSYSTEM_MINOR: u32 = 0xBC;
    pub const SESSION_ID: u32 = 0x1D4;
}

/// PEB64 offsets.
pub mod peb64 {
    pub const MUTANT: u64 = 0x08;
    pub const IMAGE_BASE: u64 = 0x10;
    pub const LDR: u64 = 0x18;
    pub const PROCESS_PARAMETERS: u64 = 0x20;
    pub const PROCESS_HEAP: u64 = 0x30;
    pub const NUMBER_OF_PROCESSORS: u64 = 0xB8;
    pub const OS_MAJOR: u64 = 0x118;
    pub const OS_MINOR: u64 = 0x11C;
    pub const OS_BUILD: u64 = 0x120;
    pub const OS_PLATFORM: u64 = 0x124;
    pub const IMAGE_SUBSYSTEM: u64 = 0x128;
    pub const SESSION_ID: u64 = 0x2C0;
}

fn setup(step: &'static str) -> impl Fn(x86wow_syscalls::NtStatus) -> LoadError {
    move |s| LoadError::Setup { step, status: s.0 }
}

/// Guest memory for the loader's own data (LDR entries, strings, TLS blocks, the init
/// block...): 64 KiB read-write chunks from the kernel, handed out in 16-byte steps.
#[derive(Debug, Clone, Default)]
pub struct GuestHeap {
    cursor: u32,
    end: u32,
}

impl GuestHeap {
    pub fn alloc(
        &mut self,
        k: &mut Kernel,
        mem: &mut Memory,
        len: u32,
        limit: u32,
    ) -> Result<u32, LoadError> {
        let len = len.max(4).next_multiple_of(16);
        if self.cursor as u64 + len as u64 > self.end as u64 {
            let size = (len as u64).next_multiple_of(0x1_0000);
            let base = k
                .vm_allocate(
                    mem,
                    size,
                    MEM_COMMIT | MEM_RESERVE,
                    PAGE_READWRITE,
                    limit as u64,
                    MemType::Private,
                )
                .map_err(setup("allocating loader memory"))?;
            self.cursor = base as u32;
            self.end = (base + size) as u32;
        }
        let at = self.cursor;
        self.cursor += len;
        Ok(at)
    }

    /// Allocates and fills.
    pub fn put(
        &mut self,
        k: &mut Kernel,
        mem: &mut Memory,
        data: &[u8],
        limit: u32,
    ) -> Result<u32, LoadError> {
        let at = self.alloc(k, mem, data.len() as u32, limit)?;
        let _ = mem.poke(at as u64, data);
        Ok(at)
    }
}

/// The addresses of the blocks of the process and its thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Blocks {
    pub peb64: u32,
    pub peb32: u32,
    pub teb64: u32,
    pub teb32: u32,
}

/// The 32-bit stack: reserved from `dealloc` up to `base`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stack {
    pub dealloc: u32,
    pub base: u32,
    /// The lowest committed page (the guard page sits just below it).
    pub limit: u32,
}

/// Allocates the PEB (PEB64 + PEB32) and the TEB (TEB64 two pages + TEB32), as high
/// as the 32-bit space allows, as Windows places them.
pub fn allocate_blocks(k: &mut Kernel, mem: &mut Memory, limit: u32) -> Result<Blocks, LoadError> {
    let alloc = |k: &mut Kernel, mem: &mut Memory, size: u64, step| {
        k.vm_allocate(
            mem,
            size,
            MEM_COMMIT | MEM_RESERVE | MEM_TOP_DOWN,
            PAGE_READWRITE,
            limit as u64,
            MemType::Private,
        )
        .map_err(setup(step))
    };
    let peb = alloc(k, mem, 0x2000, "allocating the PEB")? as u32;
    let teb = alloc(k, mem, 0x3000, "allocating the TEB")? as u32;
    Ok(Blocks { peb64: peb, peb32: peb + 0x1000, teb64: teb, teb32: teb + 0x2000 })
}

/// Reserves the stack and commits its top `commit` bytes with a guard page below.
pub fn allocate_stack(
    k: &mut Kernel,
    mem: &mut Memory,
    reserve: u32,
    commit: u32,
    limit: u32,
) -> Result<Stack, LoadError> {
    // At least 64 KiB, at most 256 MiB (untrusted header values).
    let reserve = (reserve.clamp(0x1_0000, 0x1000_0000) as u64).next_multiple_of(0x1_0000);
    let commit = (commit.max(0x1000) as u64).next_multiple_of(0x1000).min(reserve - 0x2000);
    let base = k
        .vm_allocate(mem, reserve, MEM_RESERVE, PAGE_READWRITE, limit as u64, MemType::Private)
        .map_err(setup("reserving the stack"))?;
    let top = base + reserve;
    let st = k.vm_commit(mem, top - commit, commit, PAGE_READWRITE);
    if !st.is_success() {
        return Err(LoadError::Setup { step: "committing the stack", status: st.0 });
    }
    let st = k.vm_commit(mem, top - commit - 0x1000, 0x1000, PAGE_READWRITE | PAGE_GUARD);
    if !st.is_success() {
        return Err(LoadError::Setup { step: "the stack guard page", status: st.0 });
    }
    Ok(Stack { dealloc: base as u32, base: top as u32, limit: (top - commit) as u32 })
}

fn w32(mem: &mut Memory, at: u32, v: u32) {
    let _ = mem.poke(at as u64, &v.to_le_bytes());
}

fn w64(mem: &mut Memory, at: u64, v: u64) {
    let _ = mem.poke(at, &v.to_le_bytes());
}

/// What goes into the blocks.
pub struct BlockInit<'a> {
    pub blocks: Blocks,
    pub stack: Stack,
    pub image_base: u32,
    pub process_parameters: (u32, u32),
    pub ldr32: u32,
    pub gate: u32,
    pub identity: x86wow_syscalls::OsIdentity,
    pub processors: u32,
    pub pid: u32,
    pub tid: u32,
    pub locale: u32,
    pub subsystem: (u16, u16, u16),
    pub scratch: (u64, u64),
    pub _marker: std::marker::PhantomData<&'a ()>,
}

/// Fills TEB64/TEB32 and PEB64/PEB32 with the facts of the process.
pub fn fill_blocks(mem: &mut Memory, b: &BlockInit<'_>) {
    let Blocks { peb64, peb32, teb64, teb32 } = b.blocks;
    // TEB32
    let t = teb32;
    w32(mem, t + teb32::EXCEPTION_LIST, 0xFFFF_FFFF);
    w32(mem, t + teb32::STACK_BASE, b.stack.base);
    w32(mem, t + teb32::STACK_LIMIT, b.stack.limit);
    w32(mem, t + teb32::VERSION, 0x1E00);
    w32(mem, t + teb32::SELF, teb32);
    w32(mem, t + teb32::CLIENT_ID, b.pid);
    w32(mem, t + teb32::CLIENT_ID + 4, b.tid);
    w32(mem, t + teb32::PEB, peb32);
    w32(mem, t + teb32::WOW32_RESERVED, b.gate);
    w32(mem, t + teb32::CURRENT_LOCALE, b.locale);
    let _ = mem.poke((t + teb32::STATIC_UNICODE) as u64, &[0, 0, 0x0A, 0x02]);
    w32(mem, t + teb32::STATIC_UNICODE + 4, t + teb32::STATIC_UNICODE_BUFFER);
    w32(mem, t + teb32::DEALLOCATION_STACK, b.stack.dealloc);
    w32(mem, t + teb32::WOW_TEB_OFFSET, (-0x2000i32) as u32);
    // TEB64: in WOW64 its ExceptionList holds the TEB32; its stack is the 64-bit one
    // (here the scratch area the thunks use).
    let t = teb64 as u64;
    w64(mem, t + teb64::EXCEPTION_LIST, teb32 as u64);
    w64(mem, t + teb64::STACK_BASE, b.scratch.0 + b.scratch.1);
    w64(mem, t + teb64::STACK_LIMIT, b.scratch.0);
    w64(mem, t + teb64::SELF, teb64 as u64);
    w64(mem, t + teb64::CLIENT_ID, b.pid as u64);
    w64(mem, t + teb64::CLIENT_ID + 8, b.tid as u64);
    w64(mem, t + teb64::PEB, peb64 as u64);
    let _ = mem.poke(t + teb64::CURRENT_LOCALE, &b.locale.to_le_bytes());
    let _ = mem.poke(t + teb64::WOW_TEB_OFFSET, &0x2000u32.to_le_bytes());
    // PEB32
    let p = peb32;
    w32(mem, p + peb32::MUTANT, 0xFFFF_FFFF);
    w32(mem, p + peb32::IMAGE_BASE, b.image_base);
    w32(mem, p + peb32::LDR, b.ldr32);
    w32(mem, p + peb32::PROCESS_PARAMETERS, b.process_parameters.0);
    w32(mem, p + peb32::NUMBER_OF_PROCESSORS, b.processors);
    w32(mem, p + peb32::OS_MAJOR, b.identity.major);
    w32(mem, p + peb32::OS_MINOR, b.identity.minor);
    let _ = mem.poke((p + peb32::OS_BUILD) as u64, &(b.identity.build as u16).to_le_bytes());
    w32(mem, p + peb32::OS_PLATFORM, 2);
    w32(mem, p + peb32::IMAGE_SUBSYSTEM, b.subsystem.0 as u32);
    w32(mem, p + peb32::SUBSYSTEM_MAJOR, b.subsystem.1 as u32);
    w32(mem, p + peb32::SUBSYSTEM_MINOR, b.subsystem.2 as u32);
    w32(mem, p + peb32::SESSION_ID, 1);
    // PEB64
    let p = peb64 as u64;
    w64(mem, p + peb64::MUTANT, u64::MAX);
    w64(mem, p + peb64::IMAGE_BASE, b.image_base as u64);
    w64(mem, p + peb64::PROCESS_PARAMETERS, b.process_parameters.1 as u64);
    let _ = mem.poke(p + peb64::NUMBER_OF_PROCESSORS, &b.processors.to_le_bytes());
    let _ = mem.poke(p + peb64::OS_MAJOR, &b.identity.major.to_le_bytes());
    let _ = mem.poke(p + peb64::OS_MINOR, &b.identity.minor.to_le_bytes());
    let _ = mem.poke(p + peb64::OS_BUILD, &(b.identity.build as u16).to_le_bytes());
    let _ = mem.poke(p + peb64::OS_PLATFORM, &2u32.to_le_bytes());
    let _ = mem.poke(p + peb64::IMAGE_SUBSYSTEM, &(b.subsystem.0 as u32).to_le_bytes());
    let _ = mem.poke(p + peb64::SESSION_ID, &1u32.to_le_bytes());
}

/// What the process parameters say.
pub struct Params<'a> {
    pub image_path: &'a str,
    pub command_line: &'a str,
    pub current_directory: &'a str,
    pub dll_path: &'a str,
    pub environment: &'a [(String, String)],
    pub std_handles: [u64; 3],
    pub cwd_handle: u64,
}

fn utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16().chain([0]).flat_map(|c| c.to_le_bytes()).collect()
}

/// Builds RTL_USER_PROCESS_PARAMETERS in the 32-bit and 64-bit layouts (normalized:
/// pointers are absolute). Returns (params32, params64).
pub fn build_params(
    k: &mut Kernel,
    mem: &mut Memory,
    heap: &mut GuestHeap,
    p: &Params<'_>,
    limit: u32,
) -> Result<(u32, u32), LoadError> {
    let mut env = Vec::new();
    for (key, v) in p.environment {
        env.extend(utf16z(&format!("{key}={v}")));
    }
    env.extend_from_slice(&[0, 0]);
    let env_at = heap.put(k, mem, &env, limit)?;
    let strings = [p.current_directory, p.dll_path, p.image_path, p.command_line, "", "", ""];
    let mut us: Vec<(u16, u16, u32)> = Vec::new();
    for s in strings {
        let data = utf16z(s);
        let at = heap.put(k, mem, &data, limit)?;
        let len = ((data.len() - 2).min(0xFFFC)) as u16;
        us.push((len, len + 2, at));
    }
    // 32-bit layout.
    let p32 = heap.alloc(k, mem, 0x2A0, limit)?;
    let mut b = vec![0u8; 0x2A0];
    let put = |b: &mut Vec<u8>, o: usize, v: u32| b[o..o + 4].copy_from_slice(&v.to_le_bytes());
    put(&mut b, 0, 0x2A0);
    put(&mut b, 4, 0x2A0);
    put(&mut b, 8, 1); // RTL_USER_PROC_PARAMS_NORMALIZED
    put(&mut b, 0x18, p.std_handles[0] as u32);
    put(&mut b, 0x1C, p.std_handles[1] as u32);
    put(&mut b, 0x20, p.std_handles[2] as u32);
    let us32 = |b: &mut Vec<u8>, o: usize, s: (u16, u16, u32)| {
        b[o..o + 2].copy_from_slice(&s.0.to_le_bytes());
        b[o + 2..o + 4].copy_from_slice(&s.1.to_le_bytes());
        b[o + 4..o + 8].copy_from_slice(&s.2.to_le_bytes());
    };
    us32(&mut b, 0x24, us[0]);
    put(&mut b, 0x2C, p.cwd_handle as u32);
    us32(&mut b, 0x30, us[1]);
    us32(&mut b, 0x38, us[2]);
    us32(&mut b, 0x40, us[3]);
    put(&mut b, 0x48, env_at);
    us32(&mut b, 0x70, us[4]);
    us32(&mut b, 0x78, us[5]);
    us32(&mut b, 0x80, us[6]);
    put(&mut b, 0x290, env.len() as u32);
    let _ = mem.poke(p32 as u64, &b);
    // 64-bit layout.
    let p64 = heap.alloc(k, mem, 0x410, limit)?;
    let mut b = vec![0u8; 0x410];
    let put64 = |b: &mut Vec<u8>, o: usize, v: u64| b[o..o + 8].copy_from_slice(&v.to_le_bytes());
    b[0..4].copy_from_slice(&0x410u32.to_le_bytes());
    b[4..8].copy_from_slice(&0x410u32.to_le_bytes());
    b[8..12].copy_from_slice(&1u32.to_le_bytes());
    put64(&mut b, 0x20, p.std_handles[0]);
    put64(&mut b, 0x28, p.std_handles[1]);
    put64(&mut b, 0x30, p.std_handles[2]);
    let us64 = |b: &mut Vec<u8>, o: usize, s: (u16, u16, u32)| {
        b[o..o + 2].copy_from_slice(&s.0.to_le_bytes());
        b[o + 2..o + 4].copy_from_slice(&s.1.to_le_bytes());
        b[o + 8..o + 16].copy_from_slice(&(s.2 as u64).to_le_bytes());
    };
    us64(&mut b, 0x38, us[0]);
    put64(&mut b, 0x48, p.cwd_handle);
    us64(&mut b, 0x50, us[1]);
    us64(&mut b, 0x60, us[2]);
    us64(&mut b, 0x70, us[3]);
    put64(&mut b, 0x80, env_at as u64);
    us64(&mut b, 0xB0, us[4]);
    us64(&mut b, 0xC0, us[5]);
    us64(&mut b, 0xD0, us[6]);
    put64(&mut b, 0x3F0, env.len() as u64);
    let _ = mem.poke(p64 as u64, &b);
    Ok((p32, p64))
}

/// Quotes one argument as CommandLineToArgvW expects it.
pub fn quote_arg(a: &str) -> String {
    if !a.is_empty() && !a.contains([' ', '\t', '"']) {
        return a.to_string();
    }
    let mut out = String::from("\"");
    let mut backslashes = 0;
    for c in a.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.extend(std::iter::repeat('\\').take(backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            _ => {
                out.extend(std::iter::repeat('\\').take(backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    out.extend(std::iter::repeat('\\').take(backslashes * 2));
    out.push('"');
    out
}
