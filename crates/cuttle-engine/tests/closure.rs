//! Partial exports are self-contained (SPEC 5.10): every project of the sample, exported alone,
//! loads into an empty instance through the validated write path (every reference resolvable),
//! and brings nothing of the other projects. On SQLite and on PostgreSQL.

use cuttle_domain::Collection;
use cuttle_engine::closure::{Ignore, Selection};
use cuttle_engine::export::{ExportOptions, export};
use cuttle_engine::format::InlineScripts;
use cuttle_engine::reader::{export_key, read_export};
use cuttle_instance::Instance;
use cuttle_instance::documents;
use tempfile::TempDir;

mod common;
use common::{sampled, write};

const PASSWORD: &[u8] = b"closure test password";

fn options(directory: &std::path::Path, selection: Selection) -> ExportOptions {
    ExportOptions {
        output: cuttle_engine::export::Output::Directory(directory.to_owned()),
        clean: false,
        prune: true,
        rekey: false,
        history: true,
        task_logs: true,
        inline_scripts: InlineScripts::Extract,
        selection: Some(selection),
        visible: None,
    }
}

/// Exports `source` (the selection's closure, or everything) into `dir` and reads it back.
fn exported(
    source: &mut Instance,
    dir: &std::path::Path,
    selection: Option<Selection>,
) -> cuttle_engine::reader::Export {
    let mut options = options(dir, Selection::default());
    options.selection = selection;
    export(source, PASSWORD, &options, &mut |_, _| {}).unwrap();
    read_export(dir).unwrap()
}

fn every_project_alone_is_self_contained(database: &mut dyn FnMut() -> Option<String>) {
    let home_dir = TempDir::new().unwrap();
    let home = cuttle_backends::home_at(home_dir.path().to_owned());
    let mut source = sampled(&home, "source", database().as_deref());
    let projects = {
        let mut read = source.store().read().unwrap();
        documents::list(&mut *read, Collection::Projects, None).unwrap()
    };
    assert!(projects.len() >= 5);
    for (i, project) in projects.iter().enumerate() {
        let dir = TempDir::new().unwrap();
        let selection = Selection {
            projects: vec![project.clone()],
            ..Selection::default()
        };
        let read = exported(&mut source, dir.path(), Some(selection));
        let key = export_key(&read.manifest, PASSWORD).unwrap();
        let mut empty =
            Instance::create(&home, &format!("empty-{i}"), database().as_deref(), None).unwrap();
        if let Err(error) = write(&mut empty, &read.documents, Some(&key)) {
            panic!("{project:?} alone does not load into an empty instance: {error}");
        }
        let mut check = empty.store().read().unwrap();
        assert_eq!(
            documents::list(&mut *check, Collection::Projects, None).unwrap(),
            std::slice::from_ref(project)
        );
        assert!(
            documents::list(&mut *check, Collection::Releases, None)
                .unwrap()
                .iter()
                .all(|r| r.starts_with(&format!("{project} / ")))
        );
        // Tenants come with only their connections to this project.
        let tenants = documents::list(&mut *check, Collection::Tenants, None).unwrap();
        for tenant in tenants {
            let doc = documents::find(
                &mut *check,
                &documents::Address {
                    collection: Collection::Tenants,
                    project: None,
                    key: Some(&tenant),
                },
            )
            .unwrap();
            let shown = documents::show(&mut *check, &doc).unwrap();
            for connection in shown["projects"].as_array().unwrap() {
                assert_eq!(connection["project"], project.as_str());
            }
        }
    }
}

#[test]
fn sqlite_every_project_alone_is_self_contained() {
    every_project_alone_is_self_contained(&mut || None);
}

#[test]
fn postgres_every_project_alone_is_self_contained() {
    let mut databases = Vec::new();
    if cuttle_store_postgres::testing::fresh_database()
        .map(|db| databases.push(db))
        .is_none()
    {
        return;
    }
    every_project_alone_is_self_contained(&mut || {
        let db = cuttle_store_postgres::testing::fresh_database().unwrap();
        let url = db.url().to_owned();
        databases.push(db);
        Some(url)
    });
}

#[test]
fn ignored_kinds_stay_out_and_history_reaches_what_it_names() {
    let home_dir = TempDir::new().unwrap();
    let home = cuttle_backends::home_at(home_dir.path().to_owned());
    let mut source = sampled(&home, "source", None);
    let project = {
        let mut read = source.store().read().unwrap();
        documents::list(&mut *read, Collection::Projects, None).unwrap()[0].clone()
    };
    let dir = TempDir::new().unwrap();
    let ignore = Ignore {
        machines: true,
        tenants: true,
        certificates: true,
        history: false,
        deployments: true,
    };
    let selection = Selection {
        projects: vec![project],
        ignore,
        ..Selection::default()
    };
    let read = exported(&mut source, dir.path(), Some(selection));
    let count = |c: Collection| read.documents.iter().filter(|d| d.collection == c).count();
    for ignored in [
        Collection::Machines,
        Collection::Tenants,
        Collection::Certificates,
        Collection::Deployments,
        Collection::TaskLogs,
    ] {
        assert_eq!(count(ignored), 0, "{ignored:?}");
    }
    assert!(count(Collection::Releases) > 0);
    assert_eq!(
        read.manifest.contents.ignored,
        ["certificates", "deployments", "machines", "tenants"]
    );
}

#[test]
fn a_file_in_another_projects_folder_is_refused() {
    let home_dir = TempDir::new().unwrap();
    let home = cuttle_backends::home_at(home_dir.path().to_owned());
    let mut source = sampled(&home, "source", None);
    let projects = {
        let mut read = source.store().read().unwrap();
        documents::list(&mut *read, Collection::Projects, None).unwrap()
    };
    let dir = TempDir::new().unwrap();
    exported(&mut source, dir.path(), None);
    // Copy one project's variables into another project's folder.
    let folder = |p: &str| {
        dir.path()
            .join("projects")
            .join(cuttle_engine::format::stem(p))
    };
    std::fs::copy(
        folder(&projects[0]).join("variables.json"),
        folder(&projects[1]).join("variables.json"),
    )
    .unwrap();
    let error = read_export(dir.path()).unwrap_err().to_string();
    assert!(error.contains("belongs in projects/"), "{error}");
}
