//! The CPU: state, the fetch-decode-dispatch loop, hooks and breakpoints.

use std::collections::HashSet;

use iced_x86::{Code, Decoder, DecoderError, DecoderOptions, Instruction, Mnemonic};
use x86wow_mmu::{Memory, PAGE_SHIFT};

use std::rc::Rc;

use crate::cache::{self, ends_block, page_of, Block, BlockCache, Op, MAX_BLOCK};
use crate::config::Config;
use crate::exception::{vector, Exception, Exit};
use crate::flags::{bits, Flags};
use crate::fpu::{Simd, X87};
use crate::regs::{gpr, sreg, DescKind, DescriptorTable, Registers, Segment};
use crate::table;

/// The block the run loop used last: start, ops, and the (code writes, layout epoch)
/// stamp it was valid at.
type LastBlock = (u32, Rc<[Op]>, (u64, u64));

/// Longest legal instruction; a longer one raises #GP(0).
pub const MAX_INSN_LEN: usize = 15;

/// Length of legacy prefixes plus a two-byte (0F xx) opcode at the start of `bytes`.
fn opcode_end(bytes: &[u8]) -> usize {
    const PREFIXES: [u8; 11] = [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3];
    bytes.iter().take_while(|b| PREFIXES.contains(b)).count() + 2
}

/// How a handler ends an instruction other than normally (see [`StopKind`]).
///
/// Boxed so that `Result<(), Stop>` and `Result<u32, Stop>` fit in registers: handlers
/// and memory accessors return them on every instruction, and stops are rare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop(Box<StopKind>);

/// The kinds of [`Stop`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopKind {
    /// Raise an exception: the state returns to the start of the instruction.
    Exc(Exception),
    /// Stop without executing the instruction (EIP stays at it; not retired).
    Before(Exit),
    /// Stop after the instruction retired (EIP as the handler left it).
    After(Exit),
}

#[allow(non_snake_case)]
impl Stop {
    /// Raise an exception: the state returns to the start of the instruction.
    #[cold]
    pub fn Exc(e: Exception) -> Stop {
        Stop(Box::new(StopKind::Exc(e)))
    }
    /// Stop without executing the instruction (EIP stays at it; not retired).
    #[cold]
    pub fn Before(exit: Exit) -> Stop {
        Stop(Box::new(StopKind::Before(exit)))
    }
    /// Stop after the instruction retired (EIP as the handler left it).
    #[cold]
    pub fn After(exit: Exit) -> Stop {
        Stop(Box::new(StopKind::After(exit)))
    }
    pub fn kind(&self) -> StopKind {
        *self.0
    }
}

impl From<Exception> for Stop {
    #[inline]
    fn from(e: Exception) -> Self {
        Stop::Exc(e)
    }
}

impl From<x86wow_mmu::Fault> for Stop {
    #[inline]
    fn from(f: x86wow_mmu::Fault) -> Self {
        Stop::Exc(Exception::page_fault(f))
    }
}

/// Result type of instruction handlers.
pub type Step = Result<(), Stop>;

/// What a hook asks the CPU to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookAction {
    Continue,
    /// Stop with [`Exit::HookStop`] (before the instruction for code hooks).
    Stop,
}

/// A code hook: called before each instruction whose address is in `range`.
pub type CodeHook = Box<dyn FnMut(&mut Cpu, u32) -> HookAction>;

struct CodeHookEntry {
    id: u64,
    range: std::ops::RangeInclusive<u32>,
    hook: CodeHook,
}

/// A memory hook: called on each data access of the given kind, with the linear
/// address and size, before the access is made.
pub type MemHook = Box<dyn FnMut(u32, u32, x86wow_mmu::Access) -> HookAction>;

struct MemHookEntry {
    id: u64,
    range: std::ops::RangeInclusive<u32>,
    write: bool,
    read: bool,
    hook: MemHook,
}

/// A saved copy of a CPU: every register, the FPU/SSE state, the instruction count and
/// the address space (copy-on-write, so taking one is cheap). Hooks, breakpoints and
/// the configuration are not part of it.
#[derive(Clone)]
pub struct CpuSnapshot {
    gpr: [u32; 8],
    eip: u32,
    flags: Flags,
    seg: [Segment; 6],
    descriptors: DescriptorTable,
    fpu: X87,
    simd: Simd,
    insns: u64,
    inhibit_trap: bool,
    mem: x86wow_mmu::Snapshot,
}

