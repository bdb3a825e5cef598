/* The compiled-code benchmark (x86wow bench's "program" workload): integer kernels
   compiled with -O2 (sorting, a sieve, a matrix product, text search and hashing, a
   switch-dispatched bytecode interpreter, pointer chasing with 8/16-bit fields, 64-bit
   arithmetic through libgcc). Prints one checksum per kernel; compute.out holds the
   values the same kernels give compiled for and run on the host (compute_host.c). */
#include "nt.h"
#include "compute_kernels.h"

static u32 sort_buf[20000];
static u8 sieve_buf[300000];
static u32 ma[MN][MN], mb[MN][MN], mc[MN][MN];
static char text_buf[60000];
static struct node nodes[8192];

static void line(const char *name, u32 v) { print(name); print(" "); print_hex(v); print("\n"); }

int start(void) {
    line("sort", k_sort(sort_buf, 20000));
    line("sieve", k_sieve(sieve_buf, 300000));
    line("matmul", k_matmul(ma, mb, mc));
    line("text", k_text(text_buf, 60000));
    line("vm", k_vm(100000));
    line("chase", k_chase(nodes, 8192, 200000));
    line("u64", k_u64(20000));
    return 0;
}
