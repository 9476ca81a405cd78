//! `cuttle import` and `cuttle instance backup`: the plan printed as text or as JSON lines.

use std::io::{Seek, Write};

use anyhow::Result;
use cuttle_engine::import::{
    Action, Change, ChangeKind, DocumentPlan, ImportSummary, PlanEvent, PlanSink,
};
use cuttle_service::request::{ApplyPlan, Import, PasswordSource};
use cuttle_service::{PlanFailure, PlanSummary, SavedPlan, Service};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::cli::{Format, Presentation};
use crate::output::Visible;
use crate::password::{self, Prompt};
use crate::progress;

/// What `cuttle import` was asked: an import, or a saved plan to apply.
pub enum Importing<'r> {
    Sources(&'r Import),
    Plan(&'r ApplyPlan),
}

/// `cuttle import`; `given` is a password already asked for (by the wizard).
pub fn import(
    service: &Service,
    what: Importing<'_>,
    show: Presentation,
    given: Option<Zeroizing<String>>,
) -> Result<()> {
    let saved;
    let (request, password_source) = match what {
        Importing::Sources(request) => (request, &request.password),
        Importing::Plan(apply) => {
            saved = SavedPlan::load(&apply.plan)?;
            let source = if apply.password == PasswordSource::Default {
                &saved.request.password
            } else {
                &apply.password
            };
            (&saved.request, source)
        }
    };
    let instance = match what {
        Importing::Sources(r) => &r.instance,
        Importing::Plan(r) => &r.instance,
    };
    // The instance first, so that a missing one is said before a password is asked for.
    let mut session = service.session(instance)?;
    let password = match (request.needs_password(), given) {
        (false, _) => None,
        (true, Some(given)) => Some(given),
        (true, None) => Some(password::read(password_source, Prompt::Once)?),
    };
    // The import ends as it would whatever happens to its standard output (see `output`).
    let stdout = crate::output::Out::keep_going();
    let mut sink: Box<dyn PrintPlan> = match show.format.unwrap_or(Format::Text) {
        Format::Text => Box::new(TextPlan::new(stdout, show.quiet)),
        Format::Json => Box::new(JsonPlan {
            out: std::io::BufWriter::new(stdout),
        }),
    };
    let bar = progress::bar("planning");
    let mut progress = |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let password = password.as_ref().map(|p| p.as_bytes());
    let access = cuttle_service::Access::host();
    let result = match what {
        Importing::Sources(request) => {
            session.import(request, password, &access, sink.as_sink(), &mut progress)
        }
        Importing::Plan(apply) => {
            session.apply_plan(apply, password, &access, sink.as_sink(), &mut progress)
        }
    };
    bar.finish_and_clear();
    let summary = match result {
        Ok(summary) => summary,
        Err(error) => {
            sink.failed(&error)?;
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
        instance,
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
    if let Some(path) = &request.save_plan {
        let plan = SavedPlan::load(path)?;
        let apply = cuttle_service::Request::ApplyPlan(ApplyPlan {
            instance: instance.clone(),
            plan: path.clone(),
            password: request.password.clone(),
        });
        note!(
            "plan {} saved to {}: `{}` applies exactly this plan, or nothing if the destination or a source changes first",
            plan.id,
            path.display(),
            cuttle_service::script::shell_line(&apply.command_line()),
        );
    }
    if let Importing::Plan(apply) = what {
        note!("applied plan {}", apply.plan.display());
    }
    Ok(())
}

/// A role assignment for people: its role, then the scopes it has (`Project deployer in
/// environments Development, Test`); unscoped, the role alone.
pub(crate) fn role_assignment_text(assignment: &Value) -> String {
    let grants = cuttle_domain::COLLECTIONS
        .iter()
        .find_map(|d| d.grants)
        .expect("a collection grants access");
    let role = assignment
        .get(grants.role)
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut scopes = Vec::new();
    for &(field, label) in grants.scopes {
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
    fn failed(&mut self, error: &cuttle_service::Error) -> std::io::Result<()>;
}

/// `--format json`: one JSON object a line, written as the plan is made.
struct JsonPlan<W: Write> {
    out: W,
}

impl<W: Write> PlanSink for JsonPlan<W> {
    /// Each event as one line; a reason or a warning with a hint says it in the command line's
    /// words too (the hint stays, as data, beside it).
    fn event(&mut self, event: PlanEvent<'_>) -> std::io::Result<()> {
        let line = match event {
            PlanEvent::Document(plan) if plan.hint.is_some() && plan.reason.is_some() => {
                let said = DocumentPlan {
                    reason: plan
                        .reason
                        .as_deref()
                        .map(|r| crate::hints::aside(r, plan.hint)),
                    ..plan.clone()
                };
                crate::output::json(&PlanEvent::Document(&said), false)
            }
            PlanEvent::Warning {
                message,
                hint: Some(hint),
            } => crate::output::json(
                &PlanEvent::Warning {
                    message: &crate::hints::aside(message, Some(hint)),
                    hint: Some(hint),
                },
                false,
            ),
            event => crate::output::json(&event, false),
        };
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")
    }
}

impl<W: Write> PrintPlan for JsonPlan<W> {
    fn as_sink(&mut self) -> &mut dyn PlanSink {
        self
    }
    fn summary(&mut self, summary: &ImportSummary) -> std::io::Result<()> {
        let line = PlanSummary::from(summary);
        self.out
            .write_all(crate::output::json(&line, false).as_bytes())?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
    fn failed(&mut self, error: &cuttle_service::Error) -> std::io::Result<()> {
        let line = PlanFailure::new(error);
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
    /// Every name and path from the input in it escaped for the terminal. Buffered: a line is
    /// written in several pieces, and past the memory's share each piece would be a system call.
    buffer: Visible<std::io::BufWriter<tempfile::SpooledTempFile>>,
    blockers: Visible<Vec<u8>>,
    quiet: bool,
    section: Option<&'static str>,
}

/// The text plan is held in memory up to this many bytes.
const HELD_IN_MEMORY: usize = 8 << 20;

/// Where the text plan is held.
fn held() -> std::io::BufWriter<tempfile::SpooledTempFile> {
    std::io::BufWriter::with_capacity(64 << 10, tempfile::spooled_tempfile(HELD_IN_MEMORY))
}

/// Longer values are shortened in the text plan (the JSON plan has them whole).
const SHOWN: usize = 120;

impl<W: Write> TextPlan<W> {
    pub(crate) fn new(out: W, quiet: bool) -> Self {
        TextPlan {
            out,
            buffer: Visible(held()),
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
        let mut held = std::mem::replace(&mut self.buffer.0, held())
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
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
            PlanEvent::Warning { message, hint } => {
                note!("warning: {}", crate::hints::aside(message, hint));
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
                    write!(self.buffer, " ({})", crate::hints::aside(reason, plan.hint))?;
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
    fn failed(&mut self, _error: &cuttle_service::Error) -> std::io::Result<()> {
        self.out.write_all(&self.blockers.0)?;
        self.out.flush()
    }
}
