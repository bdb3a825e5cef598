//! Events, mutants, semaphores and waits.
//!
//! The process has one thread, so a wait is decided at once: either the objects are
//! signaled now (and the wait's side effects happen as Windows applies them), or the
//! deterministic clock jumps to the timeout (`STATUS_TIMEOUT`), or, with no timeout, the
//! wait could never end and returns `STATUS_POSSIBLE_DEADLOCK` instead of hanging.

use x86wow_mmu::Memory;

use crate::object::{
    Body, Event, Mutant, ObjId, ObjectType, Semaphore, EVENT_MODIFY_STATE, EVENT_QUERY_STATE,
    MUTANT_QUERY_STATE, SEMAPHORE_MODIFY_STATE, SEMAPHORE_QUERY_STATE, SYNCHRONIZE,
};
use crate::status::{flat, NtResult, NtStatus};
use crate::time::Timeout;
use crate::user;
use crate::Kernel;

/// Most handles NtWaitForMultipleObjects takes (MAXIMUM_WAIT_OBJECTS).
pub const MAXIMUM_WAIT_OBJECTS: u64 = 64;

impl Kernel {
    /// NtCreateEvent(PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES, EVENT_TYPE, BOOLEAN InitialState).
    /// EVENT_TYPE: 0 = NotificationEvent (manual reset), 1 = SynchronizationEvent.
    pub fn nt_create_event(
        &mut self,
        mem: &mut Memory,
        handle_ptr: u64,
        access: u64,
        oa: u64,
        event_type: u64,
        initial: u64,
    ) -> NtStatus {
        let ty = event_type as u32;
        flat(self.create_named(mem, handle_ptr, access as u32, oa, || {
            if ty > 1 {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            Ok(Body::Event(Event { notification: ty == 0, signaled: initial as u8 != 0 }))
        }))
    }

    /// NtOpenEvent(PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES).
    pub fn nt_open_event(&mut self, mem: &mut Memory, handle_ptr: u64, access: u64, oa: u64) -> NtStatus {
        flat(self.open_named(mem, handle_ptr, access as u32, oa, ObjectType::Event))
    }

    fn event_mut(&mut self, handle: u64, need: u32) -> NtResult<&mut Event> {
        let (id, _) = self.ref_object(handle, ObjectType::Event, need)?;
        match self.ob.get_mut(id).map(|e| &mut e.body) {
            Some(Body::Event(e)) => Ok(e),
            _ => Err(NtStatus::INVALID_HANDLE),
        }
    }

    fn event_op(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        prev_ptr: u64,
        op: impl FnOnce(&mut Event),
    ) -> NtResult<NtStatus> {
        if prev_ptr != 0 {
            user::probe_write(mem, prev_ptr, 4)?;
        }
        let e = self.event_mut(handle, EVENT_MODIFY_STATE)?;
        let prev = e.signaled as u32;
        op(e);
        if prev_ptr != 0 {
            user::write_u32(mem, prev_ptr, prev)?;
        }
        Ok(NtStatus::SUCCESS)
    }

    /// NtSetEvent(HANDLE, PLONG PreviousState).
    pub fn nt_set_event(&mut self, mem: &mut Memory, handle: u64, prev: u64) -> NtStatus {
        flat(self.event_op(mem, handle, prev, |e| e.signaled = true))
    }

    /// NtResetEvent(HANDLE, PLONG PreviousState).
    pub fn nt_reset_event(&mut self, mem: &mut Memory, handle: u64, prev: u64) -> NtStatus {
        flat(self.event_op(mem, handle, prev, |e| e.signaled = false))
    }

    /// NtPulseEvent(HANDLE, PLONG PreviousState): releases the waiters (there are none
    /// besides the caller) and leaves the event reset.
    pub fn nt_pulse_event(&mut self, mem: &mut Memory, handle: u64, prev: u64) -> NtStatus {
        flat(self.event_op(mem, handle, prev, |e| e.signaled = false))
    }

    /// NtClearEvent(HANDLE).
    pub fn nt_clear_event(&mut self, mem: &mut Memory, handle: u64) -> NtStatus {
        flat(self.event_op(mem, handle, 0, |e| e.signaled = false))
    }

    /// NtQueryEvent(HANDLE, EVENT_INFORMATION_CLASS, PVOID, ULONG, PULONG):
    /// EventBasicInformation (0) = { EVENT_TYPE EventType; LONG EventState; }.
    pub fn nt_query_event(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        class: u64,
        buf: u64,
        len: u64,
        ret_len: u64,
    ) -> NtStatus {
        flat((|| {
            let e = *self.event_mut(handle, EVENT_QUERY_STATE)?;
            let mut b = user::Buf::new(8);
            b.u32(0, if e.notification { 0 } else { 1 }).u32(4, e.signaled as u32);
            self.write_info(mem, class, 0, buf, len as u32, ret_len, &b.0)
        })())
    }

    /// Writes a fixed-size information structure of class `want`: other classes are
    /// `STATUS_INVALID_INFO_CLASS`, a different length `STATUS_INFO_LENGTH_MISMATCH`.
    pub(crate) fn write_info(
        &mut self,
        mem: &mut Memory,
        class: u64,
        want: u64,
        buf: u64,
        len: u32,
        ret_len: u64,
        data: &[u8],
    ) -> NtResult<NtStatus> {
        if class != want {
            return Err(NtStatus::INVALID_INFO_CLASS);
        }
        if len as usize != data.len() {
            return Err(NtStatus::INFO_LENGTH_MISMATCH);
        }
        user::write_bytes(mem, buf, data)?;
        user::write_opt_u32(mem, ret_len, data.len() as u32)?;
        Ok(NtStatus::SUCCESS)
    }

    /// NtCreateMutant(PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES, BOOLEAN InitialOwner).
    pub fn nt_create_mutant(
        &mut self,
        mem: &mut Memory,
        handle_ptr: u64,
        access: u64,
        oa: u64,
        owner: u64,
    ) -> NtStatus {
        flat(self.create_named(mem, handle_ptr, access as u32, oa, || {
            Ok(Body::Mutant(Mutant { recursion: (owner as u8 != 0) as u32, abandoned: false }))
        }))
    }

    /// NtOpenMutant(PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES).
    pub fn nt_open_mutant(&mut self, mem: &mut Memory, handle_ptr: u64, access: u64, oa: u64) -> NtStatus {
        flat(self.open_named(mem, handle_ptr, access as u32, oa, ObjectType::Mutant))
    }

    /// NtReleaseMutant(HANDLE, PLONG PreviousCount): the previous count is the signal
    /// state (1 free, 0 owned once, -1 owned twice, ...);
    /// `STATUS_MUTANT_NOT_OWNED` if the thread does not own it.
    pub fn nt_release_mutant(&mut self, mem: &mut Memory, handle: u64, prev_ptr: u64) -> NtStatus {
        flat((|| {
            if prev_ptr != 0 {
                user::probe_write(mem, prev_ptr, 4)?;
            }
            let (id, _) = self.ref_object(handle, ObjectType::Mutant, 0)?;
            let Some(Body::Mutant(m)) = self.ob.get_mut(id).map(|e| &mut e.body) else {
                return Err(NtStatus::INVALID_HANDLE);
            };
            if m.recursion == 0 {
                return Err(NtStatus::MUTANT_NOT_OWNED);
            }
            let prev = 1 - m.recursion as i32;
            m.recursion -= 1;
            m.abandoned = false;
            if prev_ptr != 0 {
                user::write_u32(mem, prev_ptr, prev as u32)?;
            }
            Ok(NtStatus::SUCCESS)
        })())
    }

    /// NtQueryMutant(HANDLE, MUTANT_INFORMATION_CLASS, PVOID, ULONG, PULONG):
    /// MutantBasicInformation (0) = { LONG CurrentCount; BOOLEAN OwnedByCaller; BOOLEAN AbandonedState; }.
    pub fn nt_query_mutant(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        class: u64,
        buf: u64,
        len: u64,
        ret_len: u64,
    ) -> NtStatus {
        flat((|| {
            let (id, _) = self.ref_object(handle, ObjectType::Mutant, MUTANT_QUERY_STATE)?;
            let Some(Body::Mutant(m)) = self.ob.get(id).map(|e| &e.body) else {
                return Err(NtStatus::INVALID_HANDLE);
            };
            let mut b = user::Buf::new(8);
            b.u32(0, (1 - m.recursion as i32) as u32).u8(4, (m.recursion > 0) as u8).u8(5, m.abandoned as u8);
            self.write_info(mem, class, 0, buf, len as u32, ret_len, &b.0)
        })())
    }

    /// NtCreateSemaphore(PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES, LONG InitialCount, LONG MaximumCount).
    pub fn nt_create_semaphore(
        &mut self,
        mem: &mut Memory,
        handle_ptr: u64,
        access: u64,
        oa: u64,
        initial: u64,
        maximum: u64,
    ) -> NtStatus {
        let (initial, maximum) = (initial as u32 as i32, maximum as u32 as i32);
        flat(self.create_named(mem, handle_ptr, access as u32, oa, || {
            if maximum <= 0 || initial < 0 || initial > maximum {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            Ok(Body::Semaphore(Semaphore { count: initial, maximum }))
        }))
    }

    /// NtOpenSemaphore(PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES).
    pub fn nt_open_semaphore(&mut self, mem: &mut Memory, handle_ptr: u64, access: u64, oa: u64) -> NtStatus {
        flat(self.open_named(mem, handle_ptr, access as u32, oa, ObjectType::Semaphore))
    }

    /// NtReleaseSemaphore(HANDLE, LONG ReleaseCount, PLONG PreviousCount).
    pub fn nt_release_semaphore(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        count: u64,
        prev_ptr: u64,
    ) -> NtStatus {
        flat((|| {
            let count = count as u32 as i32;
            if count <= 0 {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            if prev_ptr != 0 {
                user::probe_write(mem, prev_ptr, 4)?;
            }
            let (id, _) = self.ref_object(handle, ObjectType::Semaphore, SEMAPHORE_MODIFY_STATE)?;
            let Some(Body::Semaphore(s)) = self.ob.get_mut(id).map(|e| &mut e.body) else {
                return Err(NtStatus::INVALID_HANDLE);
            };
            let prev = s.count;
            match prev.checked_add(count) {
                Some(n) if n <= s.maximum => s.count = n,
                _ => return Err(NtStatus::SEMAPHORE_LIMIT_EXCEEDED),
            }
            if prev_ptr != 0 {
                user::write_u32(mem, prev_ptr, prev as u32)?;
            }
            Ok(NtStatus::SUCCESS)
        })())
    }

    /// NtQuerySemaphore(HANDLE, SEMAPHORE_INFORMATION_CLASS, PVOID, ULONG, PULONG):
    /// SemaphoreBasicInformation (0) = { LONG CurrentCount; LONG MaximumCount; }.
    pub fn nt_query_semaphore(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        class: u64,
        buf: u64,
        len: u64,
        ret_len: u64,
    ) -> NtStatus {
        flat((|| {
            let (id, _) = self.ref_object(handle, ObjectType::Semaphore, SEMAPHORE_QUERY_STATE)?;
            let Some(Body::Semaphore(s)) = self.ob.get(id).map(|e| &e.body) else {
                return Err(NtStatus::INVALID_HANDLE);
            };
            let mut b = user::Buf::new(8);
            b.u32(0, s.count as u32).u32(4, s.maximum as u32);
            self.write_info(mem, class, 0, buf, len as u32, ret_len, &b.0)
        })())
    }

    /// Whether the object can satisfy a wait now (`None`: not waitable).
    fn signaled(&self, id: ObjId) -> Option<bool> {
        Some(match &self.ob.get(id)?.body {
            Body::Event(e) => e.signaled,
            // Only one thread: a mutant is free or already ours (recursive acquire).
            Body::Mutant(_) => true,
            Body::Semaphore(s) => s.count > 0,
            Body::Process | Body::Thread => self.process.exit_status.is_some(),
            Body::File(_) => true,
            Body::Section(_) | Body::Directory => return None,
        })
    }

    /// Applies the side effect of a satisfied wait; returns whether the mutant was abandoned.
    fn satisfy(&mut self, id: ObjId) -> bool {
        match self.ob.get_mut(id).map(|e| &mut e.body) {
            Some(Body::Event(e)) if !e.notification => e.signaled = false,
            Some(Body::Semaphore(s)) => s.count -= 1,
            Some(Body::Mutant(m)) => {
                m.recursion = m.recursion.saturating_add(1);
                return std::mem::take(&mut m.abandoned);
            }
            _ => {}
        }
        false
    }

    fn waitable(&self, handle: u64) -> NtResult<ObjId> {
        let he = self.ob.lookup(handle)?;
        if he.access & SYNCHRONIZE == 0 {
            return Err(NtStatus::ACCESS_DENIED);
        }
        match self.signaled(he.obj) {
            Some(_) => Ok(he.obj),
            None => Err(NtStatus::OBJECT_TYPE_MISMATCH),
        }
    }

    fn not_satisfied(&mut self, mem: &mut Memory, timeout: Timeout) -> NtResult<NtStatus> {
        match timeout {
            Timeout::Infinite => Err(NtStatus::POSSIBLE_DEADLOCK),
            Timeout::After(t) => {
                self.advance_time(mem, t);
                Ok(NtStatus::TIMEOUT)
            }
        }
    }

    /// NtWaitForSingleObject(HANDLE, BOOLEAN Alertable, PLARGE_INTEGER Timeout).
    pub fn nt_wait_for_single_object(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        _alertable: u64,
        timeout: u64,
    ) -> NtStatus {
        flat((|| {
            let id = self.waitable(handle)?;
            let timeout = self.read_timeout(mem, timeout)?;
            if self.signaled(id) == Some(true) {
                if matches!(self.ob.get(id).map(|e| &e.body), Some(Body::Mutant(m)) if m.recursion == u32::MAX)
                {
                    return Err(NtStatus::MUTANT_LIMIT_EXCEEDED);
                }
                let abandoned = self.satisfy(id);
                return Ok(if abandoned { NtStatus::ABANDONED_WAIT_0 } else { NtStatus::WAIT_0 });
            }
            self.not_satisfied(mem, timeout)
        })())
    }

    /// NtWaitForMultipleObjects(ULONG Count, PHANDLE Handles (64-bit handles),
    /// WAIT_TYPE (0 WaitAll, 1 WaitAny), BOOLEAN Alertable, PLARGE_INTEGER Timeout).
    pub fn nt_wait_for_multiple_objects(
        &mut self,
        mem: &mut Memory,
        count: u64,
        handles: u64,
        wait_type: u64,
        _alertable: u64,
        timeout: u64,
    ) -> NtStatus {
        flat((|| {
            let count = count as u32 as u64;
            if count == 0 || count > MAXIMUM_WAIT_OBJECTS {
                return Err(NtStatus::INVALID_PARAMETER_1);
            }
            let wait_type = wait_type as u32;
            if wait_type > 1 {
                return Err(NtStatus::INVALID_PARAMETER_3);
            }
            let raw = user::read_bytes(mem, handles, (count * 8) as usize)?;
            let mut ids = Vec::new();
            for c in raw.chunks_exact(8) {
                let h = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
                ids.push(self.waitable(h)?);
            }
            let timeout = self.read_timeout(mem, timeout)?;
            if wait_type == 0 {
                for (i, id) in ids.iter().enumerate() {
                    if ids[..i].contains(id) {
                        return Err(NtStatus::INVALID_PARAMETER_MIX);
                    }
                }
                if ids.iter().all(|&id| self.signaled(id) == Some(true)) {
                    let mut abandoned = false;
                    for &id in &ids {
                        abandoned |= self.satisfy(id);
                    }
                    return Ok(if abandoned { NtStatus::ABANDONED_WAIT_0 } else { NtStatus::WAIT_0 });
                }
            } else if let Some(i) = ids.iter().position(|&id| self.signaled(id) == Some(true)) {
                let abandoned = self.satisfy(ids[i]);
                let base = if abandoned { NtStatus::ABANDONED_WAIT_0.0 } else { 0 };
                return Ok(NtStatus(base + i as u32));
            }
            self.not_satisfied(mem, timeout)
        })())
    }

    /// NtSignalAndWaitForSingleObject(HANDLE Signal, HANDLE Wait, BOOLEAN, PLARGE_INTEGER).
    pub fn nt_signal_and_wait_for_single_object(
        &mut self,
        mem: &mut Memory,
        signal: u64,
        wait: u64,
        alertable: u64,
        timeout: u64,
    ) -> NtStatus {
        let he = match self.ob.lookup(signal) {
            Ok(h) => h,
            Err(e) => return e,
        };
        let st = match self.ob.get(he.obj).map(|e| e.body.object_type()) {
            Some(ObjectType::Event) => self.nt_set_event(mem, signal, 0),
            Some(ObjectType::Mutant) => self.nt_release_mutant(mem, signal, 0),
            Some(ObjectType::Semaphore) => self.nt_release_semaphore(mem, signal, 1, 0),
            _ => NtStatus::OBJECT_TYPE_MISMATCH,
        };
        if !st.is_success() {
            return st;
        }
        self.nt_wait_for_single_object(mem, wait, alertable, timeout)
    }
}
