//! Section objects and views: pagefile-backed (SEC_COMMIT / SEC_RESERVE), file-backed
//! data sections, and SEC_IMAGE sections of PE images.
//!
//! The mmu has no way to map one page at two addresses, so a view holds its own copy of
//! the section's data: a pagefile-backed view is loaded from the section when mapped and
//! stored back when unmapped, a file-backed writable view is written back to the file
//! when unmapped or flushed. Two views of one section mapped at the same time therefore
//! do not see each other's writes.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use x86wow_mmu::Memory;

use crate::object::{
    Body, ObjId, ObjectType, PROCESS_VM_OPERATION, SECTION_MAP_EXECUTE, SECTION_MAP_READ, SECTION_MAP_WRITE,
    SECTION_QUERY,
};
use crate::pe::{self, ImageInfo};
use crate::status::{flat, NtResult, NtStatus};
use crate::user;
use crate::vm::{
    self, page_up, prot_executable, prot_shared_write, valid_protection, MemType, ViewInfo, GRANULARITY,
    MEM_TOP_DOWN, PAGE, PAGE_EXECUTE_WRITECOPY, PAGE_NOACCESS,
};
use crate::Kernel;

pub const SEC_BASED: u32 = 0x20_0000;
pub const SEC_NO_CHANGE: u32 = 0x40_0000;
pub const SEC_FILE: u32 = 0x80_0000;
pub const SEC_IMAGE: u32 = 0x100_0000;
pub const SEC_PROTECTED_IMAGE: u32 = 0x200_0000;
pub const SEC_RESERVE: u32 = 0x400_0000;
pub const SEC_COMMIT: u32 = 0x800_0000;
pub const SEC_NOCACHE: u32 = 0x1000_0000;
pub const SEC_WRITECOMBINE: u32 = 0x4000_0000;
pub const SEC_LARGE_PAGES: u32 = 0x8000_0000;

/// What holds a section's data.
#[derive(Clone)]
pub enum Backing {
    /// Pagefile-backed: pages that were ever stored back (page index -> contents), and for
    /// SEC_RESERVE the pages committed so far (`None` = all committed).
    Pagefile { pages: BTreeMap<u64, Arc<Vec<u8>>>, committed: Option<BTreeSet<u64>> },
    /// A data file.
    File { file: Arc<std::fs::File>, path: String },
    /// A PE image.
    Image { info: Arc<ImageInfo>, path: String },
}

#[derive(Clone)]
pub struct Section {
    /// Size in bytes (page multiple for pagefile sections, SizeOfImage for images, the
    /// mapped size of the file for data sections).
    pub size: u64,
    pub protect: u32,
    /// The AllocationAttributes SectionBasicInformation reports.
    pub attributes: u32,
    pub backing: Backing,
}

impl Section {
    /// Image information, for SEC_IMAGE sections.
    pub fn image(&self) -> Option<&ImageInfo> {
        match &self.backing {
            Backing::Image { info, .. } => Some(info),
            _ => None,
        }
    }
}

/// Whether a view protection is allowed on a section of protection `sect`.
fn view_allowed(sect: u32, view: u32) -> bool {
    if view & 0xFF == PAGE_NOACCESS {
        return true;
    }
    if prot_shared_write(view) && !prot_shared_write(sect) {
        return false;
    }
    if prot_executable(view) && !prot_executable(sect) {
        return false;
    }
    true
}

fn map_access_for(view: u32) -> u32 {
    let mut need = SECTION_MAP_READ;
    if prot_shared_write(view) {
        need |= SECTION_MAP_WRITE;
    }
    if prot_executable(view) {
        need |= SECTION_MAP_EXECUTE;
    }
    if view & 0xFF == PAGE_NOACCESS {
        need = 0;
    }
    need
}

