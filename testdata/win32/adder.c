/* A DLL: exports by name (Add), by ordinal only (Mul, ordinal 7), a forwarder to
   ntdll (Length -> ntdll.strlen), and counts its DllMain calls. */
#include "nt.h"

static ULONG attached;

int __stdcall DllMain(PVOID inst, ULONG reason, PVOID reserved) {
    (void)inst; (void)reserved;
    if (reason == 1) attached++;
    return 1;
}

__declspec(dllexport) int __stdcall Add(int a, int b) { return a + b; }
int __stdcall Mul(int a, int b) { return a * b; }
__declspec(dllexport) ULONG __stdcall Attached(void) { return attached; }
__declspec(dllexport) void __stdcall Reverse(char *s) {
    ULONG n = str_len(s), i;
    for (i = 0; i < n / 2; i++) { char c = s[i]; s[i] = s[n - 1 - i]; s[n - 1 - i] = c; }
}
