//! The 64-bit NT system-call model of x86wow.
//!
//! [`Kernel`] is a 64-bit Windows kernel for one single-threaded process: services take
//! 64-bit argument values and read and write 64-bit structure layouts
//! (`OBJECT_ATTRIBUTES` 48 bytes, `UNICODE_STRING` 16, `IO_STATUS_BLOCK` 16,
//! `MEMORY_BASIC_INFORMATION` 48, `CLIENT_ID` 16, ...) in the process address space, a
//! [`x86wow_mmu::Memory`]. It knows nothing about 32-bit code: the wow64 layer builds
//! 64-bit structures and calls it.
//!
//! Every service is a typed method (`nt_close`, `nt_allocate_virtual_memory`, ...)
//! returning an [`NtStatus`]; [`Kernel::call`] dispatches by name over [`SERVICES`].
//! A user pointer the process cannot access gives `STATUS_ACCESS_VIOLATION` (or
//! `STATUS_GUARD_PAGE_VIOLATION` for an armed guard page); no argument value makes a
//! service panic.
//!
//! # Behaviours decided without an authority
//!
//! Where neither Microsoft's documentation nor Wine settles a behaviour, the model picks
//! one and says so here:
//! - A kernel access to an armed guard page clears the guard (the mmu does) and the
//!   service fails with `STATUS_GUARD_PAGE_VIOLATION`; stack growth through the guard
//!   page on a kernel access is not modelled.
//! - `NtClose` of a pseudo-handle (-1 .. -6) succeeds and does nothing (as Wine does).
//! - Named-object lookups are case-sensitive unless `OBJ_CASE_INSENSITIVE` is given;
//!   `\Sessions\1\BaseNamedObjects` and the `Global\`, `Local\`, `Session\1\`
//!   links all lead to `\BaseNamedObjects` (one session).
//! - File names that are DOS device names (`CON`, `NUL.txt`, `COM1`, ...) and named
//!   alternate data streams are `STATUS_OBJECT_NAME_INVALID` (what a FAT volume says);
//!   `name::$DATA` is the file itself. `\??\NUL`, `\??\CON`, `CONIN$`, `CONOUT$` open
//!   the null device and the console.
//! - A symbolic link on the host is followed only if it stays inside the root;
//!   otherwise, and after 32 links, `STATUS_ACCESS_DENIED`.
//! - `..` is resolved lexically and stops at the root; masks longer than 255
//!   characters are `STATUS_OBJECT_NAME_INVALID`.
//! - `MEM_RELEASE` with a non-zero size, even the allocation's whole size, is
//!   `STATUS_FREE_VM_NOT_AT_BASE` as in Wine; freeing a view is
//!   `STATUS_UNABLE_TO_DELETE_SECTION`; a base below 64 KiB is
//!   `STATUS_INVALID_PARAMETER_2`; KUSER_SHARED_DATA cannot be freed or re-protected
//!   (`STATUS_INVALID_PARAMETER_2`).
//! - An infinite wait that can never be satisfied (one thread) and `Sleep(INFINITE)`
//!   return `STATUS_POSSIBLE_DEADLOCK`; a finite one jumps the clock to its end.
//! - Images are mapped at their preferred base (no ASLR); a PE32 image mapped in a
//!   process with no PEB32 (or PE32+ in a wow64 one) gives
//!   `STATUS_IMAGE_MACHINE_TYPE_MISMATCH`; `STATUS_IMAGE_NOT_AT_BASE` wins when both
//!   apply. Images over 256 MiB are `STATUS_INVALID_IMAGE_FORMAT` (a sandbox limit).
//! - Writable image pages report `PAGE_WRITECOPY` even after they were written.
//! - Two views of one section do not share pages (the mmu cannot alias pages): a view
//!   is loaded when mapped and stored back when unmapped or flushed.
//!
//! ```
//! use x86wow_mmu::{Memory, Prot};
//! use x86wow_syscalls::{Kernel, KernelConfig, NtStatus};
//!
//! let mut mem = Memory::new();
//! let mut k = Kernel::new(KernelConfig::new(std::env::temp_dir()));
//! assert_eq!(k.nt_close(&mut mem, u64::MAX), NtStatus::SUCCESS); // NtCurrentProcess
//! assert_eq!(k.nt_close(&mut mem, 0xdeadbeef), NtStatus::INVALID_HANDLE);
//! assert_eq!(k.call(&mut mem, "NtClose", &[0xdeadbeef]), NtStatus::INVALID_HANDLE);
//! assert_eq!(k.call(&mut mem, "NtOpenKey", &[0, 0, 0]), NtStatus::NOT_IMPLEMENTED);
//! ```

// NT services take many arguments; the methods mirror their signatures.
#![allow(clippy::too_many_arguments)]

mod config;
mod dispatch;
mod file;
mod host;
mod info;
mod object;
mod obsvc;
mod path;
mod pe;
mod section;
mod status;
mod sync;
mod time;
mod user;
mod vm;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use x86wow_mmu::Memory;

