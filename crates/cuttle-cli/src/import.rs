//! `cuttle import` and `cuttle instance backup`: the plan printed as text or as JSON lines.

use std::io::{Seek, Write};

use anyhow::Result;
use cuttle_engine::import::{
    Action, Change, ChangeKind, DirectorySource, ImportOptions, ImportSummary, PlanEvent, PlanSink,
    Sources,
};
use cuttle_instance::{Home, Instance};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::cli::{Format, ImportArgs};
use crate::output::Visible;
use crate::password::{self, Prompt};
use crate::progress;

/// What `args` import, and how.
pub fn inputs(args: &ImportArgs) -> Result<(Sources, ImportOptions)> {
    let sources = match (&args.backup, &args.master_key_file) {
        (Some(file), Some(key_file)) => Sources::Backup {
            file: file.clone(),
            master_key: cuttle_instance::instance::read_key_file(
                key_file,
                cuttle_instance::files::Accept::FileOrPipe,
            )?,
        },
        _ => Sources::Directories(
            args.directory
                .iter()
                .map(|d| DirectorySource {
                    directory: d.clone(),
                })
                .collect(),
        ),
    };
    let options = ImportOptions {
        overwrite: args.overwrite,
        dry_run: args.dry_run,
        keep_destination_secrets: args.keep_destination_secrets,
        task_logs: args.include_task_logs,
        ignore_version_check: args.ignore_version_check,
    };
    Ok((sources, options))
}

/// `cuttle import`; `given` is a password already asked for (by the wizard).
pub fn import(home: &Home, args: ImportArgs, given: Option<Zeroizing<String>>) -> Result<()> {
    let (sources, options) = inputs(&args)?;
    let mut instance = Instance::open(home, &args.instance)?;
    let password = match (&sources, given) {
        (Sources::Backup { .. }, _) => None,
        (_, Some(given)) => Some(given),
        (_, None) => Some(password::read(&args.password, Prompt::Once)?),
    };
    // The import ends as it would whatever happens to its standard output (see `output`).
    let stdout = crate::output::Out::keep_going();
    let mut sink: Box<dyn PrintPlan> = match args.format {
        Format::Text => Box::new(TextPlan::new(stdout, args.quiet)),
        Format::Json => Box::new(JsonPlan {
            out: std::io::BufWriter::new(stdout),
        }),
    };
    let bar = progress::bar("planning");
    let result = cuttle_engine::import::import(
        &mut instance,
        &sources,
        password.as_ref().map(|p| p.as_bytes()),
        &options,
        sink.as_sink(),
        &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        },
    );
    bar.finish_and_clear();
    let summary = match result {
        Ok(summary) => summary,
        Err(error) => {
            sink.failed(&error.to_string())?;
            return Err(error.into());
        }
    };
    sink.summary(&summary)?;
    let totals: Vec<String> = summary
        .totals()
        .iter()
        .map(|(a, n)| format!("{n} {}", a.name()))
        .collect();
    note!(
        "{} into instance {:?}: {} in {:.2} s{}",
        if summary.committed {
            "imported"
        } else {
            "dry run (rolled back, nothing written)"
        },
        args.instance,
        if totals.is_empty() {
            "nothing to do".to_owned()
        } else {
            totals.join(", ")
        },
        summary.elapsed.as_secs_f64(),
        if summary.grants > 0 {
            format!("; {} change(s) grant access", summary.grants)
        } else {
            String::new()
        }
    );
    Ok(())
}

pub fn backup(home: &Home, name: &str, file: &std::path::Path) -> Result<()> {
    let mut instance = Instance::open(home, name)?;
    let summary = cuttle_engine::backup::write_backup(&mut instance, file)?;
    note!(
        "backed up instance {name:?} to {}: {} documents, {:.1} MB; sensitive values stay under the instance's master key, which `cuttle import --backup` needs (`cuttle instance master-key {name}`)",
        file.display(),
        summary.documents,
        summary.bytes as f64 / 1e6
    );
    Ok(())
}

/// A role assignment for people: its role, then the scopes it has (`Project deployer in
/// environments Development, Test`); unscoped, the role alone.
pub(crate) fn role_assignment_text(assignment: &Value) -> String {
    let role = assignment
        .get("userRole")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut scopes = Vec::new();
    for (field, label) in [
        ("projects", "projects"),
        ("projectGroups", "project groups"),
        ("environments", "environments"),
        ("tenants", "tenants"),
    ] {
        let names: Vec<&str> = assignment
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !names.is_empty() {
            scopes.push(format!("{label} {}", names.join(", ")));
        }
    }
    if scopes.is_empty() {
        format!("{role:?}")
    } else {
        format!("{role:?} in {}", scopes.join(" and "))
    }
}

