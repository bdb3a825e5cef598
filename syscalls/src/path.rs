//! NT path names for the file system: parsing `\??\C:\...` and friends into components
//! below the sandbox root, with the checks that keep every name inside it.

use crate::status::{NtResult, NtStatus};

/// Where an NT file name leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A path on drive C: (components below the root; `..` already resolved lexically,
    /// never above the root). `trailing` is set when the name ended in a backslash.
    Disk { comps: Vec<String>, trailing: bool },
    /// The null device (`\??\NUL`, `\Device\Null`).
    Null,
    /// The console (`\??\CON`, `\??\CONIN$`, `\??\CONOUT$`).
    Console(ConsoleName),
    /// The volume itself (`\??\C:`).
    Volume,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleName {
    Con,
    ConIn,
    ConOut,
}

fn strip_ci<'a>(s: &'a str, p: &str) -> Option<&'a str> {
    if s.len() >= p.len() && s.is_char_boundary(p.len()) && s[..p.len()].eq_ignore_ascii_case(p) {
        Some(&s[p.len()..])
    } else {
        None
    }
}

/// DOS device names that a file name may not use (decided for the sandbox: NTFS itself
/// would accept them through an NT path, but Win32 never produces such a path and they
/// are a classic way to confuse a host).
pub fn is_dos_device(name: &str) -> bool {
    let base = name.split('.').next().unwrap_or("").trim_end_matches(' ');
    let up = base.to_ascii_uppercase();
    matches!(up.as_str(), "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$" | "CLOCK$")
        || ((up.starts_with("COM") || up.starts_with("LPT"))
            && up.len() == 4
            && matches!(up.as_bytes()[3], b'1'..=b'9'))
}

