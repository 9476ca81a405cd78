//! `cuttle wizard`: an export or an import, asked question by question in the terminal, ending
//! by running it or by showing the command line that does the same.
//!
//! The choices become a request of the service ([`ExportChoices::request`],
//! [`ImportChoices::request`]); "run" runs that request, and "show script" prints the command
//! line it renders itself as ([`Request::command_line`]), so the two cannot differ. The password
//! is never part of the script: it reads `--password-env CUTTLE_PASSWORD`.
//!
//! Esc or Ctrl-C at any question leaves without changing anything ([`Cancelled`]).

use std::fmt;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use cuttle_domain::{Collection, Ignorable};
use cuttle_engine::closure::Ignore;
use cuttle_engine::format::InlineScripts;
use cuttle_service::inspect::{self, ExportTarget};
use cuttle_service::request::{
    Backup, DocList, Export, Import, ImportSource, Output, PartialExport, PasswordSource, Request,
};
use cuttle_service::{ErrorKind, Preview, Service, script};
use inquire::error::InquireError;
use inquire::{Confirm, MultiSelect, Password, PasswordDisplayMode, Select, Text};
use zeroize::Zeroizing;

use crate::cli::Presentation;

/// The variable the script reads the password from.
const PASSWORD_VARIABLE: &str = "CUTTLE_PASSWORD";

/// The person left the wizard (Esc or Ctrl-C); nothing was changed.
#[derive(Debug)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cancelled: nothing was changed")
    }
}

impl std::error::Error for Cancelled {}

/// The answer to a question, or [`Cancelled`].
fn answer<T>(result: Result<T, InquireError>) -> Result<T> {
    match result {
        Ok(value) => Ok(value),
        Err(InquireError::OperationCanceled | InquireError::OperationInterrupted) => {
            Err(Cancelled.into())
        }
        Err(other) => Err(other.into()),
    }
}

fn select<T: fmt::Display>(message: &str, options: Vec<T>, cursor: usize) -> Result<T> {
    let cursor = cursor.min(options.len().saturating_sub(1));
    answer(
        Select::new(message, options)
            .with_starting_cursor(cursor)
            .with_page_size(12)
            .prompt(),
    )
}

fn confirm(message: &str, default: bool, help: &str) -> Result<bool> {
    let mut question = Confirm::new(message).with_default(default);
    if !help.is_empty() {
        question = question.with_help_message(help);
    }
    answer(question.prompt())
}

fn text(message: &str, default: &str, help: &str) -> Result<String> {
    let mut question = Text::new(message).with_default(default);
    if !help.is_empty() {
        question = question.with_help_message(help);
    }
    Ok(answer(question.prompt())?.trim().to_owned())
}

fn password(confirm_it: bool) -> Result<Zeroizing<String>> {
    let mut question = Password::new("Password:")
        .with_display_mode(PasswordDisplayMode::Hidden)
        .with_help_message("the export's password (never shown, never written to the script)");
    if confirm_it {
        question = question.with_custom_confirmation_message("Password, again:");
    } else {
        question = question.without_confirmation();
    }
    loop {
        let typed = Zeroizing::new(answer(question.clone().prompt())?);
        if typed.is_empty() {
            note!("The password is empty; type one.");
            continue;
        }
        return Ok(typed);
    }
}

/// Runs `request` as the command line would (an import's plan shortened to its summary and the
/// changes that grant access: the preview showed the rest).
fn execute(
    service: &Service,
    request: &Request,
    password: Option<&Zeroizing<String>>,
) -> Result<()> {
    let show = Presentation {
        format: None,
        quiet: true,
    };
    crate::commands::execute(service, request, show, password.cloned())
}

/// The kind of a service error behind `error`, if it is one.
fn kind(error: &anyhow::Error) -> Option<ErrorKind> {
    error
        .downcast_ref::<cuttle_service::Error>()
        .map(|e| e.kind)
}

