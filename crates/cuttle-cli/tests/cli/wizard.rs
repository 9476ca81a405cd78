//! `cuttle wizard` driven through a real pseudo-terminal (rexpect): an export, an import with its
//! preview, cancelled imports that change nothing, and "show script" whose printed commands, run
//! as they are by a shell, give the same result as the wizard.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{PASSWORD, World, copy_tree, tree};
use rexpect::reader::Options;
use rexpect::session::PtySession;
use tempfile::TempDir;

const DOWN: &str = "\x1b[B";
const ESC: &str = "\x1b";

/// A wizard session in a pseudo-terminal.
struct Wizard {
    session: PtySession,
}

impl Wizard {
    fn start(world: &World, cwd: &Path) -> Wizard {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin("cuttle"));
        command
            .arg("wizard")
            .current_dir(cwd)
            .env("CUTTLE_HOME", world.home())
            .env("TERM", "xterm-256color")
            .env_remove("CUTTLE_PASSWORD")
            .env_remove("CUTTLE_MASTER_KEY");
        let session = rexpect::session::spawn_with_options(
            command,
            Options::new()
                .timeout_ms(Some(60_000))
                .strip_ansi_escape_codes(true),
        )
        .unwrap();
        Wizard { session }
    }

    /// Waits for `text`; returns what came before it (which never holds what must never be
    /// printed).
    fn expect(&mut self, text: &str) -> String {
        let before = self
            .session
            .exp_string(text)
            .unwrap_or_else(|e| panic!("waiting for {text:?}: {e}"));
        if let Some((needle, _)) = common::never_printed(before.as_bytes()) {
            panic!("the wizard printed {needle:?}:\n{before}");
        }
        before
    }

    /// Sends `keys` as they are.
    fn keys(&mut self, keys: &str) {
        self.session.send(keys).unwrap();
        self.session.flush().unwrap();
    }

    /// Answers the question `question` by sending `keys` (then Enter).
    fn answer(&mut self, question: &str, keys: &str) {
        self.expect(question);
        self.session.send(keys).unwrap();
        self.session.send("\r").unwrap();
        self.session.flush().unwrap();
    }

    /// Picks the option `down` places below the first.
    fn pick(&mut self, question: &str, down: usize) {
        self.answer(question, &DOWN.repeat(down));
    }

    fn password(&mut self, confirm: bool) {
        self.answer("Password:", PASSWORD);
        if confirm {
            self.answer("Password, again:", PASSWORD);
        }
    }

    /// Waits for the end; returns the output and the exit status.
    fn finish(mut self) -> (String, i32) {
        let out = self.session.exp_eof().unwrap();
        let status = match self.session.process_mut().wait().unwrap() {
            rexpect::process::WaitStatus::Exited(_, code) => code,
            other => panic!("the wizard ended with {other:?}"),
        };
        (out, status)
    }
}

/// Whether exporting `instance` into a copy of `reference` leaves it as it is.
fn same_as(world: &World, instance: &str, reference: &Path) -> bool {
    let scratch = TempDir::new().unwrap();
    copy_tree(reference, scratch.path());
    world.export(instance, scratch.path(), &[]).success();
    tree(scratch.path()) == tree(reference)
}

#[test]
fn an_export_through_the_wizard_equals_the_command() {
    let world = World::sqlite();
    world.create_sampled("staging");
    let dirs = TempDir::new().unwrap();
    let by_wizard = dirs.path().join("by-wizard");

    let mut w = Wizard::start(&world, dirs.path());
    w.pick("What do you want to do?", 0);
    w.pick("Instance to export:", 0);
    w.pick("What to export?", 0);
    w.answer("Export directory:", &by_wizard.display().to_string());
    w.password(true);
    w.answer("Include history", "y");
    w.answer("Include deployments' task logs?", "n");
    w.answer("Keep scripts inside the JSON?", "n");
    w.pick("Now?", 0);
    w.expect("Done. The same again, as a command:");
    let (out, status) = w.finish();
    assert_eq!(status, 0, "{out}");
    assert!(!out.contains(PASSWORD), "the password is never shown");
    assert!(
        out.contains("--password-env CUTTLE_PASSWORD"),
        "the script reads the password from the environment: {out}"
    );

    // The command line's export of the same instance gives the same files.
    let by_command = dirs.path().join("by-command");
    world.export("staging", &by_command, &[]).success();
    assert_eq!(tree(&by_wizard), tree(&by_command));
}

/// An export of a sampled instance "staging", and an empty instance `destination`.
fn prepared(world: &World, destination: &str) -> TempDir {
    world.create_sampled("staging");
    let dirs = TempDir::new().unwrap();
    world
        .export("staging", &dirs.path().join("export"), &[])
        .success();
    world.create_instance(destination);
    dirs
}

