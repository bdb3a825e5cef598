/* The process parameters: image path, command line and current directory from the
   PEB, printed as ASCII. */
#include "nt.h"

static void print_us(const char *label, UNICODE_STRING *s) {
    char b[256]; ULONG i, n = s->Length / 2;
    if (n > 255) n = 255;
    for (i = 0; i < n; i++) b[i] = (char)s->Buffer[i];
    b[n] = 0;
    print(label); print(b); print("\n");
}

int start(void) {
    char *params = *(char **)((char *)peb() + 0x10);
    print_us("image: ", (UNICODE_STRING *)(params + 0x38));
    print_us("command line: ", (UNICODE_STRING *)(params + 0x40));
    print_us("current directory: ", (UNICODE_STRING *)(params + 0x24));
    check(*(HANDLE *)(params + 0x2C) != NULL, 1, "the current directory has a handle", 0);
    return 0;
}
