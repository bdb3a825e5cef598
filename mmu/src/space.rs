use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{Access, Fault, FaultKind, MemError};
use crate::page::{Page, PageData, Prot, PAGE_MASK, PAGE_SHIFT, PAGE_SIZE};

/// Pages below 4 GiB live in a two-level table (1024 x 1024 pages) because the 32-bit
/// CPU hits them on every access; pages above 4 GiB (WOW64's 64-bit structures) are rare
/// and live in an ordered map.
const L2_BITS: u32 = 10;
const L2_LEN: usize = 1 << L2_BITS;
const L1_LEN: usize = 1 << (32 - PAGE_SHIFT - L2_BITS);
const LOW_PAGES: u64 = 1 << (32 - PAGE_SHIFT);

type L2 = [Option<Page>; L2_LEN];

#[derive(Clone)]
struct Tables {
    low: Vec<Option<Box<L2>>>,
    high: BTreeMap<u64, Page>,
}

impl Tables {
    fn new() -> Self {
        Tables { low: vec![None; L1_LEN], high: BTreeMap::new() }
    }

    #[inline]
    fn get(&self, pn: u64) -> Option<&Page> {
        if pn < LOW_PAGES {
            self.low[(pn >> L2_BITS) as usize].as_ref()?[(pn as usize) & (L2_LEN - 1)].as_ref()
        } else {
            self.high.get(&pn)
        }
    }

    #[inline]
    fn get_mut(&mut self, pn: u64) -> Option<&mut Page> {
        if pn < LOW_PAGES {
            self.low[(pn >> L2_BITS) as usize].as_mut()?[(pn as usize) & (L2_LEN - 1)].as_mut()
        } else {
            self.high.get_mut(&pn)
        }
    }

    fn insert(&mut self, pn: u64, page: Page) {
        if pn < LOW_PAGES {
            let l2 = self.low[(pn >> L2_BITS) as usize]
                .get_or_insert_with(|| Box::new(std::array::from_fn(|_| None)));
            l2[(pn as usize) & (L2_LEN - 1)] = Some(page);
        } else {
            self.high.insert(pn, page);
        }
    }

    fn remove(&mut self, pn: u64) {
        if pn < LOW_PAGES {
            let slot = &mut self.low[(pn >> L2_BITS) as usize];
            if let Some(l2) = slot {
                l2[(pn as usize) & (L2_LEN - 1)] = None;
                if l2.iter().all(Option::is_none) {
                    *slot = None;
                }
            }
        } else {
            self.high.remove(&pn);
        }
    }

    /// Every mapped page, in address order.
    fn iter(&self) -> impl Iterator<Item = (u64, &Page)> + '_ {
        let low = self.low.iter().enumerate().flat_map(|(i, l2)| {
            l2.iter().flat_map(move |l2| {
                l2.iter()
                    .enumerate()
                    .filter_map(move |(j, p)| p.as_ref().map(|p| (((i << L2_BITS) | j) as u64, p)))
            })
        });
        low.chain(self.high.iter().map(|(&pn, p)| (pn, p)))
    }
}

/// A contiguous run of pages with the same protection, as reported by [`Memory::query`]
/// and [`Memory::regions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub base: u64,
    pub size: u64,
    pub prot: Prot,
}

/// A frozen copy of an address space; see [`Memory::snapshot`].
#[derive(Clone)]
pub struct Snapshot {
    tables: Tables,
}

/// One entry of the translation cache: the page number it maps and raw pointers to the
/// page's bytes for reading and (when the page may be written directly) writing.
#[derive(Clone, Copy)]
struct TlbEntry {
    page: u64,
    read: *const u8,
    write: *mut u8,
}

const TLB_SIZE: usize = 512;

/// The slot of page `pn`. The high bits are folded in because programs place their
/// regions at round addresses (an image at 0x400000, a heap at 0x500000, a stack at
/// 0x600000): indexed by the low bits alone, the first pages of every 1 MiB or 2 MiB
/// region would share a slot and evict each other on every alternate access.
#[inline(always)]
fn tlb_slot(pn: u64) -> usize {
    ((pn ^ (pn >> 9)) as usize) & (TLB_SIZE - 1)
}

const TLB_EMPTY: TlbEntry = TlbEntry { page: u64::MAX, read: std::ptr::null(), write: std::ptr::null_mut() };

