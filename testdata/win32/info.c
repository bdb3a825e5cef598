/* Process, thread and system information as 32-bit code sees it. */
#include "nt.h"

typedef struct {
    NTSTATUS ExitStatus; PVOID TebBaseAddress; ULONG UniqueProcess, UniqueThread;
    ULONG_PTR AffinityMask; LONG Priority, BasePriority;
} THREAD_BASIC_INFORMATION;

int start(void) {
    PROCESS_BASIC_INFORMATION pbi; THREAD_BASIC_INFORMATION tbi; SYSTEM_BASIC_INFORMATION sbi;
    ULONG ret, wow; NTSTATUS st;

    st = NtQueryInformationProcess(NtCurrentProcess(), 0, &pbi, sizeof pbi, &ret);
    check(st == STATUS_SUCCESS && ret == 24, 1, "ProcessBasicInformation is 24 bytes", ret);
    check(pbi.PebBaseAddress == peb(), 2, "it reports the PEB32", (ULONG)pbi.PebBaseAddress);
    check(pbi.ExitStatus == 0x103 && pbi.UniqueProcessId != 0, 3, "still running (STATUS_PENDING), with a pid", pbi.ExitStatus);
    ret = 0;
    st = NtQueryInformationProcess(NtCurrentProcess(), 0, &pbi, 48, &ret);
    check(st == STATUS_INFO_LENGTH_MISMATCH && ret == 24, 4, "the 64-bit size is a length mismatch, ReturnLength 24", ret);
    st = NtQueryInformationProcess(NtCurrentProcess(), 26, &wow, 4, &ret);
    check(st == STATUS_SUCCESS && wow == (ULONG)peb(), 5, "ProcessWow64Information (4 bytes) is the PEB32", wow);
    st = NtQueryInformationProcess(NtCurrentProcess(), 26, &wow, 8, &ret);
    check(st == STATUS_INFO_LENGTH_MISMATCH && ret == 4, 6, "ProcessWow64Information needs length 4", ret);
    st = NtQueryInformationProcess((HANDLE)0xdeadbeef, 26, &wow, 4, &ret);
    check(st == STATUS_INVALID_HANDLE, 7, "a bad process handle", st);

    st = NtQueryInformationThread(NtCurrentThread(), 0, &tbi, sizeof tbi, &ret);
    check(st == STATUS_SUCCESS && ret == 28, 8, "ThreadBasicInformation is 28 bytes", ret);
    check(tbi.TebBaseAddress == teb() && tbi.UniqueProcess == pbi.UniqueProcessId, 9, "it reports the TEB32", (ULONG)tbi.TebBaseAddress);

    st = NtQuerySystemInformation(0, &sbi, 44, &ret);
    check(st == STATUS_SUCCESS && ret == 44, 10, "SystemBasicInformation is 44 bytes", ret);
    check(sbi.MaximumUserModeAddress == 0x7FFEFFFF && sbi.MinimumUserModeAddress == 0x10000, 11,
          "it reports the 32-bit limits", sbi.MaximumUserModeAddress);
    check(sbi.PageSize == 0x1000 && sbi.AllocationGranularity == 0x10000, 12, "page size and granularity", sbi.PageSize);
    {
        ULONG *t = teb(), *p = peb();
        check(t[0] != 0 && t[6] == (ULONG)t && t[12] == (ULONG)p, 13, "TEB32: ExceptionList, Self, Peb", t[6]);
        check(*(LONG *)((char *)t + 0xFDC) == -0x2000, 14, "TEB32.WowTebOffset = -0x2000", t[0xFDC / 4]);
        check(*(LONG *)((char *)t - 0x2000 + 0x180C) == 0x2000, 15, "TEB64.WowTebOffset = 0x2000", 0);
        check(p[0xA4 / 4] == 10 && (p[0xAC / 4] & 0xFFFF) == 19045, 16, "PEB32: Windows 10.0.19045", p[0xAC / 4]);
        check(*(ULONG *)0x7FFE026C == 10, 17, "KUSER_SHARED_DATA.NtMajorVersion", *(ULONG *)0x7FFE026C);
    }
    print("info: all checks passed\n");
    return 0;
}
