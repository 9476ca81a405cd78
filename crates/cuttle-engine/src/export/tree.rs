//! Writing an export's files inside its directory, and nowhere else: never through a symbolic
//! link, never outside the tree, each file replaced atomically (a temporary file, then a rename),
//! and a file whose bytes are already right left untouched.
//!
//! A [`Tree`] is shared by the export's worker threads ([`Tree::write`] takes `&self`): the set of
//! files written and the folders already checked are behind locks held only for a set lookup (or,
//! the first time a folder is seen, for making sure it is a real folder), the counters are atomic.
//! Writing a file costs, when nothing is in its place (always so in a fresh directory), one
//! `open(O_CREAT|O_EXCL)` and one `write`: only when something is already there is it inspected
//! (is it a regular file, does it hold these bytes already) and replaced.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ExportError;
use crate::layout;

/// The suffix of the temporary files an export writes before renaming them into place.
const TEMPORARY: &str = ".cuttle-tmp";

/// The directory tree of an export being written.
pub struct Tree {
    root: PathBuf,
    /// Folders known to be real folders inside the tree, relative to the root, as bytes (cheaper
    /// to hash than a `Path`; should two spellings of one folder differ, it is only checked
    /// twice).
    checked: Mutex<HashSet<OsString>>,
    /// Every file this export wrote or found already right, relative to the root.
    kept: Mutex<HashSet<PathBuf>>,
    written: AtomicU64,
    unchanged: AtomicU64,
    removed: u64,
    bytes: AtomicU64,
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> ExportError {
    move |source| ExportError::Io { what, source }
}

/// A poisoned lock only means another worker panicked, which the export reports by itself; the
/// sets stay consistent (each change is one insert).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Tree {
    /// Opens (creating it if needed) the export directory `root`, which must not be a symbolic
    /// link.
    pub fn open(root: &Path) -> Result<Tree, ExportError> {
        match fs::symlink_metadata(root) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(ExportError::Directory(
                    format!(
                        "{} is a symbolic link; give the directory it points to",
                        root.display()
                    )
                    .into(),
                ));
            }
            Ok(meta) if !meta.is_dir() => {
                return Err(ExportError::Directory(
                    format!("{} exists and is not a directory", root.display()).into(),
                ));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(root).map_err(io(format!("creating {}", root.display())))?;
            }
            Err(e) => return Err(io(format!("reading {}", root.display()))(e)),
        }
        Ok(Tree {
            root: root.to_owned(),
            checked: Mutex::default(),
            kept: Mutex::default(),
            written: AtomicU64::new(0),
            unchanged: AtomicU64::new(0),
            removed: 0,
            bytes: AtomicU64::new(0),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Files written (created or replaced).
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Files found already holding the right bytes.
    pub fn unchanged(&self) -> u64 {
        self.unchanged.load(Ordering::Relaxed)
    }

    /// Files removed by [`prune`](Self::prune).
    pub fn removed(&self) -> u64 {
        self.removed
    }

    /// The bytes of every file of the export (written or already right).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Makes sure every folder on the way to `relative`'s parent is a real folder in the tree.
    /// After the first file of a folder, one set lookup.
    fn prepare_parent(&self, relative: &Path) -> Result<(), ExportError> {
        let Some(parent) = relative.parent() else {
            return Ok(());
        };
        // Held while folders are made, so that two workers never race to make the same one.
        let mut checked = lock(&self.checked);
        if checked.contains(parent.as_os_str()) {
            return Ok(());
        }
        let mut dir = PathBuf::new();
        for component in parent.components() {
            let Component::Normal(part) = component else {
                return Err(ExportError::Directory(
                    format!("{} would leave the export directory", relative.display()).into(),
                ));
            };
            dir.push(part);
            if checked.contains(dir.as_os_str()) {
                continue;
            }
            let full = self.root.join(&dir);
            // Made here (the usual case in a fresh directory: one `mkdir`), or else what is in
            // its place must be a real folder.
            match fs::create_dir(&full) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    match fs::symlink_metadata(&full) {
                        Ok(meta) if meta.is_dir() && !meta.file_type().is_symlink() => {}
                        Ok(_) => {
                            return Err(ExportError::Directory(format!(
                                "{} is in the way: the export needs a folder there (Cuttle never writes through symbolic links)",
                                full.display()
                            ).into()));
                        }
                        Err(e) => return Err(io(format!("reading {}", full.display()))(e)),
                    }
                }
                Err(e) => return Err(io(format!("creating {}", full.display()))(e)),
            }
            checked.insert(dir.as_os_str().to_owned());
        }
        checked.insert(parent.as_os_str().to_owned());
        Ok(())
    }

    /// Writes `bytes` at `relative`, unless the file already holds exactly them.
    pub fn write(&self, relative: &Path, bytes: &[u8]) -> Result<(), ExportError> {
        if !lock(&self.kept).insert(relative.to_owned()) {
            return Err(ExportError::Directory(format!(
                "two documents would be written to {}; this is a bug in the export format, please report it",
                relative.display()
            ).into()));
        }
        self.prepare_parent(relative)?;
        let full = self.root.join(relative);
        self.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        // Nothing there (the usual case, and always so in a fresh directory): create it. The
        // exclusive create fails on anything in the way, a symbolic link included.
        match create_new(&full) {
            Ok(file) => {
                fill(file, &full, bytes)?;
                self.written.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(format!("writing {}", full.display()))(e)),
        }
        let exists = match fs::symlink_metadata(&full) {
            Ok(meta) if meta.file_type().is_symlink() || !meta.is_file() => {
                return Err(ExportError::Directory(format!(
                    "{} is not a regular file (Cuttle never writes through symbolic links); remove it",
                    full.display()
                ).into()));
            }
            Ok(meta) => {
                if meta.len() == bytes.len() as u64
                    && fs::read(&full).map_err(io(format!("reading {}", full.display())))? == bytes
                {
                    self.unchanged.fetch_add(1, Ordering::Relaxed);
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
        self.written.fetch_add(1, Ordering::Relaxed);
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
                    if layout::owns_dir(&relative) {
                        stack.push(relative.clone());
                        dirs.push(relative);
                    }
                } else if kind.is_file() && (layout::owns(&relative) || is_leftover(&relative)) {
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
            if !lock(&self.kept).contains(&file) {
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
        let kept = std::mem::take(&mut *lock(&self.kept));
        let result = self.prune();
        *lock(&self.kept) = kept;
        result
    }
}

/// Opens a new file for writing; fails if anything (a symbolic link included) is at `path`.
fn create_new(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// Writes the whole of `bytes` into a file just created (one `write` call for a regular file).
fn fill(mut file: fs::File, path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    file.write_all(bytes)
        .map_err(io(format!("writing {}", path.display())))
}

/// Creates a file that must not exist yet (so a link planted meanwhile is not followed).
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let file = create_new(path)
        .or_else(|e| {
            // A temporary file left by a killed export is ours to replace.
            if e.kind() == std::io::ErrorKind::AlreadyExists && is_leftover_name(path) {
                fs::remove_file(path)?;
                create_new(path)
            } else {
                Err(e)
            }
        })
        .map_err(io(format!("writing {}", path.display())))?;
    fill(file, path, bytes)
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
            .is_none_or(|p| p.as_os_str().is_empty() || layout::owns_dir(p))
}
