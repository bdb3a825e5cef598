//! Lockstep between x86wow with its decoded-block cache and without it, over the
//! committed vectors, random byte programs and the bundled states; and a planted
//! divergence reported exactly where and as it happened.

use std::path::Path;

use x86wow::cpu::state::{MachineState, MemRegion};
use x86wow::mmu::Prot;
use x86wow::oracle::input::read_cases;
use x86wow::oracle::{Corrupt, Granularity, Interpreter, Lockstep, Options, Outcome};

fn root(p: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p).to_string_lossy().into_owned()
}

fn agree(state: &MachineState, options: Options) -> u64 {
    let (mut fast, mut plain) = (Interpreter::fast(), Interpreter::plain());
    match Lockstep::new(&mut fast, &mut plain, options).run(state).expect("backends work") {
        Outcome::Agree { exit } => exit.insns,
        Outcome::Diverged(d) => panic!("fast and plain paths diverge:\n{d}"),
    }
}

#[test]
fn committed_vectors_fast_vs_plain() {
    let cases = read_cases(&root("testdata/vectors/integer.jsonl.gz")).expect("vectors");
    assert!(cases.len() > 5000);
    for (i, case) in cases.into_iter().enumerate() {
        let case = case.expect("a valid vector");
        let granularity = if i % 2 == 0 { Granularity::PerInstruction } else { Granularity::Every(3) };
        agree(&case.state, Options { granularity, ..Options::default() });
    }
}

#[test]
fn bundled_states_fast_vs_plain() {
    let dir = root("testdata/states");
    for entry in std::fs::read_dir(&dir).expect("states") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let state = MachineState::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let n = agree(&state, Options::default());
            assert!(n > 0, "{}", path.display());
            assert_eq!(
                agree(&state, Options { granularity: Granularity::Every(64), ..Options::default() }),
                n
            );
        }
    }
}

/// SplitMix64, so that the programs are the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A program of random bytes (biased to one-byte opcodes, prefixes and ModRM forms
/// that stay in the data page) on a writable code page, so self-modifying code and
/// every kind of fault are met.
fn random_program(rng: &mut Rng) -> MachineState {
    const PIECES: &[&[u8]] = &[
        &[0x01, 0x03],
        &[0x29, 0x0b],
        &[0x40],
        &[0x4b],
        &[0x50],
        &[0x5a],
        &[0x87, 0xd9],
        &[0xf7, 0xe3],
        &[0xd1, 0xe0],
        &[0xd3, 0xc8],
        &[0x0f, 0xaf, 0xc3],
        &[0x0f, 0xa3, 0xc8],
        &[0x90],
        &[0x66],
        &[0xf3],
        &[0xa4],
        &[0xab],
        &[0xae],
        &[0x9c],
        &[0x9d],
        &[0x89, 0x03],
        &[0x88, 0x43, 0x01],
        &[0xe2, 0xfc],
        &[0x75, 0x02],
        &[0xeb, 0x01],
        &[0xe8, 0x00, 0x00, 0x00, 0x00],
        &[0xc3],
        &[0x0f, 0xb1, 0x0b],
        &[0xf0, 0x0f, 0xc1, 0x03],
        &[0x27],
        &[0xd4, 0x0a],
        &[0x99],
        &[0xf7, 0xf9],
        &[0xc6, 0x05, 0x08, 0x10, 0x00, 0x00, 0x40],
    ];
    let mut code = Vec::new();
    while code.len() < 48 {
        if rng.next().is_multiple_of(8) {
            code.push(rng.next() as u8);
        } else {
            code.extend_from_slice(PIECES[(rng.next() % PIECES.len() as u64) as usize]);
        }
    }
    code.push(0xf4);
    let mut st = MachineState::default();
    let gpr: [u32; 8] = std::array::from_fn(|i| match i {
        3 | 6 | 7 => 0x2000 + (rng.next() as u32 & 0xff0), // EBX, ESI, EDI point into data
        4 => 0x3800,
        1 => rng.next() as u32 & 0x3f,
        _ => rng.next() as u32,
    });
    st.regs.set_gpr(gpr);
    st.regs.eip = 0x1000;
    st.regs.eflags = 0x202 | (rng.next() as u32 & 0x8d5);
    st.memory = vec![
        MemRegion { addr: 0x1000, size: 0x1000, prot: Prot::RWX, bytes: code },
        MemRegion {
            addr: 0x2000,
            size: 0x1000,
            prot: Prot::RW,
            bytes: (0..64).map(|_| rng.next() as u8).collect(),
        },
        MemRegion { addr: 0x3000, size: 0x1000, prot: Prot::RW, bytes: Vec::new() },
    ];
    st
}

