//! One thunk per service: read the 32-bit argument slots, widen them by kind, rebuild
//! 32-bit structures in 64-bit layout in scratch memory above 4 GiB, call the 64-bit
//! service, and narrow the results back into the guest's structures.
//!
//! Most services are described only by their argument kinds ([`Arg`]) in [`table`];
//! the ones whose information classes differ between 32 and 64 bits have a function in
//! [`info`]. Services that act on the CPU (NtContinue, NtRaiseException, ...) are
//! marked [`Kind::Cpu`] and handled by the process.

pub mod info;
pub mod table;

use x86wow_mmu::Memory;
use x86wow_syscalls::Kernel;

use crate::status::*;
use crate::trace::CallTrace;

pub use table::{find, Thunk, THUNKS};

/// Where the 64-bit temporaries of a call live: far above anything 32-bit code can
/// address, so a stray guest pointer can never reach them.
pub const SCRATCH_BASE: u64 = 0x0000_0010_0000_0000;
/// Most scratch memory one call may use (guest lengths are untrusted).
pub const SCRATCH_LIMIT: u64 = 64 << 20;

/// How one argument is passed from 32-bit code and widened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// HANDLE: sign-extended (0xFFFFFFFF is NtCurrentProcess).
    Handle,
    /// A pointer to data whose layout is the same on both sides: zero-extended.
    Ptr,
    /// ULONG, BOOLEAN, ACCESS_MASK, enums: zero-extended.
    Ulong,
    /// LONG by value: sign-extended.
    Long,
    /// ULONG_PTR / SIZE_T by value: zero-extended.
    UlongPtr,
    /// The ZeroBits of an allocation: 0 becomes the mask of the 32-bit address limit.
    ZeroBits,
    /// PSIZE_T / PULONG_PTR / PVOID* in/out: widened into a temporary, narrowed back
    /// (clamped to 0xFFFFFFFF) on success.
    SizeInOut,
    /// PHANDLE out: a 64-bit temporary truncated back on success.
    HandleOut,
    /// LARGE_INTEGER by value: two slots, low then high.
    LargeInt,
    /// POBJECT_ATTRIBUTES32 -> OBJECT_ATTRIBUTES.
    ObjAttr,
    /// PUNICODE_STRING32 (input) -> UNICODE_STRING.
    UniStr,
    /// PIO_STATUS_BLOCK32 -> IO_STATUS_BLOCK, narrowed back when the service wrote it.
    Iosb,
    /// PCLIENT_ID32 (input) -> CLIENT_ID.
    ClientId,
    /// HANDLE* of as many handles as argument `n` says (at most 64), sign-extended.
    HandleArray(usize),
}

impl Arg {
    /// Argument slots (4 bytes each) on the 32-bit stack.
    pub fn slots(self) -> usize {
        if self == Arg::LargeInt {
            2
        } else {
            1
        }
    }
}

