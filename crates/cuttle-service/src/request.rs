//! Every operation, as data: what a surface parses from a person, and what renders back as the
//! `cuttle` command line that does the same ([`Request::command_line`]). A request holds no
//! secret: a password is given to the service beside it, and the request only says where the
//! command line reads it from ([`PasswordSource`]).

use std::fmt;
use std::path::PathBuf;

use cuttle_domain::Collection;
use cuttle_engine::closure::Ignore;
use cuttle_engine::format::InlineScripts;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where the command line reads an export's password from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PasswordSource {
    /// `CUTTLE_PASSWORD`, else a prompt on a terminal.
    #[default]
    Default,
    /// The first line of this file (`--password-file`).
    File(PathBuf),
    /// This environment variable (`--password-env`).
    Env(String),
}

/// `cuttle instance create`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceCreate {
    pub name: String,
    /// A PostgreSQL URL; embedded SQLite when absent. (It may hold a password: never shown.)
    pub database: Option<String>,
    pub master_key_file: Option<PathBuf>,
}

impl fmt::Debug for InstanceCreate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstanceCreate")
            .field("name", &self.name)
            .field(
                "database",
                &self
                    .database
                    .as_deref()
                    .map(cuttle_instance::home::redact_url),
            )
            .field("master_key_file", &self.master_key_file)
            .finish()
    }
}

/// `cuttle instance backup`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backup {
    pub instance: String,
    pub file: PathBuf,
}

/// The sizes of the sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SampleSize {
    Small,
    Medium,
    Large,
}

impl SampleSize {
    pub const ALL: [SampleSize; 3] = [SampleSize::Small, SampleSize::Medium, SampleSize::Large];

    pub fn name(self) -> &'static str {
        match self {
            SampleSize::Small => "small",
            SampleSize::Medium => "medium",
            SampleSize::Large => "large",
        }
    }

    pub(crate) fn generator(self) -> cuttle_sample::Size {
        match self {
            SampleSize::Small => cuttle_sample::Size::Small,
            SampleSize::Medium => cuttle_sample::Size::Medium,
            SampleSize::Large => cuttle_sample::Size::Large,
        }
    }
}

/// `cuttle sample`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    pub instance: String,
    pub size: SampleSize,
    pub seed: u64,
    /// Write into an instance that holds documents (those with the sample's names replaced).
    pub overwrite: bool,
}

/// Which document: its collection, the project that owns it (for a project-owned collection)
/// and its natural key within that project (parts separated by ` / `).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentAddress {
    pub instance: String,
    pub collection: Collection,
    pub project: Option<String>,
    /// Absent for a project's singleton parts (its process, its variables).
    pub key: Option<String>,
}

/// `cuttle doc list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocList {
    pub instance: String,
    pub collection: Collection,
    pub project: Option<String>,
}

/// `cuttle doc put`: the documents of a file (or of standard input, `-`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocPut {
    pub instance: String,
    pub collection: Collection,
    pub file: PathBuf,
}

/// Where an export goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Output {
    /// An export directory: created if missing; an earlier export there is mirrored.
    Directory(PathBuf),
    /// One deterministic archive of the export directory (`--archive`), gzip-compressed when
    /// its name ends in `.gz` or `.tgz`; an earlier export archive there is mirrored like a
    /// directory (its salt kept, so unchanged data gives the same bytes).
    Archive(PathBuf),
}

impl Output {
    /// The path, whichever it is.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Output::Directory(p) | Output::Archive(p) => p,
        }
    }

    fn render(&self, a: &mut Args) {
        match self {
            Output::Directory(p) => a.opt("directory", p),
            Output::Archive(p) => a.opt("archive", p),
        };
    }
}

/// `cuttle export`: the whole instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Export {
    pub instance: String,
    pub output: Output,
    /// Remove every file the format owns first.
    pub clean: bool,
    /// Remove nothing (several instances combined into one directory).
    pub no_prune: bool,
    /// A new salt when the password does not open the directory's earlier export.
    pub rekey: bool,
    pub include_task_logs: bool,
    pub ignore_history: bool,
    pub inline_scripts: InlineScripts,
    pub password: PasswordSource,
}

