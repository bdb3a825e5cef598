/* A DLL: exports by name (Add), by ordinal only (Mul, ordinal 7), a forwarder to
   ntdll (Length -> ntdll.strlen); counts its DllMain attach calls and says when it is
   detached at process exit. */
#include "nt.h"

static ULONG attached;

int __stdcall DllMain(PVOID inst, ULONG reason, PVOID reserved) {
    (void)inst;
    if (reason == 1) attached++;
    if (reason == 0) print(reserved ? "adder: detached at process exit\n" : "adder: detached\n");
    return 1;
}

__declspec(dllexport) int __stdcall Add(int a, int b) { return a + b; }
int __stdcall Mul(int a, int b) { return a * b; }
__declspec(dllexport) ULONG __stdcall Attached(void) { return attached; }
__declspec(dllexport) void __stdcall Reverse(char *s) {
    ULONG n = str_len(s), i;
    for (i = 0; i < n / 2; i++) { char c = s[i]; s[i] = s[n - 1 - i]; s[n - 1 - i] = c; }
}
