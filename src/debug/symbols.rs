//! Symbols of a WOW64 process: module spans, PE exports, import address table slots and
//! the `jmp [slot]` thunks that call through them, plus each image's entry point.
//!
//! The test programs are stripped, so exports and imports are all the names there are;
//! they are enough to make disassembly, `bt` and breakpoints readable
//! (`call dword ptr [useadder.exe!__imp_Add]`, `adder.dll!Add+0x4`).

use std::collections::{BTreeMap, HashMap};

use iced_x86::{Instruction, SymbolResolver, SymbolResult};
use x86wow_mmu::Memory;
use x86wow_wow64::loader::Module;
use x86wow_wow64::pe::{self, Import, Mapped};

use super::expr::SymbolLookup;

/// IMAGE_DIRECTORY_ENTRY_IMPORT.
const DIR_IMPORT: usize = 1;
/// IMAGE_SCN_MEM_EXECUTE.
const SCN_EXECUTE: u32 = 0x2000_0000;
/// A symbol further than this below an address is not used to name it (the image has
/// no symbol sizes; a far-away export would mislead): `module+offset` is shown instead.
const MAX_SYMBOL_OFFSET: u32 = 0x800;

/// One loaded image as the debugger shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleSpan {
    /// Base name in lower case (`adder.dll`).
    pub name: String,
    /// Win32 path in the sandbox.
    pub path: String,
    pub base: u32,
    pub size: u32,
    pub entry: u32,
    /// Address of the first section (what gdb's Windows library list wants).
    pub first_section: u32,
    pub exports: usize,
    pub is_main: bool,
}

impl ModuleSpan {
    pub fn contains(&self, addr: u32) -> bool {
        addr >= self.base && addr - self.base < self.size
    }

    /// Whether `name` names this module: with or without the extension, any case.
    fn is_named(&self, name: &str) -> bool {
        let n = name.to_ascii_lowercase();
        self.name == n || self.name.rsplit_once('.').is_some_and(|(stem, _)| stem == n)
    }
}

/// The symbol table of a process (empty for a bare machine state).
#[derive(Debug, Clone, Default)]
pub struct Symbols {
    pub modules: Vec<ModuleSpan>,
    /// Address -> full name (`module!name`); the first name given to an address wins.
    by_addr: BTreeMap<u32, String>,
    /// Lower-case `module!name` -> address.
    by_full: HashMap<String, u32>,
    /// Lower-case bare name -> address (the first module that has it).
    by_short: HashMap<String, u32>,
}

impl Symbols {
    /// Reads the symbols of the loaded modules (`main` indexes the program image).
    pub fn from_modules(modules: &[Module], main: &str, mem: &Memory) -> Symbols {
        let mut s = Symbols::default();
        // The program first, so that bare names prefer it; then in load order.
        let mut order: Vec<&Module> = modules.iter().collect();
        order.sort_by_key(|m| m.name != main);
        for m in order {
            let view = Mapped { mem, base: m.base, size: m.size };
            let first_section = m.headers.sections.first().map_or(m.base, |sec| m.base.wrapping_add(sec.rva));
            let mut exports = 0;
            for (name, index) in m.exports.names() {
                if let Some(a) = m.exports.address_of_index(index) {
                    s.add(&m.name, name, a);
                    exports += 1;
                }
            }
            if m.entry != 0 {
                s.add(&m.name, "EntryPoint", m.entry);
            }
            if let Ok(imports) = pe::imports(&view, m.headers.directory(DIR_IMPORT)) {
                let mut slots = HashMap::new();
                for dll in &imports {
                    for (imp, rva) in &dll.entries {
                        let name = match imp {
                            Import::Name(n) => n.clone(),
                            Import::Ordinal(o) => format!("{}#{o}", dll.dll.to_ascii_lowercase()),
                        };
                        let slot = m.base.wrapping_add(*rva);
                        s.add(&m.name, &format!("__imp_{name}"), slot);
                        slots.insert(slot, name);
                    }
                }
                s.add_thunks(m, mem, &slots);
            }
            s.modules.push(ModuleSpan {
                name: m.name.clone(),
                path: m.path.clone(),
                base: m.base,
                size: m.size,
                entry: m.entry,
                first_section,
                exports,
                is_main: m.name == main,
            });
        }
        s.modules.sort_by_key(|m| m.base);
        s
    }

