/* Minimal NT declarations for the x86wow test programs: freestanding, linked against
   ntdll only. Each program prints what it checked and exits with 0 on success, or a
   distinct non-zero code for the first check that failed. */
#ifndef X86WOW_NT_H
#define X86WOW_NT_H

typedef unsigned char UCHAR, BOOLEAN;
typedef unsigned short USHORT, WCHAR;
typedef unsigned long ULONG, ACCESS_MASK;
typedef long LONG, NTSTATUS;
typedef unsigned long ULONG_PTR, SIZE_T;
typedef void *PVOID, *HANDLE;
typedef long long LONGLONG;
typedef unsigned long long ULONGLONG;
typedef union { struct { ULONG LowPart; LONG HighPart; } u; LONGLONG QuadPart; } LARGE_INTEGER;

#define NTAPI __stdcall
#define NTIMPORT __declspec(dllimport)
#define NULL ((void *)0)
#define TRUE 1
#define FALSE 0

typedef struct { USHORT Length, MaximumLength; WCHAR *Buffer; } UNICODE_STRING;
typedef struct {
    ULONG Length; HANDLE RootDirectory; UNICODE_STRING *ObjectName; ULONG Attributes;
    PVOID SecurityDescriptor, SecurityQualityOfService;
} OBJECT_ATTRIBUTES;
typedef struct { union { NTSTATUS Status; PVOID Pointer; }; ULONG_PTR Information; } IO_STATUS_BLOCK;
typedef struct {
    PVOID BaseAddress, AllocationBase; ULONG AllocationProtect; SIZE_T RegionSize;
    ULONG State, Protect, Type;
} MEMORY_BASIC_INFORMATION;
typedef struct {
    NTSTATUS ExitStatus; PVOID PebBaseAddress; ULONG_PTR AffinityMask; LONG BasePriority;
    ULONG_PTR UniqueProcessId, InheritedFromUniqueProcessId;
} PROCESS_BASIC_INFORMATION;
typedef struct {
    ULONG Reserved, TimerResolution, PageSize, NumberOfPhysicalPages, LowestPhysicalPageNumber,
        HighestPhysicalPageNumber, AllocationGranularity;
    ULONG_PTR MinimumUserModeAddress, MaximumUserModeAddress, ActiveProcessorsAffinityMask;
    UCHAR NumberOfProcessors;
} SYSTEM_BASIC_INFORMATION;

typedef struct _EXCEPTION_RECORD {
    NTSTATUS ExceptionCode; ULONG ExceptionFlags; struct _EXCEPTION_RECORD *ExceptionRecord;
    PVOID ExceptionAddress; ULONG NumberParameters; ULONG_PTR ExceptionInformation[15];
} EXCEPTION_RECORD;
typedef struct {
    ULONG ContextFlags; ULONG Dr0, Dr1, Dr2, Dr3, Dr6, Dr7; UCHAR FloatSave[112];
    ULONG SegGs, SegFs, SegEs, SegDs, Edi, Esi, Ebx, Edx, Ecx, Eax, Ebp, Eip, SegCs, EFlags, Esp, SegSs;
    UCHAR ExtendedRegisters[512];
} CONTEXT;
typedef struct _SEH_FRAME {
    struct _SEH_FRAME *Next;
    int (__cdecl *Handler)(EXCEPTION_RECORD *, struct _SEH_FRAME *, CONTEXT *, PVOID);
} SEH_FRAME;

#define STATUS_SUCCESS ((NTSTATUS)0)
#define STATUS_TIMEOUT ((NTSTATUS)0x102)
#define STATUS_OBJECT_NAME_EXISTS ((NTSTATUS)0x40000000)
#define STATUS_GUARD_PAGE_VIOLATION ((NTSTATUS)0x80000001)
#define STATUS_BREAKPOINT ((NTSTATUS)0x80000003)
#define STATUS_NO_MORE_FILES ((NTSTATUS)0x80000006)
#define STATUS_INFO_LENGTH_MISMATCH ((NTSTATUS)0xC0000004)
#define STATUS_ACCESS_VIOLATION ((NTSTATUS)0xC0000005)
#define STATUS_INVALID_HANDLE ((NTSTATUS)0xC0000008)
#define STATUS_INVALID_PARAMETER ((NTSTATUS)0xC000000D)
#define STATUS_CONFLICTING_ADDRESSES ((NTSTATUS)0xC0000018)
#define STATUS_OBJECT_NAME_NOT_FOUND ((NTSTATUS)0xC0000034)
#define STATUS_OBJECT_NAME_COLLISION ((NTSTATUS)0xC0000035)
#define STATUS_ILLEGAL_INSTRUCTION ((NTSTATUS)0xC000001D)
#define STATUS_INTEGER_DIVIDE_BY_ZERO ((NTSTATUS)0xC0000094)
#define STATUS_PRIVILEGED_INSTRUCTION ((NTSTATUS)0xC0000096)
#define STATUS_INVALID_PARAMETER_3 ((NTSTATUS)0xC00000F1)
#define STATUS_INVALID_PARAMETER_4 ((NTSTATUS)0xC00000F2)

