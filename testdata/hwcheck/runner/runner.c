/*
 * x86wow-hwrunner: runs 32-bit x86 snippets on the real CPU from an exact
 * machine state and reports the exact final state.
 *
 * Freestanding static i386 program: no libc, raw system calls (through the
 * vDSO's __kernel_vsyscall when there is one, else `int $0x80`).
 * Built by build.rs with
 *   cc -m32 -ffreestanding -nostdlib -static -O2 -fno-pic -no-pie ...
 *      -Wl,-Ttext-segment=0x90000000
 * so that the runner image lives far above the case memory window
 * [0x00010000, 0x7FFF0000).
 *
 * The wire protocol (little-endian, length-prefixed records on stdin/stdout)
 * is documented in src/native.rs; the offsets used here must match it.
 *
 * How a case is run:
 *   1. The case's regions are mapped (MAP_FIXED_NOREPLACE), filled and
 *      mprotect-ed; mappings identical in address and size to the previous
 *      case's are reused (content rewritten, protections adjusted).
 *   2. The runner executes a load from address 0 (label entry_insn). The
 *      resulting SIGSEGV is delivered on the alternate signal stack; the
 *      handler saves the runner's own sigcontext and overwrites the frame
 *      with the case's registers, EIP, EFLAGS, selectors and FPU state
 *      (legacy FSAVE header + FXSAVE area of the ia32 fpstate, with the
 *      xstate magic cleared so that the kernel does an "fx_only" restore).
 *      rt_sigreturn then loads all of it at once (including TF and AC).
 *   3. The snippet runs until any signal. The handler copies the frame out
 *      and replaces it with the runner's saved context (fpstate = NULL,
 *      so the runner continues with a freshly initialised FPU).
 *
 * Isolation: at start-up the runner unmaps every mapping that is not part of
 * its own image (initial stack, vvar, and the vDSO unless its
 * __kernel_vsyscall is used), so the only memory a snippet can reach outside
 * its regions is the runner image (about 0.7 MiB above 0x90000000, including
 * the small I/O buffers) and the vDSO text. A seccomp filter refuses every
 * system call that does not carry the runner's random cookie in ESI (SIGSYS,
 * which ends the case), so a snippet cannot make system calls.
 */

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef int s32;
typedef unsigned long long u64;

/* ---- i386 system call numbers ---- */
#define NR_read 3
#define NR_write 4
#define NR_open 5
#define NR_close 6
#define NR_fcntl 55
#define NR_munmap 91
#define NR_setitimer 104
#define NR_mprotect 125
#define NR_prctl 172
#define NR_rt_sigreturn 173
#define NR_rt_sigaction 174
#define NR_sigaltstack 186
#define NR_mmap2 192
#define NR_set_thread_area 243
#define NR_exit_group 252

#define PROT_READ 1
#define PROT_WRITE 2
#define MAP_PRIVATE 0x02
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20
#define MAP_FIXED_NOREPLACE 0x100000

#define SIGILL 4
#define SIGTRAP 5
#define SIGBUS 7
#define SIGFPE 8
#define SIGSEGV 11
#define SIGPROF 27
#define SIGSYS 31

#define SA_SIGINFO 0x00000004u
#define SA_ONSTACK 0x08000000u
#define SA_RESTART 0x10000000u
#define SA_RESTORER 0x04000000u

#define ITIMER_PROF 2
#define F_SETPIPE_SZ 1031
#define EINTR 4
#define EEXIST 17

#define FP_XSTATE_MAGIC1 0x46505853u

/* ---- protocol (see src/native.rs) ---- */
#define MAGIC_CASE 0x31435758u  /* "XWC1" */
#define MAGIC_OUT 0x314F5758u   /* "XWO1" */
#define MAGIC_HELLO 0x31485758u /* "XWH1" */

#define CASE_HDR 72
#define CF_FXSAVE 1u
#define CF_FLUSH 2u

#define ST_COMPLETED 0u
#define ST_TIMEDOUT 1u
#define ST_MAPFAILED 2u
#define ST_REJECTED 3u

#define REGION_MIN 0x00010000u
#define REGION_END 0x7FFF0000u
#define MAX_REGIONS 256

/* Small I/O buffers inside the image: case data is streamed straight into
   the regions and outcomes straight out of them, so the buffers need not
   hold a whole case (and expose little memory to snippets). */
#define IN_SIZE (256u << 10)
#define OUT_SIZE (256u << 10)

#define EFL_NT 0x4000u
#define EFL_ID 0x200000u

/* ---- minimal runtime ---- */

extern long rsys(long nr, long a, long b, long c, long d, long e, long f);
extern long fsys(long nr, long a, long b, long c);
extern char rsys_after[], restorer[], restorer_after[], hentry[], kvs_int80[];
extern char entry_insn[], entry_ret[];
extern char __executable_start[], _end[];

/* Fast system calls: through the vDSO's __kernel_vsyscall (SYSCALL on AMD,
   SYSENTER on Intel), with a random cookie in ESI that the seccomp filter
   checks. Under a hypervisor, `int $0x80` can be ~25x slower: Linux >= 6.7
   reads the APIC ISR on every int $0x80 (int80_is_external), a VM exit. */
u32 sys_cookie;
u32 vsyscall_ptr = (u32)kvs_int80;
u32 sigret_syscall; /* 1: rt_sigreturn with SYSCALL (when the vDSO uses it) */

