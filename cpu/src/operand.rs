//! Operands: effective addresses, segmentation checks, and reading and writing
//! registers, memory and immediates at 8, 16 and 32 bits.

use iced_x86::{Instruction, OpKind, Register};
use x86wow_mmu::Access;

use crate::cpu::{Cpu, Stop};
use crate::exception::Exception;
use crate::flags::Size;
use crate::regs::{gpr_ref, sreg, sreg_index, GprRef};

/// Where an operand lives, resolved once for read-modify-write instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loc {
    Reg(Register),
    Mem { seg: usize, off: u32 },
}

#[inline]
fn reg_value(gpr: &[u32; 8], r: GprRef) -> u32 {
    match r {
        GprRef::Low8(i) => gpr[i] & 0xff,
        GprRef::High8(i) => (gpr[i] >> 8) & 0xff,
        GprRef::Word(i) => gpr[i] & 0xffff,
        GprRef::Dword(i) => gpr[i],
    }
}

impl Cpu {
    /// Reads an 8/16/32-bit general register or a segment register (its selector).
    #[inline]
    pub fn read_reg(&self, r: Register) -> u32 {
        let v = r as u32;
        // The common case first: EAX..EDI.
        let d = v.wrapping_sub(Register::EAX as u32);
        if d < 8 {
            return self.gpr[d as usize];
        }
        match gpr_ref(r) {
            Some(g) => reg_value(&self.gpr, g),
            None => match sreg_index(r) {
                Some(s) => self.seg[s].selector as u32,
                None => 0,
            },
        }
    }

    /// Writes an 8/16/32-bit general register (partial registers merge).
    #[inline]
    pub fn write_reg(&mut self, r: Register, v: u32) {
        match gpr_ref(r) {
            Some(GprRef::Low8(i)) => self.gpr[i] = (self.gpr[i] & !0xff) | (v & 0xff),
            Some(GprRef::High8(i)) => self.gpr[i] = (self.gpr[i] & !0xff00) | ((v & 0xff) << 8),
            Some(GprRef::Word(i)) => self.gpr[i] = (self.gpr[i] & !0xffff) | (v & 0xffff),
            Some(GprRef::Dword(i)) => self.gpr[i] = v,
            None => debug_assert!(false, "write_reg({r:?})"),
        }
    }

    /// The effective address (segment offset) of the instruction's memory operand,
    /// wrapped to 16 bits under 16-bit addressing.
    #[inline]
    pub fn effective_address(&self, ins: &Instruction) -> u32 {
        let base = ins.memory_base();
        let index = ins.memory_index();
        let mut ea = ins.memory_displacement32();
        let b = (base as u32).wrapping_sub(Register::EAX as u32);
        let i = (index as u32).wrapping_sub(Register::EAX as u32);
        // 32-bit addressing with 32-bit registers (or none): no wrap at 64 KiB.
        if (b < 8 || base == Register::None)
            && (i < 8 || index == Register::None)
            && ins.memory_displ_size() != 2
        {
            if b < 8 {
                ea = ea.wrapping_add(self.gpr[b as usize]);
            }
            if i < 8 {
                ea = ea.wrapping_add(self.gpr[i as usize].wrapping_mul(ins.memory_index_scale()));
            }
            return ea;
        }
        if base != Register::None {
            ea = ea.wrapping_add(self.read_reg(base));
        }
        if index != Register::None {
            ea = ea.wrapping_add(self.read_reg(index).wrapping_mul(ins.memory_index_scale()));
        }
        if is_addr16(ins) {
            ea & 0xffff
        } else {
            ea
        }
    }

    /// Segment register index used by the memory operand.
    #[inline]
    pub fn memory_seg(&self, ins: &Instruction) -> usize {
        sreg_index(ins.memory_segment()).unwrap_or(sreg::DS)
    }

    /// Translates `seg:off` for an access of `len` bytes, applying the checks that come
    /// before paging: null/unusable segment, the 4 GiB limit (#GP, or #SS for SS),
    /// writes through CS, and alignment checking when EFLAGS.AC is on.
    #[inline]
    pub fn linear(&self, seg: usize, off: u32, len: u32, align: u32, write: bool) -> Result<u32, Exception> {
        let s = &self.seg[seg];
        let fault = || {
            if seg == sreg::SS {
                Exception::ss(0)
            } else {
                Exception::gp(0)
            }
        };
        if !s.usable || (write && seg == sreg::CS) {
            return Err(fault());
        }
        if off as u64 + len as u64 - 1 > u32::MAX as u64 {
            return Err(fault());
        }
        let lin = s.base.wrapping_add(off);
        if align > 1 && lin & (align - 1) != 0 && self.alignment_check() {
            return Err(Exception::ac());
        }
        Ok(lin)
    }

