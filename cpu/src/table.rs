//! The dispatch table: one handler per iced `Code`, filled by the instruction families.

use std::sync::OnceLock;

use iced_x86::{Code, Instruction, Mnemonic};

use crate::cpu::{Cpu, Step, Stop};
use crate::exception::Exception;
use crate::flags::Size;

/// An instruction handler. On entry EIP already points at the next instruction; on a
/// fault the run loop puts it back. Handlers must not change architectural state
/// before the last point at which they can fault.
pub type Handler = fn(&mut Cpu, &Instruction) -> Step;

fn unimplemented(_: &mut Cpu, ins: &Instruction) -> Step {
    Err(Stop::Exc(Exception::unimplemented(ins.code())))
}

fn invalid(_: &mut Cpu, _: &Instruction) -> Step {
    Err(Stop::Exc(Exception::ud()))
}

/// The table under construction; families register their handlers into it.
pub struct Table {
    handlers: Vec<Handler>,
    implemented: Vec<bool>,
    by_mnemonic: Vec<Vec<Code>>,
}

impl Table {
    fn new() -> Self {
        let n = Code::values().len();
        let mut by_mnemonic = vec![Vec::new(); Mnemonic::values().len()];
        for c in Code::values() {
            by_mnemonic[c.mnemonic() as usize].push(c);
        }
        let mut t =
            Table { handlers: vec![unimplemented as Handler; n], implemented: vec![false; n], by_mnemonic };
        t.code(Code::INVALID, invalid);
        t
    }

    /// Sets the handler of one code.
    pub fn code(&mut self, c: Code, h: Handler) {
        self.handlers[c as usize] = h;
        self.implemented[c as usize] = true;
    }

    /// Sets the handler of every code of a mnemonic that is in x86wow's scope (see
    /// [`crate::coverage::family`]): 64-bit-only forms, VEX/XOP forms of other
    /// extensions and SIMD codes sharing a mnemonic (MOVSD, CMPSD) are left alone.
    pub fn mnemonic(&mut self, m: Mnemonic, h: Handler) {
        let codes = std::mem::take(&mut self.by_mnemonic[m as usize]);
        for &c in &codes {
            if crate::coverage::family(c).is_some() {
                self.code(c, h);
            }
        }
        self.by_mnemonic[m as usize] = codes;
    }

    pub fn mnemonics(&mut self, ms: &[Mnemonic], h: Handler) {
        for &m in ms {
            self.mnemonic(m, h);
        }
    }
}

struct Built {
    handlers: Vec<Handler>,
    implemented: Vec<bool>,
    op0_size: Vec<Size>,
}

static TABLE: OnceLock<Built> = OnceLock::new();

fn table() -> &'static Built {
    TABLE.get_or_init(|| {
        let mut t = Table::new();
        crate::ops::register_all(&mut t);
        let op0_size = Code::values().map(op0_size_of).collect();
        Built { handlers: t.handlers, implemented: t.implemented, op0_size }
    })
}

/// The handler for a code.
#[inline]
pub fn handler(c: Code) -> Handler {
    table().handlers[c as usize]
}

/// Width of operand 0 of an integer instruction, from its opcode table entry (8, 16
/// or 32 bits; 32 for anything else).
fn op0_size_of(c: Code) -> Size {
    use iced_x86::OpCodeOperandKind as K;
    let info = c.op_code();
    if info.op_count() == 0 {
        return Size::B32;
    }
    match info.op_kind(0) {
        K::r8_or_mem | K::r8_reg | K::r8_opcode | K::al | K::cl | K::imm8 | K::imm8_const_1 => Size::B8,
        K::r16_or_mem
        | K::r16_reg
        | K::r16_reg_mem
        | K::r16_rm
        | K::r16_opcode
        | K::ax
        | K::dx
        | K::imm16 => Size::B16,
        K::mem | K::mem_offs => match Size::from_bytes({
            let mut i = Instruction::default();
            i.set_code(c);
            i.memory_size().size()
        }) {
            Some(s) => s,
            None => Size::B32,
        },
        K::seg_reg | K::es | K::cs | K::ss | K::ds | K::fs | K::gs => Size::B16,
        _ => Size::B32,
    }
}

/// Width of operand 0 (see `op0_size_of`), from a table built once.
#[inline]
pub fn op0_size(c: Code) -> Size {
    table().op0_size[c as usize]
}

/// Whether x86wow implements a code (as opposed to raising #UD "not implemented").
pub fn is_implemented(c: Code) -> bool {
    table().implemented[c as usize]
}
