//! Writing an export's files inside its directory, and nowhere else: never through a symbolic
//! link, never outside the tree, each file replaced atomically (a temporary file, then a rename),
//! and a file whose bytes are already right left untouched.
//!
//! Or gathering them for one archive: each file's bytes go to a [`Spool`] as they are made, and
//! when the export ends ([`Tree::finish`]) the archive is written in one go, its entries in the
//! order of their paths, beside the archive file and renamed over it. An archive already at that
//! file is the export's base, as an earlier export is in a directory: read in place, its files
//! compared, its manifest's salt kept, what the format owns pruned, the rest kept.
//!
//! A [`Tree`] is shared by the export's worker threads ([`Tree::write`] takes `&self`): the set of
//! files written and the folders already checked are behind locks held only for a set lookup (or,
//! the first time a folder is seen, for making sure it is a real folder), the counters are atomic.
//! Writing a file costs, when nothing is in its place (always so in a fresh directory), one
//! `open(O_CREAT|O_EXCL)` and one `write`: only when something is already there is it inspected
//! (is it a regular file, does it hold these bytes already) and replaced. Into an earlier export,
//! where most files are already there and most already right, a file is opened for reading
//! first: an unchanged one costs an `open`, an `fstat`, a `read` and a `close`.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use cuttle_crypto::Fingerprints;

use super::{ExportError, Output};
use crate::archive::{self, Archive, Compression, Limits};
use crate::format::{self, Manifest};
use crate::reader::Tree as _;
use crate::spool::{Span, Spool};
use crate::{Cancel, layout};

/// The suffix of the temporary files an export writes before renaming them into place.
const TEMPORARY: &str = ".cuttle-tmp";

/// The tree of an export being written: a directory, or an archive's files gathered.
pub struct Tree {
    /// The directory, or the archive file.
    root: PathBuf,
    place: Place,
    /// Every file this export wrote or found already right (directories only: an archive's are
    /// in its [`Gathered::files`]).
    kept: Kept,
    written: AtomicU64,
    unchanged: AtomicU64,
    removed: u64,
    bytes: AtomicU64,
}

/// An I/O error, with what was being done: said only when it fails (a file is written hundreds
/// of thousands of times an export, and its message made each time cost more than its write).
fn io(what: impl FnOnce() -> String) -> impl FnOnce(std::io::Error) -> ExportError {
    move |source| ExportError::Io {
        what: what(),
        source,
    }
}

/// A poisoned lock only means another worker panicked, which the export reports by itself; the
/// sets stay consistent (each change is one insert).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where the files go.
enum Place {
    Directory {
        /// Folders known to be real folders inside the tree, relative to the root, as bytes
        /// (cheaper to hash than a `Path`; should two spellings of one folder differ, it is only
        /// checked twice).
        checked: Mutex<HashSet<OsString>>,
        /// Whether the directory holds an earlier export (its manifest): its files are most
        /// likely there already, and are read before anything is created.
        earlier: bool,
    },
    Archive(Box<Gathered>),
}

/// An archive's files, gathered until the export ends.
struct Gathered {
    compression: Compression,
    /// The archive at the file before this export, read in place.
    base: Option<Archive>,
    /// Every format-owned file of the base is left out (`--clean`).
    cleaned: bool,
    /// The base's format-owned files that this export did not write are left out (mirroring).
    pruned: bool,
    spool: Mutex<Spool>,
    /// Every file this export wrote, and where its bytes stand in the spool.
    files: Mutex<Written>,
    /// The archive being made, with no name until it is whole: made when the export begins,
    /// so that a folder it cannot be written in stops the export before any work.
    out: archive::WholeFile,
}

impl Tree {
    /// Opens where an export goes: see [`Tree::directory`] and [`Tree::archive`].
    pub fn open(output: &Output) -> Result<Tree, ExportError> {
        match output {
            Output::Directory(root) => Tree::directory(root),
            Output::Archive(file, compression) => Tree::archive(file, *compression),
        }
    }

