//! The guest ntdll.dll: a 32-bit PE image that x86wow builds in memory.
//!
//! # Exports
//!
//! - `Nt*` and `Zw*` for every service of [`crate::thunks::THUNKS`]: system-call stubs of
//!   the Windows 10 shape `B8 id32 ; BA Wow64SystemServiceCall ; FF D2 ; C2 n16`
//!   (`C3` when the service has no arguments), padded to 16 bytes. The id is the
//!   service's index in the table.
//! - `Wow64SystemServiceCall`: `EA 00000000 3300` (`jmp 0033:0`), the gate to 64-bit
//!   code where the CPU stops and the wow64 layer services the call.
//! - `KiUserExceptionDispatcher(EXCEPTION_RECORD*, CONTEXT*)` (entered with those two
//!   pointers at [ESP]): calls `RtlDispatchException`, then `NtContinue` on success or
//!   `NtRaiseException(FirstChance = FALSE)` when no handler took the exception.
//! - `RtlDispatchException(rec, ctx)`: walks the SEH chain at fs:[0], checking each
//!   frame against the TEB's stack limits, calling handlers as
//!   `handler(rec, frame, ctx, &dispatcher_context)` (cdecl).
//! - `RtlUnwind(target_frame, target_ip, rec, return_value)`: calls the handlers of the
//!   frames above the target with EXCEPTION_UNWINDING, unlinks them, and returns.
//! - `RtlRaiseException(rec)`, `RtlRaiseStatus(status)`, `RtlCaptureContext(ctx)`.
//! - `LdrInitializeThunk(init_block)`: the process start: calls the initialisation
//!   routines of the block (DllMain with DLL_PROCESS_ATTACH, TLS callbacks), then the
//!   entry point with the PEB; when it returns, the same routines in reverse order
//!   with DLL_PROCESS_DETACH, then `NtTerminateProcess(-1, result)`.
//! - A process heap made by LdrInitializeThunk (PEB.ProcessHeap): `RtlCreateHeap`,
//!   `RtlAllocateHeap`, `RtlReAllocateHeap`, `RtlSizeHeap`, `RtlFreeHeap`,
//!   `RtlDestroyHeap`. Blocks are carved from one committed region (1 MiB by
//!   default) and never reused: freeing succeeds and forgets, so new blocks are zeroed.
//! - `RtlInitUnicodeString`, `RtlInitAnsiString`, `RtlGetCurrentPeb`, `NtCurrentTeb`,
//!   `RtlGetLastWin32Error`, `RtlSetLastWin32Error`, `DbgBreakPoint`.
//! - C runtime pieces ntdll exports (cdecl): `memcpy`, `memmove`, `memset`, `memcmp`,
//!   `strlen`, `wcslen`; and the stdcall memory routines `RtlMoveMemory`,
//!   `RtlFillMemory`, `RtlZeroMemory`, `RtlCompareMemory`, plus `RtlExitUserProcess`.
//! - `__x86wow_ReturnTrap`: a `hlt` where host-initiated calls return.

use iced_x86::code_asm::{
    al, ax, byte_ptr, cs, ds, dword_ptr, eax, ebp, ebx, ecx, edi, edx, es, esi, esp, fs, gs, ss, word_ptr,
    CodeAssembler, CodeLabel, IcedError,
};
use iced_x86::BlockEncoderOptions;

use crate::pebuild::{self, scn, PeBuilder};
use crate::thunks::THUNKS;

/// Preferred base of the guest ntdll (relocations stripped: it must load there).
pub const NTDLL_BASE: u32 = 0x7790_0000;

const TEXT_RVA: u32 = 0x1000;

/// CONTEXT32 offsets and flags.
pub mod ctx {
    pub const SIZE: u32 = 0x2CC;
    pub const FLAGS: u32 = 0x00;
    pub const SEG_GS: u32 = 0x8C;
    pub const SEG_FS: u32 = 0x90;
    pub const SEG_ES: u32 = 0x94;
    pub const SEG_DS: u32 = 0x98;
    pub const EDI: u32 = 0x9C;
    pub const ESI: u32 = 0xA0;
    pub const EBX: u32 = 0xA4;
    pub const EDX: u32 = 0xA8;
    pub const ECX: u32 = 0xAC;
    pub const EAX: u32 = 0xB0;
    pub const EBP: u32 = 0xB4;
    pub const EIP: u32 = 0xB8;
    pub const SEG_CS: u32 = 0xBC;
    pub const EFLAGS: u32 = 0xC0;
    pub const ESP: u32 = 0xC4;
    pub const SEG_SS: u32 = 0xC8;
    pub const CONTEXT_I386: u32 = 0x1_0000;
    pub const CONTROL: u32 = CONTEXT_I386 | 1;
    pub const INTEGER: u32 = CONTEXT_I386 | 2;
    pub const SEGMENTS: u32 = CONTEXT_I386 | 4;
    pub const FULL: u32 = CONTROL | INTEGER | SEGMENTS;
}

