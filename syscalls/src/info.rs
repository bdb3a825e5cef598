//! Process, thread and system information, termination, locale.

use x86wow_mmu::Memory;

use crate::object::{
    ObjectType, PROCESS_QUERY_INFORMATION, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SET_INFORMATION,
    PROCESS_TERMINATE, THREAD_QUERY_LIMITED_INFORMATION, THREAD_SET_LIMITED_INFORMATION,
};
use crate::status::{flat, NtResult, NtStatus};
use crate::time::TIME_INCREMENT;
use crate::user::{self, Buf};
use crate::Kernel;

/// How an information class's length is checked.
enum Len {
    /// Exactly this size (other lengths: `STATUS_INFO_LENGTH_MISMATCH` with the size in
    /// ReturnLength).
    Fixed,
    /// At least the size of the data (variable-size data, such as strings).
    AtLeast,
}

impl Kernel {
    fn put_info(
        &mut self,
        mem: &mut Memory,
        buf: u64,
        len: u32,
        ret_len: u64,
        data: &[u8],
        rule: Len,
    ) -> NtResult<NtStatus> {
        let ok = match rule {
            Len::Fixed => len as usize == data.len(),
            Len::AtLeast => len as usize >= data.len(),
        };
        if !ok {
            user::write_opt_u32(mem, ret_len, data.len() as u32)?;
            return Err(NtStatus::INFO_LENGTH_MISMATCH);
        }
        user::write_bytes(mem, buf, data)?;
        user::write_opt_u32(mem, ret_len, data.len() as u32)?;
        Ok(NtStatus::SUCCESS)
    }

    /// The image's NT name (`\Device\HarddiskVolume1\...`).
    fn image_nt_name(&self) -> String {
        let p = &self.process.image_path;
        match p.get(..2) {
            Some(d) if d.eq_ignore_ascii_case("C:") => {
                format!("\\Device\\HarddiskVolume1{}", &p[2..])
            }
            _ => p.clone(),
        }
    }

    fn unicode_string_info(buf: u64, s: &str) -> Vec<u8> {
        let n = user::str_to_utf16(s);
        let mut b = Buf::new(16);
        b.u16(0, user::us_len(n.len()))
            .u16(2, user::us_max(n.len()))
            .u64(8, buf + 16)
            .utf16(16, &n)
            .u16(16 + n.len() * 2, 0);
        b.0
    }

    fn times(&self) -> Vec<u8> {
        let mut b = Buf::new(32);
        b.u64(0, self.clock.start).u64(24, self.clock.elapsed);
        b.0
    }

    /// NtQueryInformationProcess(HANDLE, PROCESSINFOCLASS, PVOID, ULONG, PULONG).
    pub fn nt_query_information_process(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        class: u64,
        buf: u64,
        len: u64,
        ret_len: u64,
    ) -> NtStatus {
        flat(self.query_process(mem, handle, class as u32, buf, len as u32, ret_len))
    }

