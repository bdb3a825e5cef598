//! Replays the committed hardware-confirmed vectors (testdata/vectors/*.jsonl.gz)
//! through x86wow on any host: each must reproduce the recorded final state exactly.

use std::path::PathBuf;

#[test]
fn committed_integer_vectors_replay_exactly() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../vectors/integer.jsonl.gz");
    let vectors = x86wow_hwcheck::vectors::read(&path).expect("read vectors");
    assert!(vectors.len() > 5000, "only {} vectors", vectors.len());
    let failures: Vec<String> =
        vectors.iter().filter_map(|v| x86wow_hwcheck::vectors::replay(v).err()).collect();
    for f in failures.iter().take(10) {
        println!("{f}");
    }
    assert!(failures.is_empty(), "{} of {} vectors differ", failures.len(), vectors.len());
    println!("{} vectors replayed", vectors.len());
}