/// The wizard's entry point.
pub fn run(service: &Service) -> Result<()> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        bail!(
            "cuttle wizard asks its questions on a terminal, and none is attached; without one, use the \
             commands it runs: `cuttle export`, `cuttle partial-export` and `cuttle import` (see their --help)"
        );
    }
    let instances: Vec<String> = service
        .list_instances()?
        .into_iter()
        .map(|r| r.name)
        .collect();
    if instances.is_empty() {
        bail!("there is no instance yet: create one with `cuttle instance create NAME`");
    }
    println!("Cuttle wizard: Esc or Ctrl-C leaves at any question, without changing anything.");
    let export = "Export an instance, or some of its projects, to a directory";
    let import = "Import exports or a backup into an instance";
    if select("What do you want to do?", vec![export, import], 0)? == export {
        export_wizard(service, &instances)
    } else {
        import_wizard(service, &instances)
    }
}

// -------------------------------------------------------------------------------------------------
// Export

/// A kind to leave out, as the wizard lists it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Leave(Ignorable);

impl fmt::Display for Leave {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.about())
    }
}

#[derive(Default)]
struct ExportChoices {
    instance: String,
    partial: bool,
    projects: Vec<String>,
    groups: Vec<String>,
    leave: Vec<Leave>,
    directory: String,
    history: bool,
    task_logs: bool,
    inline_scripts: bool,
}

impl ExportChoices {
    fn ignore(&self) -> Ignore {
        let mut ignore = Ignore::default();
        for leave in &self.leave {
            ignore.set(leave.0);
        }
        ignore
    }

    /// Whether history is exported, so that task logs can be.
    fn keeps_history(&self) -> bool {
        if self.partial {
            let ignore = self.ignore();
            !ignore.history && !ignore.deployments
        } else {
            self.history
        }
    }

    fn request(&self) -> Request {
        let inline_scripts = if self.inline_scripts {
            InlineScripts::Inline
        } else {
            InlineScripts::Extract
        };
        let password = PasswordSource::Env(PASSWORD_VARIABLE.to_owned());
        let include_task_logs = self.task_logs && self.keeps_history();
        if self.partial {
            Request::PartialExport(PartialExport {
                instance: self.instance.clone(),
                output: Output::Directory(PathBuf::from(&self.directory)),
                projects: self.projects.clone(),
                project_groups: self.groups.clone(),
                ignore: self.ignore(),
                clean: false,
                rekey: false,
                include_task_logs,
                inline_scripts,
                password,
            })
        } else {
            Request::Export(Export {
                instance: self.instance.clone(),
                output: Output::Directory(PathBuf::from(&self.directory)),
                clean: false,
                no_prune: false,
                rekey: false,
                include_task_logs,
                ignore_history: !self.history,
                inline_scripts,
                password,
            })
        }
    }
}

/// The names of a collection's documents in `instance`.
fn names(service: &Service, instance: &str, collection: Collection) -> Result<Vec<String>> {
    Ok(service.session(instance)?.list_documents(
        &DocList {
            instance: instance.to_owned(),
            collection,
            project: None,
        },
        &cuttle_service::Access::host(),
    )?)
}

/// What exporting into `directory` will do to what is there, for a warning; `None` when there is
/// nothing to say.
fn directory_warning(directory: &Path) -> Option<String> {
    match inspect::Directory::at(directory).export_target() {
        ExportTarget::Empty => None,
        ExportTarget::Mirrors { owned_files } => Some(format!(
            "{} holds an earlier Cuttle export ({owned_files} files the format owns): it will be mirrored. Those files that no longer \
             match a document of this export are removed; other files (a README, .git) are never touched.",
            directory.display(),
        )),
        ExportTarget::Beside { entries } => Some(format!(
            "{} is not empty ({entries} entries) and holds no Cuttle export: the export adds its files beside what is there and removes nothing.",
            directory.display(),
        )),
    }
}

