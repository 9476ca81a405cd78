//! `cuttle import`: a request's sources and options resolved into the engine's; the plan's
//! summary as data; and the preview (a dry run whose plan is kept, for a wizard to show).

use cuttle_engine::import::{
    Action, Blocker, Conflict, DocumentPlan, ExportSource, Grant, ImportOptions, ImportSummary,
    PlanEvent, PlanSink, Sources,
};
use serde::Serialize;
use serde_json::{Map, Value};

use std::path::PathBuf;
use std::sync::Arc;

use cuttle_engine::Cancel;
use cuttle_engine::archive::Archive;

use crate::access::Access;
use crate::audit::{Audit, Outcome};
use crate::error::{Error, ErrorKind, Message, Result};
use crate::gate::Gate;
use crate::plan::{Fingerprint, SavedPlan, sources_digest};
use crate::request::{ApplyPlan, Import, ImportSource};
use crate::{Progress, Session};
use cuttle_domain::access::Permission;

impl Import {
    /// The engine's sources: the export directories or archives (which the engine reads in
    /// place; those among `indexed` are not read again), or the backup with its master key (read
    /// from its file).
    pub fn sources(&self, indexed: &[(PathBuf, Arc<Archive>)]) -> Result<Sources> {
        Ok(match &self.source {
            ImportSource::Directories(directories) => Sources::Exports(
                directories
                    .iter()
                    .map(|d| ExportSource::Directory(d.clone()))
                    .collect(),
            ),
            ImportSource::Archives(archives) => Sources::Exports(
                archives
                    .iter()
                    .map(|path| match indexed.iter().find(|(p, _)| p == path) {
                        Some((_, archive)) => ExportSource::Indexed(path.clone(), archive.clone()),
                        None => ExportSource::Archive(path.clone()),
                    })
                    .collect(),
            ),
            ImportSource::Backup {
                file,
                master_key_file,
            } => Sources::Backup {
                file: file.clone(),
                master_key: cuttle_instance::instance::read_key_file(
                    master_key_file,
                    cuttle_instance::files::Accept::FileOrPipe,
                )?,
            },
        })
    }

    /// The engine's options.
    pub fn options(&self) -> ImportOptions {
        ImportOptions {
            overwrite: self.overwrite,
            dry_run: self.dry_run,
            keep_destination_secrets: self.keep_destination_secrets,
            task_logs: self.include_task_logs,
            ignore_version_check: self.ignore_version_check,
            cancel: Cancel::default(),
            alone: false,
        }
    }

    /// Whether the sources are exports, which need the password they were made with.
    pub fn needs_password(&self) -> bool {
        !matches!(self.source, ImportSource::Backup { .. })
    }
}

/// What steers an import beyond its request (a task's).
#[derive(Debug, Default)]
pub struct ImportControl<'a> {
    /// Stops it before it commits, once set.
    pub cancel: Cancel,
    /// The plan it must be, if any: it commits only if its plan is that one (a
    /// [`ErrorKind::StalePlan`] error otherwise).
    pub expected: Option<&'a SavedPlan>,
    /// The request's archives that are already read through (an upload, checked and indexed as
    /// it arrived), by path: not read again.
    pub indexed: Vec<(PathBuf, Arc<Archive>)>,
}

/// What an import did, and for a dry run, its plan summed up to apply later.
#[derive(Clone, Debug)]
pub struct Imported {
    pub summary: ImportSummary,
    /// For a dry run: the plan, which [`Session::apply_plan`] applies exactly.
    pub plan: Option<SavedPlan>,
}

impl Session {
    /// Imports the request's sources, streaming the plan to `sink` as it is made; commits only
    /// when everything succeeded (never on a dry run). `password` opens export directories.
    /// A dry run with `save_plan` saves its plan there.
    pub fn import(
        &mut self,
        request: &Import,
        password: Option<&[u8]>,
        access: &Access,
        sink: &mut dyn PlanSink,
        progress: Progress<'_>,
    ) -> Result<ImportSummary> {
        // A plan to save names its sources by absolute paths, as it will when applied.
        let saving;
        let request = match &request.save_plan {
            Some(_) => {
                saving = crate::plan::absolute(request);
                &saving
            }
            None => request,
        };
        let imported = self.import_controlled(
            request,
            password,
            access,
            sink,
            progress,
            &ImportControl::default(),
        )?;
        if let (Some(path), Some(plan)) = (&request.save_plan, &imported.plan) {
            plan.save(path)?;
        }
        Ok(imported.summary)
    }

