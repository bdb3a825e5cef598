#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use x86wow_mmu::Memory;
use x86wow_syscalls::consts::*;
use x86wow_syscalls::{
    Captured, ConsoleStreams, InputStream, Kernel, KernelConfig, MemType, NtStatus, OutputStream,
};

/// Where the scratch region lives (above 4 GiB, as the wow64 layer's structures do).
pub const SCRATCH: u64 = 0x1_0000_0000;
pub const SCRATCH_SIZE: u64 = 0x10_0000;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("x86wow-nt-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Env {
    pub k: Kernel,
    pub mem: Memory,
    /// The parent of the sandbox root: files here are "outside".
    pub outer: TempDir,
    pub root: PathBuf,
    pub out: Captured,
    pub err: Captured,
    cursor: u64,
}

impl Env {
    pub fn new() -> Env {
        Self::with(|_| {})
    }

    pub fn with(f: impl FnOnce(&mut KernelConfig)) -> Env {
        Self::with_input(b"", f)
    }

    pub fn with_input(input: &[u8], f: impl FnOnce(&mut KernelConfig)) -> Env {
        let outer = TempDir::new("sandbox");
        let root = outer.0.join("root");
        std::fs::create_dir_all(&root).expect("root");
        let (stdout, out) = OutputStream::capture();
        let (stderr, err) = OutputStream::capture();
        let mut cfg = KernelConfig::new(&root);
        cfg.console = ConsoleStreams { stdin: InputStream::from_bytes(input.to_vec()), stdout, stderr };
        f(&mut cfg);
        let mut k = Kernel::new(cfg);
        let mut mem = Memory::new();
        assert_eq!(k.init_process(&mut mem), NtStatus::SUCCESS);
        let st = k.vm_reserve_at(
            &mut mem,
            SCRATCH,
            SCRATCH_SIZE,
            MEM_RESERVE | MEM_COMMIT,
            PAGE_READWRITE,
            MemType::Private,
        );
        if st != NtStatus::SUCCESS {
            // Past a configured (32-bit) limit: map it directly, as the wow64 layer's
            // own memory would be.
            mem.map(SCRATCH, SCRATCH_SIZE, x86wow_mmu::Prot::RW).unwrap();
        }
        Env { k, mem, outer, root, out, err, cursor: SCRATCH }
    }

