/* Hello world through NtWriteFile on the standard output handle of the PEB's process
   parameters. */
#include "nt.h"

int start(void) {
    print("Hello, world!\n");
    return 0;
}
