//! `cuttle export` (SPEC 5): the committed fixture of the small sample, determinism, no
//! plaintext, portable file names, mirroring, passwords, symbolic links, consistency.

use crate::common;

use std::path::{Path, PathBuf};

use common::{World, copy_tree, stderr, tree};
use tempfile::TempDir;

/// The export of `cuttle sample --size small --seed 1`, with task logs, under
/// [`common::PASSWORD`]: format version 1, committed. `CUTTLE_UPDATE_FIXTURES=1` rewrites it
/// when the sample changes (a format change must add a new fixture and an upgrade step instead);
/// the files as format 1 was released stay under `export-v1/as-released/`, and `upgrade.rs`
/// imports them too.
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/export-v1/small-seed-1")
}

fn sampled(world: &World, instance: &str, seed: &str) {
    world.create_instance(instance);
    world
        .cuttle()
        .args([
            "sample",
            "--instance",
            instance,
            "--size",
            "small",
            "--seed",
            seed,
        ])
        .assert()
        .success();
}

fn the_small_sample_exports_as_the_committed_fixture(world: &World) {
    sampled(world, "a", "1");
    let dir = TempDir::new().unwrap();
    let update =
        std::env::var("CUTTLE_UPDATE_FIXTURES").is_ok_and(|v| v == "1") && !world.is_postgres();
    // The fixture's manifest brings its salt: the export must then match byte for byte (and an
    // update changes only what the sample changed).
    std::fs::copy(
        fixture().join("manifest.json"),
        dir.path().join("manifest.json"),
    )
    .unwrap();
    world
        .export("a", dir.path(), &["--include-task-logs"])
        .success();
    if update {
        let _ = std::fs::remove_dir_all(fixture());
        copy_tree(dir.path(), &fixture());
    }
    let expected = tree(&fixture());
    let actual = tree(dir.path());
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    let extra: Vec<_> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    let changed: Vec<_> = expected
        .keys()
        .filter(|k| actual.get(*k).is_some_and(|a| a != &expected[*k]))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && changed.is_empty(),
        "missing {missing:?}\nextra {extra:?}\nchanged {changed:?}"
    );

    // What the fixture shows: every collection, scripts as files, task logs as text.
    for top in [
        "manifest.json",
        "environments/",
        "machines/",
        "accounts/",
        "step-templates/",
        "projects/",
        "teams/",
        "users/",
    ] {
        assert!(actual.keys().any(|k| k.starts_with(top)), "{top}");
    }
    assert!(
        actual
            .keys()
            .any(|k| k.contains("/scripts/") && k.ends_with(".sh"))
    );
    assert!(actual.keys().any(|k| k.contains(".scripts/")));
    assert!(
        actual
            .keys()
            .any(|k| k.contains("/task-logs/") && k.ends_with(".log"))
    );
    assert!(
        actual
            .keys()
            .any(|k| k.contains("/releases/") && k.contains("/deployments/"))
    );
    for (path, bytes) in &actual {
        if path.ends_with(".json") {
            let text = std::str::from_utf8(bytes).unwrap();
            assert!(
                text.ends_with("}\n") && !text.contains('\r') && text.contains("\n  \""),
                "{path}: two-space indent, LF, trailing newline"
            );
        }
    }
}

fn exports_are_deterministic(world: &World) {
    sampled(world, "a", "1");
    let (one, two) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    world.export("a", one.path(), &[]).success();
    world.export("a", two.path(), &[]).success();
    assert_eq!(
        tree(one.path()),
        tree(two.path()),
        "twice into fresh directories"
    );

    let before = tree(one.path());
    let again = world.export("a", one.path(), &[]).success();
    assert!(
        stderr(&again).contains(" 0 files written"),
        "{}",
        stderr(&again)
    );
    assert_eq!(tree(one.path()), before, "into the previous export");

    // Another instance holding the same configuration, into a copy of the first one's export.
    sampled(world, "b", "1");
    let copy = TempDir::new().unwrap();
    copy_tree(one.path(), copy.path());
    world.export("b", copy.path(), &[]).success();
    assert_eq!(
        tree(copy.path()),
        before,
        "another instance with the same data changes nothing"
    );
}