/// A sparse guest address space. See the crate documentation for an example.
///
/// Not `Clone`: use [`Memory::snapshot`] and [`Memory::restore`], which keep the
/// translation cache coherent.
pub struct Memory {
    tables: Tables,
    zero: Arc<PageData>,
    /// Source of page generations; never goes backwards, not even across `restore`, so a
    /// generation value identifies one content of one page for the life of the space.
    next_gen: u64,
    /// Bumped whenever a cached translation of a page could go stale: mapping changes,
    /// protection changes, copy-on-write copies and snapshot restores.
    epoch: u64,
    /// Bumped on mapping and protection changes and restores only (not on copies):
    /// what cached instruction decodes depend on besides page contents.
    layout_epoch: u64,
    /// Number of writes that hit a page holding cached code.
    code_writes: u64,
    /// Translation cache for the typed accessors (see `tlb_*`). Entries point into page
    /// buffers owned by `tables`; every operation that could free, replace, share or
    /// re-protect a page's buffer invalidates the entries that could see it.
    tlb: Box<[TlbEntry; TLB_SIZE]>,
}

// SAFETY: the raw pointers in `tlb` point into page buffers owned (through `Arc`) by this
// same `Memory`'s tables, so they travel with it when it moves to another thread. They
// are only dereferenced by methods taking `&mut self`, so sharing `&Memory` between
// threads cannot race with a write through them.
unsafe impl Send for Memory {}
// SAFETY: see above; no `&self` method reads or writes through the cached pointers.
unsafe impl Sync for Memory {}

impl Default for Memory {
    fn default() -> Self {
        Self::new()
    }
}

fn check_range(addr: u64, size: u64) -> Result<(), MemError> {
    if size == 0 {
        return Err(MemError::ZeroSize { addr });
    }
    if addr & PAGE_MASK != 0 || size & PAGE_MASK != 0 {
        return Err(MemError::Unaligned { addr, size });
    }
    if addr.checked_add(size - 1).is_none() {
        return Err(MemError::OutOfRange { addr, size });
    }
    Ok(())
}

fn pages(addr: u64, size: u64) -> impl Iterator<Item = u64> {
    let first = addr >> PAGE_SHIFT;
    first..first + (size >> PAGE_SHIFT)
}

impl Memory {
    /// An empty address space.
    pub fn new() -> Self {
        Memory {
            tables: Tables::new(),
            zero: Arc::new([0; PAGE_SIZE as usize]),
            next_gen: 1,
            epoch: 0,
            layout_epoch: 0,
            code_writes: 0,
            tlb: Box::new([TLB_EMPTY; TLB_SIZE]),
        }
    }

    /// Forgets the cached translation of page `pn`.
    #[inline]
    fn tlb_forget(&mut self, pn: u64) {
        let e = &mut self.tlb[tlb_slot(pn)];
        if e.page == pn {
            *e = TLB_EMPTY;
        }
    }

    /// Forgets every cached translation.
    fn tlb_flush(&mut self) {
        self.tlb.fill(TLB_EMPTY);
    }

    /// Caches the translation of a mapped, readable, non-guard page; the write pointer
    /// only when writes may bypass the slow path (writable, no cached code, buffer not
    /// shared with a snapshot or the zero page).
    fn tlb_fill(&mut self, pn: u64) {
        let Some(page) = self.tables.get_mut(pn) else { return };
        if !page.prot.contains(Prot::READ) || page.prot.contains(Prot::GUARD) {
            return;
        }
        let direct_write = page.prot.contains(Prot::WRITE) && !page.code;
        let write = if direct_write {
            Arc::get_mut(&mut page.data).map_or(std::ptr::null_mut(), |d| d.as_mut_ptr())
        } else {
            std::ptr::null_mut()
        };
        let read = page.data.as_ptr();
        self.tlb[tlb_slot(pn)] = TlbEntry { page: pn, read, write };
    }

    fn bump_gen(&mut self) -> u64 {
        self.next_gen += 1;
        self.next_gen
    }

    /// Maps zero-filled pages. `addr` and `size` must be page aligned, `size` non-zero, and
    /// no page of the range may already be mapped (nothing changes on error). Zero pages
    /// share one buffer until first written, so committing memory costs little.
    pub fn map(&mut self, addr: u64, size: u64, prot: Prot) -> Result<(), MemError> {
        check_range(addr, size)?;
        if let Some(pn) = pages(addr, size).find(|&pn| self.tables.get(pn).is_some()) {
            return Err(MemError::Overlap { addr: pn << PAGE_SHIFT });
        }
        let prot = prot.normalized();
        for pn in pages(addr, size) {
            let gen = self.bump_gen();
            let page = Page { data: self.zero.clone(), prot, code: false, gen };
            self.tables.insert(pn, page);
            self.tlb_forget(pn);
        }
        self.epoch += 1;
        self.layout_epoch += 1;
        Ok(())
    }