/// How a service is serviced.
#[derive(Clone, Copy)]
pub enum Kind {
    /// Widen by kind, call the 64-bit service of the same name, narrow back.
    Generic,
    /// A function that converts information classes.
    Custom(fn(&mut Call<'_>) -> u32),
    /// Acts on the CPU; handled by the process (NtContinue, NtRaiseException, ...).
    Cpu,
    /// Known, exported by the guest ntdll, and not implemented by x86wow.
    NotImplemented,
}

/// The 64-bit side as the thunks see it: the kernel, or a recording fake in tests.
pub trait Services {
    /// Calls a 64-bit service by name; returns the NTSTATUS.
    fn call(&mut self, mem: &mut Memory, name: &str, args: &[u64]) -> u32;
    /// Commits `size` bytes of read-write scratch memory at `base` (page aligned).
    fn commit_scratch(&mut self, mem: &mut Memory, base: u64, size: u64) -> bool;
    /// Releases scratch memory committed at `base`.
    fn release_scratch(&mut self, mem: &mut Memory, base: u64);
}

impl Services for Kernel {
    fn call(&mut self, mem: &mut Memory, name: &str, args: &[u64]) -> u32 {
        Kernel::call(self, mem, name, args).0
    }

    fn commit_scratch(&mut self, mem: &mut Memory, base: u64, size: u64) -> bool {
        use x86wow_syscalls::consts::{MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE};
        self.vm_reserve_at(
            mem,
            base,
            size,
            MEM_RESERVE | MEM_COMMIT,
            PAGE_READWRITE,
            x86wow_syscalls::MemType::Private,
        )
        .is_success()
    }

    fn release_scratch(&mut self, mem: &mut Memory, base: u64) {
        let _ = self.vm_release(mem, base);
    }
}

/// What the thunks need to know of the 32-bit process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wow64Info {
    /// Highest user address for 32-bit code (0x7FFEFFFF or 0xFFFEFFFF).
    pub limit: u32,
    pub peb32: u32,
    pub teb32: u32,
}

impl Wow64Info {
    /// The ZeroBits mask that keeps allocations under the limit.
    pub fn zero_bits_mask(&self) -> u64 {
        if self.limit > 0x7FFF_FFFF {
            0xFFFF_FFFF
        } else {
            0x7FFF_FFFF
        }
    }
}

/// A bump allocator over scratch pages committed for one call and released after it.
struct Scratch {
    chunks: Vec<(u64, u64)>,
    cursor: u64,
    chunk_end: u64,
    total: u64,
}

impl Scratch {
    fn new() -> Self {
        Scratch { chunks: Vec::new(), cursor: SCRATCH_BASE, chunk_end: SCRATCH_BASE, total: 0 }
    }
}

/// An action run after the 64-bit service returned.
#[derive(Debug, Clone, Copy)]
enum Post {
    /// On success: write the 64-bit value at `temp` to the guest's u32 at `guest`,
    /// clamped to 0xFFFFFFFF.
    NarrowSize { guest: u32, temp: u64 },
    /// On success: truncate the 64-bit handle at `temp` into the guest's u32.
    NarrowHandle { guest: u32, temp: u64 },
    /// When the service wrote it: IO_STATUS_BLOCK -> IO_STATUS_BLOCK32.
    Iosb { guest: u32, temp: u64, before: [u8; 16] },
}

/// One service call in progress.
pub struct Call<'a> {
    pub mem: &'a mut Memory,
    pub k: &'a mut dyn Services,
    pub info: Wow64Info,
    pub name: &'static str,
    /// The 32-bit argument slots.
    pub args: Vec<u32>,
    /// The 64-bit arguments as passed to the service (for the trace).
    pub args64: Vec<u64>,
    pub trace: Option<CallTrace>,
    scratch: Scratch,
    posts: Vec<Post>,
}

/// A guest access failed: the status to return.
pub type Fail = u32;

impl<'a> Call<'a> {
    pub fn new(
        mem: &'a mut Memory,
        k: &'a mut dyn Services,
        info: Wow64Info,
        name: &'static str,
        args: Vec<u32>,
        trace: bool,
    ) -> Self {
        Call {
            mem,
            k,
            info,
            name,
            args,
            args64: Vec::new(),
            trace: trace.then(CallTrace::default),
            scratch: Scratch::new(),
            posts: Vec::new(),
        }
    }

    /// Argument slot `i` (0 if the stub declared fewer).
    pub fn arg(&self, i: usize) -> u32 {
        self.args.get(i).copied().unwrap_or(0)
    }

    // ----- guest memory (32-bit addresses, checked as the guest's own access) -----

    pub fn read(&mut self, addr: u32, len: usize) -> Result<Vec<u8>, Fail> {
        if addr as u64 + len as u64 > 0x1_0000_0000 {
            return Err(STATUS_ACCESS_VIOLATION);
        }
        // Probe before allocating: the length is the guest's.
        self.mem.check(addr as u64, len, x86wow_mmu::Access::Read).map_err(fault)?;
        let mut b = vec![0u8; len];
        self.mem.read_bytes(addr as u64, &mut b).map_err(fault)?;
        Ok(b)
    }

