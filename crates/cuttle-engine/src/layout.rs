//! The export's layout (SPEC 5.1, 5.4, 5.5), described once: where each document's file stands,
//! and what the format makes of each path in a tree. The exporter asks [`document_path`] and
//! [`scripts_dir`]; the reader asks [`file_at`] which collection a file holds; mirroring asks
//! [`owns`] and [`owns_dir`] what it may replace or remove; a wizard counts what an export into a
//! directory would mirror with the same two. Each collection's place is its declaration's
//! [`Layout`]; the rest is the few fixed names below.
//!
//! ```text
//! manifest.json
//! <collection>/<name>.json                          Layout::TopLevel
//! <collection>/<name>.scripts/<script>              its extracted scripts
//! projects/<project>/project.json                   Layout::Project
//! projects/<project>/<file>                         Layout::ProjectFile
//! projects/<project>/scripts/<script>               the process's extracted scripts
//! projects/<project>/<folder>/<name>.json           Layout::ProjectFolder
//! projects/<project>/releases/<release>/<folder>/<environment>[.<tenant>]-<n>.<ext>
//!                                                   Layout::Deployment
//! ```
//!
//! Every `<name>` is a [`stem`]. Everything here is a promise to users who commit exports to git.

use std::path::{Path, PathBuf};

use cuttle_domain::{COLLECTIONS, Collection, CollectionDecl, Layout};
use serde_json::Value;

use crate::format::{MANIFEST, PROCESS_SCRIPTS, PROJECTS, SCRIPTS_SUFFIX, stem};

/// The folder of a project's releases, inside its project's folder.
pub const RELEASES: &str = "releases";
/// A project's own document, inside its project's folder.
pub const PROJECT_FILE: &str = "project.json";

/// What the format keeps in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum File {
    /// The export's manifest.
    Manifest,
    /// A document of this collection.
    Document(Collection),
    /// An extracted script (of the document its folder belongs to).
    Script,
}

/// What the format keeps at `relative` (a path inside an export), or `None` where it keeps
/// nothing (a README, `.git`, a misplaced file): the one reading of the layout, from which
/// [`owns`] and the reader's collections follow.
pub fn file_at(relative: &Path) -> Option<File> {
    let parts: Vec<&str> = relative.iter().filter_map(|p| p.to_str()).collect();
    if parts.len() != relative.iter().count() {
        return None;
    }
    let json = |f: &str| f.ends_with(".json");
    let document = |fits: &dyn Fn(&CollectionDecl) -> bool| {
        COLLECTIONS
            .iter()
            .find(|d| fits(d))
            .map(|d| File::Document(d.collection))
    };
    match parts.as_slice() {
        [MANIFEST] => Some(File::Manifest),
        [dir, file] => top_level(dir)
            .filter(|_| json(file))
            .map(|d| File::Document(d.collection)),
        [dir, scripts, _] if scripts.ends_with(SCRIPTS_SUFFIX) => top_level(dir)
            .filter(|d| !d.scripts.is_empty())
            .map(|_| File::Script),
        [PROJECTS, _, file] => document(&|d| match d.layout {
            Layout::Project => *file == PROJECT_FILE,
            Layout::ProjectFile(name) => *file == name,
            _ => false,
        }),
        [PROJECTS, _, PROCESS_SCRIPTS, _] => Some(File::Script),
        [PROJECTS, _, folder, file] => document(&|d| {
            matches!(d.layout, Layout::ProjectFolder(f) if f == *folder) && json(file)
        }),
        [PROJECTS, _, RELEASES, _, folder, file] => document(&|d| {
            matches!(d.layout, Layout::Deployment { folder: f, extension, .. }
                if f == *folder && file.ends_with(&format!(".{extension}")))
        }),
        _ => None,
    }
}

/// Whether the format owns the file at `relative`: mirroring removes only such files, and never a
/// file the format does not own (a README, `.git`).
pub fn owns(relative: &Path) -> bool {
    file_at(relative).is_some()
}

