//! `cuttle export` and `cuttle partial-export`: a request's options resolved into the engine's,
//! into a directory or into one archive (through a directory of its own, which an earlier
//! archive there fills first, so that its salt is kept and unchanged data gives the same bytes).

use cuttle_domain::access::Permission;
use cuttle_engine::archive::{self, Compression};
use cuttle_engine::closure::Selection;
use cuttle_engine::export::{ExportOptions, ExportSummary, Visibility};
use std::sync::Arc;

use crate::access::{Access, Scope};

use crate::error::{Error, ErrorKind, Result};
use crate::request::{Export, Output, PartialExport};
use crate::{Progress, Session};

impl Export {
    /// The engine's options for this request.
    pub fn options(&self) -> ExportOptions {
        ExportOptions {
            output: self.output.engine(),
            clean: self.clean,
            prune: !self.no_prune,
            rekey: self.rekey,
            history: !self.ignore_history,
            task_logs: self.include_task_logs,
            inline_scripts: self.inline_scripts,
            selection: None,
            visible: None,
        }
    }
}

impl PartialExport {
    /// The engine's options for this request: always mirrored (a partial export never combines
    /// instances); history as the ignored kinds say.
    pub fn options(&self) -> ExportOptions {
        ExportOptions {
            output: self.output.engine(),
            clean: self.clean,
            prune: true,
            rekey: self.rekey,
            history: !self.ignore.history,
            task_logs: self.include_task_logs,
            inline_scripts: self.inline_scripts,
            selection: Some(Selection {
                projects: self.projects.clone(),
                project_groups: self.project_groups.clone(),
                ignore: self.ignore,
            }),
            visible: None,
        }
    }
}

impl Session {
    /// Exports the whole instance into the request's output, secrets under `password`, as the
    /// host's administrator.
    pub fn export(
        &mut self,
        request: &Export,
        password: &[u8],
        progress: Progress<'_>,
    ) -> Result<ExportSummary> {
        self.export_as(request, password, &Access::host(), progress)
    }

    /// [`Session::export`] for `access`: `ExportData`, and each exported document's export
    /// permission (its view permission, or more where its collection says so) in its scope.
    pub fn export_as(
        &mut self,
        request: &Export,
        password: &[u8],
        access: &Access,
        progress: Progress<'_>,
    ) -> Result<ExportSummary> {
        self.serves(&request.instance)?;
        request.check()?;
        let options = self.visible_to(request.options(), access)?;
        self.run_export(options, password, progress)
    }

    /// Exports the selected projects with everything they need, as the host's administrator.
    pub fn partial_export(
        &mut self,
        request: &PartialExport,
        password: &[u8],
        progress: Progress<'_>,
    ) -> Result<ExportSummary> {
        self.partial_export_as(request, password, &Access::host(), progress)
    }

    /// [`Session::partial_export`] for `access`, as [`Session::export_as`] checks.
    pub fn partial_export_as(
        &mut self,
        request: &PartialExport,
        password: &[u8],
        access: &Access,
        progress: Progress<'_>,
    ) -> Result<ExportSummary> {
        self.serves(&request.instance)?;
        request.check()?;
        let options = self.visible_to(request.options(), access)?;
        self.run_export(options, password, progress)
    }

    /// The options, with a check of every document for whoever may not export everything: an
    /// export with a document they may not export stops, naming it (nothing is left out
    /// silently: an export without a document it needs would not import).
    fn visible_to(&mut self, mut options: ExportOptions, access: &Access) -> Result<ExportOptions> {
        access.require(Permission::ExportData, "export")?;
        if access.sees_everything() {
            return Ok(options);
        }
        let groups = Arc::new(self.project_groups()?);
        let access = access.clone();
        options.visible = Some(Visibility(Arc::new(move |decl, value| {
            let scope = Scope::of(decl, value, &mut |project| {
                Ok(groups.get(project).cloned().flatten())
            })
            .map_err(|e| e.message)?;
            let permission = decl.needs.export;
            if access.may(permission, &scope) {
                Ok(())
            } else {
                Err(format!(
                    "{} may not export {}: that needs the permission {permission} in {}; nothing was exported",
                    access.actor().name(),
                    cuttle_instance::documents::describe(decl, value),
                    scope.describe()
                ))
            }
        })));
        Ok(options)
    }

    fn run_export(
        &mut self,
        options: ExportOptions,
        password: &[u8],
        progress: Progress<'_>,
    ) -> Result<ExportSummary> {
        Ok(cuttle_engine::export::export(
            &mut self.instance,
            password,
            &options,
            progress,
        )?)
    }
}

impl Output {
    /// Where the engine writes it.
    pub fn engine(&self) -> cuttle_engine::export::Output {
        match self {
            Output::Directory(path) => cuttle_engine::export::Output::Directory(path.clone()),
            Output::Archive(path) => {
                cuttle_engine::export::Output::Archive(path.clone(), Compression::for_path(path))
            }
        }
    }
}

pub(crate) fn archive_error(error: archive::ArchiveError) -> Error {
    let kind = if matches!(error, archive::ArchiveError::Cancelled) {
        ErrorKind::Cancelled
    } else if error.is_hostile() {
        ErrorKind::Archive
    } else {
        ErrorKind::Io
    };
    Error::new(kind, error.to_string())
}