    fn query_process(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        class: u32,
        buf: u64,
        len: u32,
        ret_len: u64,
    ) -> NtResult<NtStatus> {
        self.ref_object(handle, ObjectType::Process, 0)?;
        let he = self.ob.lookup(handle)?;
        if he.access & (PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_QUERY_INFORMATION) == 0 {
            return Err(NtStatus::ACCESS_DENIED);
        }
        let p = &self.process;
        let u32v = |v: u32| v.to_le_bytes().to_vec();
        let u64v = |v: u64| v.to_le_bytes().to_vec();
        let affinity = if self.cfg.number_of_processors >= 64 {
            u64::MAX
        } else {
            (1u64 << self.cfg.number_of_processors) - 1
        };
        let (data, rule) = match class {
            0 => {
                let mut b = Buf::new(48);
                b.u32(0, p.exit_status.unwrap_or(NtStatus::PENDING.0))
                    .u64(8, p.peb64)
                    .u64(16, affinity)
                    .u32(24, 8)
                    .u64(32, self.cfg.process_id)
                    .u64(40, self.cfg.parent_process_id);
                (b.0, Len::Fixed)
            }
            3 => {
                let committed: u64 = self.commit_charge;
                let mut b = Buf::new(if len == 96 { 96 } else { 88 });
                for (i, v) in
                    [committed, committed, 0, committed, committed, 0, 0, 0, 0, committed, committed]
                        .iter()
                        .enumerate()
                {
                    b.u64(i * 8, *v);
                }
                b.u32(16, 0);
                if len == 96 {
                    b.u64(88, committed);
                }
                (b.0, Len::Fixed)
            }
            4 => (self.times(), Len::Fixed),
            7 => (u64v(0), Len::Fixed),                  // ProcessDebugPort
            12 => (u32v(p.hard_error_mode), Len::Fixed), // ProcessDefaultHardErrorMode
            20 => (u32v(self.ob.handles.len() as u32), Len::Fixed),
            22 => (u32v(0), Len::Fixed), // ProcessPriorityBoost (disabled = FALSE)
            24 => (u32v(1), Len::Fixed), // ProcessSessionInformation
            26 => (u64v(p.peb32), Len::Fixed), // ProcessWow64Information
            27 => (Self::unicode_string_info(buf, &self.image_nt_name()), Len::AtLeast),
            29 => (u32v(0), Len::Fixed), // ProcessBreakOnTermination
            30 => {
                // ProcessDebugObjectHandle: no debugger.
                if len != 8 {
                    user::write_opt_u32(mem, ret_len, 8)?;
                    return Err(NtStatus::INFO_LENGTH_MISMATCH);
                }
                user::write_u64(mem, buf, 0)?;
                user::write_opt_u32(mem, ret_len, 8)?;
                return Err(NtStatus::PORT_NOT_SET);
            }
            31 => (u32v(1), Len::Fixed), // ProcessDebugFlags: NoDebugInherit
            33 => (u32v(p.io_priority), Len::Fixed),
            34 => (u32v(p.execute_flags), Len::Fixed),
            36 => (u32v(p.cookie), Len::Fixed),
            37 => {
                let info = p
                    .image_info
                    .as_ref()
                    .map(|i| i.section_image_information(p.image_base))
                    .unwrap_or([0; 64]);
                (info.to_vec(), Len::Fixed)
            }
            39 => (u32v(p.page_priority), Len::Fixed),
            43 => (Self::unicode_string_info(buf, &p.image_path), Len::AtLeast),
            52 => {
                // ProcessMitigationPolicy: { POLICY Policy; ULONG Flags; } - all off.
                if len != 8 {
                    user::write_opt_u32(mem, ret_len, 8)?;
                    return Err(NtStatus::INFO_LENGTH_MISMATCH);
                }
                let policy = user::read_u32(mem, buf)?;
                let mut b = Buf::new(8);
                b.u32(0, policy);
                (b.0, Len::Fixed)
            }
            _ => {
                self.note(format!("NtQueryInformationProcess: class {class} not implemented"));
                return Err(NtStatus::INVALID_INFO_CLASS);
            }
        };
        self.put_info(mem, buf, len, ret_len, &data, rule)
    }

    /// NtSetInformationProcess(HANDLE, PROCESSINFOCLASS, PVOID, ULONG): accepts the
    /// harmless classes (hard error mode, priority and boosts, I/O and page priority,
    /// execute flags, affinity, mitigation policies, instrumentation callback is refused).
    pub fn nt_set_information_process(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        class: u64,
        buf: u64,
        len: u64,
    ) -> NtStatus {
        flat((|| {
            self.ref_object(handle, ObjectType::Process, PROCESS_SET_INFORMATION)?;
            let class = class as u32;
            let len = len as u32;
            let need = match class {
                12 | 22 | 33 | 34 | 39 | 5 => 4,
                18 => 2,
                21 => 8,
                29 => 4,
                40 => 8,
                52 => 8,
                _ => {
                    self.note(format!("NtSetInformationProcess: class {class} not implemented"));
                    return Err(NtStatus::INVALID_INFO_CLASS);
                }
            };
            if len != need {
                return Err(NtStatus::INFO_LENGTH_MISMATCH);
            }
            let v = user::read_bytes(mem, buf, need as usize)?;
            let v32 = || u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
            match class {
                12 => self.process.hard_error_mode = v32(),
                33 => self.process.io_priority = v32(),
                34 => self.process.execute_flags = v32(),
                39 => self.process.page_priority = v32(),
                29 | 40 => return Err(NtStatus::PRIVILEGE_NOT_HELD),
                _ => {}
            }
            Ok(NtStatus::SUCCESS)
        })())
    }