    pub fn host(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn outside(&self, rel: &str) -> PathBuf {
        self.outer.0.join(rel)
    }

    /// Scratch bytes (16-byte aligned, zeroed).
    pub fn alloc(&mut self, n: u64) -> u64 {
        let a = self.cursor;
        self.cursor = (self.cursor + n.max(1) + 15) & !15;
        assert!(self.cursor <= SCRATCH + SCRATCH_SIZE, "scratch exhausted");
        a
    }

    pub fn put(&mut self, data: &[u8]) -> u64 {
        let a = self.alloc(data.len() as u64);
        self.mem.write_bytes(a, data).unwrap();
        a
    }

    pub fn u64_cell(&mut self, v: u64) -> u64 {
        self.put(&v.to_le_bytes())
    }

    pub fn u32_cell(&mut self, v: u32) -> u64 {
        self.put(&v.to_le_bytes())
    }

    pub fn rd64(&mut self, a: u64) -> u64 {
        self.mem.read_u64(a).unwrap()
    }

    pub fn rd32(&mut self, a: u64) -> u32 {
        self.mem.read_u32(a).unwrap()
    }

    pub fn bytes(&mut self, a: u64, n: usize) -> Vec<u8> {
        let mut b = vec![0; n];
        self.mem.read_bytes(a, &mut b).unwrap();
        b
    }

    /// A 64-bit UNICODE_STRING for `s` with its buffer.
    pub fn ustr(&mut self, s: &str) -> u64 {
        let units: Vec<u16> = s.encode_utf16().collect();
        self.ustr_raw(&units, (units.len() * 2) as u16, (units.len() * 2) as u16)
    }

    pub fn ustr_raw(&mut self, units: &[u16], len: u16, max: u16) -> u64 {
        let bytes: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
        let buf = self.put(&bytes);
        self.ustr_at(buf, len, max)
    }

    pub fn ustr_at(&mut self, buffer: u64, len: u16, max: u16) -> u64 {
        let mut b = [0u8; 16];
        b[0..2].copy_from_slice(&len.to_le_bytes());
        b[2..4].copy_from_slice(&max.to_le_bytes());
        b[8..16].copy_from_slice(&buffer.to_le_bytes());
        self.put(&b)
    }

    /// A 64-bit OBJECT_ATTRIBUTES.
    pub fn oa_raw(&mut self, root: u64, name_us: u64, attrs: u32) -> u64 {
        let mut b = [0u8; 48];
        b[0..4].copy_from_slice(&48u32.to_le_bytes());
        b[8..16].copy_from_slice(&root.to_le_bytes());
        b[16..24].copy_from_slice(&name_us.to_le_bytes());
        b[24..28].copy_from_slice(&attrs.to_le_bytes());
        self.put(&b)
    }

    pub fn oa(&mut self, name: &str, attrs: u32) -> u64 {
        let us = self.ustr(name);
        self.oa_raw(0, us, attrs)
    }

    pub fn oa_rel(&mut self, root: u64, name: &str, attrs: u32) -> u64 {
        let us = self.ustr(name);
        self.oa_raw(root, us, attrs)
    }

    pub fn iosb(&mut self) -> u64 {
        self.alloc(16)
    }

    pub fn iosb_info(&mut self, iosb: u64) -> (u32, u64) {
        (self.rd32(iosb), self.rd64(iosb + 8))
    }

    /// NtCreateFile with the usual synchronous options; returns (status, handle, iosb).
    pub fn create_file(
        &mut self,
        name: &str,
        access: u32,
        share: u32,
        disposition: u32,
        options: u32,
    ) -> (NtStatus, u64, u64) {
        let h = self.alloc(8);
        let oa = self.oa(name, OBJ_CASE_INSENSITIVE);
        let iosb = self.iosb();
        let st = self.k.nt_create_file(
            &mut self.mem,
            h,
            access as u64,
            oa,
            iosb,
            0,
            0,
            share as u64,
            disposition as u64,
            options as u64,
            0,
            0,
        );
        let handle = self.rd64(h);
        (st, handle, iosb)
    }

    /// Opens (or creates) for synchronous read/write.
    pub fn open_rw(&mut self, name: &str, disposition: u32) -> (NtStatus, u64) {
        let (st, h, _) = self.create_file(
            name,
            GENERIC_READ | GENERIC_WRITE | SYNCHRONIZE | DELETE,
            FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
            disposition,
            FILE_SYNCHRONOUS_IO_NONALERT | FILE_NON_DIRECTORY_FILE,
        );
        (st, h)
    }

    pub fn write(&mut self, h: u64, data: &[u8], offset: Option<i64>) -> (NtStatus, u64) {
        let buf = self.put(data);
        let iosb = self.iosb();
        let off = offset.map(|o| self.u64_cell(o as u64)).unwrap_or(0);
        let st = self.k.nt_write_file(&mut self.mem, h, 0, 0, 0, iosb, buf, data.len() as u64, off, 0);
        let n = self.rd64(iosb + 8);
        (st, n)
    }

    pub fn read(&mut self, h: u64, len: usize, offset: Option<i64>) -> (NtStatus, Vec<u8>) {
        let buf = self.alloc(len as u64);
        let iosb = self.iosb();
        let off = offset.map(|o| self.u64_cell(o as u64)).unwrap_or(0);
        let st = self.k.nt_read_file(&mut self.mem, h, 0, 0, 0, iosb, buf, len as u64, off, 0);
        let n = self.rd64(iosb + 8) as usize;
        let data = self.bytes(buf, n.min(len));
        (st, data)
    }

    pub fn close(&mut self, h: u64) -> NtStatus {
        self.k.nt_close(&mut self.mem, h)
    }

    /// NtCreateEvent; returns (status, handle).
    pub fn create_event(
        &mut self,
        name: Option<&str>,
        attrs: u32,
        notification: bool,
        initial: bool,
    ) -> (NtStatus, u64) {
        let h = self.alloc(8);
        let oa = match name {
            Some(n) => self.oa(n, attrs),
            None => 0,
        };
        let st =
            self.k.nt_create_event(&mut self.mem, h, 0x1F0003, oa, (!notification) as u64, initial as u64);
        (st, self.rd64(h))
    }
}

pub fn host_tree(p: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(base: &Path, p: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let Ok(rd) = std::fs::read_dir(p) else { return };
        let mut es: Vec<_> = rd.flatten().collect();
        es.sort_by_key(|e| e.file_name());
        for e in es {
            let path = e.path();
            let rel = path.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                out.push((
                    rel + " -> link",
                    std::fs::read_link(&path).unwrap().to_string_lossy().as_bytes().to_vec(),
                ));
            } else if meta.is_dir() {
                out.push((rel + "/", Vec::new()));
                walk(base, &path, out);
            } else {
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    walk(p, p, &mut out);
    out
}