    fn require_mapped(&self, addr: u64, size: u64) -> Result<(), MemError> {
        check_range(addr, size)?;
        match pages(addr, size).find(|&pn| self.tables.get(pn).is_none()) {
            Some(pn) => Err(MemError::NotMapped { addr: pn << PAGE_SHIFT }),
            None => Ok(()),
        }
    }

    /// Unmaps pages. Every page of the range must be mapped (nothing changes on error).
    pub fn unmap(&mut self, addr: u64, size: u64) -> Result<(), MemError> {
        self.require_mapped(addr, size)?;
        for pn in pages(addr, size) {
            self.tables.remove(pn);
            self.tlb_forget(pn);
        }
        self.epoch += 1;
        self.layout_epoch += 1;
        Ok(())
    }

    /// Changes the protection of mapped pages. Every page of the range must be mapped.
    pub fn protect(&mut self, addr: u64, size: u64, prot: Prot) -> Result<(), MemError> {
        self.require_mapped(addr, size)?;
        let prot = prot.normalized();
        for pn in pages(addr, size) {
            if let Some(p) = self.tables.get_mut(pn) {
                p.prot = prot;
            }
            self.tlb_forget(pn);
        }
        self.epoch += 1;
        self.layout_epoch += 1;
        Ok(())
    }

    /// Whether the page holding `addr` is mapped.
    pub fn is_mapped(&self, addr: u64) -> bool {
        self.tables.get(addr >> PAGE_SHIFT).is_some()
    }

    /// The protection of the page holding `addr`.
    pub fn prot(&self, addr: u64) -> Option<Prot> {
        self.tables.get(addr >> PAGE_SHIFT).map(|p| p.prot)
    }

    /// The largest run of mapped pages with the same protection that contains `addr`.
    pub fn query(&self, addr: u64) -> Option<Region> {
        let pn = addr >> PAGE_SHIFT;
        let prot = self.tables.get(pn)?.prot;
        let same = |pn: u64| self.tables.get(pn).is_some_and(|p| p.prot == prot);
        let mut first = pn;
        while first > 0 && same(first - 1) {
            first -= 1;
        }
        let mut last = pn;
        while last < u64::MAX >> PAGE_SHIFT && same(last + 1) {
            last += 1;
        }
        Some(Region { base: first << PAGE_SHIFT, size: (last - first + 1) << PAGE_SHIFT, prot })
    }

    /// All mapped memory as maximal runs of equal protection, in address order.
    pub fn regions(&self) -> Vec<Region> {
        let mut out: Vec<Region> = Vec::new();
        for (pn, page) in self.tables.iter() {
            let base = pn << PAGE_SHIFT;
            match out.last_mut() {
                Some(r) if r.base + r.size == base && r.prot == page.prot => r.size += PAGE_SIZE,
                _ => out.push(Region { base, size: PAGE_SIZE, prot: page.prot }),
            }
        }
        out
    }

    /// Number of mapped pages.
    pub fn mapped_pages(&self) -> usize {
        self.tables.iter().count()
    }

    /// Number of pages that own a private copy of their data (written at least once and not
    /// shared with a snapshot): the host memory actually used by guest data.
    pub fn private_pages(&self) -> usize {
        self.tables
            .iter()
            .filter(|(_, p)| !Arc::ptr_eq(&p.data, &self.zero) && Arc::strong_count(&p.data) == 1)
            .count()
    }

    /// Checks one page for `access`, with the guard side effect. `addr` is the address to
    /// report (the access start on its first page, the page base on later pages).
    fn check_page(&mut self, addr: u64, access: Access) -> Result<(), Fault> {
        let Some(page) = self.tables.get_mut(addr >> PAGE_SHIFT) else {
            return Err(Fault { addr, access, kind: FaultKind::Unmapped });
        };
        if page.prot.contains(Prot::GUARD) {
            page.prot.remove(Prot::GUARD);
            self.tlb[tlb_slot(addr >> PAGE_SHIFT)] = TLB_EMPTY;
            self.epoch += 1;
            self.layout_epoch += 1;
            return Err(Fault { addr, access, kind: FaultKind::Guard });
        }
        let need = match access {
            Access::Read => Prot::READ,
            Access::Write => Prot::WRITE,
            Access::Execute => Prot::EXEC,
        };
        if !page.prot.contains(need) {
            return Err(Fault { addr, access, kind: FaultKind::Protection });
        }
        Ok(())
    }

