//! Preview, then apply exactly that (SPEC 9): a dry run's plan is summed up as a [`SavedPlan`]
//! (digests of the plan, part by part, and of the sources; its summary; the request that made
//! it), and applying it plans again inside the write transaction and commits only if the new
//! plan's digests are the same and the sources are byte for byte what they were. Otherwise it is
//! a [`ErrorKind::StalePlan`] error that says which parts differ, and nothing is written.
//!
//! A saved plan holds no secret: the plan's lines mask every sensitive value (the digests are
//! of those lines), the request says where the password is read from, never the password, and
//! the sources' digest is of their files (an export's sensitive values are ciphertexts).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use cuttle_engine::import::{ImportSummary, PlanEvent, PlanSink};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};
use crate::import::PlanSummary;
use crate::request::{Import, ImportSource};

/// What a saved plan's file says it is.
pub const PLAN_FORMAT: &str = "cuttle-plan";
/// The version of that file's shape.
pub const PLAN_VERSION: u32 = 1;
/// More than any plan file holds: a plan file is a summary, not the plan.
const MAX_PLAN_FILE: u64 = 4 << 20;

/// A dry run's plan, to apply later: what it was made from and digests of what it said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedPlan {
    /// Always [`PLAN_FORMAT`].
    pub format: String,
    pub version: u32,
    /// The plan's id: a digest of everything below but the summary.
    pub id: String,
    /// The destination: its name and its identity (another instance of the same name is not
    /// the one previewed).
    pub instance: String,
    pub destination: String,
    /// The import, as it will be applied (not a dry run).
    pub request: Import,
    /// SHA-256 of the plan's lines, part by part: `warnings`, `grants`, `conflicts`,
    /// `blockers`, and each collection by name.
    pub parts: BTreeMap<String, String>,
    /// SHA-256 of the sources' files.
    pub sources: String,
    /// What the plan would do, in numbers (the last line of a JSON plan).
    pub summary: serde_json::Value,
}

impl SavedPlan {
    pub(crate) fn new(
        instance: &str,
        destination: [u8; 16],
        request: &Import,
        parts: BTreeMap<String, String>,
        sources: String,
        summary: &ImportSummary,
    ) -> SavedPlan {
        let request = Import {
            dry_run: false,
            save_plan: None,
            ..absolute(request)
        };
        let mut plan = SavedPlan {
            format: PLAN_FORMAT.into(),
            version: PLAN_VERSION,
            id: String::new(),
            instance: instance.to_owned(),
            destination: hex::encode(destination),
            request,
            parts,
            sources,
            summary: serde_json::to_value(PlanSummary::from(summary)).unwrap_or_default(),
        };
        plan.id = plan.digest();
        plan
    }

    /// The digest of what the plan is, not of how it was summed up.
    fn digest(&self) -> String {
        let mut hash = Sha256::new();
        let what = serde_json::json!({
            "instance": self.instance,
            "destination": self.destination,
            "request": self.request,
            "parts": self.parts,
            "sources": self.sources,
        });
        hash.update(what.to_string().as_bytes());
        hex::encode(&hash.finalize()[..16])
    }

    /// Writes the plan to `path` (replacing it whole), as pretty JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self).expect("a plan serialises");
        text.push('\n');
        Ok(cuttle_instance::files::write_private(
            path,
            text.as_bytes(),
            true,
            "plan",
        )?)
    }

    /// Reads a plan that [`SavedPlan::save`] wrote, refusing anything else.
    pub fn load(path: &Path) -> Result<SavedPlan> {
        let bad = |what: String| Error::new(ErrorKind::File, format!("{}: {what}", path.display()));
        let meta =
            std::fs::metadata(path).map_err(|e| bad(format!("cannot read the plan: {e}")))?;
        if !meta.is_file() || meta.len() > MAX_PLAN_FILE {
            return Err(bad(format!(
                "is not a saved plan (a regular file of at most {} MiB)",
                MAX_PLAN_FILE >> 20
            )));
        }
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_PLAN_FILE).read_to_string(&mut text))
            .map_err(|e| bad(format!("cannot read the plan: {e}")))?;
        let plan: SavedPlan =
            serde_json::from_str(&text).map_err(|e| bad(format!("is not a saved plan: {e}")))?;
        if plan.format != PLAN_FORMAT || plan.version != PLAN_VERSION {
            return Err(bad(format!(
                "is not a plan this Cuttle applies (format {:?} version {}; it applies {PLAN_FORMAT:?} version {PLAN_VERSION})",
                plan.format, plan.version
            )));
        }
        if plan.digest() != plan.id {
            return Err(bad(
                "was changed after it was saved (its id does not match what it says); preview the import again"
                    .into(),
            ));
        }
        Ok(plan)
    }

    /// Refuses to apply this plan to another instance than the one it was made for.
    pub(crate) fn check_destination(&self, name: &str, identity: [u8; 16]) -> Result<()> {
        if self.instance != name || self.destination != hex::encode(identity) {
            return Err(Error::new(
                ErrorKind::StalePlan,
                format!(
                    "the plan was made for instance {:?} ({}), and this is instance {name:?} ({})",
                    self.instance,
                    self.destination,
                    hex::encode(identity)
                ),
            ));
        }
        Ok(())
    }
}

/// The request with its files named by absolute paths (those that exist), so that a plan made
/// with it applies from any working folder, and names its sources alike in both runs.
pub(crate) fn absolute(request: &Import) -> Import {
    let absolute = |p: &std::path::PathBuf| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
    let source = match &request.source {
        ImportSource::Directories(d) => ImportSource::Directories(d.iter().map(absolute).collect()),
        ImportSource::Archives(a) => ImportSource::Archives(a.iter().map(absolute).collect()),
        ImportSource::Backup {
            file,
            master_key_file,
        } => ImportSource::Backup {
            file: absolute(file),
            master_key_file: absolute(master_key_file),
        },
    };
    let password = match &request.password {
        crate::request::PasswordSource::File(f) => {
            crate::request::PasswordSource::File(absolute(f))
        }
        other => other.clone(),
    };
    Import {
        source,
        password,
        ..request.clone()
    }
}