    /// NtQueryInformationThread(HANDLE, THREADINFOCLASS, PVOID, ULONG, PULONG).
    pub fn nt_query_information_thread(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        class: u64,
        buf: u64,
        len: u64,
        ret_len: u64,
    ) -> NtStatus {
        flat(self.query_thread(mem, handle, class as u32, buf, len as u32, ret_len))
    }

    fn query_thread(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        class: u32,
        buf: u64,
        len: u32,
        ret_len: u64,
    ) -> NtResult<NtStatus> {
        self.ref_object(handle, ObjectType::Thread, 0)?;
        let he = self.ob.lookup(handle)?;
        if he.access & (THREAD_QUERY_LIMITED_INFORMATION | crate::object::THREAD_QUERY_INFORMATION) == 0 {
            return Err(NtStatus::ACCESS_DENIED);
        }
        let t = &self.process.thread;
        let affinity = if self.cfg.number_of_processors >= 64 {
            u64::MAX
        } else {
            (1u64 << self.cfg.number_of_processors) - 1
        };
        let u32v = |v: u32| v.to_le_bytes().to_vec();
        let data = match class {
            0 => {
                let mut b = Buf::new(48);
                b.u32(0, self.process.exit_status.unwrap_or(NtStatus::PENDING.0))
                    .u64(8, self.process.teb64)
                    .u64(16, self.cfg.process_id)
                    .u64(24, self.cfg.thread_id)
                    .u64(32, affinity)
                    .u32(40, 8 + t.priority as u32)
                    .u32(44, t.priority as u32);
                b.0
            }
            1 => self.times(),
            9 => t.start_address.to_le_bytes().to_vec(),
            12 => u32v(1), // ThreadAmILastThread
            13 => u32v(t.ideal_processor),
            14 => u32v(0), // ThreadPriorityBoost
            16 => u32v(0), // ThreadIsIoPending
            17 => vec![t.hide_from_debugger as u8],
            18 => u32v(0), // ThreadBreakOnTermination
            20 => u32v(self.process.exit_status.is_some() as u32),
            22 => u32v(2), // ThreadIoPriority: normal
            26 => {
                // ThreadTebInformation { PVOID TebInformation; ULONG TebOffset; ULONG BytesToRead; }
                if len != 16 {
                    return Err(NtStatus::INFO_LENGTH_MISMATCH);
                }
                let dst = user::read_u64(mem, buf)?;
                let off = user::read_u32(mem, buf + 8)? as u64;
                let n = user::read_u32(mem, buf + 12)?;
                if off + n as u64 > 0x2000 {
                    return Err(NtStatus::INFO_LENGTH_MISMATCH);
                }
                let data = user::read_bytes(mem, self.process.teb64 + off, n as usize)?;
                user::write_bytes(mem, dst, &data)?;
                user::write_opt_u32(mem, ret_len, n)?;
                return Ok(NtStatus::SUCCESS);
            }
            38 => {
                let n = &t.name;
                let mut b = Buf::new(16);
                b.u16(0, user::us_len(n.len())).u16(2, user::us_len(n.len())).u64(8, buf + 16).utf16(16, n);
                return self.put_info(mem, buf, len, ret_len, &b.0, Len::AtLeast);
            }
            _ => {
                self.note(format!("NtQueryInformationThread: class {class} not implemented"));
                return Err(NtStatus::INVALID_INFO_CLASS);
            }
        };
        self.put_info(mem, buf, len, ret_len, &data, Len::Fixed)
    }