#define MEM_COMMIT 0x1000
#define MEM_RESERVE 0x2000
#define MEM_RELEASE 0x8000
#define MEM_FREE 0x10000
#define MEM_PRIVATE 0x20000
#define MEM_IMAGE 0x1000000
#define PAGE_NOACCESS 0x01
#define PAGE_READONLY 0x02
#define PAGE_READWRITE 0x04
#define PAGE_GUARD 0x100

#define OBJ_CASE_INSENSITIVE 0x40
#define SYNCHRONIZE 0x00100000
#define DELETE 0x00010000
#define GENERIC_READ 0x80000000
#define GENERIC_WRITE 0x40000000
#define FILE_LIST_DIRECTORY 0x0001
#define FILE_SHARE_READ 1
#define FILE_SHARE_WRITE 2
#define FILE_SHARE_DELETE 4
#define FILE_CREATE 2
#define FILE_OPEN 1
#define FILE_OPEN_IF 3
#define FILE_OVERWRITE_IF 5
#define FILE_DIRECTORY_FILE 0x1
#define FILE_SYNCHRONOUS_IO_NONALERT 0x20
#define FILE_NON_DIRECTORY_FILE 0x40
#define FILE_ATTRIBUTE_NORMAL 0x80
#define EVENT_ALL_ACCESS 0x1F0003

#define EXCEPTION_CONTINUE_EXECUTION 0
#define EXCEPTION_CONTINUE_SEARCH 1

#define NtCurrentProcess() ((HANDLE)(LONG)-1)
#define NtCurrentThread() ((HANDLE)(LONG)-2)

NTIMPORT NTSTATUS NTAPI NtClose(HANDLE);
NTIMPORT NTSTATUS NTAPI NtTerminateProcess(HANDLE, NTSTATUS);
NTIMPORT NTSTATUS NTAPI NtWriteFile(HANDLE, HANDLE, PVOID, PVOID, IO_STATUS_BLOCK *, const void *, ULONG,
                                    LARGE_INTEGER *, ULONG *);
NTIMPORT NTSTATUS NTAPI NtReadFile(HANDLE, HANDLE, PVOID, PVOID, IO_STATUS_BLOCK *, void *, ULONG,
                                   LARGE_INTEGER *, ULONG *);
NTIMPORT NTSTATUS NTAPI NtCreateFile(HANDLE *, ACCESS_MASK, OBJECT_ATTRIBUTES *, IO_STATUS_BLOCK *,
                                     LARGE_INTEGER *, ULONG, ULONG, ULONG, ULONG, PVOID, ULONG);
NTIMPORT NTSTATUS NTAPI NtQueryInformationFile(HANDLE, IO_STATUS_BLOCK *, PVOID, ULONG, ULONG);
NTIMPORT NTSTATUS NTAPI NtSetInformationFile(HANDLE, IO_STATUS_BLOCK *, PVOID, ULONG, ULONG);
NTIMPORT NTSTATUS NTAPI NtQueryDirectoryFile(HANDLE, HANDLE, PVOID, PVOID, IO_STATUS_BLOCK *, PVOID, ULONG,
                                             ULONG, BOOLEAN, UNICODE_STRING *, BOOLEAN);
