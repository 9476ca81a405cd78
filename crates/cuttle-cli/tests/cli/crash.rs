//! Crash safety of an import (SPEC 8): the `cuttle import` process is killed (SIGKILL) at random
//! moments; the destination is then either exactly as it was or exactly fully imported, never in
//! between. "Exactly" is checked by exporting the destination into a copy of a reference export
//! of each of the two states (the copy's salt is reused, so equal data gives equal files).

use crate::common;

use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use common::{PASSWORD, World, copy_tree, tree};
use serde_json::json;
use tempfile::TempDir;

/// How many kills per backend (the issue asks for a few in CI; issue 6's script does 100 on the
/// medium sample).
const KILLS: usize = 6;

/// A pseudo-random fraction in [0, 1), seeded from the clock; the seed is printed so that a
/// failure can be replayed with `CUTTLE_CRASH_SEED`.
struct Fractions(u64);

impl Fractions {
    fn new() -> Fractions {
        let seed = std::env::var("CUTTLE_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("crash test seed: {seed} (replay with CUTTLE_CRASH_SEED={seed})");
        Fractions(seed | 1)
    }
    fn next(&mut self) -> f64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The destination's state before the import: something of its own, so that "as it was" is not
/// just "empty".
fn prepare(world: &World, name: &str) {
    world.create_instance(name);
    world
        .put(
            name,
            "environments",
            &json!({"name": "Kept before the import", "description": "mine"}),
        )
        .success();
}

fn import_command(world: &World, instance: &str, source: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("cuttle"));
    command
        .env("CUTTLE_HOME", world.home())
        .env_remove("CUTTLE_MASTER_KEY")
        .env_remove("PGPASSWORD")
        .env("CUTTLE_PASSWORD", PASSWORD)
        .args([
            "import",
            "--quiet",
            "--include-task-logs",
            "--instance",
            instance,
        ])
        .arg("--directory")
        .arg(source)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// Whether exporting `instance` into a copy of `reference` changes nothing.
fn equals(world: &World, instance: &str, reference: &Path) -> bool {
    let scratch = TempDir::new().unwrap();
    copy_tree(reference, scratch.path());
    world
        .export(instance, scratch.path(), &["--include-task-logs"])
        .success();
    tree(scratch.path()) == tree(reference)
}

fn killed_imports_leave_all_or_nothing(world: &World) {
    let dirs = TempDir::new().unwrap();
    let source = dirs.path().join("source");
    let before = dirs.path().join("before");
    let after = dirs.path().join("after");

    world.create_sampled("source");
    world
        .export("source", &source, &["--include-task-logs"])
        .success();

    // The two states a killed import may leave, exported once for reference.
    prepare(world, "reference");
    world
        .export("reference", &before, &["--include-task-logs"])
        .success();
    let started = Instant::now();
    let status = import_command(world, "reference", &source)
        .status()
        .unwrap();
    let full = started.elapsed();
    assert!(status.success(), "the uninterrupted import succeeds");
    copy_tree(&before, &after);
    world
        .export("reference", &after, &["--include-task-logs"])
        .success();
    assert_ne!(tree(&before), tree(&after), "the import changes something");

    let mut fractions = Fractions::new();
    let (mut as_before, mut imported) = (0, 0);
    for round in 0..KILLS {
        let name = format!("destination-{round}");
        prepare(world, &name);
        // Moments spread over the whole run, start-up and key derivation included.
        let delay = full.mul_f64(fractions.next() * 1.1);
        let mut child = import_command(world, &name, &source).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let status = child.wait().unwrap();
        let state = if equals(world, &name, &before) {
            as_before += 1;
            "as before"
        } else if equals(world, &name, &after) {
            imported += 1;
            "fully imported"
        } else {
            panic!(
                "round {round}: killed after {delay:?} (import takes {full:?}, exit {status}), the destination is neither as it was nor fully imported"
            );
        };
        eprintln!("round {round}: killed after {delay:?} of {full:?}: {state}");
        // Whatever the moment, the destination still takes an import afterwards.
        if round == 0 {
            let status = import_command(world, &name, &source).status().unwrap();
            assert!(status.success(), "an import after a killed one succeeds");
            assert!(equals(world, &name, &after));
        }
    }
    eprintln!(
        "{KILLS} kills: {as_before} left the destination as it was, {imported} fully imported"
    );
}

both_backends!(killed_imports_leave_all_or_nothing);