/// `cuttle partial-export`: some projects with everything they need.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartialExport {
    pub instance: String,
    pub output: Output,
    pub projects: Vec<String>,
    pub project_groups: Vec<String>,
    /// The kinds left out.
    pub ignore: Ignore,
    pub clean: bool,
    pub rekey: bool,
    pub include_task_logs: bool,
    pub inline_scripts: InlineScripts,
    pub password: PasswordSource,
}

/// What an import reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ImportSource {
    /// Export directories, combined in order (later ones win).
    Directories(Vec<PathBuf>),
    /// Export archives (`--archive`), combined in order like directories.
    Archives(Vec<PathBuf>),
    /// An instance backup, and a file holding the master key of the instance it came from.
    Backup {
        file: PathBuf,
        master_key_file: PathBuf,
    },
}

/// `cuttle import`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Import {
    pub instance: String,
    pub source: ImportSource,
    pub overwrite: bool,
    pub dry_run: bool,
    pub keep_destination_secrets: bool,
    pub include_task_logs: bool,
    pub ignore_version_check: bool,
    /// For export directories (a backup takes its master key instead).
    pub password: PasswordSource,
    /// With a dry run: where to save the plan, for [`ApplyPlan`] to apply exactly that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save_plan: Option<PathBuf>,
}

/// `cuttle import --plan FILE`: the import a saved plan describes, committed only if planning it
/// again gives the identical plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyPlan {
    pub instance: String,
    pub plan: PathBuf,
    pub password: PasswordSource,
}

/// Every operation of the command line (SPEC 4), as data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "operation", rename_all = "kebab-case")]
pub enum Request {
    InstanceCreate(InstanceCreate),
    InstanceList,
    InstanceShow {
        name: String,
    },
    InstanceDelete {
        name: String,
    },
    InstanceMasterKey {
        name: String,
    },
    InstanceBackup(Backup),
    Sample(Sample),
    DocList(DocList),
    DocGet(DocumentAddress),
    DocPut(DocPut),
    DocDelete(DocumentAddress),
    Export(Export),
    PartialExport(PartialExport),
    Import(Import),
    ApplyPlan(ApplyPlan),
    ApiKeyCreate(crate::keys::ApiKeyCreate),
    ApiKeyList {
        instance: String,
        user: Option<String>,
    },
    ApiKeyRevoke {
        instance: String,
        id: i64,
    },
    AdminCreate(crate::keys::AdminCreate),
    Audit {
        instance: String,
        before: Option<i64>,
        limit: usize,
    },
}

/// How many audit entries `cuttle audit` shows unless told.
pub const AUDIT_LIMIT: usize = 100;

/// Arguments being rendered: `--flag`, `--option value` (`--option=value` for a value that
/// starts with `-`, which would otherwise read as an option).
#[derive(Default)]
struct Args(Vec<String>, Option<String>);

impl Args {
    fn word(&mut self, word: &str) -> &mut Self {
        self.0.push(word.to_owned());
        self
    }
    fn opt(&mut self, name: &str, value: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        let value = value.as_ref().to_string_lossy();
        if value.starts_with('-') {
            self.0.push(format!("--{name}={value}"));
        } else {
            self.0.push(format!("--{name}"));
            self.0.push(value.into_owned());
        }
        self
    }
    /// A positional argument where it stands; one that starts with `-` goes last, behind
    /// `--` (see [`Args::done`]).
    fn positional(&mut self, value: &str) -> &mut Self {
        if value.starts_with('-') {
            self.1 = Some(value.to_owned());
        } else {
            self.0.push(value.to_owned());
        }
        self
    }
    fn done(mut self) -> Vec<String> {
        if let Some(value) = self.1.take() {
            self.0.push("--".into());
            self.0.push(value);
        }
        self.0
    }
    fn maybe(&mut self, name: &str, value: Option<impl AsRef<std::ffi::OsStr>>) -> &mut Self {
        if let Some(value) = value {
            self.opt(name, value);
        }
        self
    }
    fn flag(&mut self, name: &str, on: bool) -> &mut Self {
        if on {
            self.0.push(format!("--{name}"));
        }
        self
    }
    fn password(&mut self, source: &PasswordSource) -> &mut Self {
        match source {
            PasswordSource::Default => self,
            PasswordSource::File(file) => self.opt("password-file", file),
            PasswordSource::Env(variable) => self.opt("password-env", variable),
        }
    }
    fn inline_scripts(&mut self, inline: InlineScripts) -> &mut Self {
        match inline {
            InlineScripts::Extract => self,
            InlineScripts::Inline => self.opt("inline-scripts", "inline"),
        }
    }
}