/// Drives an import of `dirs/export` into `destination` up to the preview (skip policy, no
/// backup unless `backup` names the file).
fn to_preview(
    w: &mut Wizard,
    dirs: &Path,
    destination_index: usize,
    overwrite: bool,
    backup: Option<&str>,
) -> String {
    w.pick("What do you want to do?", 1);
    w.pick("Instance to import into:", destination_index);
    w.pick("Import from:", 0);
    w.answer(
        "Export directory 1:",
        &dirs.join("export").display().to_string(),
    );
    w.answer("Add another export directory?", "n");
    w.password(false);
    w.pick(
        "When a document exists in the destination:",
        usize::from(overwrite),
    );
    if overwrite {
        w.answer("Keep every secret the destination already holds?", "n");
    }
    w.answer("Import task logs too?", "n");
    match backup {
        Some(file) => {
            w.answer("first?", "y");
            w.answer("Backup file:", file);
        }
        None => w.answer("first?", "n"),
    }
    w.expect("Plan, per collection:")
}

#[test]
fn an_import_through_the_wizard_previews_then_imports() {
    let world = World::sqlite();
    // Instances are listed by name: "production" comes after... see `instance list` order.
    let dirs = prepared(&world, "production");
    let index = instance_index(&world, "production");
    let mut w = Wizard::start(&world, dirs.path());
    let head = to_preview(&mut w, dirs.path(), index, false, None);
    assert!(head.contains("Changes that grant access"), "{head}");
    let preview = w.expect("Now?");
    assert!(preview.contains("environments"), "{preview}");
    assert!(preview.contains("create"), "{preview}");
    // Details on demand, then run.
    w.keys("\x1b[B\r");
    w.expect("Plan:");
    w.pick("Now?", 0);
    w.expect("Done.");
    let (out, status) = w.finish();
    assert_eq!(status, 0, "{out}");
    assert!(same_as(&world, "production", &dirs.path().join("export")));
}

