//! "Show script" for a task (SPEC 9, 10): the `cuttle` command line that does the same from a
//! shell, rendered by the service from the request it parses to ([`Request::command_line`]), and
//! the `curl` calls that do it through this API. A password is never written out: the command
//! line reads it from `CUTTLE_PASSWORD`, the curl calls from that variable through `jq`, and the
//! API key from `CUTTLE_API_KEY`.

use std::path::PathBuf;

use cuttle_engine::closure::Ignore;
use cuttle_engine::format::InlineScripts;
use cuttle_service::request::{
    Backup, Export, Import, ImportSource, Output, PartialExport, PasswordSource, Request,
};
use cuttle_service::script::{quote, shell_line};
use cuttle_service::tasks::{Task, TaskKind};
use serde::Serialize;
use serde_json::Value;

/// The variables a script reads its secrets from.
const PASSWORD_VARIABLE: &str = "CUTTLE_PASSWORD";

/// A task as a script.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Script {
    /// The `cuttle` command line (with `CUTTLE_PASSWORD` set), on the server's host or
    /// another with the same instance registered.
    command_line: String,
    /// The same through the API: `CUTTLE_URL` (this server, e.g. `https://host:8080`) and
    /// `CUTTLE_API_KEY` set; needs `curl` and `jq`.
    curl: Vec<String>,
}

fn flag(options: &Value, name: &str) -> bool {
    options.get(name).and_then(Value::as_bool).unwrap_or(false)
}