    /// Reads `N` bytes at `seg:off` with alignment checking against `align` bytes.
    #[inline(always)]
    pub fn read_mem_aligned<const N: usize>(
        &mut self,
        seg: usize,
        off: u32,
        align: u32,
    ) -> Result<[u8; N], Stop> {
        if let Some(lin) = self.plain_linear::<N>(seg, off, false) {
            // The page walk is all that remains: its fault (which consumes a guard
            // page) is the instruction's fault.
            return Ok(self.mem.read_array::<N>(lin as u64)?);
        }
        self.read_mem_slow(seg, off, align)
    }

    /// The linear address of an `N`-byte access in the common case, where nothing but
    /// paging can fault or needs doing: a usable segment (and not CS for a write), no
    /// alignment checking, no memory hooks, no 4 GiB wrap of the offset or the linear
    /// address. `None` sends the access down the full path.
    #[inline(always)]
    fn plain_linear<const N: usize>(&self, seg: usize, off: u32, write: bool) -> Option<u32> {
        let s = &self.seg[seg];
        let lin = s.base.wrapping_add(off);
        let plain = s.usable
            && !(write && seg == sreg::CS)
            && off <= u32::MAX - (N as u32 - 1)
            && lin <= u32::MAX - (N as u32 - 1)
            && !self.flags.ac()
            && !self.has_mem_hooks();
        plain.then_some(lin)
    }

    /// Reads `N` bytes at `seg:off` if the access is plain (see `plain_linear`) and
    /// its page translation is cached; `None` otherwise, having done nothing. The fast
    /// handlers try this first and, on `None`, run the instruction's generic handler,
    /// which then does everything (faults, hooks, filling the translation cache).
    #[inline(always)]
    pub(crate) fn read_cached<const N: usize>(&self, seg: usize, off: u32) -> Option<[u8; N]> {
        let lin = self.plain_linear::<N>(seg, off, false)?;
        self.mem.read_array_cached::<N>(lin as u64)
    }

    /// The write counterpart of [`Cpu::read_cached`]: writes and returns true, or
    /// writes nothing and returns false.
    #[inline(always)]
    pub(crate) fn write_cached<const N: usize>(&mut self, seg: usize, off: u32, data: [u8; N]) -> bool {
        match self.plain_linear::<N>(seg, off, true) {
            Some(lin) => self.mem.write_array_cached(lin as u64, data),
            None => false,
        }
    }

    #[inline(never)]
    fn read_mem_slow<const N: usize>(&mut self, seg: usize, off: u32, align: u32) -> Result<[u8; N], Stop> {
        let lin = self.linear(seg, off, N as u32, align, false)?;
        if self.has_mem_hooks() {
            self.run_mem_hooks(lin, N as u32, Access::Read);
        }
        if lin as u64 + N as u64 <= 1 << 32 {
            return Ok(self.mem.read_array::<N>(lin as u64)?);
        }
        // The access wraps at 4 GiB: check both parts, then read.
        let first = ((1u64 << 32) - lin as u64) as usize;
        self.mem.check(lin as u64, first, Access::Read)?;
        self.mem.check(0, N - first, Access::Read)?;
        let mut out = [0u8; N];
        self.mem.read_bytes(lin as u64, &mut out[..first])?;
        self.mem.read_bytes(0, &mut out[first..])?;
        Ok(out)
    }

    /// Writes `N` bytes at `seg:off`; nothing is written unless every byte can be.
    #[inline(always)]
    pub fn write_mem_aligned<const N: usize>(
        &mut self,
        seg: usize,
        off: u32,
        align: u32,
        data: [u8; N],
    ) -> Result<(), Stop> {
        if let Some(lin) = self.plain_linear::<N>(seg, off, true) {
            return Ok(self.mem.write_array(lin as u64, data)?);
        }
        self.write_mem_slow(seg, off, align, data)
    }

    #[inline(never)]
    fn write_mem_slow<const N: usize>(
        &mut self,
        seg: usize,
        off: u32,
        align: u32,
        data: [u8; N],
    ) -> Result<(), Stop> {
        let lin = self.linear(seg, off, N as u32, align, true)?;
        if self.has_mem_hooks() {
            self.run_mem_hooks(lin, N as u32, Access::Write);
        }
        if lin as u64 + N as u64 <= 1 << 32 {
            return Ok(self.mem.write_array(lin as u64, data)?);
        }
        let first = ((1u64 << 32) - lin as u64) as usize;
        self.mem.check(lin as u64, first, Access::Write)?;
        self.mem.check(0, N - first, Access::Write)?;
        self.mem.write_bytes(lin as u64, &data[..first])?;
        self.mem.write_bytes(0, &data[first..])?;
        Ok(())
    }

    /// Checks that `len` bytes at `seg:off` could be written (segment, alignment and
    /// page checks, with the same fault a write would raise) without writing. Used by
    /// instructions that read before they write, and by multi-store instructions that
    /// must fault before storing anything.
    pub fn probe_write(&mut self, seg: usize, off: u32, len: u32, align: u32) -> Result<(), Stop> {
        let lin = self.linear(seg, off, len, align, true)?;
        if lin as u64 + len as u64 <= 1 << 32 {
            self.mem.check(lin as u64, len as usize, Access::Write)?;
        } else {
            let first = ((1u64 << 32) - lin as u64) as usize;
            self.mem.check(lin as u64, first, Access::Write)?;
            self.mem.check(0, len as usize - first, Access::Write)?;
        }
        Ok(())
    }

