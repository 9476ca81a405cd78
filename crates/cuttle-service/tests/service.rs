//! The service's behaviour, through the library, on both backends: every operation of the
//! command line as a request, and its results and errors as data (kinds, problems with their
//! place, hints). What is about the command line itself (exit statuses, output formats, flags)
//! stays in `cuttle-cli`'s tests.

use std::path::{Path, PathBuf};

use cuttle_domain::Collection;
use cuttle_engine::closure::Ignore;
use cuttle_engine::format::InlineScripts;
use cuttle_engine::import::{PlanEvent, PlanSink};
use cuttle_service::request::*;
use cuttle_service::{Access, DocumentInput, ErrorKind, Hint, PlanSummary, Service};
use cuttle_store_postgres::testing::{TestDatabase, fresh_database};
use serde_json::{Value, json};
use tempfile::TempDir;

const PASSWORD: &[u8] = b"service test password";

/// A `CUTTLE_HOME` of its own, with instances on one backend.
struct World {
    home: TempDir,
    service: Service,
    postgres: bool,
    databases: Vec<TestDatabase>,
}

impl World {
    fn new(postgres: bool) -> Option<World> {
        if postgres && fresh_database().is_none() {
            return None;
        }
        let home = TempDir::new().unwrap();
        let service = Service::new(cuttle_backends::home_at(home.path().to_owned()));
        Some(World {
            home,
            service,
            postgres,
            databases: Vec::new(),
        })
    }

    fn create(&mut self, name: &str) {
        let database = if self.postgres {
            let db = fresh_database().expect("checked in new");
            let url = db.url().to_owned();
            self.databases.push(db);
            Some(url)
        } else {
            None
        };
        self.service
            .create_instance(&InstanceCreate {
                name: name.into(),
                database,
                master_key_file: None,
            })
            .unwrap();
    }

    fn sampled(&mut self, name: &str) {
        self.create(name);
        self.service
            .session(name)
            .unwrap()
            .sample(
                &Sample {
                    instance: name.into(),
                    size: SampleSize::Small,
                    seed: 1,
                    overwrite: false,
                },
                &Access::host(),
            )
            .unwrap();
    }

    fn put(&self, instance: &str, collection: Collection, document: Value) {
        let input = DocumentInput::stream(document.to_string().as_bytes(), "test").unwrap();
        self.service
            .session(instance)
            .unwrap()
            .put_documents(
                &DocPut {
                    instance: instance.into(),
                    collection,
                    file: PathBuf::from("-"),
                },
                &input,
                &Access::host(),
                None,
            )
            .unwrap();
    }

    fn get(&self, instance: &str, collection: Collection, key: &str) -> Value {
        self.service
            .session(instance)
            .unwrap()
            .get_document(
                &DocumentAddress {
                    instance: instance.into(),
                    collection,
                    project: None,
                    key: Some(key.into()),
                },
                &Access::host(),
            )
            .unwrap()
            .value
    }

    fn export(&self, instance: &str, directory: &Path) -> cuttle_service::Result<()> {
        self.service
            .session(instance)?
            .export(
                &export_request(instance, directory),
                PASSWORD,
                &mut |_, _| {},
            )
            .map(|_| ())
    }

    fn import(
        &self,
        instance: &str,
        directory: &Path,
        overwrite: bool,
        dry_run: bool,
    ) -> (
        cuttle_service::Result<cuttle_engine::import::ImportSummary>,
        Plan,
    ) {
        let mut plan = Plan::default();
        let result = self.service.session(instance).unwrap().import(
            &import_request(instance, directory, overwrite, dry_run),
            Some(PASSWORD),
            &Access::host(),
            &mut plan,
            &mut |_, _| {},
        );
        (result, plan)
    }

    fn tree(&self, instance: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let dir = TempDir::new_in(self.home.path()).unwrap();
        self.export(instance, dir.path()).unwrap();
        tree(dir.path())
    }