fn texts(options: &Value, name: &str) -> Vec<String> {
    options
        .get(name)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn inline(options: &Value) -> InlineScripts {
    match options.get("inlineScripts").and_then(Value::as_str) {
        Some("inline") => InlineScripts::Inline,
        _ => InlineScripts::Extract,
    }
}

fn archive_name(options: &Value) -> PathBuf {
    match options.get("compression").and_then(Value::as_str) {
        Some("gzip") => "export.tar.gz".into(),
        _ => "export.tar".into(),
    }
}

/// The script of `task`, a task of `instance`.
pub(crate) fn script(task: &Task, instance: &str) -> Script {
    let o = &task.options;
    let instance = instance.to_owned();
    let password = PasswordSource::Env(PASSWORD_VARIABLE.to_owned());
    let request = match task.kind {
        TaskKind::Export => Request::Export(Export {
            instance,
            output: Output::Archive(archive_name(o)),
            clean: false,
            no_prune: false,
            rekey: false,
            include_task_logs: flag(o, "includeTaskLogs"),
            ignore_history: flag(o, "ignoreHistory"),
            inline_scripts: inline(o),
            password,
        }),
        TaskKind::PartialExport => Request::PartialExport(PartialExport {
            instance,
            output: Output::Archive(archive_name(o)),
            projects: texts(o, "projects"),
            project_groups: texts(o, "projectGroups"),
            ignore: o
                .get("ignore")
                .and_then(|i| serde_json::from_value::<Ignore>(i.clone()).ok())
                .unwrap_or_default(),
            clean: false,
            rekey: false,
            include_task_logs: flag(o, "includeTaskLogs"),
            inline_scripts: inline(o),
            password,
        }),
        TaskKind::Backup => Request::InstanceBackup(Backup {
            instance,
            file: "instance.backup".into(),
        }),
        TaskKind::Import if o.get("plan").is_some() => {
            Request::ApplyPlan(cuttle_service::request::ApplyPlan {
                instance,
                plan: "plan.json".into(),
                password,
            })
        }
        TaskKind::Import => {
            let directories = texts(o, "directories");
            let uploads = texts(o, "uploads");
            let dry_run = flag(o, "dryRun");
            Request::Import(Import {
                instance,
                source: if directories.is_empty() {
                    // The uploads, as the files they were downloaded to.
                    ImportSource::Archives(
                        (0..uploads.len().max(1))
                            .map(|n| match n {
                                0 => PathBuf::from("export.tar"),
                                n => PathBuf::from(format!("export-{}.tar", n + 1)),
                            })
                            .collect(),
                    )
                } else {
                    ImportSource::Directories(directories.into_iter().map(PathBuf::from).collect())
                },
                overwrite: flag(o, "overwrite"),
                dry_run,
                keep_destination_secrets: flag(o, "keepDestinationSecrets"),
                include_task_logs: flag(o, "includeTaskLogs"),
                ignore_version_check: flag(o, "ignoreVersionCheck"),
                password,
                save_plan: dry_run.then(|| "plan.json".into()),
            })
        }
    };
    Script {
        command_line: shell_line(&request.command_line()),
        curl: curl(task),
    }
}

/// The calls: upload what an import reads, start the task with its options (the password from
/// the environment), wait for it, and download what it made.
fn curl(task: &Task) -> Vec<String> {
    let auth = r#"-H "Authorization: Bearer $CUTTLE_API_KEY""#;
    let mut calls = Vec::new();
    let mut body = task.options.clone();
    let uploads = texts(&task.options, "uploads");
    if !uploads.is_empty() {
        let mut names = Vec::new();
        for n in 0..uploads.len() {
            let file = match n {
                0 => "export.tar".to_owned(),
                n => format!("export-{}.tar", n + 1),
            };
            calls.push(format!(
                r#"upload{n}=$(curl -sSf {auth} -H 'Content-Type: application/octet-stream' -X POST --upload-file {file} "$CUTTLE_URL/api/v1/uploads" | jq -r .id)"#
            ));
            names.push(format!("$upload{n}"));
        }
        body["uploads"] = Value::Array(names.iter().map(|n| Value::from(n.as_str())).collect());
    }
    let needs_password = matches!(
        task.kind,
        TaskKind::Export | TaskKind::PartialExport | TaskKind::Import
    );
    // jq builds the body, so that the password and the upload ids are quoted as JSON.
    let mut jq = vec!["jq -n".to_owned()];
    if needs_password {
        jq.push(format!(r#"--arg password "${PASSWORD_VARIABLE}""#));
    }
    for (n, _) in uploads.iter().enumerate() {
        jq.push(format!(r#"--arg upload{n} "$upload{n}""#));
    }
    let mut template = body.to_string();
    for (n, _) in uploads.iter().enumerate() {
        template = template.replace(&format!("\"$upload{n}\""), &format!("$upload{n}"));
    }
    if needs_password {
        template = template.trim_end_matches('}').to_owned()
            + if template == "{}" { "" } else { "," }
            + "\"password\":$password}";
    }
    jq.push(quote(&template));
    calls.push(format!(
        r#"task=$({} | curl -sSf {auth} -H 'Content-Type: application/json' --data-binary @- "$CUTTLE_URL/api/v1/tasks" | jq -r .id)"#,
        jq.join(" ")
    ));
    calls.push(format!(
        r#"until curl -sSf {auth} "$CUTTLE_URL/api/v1/tasks/$task" | jq -e '.state | IN("succeeded", "failed", "cancelled")' >/dev/null; do sleep 1; done"#
    ));
    calls.push(format!(
        r#"curl -sSf {auth} "$CUTTLE_URL/api/v1/tasks/$task" | jq '{{state, log, result, error}}'"#
    ));
    match task.kind {
        TaskKind::Export | TaskKind::PartialExport => calls.push(format!(
            r#"curl -sSf {auth} -o {} "$CUTTLE_URL/api/v1/tasks/$task/archive""#,
            archive_name(&task.options).display()
        )),
        TaskKind::Backup => calls.push(format!(
            r#"curl -sSf {auth} -o instance.backup "$CUTTLE_URL/api/v1/tasks/$task/backup""#
        )),
        TaskKind::Import => calls.push(format!(
            r#"curl -sSf {auth} "$CUTTLE_URL/api/v1/tasks/$task/plan""#
        )),
    }
    calls
}
