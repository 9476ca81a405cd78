//! Resources and files (issue 11, items 7, 8, 9, 13, 14 and 15): what `cuttle` reads is bounded
//! and must be a file; what it keeps is private whatever the umask; errors about files say which
//! file, why and what to do; a closed output ends a command quietly; a populated instance is not
//! sampled over; a git clone takes a partial export. Every test runs the real binary, on SQLite
//! and on PostgreSQL.

#![cfg(unix)]

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::{World, stderr, stdout};
use tempfile::TempDir;

/// Long enough for any command here; a command that hangs (reading a pipe nobody writes to)
/// fails the test instead.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Checks that a run was refused: exit status 1, and `says` on its standard error (printed whole
/// if not). Returns that standard error, for what else the test checks in it.
#[track_caller]
fn refused(run: assert_cmd::assert::Assert, says: &str) -> String {
    let message = stderr(&run.failure().code(1));
    assert!(message.contains(says), "{message}");
    message
}

/// A path quoted for `sh`.
fn quoted(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// `sh -c script` as a person would run it: the test-built `cuttle` on the PATH, this world's
/// `CUTTLE_HOME`, nothing inherited that changes Cuttle's behaviour, and the memory capped
/// (`ulimit -v`, 1 GB), so that a read without end fails the test instead of taking the
/// machine's memory.
fn sh(world: &World, script: &str) -> assert_cmd::Command {
    let bin = assert_cmd::cargo::cargo_bin("cuttle");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = assert_cmd::Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -v 1000000; {script}"))
        .env("PATH", path)
        .env("CUTTLE_HOME", world.home())
        .env_remove("CUTTLE_MASTER_KEY")
        .env_remove("CUTTLE_PASSWORD")
        .env_remove("PGPASSWORD")
        .timeout(TIMEOUT);
    command
}

/// Makes a named pipe (FIFO) at `path`.
fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Writes `bytes` into the FIFO at `path` once a reader opens it, from another thread.
fn feed(path: &Path, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
    let path = path.to_owned();
    std::thread::spawn(move || {
        use std::io::Write;
        let mut fifo = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let _ = fifo.write_all(&bytes);
    })
}

/// The registration of instance `name`.
fn registration(world: &World, name: &str) -> std::path::PathBuf {
    world
        .home()
        .join("instances")
        .join(name)
        .join("instance.json")
}

/// The key file of instance `name` (under `CUTTLE_HOME`).
fn key_file(world: &World, name: &str) -> std::path::PathBuf {
    world.home().join("instances").join(name).join("master.key")
}

// ---------------------------------------------------------------------------------------------
// Item 8: every file read is bounded, and must be a file.

/// What `--password-file` is refused as: devices that never end, a folder, a file far larger
/// than a password.
fn not_passwords(scratch: &Path) -> Vec<(std::path::PathBuf, &'static str)> {
    let big = scratch.join("big-password");
    std::fs::write(&big, "x".repeat(1 << 20)).unwrap();
    vec![
        ("/dev/zero".into(), "is a device"),
        ("/dev/urandom".into(), "is a device"),
        (scratch.to_owned(), "is a directory"),
        (big, "is larger than 64 KiB"),
    ]
}

fn a_password_file_is_bounded_and_must_be_a_file(world: &World) {
    world.create_sampled("a");
    let scratch = TempDir::new().unwrap();
    let export = scratch.path().join("export");
    world.export("a", &export, &[]).success();
    world.create_instance("b");
    let before = world.snapshot("b");
    for (file, says) in not_passwords(scratch.path()) {
        let fresh = scratch.path().join("fresh");
        let message = refused(
            sh(
                world,
                &format!(
                    "exec cuttle export --instance a --directory {} --password-file {}",
                    quoted(&fresh),
                    quoted(&file)
                ),
            )
            .assert(),
            says,
        );
        assert!(
            message.contains(&format!("the password file {}", file.display())),
            "{message}"
        );
        assert!(!fresh.exists(), "an export was started");
        let message = refused(
            sh(
                world,
                &format!(
                    "exec cuttle import --instance b --directory {} --password-file {}",
                    quoted(&export),
                    quoted(&file)
                ),
            )
            .assert(),
            says,
        );
        assert!(!message.contains("panicked"), "{message}");
    }
    assert_eq!(world.snapshot("b"), before);

    // A pipe is a password file too (`--password-file <(pass show cuttle)`); a named pipe that
    // nobody writes to reads as empty, instead of waiting for ever.
    let fifo = scratch.path().join("password-fifo");
    mkfifo(&fifo);
    refused(
        sh(
            world,
            &format!(
                "exec cuttle import --instance b --directory {} --password-file {} --dry-run",
                quoted(&export),
                quoted(&fifo)
            ),
        )
        .assert(),
        &format!("the password file {} is empty", fifo.display()),
    );
    let writer = feed(&fifo, format!("{}\n", common::PASSWORD).into_bytes());
    std::thread::sleep(Duration::from_millis(100));
    sh(
        world,
        &format!(
            "exec cuttle import --instance b --directory {} --password-file {} --quiet",
            quoted(&export),
            quoted(&fifo)
        ),
    )
    .assert()
    .success();
    writer.join().unwrap();
    assert_eq!(
        world.list("b", "projects", None),
        world.list("a", "projects", None)
    );
}

fn a_master_key_file_is_bounded_and_must_be_a_file(world: &World) {
    world.create_sampled("a");
    let scratch = TempDir::new().unwrap();
    let backup = scratch.path().join("a.backup");
    world
        .cuttle()
        .args(["instance", "backup", "a", "--file"])
        .arg(&backup)
        .assert()
        .success();
    world.create_instance("b");
    let before = world.snapshot("b");
    let big = scratch.path().join("big.key");
    std::fs::write(&big, "A".repeat(1 << 20)).unwrap();
    for (file, says) in [
        (Path::new("/dev/zero"), "is a device"),
        (Path::new("/dev/urandom"), "is a device"),
        (scratch.path(), "is a directory"),
        (big.as_path(), "is larger than 4 KiB"),
    ] {
        let message = refused(
            sh(
                world,
                &format!(
                    "exec cuttle import --instance b --backup {} --master-key-file {}",
                    quoted(&backup),
                    quoted(file)
                ),
            )
            .assert(),
            says,
        );
        assert!(
            message.contains(&format!("the master key file {}", file.display())),
            "{message}"
        );
    }
    assert_eq!(world.snapshot("b"), before);

    // The key through a pipe, as `--master-key-file <(vault read …)` gives it.
    let fifo = scratch.path().join("key-fifo");
    mkfifo(&fifo);
    let key = std::fs::read(key_file(world, "a")).unwrap();
    let writer = feed(&fifo, key.clone());
    std::thread::sleep(Duration::from_millis(100));
    sh(
        world,
        &format!(
            "exec cuttle import --instance b --backup {} --master-key-file {} --quiet",
            quoted(&backup),
            quoted(&fifo)
        ),
    )
    .assert()
    .success();
    writer.join().unwrap();
    assert_eq!(world.snapshot("b"), world.snapshot("a"));

    // An instance's own key file is a regular file of Cuttle's: a pipe or a huge file in its
    // place is refused, naming it.
    let own = key_file(world, "a");
    let list = || {
        world
            .cuttle()
            .args(["doc", "list", "projects", "--instance", "a"])
            .timeout(TIMEOUT)
            .assert()
    };
    std::fs::write(&own, "A".repeat(1 << 20)).unwrap();
    refused(
        list(),
        &format!("the master key file {} is larger than 4 KiB", own.display()),
    );
    std::fs::remove_file(&own).unwrap();
    mkfifo(&own);
    refused(
        list(),
        &format!("the master key file {} is a pipe (FIFO)", own.display()),
    );
    std::fs::remove_file(&own).unwrap();
    std::fs::write(&own, key).unwrap();
    world
        .cuttle()
        .args(["doc", "list", "projects", "--instance", "a"])
        .assert()
        .success();
}

fn a_document_input_is_bounded(world: &World) {
    world.create_instance("a");
    let scratch = TempDir::new().unwrap();
    // Valid JSON, one environment, padded with white space to more than an export file may hold
    // (the reader's 64 MiB).
    let mut huge = br#"{"name": "Huge"}"#.to_vec();
    huge.resize(65 << 20, b' ');
    let file = scratch.path().join("huge.json");
    std::fs::write(&file, &huge).unwrap();
    refused(
        world
            .cuttle()
            .args(["doc", "put", "environments", "--instance", "a", "--file"])
            .arg(&file)
            .assert(),
        &format!("the document file {} is larger than 64 MiB", file.display()),
    );
    refused(
        world
            .cuttle()
            .args([
                "doc",
                "put",
                "environments",
                "--instance",
                "a",
                "--file",
                "-",
            ])
            .write_stdin(huge)
            .assert(),
        "standard input is larger than 64 MiB",
    );
    for (file, says) in [
        (Path::new("/dev/zero"), "is a device"),
        (scratch.path(), "is a directory"),
    ] {
        refused(
            sh(
                world,
                &format!(
                    "exec cuttle doc put environments --instance a --file {}",
                    quoted(file)
                ),
            )
            .assert(),
            says,
        );
    }
    assert!(world.list("a", "environments", None).is_empty());

    // Standard input that never ends is cut off at the limit.
    refused(
        sh(
            world,
            "exec cuttle doc put environments --instance a --file - < /dev/zero",
        )
        .assert(),
        "standard input is larger than 64 MiB",
    );

    // A pipe in place of a file: `doc put --file <(jq … )`.
    let fifo = scratch.path().join("doc-fifo");
    mkfifo(&fifo);
    let writer = feed(&fifo, br#"{"name": "Piped"}"#.to_vec());
    std::thread::sleep(Duration::from_millis(100));
    world
        .cuttle()
        .args(["doc", "put", "environments", "--instance", "a", "--file"])
        .arg(&fifo)
        .timeout(TIMEOUT)
        .assert()
        .success();
    writer.join().unwrap();
    assert_eq!(world.list("a", "environments", None), ["Piped"]);
}

fn a_registration_is_bounded_and_must_be_a_file(world: &World) {
    world.create_instance("a");
    let file = registration(world, "a");
    let text = std::fs::read_to_string(&file).unwrap();
    // Still valid JSON, but far more than a registration holds.
    std::fs::write(&file, format!("{text}{}", " ".repeat(100 << 10))).unwrap();
    for args in [
        &["instance", "show", "a"][..],
        &["instance", "list"],
        &["doc", "list", "environments", "--instance", "a"],
    ] {
        refused(
            world.cuttle().args(args).timeout(TIMEOUT).assert(),
            &format!("the registration {} is larger than 64 KiB", file.display()),
        );
    }
    std::fs::remove_file(&file).unwrap();
    mkfifo(&file);
    refused(
        world
            .cuttle()
            .args(["instance", "show", "a"])
            .timeout(TIMEOUT)
            .assert(),
        &format!(
            "the registration {} is a pipe (FIFO), not a file Cuttle can read",
            file.display()
        ),
    );
    std::fs::remove_file(&file).unwrap();
    std::fs::write(&file, text).unwrap();
    world
        .cuttle()
        .args(["instance", "show", "a"])
        .assert()
        .success();
}

// ---------------------------------------------------------------------------------------------
// Item 9: what Cuttle keeps under CUTTLE_HOME is private, whatever the umask.

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// Every file under `dir` is 0600 and every folder 0700 (`dir` included).
fn assert_private(dir: &Path) {
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_private(&path);
        } else {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
}

fn files_under_cuttle_home_are_private_whatever_the_umask(world: &World) {
    let scratch = TempDir::new().unwrap();
    // A CUTTLE_HOME that Cuttle makes, under a parent that everyone may write.
    let parent = scratch.path().join("shared");
    std::fs::create_dir(&parent).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let home = parent.join("cuttle-home");
    let backup = scratch.path().join("a.backup");
    // The URL of the PostgreSQL test server holds its password: it lands in the registration.
    let database = world
        .new_database()
        .map(|url| format!(" --database '{url}'"))
        .unwrap_or_default();
    sh(
        world,
        &format!(
            "umask 000 && export CUTTLE_HOME={home} && cuttle instance create a{database} && \
             cuttle sample --instance a && echo '{{\"name\": \"Extra\"}}' | cuttle doc put environments --instance a --file - && \
             cuttle instance backup a --file {backup} && cuttle instance create b --master-key-file {key}",
            home = quoted(&home),
            backup = quoted(&backup),
            key = quoted(&scratch.path().join("b.key")),
        ),
    )
    .assert()
    .success();
    let instance = home.join("instances").join("a");
    if world.is_postgres() {
        let text = std::fs::read_to_string(instance.join("instance.json")).unwrap();
        assert!(text.contains(":cuttle@"), "the test URL's password: {text}");
    } else {
        assert!(instance.join("cuttle.db").is_file());
    }
    assert_private(&home);
    assert_eq!(mode(&backup), 0o600);
    assert_eq!(mode(&scratch.path().join("b.key")), 0o600);

    if !world.is_postgres() {
        // The -wal and -shm files SQLite keeps beside the database while it is open: an export
        // holds the instance open while it asks for its password.
        let mut command = std::process::Command::new("sh");
        command
            .arg("-c")
            .arg(format!(
                "umask 000; exec {} export --instance a --directory {}",
                quoted(&assert_cmd::cargo::cargo_bin("cuttle")),
                quoted(&scratch.path().join("export"))
            ))
            .env("CUTTLE_HOME", &home)
            .env("TERM", "dumb")
            .env_remove("CUTTLE_PASSWORD")
            .env_remove("CUTTLE_MASTER_KEY");
        let mut session = rexpect::session::spawn_with_options(
            command,
            rexpect::reader::Options::new().timeout_ms(Some(60_000)),
        )
        .unwrap();
        session.exp_string("Password:").unwrap();
        for suffix in ["-wal", "-shm"] {
            let file = instance.join(format!("cuttle.db{suffix}"));
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        session.send_control('c').unwrap();
        session.exp_eof().unwrap();
    }

    // What an earlier Cuttle made under a permissive umask is made private when it is opened.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            instance.join("instance.json"),
            std::fs::Permissions::from_mode(0o666),
        )
        .unwrap();
        std::fs::set_permissions(&instance, std::fs::Permissions::from_mode(0o777)).unwrap();
        if !world.is_postgres() {
            std::fs::set_permissions(
                instance.join("cuttle.db"),
                std::fs::Permissions::from_mode(0o644),
            )
            .unwrap();
        }
    }
    sh(
        world,
        &format!(
            "CUTTLE_HOME={} exec cuttle doc list environments --instance a",
            quoted(&home)
        ),
    )
    .assert()
    .success();
    assert_private(&home);
}

// ---------------------------------------------------------------------------------------------
// Item 7: `cuttle sample` never writes over real data unless told to.

fn sample_refuses_a_populated_instance_unless_told(world: &World) {
    world.create_instance("a");
    // One document of the person's own is enough to make the instance theirs.
    world
        .put(
            "a",
            "environments",
            &serde_json::json!({"name": "Production"}),
        )
        .success();
    let before = world.records("a");
    let message = refused(
        world.cuttle().args(["sample", "--instance", "a"]).assert(),
        "instance \"a\" already holds 1 document",
    );
    assert!(
        message.contains("nothing was changed") && message.contains("--overwrite"),
        "{message}"
    );
    assert_eq!(world.records("a"), before);

    // A sampled instance is refused another seed: the sample's documents are replaced by name.
    world.create_sampled("b");
    let before = world.records("b");
    world
        .cuttle()
        .args(["sample", "--instance", "b", "--seed", "2"])
        .assert()
        .failure()
        .code(1);
    assert_eq!(world.records("b"), before);
    world
        .cuttle()
        .args(["sample", "--instance", "b", "--seed", "2", "--overwrite"])
        .assert()
        .success();
    assert_ne!(world.records("b"), before, "--overwrite writes the sample");

    let help = world.cuttle().args(["sample", "--help"]).assert().success();
    assert!(common::stdout(&help).contains("--overwrite"));
}

// ---------------------------------------------------------------------------------------------
// Item 14: a closed pipe ends a command quietly.

/// The exit status of a command whose standard output was closed (as for SIGPIPE).
const CLOSED: i32 = 141;

/// Runs `command` with its standard output (`stdout`) or standard error (`!stdout`) connected
/// to a pipe whose reading end is already closed: the first write fails with EPIPE, with no race
/// against a reader that stops (a Unix socket pair behaves as a pipe here). The other stream is
/// captured.
fn closed(mut command: std::process::Command, stdout: bool) -> std::process::Output {
    let (reader, writer) = std::os::unix::net::UnixStream::pair().unwrap();
    drop(reader);
    let closed = std::process::Stdio::from(std::os::fd::OwnedFd::from(writer));
    if stdout {
        command.stdout(closed).stderr(std::process::Stdio::piped());
    } else {
        command.stderr(closed).stdout(std::process::Stdio::piped());
    }
    command.output().unwrap()
}

/// `cuttle ARGS` of this world, as a plain process.
fn plain(world: &World, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("cuttle"));
    command
        .args(args)
        .env("CUTTLE_HOME", world.home())
        .env("CUTTLE_TEST_PASSWORD", common::PASSWORD)
        .env_remove("CUTTLE_MASTER_KEY")
        .env_remove("CUTTLE_PASSWORD")
        .env_remove("PGPASSWORD");
    command
}

