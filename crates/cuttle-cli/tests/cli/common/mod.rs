//! The test world: a `CUTTLE_HOME` of its own and, for PostgreSQL, a database of its own for
//! each instance; every command runs the real `cuttle` binary.
//!
//! Each behavioural test is written once, as a function of a [`World`], and run on both backends
//! by [`both_backends!`]. PostgreSQL tests need `CUTTLE_TEST_POSTGRES_URL` and say loudly when
//! they are skipped (`CUTTLE_REQUIRE_POSTGRES=1` makes skipping a failure).

#![allow(dead_code)]

pub mod http;

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use cuttle_store_postgres::testing::{TestDatabase, fresh_database};
use serde_json::Value;
use tempfile::TempDir;

pub struct World {
    home: TempDir,
    postgres: bool,
    /// The database made with the world, until an instance takes it.
    unused: RefCell<Option<TestDatabase>>,
    databases: RefCell<Vec<TestDatabase>>,
    /// Whether every command treats every document with a large array as large
    /// ([`World::with_large_documents`]).
    large: std::cell::Cell<bool>,
}

impl World {
    pub fn sqlite() -> World {
        World {
            home: TempDir::new().unwrap(),
            postgres: false,
            unused: RefCell::new(None),
            databases: RefCell::new(Vec::new()),
            large: std::cell::Cell::new(false),
        }
    }

    /// A PostgreSQL world, or `None` (said loudly) when no test server is configured.
    pub fn postgres() -> Option<World> {
        let first = fresh_database()?;
        Some(World {
            home: TempDir::new().unwrap(),
            postgres: true,
            unused: RefCell::new(Some(first)),
            databases: RefCell::new(Vec::new()),
            large: std::cell::Cell::new(false),
        })
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// `cuttle` with this world's `CUTTLE_HOME` and nothing inherited that could change its
    /// behaviour. Whatever it prints is scanned ([`Cuttle::assert`]).
    pub fn cuttle(&self) -> Cuttle {
        let mut command = Command::cargo_bin("cuttle").unwrap();
        command
            .env("CUTTLE_HOME", self.home.path())
            .env_remove("CUTTLE_MASTER_KEY")
            .env_remove("CUTTLE_PASSWORD")
            .env_remove("PGPASSWORD");
        if self.large.get() {
            command.env("CUTTLE_LARGE_DOCUMENT", "0");
        } else {
            command.env_remove("CUTTLE_LARGE_DOCUMENT");
        }
        Cuttle(command)
    }

    /// A database URL for a new instance (`None` for an embedded one): the world's first
    /// database, then a fresh one for each further instance.
    pub fn new_database(&self) -> Option<String> {
        if !self.postgres {
            return None;
        }
        if let Some(db) = self.unused.borrow_mut().take() {
            let url = db.url().to_owned();
            self.databases.borrow_mut().push(db);
            return Some(url);
        }
        let db = fresh_database().expect("a PostgreSQL test server");
        let url = db.url().to_owned();
        self.databases.borrow_mut().push(db);
        Some(url)
    }

    /// Creates an instance on this world's backend.
    pub fn create_instance(&self, name: &str) {
        let mut command = self.cuttle();
        command.args(["instance", "create", name]);
        if let Some(url) = self.new_database() {
            command.args(["--database", &url]);
        }
        command.assert().success();
    }

    /// `doc put` of one JSON value; returns the assertion to check.
    pub fn put(&self, instance: &str, collection: &str, doc: &Value) -> assert_cmd::assert::Assert {
        self.put_text(instance, collection, &doc.to_string())
    }

    /// `doc put` of a document's text.
    pub fn put_text(
        &self,
        instance: &str,
        collection: &str,
        text: &str,
    ) -> assert_cmd::assert::Assert {
        self.cuttle()
            .args([
                "doc",
                "put",
                collection,
                "--instance",
                instance,
                "--file",
                "-",
            ])
            .write_stdin(text.to_owned())
            .assert()
    }

    pub fn get(
        &self,
        instance: &str,
        collection: &str,
        key: Option<&str>,
        project: Option<&str>,
    ) -> Value {
        let mut command = self.cuttle();
        command.args(["doc", "get", collection, "--instance", instance]);
        if let Some(key) = key {
            command.arg(key);
        }
        if let Some(project) = project {
            command.args(["--project", project]);
        }
        let out = command.assert().success().get_output().stdout.clone();
        serde_json::from_slice(&out).unwrap()
    }

    pub fn list(&self, instance: &str, collection: &str, project: Option<&str>) -> Vec<String> {
        let mut command = self.cuttle();
        command.args(["doc", "list", collection, "--instance", instance]);
        if let Some(project) = project {
            command.args(["--project", project]);
        }
        let out = command.assert().success().get_output().stdout.clone();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Every document of every collection, in the export shape: a picture of the instance to
    /// compare before and after.
    pub fn snapshot(&self, instance: &str) -> Vec<(String, Vec<String>)> {
        cuttle_domain::COLLECTIONS
            .iter()
            .map(|decl| (decl.name.to_owned(), self.list(instance, decl.name, None)))
            .collect()
    }

    /// Whether `needle` appears in plaintext anywhere the instance wrote: every file under
    /// `CUTTLE_HOME`, and for PostgreSQL every row of Cuttle's tables.
    pub fn leaks(&self, needle: &str) -> bool {
        let in_files = files_under(self.home.path()).iter().any(|file| {
            std::fs::read(file)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        });
        let in_database = self.databases.borrow().iter().any(|db| {
            let mut client = db.client();
            let exists = client
                .query_one("SELECT to_regclass('cuttle_documents') IS NOT NULL", &[])
                .map(|row| row.get::<_, bool>(0))
                .unwrap_or(false);
            exists && {
                let pattern = format!("%{needle}%");
                let row = client
                    .query_one(
                        "SELECT (SELECT count(*) FROM cuttle_documents WHERE body LIKE $1 OR key LIKE $1)
                              + (SELECT count(*) FROM cuttle_meta WHERE value LIKE $1)",
                        &[&pattern],
                    )
                    .unwrap();
                row.get::<_, i64>(0) > 0
            }
        });
        in_files || in_database
    }
}

/// What no output of `cuttle` may ever hold, in any test: a plaintext of the sample (every sensitive
/// value the sample makes, and every one the tests make, starts with `sample-secret-` and goes
/// on with a letter or a digit; the words `sample-secret-` alone, as `cuttle sample --help` says
/// them, are no plaintext), or the digest a plan compares sensitive values by (issue 11).
/// Returns the first found and where.
pub fn never_printed(bytes: &[u8]) -> Option<(&'static str, usize)> {
    for needle in ["sample-secret-", "$digest"] {
        let found = bytes
            .windows(needle.len())
            .enumerate()
            .filter(|(_, w)| *w == needle.as_bytes())
            .map(|(at, _)| at)
            .find(|at| {
                needle == "$digest"
                    || bytes
                        .get(at + needle.len())
                        .is_some_and(|b| b.is_ascii_alphanumeric())
            });
        if let Some(at) = found {
            return Some((needle, at));
        }
    }
    None
}

/// A `cuttle` command of the test world: `assert_cmd`'s, whose every run's standard output and
/// standard error are scanned for what must never be printed ([`never_printed`]).
pub struct Cuttle(Command);

impl Cuttle {
    pub fn arg(&mut self, arg: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.0.arg(arg);
        self
    }
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.0.args(args);
        self
    }
    pub fn env(
        &mut self,
        key: impl AsRef<std::ffi::OsStr>,
        value: impl AsRef<std::ffi::OsStr>,
    ) -> &mut Self {
        self.0.env(key, value);
        self
    }
    pub fn env_remove(&mut self, key: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.0.env_remove(key);
        self
    }
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.0.current_dir(dir);
        self
    }
    pub fn write_stdin(&mut self, input: impl Into<Vec<u8>>) -> &mut Self {
        self.0.write_stdin(input);
        self
    }
    pub fn timeout(&mut self, timeout: std::time::Duration) -> &mut Self {
        self.0.timeout(timeout);
        self
    }
    /// Runs it, and fails the test if it printed what must never be printed.
    pub fn assert(&mut self) -> assert_cmd::assert::Assert {
        let assert = self.0.assert();
        let output = assert.get_output();
        for (stream, bytes) in [
            ("standard output", &output.stdout),
            ("standard error", &output.stderr),
        ] {
            if let Some((needle, at)) = never_printed(bytes) {
                let from = at.saturating_sub(200);
                panic!(
                    "cuttle printed {needle:?} on its {stream}:\n{}",
                    String::from_utf8_lossy(&bytes[from..(at + 200).min(bytes.len())])
                );
            }
        }
        assert
    }
}

pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(files_under(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

pub fn stderr(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

pub fn stdout(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stdout).into_owned()
}

/// Runs each named test function on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(&$crate::common::World::sqlite()) })*
        }
        mod postgres {
            $(#[test] fn $name() {
                if let Some(world) = $crate::common::World::postgres() { super::$name(&world) }
            })*
        }
    };
}

/// The password the tests export with.
pub const PASSWORD: &str = "correct horse battery staple";

impl World {
    /// `cuttle export` of `instance` into `dir` with [`PASSWORD`] and `extra` options.
    pub fn export(&self, instance: &str, dir: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
        self.cuttle()
            .env("CUTTLE_PASSWORD", PASSWORD)
            .args(["export", "--instance", instance, "--directory"])
            .arg(dir)
            .args(extra)
            .assert()
    }
}

/// Every file under `dir`, by path relative to it (with `/`), with its bytes.
pub fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    files_under(dir)
        .into_iter()
        .map(|file| {
            let relative = file
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let bytes = std::fs::read(&file).unwrap();
            (relative, bytes)
        })
        .collect()
}

/// Copies a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    for (relative, bytes) in tree(from) {
        let target = to.join(relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, bytes).unwrap();
    }
}

/// The environment variable through which [`World::import`] gives the password
/// (`--password-env`), so that the import tests exercise that option too.
pub const PASSWORD_VAR: &str = "CUTTLE_TEST_IMPORT_PASSWORD";