    /// Whether exporting `instance` over a copy of the export `reference` (its salt reused)
    /// leaves the copy byte for byte as it was.
    fn same_as(&self, instance: &str, reference: &Path) -> bool {
        let dir = TempDir::new_in(self.home.path()).unwrap();
        for (relative, bytes) in tree(reference) {
            let target = dir.path().join(relative);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(target, bytes).unwrap();
        }
        self.export(instance, dir.path()).unwrap();
        tree(dir.path()) == tree(reference)
    }
}

fn export_request(instance: &str, directory: &Path) -> Export {
    Export {
        instance: instance.into(),
        output: Output::Directory(directory.to_owned()),
        clean: false,
        no_prune: false,
        rekey: false,
        include_task_logs: false,
        ignore_history: false,
        inline_scripts: InlineScripts::Extract,
        password: PasswordSource::Default,
    }
}

fn import_request(instance: &str, directory: &Path, overwrite: bool, dry_run: bool) -> Import {
    Import {
        instance: instance.into(),
        source: ImportSource::Directories(vec![directory.to_owned()]),
        overwrite,
        dry_run,
        keep_destination_secrets: false,
        include_task_logs: false,
        ignore_version_check: false,
        password: PasswordSource::Default,
        save_plan: None,
    }
}

/// The plan's events, as JSON (what `--format json` and the API print).
#[derive(Default)]
struct Plan(Vec<Value>);

impl PlanSink for Plan {
    fn event(&mut self, event: PlanEvent<'_>) -> std::io::Result<()> {
        self.0.push(serde_json::to_value(event).unwrap());
        Ok(())
    }
}

impl Plan {
    fn document(&self, collection: &str, key: &str) -> &Value {
        self.0
            .iter()
            .find(|e| e["type"] == "document" && e["collection"] == collection && e["key"] == key)
            .unwrap_or_else(|| panic!("no {collection} {key:?} in the plan"))
    }
}

fn tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((
                    path.strip_prefix(root).unwrap().to_owned(),
                    std::fs::read(&path).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

macro_rules! both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $test() { super::$test(super::World::new(false).unwrap()) })*
        }
        mod postgres {
            $(#[test] fn $test() { if let Some(w) = super::World::new(true) { super::$test(w) } })*
        }
    };
}

both_backends!(
    instances_are_created_listed_described_and_deleted,
    documents_are_put_got_listed_and_deleted_with_secrets_masked,
    a_document_that_does_not_validate_says_where,
    a_sample_refuses_a_populated_instance_with_a_hint,
    an_export_imports_into_an_empty_instance_exactly,
    a_skip_says_what_would_overwrite_and_a_preview_keeps_the_plan,
    a_wrong_password_and_a_wrong_selection_are_their_own_kinds,
    a_session_runs_only_its_own_instances_requests,
);

fn instances_are_created_listed_described_and_deleted(mut w: World) {
    w.create("b");
    w.create("a");
    let listed: Vec<String> = w
        .service
        .list_instances()
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(listed, ["a", "b"]);
    let description = w.service.session("a").unwrap().describe().unwrap();
    assert_eq!(description.name, "a");
    assert_eq!(description.documents.values().sum::<u64>(), 0);
    if w.postgres {
        assert!(
            !description.database.contains(":cuttle@"),
            "no password shown"
        );
    }
    let key = w.service.session("a").unwrap().master_key();
    assert_eq!(key.len(), 44, "a 256-bit key in base64");

    w.service.delete_instance("b").unwrap();
    let missing = w.service.session("b").unwrap_err();
    assert_eq!(missing.kind, ErrorKind::NotFound);
    assert_eq!(missing.hint, Some(Hint::ListInstances));
    assert!(!missing.message.contains("--"), "{}", missing.message);
}

