//! The command-line surface, declared once; `--help` is derived from it.

use std::path::PathBuf;

use clap::builder::PossibleValue;
use clap::{Args, Parser, Subcommand, ValueEnum};
use cuttle_domain::{COLLECTIONS, Collection, Ignorable};
use cuttle_engine::closure::Ignore;
use cuttle_engine::format::InlineScripts;
use cuttle_service::request::{self as req, PasswordSource, Request};

#[derive(Debug, Parser)]
#[command(
    name = "cuttle",
    version,
    about = "Cuttle: a self-hosted deployment-configuration server, and data migration between its instances",
    long_about = None,
    after_help = "Instances are registered under CUTTLE_HOME (default: the platform's data directory)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The contradictions clap cannot declare (they depend on a value): the usage error, as
    /// clap reports its own (exit status 2).
    pub fn check(&self) -> Result<(), clap::Error> {
        if let Command::Import(args) = &self.command
            && args.quiet
            && args.format == Format::Json
        {
            return Err(<Cli as clap::CommandFactory>::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                "--quiet shortens the text plan; --format json streams every line, for a program to filter: give one of them",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, list, show and delete instances; print a master key.
    #[command(subcommand)]
    Instance(InstanceCommand),
    /// Fill an empty instance with realistic sample data (every sensitive value starts with
    /// `sample-secret-`); --overwrite to write it into one that holds documents.
    Sample(SampleArgs),
    /// Read and write single documents, in the export shape.
    #[command(subcommand)]
    Doc(DocCommand),
    /// Export the whole instance to a directory of deterministic JSON, secrets encrypted under a password.
    Export(ExportArgs),
    /// Export some projects with everything they depend on, so that they import into an empty instance.
    PartialExport(PartialExportArgs),
    /// Import export directories (or an instance backup) into an instance: matched by name,
    /// previewed, applied in one transaction.
    Import(ImportArgs),
    /// Walk through an export or an import in the terminal, ending by running it or by showing
    /// the command that does the same.
    Wizard,
    /// Serve an instance over HTTP: the API under /api/v1 (OpenAPI at /api/v1/openapi.json).
    Serve(ServeArgs),
    /// Create, list and revoke API keys (shown once, kept only as a hash).
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Make the first administrator of an instance.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Show the audit log: every write and refusal, newest first.
    Audit(AuditArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[arg(long, value_name = "NAME")]
    pub instance: String,
    /// The address to listen on. Anything but a loopback address needs --tls-cert and
    /// --tls-key, or --insecure-http.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The server's certificate chain (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The server's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address (behind a proxy that terminates TLS).
    #[arg(long, conflicts_with = "tls_cert")]
    pub insecure_http: bool,
    /// The largest request body accepted, in bytes (413 beyond it).
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    pub max_request_bytes: usize,
    /// How long a request may take, in seconds, from its first byte to its answer (408 beyond
    /// it: a client that sends its body too slowly holds nothing for longer).
    #[arg(long, value_name = "SECONDS", default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout: u64,
    /// A folder under which import tasks may read export directories on this machine (repeat
    /// for more); without one, imports over HTTP take uploaded archives only.
    #[arg(long, value_name = "DIR")]
    pub migration_root: Vec<PathBuf>,
    /// Where tasks keep their archives, backups and plans, and uploads wait for their import,
    /// while the server runs (a temporary folder there, removed when it stops); the system's
    /// temporary folder by default.
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
}

/// A moment an API key stops working: a duration from now (`90d`, `12h`) or a moment
/// (`2027-01-31`, `2027-01-31T12:00:00.000Z`).
fn expiry(text: &str) -> Result<cuttle_domain::documents::Timestamp, String> {
    cuttle_service::keys::parse_expiry(text)
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Make an API key for a user and print it, once: the instance keeps only its hash.
    Create {
        #[arg(long, value_name = "NAME")]
        instance: String,
        /// The user the key acts as (their teams decide what it may do).
        #[arg(long, value_name = "USERNAME")]
        user: String,
        /// When it stops working: 90d, 12h, 2027-01-31, or 2027-01-31T12:00:00.000Z.
        #[arg(long, value_name = "WHEN", value_parser = expiry)]
        expires: Option<cuttle_domain::documents::Timestamp>,
        /// The key may only read.
        #[arg(long)]
        read_only: bool,
    },
    /// List API keys, newest first (never the keys themselves).
    List {
        #[arg(long, value_name = "NAME")]
        instance: String,
        /// Only this user's.
        #[arg(long, value_name = "USERNAME")]
        user: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Revoke an API key: it stops working at once.
    Revoke {
        /// The key's id, as `api-key list` shows it.
        id: i64,
        #[arg(long, value_name = "NAME")]
        instance: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Make USERNAME an administrator (the user, a role holding AdministerSystem and the team
    /// "Administrators", each if missing) and print an API key for them, once.
    Create {
        #[arg(long, value_name = "NAME")]
        instance: String,
        #[arg(long, value_name = "USERNAME")]
        user: String,
        /// When the key stops working: 90d, 12h, 2027-01-31, or 2027-01-31T12:00:00.000Z.
        #[arg(long, value_name = "WHEN", value_parser = expiry)]
        expires: Option<cuttle_domain::documents::Timestamp>,
    },
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[arg(long, value_name = "NAME")]
    pub instance: String,
    /// Only entries older than this one (its id): the next page.
    #[arg(long, value_name = "ID")]
    pub before: Option<i64>,
    /// At most this many entries.
    #[arg(long, value_name = "N", default_value_t = req::AUDIT_LIMIT)]
    pub limit: usize,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
#[command(
    group(clap::ArgGroup::new("source").required(true).args(["directory", "archive", "backup", "plan"])),
    after_help = "Skip (the default) leaves every document the destination has as it is, and a project that exists with everything it owns. \
--overwrite replaces them: a project brings its process, channels and triggers whole; variable sets merge by key; \
teams and tenants' project connections only grow; history is create-only; nothing else the destination has is removed."
)]
pub struct ImportArgs {
    #[arg(long, value_name = "NAME")]
    pub instance: String,
    /// An export directory (repeat for more: they are combined in order, later ones win).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["backup", "archive", "plan"])]
    pub directory: Vec<PathBuf>,
    /// An export archive (`cuttle export --archive`; tar, or tar.gz), instead of directories
    /// (repeat for more: they are combined in order, later ones win).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["backup", "plan"])]
    pub archive: Vec<PathBuf>,
    /// Apply a plan saved by `--dry-run --save-plan`: the same import, committed only if
    /// planning it again gives the identical plan from the same sources (the sources and
    /// options are the plan's).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["backup", "overwrite", "dry_run", "keep_destination_secrets", "include_task_logs", "ignore_version_check"]
    )]
    pub plan: Option<PathBuf>,
    /// With --dry-run: save the plan to this file, for `--plan` to apply exactly that later.
    #[arg(long, value_name = "FILE", requires = "dry_run")]
    pub save_plan: Option<PathBuf>,
    /// An instance backup (`cuttle instance backup`), with --master-key-file (it takes no
    /// password).
    #[arg(
        long,
        value_name = "FILE",
        requires = "master_key_file",
        conflicts_with_all = ["password_file", "password_env"]
    )]
    pub backup: Option<PathBuf>,
    /// The master key of the instance the backup came from (the line `cuttle instance master-key` prints).
    #[arg(long, value_name = "F", requires = "backup")]
    pub master_key_file: Option<PathBuf>,
    /// Replace what the destination has (under the merge rules) instead of skipping it.
    #[arg(long)]
    pub overwrite: bool,
    /// Do everything, writes included, then roll back; print the plan. Exits 0 when the import would succeed.
    #[arg(long)]
    pub dry_run: bool,
    /// Never replace a sensitive value that the destination already holds.
    #[arg(long)]
    pub keep_destination_secrets: bool,
    /// The plan as text, or as JSON lines (streamed).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Import the sources' task logs too.
    #[arg(long, conflicts_with = "backup")]
    pub include_task_logs: bool,
    /// Read an export or backup of a newer format version anyway (for experts: what this
    /// Cuttle does not know is refused or misread).
    #[arg(long)]
    pub ignore_version_check: bool,
    /// Print only the summary and the changes that grant access, not every document (the text
    /// plan; refused with --format json, which is for programs to filter).
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Where a password comes from; without these, `CUTTLE_PASSWORD`, else a prompt on a terminal.
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Read the password from this file (its first line).
    #[arg(long, value_name = "FILE", conflicts_with = "password_env")]
    pub password_file: Option<PathBuf>,
    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InlineScriptsArg {
    /// Scripts become files beside their owner; the JSON names the file.
    Extract,
    /// Scripts stay inside the JSON.
    Inline,
}

#[derive(Debug, Args)]
#[command(
    group(clap::ArgGroup::new("selection").required(true).multiple(true).args(["project", "project_group"])),
    group(clap::ArgGroup::new("output").required(true).args(["directory", "archive"]))
)]
pub struct PartialExportArgs {
    #[arg(long, value_name = "NAME")]
    pub instance: String,
    /// A directory without files of an export (empty, or a fresh git clone: a README or .git do
    /// not count), or an earlier partial export of the same selection (mirrored).
    #[arg(long, value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// One deterministic archive instead of a directory (tar; tar.gz for a name ending in .gz
    /// or .tgz); an earlier export archive there is mirrored like a directory.
    #[arg(long, value_name = "FILE")]
    pub archive: Option<PathBuf>,
    /// A project to export (repeat for more).
    #[arg(long, value_name = "P")]
    pub project: Vec<String>,
    /// Every project of this group (repeat for more).
    #[arg(long, value_name = "G")]
    pub project_group: Vec<String>,
    /// Leave out deployment targets (references to them are resolved at import).
    #[arg(long)]
    pub ignore_machines: bool,
    /// Leave out tenants.
    #[arg(long)]
    pub ignore_tenants: bool,
    /// Leave out certificates.
    #[arg(long)]
    pub ignore_certificates: bool,
    /// Leave out releases, deployments and task logs.
    #[arg(long)]
    pub ignore_history: bool,
    /// Leave out deployments and task logs (releases stay).
    #[arg(long)]
    pub ignore_deployments: bool,
    /// Remove every file the format owns from the directory first (also to replace another selection).
    #[arg(long)]
    pub clean: bool,
    /// Re-encrypt under a new salt when the password does not open the directory's earlier export.
    #[arg(long)]
    pub rekey: bool,
    /// Include deployments' task logs (as .log files).
    #[arg(long, conflicts_with_all = ["ignore_history", "ignore_deployments"])]
    pub include_task_logs: bool,
    #[arg(long, value_enum, default_value_t = InlineScriptsArg::Extract)]
    pub inline_scripts: InlineScriptsArg,
    #[command(flatten)]
    pub password: PasswordArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("output").required(true).args(["directory", "archive"])))]
