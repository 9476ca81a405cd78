//! The registry's operations: create, list, show, delete, the master key, backup.

use cuttle_engine::backup::BackupSummary;
use cuttle_instance::instance::Description;
use cuttle_instance::{Backend, Instance};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::Result;
use crate::request::{Backup, InstanceCreate};
use crate::{Service, Session};

/// A registered instance, as `instance list` shows it (a database password never shown).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceListing {
    pub name: String,
    pub backend: Backend,
    /// The SQLite file, or the PostgreSQL URL with any password replaced by `***`.
    pub database: String,
}

impl Service {
    /// Creates an instance, and describes it.
    pub fn create_instance(&self, request: &InstanceCreate) -> Result<Description> {
        let mut instance = Instance::create(
            self.home(),
            &request.name,
            request.database.as_deref(),
            request.master_key_file.as_deref(),
        )?;
        Ok(instance.describe()?)
    }

    /// Every registered instance, by name.
    pub fn list_instances(&self) -> Result<Vec<InstanceListing>> {
        Ok(self
            .home()
            .list()?
            .into_iter()
            .map(|r| InstanceListing {
                database: cuttle_instance::home::redact_url(&r.database),
                name: r.name,
                backend: r.backend,
            })
            .collect())
    }

    pub fn delete_instance(&self, name: &str) -> Result<()> {
        Ok(Instance::delete(self.home(), name)?)
    }
}

impl Session {
    /// What `instance show` prints: identity, database, versions, documents per collection.
    pub fn describe(&mut self) -> Result<Description> {
        Ok(self.instance.describe()?)
    }

    /// The master key's one-line form (what `--master-key-file` takes).
    pub fn master_key(&self) -> Zeroizing<String> {
        self.instance.master_key().to_line()
    }

    /// A consistent backup of the whole instance in one file (mode 0600).
    pub fn backup(&mut self, request: &Backup) -> Result<BackupSummary> {
        self.serves(&request.instance)?;
        Ok(cuttle_engine::backup::write_backup(
            &mut self.instance,
            &request.file,
        )?)
    }
}