    /// Checks that `len` bytes at `addr` allow `access`, page by page in address order, as
    /// the hardware does before it commits a multi-page access. On failure the first bad
    /// page's guard flag (if any) is consumed and the fault reports its first byte.
    pub fn check(&mut self, addr: u64, len: usize, access: Access) -> Result<(), Fault> {
        if len == 0 {
            return Ok(());
        }
        let Some(end) = addr.checked_add(len as u64 - 1) else {
            return Err(Fault { addr: 0, access, kind: FaultKind::Unmapped });
        };
        self.check_page(addr, access)?;
        let mut pn = (addr >> PAGE_SHIFT) + 1;
        while pn <= end >> PAGE_SHIFT {
            self.check_page(pn << PAGE_SHIFT, access)?;
            pn += 1;
        }
        Ok(())
    }

    /// Copies out bytes after a successful check (the range is known to be mapped).
    fn copy_out(&self, addr: u64, buf: &mut [u8]) {
        let mut done = 0;
        while done < buf.len() {
            let a = addr + done as u64;
            let off = (a & PAGE_MASK) as usize;
            let n = (PAGE_SIZE as usize - off).min(buf.len() - done);
            let page = self.tables.get(a >> PAGE_SHIFT).expect("range checked before copy");
            buf[done..done + n].copy_from_slice(&page.data[off..off + n]);
            done += n;
        }
    }

    /// Copies in bytes after a successful check; copies shared pages first and bumps the
    /// write generation of pages that hold cached code.
    fn copy_in(&mut self, addr: u64, data: &[u8]) {
        let mut done = 0;
        while done < data.len() {
            let a = addr + done as u64;
            let off = (a & PAGE_MASK) as usize;
            let n = (PAGE_SIZE as usize - off).min(data.len() - done);
            let gen = self.next_gen + 1;
            let page = self.tables.get_mut(a >> PAGE_SHIFT).expect("range checked before copy");
            let copies = Arc::strong_count(&page.data) != 1;
            if copies {
                self.epoch += 1;
            }
            let bytes = Arc::make_mut(&mut page.data);
            bytes[off..off + n].copy_from_slice(&data[done..done + n]);
            if page.code {
                page.gen = gen;
                page.code = false;
                self.next_gen = gen;
                self.code_writes += 1;
            }
            if copies {
                // The page has a new buffer: the cached pointers name the old one.
                self.tlb_forget(a >> PAGE_SHIFT);
            }
            done += n;
        }
    }

    /// Reads bytes with read permission checked on every page touched.
    pub fn read_bytes(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), Fault> {
        self.check(addr, buf.len(), Access::Read)?;
        self.copy_out(addr, buf);
        Ok(())
    }

    /// Writes bytes with write permission checked on every page touched *before* any byte
    /// is written: a write that faults on its second page leaves the first untouched.
    pub fn write_bytes(&mut self, addr: u64, data: &[u8]) -> Result<(), Fault> {
        self.check(addr, data.len(), Access::Write)?;
        self.copy_in(addr, data);
        Ok(())
    }

    /// Reads `N` bytes (the typed accessors are built on this).
    #[inline]
    pub fn read_array<const N: usize>(&mut self, addr: u64) -> Result<[u8; N], Fault> {
        match self.read_array_cached(addr) {
            Some(v) => Ok(v),
            None => self.read_array_slow(addr),
        }
    }