pub struct ExportArgs {
    #[arg(long, value_name = "NAME")]
    pub instance: String,
    /// The export directory: created if missing; an earlier export there is mirrored.
    #[arg(long, value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// One deterministic archive instead of a directory (tar; tar.gz for a name ending in .gz
    /// or .tgz): the same data gives the same bytes; an earlier export archive there is mirrored
    /// like a directory (its salt kept).
    #[arg(long, value_name = "FILE", conflicts_with = "no_prune")]
    pub archive: Option<PathBuf>,
    /// Remove every file the format owns from the directory first.
    #[arg(long)]
    pub clean: bool,
    /// Remove nothing: how several instances are combined into one directory (each exported
    /// with the same password; so neither --clean nor --rekey, which would leave the others'
    /// values under another key, goes with it).
    #[arg(long, conflicts_with_all = ["clean", "rekey"])]
    pub no_prune: bool,
    /// Re-encrypt under a new salt when the password does not open the directory's earlier export.
    #[arg(long)]
    pub rekey: bool,
    /// Include deployments' task logs (as .log files).
    #[arg(long, conflicts_with = "ignore_history")]
    pub include_task_logs: bool,
    /// Leave out releases, deployments and task logs.
    #[arg(long)]
    pub ignore_history: bool,
    #[arg(long, value_enum, default_value_t = InlineScriptsArg::Extract)]
    pub inline_scripts: InlineScriptsArg,
    #[command(flatten)]
    pub password: PasswordArgs,
}