impl Request {
    /// The arguments of the `cuttle` command that does the same (without `cuttle` itself), in
    /// the order `--help` lists them; [`crate::script::shell_line`] quotes them for a shell.
    /// Non-UTF-8 paths are rendered lossily.
    pub fn command_line(&self) -> Vec<String> {
        let mut a = Args::default();
        match self {
            Request::InstanceCreate(r) => {
                a.word("instance").word("create").positional(&r.name);
                a.maybe("database", r.database.as_ref())
                    .maybe("master-key-file", r.master_key_file.as_ref());
            }
            Request::InstanceList => {
                a.word("instance").word("list");
            }
            Request::InstanceShow { name } => {
                a.word("instance").word("show").positional(name);
            }
            Request::InstanceDelete { name } => {
                a.word("instance").word("delete").positional(name);
            }
            Request::InstanceMasterKey { name } => {
                a.word("instance").word("master-key").positional(name);
            }
            Request::InstanceBackup(r) => {
                a.word("instance").word("backup").positional(&r.instance);
                a.opt("file", &r.file);
            }
            Request::Sample(r) => {
                a.word("sample").opt("instance", &r.instance);
                a.opt("size", r.size.name())
                    .opt("seed", r.seed.to_string())
                    .flag("overwrite", r.overwrite);
            }
            Request::DocList(r) => {
                a.word("doc").word("list").word(r.collection.name());
                a.opt("instance", &r.instance)
                    .maybe("project", r.project.as_ref());
            }
            Request::DocGet(r) | Request::DocDelete(r) => {
                let verb = if matches!(self, Request::DocGet(_)) {
                    "get"
                } else {
                    "delete"
                };
                a.word("doc").word(verb).word(r.collection.name());
                if let Some(key) = &r.key {
                    a.positional(key);
                }
                a.opt("instance", &r.instance)
                    .maybe("project", r.project.as_ref());
            }
            Request::DocPut(r) => {
                a.word("doc").word("put").word(r.collection.name());
                a.opt("instance", &r.instance).opt("file", &r.file);
            }
            Request::Export(r) => {
                a.word("export").opt("instance", &r.instance);
                r.output.render(&mut a);
                a.flag("clean", r.clean)
                    .flag("no-prune", r.no_prune)
                    .flag("rekey", r.rekey)
                    .flag("include-task-logs", r.include_task_logs)
                    .flag("ignore-history", r.ignore_history)
                    .inline_scripts(r.inline_scripts)
                    .password(&r.password);
            }
            Request::PartialExport(r) => {
                a.word("partial-export").opt("instance", &r.instance);
                r.output.render(&mut a);
                for p in &r.projects {
                    a.opt("project", p);
                }
                for g in &r.project_groups {
                    a.opt("project-group", g);
                }
                for kind in r.ignore.kinds() {
                    a.flag(&format!("ignore-{}", kind.name()), true);
                }
                a.flag("clean", r.clean)
                    .flag("rekey", r.rekey)
                    .flag("include-task-logs", r.include_task_logs)
                    .inline_scripts(r.inline_scripts)
                    .password(&r.password);
            }
            Request::Import(r) => {
                a.word("import").opt("instance", &r.instance);
                match &r.source {
                    ImportSource::Directories(dirs) => {
                        for d in dirs {
                            a.opt("directory", d);
                        }
                    }
                    ImportSource::Archives(archives) => {
                        for f in archives {
                            a.opt("archive", f);
                        }
                    }
                    ImportSource::Backup {
                        file,
                        master_key_file,
                    } => {
                        a.opt("backup", file)
                            .opt("master-key-file", master_key_file);
                    }
                }
                a.flag("overwrite", r.overwrite)
                    .flag("dry-run", r.dry_run)
                    .flag("keep-destination-secrets", r.keep_destination_secrets)
                    .flag("include-task-logs", r.include_task_logs)
                    .flag("ignore-version-check", r.ignore_version_check)
                    .maybe("save-plan", r.save_plan.as_ref())
                    .password(&r.password);
            }
            Request::ApplyPlan(r) => {
                a.word("import").opt("instance", &r.instance);
                a.opt("plan", &r.plan).password(&r.password);
            }
            Request::ApiKeyCreate(r) => {
                a.word("api-key")
                    .word("create")
                    .opt("instance", &r.instance);
                a.opt("user", &r.user)
                    .maybe("expires", r.expires.as_ref().map(|t| t.as_str()))
                    .flag("read-only", r.read_only);
            }
            Request::ApiKeyList { instance, user } => {
                a.word("api-key").word("list").opt("instance", instance);
                a.maybe("user", user.as_ref());
            }
            Request::ApiKeyRevoke { instance, id } => {
                a.word("api-key").word("revoke").positional(&id.to_string());
                a.opt("instance", instance);
            }
            Request::AdminCreate(r) => {
                a.word("admin").word("create").opt("instance", &r.instance);
                a.opt("user", &r.user)
                    .maybe("expires", r.expires.as_ref().map(|t| t.as_str()));
            }
            Request::Audit {
                instance,
                before,
                limit,
            } => {
                a.word("audit").opt("instance", instance);
                a.maybe("before", before.map(|b| b.to_string()));
                if *limit != AUDIT_LIMIT {
                    a.opt("limit", limit.to_string());
                }
            }
        }
        a.done()
    }

