use std::sync::Arc;

pub const PAGE_SHIFT: u32 = 12;
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
pub const PAGE_MASK: u64 = PAGE_SIZE - 1;

bitflags::bitflags! {
    /// Page protection. x86 pages cannot be write-only or execute-only, so any protection
    /// other than [`Prot::NONE`] implies [`Prot::READ`]; `map`/`protect` normalise it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Prot: u8 {
        const READ = 1;
        const WRITE = 2;
        const EXEC = 4;
        /// Windows PAGE_GUARD: the first access faults with [`crate::FaultKind::Guard`] and
        /// clears this flag on that page.
        const GUARD = 8;
    }
}

impl Prot {
    pub const NONE: Prot = Prot::empty();
    pub const R: Prot = Prot::READ;
    pub const RW: Prot = Prot::READ.union(Prot::WRITE);
    pub const RX: Prot = Prot::READ.union(Prot::EXEC);
    pub const RWX: Prot = Prot::READ.union(Prot::WRITE).union(Prot::EXEC);

    /// Adds the implied read permission (see the type's documentation).
    pub fn normalized(self) -> Prot {
        if self.intersects(Prot::WRITE | Prot::EXEC) {
            self | Prot::READ
        } else {
            self
        }
    }

    /// Parses a subset of `"rwx"` (any order, `""` or `"-"` meaning none). Returns `None`
    /// for any other character or a repeated one.
    pub fn parse(s: &str) -> Option<Prot> {
        let mut p = Prot::NONE;
        for c in s.chars() {
            let bit = match c {
                'r' => Prot::READ,
                'w' => Prot::WRITE,
                'x' => Prot::EXEC,
                '-' if s.len() == 1 => continue,
                _ => return None,
            };
            if p.contains(bit) {
                return None;
            }
            p |= bit;
        }
        Some(p)
    }

    /// The `rwx` spelling of the protection (guard flag not included), e.g. `"rw"`.
    pub fn rwx(self) -> String {
        let mut s = String::new();
        if self.contains(Prot::READ) {
            s.push('r');
        }
        if self.contains(Prot::WRITE) {
            s.push('w');
        }
        if self.contains(Prot::EXEC) {
            s.push('x');
        }
        s
    }
}

pub(crate) type PageData = [u8; PAGE_SIZE as usize];

/// One mapped page. The data is shared between snapshots and copied on first write.
#[derive(Clone)]
pub(crate) struct Page {
    pub data: Arc<PageData>,
    pub prot: Prot,
    /// Set when the CPU caches decoded instructions from this page: writes then bump `gen`.
    pub code: bool,
    /// Write generation; see [`crate::Memory::generation`].
    pub gen: u64,
}