fn export_wizard(service: &Service, instances: &[String]) -> Result<()> {
    let mut c = ExportChoices {
        history: true,
        ..ExportChoices::default()
    };
    let mut pass: Option<Zeroizing<String>> = None;
    #[derive(Clone, Copy, PartialEq)]
    enum Step {
        Instance,
        Scope,
        Selection,
        Directory,
        Password,
        Options,
        Summary,
    }
    let mut step = Step::Instance;
    loop {
        step = match step {
            Step::Instance => {
                let at = instances.iter().position(|i| *i == c.instance).unwrap_or(0);
                c.instance = select("Instance to export:", instances.to_vec(), at)?;
                Step::Scope
            }
            Step::Scope => {
                let whole = "The whole instance";
                let some = "Selected projects and project groups, with everything they need";
                c.partial =
                    select("What to export?", vec![whole, some], c.partial as usize)? == some;
                if c.partial {
                    Step::Selection
                } else {
                    Step::Directory
                }
            }
            Step::Selection => {
                let projects = names(service, &c.instance, Collection::Projects)?;
                let groups = names(service, &c.instance, Collection::ProjectGroups)?;
                let chosen = |all: &[String], had: &[String]| -> Vec<usize> {
                    all.iter()
                        .enumerate()
                        .filter(|(_, n)| had.contains(n))
                        .map(|(i, _)| i)
                        .collect()
                };
                let defaults = chosen(&projects, &c.projects);
                c.projects = answer(
                    MultiSelect::new(
                        "Projects (type to search, space to pick):",
                        projects.clone(),
                    )
                    .with_default(&defaults)
                    .with_page_size(12)
                    .prompt(),
                )?;
                let defaults = chosen(&groups, &c.groups);
                c.groups = answer(
                    MultiSelect::new("Project groups (every project of each):", groups.clone())
                        .with_default(&defaults)
                        .prompt(),
                )?;
                if c.projects.is_empty() && c.groups.is_empty() {
                    note!("Pick at least one project or project group.");
                    continue;
                }
                let all: Vec<Leave> = Ignorable::ALL.into_iter().map(Leave).collect();
                let defaults: Vec<usize> = all
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| c.leave.contains(l))
                    .map(|(i, _)| i)
                    .collect();
                c.leave = answer(
                    MultiSelect::new("Leave out (none by default):", all)
                        .with_default(&defaults)
                        .prompt(),
                )?;
                Step::Directory
            }
            Step::Directory => {
                let default = if c.directory.is_empty() {
                    format!("{}-export", c.instance)
                } else {
                    c.directory.clone()
                };
                c.directory = text(
                    "Export directory:",
                    &default,
                    "created if missing; an earlier export there is mirrored",
                )?;
                if c.directory.is_empty() {
                    continue;
                }
                if let Some(warning) = directory_warning(Path::new(&c.directory)) {
                    note!("{warning}");
                    if !confirm("Export there?", true, "")? {
                        continue;
                    }
                }
                Step::Password
            }
            Step::Password => {
                pass = Some(password(true)?);
                Step::Options
            }
            Step::Options => {
                if !c.partial {
                    c.history =
                        confirm("Include history (releases and deployments)?", c.history, "")?;
                }
                c.task_logs = c.keeps_history()
                    && confirm(
                        "Include deployments' task logs?",
                        c.task_logs,
                        "written as .log files; they can be large",
                    )?;
                c.inline_scripts = confirm(
                    "Keep scripts inside the JSON?",
                    c.inline_scripts,
                    "no (the default) writes each inline script as a file beside its owner",
                )?;
                Step::Summary
            }
            Step::Summary => {
                println!();
                println!("Export of instance {:?}", c.instance);
                if c.partial {
                    println!("  projects:       {}", list_or_none(&c.projects));
                    println!("  project groups: {}", list_or_none(&c.groups));
                    let left: Vec<String> = c.leave.iter().map(|l| l.to_string()).collect();
                    println!("  left out:       {}", list_or_none(&left));
                } else {
                    println!(
                        "  everything{}",
                        if c.history { "" } else { " but history" }
                    );
                }
                println!("  into:           {}", c.directory);
                println!(
                    "  task logs: {}; scripts: {}",
                    if c.task_logs { "yes" } else { "no" },
                    if c.inline_scripts {
                        "inside the JSON"
                    } else {
                        "as files"
                    }
                );
                let choice = select("Now?", vec![RUN, SHOW_SCRIPT, CHANGE, CANCEL], 0)?;
                match choice {
                    RUN => match execute(service, &c.request(), pass.as_ref()) {
                        Ok(()) => {
                            println!("Done. The same again, as a command:");
                            print_script(&[c.request()]);
                            return Ok(());
                        }
                        Err(error) => {
                            note!("error: {}", crate::commands::describe_error(&error));
                            match kind(&error) {
                                Some(ErrorKind::Password) => Step::Password,
                                Some(ErrorKind::Selection) if c.partial => Step::Selection,
                                Some(ErrorKind::Directory | ErrorKind::Io) => Step::Directory,
                                _ => Step::Summary,
                            }
                        }
                    },
                    SHOW_SCRIPT => {
                        print_script(&[c.request()]);
                        Step::Summary
                    }
                    CHANGE => {
                        let mut steps = vec![
                            ("instance", Step::Instance),
                            ("what to export", Step::Scope),
                        ];
                        if c.partial {
                            steps.push(("projects and what to leave out", Step::Selection));
                        }
                        steps.extend([
                            ("directory", Step::Directory),
                            ("password", Step::Password),
                            ("options", Step::Options),
                            ("nothing: back to the summary", Step::Summary),
                        ]);
                        change_answer(&steps)?
                    }
                    _ => return Err(Cancelled.into()),
                }
            }
        };
    }
}