    /// Gathers the files for an archive at `file`, an archive already there being the base.
    fn archive(file: &Path, compression: Compression) -> Result<Tree, ExportError> {
        let base = match fs::symlink_metadata(file) {
            Ok(meta) if meta.file_type().is_symlink() || !meta.is_file() => {
                return Err(ExportError::Directory(
                    format!(
                        "{} is not a regular file (Cuttle never writes through symbolic links); give an archive file",
                        file.display()
                    )
                    .into(),
                ));
            }
            Ok(_) => Some(Archive::open(file, &Limits::default(), &Cancel::default())?),
            // Where its folder is missing or is a file, making the archive says so.
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => None,
            Err(e) => return Err(io(|| format!("reading {}", file.display()))(e)),
        };
        let out = archive::WholeFile::begin(file)?;
        let spool = Spool::new().map_err(io(|| {
            format!(
                "making a temporary file in {} for the archive's files",
                std::env::temp_dir().display()
            )
        }))?;
        Ok(Tree {
            root: file.to_owned(),
            place: Place::Archive(Box::new(Gathered {
                compression,
                base,
                cleaned: false,
                pruned: false,
                spool: Mutex::new(spool),
                files: Mutex::default(),
                out,
            })),
            kept: Kept::new()?,
            written: AtomicU64::new(0),
            unchanged: AtomicU64::new(0),
            removed: 0,
            bytes: AtomicU64::new(0),
        })
    }

