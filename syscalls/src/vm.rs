//! The virtual memory manager: allocations (reservations), their pages' state and
//! protection, and the services over them. Committed pages are mapped in the mmu;
//! reserved pages are not, so touching them faults.

use std::collections::BTreeMap;

use x86wow_mmu::{Memory, Prot};

use crate::object::{ObjId, ObjectType, PROCESS_QUERY_INFORMATION, PROCESS_VM_OPERATION};
use crate::status::{flat, NtResult, NtStatus};
use crate::user;
use crate::Kernel;

pub const PAGE: u64 = 0x1000;
/// Allocation granularity.
pub const GRANULARITY: u64 = 0x1_0000;
/// The lowest address an allocation may use.
pub const LOWEST_USER_ADDRESS: u64 = 0x1_0000;

pub const MEM_COMMIT: u32 = 0x1000;
pub const MEM_RESERVE: u32 = 0x2000;
pub const MEM_DECOMMIT: u32 = 0x4000;
pub const MEM_RELEASE: u32 = 0x8000;
pub const MEM_FREE: u32 = 0x1_0000;
pub const MEM_PRIVATE: u32 = 0x2_0000;
pub const MEM_MAPPED: u32 = 0x4_0000;
pub const MEM_RESET: u32 = 0x8_0000;
pub const MEM_TOP_DOWN: u32 = 0x10_0000;
pub const MEM_WRITE_WATCH: u32 = 0x20_0000;
pub const MEM_PHYSICAL: u32 = 0x40_0000;
pub const MEM_IMAGE: u32 = 0x100_0000;
pub const MEM_RESET_UNDO: u32 = 0x100_0000;
pub const MEM_LARGE_PAGES: u32 = 0x2000_0000;

pub const PAGE_NOACCESS: u32 = 0x01;
pub const PAGE_READONLY: u32 = 0x02;
pub const PAGE_READWRITE: u32 = 0x04;
pub const PAGE_WRITECOPY: u32 = 0x08;
pub const PAGE_EXECUTE: u32 = 0x10;
pub const PAGE_EXECUTE_READ: u32 = 0x20;
pub const PAGE_EXECUTE_READWRITE: u32 = 0x40;
pub const PAGE_EXECUTE_WRITECOPY: u32 = 0x80;
pub const PAGE_GUARD: u32 = 0x100;
pub const PAGE_NOCACHE: u32 = 0x200;
pub const PAGE_WRITECOMBINE: u32 = 0x400;
pub const PAGE_TARGETS_INVALID: u32 = 0x4000_0000;

/// The `Type` of an allocation as `MEMORY_BASIC_INFORMATION` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemType {
    Private,
    Mapped,
    Image,
}

impl MemType {
    pub fn value(self) -> u32 {
        match self {
            MemType::Private => MEM_PRIVATE,
            MemType::Mapped => MEM_MAPPED,
            MemType::Image => MEM_IMAGE,
        }
    }
}

/// Validates a Windows page protection (`MiMakeProtectionMask`): exactly one base
/// protection, and GUARD/NOCACHE/WRITECOMBINE only where Windows allows them.
pub fn valid_protection(p: u32) -> bool {
    let p = p & !PAGE_TARGETS_INVALID;
    let base = p & 0xFF;
    let modifiers = p & !0xFF;
    if base.count_ones() != 1 || modifiers & !(PAGE_GUARD | PAGE_NOCACHE | PAGE_WRITECOMBINE) != 0 {
        return false;
    }
    if modifiers.count_ones() > 1 {
        return false;
    }
    !(base == PAGE_NOACCESS && modifiers != 0)
}

/// The mmu protection that implements a Windows protection. x86 pages cannot be
/// execute-only or write-only, so PAGE_EXECUTE is readable; copy-on-write pages are
/// simply writable (each view has its own pages).
pub fn mmu_prot(p: u32) -> Prot {
    let base = match p & 0xFF {
        PAGE_READONLY => Prot::R,
        PAGE_READWRITE | PAGE_WRITECOPY => Prot::RW,
        PAGE_EXECUTE | PAGE_EXECUTE_READ => Prot::RX,
        PAGE_EXECUTE_READWRITE | PAGE_EXECUTE_WRITECOPY => Prot::RWX,
        _ => Prot::NONE,
    };
    if p & PAGE_GUARD != 0 {
        base | Prot::GUARD
    } else {
        base
    }
}

pub fn prot_writable(p: u32) -> bool {
    matches!(p & 0xFF, PAGE_READWRITE | PAGE_WRITECOPY | PAGE_EXECUTE_READWRITE | PAGE_EXECUTE_WRITECOPY)
}

