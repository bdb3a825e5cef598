//! Object-manager services: closing, duplicating and querying handles, object
//! directories, and opening the process and thread.

use x86wow_mmu::Memory;

use crate::object::{
    Body, ObjectType, CURRENT_PROCESS, CURRENT_THREAD, DUPLICATE_CLOSE_SOURCE, DUPLICATE_SAME_ACCESS,
    DUPLICATE_SAME_ATTRIBUTES, PROCESS_OBJ, THREAD_OBJ,
};
use crate::status::{flat, NtResult, NtStatus};
use crate::user::{self, Buf, OBJ_INHERIT};
use crate::Kernel;

impl Kernel {
    /// NtClose(HANDLE). Pseudo-handles (-1 .. -6) close successfully and nothing
    /// happens (Windows and Wine agree); an unknown handle is `STATUS_INVALID_HANDLE`; a
    /// handle protected from close is `STATUS_HANDLE_NOT_CLOSABLE`.
    pub fn nt_close(&mut self, _mem: &mut Memory, handle: u64) -> NtStatus {
        if handle >= u64::MAX - 5 {
            return NtStatus::SUCCESS;
        }
        flat(self.close_handle(handle).map(|_| NtStatus::SUCCESS))
    }

    /// NtDuplicateObject(HANDLE SourceProcess, HANDLE Source, HANDLE TargetProcess,
    /// PHANDLE Target, ACCESS_MASK, ULONG HandleAttributes, ULONG Options).
    #[allow(clippy::too_many_arguments)]
    pub fn nt_duplicate_object(
        &mut self,
        mem: &mut Memory,
        src_process: u64,
        src: u64,
        dst_process: u64,
        dst_ptr: u64,
        access: u64,
        attributes: u64,
        options: u64,
    ) -> NtStatus {
        flat(self.duplicate(
            mem,
            src_process,
            src,
            dst_process,
            dst_ptr,
            access as u32,
            attributes as u32,
            options as u32,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn duplicate(
        &mut self,
        mem: &mut Memory,
        src_process: u64,
        src: u64,
        dst_process: u64,
        dst_ptr: u64,
        access: u32,
        attributes: u32,
        options: u32,
    ) -> NtResult<NtStatus> {
        if options & !(DUPLICATE_CLOSE_SOURCE | DUPLICATE_SAME_ACCESS | DUPLICATE_SAME_ATTRIBUTES) != 0 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        self.check_process(src_process, 0x40)?; // PROCESS_DUP_HANDLE
        let he = self.ob.lookup(src)?;
        if dst_process == 0 {
            // Only closing the source is possible.
            if options & DUPLICATE_CLOSE_SOURCE != 0 && src < CURRENT_THREAD {
                self.close_handle(src)?;
            }
            return Ok(NtStatus::SUCCESS);
        }
        self.check_process(dst_process, 0x40)?;
        if dst_ptr != 0 {
            user::probe_write(mem, dst_ptr, 8)?;
        }
        let ty = self.ob.get(he.obj).map(|e| e.body.object_type()).ok_or(NtStatus::INVALID_HANDLE)?;
        let granted = if options & DUPLICATE_SAME_ACCESS != 0 { he.access } else { ty.map_access(access) };
        let inherit =
            if options & DUPLICATE_SAME_ATTRIBUTES != 0 { he.inherit } else { attributes & OBJ_INHERIT != 0 };
        let obj = match src {
            CURRENT_PROCESS => PROCESS_OBJ,
            CURRENT_THREAD => THREAD_OBJ,
            _ => he.obj,
        };
        let h = self.ob.insert_handle(obj, granted, inherit);
        if options & DUPLICATE_CLOSE_SOURCE != 0 && src < CURRENT_THREAD {
            let _ = self.close_handle(src);
        }
        if dst_ptr != 0 {
            user::write_u64(mem, dst_ptr, h)?;
        }
        Ok(NtStatus::SUCCESS)
    }

    /// NtQueryObject(HANDLE, OBJECT_INFORMATION_CLASS, PVOID, ULONG, PULONG):
    /// ObjectBasicInformation (0, 56 bytes), ObjectNameInformation (1),
    /// ObjectTypeInformation (2, a minimal OBJECT_TYPE_INFORMATION with the type name),
    /// ObjectHandleFlagInformation (4).
    pub fn nt_query_object(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        class: u64,
        buf: u64,
        len: u64,
        ret_len: u64,
    ) -> NtStatus {
        flat(self.query_object(mem, handle, class as u32, buf, len as u32, ret_len))
    }

    fn query_object(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        class: u32,
        buf: u64,
        len: u32,
        ret_len: u64,
    ) -> NtResult<NtStatus> {
        let he = self.ob.lookup(handle)?;
        let e = self.ob.get(he.obj).ok_or(NtStatus::INVALID_HANDLE)?;
        let ty = e.body.object_type();
        let (data, fixed) = match class {
            0 => {
                let mut b = Buf::new(56);
                b.u32(0, if he.inherit { OBJ_INHERIT } else { 0 })
                    .u32(4, he.access)
                    .u32(8, e.handles.max(1))
                    .u32(12, e.handles.max(1) + e.refs + 1);
                (b, true)
            }
            1 => {
                let name = match &e.body {
                    Body::File(f) if f.path.is_empty() && !f.is_dir() => String::new(),
                    Body::File(f) => format!("\\Device\\HarddiskVolume1{}", f.guest_path()),
                    _ => e.name.clone().unwrap_or_default(),
                };
                let n = user::str_to_utf16(&name);
                let mut b = Buf::new(16);
                if !n.is_empty() {
                    b.u16(0, user::us_len(n.len()))
                        .u16(2, user::us_max(n.len()))
                        .u64(8, buf + 16)
                        .utf16(16, &n)
                        .u16(16 + n.len() * 2, 0);
                }
                (b, false)
            }
            2 => {
                let n = user::str_to_utf16(ty.name());
                let mut b = Buf::new(0x68);
                b.u16(0, user::us_len(n.len())).u16(2, user::us_max(n.len())).u64(8, buf + 0x68);
                let m = ty.generic_mapping();
                b.u32(0x28, m[0]).u32(0x2C, m[1]).u32(0x30, m[2]).u32(0x34, m[3]).u32(0x38, m[3]);
                b.utf16(0x68, &n).u16(0x68 + n.len() * 2, 0);
                (b, false)
            }
            4 => {
                let mut b = Buf::new(2);
                b.u8(0, he.inherit as u8).u8(1, he.protect_from_close as u8);
                (b, true)
            }
            _ => return Err(NtStatus::INVALID_INFO_CLASS),
        };
        if fixed && len as usize != data.len() {
            user::write_opt_u32(mem, ret_len, data.len() as u32)?;
            return Err(NtStatus::INFO_LENGTH_MISMATCH);
        }
        if (len as usize) < data.len() {
            user::write_opt_u32(mem, ret_len, data.len() as u32)?;
            return Err(NtStatus::INFO_LENGTH_MISMATCH);
        }
        user::write_bytes(mem, buf, &data.0)?;
        user::write_opt_u32(mem, ret_len, data.len() as u32)?;
        Ok(NtStatus::SUCCESS)
    }

    /// NtSetInformationObject(HANDLE, OBJECT_INFORMATION_CLASS, PVOID, ULONG):
    /// ObjectHandleFlagInformation (4) sets Inherit and ProtectFromClose.
    pub fn nt_set_information_object(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        class: u64,
        buf: u64,
        len: u64,
    ) -> NtStatus {
        flat((|| {
            if class != 4 {
                return Err(NtStatus::INVALID_INFO_CLASS);
            }
            if len as u32 != 2 {
                return Err(NtStatus::INFO_LENGTH_MISMATCH);
            }
            let b = user::read_bytes(mem, buf, 2)?;
            let he = self.ob.handles.get_mut(&handle).ok_or(NtStatus::INVALID_HANDLE)?;
            he.inherit = b[0] != 0;
            he.protect_from_close = b[1] != 0;
            Ok(NtStatus::SUCCESS)
        })())
    }

    /// NtCreateDirectoryObject(PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES).
    pub fn nt_create_directory_object(
        &mut self,
        mem: &mut Memory,
        handle_ptr: u64,
        access: u64,
        oa: u64,
    ) -> NtStatus {
        flat(self.create_named(mem, handle_ptr, access as u32, oa, || Ok(Body::Directory)))
    }

    /// NtOpenDirectoryObject(PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES).
    pub fn nt_open_directory_object(
        &mut self,
        mem: &mut Memory,
        handle_ptr: u64,
        access: u64,
        oa: u64,
    ) -> NtStatus {
        flat(self.open_named(mem, handle_ptr, access as u32, oa, ObjectType::Directory))
    }

    fn open_self(
        &mut self,
        mem: &mut Memory,
        handle_ptr: u64,
        access: u32,
        oa: u64,
        cid: u64,
        thread: bool,
    ) -> NtResult<NtStatus> {
        user::probe_write(mem, handle_ptr, 8)?;
        let attrs = if oa != 0 { user::read_object_attributes(mem, oa)?.attributes } else { 0 };
        if cid == 0 {
            return Err(NtStatus::INVALID_PARAMETER_MIX);
        }
        let pid = user::read_u64(mem, cid)?;
        let tid = user::read_u64(mem, cid + 8)?;
        let ok = if thread {
            tid == self.cfg.thread_id && (pid == 0 || pid == self.cfg.process_id)
        } else {
            pid == self.cfg.process_id
        };
        if !ok {
            return Err(NtStatus::INVALID_CID);
        }
        let (obj, ty) =
            if thread { (THREAD_OBJ, ObjectType::Thread) } else { (PROCESS_OBJ, ObjectType::Process) };
        let h = self.ob.insert_handle(obj, ty.map_access(access), attrs & OBJ_INHERIT != 0);
        user::write_u64(mem, handle_ptr, h)?;
        Ok(NtStatus::SUCCESS)
    }

    /// NtOpenProcess(PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES, PCLIENT_ID): only the
    /// current process exists; any other id is `STATUS_INVALID_CID`.
    pub fn nt_open_process(
        &mut self,
        mem: &mut Memory,
        handle_ptr: u64,
        access: u64,
        oa: u64,
        cid: u64,
    ) -> NtStatus {
        flat(self.open_self(mem, handle_ptr, access as u32, oa, cid, false))
    }

    /// NtOpenThread(PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES, PCLIENT_ID).
    pub fn nt_open_thread(
        &mut self,
        mem: &mut Memory,
        handle_ptr: u64,
        access: u64,
        oa: u64,
        cid: u64,
    ) -> NtStatus {
        flat(self.open_self(mem, handle_ptr, access as u32, oa, cid, true))
    }
}
