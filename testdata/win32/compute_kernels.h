/* Integer kernels of the compiled-code benchmark (compute.c). Plain C with 32-bit
   types only, so the same file compiled for the host (compute_host.c) gives the
   expected checksums on real hardware. */
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;
typedef unsigned long long u64;

static u32 lcg_state;
static u32 lcg(void) { lcg_state = lcg_state * 1664525u + 1013904223u; return lcg_state; }

/* Quicksort (recursive, middle pivot) of n values. */
static void qsort_u32(u32 *a, int lo, int hi) {
    while (lo < hi) {
        u32 p = a[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] < p) i++;
            while (a[j] > p) j--;
            if (i <= j) { u32 t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
        }
        if (j - lo < hi - i) { qsort_u32(a, lo, j); lo = i; }
        else { qsort_u32(a, i, hi); hi = j; }
    }
}

static u32 k_sort(u32 *a, int n) {
    lcg_state = 12345;
    for (int i = 0; i < n; i++) a[i] = lcg();
    qsort_u32(a, 0, n - 1);
    u32 h = 0;
    for (int i = 0; i < n; i++) {
        if (i && a[i - 1] > a[i]) return 0xbad;
        h = h * 31 + a[i];
    }
    return h;
}

/* Sieve of Eratosthenes over n bytes. */
static u32 k_sieve(u8 *s, u32 n) {
    for (u32 i = 0; i < n; i++) s[i] = 1;
    s[0] = s[1] = 0;
    for (u32 i = 2; i * i < n; i++)
        if (s[i])
            for (u32 j = i * i; j < n; j += i) s[j] = 0;
    u32 c = 0;
    for (u32 i = 0; i < n; i++) c += s[i];
    return c;
}

/* N x N integer matrix product; returns a checksum of the result. */
#define MN 40
static u32 k_matmul(u32 (*a)[MN], u32 (*b)[MN], u32 (*c)[MN]) {
    lcg_state = 777;
    for (int i = 0; i < MN; i++)
        for (int j = 0; j < MN; j++) { a[i][j] = lcg() >> 20; b[i][j] = lcg() >> 20; }
    for (int i = 0; i < MN; i++)
        for (int j = 0; j < MN; j++) {
            u32 s = 0;
            for (int k = 0; k < MN; k++) s += a[i][k] * b[k][j];
            c[i][j] = s;
        }
    u32 h = 0;
    for (int i = 0; i < MN; i++)
        for (int j = 0; j < MN; j++) h ^= c[i][j] + (h << 5) + (h >> 2);
    return h;
}

/* Text: fill with pseudo-words, count a pattern with a naive search, hash with FNV-1a. */
static u32 k_text(char *t, u32 n) {
    static const char *words[] = {"the ", "quick ", "brown ", "fox ", "jumps ", "over ", "lazy ", "dog ", "and ", "x86 "};
    lcg_state = 99;
    u32 len = 0;
    while (len + 8 < n) {
        const char *w = words[(lcg() >> 16) % 10];
        while (*w) t[len++] = *w++;
    }
    t[len] = 0;
    const char *pat = "fox jumps";
    u32 hits = 0;
    for (u32 i = 0; t[i]; i++) {
        u32 k = 0;
        while (pat[k] && t[i + k] == pat[k]) k++;
        if (!pat[k]) hits++;
    }
    u32 h = 2166136261u;
    for (u32 i = 0; i < len; i++) { h ^= (u8)t[i]; h *= 16777619u; }
    return h ^ (hits << 16) ^ len;
}

/* A bytecode interpreter: a switch the compiler turns into a jump table. */
enum { OP_PUSH, OP_ADD, OP_MUL, OP_DUP, OP_SWAP, OP_DEC, OP_JNZ, OP_XOR, OP_SHR, OP_HALT };
static u32 k_vm(u32 loops) {
    static const u8 prog[] = {
        OP_PUSH, 1, OP_PUSH, 0, /* acc counter (counter set below) */
        OP_SWAP, OP_DUP, OP_MUL, OP_PUSH, 7, OP_ADD, OP_DUP, OP_PUSH, 3, OP_SHR, OP_XOR,
        OP_SWAP, OP_DEC, OP_JNZ, 4, OP_HALT};
    u32 st[16]; int sp = 0; u32 pc = 0;
    for (;;) {
        u8 op = prog[pc++];
        switch (op) {
        case OP_PUSH: st[sp++] = prog[pc++]; if (pc == 4) st[sp - 1] = loops; break;
        case OP_ADD: sp--; st[sp - 1] += st[sp]; break;
        case OP_MUL: sp--; st[sp - 1] *= st[sp]; break;
        case OP_DUP: st[sp] = st[sp - 1]; sp++; break;
        case OP_SWAP: { u32 t = st[sp - 1]; st[sp - 1] = st[sp - 2]; st[sp - 2] = t; break; }
        case OP_DEC: st[sp - 1]--; break;
        case OP_JNZ: if (st[sp - 1]) pc = prog[pc]; else pc++; break;
        case OP_XOR: sp--; st[sp - 1] ^= st[sp]; break;
        case OP_SHR: sp--; st[sp - 1] >>= st[sp]; break;
        default: return st[0] ^ st[sp - 1];
        }
    }
}

/* Pointer chasing through a permutation, with 16-bit and 8-bit fields. */
struct node { u32 next; u16 w; u8 b; u8 pad; };
static u32 k_chase(struct node *nodes, u32 n, u32 steps) {
    lcg_state = 4242;
    for (u32 i = 0; i < n; i++) { nodes[i].next = i; nodes[i].w = (u16)lcg(); nodes[i].b = (u8)(lcg() >> 24); }
    for (u32 i = n - 1; i > 0; i--) { u32 j = lcg() % (i + 1); u32 t = nodes[i].next; nodes[i].next = nodes[j].next; nodes[j].next = t; }
    u32 p = 0, s = 0; u16 w = 0;
    for (u32 k = 0; k < steps; k++) { s += nodes[p].b; w = (u16)(w * 3 + nodes[p].w); p = nodes[p].next; }
    return s ^ ((u32)w << 16);
}

/* 64-bit arithmetic, including division (libgcc's helpers on 32-bit x86). */
static u32 k_u64(u32 n) {
    u64 x = 0x123456789abcdefull, acc = 0;
    for (u32 i = 1; i <= n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        acc += x / (i | 1) + (x % 1000003u) + (x >> (i & 31));
    }
    return (u32)acc ^ (u32)(acc >> 32);
}

/* Runs every kernel and reports each checksum through `line`. */
static u32 sort_buf[20000];
static u8 sieve_buf[300000];
static u32 ma[MN][MN], mb[MN][MN], mc[MN][MN];
static char text_buf[60000];
static struct node nodes[8192];

static void run_kernels(void (*line)(const char *name, u32 value)) {
    line("sort", k_sort(sort_buf, 20000));
    line("sieve", k_sieve(sieve_buf, 300000));
    line("matmul", k_matmul(ma, mb, mc));
    line("text", k_text(text_buf, 60000));
    line("vm", k_vm(100000));
    line("chase", k_chase(nodes, 8192, 200000));
    line("u64", k_u64(20000));
}