pub fn prot_executable(p: u32) -> bool {
    matches!(p & 0xFF, PAGE_EXECUTE | PAGE_EXECUTE_READ | PAGE_EXECUTE_READWRITE | PAGE_EXECUTE_WRITECOPY)
}

/// Writable and not copy-on-write: writes reach the section or file.
pub fn prot_shared_write(p: u32) -> bool {
    prot_writable(p) && !prot_writecopy(p)
}

pub fn prot_writecopy(p: u32) -> bool {
    matches!(p & 0xFF, PAGE_WRITECOPY | PAGE_EXECUTE_WRITECOPY)
}

/// State of a run of pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageState {
    pub committed: bool,
    /// The Windows protection (with PAGE_GUARD if still armed); 0 when reserved.
    pub protect: u32,
}

const RESERVED: PageState = PageState { committed: false, protect: 0 };

/// A view of a section mapped into an allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewInfo {
    pub section: ObjId,
    /// Offset in the section of the first byte of the view.
    pub offset: u64,
    /// The view's protection (`Win32Protect`).
    pub protect: u32,
}

/// One allocation (a reservation, a mapped view or a mapped image).
#[derive(Debug, Clone)]
pub struct Allocation {
    pub base: u64,
    pub size: u64,
    pub alloc_protect: u32,
    pub ty: MemType,
    /// Runs of equal state, keyed by offset; they cover `0..size`.
    runs: BTreeMap<u64, PageState>,
    pub view: Option<ViewInfo>,
    /// A system allocation (KUSER_SHARED_DATA): the process cannot free or re-protect it.
    pub system: bool,
}

impl Allocation {
    pub fn new(base: u64, size: u64, alloc_protect: u32, ty: MemType) -> Self {
        let mut runs = BTreeMap::new();
        runs.insert(0, RESERVED);
        Allocation { base, size, alloc_protect, ty, runs, view: None, system: false }
    }

    pub fn end(&self) -> u64 {
        self.base + self.size
    }

    fn split(&mut self, off: u64) {
        if off >= self.size || self.runs.contains_key(&off) {
            return;
        }
        let st = self.state_at(off);
        self.runs.insert(off, st);
    }

    /// The state of the page at offset `off`.
    pub fn state_at(&self, off: u64) -> PageState {
        self.runs.range(..=off).next_back().map(|(_, s)| *s).unwrap_or(RESERVED)
    }

    /// Sets `off..off+len` to `st`, merging equal neighbours.
    pub fn set(&mut self, off: u64, len: u64, st: PageState) {
        if len == 0 {
            return;
        }
        let end = off + len;
        self.split(off);
        self.split(end);
        let inner: Vec<u64> = self.runs.range(off..end).map(|(k, _)| *k).collect();
        for k in inner {
            self.runs.remove(&k);
        }
        self.runs.insert(off, st);
        self.merge_at(end);
        self.merge_at(off);
    }

    fn merge_at(&mut self, off: u64) {
        if off == 0 || off >= self.size {
            return;
        }
        let Some(&st) = self.runs.get(&off) else {
            return;
        };
        if self.runs.range(..off).next_back().map(|(_, s)| *s) == Some(st) {
            self.runs.remove(&off);
        }
    }

    /// The runs overlapping `off..off+len`, clipped to it, as (offset, length, state).
    pub fn runs_in(&self, off: u64, len: u64) -> Vec<(u64, u64, PageState)> {
        let end = off + len;
        let mut out = Vec::new();
        let mut keys: Vec<(u64, PageState)> = Vec::new();
        if let Some((&k, &s)) = self.runs.range(..=off).next_back() {
            keys.push((k, s));
        }
        keys.extend(self.runs.range(off + 1..end).map(|(k, s)| (*k, *s)));
        for (i, &(k, s)) in keys.iter().enumerate() {
            let next = keys
                .get(i + 1)
                .map(|x| x.0)
                .unwrap_or_else(|| self.runs.range(k + 1..).next().map(|(k, _)| *k).unwrap_or(self.size));
            let a = k.max(off);
            let b = next.min(end);
            if a < b {
                out.push((a, b - a, s));
            }
        }
        out
    }

    /// The run containing `off`: (start offset, end offset, state).
    pub fn run_containing(&self, off: u64) -> (u64, u64, PageState) {
        let (&k, &s) = self.runs.range(..=off).next_back().unwrap_or((&0, &RESERVED));
        let end = self.runs.range(k + 1..).next().map(|(k, _)| *k).unwrap_or(self.size);
        (k, end, s)
    }
}