#[test]
fn random_programs_fast_vs_plain() {
    let mut rng = Rng(6);
    for i in 0..600 {
        let st = random_program(&mut rng);
        let granularity = if i % 3 == 0 { Granularity::Every(5) } else { Granularity::PerInstruction };
        agree(&st, Options { granularity, max_insns: 500, ..Options::default() });
    }
}

/// `inc eax` x3, `mov [0x2000], eax`, hlt.
fn program() -> MachineState {
    MachineState::parse(
        r#"{"regs": {"eip": 4096, "esp": 12288},
            "memory": [{"addr": 4096, "prot": "rx", "hex": "404040a300200000f4"},
                       {"addr": 8192, "size": 4096}]}"#,
    )
    .unwrap()
}

#[test]
fn planted_divergence_is_reported_exactly() {
    for granularity in [Granularity::PerInstruction, Granularity::Every(2), Granularity::Every(100)] {
        let mut good = Interpreter::fast();
        let mut bad = Corrupt::new(Interpreter::plain(), 2, 6, 0x8000_0000); // ESI after the 2nd
        let options = Options { granularity, ..Options::default() };
        let Outcome::Diverged(d) = Lockstep::new(&mut good, &mut bad, options).run(&program()).unwrap()
        else {
            panic!("{granularity:?}: the planted divergence was not found");
        };
        // The second instruction (index 1) at 0x1001, as it was executed.
        assert_eq!(d.index, 1, "{granularity:?}");
        assert_eq!(d.eip, 0x1001);
        assert_eq!(d.bytes, [0x40]);
        assert_eq!(d.disasm, "inc eax");
        assert_eq!(d.diffs.len(), 1, "{d}");
        assert_eq!(d.diffs[0].field, "regs.esi");
        assert_eq!(d.diffs[0].left, "0x00000000");
        assert_eq!(d.diffs[0].right, "0x80000000");
        assert_eq!(d.before.regs.eax, 1, "the state before the instruction");
        assert_eq!((d.after[0].regs.eax, d.after[1].regs.eax), (2, 2));
        assert_eq!((d.exits[0].insns, d.exits[1].insns), (2, 2));
        assert_eq!(d.names[1], "x86wow (plain) (corrupted after 2)");
        let text = d.to_string();
        assert!(text.contains("divergence at instruction 1 (eip 0x00001001: 40 `inc eax`)"), "{text}");
        assert!(text.contains("regs.esi: 0x00000000 vs 0x80000000"), "{text}");
        assert_eq!(d.to_json()["diffs"][0]["field"], "regs.esi");
    }
}

#[test]
fn memory_and_exit_differences_are_fields() {
    // Corrupting EAX after the 3rd instruction shows first in EAX (index 2), and the
    // store that follows would show in memory: check the report names EAX only.
    let mut good = Interpreter::fast();
    let mut bad = Corrupt::new(Interpreter::fast(), 3, 0, 0xff);
    let Outcome::Diverged(d) =
        Lockstep::new(&mut good, &mut bad, Options::default()).run(&program()).unwrap()
    else {
        panic!("no divergence");
    };
    assert_eq!((d.index, d.eip), (2, 0x1002));
    assert_eq!(d.diffs.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(), ["regs.eax"]);
}

#[test]
fn undefined_flags_are_masked_between_models_only() {
    use x86wow::oracle::{undefined_flags, Backend};
    // `mul ecx` leaves SF ZF AF PF undefined.
    let ins = iced_x86::Decoder::new(32, &[0xf7, 0xe1], 0).decode();
    assert_eq!(undefined_flags(&ins), 0xd4);
    // Two x86wow backends claim the same model: every flag is compared.
    assert_eq!(Interpreter::fast().undefined_flags_model(), Interpreter::plain().undefined_flags_model());
}