/// The parts whose digests differ between two plans (present in one only, or different).
fn differing(expected: &BTreeMap<String, String>, parts: &BTreeMap<String, String>) -> Vec<String> {
    let mut names: Vec<&String> = expected.keys().chain(parts.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| expected.get(*n) != parts.get(*n))
        .cloned()
        .collect()
}

/// A [`PlanSink`] that passes every event on and sums the plan up, part by part; given the
/// parts of a saved plan, it stops the import before anything is written if this plan is not
/// that one.
pub(crate) struct Fingerprint<'a> {
    inner: &'a mut dyn PlanSink,
    parts: BTreeMap<String, Sha256>,
    expected: Option<&'a BTreeMap<String, String>>,
    /// Set when the plan differs from the one expected: the parts that differ.
    pub(crate) stale: Option<Vec<String>>,
    summing: bool,
}

/// Serialises straight into a hash.
struct HashWriter<'h>(&'h mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> Fingerprint<'a> {
    /// Sums the plan up when `summing` (a dry run, whose plan may be saved) or when there is an
    /// `expected` plan to compare with; otherwise only passes the events on.
    pub(crate) fn new(
        inner: &'a mut dyn PlanSink,
        expected: Option<&'a BTreeMap<String, String>>,
        summing: bool,
    ) -> Self {
        Fingerprint {
            inner,
            parts: BTreeMap::new(),
            expected,
            stale: None,
            summing: summing || expected.is_some(),
        }
    }

    fn add(&mut self, part: &str, line: &impl Serialize) {
        if !self.summing {
            return;
        }
        let hash = match self.parts.get_mut(part) {
            Some(hash) => hash,
            None => self.parts.entry(part.to_owned()).or_default(),
        };
        serde_json::to_writer(HashWriter(hash), line).expect("a plan's line serialises");
        hash.update(b"\n");
    }

    pub(crate) fn parts(&self) -> BTreeMap<String, String> {
        self.parts
            .iter()
            .map(|(k, h)| (k.clone(), hex::encode(h.clone().finalize())))
            .collect()
    }
}

impl PlanSink for Fingerprint<'_> {
    fn event(&mut self, event: PlanEvent<'_>) -> std::io::Result<()> {
        match &event {
            PlanEvent::Warning { message, hint } => {
                self.add("warnings", &(message, hint));
            }
            PlanEvent::Grant(g) => self.add("grants", g),
            PlanEvent::Conflict(c) => self.add("conflicts", c),
            PlanEvent::Document(d) => self.add(d.collection, d),
            PlanEvent::Blocker(b) => self.add("blockers", b),
        }
        self.inner.event(event)
    }

    fn confirm(&mut self) -> std::io::Result<()> {
        if let Some(expected) = self.expected {
            let differ = differing(expected, &self.parts());
            if !differ.is_empty() {
                self.stale = Some(differ);
                return Err(std::io::Error::other("the plan is stale"));
            }
        }
        self.inner.confirm()
    }

    fn committing(
        &mut self,
        txn: &mut dyn cuttle_store::WriteTxn,
    ) -> Result<(), cuttle_engine::import::ImportError> {
        self.inner.committing(txn)
    }
}

/// SHA-256 of an import's sources: each archive's or backup's bytes; each directory's files
/// (their paths and bytes, in byte order of their paths; names starting with `.`, such as a git
/// repository's `.git`, left out).
pub(crate) fn sources_digest(request: &Import) -> Result<String> {
    let mut hash = Sha256::new();
    let file = |path: &Path, hash: &mut Sha256| -> Result<()> {
        let mut f = std::fs::File::open(path).map_err(|e| read_error(path, e))?;
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buffer).map_err(|e| read_error(path, e))?;
            if n == 0 {
                break;
            }
            hash.update(&buffer[..n]);
        }
        Ok(())
    };
    match &request.source {
        ImportSource::Directories(directories) => {
            for directory in directories {
                let mut files = Vec::new();
                walk(directory, String::new(), &mut files)?;
                files.sort_unstable();
                hash.update(b"directory\n");
                for relative in files {
                    hash.update(relative.as_bytes());
                    hash.update(b"\0");
                    file(&directory.join(&relative), &mut hash)?;
                    hash.update(b"\0");
                }
            }
        }
        ImportSource::Archives(archives) => {
            for archive in archives {
                hash.update(b"archive\n");
                file(archive, &mut hash)?;
            }
        }
        ImportSource::Backup { file: backup, .. } => {
            hash.update(b"backup\n");
            file(backup, &mut hash)?;
        }
    }
    Ok(hex::encode(hash.finalize()))
}

fn read_error(path: &Path, e: std::io::Error) -> Error {
    Error::new(
        ErrorKind::Source,
        format!("{}: cannot read the source: {e}", path.display()),
    )
}

fn walk(root: &Path, relative: String, files: &mut Vec<String>) -> Result<()> {
    let here = root.join(&relative);
    for entry in std::fs::read_dir(&here).map_err(|e| read_error(&here, e))? {
        let entry = entry.map_err(|e| read_error(&here, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = if relative.is_empty() {
            name
        } else {
            format!("{relative}/{name}")
        };
        let kind = entry
            .file_type()
            .map_err(|e| read_error(&entry.path(), e))?;
        if kind.is_dir() {
            walk(root, path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}