fn no_plaintext_and_portable_file_names(world: &World) {
    sampled(world, "a", "2");
    let dir = TempDir::new().unwrap();
    world
        .export("a", dir.path(), &["--include-task-logs"])
        .success();
    let files = tree(dir.path());
    let mut folded = std::collections::HashSet::new();
    for (path, bytes) in &files {
        assert!(
            !bytes.windows(14).any(|w| w == b"sample-secret-"),
            "plaintext secret in {path}"
        );
        for part in path.split('/') {
            assert!(!part.is_empty() && part.len() <= 100, "{path}");
            assert!(
                path.len() <= 200,
                "{path} is too long for some file systems"
            );
            assert!(
                part.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b)),
                "{path}"
            );
            assert!(!part.ends_with('.') && !part.starts_with('.'), "{path}");
            let base = part.split('.').next().unwrap();
            assert!(
                !["con", "prn", "aux", "nul", "com1", "lpt1"].contains(&base),
                "{path}"
            );
        }
        assert!(
            folded.insert(path.to_lowercase()),
            "{path} collides on a case-insensitive file system"
        );
    }
    // The sample's hostile names are there, each in a file of its own.
    let projects: Vec<_> = files
        .keys()
        .filter(|k| k.ends_with("/project.json"))
        .collect();
    for name in ["CON", "Payments/API", "Intranet."] {
        let found = projects.iter().any(|p| {
            String::from_utf8_lossy(&files[*p]).contains(&format!(
                "\"name\": {}",
                serde_json::to_string(name).unwrap()
            ))
        });
        assert!(found, "{name}");
    }
    // Sensitive values are there, encrypted.
    assert!(
        files
            .values()
            .any(|b| String::from_utf8_lossy(b).contains("\"encrypted\": \""))
    );
}

fn mirroring_removes_only_what_the_format_owns(world: &World) {
    sampled(world, "a", "1");
    let dir = TempDir::new().unwrap();
    world.export("a", dir.path(), &[]).success();
    std::fs::write(dir.path().join("README.md"), "ours").unwrap();
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    std::fs::write(dir.path().join(".git/config"), "ours").unwrap();
    std::fs::write(dir.path().join("environments/notes.txt"), "ours").unwrap();

    // A stale document file, as if its document had been deleted since.
    let stale = dir.path().join("environments/deleted-since.json");
    std::fs::write(&stale, "{}\n").unwrap();
    world.export("a", dir.path(), &["--no-prune"]).success();
    assert!(stale.exists(), "--no-prune removes nothing");
    world.export("a", dir.path(), &[]).success();
    assert!(
        !stale.exists(),
        "mirroring removes what no document matches"
    );
    for foreign in ["README.md", ".git/config", "environments/notes.txt"] {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(foreign)).unwrap(),
            "ours",
            "{foreign} is not the format's"
        );
    }

    // A document deleted from the instance disappears from the next export, with its folder.
    let project = world
        .list("a", "projects", None)
        .into_iter()
        .find(|p| p == "CON")
        .unwrap();
    let triggers = world.list("a", "triggers", Some(&project));
    for trigger in &triggers {
        world
            .cuttle()
            .args([
                "doc",
                "delete",
                "triggers",
                trigger,
                "--project",
                &project,
                "--instance",
                "a",
            ])
            .assert()
            .success();
    }
    let folder = dir
        .path()
        .join("projects")
        .join(cuttle_engine_stem(&project))
        .join("triggers");
    assert!(folder.exists());
    world.export("a", dir.path(), &[]).success();
    assert!(!folder.exists(), "an emptied format folder goes too");

    // Format folders that hold nothing but format folders left empty go, the deepest first;
    // a folder holding anything of the person's stays, with the folders it stands in.
    let ghost = dir.path().join("projects/ghost_aaaaaaaaaa");
    std::fs::create_dir_all(ghost.join("releases/1-0_bbbbbbbbbb/task-logs")).unwrap();
    std::fs::create_dir_all(ghost.join("triggers")).unwrap();
    let kept = dir
        .path()
        .join("projects/kept_cccccccccc/releases/1-0_dddddddddd");
    std::fs::create_dir_all(kept.join("task-logs")).unwrap();
    std::fs::write(kept.join("notes.txt"), "ours").unwrap();
    world.export("a", dir.path(), &[]).success();
    assert!(!ghost.exists(), "a tree of empty format folders goes");
    assert!(!kept.join("task-logs").exists());
    assert_eq!(
        std::fs::read_to_string(kept.join("notes.txt")).unwrap(),
        "ours"
    );

    // --clean starts from nothing the format owns.
    std::fs::write(&stale, "{}\n").unwrap();
    world.export("a", dir.path(), &["--clean"]).success();
    assert!(!stale.exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("README.md")).unwrap(),
        "ours"
    );
}

