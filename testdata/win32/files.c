/* Files in the sandbox: create a directory and a file, write, read back, query, rename,
   list the directory, delete. */
#include "nt.h"

typedef struct { LARGE_INTEGER AllocationSize, EndOfFile; ULONG NumberOfLinks; BOOLEAN DeletePending, Directory; } FILE_STANDARD_INFORMATION;
typedef struct { BOOLEAN ReplaceIfExists; HANDLE RootDirectory; ULONG FileNameLength; WCHAR FileName[64]; } FILE_RENAME_INFORMATION;
typedef struct { ULONG NextEntryOffset, FileIndex, FileNameLength; WCHAR FileName[1]; } FILE_NAMES_INFORMATION;

static int wide_eq(const WCHAR *a, ULONG bytes, const char *b) {
    ULONG i;
    for (i = 0; i < bytes / 2; i++)
        if (a[i] != (WCHAR)b[i]) return 0;
    return b[i] == 0;
}

int start(void) {
    OBJECT_ATTRIBUTES oa; UNICODE_STRING name; IO_STATUS_BLOCK io;
    HANDLE dir, f; NTSTATUS st;
    char buf[64]; ULONG i;

    init_oa(&oa, &name, L"\\??\\C:\\work");
    st = NtCreateFile(&dir, FILE_LIST_DIRECTORY | SYNCHRONIZE, &oa, &io, NULL, 0, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                      FILE_OPEN_IF, FILE_DIRECTORY_FILE | FILE_SYNCHRONOUS_IO_NONALERT, NULL, 0);
    check(st == STATUS_SUCCESS, 1, "create directory C:\\work", st);

    init_oa(&oa, &name, L"\\??\\C:\\work\\data.txt");
    io.Status = -1; io.Information = 0xdead;
    st = NtCreateFile(&f, GENERIC_READ | GENERIC_WRITE | DELETE | SYNCHRONIZE, &oa, &io, NULL, FILE_ATTRIBUTE_NORMAL, 0,
                      FILE_CREATE, FILE_NON_DIRECTORY_FILE | FILE_SYNCHRONOUS_IO_NONALERT, NULL, 0);
    check(st == STATUS_SUCCESS, 2, "create C:\\work\\data.txt", st);
    check(io.Status == 0 && io.Information == 2, 3, "IO_STATUS_BLOCK says FILE_CREATED", io.Information);

    st = NtCreateFile(&f + 0, 0, &oa, &io, NULL, 0, 0, FILE_CREATE, FILE_NON_DIRECTORY_FILE, NULL, 0);
    check(st == STATUS_OBJECT_NAME_COLLISION, 4, "creating it again collides", st);

    st = NtWriteFile(f, NULL, NULL, NULL, &io, "0123456789abcdef", 16, NULL, NULL);
    check(st == STATUS_SUCCESS && io.Information == 16, 5, "write 16 bytes", io.Information);

    {
        LARGE_INTEGER off; off.QuadPart = 4;
        for (i = 0; i < sizeof buf; i++) buf[i] = 0;
        st = NtReadFile(f, NULL, NULL, NULL, &io, buf, sizeof buf, &off, NULL);
        check(st == STATUS_SUCCESS && io.Information == 12 && buf[0] == '4' && buf[11] == 'f', 6, "read back from offset 4", io.Information);
    }
    {
        FILE_STANDARD_INFORMATION si;
        st = NtQueryInformationFile(f, &io, &si, sizeof si, 5);
        check(st == STATUS_SUCCESS && si.EndOfFile.QuadPart == 16 && !si.Directory, 7, "FileStandardInformation: 16 bytes", (ULONG)si.EndOfFile.QuadPart);
    }
    {
        FILE_RENAME_INFORMATION ri; const WCHAR *to = L"\\??\\C:\\work\\renamed.txt";
        ri.ReplaceIfExists = FALSE; ri.RootDirectory = NULL;
        for (i = 0; to[i]; i++) ri.FileName[i] = to[i];
        ri.FileNameLength = i * 2;
        st = NtSetInformationFile(f, &io, &ri, sizeof ri, 10);
        check(st == STATUS_SUCCESS, 8, "rename to renamed.txt", st);
    }
    {
        ULONG attrs[10];
        init_oa(&oa, &name, L"\\??\\C:\\work\\data.txt");
        st = NtQueryAttributesFile(&oa, attrs);
        check(st == STATUS_OBJECT_NAME_NOT_FOUND, 9, "data.txt is gone", st);
        init_oa(&oa, &name, L"\\??\\C:\\work\\renamed.txt");
        st = NtQueryAttributesFile(&oa, attrs);
        check(st == STATUS_SUCCESS, 10, "renamed.txt exists", st);
    }
    {
        ULONG list[256]; FILE_NAMES_INFORMATION *e; int found = 0, count = 0;
        st = NtQueryDirectoryFile(dir, NULL, NULL, NULL, &io, list, sizeof list, 12, FALSE, NULL, TRUE);
        check(st == STATUS_SUCCESS, 11, "list C:\\work", st);
        e = (FILE_NAMES_INFORMATION *)list;
        for (;;) {
            count++;
            if (wide_eq(e->FileName, e->FileNameLength, "renamed.txt")) found = 1;
            if (!e->NextEntryOffset) break;
            e = (FILE_NAMES_INFORMATION *)((char *)e + e->NextEntryOffset);
        }
        check(found && count == 3, 12, "listing is . .. renamed.txt", count);
        st = NtQueryDirectoryFile(dir, NULL, NULL, NULL, &io, list, sizeof list, 12, FALSE, NULL, FALSE);
        check(st == STATUS_NO_MORE_FILES, 13, "then no more files", st);
    }
    {
        BOOLEAN del = TRUE;
        st = NtSetInformationFile(f, &io, &del, 1, 13);
        check(st == STATUS_SUCCESS, 14, "mark for deletion", st);
        NtClose(f);
        st = NtQueryAttributesFile(&oa, buf);
        check(st == STATUS_OBJECT_NAME_NOT_FOUND, 15, "deleted on close", st);
    }
    NtClose(dir);
    print("files: all checks passed\n");
    return 0;
}