/// A plan printer: the engine's sink, plus the end.
pub(crate) trait PrintPlan {
    fn as_sink(&mut self) -> &mut dyn PlanSink;
    fn summary(&mut self, summary: &ImportSummary) -> std::io::Result<()>;
    fn failed(&mut self, message: &str) -> std::io::Result<()>;
}

/// `--format json`: one JSON object a line, written as the plan is made.
struct JsonPlan<W: Write> {
    out: W,
}

impl<W: Write> PlanSink for JsonPlan<W> {
    fn event(&mut self, event: PlanEvent<'_>) -> std::io::Result<()> {
        self.out
            .write_all(crate::output::json(&event, false).as_bytes())?;
        self.out.write_all(b"\n")
    }
}

impl<W: Write> PrintPlan for JsonPlan<W> {
    fn as_sink(&mut self) -> &mut dyn PlanSink {
        self
    }
    fn summary(&mut self, summary: &ImportSummary) -> std::io::Result<()> {
        let mut counts = serde_json::Map::new();
        for (collection, action, n) in &summary.counts {
            let entry = counts
                .entry(collection.to_string())
                .or_insert_with(|| json!({}));
            entry[action.name()] = json!(n);
        }
        let totals: serde_json::Map<String, Value> = summary
            .totals()
            .into_iter()
            .map(|(a, n)| (a.name().to_owned(), json!(n)))
            .collect();
        let line = json!({
            "type": "summary",
            "dryRun": summary.dry_run,
            "committed": summary.committed,
            "totals": totals,
            "collections": counts,
            "conflicts": summary.conflicts,
            "grants": summary.grants,
        });
        self.out
            .write_all(crate::output::json(&line, false).as_bytes())?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
    fn failed(&mut self, message: &str) -> std::io::Result<()> {
        let line = json!({ "type": "error", "message": message, "committed": false });
        self.out
            .write_all(crate::output::json(&line, false).as_bytes())?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

/// The plan for people: the changes that grant access first, apart; then the conflicts
/// between sources; then every document with its action and, for a change, its fields.
///
/// The text is held until the import has succeeded (or its dry run would), so that a failed
/// import prints its errors and, when it stopped before writing, why, and not a plan that was
/// not carried out. (`--format json` streams instead, and ends with an error line.)
pub(crate) struct TextPlan<W: Write> {
    out: W,
    /// The plan so far: in memory up to [`HELD_IN_MEMORY`], then in an anonymous temporary file,
    /// so that the plan of a large import does not take the memory the import saves.
    /// Every name and path from the input in it escaped for the terminal.
    buffer: Visible<tempfile::SpooledTempFile>,
    blockers: Visible<Vec<u8>>,
    quiet: bool,
    section: Option<&'static str>,
}

/// The text plan is held in memory up to this many bytes.
const HELD_IN_MEMORY: usize = 8 << 20;

/// Longer values are shortened in the text plan (the JSON plan has them whole).
const SHOWN: usize = 120;

impl<W: Write> TextPlan<W> {
    pub(crate) fn new(out: W, quiet: bool) -> Self {
        TextPlan {
            out,
            buffer: Visible(tempfile::spooled_tempfile(HELD_IN_MEMORY)),
            blockers: Visible(Vec::new()),
            quiet,
            section: None,
        }
    }
    /// Writes what was held, without a summary.
    pub(crate) fn finish(&mut self) -> std::io::Result<()> {
        self.write_held()?;
        self.out.flush()
    }
    /// Writes out the plan held so far, and holds nothing.
    fn write_held(&mut self) -> std::io::Result<()> {
        let mut held = std::mem::replace(
            &mut self.buffer.0,
            tempfile::spooled_tempfile(HELD_IN_MEMORY),
        );
        held.seek(std::io::SeekFrom::Start(0))?;
        std::io::copy(&mut held, &mut self.out)?;
        Ok(())
    }
    fn section(&mut self, title: &'static str) -> std::io::Result<()> {
        if self.section != Some(title) {
            if self.section.is_some() {
                writeln!(self.buffer)?;
            }
            writeln!(self.buffer, "{title}")?;
            self.section = Some(title);
        }
        Ok(())
    }
}

fn shown(value: &Option<Value>) -> String {
    let text = value.as_ref().map(Value::to_string).unwrap_or_default();
    let chars = text.chars().count();
    if chars <= SHOWN {
        text
    } else {
        let head: String = text.chars().take(SHOWN).collect();
        format!("{head}… ({chars} characters)")
    }
}

fn change_line(change: &Change) -> String {
    let mark = match change.change {
        ChangeKind::Added => "+",
        ChangeKind::Removed => "-",
        ChangeKind::Changed => "~",
    };
    if change.sensitive {
        let what = match change.change {
            ChangeKind::Added => "sensitive value set",
            ChangeKind::Removed => "sensitive value cleared",
            ChangeKind::Changed => "sensitive value changed",
        };
        return format!("{mark} {}: {what}", change.path);
    }
    match change.change {
        ChangeKind::Added => format!("{mark} {}: {}", change.path, shown(&change.new)),
        ChangeKind::Removed => format!("{mark} {}: {}", change.path, shown(&change.old)),
        ChangeKind::Changed => format!(
            "{mark} {}: {} → {}",
            change.path,
            shown(&change.old),
            shown(&change.new)
        ),
    }
}

impl<W: Write> PlanSink for TextPlan<W> {
    fn event(&mut self, event: PlanEvent<'_>) -> std::io::Result<()> {
        match event {
            PlanEvent::Warning { message } => {
                note!("warning: {message}");
            }
            PlanEvent::Grant(grant) => {
                self.section("Changes that grant access:")?;
                match (&grant.member, &grant.role_assignment) {
                    (Some(member), _) => {
                        writeln!(self.buffer, "  + team {:?}: member {member:?}", grant.team)?
                    }
                    (None, Some(assignment)) => writeln!(
                        self.buffer,
                        "  + team {:?}: role assignment {}",
                        grant.team,
                        role_assignment_text(assignment)
                    )?,
                    (None, None) => {}
                }
            }
            PlanEvent::Conflict(conflict) => {
                if self.quiet {
                    return Ok(());
                }
                self.section("Documents that several sources define (the later wins):")?;
                let name = conflict.name();
                writeln!(
                    self.buffer,
                    "  {} {name:?}: {} → {}{}",
                    conflict.collection,
                    conflict.sources.join(", "),
                    conflict.winner,
                    if conflict.with_project {
                        " (with its project)"
                    } else {
                        ""
                    }
                )?;
            }
            PlanEvent::Document(plan) => {
                if self.quiet {
                    return Ok(());
                }
                self.section("Plan:")?;
                write!(self.buffer, "  {:<10} {}", plan.action.name(), plan.title())?;
                if let Some(reason) = &plan.reason
                    && plan.action != Action::Skip
                {
                    write!(self.buffer, " ({reason})")?;
                }
                writeln!(self.buffer)?;
                for change in &plan.changes {
                    writeln!(self.buffer, "               {}", change_line(change))?;
                }
                for note in &plan.notes {
                    writeln!(self.buffer, "               note: {note}")?;
                }
            }
            PlanEvent::Blocker(blocker) => {
                if self.blockers.0.is_empty() {
                    writeln!(self.blockers, "The import stops before writing:")?;
                }
                let name = blocker.name();
                writeln!(
                    self.blockers,
                    "  ! {} {name:?}: {}",
                    blocker.collection, blocker.message
                )?;
            }
        }
        Ok(())
    }
}

impl<W: Write> PrintPlan for TextPlan<W> {
    fn as_sink(&mut self) -> &mut dyn PlanSink {
        self
    }
    fn summary(&mut self, summary: &ImportSummary) -> std::io::Result<()> {
        self.write_held()?;
        if self.section.is_some() {
            writeln!(self.out)?;
        }
        writeln!(self.out, "Summary:")?;
        let mut by_collection: Vec<(&str, Vec<String>)> = Vec::new();
        for (collection, action, n) in &summary.counts {
            match by_collection.last_mut() {
                Some((c, parts)) if c == collection => parts.push(format!("{n} {}", action.name())),
                _ => by_collection.push((collection, vec![format!("{n} {}", action.name())])),
            }
        }
        for (collection, parts) in by_collection {
            writeln!(self.out, "  {collection:<24} {}", parts.join(", "))?;
        }
        let totals: Vec<String> = summary
            .totals()
            .iter()
            .map(|(a, n)| format!("{n} {}", a.name()))
            .collect();
        writeln!(
            self.out,
            "  {:<24} {}",
            "total",
            if totals.is_empty() {
                "nothing".to_owned()
            } else {
                totals.join(", ")
            }
        )?;
        if summary.dry_run {
            writeln!(
                self.out,
                "Dry run: the import would succeed; it was rolled back and nothing was written."
            )?;
        }
        self.out.flush()
    }
    fn failed(&mut self, _message: &str) -> std::io::Result<()> {
        self.out.write_all(&self.blockers.0)?;
        self.out.flush()
    }
}
