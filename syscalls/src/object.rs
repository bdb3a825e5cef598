//! The object manager: objects, the handle table and the object namespace.

use std::collections::BTreeMap;

use x86wow_mmu::Memory;

use crate::file::FileObject;
use crate::section::Section;
use crate::status::{NtResult, NtStatus};
use crate::user::{self, ObjectAttributes, OBJ_CASE_INSENSITIVE, OBJ_INHERIT, OBJ_OPENIF};
use crate::Kernel;

/// The current-process pseudo-handle, `NtCurrentProcess()`.
pub const CURRENT_PROCESS: u64 = u64::MAX;
/// The current-thread pseudo-handle, `NtCurrentThread()`.
pub const CURRENT_THREAD: u64 = u64::MAX - 1;

pub const DELETE: u32 = 0x0001_0000;
pub const READ_CONTROL: u32 = 0x0002_0000;
pub const SYNCHRONIZE: u32 = 0x0010_0000;
pub const MAXIMUM_ALLOWED: u32 = 0x0200_0000;
pub const ACCESS_SYSTEM_SECURITY: u32 = 0x0100_0000;
pub const GENERIC_READ: u32 = 0x8000_0000;
pub const GENERIC_WRITE: u32 = 0x4000_0000;
pub const GENERIC_EXECUTE: u32 = 0x2000_0000;
pub const GENERIC_ALL: u32 = 0x1000_0000;

pub const EVENT_QUERY_STATE: u32 = 0x1;
pub const EVENT_MODIFY_STATE: u32 = 0x2;
pub const MUTANT_QUERY_STATE: u32 = 0x1;
pub const SEMAPHORE_QUERY_STATE: u32 = 0x1;
pub const SEMAPHORE_MODIFY_STATE: u32 = 0x2;
pub const SECTION_QUERY: u32 = 0x1;
pub const SECTION_MAP_WRITE: u32 = 0x2;
pub const SECTION_MAP_READ: u32 = 0x4;
pub const SECTION_MAP_EXECUTE: u32 = 0x8;
pub const PROCESS_QUERY_INFORMATION: u32 = 0x400;
pub const PROCESS_SET_INFORMATION: u32 = 0x200;
pub const PROCESS_QUERY_LIMITED_INFORMATION: u32 = 0x1000;
pub const PROCESS_TERMINATE: u32 = 0x1;
pub const PROCESS_VM_OPERATION: u32 = 0x8;
pub const THREAD_TERMINATE: u32 = 0x1;
pub const THREAD_QUERY_INFORMATION: u32 = 0x40;
pub const THREAD_SET_INFORMATION: u32 = 0x20;
pub const THREAD_QUERY_LIMITED_INFORMATION: u32 = 0x800;
pub const THREAD_SET_LIMITED_INFORMATION: u32 = 0x400;

pub const DUPLICATE_CLOSE_SOURCE: u32 = 0x1;
pub const DUPLICATE_SAME_ACCESS: u32 = 0x2;
pub const DUPLICATE_SAME_ATTRIBUTES: u32 = 0x4;

/// Object types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectType {
    Process,
    Thread,
    Event,
    Mutant,
    Semaphore,
    Section,
    File,
    Directory,
}

