//! Export (SPEC 5): one read snapshot of an instance to a deterministic directory tree, one file
//! per document, references by name, sensitive values re-encrypted under a password.

mod tree;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cuttle_crypto::export::{ExportKey, KdfParams, Salt};
use cuttle_crypto::{Place, Sealer};
use std::collections::BTreeSet;

use cuttle_domain::decl::CollectionDecl;
use cuttle_domain::path::{self, Step};
use cuttle_domain::sensitive;
use cuttle_domain::{COLLECTIONS, Collection, Layout};
use cuttle_instance::Instance;
use cuttle_instance::codec::{self, Names};
use cuttle_store::StoreError;
use serde_json::{Value, json};

use crate::closure::{self, ClosureError, Selection};
use crate::format::{self, Contents, ContentsKind, Encryption, InlineScripts, Kdf, Manifest};
use tree::Tree;

/// What to export and how.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    pub directory: PathBuf,
    /// Remove every format-owned file first.
    pub clean: bool,
    /// Remove format-owned files that no longer match a document (mirroring); off with
    /// `--no-prune`.
    pub prune: bool,
    /// A new salt (and so new ciphertexts) even if the directory's manifest does not verify.
    pub rekey: bool,
    /// Releases and deployments.
    pub history: bool,
    /// Deployments' task logs (with history only).
    pub task_logs: bool,
    pub inline_scripts: InlineScripts,
    /// A partial export of these projects with their closure; `None` exports the instance.
    pub selection: Option<Selection>,
}

