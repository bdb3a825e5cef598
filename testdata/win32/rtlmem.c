/* The stdcall memory routines of ntdll (RtlMoveMemory, RtlFillMemory, RtlZeroMemory,
   RtlCompareMemory) as MSDN documents them, and RtlExitUserProcess. */
#include "nt.h"

NTIMPORT void NTAPI RtlMoveMemory(void *, const void *, SIZE_T);
NTIMPORT void NTAPI RtlFillMemory(void *, SIZE_T, UCHAR);
NTIMPORT void NTAPI RtlZeroMemory(void *, SIZE_T);
NTIMPORT SIZE_T NTAPI RtlCompareMemory(const void *, const void *, SIZE_T);
NTIMPORT void NTAPI RtlExitUserProcess(NTSTATUS);

static char buf[32];

int start(void) {
    ULONG i, ok;

    RtlFillMemory(buf, 16, 'x');
    for (ok = 1, i = 0; i < 16; i++) ok &= buf[i] == 'x';
    check(ok && buf[16] == 0, 1, "RtlFillMemory fills Length bytes with Fill", buf[16]);

    RtlZeroMemory(buf + 4, 8);
    for (ok = 1, i = 4; i < 12; i++) ok &= buf[i] == 0;
    check(ok && buf[3] == 'x' && buf[12] == 'x', 2, "RtlZeroMemory clears exactly Length bytes", buf[12]);

    for (i = 0; i < 16; i++) buf[i] = (char)('a' + i);
    RtlMoveMemory(buf + 2, buf, 10); /* overlapping, forwards */
    check(buf[2] == 'a' && buf[11] == 'j' && buf[12] == 'm', 3, "RtlMoveMemory copies overlapping ranges upwards", buf[11]);
    RtlMoveMemory(buf, buf + 2, 10); /* overlapping, backwards */
    check(buf[0] == 'a' && buf[9] == 'j' && buf[10] == 'i', 4, "RtlMoveMemory copies overlapping ranges downwards", buf[10]);

    check(RtlCompareMemory("abcdef", "abcxef", 6) == 3, 5, "RtlCompareMemory counts the equal leading bytes", RtlCompareMemory("abcdef", "abcxef", 6));
    check(RtlCompareMemory("abcdef", "abcdef", 6) == 6, 6, "RtlCompareMemory of equal ranges is Length", RtlCompareMemory("abcdef", "abcdef", 6));
    check(RtlCompareMemory("abcdef", "xbcdef", 0) == 0, 7, "RtlCompareMemory of no bytes is 0", 1);
    check(RtlCompareMemory("abcdef", "abcdeF", 6) == 5, 8, "RtlCompareMemory with only the last byte different", RtlCompareMemory("abcdef", "abcdeF", 6));

    print("exiting with 7 through RtlExitUserProcess\n");
    RtlExitUserProcess(7);
    print("FAIL: RtlExitUserProcess returned\n");
    return 99;
}