/// The address space's allocations.
#[derive(Debug, Clone, Default)]
pub struct Vm {
    pub allocs: BTreeMap<u64, Allocation>,
}

impl Vm {
    /// The allocation containing `addr`.
    pub fn find(&self, addr: u64) -> Option<&Allocation> {
        self.allocs.range(..=addr).next_back().map(|(_, a)| a).filter(|a| addr < a.end())
    }

    pub fn find_base(&self, addr: u64) -> Option<u64> {
        self.find(addr).map(|a| a.base)
    }

    /// Whether `start..end` overlaps any allocation.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        if let Some((_, a)) = self.allocs.range(..end).next_back() {
            if a.end() > start {
                return true;
            }
        }
        false
    }

    /// Finds a free 64 KiB-aligned range of `len` bytes ending at or below `limit`
    /// (inclusive), lowest first or highest first.
    pub fn find_free(&self, len: u64, limit: u64, top_down: bool) -> Option<u64> {
        let top = limit.checked_add(1)?;
        if len == 0 || len > top {
            return None;
        }
        // Free gaps between allocations, as [start, end).
        let mut gaps = Vec::new();
        let mut cursor = LOWEST_USER_ADDRESS;
        for a in self.allocs.values() {
            if a.base > cursor {
                gaps.push((cursor, a.base.min(top)));
            }
            cursor = cursor.max(a.end());
            if cursor >= top {
                break;
            }
        }
        if cursor < top {
            gaps.push((cursor, top));
        }
        let fits = |(s, e): (u64, u64)| -> Option<u64> {
            if top_down {
                let cand = e.checked_sub(len)? & !(GRANULARITY - 1);
                (cand >= s).then_some(cand)
            } else {
                let cand = s.checked_add(GRANULARITY - 1)? & !(GRANULARITY - 1);
                (cand.checked_add(len)? <= e).then_some(cand)
            }
        };
        if top_down {
            gaps.into_iter().rev().find_map(fits)
        } else {
            gaps.into_iter().find_map(fits)
        }
    }
}

/// What `MEMORY_BASIC_INFORMATION` says about an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryInfo {
    pub base: u64,
    pub allocation_base: u64,
    pub allocation_protect: u32,
    pub region_size: u64,
    pub state: u32,
    pub protect: u32,
    pub ty: u32,
}

impl MemoryInfo {
    /// The 48-byte 64-bit `MEMORY_BASIC_INFORMATION`.
    pub fn to_bytes(&self) -> [u8; 48] {
        let mut b = user::Buf::new(48);
        b.u64(0, self.base)
            .u64(8, self.allocation_base)
            .u32(16, self.allocation_protect)
            .u64(24, self.region_size)
            .u32(32, self.state)
            .u32(36, self.protect)
            .u32(40, self.ty);
        let mut out = [0u8; 48];
        out.copy_from_slice(&b.0);
        out
    }
}

pub(crate) fn page_down(a: u64) -> u64 {
    a & !(PAGE - 1)
}

pub(crate) fn page_up(a: u64) -> Option<u64> {
    a.checked_add(PAGE - 1).map(|x| x & !(PAGE - 1))
}

/// The highest address allowed by a ZeroBits argument (`u64::MAX` for none): a count of
/// 1..=21 means that many zero bits below bit 32 (and bits 63:32 zero), a value of 32 or
/// more is a mask whose leading zero bits count; more than 53 zero bits in all is
/// `STATUS_INVALID_PARAMETER_3` (so a count of 22..=31 is, as Windows documents).
pub fn zero_bits_limit(zero_bits: u64) -> NtResult<u64> {
    if zero_bits == 0 {
        return Ok(u64::MAX);
    }
    let bits = if zero_bits < 32 { 32 + zero_bits as u32 } else { zero_bits.leading_zeros() };
    if bits > 53 {
        return Err(NtStatus::INVALID_PARAMETER_3);
    }
    Ok(u64::MAX >> bits)
}

impl Kernel {
    /// Checks a process handle (the current process only) for `need` access.
    pub(crate) fn check_process(&self, handle: u64, need: u32) -> NtResult<()> {
        self.ref_object(handle, ObjectType::Process, need).map(|_| ())
    }

    /// The highest user address (inclusive).
    pub fn highest_user_address(&self) -> u64 {
        self.cfg.highest_user_address
    }