    /// Names the `jmp dword ptr [slot]` thunks in a module's code after their import.
    fn add_thunks(&mut self, m: &Module, mem: &Memory, slots: &HashMap<u32, String>) {
        if slots.is_empty() {
            return;
        }
        for sec in m.headers.sections.iter().filter(|s| s.characteristics & SCN_EXECUTE != 0) {
            let len = sec.virtual_size.min(m.size.saturating_sub(sec.rva)) as usize;
            let mut code = vec![0u8; len];
            let start = m.base.wrapping_add(sec.rva);
            if mem.peek(start as u64, &mut code).is_err() {
                continue;
            }
            for (i, w) in code.windows(6).enumerate() {
                if w[0] == 0xFF && w[1] == 0x25 {
                    let slot = u32::from_le_bytes([w[2], w[3], w[4], w[5]]);
                    if let Some(name) = slots.get(&slot) {
                        self.add(&m.name, name, start + i as u32);
                    }
                }
            }
        }
    }

    fn add(&mut self, module: &str, name: &str, addr: u32) {
        let full = format!("{module}!{name}");
        self.by_full.entry(full.to_ascii_lowercase()).or_insert(addr);
        self.by_short.entry(name.to_ascii_lowercase()).or_insert(addr);
        self.by_addr.entry(addr).or_insert(full);
    }

    /// The module holding `addr`.
    pub fn module_at(&self, addr: u32) -> Option<&ModuleSpan> {
        self.modules.iter().find(|m| m.contains(addr))
    }

    pub fn module_named(&self, name: &str) -> Option<&ModuleSpan> {
        self.modules.iter().find(|m| m.is_named(name))
    }

    pub fn main_module(&self) -> Option<&ModuleSpan> {
        self.modules.iter().find(|m| m.is_main)
    }

    /// The symbol at or below `addr` in the same module: (name, offset).
    pub fn symbol_at(&self, addr: u32) -> Option<(&str, u32)> {
        let m = self.module_at(addr)?;
        let (&a, name) = self.by_addr.range(m.base..=addr).next_back()?;
        let off = addr - a;
        (off < MAX_SYMBOL_OFFSET).then_some((name.as_str(), off))
    }

    /// Whether a symbol starts exactly at `addr` (a function entry, for `finish`/`bt`).
    pub fn is_symbol_start(&self, addr: u32) -> bool {
        self.by_addr.contains_key(&addr)
    }

    /// `module!name+0x10`, `module+0x1234`, or `None` outside every module.
    pub fn describe(&self, addr: u32) -> Option<String> {
        if let Some((name, off)) = self.symbol_at(addr) {
            return Some(if off == 0 { name.to_string() } else { format!("{name}+{off:#x}") });
        }
        let m = self.module_at(addr)?;
        Some(format!("{}+{:#x}", m.name, addr - m.base))
    }

    /// Every full symbol name (for completion).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_addr.values().map(String::as_str)
    }
}

impl SymbolLookup for Symbols {
    fn lookup(&self, name: &str) -> Option<u32> {
        if let Some((module, sym)) = name.split_once('!') {
            let m = self.module_named(module)?;
            return self.by_full.get(&format!("{}!{}", m.name, sym.to_ascii_lowercase())).copied();
        }
        if name.eq_ignore_ascii_case("$entry") {
            return self.main_module().map(|m| m.entry);
        }
        if let Some(m) = self.module_named(name) {
            return Some(m.base);
        }
        self.by_short.get(&name.to_ascii_lowercase()).copied()
    }
}

/// The resolver iced-x86's formatters call for branch targets, displacements and
/// immediates that look like addresses.
pub struct Resolver(pub std::rc::Rc<Symbols>);

impl SymbolResolver for Resolver {
    fn symbol(
        &mut self,
        _instruction: &Instruction,
        _operand: u32,
        _instruction_operand: Option<u32>,
        address: u64,
        _address_size: u32,
    ) -> Option<SymbolResult<'_>> {
        let a = u32::try_from(address).ok()?;
        let (name, off) = self.0.symbol_at(a)?;
        Some(SymbolResult::with_string(address - off as u64, name.to_string()))
    }
}
