//! Concurrency (SPEC 8): an import runs while other processes write to the same instance and
//! exports are taken. Afterwards the import either finished or failed cleanly; every acknowledged
//! write is there; every export taken meanwhile is consistent: what the import brings is in it
//! either not at all or entirely, and each writer's acknowledged documents form a prefix of what
//! that writer wrote.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use common::{PASSWORD, World, tree};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Rounds per backend, each on a fresh destination (an import of the small sample is short).
const ROUNDS: usize = 3;
/// Processes writing to the destination during the import.
const WRITERS: usize = 3;
/// Puts each writer makes at least, even when the import is quicker.
const MIN_PUTS: usize = 4;
/// The name of every document the writers make starts with this.
const WRITTEN: &str = "written-meanwhile";

/// `cuttle` with `home` as `CUTTLE_HOME`, [`PASSWORD`] given, nothing else inherited that matters.
fn cuttle(home: &Path) -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("cuttle"));
    command
        .env("CUTTLE_HOME", home)
        .env_remove("CUTTLE_MASTER_KEY")
        .env_remove("PGPASSWORD")
        .env("CUTTLE_PASSWORD", PASSWORD)
        .stdin(Stdio::null());
    command
}

/// A failure is clean: exit status 1 and a message, no panic.
fn assert_clean_failure(what: &str, output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{what} ended with {} (stderr: {stderr})",
        output.status
    );
    assert!(
        !stderr.trim().is_empty() && !stderr.contains("panicked"),
        "{what} failed without a clear message: {stderr:?}"
    );
}

/// One writer: `doc put environments` of new names until told to stop (and at least
/// [`MIN_PUTS`] times); returns the names whose put was acknowledged, in order.
fn writer(home: PathBuf, instance: String, id: usize, stop: Arc<AtomicBool>) -> Vec<String> {
    let mut acknowledged = Vec::new();
    let mut i = 0;
    while i < MIN_PUTS || !stop.load(Ordering::SeqCst) {
        let name = format!("{WRITTEN} {id}-{i}");
        let file = home.join(format!("writer-{id}.json"));
        std::fs::write(&file, json!({"name": name, "description": "x"}).to_string()).unwrap();
        let output = cuttle(&home)
            .args(["doc", "put", "environments", "--instance", &instance])
            .arg("--file")
            .arg(&file)
            .output()
            .unwrap();
        if output.status.success() {
            acknowledged.push(name);
        } else {
            assert_clean_failure(&format!("writer {id}, put {i}"), &output);
        }
        i += 1;
    }
    acknowledged
}

/// An export's files, the writers' documents and the manifest (which counts them) left out:
/// what the import may change.
fn imported_part(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    files
        .iter()
        .filter(|(path, _)| path.as_str() != "manifest.json" && written_name(path, files).is_none())
        .map(|(path, bytes)| (path.clone(), bytes.clone()))
        .collect()
}

/// The name of a document a writer made, if the file at `path` is one.
fn written_name(path: &str, files: &BTreeMap<String, Vec<u8>>) -> Option<String> {
    if !path.starts_with("environments/") {
        return None;
    }
    let doc: Value = serde_json::from_slice(&files[path]).ok()?;
    let name = doc.get("name")?.as_str()?;
    name.starts_with(WRITTEN).then(|| name.to_owned())
}

fn written_names(files: &BTreeMap<String, Vec<u8>>) -> BTreeSet<String> {
    files
        .keys()
        .filter_map(|path| written_name(path, files))
        .collect()
}

