//! Exceptions without handlers end the process with the code Windows gives them; the
//! legacy `int 0x2e` gate, `__fastfail` and the service-number rules. (Handlers that
//! catch exceptions are exercised by testdata/win32/seh.c and memory.c.)

use x86wow_wow64::ntdll::NTDLL_BASE;
use x86wow_wow64::pebuild::{scn, PeBuilder};
use x86wow_wow64::{thunks, Error, Process};

fn run_code(code: &[u8]) -> (u32, Option<String>) {
    let mut pe = PeBuilder::new(0x40_0000, false);
    pe.entry_rva = pe.add_section(".text", scn::CODE, code.to_vec());
    let mut p = Process::builder().max_insns(5_000_000).build(&pe.build()).unwrap();
    let st = p.run_checked().unwrap();
    (st, p.message().map(str::to_string))
}

fn id(name: &str) -> u32 {
    thunks::THUNKS.iter().position(|t| t.name == name).unwrap() as u32
}

#[test]
fn unhandled_exceptions_exit_with_their_code() {
    let cases: &[(&[u8], u32, &str)] = &[
        (&[0xCC], 0x8000_0003, "STATUS_BREAKPOINT"),
        (&[0x0F, 0x0B], 0xC000_001D, "STATUS_ILLEGAL_INSTRUCTION"),
        (&[0xFA], 0xC000_0096, "STATUS_PRIVILEGED_INSTRUCTION"),
        (&[0x31, 0xC9, 0xF7, 0xF1], 0xC000_0094, "STATUS_INTEGER_DIVIDE_BY_ZERO"),
        // mov ah, 0 ; div ah (a high-byte divisor)
        (&[0xB4, 0x00, 0xF6, 0xF4], 0xC000_0094, "STATUS_INTEGER_DIVIDE_BY_ZERO"),
        // mov ax, 0x200 ; mov cl, 1 ; div cl: the quotient does not fit in AL
        (&[0x66, 0xB8, 0, 2, 0xB1, 0x01, 0xF6, 0xF1], 0xC000_0095, "STATUS_INTEGER_OVERFLOW"),
        // mov eax, 0x80000000 ; cdq ; mov ecx, -1 ; idiv ecx
        (
            &[0xB8, 0, 0, 0, 0x80, 0x99, 0xB9, 0xFF, 0xFF, 0xFF, 0xFF, 0xF7, 0xF9],
            0xC000_0095,
            "STATUS_INTEGER_OVERFLOW",
        ),
        // mov eax, [0] (read of NULL)
        (&[0xA1, 0, 0, 0, 0], 0xC000_0005, "reading 0x00000000"),
        // pushfd ; or dword [esp], 0x100 ; popfd ; nop
        (&[0x9C, 0x81, 0x0C, 0x24, 0, 1, 0, 0, 0x9D, 0x90], 0x8000_0004, "STATUS_SINGLE_STEP"),
        // int 0x80: no gate for user mode
        (&[0xCD, 0x80], 0xC000_0005, "STATUS_ACCESS_VIOLATION"),
        // call $ forever: the stack runs out
        (&[0xE8, 0xFB, 0xFF, 0xFF, 0xFF], 0xC000_00FD, "STATUS_STACK_OVERFLOW"),
    ];
    for (code, status, text) in cases {
        let (st, msg) = run_code(code);
        let msg = msg.unwrap_or_default();
        assert_eq!(st, *status, "{code:02x?}: {msg}");
        assert!(msg.contains(text), "{code:02x?}: {msg}");
    }
}

#[test]
fn fast_fail_ends_the_process_at_once() {
    // mov ecx, 7 ; int 0x29
    let (st, msg) = run_code(&[0xB9, 7, 0, 0, 0, 0xCD, 0x29]);
    assert_eq!(st, 0xC000_0409);
    assert!(msg.unwrap().contains("fast fail (code 7)"));
}

#[test]
fn legacy_int_2e_gate_services_calls() {
    // push 0xdeadbeef ; mov edx, esp ; mov eax, id(NtClose) ; int 0x2e ; pop ecx ; ret
    let mut code = vec![0x68, 0xEF, 0xBE, 0xAD, 0xDE, 0x89, 0xE2, 0xB8];
    code.extend_from_slice(&id("NtClose").to_le_bytes());
    code.extend_from_slice(&[0xCD, 0x2E, 0x59, 0xC3]);
    assert_eq!(run_code(&code).0, 0xC000_0008, "STATUS_INVALID_HANDLE from NtClose(0xdeadbeef)");
}

