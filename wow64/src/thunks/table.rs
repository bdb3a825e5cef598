//! The thunk table: every service the guest ntdll exports, with its 32-bit argument
//! kinds. The guest ntdll's stubs are generated from this table (service id = index);
//! the argument slot count (the stub's `ret n`) follows from the kinds.

use super::info;
use super::Arg::{self, *};
use super::Kind::{self, *};

/// One service.
pub struct Thunk {
    pub name: &'static str,
    pub args: &'static [Arg],
    pub kind: Kind,
}

impl Thunk {
    /// Argument slots (4 bytes each) the 32-bit caller pushes.
    pub fn slots(&self) -> usize {
        self.args.iter().map(|a| a.slots()).sum()
    }
}

macro_rules! thunks {
    ($($name:literal [$($arg:expr),*] $kind:expr;)*) => {
        /// Every service, sorted by name.
        pub static THUNKS: &[Thunk] = &[
            $(Thunk { name: $name, args: &[$($arg),*], kind: $kind },)*
        ];
    };
}

const U: Arg = Ulong;
const P: Arg = Ptr;
const H: Arg = Handle;

thunks! {
    "NtAlertThread" [H] NotImplemented;
    "NtAllocateVirtualMemory" [H, SizeInOut, ZeroBits, SizeInOut, U, U] Custom(info::allocate_virtual_memory);
    "NtClearEvent" [H] Generic;
    "NtClose" [H] Generic;
    "NtContinue" [P, U] Cpu;
    "NtCreateDirectoryObject" [HandleOut, U, ObjAttr] Generic;
    "NtCreateEvent" [HandleOut, U, ObjAttr, U, U] Generic;
    "NtCreateFile" [HandleOut, U, ObjAttr, Iosb, P, U, U, U, U, P, U] Generic;
    "NtCreateKey" [HandleOut, U, ObjAttr, U, UniStr, U, P] NotImplemented;
    "NtCreateMutant" [HandleOut, U, ObjAttr, U] Generic;
    "NtCreateSection" [HandleOut, U, ObjAttr, P, U, U, H] Generic;
    "NtCreateSemaphore" [HandleOut, U, ObjAttr, Long, Long] Generic;
    "NtCreateThreadEx" [HandleOut, U, ObjAttr, H, P, P, U, UlongPtr, UlongPtr, UlongPtr, P] NotImplemented;
    "NtDelayExecution" [U, P] Generic;
    "NtDeleteFile" [ObjAttr] Generic;
    "NtDuplicateObject" [H, H, H, HandleOut, U, U, U] Generic;
    "NtEnumerateKey" [H, U, U, P, U, P] NotImplemented;
    "NtFlushBuffersFile" [H, Iosb] Generic;
    "NtFlushInstructionCache" [H, P, UlongPtr] Generic;
    "NtFlushVirtualMemory" [H, SizeInOut, SizeInOut, Iosb] Generic;
    "NtFreeVirtualMemory" [H, SizeInOut, SizeInOut, U] Generic;
    "NtGetContextThread" [H, P] Cpu;
    "NtGetCurrentProcessorNumber" [] Generic;
    "NtMapViewOfSection" [H, H, SizeInOut, ZeroBits, UlongPtr, P, SizeInOut, U, U, U] Generic;
    "NtOpenDirectoryObject" [HandleOut, U, ObjAttr] Generic;
    "NtOpenEvent" [HandleOut, U, ObjAttr] Generic;
    "NtOpenFile" [HandleOut, U, ObjAttr, Iosb, U, U] Generic;
    "NtOpenKey" [HandleOut, U, ObjAttr] NotImplemented;
    "NtOpenKeyEx" [HandleOut, U, ObjAttr, U] NotImplemented;
    "NtOpenMutant" [HandleOut, U, ObjAttr] Generic;
    "NtOpenProcess" [HandleOut, U, ObjAttr, ClientId] Generic;
    "NtOpenProcessToken" [H, U, HandleOut] NotImplemented;
    "NtOpenSection" [HandleOut, U, ObjAttr] Generic;
    "NtOpenSemaphore" [HandleOut, U, ObjAttr] Generic;
    "NtOpenThread" [HandleOut, U, ObjAttr, ClientId] Generic;
    "NtOpenThreadToken" [H, U, U, HandleOut] NotImplemented;
    "NtProtectVirtualMemory" [H, SizeInOut, SizeInOut, U, P] Generic;
    "NtPulseEvent" [H, P] Generic;
    "NtQueryAttributesFile" [ObjAttr, P] Generic;
    "NtQueryDefaultLocale" [U, P] Generic;
    "NtQueryDefaultUILanguage" [P] Generic;
    "NtQueryDirectoryFile" [H, H, P, P, Iosb, P, U, U, U, UniStr, U] Generic;
    "NtQueryEvent" [H, U, P, U, P] Generic;
    "NtQueryFullAttributesFile" [ObjAttr, P] Generic;
    "NtQueryInformationFile" [H, Iosb, P, U, U] Generic;
    "NtQueryInformationProcess" [H, U, P, U, P] Custom(info::query_information_process);
    "NtQueryInformationThread" [H, U, P, U, P] Custom(info::query_information_thread);
    "NtQueryInformationToken" [H, U, P, U, P] NotImplemented;
    "NtQueryInstallUILanguage" [P] Generic;
    "NtQueryKey" [H, U, P, U, P] NotImplemented;
    "NtQueryMutant" [H, U, P, U, P] Generic;
    "NtQueryObject" [H, U, P, U, P] Custom(info::query_object);
    "NtQueryPerformanceCounter" [P, P] Generic;
    "NtQuerySection" [H, U, P, UlongPtr, SizeInOut] Custom(info::query_section);
    "NtQuerySemaphore" [H, U, P, U, P] Generic;
    "NtQuerySystemInformation" [U, P, U, P] Custom(info::query_system_information);
    "NtQuerySystemTime" [P] Generic;
    "NtQueryTimerResolution" [P, P, P] Generic;
    "NtQueryValueKey" [H, UniStr, U, P, U, P] NotImplemented;
    "NtQueryVirtualMemory" [H, P, U, P, UlongPtr, SizeInOut] Custom(info::query_virtual_memory);
    "NtQueryVolumeInformationFile" [H, Iosb, P, U, U] Generic;
    "NtRaiseException" [P, P, U] Cpu;
    "NtRaiseHardError" [U, U, U, P, U, P] NotImplemented;
    "NtReadFile" [H, H, P, P, Iosb, P, U, P, P] Generic;
    "NtReleaseMutant" [H, P] Generic;
    "NtReleaseSemaphore" [H, Long, P] Generic;
    "NtResetEvent" [H, P] Generic;
    "NtSetContextThread" [H, P] Cpu;
    "NtSetEvent" [H, P] Generic;
    "NtSetInformationFile" [H, Iosb, P, U, U] Custom(info::set_information_file);
    "NtSetInformationObject" [H, U, P, U] Generic;
    "NtSetInformationProcess" [H, U, P, U] Custom(info::set_information_process);
    "NtSetInformationThread" [H, U, P, U] Custom(info::set_information_thread);
    "NtSetTimerResolution" [U, U, P] Generic;
    "NtSetValueKey" [H, UniStr, U, U, P, U] NotImplemented;
    "NtSignalAndWaitForSingleObject" [H, H, U, P] Generic;
    "NtTerminateProcess" [H, U] Cpu;
    "NtTerminateThread" [H, U] Cpu;
    "NtTestAlert" [] Cpu;
    "NtUnmapViewOfSection" [H, P] Generic;
    "NtUnmapViewOfSectionEx" [H, P, U] Generic;
    "NtWaitForMultipleObjects" [U, HandleArray(0), U, U, P] Generic;
    "NtWaitForSingleObject" [H, U, P] Generic;
    "NtWriteFile" [H, H, P, P, Iosb, P, U, P, P] Generic;
    "NtYieldExecution" [] Generic;
}

/// The table entry of a service by name (`Zw` spellings accepted).
pub fn find(name: &str) -> Option<&'static Thunk> {
    let owned;
    let name = match name.strip_prefix("Zw") {
        Some(rest) => {
            owned = format!("Nt{rest}");
            owned.as_str()
        }
        None => name,
    };
    THUNKS.binary_search_by(|t| t.name.cmp(name)).ok().map(|i| &THUNKS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for w in THUNKS.windows(2) {
            assert!(w[0].name < w[1].name, "{} / {}", w[0].name, w[1].name);
        }
    }

    #[test]
    fn generic_thunks_name_kernel_services_with_matching_arity() {
        for t in THUNKS {
            if matches!(t.kind, Kind::Generic) {
                let n = x86wow_syscalls::service_arg_count(t.name)
                    .unwrap_or_else(|| panic!("{} is not a kernel service", t.name));
                assert_eq!(n, t.args.len(), "{}", t.name);
            }
        }
    }
}