fn instance_index(world: &World, name: &str) -> usize {
    let out = world.cuttle().args(["instance", "list"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    text.lines()
        .position(|l| l.split('\t').next() == Some(name))
        .expect("the instance is listed")
}

#[test]
fn a_cancelled_import_changes_nothing() {
    let world = World::sqlite();
    let dirs = prepared(&world, "production");
    let index = instance_index(&world, "production");
    let empty = world.snapshot("production");

    // Cancel at the preview.
    let mut w = Wizard::start(&world, dirs.path());
    to_preview(&mut w, dirs.path(), index, false, None);
    w.pick("Now?", 4);
    let (out, status) = w.finish();
    assert_eq!(status, 130, "{out}");
    assert!(out.contains("nothing was changed"), "{out}");
    assert_eq!(world.snapshot("production"), empty);

    // Esc at a question.
    let mut w = Wizard::start(&world, dirs.path());
    w.pick("What do you want to do?", 1);
    w.expect("Instance to import into:");
    w.expect("to move");
    w.keys(ESC);
    let (_, status) = w.finish();
    assert_eq!(status, 130);

    // Ctrl-C at the preview.
    let mut w = Wizard::start(&world, dirs.path());
    to_preview(&mut w, dirs.path(), index, false, None);
    w.expect("Now?");
    w.keys("\x03");
    let (_, status) = w.finish();
    assert_eq!(status, 130);
    assert_eq!(world.snapshot("production"), empty);
}

#[test]
fn the_script_does_what_the_wizard_does() {
    let world = World::sqlite();
    let dirs = prepared(&world, "by-script");
    world.create_instance("by-wizard");
    // Both destinations hold something of their own that the overwrite must leave.
    for name in ["by-script", "by-wizard"] {
        world
            .put(
                name,
                "environments",
                &serde_json::json!({"name": "Mine", "description": "kept"}),
            )
            .success();
    }

    // The wizard, run on "by-wizard" (overwrite, backup first).
    let mut w = Wizard::start(&world, dirs.path());
    to_preview(
        &mut w,
        dirs.path(),
        instance_index(&world, "by-wizard"),
        true,
        Some("wizard.cuttle-backup"),
    );
    w.pick("Now?", 0);
    w.expect("Done.");
    let (out, status) = w.finish();
    assert_eq!(status, 0, "{out}");
    assert!(
        dirs.path().join("wizard.cuttle-backup").is_file(),
        "the backup was made"
    );

    // The same choices on "by-script", ending with "show script".
    let mut w = Wizard::start(&world, dirs.path());
    to_preview(
        &mut w,
        dirs.path(),
        instance_index(&world, "by-script"),
        true,
        Some("script.cuttle-backup"),
    );
    w.pick("Now?", 2);
    w.expect("# The password is read from $CUTTLE_PASSWORD");
    let shown = w.expect("Now?");
    w.pick_current_cancel();
    let (_, status) = w.finish();
    assert_eq!(status, 130);
    assert!(!shown.contains(PASSWORD));
    let script: Vec<&str> = shown
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("cuttle "))
        .collect();
    assert_eq!(script.len(), 2, "a backup, then the import: {shown}");
    assert!(script[0].starts_with("cuttle instance backup by-script --file script.cuttle-backup"));
    let script = script.join("\n");
    assert!(
        !dirs.path().join("script.cuttle-backup").exists(),
        "show script runs nothing"
    );

    // Run as it is, by a shell, with `cuttle` on the PATH.
    let status = world.shell(&script, dirs.path());
    assert!(status.success());
    assert!(dirs.path().join("script.cuttle-backup").is_file());

    // Same result: both instances export alike (into copies of one reference).
    let reference = dirs.path().join("reference");
    world.export("by-wizard", &reference, &[]).success();
    assert!(same_as(&world, "by-script", &reference));
    assert!(
        world
            .list("by-script", "environments", None)
            .contains(&"Mine".to_owned()),
        "what only the destination had stays"
    );
}

impl Wizard {
    /// At the "Now?" question just shown: picks "Cancel" (the last option).
    fn pick_current_cancel(&mut self) {
        self.keys(&format!("{}\r", DOWN.repeat(4)));
    }
}

#[test]
fn without_a_terminal_it_says_so() {
    let world = World::sqlite();
    world.create_instance("a");
    let out = world.cuttle().arg("wizard").assert().failure();
    let message = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(message.contains("terminal"), "{message}");
}

#[test]
fn a_partial_export_picks_projects_by_search_and_its_script_agrees() {
    let world = World::sqlite();
    world.create_sampled("staging");
    let dirs = TempDir::new().unwrap();
    let by_wizard = dirs.path().join("by-wizard");

    let mut w = Wizard::start(&world, dirs.path());
    w.pick("What do you want to do?", 0);
    w.pick("Instance to export:", 0);
    w.pick("What to export?", 1);
    // Type to search, space to pick the match, enter to go on.
    w.expect("Projects (type to search");
    w.keys("Order");
    w.expect("Order Service");
    w.keys(" \r");
    w.answer("Project groups", "");
    w.answer("Leave out", "");
    w.answer("Export directory:", &by_wizard.display().to_string());
    w.password(true);
    w.answer("Include deployments' task logs?", "n");
    w.answer("Keep scripts inside the JSON?", "n");
    w.pick("Now?", 1);
    w.expect("# The password is read from $CUTTLE_PASSWORD");
    let shown = w.expect("Now?");
    let script: Vec<&str> = shown
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("cuttle "))
        .collect();
    assert_eq!(script.len(), 1, "{shown}");
    assert!(
        script[0].contains("partial-export") && script[0].contains("--project 'Order Service'"),
        "{}",
        script[0]
    );
    let script = script[0].replace(&by_wizard.display().to_string(), "by-script");
    w.keys("\r"); // run it
    w.expect("Done.");
    let (out, status) = w.finish();
    assert_eq!(status, 0, "{out}");

    let status = world.shell(&script, dirs.path());
    assert!(status.success());
    let exported = tree(&by_wizard);
    assert!(
        exported
            .keys()
            .any(|f| f.starts_with("projects/order-service")),
        "the chosen project is exported"
    );
    assert!(
        !exported
            .keys()
            .any(|f| f.starts_with("projects/web-storefront")),
        "and not the others"
    );
    assert_eq!(exported, tree(&dirs.path().join("by-script")));
}

#[test]
fn an_error_returns_to_the_question_that_can_fix_it() {
    let world = World::sqlite();
    let dirs = prepared(&world, "production");
    let index = instance_index(&world, "production");
    let mut w = Wizard::start(&world, dirs.path());
    w.pick("What do you want to do?", 1);
    w.pick("Instance to import into:", index);
    w.pick("Import from:", 0);
    w.answer(
        "Export directory 1:",
        &dirs.path().join("export").display().to_string(),
    );
    w.answer("Add another export directory?", "n");
    w.answer("Password:", "not the password");
    w.pick("When a document exists in the destination:", 0);
    w.answer("Import task logs too?", "n");
    w.answer("first?", "n");
    let error = w.expect("Go back and change an answer?");
    assert!(error.contains("wrong password"), "{error}");
    w.keys("y\r");
    // Back at the password, then on to the preview.
    w.answer("Password:", PASSWORD);
    w.pick("When a document exists in the destination:", 0);
    w.answer("Import task logs too?", "n");
    w.answer("first?", "n");
    w.expect("Plan, per collection:");
    w.pick("Now?", 4);
    let (_, status) = w.finish();
    assert_eq!(status, 130);
    assert!(world.list("production", "environments", None).is_empty());
}
