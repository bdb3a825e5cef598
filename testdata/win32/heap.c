/* The process heap of the guest ntdll (PEB.ProcessHeap) and a private heap. */
#include "nt.h"

int start(void) {
    PVOID heap = *(PVOID *)((char *)peb() + 0x18);
    char *p, *q; ULONG i, zero = 1;

    check(heap != NULL, 1, "PEB.ProcessHeap is set", 0);
    p = RtlAllocateHeap(heap, 8 /* HEAP_ZERO_MEMORY */, 100);
    check(p != NULL && ((ULONG)p & 7) == 0, 2, "allocate 100 bytes, 8-byte aligned", (ULONG)p);
    for (i = 0; i < 100; i++) zero &= p[i] == 0;
    check(zero, 3, "zeroed", 0);
    check(RtlSizeHeap(heap, 0, p) == 100, 4, "RtlSizeHeap says 100", RtlSizeHeap(heap, 0, p));
    for (i = 0; i < 100; i++) p[i] = (char)i;
    q = RtlReAllocateHeap(heap, 0, p, 5000);
    check(q != NULL && q[99] == 99 && q[4999] == 0, 5, "reallocate to 5000 keeps the contents", (ULONG)q);
    check(RtlFreeHeap(heap, 0, q), 6, "free", 0);
    check(RtlAllocateHeap(heap, 0, 0x7FFFFFFF) == NULL, 7, "an impossible size gives NULL", 0);
    {
        PVOID h2 = RtlCreateHeap(2, NULL, 0x10000, 0, NULL, NULL);
        char *r = RtlAllocateHeap(h2, 0, 0x8000);
        check(h2 != NULL && r != NULL, 8, "a private 64 KiB heap", (ULONG)h2);
        check(RtlAllocateHeap(h2, 0, 0x8000) == NULL, 9, "runs out after 64 KiB", 0);
    }
    print("heap: all checks passed\n");
    return 0;
}
