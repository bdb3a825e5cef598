/* The memory-footprint workload: commits 100 MiB, writes every page, reads them all
   back. x86wow's host memory for it is measured by tests/memory_footprint.rs and
   reported by `x86wow bench`. */
#include "nt.h"

#define SIZE (100u << 20)

int start(void) {
    PVOID base = NULL;
    SIZE_T size = SIZE;
    NTSTATUS st = NtAllocateVirtualMemory(NtCurrentProcess(), &base, 0, &size, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);
    check(st == STATUS_SUCCESS && size == SIZE, 1, "100 MiB committed", st);
    if (st != STATUS_SUCCESS) return 1;
    volatile ULONG *p = base;
    for (ULONG i = 0; i < SIZE / 4096; i++) p[i * 1024 + (i & 1023)] = i * 2654435761u;
    ULONG bad = 0;
    for (ULONG i = 0; i < SIZE / 4096; i++) bad += p[i * 1024 + (i & 1023)] != i * 2654435761u;
    check(bad == 0, 2, "every page reads back what was written", bad);
    print("100 MiB committed, 25600 pages written and read back\n");
    return failures_seen;
}
