/* Imports from adder.dll by name, by ordinal, and through a forwarder. */
#include "nt.h"

NTIMPORT int NTAPI Add(int, int);
NTIMPORT ULONG NTAPI Attached(void);
NTIMPORT int NTAPI Mul(int, int);
NTIMPORT ULONG __cdecl Length(const char *);

int start(void) {
    check(Add(2, 40) == 42, 1, "Add(2, 40) = 42 (import by name)", Add(2, 40));
    check(Mul(6, 7) == 42, 2, "Mul(6, 7) = 42 (import by ordinal)", Mul(6, 7));
    check(Length("forward") == 7, 3, "Length -> ntdll.strlen (forwarder)", Length("forward"));
    check(Attached() == 1, 4, "DllMain ran once before the entry point", Attached());
    print("useadder: all checks passed\n");
    return 0;
}
