//! Guest exceptions the Windows way: CPU faults become EXCEPTION_RECORD32 + CONTEXT32
//! on the guest stack, and the guest's KiUserExceptionDispatcher walks the SEH chain.
//! This module holds the pure parts: the vector-to-NTSTATUS mapping and the CONTEXT32
//! conversions; the process writes the frames (it knows the stack).

use iced_x86::{Mnemonic, OpKind, Register};
use x86wow_cpu::exception::{vector, Detail};
use x86wow_cpu::{Cpu, Exception};
use x86wow_mmu::{Access, FaultKind};

use crate::ntdll::{ctx, rec};
use crate::status::*;

/// An exception to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raise {
    pub code: u32,
    pub flags: u32,
    pub address: u32,
    pub params: Vec<u32>,
    /// EIP for the CONTEXT (the faulting instruction, or after it for traps).
    pub context_eip: u32,
    /// EFLAGS bits to clear in the CONTEXT (TF after a single step).
    pub clear_flags: u32,
    /// What went wrong, for messages (e.g. an instruction x86wow does not implement).
    pub note: Option<String>,
}

impl Raise {
    pub fn new(code: u32, address: u32) -> Self {
        Raise {
            code,
            flags: 0,
            address,
            params: Vec::new(),
            context_eip: address,
            clear_flags: 0,
            note: None,
        }
    }

    /// EXCEPTION_RECORD32 (0x50 bytes). At most 15 parameters.
    pub fn record(&self) -> Vec<u8> {
        let mut b = vec![0u8; rec::SIZE as usize];
        let n = self.params.len().min(15);
        b[0..4].copy_from_slice(&self.code.to_le_bytes());
        b[4..8].copy_from_slice(&self.flags.to_le_bytes());
        b[12..16].copy_from_slice(&self.address.to_le_bytes());
        b[16..20].copy_from_slice(&(n as u32).to_le_bytes());
        for (i, p) in self.params.iter().take(n).enumerate() {
            b[20 + 4 * i..24 + 4 * i].copy_from_slice(&p.to_le_bytes());
        }
        b
    }

    /// Parses an EXCEPTION_RECORD32 (for NtRaiseException).
    pub fn from_record(b: &[u8], context_eip: u32) -> Self {
        let u = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let n = (u(16) as usize).min(15);
        Raise {
            code: u(0),
            flags: u(4),
            address: u(12),
            params: (0..n).map(|i| u(20 + 4 * i)).collect(),
            context_eip,
            clear_flags: 0,
            note: None,
        }
    }
}

/// ExceptionInformation[0] of an access violation: read 0, write 1, execute (DEP) 8.
pub fn access_code(a: Access) -> u32 {
    match a {
        Access::Read => 0,
        Access::Write => 1,
        Access::Execute => 8,
    }
}

/// Instructions that raise #GP at CPL 3 because they are privileged (Windows reports
/// those as STATUS_PRIVILEGED_INSTRUCTION; other #GPs are access violations).
fn is_privileged(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(
        m,
        Hlt | Cli
            | Sti
            | In
            | Insb
            | Insw
            | Insd
            | Out
            | Outsb
            | Outsw
            | Outsd
            | Lgdt
            | Lidt
            | Lldt
            | Ltr
            | Lmsw
            | Clts
            | Invd
            | Wbinvd
            | Invlpg
            | Rdmsr
            | Wrmsr
            | Rdpmc
            | Mov
    )
}