pub use config::{
    default_processor_features, Captured, ConsoleStreams, InputStream, KernelConfig, OsIdentity,
    OutputStream, DEFAULT_CLOCK_START,
};
pub use dispatch::{service_arg_count, Service, SERVICES};
pub use file::{
    FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_NORMAL, FILE_ATTRIBUTE_READONLY, FILE_DEVICE_CONSOLE,
    FILE_DEVICE_DISK, FILE_DEVICE_NULL,
};
pub use object::{ObjectType, CURRENT_PROCESS, CURRENT_THREAD};
pub use pe::{parse_image, section_protection, ImageBlock, ImageInfo};
pub use status::{all_statuses, status_name, NtStatus};
pub use time::{Clock, KUSER_SHARED_DATA, QPC_FREQUENCY};
pub use user::{fault_status, USER_PROBE_ADDRESS};
pub use vm::{mmu_prot, valid_protection, zero_bits_limit, MemType, MemoryInfo};

/// Windows constants used in service arguments, re-exported for callers and tests.
pub mod consts {
    pub use crate::file::{
        FILE_APPEND_DATA, FILE_CREATE, FILE_CREATED, FILE_DELETE_ON_CLOSE, FILE_DIRECTORY_FILE, FILE_EXECUTE,
        FILE_LIST_DIRECTORY, FILE_NON_DIRECTORY_FILE, FILE_OPEN, FILE_OPENED, FILE_OPEN_IF, FILE_OVERWRITE,
        FILE_OVERWRITE_IF, FILE_OVERWRITTEN, FILE_READ_ATTRIBUTES, FILE_READ_DATA, FILE_SHARE_DELETE,
        FILE_SHARE_READ, FILE_SHARE_WRITE, FILE_SUPERSEDE, FILE_SUPERSEDED, FILE_SYNCHRONOUS_IO_ALERT,
        FILE_SYNCHRONOUS_IO_NONALERT, FILE_WRITE_ATTRIBUTES, FILE_WRITE_DATA,
    };
    pub use crate::object::{
        DELETE, DUPLICATE_CLOSE_SOURCE, DUPLICATE_SAME_ACCESS, DUPLICATE_SAME_ATTRIBUTES, EVENT_MODIFY_STATE,
        EVENT_QUERY_STATE, GENERIC_ALL, GENERIC_EXECUTE, GENERIC_READ, GENERIC_WRITE, MAXIMUM_ALLOWED,
        MUTANT_QUERY_STATE, READ_CONTROL, SECTION_MAP_EXECUTE, SECTION_MAP_READ, SECTION_MAP_WRITE,
        SECTION_QUERY, SEMAPHORE_MODIFY_STATE, SEMAPHORE_QUERY_STATE, SYNCHRONIZE,
    };
    pub use crate::section::{SEC_COMMIT, SEC_FILE, SEC_IMAGE, SEC_NOCACHE, SEC_RESERVE};
    pub use crate::user::{
        OBJECT_ATTRIBUTES_SIZE, OBJ_CASE_INSENSITIVE, OBJ_EXCLUSIVE, OBJ_INHERIT, OBJ_KERNEL_HANDLE,
        OBJ_OPENIF, OBJ_OPENLINK, OBJ_PERMANENT,
    };
    pub use crate::vm::{
        GRANULARITY, MEM_COMMIT, MEM_DECOMMIT, MEM_FREE, MEM_IMAGE, MEM_LARGE_PAGES, MEM_MAPPED, MEM_PRIVATE,
        MEM_RELEASE, MEM_RESERVE, MEM_RESET, MEM_TOP_DOWN, PAGE, PAGE_EXECUTE, PAGE_EXECUTE_READ,
        PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY, PAGE_GUARD, PAGE_NOACCESS, PAGE_NOCACHE,
        PAGE_READONLY, PAGE_READWRITE, PAGE_WRITECOMBINE, PAGE_WRITECOPY,
    };
}

/// State of the process's one thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadState {
    pub priority: i32,
    pub ideal_processor: u32,
    pub hide_from_debugger: bool,
    /// ThreadQuerySetWin32StartAddress.
    pub start_address: u64,
    /// ThreadNameInformation (UTF-16).
    pub name: Vec<u16>,
}

/// What the kernel knows of the process beyond its objects and memory.
#[derive(Debug, Clone, Default)]
pub struct ProcessState {
    pub peb64: u64,
    pub teb64: u64,
    /// The PEB32 (0 for a native 64-bit process), reported by ProcessWow64Information.
    pub peb32: u64,
    /// Win32 path of the image (`C:\dir\app.exe`).
    pub image_path: String,
    /// The main image, for ProcessImageInformation.
    pub image_info: Option<ImageInfo>,
    pub image_base: u64,
    pub exit_status: Option<u32>,
    pub hard_error_mode: u32,
    pub io_priority: u32,
    pub page_priority: u32,
    pub execute_flags: u32,
    pub cookie: u32,
    pub thread: ThreadState,
}

