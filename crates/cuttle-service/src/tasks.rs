//! Migrations as tasks (SPEC 9): the record of each task, kept in the instance (an instance
//! record, never exported), so that a task outlives the request that started it and the server
//! that ran it. A task that was queued or running when its server stopped is failed when the
//! next one starts ([`Session::fail_interrupted_tasks`]): its transaction was rolled back with
//! the process, so it never shows as running forever.
//!
//! A task's record never holds a secret: its options are the request without the password,
//! its log and result are what the plan and the summary say (sensitive values masked), and an
//! error is recorded as the service's error (whose messages never quote a secret).

use cuttle_domain::access::Permission;
use cuttle_domain::documents::Timestamp;
use cuttle_store::{ReadTxn, RecordKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Session;
use crate::access::Access;
use crate::error::{Error, ErrorKind, Result};

/// What a task does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskKind {
    Export,
    PartialExport,
    Import,
    Backup,
}

impl TaskKind {
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Export => "export",
            TaskKind::PartialExport => "partial-export",
            TaskKind::Import => "import",
            TaskKind::Backup => "backup",
        }
    }

    /// Whether it writes to the instance (and so waits for every other writer).
    pub fn writes(self) -> bool {
        self == TaskKind::Import
    }
}

/// Where a task stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl TaskState {
    /// Whether it will not change any more.
    pub fn ended(self) -> bool {
        matches!(
            self,
            TaskState::Succeeded | TaskState::Failed | TaskState::Cancelled
        )
    }
}

/// How far a running task is: documents done of a total, in its current stage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskProgress {
    /// `planning`, `exporting`, `backing up`, ….
    pub stage: String,
    pub done: u64,
    pub total: u64,
}

/// A task, as recorded and as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// Given by the instance when the task is recorded.
    #[serde(default)]
    pub id: i64,
    pub kind: TaskKind,
    pub state: TaskState,
    /// Who started it: a username (or `host:<os user>`).
    pub actor: String,
    /// The API key it was started with (its id, never the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<i64>,
    pub created: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<Timestamp>,
    /// What it was asked to do, without the password.
    pub options: Value,
    #[serde(default)]
    pub progress: TaskProgress,
    /// What it said, a line each (never a secret).
    #[serde(default)]
    pub log: Vec<String>,
    /// What it made: a summary, an archive to download, a plan to apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Why it failed: the service's error, as the API renders errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

impl Task {
    /// A new task of `kind` for `access`'s actor, queued.
    pub fn new(kind: TaskKind, access: &Access, options: Value) -> Task {
        Task {
            id: 0,
            kind,
            state: TaskState::Queued,
            actor: access.actor().name(),
            api_key: access.actor().api_key(),
            created: Timestamp::now(),
            started: None,
            ended: None,
            options,
            progress: TaskProgress::default(),
            log: Vec::new(),
            result: None,
            error: None,
        }
    }

    /// Ends the task: succeeded with `result`, or failed (cancelled) with `error`.
    pub fn end(&mut self, outcome: std::result::Result<Value, &Error>) {
        self.ended = Some(Timestamp::now());
        match outcome {
            Ok(result) => {
                self.state = TaskState::Succeeded;
                self.result = Some(result);
            }
            Err(error) => {
                self.state = if error.kind == ErrorKind::Cancelled {
                    TaskState::Cancelled
                } else {
                    TaskState::Failed
                };
                self.log.push(format!("error: {}", error.message));
                self.error = serde_json::to_value(error).ok();
            }
        }
    }

    fn body(&self) -> String {
        serde_json::to_string(self).expect("a task serialises")
    }

    /// Records, in `txn`, that this task committed: a copy of it ended `succeeded` (its result
    /// to follow). Written in an import's own transaction just before it commits, so that a
    /// server that dies between the import's commit and the task's end still tells the truth:
    /// the next server finds the task succeeded, not running.
    pub fn record_committed(&self, txn: &mut dyn cuttle_store::WriteTxn) -> Result<()> {
        let mut committed = self.clone();
        committed.state = TaskState::Succeeded;
        committed.ended = Some(Timestamp::now());
        committed.result = Some(serde_json::json!({"committed": true}));
        committed
            .log
            .push("committed (the server stopped before it recorded the rest)".into());
        txn.update_record(RecordKind::Task, self.id, &committed.body())?;
        Ok(())
    }
}

impl Session {
    /// Records a new task; returns it with its id.
    pub fn record_task(&mut self, mut task: Task) -> Result<Task> {
        let mut txn = self.instance.store().write()?;
        task.id = txn.insert_record(RecordKind::Task, None, &task.body())?;
        txn.commit()?;
        Ok(task)
    }

    /// Records where a task stands now.
    pub fn update_task(&mut self, task: &Task) -> Result<()> {
        let mut txn = self.instance.store().write()?;
        txn.update_record(RecordKind::Task, task.id, &task.body())?;
        txn.commit()?;
        Ok(())
    }

    /// Fails every task recorded as queued or running: what a server does when it starts (no
    /// other server runs this instance's tasks). Returns how many.
    pub fn fail_interrupted_tasks(&mut self) -> Result<usize> {
        let mut txn = self.instance.store().write()?;
        let mut after = 0;
        let mut failed = 0;
        loop {
            let records = txn.records(RecordKind::Task, after, 1000, false)?;
            let Some(last) = records.last() else { break };
            after = last.id;
            for record in records {
                let mut task = parse(&record.body, record.id)?;
                if task.state.ended() {
                    continue;
                }
                task.end(Err(&Error::new(
                    ErrorKind::Storage,
                    "the server stopped before the task ended: whatever it was writing was rolled back",
                )));
                txn.update_record(RecordKind::Task, task.id, &task.body())?;
                failed += 1;
            }
        }
        txn.commit()?;
        Ok(failed)
    }

    /// One task. Seeing tasks needs `TaskView`; a task one started oneself is always visible.
    pub fn task(&mut self, id: i64, access: &Access) -> Result<Task> {
        let mut read = self.instance.store().read()?;
        let task = find(&mut *read, id)?;
        visible(&task, access)?;
        Ok(task)
    }

    /// Tasks, newest first: at most `limit` older than the task `before` (`None`: the newest).
    /// Without `TaskView`, only one's own.
    pub fn tasks(
        &mut self,
        before: Option<i64>,
        limit: usize,
        access: &Access,
    ) -> Result<Vec<Task>> {
        let mut read = self.instance.store().read()?;
        let records = read.records(RecordKind::Task, before.unwrap_or(i64::MAX), limit, true)?;
        let mut tasks = Vec::with_capacity(records.len());
        for record in records {
            let task = parse(&record.body, record.id)?;
            if visible(&task, access).is_ok() {
                tasks.push(task);
            }
        }
        Ok(tasks)
    }
}

fn visible(task: &Task, access: &Access) -> Result<()> {
    if task.actor == access.actor().name() {
        return Ok(());
    }
    access.require(Permission::TaskView, "see other people's tasks")
}

fn find(read: &mut dyn ReadTxn, id: i64) -> Result<Task> {
    let record = read
        .records(RecordKind::Task, id.saturating_sub(1), 1, false)?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("there is no task {id}")))?;
    parse(&record.body, record.id)
}

fn parse(body: &str, id: i64) -> Result<Task> {
    let mut task: Task = serde_json::from_str(body).map_err(|e| {
        Error::new(
            ErrorKind::Damaged,
            format!("the record of task {id} is damaged: {e}"),
        )
    })?;
    task.id = id;
    Ok(task)
}