/// Checks one path component and returns it with a `::$DATA` stream suffix removed.
/// Characters NTFS refuses (controls, `"*/:<>?|`) and named streams are
/// `STATUS_OBJECT_NAME_INVALID`.
pub fn check_component(c: &str) -> NtResult<String> {
    let mut c = c.to_string();
    if let Some(i) = c.find(':') {
        let (name, stream) = c.split_at(i);
        if stream.eq_ignore_ascii_case("::$DATA") && !name.is_empty() {
            c = name.to_string();
        } else {
            return Err(NtStatus::OBJECT_NAME_INVALID);
        }
    }
    if c.is_empty() || c.encode_utf16().count() > 255 {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    if c.chars().any(|ch| (ch as u32) < 0x20 || "\"*/:<>?|".contains(ch)) {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    if c != "." && c != ".." && is_dos_device(&c) {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    Ok(c)
}

/// Splits a path below the root (`a\b\..\c`) into components, resolving `.` and `..`
/// lexically and clamping at `base` (the components of the directory it is relative to).
pub fn resolve(base: &[String], rest: &str) -> NtResult<(Vec<String>, bool)> {
    let mut comps = base.to_vec();
    let trailing = rest.ends_with('\\');
    let rest = rest.trim_end_matches('\\');
    if rest.is_empty() {
        return Ok((comps, trailing));
    }
    for c in rest.split('\\') {
        if c.is_empty() {
            return Err(NtStatus::OBJECT_NAME_INVALID);
        }
        let c = check_component(c)?;
        match c.as_str() {
            "." => {}
            ".." => {
                comps.pop();
            }
            _ => comps.push(c),
        }
    }
    Ok((comps, trailing))
}

/// Parses an absolute NT name (no RootDirectory).
pub fn parse_absolute(name: &[u16]) -> NtResult<Target> {
    let s = String::from_utf16(name).map_err(|_| NtStatus::OBJECT_NAME_INVALID)?;
    if s.is_empty() || !s.starts_with('\\') {
        return Err(NtStatus::OBJECT_PATH_SYNTAX_BAD);
    }
    if s.contains('\0') {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    if strip_ci(&s, "\\Device\\Null").is_some_and(|r| r.is_empty()) {
        return Ok(Target::Null);
    }
    if let Some(r) = strip_ci(&s, "\\Device\\HarddiskVolume1") {
        return drive_path(r);
    }
    let dos = ["\\??\\", "\\DosDevices\\", "\\GLOBAL??\\"].iter().find_map(|p| strip_ci(&s, p));
    let Some(rest) = dos else {
        return Err(NtStatus::OBJECT_PATH_NOT_FOUND);
    };
    let (first, after) = match rest.find('\\') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let up = first.to_ascii_uppercase();
    match (up.as_str(), after) {
        ("NUL", None) => Ok(Target::Null),
        ("CON", None) => Ok(Target::Console(ConsoleName::Con)),
        ("CONIN$", None) => Ok(Target::Console(ConsoleName::ConIn)),
        ("CONOUT$", None) => Ok(Target::Console(ConsoleName::ConOut)),
        ("C:", None) => Ok(Target::Volume),
        ("C:", Some(r)) => drive_path(r),
        (_, None) => Err(NtStatus::OBJECT_NAME_NOT_FOUND),
        (_, Some(_)) => Err(NtStatus::OBJECT_PATH_NOT_FOUND),
    }
}

/// `r` is what follows the drive: `\` or `\a\b`.
fn drive_path(r: &str) -> NtResult<Target> {
    if r.is_empty() {
        return Ok(Target::Volume);
    }
    let Some(r) = r.strip_prefix('\\') else {
        return Err(NtStatus::OBJECT_PATH_NOT_FOUND);
    };
    let (comps, trailing) = resolve(&[], r)?;
    Ok(Target::Disk { comps, trailing })
}

/// Parses a name relative to a directory whose components are `base`.
pub fn parse_relative(base: &[String], name: &[u16]) -> NtResult<Target> {
    let s = String::from_utf16(name).map_err(|_| NtStatus::OBJECT_NAME_INVALID)?;
    if s.starts_with('\\') {
        return Err(NtStatus::OBJECT_PATH_SYNTAX_BAD);
    }
    if s.contains('\0') {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    let (comps, trailing) = resolve(base, &s)?;
    Ok(Target::Disk { comps, trailing })
}

/// The guest path `\a\b` of components (`\` for the root).
pub fn join(comps: &[String]) -> String {
    if comps.is_empty() {
        "\\".to_string()
    } else {
        comps.iter().map(|c| format!("\\{c}")).collect()
    }
}

/// Case-insensitive equality as NTFS compares names (simple per-character upcase).
pub fn name_eq(a: &str, b: &str) -> bool {
    a.chars().flat_map(char::to_uppercase).eq(b.chars().flat_map(char::to_uppercase))
}

/// `FsRtlIsNameInExpression` with `*`, `?` and the DOS wildcards `<` (DOS_STAR),
/// `>` (DOS_QM) and `"` (DOS_DOT), case-insensitively.
pub fn wildcard_match(pattern: &[char], name: &[char]) -> bool {
    fn up(c: char) -> char {
        c.to_uppercase().next().unwrap_or(c)
    }
    // Dynamic programming over name positions: O(pattern x name) per match ('*' fills
    // a suffix, '<' stops at the last dot); names and masks are at most 255 characters.
    let n = name.len();
    let last_dot = name.iter().rposition(|&c| c == '.');
    let mut cur = vec![false; n + 1];
    cur[0] = true;
    for &p in pattern {
        let mut next = vec![false; n + 1];
        let rest_has_dot = |i: usize| last_dot.is_some_and(|d| d >= i);
        for i in 0..=n {
            if !cur[i] {
                continue;
            }
            match p {
                '*' => {
                    for slot in next.iter_mut().skip(i) {
                        *slot = true;
                    }
                }
                '<' => {
                    // Matches up to (not including) the last dot, or everything if none.
                    let mut j = i;
                    next[j] = true;
                    while j < n {
                        if name[j] == '.' && !rest_has_dot(j + 1) {
                            break;
                        }
                        j += 1;
                        next[j] = true;
                    }
                }
                '?' => {
                    if i < n {
                        next[i + 1] = true;
                    }
                }
                '>' => {
                    // Any character, or nothing at a dot or the end.
                    if i < n && name[i] != '.' {
                        next[i + 1] = true;
                    } else {
                        next[i] = true;
                    }
                }
                '"' => {
                    if i < n && name[i] == '.' {
                        next[i + 1] = true;
                    } else if i == n {
                        next[i] = true;
                    }
                }
                c => {
                    if i < n && up(name[i]) == up(c) {
                        next[i + 1] = true;
                    }
                }
            }
        }
        cur = next;
        if !cur.iter().any(|&b| b) {
            return false;
        }
    }
    cur[n]
}
