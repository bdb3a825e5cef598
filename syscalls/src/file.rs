//! Files over the sandbox root, the console and the null device.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use x86wow_mmu::Memory;

use crate::host::{self, Kind, Stat};
use crate::object::{Body, ObjectType, DELETE, SYNCHRONIZE};
use crate::path::{self, ConsoleName, Target};
use crate::status::{flat, NtResult, NtStatus};
use crate::user::{self, Buf, ObjectAttributes, OBJ_INHERIT};
use crate::Kernel;

pub const FILE_READ_DATA: u32 = 0x1;
pub const FILE_WRITE_DATA: u32 = 0x2;
pub const FILE_APPEND_DATA: u32 = 0x4;
pub const FILE_EXECUTE: u32 = 0x20;
pub const FILE_LIST_DIRECTORY: u32 = 0x1;
pub const FILE_READ_ATTRIBUTES: u32 = 0x80;
pub const FILE_WRITE_ATTRIBUTES: u32 = 0x100;

pub const FILE_SHARE_READ: u32 = 1;
pub const FILE_SHARE_WRITE: u32 = 2;
pub const FILE_SHARE_DELETE: u32 = 4;

pub const FILE_SUPERSEDE: u32 = 0;
pub const FILE_OPEN: u32 = 1;
pub const FILE_CREATE: u32 = 2;
pub const FILE_OPEN_IF: u32 = 3;
pub const FILE_OVERWRITE: u32 = 4;
pub const FILE_OVERWRITE_IF: u32 = 5;

pub const FILE_SUPERSEDED: u64 = 0;
pub const FILE_OPENED: u64 = 1;
pub const FILE_CREATED: u64 = 2;
pub const FILE_OVERWRITTEN: u64 = 3;

pub const FILE_DIRECTORY_FILE: u32 = 0x1;
pub const FILE_WRITE_THROUGH: u32 = 0x2;
pub const FILE_SEQUENTIAL_ONLY: u32 = 0x4;
pub const FILE_NO_INTERMEDIATE_BUFFERING: u32 = 0x8;
pub const FILE_SYNCHRONOUS_IO_ALERT: u32 = 0x10;
pub const FILE_SYNCHRONOUS_IO_NONALERT: u32 = 0x20;
pub const FILE_NON_DIRECTORY_FILE: u32 = 0x40;
pub const FILE_DELETE_ON_CLOSE: u32 = 0x1000;

pub const FILE_ATTRIBUTE_READONLY: u32 = 0x1;
pub const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x10;
pub const FILE_ATTRIBUTE_ARCHIVE: u32 = 0x20;
pub const FILE_ATTRIBUTE_NORMAL: u32 = 0x80;

pub const FILE_DEVICE_DISK: u32 = 0x7;
pub const FILE_DEVICE_NULL: u32 = 0x15;
pub const FILE_DEVICE_CONSOLE: u32 = 0x50;

/// FILETIME of the Unix epoch.
const UNIX_EPOCH_FILETIME: i64 = 116_444_736_000_000_000;
/// Most links followed while resolving one name.
const MAX_LINKS: u32 = 32;
/// Bytes moved between guest memory and a host file per step.
const CHUNK: usize = 0x1_0000;

/// A standard stream of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Std {
    Input,
    Output,
    Error,
}

/// What a file object refers to.
#[derive(Clone)]
pub enum FileKind {
    /// A file or directory under the sandbox root. `parent` is `None` for the root.
    Disk {
        file: Arc<File>,
        parent: Option<Arc<File>>,
        name: OsString,
        is_dir: bool,
        id: (u64, u64),
    },
    Console(Std),
    Null,
}

/// A directory enumeration in progress.
#[derive(Clone)]
pub struct DirEnum {
    pub mask: Vec<char>,
    pub entries: Vec<DirEntry>,
    pub next: usize,
}

#[derive(Clone)]
pub struct DirEntry {
    pub name: String,
    pub stat: Stat,
}

/// An open file.
#[derive(Clone)]
pub struct FileObject {
    pub kind: FileKind,
    /// Components below the root (for names and relative opens).
    pub path: Vec<String>,
    pub options: u32,
    pub access: u32,
    pub share: u32,
    pub position: u64,
    pub delete_on_close: bool,
    pub dir_enum: Option<DirEnum>,
}

impl FileObject {
    /// The host file of a regular disk file.
    pub fn host_file(&self) -> Option<&Arc<File>> {
        match &self.kind {
            FileKind::Disk { file, is_dir: false, .. } => Some(file),
            _ => None,
        }
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.kind, FileKind::Disk { is_dir: true, .. })
    }

    /// The path without the drive, as FileNameInformation reports it (`\dir\file`).
    pub fn guest_path(&self) -> String {
        path::join(&self.path)
    }

    /// The name as an NT path on the volume (for mapped-file names).
    pub fn nt_name(&self) -> String {
        self.guest_path()
    }

    fn synchronous(&self) -> bool {
        self.options & (FILE_SYNCHRONOUS_IO_ALERT | FILE_SYNCHRONOUS_IO_NONALERT) != 0
    }
}

/// The result of resolving a path on the host.
enum Walk {
    /// The entry exists: its parent directory (None for the root), host name, stat and
    /// the canonical guest components.
    Found { parent: Option<Arc<File>>, name: OsString, stat: Stat, comps: Vec<String> },
    /// The parent exists, the last component does not.
    Missing { parent: Arc<File>, name: String, comps: Vec<String> },
}

fn to_filetime(t: (i64, i64)) -> u64 {
    (t.0.saturating_mul(10_000_000).saturating_add(t.1 / 100).saturating_add(UNIX_EPOCH_FILETIME)).max(0)
        as u64
}

fn from_filetime(ft: i64) -> (i64, i64) {
    let t = ft - UNIX_EPOCH_FILETIME;
    (t.div_euclid(10_000_000), t.rem_euclid(10_000_000) * 100)
}

fn io_status(e: &std::io::Error) -> NtStatus {
    match e.raw_os_error() {
        Some(libc::ENOENT) => NtStatus::OBJECT_NAME_NOT_FOUND,
        Some(libc::EEXIST) => NtStatus::OBJECT_NAME_COLLISION,
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::ELOOP) => NtStatus::ACCESS_DENIED,
        Some(libc::ENOTDIR) => NtStatus::OBJECT_PATH_NOT_FOUND,
        Some(libc::EISDIR) => NtStatus::FILE_IS_A_DIRECTORY,
        Some(libc::ENOTEMPTY) => NtStatus::DIRECTORY_NOT_EMPTY,
        Some(libc::ENOSPC) => NtStatus::UNSUCCESSFUL,
        Some(libc::EINVAL) => NtStatus::INVALID_PARAMETER,
        _ => NtStatus::UNSUCCESSFUL,
    }
}

fn attributes(st: &Stat) -> u32 {
    let mut a = if st.kind == Kind::Dir { FILE_ATTRIBUTE_DIRECTORY } else { FILE_ATTRIBUTE_ARCHIVE };
    if st.mode & 0o222 == 0 {
        a |= FILE_ATTRIBUTE_READONLY;
    }
    a
}

fn alloc_size(st: &Stat) -> u64 {
    if st.kind == Kind::Dir {
        0
    } else {
        st.size.div_ceil(4096) * 4096
    }
}

/// FILE_BASIC_INFORMATION (40 bytes).
fn basic_info(st: &Stat) -> Buf {
    let mut b = Buf::new(40);
    b.u64(0, to_filetime(st.mtime))
        .u64(8, to_filetime(st.atime))
        .u64(16, to_filetime(st.mtime))
        .u64(24, to_filetime(st.ctime))
        .u32(32, attributes(st));
    b
}