/// The IA-32 CPU with its address space.
///
/// ```
/// use x86wow_cpu::{Cpu, Exit};
/// use x86wow_mmu::Prot;
///
/// let mut cpu = Cpu::new();
/// cpu.mem.map(0x1000, 0x1000, Prot::RX).unwrap();
/// // add eax, ebx ; hlt
/// cpu.mem.poke(0x1000, &[0x01, 0xd8, 0xf4]).unwrap();
/// cpu.eip = 0x1000;
/// cpu.gpr[0] = 2;
/// cpu.gpr[3] = 40;
/// assert_eq!(cpu.run(100), Exit::Hlt);
/// assert_eq!(cpu.gpr[0], 42);
/// assert_eq!(cpu.insns(), 1);
/// ```
pub struct Cpu {
    /// General registers in encoding order (see [`crate::regs::gpr`]).
    pub gpr: [u32; 8],
    pub eip: u32,
    pub flags: Flags,
    /// Segment registers in encoding order (see [`crate::regs::sreg`]).
    pub seg: [Segment; 6],
    /// The descriptors that selector loads may reference.
    pub descriptors: DescriptorTable,
    pub mem: Memory,
    pub config: Config,
    /// x87/MMX state.
    pub fpu: X87,
    /// SSE state (XMM0..XMM7, MXCSR).
    pub simd: Simd,
    insns: u64,
    code_hooks: Vec<CodeHookEntry>,
    mem_hooks: Vec<MemHookEntry>,
    next_hook_id: u64,
    breakpoints: HashSet<u32>,
    /// Set when the run loop stopped at a breakpoint, so the next step executes it.
    resume_at: Option<u32>,
    /// A memory hook asked to stop: reported after the current instruction.
    pub(crate) hook_stop: bool,
    /// Tracks the "MOV SS / POP SS" interrupt shadow for single stepping.
    pub(crate) inhibit_trap: bool,
    decoder_options: u32,
    cache: BlockCache,
    /// Code hooks are running (and taken out of `code_hooks`).
    in_hooks: bool,
    /// Hooks removed by a running hook, removed once the hooks are back.
    removed_hooks: Vec<u64>,
    /// The x87 last-opcode value of the instruction now executing, computed when its
    /// block was decoded (bit 15 set), or 0: then it is computed from the instruction.
    pub(crate) cur_fop: u16,
}

impl Default for Cpu {
    fn default() -> Self {
        Self::new()
    }
}

impl Cpu {
    /// A CPU in the state of a fresh 32-bit Windows (WOW64) thread context: flat
    /// segments 0x23/0x2B, FS 0x53 with base 0, EFLAGS 0x202, empty address space.
    pub fn new() -> Self {
        Self::with_config(Config::default())
    }

    pub fn with_config(config: Config) -> Self {
        let data = Segment::flat(0x2b);
        Cpu {
            gpr: [0; 8],
            eip: 0,
            flags: Flags::default(),
            seg: [data, Segment::flat(0x23), data, data, Segment::flat(0x53), data],
            descriptors: DescriptorTable::wow64(0),
            mem: Memory::new(),
            config,
            fpu: X87::default(),
            simd: Simd::default(),
            insns: 0,
            code_hooks: Vec::new(),
            mem_hooks: Vec::new(),
            next_hook_id: 1,
            breakpoints: HashSet::new(),
            resume_at: None,
            hook_stop: false,
            inhibit_trap: false,
            decoder_options: DecoderOptions::AMD,
            cache: BlockCache::new(),
            in_hooks: false,
            removed_hooks: Vec::new(),
            cur_fop: 0,
        }
    }

    /// Instructions retired so far.
    pub fn insns(&self) -> u64 {
        self.insns
    }

    pub fn set_insns(&mut self, n: u64) {
        self.insns = n;
    }

    pub fn eflags(&self) -> u32 {
        self.flags.eflags()
    }

    pub fn set_eflags(&mut self, v: u32) {
        self.flags.set_eflags(v);
    }

    /// The integer registers as a plain struct.
    pub fn registers(&self) -> Registers {
        let mut r = Registers { eip: self.eip, eflags: self.eflags(), ..Default::default() };
        r.set_gpr(self.gpr);
        r
    }

    pub fn set_registers(&mut self, r: &Registers) {
        self.gpr = r.gpr();
        self.eip = r.eip;
        self.set_eflags(r.eflags);
    }

    /// Sets the base of FS (and its descriptor, so reloading the selector keeps it).
    pub fn set_fs_base(&mut self, base: u32) {
        self.set_seg_base(sreg::FS, base);
    }

    pub fn set_gs_base(&mut self, base: u32) {
        self.set_seg_base(sreg::GS, base);
    }

