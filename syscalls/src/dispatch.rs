//! Dispatch by service name.

use x86wow_mmu::Memory;

use crate::status::NtStatus;
use crate::Kernel;

/// One implemented service: its NT name, its argument count (64-bit arguments, as the
/// 64-bit ntdll passes them) and the method that implements it.
pub struct Service {
    pub name: &'static str,
    pub args: usize,
    pub call: fn(&mut Kernel, &mut Memory, &[u64]) -> NtStatus,
}

macro_rules! services {
    ($($name:literal => $method:ident($($i:literal),*);)*) => {
        /// Every service the kernel implements, in alphabetical order.
        pub static SERVICES: &[Service] = &[
            $(Service {
                name: $name,
                args: { let a: &[usize] = &[$($i),*]; a.len() },
                call: |k, m, a| {
                    let _ = &a;
                    k.$method(m, $(a[$i]),*)
                },
            },)*
        ];
    };
}

services! {
    "NtAllocateVirtualMemory" => nt_allocate_virtual_memory(0, 1, 2, 3, 4, 5);
    "NtClearEvent" => nt_clear_event(0);
    "NtClose" => nt_close(0);
    "NtCreateDirectoryObject" => nt_create_directory_object(0, 1, 2);
    "NtCreateEvent" => nt_create_event(0, 1, 2, 3, 4);
    "NtCreateFile" => nt_create_file(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
    "NtCreateMutant" => nt_create_mutant(0, 1, 2, 3);
    "NtCreateSection" => nt_create_section(0, 1, 2, 3, 4, 5, 6);
    "NtCreateSemaphore" => nt_create_semaphore(0, 1, 2, 3, 4);
    "NtDelayExecution" => nt_delay_execution(0, 1);
    "NtDeleteFile" => nt_delete_file(0);
    "NtDuplicateObject" => nt_duplicate_object(0, 1, 2, 3, 4, 5, 6);
    "NtFlushBuffersFile" => nt_flush_buffers_file(0, 1);
    "NtFlushInstructionCache" => nt_flush_instruction_cache(0, 1, 2);
    "NtFlushVirtualMemory" => nt_flush_virtual_memory(0, 1, 2, 3);
    "NtFreeVirtualMemory" => nt_free_virtual_memory(0, 1, 2, 3);
    "NtGetCurrentProcessorNumber" => nt_get_current_processor_number();
    "NtMapViewOfSection" => nt_map_view_of_section(0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
    "NtOpenDirectoryObject" => nt_open_directory_object(0, 1, 2);
    "NtOpenEvent" => nt_open_event(0, 1, 2);
    "NtOpenFile" => nt_open_file(0, 1, 2, 3, 4, 5);
    "NtOpenMutant" => nt_open_mutant(0, 1, 2);
    "NtOpenProcess" => nt_open_process(0, 1, 2, 3);
    "NtOpenSection" => nt_open_section(0, 1, 2);
    "NtOpenSemaphore" => nt_open_semaphore(0, 1, 2);
    "NtOpenThread" => nt_open_thread(0, 1, 2, 3);
    "NtProtectVirtualMemory" => nt_protect_virtual_memory(0, 1, 2, 3, 4);
    "NtPulseEvent" => nt_pulse_event(0, 1);
    "NtQueryAttributesFile" => nt_query_attributes_file(0, 1);
    "NtQueryDefaultLocale" => nt_query_default_locale(0, 1);
    "NtQueryDefaultUILanguage" => nt_query_default_ui_language(0);
    "NtQueryDirectoryFile" => nt_query_directory_file(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
    "NtQueryEvent" => nt_query_event(0, 1, 2, 3, 4);
    "NtQueryFullAttributesFile" => nt_query_full_attributes_file(0, 1);
    "NtQueryInformationFile" => nt_query_information_file(0, 1, 2, 3, 4);
    "NtQueryInformationProcess" => nt_query_information_process(0, 1, 2, 3, 4);
    "NtQueryInformationThread" => nt_query_information_thread(0, 1, 2, 3, 4);
    "NtQueryInstallUILanguage" => nt_query_install_ui_language(0);
    "NtQueryMutant" => nt_query_mutant(0, 1, 2, 3, 4);
    "NtQueryObject" => nt_query_object(0, 1, 2, 3, 4);
    "NtQueryPerformanceCounter" => nt_query_performance_counter(0, 1);
    "NtQuerySection" => nt_query_section(0, 1, 2, 3, 4);
    "NtQuerySemaphore" => nt_query_semaphore(0, 1, 2, 3, 4);
    "NtQuerySystemInformation" => nt_query_system_information(0, 1, 2, 3);
    "NtQuerySystemTime" => nt_query_system_time(0);
    "NtQueryTimerResolution" => nt_query_timer_resolution(0, 1, 2);
    "NtQueryVirtualMemory" => nt_query_virtual_memory(0, 1, 2, 3, 4, 5);
    "NtQueryVolumeInformationFile" => nt_query_volume_information_file(0, 1, 2, 3, 4);
    "NtReadFile" => nt_read_file(0, 1, 2, 3, 4, 5, 6, 7, 8);
    "NtReleaseMutant" => nt_release_mutant(0, 1);
    "NtReleaseSemaphore" => nt_release_semaphore(0, 1, 2);
    "NtResetEvent" => nt_reset_event(0, 1);
    "NtSetEvent" => nt_set_event(0, 1);
    "NtSetInformationFile" => nt_set_information_file(0, 1, 2, 3, 4);
    "NtSetInformationObject" => nt_set_information_object(0, 1, 2, 3);
    "NtSetInformationProcess" => nt_set_information_process(0, 1, 2, 3);
    "NtSetInformationThread" => nt_set_information_thread(0, 1, 2, 3);
    "NtSetTimerResolution" => nt_set_timer_resolution(0, 1, 2);
    "NtSignalAndWaitForSingleObject" => nt_signal_and_wait_for_single_object(0, 1, 2, 3);
    "NtTerminateProcess" => nt_terminate_process(0, 1);
    "NtTerminateThread" => nt_terminate_thread(0, 1);
    "NtUnmapViewOfSection" => nt_unmap_view_of_section(0, 1);
    "NtUnmapViewOfSectionEx" => nt_unmap_view_of_section_ex(0, 1, 2);
    "NtWaitForMultipleObjects" => nt_wait_for_multiple_objects(0, 1, 2, 3, 4);
    "NtWaitForSingleObject" => nt_wait_for_single_object(0, 1, 2);
    "NtWriteFile" => nt_write_file(0, 1, 2, 3, 4, 5, 6, 7, 8);
    "NtYieldExecution" => nt_yield_execution();
}

/// The argument count of an implemented service.
pub fn service_arg_count(name: &str) -> Option<usize> {
    find(name).map(|s| s.args)
}

fn find(name: &str) -> Option<&'static Service> {
    SERVICES.binary_search_by(|s| s.name.cmp(name)).ok().map(|i| &SERVICES[i])
}

impl Kernel {
    /// Calls a service by its NT name (`"NtClose"`; the `Zw` spelling is accepted too).
    /// An unknown or unimplemented service is `STATUS_NOT_IMPLEMENTED` (and a note);
    /// fewer arguments than the service takes is `STATUS_INVALID_PARAMETER` (extra ones
    /// are ignored).
    pub fn call(&mut self, mem: &mut Memory, name: &str, args: &[u64]) -> NtStatus {
        let canonical;
        let name = match name.strip_prefix("Zw") {
            Some(rest) => {
                canonical = format!("Nt{rest}");
                canonical.as_str()
            }
            None => name,
        };
        match find(name) {
            Some(s) if args.len() >= s.args => (s.call)(self, mem, args),
            Some(_) => NtStatus::INVALID_PARAMETER,
            None => {
                self.note(format!("{name}: not implemented"));
                NtStatus::NOT_IMPLEMENTED
            }
        }
    }
}
