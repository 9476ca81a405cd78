//! Writing an export's files inside its directory, and nowhere else: never through a symbolic
//! link, never outside the tree, each file replaced atomically (a temporary file, then a rename),
//! and a file whose bytes are already right left untouched.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use super::ExportError;
use crate::format;

/// The suffix of the temporary files an export writes before renaming them into place.
const TEMPORARY: &str = ".cuttle-tmp";

/// The directory tree of an export being written.
pub struct Tree {
    root: PathBuf,
    /// Folders known to be real folders inside the tree.
    checked: HashSet<PathBuf>,
    /// Every file this export wrote or found already right, relative to the root.
    pub kept: HashSet<PathBuf>,
    pub written: u64,
    pub unchanged: u64,
    pub removed: u64,
    pub bytes: u64,
    /// Documents written, per collection, in the order first seen.
    pub documents: Vec<(cuttle_domain::Collection, u64)>,
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> ExportError {
    move |source| ExportError::Io { what, source }
}

impl Tree {
    /// Opens (creating it if needed) the export directory `root`, which must not be a symbolic
    /// link.
    pub fn open(root: &Path) -> Result<Tree, ExportError> {
        match fs::symlink_metadata(root) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(ExportError::Directory(format!(
                    "{} is a symbolic link; give the directory it points to",
                    root.display()
                )));
            }
            Ok(meta) if !meta.is_dir() => {
                return Err(ExportError::Directory(format!(
                    "{} exists and is not a directory",
                    root.display()
                )));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(root).map_err(io(format!("creating {}", root.display())))?;
            }
            Err(e) => return Err(io(format!("reading {}", root.display()))(e)),
        }
        Ok(Tree {
            root: root.to_owned(),
            checked: HashSet::new(),
            kept: HashSet::new(),
            written: 0,
            unchanged: 0,
            removed: 0,
            bytes: 0,
            documents: Vec::new(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Counts one document of `collection`.
    pub fn count(&mut self, collection: cuttle_domain::Collection) {
        match self.documents.last_mut() {
            Some((last, n)) if *last == collection => *n += 1,
            _ => self.documents.push((collection, 1)),
        }
    }

    /// Whether the directory holds nothing at all.
    pub fn is_empty(&self) -> Result<bool, ExportError> {
        let mut entries =
            fs::read_dir(&self.root).map_err(io(format!("listing {}", self.root.display())))?;
        Ok(entries.next().is_none())
    }

    /// Makes sure every folder on the way to `relative`'s parent is a real folder in the tree.
    fn prepare_parent(&mut self, relative: &Path) -> Result<(), ExportError> {
        let mut dir = PathBuf::new();
        let Some(parent) = relative.parent() else {
            return Ok(());
        };
        for component in parent.components() {
            let Component::Normal(part) = component else {
                return Err(ExportError::Directory(format!(
                    "{} would leave the export directory",
                    relative.display()
                )));
            };
            dir.push(part);
            if self.checked.contains(&dir) {
                continue;
            }
            let full = self.root.join(&dir);
            match fs::symlink_metadata(&full) {
                Ok(meta) if meta.is_dir() && !meta.file_type().is_symlink() => {}
                Ok(_) => {
                    return Err(ExportError::Directory(format!(
                        "{} is in the way: the export needs a folder there (Cuttle never writes through symbolic links)",
                        full.display()
                    )));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    fs::create_dir(&full).map_err(io(format!("creating {}", full.display())))?;
                }
                Err(e) => return Err(io(format!("reading {}", full.display()))(e)),
            }
            self.checked.insert(dir.clone());
        }
        Ok(())
    }

    /// Writes `bytes` at `relative`, unless the file already holds exactly them.
    pub fn write(&mut self, relative: &Path, bytes: &[u8]) -> Result<(), ExportError> {
        if !self.kept.insert(relative.to_owned()) {
            return Err(ExportError::Directory(format!(
                "two documents would be written to {}; this is a bug in the export format, please report it",
                relative.display()
            )));
        }
        self.prepare_parent(relative)?;
        let full = self.root.join(relative);
        self.bytes += bytes.len() as u64;
        let exists = match fs::symlink_metadata(&full) {
            Ok(meta) if meta.file_type().is_symlink() || !meta.is_file() => {
                return Err(ExportError::Directory(format!(
                    "{} is not a regular file (Cuttle never writes through symbolic links); remove it",
                    full.display()
                )));
            }
            Ok(meta) => {
                if meta.len() == bytes.len() as u64
                    && fs::read(&full).map_err(io(format!("reading {}", full.display())))? == bytes
                {
                    self.unchanged += 1;
                    return Ok(());
                }
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(io(format!("reading {}", full.display()))(e)),
        };
        if exists {
            // Replace atomically: a killed export never leaves a torn file where a good one was.
            let file_name = full.file_name().and_then(|n| n.to_str()).unwrap_or("file");
            let temporary = full.with_file_name(format!(".{file_name}{TEMPORARY}"));
            write_new(&temporary, bytes)?;
            fs::rename(&temporary, &full).map_err(io(format!("writing {}", full.display())))?;
        } else {
            write_new(&full, bytes)?;
        }
        self.written += 1;
        Ok(())
    }

    /// Every format-owned file in the tree (symbolic links and what the format does not own are
    /// left out), relative to the root; and every format folder, deepest first.
    pub fn owned(&self) -> Result<(Vec<PathBuf>, Vec<PathBuf>), ExportError> {
        let mut files = Vec::new();
        let mut dirs = Vec::new();
        let mut stack = vec![PathBuf::new()];
        while let Some(dir) = stack.pop() {
            let full = self.root.join(&dir);
            for entry in fs::read_dir(&full).map_err(io(format!("listing {}", full.display())))? {
                let entry = entry.map_err(io(format!("listing {}", full.display())))?;
                let relative = dir.join(entry.file_name());
                let kind = entry
                    .file_type()
                    .map_err(io(format!("reading {}", relative.display())))?;
                if kind.is_dir() {
                    if format::owns_dir(&relative) {
                        stack.push(relative.clone());
                        dirs.push(relative);
                    }
                } else if kind.is_file() && (format::owns(&relative) || is_leftover(&relative)) {
                    files.push(relative);
                }
            }
        }
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        Ok((files, dirs))
    }

    /// Removes the format-owned files that this export did not write (mirroring), then the
    /// format folders left empty. Never touches what the format does not own.
    pub fn prune(&mut self) -> Result<(), ExportError> {
        let (files, dirs) = self.owned()?;
        for file in files {
            if !self.kept.contains(&file) {
                let full = self.root.join(&file);
                fs::remove_file(&full).map_err(io(format!("removing {}", full.display())))?;
                self.removed += 1;
            }
        }
        for dir in dirs {
            // Fails, as it should, when the folder still holds something.
            let _ = fs::remove_dir(self.root.join(dir));
        }
        Ok(())
    }

    /// Removes every format-owned file (`--clean`).
    pub fn clean(&mut self) -> Result<(), ExportError> {
        let kept = std::mem::take(&mut self.kept);
        let result = self.prune();
        self.kept = kept;
        result
    }
}

/// Creates a file that must not exist yet (so a link planted meanwhile is not followed).
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .or_else(|e| {
            // A temporary file left by a killed export is ours to replace.
            if e.kind() == std::io::ErrorKind::AlreadyExists && is_leftover_name(path) {
                fs::remove_file(path)?;
                fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(path)
            } else {
                Err(e)
            }
        })
        .map_err(io(format!("writing {}", path.display())))?;
    file.write_all(bytes)
        .map_err(io(format!("writing {}", path.display())))
}

fn is_leftover_name(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') && n.ends_with(TEMPORARY))
}

/// A temporary file left by an export that was killed.
fn is_leftover(relative: &Path) -> bool {
    is_leftover_name(relative)
        && relative
            .parent()
            .is_none_or(|p| p.as_os_str().is_empty() || format::owns_dir(p))
}