    fn set_seg_base(&mut self, s: usize, base: u32) {
        let sel = self.seg[s].selector;
        if sel & !3 != 0 {
            let kind = self.descriptors.get(sel).map_or(DescKind::Data, |d| d.kind);
            self.descriptors.set(sel, crate::regs::Descriptor { base, kind });
        }
        self.seg[s].base = base;
        self.seg[s].usable = true;
    }

    /// Loads a segment register with a selector, checking it against the descriptor
    /// table as a user-mode MOV/POP would; see [`crate::ops::segment`].
    pub fn load_segment(&mut self, s: usize, selector: u16) -> Result<(), Exception> {
        crate::ops::segment::load(self, s, selector)
    }

    /// Saves the complete architectural state and memory (see [`CpuSnapshot`]).
    pub fn snapshot(&mut self) -> CpuSnapshot {
        CpuSnapshot {
            gpr: self.gpr,
            eip: self.eip,
            flags: self.flags,
            seg: self.seg,
            descriptors: self.descriptors.clone(),
            fpu: self.fpu,
            simd: self.simd,
            insns: self.insns,
            inhibit_trap: self.inhibit_trap,
            mem: self.mem.snapshot(),
        }
    }

    /// Returns to a snapshot taken from this CPU. Running on from there reproduces the
    /// same results (the interpreter is deterministic).
    pub fn restore(&mut self, s: &CpuSnapshot) {
        self.gpr = s.gpr;
        self.eip = s.eip;
        self.flags = s.flags;
        self.seg = s.seg;
        self.descriptors = s.descriptors.clone();
        self.fpu = s.fpu;
        self.simd = s.simd;
        self.insns = s.insns;
        self.inhibit_trap = s.inhibit_trap;
        self.resume_at = None;
        self.hook_stop = false;
        self.mem.restore(&s.mem);
    }

    /// Stops before executing the instruction at `addr`.
    pub fn add_breakpoint(&mut self, addr: u32) {
        self.breakpoints.insert(addr);
    }

    pub fn remove_breakpoint(&mut self, addr: u32) -> bool {
        self.breakpoints.remove(&addr)
    }

    /// Adds a hook run before every instruction whose address is in `range`; returns an
    /// id for [`Cpu::remove_hook`]. Hooks may be added or removed while running (from
    /// inside a hook, too): they are consulted at every dispatch.
    pub fn add_code_hook(&mut self, range: std::ops::RangeInclusive<u32>, hook: CodeHook) -> u64 {
        let id = self.next_hook_id;
        self.next_hook_id += 1;
        self.code_hooks.push(CodeHookEntry { id, range, hook });
        id
    }

    /// Adds a hook on data reads and/or writes that touch `range`.
    pub fn add_mem_hook(
        &mut self,
        range: std::ops::RangeInclusive<u32>,
        read: bool,
        write: bool,
        hook: MemHook,
    ) -> u64 {
        let id = self.next_hook_id;
        self.next_hook_id += 1;
        self.mem_hooks.push(MemHookEntry { id, range, read, write, hook });
        id
    }

    pub fn remove_hook(&mut self, id: u64) -> bool {
        if self.in_hooks {
            // The hook list is taken out while hooks run: remove it when it is back.
            self.removed_hooks.push(id);
            return true;
        }
        let before = self.code_hooks.len() + self.mem_hooks.len();
        self.code_hooks.retain(|h| h.id != id);
        self.mem_hooks.retain(|h| h.id != id);
        before != self.code_hooks.len() + self.mem_hooks.len()
    }

    #[inline]
    pub(crate) fn has_mem_hooks(&self) -> bool {
        !self.mem_hooks.is_empty()
    }

    pub(crate) fn run_mem_hooks(&mut self, addr: u32, size: u32, access: x86wow_mmu::Access) {
        let last = addr.wrapping_add(size.saturating_sub(1));
        for h in &mut self.mem_hooks {
            let wanted = match access {
                x86wow_mmu::Access::Read => h.read,
                x86wow_mmu::Access::Write => h.write,
                x86wow_mmu::Access::Execute => false,
            };
            if wanted
                && addr <= *h.range.end()
                && last >= *h.range.start()
                && (h.hook)(addr, size, access) == HookAction::Stop
            {
                self.hook_stop = true;
            }
        }
    }

