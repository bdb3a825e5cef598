//! The JSON Lines engine protocol end to end: `x86wow lockstep --serve` as the engine
//! behind a `PipeBackend`, against x86wow in process.

use std::path::Path;
use std::process::Command;

use x86wow::cpu::state::MachineState;
use x86wow::oracle::input::read_cases;
use x86wow::oracle::{Backend, Interpreter, Lockstep, Options, Outcome, PipeBackend};

fn engine(extra: &[&str]) -> PipeBackend {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_x86wow"));
    cmd.args(["lockstep", "--serve"]).args(extra);
    PipeBackend::spawn_command(cmd, "x86wow lockstep --serve").expect("the engine starts")
}

fn sum() -> MachineState {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/states/sum.json");
    MachineState::parse(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn protocol_operations() {
    let mut e = engine(&["--plain"]);
    assert_eq!(e.name(), "x86wow (plain)");
    assert_eq!(e.undefined_flags_model().as_deref(), Some("amd-family-19h"));
    let st = sum();
    e.load(&st).unwrap();
    let code = e.read(st.regs.eip, 5).unwrap();
    assert_eq!(code, &st.memory[0].bytes[..5]);
    assert_eq!(e.step().unwrap().insns, 1);
    let (exit, fin) = e.run_and_state(1_000_000).unwrap();
    assert_eq!(exit.reason, "hlt");
    let (want, want_exit) = st.run(1_000_000).unwrap();
    assert_eq!(exit.insns, want_exit.insns);
    assert_eq!(fin.regs, want.regs);
    assert_eq!(e.state().unwrap().memory, fin.memory);
    // Errors come back as values and the engine keeps serving.
    let err = e.read(0xdead_0000, 4).unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
    let region =
        x86wow::oracle::region_from_json(&serde_json::json!({"addr": 0xdead_0000u32, "hex": "01020304"}))
            .unwrap();
    e.map(&region).unwrap();
    assert_eq!(e.read(0xdead_0000, 4).unwrap(), [1, 2, 3, 4]);
    let bad = e.request(&serde_json::json!({"op": "nonsense"})).unwrap_err();
    assert!(bad.to_string().contains("unknown op"), "{bad}");
}

#[test]
fn lockstep_over_the_pipe_agrees() {
    let mut local = Interpreter::fast();
    let mut remote = engine(&["--plain"]);
    match Lockstep::new(&mut local, &mut remote, Options::default()).run(&sum()).unwrap() {
        Outcome::Agree { exit } => assert_eq!(exit.reason, "hlt"),
        Outcome::Diverged(d) => panic!("{d}"),
    }
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/vectors/integer.jsonl.gz");
    for case in read_cases(&vectors.to_string_lossy()).unwrap().into_iter().step_by(25) {
        let case = case.unwrap();
        match Lockstep::new(&mut local, &mut remote, Options::default()).run(&case.state).unwrap() {
            Outcome::Agree { .. } => {}
            Outcome::Diverged(d) => panic!("{}: {d}", case.label),
        }
    }
}

#[test]
fn lockstep_over_the_pipe_finds_a_planted_divergence() {
    let mut local = Interpreter::fast();
    let mut remote = engine(&["--corrupt-after", "50", "--corrupt-reg", "3"]);
    let Outcome::Diverged(d) =
        Lockstep::new(&mut local, &mut remote, Options::default()).run(&sum()).unwrap()
    else {
        panic!("no divergence");
    };
    assert_eq!(d.index, 49);
    assert_eq!(d.diffs[0].field, "regs.ebx");
    assert_eq!(d.diffs[0].right, "0x00000001");
}

#[test]
fn cli_lockstep_reports_and_exits_with_status() {
    let exe = env!("CARGO_BIN_EXE_x86wow");
    let states = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/states/sum.json");
    let ok = Command::new(exe).args(["lockstep", "--per", "10"]).arg(&states).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("1 states: 1 agree, 0 diverged, 0 errors"));
    let engine = format!("{exe} lockstep --serve --corrupt-after 7 --corrupt-reg 5");
    let bad =
        Command::new(exe).args(["lockstep", "--engine", &engine, "--json"]).arg(&states).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).expect("one JSON line");
    assert_eq!(v["divergence"]["index"], 6);
    assert_eq!(v["divergence"]["diffs"][0]["field"], "regs.ebp");
}
