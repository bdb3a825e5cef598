/* A DLL for host-to-guest interop tests: every 32-bit calling convention (stdcall,
   cdecl, fastcall, thiscall), 8/16/64-bit and floating-point arguments and results,
   strings and buffers (ANSI and UTF-16), a struct with pointers and a handle, handles,
   callbacks into the caller, faults (access violation, divide by zero), an endless loop
   for budget tests and state kept across calls. DllMain counts attaches and says when it
   is detached. Exports by name (undecorated, see interop.def) and one by ordinal only
   (ord_only, ordinal 50). Freestanding, imports only ntdll. */
#include "nt.h"

typedef struct { int value; int calls; } Counter;

typedef struct {
    unsigned id;            /* 0 */
    const char *name;       /* 4 */
    HANDLE handle;          /* 8 */
    double weight;          /* 16 (8-aligned) */
    unsigned short flags;   /* 24 */
    unsigned char *data;    /* 28 */
    unsigned data_len;      /* 32 */
} Record;                   /* size 40 */

_Static_assert(__builtin_offsetof(Record, id) == 0, "Record.id");
_Static_assert(__builtin_offsetof(Record, name) == 4, "Record.name");
_Static_assert(__builtin_offsetof(Record, handle) == 8, "Record.handle");
_Static_assert(__builtin_offsetof(Record, weight) == 16, "Record.weight");
_Static_assert(__builtin_offsetof(Record, flags) == 24, "Record.flags");
_Static_assert(__builtin_offsetof(Record, data) == 28, "Record.data");
_Static_assert(__builtin_offsetof(Record, data_len) == 32, "Record.data_len");
_Static_assert(sizeof(Record) == 40, "sizeof(Record)");
_Static_assert(sizeof(Counter) == 8, "sizeof(Counter)");

/* ---- DllMain and state ---- */

static ULONG attaches;
static int counter;

int __stdcall DllMain(PVOID inst, ULONG reason, PVOID reserved) {
    (void)inst;
    if (reason == 1) {
        attaches++;
        print("interop: attach\n");
    }
    if (reason == 0) print(reserved ? "interop: detach (process exit)\n" : "interop: detach\n");
    return 1;
}

ULONG __stdcall attach_count(void) { return attaches; }
int __stdcall counter_next(void) { return ++counter; }
int __stdcall ord_only(void) { return 0x5050; }

/* ---- calling conventions ---- */

int __stdcall add_stdcall(int a, int b) { return a + b; }
int __cdecl add_cdecl(int a, int b) { return a + b; }
int __fastcall add_fastcall(int a, int b, int c) { return a + b + c; }
int __attribute__((thiscall)) counter_add(Counter *this_, int n) {
    this_->value += n;
    this_->calls++;
    return this_->value;
}
unsigned long long __cdecl mul_u64(unsigned long long a, unsigned long long b) { return a * b; }
long long __stdcall sub_i64(long long a, long long b) { return a - b; }
int __cdecl widen_small(signed char a, unsigned char b, short c, unsigned short d) {
    return (int)a + b + c + d;
}
double __stdcall fma_f64(double a, double b, double c) { return a * b + c; }
float __cdecl half_f32(float x) { return x / 2; }
double __cdecl mix(signed char a, unsigned short b, int c, long long d, float e, double f) {
    return (double)a + (double)b + (double)c + (double)d + (double)e + f;
}

/* ---- strings and buffers ---- */

/* Appends to a bounded buffer, counting every character it would need. */
typedef struct { char *out; int cap; int len; } Out;