impl ObjectType {
    /// The type name Windows reports (`ObjectTypeInformation`).
    pub fn name(self) -> &'static str {
        match self {
            ObjectType::Process => "Process",
            ObjectType::Thread => "Thread",
            ObjectType::Event => "Event",
            ObjectType::Mutant => "Mutant",
            ObjectType::Semaphore => "Semaphore",
            ObjectType::Section => "Section",
            ObjectType::File => "File",
            ObjectType::Directory => "Directory",
        }
    }

    /// GENERIC_READ, GENERIC_WRITE, GENERIC_EXECUTE, GENERIC_ALL mappings of the type.
    pub fn generic_mapping(self) -> [u32; 4] {
        match self {
            ObjectType::Process => [0x0002_0410, 0x0002_0BEA, 0x0012_1000, 0x001F_FFFF],
            ObjectType::Thread => [0x0002_0048, 0x0002_0437, 0x0012_1800, 0x001F_FFFF],
            ObjectType::Event => [0x0002_0001, 0x0002_0002, 0x0012_0000, 0x001F_0003],
            ObjectType::Mutant => [0x0002_0001, 0x0002_0000, 0x0012_0000, 0x001F_0001],
            ObjectType::Semaphore => [0x0002_0001, 0x0002_0002, 0x0012_0000, 0x001F_0003],
            ObjectType::Section => [0x0002_0005, 0x0002_0002, 0x0002_0008, 0x000F_001F],
            ObjectType::File => [0x0012_0089, 0x0012_0116, 0x0012_00A0, 0x001F_01FF],
            ObjectType::Directory => [0x0002_0003, 0x0002_000C, 0x0002_0003, 0x000F_000F],
        }
    }

    /// Maps generic rights and MAXIMUM_ALLOWED onto the type's specific rights.
    /// (There is no security model: every requested right is granted.)
    pub fn map_access(self, desired: u32) -> u32 {
        let m = self.generic_mapping();
        let mut a = desired & !(GENERIC_READ | GENERIC_WRITE | GENERIC_EXECUTE | GENERIC_ALL);
        if desired & GENERIC_READ != 0 {
            a |= m[0];
        }
        if desired & GENERIC_WRITE != 0 {
            a |= m[1];
        }
        if desired & GENERIC_EXECUTE != 0 {
            a |= m[2];
        }
        if desired & (GENERIC_ALL | MAXIMUM_ALLOWED) != 0 {
            a |= m[3];
        }
        a & !(MAXIMUM_ALLOWED | ACCESS_SYSTEM_SECURITY)
    }
}

/// An event's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// Notification (manual-reset) event; otherwise synchronization (auto-reset).
    pub notification: bool,
    pub signaled: bool,
}

/// A mutant: free when `recursion == 0`, otherwise owned by the (only) thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mutant {
    pub recursion: u32,
    pub abandoned: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Semaphore {
    pub count: i32,
    pub maximum: i32,
}

/// The body of an object.
#[derive(Clone)]
pub enum Body {
    Process,
    Thread,
    Event(Event),
    Mutant(Mutant),
    Semaphore(Semaphore),
    Section(Box<Section>),
    File(Box<FileObject>),
    Directory,
}

impl Body {
    pub fn object_type(&self) -> ObjectType {
        match self {
            Body::Process => ObjectType::Process,
            Body::Thread => ObjectType::Thread,
            Body::Event(_) => ObjectType::Event,
            Body::Mutant(_) => ObjectType::Mutant,
            Body::Semaphore(_) => ObjectType::Semaphore,
            Body::Section(_) => ObjectType::Section,
            Body::File(_) => ObjectType::File,
            Body::Directory => ObjectType::Directory,
        }
    }
}

pub type ObjId = u64;

#[derive(Clone)]
pub struct ObjectEntry {
    pub body: Body,
    /// Full namespace path of a named object.
    pub name: Option<String>,
    pub handles: u32,
    /// References other than handles (mapped views of a section, for instance).
    pub refs: u32,
    /// Never deleted (the process, the thread, the namespace directories).
    pub permanent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandleEntry {
    pub obj: ObjId,
    pub access: u32,
    pub inherit: bool,
    pub protect_from_close: bool,
}

/// Well-known object ids.
pub const PROCESS_OBJ: ObjId = 1;
pub const THREAD_OBJ: ObjId = 2;

/// Directories every namespace has. `\Sessions\1\BaseNamedObjects` is an alias of
/// `\BaseNamedObjects` (see [`canonical_name`]).
const BUILTIN_DIRS: &[&str] = &[
    "\\",
    "\\BaseNamedObjects",
    "\\Sessions",
    "\\Sessions\\1",
    "\\Sessions\\BNOLINKS",
    "\\??",
    "\\KnownDlls",
    "\\KnownDlls32",
    "\\Device",
    "\\RPC Control",
    "\\Windows",
];

/// The handle table and the objects.
#[derive(Clone)]
pub struct Objects {
    pub objs: BTreeMap<ObjId, ObjectEntry>,
    pub handles: BTreeMap<u64, HandleEntry>,
    next_id: ObjId,
}

impl Objects {
    pub fn new() -> Self {
        let mut o = Objects { objs: BTreeMap::new(), handles: BTreeMap::new(), next_id: 3 };
        for (id, body) in [(PROCESS_OBJ, Body::Process), (THREAD_OBJ, Body::Thread)] {
            o.objs.insert(id, ObjectEntry { body, name: None, handles: 0, refs: 0, permanent: true });
        }
        for d in BUILTIN_DIRS {
            let id = o.new_object(Body::Directory, Some(d.to_string()));
            if let Some(e) = o.objs.get_mut(&id) {
                e.permanent = true;
            }
        }
        o
    }