/// What an export did.
#[derive(Clone, Debug, Default)]
pub struct ExportSummary {
    pub documents: Vec<(Collection, u64)>,
    pub files_written: u64,
    pub files_unchanged: u64,
    pub files_removed: u64,
    /// The bytes of every file of the export (written or already right).
    pub bytes: u64,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Password(String),
    #[error("{0}")]
    Directory(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "a sensitive value of {document} at {path} does not open under this instance's master key: {detail}"
    )]
    Sealed {
        document: String,
        path: String,
        detail: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Instance(#[from] cuttle_instance::Error),
}

impl From<ClosureError> for ExportError {
    fn from(error: ClosureError) -> Self {
        match error {
            ClosureError::Selection(message) => ExportError::Directory(message),
            ClosureError::Store(error) => ExportError::Store(error),
        }
    }
}

/// Progress: documents done out of a total.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// Exports `instance` to `options.directory` with `password`.
pub fn export(
    instance: &mut Instance,
    password: &[u8],
    options: &ExportOptions,
    progress: Progress<'_>,
) -> Result<ExportSummary, ExportError> {
    let started = Instant::now();
    let mut tree = Tree::open(&options.directory)?;
    let existing = read_manifest(tree.root())?;
    let contents = contents_of(options);
    check_directory(&tree, existing.as_ref(), &contents, options.clean)?;
    let (key, kdf) = export_key(
        password,
        existing.as_ref(),
        options.rekey,
        instance.identity(),
    )?;
    if options.clean {
        tree.clean()?;
    }

    let mut summary = ExportSummary::default();
    {
        let (store, sealer) = instance.parts();
        let mut read = store.read()?;
        let mut names = Names::preloaded(&mut *read)?;
        let wanted = |decl: &&CollectionDecl| {
            (!decl.history || contents.history)
                && (decl.collection != Collection::TaskLogs || contents.task_logs)
        };
        // What to write, collection by collection: every document, or the selection's closure.
        let partial = match &options.selection {
            Some(selection) => Some(closure::closure(&mut *read, selection)?),
            None => None,
        };
        let selected: Option<BTreeSet<String>> = partial
            .as_ref()
            .map(|c| c.projects.values().cloned().collect());
        let mut total = 0;
        for decl in COLLECTIONS.iter().filter(wanted) {
            total += match &partial {
                Some(closure) => closure
                    .documents
                    .values()
                    .find(|(c, _)| *c == decl.collection)
                    .map_or(0, |(_, ids)| ids.len() as u64),
                None => read.count(decl.collection)?,
            };
        }
        let mut done = 0;
        progress(done, total);
        let mut write =
            |decl: &CollectionDecl, doc: &cuttle_store::StoredDoc| -> Result<(), ExportError> {
                export_document(
                    decl,
                    doc,
                    &mut names,
                    sealer,
                    &key,
                    &contents,
                    selected.as_ref(),
                    &mut tree,
                )?;
                done += 1;
                if done % 256 == 0 {
                    progress(done, total);
                }
                Ok(())
            };
        for decl in COLLECTIONS.iter().filter(wanted) {
            match &partial {
                Some(closure) => {
                    let ids = closure
                        .documents
                        .values()
                        .find(|(c, _)| *c == decl.collection)
                        .map(|(_, ids)| ids.as_slice())
                        .unwrap_or_default();
                    for id in ids {
                        let doc = read.get(*id)?.ok_or_else(|| {
                            StoreError::Corrupt(format!("document {id} vanished"))
                        })?;
                        write(decl, &doc)?;
                    }
                }
                None => {
                    let mut failure = None;
                    let scanned = read.scan(decl.collection, None, &mut |doc| {
                        write(decl, &doc).map_err(|error| {
                            failure = Some(error);
                            StoreError::Corrupt("export stopped".into())
                        })
                    });
                    if let Some(error) = failure {
                        return Err(error);
                    }
                    scanned?;
                }
            }
        }
        progress(done, total);
        summary.documents = tree.documents.clone();
    }

    let manifest = Manifest {
        format_version: format::FORMAT_VERSION,
        product_version: env!("CARGO_PKG_VERSION").to_owned(),
        schema_version: cuttle_domain::DOMAIN_VERSION,
        contents,
        encryption: Encryption {
            algorithm: format::SIV.to_owned(),
            kdf,
            key_check: key.key_check(),
        },
    };
    tree.write(
        Path::new(format::MANIFEST),
        &pretty(&serde_json::to_value(&manifest).expect("a manifest serializes")),
    )?;
    if options.prune && (existing.is_some() || options.clean) {
        tree.prune()?;
    }
    summary.files_written = tree.written;
    summary.files_unchanged = tree.unchanged;
    summary.files_removed = tree.removed;
    summary.bytes = tree.bytes;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The manifest's account of what `options` export.
fn contents_of(options: &ExportOptions) -> Contents {
    let sorted = |names: &[String]| -> Vec<String> {
        let set: BTreeSet<String> = names
            .iter()
            .map(|n| cuttle_domain::names::nfc(n).into_owned())
            .collect();
        set.into_iter().collect()
    };
    match &options.selection {
        None => Contents {
            kind: ContentsKind::Instance,
            projects: Vec::new(),
            project_groups: Vec::new(),
            ignored: Vec::new(),
            history: options.history,
            task_logs: options.history && options.task_logs,
            inline_scripts: options.inline_scripts,
        },
        Some(selection) => {
            let history = options.history && !selection.ignore.history;
            Contents {
                kind: ContentsKind::Partial,
                projects: sorted(&selection.projects),
                project_groups: sorted(&selection.project_groups),
                ignored: selection.ignore.names(),
                history,
                task_logs: history && !selection.ignore.deployments && options.task_logs,
                inline_scripts: options.inline_scripts,
            }
        }
    }
}

/// An instance export goes into any directory (mirroring an earlier instance export); a partial
/// export into an empty directory or an earlier partial export of the same selection (SPEC 5.9).
/// `--clean` lets either replace an earlier export of another kind or selection.
fn check_directory(
    tree: &Tree,
    existing: Option<&Manifest>,
    contents: &Contents,
    clean: bool,
) -> Result<(), ExportError> {
    let root = tree.root().display();
    let same_selection = |m: &Manifest| {
        m.contents.kind == contents.kind
            && m.contents.projects == contents.projects
            && m.contents.project_groups == contents.project_groups
            && m.contents.ignored == contents.ignored
    };
    match (contents.kind, existing) {
        (_, Some(m)) if same_selection(m) || clean => Ok(()),
        (ContentsKind::Instance, Some(_)) => Err(ExportError::Directory(format!(
            "{root} holds a partial export; an instance export goes into an empty directory or an earlier instance export (or give --clean to replace it)"
        ))),
        (ContentsKind::Partial, Some(m)) => Err(ExportError::Directory(format!(
            "{root} holds {}; a partial export goes into an empty directory or an earlier partial export of the same selection (or give --clean to replace it)",
            match m.contents.kind {
                ContentsKind::Instance => "an instance export".to_owned(),
                ContentsKind::Partial => format!(
                    "a partial export of another selection (projects {:?}, project groups {:?}, ignoring {:?})",
                    m.contents.projects, m.contents.project_groups, m.contents.ignored
                ),
            }
        ))),
        (ContentsKind::Partial, None) if !tree.is_empty()? => Err(ExportError::Directory(format!(
            "{root} is not empty and holds no export; a partial export goes into an empty directory or an earlier partial export of the same selection"
        ))),
        _ => Ok(()),
    }
}

/// A JSON document as the format writes it: two-space indent, LF, a trailing newline.
fn pretty(value: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("a JSON value serializes");
    bytes.push(b'\n');
    bytes
}

/// The manifest of an earlier export in `root`, if there is one.
fn read_manifest(root: &Path) -> Result<Option<Manifest>, ExportError> {
    match std::fs::symlink_metadata(root.join(format::MANIFEST)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => crate::reader::read_manifest(root).map(Some).map_err(|e| {
            ExportError::Directory(format!(
                "{}: {e}; export into another directory, or remove it",
                root.display()
            ))
        }),
    }
}

/// The export key: the existing manifest's salt and parameters when the password verifies
/// against it; a new salt with `--rekey`; for a directory without a manifest, a salt derived from
/// the instance's identity, so that re-exports into fresh directories are identical too.
fn export_key(
    password: &[u8],
    existing: Option<&Manifest>,
    rekey: bool,
    identity: [u8; 16],
) -> Result<(ExportKey, Kdf), ExportError> {
    let fresh = |salt: Salt| -> Result<(ExportKey, Kdf), ExportError> {
        let params = KdfParams::DEFAULT;
        let key = ExportKey::derive_cached(password, &salt, &params)
            .map_err(|e| ExportError::Password(e.to_string()))?;
        Ok((key, kdf_of(&params, &salt)))
    };
    match existing {
        None => fresh(Salt::from_identity(&identity)),
        Some(manifest) => {
            // Reuse the earlier export's salt and parameters when the password opens it and
            // the parameters are not weaker than an export may use.
            let kdf = &manifest.encryption.kdf;
            let params = KdfParams {
                memory_kib: kdf.memory_kib,
                iterations: kdf.iterations,
                parallelism: kdf.parallelism,
            };
            if params.check_for_export().is_ok()
                && let Ok(key) = crate::reader::export_key(manifest, password)
            {
                return Ok((key, kdf.clone()));
            }
            if rekey {
                fresh(Salt::random().map_err(|e| ExportError::Password(e.to_string()))?)
            } else {
                Err(ExportError::Password(
                    "the password does not open the export already in this directory (its manifest's key check); \
                     give the password it was made with, or --rekey to re-encrypt every value under a new salt"
                        .into(),
                ))
            }
        }
    }
}

fn kdf_of(params: &KdfParams, salt: &Salt) -> Kdf {
    Kdf {
        algorithm: format::ARGON2ID.to_owned(),
        memory_kib: params.memory_kib,
        iterations: params.iterations,
        parallelism: params.parallelism,
        salt: salt.encode(),
    }
}

fn text<'v>(value: &'v Value, field: &str) -> &'v str {
    value.get(field).and_then(Value::as_str).unwrap_or_default()
}