    /// Brings stored guard flags in line with the mmu, which clears GUARD on first touch.
    pub(crate) fn sync_guard(&mut self, mem: &Memory) {
        for a in self.vm.allocs.values_mut() {
            let guarded: Vec<(u64, u64, PageState)> = a
                .runs_in(0, a.size)
                .into_iter()
                .filter(|r| r.2.committed && r.2.protect & PAGE_GUARD != 0)
                .collect();
            for (off, len, st) in guarded {
                let mut p = off;
                while p < off + len {
                    let armed = mem.prot(a.base + p).is_some_and(|pr| pr.contains(Prot::GUARD));
                    if !armed {
                        a.set(p, PAGE, PageState { committed: true, protect: st.protect & !PAGE_GUARD });
                    }
                    p += PAGE;
                }
            }
        }
    }

    /// Commit charge available.
    fn charge(&mut self, bytes: u64) -> NtResult<()> {
        let new = self.commit_charge.checked_add(bytes).ok_or(NtStatus::COMMITMENT_LIMIT)?;
        if new > self.cfg.commit_limit {
            return Err(NtStatus::COMMITMENT_LIMIT);
        }
        self.commit_charge = new;
        Ok(())
    }

    fn uncharge(&mut self, bytes: u64) {
        self.commit_charge = self.commit_charge.saturating_sub(bytes);
    }

    /// Commit charge in use (bytes).
    pub fn commit_charge(&self) -> u64 {
        self.commit_charge
    }

    /// Commits `start..end` of the allocation at `base` with `protect`, mapping new pages.
    /// Already committed pages keep their contents and take the new protection.
    fn commit_range(
        &mut self,
        mem: &mut Memory,
        base: u64,
        start: u64,
        end: u64,
        protect: u32,
    ) -> NtResult<()> {
        let a = self.vm.allocs.get(&base).ok_or(NtStatus::CONFLICTING_ADDRESSES)?;
        let runs = a.runs_in(start - base, end - start);
        let new_bytes: u64 = runs.iter().filter(|r| !r.2.committed).map(|r| r.1).sum();
        let private = a.ty == MemType::Private;
        if private {
            self.charge(new_bytes)?;
        }
        // Map the new pages first so a conflict with foreign mappings changes nothing.
        let mut mapped = Vec::new();
        for &(off, len, st) in &runs {
            if !st.committed {
                if mem.map(base + off, len, mmu_prot(protect)).is_err() {
                    for (a, l) in mapped {
                        let _ = mem.unmap(a, l);
                    }
                    if private {
                        self.uncharge(new_bytes);
                    }
                    return Err(NtStatus::CONFLICTING_ADDRESSES);
                }
                mapped.push((base + off, len));
            }
        }
        for &(off, len, st) in &runs {
            if st.committed {
                let _ = mem.protect(base + off, len, mmu_prot(protect));
            }
        }
        if let Some(a) = self.vm.allocs.get_mut(&base) {
            a.set(start - base, end - start, PageState { committed: true, protect });
        }
        Ok(())
    }

    /// Decommits `start..end` of the allocation at `base`.
    fn decommit_range(&mut self, mem: &mut Memory, base: u64, start: u64, end: u64) {
        let Some(a) = self.vm.allocs.get_mut(&base) else {
            return;
        };
        let runs = a.runs_in(start - base, end - start);
        let private = a.ty == MemType::Private;
        let mut freed = 0;
        for &(off, len, st) in &runs {
            if st.committed {
                let _ = mem.unmap(base + off, len);
                freed += len;
            }
        }
        a.set(start - base, end - start, RESERVED);
        if private {
            self.uncharge(freed);
        }
    }

    /// Removes an allocation entirely, unmapping its committed pages.
    pub(crate) fn release_allocation(&mut self, mem: &mut Memory, base: u64) -> Option<Allocation> {
        let size = self.vm.allocs.get(&base)?.size;
        self.decommit_range(mem, base, base, base + size);
        self.vm.allocs.remove(&base)
    }

    /// Creates an allocation at exactly `base` (page aligned) for `size` bytes (rounded up
    /// to pages), reserved, or committed with `protect` when `alloc_type` has MEM_COMMIT.
    /// This is the Rust-side entry the wow64 layer uses for the PEB, TEBs, stacks and
    /// other blocks it places itself; it is the same bookkeeping NtAllocateVirtualMemory
    /// uses, so NtQueryVirtualMemory reports these regions with the given type.
    pub fn vm_reserve_at(
        &mut self,
        mem: &mut Memory,
        base: u64,
        size: u64,
        alloc_type: u32,
        protect: u32,
        ty: MemType,
    ) -> NtStatus {
        flat(self.reserve_exact(mem, base, size, alloc_type, protect, ty).map(|_| NtStatus::SUCCESS))
    }

