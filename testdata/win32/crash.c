/* An access violation that no handler takes: the process ends with 0xC0000005. */
#include "nt.h"

int start(void) {
    print("about to write to address 0x10\n");
    *(volatile int *)0x10 = 1;
    print("not reached\n");
    return 0;
}