/// Where a rendered document's file goes.
fn document_path(decl: &CollectionDecl, value: &Value) -> PathBuf {
    let project = || format::project_dir(text(value, "project"));
    let own_name = || {
        decl.name_field()
            .map(|f| text(value, f))
            .unwrap_or_default()
    };
    match decl.layout {
        Layout::TopLevel => Path::new(decl.name).join(format!("{}.json", format::stem(own_name()))),
        Layout::Project => format::project_dir(own_name()).join("project.json"),
        Layout::ProjectFile(file) => project().join(file),
        Layout::ProjectFolder(folder) => project()
            .join(folder)
            .join(format!("{}.json", format::stem(own_name()))),
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
                .join("releases")
                .join(format::stem(text(deployment, "release")))
                .join(folder)
                .join(format::deployment_file(
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
fn scripts_dir(decl: &CollectionDecl, value: &Value) -> PathBuf {
    match decl.layout {
        Layout::TopLevel => {
            let name = decl
                .name_field()
                .map(|f| text(value, f))
                .unwrap_or_default();
            Path::new(decl.name).join(format!("{}{}", format::stem(name), format::SCRIPTS_SUFFIX))
        }
        _ => format::project_dir(text(value, "project")).join(format::PROCESS_SCRIPTS),
    }
}

/// Moves every inline script of a rendered document into a file of its own: the JSON keeps
/// `{"syntax", "file"}`, the file's name made of the stems of the named elements on the way
/// (`deploy.run-script.sh`), or `script.<ext>`.
fn extract_scripts(decl: &CollectionDecl, value: &mut Value) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    for script_path in decl.scripts {
        let _ = path::for_each::<()>(value, script_path, None, &mut |script, at| {
            if script.is_object() {
                found.push(at.clone());
            }
            Ok(())
        });
    }
    let dir = scripts_dir(decl, value);
    let mut files = Vec::new();
    for at in found {
        let mut parts = Vec::new();
        let mut cursor = &*value;
        for step in at.steps() {
            cursor = match step {
                Step::Field(name) => &cursor[name.as_str()],
                Step::Index(i) => {
                    parts.push(format::stem(text(&cursor[*i], "name")));
                    &cursor[*i]
                }
            };
        }
        let syntax = cursor.get("syntax").cloned().unwrap_or(Value::Null);
        let body = text(cursor, "body").to_owned();
        let extension = serde_json::from_value(syntax.clone())
            .map(format::script_extension)
            .unwrap_or("txt");
        // A step with one action usually shares its name: say it once.
        parts.dedup();
        let stem = if parts.is_empty() {
            "script".to_owned()
        } else {
            parts.join(".")
        };
        let file = format!("{stem}.{extension}");
        if let Some(slot) = value.pointer_mut(&at.pointer()) {
            *slot = json!({ "syntax": syntax, "file": file });
        }
        files.push((dir.join(&file), body));
    }
    files
}

/// Re-encrypts a stored sealed value (as `render` hands it over) under the export key: the form
/// of a sensitive value in an export.
pub(crate) fn reencrypt(
    sealer: &Sealer,
    key: &ExportKey,
    slot: &mut Value,
    place: Place<'_>,
) -> Result<(), cuttle_crypto::CryptoError> {
    let plain = codec::open_sealed(sealer, slot, place)?;
    *slot = json!({ sensitive::ENCRYPTED: key.encrypt(&plain) });
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn export_document(
    decl: &CollectionDecl,
    doc: &cuttle_store::StoredDoc,
    names: &mut Names<'_>,
    sealer: &Sealer,
    key: &ExportKey,
    contents: &Contents,
    selected: Option<&BTreeSet<String>>,
    tree: &mut Tree,
) -> Result<(), ExportError> {
    let mut sealed_failure: Option<String> = None;
    let mut value = codec::render(
        decl,
        doc.id,
        &doc.body,
        names,
        &mut |slot: &mut Value, place: Place<'_>| {
            if let Err(e) = reencrypt(sealer, key, slot, place) {
                sealed_failure.get_or_insert_with(|| format!("{}|{e}", place.pointer));
            }
            Ok(())
        },
    )?;
    if let Some(failure) = sealed_failure {
        let (pointer, detail) = failure.split_once('|').unwrap_or((&failure, ""));
        return Err(ExportError::Sealed {
            document: cuttle_instance::documents::describe(decl, &value),
            path: pointer.to_owned(),
            detail: detail.to_owned(),
        });
    }
    if let (Some(projects), Collection::Tenants) = (selected, decl.collection) {
        closure::trim_tenant(&mut value, &|project| {
            project.as_str().is_some_and(|p| projects.contains(p))
        });
    }
    tree.count(decl.collection);
    let path = document_path(decl, &value);
    if decl.collection == Collection::TaskLogs {
        return tree.write(&path, text(&value, "log").as_bytes());
    }
    if contents.inline_scripts == InlineScripts::Extract {
        for (file, body) in extract_scripts(decl, &mut value) {
            tree.write(&file, body.as_bytes())?;
        }
    }
    tree.write(&path, &pretty(&value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_named_after_their_step_and_action() {
        let decl = Collection::DeploymentProcesses.decl();
        let mut value = json!({"project": "Web App", "steps": [{"name": "Deploy", "actions": [
            {"name": "Run script", "script": {"syntax": "Bash", "body": "echo hi\n"}},
            {"name": "No script", "script": null}
        ]}]});
        let files = extract_scripts(decl, &mut value);
        let dir = format::project_dir("Web App").join("scripts");
        assert_eq!(
            files,
            vec![(
                dir.join(format!(
                    "{}.{}.sh",
                    format::stem("Deploy"),
                    format::stem("Run script")
                )),
                "echo hi\n".to_owned()
            )]
        );
        assert_eq!(
            value["steps"][0]["actions"][0]["script"]["file"],
            format!(
                "{}.{}.sh",
                format::stem("Deploy"),
                format::stem("Run script")
            )
        );
        assert!(
            value["steps"][0]["actions"][0]["script"]
                .get("body")
                .is_none()
        );
    }
}
