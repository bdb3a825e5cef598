/* Computes compute.out on the host: the kernels of compute.c, compiled natively
   (cc -O2 -o /tmp/compute_host compute_host.c && /tmp/compute_host > compute.out). */
#include <stdio.h>
#include "compute_kernels.h"

static void line(const char *name, u32 v) { printf("%s 0x%08x\n", name, v); }

int main(void) {
    run_kernels(line);
    return 0;
}
