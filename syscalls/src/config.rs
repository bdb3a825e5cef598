//! Kernel configuration: everything the model needs from the outside world, with
//! deterministic defaults.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// FILETIME of 2024-01-01 00:00:00 UTC, the default start of the clock.
pub const DEFAULT_CLOCK_START: u64 = 133_485_408_000_000_000;

/// An output console stream (standard output or error). Clones share the sink.
#[derive(Clone)]
pub struct OutputStream(Arc<Mutex<dyn Write + Send>>);

impl OutputStream {
    pub fn new(w: impl Write + Send + 'static) -> Self {
        OutputStream(Arc::new(Mutex::new(w)))
    }
    /// Discards everything.
    pub fn null() -> Self {
        Self::new(std::io::sink())
    }
    /// An in-memory sink and a handle to read what was written (for tests and embedders).
    pub fn capture() -> (Self, Captured) {
        let c = Captured::default();
        (Self::new(c.clone()), c)
    }
    pub(crate) fn write(&self, data: &[u8]) -> bool {
        match self.0.lock() {
            Ok(mut w) => w.write_all(data).and_then(|_| w.flush()).is_ok(),
            Err(_) => false,
        }
    }
}

/// The console input stream. Clones share the source.
#[derive(Clone)]
pub struct InputStream(Arc<Mutex<dyn Read + Send>>);

impl InputStream {
    pub fn new(r: impl Read + Send + 'static) -> Self {
        InputStream(Arc::new(Mutex::new(r)))
    }
    /// Always at end of input.
    pub fn empty() -> Self {
        Self::new(std::io::empty())
    }
    /// Input from fixed bytes.
    pub fn from_bytes(data: impl Into<Vec<u8>>) -> Self {
        Self::new(std::io::Cursor::new(data.into()))
    }
    /// Reads at most `buf.len()` bytes; 0 means end of input.
    pub(crate) fn read(&self, buf: &mut [u8]) -> usize {
        match self.0.lock() {
            Ok(mut r) => loop {
                match r.read(buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break 0,
                }
            },
            Err(_) => 0,
        }
    }
}

/// Bytes captured by [`OutputStream::capture`].
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn contents(&self) -> Vec<u8> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.contents()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The three standard streams.
#[derive(Clone)]
pub struct ConsoleStreams {
    pub stdin: InputStream,
    pub stdout: OutputStream,
    pub stderr: OutputStream,
}

impl ConsoleStreams {
    /// Empty input, discarded output.
    pub fn null() -> Self {
        ConsoleStreams {
            stdin: InputStream::empty(),
            stdout: OutputStream::null(),
            stderr: OutputStream::null(),
        }
    }
    /// The host's own standard streams.
    pub fn host() -> Self {
        ConsoleStreams {
            stdin: InputStream::new(std::io::stdin()),
            stdout: OutputStream::new(std::io::stdout()),
            stderr: OutputStream::new(std::io::stderr()),
        }
    }
}

/// The Windows version the kernel reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OsIdentity {
    pub major: u32,
    pub minor: u32,
    pub build: u32,
    /// `NtProductType`: 1 = workstation.
    pub product_type: u32,
}

impl Default for OsIdentity {
    /// Windows 10 22H2: 10.0.19045, workstation.
    fn default() -> Self {
        OsIdentity { major: 10, minor: 0, build: 19045, product_type: 1 }
    }
}

/// Everything [`crate::Kernel::new`] needs.
#[derive(Clone)]
pub struct KernelConfig {
    /// Host directory that the guest sees as `C:\`. Nothing outside it is reachable.
    pub sandbox_root: PathBuf,
    /// System time at start, as a FILETIME (100 ns units since 1601-01-01 UTC).
    pub clock_start: u64,
    /// Clock rate: advancing the clock by `n` units adds `n * num / den` 100-ns units
    /// (remainders carry). The default 1/10 makes one unit 10 ns.
    pub clock_rate: (u64, u64),
    /// Interrupt time (time since boot, 100 ns) at start.
    pub boot_interrupt_time: u64,
    /// Time zone bias in 100 ns units (UTC = local + bias); 0 means UTC.
    pub time_zone_bias: i64,
    /// Commit limit in bytes (private committed memory plus pagefile-backed sections).
    pub commit_limit: u64,
    pub console: ConsoleStreams,
    pub identity: OsIdentity,
    pub number_of_processors: u32,
    /// Seed for everything the kernel makes up (cookies, serial numbers).
    pub seed: u64,
    /// `MmHighestUserAddress` of the process; allocations and queries stop there.
    pub highest_user_address: u64,
    /// The highest user address reported by `SystemEmulationBasicInformation` (what
    /// 32-bit code is told); the wow64 layer may change it with
    /// [`crate::Kernel::set_emulation_highest_user_address`].
    pub emulation_highest_user_address: u64,
    /// Physical memory reported by `SystemBasicInformation`, in pages.
    pub physical_pages: u32,
    pub process_id: u64,
    pub thread_id: u64,
    /// `InheritedFromUniqueProcessId`.
    pub parent_process_id: u64,
    /// Default LCID and UI language.
    pub locale: u32,
    pub ui_language: u16,
    /// `KUSER_SHARED_DATA.ProcessorFeatures` (indexed by `PF_*`).
    pub processor_features: [u8; 64],
}

/// Default processor features: CMPXCHG8B, MMX, SSE, RDTSC, PAE, SSE2, NX, fast-fail.
pub fn default_processor_features() -> [u8; 64] {
    let mut f = [0u8; 64];
    for i in [2, 3, 6, 8, 9, 10, 12, 23] {
        f[i] = 1;
    }
    f
}

impl KernelConfig {
    /// Defaults with the given sandbox root.
    pub fn new(sandbox_root: impl Into<PathBuf>) -> Self {
        KernelConfig {
            sandbox_root: sandbox_root.into(),
            clock_start: DEFAULT_CLOCK_START,
            clock_rate: (1, 10),
            boot_interrupt_time: 10 * 60 * 10_000_000,
            time_zone_bias: 0,
            commit_limit: 4 << 30,
            console: ConsoleStreams::null(),
            identity: OsIdentity::default(),
            number_of_processors: 1,
            seed: 0x5EED,
            highest_user_address: 0x7FFF_FFFE_FFFF,
            emulation_highest_user_address: 0x7FFE_FFFF,
            physical_pages: 0x0040_0000,
            process_id: 0x1A4,
            thread_id: 0x1A8,
            parent_process_id: 0x10C,
            locale: 0x0409,
            ui_language: 0x0409,
            processor_features: default_processor_features(),
        }
    }
}
