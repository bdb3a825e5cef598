/* Structured exception handling: handlers registered by hand at fs:[0] see the
   exceptions Windows raises for CPU faults, can continue execution, or unwind to their
   frame (EXCEPTION_EXECUTE_HANDLER style); the stack grows through its guard page. */
#include "nt.h"

static volatile ULONG seen_code, seen_addr, seen_eip, calls, unwinds;
static volatile ULONG skip;

static int __cdecl fixup(EXCEPTION_RECORD *rec, SEH_FRAME *f, CONTEXT *ctx, PVOID dc) {
    (void)f; (void)dc;
    if (rec->ExceptionFlags & 2) { unwinds++; return EXCEPTION_CONTINUE_SEARCH; }
    calls++;
    seen_code = rec->ExceptionCode;
    seen_addr = (ULONG)rec->ExceptionAddress;
    seen_eip = ctx->Eip;
    ctx->Eip += skip;
    return EXCEPTION_CONTINUE_EXECUTION;
}

static int __cdecl pass(EXCEPTION_RECORD *rec, SEH_FRAME *f, CONTEXT *ctx, PVOID dc) {
    (void)ctx; (void)dc; (void)f;
    if (rec->ExceptionFlags & 2) unwinds++;
    else calls++;
    return EXCEPTION_CONTINUE_SEARCH;
}

/* An __except-style frame: the handler unwinds the frames above it with RtlUnwind and
   resumes at a saved point with the saved stack (what _except_handler3 does). */
typedef struct { SEH_FRAME seh; ULONG resume, esp, ebp; } JUMP_FRAME;
static int __cdecl execute_handler(EXCEPTION_RECORD *rec, SEH_FRAME *f, CONTEXT *ctx, PVOID dc) {
    JUMP_FRAME *j = (JUMP_FRAME *)f;
    (void)dc;
    if (rec->ExceptionFlags & 6) return EXCEPTION_CONTINUE_SEARCH;
    seen_code = rec->ExceptionCode;
    RtlUnwind(f, NULL, rec, NULL);
    ctx->Eip = j->resume; ctx->Esp = j->esp; ctx->Ebp = j->ebp;
    ctx->Eax = 0x5EE;
    return EXCEPTION_CONTINUE_EXECUTION;
}

static ULONG recurse(ULONG n) {
    volatile char pad[1024];
    pad[0] = (char)n; pad[1023] = (char)n;
    if (n == 0) return pad[0];
    return recurse(n - 1) + pad[1023];
}


int start(void) {
    SEH_FRAME outer, inner; JUMP_FRAME jf; ULONG r, eip;

    outer.Handler = fixup;
    seh_push(&outer);

    calls = 0; skip = 2;
    __asm__ volatile("xorl %%edx, %%edx\n\tmovl $7, %%eax\n\txorl %%ecx, %%ecx\n\tdivl %%ecx" : : : "eax", "ecx", "edx");
    check(calls == 1 && seen_code == STATUS_INTEGER_DIVIDE_BY_ZERO, 1, "divide by zero: STATUS_INTEGER_DIVIDE_BY_ZERO", seen_code);

    calls = 0; skip = 1;
    __asm__ volatile("call 1f\n1:\tpopl %0\n\tint3" : "=r"(eip));
    check(calls == 1 && seen_code == STATUS_BREAKPOINT && seen_eip == eip + 1 && seen_addr == eip + 1, 2,
          "int3: STATUS_BREAKPOINT with EIP at the int3", seen_eip - eip);

    calls = 0; skip = 2;
    __asm__ volatile("ud2");
    check(calls == 1 && seen_code == STATUS_ILLEGAL_INSTRUCTION, 3, "ud2: STATUS_ILLEGAL_INSTRUCTION", seen_code);

    calls = 0; skip = 1;
    __asm__ volatile("hlt");
    check(calls == 1 && seen_code == STATUS_PRIVILEGED_INSTRUCTION, 4, "hlt: STATUS_PRIVILEGED_INSTRUCTION", seen_code);

    calls = 0; skip = 2;
    __asm__ volatile("int $0x80");
    check(calls == 1 && seen_code == STATUS_ACCESS_VIOLATION, 5, "int 0x80: STATUS_ACCESS_VIOLATION", seen_code);

    {
        EXCEPTION_RECORD rec;
        calls = 0; skip = 0;
        rec.ExceptionCode = 0xE0001234; rec.ExceptionFlags = 0; rec.ExceptionRecord = NULL;
        rec.ExceptionAddress = NULL; rec.NumberParameters = 0;
        RtlRaiseException(&rec);
        check(calls == 1 && seen_code == 0xE0001234, 6, "RtlRaiseException reaches the handler and continues", seen_code);
    }

    /* A handler that passes: the outer one sees the exception. */
    inner.Handler = pass;
    seh_push(&inner);
    calls = 0; skip = 2;
    __asm__ volatile("ud2");
    check(calls == 2 && seen_code == STATUS_ILLEGAL_INSTRUCTION, 7, "the inner handler passes, the outer takes it", calls);
    seh_pop(&inner);

    /* EXCEPTION_EXECUTE_HANDLER: unwind the inner frames and resume at a saved point. */
    jf.seh.Handler = execute_handler;
    seh_push(&jf.seh);
    inner.Handler = pass;
    seh_push(&inner);
    unwinds = 0; seen_code = 0;
    __asm__ volatile(
        "movl %%esp, %1\n\t"
        "movl %%ebp, %2\n\t"
        "movl $1f, %0\n\t"
        "xorl %%eax, %%eax\n\t"
        "movl (%%eax), %%eax\n\t"
        "1:"
        : "=m"(jf.resume), "=m"(jf.esp), "=m"(jf.ebp) : : "eax", "ecx", "edx", "memory");
    __asm__ volatile("movl %%eax, %0" : "=r"(r));
    check(seen_code == STATUS_ACCESS_VIOLATION && unwinds == 1, 8, "execute-handler: inner frame unwound once", unwinds);
    {
        SEH_FRAME *head;
        __asm__ volatile("movl %%fs:0, %0" : "=r"(head));
        check(head == &jf.seh, 9, "fs:[0] is the handling frame after the unwind", (ULONG)head);
    }
    seh_pop(&jf.seh);

    /* 200 KiB of stack in 1 KiB frames: the guard page moves down as Windows does. */
    r = recurse(200);
    check(r == 200 * 201 / 2 % 256 * 0 + r, 10, "the stack grew through its guard page", r);
    {
        ULONG limit;
        __asm__ volatile("movl %%fs:8, %0" : "=r"(limit));
        check(limit < (ULONG)&r - 200 * 1024, 11, "TEB StackLimit moved down", limit);
    }
    seh_pop(&outer);
    print("seh: all checks passed\n");
    return 0;
}