fn documents_are_put_got_listed_and_deleted_with_secrets_masked(mut w: World) {
    w.create("a");
    let hostile = "Prod / EU \"west\" 東京 -x";
    w.put("a", Collection::Environments, json!({"name": hostile}));
    w.put(
        "a",
        Collection::Feeds,
        json!({"name": "Private", "feedType": "NuGet", "feedUri": "https://feed.example",
               "username": "u", "password": {"secret": "sample-secret-feed"}}),
    );
    let env = w.get("a", Collection::Environments, hostile);
    assert_eq!(env["name"], hostile);
    let feed = w.get("a", Collection::Feeds, "Private");
    assert_eq!(feed["password"], json!({"masked": true}));
    assert!(!feed.to_string().contains("sample-secret-"));

    let mut session = w.service.session("a").unwrap();
    let listed = session
        .list_documents(
            &DocList {
                instance: "a".into(),
                collection: Collection::Environments,
                project: None,
            },
            &Access::host(),
        )
        .unwrap();
    assert_eq!(listed, [hostile]);
    let address = DocumentAddress {
        instance: "a".into(),
        collection: Collection::Environments,
        project: None,
        key: Some(hostile.into()),
    };
    assert_eq!(
        session
            .delete_document(&address, &Access::host(), None)
            .unwrap(),
        1
    );
    let gone = session.get_document(&address, &Access::host()).unwrap_err();
    assert_eq!(gone.kind, ErrorKind::NotFound);

    // A project-owned collection without its project: a hint, not an option's name.
    let channel = DocumentAddress {
        instance: "a".into(),
        collection: Collection::Channels,
        project: None,
        key: Some("Hotfix".into()),
    };
    let error = session.get_document(&channel, &Access::host()).unwrap_err();
    assert_eq!(error.hint, Some(Hint::GiveProject));
    assert!(!error.message.contains("--"), "{}", error.message);
}

fn a_document_that_does_not_validate_says_where(mut w: World) {
    w.create("a");
    let input = DocumentInput::stream(
        json!({"name": "Web", "projectGroup": "Nowhere", "lifecycle": "Nothing"})
            .to_string()
            .as_bytes(),
        "web.json",
    )
    .unwrap();
    let error = w
        .service
        .session("a")
        .unwrap()
        .put_documents(
            &DocPut {
                instance: "a".into(),
                collection: Collection::Projects,
                file: "web.json".into(),
            },
            &input,
            &Access::host(),
            None,
        )
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Invalid);
    assert_eq!(error.problems.len(), 2, "{error}");
    let problem = serde_json::to_value(&error.problems[0]).unwrap();
    assert_eq!(problem["file"], "web.json");
    assert_eq!(problem["path"], "$.projectGroup");
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .contains("no project group named"),
        "{problem}"
    );
    assert_eq!(w.tree("a").len(), 1, "nothing written: the manifest alone");
}

fn a_sample_refuses_a_populated_instance_with_a_hint(mut w: World) {
    w.sampled("a");
    let before = w.tree("a");
    let error = w
        .service
        .session("a")
        .unwrap()
        .sample(
            &Sample {
                instance: "a".into(),
                size: SampleSize::Small,
                seed: 2,
                overwrite: false,
            },
            &Access::host(),
        )
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Populated);
    assert_eq!(error.hint, Some(Hint::SampleOverwrite));
    assert_eq!(w.tree("a"), before, "nothing changed");
}

fn an_export_imports_into_an_empty_instance_exactly(mut w: World) {
    w.sampled("a");
    w.create("b");
    let dir = TempDir::new().unwrap();
    w.export("a", dir.path()).unwrap();
    let (summary, plan) = w.import("b", dir.path(), false, false);
    let summary = summary.unwrap();
    assert!(summary.committed);
    let line = serde_json::to_value(PlanSummary::from(&summary)).unwrap();
    assert_eq!(line["type"], "summary");
    assert_eq!(line["committed"], true);
    assert!(line["totals"]["create"].as_u64().unwrap() > 100, "{line}");
    assert!(
        plan.0.iter().any(|e| e["type"] == "grant"),
        "teams grant access"
    );
    assert!(
        !serde_json::to_string(&plan.0)
            .unwrap()
            .contains("sample-secret-")
    );
    assert!(w.same_as("b", dir.path()));
}