/// Reads the divisor of a DIV/IDIV to tell #DE by zero from quotient overflow.
fn divisor(cpu: &mut Cpu, eip: u32) -> Option<u64> {
    let ins = cpu.peek_instruction(eip)?;
    if !matches!(ins.mnemonic(), Mnemonic::Div | Mnemonic::Idiv) {
        return None;
    }
    let size = ins.memory_size().size().max(match ins.op0_register() {
        r if r.is_gpr8() => 1,
        r if r.is_gpr16() => 2,
        _ => 4,
    });
    match ins.op0_kind() {
        OpKind::Register => {
            let r = ins.op0_register();
            let full = r.full_register32();
            let idx = full.number();
            let v = cpu.gpr.get(idx).copied()?;
            Some(match r {
                // The high byte registers live in bits 8..15 of EAX..EBX.
                Register::AH | Register::CH | Register::DH | Register::BH => (v >> 8) as u64 & 0xFF,
                _ if r.is_gpr8() => v as u64 & 0xFF,
                _ if r.is_gpr16() => v as u64 & 0xFFFF,
                _ => v as u64,
            })
        }
        OpKind::Memory => {
            let reg = |r: Register| -> u32 {
                if r == Register::None {
                    0
                } else {
                    cpu.gpr.get(r.full_register32().number()).copied().unwrap_or(0)
                }
            };
            let addr = reg(ins.memory_base())
                .wrapping_add(reg(ins.memory_index()).wrapping_mul(ins.memory_index_scale()))
                .wrapping_add(ins.memory_displacement32());
            let mut b = [0u8; 8];
            cpu.mem.peek(addr as u64, &mut b[..size]).ok()?;
            Some(u64::from_le_bytes(b))
        }
        _ => None,
    }
}

/// Maps a CPU exception to the Windows exception, as the Windows trap handlers do.
pub fn translate(cpu: &mut Cpu, e: &Exception, eip: u32) -> Raise {
    match e.vector {
        vector::PF => {
            let (addr, access, kind) = match e.detail {
                Detail::Page { addr, access, kind } => (addr, access, kind),
                _ => (0, Access::Read, FaultKind::Unmapped),
            };
            let code =
                if kind == FaultKind::Guard { STATUS_GUARD_PAGE_VIOLATION } else { STATUS_ACCESS_VIOLATION };
            let mut r = Raise::new(code, eip);
            r.params = vec![access_code(access), addr];
            r
        }
        vector::DE => {
            let code = match divisor(cpu, eip) {
                Some(d) if d != 0 => STATUS_INTEGER_OVERFLOW,
                _ => STATUS_INTEGER_DIVIDE_BY_ZERO,
            };
            Raise::new(code, eip)
        }
        vector::DB => {
            let mut r = Raise::new(STATUS_SINGLE_STEP, eip);
            r.clear_flags = 0x100;
            r
        }
        vector::BP => {
            // Windows reports the int3 itself. The CPU may stop at it or after it
            // (a trap): look at the instruction to know.
            let at_insn = cpu.peek_instruction(eip).is_some_and(|i| {
                i.mnemonic() == Mnemonic::Int3 || (i.mnemonic() == Mnemonic::Int && i.immediate8() == 3)
            });
            let at = if at_insn { eip } else { eip.wrapping_sub(1) };
            let mut r = Raise::new(STATUS_BREAKPOINT, at);
            r.params = vec![0];
            r
        }
        vector::OF => {
            // A trap: the context resumes after the INTO.
            let next = match cpu.peek_instruction(eip) {
                Some(i) if i.mnemonic() == Mnemonic::Into => i.next_ip32(),
                _ => eip,
            };
            let mut r = Raise::new(STATUS_INTEGER_OVERFLOW, next);
            r.context_eip = next;
            r
        }
        vector::BR => Raise::new(STATUS_ARRAY_BOUNDS_EXCEEDED, eip),
        vector::UD | vector::NM => {
            let mut r = Raise::new(STATUS_ILLEGAL_INSTRUCTION, eip);
            if let Detail::Unimplemented(code) = e.detail {
                r.note = Some(format!("instruction {code:?} is not implemented by x86wow"));
            }
            r
        }
        vector::GP => {
            let privileged = cpu.peek_instruction(eip).is_some_and(|i| {
                is_privileged(i.mnemonic())
                    && (i.mnemonic() != Mnemonic::Mov
                        || (0..i.op_count()).any(|k| {
                            let r = i.op_register(k);
                            r.is_cr() || r.is_dr()
                        }))
            });
            if privileged {
                Raise::new(STATUS_PRIVILEGED_INSTRUCTION, eip)
            } else {
                let mut r = Raise::new(STATUS_ACCESS_VIOLATION, eip);
                r.params = vec![0, 0xFFFF_FFFF];
                r
            }
        }
        vector::AC => Raise::new(STATUS_DATATYPE_MISALIGNMENT, eip),
        vector::MF => Raise::new(STATUS_FLOAT_INVALID_OPERATION, eip),
        vector::XM => Raise::new(STATUS_FLOAT_MULTIPLE_TRAPS, eip),
        _ => {
            let mut r = Raise::new(STATUS_ACCESS_VIOLATION, eip);
            r.params = vec![0, 0xFFFF_FFFF];
            r
        }
    }
}