/// Whether `relative` is a folder the format makes (removed by mirroring once empty).
pub fn owns_dir(relative: &Path) -> bool {
    let parts: Vec<&str> = relative.iter().filter_map(|p| p.to_str()).collect();
    match parts.as_slice() {
        [dir] => *dir == PROJECTS || top_level(dir).is_some(),
        [PROJECTS, _] => true,
        [PROJECTS, _, folder] => {
            *folder == PROCESS_SCRIPTS
                || COLLECTIONS
                    .iter()
                    .any(|d| matches!(d.layout, Layout::ProjectFolder(f) if f == *folder))
        }
        [PROJECTS, _, RELEASES, _] => true,
        [PROJECTS, _, RELEASES, _, folder] => COLLECTIONS
            .iter()
            .any(|d| matches!(d.layout, Layout::Deployment { folder: f, .. } if f == *folder)),
        [dir, scripts] => {
            top_level(dir).is_some_and(|d| !d.scripts.is_empty())
                && scripts.ends_with(SCRIPTS_SUFFIX)
        }
        _ => false,
    }
}

fn top_level(dir: &str) -> Option<&'static cuttle_domain::CollectionDecl> {
    COLLECTIONS
        .iter()
        .find(|d| d.layout == Layout::TopLevel && d.name == dir)
}

/// The format's own spelling of the folder `relative` when it differs from it only in the case
/// of its last part (`Teams` for `teams`, `projects/web/Channels`): such a folder is no
/// format folder, and would be left out by a reader that went by the name alone.
pub fn case_variant(relative: &Path) -> Option<String> {
    let last = relative.file_name()?.to_str()?;
    let lower = last.to_lowercase();
    if lower == last {
        return None;
    }
    let proper = relative.with_file_name(&lower);
    owns_dir(&proper).then(|| format!("{}/", proper.display()))
}

/// Whether a file at `relative` looks like a document of the format: a `.json` file (in any
/// case), or a `.log` file among a project's releases. Where the format does not own it, the
/// reader says so rather than leave it out unseen.
pub fn looks_like_document(relative: &Path) -> bool {
    let name = relative
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    name.ends_with(".json")
        || (name.ends_with(".log") && relative.iter().any(|part| part == RELEASES))
}

/// Where the format puts documents, for people: every layout of the declarations.
pub fn where_documents_stand() -> String {
    let mut places = vec!["<collection>/<name>.json".to_owned()];
    let project = format!("{PROJECTS}/<project>");
    for decl in COLLECTIONS {
        let place = match decl.layout {
            Layout::TopLevel => continue,
            Layout::Project => format!("{project}/project.json"),
            Layout::ProjectFile(file) => format!("{project}/{file}"),
            Layout::ProjectFolder(folder) => format!("{project}/{folder}/<name>.json"),
            Layout::Deployment {
                folder, extension, ..
            } => format!("{project}/releases/<release>/{folder}/<name>.{extension}"),
        };
        places.push(place);
    }
    format!("the format puts documents at {}", places.join(", "))
}

/// The folder of a project.
pub fn project_dir(project: &str) -> PathBuf {
    Path::new(PROJECTS).join(stem(project))
}

// The file name of a deployment (or of its task log) inside its release's folder:
/// `<environment>-<number>` or, for a tenant, `<environment>.<tenant>-<number>` (stems hold no
/// `.`, and the number is what follows the last `-`, so the parts are never ambiguous).
pub fn deployment_file(
    environment: &str,
    tenant: Option<&str>,
    number: u64,
    extension: &str,
) -> String {
    match tenant {
        None => format!("{}-{number}.{extension}", stem(environment)),
        Some(tenant) => format!(
            "{}.{}-{number}.{extension}",
            stem(environment),
            stem(tenant)
        ),
    }
}

fn text<'v>(value: &'v Value, field: &str) -> &'v str {
    value.get(field).and_then(Value::as_str).unwrap_or_default()
}