    /// The manifest of the earlier export here, if there is one.
    pub fn manifest(&self) -> Result<Option<Manifest>, ExportError> {
        let damaged = |e: crate::reader::ReadError, other: &str| {
            ExportError::Directory(
                format!(
                    "{}: {e}; export into another {other}, or remove it",
                    self.root.display()
                )
                .into(),
            )
        };
        match &self.place {
            Place::Directory { .. } => {
                match fs::symlink_metadata(self.root.join(format::MANIFEST)) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    _ => crate::reader::read_manifest(&crate::reader::Directory::new(&self.root))
                        .map(Some)
                        .map_err(|e| damaged(e, "directory")),
                }
            }
            Place::Archive(gathered) => match &gathered.base {
                Some(base) if base.exists(Path::new(format::MANIFEST)) => {
                    crate::reader::read_manifest(base)
                        .map(Some)
                        .map_err(|e| damaged(e, "archive"))
                }
                _ => Ok(None),
            },
        }
    }

    /// Opens (creating it if needed) the export directory `root`, which must not be a symbolic
    /// link.
    fn directory(root: &Path) -> Result<Tree, ExportError> {
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
                fs::create_dir_all(root).map_err(io(|| format!("creating {}", root.display())))?;
            }
            Err(e) => return Err(io(|| format!("reading {}", root.display()))(e)),
        }
        let earlier = fs::symlink_metadata(root.join(format::MANIFEST)).is_ok();
        Ok(Tree {
            root: root.to_owned(),
            place: Place::Directory {
                checked: Mutex::default(),
                earlier,
            },
            kept: Kept::new()?,
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
    fn prepare_parent(
        &self,
        checked: &Mutex<HashSet<OsString>>,
        relative: &Path,
    ) -> Result<(), ExportError> {
        let Some(parent) = relative.parent() else {
            return Ok(());
        };
        // Held while folders are made, so that two workers never race to make the same one.
        let mut checked = lock(checked);
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
                        Err(e) => return Err(io(|| format!("reading {}", full.display()))(e)),
                    }
                }
                Err(e) => return Err(io(|| format!("creating {}", full.display()))(e)),
            }
            checked.insert(dir.as_os_str().to_owned());
        }
        checked.insert(parent.as_os_str().to_owned());
        Ok(())
    }

    /// Writes `bytes` at `relative`, unless the file already holds exactly them.
    pub fn write(&self, relative: &Path, bytes: &[u8]) -> Result<(), ExportError> {
        let (checked, earlier) = match &self.place {
            Place::Directory { checked, earlier } => (checked, *earlier),
            Place::Archive(gathered) => return self.gather(gathered, relative, bytes),
        };
        if !self.kept.insert(relative) {
            return Err(ExportError::Directory(format!(
                "two documents would be written to {}; this is a bug in the export format, please report it",
                relative.display()
            ).into()));
        }
        self.prepare_parent(checked, relative)?;
        let full = self.root.join(relative);
        self.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        // Into an earlier export: what is there, read first.
        if earlier && let Some(same) = holds(&full, bytes)? {
            return self.keep_or_replace(&full, bytes, same);
        }
        // Nothing there (the usual case, and always so in a fresh directory): create it. The
        // exclusive create fails on anything in the way, a symbolic link included.
        match create_new(&full) {
            Ok(file) => {
                fill(file, &full, bytes)?;
                self.written.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(|| format!("writing {}", full.display()))(e)),
        }
        match holds(&full, bytes)? {
            Some(same) => self.keep_or_replace(&full, bytes, same),
            // Gone since the create found it.
            None => {
                write_new(&full, bytes)?;
                self.written.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        }
    }

    /// Counts the file at `full` unchanged when it holds `bytes` already (`same`), else
    /// replaces it.
    fn keep_or_replace(&self, full: &Path, bytes: &[u8], same: bool) -> Result<(), ExportError> {
        if same {
            self.unchanged.fetch_add(1, Ordering::Relaxed);
            Ok(())
        } else {
            self.replace(full, bytes)
        }
    }

    /// Replaces the regular file `full` with `bytes`, atomically: a killed export never leaves a
    /// torn file where a good one was.
    fn replace(&self, full: &Path, bytes: &[u8]) -> Result<(), ExportError> {
        let file_name = full.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let temporary = full.with_file_name(format!(".{file_name}{TEMPORARY}"));
        write_new(&temporary, bytes)?;
        fs::rename(&temporary, full).map_err(io(|| format!("writing {}", full.display())))?;
        self.written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Adds a file to the archive's: its bytes to the spool, compared with the base's.
    fn gather(
        &self,
        gathered: &Gathered,
        relative: &Path,
        bytes: &[u8],
    ) -> Result<(), ExportError> {
        self.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let same = !gathered.cleaned
            && gathered
                .base
                .as_ref()
                .and_then(|base| base.bytes(relative))
                .is_some_and(|old| old.as_deref().ok() == Some(bytes));
        if same {
            self.unchanged.fetch_add(1, Ordering::Relaxed);
        } else {
            self.written.fetch_add(1, Ordering::Relaxed);
        }
        let span = lock(&gathered.spool).push_bytes(bytes).map_err(io(|| {
            format!(
                "keeping {} for the archive in a temporary file",
                relative.display()
            )
        }))?;
        lock(&gathered.files).push(&path_text(relative), span)
    }

    /// Every format-owned file in the tree (symbolic links and what the format does not own are
    /// left out), relative to the root; and every format folder, deepest first (for an archive,
    /// its files only).
    pub fn owned(&self) -> Result<(Vec<PathBuf>, Vec<PathBuf>), ExportError> {
        if let Place::Archive(gathered) = &self.place {
            let files = match &gathered.base {
                Some(base) if !gathered.cleaned => base
                    .files()
                    .map(PathBuf::from)
                    .filter(|p| format_owned(p))
                    .collect(),
                _ => Vec::new(),
            };
            return Ok((files, Vec::new()));
        }
        let mut files = Vec::new();
        let dirs = self.walk(|folder| {
            files.append(folder);
            Ok(true)
        })?;
        Ok((files, dirs.into_iter().map(|(dir, _)| dir).collect()))
    }

    /// Walks the directory a folder at a time: `each` gets the format-owned files of each folder
    /// (symbolic links and what the format does not own left out), relative to the root, and
    /// says whether the folder keeps any of them. Returns every format folder, deepest first,
    /// each with whether it may be left empty: it holds nothing but the files `each` did not
    /// keep and format folders that may be left empty. Only one folder's files are held at once.
    fn walk(
        &self,
        mut each: impl FnMut(&mut Vec<PathBuf>) -> Result<bool, ExportError>,
    ) -> Result<Vec<(PathBuf, bool)>, ExportError> {
        let mut dirs: Vec<(PathBuf, bool)> = Vec::new();
        // The folder each of `dirs` stands in (`None`: the root).
        let mut parents: Vec<Option<usize>> = Vec::new();
        let mut stack = vec![None];
        let mut files = Vec::new();
        while let Some(at) = stack.pop() {
            let dir = at.map_or_else(PathBuf::new, |at: usize| dirs[at].0.clone());
            let full = self.root.join(&dir);
            // Anything in it the format does not own stays.
            let mut others = false;
            for entry in
                fs::read_dir(&full).map_err(io(|| format!("listing {}", full.display())))?
            {
                let entry = entry.map_err(io(|| format!("listing {}", full.display())))?;
                let relative = dir.join(entry.file_name());
                let kind = entry
                    .file_type()
                    .map_err(io(|| format!("reading {}", relative.display())))?;
                if kind.is_dir() && layout::owns_dir(&relative) {
                    stack.push(Some(dirs.len()));
                    dirs.push((relative, true));
                    parents.push(at);
                } else if kind.is_file() && format_owned(&relative) {
                    files.push(relative);
                } else {
                    others = true;
                }
            }
            let keeps = each(&mut files)?;
            files.clear();
            if let Some(at) = at {
                dirs[at].1 = !others && !keeps;
            }
        }
        // A folder comes after the one it stands in: from the last, each folder that stays keeps
        // the one it stands in.
        for at in (0..dirs.len()).rev() {
            if let Some(parent) = parents[at]
                && !dirs[at].1
            {
                dirs[parent].1 = false;
            }
        }
        dirs.sort_by_key(|(d, _)| std::cmp::Reverse(d.components().count()));
        Ok(dirs)
    }

    /// Removes the format-owned files that this export did not write (mirroring), then the
    /// format folders left empty. Never touches what the format does not own.
    pub fn prune(&mut self) -> Result<(), ExportError> {
        if let Place::Archive(gathered) = &mut self.place {
            let files = gathered
                .files
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            files.sort()?;
            if let Some(base) = &gathered.base
                && !gathered.cleaned
            {
                self.removed += base
                    .files()
                    .filter(|p| format_owned(Path::new(p)) && !files.contains(p))
                    .count() as u64;
            }
            gathered.pruned = true;
            return Ok(());
        }
        // A folder at a time, once it is listed: an earlier export's list of files is never held
        // whole.
        let mut removed = 0;
        let dirs = self.walk(|files| {
            let mut keeps = false;
            for file in files.iter() {
                if self.kept.contains(file) {
                    keeps = true;
                    continue;
                }
                let full = self.root.join(file);
                fs::remove_file(&full).map_err(io(|| format!("removing {}", full.display())))?;
                removed += 1;
            }
            Ok(keeps)
        })?;
        self.removed += removed;
        // Only a folder that may be left empty is asked to go (an export into an earlier one
        // keeps a file in almost every folder, and asked each of 126,000 folders in vain).
        for (dir, may_be_empty) in dirs {
            if may_be_empty {
                // Fails, as it should, when the folder still holds something (a folder in it
                // that stays).
                let _ = fs::remove_dir(self.root.join(dir));
            }
        }
        Ok(())
    }

    /// Removes every format-owned file (`--clean`).
    pub fn clean(&mut self) -> Result<(), ExportError> {
        if let Place::Archive(gathered) = &mut self.place {
            if let Some(base) = &gathered.base
                && !gathered.cleaned
            {
                self.removed += base.files().filter(|p| format_owned(Path::new(p))).count() as u64;
            }
            gathered.cleaned = true;
            return Ok(());
        }
        let kept = std::mem::take(&mut *lock(&self.kept.digests));
        let result = self.prune();
        *lock(&self.kept.digests) = kept;
        result
    }
}

impl Tree {
    /// Ends the export: for an archive, writes it (into the file with no name made when the
    /// export began, named once whole, replacing the base): the files this export wrote and
    /// those of the base that stay (what the format does not own, and unless pruned or cleaned,
    /// what it does), in the byte order of their paths. A directory is already written.
    pub fn finish(self) -> Result<(), ExportError> {
        let Place::Archive(gathered) = self.place else {
            return Ok(());
        };
        let mut written = gathered
            .files
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        written.sort()?;
        let file = &self.root;
        let failed = |e| archive::ArchiveError::io(file, e);
        let spool = lock(&gathered.spool).reader().map_err(failed)?;
        // Each entry: its path, and where its bytes stand, in the spool or else in the base.
        let mut entries: Vec<(Cow<'_, str>, archive::Stored<'_>)> =
            Vec::with_capacity(written.files.len());
        for file in &written.files {
            let stored = spool.stored(file.span).map_err(failed)?;
            entries.push((Cow::from(written.path(file)), stored));
        }
        if let Some(base) = &gathered.base {
            let keep_owned = !gathered.cleaned && !gathered.pruned;
            entries.extend(
                base.files()
                    .filter(|p| !written.contains(p) && (keep_owned || !format_owned(Path::new(p))))
                    .map(|p| {
                        let stored = base.stored(&p).expect("a file of the base");
                        (Cow::from(p), stored)
                    }),
            );
        }
        entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        // A file the base keeps where the export needs a folder would make an archive that no
        // reader takes (as in a directory, where it is in the way).
        for (path, _) in &entries {
            let folder = format!("{path}/");
            let after = entries.partition_point(|(p, _)| p.as_bytes() < folder.as_bytes());
            if entries
                .get(after)
                .is_some_and(|(p, _)| p.starts_with(&folder))
            {
                return Err(ExportError::Directory(
                    format!(
                        "{}: its file {path} is in the way: the export needs a folder there; remove it from the archive",
                        self.root.display()
                    )
                    .into(),
                ));
            }
        }
        // Copying the bytes into place is most of the work: on every core.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        archive::write_stored(gathered.out.file(), &entries, gathered.compression, threads)
            .map_err(failed)?;
        drop(entries);
        let Gathered { out, .. } = *gathered;
        out.finish()?;
        Ok(())
    }
}

/// The files an export wrote into a directory, each by a 128-bit digest of its path's parts
/// relative to the root (so that paths equal as [`Path`]s are equal here): what mirroring keeps,
/// and how a second document written to one path is caught. The large sample's 460,125 files
/// take 17 MB so (a table of 2^20 slots of 17 bytes), where their paths took about 60.
struct Kept {
    prints: Fingerprints,
    digests: Mutex<HashSet<u128>>,
}

impl Kept {
    fn new() -> Result<Kept, ExportError> {
        let prints = Fingerprints::new().map_err(|e| ExportError::Io {
            what: "drawing a random key".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(Kept {
            prints,
            digests: Mutex::default(),
        })
    }

    fn digest(&self, relative: &Path) -> u128 {
        self.prints.of(relative
            .components()
            .map(|part| part.as_os_str().as_encoded_bytes()))
    }

    /// Notes `relative` written; `false` if it was already.
    fn insert(&self, relative: &Path) -> bool {
        let digest = self.digest(relative);
        lock(&self.digests).insert(digest)
    }

    fn contains(&self, relative: &Path) -> bool {
        let digest = self.digest(relative);
        lock(&self.digests).contains(&digest)
    }
}

/// The files gathered for an archive: their paths (`/`-separated) in texts of 1 MiB or more,
/// and for each file where its path stands in them and its bytes in the spool: 24 bytes a file
/// beside its path, where a `String` each took 24, an allocation of its own and 16 more for the
/// span. The texts are never grown past their first capacity (one text doubled would hold its old
/// and new copies at once).
#[derive(Default)]
struct Written {
    texts: Vec<String>,
    files: Vec<WrittenFile>,
}

#[derive(Clone, Copy)]
struct WrittenFile {
    text: u32,
    start: u32,
    len: u32,
    span: Span,
}

impl Written {
    /// The capacity of each text.
    const TEXT: usize = 1 << 20;

    fn push(&mut self, path: &str, span: Span) -> Result<(), ExportError> {
        let room = self
            .texts
            .last()
            .is_some_and(|text| text.capacity() - text.len() >= path.len());
        if !room {
            self.texts
                .push(String::with_capacity(Self::TEXT.max(path.len())));
        }
        let index = u32::try_from(self.texts.len() - 1);
        let text = self.texts.last_mut().expect("just made");
        let (Ok(index), Ok(start), Ok(len)) =
            (index, u32::try_from(text.len()), u32::try_from(path.len()))
        else {
            return Err(ExportError::Directory(
                "the archive's paths are too many to hold: export into a directory".into(),
            ));
        };
        text.push_str(path);
        self.files.push(WrittenFile {
            text: index,
            start,
            len,
            span,
        });
        Ok(())
    }

    fn path(&self, file: &WrittenFile) -> &str {
        path_in(&self.texts, file)
    }

    /// Sorts the files by the bytes of their paths; two documents that would be written to one
    /// path are a bug, and said.
    fn sort(&mut self) -> Result<(), ExportError> {
        let texts = &self.texts;
        self.files.sort_unstable_by(|a, b| {
            path_in(texts, a)
                .as_bytes()
                .cmp(path_in(texts, b).as_bytes())
        });
        match self
            .files
            .windows(2)
            .find(|pair| self.path(&pair[0]) == self.path(&pair[1]))
        {
            Some(pair) => Err(ExportError::Directory(format!(
                "two documents would be written to {}; this is a bug in the export format, please report it",
                self.path(&pair[0])
            ).into())),
            None => Ok(()),
        }
    }

    /// Whether `path` is among the files (sorted).
    fn contains(&self, path: &str) -> bool {
        self.files
            .binary_search_by(|file| self.path(file).as_bytes().cmp(path.as_bytes()))
            .is_ok()
    }
}

fn path_in<'t>(texts: &'t [String], file: &WrittenFile) -> &'t str {
    let start = file.start as usize;
    &texts[file.text as usize][start..start + file.len as usize]
}

/// A relative path as an archive names it: `/`-separated.
fn path_text(relative: &Path) -> String {
    let parts: Vec<_> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    parts.join("/")
}

/// Whether the format owns the file at `relative` (or it is a temporary file an export left).
fn format_owned(relative: &Path) -> bool {
    layout::owns(relative) || is_leftover(relative)
}

/// Whether the regular file at `path` holds exactly `bytes`, read through one open file (never
/// through a symbolic link, never waiting on a pipe); `None` when nothing is there, an error
/// when what is there is not a regular file.
fn holds(path: &Path, bytes: &[u8]) -> Result<Option<bool>, ExportError> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt;
    let reading = || io(|| format!("reading {}", path.display()));
    let mut file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(not_regular(path)),
        Err(e) => return Err(reading()(e)),
    };
    let meta = file.metadata().map_err(reading())?;
    if !meta.is_file() {
        return Err(not_regular(path));
    }
    if meta.len() != bytes.len() as u64 {
        return Ok(Some(false));
    }
    let mut there = vec![0; bytes.len()];
    match file.read_exact(&mut there) {
        Ok(()) => Ok(Some(there == bytes)),
        // Shorter than it was a moment ago: not these bytes.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(Some(false)),
        Err(e) => Err(reading()(e)),
    }
}