/// EXCEPTION_RECORD32 size and flags.
pub mod rec {
    pub const SIZE: u32 = 0x50;
    pub const NONCONTINUABLE: u32 = 1;
    pub const UNWINDING: u32 = 2;
    pub const EXIT_UNWIND: u32 = 4;
    pub const STACK_INVALID: u32 = 8;
}

type R<T> = Result<T, IcedError>;

/// Builds the guest ntdll image file.
pub fn build() -> Vec<u8> {
    // The code is fixed, so a failure here is a bug in this file, caught by its tests.
    build_image().expect("the guest ntdll assembles")
}

struct Asm {
    a: CodeAssembler,
    /// (export name, label)
    exports: Vec<(String, CodeLabel)>,
}

impl Asm {
    fn func(&mut self, name: &str) -> R<CodeLabel> {
        let mut l = self.a.create_label();
        self.a.set_label(&mut l)?;
        self.exports.push((name.to_string(), l));
        Ok(l)
    }
}

fn build_image() -> R<Vec<u8>> {
    let text_va = NTDLL_BASE + TEXT_RVA;
    let mut s = Asm { a: CodeAssembler::new(32)?, exports: Vec::new() };

    // The gate first, so that the stubs can name its (known) address.
    s.func("Wow64SystemServiceCall")?;
    s.a.db(&[0xEA, 0, 0, 0, 0, 0x33, 0x00])?;
    s.a.db(&[0xCC; 9])?;
    let mut stub_labels = Vec::new();
    for (id, t) in THUNKS.iter().enumerate() {
        let mut l = s.a.create_label();
        s.a.set_label(&mut l)?;
        let mut b = vec![0xB8];
        b.extend_from_slice(&(id as u32).to_le_bytes());
        b.push(0xBA);
        b.extend_from_slice(&text_va.to_le_bytes());
        b.extend_from_slice(&[0xFF, 0xD2]);
        let n = 4 * t.slots() as u16;
        if n == 0 {
            b.push(0xC3);
        } else {
            b.push(0xC2);
            b.extend_from_slice(&n.to_le_bytes());
        }
        b.resize(16, 0x90);
        s.a.db(&b)?;
        s.exports.push((t.name.to_string(), l));
        s.exports.push((format!("Zw{}", &t.name[2..]), l));
        stub_labels.push((t.name, l));
    }
    let stub = |name: &str| -> CodeLabel {
        stub_labels.iter().find(|(n, _)| *n == name).map(|(_, l)| *l).unwrap_or_else(|| panic!("{name}"))
    };
    let nt_continue = stub("NtContinue");
    let nt_raise = stub("NtRaiseException");
    let nt_terminate = stub("NtTerminateProcess");
    let nt_allocate = stub("NtAllocateVirtualMemory");

    let a = &mut s.a;
    let mut raise_status = a.create_label();
    let mut raise_exception = a.create_label();
    let mut dispatch = a.create_label();
    let mut trap = a.create_label();
    let mut create_heap = a.create_label();

    // ---- KiUserExceptionDispatcher ----
    s.func("KiUserExceptionDispatcher")?;
    let a = &mut s.a;
    a.cld()?;
    a.mov(ecx, dword_ptr(esp))?;
    a.mov(edx, dword_ptr(esp + 4))?;
    a.push(edx)?;
    a.push(ecx)?;
    a.call(dispatch)?;
    let mut unhandled = a.create_label();
    a.test(al, al)?;
    a.jz(unhandled)?;
    a.mov(edx, dword_ptr(esp + 4))?;
    a.push(0)?;
    a.push(edx)?;
    a.call(nt_continue)?;
    a.push(eax)?;
    a.call(raise_status)?;
    a.set_label(&mut unhandled)?;
    a.mov(ecx, dword_ptr(esp))?;
    a.mov(edx, dword_ptr(esp + 4))?;
    a.push(0)?;
    a.push(edx)?;
    a.push(ecx)?;
    a.call(nt_raise)?;
    a.push(eax)?;
    a.call(raise_status)?;
    a.int3()?;

    // ---- RtlDispatchException(rec, ctx) -> BOOLEAN ----
    let a = &mut s.a;
    a.set_label(&mut dispatch)?;
    s.exports.push(("RtlDispatchException".into(), dispatch));
    let a = &mut s.a;
    a.push(ebp)?;
    a.mov(ebp, esp)?;
    a.sub(esp, 8)?;
    a.push(ebx)?;
    a.push(esi)?;
    a.push(edi)?;
    a.mov(ebx, dword_ptr(ebp + 8))?;
    a.mov(esi, dword_ptr(0).fs())?;
    let mut lp = a.create_label();
    let mut not_found = a.create_label();
    let mut bad_stack = a.create_label();
    let mut next = a.create_label();
    let mut handled = a.create_label();
    let mut out = a.create_label();
    a.set_label(&mut lp)?;
    a.cmp(esi, -1)?;
    a.je(not_found)?;
    // The frame must lie on the stack, 4-byte aligned.
    a.cmp(esi, dword_ptr(8).fs())?;
    a.jb(bad_stack)?;
    a.lea(eax, dword_ptr(esi + 8))?;
    a.cmp(eax, dword_ptr(4).fs())?;
    a.ja(bad_stack)?;
    a.test(esi, 3)?;
    a.jnz(bad_stack)?;
    a.lea(eax, dword_ptr(ebp - 4))?;
    a.push(eax)?;
    a.push(dword_ptr(ebp + 12))?;
    a.push(esi)?;
    a.push(ebx)?;
    a.call(dword_ptr(esi + 4))?;
    a.add(esp, 16)?;
    a.cmp(eax, 1)?;
    a.je(next)?;
    a.cmp(eax, 2)?;
    a.je(next)?;
    let mut invalid = a.create_label();
    a.test(eax, eax)?;
    a.jnz(invalid)?;
    a.test(dword_ptr(ebx + 4), rec::NONCONTINUABLE)?;
    a.jz(handled)?;
    a.push(0xC000_0025u32 as i32)?; // STATUS_NONCONTINUABLE_EXCEPTION
    a.call(raise_status)?;
    a.set_label(&mut invalid)?;
    a.push(0xC000_0026u32 as i32)?; // STATUS_INVALID_DISPOSITION
    a.call(raise_status)?;
    a.set_label(&mut next)?;
    a.mov(esi, dword_ptr(esi))?;
    a.jmp(lp)?;
    a.set_label(&mut bad_stack)?;
    a.or(dword_ptr(ebx + 4), rec::STACK_INVALID)?;
    a.set_label(&mut not_found)?;
    a.xor(eax, eax)?;
    a.jmp(out)?;
    a.set_label(&mut handled)?;
    a.mov(eax, 1)?;
    a.set_label(&mut out)?;
    a.pop(edi)?;
    a.pop(esi)?;
    a.pop(ebx)?;
    a.leave()?;
    a.ret_1(8)?;

    // ---- RtlCaptureContext(ctx): the caller's state at its return address ----
    let capture = s.func("RtlCaptureContext")?;
    let a = &mut s.a;
    a.push(ebx)?;
    a.mov(ebx, dword_ptr(esp + 8))?;
    a.mov(dword_ptr(ebx + ctx::EAX), eax)?;
    a.mov(dword_ptr(ebx + ctx::ECX), ecx)?;
    a.mov(dword_ptr(ebx + ctx::EDX), edx)?;
    a.pop(eax)?;
    a.mov(dword_ptr(ebx + ctx::EBX), eax)?;
    a.mov(dword_ptr(ebx + ctx::ESI), esi)?;
    a.mov(dword_ptr(ebx + ctx::EDI), edi)?;
    a.mov(dword_ptr(ebx + ctx::EBP), ebp)?;
    a.mov(eax, dword_ptr(esp))?;
    a.mov(dword_ptr(ebx + ctx::EIP), eax)?;
    a.lea(eax, dword_ptr(esp + 8))?;
    a.mov(dword_ptr(ebx + ctx::ESP), eax)?;
    a.pushfd()?;
    a.pop(dword_ptr(ebx + ctx::EFLAGS))?;
    for (off, seg) in [
        (ctx::SEG_CS, cs),
        (ctx::SEG_SS, ss),
        (ctx::SEG_DS, ds),
        (ctx::SEG_ES, es),
        (ctx::SEG_FS, fs),
        (ctx::SEG_GS, gs),
    ] {
        a.mov(eax, seg)?;
        a.movzx(eax, ax)?;
        a.mov(dword_ptr(ebx + off), eax)?;
    }
    a.mov(dword_ptr(ebx), ctx::FULL)?;
    a.mov(eax, dword_ptr(ebx + ctx::EAX))?;
    a.mov(ebx, dword_ptr(ebx + ctx::EBX))?;
    a.ret_1(4)?;

    // ---- RtlRaiseException(rec) ----
    a.set_label(&mut raise_exception)?;
    s.exports.push(("RtlRaiseException".into(), raise_exception));
    let a = &mut s.a;
    a.push(ebp)?;
    a.mov(ebp, esp)?;
    a.sub(esp, ctx::SIZE)?;
    a.push(edi)?;
    a.push(ecx)?;
    a.push(eax)?;
    a.lea(edi, dword_ptr(esp + 12))?;
    a.mov(ecx, ctx::SIZE / 4)?;
    a.xor(eax, eax)?;
    a.rep().stosd()?;
    a.pop(eax)?;
    a.pop(ecx)?;
    a.pop(edi)?;
    a.push(esp)?;
    a.call(capture)?;
    // The context resumes in the caller, after this call (ESP as after `ret 4`).
    a.mov(eax, dword_ptr(ebp))?;
    a.mov(dword_ptr(esp + ctx::EBP), eax)?;
    a.mov(eax, dword_ptr(ebp + 4))?;
    a.mov(dword_ptr(esp + ctx::EIP), eax)?;
    a.lea(eax, dword_ptr(ebp + 12))?;
    a.mov(dword_ptr(esp + ctx::ESP), eax)?;
    a.mov(ecx, dword_ptr(ebp + 8))?;
    a.mov(eax, dword_ptr(ebp + 4))?;
    a.mov(dword_ptr(ecx + 12), eax)?;
    a.mov(eax, esp)?;
    a.push(1)?;
    a.push(eax)?;
    a.push(ecx)?;
    a.call(nt_raise)?;
    a.push(eax)?;
    a.call(raise_status)?;
    a.int3()?;

    // ---- RtlRaiseStatus(status): a noncontinuable exception ----
    a.set_label(&mut raise_status)?;
    s.exports.push(("RtlRaiseStatus".into(), raise_status));
    let a = &mut s.a;
    a.push(ebp)?;
    a.mov(ebp, esp)?;
    a.sub(esp, rec::SIZE)?;
    a.mov(eax, dword_ptr(ebp + 8))?;
    a.mov(dword_ptr(esp), eax)?;
    a.mov(dword_ptr(esp + 4), rec::NONCONTINUABLE)?;
    a.mov(dword_ptr(esp + 8), 0)?;
    a.mov(eax, dword_ptr(ebp + 4))?;
    a.mov(dword_ptr(esp + 12), eax)?;
    a.mov(dword_ptr(esp + 16), 0)?;
    a.push(esp)?;
    a.call(raise_exception)?;
    a.int3()?;

    // ---- RtlUnwind(target_frame, target_ip, rec, return_value) ----
    s.func("RtlUnwind")?;
    let a = &mut s.a;
    a.push(ebp)?;
    a.mov(ebp, esp)?;
    a.sub(esp, rec::SIZE + 8)?;
    a.push(ebx)?;
    a.push(esi)?;
    a.push(edi)?;
    a.mov(ebx, dword_ptr(ebp + 16))?;
    let mut have_rec = a.create_label();
    a.test(ebx, ebx)?;
    a.jnz(have_rec)?;
    a.lea(ebx, dword_ptr(ebp - (rec::SIZE as i32)))?;
    a.mov(dword_ptr(ebx), 0xC000_0027u32)?; // STATUS_UNWIND
    a.mov(dword_ptr(ebx + 4), 0)?;
    a.mov(dword_ptr(ebx + 8), 0)?;
    a.mov(eax, dword_ptr(ebp + 4))?;
    a.mov(dword_ptr(ebx + 12), eax)?;
    a.mov(dword_ptr(ebx + 16), 0)?;
    a.set_label(&mut have_rec)?;
    a.or(dword_ptr(ebx + 4), rec::UNWINDING)?;
    let mut not_exit = a.create_label();
    a.cmp(dword_ptr(ebp + 8), 0)?;
    a.jne(not_exit)?;
    a.or(dword_ptr(ebx + 4), rec::EXIT_UNWIND)?;
    a.set_label(&mut not_exit)?;
    a.mov(esi, dword_ptr(0).fs())?;
    let mut ulp = a.create_label();
    let mut udone = a.create_label();
    a.set_label(&mut ulp)?;
    a.cmp(esi, -1)?;
    a.je(udone)?;
    a.cmp(esi, dword_ptr(ebp + 8))?;
    a.je(udone)?;
    a.lea(eax, dword_ptr(ebp - (rec::SIZE as i32) - 4))?;
    a.push(eax)?;
    a.push(0)?; // no context for unwind handlers
    a.push(esi)?;
    a.push(ebx)?;
    a.call(dword_ptr(esi + 4))?;
    a.add(esp, 16)?;
    a.mov(esi, dword_ptr(esi))?;
    a.mov(dword_ptr(0).fs(), esi)?;
    a.jmp(ulp)?;
    a.set_label(&mut udone)?;
    a.mov(eax, dword_ptr(ebp + 20))?;
    a.pop(edi)?;
    a.pop(esi)?;
    a.pop(ebx)?;
    a.leave()?;
    a.ret_1(16)?;

    // ---- LdrInitializeThunk(block) ----
    // block: +0 count, +4 entry point (0: none), +8 argument for the entry (PEB),
    // +12 entries of 20 bytes: routine, arg1, arg2, arg3, flags (1 = FALSE fails).
    s.func("LdrInitializeThunk")?;
    let a = &mut s.a;
    a.mov(ebp, esp)?;
    // The process heap first (PEB.ProcessHeap), as the Windows loader makes it.
    for _ in 0..5 {
        a.push(0)?;
    }
    a.push(2)?; // HEAP_GROWABLE
    a.call(create_heap)?;
    a.mov(ecx, dword_ptr(0x30).fs())?;
    a.mov(dword_ptr(ecx + 0x18), eax)?;
    a.mov(esi, dword_ptr(esp + 4))?;
    a.mov(edi, dword_ptr(esi))?;
    a.lea(ebx, dword_ptr(esi + 12))?;
    let mut ilp = a.create_label();
    let mut inext = a.create_label();
    let mut ientry = a.create_label();
    a.set_label(&mut ilp)?;
    a.test(edi, edi)?;
    a.jz(ientry)?;
    a.push(dword_ptr(ebx + 12))?;
    a.push(dword_ptr(ebx + 8))?;
    a.push(dword_ptr(ebx + 4))?;
    a.call(dword_ptr(ebx))?;
    a.mov(esp, ebp)?;
    a.test(dword_ptr(ebx + 16), 1)?;
    a.jz(inext)?;
    a.test(al, al)?;
    a.jnz(inext)?;
    a.push(0xC000_0142u32 as i32)?; // STATUS_DLL_INIT_FAILED
    a.push(-1)?;
    a.call(nt_terminate)?;
    a.set_label(&mut inext)?;
    a.add(ebx, 20)?;
    a.dec(edi)?;
    a.jmp(ilp)?;
    a.set_label(&mut ientry)?;
    a.mov(eax, dword_ptr(esi + 4))?;
    let mut no_entry = a.create_label();
    a.test(eax, eax)?;
    a.jz(no_entry)?;
    a.push(dword_ptr(esi + 8))?;
    a.call(eax)?;
    a.mov(esp, ebp)?;
    // The entry returned: the process exits as RtlExitUserProcess does, detaching
    // the DLLs (and TLS callbacks) in reverse order with lpReserved = 1, then
    // NtTerminateProcess(-1, result).
    a.push(eax)?;
    a.mov(edi, dword_ptr(esi))?;
    a.lea(eax, dword_ptr(edi + edi * 4))?;
    a.lea(ebx, dword_ptr(esi + eax * 4 + 12))?;
    let mut dlp = a.create_label();
    let mut ddone = a.create_label();
    a.set_label(&mut dlp)?;
    a.test(edi, edi)?;
    a.jz(ddone)?;
    a.sub(ebx, 20)?;
    a.push(1)?;
    a.push(0)?; // DLL_PROCESS_DETACH
    a.push(dword_ptr(ebx + 4))?;
    a.call(dword_ptr(ebx))?;
    a.lea(esp, dword_ptr(ebp - 4))?;
    a.dec(edi)?;
    a.jmp(dlp)?;
    a.set_label(&mut ddone)?;
    a.push(-1)?;
    a.call(nt_terminate)?;
    a.set_label(&mut no_entry)?;
    a.jmp(trap)?;

    // ---- a simple heap: blocks are carved from one committed region and never
    // reused (RtlFreeHeap succeeds and forgets), so fresh blocks are always zeroed. ----
    // Header: +0 'HEAP', +4 next free byte, +8 end, +12 flags. Block: size, pad, data.
    s.a.set_label(&mut create_heap)?;
    s.exports.push(("RtlCreateHeap".into(), create_heap));
    let a = &mut s.a;
    a.push(ebp)?;
    a.mov(ebp, esp)?;
    a.sub(esp, 8)?;
    a.mov(eax, dword_ptr(ebp + 16))?; // ReserveSize
    let mut have_size = a.create_label();
    let mut init = a.create_label();
    let mut hfail = a.create_label();
    a.test(eax, eax)?;
    a.jnz(have_size)?;
    a.mov(eax, 0x10_0000)?;
    a.set_label(&mut have_size)?;
    a.mov(dword_ptr(ebp - 4), eax)?;
    a.mov(ecx, dword_ptr(ebp + 12))?; // HeapBase: memory the caller provides
    a.test(ecx, ecx)?;
    a.jnz(init)?;
    a.mov(dword_ptr(ebp - 8), 0)?;
    a.lea(eax, dword_ptr(ebp - 4))?;
    a.lea(edx, dword_ptr(ebp - 8))?;
    a.push(4)?; // PAGE_READWRITE
    a.push(0x3000)?; // MEM_COMMIT | MEM_RESERVE
    a.push(eax)?;
    a.push(0)?;
    a.push(edx)?;
    a.push(-1)?;
    a.call(nt_allocate)?;
    a.test(eax, eax)?;
    a.js(hfail)?;
    a.mov(ecx, dword_ptr(ebp - 8))?;
    a.set_label(&mut init)?;
    a.mov(dword_ptr(ecx), 0x5041_4548u32)?; // "HEAP"
    a.lea(eax, dword_ptr(ecx + 16))?;
    a.mov(dword_ptr(ecx + 4), eax)?;
    a.mov(eax, ecx)?;
    a.add(eax, dword_ptr(ebp - 4))?;
    a.mov(dword_ptr(ecx + 8), eax)?;
    a.mov(eax, dword_ptr(ebp + 8))?;
    a.mov(dword_ptr(ecx + 12), eax)?;
    a.mov(eax, ecx)?;
    a.leave()?;
    a.ret_1(24)?;
    a.set_label(&mut hfail)?;
    a.xor(eax, eax)?;
    a.leave()?;
    a.ret_1(24)?;

    let alloc = s.func("RtlAllocateHeap")?;
    let a = &mut s.a;
    let mut afail = a.create_label();
    a.mov(ecx, dword_ptr(esp + 4))?;
    a.mov(eax, dword_ptr(esp + 12))?;
    a.cmp(eax, 0x7FFF_0000)?;
    a.ja(afail)?;
    a.add(eax, 15)?;
    a.and(eax, -8)?;
    a.mov(edx, dword_ptr(ecx + 4))?;
    a.add(eax, edx)?;
    a.jc(afail)?;
    a.cmp(eax, dword_ptr(ecx + 8))?;
    a.ja(afail)?;
    a.mov(dword_ptr(ecx + 4), eax)?;
    a.mov(eax, dword_ptr(esp + 12))?;
    a.mov(dword_ptr(edx), eax)?;
    a.lea(eax, dword_ptr(edx + 8))?;
    a.ret_1(12)?;
    a.set_label(&mut afail)?;
    a.xor(eax, eax)?;
    a.ret_1(12)?;

    s.func("RtlFreeHeap")?;
    s.a.mov(eax, 1)?;
    s.a.ret_1(12)?;

    s.func("RtlSizeHeap")?;
    s.a.mov(eax, dword_ptr(esp + 12))?;
    s.a.mov(eax, dword_ptr(eax - 8))?;
    s.a.ret_1(12)?;

    s.func("RtlDestroyHeap")?;
    s.a.xor(eax, eax)?;
    s.a.ret_1(4)?;

    s.func("RtlReAllocateHeap")?;
    let a = &mut s.a;
    let mut rout = a.create_label();
    let mut rok = a.create_label();
    a.push(ebp)?;
    a.mov(ebp, esp)?;
    a.push(esi)?;
    a.push(edi)?;
    a.push(dword_ptr(ebp + 20))?;
    a.push(dword_ptr(ebp + 12))?;
    a.push(dword_ptr(ebp + 8))?;
    a.call(alloc)?;
    a.test(eax, eax)?;
    a.jz(rout)?;
    a.mov(esi, dword_ptr(ebp + 16))?;
    a.test(esi, esi)?;
    a.jz(rout)?;
    a.mov(ecx, dword_ptr(esi - 8))?;
    a.cmp(ecx, dword_ptr(ebp + 20))?;
    a.jbe(rok)?;
    a.mov(ecx, dword_ptr(ebp + 20))?;
    a.set_label(&mut rok)?;
    a.mov(edi, eax)?;
    a.rep().movsb()?;
    a.set_label(&mut rout)?;
    a.pop(edi)?;
    a.pop(esi)?;
    a.pop(ebp)?;
    a.ret_1(16)?;

    // ---- small Rtl helpers ----
    s.func("RtlInitUnicodeString")?;
    init_string(&mut s.a, true)?;
    s.func("RtlInitAnsiString")?;
    init_string(&mut s.a, false)?;
    s.func("RtlGetCurrentPeb")?;
    s.a.mov(eax, dword_ptr(0x30).fs())?;
    s.a.ret()?;
    s.func("NtCurrentTeb")?;
    s.a.mov(eax, dword_ptr(0x18).fs())?;
    s.a.ret()?;
    s.func("RtlGetLastWin32Error")?;
    s.a.mov(eax, dword_ptr(0x34).fs())?;
    s.a.ret()?;
    s.func("RtlSetLastWin32Error")?;
    s.a.mov(eax, dword_ptr(esp + 4))?;
    s.a.mov(dword_ptr(0x34).fs(), eax)?;
    s.a.ret_1(4)?;
    s.func("DbgBreakPoint")?;
    s.a.int3()?;
    s.a.ret()?;
    s.a.set_label(&mut trap)?;
    s.exports.push(("__x86wow_ReturnTrap".into(), trap));
    s.a.hlt()?;

    // ---- C runtime ----
    let mm = s.func("memmove")?;
    s.exports.push(("memcpy".into(), mm));
    let a = &mut s.a;
    a.push(esi)?;
    a.push(edi)?;
    a.mov(edi, dword_ptr(esp + 12))?;
    a.mov(esi, dword_ptr(esp + 16))?;
    a.mov(ecx, dword_ptr(esp + 20))?;
    a.mov(eax, edi)?;
    let mut fwd = a.create_label();
    let mut mdone = a.create_label();
    a.cmp(edi, esi)?;
    a.jbe(fwd)?;
    a.lea(edx, dword_ptr(esi + ecx))?;
    a.cmp(edi, edx)?;
    a.jae(fwd)?;
    a.lea(esi, dword_ptr(esi + ecx - 1))?;
    a.lea(edi, dword_ptr(edi + ecx - 1))?;
    a.std()?;
    a.rep().movsb()?;
    a.cld()?;
    a.jmp(mdone)?;
    a.set_label(&mut fwd)?;
    a.rep().movsb()?;
    a.set_label(&mut mdone)?;
    a.pop(edi)?;
    a.pop(esi)?;
    a.ret()?;

    s.func("memset")?;
    let a = &mut s.a;
    a.push(edi)?;
    a.mov(edi, dword_ptr(esp + 8))?;
    a.mov(eax, dword_ptr(esp + 12))?;
    a.mov(ecx, dword_ptr(esp + 16))?;
    a.mov(edx, edi)?;
    a.rep().stosb()?;
    a.mov(eax, edx)?;
    a.pop(edi)?;
    a.ret()?;

    s.func("memcmp")?;
    let a = &mut s.a;
    a.push(esi)?;
    a.push(edi)?;
    a.mov(esi, dword_ptr(esp + 12))?;
    a.mov(edi, dword_ptr(esp + 16))?;
    a.mov(ecx, dword_ptr(esp + 20))?;
    a.xor(eax, eax)?;
    let mut cdone = a.create_label();
    a.test(ecx, ecx)?;
    a.jz(cdone)?;
    a.repe().cmpsb()?;
    a.je(cdone)?;
    a.movzx(eax, byte_ptr(esi - 1))?;
    a.movzx(edx, byte_ptr(edi - 1))?;
    a.sub(eax, edx)?;
    a.set_label(&mut cdone)?;
    a.pop(edi)?;
    a.pop(esi)?;
    a.ret()?;

    for (name, wide) in [("strlen", false), ("wcslen", true)] {
        s.func(name)?;
        let a = &mut s.a;
        a.mov(edx, dword_ptr(esp + 4))?;
        a.mov(eax, edx)?;
        let mut l = a.create_label();
        let mut e = a.create_label();
        a.set_label(&mut l)?;
        if wide {
            a.cmp(word_ptr(eax), 0)?;
        } else {
            a.cmp(byte_ptr(eax), 0)?;
        }
        a.je(e)?;
        a.add(eax, if wide { 2 } else { 1 })?;
        a.jmp(l)?;
        a.set_label(&mut e)?;
        a.sub(eax, edx)?;
        if wide {
            a.shr(eax, 1)?;
        }
        a.ret()?;
    }

    // ---- Rtl memory routines (stdcall; mingw's libntdll.a imports these) ----
    // RtlMoveMemory(Destination, Source, Length): memmove without a result.
    s.func("RtlMoveMemory")?;
    let a = &mut s.a;
    for _ in 0..3 {
        // Each push moves the next argument to [esp+12]: Length, Source, Destination.
        a.push(dword_ptr(esp + 12))?;
    }
    a.call(mm)?;
    a.add(esp, 12)?;
    a.ret_1(12)?;

    // RtlFillMemory(Destination, Length, Fill) and RtlZeroMemory(Destination, Length).
    for (name, zero) in [("RtlFillMemory", false), ("RtlZeroMemory", true)] {
        s.func(name)?;
        let a = &mut s.a;
        a.push(edi)?;
        a.mov(edi, dword_ptr(esp + 8))?;
        a.mov(ecx, dword_ptr(esp + 12))?;
        if zero {
            a.xor(eax, eax)?;
        } else {
            a.mov(eax, dword_ptr(esp + 16))?;
        }
        a.rep().stosb()?;
        a.pop(edi)?;
        a.ret_1(if zero { 8 } else { 12 })?;
    }

    // RtlCompareMemory(Source1, Source2, Length): how many leading bytes are equal.
    s.func("RtlCompareMemory")?;
    let a = &mut s.a;
    let (mut all, mut none, mut out) = (a.create_label(), a.create_label(), a.create_label());
    a.push(esi)?;
    a.push(edi)?;
    a.mov(esi, dword_ptr(esp + 12))?;
    a.mov(edi, dword_ptr(esp + 16))?;
    a.mov(ecx, dword_ptr(esp + 20))?;
    a.mov(edx, ecx)?;
    a.test(ecx, ecx)?;
    a.jz(none)?;
    a.repe().cmpsb()?;
    a.je(all)?;
    // Stopped after the first differing byte: ECX bytes were left after it.
    a.mov(eax, edx)?;
    a.sub(eax, ecx)?;
    a.dec(eax)?;
    a.jmp(out)?;
    a.set_label(&mut all)?;
    a.mov(eax, edx)?;
    a.jmp(out)?;
    a.set_label(&mut none)?;
    a.xor(eax, eax)?;
    a.set_label(&mut out)?;
    a.pop(edi)?;
    a.pop(esi)?;
    a.ret_1(12)?;

    // RtlExitUserProcess(ExitStatus): NtTerminateProcess(NtCurrentProcess(), ExitStatus).
    s.func("RtlExitUserProcess")?;
    let a = &mut s.a;
    a.push(dword_ptr(esp + 4))?;
    a.push(-1)?;
    a.call(nt_terminate)?;
    a.hlt()?;

    let result = s.a.assemble_options(text_va as u64, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
    let code = result.inner.code_buffer.clone();
    let mut exports = Vec::new();
    for (name, l) in &s.exports {
        let ip = result.label_ip(l)?;
        exports.push((name.clone(), (ip - NTDLL_BASE as u64) as u32));
    }

    let mut pe = PeBuilder::new(NTDLL_BASE, true);
    let text_rva = pe.add_section(".text", scn::CODE, code);
    debug_assert_eq!(text_rva, TEXT_RVA);
    let edata_rva = pe.next_rva();
    let refs: Vec<(&str, u32)> = exports.iter().map(|(n, r)| (n.as_str(), *r)).collect();
    let edata = pebuild::export_directory(edata_rva, "ntdll.dll", 1, &refs, &[]);
    let len = edata.len() as u32;
    pe.add_section(".edata", scn::RDATA, edata);
    pe.directories[pebuild::dir::EXPORT] = (edata_rva, len);
    Ok(pe.build())
}

/// RtlInitUnicodeString / RtlInitAnsiString(dest, src): Length from the terminator,
/// MaximumLength one character more; a NULL source gives an empty string.
fn init_string(a: &mut CodeAssembler, wide: bool) -> R<()> {
    let unit = if wide { 2 } else { 1 };
    let max = if wide { 0xFFFC } else { 0xFFFE };
    a.mov(edx, dword_ptr(esp + 4))?;
    a.mov(ecx, dword_ptr(esp + 8))?;
    a.mov(dword_ptr(edx), 0)?;
    a.mov(dword_ptr(edx + 4), ecx)?;
    let mut done = a.create_label();
    let mut l = a.create_label();
    let mut e = a.create_label();
    let mut ok = a.create_label();
    a.test(ecx, ecx)?;
    a.jz(done)?;
    a.mov(eax, ecx)?;
    a.set_label(&mut l)?;
    if wide {
        a.cmp(word_ptr(eax), 0)?;
    } else {
        a.cmp(byte_ptr(eax), 0)?;
    }
    a.je(e)?;
    a.add(eax, unit)?;
    a.jmp(l)?;
    a.set_label(&mut e)?;
    a.sub(eax, ecx)?;
    a.cmp(eax, max)?;
    a.jbe(ok)?;
    a.mov(eax, max)?;
    a.set_label(&mut ok)?;
    a.mov(word_ptr(edx), ax)?;
    a.add(eax, unit)?;
    a.mov(word_ptr(edx + 2), ax)?;
    a.set_label(&mut done)?;
    a.ret_1(8)?;
    Ok(())
}

/// The services of a mapped ntdll, read back from its stubs.
#[derive(Debug, Clone, Default)]
pub struct ServiceTable {
    /// Name (the `Nt` spelling) by service index of table 0.
    pub names: Vec<Option<String>>,
    /// The argument slots each stub's `ret n` pops, by index.
    pub slots: Vec<u16>,
}

/// Decodes one export's code as a system-call stub: (service id, argument bytes).
/// Accepts the Windows 10 shape (`B8 id ; BA addr ; FF D2 ; C2 n | C3`) and the older
/// `B8 id ; 64 FF 15 C0 00 00 00 ; C2 n | C3` (call fs:[0xC0]).
pub fn decode_stub(code: &[u8]) -> Option<(u32, u16)> {
    if code.len() < 15 || code[0] != 0xB8 {
        return None;
    }
    let id = u32::from_le_bytes([code[1], code[2], code[3], code[4]]);
    let windows10 = code[5] == 0xBA && code[10] == 0xFF && code[11] == 0xD2;
    let call_fs_c0 = code[5..12] == [0x64, 0xFF, 0x15, 0xC0, 0, 0, 0];
    if !windows10 && !call_fs_c0 {
        return None;
    }
    let rest = &code[12..];
    match rest[0] {
        0xC3 => Some((id, 0)),
        0xC2 => Some((id, u16::from_le_bytes([rest[1], rest[2]]))),
        _ => None,
    }
}

impl ServiceTable {
    /// Reads the stubs of every `Nt`/`Zw` export: `code_at` returns 16 bytes of code at
    /// an export address.
    pub fn from_exports<'a>(
        exports: impl Iterator<Item = (&'a str, u32)>,
        mut code_at: impl FnMut(u32) -> Option<Vec<u8>>,
    ) -> Self {
        let mut t = ServiceTable::default();
        for (name, addr) in exports {
            let canonical = match name.strip_prefix("Zw") {
                Some(rest) => format!("Nt{rest}"),
                None if name.starts_with("Nt") => name.to_string(),
                None => continue,
            };
            let Some((id, n)) = code_at(addr).and_then(|c| decode_stub(&c)) else { continue };
            // Table 0 only; the index is 12 bits.
            if id >> 12 != 0 {
                continue;
            }
            let i = id as usize;
            if t.names.len() <= i {
                t.names.resize(i + 1, None);
                t.slots.resize(i + 1, 0);
            }
            t.names[i] = Some(canonical);
            t.slots[i] = n / 4;
        }
        t
    }

    /// The service name for EAX, or None for an index outside the table (or another
    /// table): STATUS_INVALID_SYSTEM_SERVICE.
    pub fn lookup(&self, service: u32) -> Option<&str> {
        let table = (service >> 12) & 3;
        let index = (service & 0xFFF) as usize;
        if table != 0 {
            return None;
        }
        self.names.get(index)?.as_deref()
    }
}