    /// Creates an object with no handles yet.
    pub fn new_object(&mut self, body: Body, name: Option<String>) -> ObjId {
        let id = self.next_id;
        self.next_id += 1;
        self.objs.insert(id, ObjectEntry { body, name, handles: 0, refs: 0, permanent: false });
        id
    }

    /// Inserts a handle for `obj`: the lowest free multiple of 4 from 4.
    pub fn insert_handle(&mut self, obj: ObjId, access: u32, inherit: bool) -> u64 {
        let mut h = 4u64;
        for &k in self.handles.keys() {
            if k != h {
                break;
            }
            h += 4;
        }
        self.handles.insert(h, HandleEntry { obj, access, inherit, protect_from_close: false });
        if let Some(e) = self.objs.get_mut(&obj) {
            e.handles += 1;
        }
        h
    }

    /// Resolves a handle (pseudo-handles included) to its entry.
    pub fn lookup(&self, handle: u64) -> NtResult<HandleEntry> {
        match handle {
            CURRENT_PROCESS => Ok(HandleEntry {
                obj: PROCESS_OBJ,
                access: 0x001F_FFFF,
                inherit: false,
                protect_from_close: false,
            }),
            CURRENT_THREAD => Ok(HandleEntry {
                obj: THREAD_OBJ,
                access: 0x001F_FFFF,
                inherit: false,
                protect_from_close: false,
            }),
            _ => self.handles.get(&handle).copied().ok_or(NtStatus::INVALID_HANDLE),
        }
    }

    pub fn get(&self, id: ObjId) -> Option<&ObjectEntry> {
        self.objs.get(&id)
    }

    pub fn get_mut(&mut self, id: ObjId) -> Option<&mut ObjectEntry> {
        self.objs.get_mut(&id)
    }

    /// Removes a handle; the object goes when nothing references it any more. Returns
    /// the removed object's body when it was deleted (so callers can release resources).
    pub fn remove_handle(&mut self, handle: u64) -> Option<Body> {
        let he = self.handles.remove(&handle)?;
        if let Some(e) = self.objs.get_mut(&he.obj) {
            e.handles = e.handles.saturating_sub(1);
        }
        self.maybe_delete(he.obj)
    }

    /// Drops a non-handle reference.
    pub fn release_ref(&mut self, id: ObjId) -> Option<Body> {
        if let Some(e) = self.objs.get_mut(&id) {
            e.refs = e.refs.saturating_sub(1);
        }
        self.maybe_delete(id)
    }

    fn maybe_delete(&mut self, id: ObjId) -> Option<Body> {
        let e = self.objs.get(&id)?;
        if e.handles == 0 && e.refs == 0 && !e.permanent {
            self.objs.remove(&id).map(|e| e.body)
        } else {
            None
        }
    }

    /// Finds a named object by its canonical full name.
    pub fn find_name(&self, name: &str, case_insensitive: bool) -> Option<ObjId> {
        let mut found = None;
        for (&id, e) in &self.objs {
            if let Some(n) = &e.name {
                if n == name {
                    return Some(id);
                }
                if case_insensitive && found.is_none() && eq_ignore_case(n, name) {
                    found = Some(id);
                }
            }
        }
        found
    }