    /// Reads `N` bytes if they lie in one page whose translation is cached (a page
    /// recently read or written); `None` otherwise, when [`Memory::read_array`] must do
    /// the full walk. Never faults and changes nothing, so a caller can try it and fall
    /// back to its full path having committed nothing.
    ///
    /// ```
    /// use x86wow_mmu::{Memory, Prot};
    /// let mut m = Memory::new();
    /// m.map(0x10000, 0x1000, Prot::RW).unwrap();
    /// assert_eq!(m.read_array_cached::<4>(0x10000), None, "no access yet: nothing cached");
    /// m.write_u32(0x10000, 7).unwrap();
    /// assert_eq!(m.read_array_cached::<4>(0x10000), Some(7u32.to_le_bytes()));
    /// assert!(m.write_array_cached(0x10004, [1, 2]));
    /// assert_eq!(m.read_u16(0x10004).unwrap(), 0x0201);
    /// ```
    #[inline(always)]
    pub fn read_array_cached<const N: usize>(&self, addr: u64) -> Option<[u8; N]> {
        let pn = addr >> PAGE_SHIFT;
        let off = (addr & PAGE_MASK) as usize;
        if off + N > PAGE_SIZE as usize {
            return None;
        }
        let e = self.tlb[tlb_slot(pn)];
        if e.page != pn {
            return None;
        }
        let mut out = [0u8; N];
        // SAFETY: an entry for `pn` exists only while page `pn` is mapped readable
        // with the buffer `e.read` points to (every unmap, protect, copy-on-write
        // and restore forgets it), the buffer is PAGE_SIZE bytes, and
        // `off + N <= PAGE_SIZE`.
        unsafe { std::ptr::copy_nonoverlapping(e.read.add(off), out.as_mut_ptr(), N) };
        Some(out)
    }

    // Out of line, so that the TLB-hit path above needs no saved registers in its
    // (inlined) callers: it costs about a dozen host instructions less per access.
    #[cold]
    #[inline(never)]
    fn read_array_slow<const N: usize>(&mut self, addr: u64) -> Result<[u8; N], Fault> {
        let mut out = [0; N];
        self.read_bytes(addr, &mut out)?;
        if (addr & PAGE_MASK) as usize + N <= PAGE_SIZE as usize {
            self.tlb_fill(addr >> PAGE_SHIFT);
        }
        Ok(out)
    }

    /// Writes `N` bytes (the typed accessors are built on this).
    #[inline]
    pub fn write_array<const N: usize>(&mut self, addr: u64, data: [u8; N]) -> Result<(), Fault> {
        if self.write_array_cached(addr, data) {
            return Ok(());
        }
        self.write_array_slow(addr, data)
    }

    /// Writes `N` bytes if they lie in one writable page without cached code whose
    /// translation is cached, and returns whether it did; otherwise writes nothing
    /// (then [`Memory::write_array`] does the full walk).
    #[inline(always)]
    pub fn write_array_cached<const N: usize>(&mut self, addr: u64, data: [u8; N]) -> bool {
        let pn = addr >> PAGE_SHIFT;
        let off = (addr & PAGE_MASK) as usize;
        if off + N > PAGE_SIZE as usize {
            return false;
        }
        let e = self.tlb[tlb_slot(pn)];
        if e.page != pn || e.write.is_null() {
            return false;
        }
        // SAFETY: a write pointer is cached only for a writable page without cached
        // code whose buffer this `Memory` owns alone; marking code, snapshots,
        // protection changes, unmapping and restores forget it. The buffer is
        // PAGE_SIZE bytes and `off + N <= PAGE_SIZE`.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), e.write.add(off), N) };
        true
    }

    #[cold]
    #[inline(never)]
    fn write_array_slow<const N: usize>(&mut self, addr: u64, data: [u8; N]) -> Result<(), Fault> {
        self.write_bytes(addr, &data)?;
        if (addr & PAGE_MASK) as usize + N <= PAGE_SIZE as usize {
            self.tlb_fill(addr >> PAGE_SHIFT);
        }
        Ok(())
    }