    /// Decodes the instruction at EIP without executing it.
    pub fn decode_at(&mut self, eip: u32) -> Result<Instruction, Exception> {
        let lin = self.seg[sreg::CS].base.wrapping_add(eip);
        let mut buf = [0u8; MAX_INSN_LEN];
        let n = self.fetch_bytes(lin, &mut buf);
        let mut decoder = Decoder::with_ip(32, &buf[..n], eip as u64, self.decoder_options);
        let mut ins = Instruction::default();
        decoder.decode_out(&mut ins);
        match decoder.last_error() {
            DecoderError::None => Ok(ins),
            DecoderError::NoMoreBytes if n < MAX_INSN_LEN => {
                // The instruction runs into bytes that cannot be fetched. UD0/UD1/UD2
                // raise #UD from their opcode alone, before the rest is fetched.
                let mut padded = buf;
                padded[n..].fill(0);
                let mut d = Decoder::with_ip(32, &padded, eip as u64, self.decoder_options);
                let guess = d.decode();
                if matches!(guess.mnemonic(), Mnemonic::Ud0 | Mnemonic::Ud1 | Mnemonic::Ud2)
                    && n >= opcode_end(&buf[..n])
                {
                    return Err(Exception::ud());
                }
                let at = lin.wrapping_add(n as u32);
                match self.mem.check(at as u64, 1, x86wow_mmu::Access::Execute) {
                    Err(f) => Err(Exception::page_fault(f)),
                    Ok(()) => Err(Exception::ud()),
                }
            }
            DecoderError::NoMoreBytes => Err(Exception::gp(0)),
            _ if n == MAX_INSN_LEN && self.exceeds_length_limit(lin) => Err(Exception::gp(0)),
            _ => Err(Exception::ud()),
        }
    }

    /// Whether the bytes at `lin` form a valid instruction longer than 15 bytes (which
    /// the hardware rejects with #GP(0), while the decoder, capped at 15 bytes, only
    /// says "invalid"). Redundant prefixes are the only way to get there, so drop
    /// prefix bytes repeated later in the prefix run and decode the rest.
    fn exceeds_length_limit(&self, lin: u32) -> bool {
        const PREFIXES: [u8; 11] = [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3];
        let mut buf = [0u8; 32];
        let mut n = 0;
        while n < buf.len() {
            let chunk = &mut buf[n..(n + MAX_INSN_LEN).min(32)];
            let got = self.mem.fetch(lin.wrapping_add(n as u32) as u64, chunk);
            n += got;
            if got < chunk.len() {
                break;
            }
        }
        let bytes = &buf[..n];
        let p = bytes.iter().take_while(|b| PREFIXES.contains(b)).count();
        let mut kept: Vec<u8> = Vec::new();
        for (i, &b) in bytes[..p].iter().enumerate() {
            if !bytes[i + 1..p].contains(&b) {
                kept.push(b);
            }
        }
        let removed = p - kept.len();
        if removed == 0 {
            return false;
        }
        kept.extend_from_slice(&bytes[p..]);
        let mut decoder = Decoder::new(32, &kept, self.decoder_options);
        let ins = decoder.decode();
        decoder.last_error() == DecoderError::None && ins.len() + removed > MAX_INSN_LEN
    }

    /// Decodes the instruction at `eip` without side effects (no guard page consumed);
    /// `None` if it cannot be fetched or decoded.
    pub fn peek_instruction(&self, eip: u32) -> Option<Instruction> {
        let lin = self.seg[sreg::CS].base.wrapping_add(eip);
        let mut buf = [0u8; MAX_INSN_LEN];
        let n = self.fetch_bytes(lin, &mut buf);
        let mut decoder = Decoder::with_ip(32, &buf[..n], eip as u64, self.decoder_options);
        let ins = decoder.decode();
        (decoder.last_error() == DecoderError::None).then_some(ins)
    }

    /// Fetches instruction bytes, wrapping at 4 GiB as linear addresses do.
    fn fetch_bytes(&self, lin: u32, buf: &mut [u8; MAX_INSN_LEN]) -> usize {
        let first = ((1u64 << 32) - lin as u64).min(MAX_INSN_LEN as u64) as usize;
        let n = self.mem.fetch(lin as u64, &mut buf[..first]);
        if n == first && first < MAX_INSN_LEN {
            n + self.mem.fetch(0, &mut buf[first..])
        } else {
            n
        }
    }

    /// Executes one instruction (or stops before it at a breakpoint or hook).
    pub fn step(&mut self) -> Exit {
        self.step_one().unwrap_or(Exit::BudgetExhausted)
    }