    fn reserve_exact(
        &mut self,
        mem: &mut Memory,
        base: u64,
        size: u64,
        alloc_type: u32,
        protect: u32,
        ty: MemType,
    ) -> NtResult<u64> {
        if base & (PAGE - 1) != 0 || size == 0 || !valid_protection(protect) {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let size = page_up(size).ok_or(NtStatus::INVALID_PARAMETER)?;
        let end = base.checked_add(size).ok_or(NtStatus::INVALID_PARAMETER)?;
        if base < LOWEST_USER_ADDRESS || end - 1 > self.cfg.highest_user_address {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        if self.vm.overlaps(base, end) {
            return Err(NtStatus::CONFLICTING_ADDRESSES);
        }
        self.vm.allocs.insert(base, Allocation::new(base, size, protect, ty));
        if alloc_type & MEM_COMMIT != 0 {
            if let Err(e) = self.commit_range(mem, base, base, end, protect) {
                self.vm.allocs.remove(&base);
                return Err(e);
            }
        }
        Ok(size)
    }

    /// Commits pages inside an existing allocation (Rust-side helper; see
    /// [`Kernel::vm_reserve_at`]).
    pub fn vm_commit(&mut self, mem: &mut Memory, addr: u64, size: u64, protect: u32) -> NtStatus {
        if !valid_protection(protect) || size == 0 {
            return NtStatus::INVALID_PARAMETER;
        }
        let start = page_down(addr);
        let Some(end) = addr.checked_add(size).and_then(page_up) else {
            return NtStatus::INVALID_PARAMETER;
        };
        let Some(a) = self.vm.find(start) else {
            return NtStatus::CONFLICTING_ADDRESSES;
        };
        if end > a.end() {
            return NtStatus::CONFLICTING_ADDRESSES;
        }
        let base = a.base;
        flat(self.commit_range(mem, base, start, end, protect).map(|_| NtStatus::SUCCESS))
    }

    /// Reserves (and optionally commits) `size` bytes anywhere at or below `limit`;
    /// returns the base (Rust-side helper).
    pub fn vm_allocate(
        &mut self,
        mem: &mut Memory,
        size: u64,
        alloc_type: u32,
        protect: u32,
        limit: u64,
        ty: MemType,
    ) -> Result<u64, NtStatus> {
        let len = page_up(size).filter(|&l| l != 0).ok_or(NtStatus::INVALID_PARAMETER)?;
        let limit = limit.min(self.cfg.highest_user_address);
        let base =
            self.vm.find_free(len, limit, alloc_type & MEM_TOP_DOWN != 0).ok_or(NtStatus::NO_MEMORY)?;
        self.reserve_exact(mem, base, len, alloc_type, protect, ty)?;
        Ok(base)
    }

    /// Releases the allocation containing `addr` (Rust-side helper).
    pub fn vm_release(&mut self, mem: &mut Memory, addr: u64) -> NtStatus {
        match self.vm.find_base(addr) {
            Some(b) => {
                self.release_allocation(mem, b);
                NtStatus::SUCCESS
            }
            None => NtStatus::MEMORY_NOT_ALLOCATED,
        }
    }

    /// `MEMORY_BASIC_INFORMATION` for `addr` (Rust-side; no limit check).
    pub fn query_memory(&mut self, mem: &Memory, addr: u64) -> MemoryInfo {
        self.sync_guard(mem);
        let a = page_down(addr);
        if let Some(al) = self.vm.find(a) {
            let (_, end, st) = al.run_containing(a - al.base);
            return MemoryInfo {
                base: a,
                allocation_base: al.base,
                allocation_protect: al.alloc_protect,
                region_size: al.base + end - a,
                state: if st.committed { MEM_COMMIT } else { MEM_RESERVE },
                protect: if st.committed { st.protect } else { 0 },
                ty: al.ty.value(),
            };
        }
        let top = self.cfg.highest_user_address.saturating_add(1);
        let next = self.vm.allocs.range(a..).next().map(|(b, _)| *b).unwrap_or(top).min(top.max(a));
        MemoryInfo {
            base: a,
            allocation_base: 0,
            allocation_protect: 0,
            region_size: next.saturating_sub(a),
            state: MEM_FREE,
            protect: PAGE_NOACCESS,
            ty: 0,
        }
    }

    /// Every allocation, for debuggers and tests: (base, size, type).
    pub fn allocations(&self) -> Vec<(u64, u64, MemType)> {
        self.vm.allocs.values().map(|a| (a.base, a.size, a.ty)).collect()
    }

    /// NtAllocateVirtualMemory(ProcessHandle, PVOID *BaseAddress, ULONG_PTR ZeroBits,
    /// PSIZE_T RegionSize, ULONG AllocationType, ULONG Protect).
    #[allow(clippy::too_many_arguments)]
    pub fn nt_allocate_virtual_memory(
        &mut self,
        mem: &mut Memory,
        process: u64,
        base_ptr: u64,
        zero_bits: u64,
        size_ptr: u64,
        alloc_type: u64,
        protect: u64,
    ) -> NtStatus {
        flat(self.allocate_vm(mem, process, base_ptr, zero_bits, size_ptr, alloc_type as u32, protect as u32))
    }

    #[allow(clippy::too_many_arguments)]
    fn allocate_vm(
        &mut self,
        mem: &mut Memory,
        process: u64,
        base_ptr: u64,
        zero_bits: u64,
        size_ptr: u64,
        alloc_type: u32,
        protect: u32,
    ) -> NtResult<NtStatus> {
        let limit = zero_bits_limit(zero_bits)?;
        let valid = MEM_COMMIT
            | MEM_RESERVE
            | MEM_RESET
            | MEM_RESET_UNDO
            | MEM_TOP_DOWN
            | MEM_WRITE_WATCH
            | MEM_PHYSICAL
            | MEM_LARGE_PAGES;
        if alloc_type & !valid != 0
            || alloc_type & (MEM_COMMIT | MEM_RESERVE | MEM_RESET | MEM_RESET_UNDO) == 0
        {
            return Err(NtStatus::INVALID_PARAMETER_5);
        }
        let reset = alloc_type & (MEM_RESET | MEM_RESET_UNDO);
        if reset != 0 && (alloc_type & (MEM_COMMIT | MEM_RESERVE) != 0 || reset == MEM_RESET | MEM_RESET_UNDO)
        {
            return Err(NtStatus::INVALID_PARAMETER_5);
        }
        if alloc_type & MEM_WRITE_WATCH != 0 && alloc_type & MEM_RESERVE == 0 {
            return Err(NtStatus::INVALID_PARAMETER_5);
        }
        if alloc_type & MEM_PHYSICAL != 0 {
            return Err(NtStatus::INVALID_PARAMETER_5);
        }
        if reset == 0 && (!valid_protection(protect) || prot_writecopy(protect)) {
            return Err(NtStatus::INVALID_PAGE_PROTECTION);
        }
        user::probe_write(mem, base_ptr, 8)?;
        user::probe_write(mem, size_ptr, 8)?;
        let base = user::read_u64(mem, base_ptr)?;
        let size = user::read_u64(mem, size_ptr)?;
        let highest = self.cfg.highest_user_address;
        if base > highest {
            return Err(NtStatus::INVALID_PARAMETER_2);
        }
        if highest.saturating_add(1) - base < size {
            return Err(NtStatus::INVALID_PARAMETER_4);
        }
        if size == 0 {
            return Err(NtStatus::INVALID_PARAMETER_4);
        }
        self.check_process(process, PROCESS_VM_OPERATION)?;
        if alloc_type & MEM_LARGE_PAGES != 0 {
            return Err(NtStatus::PRIVILEGE_NOT_HELD);
        }
        let end = page_up(base + size).ok_or(NtStatus::INVALID_PARAMETER_4)?;
        let (start, len) = if reset != 0 {
            let start = page_down(base);
            let a = self.vm.find(start).ok_or(NtStatus::MEMORY_NOT_ALLOCATED)?;
            if end > a.end() || a.runs_in(start - a.base, end - start).iter().any(|r| !r.2.committed) {
                return Err(NtStatus::CONFLICTING_ADDRESSES);
            }
            (start, end - start)
        } else if alloc_type & MEM_RESERVE != 0 || base == 0 {
            if base == 0 {
                let len = page_up(size).ok_or(NtStatus::INVALID_PARAMETER_4)?;
                let start = self.vm_allocate(mem, len, alloc_type, protect, limit, MemType::Private)?;
                (start, len)
            } else {
                let start = base & !(GRANULARITY - 1);
                if start < LOWEST_USER_ADDRESS {
                    return Err(NtStatus::INVALID_PARAMETER_2);
                }
                let len =
                    self.reserve_exact(mem, start, end - start, alloc_type, protect, MemType::Private)?;
                (start, len)
            }
        } else {
            let start = page_down(base);
            let a = self.vm.find(start).ok_or(NtStatus::CONFLICTING_ADDRESSES)?;
            if end > a.end() || a.ty == MemType::Image {
                return Err(NtStatus::CONFLICTING_ADDRESSES);
            }
            if let Some(v) = &a.view {
                if prot_shared_write(protect) && !prot_writable(v.protect) {
                    return Err(NtStatus::SECTION_PROTECTION);
                }
            }
            let (ab, mapped) = (a.base, a.view.is_some());
            self.commit_range(mem, ab, start, end, protect)?;
            if mapped {
                self.note_view_commit(ab, start, end);
            }
            (start, end - start)
        };
        user::write_u64(mem, base_ptr, start)?;
        user::write_u64(mem, size_ptr, len)?;
        Ok(NtStatus::SUCCESS)
    }

    /// NtFreeVirtualMemory(ProcessHandle, PVOID *BaseAddress, PSIZE_T RegionSize, ULONG FreeType).
    pub fn nt_free_virtual_memory(
        &mut self,
        mem: &mut Memory,
        process: u64,
        base_ptr: u64,
        size_ptr: u64,
        free_type: u64,
    ) -> NtStatus {
        flat(self.free_vm(mem, process, base_ptr, size_ptr, free_type as u32))
    }

    fn free_vm(
        &mut self,
        mem: &mut Memory,
        process: u64,
        base_ptr: u64,
        size_ptr: u64,
        free_type: u32,
    ) -> NtResult<NtStatus> {
        if free_type != MEM_DECOMMIT && free_type != MEM_RELEASE {
            return Err(NtStatus::INVALID_PARAMETER_4);
        }
        user::probe_write(mem, base_ptr, 8)?;
        user::probe_write(mem, size_ptr, 8)?;
        let base = user::read_u64(mem, base_ptr)?;
        let size = user::read_u64(mem, size_ptr)?;
        let highest = self.cfg.highest_user_address;
        if base > highest {
            return Err(NtStatus::INVALID_PARAMETER_2);
        }
        if highest.saturating_add(1) - base < size {
            return Err(NtStatus::INVALID_PARAMETER_3);
        }
        self.check_process(process, PROCESS_VM_OPERATION)?;
        let start = page_down(base);
        let a = self.vm.find(start).ok_or(NtStatus::MEMORY_NOT_ALLOCATED)?;
        if a.system {
            return Err(NtStatus::INVALID_PARAMETER_2);
        }
        let (ab, aend, ty) = (a.base, a.end(), a.ty);
        let end = if size == 0 {
            if start != ab {
                return Err(NtStatus::FREE_VM_NOT_AT_BASE);
            }
            aend
        } else {
            let e = page_up(base + size).ok_or(NtStatus::INVALID_PARAMETER_3)?;
            if e > aend {
                return Err(NtStatus::UNABLE_TO_FREE_VM);
            }
            e
        };
        if ty != MemType::Private {
            return Err(if free_type == MEM_RELEASE {
                NtStatus::UNABLE_TO_DELETE_SECTION
            } else {
                NtStatus::UNABLE_TO_FREE_VM
            });
        }
        if free_type == MEM_RELEASE {
            if start != ab || end != aend {
                return Err(NtStatus::FREE_VM_NOT_AT_BASE);
            }
            self.release_allocation(mem, ab);
        } else {
            self.decommit_range(mem, ab, start, end);
        }
        user::write_u64(mem, base_ptr, start)?;
        user::write_u64(mem, size_ptr, end - start)?;
        Ok(NtStatus::SUCCESS)
    }

    /// NtProtectVirtualMemory(ProcessHandle, PVOID *BaseAddress, PSIZE_T RegionSize,
    /// ULONG NewProtect, PULONG OldProtect).
    pub fn nt_protect_virtual_memory(
        &mut self,
        mem: &mut Memory,
        process: u64,
        base_ptr: u64,
        size_ptr: u64,
        new_protect: u64,
        old_ptr: u64,
    ) -> NtStatus {
        flat(self.protect_vm(mem, process, base_ptr, size_ptr, new_protect as u32, old_ptr))
    }

    fn protect_vm(
        &mut self,
        mem: &mut Memory,
        process: u64,
        base_ptr: u64,
        size_ptr: u64,
        protect: u32,
        old_ptr: u64,
    ) -> NtResult<NtStatus> {
        if !valid_protection(protect) {
            return Err(NtStatus::INVALID_PAGE_PROTECTION);
        }
        user::probe_write(mem, base_ptr, 8)?;
        user::probe_write(mem, size_ptr, 8)?;
        user::probe_write(mem, old_ptr, 4)?;
        let base = user::read_u64(mem, base_ptr)?;
        let size = user::read_u64(mem, size_ptr)?;
        let highest = self.cfg.highest_user_address;
        if base > highest {
            return Err(NtStatus::INVALID_PARAMETER_2);
        }
        if highest.saturating_add(1) - base < size || size == 0 {
            return Err(NtStatus::INVALID_PARAMETER_3);
        }
        self.check_process(process, PROCESS_VM_OPERATION)?;
        self.sync_guard(mem);
        let start = page_down(base);
        let end = page_up(base + size).ok_or(NtStatus::INVALID_PARAMETER_3)?;
        let a = self.vm.find(start).ok_or(NtStatus::CONFLICTING_ADDRESSES)?;
        if end > a.end() {
            return Err(NtStatus::CONFLICTING_ADDRESSES);
        }
        let runs = a.runs_in(start - a.base, end - start);
        if runs.iter().any(|r| !r.2.committed) {
            return Err(NtStatus::NOT_COMMITTED);
        }
        match (&a.view, a.ty) {
            (_, MemType::Private) if prot_writecopy(protect) => {
                return Err(NtStatus::INVALID_PAGE_PROTECTION)
            }
            (Some(v), MemType::Mapped) if prot_shared_write(protect) && !prot_writable(v.protect) => {
                return Err(NtStatus::SECTION_PROTECTION)
            }
            _ => {}
        }
        if a.system {
            return Err(NtStatus::INVALID_PARAMETER_2);
        }
        let old = runs[0].2.protect;
        let ab = a.base;
        let _ = mem.protect(start, end - start, mmu_prot(protect));
        if let Some(a) = self.vm.allocs.get_mut(&ab) {
            a.set(start - ab, end - start, PageState { committed: true, protect });
        }
        user::write_u64(mem, base_ptr, start)?;
        user::write_u64(mem, size_ptr, end - start)?;
        user::write_u32(mem, old_ptr, old)?;
        Ok(NtStatus::SUCCESS)
    }

    /// NtQueryVirtualMemory(ProcessHandle, PVOID BaseAddress, MEMORY_INFORMATION_CLASS,
    /// PVOID Buffer, SIZE_T Length, PSIZE_T ReturnLength). Implements
    /// MemoryBasicInformation (0) and MemoryMappedFilenameInformation (2).
    #[allow(clippy::too_many_arguments)]
    pub fn nt_query_virtual_memory(
        &mut self,
        mem: &mut Memory,
        process: u64,
        base: u64,
        class: u64,
        buf: u64,
        len: u64,
        ret_len: u64,
    ) -> NtStatus {
        flat(self.query_vm(mem, process, base, class, buf, len, ret_len))
    }

    #[allow(clippy::too_many_arguments)]
    fn query_vm(
        &mut self,
        mem: &mut Memory,
        process: u64,
        base: u64,
        class: u64,
        buf: u64,
        len: u64,
        ret_len: u64,
    ) -> NtResult<NtStatus> {
        match class {
            0 => {
                if base > self.cfg.highest_user_address {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                if len < 48 {
                    return Err(NtStatus::INFO_LENGTH_MISMATCH);
                }
                user::probe_write(mem, buf, 48)?;
                if ret_len != 0 {
                    user::probe_write(mem, ret_len, 8)?;
                }
                self.check_process(process, PROCESS_QUERY_INFORMATION)?;
                let info = self.query_memory(mem, base);
                user::write_bytes(mem, buf, &info.to_bytes())?;
                if ret_len != 0 {
                    user::write_u64(mem, ret_len, 48)?;
                }
                Ok(NtStatus::SUCCESS)
            }
            2 => {
                if base > self.cfg.highest_user_address {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                self.check_process(process, PROCESS_QUERY_INFORMATION)?;
                let name = self.mapped_file_name(base).ok_or(NtStatus::INVALID_ADDRESS)?;
                let name16 = user::str_to_utf16(&name);
                let bytes = name16.len() as u64 * 2;
                let need = 16 + bytes + 2;
                if ret_len != 0 {
                    user::write_u64(mem, ret_len, need)?;
                }
                if len < need {
                    return Err(NtStatus::BUFFER_OVERFLOW);
                }
                let mut b = user::Buf::new(need as usize);
                b.u16(0, user::us_len(name16.len()))
                    .u16(2, user::us_max(name16.len()))
                    .u64(8, buf + 16)
                    .utf16(16, &name16);
                user::write_bytes(mem, buf, &b.0)?;
                Ok(NtStatus::SUCCESS)
            }
            _ => Err(NtStatus::INVALID_INFO_CLASS),
        }
    }

    /// NtFlushInstructionCache(ProcessHandle, PVOID Base, SIZE_T Length): nothing to do
    /// (the CPU's decoded-instruction cache follows page writes on its own).
    pub fn nt_flush_instruction_cache(
        &mut self,
        _mem: &mut Memory,
        process: u64,
        _base: u64,
        _len: u64,
    ) -> NtStatus {
        flat(self.check_process(process, 0).map(|_| NtStatus::SUCCESS))
    }
}