    /// Copies up to `buf.len()` bytes of executable memory starting at `addr` without side
    /// effects, stopping at the first byte that cannot be fetched; returns how many were
    /// copied. A decoder that needs more bytes calls [`Memory::check`] on the first missing
    /// byte to obtain the fault.
    pub fn fetch(&self, addr: u64, buf: &mut [u8]) -> usize {
        let mut done = 0;
        while done < buf.len() {
            let Some(a) = addr.checked_add(done as u64) else {
                break;
            };
            let Some(page) = self.tables.get(a >> PAGE_SHIFT) else {
                break;
            };
            if !page.prot.contains(Prot::EXEC) || page.prot.contains(Prot::GUARD) {
                break;
            }
            let off = (a & PAGE_MASK) as usize;
            let n = (PAGE_SIZE as usize - off).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&page.data[off..off + n]);
            done += n;
        }
        done
    }

    /// Reads bytes ignoring protection (for loaders and debuggers). Fails only on unmapped pages.
    pub fn peek(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        self.require_span(addr, buf.len())?;
        self.copy_out(addr, buf);
        Ok(())
    }

    /// Writes bytes ignoring protection (for loaders and debuggers). Fails only on unmapped
    /// pages, and then writes nothing. Cached code on the pages is invalidated as for a
    /// guest write.
    pub fn poke(&mut self, addr: u64, data: &[u8]) -> Result<(), MemError> {
        self.require_span(addr, data.len())?;
        self.copy_in(addr, data);
        Ok(())
    }

    fn require_span(&self, addr: u64, len: usize) -> Result<(), MemError> {
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len as u64 - 1).ok_or(MemError::OutOfRange { addr, size: len as u64 })?;
        match (addr >> PAGE_SHIFT..=end >> PAGE_SHIFT).find(|&pn| self.tables.get(pn).is_none()) {
            Some(pn) => Err(MemError::NotMapped { addr: (pn << PAGE_SHIFT).max(addr) }),
            None => Ok(()),
        }
    }

    /// The write generation of the page holding `addr`: it changes whenever the page's
    /// content may have changed since [`Memory::mark_code`] was last called for it.
    pub fn generation(&self, addr: u64) -> Option<u64> {
        self.tables.get(addr >> PAGE_SHIFT).map(|p| p.gen)
    }

    /// Declares that decoded instructions from the page holding `addr` are being cached,
    /// and returns the generation to key the cache with. The next write to the page gives
    /// it a new generation. Snapshots keep the flag with the page, so a restored page
    /// never carries a generation that a cache saw with different content.
    pub fn mark_code(&mut self, addr: u64) -> Option<u64> {
        let pn = addr >> PAGE_SHIFT;
        let page = self.tables.get(pn)?;
        if page.code {
            return Some(page.gen);
        }
        let gen = self.bump_gen();
        let page = self.tables.get_mut(pn)?;
        page.code = true;
        page.gen = gen;
        // Writes to the page must now go through the slow path, which bumps its generation.
        self.tlb_forget(pn);
        Some(gen)
    }

    /// A counter that changes whenever a cached page translation could go stale.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A counter that changes whenever a mapping or protection changes (including a
    /// guard flag consumed, and restores), but not when data is copied or written.
    pub fn layout_epoch(&self) -> u64 {
        self.layout_epoch
    }

    /// How many writes have hit pages holding cached code (see [`Memory::mark_code`]);
    /// an instruction cache checks it to notice self-modifying code mid-block.
    pub fn code_writes(&self) -> u64 {
        self.code_writes
    }

    /// Captures the address space. Costs one copy of the page tables; page data is shared
    /// and copied only when either side writes it.
    pub fn snapshot(&mut self) -> Snapshot {
        // Every buffer is shared from now on: no write may bypass the copy-on-write path.
        self.tlb_flush();
        Snapshot { tables: self.tables.clone() }
    }

    /// Returns the address space to a snapshot taken from it (or from a clone of it).
    pub fn restore(&mut self, snap: &Snapshot) {
        self.tables = snap.tables.clone();
        self.tlb_flush();
        self.epoch += 1;
        self.layout_epoch += 1;
        self.code_writes += 1;
    }
}

macro_rules! typed_access {
    ($($read:ident $write:ident $t:ty;)*) => {
        impl Memory {
            $(
                #[doc = concat!("Reads a little-endian `", stringify!($t), "`.")]
                #[inline]
                pub fn $read(&mut self, addr: u64) -> Result<$t, Fault> {
                    self.read_array(addr).map(<$t>::from_le_bytes)
                }
                #[doc = concat!("Writes a little-endian `", stringify!($t), "`.")]
                #[inline]
                pub fn $write(&mut self, addr: u64, value: $t) -> Result<(), Fault> {
                    self.write_array(addr, value.to_le_bytes())
                }
            )*
        }
    };
}

typed_access! {
    read_u8 write_u8 u8;
    read_u16 write_u16 u16;
    read_u32 write_u32 u32;
    read_u64 write_u64 u64;
    read_u128 write_u128 u128;
}

impl Memory {
    /// Reads a 10-byte value (x87 extended real or packed BCD).
    pub fn read_u80(&mut self, addr: u64) -> Result<[u8; 10], Fault> {
        self.read_array(addr)
    }

    /// Writes a 10-byte value (x87 extended real or packed BCD).
    pub fn write_u80(&mut self, addr: u64, value: [u8; 10]) -> Result<(), Fault> {
        self.write_array(addr, value)
    }
}

#[cfg(test)]
mod tests;