__asm__(".text\n"
        /* long rsys(nr, a..f): plain int $0x80 with six arguments. */
        ".globl rsys\n"
        "rsys:\n\t"
        "pushl %ebx\n\t"
        "pushl %esi\n\t"
        "pushl %edi\n\t"
        "pushl %ebp\n\t"
        "movl 20(%esp), %eax\n\t"
        "movl 24(%esp), %ebx\n\t"
        "movl 28(%esp), %ecx\n\t"
        "movl 32(%esp), %edx\n\t"
        "movl 36(%esp), %esi\n\t"
        "movl 40(%esp), %edi\n\t"
        "movl 44(%esp), %ebp\n\t"
        "int $0x80\n"
        ".globl rsys_after\n"
        "rsys_after:\n\t"
        "popl %ebp\n\t"
        "popl %edi\n\t"
        "popl %esi\n\t"
        "popl %ebx\n\t"
        "ret\n"
        /* long fsys(nr, a, b, c): fast path, cookie in ESI. */
        ".globl fsys\n"
        "fsys:\n\t"
        "pushl %ebx\n\t"
        "pushl %esi\n\t"
        "movl 12(%esp), %eax\n\t"
        "movl 16(%esp), %ebx\n\t"
        "movl 20(%esp), %ecx\n\t"
        "movl 24(%esp), %edx\n\t"
        "movl sys_cookie, %esi\n\t"
        "call *vsyscall_ptr\n\t"
        "popl %esi\n\t"
        "popl %ebx\n\t"
        "ret\n"
        /* Stand-in for __kernel_vsyscall when there is no vDSO. */
        ".globl kvs_int80\n"
        "kvs_int80:\n\t"
        "int $0x80\n\t"
        "ret\n"
        /* rt_sigreturn restorer (SA_RESTORER). SYSCALL leaves ESP alone, so
           the kernel finds the frame as with int $0x80. */
        ".globl restorer\n"
        "restorer:\n\t"
        "movl $173, %eax\n\t"
        "movl sys_cookie, %esi\n\t"
        "cmpl $0, sigret_syscall\n\t"
        "jne 1f\n\t"
        "int $0x80\n"
        ".globl restorer_after\n"
        "restorer_after:\n\t"
        "ud2\n"
        "1:\n\t"
        ".byte 0x0f, 0x05\n\t" /* syscall */
        "ud2\n"
        /* Signal handler entry: the kernel clears DF/TF/RF but not AC, and
           the snippet may have left AC set; clear it before running C. */
        ".globl hentry\n"
        "hentry:\n\t"
        "pushfl\n\t"
        "andl $0xFFFBFFFF, (%esp)\n\t"
        "popfl\n\t"
        "jmp c_handler\n");