/// FILE_NETWORK_OPEN_INFORMATION (56 bytes).
fn network_open_info(st: &Stat) -> Buf {
    let mut b = Buf::new(56);
    b.u64(0, to_filetime(st.mtime))
        .u64(8, to_filetime(st.atime))
        .u64(16, to_filetime(st.mtime))
        .u64(24, to_filetime(st.ctime))
        .u64(32, alloc_size(st))
        .u64(40, if st.kind == Kind::Dir { 0 } else { st.size })
        .u32(48, attributes(st));
    b
}

fn is_data_access(a: u32) -> bool {
    a & (FILE_READ_DATA | FILE_WRITE_DATA | FILE_APPEND_DATA | FILE_EXECUTE | DELETE) != 0
}

impl Kernel {
    fn root_dir(&self) -> NtResult<Arc<File>> {
        self.fs_root.clone().ok_or(NtStatus::OBJECT_PATH_NOT_FOUND)
    }

    /// Finds `name` in `dir`: the exact host name first, then a case-insensitive match.
    fn find_entry(dir: &File, name: &str) -> NtResult<Option<OsString>> {
        let exact = OsStr::new(name);
        if host::lstat_at(dir, exact).is_ok() {
            return Ok(Some(exact.to_os_string()));
        }
        let names = host::list(dir).map_err(|e| io_status(&e))?;
        Ok(names.into_iter().find(|n| n.to_str().is_some_and(|s| path::name_eq(s, name))))
    }