#[test]
fn service_numbers_outside_the_table_are_invalid() {
    let gate = NTDLL_BASE + 0x1000;
    for eax in [0xFFFu32, 0x1000 | id("NtClose"), 0x2000] {
        // mov eax, n ; mov edx, Wow64SystemServiceCall ; call edx ; ret
        let mut code = vec![0xB8];
        code.extend_from_slice(&eax.to_le_bytes());
        code.push(0xBA);
        code.extend_from_slice(&gate.to_le_bytes());
        code.extend_from_slice(&[0xFF, 0xD2, 0xC3]);
        assert_eq!(run_code(&code).0, 0xC000_001C, "service {eax:#x}");
    }
}

#[test]
fn the_stubs_of_the_guest_ntdll_decode_back_to_the_table() {
    let p = Process::builder().build(&{
        let mut pe = PeBuilder::new(0x40_0000, false);
        pe.entry_rva = pe.add_section(".text", scn::CODE, vec![0xC3]);
        pe.build()
    });
    let p = p.unwrap();
    for (i, t) in thunks::THUNKS.iter().enumerate() {
        let nt = p.export("ntdll.dll", t.name).unwrap();
        let zw = p.export("ntdll.dll", &format!("Zw{}", &t.name[2..])).unwrap();
        assert_eq!(nt, zw);
        let mut code = [0u8; 16];
        p.cpu.mem.peek(nt as u64, &mut code).unwrap();
        let (sid, n) = x86wow_wow64::ntdll::decode_stub(&code).unwrap();
        assert_eq!((sid, n as usize), (i as u32, 4 * t.slots()), "{}", t.name);
    }
}

#[test]
fn the_budget_stops_an_endless_loop() {
    let mut pe = PeBuilder::new(0x40_0000, false);
    pe.entry_rva = pe.add_section(".text", scn::CODE, vec![0xEB, 0xFE]);
    let mut p = Process::builder().max_insns(10_000).build(&pe.build()).unwrap();
    assert_eq!(p.run_checked(), Err(Error::BudgetExhausted));
}

#[test]
fn a_service_writing_to_the_stack_guard_page_grows_the_stack() {
    // lea eax, [esp - 0x1100] (in the guard page below the committed top) ; push eax ;
    // push 0 (caller's return) ; mov eax, id(NtQuerySystemTime) ; mov edx, gate ;
    // call edx ; add esp, 8 ; ret
    let mut code = vec![0x8D, 0x84, 0x24, 0x00, 0xEF, 0xFF, 0xFF, 0x50, 0x6A, 0x00, 0xB8];
    code.extend_from_slice(&id("NtQuerySystemTime").to_le_bytes());
    code.push(0xBA);
    code.extend_from_slice(&(NTDLL_BASE + 0x1000).to_le_bytes());
    code.extend_from_slice(&[0xFF, 0xD2, 0x83, 0xC4, 0x08, 0xC3]);
    assert_eq!(run_code(&code).0, 0, "STATUS_SUCCESS, not STATUS_GUARD_PAGE_VIOLATION");
}

#[test]
fn services_are_dispatched_by_name_whatever_the_ids_of_the_mapped_ntdll() {
    // Renumber every stub of the guest ntdll (reverse order), as another ntdll build
    // would, and run a program with that ntdll from the sandbox.
    let mut image = x86wow_wow64::ntdll::build();
    let gate = (NTDLL_BASE + 0x1000).to_le_bytes();
    let n = thunks::THUNKS.len() as u32;
    let mut renumbered = 0;
    for i in 5..image.len() - 7 {
        if image[i] == 0xBA
            && image[i + 1..i + 5] == gate
            && image[i + 5..i + 7] == [0xFF, 0xD2]
            && image[i - 5] == 0xB8
        {
            let id = u32::from_le_bytes(image[i - 4..i].try_into().unwrap());
            image[i - 4..i].copy_from_slice(&(n - 1 - id).to_le_bytes());
            renumbered += 1;
        }
    }
    assert_eq!(renumbered, n);
    let root = std::env::temp_dir().join(format!("x86wow-ntdll-test-{}", std::process::id()));
    std::fs::create_dir_all(root.join("Windows/SysWOW64")).unwrap();
    std::fs::write(root.join("Windows/SysWOW64/ntdll.dll"), &image).unwrap();
    let hello = std::fs::read(format!("{}/../testdata/win32/hello.exe", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let (b, out) = Process::builder().root(&root).sandbox_ntdll().capture_output();
    let mut p = b.build(&hello).unwrap();
    let status = p.run();
    let _ = std::fs::remove_dir_all(&root);
    assert_eq!((status, out.stdout.text().as_str()), (0, "Hello, world!\n"));
}