    /// [`Session::import`], steered by `control` (see [`ImportControl`]). A dry run returns its
    /// plan.
    pub fn import_controlled(
        &mut self,
        request: &Import,
        password: Option<&[u8]>,
        access: &Access,
        sink: &mut dyn PlanSink,
        progress: Progress<'_>,
        control: &ImportControl<'_>,
    ) -> Result<Imported> {
        let (cancel, expected) = (&control.cancel, control.expected);
        self.serves(&request.instance)?;
        request.check()?;
        // Importing at all; then each write the plan makes, in its scope (see `gate`).
        access.require(Permission::ImportData, "import")?;
        let groups = if crate::gate::needs_checks(access) {
            Some(self.project_groups()?)
        } else {
            None
        };
        let digest = if request.dry_run || expected.is_some() {
            Some(sources_digest(request)?)
        } else {
            None
        };
        if let (Some(plan), Some(digest)) = (expected, &digest) {
            plan.check_destination(self.name(), self.instance.identity())?;
            if &plan.sources != digest {
                return Err(Error::new(
                    ErrorKind::StalePlan,
                    "a source changed since the preview (its files are not the ones previewed): \
                     nothing was written; preview the import again",
                ));
            }
        }
        let sources = request.sources(&control.indexed)?;
        let options = ImportOptions {
            cancel: cancel.clone(),
            alone: self.alone,
            ..request.options()
        };
        let mut fingerprint = Fingerprint::new(sink, expected.map(|p| &p.parts), request.dry_run);
        let mut gate = Gate::new(&mut fingerprint, access, groups);
        gate.on_commit = Some(Audit::new(access.actor(), "import", Outcome::Succeeded));
        let result = cuttle_engine::import::import(
            &mut self.instance,
            &sources,
            password,
            &options,
            &mut gate,
            progress,
        )
        .map_err(Error::from);
        let refused = std::mem::take(&mut gate.refused);
        let result = match (result, refused.is_empty()) {
            (Err(_), false) => {
                let n = refused.len();
                Err(Error {
                    blockers: refused,
                    ..Error::new(
                        ErrorKind::Forbidden,
                        format!(
                            "{} may not make {n} of the import's writes (listed): nothing was written",
                            access.actor().name()
                        ),
                    )
                })
            }
            (result, _) => result,
        };
        let result = match (result, fingerprint.stale.take()) {
            (Err(_), Some(parts)) => {
                let shown = parts.iter().take(6).cloned().collect::<Vec<_>>().join(", ");
                let more = match parts.len() {
                    n if n > 6 => format!(" and {} more", n - 6),
                    _ => String::new(),
                };
                Err(Error::new(
                    ErrorKind::StalePlan,
                    format!(
                        "the plan is not the one previewed: its {shown}{more} changed since (the \
                         destination or a source changed); nothing was written; preview the \
                         import again"
                    ),
                ))
            }
            (result, _) => result,
        };
        // A committed import's entry committed with it; one that failed is recorded now.
        if let (false, Err(error)) = (request.dry_run, &result) {
            let entry = Audit::new(access.actor(), "import", Outcome::Succeeded).ended(error);
            let _ = self.record(&[entry]);
        }
        let summary = result?;
        let plan = match digest {
            Some(digest) if request.dry_run => Some(SavedPlan::new(
                self.name(),
                self.instance.identity(),
                request,
                fingerprint.parts(),
                digest,
                &summary,
            )),
            _ => None,
        };
        Ok(Imported { summary, plan })
    }

    /// Applies a saved plan: its import, committed only if planning it again gives the identical
    /// plan from the same sources.
    pub fn apply_plan(
        &mut self,
        request: &ApplyPlan,
        password: Option<&[u8]>,
        access: &Access,
        sink: &mut dyn PlanSink,
        progress: Progress<'_>,
    ) -> Result<ImportSummary> {
        self.serves(&request.instance)?;
        let plan = SavedPlan::load(&request.plan)?;
        let import = Import {
            instance: request.instance.clone(),
            ..plan.request.clone()
        };
        Ok(self
            .import_controlled(
                &import,
                password,
                access,
                sink,
                progress,
                &ImportControl {
                    expected: Some(&plan),
                    ..ImportControl::default()
                },
            )?
            .summary)
    }