    #[inline(always)]
    pub fn read_mem(&mut self, seg: usize, off: u32, size: Size) -> Result<u32, Stop> {
        Ok(match size {
            Size::B8 => self.read_mem_aligned::<1>(seg, off, 1)?[0] as u32,
            Size::B16 => u16::from_le_bytes(self.read_mem_aligned(seg, off, 2)?) as u32,
            Size::B32 => u32::from_le_bytes(self.read_mem_aligned(seg, off, 4)?),
        })
    }

    #[inline(always)]
    pub fn write_mem(&mut self, seg: usize, off: u32, size: Size, v: u32) -> Result<(), Stop> {
        match size {
            Size::B8 => self.write_mem_aligned(seg, off, 1, [v as u8]),
            Size::B16 => self.write_mem_aligned(seg, off, 2, (v as u16).to_le_bytes()),
            Size::B32 => self.write_mem_aligned(seg, off, 4, v.to_le_bytes()),
        }
    }

    #[inline]
    pub fn read_mem_u64(&mut self, seg: usize, off: u32) -> Result<u64, Stop> {
        Ok(u64::from_le_bytes(self.read_mem_aligned(seg, off, 8)?))
    }

    /// The location of operand `i` (register or memory).
    #[inline]
    pub fn loc(&self, ins: &Instruction, i: u32) -> Loc {
        match ins.op_kind(i) {
            OpKind::Register => Loc::Reg(ins.op_register(i)),
            _ => Loc::Mem { seg: self.memory_seg(ins), off: self.effective_address(ins) },
        }
    }

    #[inline]
    pub fn read_loc(&mut self, loc: Loc, size: Size) -> Result<u32, Stop> {
        match loc {
            Loc::Reg(r) => Ok(self.read_reg(r)),
            Loc::Mem { seg, off } => self.read_mem(seg, off, size),
        }
    }

    /// Reads a read-modify-write destination: memory is checked for writing first, so a
    /// read-only page reports a write fault as the hardware does.
    #[inline]
    pub fn read_loc_rmw(&mut self, loc: Loc, size: Size) -> Result<u32, Stop> {
        match loc {
            Loc::Reg(r) => Ok(self.read_reg(r)),
            Loc::Mem { seg, off } => {
                self.probe_write(seg, off, size.bytes(), size.bytes())?;
                self.read_mem(seg, off, size)
            }
        }
    }

    #[inline]
    pub fn write_loc(&mut self, loc: Loc, size: Size, v: u32) -> Result<(), Stop> {
        match loc {
            Loc::Reg(r) => {
                self.write_reg(r, v);
                Ok(())
            }
            Loc::Mem { seg, off } => self.write_mem(seg, off, size, v),
        }
    }

    /// Reads operand `i`: register, memory or immediate (immediates come sign- or
    /// zero-extended as the encoding defines, truncated to `size`).
    #[inline]
    pub fn read_op(&mut self, ins: &Instruction, i: u32, size: Size) -> Result<u32, Stop> {
        match ins.op_kind(i) {
            OpKind::Register => Ok(self.read_reg(ins.op_register(i))),
            OpKind::Memory => {
                let seg = self.memory_seg(ins);
                let off = self.effective_address(ins);
                self.read_mem(seg, off, size)
            }
            _ => Ok(ins.immediate(i) as u32 & size.mask()),
        }
    }

    #[inline]
    pub fn write_op(&mut self, ins: &Instruction, i: u32, size: Size, v: u32) -> Result<(), Stop> {
        let loc = self.loc(ins, i);
        self.write_loc(loc, size, v)
    }
}

/// Whether the memory operand uses 16-bit addressing (0x67 prefix in 32-bit code).
#[inline]
pub fn is_addr16(ins: &Instruction) -> bool {
    let b = ins.memory_base();
    let i = ins.memory_index();
    (b != Register::None && b.size() == 2)
        || (i != Register::None && i.size() == 2)
        || (b == Register::None && i == Register::None && ins.memory_displ_size() == 2)
}

/// Width of operand `i` of an integer instruction.
#[inline]
pub fn op_size(ins: &Instruction, i: u32) -> Size {
    if i == 0 {
        return crate::table::op0_size(ins.code());
    }
    let bytes = match ins.op_kind(i) {
        OpKind::Register => ins.op_register(i).size(),
        OpKind::Memory => ins.memory_size().size(),
        OpKind::Immediate8 | OpKind::Immediate8_2nd => 1,
        OpKind::Immediate16 | OpKind::Immediate8to16 => 2,
        _ => 4,
    };
    Size::from_bytes(bytes).unwrap_or(Size::B32)
}
