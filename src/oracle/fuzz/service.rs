//! `wow64_service`: one NT service call through its wow64 thunk.

use arbitrary::{Arbitrary, Unstructured};
use x86wow_mmu::Memory;
use x86wow_syscalls::consts::{MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE};
use x86wow_syscalls::{Kernel, KernelConfig, MemType};
use x86wow_wow64::thunks::{dispatch, Call, Wow64Info, SCRATCH_BASE, THUNKS};

/// Where the call's guest memory lives (two read-write pages).
pub const GUEST: u32 = 0x0050_0000;
const GUEST_SIZE: u32 = 0x2000;

/// One argument slot.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Slot {
    Raw(u32),
    /// A pointer into the guest pages: `GUEST + offset % 8 KiB`.
    Guest(u16),
    /// A small value (lengths, classes, flags).
    Small(u8),
    /// A pseudo-handle or negative value: `-(n + 1)`.
    Minus(u8),
}

impl Slot {
    fn value(self) -> u32 {
        match self {
            Slot::Raw(v) => v,
            Slot::Guest(o) => GUEST + o as u32 % GUEST_SIZE,
            Slot::Small(v) => v as u32,
            Slot::Minus(n) => (n as u32).wrapping_add(1).wrapping_neg(),
        }
    }
}

/// The input of [`wow64_service`].
#[derive(Debug, Clone, Arbitrary)]
pub struct ServiceCall {
    /// Index into the thunk table (taken modulo its length).
    pub service: u16,
    pub large_address_aware: bool,
    pub slots: Vec<Slot>,
    /// Initial bytes of the guest pages.
    pub guest: Vec<u8>,
}

/// Calls one service through its thunk, as the 0x33 transition would, on a fresh
/// kernel whose sandbox root is a temporary directory (removed afterwards). Every call
/// must return a status without panicking and release its scratch memory above 4 GiB.
pub fn wow64_service(data: &[u8]) {
    let Ok(c) = ServiceCall::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let thunk = &THUNKS[c.service as usize % THUNKS.len()];
    let root = super::scratch_dir("wow64_service");
    let limit: u32 = if c.large_address_aware { 0xFFFE_FFFF } else { 0x7FFE_FFFF };
    let mut cfg = KernelConfig::new(&root);
    cfg.emulation_highest_user_address = limit as u64;
    let mut kernel = Kernel::new(cfg);
    let mut mem = Memory::new();
    assert!(kernel.init_process(&mut mem).is_success(), "init_process");
    let Ok(blocks) = x86wow_wow64::teb::allocate_blocks(&mut kernel, &mut mem, limit) else {
        panic!("allocating the process blocks failed")
    };
    kernel.set_process_blocks(blocks.peb64 as u64, blocks.teb64 as u64, blocks.peb32 as u64);
    let st = kernel.vm_reserve_at(
        &mut mem,
        GUEST as u64,
        GUEST_SIZE as u64,
        MEM_RESERVE | MEM_COMMIT,
        PAGE_READWRITE,
        MemType::Private,
    );
    assert!(st.is_success(), "guest pages: {st:?}");
    let n = c.guest.len().min(GUEST_SIZE as usize);
    mem.poke(GUEST as u64, &c.guest[..n]).expect("guest pages are mapped");
    let mut args: Vec<u32> = c.slots.iter().map(|s| s.value()).collect();
    args.resize(thunk.slots().max(args.len()).min(32), 0);
    let info = Wow64Info { limit, peb32: blocks.peb32, teb32: blocks.teb32 };
    let mut call = Call::new(&mut mem, &mut kernel, info, thunk.name, args, false);
    let _status: u32 = dispatch(&mut call, thunk);
    drop(call);
    assert!(!mem.is_mapped(SCRATCH_BASE), "{}: scratch memory left committed", thunk.name);
    drop(kernel);
    let _ = std::fs::remove_dir_all(&root);
}