/// The folder stem of a name, as the format makes it (checked against the tree, not assumed).
fn cuttle_engine_stem(name: &str) -> String {
    cuttle_engine::format::stem(name)
}

fn passwords_and_salts(world: &World) {
    sampled(world, "a", "1");
    let dir = TempDir::new().unwrap();
    world.export("a", dir.path(), &[]).success();
    let before = tree(dir.path());

    let wrong = world
        .cuttle()
        .env("CUTTLE_PASSWORD", "not the password")
        .args(["export", "--instance", "a", "--directory"])
        .arg(dir.path())
        .assert()
        .failure()
        .code(1);
    assert!(stderr(&wrong).contains("--rekey"), "{}", stderr(&wrong));
    assert!(!stderr(&wrong).contains("not the password"));
    assert_eq!(tree(dir.path()), before, "a wrong password changes nothing");

    let none = world
        .cuttle()
        .args(["export", "--instance", "a", "--directory"])
        .arg(dir.path())
        .assert()
        .failure()
        .code(1);
    assert!(
        stderr(&none).contains("--password-file"),
        "{}",
        stderr(&none)
    );

    let file = dir.path().join("../pw.txt");
    std::fs::write(&file, format!("{}\n", common::PASSWORD)).unwrap();
    world
        .cuttle()
        .args(["export", "--instance", "a", "--directory"])
        .arg(dir.path())
        .arg("--password-file")
        .arg(&file)
        .assert()
        .success();
    assert_eq!(tree(dir.path()), before, "the same password from a file");

    world
        .cuttle()
        .env("NEW_PASSWORD", "another password")
        .args([
            "export",
            "--instance",
            "a",
            "--rekey",
            "--password-env",
            "NEW_PASSWORD",
            "--directory",
        ])
        .arg(dir.path())
        .assert()
        .success();
    let after = tree(dir.path());
    let encrypted = |t: &std::collections::BTreeMap<String, Vec<u8>>| -> Vec<String> {
        t.values()
            .flat_map(|b| {
                String::from_utf8_lossy(b)
                    .lines()
                    .filter(|l| l.contains("\"encrypted\""))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let (old, new) = (encrypted(&before), encrypted(&after));
    assert_eq!(old.len(), new.len());
    assert!(
        old.iter().zip(&new).all(|(a, b)| a != b),
        "--rekey changes every value"
    );
    assert_ne!(before["manifest.json"], after["manifest.json"]);
}

#[cfg(unix)]
fn symbolic_links_are_never_followed(world: &World) {
    sampled(world, "a", "1");
    let outside = TempDir::new().unwrap();
    let dir = TempDir::new().unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("environments")).unwrap();
    let out = world.export("a", dir.path(), &[]).failure().code(1);
    assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
    assert!(
        tree(outside.path()).is_empty(),
        "nothing written through the link"
    );

    let dir = TempDir::new().unwrap();
    world.export("a", dir.path(), &[]).success();
    let target = outside.path().join("victim.json");
    std::fs::write(&target, "theirs").unwrap();
    let file = tree(dir.path())
        .keys()
        .find(|k| k.starts_with("environments/"))
        .unwrap()
        .clone();
    std::fs::remove_file(dir.path().join(&file)).unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join(&file)).unwrap();
    let refused = || {
        let out = world.export("a", dir.path(), &[]).failure().code(1);
        let message = stderr(&out);
        assert!(message.contains("not a regular file"), "{message}");
    };
    refused();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "theirs");
    // A pipe (never waited on) or a folder where the earlier export has a file: refused alike.
    std::fs::remove_file(dir.path().join(&file)).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(dir.path().join(&file))
        .status()
        .unwrap();
    assert!(made.success());
    refused();
    std::fs::remove_file(dir.path().join(&file)).unwrap();
    std::fs::create_dir(dir.path().join(&file)).unwrap();
    refused();

    let link = TempDir::new().unwrap();
    std::os::unix::fs::symlink(outside.path(), link.path().join("export")).unwrap();
    world
        .export("a", &link.path().join("export"), &[])
        .failure()
        .code(1);
}

#[cfg(not(unix))]
fn symbolic_links_are_never_followed(_: &World) {}