fn a_closed_output_ends_a_command_quietly(world: &World) {
    world.create_sampled("a");
    for args in [
        &["doc", "list", "projects", "--instance", "a"][..],
        &["doc", "list", "machines", "--instance", "a"],
        &[
            "doc",
            "get",
            "environments",
            "Production",
            "--instance",
            "a",
        ],
        &["instance", "list"],
        &["instance", "show", "a"],
        &["instance", "show", "a", "--format", "json"],
        &["instance", "master-key", "a"],
    ] {
        let out = closed(plain(world, args), true);
        assert_eq!(
            out.status.code(),
            Some(CLOSED),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn an_import_ends_as_it_would_when_its_plan_output_closes(world: &World) {
    world.create_sampled("a");
    let scratch = TempDir::new().unwrap();
    let export = scratch.path().join("export");
    world
        .export("a", &export, &["--include-task-logs"])
        .success();
    let dir = export.to_str().unwrap();
    let import = |into: &str, extra: &[&str]| {
        let mut args = vec![
            "import",
            "--instance",
            into,
            "--directory",
            dir,
            "--password-env",
            "CUTTLE_TEST_PASSWORD",
            "--include-task-logs",
        ];
        args.extend_from_slice(extra);
        closed(plain(world, &args), true)
    };

    // A dry run: nothing written, whatever the format.
    world.create_instance("b");
    let empty = world.snapshot("b");
    for format in ["text", "json"] {
        let out = import("b", &["--dry-run", "--format", format]);
        let message = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(CLOSED), "{message}");
        assert!(
            message.contains("dry run (rolled back, nothing written)"),
            "{message}"
        );
        assert!(!message.contains("error"), "{message}");
        assert_eq!(world.snapshot("b"), empty);
    }

    // The import itself: it commits whole, as it would have with its output read, and says so.
    for (into, format) in [("b", "text"), ("c", "json")] {
        if into == "c" {
            world.create_instance("c");
        }
        let out = import(into, &["--format", format]);
        let message = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(CLOSED), "{format}: {message}");
        assert!(
            message.contains(&format!("imported into instance \"{into}\"")),
            "{message}"
        );
        assert!(!message.contains("error"), "{message}");
        assert!(
            world.snapshot(into) == world.snapshot("a"),
            "{format}: not every document was imported"
        );
    }

    // An import that fails still says why, and changes nothing.
    world.create_instance("d");
    let mut command = plain(
        world,
        &[
            "import",
            "--instance",
            "d",
            "--directory",
            dir,
            "--password-env",
            "WRONG_PASSWORD",
            "--format",
            "json",
        ],
    );
    command.env("WRONG_PASSWORD", "not the password");
    let out = closed(command, true);
    let message = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(message.contains("wrong password"), "{message}");
    assert_eq!(world.snapshot("d"), empty);
}

fn a_closed_error_output_drops_messages_not_the_work(world: &World) {
    world.create_sampled("a");
    let scratch = TempDir::new().unwrap();
    let export = scratch.path().join("export");
    let mut command = plain(
        world,
        &[
            "export",
            "--instance",
            "a",
            "--password-env",
            "CUTTLE_TEST_PASSWORD",
            "--directory",
        ],
    );
    command.arg(&export);
    let out = closed(command, false);
    assert_eq!(out.status.code(), Some(0));
    assert!(export.join("manifest.json").is_file());
    let out = closed(
        plain(world, &["doc", "list", "projects", "--instance", "a"]),
        false,
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(!out.stdout.is_empty());
    // A command that fails with its standard error closed still fails.
    let out = closed(
        plain(world, &["doc", "list", "projects", "--instance", "nope"]),
        false,
    );
    assert_eq!(out.status.code(), Some(1));
}

// ---------------------------------------------------------------------------------------------
// Item 15: git users.

fn a_partial_export_goes_into_a_fresh_clone(world: &World) {
    world.create_sampled("a");
    let clone = TempDir::new().unwrap();
    // What `git clone` of a new repository leaves: `.git` and a README; and a note of the
    // person's own inside a folder of the format.
    for (file, text) in [
        (".git/HEAD", "ref: refs/heads/main\n"),
        (".git/config", "[core]\n"),
        (".git/objects/ab/cdef0123", "blob"),
        ("README.md", "# Our configuration\n"),
        ("environments/notes.txt", "ours\n"),
    ] {
        let path = clone.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let ours = common::tree(clone.path());
    let partial = |extra: &[&str]| {
        world
            .cuttle()
            .env("CUTTLE_PASSWORD", common::PASSWORD)
            .args([
                "partial-export",
                "--instance",
                "a",
                "--project",
                "Order Service",
                "--directory",
            ])
            .arg(clone.path())
            .args(extra)
            .assert()
    };
    partial(&[]).success();
    let exported = common::tree(clone.path());
    assert!(exported.contains_key("manifest.json"));
    for (file, bytes) in &ours {
        assert_eq!(exported.get(file), Some(bytes), "{file} was touched");
    }
    // And again, mirrored.
    partial(&[]).success();
    assert_eq!(common::tree(clone.path()), exported);

    // Files of an export without a manifest still occupy a directory (unless --clean).
    let stray = TempDir::new().unwrap();
    std::fs::create_dir(stray.path().join("environments")).unwrap();
    std::fs::write(stray.path().join("environments/old.json"), "{}").unwrap();
    std::fs::write(stray.path().join("README.md"), "ours").unwrap();
    refused(
        world
            .cuttle()
            .env("CUTTLE_PASSWORD", common::PASSWORD)
            .args([
                "partial-export",
                "--instance",
                "a",
                "--project",
                "CON",
                "--directory",
            ])
            .arg(stray.path())
            .assert(),
        "holds files of an export (environments/old.json among them) but no manifest",
    );
    assert!(!stray.path().join("manifest.json").exists());
    world
        .cuttle()
        .env("CUTTLE_PASSWORD", common::PASSWORD)
        .args([
            "partial-export",
            "--instance",
            "a",
            "--project",
            "CON",
            "--clean",
            "--directory",
        ])
        .arg(stray.path())
        .assert()
        .success();
    assert!(!stray.path().join("environments/old.json").exists());
    assert!(stray.path().join("README.md").exists());
}

fn contradicting_options_are_refused(world: &World) {
    world.create_sampled("a");
    let scratch = TempDir::new().unwrap();
    let dir = scratch.path().join("export");
    let backup = scratch.path().join("a.backup");
    let key = key_file(world, "a");
    let (dir, backup, key) = (
        dir.to_str().unwrap(),
        backup.to_str().unwrap(),
        key.to_str().unwrap(),
    );
    for args in [
        &[
            "export",
            "--instance",
            "a",
            "--directory",
            dir,
            "--clean",
            "--no-prune",
        ][..],
        &[
            "export",
            "--instance",
            "a",
            "--directory",
            dir,
            "--rekey",
            "--no-prune",
        ],
        &[
            "import",
            "--instance",
            "a",
            "--backup",
            backup,
            "--master-key-file",
            key,
            "--password-env",
            "CUTTLE_PASSWORD",
        ],
        &[
            "import",
            "--instance",
            "a",
            "--directory",
            dir,
            "--quiet",
            "--format",
            "json",
        ],
    ] {
        let refused = world
            .cuttle()
            .env("CUTTLE_PASSWORD", common::PASSWORD)
            .args(args)
            .assert()
            .failure()
            .code(2);
        let message = stderr(&refused);
        assert!(
            message.contains("cannot be used with") || message.contains("give one of them"),
            "{args:?}: {message}"
        );
    }
    assert!(!Path::new(dir).exists(), "nothing was exported");
}

// ---------------------------------------------------------------------------------------------
// Item 13: errors say what is wrong, where, and what to do.

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Whether this process writes where permissions forbid it (root, with CAP_DAC_OVERRIDE).
fn overrides_permissions() -> bool {
    let dir = TempDir::new().unwrap();
    set_mode(dir.path(), 0o500);
    let wrote = std::fs::File::create(dir.path().join("probe")).is_ok();
    set_mode(dir.path(), 0o700);
    wrote
}

/// `cuttle ARGS` as an ordinary user runs it: when this test may write where permissions forbid
/// (as root), without that power (`setpriv` drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH), so
/// that a folder made read-only is read-only to Cuttle too.
fn as_user(world: &World, args: &[&str]) -> assert_cmd::Command {
    let bin = assert_cmd::cargo::cargo_bin("cuttle");
    let mut command = if overrides_permissions() {
        let mut command = assert_cmd::Command::new("setpriv");
        command
            .args(["--bounding-set=-dac_override,-dac_read_search", "--"])
            .arg(bin);
        command
    } else {
        assert_cmd::Command::new(bin)
    };
    command
        .args(args)
        .env("CUTTLE_HOME", world.home())
        .env_remove("CUTTLE_MASTER_KEY")
        .env_remove("CUTTLE_PASSWORD")
        .env_remove("PGPASSWORD")
        .timeout(TIMEOUT);
    command
}

fn a_read_only_home_says_which_path_why_and_what_to_do(world: &World) {
    world.create_instance("a");
    world
        .put(
            "a",
            "environments",
            &serde_json::json!({"name": "Production"}),
        )
        .success();
    let instances = world.home().join("instances");
    let folder = instances.join("a");

    // No new instance in a folder Cuttle may not write.
    set_mode(&instances, 0o500);
    let mut command = as_user(world, &["instance", "create", "b"]);
    if let Some(url) = world.new_database() {
        command.args(["--database", &url]);
    }
    let run = command.assert();
    set_mode(&instances, 0o700);
    let message = refused(
        run,
        &format!("creating the folder {}", instances.join("b").display()),
    );
    assert!(
        message.contains("Permission denied")
            && message.contains("give the user running Cuttle write access"),
        "{message}"
    );
    assert!(!instances.join("b").exists());

    if world.is_postgres() {
        // A PostgreSQL instance keeps nothing in its folder that a command writes.
        set_mode(&folder, 0o500);
        let listed = as_user(world, &["doc", "list", "environments", "--instance", "a"])
            .assert()
            .success();
        set_mode(&folder, 0o700);
        assert_eq!(common::stdout(&listed), "Production\n");
        return;
    }

    // An embedded instance: SQLite writes beside its database even to read it.
    let database = folder.join("cuttle.db");
    for (read_only, says) in [(&folder, "its folder"), (&database, "the file")] {
        let before = mode(read_only);
        set_mode(read_only, before & 0o500);
        let run = as_user(world, &["doc", "list", "environments", "--instance", "a"]).assert();
        set_mode(read_only, before);
        let message = refused(
            run,
            &format!("cannot open the SQLite database {}", database.display()),
        );
        assert!(
            message.contains(&format!(
                "{says} {}: Permission denied",
                read_only.display()
            )) && message.contains("give the user running Cuttle write access"),
            "{message}"
        );
    }
    assert_eq!(world.list("a", "environments", None), ["Production"]);
}

/// `manifest.json` of the export in `dir`, changed by `change`.
fn alter_manifest(dir: &Path, change: impl FnOnce(&mut serde_json::Value)) {
    let file = dir.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    change(&mut manifest);
    std::fs::write(&file, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
}

fn a_damaged_manifest_is_not_a_wrong_password(world: &World) {
    world.create_sampled("a");
    let scratch = TempDir::new().unwrap();
    let export = scratch.path().join("export");
    world.export("a", &export, &[]).success();
    world.create_instance("b");
    let before = world.snapshot("b");
    let good: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(export.join("manifest.json")).unwrap())
            .unwrap();
    let check = good["encryption"]["keyCheck"].as_str().unwrap().to_owned();
    type Change = Box<dyn Fn(&mut serde_json::Value)>;
    let set = |pointer: &'static str, value: serde_json::Value| -> Change {
        Box::new(move |m| *m.pointer_mut(pointer).unwrap() = value.clone())
    };
    let cases: Vec<(Change, &str)> = vec![
        (
            set("/encryption/keyCheck", "not base64url!".into()),
            "manifest.json: encryption.keyCheck is not 32 bytes of unpadded base64url",
        ),
        (
            set("/encryption/keyCheck", check[..42].into()),
            "manifest.json: encryption.keyCheck is not 32 bytes of unpadded base64url",
        ),
        (
            set("/encryption/keyCheck", format!("{check}AAAA").into()),
            "manifest.json: encryption.keyCheck is not 32 bytes of unpadded base64url",
        ),
        (
            set("/encryption/kdf/salt", "short".into()),
            "manifest.json: encryption.kdf.salt is not 16 bytes",
        ),
        (
            set("/encryption/kdf/iterations", 1000.into()),
            "manifest.json: encryption.kdf is refused",
        ),
        (
            set("/encryption/kdf/algorithm", "scrypt".into()),
            "which this Cuttle does not know",
        ),
    ];
    for (change, says) in cases {
        let altered = scratch.path().join("altered");
        let _ = std::fs::remove_dir_all(&altered);
        common::copy_tree(&export, &altered);
        alter_manifest(&altered, change);
        let message = refused(world.import("b", &[&altered], &[]), says);
        assert!(!message.contains("wrong password"), "{message}");
        // The import names the directory whose manifest is damaged.
        assert!(
            message.contains(&altered.display().to_string()),
            "{message}"
        );
        assert_eq!(world.snapshot("b"), before);
        // An export into that directory says the same, not that the password is wrong.
        let message = refused(world.export("a", &altered, &[]), says);
        assert!(!message.contains("password does not open"), "{message}");
    }

    // A well-formed key check that this password does not make is a wrong password.
    let other = scratch.path().join("other");
    world
        .cuttle()
        .env("CUTTLE_PASSWORD", "another password")
        .args(["export", "--instance", "a", "--directory"])
        .arg(&other)
        .assert()
        .success();
    refused(world.import("b", &[&other], &[]), "wrong password");
    assert_eq!(world.snapshot("b"), before);
}

/// Runs `sql` (with `value` as its one parameter) against the database of instance `name`.
fn edit_database(world: &World, name: &str, sql: &str, value: &str) {
    let registration: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(registration(world, name)).unwrap()).unwrap();
    let database = registration["database"].as_str().unwrap();
    if world.is_postgres() {
        let mut client = ::postgres::Client::connect(database, ::postgres::NoTls).unwrap();
        let sql = sql.replace("?1", "$1");
        client.execute(sql.as_str(), &[&value]).unwrap();
    } else {
        let connection = rusqlite::Connection::open(database).unwrap();
        connection.execute(sql, [value]).unwrap();
    }
}

fn a_malformed_input_is_not_reported_as_something_else(world: &World) {
    use std::os::unix::ffi::OsStrExt;
    world.create_sampled("a");
    let scratch = TempDir::new().unwrap();
    let export = scratch.path().join("export");
    world.export("a", &export, &[]).success();
    let not_utf8 = std::ffi::OsStr::from_bytes(b"sample-secret-\xff-password");

    // A password variable that is not UTF-8: said so, and its value never shown.
    let message = refused(
        world
            .cuttle()
            .env("SOME_PASSWORD", not_utf8)
            .args([
                "import",
                "--instance",
                "a",
                "--dry-run",
                "--password-env",
                "SOME_PASSWORD",
            ])
            .arg("--directory")
            .arg(&export)
            .assert(),
        "SOME_PASSWORD does not hold UTF-8 text",
    );
    assert!(!message.contains("sample-secret-"), "{message}");
    refused(
        world
            .cuttle()
            .args([
                "import",
                "--instance",
                "a",
                "--dry-run",
                "--password-env",
                "UNSET_PASSWORD",
            ])
            .arg("--directory")
            .arg(&export)
            .assert(),
        "the variable UNSET_PASSWORD is not set",
    );
    // CUTTLE_PASSWORD set but unusable is not "no password given".
    let message = refused(
        world
            .cuttle()
            .env("CUTTLE_PASSWORD", not_utf8)
            .args(["import", "--instance", "a", "--dry-run", "--directory"])
            .arg(&export)
            .assert(),
        "CUTTLE_PASSWORD does not hold UTF-8 text",
    );
    assert!(!message.contains("sample-secret-"), "{message}");

    // CUTTLE_MASTER_KEY that is not UTF-8 is not silently passed over for the key file; an empty
    // one is not there, and a wrong key is then the key file's.
    refused(
        world
            .cuttle()
            .env("CUTTLE_MASTER_KEY", not_utf8)
            .args(["doc", "list", "projects", "--instance", "a"])
            .assert(),
        "CUTTLE_MASTER_KEY does not hold UTF-8 text",
    );
    world.create_instance("b");
    let key = key_file(world, "a");
    let saved = std::fs::read(&key).unwrap();
    std::fs::copy(key_file(world, "b"), &key).unwrap();
    refused(
        world
            .cuttle()
            .env("CUTTLE_MASTER_KEY", "")
            .args(["doc", "list", "projects", "--instance", "a"])
            .assert(),
        &format!(
            "the master key (from {}) is not the master key of instance \"a\"",
            key.display()
        ),
    );
    std::fs::write(&key, saved).unwrap();

    // A composite key with parts missing is a malformed key, not a document that is not there.
    refused(
        world
            .cuttle()
            .args([
                "doc",
                "get",
                "deployments",
                "1.8.2 / Production",
                "--instance",
                "a",
            ])
            .args(["--project", "Web Storefront"])
            .assert(),
        "\"1.8.2 / Production\" is not a key of deployments: their keys have 4 parts (release / environment / tenant / number",
    );
    world.get(
        "a",
        "deployments",
        Some("1.8.2 / Production /  / 1"),
        Some("Web Storefront"),
    );

    // A damaged database is damage, not a wrong master key.
    for (sql, value, says) in [
        (
            "UPDATE cuttle_meta SET value = ?1 WHERE key = 'identity'",
            "not hex",
            "holds an instance identity that is not 32 hex digits",
        ),
        (
            "UPDATE cuttle_meta SET value = ?1 WHERE key = 'master_key_check'",
            "garbage",
            "holds a malformed master key check",
        ),
        (
            "DELETE FROM cuttle_meta WHERE key = 'master_key_check' AND value <> ?1",
            "",
            "holds no master key check",
        ),
    ] {
        world.create_instance("damaged");
        edit_database(world, "damaged", sql, value);
        let message = refused(
            world
                .cuttle()
                .args(["doc", "list", "projects", "--instance", "damaged"])
                .assert(),
            says,
        );
        world
            .cuttle()
            .args(["instance", "delete", "damaged"])
            .assert()
            .success();
        assert!(
            message.contains("the database of instance \"damaged\"")
                && message.contains("it is damaged"),
            "{says}: {message}"
        );
        assert!(!message.contains("is not the master key"), "{message}");
    }
}

/// An overwrite compares each destination version, rendered on every core; one that cannot be
/// rendered there (a sensitive value that does not open) is rendered again where the
/// transaction reads, and stops the import with what is wrong, naming the document; nothing is
/// written. The versions rendered beside it change nothing.
fn a_destination_value_that_does_not_open_stops_an_overwrite(world: &World) {
    world.create_sampled("a");
    let scratch = TempDir::new().unwrap();
    let export = scratch.path().join("export");
    world.export("a", &export, &[]).success();
    // Every document alike: an overwrite finds nothing to change.
    let same = stdout(&world.import("a", &[&export], &["--overwrite"]).success());
    assert!(same.contains("unchanged"), "{same}");

    // One sealed value of one library variable set made not to open.
    edit_database(
        world,
        "a",
        "UPDATE cuttle_documents SET body = replace(body, '{\"sealed\":\"', '{\"sealed\":\"AAAA')
         WHERE id = (SELECT MIN(id) FROM cuttle_documents
                     WHERE collection = ?1 AND body LIKE '%{\"sealed\":\"%')",
        "library-variable-sets",
    );
    let before = world.snapshot("a");
    let message = refused(
        world.import("a", &[&export], &["--overwrite"]),
        "does not open under this instance's master key",
    );
    assert!(message.contains("library-variable-sets"), "{message}");
    assert!(!message.contains("sample-secret-"), "{message}");
    assert_eq!(world.snapshot("a"), before);
}

both_backends!(
    a_password_file_is_bounded_and_must_be_a_file,
    a_master_key_file_is_bounded_and_must_be_a_file,
    a_document_input_is_bounded,
    a_registration_is_bounded_and_must_be_a_file,
    files_under_cuttle_home_are_private_whatever_the_umask,
    sample_refuses_a_populated_instance_unless_told,
    a_closed_output_ends_a_command_quietly,
    an_import_ends_as_it_would_when_its_plan_output_closes,
    a_closed_error_output_drops_messages_not_the_work,
    a_partial_export_goes_into_a_fresh_clone,
    contradicting_options_are_refused,
    a_read_only_home_says_which_path_why_and_what_to_do,
    a_damaged_manifest_is_not_a_wrong_password,
    a_malformed_input_is_not_reported_as_something_else,
    a_destination_value_that_does_not_open_stops_an_overwrite,
);
