//! Replays the committed corpus of the importer's fuzz target (`fuzz/corpus/import_reader/`,
//! crashes found and fixed included) as an ordinary test: every input runs through the same
//! code as the fuzz target, and none may panic.

use std::path::Path;

#[test]
fn the_fuzz_corpus_replays_without_panic() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/import_reader");
    let mut inputs: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap_or_else(|e| panic!("{}: {e}", corpus.display()))
        .map(|e| e.expect("a corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    inputs.sort();
    assert!(
        !inputs.is_empty(),
        "the corpus at {} is empty",
        corpus.display()
    );
    let mut accepted = 0;
    for input in &inputs {
        let data = std::fs::read(input).expect("a corpus file reads");
        let result = std::panic::catch_unwind(|| cuttle_engine::fuzzing::run_one(&data));
        match result {
            Ok(n) => accepted += n,
            Err(_) => panic!("{} panics the importer's reader", input.display()),
        }
    }
    // The seeds from the committed fixture are valid documents: the validator accepts some.
    assert!(accepted > 0, "no corpus input gave a valid document");
}

#[test]
fn the_committed_fixture_reads_whole() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cuttle-cli/tests/fixtures/export-v1/small-seed-1");
    assert!(cuttle_engine::fuzzing::check(&fixture) > 300);
}