fn options_shape_the_tree(world: &World) {
    sampled(world, "a", "1");
    let dir = TempDir::new().unwrap();
    world
        .export(
            "a",
            dir.path(),
            &["--inline-scripts", "inline", "--ignore-history"],
        )
        .success();
    let files = tree(dir.path());
    assert!(
        !files
            .keys()
            .any(|k| k.contains("/scripts/") || k.contains(".scripts/")),
        "scripts stay inline"
    );
    assert!(
        files
            .iter()
            .any(|(k, b)| k.ends_with("deployment-process.json")
                && String::from_utf8_lossy(b).contains("\"body\": "))
    );
    assert!(
        !files.keys().any(|k| k.contains("/releases/")),
        "no history"
    );
    assert!(String::from_utf8_lossy(&files["manifest.json"]).contains("\"history\": false"));

    let usage = world
        .export(
            "a",
            dir.path(),
            &["--ignore-history", "--include-task-logs"],
        )
        .failure()
        .code(2);
    assert!(
        stderr(&usage).contains("cannot be used with"),
        "{}",
        stderr(&usage)
    );
}

fn an_export_reads_one_snapshot_while_writers_work(world: &World) {
    // Two states of one instance, each written by one transaction: the small sample of seed 1
    // over seed 2's, and the other way round. An export taken while a writer flips between them
    // must show exactly one of them.
    world.create_instance("a");
    let sample = |seed: &str| {
        world
            .cuttle()
            .args(["sample", "--instance", "a", "--overwrite", "--seed", seed])
            .assert()
            .success()
    };
    sample("1");
    sample("2");
    sample("1");
    let base = TempDir::new().unwrap();
    world.export("a", base.path(), &[]).success();
    let state_one = tree(base.path());
    sample("2");
    let copy = TempDir::new().unwrap();
    copy_tree(base.path(), copy.path());
    world.export("a", copy.path(), &[]).success();
    let state_two = tree(copy.path());
    assert_ne!(state_one, state_two);

    let home = world.home().to_owned();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut flips = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let seed = if flips % 2 == 0 { "1" } else { "2" };
                let status = std::process::Command::new(assert_cmd::cargo::cargo_bin("cuttle"))
                    .env("CUTTLE_HOME", &home)
                    .args(["sample", "--instance", "a", "--overwrite", "--seed", seed])
                    .output()
                    .unwrap();
                assert!(
                    status.status.success(),
                    "{}",
                    String::from_utf8_lossy(&status.stderr)
                );
                flips += 1;
            }
            flips
        })
    };
    for _ in 0..6 {
        let dir = TempDir::new().unwrap();
        copy_tree(base.path(), dir.path());
        world.export("a", dir.path(), &[]).success();
        let seen = tree(dir.path());
        assert!(
            seen == state_one || seen == state_two,
            "an export mixed two states"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0);
}