#define sys1(n, a) fsys((n), (long)(a), 0, 0)
#define sys2(n, a, b) fsys((n), (long)(a), (long)(b), 0)
#define sys3(n, a, b, c) fsys((n), (long)(a), (long)(b), (long)(c))
#define sys4(n, a, b, c, d) rsys((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define sys6(n, a, b, c, d, e, f) \
    rsys((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

/* gcc may emit calls to these even with -ffreestanding. */
void *memcpy(void *d, const void *s, unsigned n)
{
    void *r = d;
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    return r;
}
void *memmove(void *d, const void *s, unsigned n)
{
    void *r = d;
    if ((const u8 *)s >= (u8 *)d || (const u8 *)s + n <= (u8 *)d) {
        __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    } else {
        u8 *dd = (u8 *)d + n - 1;
        const u8 *ss = (const u8 *)s + n - 1;
        __asm__ volatile("std\n\trep movsb\n\tcld"
                         : "+D"(dd), "+S"(ss), "+c"(n)
                         :
                         : "memory");
    }
    return r;
}
void *memset(void *d, int c, unsigned n)
{
    void *r = d;
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
    return r;
}
int memcmp(const void *a, const void *b, unsigned n)
{
    const u8 *x = a, *y = b;
    unsigned i = 0;
    while (i + 4 <= n && *(const u32 *)(x + i) == *(const u32 *)(y + i))
        i += 4;
    for (; i < n; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

static inline u32 get32(const u8 *p)
{
    u32 v;
    memcpy(&v, p, 4);
    return v;
}
static inline u16 get16(const u8 *p)
{
    u16 v;
    memcpy(&v, p, 2);
    return v;
}
static inline void put32(u8 *p, u32 v) { memcpy(p, &v, 4); }
static inline void put16(u8 *p, u16 v) { memcpy(p, &v, 2); }

static int is_err(long r) { return (unsigned long)r >= (unsigned long)-4095; }

static void write_all(int fd, const u8 *p, u32 n)
{
    while (n) {
        long r = sys3(NR_write, fd, p, n);
        if (r == -EINTR)
            continue;
        if (r <= 0)
            sys1(NR_exit_group, 3);
        p += r;
        n -= (u32)r;
    }
}

static u32 slen(const char *s)
{
    u32 n = 0;
    while (s[n])
        n++;
    return n;
}

#define MAGIC_DEATH 0x31445758u /* "XWD1" */
#define PROTO_VERSION 2u
#define NO_CASE 0xFFFFFFFFu

static u8 inbuf[IN_SIZE] __attribute__((aligned(64)));
static u8 outbuf[OUT_SIZE] __attribute__((aligned(64)));
static u32 in_pos, in_len, out_len;
/* Id of the case being run, and its complement (a snippet that scribbles
   over the runner must not make the death notice blame the wrong case). */
static u32 cur_id = NO_CASE, cur_id_chk = ~NO_CASE;
static void set_cur_id(u32 id)
{
    cur_id = id;
    cur_id_chk = ~id;
}

/* Small string builder for diagnostics. */
static char msgbuf[512];
static u32 msglen;
static void m_reset(void) { msglen = 0; }
static void m_str(const char *s)
{
    while (*s && msglen < sizeof(msgbuf) - 1)
        msgbuf[msglen++] = *s++;
}
static void m_hex(u32 v)
{
    char t[11];
    t[0] = '0';
    t[1] = 'x';
    for (int i = 0; i < 8; i++)
        t[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 15];
    t[10] = 0;
    m_str(t);
}
static void m_dec(u32 v)
{
    char t[12];
    int i = 11;
    t[i] = 0;
    do {
        t[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    m_str(t + i);
}

/* The runner is about to exit: send the outcomes it has, then a death notice
   naming the case in progress (so the host knows exactly which case killed
   it), then the message on stderr. */
static void last_words(void)
{
    static u8 rec[16 + sizeof(msgbuf)];
    if (out_len && out_len <= OUT_SIZE)
        write_all(1, outbuf, out_len);
    out_len = 0;
    u32 len = (16 + msglen + 3) & ~3u;
    memset(rec, 0, len);
    put32(rec, MAGIC_DEATH);
    put32(rec + 4, len);
    put32(rec + 8, cur_id == ~cur_id_chk ? cur_id : NO_CASE);
    put32(rec + 12, msglen);
    memcpy(rec + 16, msgbuf, msglen);
    write_all(1, rec, len);
    write_all(2, (const u8 *)msgbuf, msglen);
}

static void die(const char *what, long code)
{
    m_reset();
    m_str("x86wow-hwrunner: ");
    m_str(what);
    if (code) {
        m_str(" (");
        m_dec((u32)-code);
        m_str(")");
    }
    m_str("\n");
    last_words();
    sys1(NR_exit_group, 2);
    for (;;) {
    }
}

/* ---- kernel ABI structures (ia32) ---- */

struct sigcontext32 {
    u16 gs, gsh, fs, fsh, es, esh, ds, dsh;
    u32 edi, esi, ebp, esp, ebx, edx, ecx, eax;
    u32 trapno, err, eip;
    u16 cs, csh;
    u32 eflags, esp_at_signal;
    u16 ss, ssh;
    u32 fpstate, oldmask, cr2;
};

struct ucontext32 {
    u32 uc_flags, uc_link;
    u32 ss_sp, ss_flags, ss_size;
    struct sigcontext32 mc;
    u32 sigmask[2];
};

struct ksigaction {
    u32 handler, flags, restorer;
    u32 mask[2];
};

struct sock_filter {
    u16 code;
    u8 jt, jf;
    u32 k;
};
struct sock_fprog {
    u16 len;
    struct sock_filter *filter;
};

/* Offsets inside the ia32 fpstate (struct _fpstate_32). */
#define FP_CW 0
#define FP_SW 4
#define FP_TAG 8
#define FP_IPOFF 12
#define FP_CSSEL 16
#define FP_DATAOFF 20
#define FP_DATASEL 24
#define FP_ST 28
#define FP_MAGIC 110
#define FP_FX 112 /* FXSAVE image */
#define FX_SWRES 464 /* software-reserved bytes: struct _fpx_sw_bytes */
#define FX_XSTATE_BV 512 /* xsave header follows the FXSAVE image */

/* ---- global state ---- */

#define MAIN_STACK_SIZE (64 << 10)
__attribute__((used)) static u8 main_stack[MAIN_STACK_SIZE] __attribute__((aligned(16)));
static u8 alt_stack[64 << 10] __attribute__((aligned(16)));
static u8 fxtmp[512] __attribute__((aligned(64)));

enum { PH_IDLE, PH_ENTER, PH_RUN, PH_DONE, PH_SELFTEST };
static volatile int phase;

static struct sigcontext32 runner_sc;
static u16 sel_cs, sel_ds, sel_fs, sel_gs;
static u32 tls_entry_fs, tls_entry_gs;
static u32 cur_fs_base, cur_gs_base;
static u32 mxcsr_mask;

/* The case being entered (set up by main, consumed by the handler). */
static struct {
    u32 gpr[8]; /* EAX ECX EDX EBX ESP EBP ESI EDI */
    u32 eip, eflags;
    const u8 *fx; /* 512-byte FXSAVE image */
} cur;

static u8 default_fx[512] __attribute__((aligned(16)));

/* Result captured by the handler. */
static struct {
    u32 gpr[8];
    u32 eip, eflags, sig, trapno, err, cr2;
    u16 cs, ds, es, fs, gs, ss;
    u8 fx[512];
} res;

/* ---- signal handling ---- */

static void fatal_sig(int sig, struct sigcontext32 *sc, const char *where)
{
    m_reset();
    m_str("x86wow-hwrunner: unexpected signal ");
    m_dec((u32)sig);
    m_str(" ");
    m_str(where);
    m_str(": eip=");
    m_hex(sc->eip);
    m_str(" trapno=");
    m_dec(sc->trapno);
    m_str(" err=");
    m_hex(sc->err);
    m_str(" cr2=");
    m_hex(sc->cr2);
    m_str("\n");
    last_words();
    sys1(NR_exit_group, 70);
}

static void load_fpstate(u8 *fp, const u8 *fx)
{
    u8 *ffx = fp + FP_FX;
    /* The FXSAVE image up to XMM7; XMM8-15 (unreachable in 32-bit mode) and
       the reserved bytes are zeroed, so they come back as zero. */
    memcpy(ffx, fx, 288);
    memset(ffx + 288, 0, FX_SWRES - 288);
    /* No xstate magic => the kernel restores only the legacy FP/SSE state
       ("fx_only") and puts every other xstate component in its init
       state, so AVX/AVX-512 state is deterministic (zero). */
    put32(ffx + FX_SWRES, 0);
    /* For ia32 frames the kernel takes the x87 environment and registers
       from the legacy FSAVE header (convert_to_fxsr), not from the FXSAVE
       image; build it from the FXSAVE image. Only "empty" vs "non-empty"
       of the full tag word survives the conversion. */
    u32 ftw = fx[4];
    u32 tag = 0;
    for (int i = 0; i < 8; i++)
        if (!(ftw & (1u << i)))
            tag |= 3u << (2 * i);
    put32(fp + FP_CW, 0xFFFF0000u | get16(fx + 0));
    put32(fp + FP_SW, 0xFFFF0000u | get16(fx + 2));
    put32(fp + FP_TAG, 0xFFFF0000u | tag);
    put32(fp + FP_IPOFF, get32(fx + 8));
    put32(fp + FP_CSSEL, (u32)get16(fx + 12) | ((u32)get16(fx + 6) << 16));
    put32(fp + FP_DATAOFF, get32(fx + 16));
    put32(fp + FP_DATASEL, 0xFFFF0000u | get16(fx + 20));
    for (int i = 0; i < 8; i++)
        memcpy(fp + FP_ST + 10 * i, fx + 32 + 16 * i, 10);
}

static void capture(int sig, struct sigcontext32 *sc)
{
    res.gpr[0] = sc->eax;
    res.gpr[1] = sc->ecx;
    res.gpr[2] = sc->edx;
    res.gpr[3] = sc->ebx;
    res.gpr[4] = sc->esp;
    res.gpr[5] = sc->ebp;
    res.gpr[6] = sc->esi;
    res.gpr[7] = sc->edi;
    res.eip = sc->eip;
    res.eflags = sc->eflags;
    res.sig = (u32)sig;
    res.trapno = sc->trapno;
    res.err = sc->err;
    res.cr2 = sc->cr2;
    res.cs = sc->cs;
    res.ds = sc->ds;
    res.es = sc->es;
    res.fs = sc->fs;
    res.gs = sc->gs;
    res.ss = sc->ss;
    if (!sc->fpstate) {
        memcpy(res.fx, default_fx, 512);
        return;
    }
    const u8 *ffx = (const u8 *)sc->fpstate + FP_FX;
    memcpy(res.fx, ffx, 512);
    memset(res.fx + FX_SWRES, 0, 512 - FX_SWRES);
    if (get32(ffx + FX_SWRES) == FP_XSTATE_MAGIC1) {
        /* XSAVE may leave components that are in their init state
           unwritten (XSTATE_BV bit clear): supply the init values. */
        u32 bv = get32(ffx + FX_XSTATE_BV);
        if (!(bv & 1)) {
            memset(res.fx, 0, 24);
            put16(res.fx, 0x037F);
            memset(res.fx + 32, 0, 128);
        }
        if (!(bv & 2))
            memset(res.fx + 160, 0, 256);
    }
}

__attribute__((used)) void c_handler(int sig, void *info, struct ucontext32 *uc)
{
    struct sigcontext32 *sc = &uc->mc;
    (void)info;
    if (phase == PH_ENTER) {
        if (sig != SIGSEGV || sc->eip != (u32)entry_insn)
            fatal_sig(sig, sc, "while entering a case");
        u8 *fp = (u8 *)sc->fpstate;
        if (!fp || get16(fp + FP_MAGIC) != 0)
            fatal_sig(sig, sc, "(signal frame has no FXSR fpstate)");
        runner_sc = *sc;
        runner_sc.eip = (u32)entry_ret;
        runner_sc.fpstate = 0; /* runner resumes with an initialised FPU */
        sc->eax = cur.gpr[0];
        sc->ecx = cur.gpr[1];
        sc->edx = cur.gpr[2];
        sc->ebx = cur.gpr[3];
        sc->esp = cur.gpr[4];
        sc->ebp = cur.gpr[5];
        sc->esi = cur.gpr[6];
        sc->edi = cur.gpr[7];
        sc->eip = cur.eip;
        /* The kernel takes CF PF AF ZF SF TF DF OF AC RF from here; NT and
           ID were set with POPF before the entry fault. */
        sc->eflags = cur.eflags;
        sc->cs = sel_cs;
        sc->ss = sel_ds;
        sc->ds = sel_ds;
        sc->es = sel_ds;
        sc->fs = sel_fs;
        sc->gs = sel_gs;
        load_fpstate(fp, cur.fx);
        phase = PH_RUN;
        return;
    }
    if (phase == PH_RUN) {
        capture(sig, sc);
        *sc = runner_sc;
        phase = PH_DONE;
        return;
    }
    if (phase == PH_SELFTEST && sig == SIGSEGV && sc->eip == (u32)entry_insn) {
        sc->eip = (u32)entry_ret; /* checks that the restorer works */
        phase = PH_IDLE;
        return;
    }
    if (sig == SIGPROF)
        return; /* stale timer tick outside a case */
    fatal_sig(sig, sc, "inside the runner");
}

/* Enter the current case; returns when the snippet has ended. */
static __attribute__((noinline)) void enter_case(u32 ntid)
{
    __asm__ volatile("pushfl\n\t"
                     "orl %0, (%%esp)\n\t"
                     "popfl\n"
                     ".globl entry_insn\n"
                     "entry_insn:\n\t"
                     "movl 0, %%eax\n"
                     ".globl entry_ret\n"
                     "entry_ret:\n\t"
                     "pushl $0x202\n\t"
                     "popfl\n"
                     :
                     : "r"(ntid)
                     : "eax", "memory", "cc");
}

/* ---- setup ---- */

static u32 vdso_base; /* kept mapped when its __kernel_vsyscall is used */

static void unmap_foreign(void)
{
    /* Unmap everything that is not part of our image: the initial stack,
       vDSO, vvar, ... A snippet must see (almost) nothing but its regions. */
    u8 *maps = inbuf; /* not in use yet */
    const u32 maps_size = IN_SIZE;
    long fd = sys3(NR_open, "/proc/self/maps", 0, 0);
    if (is_err(fd))
        return;
    u32 n = 0;
    for (;;) {
        long r = sys3(NR_read, fd, maps + n, maps_size - 1 - n);
        if (r == -EINTR)
            continue;
        if (r <= 0)
            break;
        n += (u32)r;
        if (n >= maps_size - 1)
            break;
    }
    sys1(NR_close, fd);
    maps[n] = 0;
    u32 lo_keep = (u32)__executable_start;
    u32 hi_keep = ((u32)_end + 4095u) & ~4095u;
    u32 i = 0;
    while (i < n) {
        u32 a = 0, b = 0;
        while (i < n && maps[i] != '-') {
            u8 c = maps[i++];
            a = a * 16 + (c <= '9' ? c - '0' : (c | 32) - 'a' + 10);
        }
        i++;
        while (i < n && maps[i] != ' ') {
            u8 c = maps[i++];
            b = b * 16 + (c <= '9' ? c - '0' : (c | 32) - 'a' + 10);
        }
        while (i < n && maps[i] != '\n')
            i++;
        i++;
        if (b <= a)
            continue;
        if (a >= lo_keep && b <= hi_keep)
            continue;
        if (vdso_base && vsyscall_ptr >= a && vsyscall_ptr < b)
            continue;
        sys2(NR_munmap, a, b - a);
    }
}

static u32 alloc_tls(void)
{
    u32 d[4] = {0xFFFFFFFFu, 0, 0xFFFFFu, 0x51};
    long r = sys1(NR_set_thread_area, d);
    if (is_err(r))
        die("set_thread_area failed", r);
    return d[0];
}

static int set_tls_base(u32 entry, u32 base)
{
    u32 d[4] = {entry, base, 0xFFFFFu, 0x51};
    return !is_err(sys1(NR_set_thread_area, d));
}

static struct sock_filter filt[32];
static void bpf_ld(int i, u32 off) { filt[i] = (struct sock_filter){0x20, 0, 0, off}; }
static void bpf_ret(int i, u32 v) { filt[i] = (struct sock_filter){0x06, 0, 0, v}; }
static void bpf_jeq(int i, u32 k, int t, int f)
{
    filt[i] = (struct sock_filter){0x15, (u8)(t - i - 1), (u8)(f - i - 1), k};
}

static void install_seccomp(void)
{
    /* A system call is allowed only with the runner's random cookie in ESI
       (arg 3), and only if the runner needs it after start-up; mmap2 (which
       needs ESI) only from the runner's own int $0x80 and only with
       MAP_FIXED_NOREPLACE. Everything else -- any system call made by a
       snippet -- raises SIGSYS, which ends the case. */
    enum { T = 15, M = 16, T2 = 20, A = 21 };
    static const u32 ok[] = {NR_rt_sigreturn, NR_read, NR_write, NR_munmap,
                             NR_mprotect, NR_setitimer, NR_set_thread_area, NR_exit_group};
    bpf_ld(0, 4); /* arch */
    bpf_jeq(1, 0x40000003u /* AUDIT_ARCH_I386 */, 2, T);
    bpf_ld(2, 0); /* nr */
    bpf_jeq(3, NR_mmap2, M, 4);
    bpf_ld(4, 40); /* args[3] = ESI */
    bpf_jeq(5, sys_cookie, 6, T);
    bpf_ld(6, 0);
    for (int k = 0; k < 8; k++)
        bpf_jeq(7 + k, ok[k], A, 8 + k);
    bpf_ret(T, 0x00030000u); /* SECCOMP_RET_TRAP */
    bpf_ld(M, 8);            /* instruction pointer */
    bpf_jeq(17, (u32)rsys_after, 18, T2);
    bpf_ld(18, 40);
    bpf_jeq(19, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, A, T2);
    bpf_ret(T2, 0x00030000u);
    bpf_ret(A, 0x7FFF0000u); /* SECCOMP_RET_ALLOW */
    struct sock_fprog prog = {A + 1, filt};
    long r = sys6(NR_prctl, 38 /* PR_SET_NO_NEW_PRIVS */, 1, 0, 0, 0, 0);
    if (is_err(r))
        die("prctl(PR_SET_NO_NEW_PRIVS) failed", r);
    r = sys6(NR_prctl, 22 /* PR_SET_SECCOMP */, 2 /* FILTER */, &prog, 0, 0, 0);
    if (is_err(r))
        die("seccomp filter could not be installed", r);
}

static void setup_signals(void)
{
    u32 ss[3] = {(u32)alt_stack, 0, sizeof(alt_stack)};
    long r = sys2(NR_sigaltstack, ss, 0);
    if (is_err(r))
        die("sigaltstack failed", r);
    static const int sigs[] = {SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV, SIGPROF, SIGSYS};
    for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct ksigaction sa;
        sa.handler = (u32)hentry;
        sa.flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART | SA_RESTORER;
        sa.restorer = (u32)restorer;
        sa.mask[0] = 0xFFFFFFFFu; /* nothing nests inside the handler */
        sa.mask[1] = 0xFFFFFFFFu;
        r = sys4(NR_rt_sigaction, sigs[i], &sa, 0, 8);
        if (is_err(r))
            die("rt_sigaction failed", r);
    }
}

/* ---- I/O ---- */

static void flush_out(void)
{
    if (out_len) {
        write_all(1, outbuf, out_len);
        out_len = 0;
    }
}

static void out_bytes(const void *p, u32 n)
{
    const u8 *s = p;
    while (n) {
        if (out_len == OUT_SIZE)
            flush_out();
        u32 k = OUT_SIZE - out_len;
        if (k > n)
            k = n;
        memcpy(outbuf + out_len, s, k);
        out_len += k;
        s += k;
        n -= k;
    }
}

static void out_u32(u32 v) { out_bytes(&v, 4); }

/* Makes sure input is buffered; returns 0 at EOF. Before it may block, it
   sends the outcomes it has. */
static int in_fill(void)
{
    if (in_pos < in_len)
        return 1;
    flush_out();
    in_pos = in_len = 0;
    for (;;) {
        long r = sys3(NR_read, 0, inbuf, IN_SIZE);
        if (r == -EINTR)
            continue;
        if (r < 0)
            die("read from stdin failed", r);
        if (r == 0)
            return 0;
        in_len = (u32)r;
        return 1;
    }
}

static u32 rec_left; /* bytes of the current case record not read yet */

/* Reads n bytes of the current record into dst (dst = 0: discard them). */
static void in_bytes(void *dst, u32 n)
{
    if (n > rec_left)
        die("protocol error: case record too short", 0);
    rec_left -= n;
    u8 *d = dst;
    while (n) {
        if (!in_fill())
            die("protocol error: end of input inside a case record", 0);
        u32 k = in_len - in_pos;
        if (k > n)
            k = n;
        if (d) {
            memcpy(d, inbuf + in_pos, k);
            d += k;
        }
        in_pos += k;
        n -= k;
    }
}

/* ---- regions ---- */

struct region {
    u32 addr, len, prot;
};

static struct region cur_maps[MAX_REGIONS]; /* what is mapped now */
static u32 ncur;
static struct region nregs[MAX_REGIONS]; /* the case's regions */
static u32 nnew;
static u8 page_tmp[4096] __attribute__((aligned(64)));

static void unmap_all(void)
{
    for (u32 i = 0; i < ncur; i++)
        sys2(NR_munmap, cur_maps[i].addr, cur_maps[i].len);
    ncur = 0;
}

static int all_zero(const u8 *m, u32 n)
{
    u32 i = 0;
    for (; i < n && (i & 3); i++)
        if (m[i])
            return 0;
    for (; i + 4 <= n; i += 4)
        if (*(const u32 *)(m + i))
            return 0;
    for (; i < n; i++)
        if (m[i])
            return 0;
    return 1;
}

static const char MALFORMED_SPAN[] = "malformed case record (page span)";

/* Maps the case's regions (read/write for now, reusing identical mappings)
   and streams their contents in; then applies the protections. Returns an
   error message (the input record is then not fully consumed). */
static const char *load_regions(void)
{
    u32 keep_n = 0;
    for (u32 i = 0; i < ncur; i++) {
        int keep = 0;
        for (u32 j = 0; j < nnew; j++)
            if (nregs[j].addr == cur_maps[i].addr && nregs[j].len == cur_maps[i].len)
                keep = 1;
        if (keep)
            cur_maps[keep_n++] = cur_maps[i];
        else
            sys2(NR_munmap, cur_maps[i].addr, cur_maps[i].len);
    }
    ncur = keep_n;
    for (u32 j = 0; j < nnew; j++) {
        struct region *r = &nregs[j];
        struct region *c = 0;
        for (u32 i = 0; i < ncur; i++)
            if (cur_maps[i].addr == r->addr)
                c = &cur_maps[i];
        int fresh = !c;
        if (fresh) {
            long a = sys6(NR_mmap2, r->addr, r->len, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
            if (is_err(a))
                return a == -EEXIST ? "mmap: address range already in use" : "mmap failed";
            if ((u32)a != r->addr) {
                /* Kernel without MAP_FIXED_NOREPLACE treated it as a hint. */
                sys2(NR_munmap, a, r->len);
                return "mmap: address range not available";
            }
            c = &cur_maps[ncur++];
            *c = *r;
            c->prot = PROT_READ | PROT_WRITE;
        }
        u8 *m = (u8 *)r->addr;
        for (u32 pg = 0; pg < r->len / 4096; pg++, m += 4096) {
            u8 span[4];
            in_bytes(span, 4);
            u32 lo = get16(span), hi = get16(span + 2);
            if (lo > hi || hi > 4096)
                return MALFORMED_SPAN;
            if (c->prot & PROT_WRITE) {
                if (!fresh) {
                    memset(m, 0, lo);
                    memset(m + hi, 0, 4096 - hi);
                }
                in_bytes(m + lo, hi - lo);
                continue;
            }
            /* A reused mapping that is not writable: write only if the
               content differs (saves two mprotect calls per case). */
            in_bytes(page_tmp + lo, hi - lo);
            if ((c->prot & PROT_READ) && all_zero(m, lo) && all_zero(m + hi, 4096 - hi) &&
                !memcmp(m + lo, page_tmp + lo, hi - lo))
                continue;
            if (is_err(sys3(NR_mprotect, r->addr, r->len, PROT_READ | PROT_WRITE)))
                return "mprotect failed";
            c->prot = PROT_READ | PROT_WRITE;
            memset(m, 0, lo);
            memcpy(m + lo, page_tmp + lo, hi - lo);
            memset(m + hi, 0, 4096 - hi);
        }
        if (c->prot != r->prot) {
            if (is_err(sys3(NR_mprotect, r->addr, r->len, r->prot)))
                return "mprotect failed";
            c->prot = r->prot;
        }
    }
    return 0;
}

/* ---- output ---- */

static void emit_simple(u32 id, u32 status, const char *msg)
{
    u8 h[600];
    u32 ml = slen(msg);
    u32 len = 600 + ((ml + 4 + 3) & ~3u);
    memset(h, 0, sizeof(h));
    put32(h, MAGIC_OUT);
    put32(h + 4, len);
    put32(h + 8, id);
    put32(h + 12, status);
    put32(h + 596, 0); /* no regions */
    out_bytes(h, 600);
    out_u32(ml);
    out_bytes(msg, ml);
    out_bytes("\0\0\0", len - 604 - ml);
    set_cur_id(NO_CASE);
}

/* [lo, hi): the part of a page outside which all bytes are zero (lo = hi = 0
   if the page is all zero). */
static void page_span(const u8 *m, u32 *plo, u32 *phi)
{
    const u32 *w = (const u32 *)m;
    u32 lo = 0, hi = 1024;
    while (lo < 1024 && !w[lo])
        lo++;
    if (lo == 1024) {
        *plo = *phi = 0;
        return;
    }
    while (!w[hi - 1])
        hi--;
    lo *= 4;
    hi *= 4;
    while (!m[lo])
        lo++;
    while (!m[hi - 1])
        hi--;
    *plo = lo;
    *phi = hi;
}

static void emit_result(u32 id, u32 status)
{
    /* Pass 1: the record length. */
    u32 len = 600 + 4, nw = 0, lo, hi;
    for (u32 j = 0; j < nnew; j++) {
        if (!(nregs[j].prot & PROT_WRITE))
            continue;
        nw++;
        len += 8;
        for (u32 a = nregs[j].addr; a < nregs[j].addr + nregs[j].len; a += 4096) {
            page_span((const u8 *)a, &lo, &hi);
            len += 4 + hi - lo;
        }
    }
    u8 h[600];
    put32(h, MAGIC_OUT);
    put32(h + 4, len);
    put32(h + 8, id);
    put32(h + 12, status);
    for (int i = 0; i < 8; i++)
        put32(h + 16 + 4 * i, res.gpr[i]);
    put32(h + 48, res.eip);
    put32(h + 52, res.eflags);
    put32(h + 56, res.sig);
    put32(h + 60, res.trapno);
    put32(h + 64, res.err);
    put32(h + 68, res.cr2);
    put16(h + 72, res.cs);
    put16(h + 74, res.ds);
    put16(h + 76, res.es);
    put16(h + 78, res.fs);
    put16(h + 80, res.gs);
    put16(h + 82, res.ss);
    memcpy(h + 84, res.fx, 512);
    put32(h + 596, nw);
    out_bytes(h, 600);
    /* Pass 2: the writable regions. */
    for (u32 j = 0; j < nnew; j++) {
        if (!(nregs[j].prot & PROT_WRITE))
            continue;
        out_u32(j);
        out_u32(nregs[j].len / 4096);
        for (u32 a = nregs[j].addr; a < nregs[j].addr + nregs[j].len; a += 4096) {
            page_span((const u8 *)a, &lo, &hi);
            out_u32(lo | hi << 16);
            out_bytes((const u8 *)a + lo, hi - lo);
        }
    }
    out_u32(0); /* empty message */
}

/* ---- cases ---- */

static u32 cpu_used_since_flush; /* microseconds */
static u8 case_fx[512] __attribute__((aligned(16)));

/* Reads the next case record and runs it; returns 0 at end of input. */
static int run_record(void)
{
    u8 h[CASE_HDR];
    if (!in_fill())
        return 0;
    rec_left = 8;
    in_bytes(h, 8);
    u32 len = get32(h + 4);
    if (get32(h) != MAGIC_CASE || len < CASE_HDR)
        die("protocol error: bad case record header", 0);
    rec_left = len - 8;
    in_bytes(h + 8, CASE_HDR - 8);
    u32 id = get32(h + 8);
    u32 flags = get32(h + 12);
    u32 timeout_us = get32(h + 16);
    u32 nreg = get32(h + 68);
    const char *err = 0;
    u32 status = ST_MAPFAILED;
    set_cur_id(id);
    nnew = 0;

    cur.fx = default_fx;
    if (flags & CF_FXSAVE) {
        in_bytes(case_fx, 512);
        cur.fx = case_fx;
    }
    if (nreg > MAX_REGIONS) {
        err = "too many regions";
        goto fail;
    }
    for (u32 j = 0; j < nreg; j++) {
        u8 t[12];
        in_bytes(t, 12);
        struct region *r = &nregs[j];
        r->addr = get32(t);
        u32 npages = get32(t + 4);
        r->prot = get32(t + 8);
        if ((r->addr & 4095) || npages == 0 || r->addr < REGION_MIN || r->addr >= REGION_END ||
            npages > ((REGION_END - r->addr) >> 12) || r->prot > 7) {
            err = "region outside [0x00010000, 0x7fff0000), unaligned or bad protection";
            goto fail;
        }
        r->len = npages << 12;
        for (u32 k = 0; k < j; k++)
            if (nregs[k].addr < r->addr + r->len && r->addr < nregs[k].addr + nregs[k].len) {
                err = "regions overlap";
                goto fail;
            }
    }
    nnew = nreg;
    u32 mxcsr = get32(cur.fx + 24);
    if (mxcsr & ~mxcsr_mask) {
        m_reset();
        m_str("MXCSR ");
        m_hex(mxcsr);
        m_str(" has bits outside MXCSR_MASK ");
        m_hex(mxcsr_mask);
        msgbuf[msglen] = 0;
        err = msgbuf;
        status = ST_REJECTED;
        goto fail;
    }
    err = load_regions();
    if (err) {
        unmap_all();
        if (err == MALFORMED_SPAN)
            status = ST_REJECTED;
        goto fail;
    }
    if (rec_left) {
        err = "malformed case record (trailing bytes)";
        status = ST_REJECTED;
        goto fail;
    }
    u32 fs_base = get32(h + 60), gs_base = get32(h + 64);
    if (fs_base != cur_fs_base) {
        if (!set_tls_base(tls_entry_fs, fs_base)) {
            err = "set_thread_area(fs) failed";
            status = ST_REJECTED;
            goto fail;
        }
        cur_fs_base = fs_base;
    }
    if (gs_base != cur_gs_base) {
        if (!set_tls_base(tls_entry_gs, gs_base)) {
            err = "set_thread_area(gs) failed";
            status = ST_REJECTED;
            goto fail;
        }
        cur_gs_base = gs_base;
    }
    for (int i = 0; i < 8; i++)
        cur.gpr[i] = get32(h + 20 + 4 * i);
    cur.eip = get32(h + 52);
    cur.eflags = get32(h + 56);

    if (timeout_us == 0)
        timeout_us = 1000000;
    u32 it[4] = {0, 0, timeout_us / 1000000, timeout_us % 1000000};
    u32 old[4];
    sys3(NR_setitimer, ITIMER_PROF, it, old);

    phase = PH_ENTER;
    enter_case(cur.eflags & (EFL_NT | EFL_ID));
    if (phase != PH_DONE)
        die("internal error: case did not complete", 0);
    phase = PH_IDLE;

    /* CPU time used by this case (timer remaining is read by re-arming). */
    u32 zero[4] = {0, 0, 0, 0};
    sys3(NR_setitimer, ITIMER_PROF, zero, old);
    u32 left = old[2] * 1000000 + old[3];
    cpu_used_since_flush += left < timeout_us ? timeout_us - left : 0;

    emit_result(id, res.sig == SIGPROF ? ST_TIMEDOUT : ST_COMPLETED);
    set_cur_id(NO_CASE);
    if ((flags & CF_FLUSH) || res.sig == SIGPROF || cpu_used_since_flush > 100000) {
        flush_out();
        cpu_used_since_flush = 0;
    }
    return 1;

fail:
    nnew = 0;
    emit_simple(id, status, err);
    in_bytes(0, rec_left);
    if (flags & CF_FLUSH)
        flush_out();
    return 1;
}

static int env_is(const char *e, const char *kv)
{
    while (*kv && *e == *kv) {
        e++;
        kv++;
    }
    return !*kv && !*e;
}

/* Reads the auxiliary vector and environment from the initial stack. */
static void read_startup(u32 *sp0)
{
    u32 argc = sp0[0];
    u32 *p = sp0 + 1 + argc + 1;
    int slow = 0;
    for (; *p; p++)
        if (env_is((const char *)*p, "X86WOW_HWRUNNER_SLOW_SYSCALLS=1"))
            slow = 1;
    p++;
    u32 lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    u32 cookie = lo * 0x9E3779B1u ^ hi;
    u32 vsys = 0;
    for (; p[0]; p += 2) {
        if (p[0] == 32 /* AT_SYSINFO */)
            vsys = p[1];
        else if (p[0] == 33 /* AT_SYSINFO_EHDR */)
            vdso_base = p[1];
        else if (p[0] == 25 /* AT_RANDOM */)
            for (int k = 0; k < 4; k++)
                cookie ^= get32((const u8 *)p[1] + 4 * k) * (2 * k + 1);
    }
    sys_cookie = cookie | 1;
    if (vsys && vdso_base && !slow) {
        vsyscall_ptr = vsys;
        /* Does __kernel_vsyscall use SYSCALL (AMD)? Then the restorer can. */
        const u8 *c = (const u8 *)vsys;
        for (int k = 0; k < 24 && !(c[k] == 0xCD && c[k + 1] == 0x80); k++)
            if (c[k] == 0x0F && c[k + 1] == 0x05)
                sigret_syscall = 1;
    } else {
        vdso_base = 0;
    }
}

__attribute__((used)) void runner_main(u32 *sp0)
{
    read_startup(sp0);
    unmap_foreign();

    sys3(NR_fcntl, 0, F_SETPIPE_SZ, 1 << 20);
    sys3(NR_fcntl, 1, F_SETPIPE_SZ, 1 << 20);

    __asm__ volatile("fxsave %0" : "=m"(fxtmp));
    mxcsr_mask = get32(fxtmp + 28);
    if (!mxcsr_mask)
        mxcsr_mask = 0xFFBF;

    memset(default_fx, 0, 512);
    put16(default_fx, 0x037F);
    put32(default_fx + 24, 0x1F80);
    put32(default_fx + 28, mxcsr_mask);

    u16 cs, ds;
    __asm__ volatile("movw %%cs, %0\n\tmovw %%ds, %1" : "=r"(cs), "=r"(ds));
    sel_cs = cs;
    sel_ds = ds;
    tls_entry_fs = alloc_tls();
    tls_entry_gs = alloc_tls();
    sel_fs = (u16)(tls_entry_fs * 8 + 3);
    sel_gs = (u16)(tls_entry_gs * 8 + 3);

    setup_signals();
    /* Round trip through the signal handler and the restorer. */
    phase = PH_SELFTEST;
    enter_case(0);
    if (phase != PH_IDLE)
        die("signal self-test failed", 0);
    install_seccomp();

    u8 hello[52];
    memset(hello, 0, sizeof(hello));
    put32(hello, MAGIC_HELLO);
    put32(hello + 4, sizeof(hello));
    put32(hello + 8, PROTO_VERSION);
    put32(hello + 12, sel_cs);
    put32(hello + 16, sel_ds);
    put32(hello + 20, sel_fs);
    put32(hello + 24, sel_gs);
    put32(hello + 28, mxcsr_mask);
    put32(hello + 32, (u32)__executable_start);
    put32(hello + 36, (u32)_end);
    put32(hello + 40, (u32)inbuf);
    put32(hello + 44, (u32)outbuf);
    put32(hello + 48, (vsyscall_ptr != (u32)kvs_int80) | sigret_syscall << 1);
    write_all(1, hello, sizeof(hello));

    while (run_record()) {
    }
    flush_out();
    unmap_all();
    sys1(NR_exit_group, 0);
}

__asm__(".text\n"
        ".globl _start\n"
        "_start:\n\t"
        "movl %esp, %eax\n\t"
        "movl $main_stack + 65536 - 16, %esp\n\t"
        "xorl %ebp, %ebp\n\t"
        "cld\n\t"
        "pushl %eax\n\t"
        "call runner_main\n\t"
        "hlt\n");
