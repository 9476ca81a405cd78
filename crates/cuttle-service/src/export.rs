//! `cuttle export` and `cuttle partial-export`: a request's options resolved into the engine's.

use cuttle_engine::closure::Selection;
use cuttle_engine::export::{ExportOptions, ExportSummary};

use crate::error::Result;
use crate::request::{Export, PartialExport};
use crate::{Progress, Session};

impl Export {
    /// The engine's options for this request.
    pub fn options(&self) -> ExportOptions {
        ExportOptions {
            directory: self.directory.clone(),
            clean: self.clean,
            prune: !self.no_prune,
            rekey: self.rekey,
            history: !self.ignore_history,
            task_logs: self.include_task_logs,
            inline_scripts: self.inline_scripts,
            selection: None,
        }
    }
}

impl PartialExport {
    /// The engine's options for this request: always mirrored (a partial export never combines
    /// instances); history as the ignored kinds say.
    pub fn options(&self) -> ExportOptions {
        ExportOptions {
            directory: self.directory.clone(),
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
        }
    }
}

impl Session {
    /// Exports the whole instance into the request's directory, secrets under `password`.
    pub fn export(
        &mut self,
        request: &Export,
        password: &[u8],
        progress: Progress<'_>,
    ) -> Result<ExportSummary> {
        self.serves(&request.instance)?;
        request.check()?;
        self.run_export(&request.options(), password, progress)
    }

    /// Exports the selected projects with everything they need.
    pub fn partial_export(
        &mut self,
        request: &PartialExport,
        password: &[u8],
        progress: Progress<'_>,
    ) -> Result<ExportSummary> {
        self.serves(&request.instance)?;
        request.check()?;
        self.run_export(&request.options(), password, progress)
    }

    fn run_export(
        &mut self,
        options: &ExportOptions,
        password: &[u8],
        progress: Progress<'_>,
    ) -> Result<ExportSummary> {
        Ok(cuttle_engine::export::export(
            &mut self.instance,
            password,
            options,
            progress,
        )?)
    }
}
