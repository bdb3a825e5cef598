/* Virtual memory as 32-bit code sees it: rounding, conflicts, ZeroBits, the 32-bit
   limit, MEMORY_BASIC_INFORMATION32, guard pages and access violations caught by a
   hand-registered SEH handler. */
#include "nt.h"

static volatile ULONG last_code, last_info0, last_info1, handled;

/* Records the exception and skips the faulting 2-byte or 3-byte move (the handler is
   told how long it is through `skip`). */
static volatile ULONG skip;
static int __cdecl handler(EXCEPTION_RECORD *rec, SEH_FRAME *frame, CONTEXT *ctx, PVOID dc) {
    (void)frame; (void)dc;
    last_code = rec->ExceptionCode;
    last_info0 = rec->NumberParameters >= 2 ? rec->ExceptionInformation[0] : 0xffffffff;
    last_info1 = rec->NumberParameters >= 2 ? rec->ExceptionInformation[1] : 0xffffffff;
    handled++;
    ctx->Eip += skip;
    return EXCEPTION_CONTINUE_EXECUTION;
}

/* Reads *p with a known 2-byte instruction (mov eax, [ecx]). */
static ULONG probe_read(volatile ULONG *p) {
    ULONG v;
    skip = 2;
    __asm__ volatile("xorl %%eax, %%eax\n\tmovl (%%ecx), %%eax" : "=a"(v) : "c"(p) : "memory");
    return v;
}

/* Writes *p with a known 2-byte instruction (mov [ecx], eax). */
static void probe_write(volatile ULONG *p, ULONG v) {
    skip = 2;
    __asm__ volatile("movl %%eax, (%%ecx)" : : "a"(v), "c"(p) : "memory");
}