static void put_c(Out *o, char c) {
    if (o->len + 1 < o->cap) o->out[o->len] = c;
    o->len++;
}
static void put_s(Out *o, const char *s) { while (*s) put_c(o, *s++); }
static void put_u(Out *o, unsigned v) {
    char b[10]; int n = 0;
    do { b[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) put_c(o, b[--n]);
}
static void put_i(Out *o, int v) {
    if (v < 0) { put_c(o, '-'); put_u(o, 0u - (unsigned)v); } else put_u(o, (unsigned)v);
}
static void put_x(Out *o, unsigned v) {
    char b[8]; int n = 0;
    do { b[n++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
    while (n) put_c(o, b[--n]);
}
/* NUL-terminates (when cap > 0) and returns the length needed without the NUL. */
static int put_end(Out *o) {
    if (o->cap > 0) o->out[o->len < o->cap ? o->len : o->cap - 1] = 0;
    return o->len;
}

unsigned __stdcall str_length(const char *s) {
    unsigned n = 0;
    if (!s) return 0;
    while (s[n]) n++;
    return n;
}
unsigned __stdcall wstr_length(const unsigned short *s) {
    unsigned n = 0;
    if (!s) return 0;
    while (s[n]) n++;
    return n;
}
void __stdcall str_upper(char *s) {
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z') *s = (char)(*s - 'a' + 'A');
}
int __stdcall greet(const char *name, char *out, int cap) {
    Out o = { out, cap, 0 };
    put_s(&o, "Hello, ");
    put_s(&o, name);
    put_c(&o, '!');
    return put_end(&o);
}
int __stdcall wgreet(const unsigned short *name, unsigned short *out, int cap) {
    static const unsigned short hello[] = { 'H', 'e', 'l', 'l', 'o', ',', ' ', 0 };
    int len = 0, i;
    for (i = 0; hello[i]; i++, len++)
        if (len + 1 < cap) out[len] = hello[i];
    for (i = 0; name[i]; i++, len++)
        if (len + 1 < cap) out[len] = name[i];
    if (len + 1 < cap) out[len] = '!';
    len++;
    if (cap > 0) out[len < cap ? len : cap - 1] = 0;
    return len;
}
unsigned __stdcall sum_bytes(const unsigned char *p, int n) {
    unsigned s = 0; int i;
    for (i = 0; i < n; i++) s += p[i];
    return s;
}
void __stdcall fill_bytes(unsigned char *p, int n, int v) {
    int i;
    for (i = 0; i < n; i++) p[i] = (unsigned char)v;
}
void __stdcall xor_bytes(unsigned char *p, int n, unsigned char key) {
    int i;
    for (i = 0; i < n; i++) p[i] ^= key;
}

/* ---- a struct with pointers and a handle ---- */

int __stdcall record_describe(const Record *r, char *out, int cap) {
    Out o = { out, cap, 0 };
    put_s(&o, "id="); put_u(&o, r->id);
    put_s(&o, " name="); put_s(&o, r->name ? r->name : "(null)");
    put_s(&o, " handle="); put_i(&o, (int)(LONG)r->handle);
    put_s(&o, " weight*4="); put_i(&o, (int)(r->weight * 4));
    put_s(&o, " flags="); put_x(&o, r->flags);
    put_s(&o, " sum="); put_u(&o, sum_bytes(r->data, (int)r->data_len));
    return put_end(&o);
}
void __stdcall record_update(Record *r) {
    static const char updated[] = "updated";
    unsigned i;
    r->id += 1;
    r->weight *= 2;
    r->flags |= 0x8000;
    r->handle = (HANDLE)((LONG)r->handle - 1);
    r->name = updated;
    for (i = 0; i < r->data_len; i++) r->data[i]++;
}

/* ---- handles ---- */

HANDLE __stdcall handle_echo(HANDLE h) { return h; }
int __stdcall is_current_process(HANDLE h) { return h == (HANDLE)(LONG)-1; }

/* ---- callbacks ---- */

int __stdcall enum_values(int (__stdcall *cb)(int value, void *ctx), void *ctx, int n) {
    int i, calls = 0;
    for (i = 0; i < n; i++) {
        calls++;
        if (!cb(i, ctx)) break;
    }
    return calls;
}
void __stdcall sort_ints(int *a, int n, int (__cdecl *cmp)(const void *, const void *)) {
    int i, j;
    for (i = 1; i < n; i++)
        for (j = i; j > 0 && cmp(&a[j - 1], &a[j]) > 0; j--) {
            int t = a[j - 1]; a[j - 1] = a[j]; a[j] = t;
        }
}
double __cdecl apply_f64(double (__cdecl *f)(double), double x) { return f(x) + 1.0; }
long long __stdcall apply_i64(long long (__stdcall *f)(long long, int), long long x) {
    return f(x, 3) * 2;
}

/* ---- faults and budget ---- */

int __stdcall fault_write(int *p) {
    *(volatile int *)p = 1234;
    return 1;
}
int __stdcall fault_div(int a, int b) {
    volatile int va = a, vb = b;
    return va / vb;
}
void __stdcall spin(void) {
    volatile unsigned n = 0;
    for (;;) n++;
}
