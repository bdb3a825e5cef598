//! Runs hand-written x87 snippets natively and prints what the FPU did: the tool the
//! x87 behaviours in `cpu/UNDEFINED.md` were measured with.
//!
//! ```text
//! cargo run --release -p x86wow-hwcheck --example x87_probe -- 'code=D94340D933,data=40:0000803f' ...
//! ```
//!
//! Each argument is one case, a comma-separated list of `key=value` (hex values):
//! `code` (bytes at 0x10000000, HLT after), `data=OFF:BYTES` (the rw page at 0x20000000,
//! EBX points at it; FS and GS have it as base; a read-only page follows it), `fill` (the data page's filler byte),
//! `fcw`, `fsw`, `tag` (abridged), `fop`, `fip`, `fcs`, `fdp`, `fds`, `mxcsr`, `stN=SE:SIG`
//! (ST(N)), `eflags`, `eax`, `show` (data offset to print, `fff` = the whole page).
//! It prints the trap number, CR2, EIP, EAX, EFLAGS, the final FCW/FSW/tag/FOP/FIP/FDP
//! as the kernel saved them, the registers, and the data bytes that changed.

use x86wow_hwcheck::gen::{CODE, DATA, STACK};
use x86wow_hwcheck::native::{default_fxsave, NativeCase, NativeRegion, NativeRunner};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut runner = NativeRunner::start().expect("native runner");
    let mut cases = Vec::new();
    // Each arg: code=HEX,fcw=..,fsw=..,tag=..,st0=SE:SIG,...,data=OFF:HEX,eflags=..
    for a in &args {
        let mut code = vec![0xf4u8; 4096];
        let mut fx = default_fxsave();
        let mut data = vec![0u8; 4096];
        let mut eflags = 0x202u32;
        let mut gpr = [0u32; 8];
        gpr[4] = STACK + 0x800;
        gpr[3] = DATA;
        for kv in a.split(',') {
            let (k, v) = kv.split_once('=').unwrap();
            let num = |v: &str| u64::from_str_radix(v.trim_start_matches("0x"), 16).unwrap();
            match k {
                "code" => {
                    let b = hex(v);
                    code[..b.len()].copy_from_slice(&b);
                }
                "fcw" => fx[0..2].copy_from_slice(&(num(v) as u16).to_le_bytes()),
                "fsw" => fx[2..4].copy_from_slice(&(num(v) as u16).to_le_bytes()),
                "tag" => fx[4] = num(v) as u8,
                "fop" => fx[6..8].copy_from_slice(&(num(v) as u16).to_le_bytes()),
                "fip" => fx[8..12].copy_from_slice(&(num(v) as u32).to_le_bytes()),
                "fcs" => fx[12..14].copy_from_slice(&(num(v) as u16).to_le_bytes()),
                "fdp" => fx[16..20].copy_from_slice(&(num(v) as u32).to_le_bytes()),
                "fds" => fx[20..22].copy_from_slice(&(num(v) as u16).to_le_bytes()),
                "mxcsr" => fx[24..28].copy_from_slice(&(num(v) as u32).to_le_bytes()),
                "eflags" => eflags = num(v) as u32,
                "eax" => gpr[0] = num(v) as u32,
                "show" => {}
                "fill" => data.fill(num(v) as u8),
                k if k.starts_with("st") => {
                    let i: usize = k[2..].parse().unwrap();
                    let (se, sig) = v.split_once(':').unwrap();
                    fx[32 + 16 * i..][..8].copy_from_slice(&num(sig).to_le_bytes());
                    fx[32 + 16 * i + 8..][..2].copy_from_slice(&(num(se) as u16).to_le_bytes());
                }
                "data" => {
                    let (off, h) = v.split_once(':').unwrap();
                    let b = hex(h);
                    let o = num(off) as usize;
                    data[o..o + b.len()].copy_from_slice(&b);
                }
                _ => panic!("key {k}"),
            }
        }
        cases.push(NativeCase {
            gpr,
            eip: CODE,
            eflags,
            fs_base: DATA,
            gs_base: DATA,
            fxsave: Some(fx),
            regions: vec![
                NativeRegion { addr: CODE, prot: 5, data: code },
                NativeRegion { addr: DATA, prot: 3, data },
                NativeRegion { addr: STACK, prot: 3, data: vec![0; 4096] },
                // A read-only page right after the data page.
                NativeRegion { addr: DATA + 0x1000, prot: 1, data: vec![0; 4096] },
            ],
        });
    }
    for (a, o) in args.iter().zip(runner.run(&cases)) {
        let f = &o.fxsave;
        let w = |i: usize| u16::from_le_bytes([f[i], f[i + 1]]);
        let q = |i: usize| u64::from_le_bytes(f[i..i + 8].try_into().unwrap());
        println!("== {a}");
        println!(
            "  trap={} cr2={:#x} eip=+{:#x} eax={:#x} efl={:#x} fcw={:04x} fsw={:04x} tag={:02x} fop={:04x} fip={:#x} fdp={:#x}",
            o.trapno,
            o.cr2,
            o.eip.wrapping_sub(CODE),
            o.gpr[0],
            o.eflags & !0x10000,
            w(0),
            w(2),
            f[4],
            w(6),
            q(8),
            q(16)
        );
        for i in 0..8 {
            let se = w(32 + 16 * i + 8);
            let sig = q(32 + 16 * i);
            print!("  st{i}={se:04x}:{sig:016x}");
            if i == 3 {
                println!();
            }
        }
        println!();
        let show = a
            .split(',')
            .find_map(|kv| kv.strip_prefix("show="))
            .map_or(0, |v| usize::from_str_radix(v, 16).unwrap());
        let d = &o.regions[1];
        let fill = a
            .split(',')
            .find_map(|kv| kv.strip_prefix("fill="))
            .map_or(0, |v| u8::from_str_radix(v, 16).unwrap());
        let rows = if show == 0xfff { 256 } else { 8 };
        let show = if show == 0xfff { 0 } else { show };
        for row in 0..rows {
            let r = &d[show + row * 16..show + row * 16 + 16];
            if r.iter().any(|&b| b != fill) {
                println!(
                    "  data+{:02x}: {}",
                    show + row * 16,
                    r.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
                );
            }
        }
    }
}