impl World {
    /// `cuttle import --instance NAME --directory D…` with [`PASSWORD`] (through `--password-env`)
    /// and `extra` options.
    pub fn import(
        &self,
        instance: &str,
        dirs: &[&Path],
        extra: &[&str],
    ) -> assert_cmd::assert::Assert {
        self.import_from("--directory", instance, dirs, extra)
    }

    /// [`World::import`] of sources given by `option` (`--directory`, `--archive`).
    pub fn import_from(
        &self,
        option: &str,
        instance: &str,
        sources: &[&Path],
        extra: &[&str],
    ) -> assert_cmd::assert::Assert {
        let mut command = self.cuttle();
        command.env(PASSWORD_VAR, PASSWORD).args([
            "import",
            "--instance",
            instance,
            "--password-env",
            PASSWORD_VAR,
        ]);
        for source in sources {
            command.arg(option).arg(source);
        }
        command.args(extra).assert()
    }

    /// Runs `test` with every command treating every document that has a large array as large
    /// (`CUTTLE_LARGE_DOCUMENT=0`): the same test, through the paths that handle a large
    /// document an element at a time.
    pub fn with_large_documents(&self, test: impl FnOnce(&World)) {
        self.large.set(true);
        test(self);
        self.large.set(false);
    }

    /// Creates an embedded (SQLite) instance, whatever this world's backend.
    pub fn create_sqlite_instance(&self, name: &str) {
        self.cuttle()
            .args(["instance", "create", name])
            .assert()
            .success();
    }

    /// Everything an instance holds, task logs and sensitive values (as ciphertexts) included:
    /// its export into a fresh directory, whose salt derives from the instance's identity, so
    /// that the same content always gives the same bytes. Compare before and after.
    pub fn contents(&self, instance: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
        let dir = TempDir::new().unwrap();
        self.export(instance, dir.path(), &["--include-task-logs"])
            .success();
        tree(dir.path())
    }

    /// What an instance stores, document by document as stored (ids, owners, keys, sensitive
    /// values sealed, task logs): the records of its backup, without the header and the trailer,
    /// which say when it was made. Compare before and after, to show that something changed
    /// nothing: stricter than [`contents`](World::contents), and no key is derived.
    pub fn records(&self, instance: &str) -> Vec<String> {
        let dir = TempDir::new().unwrap();
        let file = dir.path().join("records.cuttle");
        self.cuttle()
            .args(["instance", "backup", instance, "--file"])
            .arg(&file)
            .assert()
            .success();
        let text = std::fs::read_to_string(&file).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        assert!(lines.len() >= 2, "a backup has a header and a trailer");
        lines.pop();
        lines.remove(0);
        lines
    }
}

/// The lines of a `--format json` plan, each parsed.
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
        })
        .collect()
}

impl World {
    /// `cuttle sample --size small --seed SEED` into the existing instance `name`.
    pub fn sample(&self, name: &str, seed: u64) {
        self.cuttle()
            .args(["sample", "--instance", name, "--size", "small", "--seed"])
            .arg(seed.to_string())
            .assert()
            .success();
    }

    /// A new instance on this world's backend, filled with the small sample of seed 1.
    pub fn create_sampled(&self, name: &str) {
        self.create_instance(name);
        self.sample(name, 1);
    }

    /// Runs `script` with `sh` in `cwd`, as a person would: the test-built `cuttle` on the PATH,
    /// this world's `CUTTLE_HOME`, and [`PASSWORD`] in `CUTTLE_PASSWORD`.
    pub fn shell(&self, script: &str, cwd: &Path) -> std::process::ExitStatus {
        let bin = assert_cmd::cargo::cargo_bin("cuttle");
        let path = format!(
            "{}:{}",
            bin.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(cwd)
            .env("PATH", path)
            .env("CUTTLE_HOME", self.home())
            .env("CUTTLE_PASSWORD", PASSWORD)
            .env_remove("CUTTLE_MASTER_KEY")
            .status()
            .unwrap()
    }
}

/// From this size on, a document with a large array (a variable set's variables, a process's
/// steps, a tenant's variables) is handled an element at a time
/// (`cuttle_instance::large::LARGE_DOCUMENT`).
pub const LARGE: usize = 4 << 20;

/// `text` made large by whitespace at its end: the same document, with everything in it where
/// it stood.
pub fn padded(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + LARGE + 2);
    out.push_str(text);
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', LARGE));
    out.push('\n');
    out
}

/// Whether the export's file at `relative` holds a document with a large array.
pub fn has_large_array(relative: &str) -> bool {
    relative.starts_with("library-variable-sets/")
        || relative.starts_with("tenants/")
        || relative.ends_with("/variables.json")
        || relative.ends_with("/deployment-process.json")
}

/// Copies the export `from` to `to`, its documents with a large array [`padded`].
pub fn pad_large_documents(from: &Path, to: &Path) {
    for (relative, bytes) in tree(from) {
        let target = to.join(&relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        if has_large_array(&relative) {
            std::fs::write(target, padded(&String::from_utf8(bytes).unwrap())).unwrap();
        } else {
            std::fs::write(target, bytes).unwrap();
        }
    }
}
