//! x86wow against a second engine: Unicorn (testdata/oracle/unicorn_engine.py) over the
//! committed integer vectors through the JSON Lines pipe backend. Prints the
//! divergences per instruction family (the table of the README's "Checking another
//! engine"). Needs Python 3 with the `unicorn` package: the test tries
//! `pip install unicorn` and skips with a message when it still cannot import it.
//! Every 4th vector by default; `X86WOW_UNICORN_ALL=1` checks all of them, and
//! `X86WOW_SKIP_UNICORN=1` opts out (no Python, no network).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use iced_x86::Code;
use x86wow::oracle::input::read_cases;
use x86wow::oracle::{Interpreter, Lockstep, Options, Outcome, PipeBackend};

fn unicorn_available() -> bool {
    let import = || {
        Command::new("python3")
            .args(["-c", "import unicorn"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if import() {
        return true;
    }
    eprintln!("unicorn is not importable; trying `pip install unicorn`");
    let _ = Command::new("python3").args(["-m", "pip", "install", "--quiet", "unicorn"]).status();
    import()
}

/// The instruction family of a vector, from its (first) iced-x86 code name.
fn family(name: &str) -> &'static str {
    if name.contains(';') {
        return "sequences (2-6 instructions)";
    }
    let Some(code) = Code::values().find(|c| format!("{c:?}") == name) else { return "other" };
    let m = format!("{:?}", code.mnemonic()).to_ascii_lowercase();
    let any = |xs: &[&str]| xs.contains(&m.as_str());
    if any(&["add", "adc", "sub", "sbb", "and", "or", "xor", "cmp", "test", "inc", "dec", "neg", "not"]) {
        "ALU (add, sub, logic, cmp, inc/dec, neg/not)"
    } else if any(&["shl", "sal", "shr", "sar", "rol", "ror", "rcl", "rcr", "shld", "shrd"]) {
        "shifts and rotates"
    } else if any(&["mul", "imul", "div", "idiv"]) {
        "multiply and divide"
    } else if any(&["aaa", "aas", "aam", "aad", "daa", "das"]) {
        "BCD (aaa, daa, aam, ...)"
    } else if any(&[
        "bt", "bts", "btr", "btc", "bsf", "bsr", "popcnt", "lzcnt", "tzcnt", "andn", "bextr", "blsi",
        "blsmsk", "blsr", "bzhi", "pdep", "pext", "rorx", "sarx", "shlx", "shrx", "adcx", "adox",
    ]) {
        "bit manipulation (bt*, bsf/bsr, BMI, ADX)"
    } else if any(&["cmpxchg", "cmpxchg8b", "xadd", "xchg"]) {
        "exchange and atomics (xchg, xadd, cmpxchg*)"
    } else if m.starts_with("movs") && m.len() == 5 && m != "movsx"
        || any(&[
            "cmpsb", "cmpsw", "cmpsd", "scasb", "scasw", "scasd", "lodsb", "lodsw", "lodsd", "stosb",
            "stosw", "stosd",
        ])
    {
        "string (movs, cmps, scas, lods, stos)"
    } else if any(&["insb", "insw", "insd", "outsb", "outsw", "outsd", "in", "out"]) {
        "port I/O (in, out, ins, outs)"
    } else if any(&[
        "push", "pop", "pusha", "pushad", "popa", "popad", "pushf", "pushfd", "popf", "popfd", "enter",
        "leave",
    ]) {
        "stack (push/pop, pusha, pushf/popf, enter/leave)"
    } else if m.starts_with('j')
        || m.starts_with("loop")
        || any(&["call", "ret", "retf", "iret", "iretd", "jcxz", "jecxz"])
    {
        "control transfer (jmp, jcc, call, ret, loop, iret)"
    } else if m.starts_with("cmov") || m.starts_with("set") {
        "conditional move and set (cmovcc, setcc)"
    } else if any(&[
        "mov", "movzx", "movsx", "movbe", "lea", "bswap", "cbw", "cwde", "cwd", "cdq", "xlatb", "lahf",
        "sahf", "nop", "clc", "stc", "cmc", "cld", "std",
    ]) {
        "data movement and flag ops (mov*, lea, bswap, cbw, lahf, clc, ...)"
    } else {
        "system, segments, interrupts, misc (int, bound, lds, lar, cpuid, fences, ...)"
    }
}

#[test]
fn unicorn_against_x86wow() {
    if std::env::var_os("X86WOW_SKIP_UNICORN").is_some_and(|v| v == "1") {
        eprintln!("SKIPPED: X86WOW_SKIP_UNICORN=1");
        return;
    }
    if !unicorn_available() {
        eprintln!("SKIPPED: python3 cannot import unicorn (pip install unicorn)");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("testdata/oracle/unicorn_engine.py");
    let step = if std::env::var_os("X86WOW_UNICORN_ALL").is_some() { 1 } else { 4 };
    let cases = read_cases(&root.join("testdata/vectors/integer.jsonl.gz").to_string_lossy()).unwrap();
    let engine = || {
        let mut cmd = Command::new("python3");
        cmd.arg(&script).env("UC_IGNORE_REG_BREAK", "1");
        PipeBackend::spawn_command(cmd, "unicorn").expect("the Unicorn engine starts")
    };
    let mut uc = engine();
    let mut x86wow = Interpreter::fast();
    // family -> (vectors, divergences, field -> count)
    let mut table: BTreeMap<&str, (usize, usize, BTreeMap<String, usize>)> = BTreeMap::new();
    let mut errors = 0;
    for case in cases.into_iter().step_by(step) {
        let case = case.unwrap();
        let row = table.entry(family(&case.name)).or_default();
        row.0 += 1;
        match Lockstep::new(&mut x86wow, &mut uc, Options { max_insns: 10_000, ..Options::default() })
            .run(&case.state)
        {
            Ok(Outcome::Agree { .. }) => {}
            Ok(Outcome::Diverged(d)) => {
                row.1 += 1;
                let mut fields: Vec<String> =
                    d.diffs.iter().map(|f| f.field.split(" @").next().unwrap().to_string()).collect();
                fields.dedup();
                *row.2.entry(fields.join("+")).or_default() += 1;
            }
            Err(e) => {
                errors += 1;
                eprintln!("{}: {e}", case.label);
                uc = engine();
            }
        }
    }
    println!("| family | vectors | divergences | most frequent differing fields |");
    println!("|---|---:|---:|---|");
    let (mut n, mut d) = (0, 0);
    for (fam, (vectors, divergences, fields)) in &table {
        let mut f: Vec<_> = fields.iter().collect();
        f.sort_by(|a, b| b.1.cmp(a.1));
        let top: Vec<String> = f.iter().take(3).map(|(k, v)| format!("{k} ({v})")).collect();
        println!("| {fam} | {vectors} | {divergences} | {} |", top.join(", "));
        n += vectors;
        d += divergences;
    }
    println!("| all | {n} | {d} | |");
    assert_eq!(errors, 0, "the engine failed on some vectors");
    // Unicorn agrees with the hardware on most of the integer set: a collapse means the
    // engine adapter or the protocol broke, not a new Unicorn difference.
    assert!(d * 4 < n, "{d} of {n} vectors diverge");
}
