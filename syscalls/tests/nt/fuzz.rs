//! Every service, called with hostile argument values, returns a status: no panic, no
//! hang, and nothing outside the sandbox root changes.

use x86wow_syscalls::SERVICES;

use crate::common::{host_tree, Env, SCRATCH, SCRATCH_SIZE};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn arg(r: &mut Rng) -> u64 {
    match r.next() % 14 {
        0 => 0,
        1 => u64::MAX,
        2 => u64::MAX - 1,
        3 => 4 * (r.next() % 12),
        4..=7 => (SCRATCH + (r.next() % SCRATCH_SIZE)) & !7,
        8 => SCRATCH + SCRATCH_SIZE - (r.next() % 16),
        9 => 0x7FFE_0000 + (r.next() % 0x1000),
        10 => 0xFFFF_8000_0000_0000 | r.next(),
        11 => r.next() & 0xFFFF_FFFF,
        12 => r.next() % 0x100,
        _ => r.next(),
    }
}

#[test]
fn every_service_survives_hostile_arguments() {
    let mut e = Env::with(|c| c.commit_limit = 64 << 20);
    std::fs::write(e.outside("secret.txt"), b"secret").unwrap();
    std::os::unix::fs::symlink(e.outside("secret.txt"), e.host("link")).unwrap();
    let before: Vec<_> = host_tree(&e.outer.0).into_iter().filter(|(p, _)| !p.starts_with("root/")).collect();
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    // Structures that look plausible: OBJECT_ATTRIBUTES with names, sizes, handles.
    let names =
        ["\\??\\C:\\f", "\\??\\C:\\..\\secret.txt", "\\??\\C:\\link", "\\BaseNamedObjects\\x", "\\??\\NUL"];
    for round in 0..200 {
        let mut junk = vec![0u8; 0x4000];
        for b in junk.iter_mut() {
            *b = r.next() as u8;
        }
        e.mem.write_bytes(SCRATCH + 0x8_0000, &junk).unwrap();
        let name = names[round % names.len()];
        let oa = e.oa(name, 0x40);
        for s in SERVICES {
            for _ in 0..8 {
                let args: Vec<u64> =
                    (0..s.args).map(|i| if i == 2 && r.next() % 2 == 0 { oa } else { arg(&mut r) }).collect();
                let _ = e.k.call(&mut e.mem, s.name, &args);
            }
        }
    }
    let after: Vec<_> = host_tree(&e.outer.0).into_iter().filter(|(p, _)| !p.starts_with("root/")).collect();
    assert_eq!(after, before);
}
