//! Exceptions and the reasons the CPU stops.

use std::fmt;

use iced_x86::Code;
use x86wow_mmu::{Access, Fault, FaultKind};

/// Architectural exception vectors.
pub mod vector {
    pub const DE: u8 = 0;
    pub const DB: u8 = 1;
    pub const BP: u8 = 3;
    pub const OF: u8 = 4;
    pub const BR: u8 = 5;
    pub const UD: u8 = 6;
    pub const NM: u8 = 7;
    pub const SS: u8 = 12;
    pub const GP: u8 = 13;
    pub const PF: u8 = 14;
    pub const MF: u8 = 16;
    pub const AC: u8 = 17;
    pub const XM: u8 = 19;
}

/// Extra facts about an exception that the vector alone does not carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    None,
    /// A #PF: the linear address (CR2), the access and why the mmu refused it.
    Page {
        addr: u32,
        access: Access,
        kind: FaultKind,
    },
    /// #UD for a decodable instruction that x86wow does not implement (yet).
    Unimplemented(Code),
    /// #UD for bytes that do not decode to a valid instruction.
    Invalid,
}

/// An exception raised by an instruction. Faults leave the architectural state as the
/// instruction found it; traps (#BP, #OF, #DB single step) are reported after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exception {
    pub vector: u8,
    pub error_code: Option<u32>,
    pub detail: Detail,
}

impl Exception {
    pub const fn new(vector: u8) -> Self {
        Exception { vector, error_code: None, detail: Detail::None }
    }
    pub const fn with_code(vector: u8, code: u32) -> Self {
        Exception { vector, error_code: Some(code), detail: Detail::None }
    }
    pub const fn de() -> Self {
        Self::new(vector::DE)
    }
    pub const fn ud() -> Self {
        Exception { vector: vector::UD, error_code: None, detail: Detail::Invalid }
    }
    pub const fn gp(code: u32) -> Self {
        Self::with_code(vector::GP, code)
    }
    pub const fn ss(code: u32) -> Self {
        Self::with_code(vector::SS, code)
    }
    pub const fn ac() -> Self {
        Self::with_code(vector::AC, 0)
    }
    pub const fn unimplemented(code: Code) -> Self {
        Exception { vector: vector::UD, error_code: None, detail: Detail::Unimplemented(code) }
    }

    /// Converts an mmu fault on a 32-bit linear address into #PF with the error code the
    /// hardware would give a user-mode access (P, W/R, U/S, I/D bits).
    pub fn page_fault(f: Fault) -> Self {
        let present = f.kind != FaultKind::Unmapped;
        let mut code = 4 | present as u32;
        match f.access {
            Access::Write => code |= 2,
            Access::Execute => code |= 16,
            Access::Read => {}
        }
        Exception {
            vector: vector::PF,
            error_code: Some(code),
            detail: Detail::Page { addr: f.addr as u32, access: f.access, kind: f.kind },
        }
    }

    /// Short mnemonic of the vector, e.g. `#GP`.
    pub fn name(&self) -> &'static str {
        match self.vector {
            0 => "#DE",
            1 => "#DB",
            3 => "#BP",
            4 => "#OF",
            5 => "#BR",
            6 => "#UD",
            7 => "#NM",
            8 => "#DF",
            10 => "#TS",
            11 => "#NP",
            12 => "#SS",
            13 => "#GP",
            14 => "#PF",
            16 => "#MF",
            17 => "#AC",
            18 => "#MC",
            19 => "#XM",
            _ => "#??",
        }
    }

    /// Traps report EIP after the instruction; faults report it at the instruction.
    pub fn is_trap(&self) -> bool {
        matches!(self.vector, vector::BP | vector::OF | vector::DB)
    }
}

impl From<Fault> for Exception {
    fn from(f: Fault) -> Self {
        Exception::page_fault(f)
    }
}

impl fmt::Display for Exception {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(c) = self.error_code {
            write!(f, "({c:#x})")?;
        }
        match self.detail {
            Detail::None => Ok(()),
            Detail::Page { addr, access, kind } => {
                write!(f, " {} of {addr:#010x} ({kind:?})", access.name())
            }
            Detail::Unimplemented(code) => write!(f, " not implemented: {code:?}"),
            Detail::Invalid => write!(f, " invalid instruction"),
        }
    }
}

/// Why [`crate::Cpu::run`] or [`crate::Cpu::step`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The budget was spent (or the single step done) with nothing else to report.
    BudgetExhausted,
    /// HLT was reached. EIP points at the HLT; it was not executed (in user mode it
    /// would raise #GP, which embedders and the state format use as an end marker).
    Hlt,
    /// An exception. `eip` (and the CPU's EIP) is the faulting instruction; for the
    /// software traps INT3, INTO and INT1 it is also the instruction (decode it for the
    /// next one); for the single-step #DB (EFLAGS.TF) it is the next instruction, since
    /// the instruction completed.
    Exception { exception: Exception, eip: u32 },
    /// `INT n` that the configuration turns into a stop (by default `int 0x80`); EIP is
    /// after the instruction.
    Interrupt(u8),
    /// A far JMP/CALL to a code selector other than the current one (e.g. the WOW64
    /// gate 0x33). Nothing was executed: EIP points at the far transfer.
    FarTransfer { selector: u16, offset: u32, call: bool },
    /// SYSENTER/SYSCALL executed in user mode (not executed; EIP at the instruction).
    SystemCall,
    /// An embedder breakpoint at `eip` (set with [`crate::Cpu::add_breakpoint`]); the
    /// instruction there has not run.
    Breakpoint(u32),
    /// A hook asked to stop (after the hooked instruction retired).
    HookStop,
}