impl Kernel {
    /// NtCreateSection(PHANDLE SectionHandle, ACCESS_MASK DesiredAccess,
    /// POBJECT_ATTRIBUTES, PLARGE_INTEGER MaximumSize, ULONG SectionPageProtection,
    /// ULONG AllocationAttributes, HANDLE FileHandle).
    #[allow(clippy::too_many_arguments)]
    pub fn nt_create_section(
        &mut self,
        mem: &mut Memory,
        handle_ptr: u64,
        access: u64,
        oa: u64,
        max_size_ptr: u64,
        protect: u64,
        attributes: u64,
        file: u64,
    ) -> NtStatus {
        flat(self.create_section(
            mem,
            handle_ptr,
            access as u32,
            oa,
            max_size_ptr,
            protect as u32,
            attributes as u32,
            file,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn create_section(
        &mut self,
        mem: &mut Memory,
        handle_ptr: u64,
        access: u32,
        oa: u64,
        max_size_ptr: u64,
        protect: u32,
        attrs: u32,
        file: u64,
    ) -> NtResult<NtStatus> {
        let valid = SEC_BASED
            | SEC_NO_CHANGE
            | SEC_FILE
            | SEC_IMAGE
            | SEC_PROTECTED_IMAGE
            | SEC_RESERVE
            | SEC_COMMIT
            | SEC_NOCACHE
            | SEC_WRITECOMBINE
            | SEC_LARGE_PAGES;
        if attrs & !valid != 0 || attrs & (SEC_COMMIT | SEC_RESERVE | SEC_IMAGE) == 0 {
            return Err(NtStatus::INVALID_PARAMETER_6);
        }
        if attrs & SEC_COMMIT != 0 && attrs & SEC_RESERVE != 0 {
            return Err(NtStatus::INVALID_PARAMETER_6);
        }
        let image = attrs & SEC_IMAGE != 0;
        if image && attrs & (SEC_COMMIT | SEC_RESERVE | SEC_NO_CHANGE | SEC_WRITECOMBINE) != 0 {
            return Err(NtStatus::INVALID_PARAMETER_6);
        }
        if attrs & SEC_LARGE_PAGES != 0 {
            return Err(NtStatus::PRIVILEGE_NOT_HELD);
        }
        if !valid_protection(protect) || protect & !0xFF != 0 {
            return Err(NtStatus::INVALID_PAGE_PROTECTION);
        }
        user::probe_write(mem, handle_ptr, 8)?;
        let max = if max_size_ptr == 0 {
            0
        } else {
            let v = user::read_i64(mem, max_size_ptr)?;
            if v < 0 {
                return Err(NtStatus::INVALID_PARAMETER_4);
            }
            v as u64
        };
        let section = if file == 0 {
            if image {
                return Err(NtStatus::INVALID_FILE_FOR_SECTION);
            }
            if max == 0 {
                return Err(NtStatus::INVALID_PARAMETER_4);
            }
            let size = page_up(max).filter(|&s| s <= 1 << 47).ok_or(NtStatus::SECTION_TOO_BIG)?;
            Section {
                size,
                protect,
                attributes: attrs,
                backing: Backing::Pagefile {
                    pages: BTreeMap::new(),
                    committed: (attrs & SEC_RESERVE != 0).then(BTreeSet::new),
                },
            }
        } else {
            self.file_section(file, max, protect, attrs)?
        };
        let charge = match &section.backing {
            Backing::Pagefile { committed: None, .. } => section.size,
            _ => 0,
        };
        if charge != 0 {
            self.charge_section(charge)?;
        }
        let r = self.create_named(mem, handle_ptr, access, oa, || Ok(Body::Section(Box::new(section))));
        if charge != 0 && !matches!(r, Ok(NtStatus::SUCCESS)) {
            // The section was not created (error) or an existing one was opened.
            self.commit_charge = self.commit_charge.saturating_sub(charge);
        }
        r
    }

    fn charge_section(&mut self, bytes: u64) -> NtResult<()> {
        let new = self.commit_charge.checked_add(bytes).ok_or(NtStatus::COMMITMENT_LIMIT)?;
        if new > self.cfg.commit_limit {
            return Err(NtStatus::COMMITMENT_LIMIT);
        }
        self.commit_charge = new;
        Ok(())
    }

    fn file_section(&mut self, file: u64, max: u64, protect: u32, attrs: u32) -> NtResult<Section> {
        let he = self.ob.lookup(file)?;
        let entry = self.ob.get(he.obj).ok_or(NtStatus::INVALID_HANDLE)?;
        let Body::File(fo) = &entry.body else {
            return Err(NtStatus::OBJECT_TYPE_MISMATCH);
        };
        let Some(host) = fo.host_file().cloned() else {
            return Err(NtStatus::INVALID_FILE_FOR_SECTION);
        };
        let path = fo.nt_name();
        const FILE_READ_DATA: u32 = 1;
        const FILE_WRITE_DATA: u32 = 2;
        const FILE_EXECUTE: u32 = 0x20;
        let image = attrs & SEC_IMAGE != 0;
        if image {
            if he.access & (FILE_READ_DATA | FILE_EXECUTE) == 0 {
                return Err(NtStatus::ACCESS_DENIED);
            }
        } else {
            if he.access & FILE_READ_DATA == 0 {
                return Err(NtStatus::ACCESS_DENIED);
            }
            if prot_shared_write(protect) && he.access & FILE_WRITE_DATA == 0 {
                return Err(NtStatus::ACCESS_DENIED);
            }
        }
        let file_size = host.metadata().map(|m| m.len()).map_err(|_| NtStatus::UNSUCCESSFUL)?;
        if image {
            let n = file_size.min(pe::MAX_IMAGE_FILE) as usize;
            let mut data = vec![0u8; n];
            host.read_exact_at(&mut data, 0).map_err(|_| NtStatus::UNSUCCESSFUL)?;
            let info = pe::parse_image(&data)?;
            return Ok(Section {
                size: info.size_of_image,
                protect,
                attributes: SEC_IMAGE | SEC_FILE,
                backing: Backing::Image { info: Arc::new(info), path },
            });
        }
        let size = if max == 0 {
            if file_size == 0 {
                return Err(NtStatus::MAPPED_FILE_SIZE_ZERO);
            }
            file_size
        } else if max > file_size {
            if !prot_shared_write(protect) {
                return Err(NtStatus::SECTION_TOO_BIG);
            }
            host.set_len(max).map_err(|_| NtStatus::SECTION_TOO_BIG)?;
            max
        } else {
            max
        };
        Ok(Section {
            size,
            protect,
            attributes: SEC_FILE
                | (attrs & (SEC_RESERVE | SEC_NOCACHE))
                | if attrs & SEC_RESERVE == 0 { SEC_COMMIT } else { 0 },
            backing: Backing::File { file: host, path },
        })
    }

    /// NtOpenSection(PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES).
    pub fn nt_open_section(&mut self, mem: &mut Memory, handle_ptr: u64, access: u64, oa: u64) -> NtStatus {
        flat(self.open_named(mem, handle_ptr, access as u32, oa, ObjectType::Section))
    }

    /// Called when a section object is deleted.
    pub(crate) fn section_deleted(&mut self, s: &Section) {
        if let Backing::Pagefile { committed, .. } = &s.backing {
            let bytes = match committed {
                None => s.size,
                Some(set) => set.len() as u64 * PAGE,
            };
            self.commit_charge = self.commit_charge.saturating_sub(bytes);
        }
    }

    fn section(&self, id: ObjId) -> NtResult<&Section> {
        match self.ob.get(id).map(|e| &e.body) {
            Some(Body::Section(s)) => Ok(s),
            _ => Err(NtStatus::INVALID_HANDLE),
        }
    }

    /// NtMapViewOfSection(HANDLE Section, HANDLE Process, PVOID *BaseAddress,
    /// ULONG_PTR ZeroBits, SIZE_T CommitSize, PLARGE_INTEGER SectionOffset,
    /// PSIZE_T ViewSize, SECTION_INHERIT, ULONG AllocationType, ULONG Win32Protect).
    #[allow(clippy::too_many_arguments)]
    pub fn nt_map_view_of_section(
        &mut self,
        mem: &mut Memory,
        section: u64,
        process: u64,
        base_ptr: u64,
        zero_bits: u64,
        commit_size: u64,
        offset_ptr: u64,
        size_ptr: u64,
        inherit: u64,
        alloc_type: u64,
        protect: u64,
    ) -> NtStatus {
        flat(self.map_view(
            mem,
            section,
            process,
            base_ptr,
            zero_bits,
            commit_size,
            offset_ptr,
            size_ptr,
            inherit as u32,
            alloc_type as u32,
            protect as u32,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn map_view(
        &mut self,
        mem: &mut Memory,
        section: u64,
        process: u64,
        base_ptr: u64,
        zero_bits: u64,
        commit_size: u64,
        offset_ptr: u64,
        size_ptr: u64,
        inherit: u32,
        alloc_type: u32,
        protect: u32,
    ) -> NtResult<NtStatus> {
        let limit = vm::zero_bits_limit(zero_bits).map_err(|_| NtStatus::INVALID_PARAMETER_4)?;
        if inherit != 1 && inherit != 2 {
            return Err(NtStatus::INVALID_PARAMETER_8);
        }
        if alloc_type & !(MEM_TOP_DOWN | vm::MEM_RESERVE | SEC_NO_CHANGE | vm::MEM_LARGE_PAGES) != 0 {
            return Err(NtStatus::INVALID_PARAMETER_9);
        }
        if !valid_protection(protect) {
            return Err(NtStatus::INVALID_PAGE_PROTECTION);
        }
        user::probe_write(mem, base_ptr, 8)?;
        user::probe_write(mem, size_ptr, 8)?;
        if offset_ptr != 0 {
            user::probe_write(mem, offset_ptr, 8)?;
        }
        let base = user::read_u64(mem, base_ptr)?;
        let size = user::read_u64(mem, size_ptr)?;
        let offset = if offset_ptr == 0 { 0 } else { user::read_u64(mem, offset_ptr)? };
        self.check_process(process, PROCESS_VM_OPERATION)?;
        let (sid, _) = self.ref_object(section, ObjectType::Section, map_access_for(protect))?;
        let s = self.section(sid)?;
        if !view_allowed(s.protect, protect) && s.image().is_none() {
            return Err(NtStatus::SECTION_PROTECTION);
        }
        let highest = self.cfg.highest_user_address;
        if base > highest {
            return Err(NtStatus::INVALID_PARAMETER_3);
        }
        let limit = limit.min(highest);
        let top_down = alloc_type & MEM_TOP_DOWN != 0;
        if let Some(info) = s.image().cloned() {
            let (at, status) = self.map_image(mem, sid, &info, base, limit, top_down)?;
            if let Some(e) = self.ob.get_mut(sid) {
                e.refs += 1;
            }
            user::write_u64(mem, base_ptr, at)?;
            user::write_u64(mem, size_ptr, info.size_of_image)?;
            if offset_ptr != 0 {
                user::write_u64(mem, offset_ptr, 0)?;
            }
            return Ok(status);
        }
        // Data view: the offset goes down to the allocation granularity and the base
        // (if given) must have the same offset within a granule.
        let delta = offset & (GRANULARITY - 1);
        if base != 0 && base & (GRANULARITY - 1) != delta {
            return Err(NtStatus::MAPPED_ALIGNMENT);
        }
        let aligned_off = offset - delta;
        if offset >= s.size {
            return Err(NtStatus::INVALID_VIEW_SIZE);
        }
        let size = if size == 0 { s.size - offset } else { size };
        if size > s.size - offset {
            return Err(NtStatus::INVALID_VIEW_SIZE);
        }
        let len = page_up(size + delta).ok_or(NtStatus::INVALID_VIEW_SIZE)?;
        let at = if base != 0 {
            let b = base - delta;
            let end = b.checked_add(len).ok_or(NtStatus::INVALID_PARAMETER_3)?;
            if b < vm::LOWEST_USER_ADDRESS || end - 1 > highest || self.vm.overlaps(b, end) {
                return Err(NtStatus::CONFLICTING_ADDRESSES);
            }
            b
        } else {
            self.vm.find_free(len, limit, top_down).ok_or(NtStatus::NO_MEMORY)?
        };
        let (backing, sect_size) = (s.backing.clone(), s.size);
        self.vm.allocs.insert(at, vm::Allocation::new(at, len, protect, MemType::Mapped));
        if let Some(a) = self.vm.allocs.get_mut(&at) {
            a.view = Some(ViewInfo { section: sid, offset: aligned_off, protect });
        }
        // Which pages are committed.
        let first_page = aligned_off / PAGE;
        let npages = len / PAGE;
        let committed: Vec<bool> = match &backing {
            Backing::Pagefile { committed: Some(set), .. } => {
                let commit_pages = page_up(commit_size.min(len)).unwrap_or(len) / PAGE;
                (0..npages).map(|i| i < commit_pages || set.contains(&(first_page + i))).collect()
            }
            _ => vec![true; npages as usize],
        };
        let mut i = 0u64;
        while i < npages {
            if !committed[i as usize] {
                i += 1;
                continue;
            }
            let mut j = i;
            while j < npages && committed[j as usize] {
                j += 1;
            }
            if let Err(e) = self.commit_view_pages(mem, at, at + i * PAGE, at + j * PAGE, protect) {
                self.release_allocation(mem, at);
                return Err(e);
            }
            i = j;
        }
        // Load the data.
        match &backing {
            Backing::Pagefile { pages, .. } => {
                for (&pi, data) in pages.range(first_page..first_page + npages) {
                    let _ = mem.poke(at + (pi - first_page) * PAGE, data);
                }
            }
            Backing::File { file, .. } => {
                let end = (aligned_off + len).min(sect_size);
                let mut off = aligned_off;
                let mut buf = vec![0u8; 0x1_0000];
                while off < end {
                    let n = ((end - off) as usize).min(buf.len());
                    let got = file.read_at(&mut buf[..n], off).unwrap_or(0);
                    if got == 0 {
                        break;
                    }
                    let _ = mem.poke(at + (off - aligned_off), &buf[..got]);
                    off += got as u64;
                }
            }
            Backing::Image { .. } => {}
        }
        if let Some(e) = self.ob.get_mut(sid) {
            e.refs += 1;
        }
        user::write_u64(mem, base_ptr, at)?;
        user::write_u64(mem, size_ptr, len)?;
        if offset_ptr != 0 {
            user::write_u64(mem, offset_ptr, aligned_off)?;
        }
        Ok(NtStatus::SUCCESS)
    }

    /// Commits view pages (section pages are charged to the section, not the process).
    pub(crate) fn commit_view_pages(
        &mut self,
        mem: &mut Memory,
        base: u64,
        start: u64,
        end: u64,
        protect: u32,
    ) -> NtResult<()> {
        if mem.map(start, end - start, vm::mmu_prot(protect)).is_err() {
            return Err(NtStatus::CONFLICTING_ADDRESSES);
        }
        if let Some(a) = self.vm.allocs.get_mut(&base) {
            a.set(start - base, end - start, vm::PageState { committed: true, protect });
        }
        Ok(())
    }

    /// Maps a PE image: at its preferred base if that is free and allowed, otherwise
    /// relocated to the lowest free place (`STATUS_IMAGE_NOT_AT_BASE`), or
    /// `STATUS_CONFLICTING_ADDRESSES` if it cannot be relocated.
    fn map_image(
        &mut self,
        mem: &mut Memory,
        sid: ObjId,
        info: &ImageInfo,
        base: u64,
        limit: u64,
        top_down: bool,
    ) -> NtResult<(u64, NtStatus)> {
        let len = info.size_of_image;
        let free_at = |k: &Kernel, b: u64| -> bool {
            b >= vm::LOWEST_USER_ADDRESS
                && b & (GRANULARITY - 1) == 0
                && b.checked_add(len).is_some_and(|e| e - 1 <= limit && !k.vm.overlaps(b, e))
        };
        let at = if base != 0 {
            if !free_at(self, base) {
                return Err(NtStatus::CONFLICTING_ADDRESSES);
            }
            base
        } else if free_at(self, info.image_base) {
            info.image_base
        } else {
            if info.relocs_stripped() {
                return Err(NtStatus::CONFLICTING_ADDRESSES);
            }
            self.vm.find_free(len, limit, top_down).ok_or(NtStatus::CONFLICTING_ADDRESSES)?
        };
        self.vm.allocs.insert(at, vm::Allocation::new(at, len, PAGE_EXECUTE_WRITECOPY, MemType::Image));
        if let Some(a) = self.vm.allocs.get_mut(&at) {
            a.view = Some(ViewInfo { section: sid, offset: 0, protect: PAGE_EXECUTE_WRITECOPY });
        }
        for b in &info.blocks {
            if let Err(e) = self.commit_view_pages(mem, at, at + b.rva, at + b.rva + b.size, b.protect) {
                self.release_allocation(mem, at);
                return Err(e);
            }
            let _ = mem.poke(at + b.rva, &b.data);
        }
        if at != info.image_base {
            if let Some(r) = info.relocs {
                let delta = at.wrapping_sub(info.image_base);
                if let Err(e) = pe::apply_relocations(mem, at, len, r, delta) {
                    self.release_allocation(mem, at);
                    return Err(e);
                }
            }
        }
        let mismatch = (self.process.peb32 != 0) == info.pe32_plus;
        let status = if at != info.image_base {
            NtStatus::IMAGE_NOT_AT_BASE
        } else if mismatch {
            NtStatus::IMAGE_MACHINE_TYPE_MISMATCH
        } else {
            NtStatus::SUCCESS
        };
        Ok((at, status))
    }

    /// NtUnmapViewOfSection(HANDLE Process, PVOID BaseAddress): any address in the view.
    pub fn nt_unmap_view_of_section(&mut self, mem: &mut Memory, process: u64, base: u64) -> NtStatus {
        flat(self.unmap_view(mem, process, base))
    }

    /// NtUnmapViewOfSectionEx(HANDLE Process, PVOID BaseAddress, ULONG Flags).
    pub fn nt_unmap_view_of_section_ex(
        &mut self,
        mem: &mut Memory,
        process: u64,
        base: u64,
        flags: u64,
    ) -> NtStatus {
        if flags as u32 & !0x3 != 0 {
            return NtStatus::INVALID_PARAMETER;
        }
        flat(self.unmap_view(mem, process, base))
    }

    fn unmap_view(&mut self, mem: &mut Memory, process: u64, base: u64) -> NtResult<NtStatus> {
        self.check_process(process, PROCESS_VM_OPERATION)?;
        let a = self.vm.find(base).ok_or(NtStatus::NOT_MAPPED_VIEW)?;
        let Some(view) = a.view.clone() else {
            return Err(NtStatus::NOT_MAPPED_VIEW);
        };
        let ab = a.base;
        self.write_back_view(mem, ab);
        self.release_allocation(mem, ab);
        if let Some(body) = self.ob.release_ref(view.section) {
            self.destroy(body);
        }
        Ok(NtStatus::SUCCESS)
    }

    /// Stores a view's contents back into its section (pagefile) or file (writable
    /// shared data views).
    pub(crate) fn write_back_view(&mut self, mem: &Memory, base: u64) {
        let Some(a) = self.vm.allocs.get(&base) else {
            return;
        };
        let Some(view) = a.view.clone() else {
            return;
        };
        let runs: Vec<(u64, u64)> =
            a.runs_in(0, a.size).into_iter().filter(|r| r.2.committed).map(|r| (r.0, r.1)).collect();
        let Some(crate::object::ObjectEntry { body: Body::Section(s), .. }) = self.ob.get_mut(view.section)
        else {
            return;
        };
        let sect_size = s.size;
        match &mut s.backing {
            Backing::Pagefile { pages, committed } => {
                for (off, len) in runs {
                    let mut p = off;
                    while p < off + len {
                        let mut buf = vec![0u8; PAGE as usize];
                        if mem.peek(base + p, &mut buf).is_ok() {
                            let pi = (view.offset + p) / PAGE;
                            if buf.iter().any(|&b| b != 0) || pages.contains_key(&pi) {
                                pages.insert(pi, Arc::new(buf));
                            }
                            if let Some(set) = committed {
                                set.insert(pi);
                            }
                        }
                        p += PAGE;
                    }
                }
            }
            Backing::File { file, .. } => {
                if !prot_shared_write(view.protect) {
                    return;
                }
                for (off, len) in runs {
                    let start = view.offset + off;
                    let end = (start + len).min(sect_size);
                    if start >= end {
                        continue;
                    }
                    let mut buf = vec![0u8; (end - start) as usize];
                    if mem.peek(base + off, &mut buf).is_ok() {
                        let _ = file.write_all_at(&buf, start);
                    }
                }
            }
            Backing::Image { .. } => {}
        }
    }

    /// The NT name of the file mapped at `addr`, for MemoryMappedFilenameInformation.
    pub(crate) fn mapped_file_name(&self, addr: u64) -> Option<String> {
        let a = self.vm.find(addr)?;
        let view = a.view.as_ref()?;
        match &self.section(view.section).ok()?.backing {
            Backing::File { path, .. } | Backing::Image { path, .. } => {
                Some(format!("\\Device\\HarddiskVolume1{path}"))
            }
            Backing::Pagefile { .. } => None,
        }
    }

    /// NtQuerySection(HANDLE, SECTION_INFORMATION_CLASS, PVOID, SIZE_T Length,
    /// PSIZE_T ReturnLength): SectionBasicInformation (0, 24 bytes) and
    /// SectionImageInformation (1, 64 bytes).
    pub fn nt_query_section(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        class: u64,
        buf: u64,
        len: u64,
        ret_len: u64,
    ) -> NtStatus {
        flat(self.query_section(mem, handle, class, buf, len, ret_len))
    }

    fn query_section(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        class: u64,
        buf: u64,
        len: u64,
        ret_len: u64,
    ) -> NtResult<NtStatus> {
        let (sid, _) = self.ref_object(handle, ObjectType::Section, SECTION_QUERY)?;
        let s = self.section(sid)?;
        let data: Vec<u8> = match class {
            0 => {
                let mut b = user::Buf::new(24);
                b.u32(8, s.attributes).u64(16, s.size);
                b.0
            }
            1 => match s.image() {
                Some(info) => info.section_image_information(info.image_base).to_vec(),
                None => return Err(NtStatus::SECTION_NOT_IMAGE),
            },
            _ => return Err(NtStatus::INVALID_INFO_CLASS),
        };
        if len < data.len() as u64 {
            return Err(NtStatus::INFO_LENGTH_MISMATCH);
        }
        user::write_bytes(mem, buf, &data)?;
        if ret_len != 0 {
            user::write_u64(mem, ret_len, data.len() as u64)?;
        }
        Ok(NtStatus::SUCCESS)
    }

    /// NtFlushVirtualMemory(HANDLE Process, PVOID *BaseAddress, PSIZE_T RegionSize,
    /// PIO_STATUS_BLOCK): writes a file-backed view back to its file.
    pub fn nt_flush_virtual_memory(
        &mut self,
        mem: &mut Memory,
        process: u64,
        base_ptr: u64,
        size_ptr: u64,
        iosb: u64,
    ) -> NtStatus {
        flat((|| {
            self.check_process(process, PROCESS_VM_OPERATION)?;
            let base = user::read_u64(mem, base_ptr)?;
            user::read_u64(mem, size_ptr)?;
            user::probe_write(mem, iosb, 16)?;
            let a = self.vm.find(base).ok_or(NtStatus::NOT_MAPPED_VIEW)?;
            if a.view.is_none() {
                return Err(NtStatus::NOT_MAPPED_VIEW);
            }
            let (ab, size) = (a.base, a.size);
            self.write_back_view(mem, ab);
            user::write_u64(mem, base_ptr, ab)?;
            user::write_u64(mem, size_ptr, size)?;
            user::write_iosb(mem, iosb, NtStatus::SUCCESS, 0)?;
            Ok(NtStatus::SUCCESS)
        })())
    }

    /// Reserves pages of a SEC_RESERVE section view as committed (used by
    /// NtAllocateVirtualMemory on a view).
    pub(crate) fn note_view_commit(&mut self, base: u64, start: u64, end: u64) {
        let Some(a) = self.vm.allocs.get(&base) else {
            return;
        };
        let Some(view) = a.view.clone() else {
            return;
        };
        if let Some(crate::object::ObjectEntry { body: Body::Section(s), .. }) = self.ob.get_mut(view.section)
        {
            if let Backing::Pagefile { committed: Some(set), .. } = &mut s.backing {
                let mut p = start;
                while p < end {
                    set.insert((view.offset + p - base) / PAGE);
                    p += PAGE;
                }
            }
        }
    }

    /// The parsed image of a SEC_IMAGE section handle (for the wow64 layer to register
    /// the main image with [`Kernel::set_process_image`]).
    pub fn section_image_info(&self, section: u64) -> Option<ImageInfo> {
        let he = self.ob.lookup(section).ok()?;
        match self.ob.get(he.obj).map(|e| &e.body) {
            Some(Body::Section(s)) => s.image().cloned(),
            _ => None,
        }
    }
}