const RUN: &str = "Run it";
const SHOW_SCRIPT: &str = "Show the script (the command that does the same)";
const CHANGE: &str = "Go back and change an answer";
const CANCEL: &str = "Cancel";

/// Asks which answer to change, among `steps` (labelled), and gives the step that asks it.
fn change_answer<S: Copy>(steps: &[(&'static str, S)]) -> Result<S> {
    let labels: Vec<&str> = steps.iter().map(|(label, _)| *label).collect();
    let picked = select("Change which answer?", labels, 0)?;
    Ok(steps
        .iter()
        .find(|(label, _)| *label == picked)
        .map(|(_, step)| *step)
        .expect("the answer is one of the options"))
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items
            .iter()
            .map(|i| format!("{i:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Prints the requests' commands, one a line, joined with `&&`.
fn print_script(requests: &[Request]) {
    println!();
    println!(
        "# The password is read from ${PASSWORD_VARIABLE}; set it first, e.g.: read -rs {PASSWORD_VARIABLE} && export {PASSWORD_VARIABLE}"
    );
    let lines: Vec<String> = requests
        .iter()
        .map(|r| script::shell_line(&r.command_line()))
        .collect();
    println!("{}", lines.join(" &&\n"));
    println!();
    let _ = std::io::stdout().flush();
}

// -------------------------------------------------------------------------------------------------
// Import

#[derive(Default)]
struct ImportChoices {
    instance: String,
    directories: Vec<String>,
    /// A backup file and the master key file of its instance.
    backup: Option<(String, String)>,
    overwrite: bool,
    keep_destination_secrets: bool,
    task_logs: bool,
    /// Where to back the destination up first.
    backup_first: Option<String>,
}

impl ImportChoices {
    fn request(&self) -> Import {
        let (source, password) = match &self.backup {
            Some((file, key)) => (
                ImportSource::Backup {
                    file: PathBuf::from(file),
                    master_key_file: PathBuf::from(key),
                },
                PasswordSource::Default,
            ),
            None => (
                ImportSource::Directories(self.directories.iter().map(PathBuf::from).collect()),
                PasswordSource::Env(PASSWORD_VARIABLE.to_owned()),
            ),
        };
        Import {
            instance: self.instance.clone(),
            source,
            overwrite: self.overwrite,
            dry_run: false,
            keep_destination_secrets: self.keep_destination_secrets,
            include_task_logs: self.task_logs && self.backup.is_none(),
            ignore_version_check: false,
            password,
            save_plan: None,
        }
    }

    /// The backup of the destination to take first, if one was asked for.
    fn backup_first(&self) -> Option<Request> {
        self.backup_first.as_ref().map(|file| {
            Request::InstanceBackup(Backup {
                instance: self.instance.clone(),
                file: PathBuf::from(file),
            })
        })
    }

    /// What "run" does: the backup first, if asked for, then the import.
    fn script(&self) -> Vec<Request> {
        self.backup_first()
            .into_iter()
            .chain([Request::Import(self.request())])
            .collect()
    }
}

/// The overview of a preview: warnings, grants by team, conflicts, counts per collection.
fn print_overview(plan: &Preview) {
    for w in &plan.warnings {
        println!("warning: {}", crate::hints::aside(&w.text, w.hint));
    }
    println!();
    if plan.grants.is_empty() {
        println!("No change grants access.");
    } else {
        println!(
            "Changes that grant access ({}; details show each):",
            plan.grants.len()
        );
        let mut teams: Vec<(&str, Vec<&str>, Vec<String>)> = Vec::new();
        for g in &plan.grants {
            let at = match teams.iter().position(|(t, _, _)| *t == g.team) {
                Some(at) => at,
                None => {
                    teams.push((&g.team, Vec::new(), Vec::new()));
                    teams.len() - 1
                }
            };
            if let Some(member) = &g.member {
                teams[at].1.push(member);
            }
            if let Some(assignment) = &g.role_assignment {
                teams[at]
                    .2
                    .push(crate::import::role_assignment_text(assignment));
            }
        }
        for (team, members, roles) in teams {
            let mut parts = Vec::new();
            if !members.is_empty() {
                parts.push(format!("members {}", members.join(", ")));
            }
            if !roles.is_empty() {
                parts.push(format!("roles {}", roles.join("; ")));
            }
            println!("  + team {team:?}: {}", parts.join(" | "));
        }
    }
    if !plan.conflicts.is_empty() {
        println!(
            "{} document(s) are defined by more than one source; the later wins:",
            plan.conflicts.len()
        );
        for c in plan.conflicts.iter().take(20) {
            println!(
                "  {} {:?}: {} → {}",
                c.collection,
                c.name(),
                c.sources.join(", "),
                c.winner
            );
        }
        if plan.conflicts.len() > 20 {
            println!(
                "  … and {} more (details show all)",
                plan.conflicts.len() - 20
            );
        }
    }
    println!("Plan, per collection:");
    let mut rows: Vec<(&str, Vec<String>)> = Vec::new();
    for (collection, action, n) in &plan.summary.counts {
        let cell = format!("{n} {}", action.name());
        match rows.last_mut() {
            Some((c, cells)) if c == collection => cells.push(cell),
            _ => rows.push((collection, vec![cell])),
        }
    }
    for (collection, cells) in rows {
        println!("  {collection:<24} {}", cells.join(", "));
    }
    let totals: Vec<String> = plan
        .summary
        .totals()
        .iter()
        .map(|(a, n)| format!("{n} {}", a.name()))
        .collect();
    println!("  {:<24} {}", "total", totals.join(", "));
    let removals = plan.removals();
    if removals > 0 {
        println!("{removals} document(s) of the destination would be removed (details list them).");
    }
}

/// Every document of a preview, through the command line's text printer.
fn print_all(plan: &Preview) -> std::io::Result<()> {
    let mut printer = crate::import::TextPlan::new(std::io::stdout().lock(), false);
    plan.replay(&mut printer)?;
    printer.finish()
}

/// The dry run behind the preview: the same service call as `cuttle import --dry-run`.
fn preview(
    service: &Service,
    c: &ImportChoices,
    pass: Option<&Zeroizing<String>>,
) -> Result<Preview> {
    let bar = crate::progress::bar("previewing");
    let result = service.session(&c.instance)?.preview(
        &c.request(),
        pass.map(|p| p.as_bytes()),
        &cuttle_service::Access::host(),
        &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    );
    bar.finish_and_clear();
    result.map_err(|error| {
        if !error.blockers.is_empty() {
            println!("The import would stop before writing:");
            for b in &error.blockers {
                println!("  ! {} {:?}: {}", b.collection, b.name(), b.message);
            }
        }
        error.into()
    })
}

fn import_wizard(service: &Service, instances: &[String]) -> Result<()> {
    let mut c = ImportChoices::default();
    let mut pass: Option<Zeroizing<String>> = None;
    #[derive(Clone, Copy, PartialEq)]
    enum Step {
        Instance,
        Sources,
        Password,
        Policy,
        Backup,
        Preview,
    }
    let mut step = Step::Instance;
    let mut planned: Option<Preview> = None;
    let mut overview_shown = false;
    loop {
        step = match step {
            Step::Instance => {
                let at = instances.iter().position(|i| *i == c.instance).unwrap_or(0);
                c.instance = select("Instance to import into:", instances.to_vec(), at)?;
                Step::Sources
            }
            Step::Sources => {
                let directories = "One or more export directories";
                let backup = "An instance backup (cuttle instance backup), with its master key";
                let kind = select(
                    "Import from:",
                    vec![directories, backup],
                    c.backup.is_some() as usize,
                )?;
                if kind == backup {
                    let (file, key) = c.backup.clone().unwrap_or_default();
                    let file = text("Backup file:", &file, "")?;
                    let key = text(
                        "Master key file of the instance it came from:",
                        &key,
                        "the line `cuttle instance master-key NAME` prints, in a file",
                    )?;
                    c.backup = Some((file, key));
                    c.directories.clear();
                    Step::Policy
                } else {
                    c.backup = None;
                    let mut chosen = Vec::new();
                    loop {
                        let default = c.directories.get(chosen.len()).cloned().unwrap_or_default();
                        let dir = text(
                            &format!("Export directory {}:", chosen.len() + 1),
                            &default,
                            "several are combined in order: where they overlap, the later wins",
                        )?;
                        if dir.is_empty() {
                            if chosen.is_empty() {
                                continue;
                            }
                            break;
                        }
                        if !inspect::holds_export(Path::new(&dir)) {
                            note!(
                                "{dir} holds no Cuttle export (no manifest.json); give the directory `cuttle export` wrote."
                            );
                            continue;
                        }
                        chosen.push(dir);
                        if !confirm("Add another export directory?", false, "")? {
                            break;
                        }
                    }
                    c.directories = chosen;
                    Step::Password
                }
            }
            Step::Password => {
                pass = Some(password(false)?);
                Step::Policy
            }
            Step::Policy => {
                let skip = "Skip what the destination already has (the default)";
                let overwrite = "Overwrite what the destination has, under the merge rules";
                c.overwrite = select(
                    "When a document exists in the destination:",
                    vec![skip, overwrite],
                    c.overwrite as usize,
                )? == overwrite;
                if c.overwrite {
                    println!(
                        "Merge rules: a project brings its process, channels and triggers whole; variable sets merge by key; \
                         teams and tenants' connections only grow; history is never changed; nothing else is removed."
                    );
                    c.keep_destination_secrets = confirm(
                        "Keep every secret the destination already holds?",
                        c.keep_destination_secrets,
                        "for pushes into a network where some secrets live only there",
                    )?;
                } else {
                    println!(
                        "Skip: what exists is left exactly as it is; a project that exists is skipped with everything it owns."
                    );
                    c.keep_destination_secrets = false;
                }
                c.task_logs =
                    c.backup.is_none() && confirm("Import task logs too?", c.task_logs, "")?;
                Step::Backup
            }
            Step::Backup => {
                let first = confirm(
                    &format!("Back up {:?} first?", c.instance),
                    c.backup_first.is_some() || planned.is_none(),
                    "one file (cuttle instance backup) to restore from if the result is not what you wanted",
                )?;
                c.backup_first = if first {
                    let now = cuttle_domain::documents::Timestamp::now();
                    let stamp: String = now
                        .as_str()
                        .chars()
                        .filter(char::is_ascii_digit)
                        .take(14)
                        .collect();
                    let default = c
                        .backup_first
                        .clone()
                        .unwrap_or_else(|| format!("{}-{stamp}.cuttle-backup", c.instance));
                    Some(text("Backup file:", &default, "must not exist yet")?)
                } else {
                    None
                };
                Step::Preview
            }
            Step::Preview => {
                if planned.is_none() {
                    match preview(service, &c, pass.as_ref()) {
                        Ok(p) => {
                            planned = Some(p);
                            overview_shown = false;
                        }
                        Err(error) => {
                            note!("error: {}", crate::commands::describe_error(&error));
                            if error.downcast_ref::<Cancelled>().is_some() {
                                return Err(error);
                            }
                            let back = match kind(&error) {
                                Some(ErrorKind::Password) => Step::Password,
                                Some(ErrorKind::Blocked) => Step::Policy,
                                _ => Step::Sources,
                            };
                            if !confirm(
                                "Go back and change an answer?",
                                true,
                                "no leaves the wizard; nothing was changed",
                            )? {
                                return Err(Cancelled.into());
                            }
                            step = back;
                            continue;
                        }
                    }
                }
                let plan = planned.as_ref().expect("planned just above");
                if !overview_shown {
                    print_overview(plan);
                    overview_shown = true;
                }
                let details = "Show every document of the plan";
                let choice = select("Now?", vec![RUN, details, SHOW_SCRIPT, CHANGE, CANCEL], 0)?;
                match choice {
                    RUN => {
                        if let Some(backup) = c.backup_first()
                            && let Err(error) = execute(service, &backup, None)
                        {
                            note!("error: {}", crate::commands::describe_error(&error));
                            c.backup_first = None;
                            step = Step::Backup;
                            continue;
                        }
                        match execute(service, &Request::Import(c.request()), pass.as_ref()) {
                            Ok(()) => {
                                if let Some(file) = &c.backup_first {
                                    println!("The destination as it was is backed up in {file}.");
                                }
                                println!("Done. The same again, as a script:");
                                print_script(&[Request::Import(c.request())]);
                                return Ok(());
                            }
                            Err(error) => {
                                note!("error: {}", crate::commands::describe_error(&error));
                                planned = None;
                                Step::Preview
                            }
                        }
                    }
                    SHOW_SCRIPT => {
                        print_script(&c.script());
                        Step::Preview
                    }
                    CHANGE => {
                        let mut steps =
                            vec![("destination", Step::Instance), ("sources", Step::Sources)];
                        if c.backup.is_none() {
                            steps.push(("password", Step::Password));
                        }
                        steps.extend([
                            ("skip or overwrite", Step::Policy),
                            ("backup first", Step::Backup),
                            ("nothing: back to the preview", Step::Preview),
                        ]);
                        let next = change_answer(&steps)?;
                        if next != Step::Preview && next != Step::Backup {
                            planned = None;
                        }
                        next
                    }
                    d if d == details => {
                        print_all(plan)?;
                        Step::Preview
                    }
                    _ => return Err(Cancelled.into()),
                }
            }
        };
    }
}