    /// Runs at most `budget` instructions.
    pub fn run(&mut self, budget: u64) -> Exit {
        let mut left = budget;
        // The block last run, with the (code writes, layout epoch) stamp it was valid
        // at: a loop's block jumps back to its own start and is reused as is.
        let mut last: Option<LastBlock> = None;
        while left > 0 {
            if !self.cache.enabled {
                left -= 1;
                if let Some(exit) = self.step_one() {
                    return exit;
                }
                continue;
            }
            if !self.flags.tf() && !self.has_mem_hooks() && !self.has_debug_checks() {
                if let Some(exit) = self.run_fast(&mut left) {
                    return exit;
                }
                if left == 0 {
                    break;
                }
            }
            let eip = self.eip;
            let stamp = (self.mem.code_writes(), self.mem.layout_epoch());
            if !matches!(&last, Some((start, _, st)) if *start == eip && *st == stamp) {
                match self.cached_block(eip) {
                    Ok(ops) => last = Some((eip, ops, stamp)),
                    Err(exception) => {
                        // The first instruction of a block cannot be fetched or decoded;
                        // breakpoints and hooks still come first.
                        if let Some(exit) = self.pre_instruction(eip) {
                            return exit;
                        }
                        return Exit::Exception { exception, eip };
                    }
                }
            }
            let Some((_, ops, _)) = &last else { unreachable!("a block was just looked up") };
            // The lean loop needs: no single stepping (only POPF/IRET can set TF, and
            // they end their blocks) and no memory hooks that could ask to stop.
            // Breakpoints and code hooks are consulted by it when present.
            if !self.flags.tf() && !self.has_mem_hooks() {
                let debug = self.has_debug_checks();
                let exit = if debug {
                    self.run_block_lean::<true>(ops, &mut left)
                } else {
                    self.run_block_lean::<false>(ops, &mut left)
                };
                if let Some(exit) = exit {
                    return exit;
                }
                continue;
            }
            if let Some(exit) = self.run_block_careful(ops, &mut left) {
                return exit;
            }
        }
        Exit::BudgetExhausted
    }

    /// Runs a block instruction by instruction with every check: breakpoints, hooks,
    /// single stepping, memory hooks that stop.
    fn run_block_careful(&mut self, ops: &[Op], left: &mut u64) -> Option<Exit> {
        let writes = self.mem.code_writes();
        // Breakpoints and hooks can only change between runs or from inside a code hook,
        // which already means checking every instruction.
        let debug = self.has_debug_checks();
        for (k, op) in ops.iter().enumerate() {
            if *left == 0 {
                return Some(Exit::BudgetExhausted);
            }
            *left -= 1;
            if debug {
                if let Some(exit) = self.pre_instruction(self.eip) {
                    return Some(exit);
                }
            }
            if let Some(exit) = self.execute_with(&op.ins, Some(op)) {
                return Some(exit);
            }
            // Leave the block when control went elsewhere than the block's next op (a
            // followed JMP/CALL continues it) or code was written.
            let Some(following) = ops.get(k + 1) else { break };
            if self.eip != following.ins.ip32() || self.mem.code_writes() != writes {
                break;
            }
        }
        None
    }

    /// Runs a block with nothing to check between instructions but an exit, a write
    /// into cached code and (with `DEBUG`) breakpoints and code hooks. Inside a block
    /// control goes from one op to the next (the last op, or a direct JMP/CALL the
    /// block follows, transfers it to where the next op is), so EIP needs no check; the budget
    /// is applied up front. The retired count is brought up to date before each generic
    /// handler (RDTSC reads it) and each hook; the fast handlers do not look at it.
    #[inline(always)]
    fn run_block_lean<const DEBUG: bool>(&mut self, ops: &[Op], left: &mut u64) -> Option<Exit> {
        if !DEBUG {
            return self.lean_ops::<false>(ops, left, None);
        }
        // With hooks, take them out once for the whole block (they need `&mut self`).
        let mut hooks = std::mem::take(&mut self.code_hooks);
        let exit = self.lean_ops::<true>(ops, left, Some(&mut hooks));
        self.put_back_hooks(hooks);
        exit
    }

    #[inline(always)]
    fn lean_ops<const DEBUG: bool>(
        &mut self,
        ops: &[Op],
        left: &mut u64,
        mut hooks: Option<&mut Vec<CodeHookEntry>>,
    ) -> Option<Exit> {
        let writes = self.mem.code_writes();
        let n = ops.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
        for (k, op) in ops[..n].iter().enumerate() {
            if let Some(hooks) = hooks.as_deref_mut() {
                let eip = op.ins.ip32();
                let exit = self.debug_checks(eip, hooks);
                if !self.code_hooks.is_empty() || !self.removed_hooks.is_empty() {
                    // A hook added or removed hooks: take the change into account now.
                    let mut all = std::mem::take(hooks);
                    self.put_back_hooks(all);
                    all = std::mem::take(&mut self.code_hooks);
                    *hooks = all;
                }
                if let Some(exit) = exit {
                    *left -= k as u64 + 1;
                    return Some(exit);
                }
            }
            self.eip = op.ins.next_ip32();
            if let Err(stop) = (op.run)(self, op) {
                *left -= k as u64 + 1;
                return Some(self.finish_stop(stop, op.ins.ip32()));
            }
            self.insns += 1;
            if self.mem.code_writes() != writes {
                *left -= k as u64 + 1;
                return None;
            }
        }
        *left -= n as u64;
        None
    }

