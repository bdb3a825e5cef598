//! The structured input of the execution targets: a code page, a data page, a stack
//! page and the registers, each register either raw or pointing into a page.

use arbitrary::{Arbitrary, Unstructured};
use x86wow_cpu::Cpu;
use x86wow_mmu::Prot;

/// The code page (read-execute, or read-write-execute for self-modifying programs).
pub const CODE: u32 = 0x1000_0000;
/// The data page (read-write); the page after it is read-only, the one after that unmapped.
pub const DATA: u32 = 0x2000_0000;
/// The stack page (read-write); the page below it is unmapped.
pub const STACK: u32 = 0x3000_0000;
const PAGE: usize = 0x1000;

/// How a register starts.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum RegInit {
    Raw(u32),
    /// `DATA + offset % 8 KiB` (the data page or the read-only one after it).
    Data(u16),
    /// `STACK + offset % 4 KiB`.
    Stack(u16),
    /// `CODE + offset % 4 KiB`.
    Code(u16),
}

impl RegInit {
    fn value(self) -> u32 {
        match self {
            RegInit::Raw(v) => v,
            RegInit::Data(o) => DATA + (o as u32 % 0x2000),
            RegInit::Stack(o) => STACK + (o as u32 % 0x1000),
            RegInit::Code(o) => CODE + (o as u32 % 0x1000),
        }
    }
}

/// One program: the input of [`super::exec_bytes`] and [`super::lockstep_fastpath`].
#[derive(Debug, Clone, Arbitrary)]
pub struct Program {
    pub gpr: [RegInit; 8],
    pub eflags: u32,
    pub fs_base: u32,
    pub gs_base: u32,
    /// Place the code at the end of its page (long instructions run into unmapped memory).
    pub code_at_end: bool,
    /// Map the code page writable: self-modifying code.
    pub code_writable: bool,
    /// Instructions to run (at most 255).
    pub budget: u8,
    pub data: Vec<u8>,
    /// Code bytes; the rest of the code page is HLT.
    pub code: Vec<u8>,
}

impl Program {
    /// Decodes a program from fuzzer bytes; `None` when the bytes run out early.
    pub fn decode(bytes: &[u8]) -> Option<Program> {
        Program::arbitrary_take_rest(Unstructured::new(bytes)).ok()
    }

    /// A CPU holding the program, with the decoded-block cache on or off.
    pub fn cpu(&self, block_cache: bool) -> Cpu {
        let mut cpu = Cpu::new();
        cpu.set_block_cache(block_cache);
        let code_prot = if self.code_writable { Prot::RWX } else { Prot::RX };
        let page = PAGE as u64;
        cpu.mem.map(CODE as u64, page, code_prot).expect("map code");
        cpu.mem.map(DATA as u64, page, Prot::RW).expect("map data");
        cpu.mem.map(DATA as u64 + page, page, Prot::R).expect("map read-only data");
        cpu.mem.map(STACK as u64, page, Prot::RW).expect("map stack");
        let mut code = vec![0xf4u8; PAGE];
        let n = self.code.len().min(PAGE);
        let at = if self.code_at_end { PAGE - n } else { 0 };
        code[at..at + n].copy_from_slice(&self.code[..n]);
        cpu.mem.poke(CODE as u64, &code).expect("poke code");
        let d = self.data.len().min(2 * PAGE);
        // The read-only page is filled too: poke ignores protection.
        cpu.mem.poke(DATA as u64, &self.data[..d]).expect("poke data");
        for (r, init) in cpu.gpr.iter_mut().zip(self.gpr) {
            *r = init.value();
        }
        cpu.eip = CODE + at as u32;
        cpu.set_eflags(self.eflags);
        cpu.set_fs_base(self.fs_base);
        cpu.set_gs_base(self.gs_base);
        cpu
    }

    /// The bytes of every mapped page, in address order (for comparisons).
    pub fn memory(cpu: &Cpu) -> Vec<u8> {
        let mut out = vec![0u8; 4 * PAGE];
        for (i, base) in [CODE, DATA, DATA + PAGE as u32, STACK].into_iter().enumerate() {
            cpu.mem.peek(base as u64, &mut out[i * PAGE..(i + 1) * PAGE]).expect("mapped page");
        }
        out
    }
}
