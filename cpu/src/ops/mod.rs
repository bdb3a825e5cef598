//! Instruction families, one module each. Each registers its handlers in the table.

pub mod alu;
pub mod bcd;
pub mod bit;
pub mod control;
pub mod data;
pub mod muldiv;
pub mod segment;
pub mod shift;
pub mod simd;
pub mod stack;
pub mod string;
pub mod system;
pub mod x87;

use crate::table::Table;

pub(crate) fn register_all(t: &mut Table) {
    alu::register(t);
    bcd::register(t);
    bit::register(t);
    control::register(t);
    data::register(t);
    muldiv::register(t);
    segment::register(t);
    shift::register(t);
    stack::register(t);
    string::register(t);
    system::register(t);
    // After the integer families: FWAIT is re-registered by the x87 family.
    x87::register(t);
    simd::register(t);
}
