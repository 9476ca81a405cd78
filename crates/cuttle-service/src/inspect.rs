//! What is at a path a person gives, before anything is done there: an export's target
//! directory (is there an earlier export to mirror, how many of its files would the mirroring
//! own) and an import's source (is it an export at all). The wizards ask before they act on it.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// A directory, as an export or an import sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Directory {
    pub exists: bool,
    /// Its entries (files and folders directly in it).
    pub entries: usize,
    /// It holds an export's manifest.
    pub manifest: bool,
    /// The files in it that the export format owns (what mirroring may replace or remove);
    /// symbolic links are not followed.
    pub owned_files: usize,
}

/// What exporting into a directory will do to what is there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ExportTarget {
    /// Missing or empty: the export is all there will be.
    Empty,
    /// An earlier export: mirrored (its files that no longer match a document removed; files
    /// the format does not own never touched).
    Mirrors { owned_files: usize },
    /// Other files and no export: the export's files go beside them, nothing is removed.
    Beside { entries: usize },
}

impl Directory {
    /// Looks at `path` (nothing is changed).
    pub fn at(path: &Path) -> Directory {
        let Ok(entries) = std::fs::read_dir(path) else {
            return Directory::default();
        };
        Directory {
            exists: true,
            entries: entries.count(),
            manifest: holds_export(path),
            owned_files: owned_files(path),
        }
    }

    /// What an export into it will do.
    pub fn export_target(&self) -> ExportTarget {
        match (self.entries, self.manifest) {
            (0, _) => ExportTarget::Empty,
            (_, true) => ExportTarget::Mirrors {
                owned_files: self.owned_files,
            },
            (entries, false) => ExportTarget::Beside { entries },
        }
    }

    /// Whether an import can read it as an export (it holds a manifest).
    pub fn is_export(&self) -> bool {
        self.manifest
    }
}

/// Whether `path` holds an export (its manifest), without looking further.
pub fn holds_export(path: &Path) -> bool {
    path.join(cuttle_engine::format::MANIFEST).is_file()
}

/// How many files under `directory` the export format owns (links are not followed).
fn owned_files(directory: &Path) -> usize {
    let mut count = 0;
    let mut stack = vec![PathBuf::new()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(directory.join(&dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let relative = dir.join(entry.file_name());
            match entry.file_type() {
                Ok(kind) if kind.is_dir() && cuttle_engine::layout::owns_dir(&relative) => {
                    stack.push(relative)
                }
                Ok(kind) if kind.is_file() && cuttle_engine::layout::owns(&relative) => count += 1,
                _ => {}
            }
        }
    }
    count
}