NTIMPORT NTSTATUS NTAPI NtQueryAttributesFile(OBJECT_ATTRIBUTES *, PVOID);
NTIMPORT NTSTATUS NTAPI NtAllocateVirtualMemory(HANDLE, PVOID *, ULONG_PTR, SIZE_T *, ULONG, ULONG);
NTIMPORT NTSTATUS NTAPI NtFreeVirtualMemory(HANDLE, PVOID *, SIZE_T *, ULONG);
NTIMPORT NTSTATUS NTAPI NtProtectVirtualMemory(HANDLE, PVOID *, SIZE_T *, ULONG, ULONG *);
NTIMPORT NTSTATUS NTAPI NtQueryVirtualMemory(HANDLE, PVOID, ULONG, PVOID, SIZE_T, SIZE_T *);
NTIMPORT NTSTATUS NTAPI NtCreateEvent(HANDLE *, ACCESS_MASK, OBJECT_ATTRIBUTES *, ULONG, BOOLEAN);
NTIMPORT NTSTATUS NTAPI NtSetEvent(HANDLE, LONG *);
NTIMPORT NTSTATUS NTAPI NtResetEvent(HANDLE, LONG *);
NTIMPORT NTSTATUS NTAPI NtWaitForSingleObject(HANDLE, BOOLEAN, LARGE_INTEGER *);
NTIMPORT NTSTATUS NTAPI NtWaitForMultipleObjects(ULONG, HANDLE *, ULONG, BOOLEAN, LARGE_INTEGER *);
NTIMPORT NTSTATUS NTAPI NtDuplicateObject(HANDLE, HANDLE, HANDLE, HANDLE *, ACCESS_MASK, ULONG, ULONG);
NTIMPORT NTSTATUS NTAPI NtQueryInformationProcess(HANDLE, ULONG, PVOID, ULONG, ULONG *);
NTIMPORT NTSTATUS NTAPI NtQueryInformationThread(HANDLE, ULONG, PVOID, ULONG, ULONG *);
NTIMPORT NTSTATUS NTAPI NtQuerySystemInformation(ULONG, PVOID, ULONG, ULONG *);
NTIMPORT NTSTATUS NTAPI NtQuerySystemTime(LARGE_INTEGER *);
NTIMPORT NTSTATUS NTAPI NtDelayExecution(BOOLEAN, LARGE_INTEGER *);
NTIMPORT NTSTATUS NTAPI NtContinue(CONTEXT *, BOOLEAN);
NTIMPORT PVOID NTAPI RtlCreateHeap(ULONG, PVOID, SIZE_T, SIZE_T, PVOID, PVOID);
NTIMPORT PVOID NTAPI RtlAllocateHeap(PVOID, ULONG, SIZE_T);
NTIMPORT PVOID NTAPI RtlReAllocateHeap(PVOID, ULONG, PVOID, SIZE_T);
NTIMPORT SIZE_T NTAPI RtlSizeHeap(PVOID, ULONG, PVOID);
NTIMPORT BOOLEAN NTAPI RtlFreeHeap(PVOID, ULONG, PVOID);
NTIMPORT void NTAPI RtlInitUnicodeString(UNICODE_STRING *, const WCHAR *);
NTIMPORT void NTAPI RtlUnwind(PVOID, PVOID, EXCEPTION_RECORD *, PVOID);
NTIMPORT void NTAPI RtlRaiseException(EXCEPTION_RECORD *);

/* ---- helpers ---- */

static inline void *teb(void) { void *t; __asm__ volatile("movl %%fs:0x18, %0" : "=r"(t)); return t; }
static inline void *peb(void) { void *p; __asm__ volatile("movl %%fs:0x30, %0" : "=r"(p)); return p; }

/* StandardOutput from the PEB's process parameters (PEB32+0x10 -> params+0x1C). */
static HANDLE std_out(void) {
    char *params = *(char **)((char *)peb() + 0x10);
    return *(HANDLE *)(params + 0x1C);
}

static ULONG str_len(const char *s) { ULONG n = 0; while (s[n]) n++; return n; }

static void print(const char *s) {
    IO_STATUS_BLOCK io;
    NtWriteFile(std_out(), NULL, NULL, NULL, &io, s, str_len(s), NULL, NULL);
}

static void print_hex(ULONG v) {
    char b[11]; int i;
    b[0] = '0'; b[1] = 'x';
    for (i = 0; i < 8; i++) b[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 15];
    b[10] = 0;
    print(b);
}

static int failures_seen;

/* Prints "ok: what" or "FAIL: what (got X)" and, on failure, exits with `code`. */
static void check(int ok, int code, const char *what, ULONG got) {
    if (ok) {
        print("ok: "); print(what); print("\n");
        return;
    }
    print("FAIL: "); print(what); print(" (got "); print_hex(got); print(")\n");
    failures_seen++;
    NtTerminateProcess(NtCurrentProcess(), code);
}

static void init_oa(OBJECT_ATTRIBUTES *oa, UNICODE_STRING *name, const WCHAR *s) {
    RtlInitUnicodeString(name, s);
    oa->Length = sizeof(*oa);
    oa->RootDirectory = NULL;
    oa->ObjectName = name;
    oa->Attributes = OBJ_CASE_INSENSITIVE;
    oa->SecurityDescriptor = NULL;
    oa->SecurityQualityOfService = NULL;
}

/* SEH registration by hand (no __try with -nostdlib). */
static inline void seh_push(SEH_FRAME *f) {
    __asm__ volatile("movl %%fs:0, %%eax\n\tmovl %%eax, (%0)\n\tmovl %0, %%fs:0" : : "r"(f) : "eax", "memory");
}
static inline void seh_pop(SEH_FRAME *f) {
    __asm__ volatile("movl %0, %%fs:0" : : "r"(f->Next) : "memory");
}

#endif