fn a_skip_says_what_would_overwrite_and_a_preview_keeps_the_plan(mut w: World) {
    w.sampled("a");
    w.create("b");
    w.put(
        "b",
        Collection::Environments,
        json!({"name": "Production", "description": "mine"}),
    );
    let dir = TempDir::new().unwrap();
    w.export("a", dir.path()).unwrap();
    let before = w.tree("b");

    let preview = w
        .service
        .session("b")
        .unwrap()
        .preview(
            &import_request("b", dir.path(), false, false),
            Some(PASSWORD),
            &Access::host(),
            &mut |_, _| {},
        )
        .unwrap();
    assert!(!preview.summary.committed && preview.summary.dry_run);
    assert_eq!(w.tree("b"), before, "a preview writes nothing");
    let skipped = preview
        .documents
        .iter()
        .find(|d| d.collection == "environments" && d.key == "Production")
        .unwrap();
    assert_eq!(skipped.hint, Some(Hint::Overwrite));
    assert!(!skipped.reason.as_deref().unwrap().contains("--"));

    let (result, plan) = w.import("b", dir.path(), true, true);
    assert!(!result.unwrap().committed);
    let overwritten = plan.document("environments", "Production");
    assert_eq!(overwritten["action"], "overwrite");
    assert_eq!(
        w.get("b", Collection::Environments, "Production")["description"],
        "mine"
    );
}

fn a_wrong_password_and_a_wrong_selection_are_their_own_kinds(mut w: World) {
    w.sampled("a");
    let dir = TempDir::new().unwrap();
    w.export("a", dir.path()).unwrap();
    let mut session = w.service.session("a").unwrap();
    let wrong = session
        .export(
            &export_request("a", dir.path()),
            b"another password",
            &mut |_, _| {},
        )
        .unwrap_err();
    assert_eq!(wrong.kind, ErrorKind::Password);
    assert_eq!(wrong.hint, Some(Hint::Rekey));

    let partial = |projects: Vec<String>| PartialExport {
        instance: "a".into(),
        output: Output::Directory(dir.path().join("partial")),
        projects,
        project_groups: vec![],
        ignore: Ignore::default(),
        clean: false,
        rekey: false,
        include_task_logs: false,
        inline_scripts: InlineScripts::Extract,
        password: PasswordSource::Default,
    };
    for projects in [vec![], vec!["No such project".to_owned()]] {
        let error = session
            .partial_export(&partial(projects), PASSWORD, &mut |_, _| {})
            .unwrap_err();
        assert_eq!(error.kind, ErrorKind::Selection, "{error}");
    }
    assert!(!dir.path().join("partial").exists());

    let contradiction = Export {
        clean: true,
        no_prune: true,
        ..export_request("a", dir.path())
    };
    let error = session
        .export(&contradiction, PASSWORD, &mut |_, _| {})
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Usage);

    let mut plan = Plan::default();
    let error = session
        .import(
            &import_request("a", dir.path(), false, false),
            Some(b"another password"),
            &Access::host(),
            &mut plan,
            &mut |_, _| {},
        )
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Password);
}

fn a_session_runs_only_its_own_instances_requests(mut w: World) {
    w.create("a");
    w.create("b");
    let error = w
        .service
        .session("a")
        .unwrap()
        .list_documents(
            &DocList {
                instance: "b".into(),
                collection: Collection::Environments,
                project: None,
            },
            &Access::host(),
        )
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Usage);
}

#[test]
fn a_request_is_data_that_round_trips_through_json() {
    let request = Request::Import(Import {
        instance: "prod".into(),
        source: ImportSource::Backup {
            file: "a.backup".into(),
            master_key_file: "a.key".into(),
        },
        overwrite: true,
        dry_run: false,
        keep_destination_secrets: true,
        include_task_logs: false,
        ignore_version_check: false,
        password: PasswordSource::Default,
        save_plan: None,
    });
    let text = serde_json::to_string(&request).unwrap();
    assert!(text.contains("\"operation\":\"import\""), "{text}");
    let back: Request = serde_json::from_str(&text).unwrap();
    assert_eq!(back, request);
    assert_eq!(
        request.command_line(),
        [
            "import",
            "--instance",
            "prod",
            "--backup",
            "a.backup",
            "--master-key-file",
            "a.key",
            "--overwrite",
            "--keep-destination-secrets"
        ]
    );
    // A database URL's password is never in a request's Debug.
    let create = InstanceCreate {
        name: "pg".into(),
        database: Some("postgres://u:hunter2@db/cuttle".into()),
        master_key_file: None,
    };
    assert!(!format!("{create:?}").contains("hunter2"));
}