/// Where a document (in the export shape) of `decl` goes.
pub fn document_path(decl: &CollectionDecl, value: &Value) -> PathBuf {
    let project = || project_dir(text(value, "project"));
    let own_name = || {
        decl.name_field()
            .map(|f| text(value, f))
            .unwrap_or_default()
    };
    match decl.layout {
        Layout::TopLevel => Path::new(decl.name).join(format!("{}.json", stem(own_name()))),
        Layout::Project => project_dir(own_name()).join(PROJECT_FILE),
        Layout::ProjectFile(file) => project().join(file),
        Layout::ProjectFolder(folder) => project()
            .join(folder)
            .join(format!("{}.json", stem(own_name()))),
        Layout::Deployment {
            folder,
            extension,
            key,
        } => {
            let deployment = if key.is_empty() {
                value
            } else {
                value.get(key).unwrap_or(&Value::Null)
            };
            project()
                .join(RELEASES)
                .join(stem(text(deployment, "release")))
                .join(folder)
                .join(deployment_file(
                    text(deployment, "environment"),
                    deployment.get("tenant").and_then(Value::as_str),
                    deployment
                        .get("number")
                        .and_then(Value::as_u64)
                        .unwrap_or_default(),
                    extension,
                ))
        }
    }
}

/// The folder of a document's extracted scripts.
pub fn scripts_dir(decl: &CollectionDecl, value: &Value) -> PathBuf {
    match decl.layout {
        Layout::TopLevel => {
            let name = decl
                .name_field()
                .map(|f| text(value, f))
                .unwrap_or_default();
            Path::new(decl.name).join(format!("{}{SCRIPTS_SUFFIX}", stem(name)))
        }
        _ => project_dir(text(value, "project")).join(PROCESS_SCRIPTS),
    }
}

/// The folder of the extracted scripts of the document in the file at `relative` (where the file
/// stands, whatever its content says).
pub fn scripts_dir_beside(decl: &CollectionDecl, relative: &Path) -> PathBuf {
    match decl.layout {
        Layout::TopLevel => {
            let stem = relative
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            relative.with_file_name(format!("{stem}{SCRIPTS_SUFFIX}"))
        }
        _ => relative.with_file_name(PROCESS_SCRIPTS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_files_are_unambiguous() {
        assert_ne!(
            deployment_file("prod-a", None, 1, "json"),
            deployment_file("prod", Some("a"), 1, "json")
        );
        assert_ne!(
            deployment_file("prod-2", None, 1, "json"),
            deployment_file("prod", None, 21, "json")
        );
        assert_eq!(
            deployment_file("production", None, 3, "json"),
            "production-3.json"
        );
    }

    #[test]
    fn ownership() {
        for owned in [
            "manifest.json",
            "environments/production.json",
            "step-templates/smoke-test.scripts/script.sh",
            "projects/web/project.json",
            "projects/web/deployment-process.json",
            "projects/web/variables.json",
            "projects/web/scripts/deploy.run.sh",
            "projects/web/channels/hotfix.json",
            "projects/web/triggers/nightly.json",
            "projects/web/releases/1-4-2_abc.json",
            "projects/web/releases/1-4-2_abc/deployments/production-1.json",
            "projects/web/releases/1-4-2_abc/task-logs/production-1.log",
        ] {
            assert!(owns(Path::new(owned)), "{owned}");
        }
        for foreign in [
            "README.md",
            ".git/config",
            "environments/notes.txt",
            "projects/web/README.md",
            "projects/web/releases/1/deployments/x.txt",
            "planets/earth.json",
            "environments/deep/x.json",
        ] {
            assert!(!owns(Path::new(foreign)), "{foreign}");
        }
    }

    #[test]
    fn every_collection_is_read_back_from_where_it_is_written() {
        use serde_json::json;
        for decl in COLLECTIONS {
            let value = json!({
                "project": "Web App", "name": "Hot fix", "username": "Hot fix",
                "version": "1.4.2", "release": "1.4.2", "environment": "Production",
                "tenant": "Acme", "number": 3,
                "deployment": {"release": "1.4.2", "environment": "Production", "tenant": "Acme", "number": 3},
            });
            let path = document_path(decl, &value);
            assert_eq!(
                file_at(&path),
                Some(File::Document(decl.collection)),
                "{}: {}",
                decl.name,
                path.display()
            );
            let mut folder = path.parent();
            while let Some(dir) = folder.filter(|d| !d.as_os_str().is_empty()) {
                assert!(owns_dir(dir), "{}: {}", decl.name, dir.display());
                folder = dir.parent();
            }
        }
    }
}
