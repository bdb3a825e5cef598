//! The EFLAGS bits an instruction leaves undefined, and the ones it defines, from
//! iced-x86's instruction info.

use iced_x86::{Decoder, DecoderOptions, Instruction, RflagsBits};
use x86wow_cpu::state::MachineState;

/// The six status flags, in EFLAGS bit positions.
pub const STATUS_FLAGS: u32 = 0x8d5;
/// EFLAGS.RF: set by some engines in reported states, never part of a result.
pub const RF: u32 = 1 << 16;

const MAP: [(u32, u32); 6] = [
    (RflagsBits::CF, 0),
    (RflagsBits::PF, 2),
    (RflagsBits::AF, 4),
    (RflagsBits::ZF, 6),
    (RflagsBits::SF, 7),
    (RflagsBits::OF, 11),
];

fn to_eflags(bits: u32) -> u32 {
    MAP.iter().filter(|(b, _)| bits & b != 0).fold(0, |m, (_, pos)| m | 1 << pos)
}

/// EFLAGS mask of the status flags `ins` leaves undefined.
///
/// ```
/// use iced_x86::{Decoder, DecoderOptions};
/// let ins = Decoder::new(32, &[0xf7, 0xe1], DecoderOptions::NONE).decode(); // mul ecx
/// assert_eq!(x86wow::oracle::undefined_flags(&ins), 0xd4); // SF ZF AF PF
/// ```
pub fn undefined_flags(ins: &Instruction) -> u32 {
    to_eflags(ins.rflags_undefined())
}

/// EFLAGS mask of the status flags `ins` gives a defined value.
pub fn defined_flags(ins: &Instruction) -> u32 {
    to_eflags(ins.rflags_modified() & !ins.rflags_undefined())
}

/// EFLAGS mask of the status flags `ins` reads.
pub fn read_flags(ins: &Instruction) -> u32 {
    to_eflags(ins.rflags_read())
}

/// Up to 15 bytes of code at `eip` from the state's memory (fewer where it ends).
pub fn code_bytes(state: &MachineState, eip: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = eip;
    while out.len() < 15 {
        let a = at as u64;
        let holder =
            state.memory.iter().find(|r| (r.addr as u64..r.addr as u64 + r.bytes.len() as u64).contains(&a));
        let byte = match holder {
            Some(r) => r.bytes[(a - r.addr as u64) as usize],
            None if state.memory.iter().any(|r| {
                let (start, len) = r.pages();
                (start..start + len).contains(&a)
            }) =>
            {
                0
            }
            None => break,
        };
        out.push(byte);
        at = at.wrapping_add(1);
    }
    out
}

/// Decodes the instruction at `eip` in the state's memory (AMD decoding, as x86wow).
pub fn decode_at(state: &MachineState, eip: u32) -> Option<Instruction> {
    let bytes = code_bytes(state, eip);
    let mut d = Decoder::with_ip(32, &bytes, eip as u64, DecoderOptions::AMD);
    let ins = d.decode();
    (!ins.is_invalid()).then_some(ins)
}

/// Intel-syntax disassembly (iced-x86's formatter).
pub fn disassemble(ins: &Instruction) -> String {
    use iced_x86::{Formatter, IntelFormatter};
    let mut s = String::new();
    IntelFormatter::new().format(ins, &mut s);
    s
}