    /// `lean_ops::<false>` written for the fewest live values across the handler call:
    /// one pointer walks the ops.
    #[inline(always)]
    fn plain_ops(&mut self, ops: &[Op], left: &mut u64) -> Option<Exit> {
        let writes = self.mem.code_writes();
        let n = ops.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
        let ops = &ops[..n];
        let mut i = 0;
        while i < ops.len() {
            let op = &ops[i];
            i += 1;
            self.eip = op.ins.next_ip32();
            if let Err(stop) = (op.run)(self, op) {
                *left -= i as u64;
                return Some(self.finish_stop(stop, op.ins.ip32()));
            }
            self.insns += 1;
            if self.mem.code_writes() != writes {
                *left -= i as u64;
                return None;
            }
        }
        *left -= n as u64;
        None
    }

    /// Runs cached blocks one after another while nothing needs checking between
    /// instructions but an exit and a write into cached code: no single stepping, memory
    /// hooks, code hooks or breakpoints (none of which an instruction can bring about,
    /// except TF, which only POPF and IRET set, and they end their blocks). Returns
    /// `None` when the budget is used up or the next block is not cached and valid at
    /// the current stamp (the caller looks it up or decodes it).
    #[inline(never)]
    fn run_fast(&mut self, left: &mut u64) -> Option<Exit> {
        // The cache is taken out while its blocks run, so that they can be borrowed from
        // it (handlers never use the cache, and nothing else runs meanwhile).
        let cache = std::mem::take(&mut self.cache);
        // The budget in a local, so that it can stay in a register.
        let mut rem = *left;
        let exit = self.run_from(&cache, &mut rem);
        *left = rem;
        self.cache = cache;
        exit
    }

    #[inline(always)]
    fn run_from(&mut self, cache: &BlockCache, left: &mut u64) -> Option<Exit> {
        while *left > 0 && !self.flags.tf() {
            let (writes, layout) = (self.mem.code_writes(), self.mem.layout_epoch());
            let block = cache.lookup(self.eip, writes, layout)?;
            if !block.looping {
                if let Some(exit) = self.plain_ops(&block.ops, left) {
                    return Some(exit);
                }
                continue;
            }
            // A loop body runs again at once, without a lookup, while what it was found
            // valid for holds: no code written (checked after every op), the same layout
            // (the cache cannot change meanwhile, so a lookup would find the same block).
            loop {
                if let Some(exit) = self.plain_ops(&block.ops, left) {
                    return Some(exit);
                }
                if self.eip != block.start
                    || *left == 0
                    || self.flags.tf()
                    || self.mem.code_writes() != writes
                    || self.mem.layout_epoch() != layout
                {
                    break;
                }
            }
        }
        None
    }

    /// Breakpoints and the (taken out) code hooks before the instruction at `eip`.
    #[inline]
    fn debug_checks(&mut self, eip: u32, hooks: &mut [CodeHookEntry]) -> Option<Exit> {
        if self.resume_at.is_some() && self.resume_at.take() == Some(eip) {
            return None;
        }
        if !self.breakpoints.is_empty() && self.breakpoints.contains(&eip) {
            self.resume_at = Some(eip);
            return Some(Exit::Breakpoint(eip));
        }
        self.in_hooks = true;
        let mut action = HookAction::Continue;
        for h in hooks.iter_mut() {
            if h.range.contains(&eip) && (h.hook)(self, eip) == HookAction::Stop {
                action = HookAction::Stop;
            }
        }
        self.in_hooks = false;
        if action == HookAction::Stop {
            self.resume_at = Some(eip);
            return Some(Exit::HookStop);
        }
        None
    }

    /// Returns taken-out hooks to `code_hooks`, merging hooks added meanwhile and
    /// dropping hooks removed meanwhile.
    fn put_back_hooks(&mut self, mut hooks: Vec<CodeHookEntry>) {
        if !self.code_hooks.is_empty() {
            hooks.append(&mut self.code_hooks);
        }
        if !self.removed_hooks.is_empty() {
            let removed = std::mem::take(&mut self.removed_hooks);
            hooks.retain(|h| !removed.contains(&h.id));
        }
        self.code_hooks = hooks;
    }

