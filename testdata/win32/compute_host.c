/* Computes compute.out on the host: the kernels of compute.c, compiled natively
   (cc -O2 -o /tmp/compute_host compute_host.c && /tmp/compute_host > compute.out). */
#include <stdio.h>
#include "compute_kernels.h"

static u32 sort_buf[20000];
static u8 sieve_buf[300000];
static u32 ma[MN][MN], mb[MN][MN], mc[MN][MN];
static char text_buf[60000];
static struct node nodes[8192];

static void line(const char *name, u32 v) { printf("%s 0x%08x\n", name, v); }

int main(void) {
    line("sort", k_sort(sort_buf, 20000));
    line("sieve", k_sieve(sieve_buf, 300000));
    line("matmul", k_matmul(ma, mb, mc));
    line("text", k_text(text_buf, 60000));
    line("vm", k_vm(100000));
    line("chase", k_chase(nodes, 8192, 200000));
    line("u64", k_u64(20000));
    return 0;
}