    fn is_directory(&self, path: &str) -> bool {
        self.objs.values().any(|e| {
            matches!(e.body, Body::Directory) && e.name.as_deref().is_some_and(|n| eq_ignore_case(n, path))
        })
    }
}

impl Default for Objects {
    fn default() -> Self {
        Self::new()
    }
}

/// Case-insensitive comparison as the object manager does it (simple upcase).
pub fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.chars().flat_map(char::to_uppercase).eq(b.chars().flat_map(char::to_uppercase))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && eq_ignore_case(&s[..prefix.len()], prefix)
    {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

/// Canonicalises a full object name: the session's `\Sessions\1\BaseNamedObjects` and
/// the `Global\`, `Local\` and `Session\1\` links inside `\BaseNamedObjects` all lead to
/// `\BaseNamedObjects` (one session, so they are the same directory).
pub fn canonical_name(full: &str) -> String {
    let mut s = full.to_string();
    if let Some(rest) = strip_prefix_ci(&s, "\\Sessions\\1\\BaseNamedObjects") {
        if rest.is_empty() || rest.starts_with('\\') {
            s = format!("\\BaseNamedObjects{rest}");
        }
    }
    while let Some(rest) = strip_prefix_ci(&s, "\\BaseNamedObjects\\") {
        let next = ["Global\\", "Local\\", "Session\\1\\"].iter().find_map(|p| strip_prefix_ci(rest, p));
        match next {
            Some(r) => s = format!("\\BaseNamedObjects\\{r}"),
            None => break,
        }
    }
    s
}

/// Where a name lookup ended.
pub enum NameLookup {
    Found(ObjId),
    /// The parent directory exists; the last component does not.
    Missing(String),
}

impl Kernel {
    /// Resolves a handle to an object of `ty`, checking that the handle grants `need`.
    pub(crate) fn ref_object(&self, handle: u64, ty: ObjectType, need: u32) -> NtResult<(ObjId, u32)> {
        let he = self.ob.lookup(handle)?;
        let e = self.ob.get(he.obj).ok_or(NtStatus::INVALID_HANDLE)?;
        if e.body.object_type() != ty {
            return Err(NtStatus::OBJECT_TYPE_MISMATCH);
        }
        if he.access & need != need {
            return Err(NtStatus::ACCESS_DENIED);
        }
        Ok((he.obj, he.access))
    }

    /// Resolves the full canonical name from object attributes (RootDirectory + name).
    pub(crate) fn full_object_name(&self, oa: &ObjectAttributes) -> NtResult<Option<String>> {
        let Some(name) = &oa.name else {
            if oa.root != 0 {
                return Err(NtStatus::OBJECT_NAME_INVALID);
            }
            return Ok(None);
        };
        let name = user::utf16_to_string(name);
        let full = if oa.root != 0 {
            let (id, _) = self.ref_object(oa.root, ObjectType::Directory, 0)?;
            let dir = self.ob.get(id).and_then(|e| e.name.clone()).ok_or(NtStatus::INVALID_HANDLE)?;
            if name.starts_with('\\') {
                return Err(NtStatus::OBJECT_PATH_SYNTAX_BAD);
            }
            if name.is_empty() {
                dir
            } else if dir == "\\" {
                format!("\\{name}")
            } else {
                format!("{dir}\\{name}")
            }
        } else {
            if name.is_empty() || !name.starts_with('\\') {
                return Err(NtStatus::OBJECT_PATH_SYNTAX_BAD);
            }
            name
        };
        if full.len() > 1 && (full.ends_with('\\') || full.contains("\\\\")) {
            return Err(NtStatus::OBJECT_NAME_INVALID);
        }
        Ok(Some(canonical_name(&full)))
    }

    /// Looks a canonical full name up in the namespace.
    pub(crate) fn lookup_name(&self, full: &str, attributes: u32) -> NtResult<NameLookup> {
        let ci = attributes & OBJ_CASE_INSENSITIVE != 0;
        if let Some(id) = self.ob.find_name(full, ci) {
            return Ok(NameLookup::Found(id));
        }
        let parent = match full.rfind('\\') {
            Some(0) => "\\",
            Some(i) => &full[..i],
            None => return Err(NtStatus::OBJECT_PATH_SYNTAX_BAD),
        };
        if self.ob.is_directory(parent) {
            Ok(NameLookup::Missing(full.to_string()))
        } else {
            Err(NtStatus::OBJECT_PATH_NOT_FOUND)
        }
    }

    /// The common tail of every `NtCreateXxx` for a named or unnamed kernel object:
    /// probes the handle pointer, captures the attributes, handles name collisions
    /// (`OBJ_OPENIF` -> `STATUS_OBJECT_NAME_EXISTS` with a handle to the existing
    /// object, `STATUS_OBJECT_TYPE_MISMATCH` for another type, otherwise
    /// `STATUS_OBJECT_NAME_COLLISION`), inserts the object and writes the handle.
    pub(crate) fn create_named(
        &mut self,
        mem: &mut Memory,
        handle_ptr: u64,
        access: u32,
        oa_ptr: u64,
        make: impl FnOnce() -> NtResult<Body>,
    ) -> NtResult<NtStatus> {
        user::probe_write(mem, handle_ptr, 8)?;
        let oa = if oa_ptr == 0 {
            ObjectAttributes::default()
        } else {
            user::read_object_attributes(mem, oa_ptr)?
        };
        let body = make()?;
        let ty = body.object_type();
        let granted = ty.map_access(access);
        let inherit = oa.attributes & OBJ_INHERIT != 0;
        let name = self.full_object_name(&oa)?;
        let (obj, status) = match name {
            None => (self.ob.new_object(body, None), NtStatus::SUCCESS),
            Some(full) => match self.lookup_name(&full, oa.attributes)? {
                NameLookup::Found(id) => {
                    let ety = self.ob.get(id).map(|e| e.body.object_type());
                    if oa.attributes & OBJ_OPENIF == 0 {
                        return Err(NtStatus::OBJECT_NAME_COLLISION);
                    }
                    if ety != Some(ty) {
                        return Err(NtStatus::OBJECT_TYPE_MISMATCH);
                    }
                    (id, NtStatus::OBJECT_NAME_EXISTS)
                }
                NameLookup::Missing(full) => (self.ob.new_object(body, Some(full)), NtStatus::SUCCESS),
            },
        };
        let h = self.ob.insert_handle(obj, granted, inherit);
        if let Err(e) = user::write_u64(mem, handle_ptr, h) {
            self.ob.remove_handle(h);
            return Err(e);
        }
        Ok(status)
    }

    /// The common body of every `NtOpenXxx` for a named kernel object.
    pub(crate) fn open_named(
        &mut self,
        mem: &mut Memory,
        handle_ptr: u64,
        access: u32,
        oa_ptr: u64,
        ty: ObjectType,
    ) -> NtResult<NtStatus> {
        user::probe_write(mem, handle_ptr, 8)?;
        if oa_ptr == 0 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let oa = user::read_object_attributes(mem, oa_ptr)?;
        let Some(full) = self.full_object_name(&oa)? else {
            return Err(NtStatus::OBJECT_PATH_SYNTAX_BAD);
        };
        let id = match self.lookup_name(&full, oa.attributes)? {
            NameLookup::Found(id) => id,
            NameLookup::Missing(_) => return Err(NtStatus::OBJECT_NAME_NOT_FOUND),
        };
        if self.ob.get(id).map(|e| e.body.object_type()) != Some(ty) {
            return Err(NtStatus::OBJECT_TYPE_MISMATCH);
        }
        let h = self.ob.insert_handle(id, ty.map_access(access), oa.attributes & OBJ_INHERIT != 0);
        if let Err(e) = user::write_u64(mem, handle_ptr, h) {
            self.ob.remove_handle(h);
            return Err(e);
        }
        Ok(NtStatus::SUCCESS)
    }

    /// Closes a handle and releases what the object held.
    pub(crate) fn close_handle(&mut self, handle: u64) -> NtResult<()> {
        let he = self.ob.handles.get(&handle).copied().ok_or(NtStatus::INVALID_HANDLE)?;
        if he.protect_from_close {
            return Err(NtStatus::HANDLE_NOT_CLOSABLE);
        }
        if let Some(body) = self.ob.remove_handle(handle) {
            self.destroy(body);
        }
        Ok(())
    }

    /// Releases the resources of a deleted object.
    pub(crate) fn destroy(&mut self, body: Body) {
        match body {
            Body::File(f) => self.file_closed(*f),
            Body::Section(s) => self.section_deleted(&s),
            _ => {}
        }
    }
}
