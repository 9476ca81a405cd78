//! The upgrade chain (SPEC 6.2, 6.6): every released export format has a committed fixture, and
//! each imports into an empty instance through the chain, whose export in the running format is
//! then compared with the fixture.
//!
//! Format 1 is the running format, so its fixture must come back byte for byte. When format 2
//! arrives, this test gains the v1 fixture's expected v2 export (a committed snapshot), and the
//! v1 → v2 step its own unit test in `cuttle-engine/src/import/upgrade.rs`.

use crate::common;

use std::path::{Path, PathBuf};

use common::{PASSWORD, World, copy_tree, stderr, tree};
use tempfile::TempDir;

/// The committed fixtures of released formats: (format version, directory).
fn fixtures() -> Vec<(u32, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    vec![(1, root.join("export-v1/small-seed-1"))]
}

/// The fixture as its format was released, where the sample it exports has changed since (the
/// fixture follows the sample, `export.rs`): a copy with the files of `as-released/` beside it put
/// back.
fn as_released(fixture: &Path) -> Option<TempDir> {
    let released = fixture.parent()?.join("as-released");
    if !released.is_dir() {
        return None;
    }
    let dir = TempDir::new().unwrap();
    copy_tree(fixture, dir.path());
    copy_tree(&released, dir.path());
    assert_ne!(
        tree(dir.path()),
        tree(fixture),
        "{} changes nothing: remove it",
        released.display()
    );
    Some(dir)
}

fn every_released_format_imports_through_the_chain(world: &World) {
    let mut copies = Vec::new();
    let mut every = Vec::new();
    for (version, fixture) in fixtures() {
        if let Some(copy) = as_released(&fixture) {
            every.push((
                version,
                format!("as-released-v{version}"),
                copy.path().to_owned(),
            ));
            copies.push(copy);
        }
        every.push((version, format!("from-v{version}"), fixture));
    }
    for (version, instance, fixture) in every {
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(fixture.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["formatVersion"], version, "{}", fixture.display());
        world.create_instance(&instance);
        world
            .cuttle()
            .env("CUTTLE_PASSWORD", PASSWORD)
            .args(["import", "--quiet", "--include-task-logs", "--instance"])
            .arg(&instance)
            .arg("--directory")
            .arg(&fixture)
            .assert()
            .success();
        // Exported again into a copy of the fixture (its salt reused): nothing changes.
        let again = TempDir::new().unwrap();
        copy_tree(&fixture, again.path());
        let out = world
            .export(&instance, again.path(), &["--include-task-logs"])
            .success();
        assert!(stderr(&out).contains("0 files written"), "{}", stderr(&out));
        assert_eq!(tree(again.path()), tree(&fixture));
    }
}

fn a_newer_format_is_refused_unless_asked(world: &World) {
    let (_, fixture) = fixtures().remove(0);
    let dir = TempDir::new().unwrap();
    copy_tree(&fixture, dir.path());
    let manifest_path = dir.path().join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    manifest["formatVersion"] = 99.into();
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    world.create_instance("b");
    let import = |extra: &[&str]| {
        world
            .cuttle()
            .env("CUTTLE_PASSWORD", PASSWORD)
            .args(["import", "--quiet", "--instance", "b", "--directory"])
            .arg(dir.path())
            .args(extra)
            .assert()
    };
    let refused = import(&[]).failure();
    let message = stderr(&refused);
    assert!(
        message.contains("format version 99") && message.contains("newer Cuttle"),
        "{message}"
    );
    assert!(world.list("b", "environments", None).is_empty());
    let forced = import(&["--ignore-version-check"]).success();
    assert!(
        stderr(&forced).contains("warning:") && stderr(&forced).contains("--ignore-version-check"),
        "{}",
        stderr(&forced)
    );
    assert!(!world.list("b", "environments", None).is_empty());
}

both_backends!(
    every_released_format_imports_through_the_chain,
    a_newer_format_is_refused_unless_asked
);