    /// Completes an instruction that ended with a [`Stop`].
    #[cold]
    fn finish_stop(&mut self, stop: Stop, start: u32) -> Exit {
        match stop.kind() {
            StopKind::Exc(exception) => {
                self.eip = start;
                self.hook_stop = false;
                Exit::Exception { exception, eip: start }
            }
            StopKind::Before(exit) => {
                self.eip = start;
                exit
            }
            StopKind::After(exit) => {
                self.insns += 1;
                exit
            }
        }
    }

    /// Whether breakpoints, code hooks or a pending resume need checking per instruction.
    #[inline]
    fn has_debug_checks(&self) -> bool {
        !self.breakpoints.is_empty() || !self.code_hooks.is_empty() || self.resume_at.is_some()
    }

    fn pre_instruction(&mut self, eip: u32) -> Option<Exit> {
        if self.resume_at.is_some() && self.resume_at.take() == Some(eip) {
            return None;
        }
        if !self.breakpoints.is_empty() && self.breakpoints.contains(&eip) {
            self.resume_at = Some(eip);
            return Some(Exit::Breakpoint(eip));
        }
        if !self.code_hooks.is_empty() && self.run_code_hooks(eip) == HookAction::Stop {
            self.resume_at = Some(eip);
            return Some(Exit::HookStop);
        }
        None
    }

    /// The valid cached block at `eip`, decoding it if needed.
    fn cached_block(&mut self, eip: u32) -> Result<Rc<[Op]>, Exception> {
        if let Some(i) = self.cache.get(eip) {
            let writes = self.mem.code_writes();
            let layout = self.mem.layout_epoch();
            let b = self.cache.block(i);
            if b.layout_epoch == layout && b.checked_writes == writes {
                return Ok(b.ops.clone());
            }
            let valid = b.layout_epoch == layout
                && b.pages[..b.npages as usize]
                    .iter()
                    .all(|&(pn, gen)| self.mem.generation(pn << PAGE_SHIFT) == Some(gen));
            if valid {
                let b = self.cache.block_mut(i);
                b.checked_writes = writes;
                return Ok(b.ops.clone());
            }
        }
        let block = self.decode_block(eip)?;
        let ops = block.ops.clone();
        self.cache.insert(block);
        Ok(ops)
    }

    /// Decodes a block starting at `eip`. Only the first instruction's fetch may raise
    /// (and consume a guard page); later ones are fetched without side effects and end
    /// the block when they cannot be decoded.
    fn decode_block(&mut self, eip: u32) -> Result<Block, Exception> {
        let first = self.decode_at(eip)?;
        let cs = self.seg[sreg::CS].base;
        let start_page = page_of(cs.wrapping_add(eip));
        let mut ops = Vec::with_capacity(8);
        let mut pages = [(0u64, 0u64); 2];
        let mut npages = 0u8;
        let mut ins = first;
        loop {
            let lin = cs.wrapping_add(ins.ip32());
            let last = lin.wrapping_add(ins.len() as u32 - 1);
            for pn in [page_of(lin), page_of(last)] {
                if !pages[..npages as usize].iter().any(|&(p, _)| p == pn) && (npages as usize) < pages.len()
                {
                    let gen = self.mem.mark_code(pn << PAGE_SHIFT).unwrap_or(0);
                    pages[npages as usize] = (pn, gen);
                    npages += 1;
                }
            }
            // A direct JMP or CALL within the page is followed: the block goes on at its
            // target (the ops keep their own addresses, so EIP stays exact), which saves a
            // block switch on every unconditional branch of a loop. Not to code already
            // in the block (itself included): a JMP back to the start closes a loop body
            // (a looping block), and following it would instead unroll the loop until
            // the length limit, making as many blocks as the loop has instructions, each
            // starting one instruction further on.
            let target = ins.near_branch32();
            let follow = matches!(ins.code(), Code::Jmp_rel8_32 | Code::Jmp_rel32_32 | Code::Call_rel32_32)
                && target != ins.ip32()
                && !ops.iter().any(|op: &Op| op.ins.ip32() == target);
            let next = if follow { target } else { ins.next_ip32() };
            let stop = (ends_block(&ins) && !follow)
                || ops.len() + 1 >= MAX_BLOCK
                || page_of(cs.wrapping_add(next)) != start_page;
            let mut op = cache::op(ins);
            // The bytes it would be computed from are the ones just decoded, and the
            // block lives only while they stay as they are.
            op.fop = crate::ops::x87::decoded_fop(self, &op.ins);
            ops.push(op);
            if stop {
                break;
            }
            match self.peek_instruction(next) {
                Some(i) => ins = i,
                None => break,
            }
        }
        // A loop body: its last op branches back to its start (directly: JMP or Jcc).
        let looping = ops.last().is_some_and(|op: &Op| {
            (op.ins.is_jcc_short_or_near() || matches!(op.ins.code(), Code::Jmp_rel8_32 | Code::Jmp_rel32_32))
                && op.ins.op0_kind() == iced_x86::OpKind::NearBranch32
                && op.ins.near_branch32() == eip
        });
        Ok(Block {
            start: eip,
            looping,
            ops: ops.into(),
            pages,
            npages,
            layout_epoch: self.mem.layout_epoch(),
            checked_writes: self.mem.code_writes(),
        })
    }