/// The error of something other than a regular file where the export writes one.
fn not_regular(path: &Path) -> ExportError {
    ExportError::Directory(
        format!(
            "{} is not a regular file (Cuttle never writes through symbolic links); remove it",
            path.display()
        )
        .into(),
    )
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
        .map_err(io(|| format!("writing {}", path.display())))
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
        .map_err(io(|| format!("writing {}", path.display())))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_path_is_known_by_its_parts_and_only_once() {
        let kept = Kept::new().unwrap();
        assert!(kept.insert(Path::new("projects/web/channels/default.json")));
        assert!(
            !kept.insert(Path::new("projects//web/channels/default.json/")),
            "the same path, spelled otherwise, is caught as written twice"
        );
        assert!(kept.contains(Path::new("projects/web/channels/default.json")));
        for other in [
            "projects/web/channels/default.jso",
            "projects/web/channels",
            "projects/webchannels/default.json",
            "projects/web/channels/default.json/x",
            "default.json",
        ] {
            assert!(!kept.contains(Path::new(other)), "{other}");
        }
        // Another export draws another key: the same path, another digest.
        let again = Kept::new().unwrap();
        let path = Path::new("environments/prod.json");
        assert_ne!(kept.digest(path), again.digest(path));
    }

    #[test]
    fn an_archives_files_sort_by_their_paths_bytes_and_a_path_twice_is_refused() {
        let span = |n: u8| Spool::new().unwrap().push_bytes(&[n]).unwrap();
        let mut written = Written::default();
        for (n, path) in ["b/x.json", "a-b.json", "a/b.json", "a.json"]
            .iter()
            .enumerate()
        {
            written.push(path, span(n as u8)).unwrap();
        }
        written.sort().unwrap();
        let order: Vec<&str> = written.files.iter().map(|f| written.path(f)).collect();
        assert_eq!(order, ["a-b.json", "a.json", "a/b.json", "b/x.json"]);
        assert!(written.contains("a/b.json") && !written.contains("a/b"));
        written.push("a.json", span(9)).unwrap();
        let error = written.sort().unwrap_err().to_string();
        assert!(
            error.contains("two documents would be written to a.json"),
            "{error}"
        );
    }
}