#[derive(Debug, Subcommand)]
pub enum InstanceCommand {
    /// Create an instance: embedded SQLite under CUTTLE_HOME unless --database gives a PostgreSQL URL.
    Create {
        name: String,
        /// A PostgreSQL URL (postgres://user@host:port/database); the password may come from PGPASSWORD.
        #[arg(long, value_name = "URL")]
        database: Option<String>,
        /// Where to write the new master key (mode 0600); default: beside the instance under CUTTLE_HOME.
        #[arg(long, value_name = "PATH")]
        master_key_file: Option<PathBuf>,
    },
    /// List registered instances.
    List,
    /// Show an instance: identity, database, versions, documents per collection.
    Show {
        name: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Delete an instance: its database, its registration, and its key file if under CUTTLE_HOME.
    Delete { name: String },
    /// Print an instance's master key, as one line (what --master-key-file takes).
    MasterKey { name: String },
    /// Write a consistent backup of the whole instance to one file (mode 0600): sensitive values
    /// stay under the instance's master key; `cuttle import --backup` reads it.
    Backup {
        name: String,
        /// The backup file to create (refused if it exists).
        #[arg(long, value_name = "PATH")]
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SampleSize {
    Small,
    Medium,
    Large,
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    #[arg(long, value_name = "NAME")]
    pub instance: String,
    #[arg(long, value_enum, default_value_t = SampleSize::Small)]
    pub size: SampleSize,
    /// The same seed gives the same data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write into an instance that already holds documents: those with the sample's names are
    /// replaced, the others stay. Without it, such an instance is refused and nothing changes.
    #[arg(long)]
    pub overwrite: bool,
}

/// A collection name, as the command line takes it.
#[derive(Debug, Clone, Copy)]
pub struct CollectionArg(pub Collection);

impl ValueEnum for CollectionArg {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: std::sync::LazyLock<Vec<CollectionArg>> = std::sync::LazyLock::new(|| {
            COLLECTIONS
                .iter()
                .map(|d| CollectionArg(d.collection))
                .collect()
        });
        &ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        let decl = self.0.decl();
        Some(PossibleValue::new(decl.name).help(decl.about))
    }
}

#[derive(Debug, Subcommand)]
pub enum DocCommand {
    /// Print the natural key of every document of a collection, one a line.
    List {
        #[arg(value_enum)]
        collection: CollectionArg,
        #[arg(long, value_name = "NAME")]
        instance: String,
        /// For a project-owned collection: only this project's documents, keyed within it.
        #[arg(long, value_name = "P")]
        project: Option<String>,
    },
    /// Print one document as JSON in the export shape, sensitive values masked.
    Get {
        #[arg(value_enum)]
        collection: CollectionArg,
        /// The natural key; parts of a composite key separated by " / ". Omitted for a project's
        /// deployment process or variables.
        key: Option<String>,
        #[arg(long, value_name = "NAME")]
        instance: String,
        #[arg(long, value_name = "P")]
        project: Option<String>,
    },
    /// Create or replace documents from JSON (one document, or an array of them).
    Put {
        #[arg(value_enum)]
        collection: CollectionArg,
        #[arg(long, value_name = "NAME")]
        instance: String,
        /// The JSON file, or - for standard input.
        #[arg(long, value_name = "F")]
        file: PathBuf,
    },
    /// Delete a document (a project with everything it owns); refused while others refer to it.
    Delete {
        #[arg(value_enum)]
        collection: CollectionArg,
        /// The natural key, as for `doc get`.
        key: Option<String>,
        #[arg(long, value_name = "NAME")]
        instance: String,
        #[arg(long, value_name = "P")]
        project: Option<String>,
    },
}

// ---------------------------------------------------------------------------------------------
// From what was parsed to the service's requests. (How the result is shown, `--format` and
// `--quiet`, is the command line's own: [`Presentation`].)

/// How a command's result is shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Presentation {
    pub format: Option<Format>,
    pub quiet: bool,
}

impl PasswordArgs {
    pub fn source(&self) -> PasswordSource {
        match (&self.password_file, &self.password_env) {
            (Some(file), _) => PasswordSource::File(file.clone()),
            (None, Some(variable)) => PasswordSource::Env(variable.clone()),
            (None, None) => PasswordSource::Default,
        }
    }
}

/// The one of `--directory` and `--archive` given (clap requires exactly one).
fn output(directory: &Option<PathBuf>, archive: &Option<PathBuf>) -> req::Output {
    match (directory, archive) {
        (_, Some(archive)) => req::Output::Archive(archive.clone()),
        (Some(directory), None) => req::Output::Directory(directory.clone()),
        (None, None) => unreachable!("clap requires --directory or --archive"),
    }
}

fn inline_scripts(arg: InlineScriptsArg) -> InlineScripts {
    match arg {
        InlineScriptsArg::Extract => InlineScripts::Extract,
        InlineScriptsArg::Inline => InlineScripts::Inline,
    }
}

impl Command {
    /// The request this command makes, and how its result is shown; `None` for the wizard,
    /// which makes its requests question by question.
    pub fn request(&self) -> Option<(Request, Presentation)> {
        let plain = Presentation::default();
        Some(match self {
            Command::Wizard | Command::Serve(_) => return None,
            Command::ApiKey(command) => match command {
                ApiKeyCommand::Create {
                    instance,
                    user,
                    expires,
                    read_only,
                } => (
                    Request::ApiKeyCreate(cuttle_service::keys::ApiKeyCreate {
                        instance: instance.clone(),
                        user: user.clone(),
                        expires: expires.clone(),
                        read_only: *read_only,
                    }),
                    plain,
                ),
                ApiKeyCommand::List {
                    instance,
                    user,
                    format,
                } => (
                    Request::ApiKeyList {
                        instance: instance.clone(),
                        user: user.clone(),
                    },
                    Presentation {
                        format: Some(*format),
                        quiet: false,
                    },
                ),
                ApiKeyCommand::Revoke { id, instance } => (
                    Request::ApiKeyRevoke {
                        instance: instance.clone(),
                        id: *id,
                    },
                    plain,
                ),
            },
            Command::Admin(AdminCommand::Create {
                instance,
                user,
                expires,
            }) => (
                Request::AdminCreate(cuttle_service::keys::AdminCreate {
                    instance: instance.clone(),
                    user: user.clone(),
                    expires: expires.clone(),
                }),
                plain,
            ),
            Command::Audit(a) => (
                Request::Audit {
                    instance: a.instance.clone(),
                    before: a.before,
                    limit: a.limit,
                },
                Presentation {
                    format: Some(a.format),
                    quiet: false,
                },
            ),
            Command::Instance(command) => match command {
                InstanceCommand::Create {
                    name,
                    database,
                    master_key_file,
                } => (
                    Request::InstanceCreate(req::InstanceCreate {
                        name: name.clone(),
                        database: database.clone(),
                        master_key_file: master_key_file.clone(),
                    }),
                    plain,
                ),
                InstanceCommand::List => (Request::InstanceList, plain),
                InstanceCommand::Show { name, format } => (
                    Request::InstanceShow { name: name.clone() },
                    Presentation {
                        format: Some(*format),
                        quiet: false,
                    },
                ),
                InstanceCommand::Delete { name } => {
                    (Request::InstanceDelete { name: name.clone() }, plain)
                }
                InstanceCommand::MasterKey { name } => {
                    (Request::InstanceMasterKey { name: name.clone() }, plain)
                }
                InstanceCommand::Backup { name, file } => (
                    Request::InstanceBackup(req::Backup {
                        instance: name.clone(),
                        file: file.clone(),
                    }),
                    plain,
                ),
            },
            Command::Sample(a) => (
                Request::Sample(req::Sample {
                    instance: a.instance.clone(),
                    size: match a.size {
                        SampleSize::Small => req::SampleSize::Small,
                        SampleSize::Medium => req::SampleSize::Medium,
                        SampleSize::Large => req::SampleSize::Large,
                    },
                    seed: a.seed,
                    overwrite: a.overwrite,
                }),
                plain,
            ),
            Command::Doc(command) => (
                match command {
                    DocCommand::List {
                        collection,
                        instance,
                        project,
                    } => Request::DocList(req::DocList {
                        instance: instance.clone(),
                        collection: collection.0,
                        project: project.clone(),
                    }),
                    DocCommand::Get {
                        collection,
                        key,
                        instance,
                        project,
                    } => Request::DocGet(req::DocumentAddress {
                        instance: instance.clone(),
                        collection: collection.0,
                        project: project.clone(),
                        key: key.clone(),
                    }),
                    DocCommand::Put {
                        collection,
                        instance,
                        file,
                    } => Request::DocPut(req::DocPut {
                        instance: instance.clone(),
                        collection: collection.0,
                        file: file.clone(),
                    }),
                    DocCommand::Delete {
                        collection,
                        key,
                        instance,
                        project,
                    } => Request::DocDelete(req::DocumentAddress {
                        instance: instance.clone(),
                        collection: collection.0,
                        project: project.clone(),
                        key: key.clone(),
                    }),
                },
                plain,
            ),
            Command::Export(a) => (
                Request::Export(req::Export {
                    instance: a.instance.clone(),
                    output: output(&a.directory, &a.archive),
                    clean: a.clean,
                    no_prune: a.no_prune,
                    rekey: a.rekey,
                    include_task_logs: a.include_task_logs,
                    ignore_history: a.ignore_history,
                    inline_scripts: inline_scripts(a.inline_scripts),
                    password: a.password.source(),
                }),
                plain,
            ),
            Command::PartialExport(a) => {
                let mut ignore = Ignore::default();
                for (on, kind) in [
                    (a.ignore_machines, Ignorable::Machines),
                    (a.ignore_tenants, Ignorable::Tenants),
                    (a.ignore_certificates, Ignorable::Certificates),
                    (a.ignore_history, Ignorable::History),
                    (a.ignore_deployments, Ignorable::Deployments),
                ] {
                    if on {
                        ignore.set(kind);
                    }
                }
                (
                    Request::PartialExport(req::PartialExport {
                        instance: a.instance.clone(),
                        output: output(&a.directory, &a.archive),
                        projects: a.project.clone(),
                        project_groups: a.project_group.clone(),
                        ignore,
                        clean: a.clean,
                        rekey: a.rekey,
                        include_task_logs: a.include_task_logs,
                        inline_scripts: inline_scripts(a.inline_scripts),
                        password: a.password.source(),
                    }),
                    plain,
                )
            }
            Command::Import(ImportArgs {
                instance,
                plan: Some(plan),
                password,
                format,
                quiet,
                ..
            }) => (
                Request::ApplyPlan(req::ApplyPlan {
                    instance: instance.clone(),
                    plan: plan.clone(),
                    password: password.source(),
                }),
                Presentation {
                    format: Some(*format),
                    quiet: *quiet,
                },
            ),
            Command::Import(a) => (
                Request::Import(req::Import {
                    instance: a.instance.clone(),
                    source: match (&a.backup, &a.master_key_file) {
                        (Some(file), Some(key)) => req::ImportSource::Backup {
                            file: file.clone(),
                            master_key_file: key.clone(),
                        },
                        _ if !a.archive.is_empty() => {
                            req::ImportSource::Archives(a.archive.clone())
                        }
                        _ => req::ImportSource::Directories(a.directory.clone()),
                    },
                    save_plan: a.save_plan.clone(),
                    overwrite: a.overwrite,
                    dry_run: a.dry_run,
                    keep_destination_secrets: a.keep_destination_secrets,
                    include_task_logs: a.include_task_logs,
                    ignore_version_check: a.ignore_version_check,
                    password: a.password.source(),
                }),
                Presentation {
                    format: Some(a.format),
                    quiet: a.quiet,
                },
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    //! "Show script" cannot drift from what it shows: every request renders as a command line
    //! that the real parser reads back as the same request, hostile names included.

    use std::path::PathBuf;

    use clap::Parser;
    use proptest::prelude::*;
    use proptest::sample::select;

    use super::*;

    /// Text as people type it and as attackers do: words, spaces, quotes and shell
    /// metacharacters, leading dashes, options' own names, Unicode, the empty string.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z0-9 ._-]{1,12}",
            "\\PC{0,10}",
            "-[A-Za-z-]{0,8}",
            select(vec![
                "--project",
                "--",
                "-",
                "",
                " ",
                "a b'c\"d",
                "$HOME `x` \\ *",
                "Café Zürich/東京",
                "1.4.2 / Production",
                "\u{202e}evil",
            ])
            .prop_map(str::to_owned),
        ]
    }

    /// A path: any text but the empty one, which names no file (the parser refuses it).
    fn path() -> impl Strategy<Value = PathBuf> {
        text()
            .prop_filter("a path", |t| !t.is_empty())
            .prop_map(PathBuf::from)
    }

    fn collection() -> impl Strategy<Value = Collection> {
        select(COLLECTIONS.iter().map(|d| d.collection).collect::<Vec<_>>())
    }

    fn password() -> impl Strategy<Value = PasswordSource> {
        prop_oneof![
            Just(PasswordSource::Default),
            path().prop_map(PasswordSource::File),
            text().prop_map(PasswordSource::Env),
        ]
    }

    fn inline() -> impl Strategy<Value = InlineScripts> {
        select(vec![InlineScripts::Extract, InlineScripts::Inline])
    }

    fn export() -> impl Strategy<Value = Request> {
        (
            (text(), output(), any::<[bool; 5]>()),
            (inline(), password()),
        )
            .prop_map(
                |((instance, output, [clean, no_prune, rekey, logs, history]), (inline, pw))| {
                    let no_prune = no_prune && matches!(output, req::Output::Directory(_));
                    Request::Export(req::Export {
                        instance,
                        output,
                        clean: clean && !no_prune,
                        no_prune,
                        rekey: rekey && !no_prune,
                        include_task_logs: logs && !history,
                        ignore_history: history,
                        inline_scripts: inline,
                        password: pw,
                    })
                },
            )
    }

    fn partial_export() -> impl Strategy<Value = Request> {
        (
            (text(), output(), prop::collection::vec(text(), 0..3)),
            (prop::collection::vec(text(), 0..3), any::<[bool; 8]>()),
            (inline(), password()),
        )
            .prop_filter_map(
                "a selection",
                |((instance, output, projects), (groups, flags), (inline, pw))| {
                    let mut ignore = Ignore::default();
                    for (kind, on) in Ignorable::ALL.into_iter().zip(flags) {
                        if on {
                            ignore.set(kind);
                        }
                    }
                    let request = req::PartialExport {
                        instance,
                        output,
                        projects,
                        project_groups: groups,
                        ignore,
                        clean: flags[5],
                        rekey: flags[6],
                        include_task_logs: flags[7] && !ignore.history && !ignore.deployments,
                        inline_scripts: inline,
                        password: pw,
                    };
                    request
                        .check()
                        .is_ok()
                        .then_some(Request::PartialExport(request))
                },
            )
    }

    fn output() -> impl Strategy<Value = req::Output> {
        prop_oneof![
            path().prop_map(req::Output::Directory),
            path().prop_map(req::Output::Archive),
        ]
    }

    fn apply_plan() -> impl Strategy<Value = Request> {
        (text(), path(), password()).prop_map(|(instance, plan, password)| {
            Request::ApplyPlan(req::ApplyPlan {
                instance,
                plan,
                password,
            })
        })
    }

    fn import() -> impl Strategy<Value = Request> {
        (
            (
                text(),
                prop::collection::vec(path(), 1..4),
                (path(), path(), proptest::option::of(path())),
            ),
            (0..3u8, any::<[bool; 5]>(), password()),
        )
            .prop_map(
                |(
                    (instance, dirs, (file, key, save_plan)),
                    (kind, [ow, dry, keep, logs, ivc], pw),
                )| {
                    let backup = kind == 0;
                    Request::Import(req::Import {
                        instance,
                        source: match kind {
                            0 => req::ImportSource::Backup {
                                file,
                                master_key_file: key,
                            },
                            1 => req::ImportSource::Archives(dirs),
                            _ => req::ImportSource::Directories(dirs),
                        },
                        save_plan: save_plan.filter(|_| dry),
                        overwrite: ow,
                        dry_run: dry,
                        keep_destination_secrets: keep,
                        include_task_logs: logs && !backup,
                        ignore_version_check: ivc,
                        password: if backup { PasswordSource::Default } else { pw },
                    })
                },
            )
    }

    fn documents() -> impl Strategy<Value = Request> {
        let address = || {
            (
                text(),
                collection(),
                proptest::option::of(text()),
                proptest::option::of(text()),
            )
                .prop_map(|(instance, collection, project, key)| {
                    req::DocumentAddress {
                        instance,
                        collection,
                        project,
                        key,
                    }
                })
        };
        prop_oneof![
            (text(), collection(), proptest::option::of(text())).prop_map(
                |(instance, collection, project)| Request::DocList(req::DocList {
                    instance,
                    collection,
                    project
                })
            ),
            address().prop_map(Request::DocGet),
            address().prop_map(Request::DocDelete),
            (text(), collection(), path()).prop_map(|(instance, collection, file)| {
                Request::DocPut(req::DocPut {
                    instance,
                    collection,
                    file,
                })
            }),
        ]
    }

    fn instances() -> impl Strategy<Value = Request> {
        prop_oneof![
            (
                text(),
                proptest::option::of(text()),
                proptest::option::of(path())
            )
                .prop_map(|(name, database, master_key_file)| {
                    Request::InstanceCreate(req::InstanceCreate {
                        name,
                        database,
                        master_key_file,
                    })
                }),
            Just(Request::InstanceList),
            text().prop_map(|name| Request::InstanceShow { name }),
            text().prop_map(|name| Request::InstanceDelete { name }),
            text().prop_map(|name| Request::InstanceMasterKey { name }),
            (text(), path()).prop_map(|(instance, file)| Request::InstanceBackup(req::Backup {
                instance,
                file
            })),
            (
                text(),
                select(req::SampleSize::ALL.to_vec()),
                any::<u64>(),
                any::<bool>()
            )
                .prop_map(|(instance, size, seed, overwrite)| {
                    Request::Sample(req::Sample {
                        instance,
                        size,
                        seed,
                        overwrite,
                    })
                }),
        ]
    }

    /// A moment an API key may expire at.
    fn moment() -> impl Strategy<Value = cuttle_domain::documents::Timestamp> {
        (0i64..4_102_444_800_000).prop_map(cuttle_domain::documents::Timestamp::from_unix_millis)
    }

    fn keys_and_audit() -> impl Strategy<Value = Request> {
        prop_oneof![
            (
                text(),
                text(),
                proptest::option::of(moment()),
                any::<bool>()
            )
                .prop_map(
                    |(instance, user, expires, read_only)| Request::ApiKeyCreate(
                        cuttle_service::keys::ApiKeyCreate {
                            instance,
                            user,
                            expires,
                            read_only
                        }
                    )
                ),
            (text(), proptest::option::of(text()))
                .prop_map(|(instance, user)| Request::ApiKeyList { instance, user }),
            (text(), any::<i64>())
                .prop_map(|(instance, id)| Request::ApiKeyRevoke { instance, id }),
            (text(), text(), proptest::option::of(moment())).prop_map(
                |(instance, user, expires)| Request::AdminCreate(
                    cuttle_service::keys::AdminCreate {
                        instance,
                        user,
                        expires
                    }
                )
            ),
            (text(), proptest::option::of(any::<i64>()), 1usize..10_000).prop_map(
                |(instance, before, limit)| Request::Audit {
                    instance,
                    before,
                    limit
                }
            ),
        ]
    }

    fn request() -> impl Strategy<Value = Request> {
        prop_oneof![
            instances(),
            documents(),
            export(),
            partial_export(),
            import(),
            apply_plan(),
            keys_and_audit()
        ]
    }

    #[test]
    fn a_request_renders_as_the_command_line_that_parses_back_to_it() {
        // clap's parser of every subcommand is deeper than a debug build's test thread allows
        // (2 MiB): the property runs on a thread with room.
        std::thread::Builder::new()
            .stack_size(32 << 20)
            .spawn(|| {
                let mut runner =
                    proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(2000));
                let outcome = runner.run(&request(), |request| {
                    let args = request.command_line();
                    let cli = Cli::try_parse_from(
                        std::iter::once("cuttle".to_owned()).chain(args.clone()),
                    )
                    .map_err(|e| TestCaseError::fail(format!("{args:?}: {e}")))?;
                    let (parsed, _) = cli.command.request().expect("not the wizard");
                    prop_assert_eq!(parsed, request, "{:?}", args);
                    Ok(())
                });
                if let Err(error) = outcome {
                    panic!("{error}");
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn a_script_survives_a_shell() {
        // The quoting of the rendered line, through a real shell.
        let request = Request::PartialExport(req::PartialExport {
            instance: "staging".into(),
            output: req::Output::Directory(PathBuf::from("Bob's \"dir\" $HOME")),
            projects: vec!["-x".into(), "Café Zürich".into()],
            project_groups: vec![],
            ignore: Ignore::default(),
            clean: false,
            rekey: false,
            include_task_logs: false,
            inline_scripts: InlineScripts::Extract,
            password: PasswordSource::Env("CUTTLE_PASSWORD".into()),
        });
        let args = request.command_line();
        let line = cuttle_service::script::shell_line(&args);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("set -- {line}; shift; printf '%s\\0' \"$@\""))
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let back: Vec<&str> = text.strip_suffix('\0').unwrap().split('\0').collect();
        assert_eq!(back, args);
        let cli = Cli::try_parse_from(std::iter::once("cuttle").chain(back)).unwrap();
        assert_eq!(cli.command.request().unwrap().0, request);
    }
}