/// The 64-bit kernel of one process. `Clone` snapshots its whole state (open host files
/// are shared between clones; console streams too).
#[derive(Clone)]
pub struct Kernel {
    pub(crate) cfg: KernelConfig,
    pub(crate) clock: Clock,
    pub(crate) ob: object::Objects,
    pub(crate) vm: vm::Vm,
    pub(crate) commit_charge: u64,
    pub(crate) process: ProcessState,
    pub(crate) timer_resolution: u32,
    pub(crate) fs_root: Option<Arc<File>>,
    pub(crate) fs_root_canon: PathBuf,
    /// Files to delete when their last open goes: (dev, ino) -> (parent, name, is_dir).
    pub(crate) delete_pending: BTreeMap<(u64, u64), (Arc<File>, OsString, bool)>,
    pub(crate) emulation_highest: u64,
    pub(crate) console_handles: [u64; 3],
    notes: Vec<String>,
}

impl Kernel {
    /// A kernel with its namespace, the process and thread objects, and console handles
    /// for standard input, output and error (handles 4, 8 and 0xC). If the sandbox root
    /// cannot be opened, every file name gives `STATUS_OBJECT_PATH_NOT_FOUND`.
    pub fn new(cfg: KernelConfig) -> Self {
        let fs_root = host::open_dir_path(&cfg.sandbox_root).ok().map(Arc::new);
        let fs_root_canon =
            std::fs::canonicalize(&cfg.sandbox_root).unwrap_or_else(|_| cfg.sandbox_root.clone());
        let cookie = ((cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32) | 1;
        let mut k = Kernel {
            clock: Clock::new(cfg.clock_start, cfg.boot_interrupt_time, cfg.clock_rate),
            ob: object::Objects::new(),
            vm: vm::Vm::default(),
            commit_charge: 0,
            process: ProcessState {
                hard_error_mode: 1,
                io_priority: 2,
                page_priority: 5,
                execute_flags: 0x0D,
                cookie,
                ..ProcessState::default()
            },
            timer_resolution: time::TIME_INCREMENT as u32,
            fs_root,
            fs_root_canon,
            delete_pending: BTreeMap::new(),
            emulation_highest: cfg.emulation_highest_user_address,
            console_handles: [0; 3],
            notes: Vec::new(),
            cfg,
        };
        k.console_handles = [
            k.new_console_handle(file::Std::Input),
            k.new_console_handle(file::Std::Output),
            k.new_console_handle(file::Std::Error),
        ];
        k
    }

    /// Prepares the address space: maps and fills KUSER_SHARED_DATA at 0x7FFE0000.
    pub fn init_process(&mut self, mem: &mut Memory) -> NtStatus {
        self.map_shared_data(mem)
    }

    pub fn config(&self) -> &KernelConfig {
        &self.cfg
    }

    /// Handles of standard input, output and error (for the process parameters).
    pub fn console_handles(&self) -> [u64; 3] {
        self.console_handles
    }

    /// Registers the process blocks: PEB64, the thread's TEB64, and the PEB32 (0 for a
    /// native process), which ProcessWow64Information reports.
    pub fn set_process_blocks(&mut self, peb64: u64, teb64: u64, peb32: u64) {
        self.process.peb64 = peb64;
        self.process.teb64 = teb64;
        self.process.peb32 = peb32;
    }

    /// Registers the main image: its Win32 path (`C:\dir\app.exe`), the parsed image
    /// (see [`Kernel::section_image_info`] or [`parse_image`]) and where it is mapped.
    pub fn set_process_image(&mut self, win32_path: &str, image: Option<ImageInfo>, base: u64) {
        self.process.image_path = win32_path.to_string();
        self.process.image_info = image;
        self.process.image_base = base;
    }

    /// The highest user address SystemEmulationBasicInformation reports (0x7FFEFFFF,
    /// or 0xFFFEFFFF for a large-address-aware image).
    pub fn set_emulation_highest_user_address(&mut self, highest: u64) {
        self.emulation_highest = highest;
    }

    /// The exit status, once NtTerminateProcess (or the last NtTerminateThread) ran.
    pub fn exit_status(&self) -> Option<u32> {
        self.process.exit_status
    }

    /// Records an exit status set outside a service (for instance an unhandled exception).
    pub fn set_exit_status(&mut self, status: u32) {
        self.process.exit_status.get_or_insert(status);
    }

    pub fn process(&self) -> &ProcessState {
        &self.process
    }

    pub fn process_mut(&mut self) -> &mut ProcessState {
        &mut self.process
    }

    /// Number of open handles (pseudo-handles excluded).
    pub fn handle_count(&self) -> usize {
        self.ob.handles.len()
    }

    /// The type of the object a handle refers to.
    pub fn handle_type(&self, handle: u64) -> Option<ObjectType> {
        let he = self.ob.lookup(handle).ok()?;
        self.ob.get(he.obj).map(|e| e.body.object_type())
    }

    /// The access a handle grants.
    pub fn handle_access(&self, handle: u64) -> Option<u32> {
        self.ob.lookup(handle).ok().map(|h| h.access)
    }

    /// Notes about requests the model does not support (unknown information classes and
    /// the like), for the caller's trace. Taking them clears the list.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    pub(crate) fn note(&mut self, s: String) {
        if self.notes.len() < 256 {
            self.notes.push(s);
        }
    }
}