    /// NtSetInformationThread(HANDLE, THREADINFOCLASS, PVOID, ULONG).
    pub fn nt_set_information_thread(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        class: u64,
        buf: u64,
        len: u64,
    ) -> NtStatus {
        flat((|| {
            self.ref_object(handle, ObjectType::Thread, 0)?;
            let he = self.ob.lookup(handle)?;
            if he.access & (THREAD_SET_LIMITED_INFORMATION | crate::object::THREAD_SET_INFORMATION) == 0 {
                return Err(NtStatus::ACCESS_DENIED);
            }
            let class = class as u32;
            let len = len as u32;
            let need = match class {
                2 | 3 | 10 | 13 | 14 | 18 | 22 | 24 => 4,
                4 | 9 => 8,
                5 => 8,
                17 => 0,
                38 => 16,
                _ => {
                    self.note(format!("NtSetInformationThread: class {class} not implemented"));
                    return Err(NtStatus::INVALID_INFO_CLASS);
                }
            };
            if len != need {
                return Err(NtStatus::INFO_LENGTH_MISMATCH);
            }
            let v = user::read_bytes(mem, buf, need as usize)?;
            let v32 = || i32::from_le_bytes([v[0], v[1], v[2], v[3]]);
            let t = &mut self.process.thread;
            match class {
                2 | 3 => {
                    let p = v32();
                    if !(-15..=15).contains(&p) {
                        return Err(NtStatus::INVALID_PARAMETER);
                    }
                    t.priority = p;
                }
                9 => t.start_address = u64::from_le_bytes(v[..8].try_into().unwrap_or([0; 8])),
                13 => {
                    let prev = t.ideal_processor;
                    let want = v32() as u32;
                    if want >= self.cfg.number_of_processors && want != 0xFF {
                        return Err(NtStatus::INVALID_PARAMETER);
                    }
                    if want != 0xFF {
                        t.ideal_processor = want;
                    }
                    // Returns the previous ideal processor as the status.
                    return Ok(NtStatus(prev));
                }
                17 => t.hide_from_debugger = true,
                18 => return Err(NtStatus::PRIVILEGE_NOT_HELD),
                38 => {
                    let l = u16::from_le_bytes([v[0], v[1]]);
                    let b = u64::from_le_bytes(v[8..16].try_into().unwrap_or([0; 8]));
                    let name = user::read_name_buffer(mem, l, b)?;
                    self.process.thread.name = name;
                }
                _ => {}
            }
            Ok(NtStatus::SUCCESS)
        })())
    }

    fn basic_information(&self, highest: u64, procs: u32) -> Vec<u8> {
        let affinity = if procs >= 64 { u64::MAX } else { (1u64 << procs) - 1 };
        let mut b = Buf::new(64);
        b.u32(4, TIME_INCREMENT as u32)
            .u32(8, 0x1000)
            .u32(12, self.cfg.physical_pages)
            .u32(16, 1)
            .u32(20, self.cfg.physical_pages)
            .u32(24, 0x1_0000)
            .u64(32, 0x1_0000)
            .u64(40, highest)
            .u64(48, affinity)
            .u8(56, procs as u8);
        b.0
    }

    fn processor_information(&self, arch: u16) -> Vec<u8> {
        let mut b = Buf::new(12);
        let features = self.cfg.processor_features;
        let mut bits = 0u32;
        // A few KF_* bits the kernel exposes: FPU, CMPXCHG8B, MMX, SSE, SSE2, RDTSC.
        if features[2] != 0 {
            bits |= 0x0000_0080;
        }
        if features[3] != 0 {
            bits |= 0x0000_0100;
        }
        if features[6] != 0 {
            bits |= 0x0000_2000;
        }
        if features[10] != 0 {
            bits |= 0x0001_0000;
        }
        b.u16(0, arch).u16(2, 6).u16(4, 0x9E0A).u16(6, 0).u32(8, bits | 0x2);
        b.0
    }

    /// NtQuerySystemInformation(SYSTEM_INFORMATION_CLASS, PVOID, ULONG, PULONG).
    pub fn nt_query_system_information(
        &mut self,
        mem: &mut Memory,
        class: u64,
        buf: u64,
        len: u64,
        ret_len: u64,
    ) -> NtStatus {
        flat(self.query_system(mem, class as u32, buf, len as u32, ret_len))
    }