int start(void) {
    NTSTATUS st; PVOID base; SIZE_T size; MEMORY_BASIC_INFORMATION mbi; SIZE_T ret; ULONG old;
    SEH_FRAME frame;

    base = NULL; size = 0x2345;
    st = NtAllocateVirtualMemory(NtCurrentProcess(), &base, 0, &size, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);
    check(st == STATUS_SUCCESS && size == 0x3000, 1, "a size of 0x2345 commits 0x3000", size);
    check(((ULONG)base & 0xFFFF) == 0 && (ULONG)base < 0x7FFF0000, 2, "the base is 64 KiB aligned, under 2 GiB", (ULONG)base);
    {
        PVOID b2 = base; SIZE_T s2 = 0x1000;
        st = NtAllocateVirtualMemory(NtCurrentProcess(), &b2, 0, &s2, MEM_RESERVE, PAGE_READWRITE);
        check(st == STATUS_CONFLICTING_ADDRESSES, 3, "reserving over it: STATUS_CONFLICTING_ADDRESSES", st);
        b2 = NULL; s2 = 0;
        st = NtAllocateVirtualMemory(NtCurrentProcess(), &b2, 0, &s2, MEM_COMMIT, PAGE_READWRITE);
        check(st == STATUS_INVALID_PARAMETER_4, 4, "size 0: STATUS_INVALID_PARAMETER_4", st);
        b2 = NULL; s2 = 0x1000;
        st = NtAllocateVirtualMemory(NtCurrentProcess(), &b2, 22, &s2, MEM_COMMIT, PAGE_READWRITE);
        check(st == STATUS_INVALID_PARAMETER_3, 5, "ZeroBits 22: STATUS_INVALID_PARAMETER_3", st);
        b2 = NULL; s2 = 0x1000;
        st = NtAllocateVirtualMemory(NtCurrentProcess(), &b2, 8, &s2, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);
        check(st == STATUS_SUCCESS && (ULONG)b2 < 0x1000000, 6, "ZeroBits 8 keeps the base under 16 MiB", (ULONG)b2);
        b2 = NULL; s2 = 0x10000;
        st = NtAllocateVirtualMemory(NtCurrentProcess(), &b2, 0, &s2, MEM_RESERVE | 0x100000 /* TOP_DOWN */, PAGE_READWRITE);
        check(st == STATUS_SUCCESS && (ULONG)b2 < 0x7FFF0000 && (ULONG)b2 > 0x70000000, 7, "top-down allocation stays under 0x7FFEFFFF", (ULONG)b2);
        b2 = (PVOID)0x90000000; s2 = 0x1000;
        st = NtAllocateVirtualMemory(NtCurrentProcess(), &b2, 0, &s2, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);
        check(st != STATUS_SUCCESS, 8, "no allocation at 0x90000000 without LARGE_ADDRESS_AWARE", st);
    }

    ret = 0xdead;
    st = NtQueryVirtualMemory(NtCurrentProcess(), base, 0, &mbi, sizeof mbi, &ret);
    check(st == STATUS_SUCCESS && ret == 28, 9, "MEMORY_BASIC_INFORMATION32 is 28 bytes", ret);
    check(mbi.BaseAddress == base && mbi.RegionSize == 0x3000 && mbi.State == MEM_COMMIT && mbi.Type == MEM_PRIVATE
              && mbi.Protect == PAGE_READWRITE, 10, "the region is committed private read-write", mbi.RegionSize);
    st = NtQueryVirtualMemory(NtCurrentProcess(), base, 0, &mbi, 27, &ret);
    check(st == STATUS_INFO_LENGTH_MISMATCH, 11, "a 27-byte buffer: STATUS_INFO_LENGTH_MISMATCH", st);
    st = NtQueryVirtualMemory(NtCurrentProcess(), (PVOID)0x80000000, 0, &mbi, sizeof mbi, &ret);
    check(st == STATUS_INVALID_PARAMETER, 12, "past the highest user address: STATUS_INVALID_PARAMETER", st);
    st = NtQueryVirtualMemory(NtCurrentProcess(), (PVOID)0x7FFEF000, 0, &mbi, sizeof mbi, &ret);
    check(st == STATUS_SUCCESS && (ULONG)mbi.BaseAddress + mbi.RegionSize <= 0x7FFF0000, 13, "the region size is clipped at the limit", mbi.RegionSize);
    st = NtQueryVirtualMemory(NtCurrentProcess(), (PVOID)0x00400000, 0, &mbi, sizeof mbi, &ret);
    check(st == STATUS_SUCCESS && mbi.Type == MEM_IMAGE, 14, "the program is MEM_IMAGE", mbi.Type);

    frame.Handler = handler;
    seh_push(&frame);

    handled = 0;
    probe_write((ULONG *)0x10, 1);
    check(handled == 1 && last_code == STATUS_ACCESS_VIOLATION && last_info0 == 1 && last_info1 == 0x10, 15,
          "a write to 0x10 is caught: ACCESS_VIOLATION, write, address 0x10", last_code);
    {
        PVOID p = base; SIZE_T s = 0x1000;
        st = NtProtectVirtualMemory(NtCurrentProcess(), &p, &s, PAGE_READONLY, &old);
        check(st == STATUS_SUCCESS && old == PAGE_READWRITE, 16, "protect the first page read-only", st);
        probe_write((ULONG *)base, 7);
        check(handled == 2 && last_code == STATUS_ACCESS_VIOLATION && last_info0 == 1 && last_info1 == (ULONG)base, 17,
              "writing it is an access violation", last_info1);
        check(probe_read((ULONG *)base) == 0, 18, "reading it is fine", handled);

        p = (char *)base + 0x1000; s = 0x1000;
        st = NtProtectVirtualMemory(NtCurrentProcess(), &p, &s, PAGE_READWRITE | PAGE_GUARD, &old);
        check(st == STATUS_SUCCESS, 19, "make the second page a guard page", st);
        probe_read((ULONG *)((char *)base + 0x1000));
        check(handled == 3 && last_code == STATUS_GUARD_PAGE_VIOLATION && last_info0 == 0, 20, "touching it: STATUS_GUARD_PAGE_VIOLATION", last_code);
        probe_write((ULONG *)((char *)base + 0x1000), 5);
        check(handled == 3 && probe_read((ULONG *)((char *)base + 0x1000)) == 5, 21, "the second touch succeeds", handled);
        st = NtQueryVirtualMemory(NtCurrentProcess(), p, 0, &mbi, sizeof mbi, &ret);
        check(st == STATUS_SUCCESS && mbi.Protect == PAGE_READWRITE, 22, "and the guard flag is gone", mbi.Protect);
    }
    seh_pop(&frame);

    size = 0;
    st = NtFreeVirtualMemory(NtCurrentProcess(), &base, &size, MEM_RELEASE);
    check(st == STATUS_SUCCESS && size == 0x3000, 23, "release the allocation", size);
    st = NtQueryVirtualMemory(NtCurrentProcess(), base, 0, &mbi, sizeof mbi, &ret);
    check(st == STATUS_SUCCESS && mbi.State == MEM_FREE, 24, "the range is free again", mbi.State);
    print("memory: all checks passed\n");
    return 0;
}