    pub fn read32(&mut self, addr: u32) -> Result<u32, Fail> {
        let b = self.read(addr, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn write(&mut self, addr: u32, data: &[u8]) -> Result<(), Fail> {
        if addr as u64 + data.len() as u64 > 0x1_0000_0000 {
            return Err(STATUS_ACCESS_VIOLATION);
        }
        self.mem.write_bytes(addr as u64, data).map_err(fault)
    }

    pub fn write32(&mut self, addr: u32, v: u32) -> Result<(), Fail> {
        self.write(addr, &v.to_le_bytes())
    }

    // ----- scratch memory (64-bit temporaries) -----

    /// Allocates zeroed scratch memory for a 64-bit temporary.
    pub fn alloc(&mut self, len: u64) -> Result<u64, Fail> {
        // A guest-derived length past the limit fails before any rounding can overflow.
        if len > SCRATCH_LIMIT {
            return Err(STATUS_NO_MEMORY);
        }
        let len = len.max(8).next_multiple_of(16);
        let s = &mut self.scratch;
        if s.cursor + len > s.chunk_end {
            let size = len.next_multiple_of(0x1000).max(0x1000);
            if s.total + size > SCRATCH_LIMIT {
                return Err(STATUS_NO_MEMORY);
            }
            let base = s.chunk_end;
            if !self.k.commit_scratch(self.mem, base, size) {
                return Err(STATUS_NO_MEMORY);
            }
            let s = &mut self.scratch;
            s.chunks.push((base, size));
            s.total += size;
            s.cursor = base;
            s.chunk_end = base + size;
        }
        let s = &mut self.scratch;
        let at = s.cursor;
        s.cursor += len;
        Ok(at)
    }

    /// Allocates scratch memory holding `data`.
    pub fn alloc_with(&mut self, data: &[u8]) -> Result<u64, Fail> {
        let at = self.alloc(data.len() as u64)?;
        self.poke(at, data);
        Ok(at)
    }

    pub fn poke(&mut self, at: u64, data: &[u8]) {
        let _ = self.mem.poke(at, data);
    }

    pub fn peek(&self, at: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        let _ = self.mem.peek(at, &mut b);
        b
    }

    pub fn peek64(&self, at: u64) -> u64 {
        let b = self.peek(at, 8);
        u64::from_le_bytes(b.try_into().unwrap_or([0; 8]))
    }

    pub fn peek32(&self, at: u64) -> u32 {
        let b = self.peek(at, 4);
        u32::from_le_bytes(b.try_into().unwrap_or([0; 4]))
    }

    /// Frees every temporary of this call.
    pub fn release(&mut self) {
        for (base, _) in std::mem::take(&mut self.scratch.chunks) {
            self.k.release_scratch(self.mem, base);
        }
        self.scratch = Scratch::new();
    }

    // ----- widening by kind -----

    /// Converts the 32-bit slots into 64-bit arguments by kind.
    pub fn widen(&mut self, kinds: &[Arg]) -> Result<Vec<u64>, Fail> {
        let mut out = Vec::with_capacity(kinds.len());
        let mut slot = 0;
        for &kind in kinds {
            let v = self.arg(slot);
            out.push(self.widen_one(kind, slot, v, kinds)?);
            slot += kind.slots();
        }
        Ok(out)
    }

    fn widen_one(&mut self, kind: Arg, slot: usize, v: u32, kinds: &[Arg]) -> Result<u64, Fail> {
        Ok(match kind {
            Arg::Handle | Arg::Long => v as i32 as i64 as u64,
            Arg::Ptr | Arg::Ulong | Arg::UlongPtr => v as u64,
            Arg::ZeroBits => {
                if v == 0 {
                    self.info.zero_bits_mask()
                } else {
                    v as u64
                }
            }
            Arg::LargeInt => v as u64 | (self.arg(slot + 1) as u64) << 32,
            Arg::SizeInOut => {
                if v == 0 {
                    return Ok(0);
                }
                let cur = self.read32(v)?;
                let t = self.alloc_with(&(cur as u64).to_le_bytes())?;
                self.posts.push(Post::NarrowSize { guest: v, temp: t });
                t
            }
            Arg::HandleOut => {
                if v == 0 {
                    return Ok(0);
                }
                let cur = self.read32(v)?;
                let t = self.alloc_with(&(cur as u64).to_le_bytes())?;
                self.posts.push(Post::NarrowHandle { guest: v, temp: t });
                t
            }
            Arg::ObjAttr => self.object_attributes(v)?,
            Arg::UniStr => self.unicode_string(v)?,
            Arg::Iosb => {
                if v == 0 {
                    return Ok(0);
                }
                let b = self.read(v, 8)?;
                let mut t = [0u8; 16];
                // Status widens as the union's pointer would (zero-extended);
                // Information is a ULONG_PTR.
                t[..4].copy_from_slice(&b[..4]);
                t[8..12].copy_from_slice(&b[4..8]);
                let at = self.alloc_with(&t)?;
                self.posts.push(Post::Iosb { guest: v, temp: at, before: t });
                at
            }
            Arg::ClientId => {
                if v == 0 {
                    return Ok(0);
                }
                let b = self.read(v, 8)?;
                let mut t = [0u8; 16];
                t[..4].copy_from_slice(&b[..4]);
                t[8..12].copy_from_slice(&b[4..8]);
                self.alloc_with(&t)?
            }
            Arg::HandleArray(n) => {
                if v == 0 {
                    return Ok(0);
                }
                let count = kinds.iter().take(n).map(|k| k.slots()).sum::<usize>();
                let count = self.arg(count).min(64) as usize;
                let b = self.read(v, count * 4)?;
                let wide: Vec<u8> = b
                    .chunks_exact(4)
                    .flat_map(|c| (i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64).to_le_bytes())
                    .collect();
                self.alloc_with(&wide)?
            }
        })
    }

    /// UNICODE_STRING32 at `p` -> a 64-bit UNICODE_STRING in scratch (0 for NULL).
    pub fn unicode_string(&mut self, p: u32) -> Result<u64, Fail> {
        if p == 0 {
            return Ok(0);
        }
        let b = self.read(p, 8)?;
        let len = u16::from_le_bytes([b[0], b[1]]);
        let buf = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        let mut t = [0u8; 16];
        t[..4].copy_from_slice(&b[..4]);
        t[8..12].copy_from_slice(&buf.to_le_bytes());
        if self.trace.is_some() {
            let units = self.mem_string(buf, len);
            if let Some(tr) = &mut self.trace {
                tr.strings.push(units);
            }
        }
        self.alloc_with(&t)
    }

    /// OBJECT_ATTRIBUTES32 at `p` -> OBJECT_ATTRIBUTES in scratch (0 for NULL). A
    /// Length other than 24 gives a zeroed structure, which the service rejects.
    pub fn object_attributes(&mut self, p: u32) -> Result<u64, Fail> {
        if p == 0 {
            return Ok(0);
        }
        let b = self.read(p, 24)?;
        let u = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let mut t = [0u8; 48];
        if u(0) == 24 {
            let name = self.unicode_string(u(8))?;
            t[0..4].copy_from_slice(&48u32.to_le_bytes());
            t[8..16].copy_from_slice(&(u(4) as i32 as i64).to_le_bytes());
            t[16..24].copy_from_slice(&name.to_le_bytes());
            t[24..28].copy_from_slice(&u(12).to_le_bytes());
            t[32..40].copy_from_slice(&(u(16) as u64).to_le_bytes());
            t[40..48].copy_from_slice(&(u(20) as u64).to_le_bytes());
        }
        self.alloc_with(&t)
    }

    /// Guest UTF-16 for the trace (best effort, bounded).
    fn mem_string(&self, buf: u32, len: u16) -> String {
        let mut b = vec![0u8; (len as usize & !1).min(1024)];
        if self.mem.peek(buf as u64, &mut b).is_err() {
            return "<unreadable>".into();
        }
        let u: Vec<u16> = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        String::from_utf16_lossy(&u)
    }

    /// Calls the 64-bit service.
    pub fn service(&mut self, name: &str, args: &[u64]) -> u32 {
        self.args64 = args.to_vec();
        self.k.call(self.mem, name, args)
    }

    /// Runs the narrowing actions for the status the service returned.
    pub fn finish(&mut self, status: u32) -> u32 {
        let ok = is_success(status);
        for p in std::mem::take(&mut self.posts) {
            let r = match p {
                Post::NarrowSize { guest, temp } if ok => {
                    let v = self.peek64(temp).min(0xFFFF_FFFF) as u32;
                    self.write32(guest, v)
                }
                Post::NarrowHandle { guest, temp } if ok => {
                    let v = self.peek64(temp) as u32;
                    self.write32(guest, v)
                }
                Post::Iosb { guest, temp, before } => {
                    let now = self.peek(temp, 16);
                    if now[..] != before[..] {
                        let mut b = [0u8; 8];
                        b[..4].copy_from_slice(&now[..4]);
                        b[4..].copy_from_slice(&now[8..12]);
                        self.write(guest, &b)
                    } else {
                        Ok(())
                    }
                }
                _ => Ok(()),
            };
            if let Err(e) = r {
                return e;
            }
        }
        status
    }

    /// The generic thunk: widen by kind, call, narrow.
    pub fn generic(&mut self, kinds: &[Arg]) -> u32 {
        match self.widen(kinds) {
            Ok(a) => {
                let st = self.service(self.name, &a);
                self.finish(st)
            }
            Err(e) => e,
        }
    }
}

/// The status a guest access fault becomes.
pub fn fault(f: x86wow_mmu::Fault) -> u32 {
    x86wow_syscalls::fault_status(f).0
}

/// Services one call: dispatches on the table entry, releases the temporaries, and
/// returns the status for EAX.
pub fn dispatch(call: &mut Call<'_>, thunk: &Thunk) -> u32 {
    let st = match thunk.kind {
        Kind::Generic => call.generic(thunk.args),
        Kind::Custom(f) => f(call),
        Kind::Cpu | Kind::NotImplemented => STATUS_NOT_IMPLEMENTED,
    };
    call.release();
    st
}
