//! The decoded-block cache: instructions are decoded once into straight-line blocks
//! that end at the first control transfer, a page boundary or a length limit.
//!
//! A block remembers the write generation of the page(s) its bytes came from (the mmu
//! gives every page holding cached code a new generation when it is written, see
//! `Memory::mark_code`) and the mmu's layout epoch (mapping and protection changes).
//! A block is used only while both still match, so self-modifying code and code written
//! by a loader are re-decoded. A write into cached code while a block runs is noticed
//! through `Memory::code_writes` after each instruction, and the block is left at once.

use iced_x86::{FlowControl, Instruction};
use x86wow_mmu::PAGE_SHIFT;

use crate::table::{self, Handler};

/// Most instructions in one block.
pub const MAX_BLOCK: usize = 32;

/// A decoded instruction with its handler, and a fast handler with pre-decoded
/// operands for the most frequent forms (see `fast.rs`).
#[derive(Clone)]
pub struct Op {
    pub ins: Instruction,
    /// What runs the op: its fast handler, or `fast::generic`, which calls `handler`.
    pub run: crate::fast::Fast,
    pub pre: crate::fast::Pre,
    pub handler: Handler,
    /// For x87 instructions, the last-opcode value with bit 15 set (see
    /// `ops::x87::decoded_fop`); 0 otherwise.
    pub fop: u16,
}

/// A straight-line run of decoded instructions starting at `start`.
pub struct Block {
    pub start: u32,
    /// The last op branches back to `start` (JMP or Jcc): a loop body.
    pub looping: bool,
    // Rc, not Arc: a block switch clones and drops one, and atomic counts cost there
    // (a Cpu is not Send anyway: its hooks are not).
    pub ops: std::rc::Rc<[Op]>,
    /// The pages the bytes came from with their generations (one or two pages).
    pub pages: [(u64, u64); 2],
    pub npages: u8,
    pub layout_epoch: u64,
    /// The mmu's code-write count when the block was last found valid: while neither it
    /// nor the layout epoch has moved, no page of the block can have changed.
    pub checked_writes: u64,
}

/// Direct-mapped index from start EIP to block.
const INDEX_BITS: u32 = 14;

/// `Default` is an empty placeholder that allocates nothing (the run loop swaps the
/// cache out of the CPU while it runs blocks from it); [`BlockCache::new`] makes a
/// usable one.
#[derive(Default)]
pub struct BlockCache {
    index: Vec<u32>,
    blocks: Vec<Block>,
    pub enabled: bool,
}

impl BlockCache {
    pub fn new() -> Self {
        BlockCache { index: vec![0; 1 << INDEX_BITS], blocks: Vec::new(), enabled: true }
    }
}

#[inline]
fn slot(eip: u32) -> usize {
    ((eip ^ (eip >> INDEX_BITS) ^ (eip >> 28)) & ((1 << INDEX_BITS) - 1)) as usize
}

impl BlockCache {
    /// The cached block starting at `eip`, if any (not yet validated).
    #[inline]
    pub fn get(&self, eip: u32) -> Option<usize> {
        let i = *self.index.get(slot(eip))?;
        if i == 0 {
            return None;
        }
        let b = &self.blocks[(i - 1) as usize];
        (b.start == eip).then_some((i - 1) as usize)
    }

    /// The ops of the cached block starting at `eip` when it was found valid at this
    /// (code writes, layout epoch) stamp: then none of its pages can have changed.
    #[inline]
    pub fn lookup(&self, eip: u32, writes: u64, layout: u64) -> Option<&Block> {
        let i = *self.index.get(slot(eip))?;
        let b = self.blocks.get((i as usize).wrapping_sub(1))?;
        (b.start == eip && b.checked_writes == writes && b.layout_epoch == layout).then_some(b)
    }

    #[inline]
    pub fn block(&self, i: usize) -> &Block {
        &self.blocks[i]
    }

    #[inline]
    pub fn block_mut(&mut self, i: usize) -> &mut Block {
        &mut self.blocks[i]
    }

    /// Stores a block and returns its index. The cache is flushed when it grows large,
    /// which bounds its memory whatever the guest does.
    pub fn insert(&mut self, b: Block) -> usize {
        if self.blocks.len() >= 1 << 16 || self.index.is_empty() {
            // (Empty only if a handler panicked while the cache was taken out.)
            self.clear();
        }
        let s = slot(b.start);
        self.blocks.push(b);
        self.index[s] = self.blocks.len() as u32;
        self.blocks.len() - 1
    }

    /// How many blocks are stored (some may have gone stale).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn clear(&mut self) {
        self.blocks.clear();
        self.index.clear();
        self.index.resize(1 << INDEX_BITS, 0);
    }
}

/// Whether a block must end after this instruction: control transfers, and the
/// instructions that can set EFLAGS.TF (so single stepping starts exactly after them).
#[inline]
pub fn ends_block(ins: &Instruction) -> bool {
    ins.flow_control() != FlowControl::Next
        || matches!(
            ins.mnemonic(),
            iced_x86::Mnemonic::Popf
                | iced_x86::Mnemonic::Popfd
                | iced_x86::Mnemonic::Iret
                | iced_x86::Mnemonic::Iretd
        )
}

/// Page number of a linear address.
#[inline]
pub fn page_of(lin: u32) -> u64 {
    (lin as u64) >> PAGE_SHIFT
}

/// Builds an op for a decoded instruction.
#[inline]
pub fn op(ins: Instruction) -> Op {
    let (run, pre) = crate::fast::select(&ins).unwrap_or((crate::fast::generic, crate::fast::pre()));
    Op { run, pre, handler: table::handler(ins.code()), fop: 0, ins }
}