    /// Resolves components below the root on the host, following symbolic links only
    /// when their target stays inside the root (`STATUS_ACCESS_DENIED` otherwise).
    fn walk(&self, comps: &[String]) -> NtResult<Walk> {
        let root = self.root_dir()?;
        let mut todo: VecDeque<(String, bool)> = comps.iter().map(|c| (c.clone(), false)).collect();
        // The directories entered so far: (fd, guest name).
        let mut stack: Vec<(Arc<File>, String)> = Vec::new();
        let mut links = 0;
        let cur = |stack: &Vec<(Arc<File>, String)>| {
            stack.last().map(|s| s.0.clone()).unwrap_or_else(|| root.clone())
        };
        let names = |stack: &Vec<(Arc<File>, String)>| stack.iter().map(|s| s.1.clone()).collect::<Vec<_>>();
        if todo.is_empty() {
            let stat = host::fstat(&root).map_err(|e| io_status(&e))?;
            return Ok(Walk::Found { parent: None, name: OsString::new(), stat, comps: Vec::new() });
        }
        while let Some((c, from_link)) = todo.pop_front() {
            if c == "." || c.is_empty() {
                continue;
            }
            if c == ".." {
                if stack.pop().is_none() && from_link {
                    return Err(NtStatus::ACCESS_DENIED);
                }
                if todo.is_empty() {
                    // The path ends at a directory already entered.
                    let mut comps = names(&stack);
                    let (parent, name) = match comps.pop() {
                        None => {
                            let stat = host::fstat(&root).map_err(|e| io_status(&e))?;
                            return Ok(Walk::Found {
                                parent: None,
                                name: OsString::new(),
                                stat,
                                comps: Vec::new(),
                            });
                        }
                        Some(n) => (
                            stack
                                .get(stack.len().wrapping_sub(2))
                                .map(|s| s.0.clone())
                                .unwrap_or_else(|| root.clone()),
                            n,
                        ),
                    };
                    let stat = host::lstat_at(&parent, OsStr::new(&name)).map_err(|e| io_status(&e))?;
                    comps.push(name.clone());
                    return Ok(Walk::Found { parent: Some(parent), name: OsString::from(name), stat, comps });
                }
                continue;
            }
            let dir = cur(&stack);
            let last = todo.is_empty();
            let Some(hname) = Self::find_entry(&dir, &c)? else {
                if last {
                    let mut comps = names(&stack);
                    comps.push(c.clone());
                    return Ok(Walk::Missing { parent: dir, name: c, comps });
                }
                return Err(NtStatus::OBJECT_PATH_NOT_FOUND);
            };
            let stat = host::lstat_at(&dir, &hname).map_err(|e| io_status(&e))?;
            let guest_name = hname.to_str().ok_or(NtStatus::OBJECT_NAME_INVALID)?.to_string();
            match stat.kind {
                Kind::Symlink => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(NtStatus::ACCESS_DENIED);
                    }
                    let target = host::readlink_at(&dir, &hname).map_err(|e| io_status(&e))?;
                    let t = target.to_str().ok_or(NtStatus::ACCESS_DENIED)?;
                    let mut new: Vec<(String, bool)> = Vec::new();
                    if let Some(abs) = t.strip_prefix('/') {
                        // Absolute: only inside the root.
                        let root_path =
                            self.fs_root_canon.to_str().ok_or(NtStatus::ACCESS_DENIED)?.trim_end_matches('/');
                        let inside = format!("/{abs}");
                        let rel = if inside == root_path {
                            ""
                        } else {
                            inside
                                .strip_prefix(root_path)
                                .and_then(|r| r.strip_prefix('/'))
                                .ok_or(NtStatus::ACCESS_DENIED)?
                        };
                        stack.clear();
                        new.extend(rel.split('/').filter(|s| !s.is_empty()).map(|s| (s.to_string(), true)));
                    } else {
                        new.extend(t.split('/').filter(|s| !s.is_empty()).map(|s| (s.to_string(), true)));
                    }
                    for (i, x) in new.into_iter().enumerate() {
                        todo.insert(i, x);
                    }
                    if todo.is_empty() {
                        // A link to the root itself.
                        let mut comps = names(&stack);
                        if let Some(n) = comps.pop() {
                            let parent = stack
                                .get(stack.len().wrapping_sub(2))
                                .map(|s| s.0.clone())
                                .unwrap_or_else(|| root.clone());
                            let stat = host::lstat_at(&parent, OsStr::new(&n)).map_err(|e| io_status(&e))?;
                            comps.push(n.clone());
                            return Ok(Walk::Found {
                                parent: Some(parent),
                                name: OsString::from(n),
                                stat,
                                comps,
                            });
                        }
                        let stat = host::fstat(&root).map_err(|e| io_status(&e))?;
                        return Ok(Walk::Found {
                            parent: None,
                            name: OsString::new(),
                            stat,
                            comps: Vec::new(),
                        });
                    }
                }
                Kind::Dir if !last => {
                    let d = host::open_dir_at(&dir, &hname).map_err(|e| io_status(&e))?;
                    stack.push((Arc::new(d), guest_name));
                }
                _ if last => {
                    let mut comps = names(&stack);
                    comps.push(guest_name);
                    return Ok(Walk::Found { parent: Some(dir), name: hname, stat, comps });
                }
                _ => return Err(NtStatus::OBJECT_PATH_NOT_FOUND),
            }
        }
        Err(NtStatus::OBJECT_PATH_NOT_FOUND)
    }

    /// Resolves object attributes to a file-system target.
    fn file_target(&self, oa: &ObjectAttributes) -> NtResult<Target> {
        let name = oa.name.clone().unwrap_or_default();
        if oa.root != 0 {
            let he = self.ob.lookup(oa.root)?;
            let Some(Body::File(f)) = self.ob.get(he.obj).map(|e| &e.body) else {
                return Err(NtStatus::OBJECT_TYPE_MISMATCH);
            };
            if !f.is_dir() {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            return path::parse_relative(&f.path, &name);
        }
        if oa.name.is_none() {
            return Err(NtStatus::OBJECT_PATH_SYNTAX_BAD);
        }
        path::parse_absolute(&name)
    }

    /// Other open objects on the same host file: (access, share, delete pending).
    fn opens_of(&self, id: (u64, u64)) -> Vec<(u32, u32)> {
        self.ob
            .objs
            .values()
            .filter_map(|e| match &e.body {
                Body::File(f) => match &f.kind {
                    FileKind::Disk { id: i, .. } if *i == id => Some((f.access, f.share)),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    fn share_ok(&self, id: (u64, u64), access: u32, share: u32) -> bool {
        if !is_data_access(access) {
            return true;
        }
        let r = FILE_READ_DATA | FILE_EXECUTE;
        let w = FILE_WRITE_DATA | FILE_APPEND_DATA;
        self.opens_of(id).into_iter().filter(|(a, _)| is_data_access(*a)).all(|(a, s)| {
            !((access & r != 0 && s & FILE_SHARE_READ == 0)
                || (access & w != 0 && s & FILE_SHARE_WRITE == 0)
                || (access & DELETE != 0 && s & FILE_SHARE_DELETE == 0)
                || (a & r != 0 && share & FILE_SHARE_READ == 0)
                || (a & w != 0 && share & FILE_SHARE_WRITE == 0)
                || (a & DELETE != 0 && share & FILE_SHARE_DELETE == 0))
        })
    }

    /// Creates a console file object and returns a handle (used at startup).
    pub(crate) fn new_console_handle(&mut self, which: Std) -> u64 {
        let access = match which {
            Std::Input => 0x0012_0089 | FILE_WRITE_ATTRIBUTES,
            _ => 0x0012_0116 | FILE_READ_ATTRIBUTES | FILE_READ_DATA,
        };
        let f = FileObject {
            kind: FileKind::Console(which),
            path: Vec::new(),
            options: FILE_SYNCHRONOUS_IO_NONALERT,
            access,
            share: FILE_SHARE_READ | FILE_SHARE_WRITE,
            position: 0,
            delete_on_close: false,
            dir_enum: None,
        };
        let id = self.ob.new_object(Body::File(Box::new(f)), None);
        self.ob.insert_handle(id, access, true)
    }

    /// NtCreateFile(PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES, PIO_STATUS_BLOCK,
    /// PLARGE_INTEGER AllocationSize, ULONG FileAttributes, ULONG ShareAccess,
    /// ULONG CreateDisposition, ULONG CreateOptions, PVOID EaBuffer, ULONG EaLength).
    #[allow(clippy::too_many_arguments)]
    pub fn nt_create_file(
        &mut self,
        mem: &mut Memory,
        handle_ptr: u64,
        access: u64,
        oa: u64,
        iosb: u64,
        _alloc_size: u64,
        attrs: u64,
        share: u64,
        disposition: u64,
        options: u64,
        _ea: u64,
        _ea_len: u64,
    ) -> NtStatus {
        flat(self.create_file(
            mem,
            handle_ptr,
            access as u32,
            oa,
            iosb,
            attrs as u32,
            share as u32,
            disposition as u32,
            options as u32,
        ))
    }

    /// NtOpenFile(PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES, PIO_STATUS_BLOCK,
    /// ULONG ShareAccess, ULONG OpenOptions): NtCreateFile with FILE_OPEN.
    pub fn nt_open_file(
        &mut self,
        mem: &mut Memory,
        handle_ptr: u64,
        access: u64,
        oa: u64,
        iosb: u64,
        share: u64,
        options: u64,
    ) -> NtStatus {
        flat(self.create_file(
            mem,
            handle_ptr,
            access as u32,
            oa,
            iosb,
            0,
            share as u32,
            FILE_OPEN,
            options as u32,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn create_file(
        &mut self,
        mem: &mut Memory,
        handle_ptr: u64,
        access: u32,
        oa_ptr: u64,
        iosb: u64,
        attrs: u32,
        share: u32,
        disposition: u32,
        options: u32,
    ) -> NtResult<NtStatus> {
        if disposition > FILE_OVERWRITE_IF || options & !0x00FF_FFFF != 0 || share & !7 != 0 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        if options & FILE_DIRECTORY_FILE != 0 && options & FILE_NON_DIRECTORY_FILE != 0 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        if options & FILE_DIRECTORY_FILE != 0
            && !matches!(disposition, FILE_CREATE | FILE_OPEN | FILE_OPEN_IF)
        {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let sync = options & (FILE_SYNCHRONOUS_IO_ALERT | FILE_SYNCHRONOUS_IO_NONALERT);
        let access = ObjectType::File.map_access(access);
        if sync == (FILE_SYNCHRONOUS_IO_ALERT | FILE_SYNCHRONOUS_IO_NONALERT)
            || (sync != 0 && access & SYNCHRONIZE == 0)
        {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        if options & FILE_DELETE_ON_CLOSE != 0 && access & DELETE == 0 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        user::probe_write(mem, handle_ptr, 8)?;
        user::probe_write(mem, iosb, 16)?;
        if oa_ptr == 0 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let oa = user::read_object_attributes(mem, oa_ptr)?;
        let target = self.file_target(&oa)?;
        let inherit = oa.attributes & OBJ_INHERIT != 0;
        let (obj, info) = match target {
            Target::Volume => return Err(NtStatus::ACCESS_DENIED),
            Target::Null | Target::Console(_) => {
                if options & FILE_DIRECTORY_FILE != 0 {
                    return Err(NtStatus::NOT_A_DIRECTORY);
                }
                let kind = match target {
                    Target::Null => FileKind::Null,
                    Target::Console(ConsoleName::ConIn) => FileKind::Console(Std::Input),
                    Target::Console(ConsoleName::ConOut) => FileKind::Console(Std::Output),
                    _ => {
                        if access & (FILE_WRITE_DATA | FILE_APPEND_DATA) != 0 {
                            FileKind::Console(Std::Output)
                        } else {
                            FileKind::Console(Std::Input)
                        }
                    }
                };
                let f = FileObject {
                    kind,
                    path: Vec::new(),
                    options,
                    access,
                    share,
                    position: 0,
                    delete_on_close: false,
                    dir_enum: None,
                };
                (self.ob.new_object(Body::File(Box::new(f)), None), FILE_OPENED)
            }
            Target::Disk { comps, trailing } => {
                let (f, info) =
                    self.open_disk(&comps, trailing, access, attrs, share, disposition, options)?;
                (self.ob.new_object(Body::File(Box::new(f)), None), info)
            }
        };
        let h = self.ob.insert_handle(obj, access, inherit);
        if let Err(e) = user::write_u64(mem, handle_ptr, h) {
            let _ = self.close_handle(h);
            return Err(e);
        }
        user::write_iosb(mem, iosb, NtStatus::SUCCESS, info)?;
        Ok(NtStatus::SUCCESS)
    }

    #[allow(clippy::too_many_arguments)]
    fn open_disk(
        &mut self,
        comps: &[String],
        trailing: bool,
        access: u32,
        attrs: u32,
        share: u32,
        disposition: u32,
        options: u32,
    ) -> NtResult<(FileObject, u64)> {
        let want_dir = options & FILE_DIRECTORY_FILE != 0;
        let want_file = options & FILE_NON_DIRECTORY_FILE != 0;
        let writes = access & (FILE_WRITE_DATA | FILE_APPEND_DATA) != 0;
        let (file, parent, name, is_dir, info, comps) = match self.walk(comps)? {
            Walk::Found { parent, name, stat, comps } => {
                if stat.kind == Kind::Other {
                    return Err(NtStatus::ACCESS_DENIED);
                }
                let is_dir = stat.kind == Kind::Dir;
                if disposition == FILE_CREATE {
                    return Err(NtStatus::OBJECT_NAME_COLLISION);
                }
                if is_dir && want_file {
                    return Err(NtStatus::FILE_IS_A_DIRECTORY);
                }
                if !is_dir && (want_dir || trailing) {
                    return Err(if trailing {
                        NtStatus::OBJECT_NAME_INVALID
                    } else {
                        NtStatus::NOT_A_DIRECTORY
                    });
                }
                let overwrite = matches!(disposition, FILE_SUPERSEDE | FILE_OVERWRITE | FILE_OVERWRITE_IF);
                if is_dir && overwrite {
                    return Err(NtStatus::FILE_IS_A_DIRECTORY);
                }
                let readonly = stat.mode & 0o222 == 0;
                if !is_dir && readonly && (writes || overwrite) {
                    return Err(NtStatus::ACCESS_DENIED);
                }
                if readonly && options & FILE_DELETE_ON_CLOSE != 0 {
                    return Err(NtStatus::CANNOT_DELETE);
                }
                let id = (stat.dev, stat.ino);
                if self.delete_pending.contains_key(&id) {
                    return Err(NtStatus::DELETE_PENDING);
                }
                if !self.share_ok(id, access, share) {
                    return Err(NtStatus::SHARING_VIOLATION);
                }
                let file = match &parent {
                    None => self.root_dir()?.try_clone().map_err(|e| io_status(&e))?,
                    Some(p) => {
                        if is_dir {
                            host::open_dir_at(p, &name).map_err(|e| io_status(&e))?
                        } else {
                            let flags = if writes || overwrite { libc::O_RDWR } else { libc::O_RDONLY };
                            host::open_at(p, &name, flags, 0).map_err(|e| io_status(&e))?
                        }
                    }
                };
                let info = if overwrite {
                    file.set_len(0).map_err(|e| io_status(&e))?;
                    if disposition == FILE_SUPERSEDE {
                        FILE_SUPERSEDED
                    } else {
                        FILE_OVERWRITTEN
                    }
                } else {
                    FILE_OPENED
                };
                (file, parent, name, is_dir, info, comps)
            }
            Walk::Missing { parent, name, comps } => {
                if matches!(disposition, FILE_OPEN | FILE_OVERWRITE) {
                    return Err(NtStatus::OBJECT_NAME_NOT_FOUND);
                }
                if trailing && !want_dir {
                    return Err(NtStatus::OBJECT_NAME_INVALID);
                }
                let hname = OsString::from(&name);
                let file = if want_dir {
                    host::mkdir_at(&parent, &hname).map_err(|e| io_status(&e))?;
                    host::open_dir_at(&parent, &hname).map_err(|e| io_status(&e))?
                } else {
                    let f =
                        host::open_at(&parent, &hname, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL, 0o644)
                            .map_err(|e| io_status(&e))?;
                    if attrs & FILE_ATTRIBUTE_READONLY != 0 {
                        let _ = host::fchmod(&f, 0o444);
                    }
                    f
                };
                (file, Some(parent), hname, want_dir, FILE_CREATED, comps)
            }
        };
        let st = host::fstat(&file).map_err(|e| io_status(&e))?;
        Ok((
            FileObject {
                kind: FileKind::Disk { file: Arc::new(file), parent, name, is_dir, id: (st.dev, st.ino) },
                path: comps,
                options,
                access,
                share,
                position: 0,
                delete_on_close: options & FILE_DELETE_ON_CLOSE != 0,
                dir_enum: None,
            },
            info,
        ))
    }

    /// Called when a file object is deleted (its last handle closed).
    pub(crate) fn file_closed(&mut self, f: FileObject) {
        let FileKind::Disk { parent, name, is_dir, id, .. } = f.kind else {
            return;
        };
        if f.delete_on_close {
            if let Some(p) = parent {
                self.delete_pending.insert(id, (p, name, is_dir));
            }
        }
        if self.opens_of(id).is_empty() {
            if let Some((p, n, d)) = self.delete_pending.remove(&id) {
                let _ = host::unlink_at(&p, &n, d);
            }
        }
    }

    /// Resolves a handle to its file object, checking `need` access.
    fn file_ref(&self, handle: u64, need: u32) -> NtResult<(u64, u32)> {
        self.ref_object(handle, ObjectType::File, need)
    }

    fn file_obj(&self, id: u64) -> NtResult<&FileObject> {
        match self.ob.get(id).map(|e| &e.body) {
            Some(Body::File(f)) => Ok(f),
            _ => Err(NtStatus::INVALID_HANDLE),
        }
    }

    fn file_obj_mut(&mut self, id: u64) -> NtResult<&mut FileObject> {
        match self.ob.get_mut(id).map(|e| &mut e.body) {
            Some(Body::File(f)) => Ok(f),
            _ => Err(NtStatus::INVALID_HANDLE),
        }
    }

    /// Resets the event of an I/O call at its start; returns the event object to set.
    fn io_event(&mut self, event: u64) -> NtResult<Option<u64>> {
        if event == 0 {
            return Ok(None);
        }
        let (id, _) = self.ref_object(event, ObjectType::Event, crate::object::EVENT_MODIFY_STATE)?;
        if let Some(Body::Event(e)) = self.ob.get_mut(id).map(|e| &mut e.body) {
            e.signaled = false;
        }
        Ok(Some(id))
    }

    fn set_event_obj(&mut self, id: Option<u64>) {
        if let Some(Body::Event(e)) = id.and_then(|id| self.ob.get_mut(id)).map(|e| &mut e.body) {
            e.signaled = true;
        }
    }

    /// The offset an I/O call uses: the ByteOffset argument, or the file position.
    fn io_offset(
        &self,
        mem: &mut Memory,
        f: &FileObject,
        offset_ptr: u64,
        write: bool,
    ) -> NtResult<Option<u64>> {
        let v = if offset_ptr == 0 { None } else { Some(user::read_i64(mem, offset_ptr)?) };
        match v {
            Some(-2) | None if f.synchronous() => Ok(Some(f.position)),
            None | Some(-2) => Err(NtStatus::INVALID_PARAMETER),
            Some(-1) if write => Ok(None), // FILE_WRITE_TO_END_OF_FILE
            Some(v) if v < 0 => Err(NtStatus::INVALID_PARAMETER),
            Some(v) => Ok(Some(v as u64)),
        }
    }

    /// NtReadFile(HANDLE, HANDLE Event, PIO_APC_ROUTINE, PVOID ApcContext,
    /// PIO_STATUS_BLOCK, PVOID Buffer, ULONG Length, PLARGE_INTEGER ByteOffset, PULONG Key).
    /// All I/O completes synchronously; APCs are not delivered.
    #[allow(clippy::too_many_arguments)]
    pub fn nt_read_file(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        event: u64,
        _apc: u64,
        _apc_ctx: u64,
        iosb: u64,
        buf: u64,
        len: u64,
        offset_ptr: u64,
        _key: u64,
    ) -> NtStatus {
        flat(self.read_file(mem, handle, event, iosb, buf, len as u32, offset_ptr))
    }

    #[allow(clippy::too_many_arguments)]
    fn read_file(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        event: u64,
        iosb: u64,
        buf: u64,
        len: u32,
        offset_ptr: u64,
    ) -> NtResult<NtStatus> {
        let (id, _) = self.file_ref(handle, FILE_READ_DATA)?;
        user::probe_write(mem, iosb, 16)?;
        user::probe_write(mem, buf, len as u64)?;
        let f = self.file_obj(id)?.clone();
        let ev = self.io_event(event)?;
        let (status, n) = match &f.kind {
            FileKind::Null => (NtStatus::END_OF_FILE, 0),
            FileKind::Console(_) => {
                let mut tmp = vec![0u8; (len as usize).min(CHUNK)];
                let n = if tmp.is_empty() { 0 } else { self.cfg.console.stdin.read(&mut tmp) };
                user::write_bytes(mem, buf, &tmp[..n])?;
                if n == 0 && len != 0 {
                    (NtStatus::END_OF_FILE, 0)
                } else {
                    (NtStatus::SUCCESS, n as u64)
                }
            }
            FileKind::Disk { is_dir: true, .. } => return Err(NtStatus::INVALID_DEVICE_REQUEST),
            FileKind::Disk { file, .. } => {
                let off = self.io_offset(mem, &f, offset_ptr, false)?.unwrap_or(0);
                let size = host::fstat(file).map_err(|e| io_status(&e))?.size;
                if len == 0 {
                    (NtStatus::SUCCESS, 0)
                } else if off >= size {
                    (NtStatus::END_OF_FILE, 0)
                } else {
                    let total = (len as u64).min(size - off);
                    let mut done = 0u64;
                    let mut tmp = vec![0u8; CHUNK];
                    while done < total {
                        let want = ((total - done) as usize).min(CHUNK);
                        let got = file.read_at(&mut tmp[..want], off + done).map_err(|e| io_status(&e))?;
                        if got == 0 {
                            break;
                        }
                        user::write_bytes(mem, buf + done, &tmp[..got])?;
                        done += got as u64;
                    }
                    if f.synchronous() {
                        self.file_obj_mut(id)?.position = off + done;
                    }
                    (NtStatus::SUCCESS, done)
                }
            }
        };
        user::write_iosb(mem, iosb, status, n)?;
        self.set_event_obj(ev);
        Ok(status)
    }

    /// NtWriteFile(HANDLE, HANDLE Event, PIO_APC_ROUTINE, PVOID ApcContext,
    /// PIO_STATUS_BLOCK, PVOID Buffer, ULONG Length, PLARGE_INTEGER ByteOffset, PULONG Key).
    #[allow(clippy::too_many_arguments)]
    pub fn nt_write_file(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        event: u64,
        _apc: u64,
        _apc_ctx: u64,
        iosb: u64,
        buf: u64,
        len: u64,
        offset_ptr: u64,
        _key: u64,
    ) -> NtStatus {
        flat(self.write_file(mem, handle, event, iosb, buf, len as u32, offset_ptr))
    }

    #[allow(clippy::too_many_arguments)]
    fn write_file(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        event: u64,
        iosb: u64,
        buf: u64,
        len: u32,
        offset_ptr: u64,
    ) -> NtResult<NtStatus> {
        let (id, granted) = self.file_ref(handle, 0)?;
        if granted & (FILE_WRITE_DATA | FILE_APPEND_DATA) == 0 {
            return Err(NtStatus::ACCESS_DENIED);
        }
        user::probe_write(mem, iosb, 16)?;
        user::probe_read(mem, buf, len as u64)?;
        let f = self.file_obj(id)?.clone();
        let ev = self.io_event(event)?;
        let n = match &f.kind {
            FileKind::Null => len as u64,
            FileKind::Console(which) => {
                let mut done = 0u64;
                while done < len as u64 {
                    let n = ((len as u64 - done) as usize).min(CHUNK);
                    let data = user::read_bytes(mem, buf + done, n)?;
                    let out = match which {
                        Std::Error => &self.cfg.console.stderr,
                        _ => &self.cfg.console.stdout,
                    };
                    out.write(&data);
                    done += n as u64;
                }
                done
            }
            FileKind::Disk { is_dir: true, .. } => return Err(NtStatus::INVALID_DEVICE_REQUEST),
            FileKind::Disk { file, .. } => {
                let append_only = granted & FILE_WRITE_DATA == 0;
                let off = match self.io_offset(mem, &f, offset_ptr, true)? {
                    Some(o) if !append_only => o,
                    _ => host::fstat(file).map_err(|e| io_status(&e))?.size,
                };
                let mut done = 0u64;
                while done < len as u64 {
                    let n = ((len as u64 - done) as usize).min(CHUNK);
                    let data = user::read_bytes(mem, buf + done, n)?;
                    file.write_all_at(&data, off + done).map_err(|e| io_status(&e))?;
                    done += n as u64;
                }
                if f.synchronous() {
                    self.file_obj_mut(id)?.position = off + done;
                }
                done
            }
        };
        user::write_iosb(mem, iosb, NtStatus::SUCCESS, n)?;
        self.set_event_obj(ev);
        Ok(NtStatus::SUCCESS)
    }

    /// NtFlushBuffersFile(HANDLE, PIO_STATUS_BLOCK).
    pub fn nt_flush_buffers_file(&mut self, mem: &mut Memory, handle: u64, iosb: u64) -> NtStatus {
        flat((|| {
            let (id, granted) = self.file_ref(handle, 0)?;
            if granted & (FILE_WRITE_DATA | FILE_APPEND_DATA) == 0 {
                return Err(NtStatus::ACCESS_DENIED);
            }
            user::probe_write(mem, iosb, 16)?;
            if let FileKind::Disk { file, is_dir: false, .. } = &self.file_obj(id)?.kind {
                let _ = file.sync_all();
            }
            user::write_iosb(mem, iosb, NtStatus::SUCCESS, 0)?;
            Ok(NtStatus::SUCCESS)
        })())
    }

    fn stat_of(f: &FileObject) -> NtResult<Stat> {
        match &f.kind {
            FileKind::Disk { file, .. } => host::fstat(file).map_err(|e| io_status(&e)),
            _ => Ok(Stat {
                kind: Kind::Other,
                size: 0,
                mode: 0o666,
                nlink: 1,
                dev: 0,
                ino: 0,
                atime: (0, 0),
                mtime: (0, 0),
                ctime: (0, 0),
            }),
        }
    }

    /// NtQueryInformationFile(HANDLE, PIO_STATUS_BLOCK, PVOID, ULONG Length, FILE_INFORMATION_CLASS).
    pub fn nt_query_information_file(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        iosb: u64,
        buf: u64,
        len: u64,
        class: u64,
    ) -> NtStatus {
        flat(self.query_info_file(mem, handle, iosb, buf, len as u32, class as u32))
    }

    fn query_info_file(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        iosb: u64,
        buf: u64,
        len: u32,
        class: u32,
    ) -> NtResult<NtStatus> {
        let (id, granted) = self.file_ref(handle, 0)?;
        user::probe_write(mem, iosb, 16)?;
        user::probe_write(mem, buf, len as u64)?;
        let f = self.file_obj(id)?.clone();
        let st = Self::stat_of(&f)?;
        let pending = match &f.kind {
            FileKind::Disk { id, .. } => self.delete_pending.contains_key(id) || f.delete_on_close,
            _ => false,
        };
        let standard = || {
            let mut b = Buf::new(24);
            b.u64(0, alloc_size(&st))
                .u64(8, if st.kind == Kind::Dir { 0 } else { st.size })
                .u32(16, st.nlink as u32)
                .u8(20, pending as u8)
                .u8(21, (st.kind == Kind::Dir) as u8);
            b
        };
        let name16 = user::str_to_utf16(&f.guest_path());
        let mode = f.options
            & (FILE_WRITE_THROUGH
                | FILE_SEQUENTIAL_ONLY
                | FILE_NO_INTERMEDIATE_BUFFERING
                | FILE_SYNCHRONOUS_IO_ALERT
                | FILE_SYNCHRONOUS_IO_NONALERT
                | FILE_DELETE_ON_CLOSE);
        let need_attr = matches!(class, 4 | 18 | 34 | 35);
        if need_attr && granted & FILE_READ_ATTRIBUTES == 0 {
            return Err(NtStatus::ACCESS_DENIED);
        }
        // (fixed size, data, variable name part)
        let (min, mut data, name): (u32, Buf, Option<usize>) = match class {
            4 => (40, basic_info(&st), None),
            5 => (24, standard(), None),
            6 => {
                let mut b = Buf::new(8);
                b.u64(0, st.ino);
                (8, b, None)
            }
            7 => (4, Buf::new(4), None),
            8 => {
                let mut b = Buf::new(4);
                b.u32(0, granted);
                (4, b, None)
            }
            9 => {
                let mut b = Buf::new(4);
                b.u32(0, name16.len() as u32 * 2).utf16(4, &name16);
                (4, b, Some(4))
            }
            14 => {
                let mut b = Buf::new(8);
                b.u64(0, f.position);
                (8, b, None)
            }
            16 => {
                let mut b = Buf::new(4);
                b.u32(0, mode);
                (4, b, None)
            }
            17 => (4, Buf::new(4), None),
            18 => {
                let mut b = basic_info(&st);
                b.put(40, &standard().0);
                b.u64(64, st.ino).u32(72, 0).u32(76, granted).u64(80, f.position).u32(88, mode).u32(92, 0);
                b.u32(96, name16.len() as u32 * 2).utf16(100, &name16);
                (104, b, Some(100))
            }
            22 if st.kind == Kind::File => {
                let s = user::str_to_utf16("::$DATA");
                let mut b = Buf::new(24);
                b.u32(4, s.len() as u32 * 2).u64(8, st.size).u64(16, alloc_size(&st)).utf16(24, &s);
                (24, b, Some(24))
            }
            34 => (56, network_open_info(&st), None),
            35 => {
                let mut b = Buf::new(8);
                b.u32(0, attributes(&st));
                (8, b, None)
            }
            _ => return Err(NtStatus::INVALID_INFO_CLASS),
        };
        if len < min {
            return Err(NtStatus::INFO_LENGTH_MISMATCH);
        }
        let mut status = NtStatus::SUCCESS;
        if name.is_some() && data.len() > len as usize {
            data.0.truncate(len as usize);
            status = NtStatus::BUFFER_OVERFLOW;
        }
        if class == 18 || class == 9 {
            // The fixed part's size is counted even when the name is short.
            if data.len() < min as usize {
                data.0.resize(min as usize, 0);
            }
        }
        let n = data.len().min(len as usize);
        user::write_bytes(mem, buf, &data.0[..n])?;
        user::write_iosb(mem, iosb, status, n as u64)?;
        Ok(status)
    }

    /// NtSetInformationFile(HANDLE, PIO_STATUS_BLOCK, PVOID, ULONG Length, FILE_INFORMATION_CLASS).
    pub fn nt_set_information_file(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        iosb: u64,
        buf: u64,
        len: u64,
        class: u64,
    ) -> NtStatus {
        flat(self.set_info_file(mem, handle, iosb, buf, len as u32, class as u32))
    }

    fn set_info_file(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        iosb: u64,
        buf: u64,
        len: u32,
        class: u32,
    ) -> NtResult<NtStatus> {
        let (id, granted) = self.file_ref(handle, 0)?;
        user::probe_write(mem, iosb, 16)?;
        let min = match class {
            4 => 40,
            10 | 65 => 24,
            13 => 1,
            64 => 4,
            14 | 19 | 20 => 8,
            16 => 4,
            _ => return Err(NtStatus::INVALID_INFO_CLASS),
        };
        if len < min {
            return Err(NtStatus::INFO_LENGTH_MISMATCH);
        }
        let data = user::read_bytes(mem, buf, min as usize)?;
        let u64at = |o: usize| u64::from_le_bytes(data[o..o + 8].try_into().unwrap_or([0; 8]));
        let f = self.file_obj(id)?.clone();
        match class {
            4 => {
                if granted & FILE_WRITE_ATTRIBUTES == 0 {
                    return Err(NtStatus::ACCESS_DENIED);
                }
                if let FileKind::Disk { file, .. } = &f.kind {
                    let t = |v: u64| (v != 0 && v != u64::MAX).then(|| from_filetime(v as i64));
                    let (atime, mtime) = (t(u64at(8)), t(u64at(16)));
                    if atime.is_some() || mtime.is_some() {
                        host::futimens(file, atime, mtime).map_err(|e| io_status(&e))?;
                    }
                    let attrs = u32::from_le_bytes([data[32], data[33], data[34], data[35]]);
                    if attrs != 0 && !f.is_dir() {
                        let st = host::fstat(file).map_err(|e| io_status(&e))?;
                        let mode = if attrs & FILE_ATTRIBUTE_READONLY != 0 {
                            st.mode & 0o7555
                        } else {
                            (st.mode & 0o7777) | 0o200
                        };
                        host::fchmod(file, mode).map_err(|e| io_status(&e))?;
                    }
                }
            }
            10 | 65 => {
                if granted & DELETE == 0 {
                    return Err(NtStatus::ACCESS_DENIED);
                }
                let replace = if class == 65 {
                    u32::from_le_bytes([data[0], data[1], data[2], data[3]]) & 1 != 0
                } else {
                    data[0] != 0
                };
                let root = u64at(8);
                let name_len = u32::from_le_bytes([data[16], data[17], data[18], data[19]]);
                if name_len as u64 + 20 > len as u64 || name_len > 0xFFFE {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let name = user::read_name_buffer(mem, name_len as u16, buf + 20)?;
                self.rename(id, &f, root, &name, replace)?;
            }
            13 | 64 => {
                if granted & DELETE == 0 {
                    return Err(NtStatus::ACCESS_DENIED);
                }
                let del = if class == 13 {
                    data[0] != 0
                } else {
                    u32::from_le_bytes([data[0], data[1], data[2], data[3]]) & 1 != 0
                };
                let FileKind::Disk { parent, name, is_dir, id: fid, file } = &f.kind else {
                    return Err(NtStatus::INVALID_PARAMETER);
                };
                let Some(parent) = parent else {
                    return Err(NtStatus::CANNOT_DELETE);
                };
                if del {
                    let st = host::fstat(file).map_err(|e| io_status(&e))?;
                    if !is_dir && st.mode & 0o222 == 0 {
                        return Err(NtStatus::CANNOT_DELETE);
                    }
                    if *is_dir && !host::list(file).map_err(|e| io_status(&e))?.is_empty() {
                        return Err(NtStatus::DIRECTORY_NOT_EMPTY);
                    }
                    self.delete_pending.insert(*fid, (parent.clone(), name.clone(), *is_dir));
                } else {
                    self.delete_pending.remove(fid);
                    self.file_obj_mut(id)?.delete_on_close = false;
                }
            }
            14 => {
                let v = u64at(0);
                if v > i64::MAX as u64 {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                self.file_obj_mut(id)?.position = v;
            }
            16 => {}
            19 | 20 => {
                if granted & FILE_WRITE_DATA == 0 {
                    return Err(NtStatus::ACCESS_DENIED);
                }
                let v = u64at(0);
                if v > i64::MAX as u64 {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                match &f.kind {
                    FileKind::Disk { file, is_dir: false, .. } => {
                        let size = host::fstat(file).map_err(|e| io_status(&e))?.size;
                        if class == 20 || v < size {
                            file.set_len(v).map_err(|e| io_status(&e))?;
                        }
                    }
                    _ => return Err(NtStatus::INVALID_PARAMETER),
                }
            }
            _ => return Err(NtStatus::INVALID_INFO_CLASS),
        }
        user::write_iosb(mem, iosb, NtStatus::SUCCESS, 0)?;
        Ok(NtStatus::SUCCESS)
    }

    fn rename(&mut self, id: u64, f: &FileObject, root: u64, name: &[u16], replace: bool) -> NtResult<()> {
        let FileKind::Disk { parent: Some(src_dir), name: src_name, id: fid, .. } = &f.kind else {
            return Err(NtStatus::INVALID_PARAMETER);
        };
        let s = String::from_utf16(name).map_err(|_| NtStatus::OBJECT_NAME_INVALID)?;
        let target = if root != 0 {
            self.file_target(&ObjectAttributes { root, name: Some(name.to_vec()), attributes: 0 })?
        } else if s.starts_with('\\') {
            path::parse_absolute(name)?
        } else {
            // A plain name: rename within the same directory.
            if s.contains('\\') {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            let base = &f.path[..f.path.len().saturating_sub(1)];
            path::parse_relative(base, name)?
        };
        let Target::Disk { comps, .. } = target else {
            return Err(NtStatus::INVALID_PARAMETER);
        };
        if comps.is_empty() {
            return Err(NtStatus::ACCESS_DENIED);
        }
        let (dst_dir, dst_name, comps) = match self.walk(&comps)? {
            Walk::Missing { parent, name, comps } => (parent, OsString::from(name), comps),
            Walk::Found { parent, name, stat, comps } => {
                let Some(parent) = parent else {
                    return Err(NtStatus::ACCESS_DENIED);
                };
                let same = (stat.dev, stat.ino) == *fid;
                if !same {
                    if !replace {
                        return Err(NtStatus::OBJECT_NAME_COLLISION);
                    }
                    if stat.kind == Kind::Dir {
                        return Err(NtStatus::ACCESS_DENIED);
                    }
                    if !self.opens_of((stat.dev, stat.ino)).is_empty() {
                        return Err(NtStatus::ACCESS_DENIED);
                    }
                }
                // Keep the case the caller asked for.
                let last = comps.last().cloned().unwrap_or_default();
                let _ = name;
                (parent, OsString::from(last), comps)
            }
        };
        host::rename_at(src_dir, src_name, &dst_dir, &dst_name).map_err(|e| io_status(&e))?;
        let fo = self.file_obj_mut(id)?;
        if let FileKind::Disk { parent, name, .. } = &mut fo.kind {
            *parent = Some(dst_dir);
            *name = dst_name;
        }
        fo.path = comps;
        Ok(())
    }

    fn stat_target(&self, mem: &mut Memory, oa_ptr: u64) -> NtResult<Stat> {
        let oa = user::read_object_attributes(mem, oa_ptr)?;
        match self.file_target(&oa)? {
            Target::Disk { comps, trailing } => match self.walk(&comps)? {
                Walk::Found { stat, .. } => {
                    if stat.kind == Kind::Other || (trailing && stat.kind != Kind::Dir) {
                        return Err(NtStatus::OBJECT_NAME_INVALID);
                    }
                    Ok(stat)
                }
                Walk::Missing { .. } => Err(NtStatus::OBJECT_NAME_NOT_FOUND),
            },
            _ => Err(NtStatus::OBJECT_NAME_INVALID),
        }
    }

    /// NtQueryAttributesFile(POBJECT_ATTRIBUTES, PFILE_BASIC_INFORMATION).
    pub fn nt_query_attributes_file(&mut self, mem: &mut Memory, oa: u64, info: u64) -> NtStatus {
        flat((|| {
            user::probe_write(mem, info, 40)?;
            let st = self.stat_target(mem, oa)?;
            user::write_bytes(mem, info, &basic_info(&st).0)?;
            Ok(NtStatus::SUCCESS)
        })())
    }

    /// NtQueryFullAttributesFile(POBJECT_ATTRIBUTES, PFILE_NETWORK_OPEN_INFORMATION).
    pub fn nt_query_full_attributes_file(&mut self, mem: &mut Memory, oa: u64, info: u64) -> NtStatus {
        flat((|| {
            user::probe_write(mem, info, 56)?;
            let st = self.stat_target(mem, oa)?;
            user::write_bytes(mem, info, &network_open_info(&st).0)?;
            Ok(NtStatus::SUCCESS)
        })())
    }

    /// NtDeleteFile(POBJECT_ATTRIBUTES): deletes now, or when the last open handle closes.
    pub fn nt_delete_file(&mut self, mem: &mut Memory, oa_ptr: u64) -> NtStatus {
        flat((|| {
            let oa = user::read_object_attributes(mem, oa_ptr)?;
            let Target::Disk { comps, .. } = self.file_target(&oa)? else {
                return Err(NtStatus::OBJECT_NAME_INVALID);
            };
            match self.walk(&comps)? {
                Walk::Missing { .. } => Err(NtStatus::OBJECT_NAME_NOT_FOUND),
                Walk::Found { parent: None, .. } => Err(NtStatus::CANNOT_DELETE),
                Walk::Found { parent: Some(p), name, stat, .. } => {
                    let id = (stat.dev, stat.ino);
                    if stat.kind == Kind::Other {
                        return Err(NtStatus::ACCESS_DENIED);
                    }
                    if stat.kind == Kind::File && stat.mode & 0o222 == 0 {
                        return Err(NtStatus::CANNOT_DELETE);
                    }
                    if !self.share_ok(id, DELETE, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE) {
                        return Err(NtStatus::SHARING_VIOLATION);
                    }
                    let is_dir = stat.kind == Kind::Dir;
                    if is_dir {
                        let d = host::open_dir_at(&p, &name).map_err(|e| io_status(&e))?;
                        if !host::list(&d).map_err(|e| io_status(&e))?.is_empty() {
                            return Err(NtStatus::DIRECTORY_NOT_EMPTY);
                        }
                    }
                    if self.opens_of(id).is_empty() {
                        host::unlink_at(&p, &name, is_dir).map_err(|e| io_status(&e))?;
                    } else {
                        self.delete_pending.insert(id, (p, name, is_dir));
                    }
                    Ok(NtStatus::SUCCESS)
                }
            }
        })())
    }

    /// Lists a directory for enumeration: `.` and `..` (except at the root), then the
    /// entries sorted case-insensitively. Symbolic links appear as what they lead to, and
    /// not at all if that is outside the root; names that are not valid Unicode are hidden.
    fn list_dir(&self, f: &FileObject) -> NtResult<Vec<DirEntry>> {
        let FileKind::Disk { file, .. } = &f.kind else {
            return Err(NtStatus::INVALID_PARAMETER);
        };
        let mut out = Vec::new();
        let here = host::fstat(file).map_err(|e| io_status(&e))?;
        if !f.path.is_empty() {
            out.push(DirEntry { name: ".".into(), stat: here });
            let up = match self.walk(&f.path[..f.path.len() - 1]) {
                Ok(Walk::Found { stat, .. }) => stat,
                _ => here,
            };
            out.push(DirEntry { name: "..".into(), stat: up });
        }
        let mut entries = Vec::new();
        for n in host::list(file).map_err(|e| io_status(&e))? {
            let Some(s) = n.to_str() else { continue };
            if path::check_component(s).map(|c| c != s).unwrap_or(true) {
                continue;
            }
            let Ok(mut st) = host::lstat_at(file, &n) else {
                continue;
            };
            if st.kind == Kind::Symlink {
                let mut comps = f.path.clone();
                comps.push(s.to_string());
                match self.walk(&comps) {
                    Ok(Walk::Found { stat, .. }) => st = stat,
                    _ => continue,
                }
            }
            if st.kind == Kind::Other {
                continue;
            }
            entries.push(DirEntry { name: s.to_string(), stat: st });
        }
        entries.sort_by_key(|e| e.name.to_uppercase());
        out.extend(entries);
        Ok(out)
    }

    /// NtQueryDirectoryFile(HANDLE, HANDLE Event, PIO_APC_ROUTINE, PVOID ApcContext,
    /// PIO_STATUS_BLOCK, PVOID, ULONG Length, FILE_INFORMATION_CLASS, BOOLEAN
    /// ReturnSingleEntry, PUNICODE_STRING FileName, BOOLEAN RestartScan).
    #[allow(clippy::too_many_arguments)]
    pub fn nt_query_directory_file(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        event: u64,
        _apc: u64,
        _apc_ctx: u64,
        iosb: u64,
        buf: u64,
        len: u64,
        class: u64,
        single: u64,
        mask: u64,
        restart: u64,
    ) -> NtStatus {
        flat(self.query_dir(
            mem,
            handle,
            event,
            iosb,
            buf,
            len as u32,
            class as u32,
            single as u8 != 0,
            mask,
            restart as u8 != 0,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn query_dir(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        event: u64,
        iosb: u64,
        buf: u64,
        len: u32,
        class: u32,
        single: bool,
        mask_ptr: u64,
        restart: bool,
    ) -> NtResult<NtStatus> {
        // Fixed part sizes of the supported classes.
        let header = match class {
            1 => 64,   // FileDirectoryInformation
            2 => 68,   // FileFullDirectoryInformation
            3 => 94,   // FileBothDirectoryInformation
            12 => 12,  // FileNamesInformation
            37 => 104, // FileIdBothDirectoryInformation
            38 => 80,  // FileIdFullDirectoryInformation
            _ => return Err(NtStatus::INVALID_INFO_CLASS),
        };
        let (id, _) = self.file_ref(handle, FILE_LIST_DIRECTORY)?;
        user::probe_write(mem, iosb, 16)?;
        user::probe_write(mem, buf, len as u64)?;
        if (len as usize) < header {
            return Err(NtStatus::INFO_LENGTH_MISMATCH);
        }
        let f = self.file_obj(id)?.clone();
        if !f.is_dir() {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let ev = self.io_event(event)?;
        let first = f.dir_enum.is_none();
        if first || restart {
            let mask: Vec<char> = if mask_ptr != 0 && (first || restart) {
                let m = user::read_unicode_string(mem, mask_ptr)?;
                // A mask is a file name pattern: longer than a name is refused, which
                // also bounds the matching work per entry.
                if m.len() > 255 {
                    return Err(NtStatus::OBJECT_NAME_INVALID);
                }
                String::from_utf16_lossy(&m).chars().collect()
            } else {
                Vec::new()
            };
            let mask = match (&f.dir_enum, mask.is_empty()) {
                (Some(d), true) if !first => d.mask.clone(),
                _ if mask.is_empty() => vec!['*'],
                _ => mask,
            };
            let entries = self.list_dir(&f)?;
            self.file_obj_mut(id)?.dir_enum = Some(DirEnum { mask, entries, next: 0 });
        }
        let de = self.file_obj(id)?.dir_enum.clone().ok_or(NtStatus::UNSUCCESSFUL)?;
        let mut out = Buf::default();
        let mut last_off: Option<usize> = None;
        let mut idx = de.next;
        let mut any_match = false;
        let mut status = NtStatus::SUCCESS;
        while idx < de.entries.len() {
            let e = &de.entries[idx];
            let chars: Vec<char> = e.name.chars().collect();
            if !path::wildcard_match(&de.mask, &chars) {
                idx += 1;
                continue;
            }
            any_match = true;
            let name16 = user::str_to_utf16(&e.name);
            let off = match last_off {
                None => 0,
                Some(_) => out.len().div_ceil(8) * 8,
            };
            let size = header + name16.len() * 2;
            if off + size > len as usize {
                if last_off.is_none() {
                    // Not even one entry fits: return what fits and stay on it.
                    let entry = dir_entry(class, e, &name16, header);
                    let n = (len as usize).min(entry.len());
                    out.put(0, &entry.0[..n]);
                    status = NtStatus::BUFFER_OVERFLOW;
                }
                break;
            }
            if let Some(lo) = last_off {
                out.u32(lo, (off - lo) as u32);
            }
            let entry = dir_entry(class, e, &name16, header);
            out.put(off, &entry.0);
            last_off = Some(off);
            idx += 1;
            if single {
                break;
            }
        }
        if last_off.is_none() && status == NtStatus::SUCCESS {
            let st = if first && !any_match { NtStatus::NO_SUCH_FILE } else { NtStatus::NO_MORE_FILES };
            if let Some(d) = &mut self.file_obj_mut(id)?.dir_enum {
                d.next = idx;
            }
            user::write_iosb(mem, iosb, st, 0)?;
            self.set_event_obj(ev);
            return Err(st);
        }
        if status == NtStatus::SUCCESS {
            if let Some(d) = &mut self.file_obj_mut(id)?.dir_enum {
                d.next = idx;
            }
        }
        user::write_bytes(mem, buf, &out.0)?;
        user::write_iosb(mem, iosb, status, out.len() as u64)?;
        self.set_event_obj(ev);
        Ok(status)
    }

    /// NtQueryVolumeInformationFile(HANDLE, PIO_STATUS_BLOCK, PVOID, ULONG Length,
    /// FS_INFORMATION_CLASS).
    pub fn nt_query_volume_information_file(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        iosb: u64,
        buf: u64,
        len: u64,
        class: u64,
    ) -> NtStatus {
        flat(self.query_volume(mem, handle, iosb, buf, len as u32, class as u32))
    }

    fn query_volume(
        &mut self,
        mem: &mut Memory,
        handle: u64,
        iosb: u64,
        buf: u64,
        len: u32,
        class: u32,
    ) -> NtResult<NtStatus> {
        let (id, _) = self.file_ref(handle, 0)?;
        user::probe_write(mem, iosb, 16)?;
        user::probe_write(mem, buf, len as u64)?;
        let f = self.file_obj(id)?;
        let disk = matches!(f.kind, FileKind::Disk { .. });
        let device = match f.kind {
            FileKind::Disk { .. } => FILE_DEVICE_DISK,
            FileKind::Console(_) => FILE_DEVICE_CONSOLE,
            FileKind::Null => FILE_DEVICE_NULL,
        };
        const TOTAL: u64 = 16 << 20; // clusters of 4 KiB: 64 GiB
        const FREE: u64 = 8 << 20;
        let (min, data, var) = match class {
            1 if disk => {
                let label = user::str_to_utf16("");
                let mut b = Buf::new(18);
                b.u64(0, self.cfg.clock_start)
                    .u32(8, (self.cfg.seed as u32).wrapping_mul(0x9E37_79B1) | 1)
                    .u32(12, label.len() as u32 * 2)
                    .u8(16, 0)
                    .utf16(18, &label);
                (24, b, true)
            }
            3 if disk => {
                let mut b = Buf::new(24);
                b.u64(0, TOTAL).u64(8, FREE).u32(16, 8).u32(20, 512);
                (24, b, false)
            }
            4 => {
                let mut b = Buf::new(8);
                b.u32(0, device).u32(4, if disk { 0x20 } else { 0x0002_0000 });
                (8, b, false)
            }
            5 if disk => {
                let name = user::str_to_utf16("NTFS");
                let mut b = Buf::new(12);
                b.u32(0, 0x0000_0007).u32(4, 255).u32(8, name.len() as u32 * 2).utf16(12, &name);
                (16, b, true)
            }
            7 if disk => {
                let mut b = Buf::new(32);
                b.u64(0, TOTAL).u64(8, FREE).u64(16, FREE).u32(24, 8).u32(28, 512);
                (32, b, false)
            }
            1 | 3 | 5 | 7 => return Err(NtStatus::INVALID_DEVICE_REQUEST),
            _ => return Err(NtStatus::INVALID_INFO_CLASS),
        };
        if len < min {
            return Err(NtStatus::INFO_LENGTH_MISMATCH);
        }
        let n = data.len().min(len as usize);
        let status =
            if var && data.len() > len as usize { NtStatus::BUFFER_OVERFLOW } else { NtStatus::SUCCESS };
        user::write_bytes(mem, buf, &data.0[..n])?;
        user::write_iosb(mem, iosb, status, n as u64)?;
        Ok(status)
    }
}

fn dir_entry(class: u32, e: &DirEntry, name16: &[u16], header: usize) -> Buf {
    let st = &e.stat;
    let mut b = Buf::new(header);
    if class == 12 {
        b.u32(8, name16.len() as u32 * 2).utf16(12, name16);
        return b;
    }
    b.u64(8, to_filetime(st.mtime))
        .u64(16, to_filetime(st.atime))
        .u64(24, to_filetime(st.mtime))
        .u64(32, to_filetime(st.ctime))
        .u64(40, if st.kind == Kind::Dir { 0 } else { st.size })
        .u64(48, alloc_size(st))
        .u32(56, attributes(st))
        .u32(60, name16.len() as u32 * 2);
    match class {
        37 => {
            b.u64(96, st.ino);
        }
        38 => {
            b.u64(72, st.ino);
        }
        _ => {}
    }
    b.utf16(header, name16);
    b
}