fn partial_exports_keep_to_their_directory(world: &World) {
    sampled(world, "a", "1");
    let partial = |dir: &Path, args: &[&str]| {
        world
            .cuttle()
            .env("CUTTLE_PASSWORD", common::PASSWORD)
            .args(["partial-export", "--instance", "a", "--directory"])
            .arg(dir)
            .args(args)
            .assert()
    };
    let dir = TempDir::new().unwrap();
    partial(dir.path(), &["--project", "Order Service"]).success();
    let first = tree(dir.path());
    assert!(String::from_utf8_lossy(&first["manifest.json"]).contains("\"kind\": \"partial\""));
    let projects: Vec<_> = first
        .keys()
        .filter(|k| k.ends_with("/project.json"))
        .collect();
    assert_eq!(projects.len(), 1, "{projects:?}");

    // The same selection again: mirrored, nothing changes.
    let again = partial(dir.path(), &["--project", "Order Service"]).success();
    assert!(
        stderr(&again).contains(" 0 files written"),
        "{}",
        stderr(&again)
    );
    assert_eq!(tree(dir.path()), first);

    // Another selection is refused, unless --clean.
    let other = partial(dir.path(), &["--project", "CON"]).failure().code(1);
    assert!(
        stderr(&other).contains("another selection"),
        "{}",
        stderr(&other)
    );
    assert_eq!(tree(dir.path()), first);
    partial(dir.path(), &["--project", "CON", "--clean"]).success();
    assert!(
        tree(dir.path())
            .keys()
            .filter(|k| k.ends_with("/project.json"))
            .count()
            == 1
    );

    // An instance export and a partial one do not mix.
    let whole = TempDir::new().unwrap();
    world.export("a", whole.path(), &[]).success();
    let refused = partial(whole.path(), &["--project", "CON"])
        .failure()
        .code(1);
    assert!(
        stderr(&refused).contains("an instance export"),
        "{}",
        stderr(&refused)
    );
    let refused = world.export("a", dir.path(), &[]).failure().code(1);
    assert!(
        stderr(&refused).contains("partial export"),
        "{}",
        stderr(&refused)
    );

    // A directory that holds files of an export but no manifest (files the format does not own,
    // such as a README, do not count: see resources.rs).
    let busy = TempDir::new().unwrap();
    std::fs::create_dir(busy.path().join("environments")).unwrap();
    std::fs::write(busy.path().join("environments/old.json"), "{}").unwrap();
    let refused = partial(busy.path(), &["--project", "CON"])
        .failure()
        .code(1);
    assert!(
        stderr(&refused).contains("holds files of an export"),
        "{}",
        stderr(&refused)
    );

    let unknown = partial(TempDir::new().unwrap().path(), &["--project", "Nope"])
        .failure()
        .code(1);
    assert!(
        stderr(&unknown).contains("no project named \"Nope\""),
        "{}",
        stderr(&unknown)
    );
    partial(TempDir::new().unwrap().path(), &[])
        .failure()
        .code(2);

    // A project group brings its projects.
    let group = TempDir::new().unwrap();
    let order = world.get("a", "projects", Some("Order Service"), None);
    partial(
        group.path(),
        &["--project-group", order["projectGroup"].as_str().unwrap()],
    )
    .success();
    let files = tree(group.path());
    assert!(files.keys().any(|k| k.starts_with(&format!(
        "projects/{}/",
        cuttle_engine_stem("Order Service")
    ))));
}

