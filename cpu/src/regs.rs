//! Register files: general registers, segment registers and the descriptor model.

use iced_x86::Register;

/// Indices of the general registers in hardware encoding order.
pub mod gpr {
    pub const EAX: usize = 0;
    pub const ECX: usize = 1;
    pub const EDX: usize = 2;
    pub const EBX: usize = 3;
    pub const ESP: usize = 4;
    pub const EBP: usize = 5;
    pub const ESI: usize = 6;
    pub const EDI: usize = 7;
    pub const NAMES: [&str; 8] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
}

/// Segment register indices in hardware encoding order (ES, CS, SS, DS, FS, GS).
pub mod sreg {
    pub const ES: usize = 0;
    pub const CS: usize = 1;
    pub const SS: usize = 2;
    pub const DS: usize = 3;
    pub const FS: usize = 4;
    pub const GS: usize = 5;
    pub const NAMES: [&str; 6] = ["es", "cs", "ss", "ds", "fs", "gs"];
}

/// How an iced general register maps onto the register file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GprRef {
    /// Low byte of register `n` (AL, CL, DL, BL).
    Low8(usize),
    /// Bits 8..16 of register `n` (AH, CH, DH, BH).
    High8(usize),
    Word(usize),
    Dword(usize),
}

/// Maps an iced register to the 32-bit register file; `None` for anything else.
#[inline]
pub fn gpr_ref(r: Register) -> Option<GprRef> {
    let v = r as u32;
    let al = Register::AL as u32;
    let ax = Register::AX as u32;
    let eax = Register::EAX as u32;
    Some(match v {
        _ if (al..al + 4).contains(&v) => GprRef::Low8((v - al) as usize),
        _ if (al + 4..al + 8).contains(&v) => GprRef::High8((v - al - 4) as usize),
        _ if (ax..ax + 8).contains(&v) => GprRef::Word((v - ax) as usize),
        _ if (eax..eax + 8).contains(&v) => GprRef::Dword((v - eax) as usize),
        _ => return None,
    })
}

/// Segment register index of an iced register (ES..GS), if it is one.
#[inline]
pub fn sreg_index(r: Register) -> Option<usize> {
    let v = r as u32;
    let es = Register::ES as u32;
    (es..es + 6).contains(&v).then(|| (v - es) as usize)
}

/// Kind of a descriptor in the descriptor model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DescKind {
    /// 32-bit code, execute/read.
    Code32,
    /// 64-bit code (the WOW64 gate selector 0x33): far transfers to it stop the CPU.
    Code64,
    /// Read/write data.
    Data,
}

/// A segment descriptor reachable from user mode (DPL 3). All are flat apart from the
/// base: the limit is 4 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptor {
    pub base: u32,
    pub kind: DescKind,
}

/// A segment register: the visible selector and the hidden base loaded from its
/// descriptor (zero and unusable for a null selector).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub selector: u16,
    pub base: u32,
    /// False after loading a null selector: any memory access through it is #GP(0).
    pub usable: bool,
}

impl Segment {
    pub const fn flat(selector: u16) -> Self {
        Segment { selector, base: 0, usable: true }
    }
}

/// The user-visible descriptor tables: selector index (selector >> 3, with TI folded in
/// as bit 13) to descriptor. Loads of selectors not in the table raise #GP(selector).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescriptorTable {
    entries: std::collections::BTreeMap<u16, Descriptor>,
}

impl DescriptorTable {
    /// The table of a 32-bit process on 64-bit Windows: 0x23 32-bit code, 0x2B data,
    /// 0x33 64-bit code, 0x53 the TEB (FS) segment with base `fs_base`.
    pub fn wow64(fs_base: u32) -> Self {
        let mut t = DescriptorTable { entries: Default::default() };
        t.set(0x23, Descriptor { base: 0, kind: DescKind::Code32 });
        t.set(0x2b, Descriptor { base: 0, kind: DescKind::Data });
        t.set(0x33, Descriptor { base: 0, kind: DescKind::Code64 });
        t.set(0x53, Descriptor { base: fs_base, kind: DescKind::Data });
        t
    }

    /// An empty table: only null selectors can be loaded.
    pub fn new() -> Self {
        DescriptorTable { entries: Default::default() }
    }

    /// Adds or replaces the descriptor for `selector` (RPL and TI bits ignored).
    pub fn set(&mut self, selector: u16, d: Descriptor) {
        self.entries.insert(selector >> 3 | (selector & 4) << 11, d);
    }

    pub fn get(&self, selector: u16) -> Option<Descriptor> {
        self.entries.get(&(selector >> 3 | (selector & 4) << 11)).copied()
    }
}

/// The architectural integer registers as a plain value, for embedders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Registers {
    pub eax: u32,
    pub ecx: u32,
    pub edx: u32,
    pub ebx: u32,
    pub esp: u32,
    pub ebp: u32,
    pub esi: u32,
    pub edi: u32,
    pub eip: u32,
    pub eflags: u32,
}

impl Registers {
    /// The eight general registers in encoding order.
    pub fn gpr(&self) -> [u32; 8] {
        [self.eax, self.ecx, self.edx, self.ebx, self.esp, self.ebp, self.esi, self.edi]
    }

    pub fn set_gpr(&mut self, g: [u32; 8]) {
        [self.eax, self.ecx, self.edx, self.ebx, self.esp, self.ebp, self.esi, self.edi] = g;
    }
}