    /// Refuses what contradicts itself ([`crate::ErrorKind::Usage`]) or selects nothing
    /// ([`crate::ErrorKind::Selection`]), whichever surface the request came from.
    pub fn check(&self) -> Result<()> {
        match self {
            Request::Export(r) => r.check(),
            Request::PartialExport(r) => r.check(),
            Request::Import(r) => r.check(),
            _ => Ok(()),
        }
    }
}

impl Export {
    pub fn check(&self) -> Result<()> {
        if self.no_prune && self.clean {
            return Err(Error::usage(
                "removing nothing and removing every file the format owns first contradict each other",
            ));
        }
        if self.no_prune && self.rekey {
            return Err(Error::usage(
                "removing nothing keeps other instances' values, which a new salt would leave under another key",
            ));
        }
        if self.include_task_logs && self.ignore_history {
            return Err(Error::usage(
                "task logs are part of the history that is left out",
            ));
        }
        if self.no_prune && matches!(self.output, Output::Archive(_)) {
            return Err(Error::usage(
                "an archive holds one instance's export: removing nothing combines instances in a directory",
            ));
        }
        Ok(())
    }
}

impl PartialExport {
    pub fn check(&self) -> Result<()> {
        if self.projects.is_empty() && self.project_groups.is_empty() {
            return Err(crate::Error::new(
                crate::ErrorKind::Selection,
                "a partial export selects at least one project or project group",
            )
            .with_hint(Some(crate::Hint::SelectProjects)));
        }
        if self.include_task_logs && (self.ignore.history || self.ignore.deployments) {
            return Err(Error::usage(
                "task logs belong to the deployments that are left out",
            ));
        }
        Ok(())
    }
}

impl Import {
    pub fn check(&self) -> Result<()> {
        match &self.source {
            ImportSource::Directories(dirs) if dirs.is_empty() => Err(Error::usage(
                "an import reads at least one export directory",
            )),
            ImportSource::Archives(archives) if archives.is_empty() => {
                Err(Error::usage("an import reads at least one export archive"))
            }
            _ if self.save_plan.is_some() && !self.dry_run => Err(Error::usage(
                "a plan is saved by a dry run, to be applied later",
            )),
            ImportSource::Backup { .. } if self.password != PasswordSource::Default => Err(
                Error::usage("a backup takes its instance's master key, not a password"),
            ),
            ImportSource::Backup { .. } if self.include_task_logs => Err(Error::usage(
                "a backup brings its task logs with it; only export directories leave them out",
            )),
            _ => Ok(()),
        }
    }
}