fn import_while_others_write(world: &World) {
    let dirs = TempDir::new().unwrap();
    let source = dirs.path().join("source");
    world.create_sampled("source");
    world
        .export("source", &source, &["--include-task-logs"])
        .success();
    let source_paths: BTreeSet<String> = imported_part(&tree(&source)).into_keys().collect();

    let home = world.home().to_owned();
    let (mut finished, mut failed) = (0, 0);
    // Exports started before the import ended that found the imported part absent, and entire.
    let (mut during_before, mut during_after) = (0, 0);
    for round in 0..ROUNDS {
        let name = format!("destination-{round}");
        world.create_instance(&name);
        world
            .put(
                &name,
                "environments",
                &json!({"name": "Kept before the import", "description": "mine"}),
            )
            .success();
        // Exports into fresh directories: their salt comes from the instance's identity, so equal
        // contents give equal files.
        let before = imported_part(&world.contents(&name));

        let stop = Arc::new(AtomicBool::new(false));
        let import_done = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..WRITERS)
            .map(|id| {
                let (home, name, stop) = (home.clone(), name.clone(), stop.clone());
                thread::spawn(move || writer(home, name, id, stop))
            })
            .collect();
        // Exports taken over and over while the import runs, and one after it.
        let exporter = {
            let (home, name, done) = (home.clone(), name.clone(), import_done.clone());
            let scratch = dirs.path().join(format!("exports-{round}"));
            thread::spawn(move || {
                let mut exports = Vec::new();
                loop {
                    let last = done.load(Ordering::SeqCst);
                    let dir = scratch.join(exports.len().to_string());
                    let output = cuttle(&home)
                        .args(["export", "--include-task-logs", "--instance", &name])
                        .arg("--directory")
                        .arg(&dir)
                        .output()
                        .unwrap();
                    assert!(
                        output.status.success(),
                        "an export during the import failed: {}",
                        String::from_utf8_lossy(&output.stderr)
                    );
                    exports.push((last, tree(&dir)));
                    if last {
                        return exports;
                    }
                }
            })
        };

        let import = cuttle(&home)
            .args([
                "import",
                "--quiet",
                "--include-task-logs",
                "--instance",
                &name,
            ])
            .arg("--directory")
            .arg(&source)
            .output()
            .unwrap();
        import_done.store(true, Ordering::SeqCst);
        let exports = exporter.join().expect("the exporter");
        stop.store(true, Ordering::SeqCst);
        let acknowledged: Vec<Vec<String>> = writers
            .into_iter()
            .map(|w| w.join().expect("a writer"))
            .collect();

        // The import finished, or failed cleanly and changed nothing.
        let after_all = world.contents(&name);
        let after = imported_part(&after_all);
        if import.status.success() {
            finished += 1;
            assert_ne!(before, after, "round {round}: the import changed nothing");
            assert_eq!(
                after.keys().cloned().collect::<BTreeSet<_>>(),
                source_paths
                    .iter()
                    .cloned()
                    .chain(before.keys().cloned())
                    .collect::<BTreeSet<_>>(),
                "round {round}: the import brought exactly the source's documents"
            );
        } else {
            failed += 1;
            assert_clean_failure(&format!("round {round}: the import"), &import);
            eprintln!(
                "round {round}: the import failed cleanly: {}",
                String::from_utf8_lossy(&import.stderr).trim()
            );
            assert_eq!(
                before, after,
                "round {round}: a failed import changed something"
            );
        }

        // Every acknowledged put is there.
        let listed: BTreeSet<String> = world
            .list(&name, "environments", None)
            .into_iter()
            .collect();
        for name in acknowledged.iter().flatten() {
            assert!(
                listed.contains(name),
                "round {round}: the acknowledged put of {name:?} is missing"
            );
        }
        assert_eq!(
            written_names(&after_all),
            listed
                .iter()
                .filter(|n| n.starts_with(WRITTEN))
                .cloned()
                .collect(),
            "round {round}: the final export holds the writers' documents"
        );

        // Every export taken meanwhile is consistent.
        for (i, (last, files)) in exports.iter().enumerate() {
            let part = imported_part(files);
            assert!(
                part == before || part == after,
                "round {round}, export {i}: what the import brings is partly there ({} files of it, {} before, {} after)",
                part.len(),
                before.len(),
                after.len()
            );
            if *last {
                assert_eq!(part, after, "round {round}: the export after the import");
            } else if part == before {
                during_before += 1;
            } else {
                during_after += 1;
            }
            let present = written_names(files);
            for (id, names) in acknowledged.iter().enumerate() {
                let seen = names.iter().take_while(|n| present.contains(*n)).count();
                assert!(
                    names[seen..].iter().all(|n| !present.contains(n)),
                    "round {round}, export {i}: writer {id}'s documents are not a prefix of its acknowledged puts"
                );
            }
        }
        eprintln!(
            "round {round}: import {}, {} exports, puts acknowledged per writer: {:?}",
            import.status,
            exports.len(),
            acknowledged.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }
    eprintln!(
        "{ROUNDS} rounds: {finished} imports finished, {failed} failed cleanly; exports started before the import ended: {during_before} without the imported data, {during_after} with all of it"
    );
}

both_backends!(import_while_others_write);
