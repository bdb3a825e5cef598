//! Per-instruction set-up of x87 cases (operands and memory images that random
//! values would not exercise well). Called for every generated case.

use iced_x86::Instruction;

use crate::gen::{Builder, Skip};

pub(crate) fn special_setup(_b: &mut Builder, _ins: &mut Instruction) -> Result<(), Skip> {
    Ok(())
}
