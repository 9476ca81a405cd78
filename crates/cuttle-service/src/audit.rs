//! The audit log (SPEC 9): every write, through the API or the command line, and every refusal
//! of one, recorded in the instance (an instance record, never exported): who, when, what
//! (collection, project, key, action), and the outcome. Never a secret: an entry holds names and
//! error kinds, never a document's content or an error's text (which may quote input).
//!
//! A write that succeeds is recorded in its own transaction, so that the entry and the change
//! commit together or not at all; one that fails or is refused is recorded afterwards, in a
//! transaction of its own.

use cuttle_domain::access::Permission;
use cuttle_domain::documents::Timestamp;
use cuttle_store::{ReadTxn, RecordKind, WriteTxn};
use serde::{Deserialize, Serialize};

use crate::Session;
use crate::access::{Access, Actor};
use crate::error::{Error, ErrorKind, Result};

/// How a write ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Succeeded,
    /// Not allowed (a permission, a precondition).
    Refused,
    /// Tried, and failed (invalid documents, a database error): nothing was written.
    Failed,
}

/// One entry of the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Audit {
    /// Given by the instance: entries are in the order they were written.
    #[serde(default)]
    pub id: i64,
    pub at: Timestamp,
    /// Who: a username, or `host:<os user>` at the command line.
    pub actor: String,
    /// The API key used, if any (its id, never the key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<i64>,
    /// What was done: `create`, `replace`, `delete`, `sample`, `import`, `api-key-create`, ….
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub outcome: Outcome,
    /// For a refusal or a failure: the error's kind (never its text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<ErrorKind>,
    /// For a task: its id, kind and options (never a password), and when it ended, what it did
    /// in numbers (an import's plan summary, an export's documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<serde_json::Value>,
}

impl Audit {
    pub fn new(actor: &Actor, action: &str, outcome: Outcome) -> Audit {
        Audit {
            id: 0,
            at: Timestamp::now(),
            actor: actor.name(),
            api_key: actor.api_key(),
            action: action.to_owned(),
            collection: None,
            project: None,
            key: None,
            outcome,
            reason: None,
            task: None,
        }
    }

    /// An entry about the API key `id` of `user`.
    pub fn key(actor: &Actor, action: &str, user: &str, id: i64, outcome: Outcome) -> Audit {
        Audit {
            collection: Some("users".into()),
            key: Some(format!("{user} (API key {id})")),
            ..Audit::new(actor, action, outcome)
        }
    }

    /// An entry about a task (see [`Audit::task`]).
    pub fn of_task(
        actor: &Actor,
        action: &str,
        outcome: Outcome,
        task: &crate::tasks::Task,
    ) -> Audit {
        let summary = task.result.as_ref().map(|r| {
            r.get("summary")
                .cloned()
                .unwrap_or_else(|| serde_json::json!({"documents": r.get("documents")}))
        });
        let mut about = serde_json::json!({
            "id": task.id,
            "kind": task.kind.name(),
            "options": task.options,
        });
        if let Some(summary) = summary {
            about["summary"] = summary;
        }
        Audit {
            key: Some(format!("task {}", task.id)),
            task: Some(about),
            ..Audit::new(actor, action, outcome)
        }
    }

    /// The same entry about a document.
    pub fn about(mut self, collection: &str, project: Option<&str>, key: &str) -> Audit {
        self.collection = Some(collection.to_owned());
        self.project = project.map(str::to_owned);
        self.key = Some(key.to_owned());
        self
    }

    /// The same entry, for an error: refused or failed, by the error's kind.
    pub fn ended(mut self, error: &Error) -> Audit {
        self.outcome = match error.kind {
            ErrorKind::Forbidden | ErrorKind::PreconditionFailed | ErrorKind::Unauthenticated => {
                Outcome::Refused
            }
            _ => Outcome::Failed,
        };
        self.reason = Some(error.kind);
        self
    }

    /// Writes the entry in `txn`.
    pub fn write(&self, txn: &mut dyn WriteTxn) -> Result<()> {
        let body = serde_json::to_string(self).expect("an audit entry serializes");
        txn.insert_record(RecordKind::Audit, None, &body)?;
        Ok(())
    }
}

impl Session {
    /// Records entries in a transaction of their own (for writes that failed or were refused,
    /// whose own transaction was rolled back).
    pub fn record(&mut self, entries: &[Audit]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut txn = self.instance.store().write()?;
        for entry in entries {
            entry.write(&mut *txn)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// The audit log, newest first: at most `limit` entries older than the entry `before`
    /// (`None`: the newest). Needs `AuditView`.
    pub fn audit(
        &mut self,
        before: Option<i64>,
        limit: usize,
        access: &Access,
    ) -> Result<Vec<Audit>> {
        access.require(Permission::AuditView, "read the audit log")?;
        let mut read = self.instance.store().read()?;
        entries(&mut *read, before, limit)
    }
}

fn entries(txn: &mut dyn ReadTxn, before: Option<i64>, limit: usize) -> Result<Vec<Audit>> {
    txn.records(RecordKind::Audit, before.unwrap_or(i64::MAX), limit, true)?
        .into_iter()
        .map(|record| {
            let mut entry: Audit = serde_json::from_str(&record.body).map_err(|e| {
                Error::new(
                    ErrorKind::Damaged,
                    format!("an audit entry is damaged: {e}"),
                )
            })?;
            entry.id = record.id;
            Ok(entry)
        })
        .collect()
}