    /// The request's dry run, whatever it says, with its plan kept: what a wizard previews.
    /// A plan that stops before writing is the error's `blockers`.
    pub fn preview(
        &mut self,
        request: &Import,
        password: Option<&[u8]>,
        access: &Access,
        progress: Progress<'_>,
    ) -> Result<Preview> {
        let request = Import {
            dry_run: true,
            save_plan: None,
            ..request.clone()
        };
        let mut preview = Preview::default();
        preview.summary = self.import(&request, password, access, &mut preview, progress)?;
        Ok(preview)
    }
}

impl Session {
    /// Each project of the instance, with its group.
    pub(crate) fn project_groups(
        &mut self,
    ) -> Result<std::collections::HashMap<String, Option<String>>> {
        let mut read = self.instance.store().read()?;
        let mut projects = Vec::new();
        read.scan(cuttle_domain::Collection::Projects, None, &mut |doc| {
            projects.push(doc);
            Ok(())
        })?;
        let mut groups = std::collections::HashMap::with_capacity(projects.len());
        for doc in &projects {
            let value = cuttle_instance::documents::show(&mut *read, doc)?;
            let name = value.get("name").and_then(serde_json::Value::as_str);
            let group = value
                .get("projectGroup")
                .and_then(serde_json::Value::as_str);
            if let Some(name) = name {
                groups.insert(name.to_owned(), group.map(str::to_owned));
            }
        }
        Ok(groups)
    }
}

/// A plan kept whole: every event of a dry run, and its summary.
#[derive(Clone, Debug, Default)]
pub struct Preview {
    pub warnings: Vec<Message>,
    pub grants: Vec<Grant>,
    pub conflicts: Vec<Conflict>,
    pub documents: Vec<DocumentPlan>,
    pub blockers: Vec<Blocker>,
    pub summary: ImportSummary,
}

impl PlanSink for Preview {
    fn event(&mut self, event: PlanEvent<'_>) -> std::io::Result<()> {
        match event {
            PlanEvent::Warning { message, hint } => self.warnings.push(Message {
                text: message.to_owned(),
                hint,
            }),
            PlanEvent::Grant(g) => self.grants.push(g.clone()),
            PlanEvent::Conflict(c) => self.conflicts.push(c.clone()),
            PlanEvent::Document(d) => self.documents.push(d.clone()),
            PlanEvent::Blocker(b) => self.blockers.push(b.clone()),
        }
        Ok(())
    }
}

impl Preview {
    /// Sends the plan to `sink` again, in the order the import made it (warnings, grants,
    /// conflicts, documents).
    pub fn replay(&self, sink: &mut dyn PlanSink) -> std::io::Result<()> {
        for w in &self.warnings {
            sink.event(PlanEvent::Warning {
                message: &w.text,
                hint: w.hint,
            })?;
        }
        for g in &self.grants {
            sink.event(PlanEvent::Grant(g))?;
        }
        for c in &self.conflicts {
            sink.event(PlanEvent::Conflict(c))?;
        }
        for d in &self.documents {
            sink.event(PlanEvent::Document(d))?;
        }
        Ok(())
    }

    /// The documents the import would remove from the destination.
    pub fn removals(&self) -> usize {
        self.documents
            .iter()
            .filter(|d| d.action == Action::Remove)
            .count()
    }
}

/// The last line of a JSON plan: what the import did (or would do), in numbers.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanSummary {
    /// Always `summary`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub dry_run: bool,
    pub committed: bool,
    /// Documents per action, over every collection (in the order of [`Action::ALL`]).
    pub totals: Map<String, Value>,
    /// Documents per collection (in declaration order) and action.
    pub collections: Map<String, Value>,
    pub conflicts: u64,
    pub grants: u64,
}

impl From<&ImportSummary> for PlanSummary {
    fn from(summary: &ImportSummary) -> Self {
        let mut collections = Map::new();
        for (collection, action, n) in &summary.counts {
            collections
                .entry(collection.to_string())
                .or_insert_with(|| Value::Object(Map::new()))[action.name()] = Value::from(*n);
        }
        PlanSummary {
            kind: "summary",
            dry_run: summary.dry_run,
            committed: summary.committed,
            totals: summary
                .totals()
                .into_iter()
                .map(|(a, n)| (a.name().to_owned(), Value::from(n)))
                .collect(),
            collections,
            conflicts: summary.conflicts,
            grants: summary.grants,
        }
    }
}

/// The line a JSON plan ends with when the import failed.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanFailure<'e> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub committed: bool,
    #[serde(flatten)]
    pub error: &'e crate::Error,
}

impl<'e> PlanFailure<'e> {
    pub fn new(error: &'e crate::Error) -> Self {
        PlanFailure {
            kind: "error",
            committed: false,
            error,
        }
    }
}