/// The known failures of other tools, each in a small instance built by hand.
fn the_closure_follows_history_properties_and_environments(world: &World) {
    use serde_json::json;
    world.create_instance("a");
    let put = |collection: &str, doc: serde_json::Value| world.put("a", collection, &doc).success();
    for env in ["Test", "Production", "Far away", "Unrelated"] {
        put("environments", json!({"name": env}));
    }
    put("project-groups", json!({"name": "Apps"}));
    put(
        "lifecycles",
        json!({"name": "Default", "phases": [{"name": "All", "optionalDeploymentTargets": ["Production", "Test"]}]}),
    );
    put(
        "library-variable-sets",
        json!({"name": "Current", "variables": []}),
    );
    put(
        "library-variable-sets",
        json!({"name": "Only in history", "variables": []}),
    );
    put(
        "library-variable-sets",
        json!({"name": "Not used", "variables": []}),
    );
    put(
        "step-templates",
        json!({"name": "Smoke test", "actionType": "Cuttle.Script"}),
    );
    put(
        "accounts",
        json!({"name": "Cloud", "credentials": {"kind": "Token", "token": {"secret": "sample-secret-t"}}}),
    );
    put(
        "certificates",
        json!({"name": "Tls", "certificateData": {"secret": "sample-secret-c"}}),
    );
    put("feeds", json!({"name": "Packages", "feedType": "NuGet"}));
    put(
        "projects",
        json!({"name": "Web", "projectGroup": "Apps", "lifecycle": "Default", "includedLibraryVariableSets": ["Current"]}),
    );
    put(
        "projects",
        json!({"name": "Other", "projectGroup": "Apps", "lifecycle": "Default"}),
    );
    put("channels", json!({"project": "Web", "name": "Default"}));
    put(
        "deployment-processes",
        json!({"project": "Web", "steps": [{"name": "Deploy", "targetRoles": ["web"], "actions": [
        {"name": "Deploy", "actionType": "Cuttle.Script", "stepTemplate": "Smoke test",
         "packages": [{"packageId": "web", "feed": "Packages"}],
         "properties": {"Cuttle.Action.Account": "Cloud"}}]}]}),
    );
    put(
        "project-variables",
        json!({"project": "Web", "variables": [{"name": "Cert", "type": "Certificate", "value": "Tls", "scope": {"environments": ["Test"]}}]}),
    );
    put(
        "releases",
        json!({"project": "Web", "version": "1.0.0", "channel": "Default", "assembled": "2026-01-01T00:00:00.000Z", "libraryVariableSets": ["Only in history"]}),
    );
    // A target with the process's role in an exported environment, also in one nothing else names.
    put(
        "machines",
        json!({"name": "web-01", "environments": ["Production", "Far away"], "roles": ["web"], "endpoint": {"kind": "CloudRegion"}}),
    );
    put(
        "machines",
        json!({"name": "db-01", "environments": ["Production"], "roles": ["db"], "endpoint": {"kind": "CloudRegion"}}),
    );
    put(
        "machines",
        json!({"name": "web-99", "environments": ["Unrelated"], "roles": ["web"], "endpoint": {"kind": "CloudRegion"}}),
    );
    put(
        "tenants",
        json!({"name": "Acme", "projects": [
        {"project": "Web", "environments": ["Production"]},
        {"project": "Other", "environments": ["Unrelated"]}],
        "variables": [{"name": "Key", "project": "Other", "value": "x"}, {"name": "Key", "project": "Web", "value": "y"}]}),
    );

    let dir = TempDir::new().unwrap();
    world
        .cuttle()
        .env("CUTTLE_PASSWORD", common::PASSWORD)
        .args([
            "partial-export",
            "--instance",
            "a",
            "--project",
            "Web",
            "--directory",
        ])
        .arg(dir.path())
        .assert()
        .success();
    let files = tree(dir.path());
    let has = |collection: &str, name: &str| {
        files.contains_key(&format!("{collection}/{}.json", cuttle_engine_stem(name)))
    };
    for (collection, name) in [
        ("library-variable-sets", "Current"),
        ("library-variable-sets", "Only in history"),
        ("step-templates", "Smoke test"),
        ("accounts", "Cloud"),
        ("certificates", "Tls"),
        ("feeds", "Packages"),
        ("machines", "web-01"),
        ("environments", "Far away"),
        ("tenants", "Acme"),
        ("lifecycles", "Default"),
    ] {
        assert!(
            has(collection, name),
            "{collection} {name:?} belongs to the closure"
        );
    }
    for (collection, name) in [
        ("library-variable-sets", "Not used"),
        ("machines", "db-01"),
        ("machines", "web-99"),
        ("environments", "Unrelated"),
    ] {
        assert!(!has(collection, name), "{collection} {name:?} does not");
    }
    assert!(
        !files
            .keys()
            .any(|k| k.starts_with(&format!("projects/{}/", cuttle_engine_stem("Other"))))
    );
    let tenant: serde_json::Value =
        serde_json::from_slice(&files[&format!("tenants/{}.json", cuttle_engine_stem("Acme"))])
            .unwrap();
    assert_eq!(
        tenant["projects"],
        json!([{"project": "Web", "environments": ["Production"]}])
    );
    assert_eq!(tenant["variables"].as_array().unwrap().len(), 1);
    assert_eq!(tenant["variables"][0]["project"], "Web");
}

// Again, every document that has a large array handled an element at a time: exported the same.

fn large_the_closure_follows_history_properties_and_environments(world: &World) {
    world.with_large_documents(the_closure_follows_history_properties_and_environments);
}

fn large_partial_exports_keep_to_their_directory(world: &World) {
    world.with_large_documents(partial_exports_keep_to_their_directory);
}

fn large_the_small_sample_exports_as_the_committed_fixture(world: &World) {
    world.with_large_documents(the_small_sample_exports_as_the_committed_fixture);
}

fn large_exports_are_deterministic(world: &World) {
    world.with_large_documents(exports_are_deterministic);
}

fn large_no_plaintext_and_portable_file_names(world: &World) {
    world.with_large_documents(no_plaintext_and_portable_file_names);
}

fn large_options_shape_the_tree(world: &World) {
    world.with_large_documents(options_shape_the_tree);
}

both_backends!(
    the_closure_follows_history_properties_and_environments,
    partial_exports_keep_to_their_directory,
    the_small_sample_exports_as_the_committed_fixture,
    exports_are_deterministic,
    no_plaintext_and_portable_file_names,
    mirroring_removes_only_what_the_format_owns,
    passwords_and_salts,
    symbolic_links_are_never_followed,
    options_shape_the_tree,
    an_export_reads_one_snapshot_while_writers_work,
    large_the_closure_follows_history_properties_and_environments,
    large_partial_exports_keep_to_their_directory,
    large_the_small_sample_exports_as_the_committed_fixture,
    large_exports_are_deterministic,
    large_no_plaintext_and_portable_file_names,
    large_options_shape_the_tree,
);