/// CONTEXT32 of the CPU (CONTEXT_FULL; debug registers and FloatSave zeroed).
pub fn context(cpu: &Cpu, eip: u32, clear_flags: u32) -> Vec<u8> {
    let mut b = vec![0u8; ctx::SIZE as usize];
    let mut put = |o: u32, v: u32| b[o as usize..o as usize + 4].copy_from_slice(&v.to_le_bytes());
    put(ctx::FLAGS, ctx::FULL);
    put(ctx::SEG_GS, cpu.seg[5].selector as u32);
    put(ctx::SEG_FS, cpu.seg[4].selector as u32);
    put(ctx::SEG_ES, cpu.seg[0].selector as u32);
    put(ctx::SEG_DS, cpu.seg[3].selector as u32);
    put(ctx::EDI, cpu.gpr[7]);
    put(ctx::ESI, cpu.gpr[6]);
    put(ctx::EBX, cpu.gpr[3]);
    put(ctx::EDX, cpu.gpr[2]);
    put(ctx::ECX, cpu.gpr[1]);
    put(ctx::EAX, cpu.gpr[0]);
    put(ctx::EBP, cpu.gpr[5]);
    put(ctx::EIP, eip);
    put(ctx::SEG_CS, cpu.seg[1].selector as u32);
    put(ctx::EFLAGS, cpu.eflags() & !clear_flags);
    put(ctx::ESP, cpu.gpr[4]);
    put(ctx::SEG_SS, cpu.seg[2].selector as u32);
    b
}

/// Loads a CONTEXT32 into the CPU as NtContinue does: only the parts ContextFlags
/// names; segment registers stay the flat user ones, EFLAGS keeps only the bits user
/// code may set (IF stays set).
pub fn apply_context(cpu: &mut Cpu, b: &[u8]) {
    let u =
        |o: u32| u32::from_le_bytes([b[o as usize], b[o as usize + 1], b[o as usize + 2], b[o as usize + 3]]);
    let flags = u(ctx::FLAGS);
    if flags & ctx::INTEGER == ctx::INTEGER {
        cpu.gpr[7] = u(ctx::EDI);
        cpu.gpr[6] = u(ctx::ESI);
        cpu.gpr[3] = u(ctx::EBX);
        cpu.gpr[2] = u(ctx::EDX);
        cpu.gpr[1] = u(ctx::ECX);
        cpu.gpr[0] = u(ctx::EAX);
    }
    if flags & ctx::CONTROL == ctx::CONTROL {
        cpu.gpr[5] = u(ctx::EBP);
        cpu.eip = u(ctx::EIP);
        cpu.gpr[4] = u(ctx::ESP);
        // CF PF AF ZF SF TF DF OF, AC, ID user-settable; IF and bit 1 forced.
        let user = 0x0000_0CD5 | 0x100 | 0x4_0000 | 0x20_0000;
        cpu.set_eflags((u(ctx::EFLAGS) & user) | 0x202);
    }
}
