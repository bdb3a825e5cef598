/* Events, waits and handle errors, with the acceptance behaviours of the facts file. */
#include "nt.h"

int start(void) {
    OBJECT_ATTRIBUTES oa; UNICODE_STRING name; HANDLE e1, e2, e3, dup, both[2];
    NTSTATUS st; LONG prev; LARGE_INTEGER t;

    st = NtClose(NtCurrentProcess());
    check(st == STATUS_SUCCESS, 1, "NtClose(-1) is NtCurrentProcess: success", st);
    st = NtClose((HANDLE)0xdeadbeef);
    check(st == STATUS_INVALID_HANDLE, 2, "NtClose(0xdeadbeef) = STATUS_INVALID_HANDLE", st);

    init_oa(&oa, &name, L"\\BaseNamedObjects\\x86wow-test-event");
    st = NtCreateEvent(&e1, EVENT_ALL_ACCESS, &oa, 0 /* NotificationEvent */, FALSE);
    check(st == STATUS_SUCCESS, 3, "create named event", st);
    st = NtCreateEvent(&e2, EVENT_ALL_ACCESS, &oa, 0, FALSE);
    check(st == STATUS_OBJECT_NAME_COLLISION, 4, "create it again: STATUS_OBJECT_NAME_COLLISION", st);
    oa.Attributes |= 0x80; /* OBJ_OPENIF, as CreateEvent passes it */
    e2 = NULL;
    st = NtCreateEvent(&e2, EVENT_ALL_ACCESS, &oa, 0, FALSE);
    check(st == STATUS_OBJECT_NAME_EXISTS && e2 != NULL && e2 != e1, 20, "again with OBJ_OPENIF: STATUS_OBJECT_NAME_EXISTS with a handle", st);

    t.QuadPart = -10000; /* 1 ms */
    st = NtWaitForSingleObject(e1, FALSE, &t);
    check(st == STATUS_TIMEOUT, 5, "wait on a clear event times out", st);
    st = NtSetEvent(e2, &prev);
    check(st == STATUS_SUCCESS && prev == 0, 6, "set through the second handle", st);
    st = NtWaitForSingleObject(e1, FALSE, &t);
    check(st == STATUS_SUCCESS, 7, "now the wait succeeds", st);

    st = NtCreateEvent(&e3, EVENT_ALL_ACCESS, NULL, 1 /* SynchronizationEvent */, TRUE);
    check(st == STATUS_SUCCESS, 8, "create an auto-reset event, signaled", st);
    NtResetEvent(e1, NULL);
    both[0] = e1; both[1] = e3;
    st = NtWaitForMultipleObjects(2, both, 1 /* WaitAny */, FALSE, &t);
    check(st == 1, 9, "wait any of two returns index 1", st);
    st = NtWaitForSingleObject(e3, FALSE, &t);
    check(st == STATUS_TIMEOUT, 10, "the auto-reset event reset itself", st);

    st = NtDuplicateObject(NtCurrentProcess(), e1, NtCurrentProcess(), &dup, 0, 0, 2 /* SAME_ACCESS */);
    check(st == STATUS_SUCCESS && dup != e1, 11, "duplicate a handle", st);
    st = NtClose(dup);
    check(st == STATUS_SUCCESS, 12, "close the duplicate", st);
    st = NtClose(dup);
    check(st == STATUS_INVALID_HANDLE, 13, "closing it twice is STATUS_INVALID_HANDLE", st);
    st = NtSetEvent((HANDLE)0x1234, NULL);
    check(st == STATUS_INVALID_HANDLE, 14, "NtSetEvent on a bad handle", st);
    st = NtWaitForSingleObject((HANDLE)0xdeadbeef, FALSE, &t);
    check(st == STATUS_INVALID_HANDLE, 15, "wait on a bad handle", st);
    st = NtCreateEvent(NULL, EVENT_ALL_ACCESS, NULL, 0, FALSE);
    check(st == STATUS_ACCESS_VIOLATION, 16, "NULL handle pointer: STATUS_ACCESS_VIOLATION", st);
    st = NtCreateEvent((HANDLE *)0x10, EVENT_ALL_ACCESS, NULL, 0, FALSE);
    check(st == STATUS_ACCESS_VIOLATION, 17, "bad handle pointer: STATUS_ACCESS_VIOLATION", st);
    oa.Length = 48;
    st = NtCreateEvent(&e3, EVENT_ALL_ACCESS, &oa, 0, FALSE);
    check(st == STATUS_INVALID_PARAMETER, 18, "OBJECT_ATTRIBUTES32 with Length 48 is invalid", st);
    {
        LARGE_INTEGER a, b;
        NtQuerySystemTime(&a);
        t.QuadPart = -5000000; /* 0.5 s */
        st = NtDelayExecution(FALSE, &t);
        NtQuerySystemTime(&b);
        check(st == STATUS_SUCCESS && b.QuadPart - a.QuadPart >= 5000000, 19, "NtDelayExecution advances the clock", (ULONG)(b.QuadPart - a.QuadPart));
    }
    NtClose(e1); NtClose(e2); NtClose(e3);
    print("events: all checks passed\n");
    return 0;
}
