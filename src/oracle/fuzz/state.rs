//! `state_json`: the machine-state parser.

use x86wow_cpu::state::MachineState;

/// Parses the bytes as a state document: never a panic; an accepted document
/// serialises and parses back to the same document; a small one loads into a CPU and
/// runs a few instructions.
pub fn state_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(state) = MachineState::parse(text) else { return };
    let json = state.to_json(None);
    let again = MachineState::from_json(&json).expect("a serialised state parses");
    assert_eq!(again.to_json(None), json, "serialise -> parse -> serialise changed the document");
    let pages: u64 = state.memory.iter().map(|r| r.pages().1 >> 12).sum();
    if pages <= 64 {
        if let Ok((out, exit)) = state.run(64) {
            let _ = out.to_json(Some(&exit));
        }
    }
}
