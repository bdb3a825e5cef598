/* The compiled-code benchmark (x86wow bench's "program" workload): integer kernels
   compiled with -O2 (sorting, a sieve, a matrix product, text search and hashing, a
   switch-dispatched bytecode interpreter, pointer chasing with 8/16-bit fields, 64-bit
   arithmetic through libgcc). Prints one checksum per kernel; compute.out holds the
   values the same kernels give compiled for and run on the host (compute_host.c). */
#include "nt.h"
#include "compute_kernels.h"

static void line(const char *name, u32 v) { print(name); print(" "); print_hex(v); print("\n"); }

int start(void) {
    run_kernels(line);
    return 0;
}
