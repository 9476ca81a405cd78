//! `cuttle instance`: create, list, show, master-key, delete; master keys and identities.

use crate::common;

use common::{World, stderr, stdout};
use serde_json::Value;

fn lifecycle(world: &World) {
    world.create_instance("staging");
    world.create_instance("production");

    let listed = stdout(&world.cuttle().args(["instance", "list"]).assert().success());
    let names: Vec<&str> = listed
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(names, ["production", "staging"]);

    let show: Value = serde_json::from_str(&stdout(
        &world
            .cuttle()
            .args(["instance", "show", "staging", "--format", "json"])
            .assert()
            .success(),
    ))
    .unwrap();
    let other: Value = serde_json::from_str(&stdout(
        &world
            .cuttle()
            .args(["instance", "show", "production", "--format", "json"])
            .assert()
            .success(),
    ))
    .unwrap();
    assert_eq!(show["name"], "staging");
    assert_eq!(
        show["backend"],
        if world.is_postgres() {
            "postgres"
        } else {
            "sqlite"
        }
    );
    assert_eq!(show["identity"].as_str().unwrap().len(), 32);
    assert_ne!(
        show["identity"], other["identity"],
        "identities are random per instance"
    );
    assert_eq!(show["domainVersion"], "1");
    assert!(show["schemaVersion"].as_i64().unwrap() >= 1);
    assert!(!show["productVersion"].as_str().unwrap().is_empty());

    // The same name twice is refused.
    let again = world
        .cuttle()
        .args(["instance", "create", "staging"])
        .assert()
        .failure()
        .code(1);
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );

    world
        .cuttle()
        .args(["instance", "delete", "staging"])
        .assert()
        .success();
    let listed = stdout(&world.cuttle().args(["instance", "list"]).assert().success());
    assert!(!listed.contains("staging"));
    let gone = world
        .cuttle()
        .args(["instance", "show", "staging"])
        .assert()
        .failure()
        .code(1);
    assert!(
        stderr(&gone).contains("no instance named"),
        "{}",
        stderr(&gone)
    );
}

fn master_key_file_and_line(world: &World) {
    world.create_instance("keys");
    let key_file = world.home().join("instances/keys/master.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the key file is private");
    }
    let printed = stdout(
        &world
            .cuttle()
            .args(["instance", "master-key", "keys"])
            .assert()
            .success(),
    );
    assert_eq!(printed.lines().count(), 1);
    assert_eq!(
        printed.trim(),
        std::fs::read_to_string(&key_file).unwrap().trim()
    );
    assert_eq!(printed.trim().len(), 44, "32 bytes in base64");

    // The key may come from the environment instead; a wrong one is refused, clearly.
    let other = stdout(&{
        world.create_instance("other");
        world
            .cuttle()
            .args(["instance", "master-key", "other"])
            .assert()
            .success()
    });
    world
        .cuttle()
        .env("CUTTLE_MASTER_KEY", printed.trim())
        .args(["instance", "show", "keys"])
        .assert()
        .success();
    let wrong = world
        .cuttle()
        .env("CUTTLE_MASTER_KEY", other.trim())
        .args(["instance", "show", "keys"])
        .assert()
        .failure()
        .code(1);
    assert!(
        stderr(&wrong).contains("is not the master key of instance"),
        "{}",
        stderr(&wrong)
    );
    assert!(
        !stderr(&wrong).contains(other.trim()),
        "a key is never printed in an error"
    );

    // A key file placed elsewhere.
    let outside = tempfile::TempDir::new().unwrap();
    let path = outside.path().join("placed.key");
    let mut command = world.cuttle();
    command
        .args(["instance", "create", "placed", "--master-key-file"])
        .arg(&path);
    if let Some(url) = world.new_database() {
        command.args(["--database", &url]);
    }
    command.assert().success();
    assert!(path.exists());
    world
        .cuttle()
        .args(["instance", "show", "placed"])
        .assert()
        .success();
}

fn bad_instance_names_and_urls(world: &World) {
    let bad = world
        .cuttle()
        .args(["instance", "create", "../escape"])
        .assert()
        .failure()
        .code(1);
    assert!(stderr(&bad).contains("not a valid instance name"));
    let bad = world
        .cuttle()
        .args([
            "instance",
            "create",
            "x",
            "--database",
            "mysql://u:hunter2@h/db",
        ])
        .assert()
        .failure()
        .code(1);
    assert!(stderr(&bad).contains("not a PostgreSQL URL"));
    assert!(
        !stderr(&bad).contains("hunter2"),
        "a password in a URL is never printed"
    );
    assert!(
        stdout(&world.cuttle().args(["instance", "list"]).assert().success()).is_empty(),
        "nothing half-made is left"
    );
}

fn unreachable_postgres_is_a_clear_error(world: &World) {
    let out = world
        .cuttle()
        .args([
            "instance",
            "create",
            "down",
            "--database",
            "postgres://cuttle:hunter2@127.0.0.1:1/nothing?connect_timeout=2",
        ])
        .assert()
        .failure()
        .code(1);
    assert!(!stderr(&out).contains("hunter2"), "{}", stderr(&out));
    assert!(
        !world.home().join("instances/down").exists(),
        "nothing half-made is left"
    );
}

both_backends!(
    lifecycle,
    master_key_file_and_line,
    bad_instance_names_and_urls,
    unreachable_postgres_is_a_clear_error
);