    /// Enables or disables the decoded-block cache (it is on by default). With it off,
    /// every instruction is fetched and decoded as it executes: the plain path that
    /// lockstep tests compare the cached one against.
    pub fn set_block_cache(&mut self, on: bool) {
        self.cache.enabled = on;
        self.cache.clear();
    }

    fn step_one(&mut self) -> Option<Exit> {
        let eip = self.eip;
        if self.resume_at.take() != Some(eip) {
            if self.breakpoints.contains(&eip) {
                self.resume_at = Some(eip);
                return Some(Exit::Breakpoint(eip));
            }
            if !self.code_hooks.is_empty() && self.run_code_hooks(eip) == HookAction::Stop {
                self.resume_at = Some(eip);
                return Some(Exit::HookStop);
            }
        }
        let ins = match self.decode_at(eip) {
            Ok(ins) => ins,
            Err(exception) => return Some(Exit::Exception { exception, eip }),
        };
        self.execute(&ins)
    }

    fn run_code_hooks(&mut self, eip: u32) -> HookAction {
        // The hooks are taken out while they run, so that they can be handed `&mut self`.
        let mut hooks = std::mem::take(&mut self.code_hooks);
        self.in_hooks = true;
        let mut action = HookAction::Continue;
        for h in hooks.iter_mut() {
            if h.range.contains(&eip) && (h.hook)(self, eip) == HookAction::Stop {
                action = HookAction::Stop;
            }
        }
        self.in_hooks = false;
        self.put_back_hooks(hooks);
        action
    }

    /// Executes one decoded instruction at EIP.
    pub fn execute(&mut self, ins: &Instruction) -> Option<Exit> {
        self.execute_with(ins, None)
    }

    /// Executes `ins`, through its cached op when there is one.
    #[inline(always)]
    fn execute_with(&mut self, ins: &Instruction, op: Option<&Op>) -> Option<Exit> {
        let start = self.eip;
        // An x87 instruction's last-opcode value comes from its bytes, taken now, before
        // it runs: a store may overwrite them (FSTP onto its own opcode), and the value
        // is the opcode that was decoded. Cached ops carry it from their decoding.
        self.cur_fop = if op.is_some() { 0 } else { crate::ops::x87::decoded_fop(self, ins) };
        // The single-step trap depends on TF before the instruction. MOV SS / POP SS
        // set `inhibit_trap`, suppressing the trap after themselves (the next
        // instruction then traps for both).
        let trap = self.flags.tf();
        self.inhibit_trap = false;
        self.eip = ins.next_ip32();
        let result = match op {
            Some(op) => (op.run)(self, op),
            None => table::handler(ins.code())(self, ins),
        };
        match result {
            Ok(()) => {
                self.insns += 1;
                if self.hook_stop {
                    self.hook_stop = false;
                    return Some(Exit::HookStop);
                }
                if trap && !self.inhibit_trap {
                    return Some(Exit::Exception { exception: Exception::new(vector::DB), eip: self.eip });
                }
                None
            }
            Err(stop) => Some(self.finish_stop(stop, start)),
        }
    }

    // ----- register access by iced register -----

    #[inline]
    pub fn reg32(&self, i: usize) -> u32 {
        self.gpr[i]
    }

    #[inline]
    pub fn esp(&self) -> u32 {
        self.gpr[gpr::ESP]
    }

    /// Whether EFLAGS.AC alignment checking is active (CPL 3 with CR0.AM).
    #[inline]
    pub(crate) fn alignment_check(&self) -> bool {
        self.config.alignment_mask && self.flags.ac()
    }

    /// EFLAGS as PUSHF stores it: VM and RF read as zero.
    pub(crate) fn eflags_image(&self) -> u32 {
        self.eflags() & !(bits::VM | bits::RF)
    }
}

#[cfg(test)]
mod tests;