    fn query_system(
        &mut self,
        mem: &mut Memory,
        class: u32,
        buf: u64,
        len: u32,
        ret_len: u64,
    ) -> NtResult<NtStatus> {
        let procs = self.cfg.number_of_processors.clamp(1, 64);
        let (data, rule) = match class {
            0 => (self.basic_information(self.cfg.highest_user_address, procs), Len::Fixed),
            1 => (self.processor_information(9), Len::Fixed),
            3 => {
                // SystemTimeOfDayInformation: a shorter buffer gets a prefix.
                let mut b = Buf::new(48);
                b.u64(0, self.clock.boot_time())
                    .u64(8, self.clock.system_time())
                    .u64(16, self.cfg.time_zone_bias as u64);
                if len > 48 {
                    user::write_opt_u32(mem, ret_len, 48)?;
                    return Err(NtStatus::INFO_LENGTH_MISMATCH);
                }
                user::write_bytes(mem, buf, &b.0[..len as usize])?;
                user::write_opt_u32(mem, ret_len, len)?;
                return Ok(NtStatus::SUCCESS);
            }
            8 => {
                // SystemProcessorPerformanceInformation: 48 bytes per processor.
                let mut b = Buf::new(48 * procs as usize);
                b.u64(16, self.clock.elapsed);
                (b.0, Len::AtLeast)
            }
            9 => (0u32.to_le_bytes().to_vec(), Len::Fixed), // SystemFlagsInformation
            35 => (vec![0, 1], Len::Fixed),                 // SystemKernelDebuggerInformation
            62 => (self.basic_information(self.emulation_highest, procs.min(32)), Len::Fixed),
            63 => (self.processor_information(0), Len::Fixed),
            103 => {
                let mut b = Buf::new(8);
                b.u32(0, 8).u32(4, 1);
                (b.0, Len::Fixed)
            }
            _ => {
                self.note(format!("NtQuerySystemInformation: class {class} not implemented"));
                return Err(NtStatus::INVALID_INFO_CLASS);
            }
        };
        self.put_info(mem, buf, len, ret_len, &data, rule)
    }

    /// NtTerminateProcess(HANDLE, NTSTATUS ExitStatus): for the current process, records
    /// the exit status (the caller stops the CPU). A NULL handle ("all other threads")
    /// has nothing to do.
    pub fn nt_terminate_process(&mut self, _mem: &mut Memory, handle: u64, status: u64) -> NtStatus {
        if handle == 0 {
            return NtStatus::SUCCESS;
        }
        flat((|| {
            self.ref_object(handle, ObjectType::Process, PROCESS_TERMINATE)?;
            if self.process.exit_status.is_none() {
                self.process.exit_status = Some(status as u32);
            }
            Ok(NtStatus::SUCCESS)
        })())
    }

    /// NtTerminateThread(HANDLE, NTSTATUS): the only thread ending ends the process.
    pub fn nt_terminate_thread(&mut self, _mem: &mut Memory, handle: u64, status: u64) -> NtStatus {
        let handle = if handle == 0 { crate::object::CURRENT_THREAD } else { handle };
        flat((|| {
            self.ref_object(handle, ObjectType::Thread, crate::object::THREAD_TERMINATE)?;
            if self.process.exit_status.is_none() {
                self.process.exit_status = Some(status as u32);
            }
            Ok(NtStatus::SUCCESS)
        })())
    }

    /// NtQueryDefaultLocale(BOOLEAN UserProfile, PLCID).
    pub fn nt_query_default_locale(&mut self, mem: &mut Memory, _user: u64, lcid: u64) -> NtStatus {
        flat(user::write_u32(mem, lcid, self.cfg.locale).map(|_| NtStatus::SUCCESS))
    }

    /// NtQueryDefaultUILanguage(LANGID*).
    pub fn nt_query_default_ui_language(&mut self, mem: &mut Memory, lang: u64) -> NtStatus {
        flat(user::write_u16(mem, lang, self.cfg.ui_language).map(|_| NtStatus::SUCCESS))
    }

    /// NtQueryInstallUILanguage(LANGID*).
    pub fn nt_query_install_ui_language(&mut self, mem: &mut Memory, lang: u64) -> NtStatus {
        flat(user::write_u16(mem, lang, self.cfg.ui_language).map(|_| NtStatus::SUCCESS))
    }

    /// NtGetCurrentProcessorNumber(): always processor 0 (the value is returned as is).
    pub fn nt_get_current_processor_number(&mut self, _mem: &mut Memory) -> NtStatus {
        NtStatus(0)
    }
}
