//! Reading an export directory back into documents in the export shape (the first stage of an
//! import): the manifest, then every file the format owns, each document's collection given by
//! where its file stands and its identity by its content; extracted scripts go back inside their
//! documents, and task logs become documents again.
//!
//! The reader takes regular files only, inside the tree, within size limits, and never follows
//! a symbolic link. It streams ([`documents`]): files are read and parsed on every core a batch
//! at a time, bounded in number and in bytes, and handed on in file order.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use cuttle_crypto::export::{ExportKey, KdfParams, Salt};
use cuttle_domain::decl::CollectionDecl;
use cuttle_domain::path::JsonPath;
use cuttle_domain::{Collection, Layout};
use cuttle_domain::{names, path};
use cuttle_instance::error::{Hint, Message};
use cuttle_instance::parallel;
use cuttle_instance::{Incoming, codec, large};
use serde_json::{Value, json};

use crate::format::{self, Manifest};
use crate::layout;

/// The largest file the reader takes.
pub const MAX_FILE: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{0}")]
    Password(String),
}

fn file_error(path: &Path, message: impl Into<String>) -> ReadError {
    ReadError::File {
        // Shown to people: what cannot be seen in a hostile file name is escaped.
        path: names::visible(&path.display().to_string()).into_owned(),
        message: message.into(),
    }
}

/// An export, read.
#[derive(Debug)]
pub struct Export {
    pub manifest: Manifest,
    pub documents: Vec<Incoming>,
}

/// What an export is read from: a directory ([`Directory`]), or an archive read in place
/// ([`crate::archive::Archive`]). Paths are relative to the tree's top, `""` being the top.
pub trait Tree: Sync {
    /// The entries of the folder `dir`, in any order.
    fn entries(&self, dir: &Path) -> Result<Vec<Entry>, ReadError>;
    /// Whether anything stands at `relative`.
    fn exists(&self, relative: &Path) -> bool;
    /// The text of the regular file at `relative`: links, special files, files larger than
    /// [`MAX_FILE`] and text that is not UTF-8 are refused.
    fn read(&self, relative: &Path) -> Result<String, ReadError>;
    /// The folder at `path`, opened to read many of its files ([`Tree::read_in`]).
    fn open_folder<'p>(&self, path: &'p Path) -> Folder<'p> {
        Folder { path, handle: None }
    }
    /// The text of the file `name` of `folder`, as [`Tree::read`] gives it.
    fn read_in(&self, folder: &Folder<'_>, name: &str) -> Result<String, ReadError> {
        self.read(&folder.path.join(name))
    }
    /// Whether reading the file `name` of `folder` would wait for a disk: a hint, `false` where
    /// nothing waits or nothing can tell.
    fn is_cold(&self, _folder: &Folder<'_>, _name: &str) -> bool {
        false
    }
    /// Asks for the file `name` of `folder` to be read into the page cache, without waiting for
    /// it: a hint, which reads nothing here and never fails.
    fn prefetch(&self, _folder: &Folder<'_>, _name: &str) {}
}

/// A folder of a [`Tree`], opened to read files from it ([`Tree::open_folder`]).
pub struct Folder<'p> {
    path: &'p Path,
    /// On disk, the folder's descriptor, so that each of its files is found by its name alone
    /// rather than by its whole path again, or why the folder could not be opened (each read
    /// then says it). `None` elsewhere.
    handle: Option<std::io::Result<std::os::fd::OwnedFd>>,
}

/// An entry of a folder of a [`Tree`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: std::ffi::OsString,
    pub kind: EntryKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Folder,
    File {
        size: u64,
    },
    Symlink,
    /// A pipe, a device, a socket.
    Special,
}

/// An export directory on disk.
#[derive(Clone, Debug)]
pub struct Directory {
    root: PathBuf,
}

impl Directory {
    pub fn new(root: impl Into<PathBuf>) -> Directory {
        Directory { root: root.into() }
    }
}

impl Tree for Directory {
    fn entries(&self, dir: &Path) -> Result<Vec<Entry>, ReadError> {
        let full = self.root.join(dir);
        let mut out = Vec::new();
        for entry in fs::read_dir(&full).map_err(|e| file_error(dir, e.to_string()))? {
            let entry = entry.map_err(|e| file_error(dir, e.to_string()))?;
            let kind = entry
                .file_type()
                .map_err(|e| file_error(&dir.join(entry.file_name()), e.to_string()))?;
            let kind = if kind.is_dir() {
                EntryKind::Folder
            } else if kind.is_symlink() {
                EntryKind::Symlink
            } else if kind.is_file() {
                let size = entry
                    .metadata()
                    .map_err(|e| file_error(&dir.join(entry.file_name()), e.to_string()))?
                    .len();
                EntryKind::File { size }
            } else {
                EntryKind::Special
            };
            out.push(Entry {
                name: entry.file_name(),
                kind,
            });
        }
        Ok(out)
    }

    fn exists(&self, relative: &Path) -> bool {
        fs::symlink_metadata(self.root.join(relative)).is_ok()
    }

    /// Opens the folder as a directory (not through a link: one put in the folder's place since
    /// the walk is refused), for its files to be opened by name (`openat`).
    fn open_folder<'p>(&self, path: &'p Path) -> Folder<'p> {
        use std::os::unix::fs::OpenOptionsExt;
        let handle = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(self.root.join(path))
            .map(std::os::fd::OwnedFd::from)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP | libc::ENOTDIR) => std::io::Error::other(
                    "its folder is no longer a folder but a symbolic link or a file; the reader never follows links",
                ),
                _ => e,
            });
        Folder {
            path,
            handle: Some(handle),
        }
    }

    fn read(&self, relative: &Path) -> Result<String, ReadError> {
        read_open(self.open(relative), &|| relative.to_owned())
    }

    fn read_in(&self, folder: &Folder<'_>, name: &str) -> Result<String, ReadError> {
        read_open(self.open_in(folder, name), &|| folder.path.join(name))
    }

    /// Reads one byte of the file without waiting (`preadv2` with `RWF_NOWAIT`, which gives up
    /// where the byte is not in the page cache). A system that cannot tell is taken as cold.
    fn is_cold(&self, folder: &Folder<'_>, name: &str) -> bool {
        use std::os::fd::AsRawFd;
        let Ok(file) = self.open_in(folder, name) else {
            return false;
        };
        let mut byte = 0u8;
        let vector = libc::iovec {
            iov_base: (&raw mut byte).cast(),
            iov_len: 1,
        };
        // SAFETY: one vector of one byte that lives through the call, on a descriptor this
        // function owns until `file` drops.
        let read = unsafe { libc::preadv2(file.as_raw_fd(), &vector, 1, 0, libc::RWF_NOWAIT) };
        read < 0
            && matches!(
                std::io::Error::last_os_error().raw_os_error(),
                Some(libc::EAGAIN | libc::EOPNOTSUPP | libc::EINVAL | libc::ENOSYS)
            )
    }

    /// Opens the file as [`Tree::read`] does and asks the system to read it ahead
    /// (`POSIX_FADV_WILLNEED`, which starts the reads and returns).
    fn prefetch(&self, folder: &Folder<'_>, name: &str) {
        use std::os::fd::AsRawFd;
        if let Ok(file) = self.open_in(folder, name) {
            // SAFETY: a plain call on a descriptor this function owns until `file` drops.
            unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_WILLNEED) };
        }
    }
}

impl Directory {
    /// How a file is opened for reading: not through a link (`open` refuses a link itself), and
    /// not waiting for a pipe's writer, since the walk does not see what is put in a file's place
    /// after it.
    const FILE_FLAGS: libc::c_int = libc::O_NOFOLLOW | libc::O_NONBLOCK;

    /// Opens the file at `relative` for reading ([`Directory::FILE_FLAGS`]).
    fn open(&self, relative: &Path) -> std::io::Result<fs::File> {
        use std::os::unix::fs::OpenOptionsExt;
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(Self::FILE_FLAGS)
            .open(self.root.join(relative))
    }

    /// Opens the file `name` of `folder` as [`Directory::open`] does, by its name in the folder
    /// where the folder is open.
    fn open_in(&self, folder: &Folder<'_>, name: &str) -> std::io::Result<fs::File> {
        use std::os::fd::{AsRawFd, FromRawFd};
        let handle = match &folder.handle {
            None => return self.open(&folder.path.join(name)),
            Some(Ok(handle)) => handle,
            Some(Err(e)) => return Err(std::io::Error::new(e.kind(), e.to_string())),
        };
        let name = std::ffi::CString::new(name).map_err(|_| std::io::ErrorKind::InvalidInput)?;
        let flags = libc::O_RDONLY | libc::O_CLOEXEC | Self::FILE_FLAGS;
        // SAFETY: a NUL-terminated name and a directory descriptor that `folder` holds open.
        let fd = unsafe { libc::openat(handle.as_raw_fd(), name.as_ptr(), flags) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `openat` just gave this descriptor, which nothing else owns.
        Ok(unsafe { fs::File::from_raw_fd(fd) })
    }
}

/// Reads a regular file opened by [`Directory::open`] (`opened`, the file at `relative`, a path
/// made only for an error), refusing links, special files and huge files. What is checked is
/// the file opened (the checks read the open file's own metadata).
fn read_open(
    opened: std::io::Result<fs::File>,
    relative: &dyn Fn() -> PathBuf,
) -> Result<String, ReadError> {
    let error = |message: &str| file_error(&relative(), message);
    let failed = |e: std::io::Error| error(&e.to_string());
    let mut file = opened.map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP) => error("is a symbolic link; the reader never follows links"),
        _ => failed(e),
    })?;
    let meta = file.metadata().map_err(failed)?;
    if !meta.is_file() {
        return Err(error("is not a regular file"));
    }
    if meta.len() > MAX_FILE {
        return Err(too_large(&relative()));
    }
    let bytes = read_to_end(&mut file, meta.len()).map_err(failed)?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(too_large(&relative()));
    }
    String::from_utf8(bytes).map_err(|_| error("stream did not contain valid UTF-8"))
}

/// Reads a regular file of `size` bytes to its end, and no further than one byte past
/// [`MAX_FILE`] however it grows meanwhile. A read that gives less than it was asked for has
/// met the file's end, as a regular file's reads do: the file of the size it was is read in one
/// call, where reading until a read gives nothing would take a second.
fn read_to_end(file: &mut fs::File, size: u64) -> std::io::Result<Vec<u8>> {
    let bound = usize::try_from(MAX_FILE + 1).expect("the bound fits in memory");
    let mut bytes = vec![0; usize::try_from(size).map_or(bound, |size| (size + 1).min(bound))];
    let mut len = 0;
    loop {
        let asked = bytes.len() - len;
        let got = match file.read(&mut bytes[len..]) {
            Ok(got) => got,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        len += got;
        if got < asked || len == bound {
            break;
        }
        // The file grew: read on, in steps as large as what was read, up to the bound.
        bytes.resize(bound.min(len * 2), 0);
    }
    bytes.truncate(len);
    Ok(bytes)
}

/// The error of a file larger than any document.
pub(crate) fn too_large(relative: &Path) -> ReadError {
    file_error(relative, format!("is larger than {} MiB", MAX_FILE >> 20))
}

/// Sorts `files` (each [`WalkedFile`]: its folder, an index into `folders`; its name) in the order
/// of their paths, component by component, as a sort of the paths would give, but without
/// taking each path apart at every comparison: a folder's path is written once with its
/// components joined by NUL, which sorts before every byte a name holds, so that comparing those
/// bytes compares the components.
///
/// The sort is in place (no two files share a folder and a name, so the order is total and an
/// unstable sort gives the one order), and the folders' joined paths are one text: hundreds of
/// thousands of files in a hundred thousand folders, sorted just as their reading starts, when
/// the import's memory is at its highest.
fn sort_by_path(folders: &[PathBuf], files: &mut [WalkedFile]) {
    let mut text: Vec<u8> = Vec::new();
    let mut ends: Vec<usize> = Vec::with_capacity(folders.len());
    for folder in folders {
        let start = text.len();
        for component in folder.components() {
            if text.len() > start {
                text.push(0);
            }
            text.extend_from_slice(component.as_os_str().as_encoded_bytes());
        }
        ends.push(text.len());
    }
    let joined = |folder: u32| {
        let folder = folder as usize;
        let start = folder.checked_sub(1).map_or(0, |before| ends[before]);
        &text[start..ends[folder]]
    };
    // A path's bytes, in parts.
    fn parts<'a>(folder: &'a [u8], name: &'a str) -> [&'a [u8]; 3] {
        match folder {
            [] => [name.as_bytes(), &[], &[]],
            folder => [folder, &[0], name.as_bytes()],
        }
    }
    files.sort_unstable_by(|(a, a_name, ..), (b, b_name, ..)| {
        if a == b {
            a_name.cmp(b_name)
        } else {
            cmp_joined(&parts(joined(*a), a_name), &parts(joined(*b), b_name))
        }
    });
}

/// Compares the concatenations of `a`'s and `b`'s parts, without making them.
fn cmp_joined(mut a: &[&[u8]], mut b: &[&[u8]]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut x, mut y): (&[u8], &[u8]) = (&[], &[]);
    loop {
        while x.is_empty()
            && let Some((first, rest)) = a.split_first()
        {
            (x, a) = (first, rest);
        }
        while y.is_empty()
            && let Some((first, rest)) = b.split_first()
        {
            (y, b) = (first, rest);
        }
        let n = x.len().min(y.len());
        if n == 0 {
            return x.len().cmp(&y.len());
        }
        match x[..n].cmp(&y[..n]) {
            Ordering::Equal => (x, y) = (&x[n..], &y[n..]),
            other => return other,
        }
    }
}

/// At most this many misplaced files are named in a warning; the rest are counted.
const NAMED: usize = 10;

/// Folders listed at a time, on every core, by the walk of an export's tree: enough to share
/// among the cores, few enough that the listings held at once stay small beside the list of
/// files the walk makes.
const WALK_CHUNK: usize = 64;

/// What the walk of an export's tree found.
struct Walk {
    /// The folders that hold the files, by relative path.
    folders: Vec<PathBuf>,
    /// Every regular file the format owns, sorted by its relative path: its folder (an index
    /// into `folders`), its name, its size and what the format keeps in it. An export has
    /// hundreds of thousands of files in far fewer folders: each folder's path is held once.
    files: Vec<WalkedFile>,
    /// What looks like a document but stands where the format puts none, outside the format's
    /// folders (a `package.json`, an export copied into a folder of its own): not read, and said.
    warnings: Vec<Message>,
}

/// A file the walk found: its folder (an index into [`Walk::folders`]), its name, its size and
/// what the format keeps in it.
type WalkedFile = (u32, Box<str>, u64, layout::File);

/// One folder of the tree, listed and its entries told apart ([`list_folder`]).
#[derive(Default)]
struct Listing {
    /// The folders in it to walk, each with whether it is inside the format's folders.
    folders: Vec<(PathBuf, bool)>,
    /// The files the format owns in it: name, size, what the format keeps there.
    files: Vec<(Box<str>, u64, layout::File)>,
    /// Files that look like documents, outside the format's folders.
    foreign: Vec<PathBuf>,
    /// Folders holding an export of their own.
    exports: Vec<PathBuf>,
}

/// Walks the export's tree: every regular file the format owns; links and
/// special files refused where the format would own them, and never followed. Nothing that
/// looks like a document is left out unseen (issue 11): inside the format's folders, a file that
/// looks like one (`*.json`, a task log) where the format puts none, or a folder named like one
/// of the format's but for its case (`Teams/`), is an error; elsewhere it is a warning. Hidden
/// entries at the top (`.git`, `.github`) and files that do not look like documents (a README,
/// `environments/notes.txt`) are the person's own, and left alone.
///
/// Folders are listed a chunk at a time on every core (each waits on the file system: a
/// directory read, and the size of each file; and the format's reading of every path is done
/// there too), and their listings are taken in order on this thread, so that the first error
/// reported does not depend on the threads.
fn walk(tree: &dyn Tree) -> Result<Walk, ReadError> {
    let mut folders: Vec<PathBuf> = Vec::new();
    let mut files: Vec<WalkedFile> = Vec::new();
    let mut foreign: Vec<PathBuf> = Vec::new();
    let mut exports: Vec<PathBuf> = Vec::new();
    // Folders still to list, each with whether it is inside the format's folders; the last ones
    // found are listed first, so that those waiting are few (a release's folders, not every
    // release's).
    let mut waiting = vec![(PathBuf::new(), true)];
    while !waiting.is_empty() {
        let chunk = waiting.split_off(waiting.len().saturating_sub(WALK_CHUNK));
        let listed =
            parallel::map_in_order(&chunk, |(dir, inside)| list_folder(tree, dir, *inside));
        for ((dir, _), listing) in chunk.into_iter().zip(listed) {
            let listing = listing?;
            if !listing.files.is_empty() {
                let at = u32::try_from(folders.len()).expect("fewer than 2^32 folders");
                folders.push(dir);
                let named = listing.files.into_iter();
                files.extend(named.map(|(name, size, kept)| (at, name, size, kept)));
            }
            waiting.extend(listing.folders);
            foreign.extend(listing.foreign);
            exports.extend(listing.exports);
        }
    }
    sort_by_path(&folders, &mut files);
    foreign.sort();
    exports.sort();
    let mut warnings = Vec::new();
    for export in exports {
        warnings.push(Message::hinted(
            format!(
                "{} holds an export of its own ({}), which is not read",
                names::visible(&export.display().to_string()),
                format::MANIFEST
            ),
            Hint::SourceOfItsOwn,
        ));
    }
    if !foreign.is_empty() {
        let n = foreign.len();
        warnings.push(Message::from(format!(
            "{n} {} like documents {} outside the format's folders and {} not read: {}",
            many(n, "file that looks", "files that look"),
            many(n, "stands", "stand"),
            many(n, "is", "are"),
            listed(&foreign),
        )));
    }
    Ok(Walk {
        folders,
        files,
        warnings,
    })
}

/// Lists the folder `dir` of the tree and tells its entries apart: the folders to walk, the
/// files the format owns, and what looks like a document outside the format's folders; or the
/// error of an entry that the format would own but cannot read (a link, a pipe), of a name that
/// is not UTF-8 inside the format's folders, of a folder named like the format's but for its
/// case, and of what looks like a document where the format puts none.
fn list_folder(tree: &dyn Tree, dir: &Path, inside: bool) -> Result<Listing, ReadError> {
    let mut listing = Listing::default();
    let at_top = dir.as_os_str().is_empty();
    // Whether an entry stands inside the format's folders (the top is everyone's).
    let within = inside && !at_top;
    for entry in tree.entries(dir)? {
        let relative = dir.join(&entry.name);
        let Some(name) = entry.name.to_str() else {
            // Inside the format's folders, every name is the format's to read: one that is not
            // UTF-8 cannot be told apart from a document, and is not silently left out.
            if within {
                return Err(file_error(
                    &relative,
                    "has a name that is not UTF-8 text: an export's files are named in UTF-8; rename it",
                ));
            }
            continue;
        };
        if at_top && name.starts_with('.') {
            continue;
        }
        match entry.kind {
            EntryKind::Folder => {
                if layout::owns_dir(&relative) {
                    listing.folders.push((relative, true));
                } else if let Some(proper) = layout::case_variant(&relative) {
                    return Err(file_error(
                        &relative,
                        format!(
                            "is named like the format's folder {} but for its case: the importer reads {} only and would leave this out; rename it",
                            names::visible(&proper),
                            names::visible(&proper),
                        ),
                    ));
                } else if !within && tree.exists(&relative.join(format::MANIFEST)) {
                    listing.exports.push(relative);
                } else {
                    listing.folders.push((relative, within));
                }
            }
            EntryKind::Symlink if layout::owns_dir(&relative) => {
                return Err(file_error(
                    &relative,
                    "is a symbolic link where the format has a folder: the reader never follows links; copy the folder in its place",
                ));
            }
            kind => match layout::file_at(&relative) {
                Some(kept) => {
                    let EntryKind::File { size } = kind else {
                        return Err(file_error(
                            &relative,
                            "is not a regular file (a symbolic link, a pipe or a device): the reader takes regular files only and never follows links",
                        ));
                    };
                    listing.files.push((Box::from(name), size, kept));
                }
                None if layout::looks_like_document(&relative) => {
                    if within {
                        return Err(file_error(
                            &relative,
                            format!(
                                "looks like a document but stands where the format puts none, so the importer would leave it out: {}; move it there, or out of the export",
                                layout::where_documents_stand()
                            ),
                        ));
                    }
                    listing.foreign.push(relative);
                }
                None => {}
            },
        }
    }
    Ok(listing)
}

/// `one` or `other`, by `n`.
fn many(n: usize, one: &'static str, other: &'static str) -> &'static str {
    if n == 1 { one } else { other }
}

/// Paths for a message: the first [`NAMED`], what cannot be seen in them escaped, and how many
/// more there are.
fn listed<'p>(paths: impl IntoIterator<Item = &'p PathBuf>) -> String {
    let mut shown = Vec::new();
    let mut more = 0;
    for path in paths {
        if shown.len() < NAMED {
            shown.push(names::visible(&path.display().to_string()).into_owned());
        } else {
            more += 1;
        }
    }
    let mut text = shown.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// Reads the export's manifest.
pub fn read_manifest(tree: &dyn Tree) -> Result<Manifest, ReadError> {
    let text = read_manifest_text(tree)?;
    serde_json::from_str(&text).map_err(|e| {
        file_error(
            Path::new(format::MANIFEST),
            format!("not a Cuttle export manifest: {e}"),
        )
    })
}

/// The text of the export's manifest (a regular file, within the size limit).
pub fn read_manifest_text(tree: &dyn Tree) -> Result<String, ReadError> {
    tree.read(Path::new(format::MANIFEST))
}

/// The key that opens the export's sensitive values, checked against the manifest before any
/// document is read.
///
/// What is wrong with the manifest itself (an unknown algorithm, refused parameters, a malformed
/// salt or key check) is reported against `manifest.json`, never as a wrong password.
pub fn export_key(manifest: &Manifest, password: &[u8]) -> Result<ExportKey, ReadError> {
    let damaged = |what: String| {
        file_error(
            Path::new(format::MANIFEST),
            format!(
                "{what}; the manifest was altered or damaged: restore it (from the export's history, or by exporting again)"
            ),
        )
    };
    let kdf = &manifest.encryption.kdf;
    if kdf.algorithm != format::ARGON2ID || manifest.encryption.algorithm != format::SIV {
        return Err(file_error(
            Path::new(format::MANIFEST),
            format!(
                "encryption names {} with {}, which this Cuttle does not know: a newer Cuttle wrote it, or the manifest was altered",
                manifest.encryption.algorithm, kdf.algorithm
            ),
        ));
    }
    let params = KdfParams {
        memory_kib: kdf.memory_kib,
        iterations: kdf.iterations,
        parallelism: kdf.parallelism,
    };
    params
        .check_for_import()
        .map_err(|e| damaged(format!("encryption.kdf is refused: {e}")))?;
    let salt = Salt::decode(&kdf.salt)
        .map_err(|_| damaged("encryption.kdf.salt is not 16 bytes of unpadded base64url".into()))?;
    ExportKey::parse_key_check(&manifest.encryption.key_check).map_err(|_| {
        damaged("encryption.keyCheck is not 32 bytes of unpadded base64url (43 characters)".into())
    })?;
    let key = ExportKey::derive_cached(password, &salt, &params)
        .map_err(|e| ReadError::Password(e.to_string()))?;
    if !key.verify(&manifest.encryption.key_check) {
        return Err(ReadError::Password(
            "wrong password: it does not match the export's key check".into(),
        ));
    }
    Ok(key)
}

/// Reads every document of the export at `root`, into memory (for tests and tools; the import
/// streams them with [`documents`]).
pub fn read_export(root: &Path) -> Result<Export, ReadError> {
    let tree = Directory::new(root);
    let manifest = read_manifest(&tree)?;
    let documents = self::documents(&tree, |read| {
        read.map(|read| read.map(|document| document.incoming))
            .collect::<Result<_, _>>()
    })??;
    Ok(Export {
        manifest,
        documents,
    })
}

/// Files read and parsed at a time, on every core: enough to keep the cores busy, few enough
/// that the memory an import needs does not grow with the export: at most this many files, and
/// no more than [`BATCH_BYTES`] (or one file, if it is larger). Two batches are held at once:
/// the one being taken, and the next, read ahead. (1,024 files and 8 MiB read no faster, and
/// held some 8 MiB more at the import's peak.)
const BATCH: usize = 256;
const BATCH_BYTES: usize = 2 << 20;

/// The documents of the export in `tree`, in file order, as the stream that `consume` reads.
/// The files are read and parsed a batch at a time on the other cores, one batch ahead of
/// `consume` ([`parallel::ahead`]). Only the list of file names is held for the whole export;
/// the first error ends the stream. An error of the export's listing comes before any document.
pub fn documents<X>(
    tree: &dyn Tree,
    consume: impl FnOnce(&mut Documents<'_>) -> X,
) -> Result<X, ReadError> {
    let walk = walk(tree)?;
    let mut scripts = BTreeSet::new();
    // The list of documents to read takes the place of the walk's list (an entry of one is as
    // large as an entry of the other), rather than a copy beside it: it is a few dozen MB.
    let files: Vec<ListedFile> = (walk.files.into_iter())
        .filter_map(|(folder, name, size, kept)| match kept {
            layout::File::Document(collection) => Some((folder, name, collection, size)),
            layout::File::Script => {
                scripts.insert(walk.folders[folder as usize].join(&*name));
                None
            }
            layout::File::Manifest => None,
        })
        .collect();
    let logs = files.iter().any(|(_, _, c, _)| *c == Collection::TaskLogs);
    let count = files.len();
    let folders = walk.folders;
    Ok(std::thread::scope(|scope| {
        let mut documents = Documents {
            read: parallel::ahead(scope, move |feed| read_files(tree, &folders, files, feed)),
            files: count,
            logs,
            ready: VecDeque::new(),
            deployments: HashMap::new(),
            waiting_logs: Vec::new(),
            scripts,
            warnings: walk.warnings,
            ended: false,
        };
        consume(&mut documents)
    }))
}

/// Reads `files` (each: its folder, an index into `folders`; its name; its collection; its
/// size) in their order, a batch at a time on every core, and feeds each batch's results in
/// the same order, so that the stream (and the first error reported) does not depend on the
/// threads. Stops at the first batch with an error, or when the stream is no longer read.
///
/// The list lets go of what was read as the read goes on: there are hundreds of thousands of
/// files, and the import's memory peaks as the last of them are read.
fn read_files(
    tree: &dyn Tree,
    folders: &[PathBuf],
    files: Vec<ListedFile>,
    feed: &parallel::Feed<Result<Read, ReadError>>,
) {
    let mut files = VecDeque::from(files);
    let mut take = || {
        let len = parallel::chunk_len(files.make_contiguous(), BATCH, BATCH_BYTES, |file| {
            usize::try_from(file.3).unwrap_or(usize::MAX)
        });
        let batch: Vec<ListedFile> = files.drain(..len).collect();
        if files.len() <= files.capacity() / 2 {
            files.shrink_to_fit();
        }
        batch
    };
    let mut batch = take();
    let mut opened = OpenFolders::of(tree, folders, &batch);
    while !batch.is_empty() {
        // The next batch's folders are opened, and its files asked for where the page cache
        // does not hold them, while this one is read: the disk then has them all to read at
        // once, not one for each thread.
        let next = take();
        let (read, next_opened) = std::thread::scope(|scope| {
            let ahead = scope.spawn(|| {
                let opened = OpenFolders::of(tree, folders, &next);
                opened.read_ahead(tree, &next);
                opened
            });
            let read = parallel::map_in_order(&opened.each(&batch), |(folder, file)| {
                read_one(tree, folder, &file.1, file.2)
            });
            let ahead = ahead
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (read, ahead)
        });
        let failed = read.iter().any(Result::is_err);
        if !feed.send(read) || failed {
            return;
        }
        (batch, opened) = (next, next_opened);
    }
}

/// A file listed by the walk, to read: its folder (an index into the walk's folders), its name,
/// its collection and its size.
type ListedFile = (u32, Box<str>, Collection, u64);

// The list of files to read is made in the place of the walk's list ([`documents`]).
const _: () = assert!(std::mem::size_of::<ListedFile>() == std::mem::size_of::<WalkedFile>());

/// Files probed in a batch, spread over it, to tell whether its files are in the page cache
/// ([`OpenFolders::read_ahead`]).
const PROBES: usize = 4;

/// The folders of a batch of files, opened ([`Tree::open_folder`]): a batch's files stand in
/// few folders, each folder's files side by side (the files are in the order of their paths).
struct OpenFolders<'p> {
    open: Vec<Folder<'p>>,
    /// For each file of the batch, in order, its folder's place in `open`.
    of_file: Vec<u32>,
}

impl<'p> OpenFolders<'p> {
    fn of(tree: &dyn Tree, folders: &'p [PathBuf], files: &[ListedFile]) -> OpenFolders<'p> {
        let mut open = Vec::new();
        let mut last = None;
        let of_file = files
            .iter()
            .map(|(folder, ..)| {
                if last != Some(*folder) {
                    open.push(tree.open_folder(&folders[*folder as usize]));
                    last = Some(*folder);
                }
                u32::try_from(open.len() - 1).expect("a batch is smaller than 2^32 files")
            })
            .collect();
        OpenFolders { open, of_file }
    }

    /// Each of `files` (the batch these folders were opened for) with its folder.
    fn each<'f>(&'f self, files: &'f [ListedFile]) -> Vec<(&'f Folder<'p>, &'f ListedFile)> {
        let folders = self.of_file.iter().map(|at| &self.open[*at as usize]);
        folders.zip(files).collect()
    }

    /// Asks for the batch's files ahead of their reads, where a few of them spread over the
    /// batch say the page cache does not hold them: from a warm cache, asking would only open
    /// each file twice.
    fn read_ahead(&self, tree: &dyn Tree, files: &[ListedFile]) {
        let each = self.each(files);
        let step = each.len().div_ceil(PROBES).max(1);
        let mut probes = each.iter().step_by(step);
        if probes.any(|(folder, (_, name, ..))| tree.is_cold(folder, name)) {
            for (folder, (_, name, ..)) in each {
                tree.prefetch(folder, name);
            }
        }
    }
}

/// A document as the reader gives it: what to write, and its identifying fields
/// ([`codec::Part::Identity`] of its text), which the reader parsed to check where it stands.
pub struct Document {
    pub incoming: Incoming,
    pub identity: Value,
}

/// The stream of an export's documents (see [`documents`]).
pub struct Documents<'s> {
    /// Every file's result, in file order.
    read: parallel::Ahead<'s, Result<Read, ReadError>>,
    /// How many files the format owns.
    files: usize,
    /// Whether the export has task logs: without any, no deployment waits for one.
    logs: bool,
    ready: VecDeque<Document>,
    /// Deployments read whose task log is not yet: their file (without extension) and what
    /// their log's document starts with.
    deployments: HashMap<PathBuf, Box<LogHead>>,
    /// Task logs read before their deployment (files are sorted, so a release's `deployments`
    /// folder comes before its `logs`, and this stays empty for an export as written): each
    /// log's file and its text as a JSON string.
    waiting_logs: Vec<(PathBuf, String)>,
    /// The extracted scripts of the tree that no document read so far names.
    scripts: BTreeSet<PathBuf>,
    /// What the reader leaves out, and says (see [`Documents::warnings`]).
    warnings: Vec<Message>,
    /// Whether every file is read (or one failed).
    ended: bool,
}

impl Documents<'_> {
    /// How many files the export has that the format owns (documents, task logs).
    pub fn files(&self) -> usize {
        self.files
    }

    /// What the reader found and left out, for the plan to show: files that look like
    /// documents outside the format's folders, known from the start; once every document is
    /// read, the extracted scripts that none of them names.
    pub fn warnings(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.warnings)
    }

    /// Takes one file's result into the stream.
    fn take(&mut self, read: Read) {
        match read {
            Read::Log(relative, log) => {
                if let Some(log) = self.log_document(&relative, &log) {
                    self.ready.push_back(log);
                } else {
                    self.waiting_logs.push((relative, log));
                }
            }
            Read::Document(document, deployment, scripts) => {
                if let Some((file, head)) = deployment
                    && self.logs
                {
                    self.deployments.insert(file, head);
                }
                for script in scripts {
                    self.scripts.remove(&script);
                }
                self.ready.push_back(document);
            }
        }
    }

    /// Once every file is read: the scripts no document named, and the task logs read before
    /// their deployment.
    fn finish(&mut self) -> Result<(), ReadError> {
        let unnamed = std::mem::take(&mut self.scripts);
        if !unnamed.is_empty() {
            let n = unnamed.len();
            let (file, are) = (many(n, "file", "files"), many(n, "is", "are"));
            self.warnings.push(Message::from(format!(
                "{n} script {file} in the format's script folders {are} named by no document, and {are} not read: {}",
                listed(&unnamed),
            )));
        }
        for (relative, text) in std::mem::take(&mut self.waiting_logs) {
            let log = self.log_document(&relative, &text).ok_or_else(|| {
                file_error(
                    &relative,
                    "a task log needs the deployment file of the same name in the release's deployments folder",
                )
            })?;
            self.ready.push_back(log);
        }
        Ok(())
    }

    /// A task log's document, once its deployment is read: a task log is plain text, named
    /// after the deployment file beside it. `log`: its text as a JSON string.
    fn log_document(&mut self, relative: &Path, log: &str) -> Option<Document> {
        let stem = relative.with_extension("");
        let name = stem.file_name()?.to_owned();
        let deployment_file = stem.parent()?.parent()?.join("deployments").join(name);
        let LogHead { identity, mut json } = *self.deployments.remove(&deployment_file)?;
        json.reserve_exact(log.len() + 1);
        json.push_str(log);
        json.push('}');
        Some(Document {
            identity,
            incoming: Incoming {
                collection: Collection::TaskLogs,
                origin: relative.display().to_string(),
                json,
            },
        })
    }
}

/// What the document of a deployment's task log starts with, made where the deployment is read:
/// its identifying fields (the deployment's project and key), and its text up to the log's.
struct LogHead {
    identity: Value,
    json: String,
}

impl LogHead {
    /// The head of the task log of the deployment whose identifying fields are `deployment`.
    fn of(deployment: &Value) -> LogHead {
        let identity = json!({
            "project": deployment["project"],
            "deployment": {
                "release": deployment["release"],
                "environment": deployment["environment"],
                "tenant": deployment["tenant"],
                "number": deployment["number"],
            },
        });
        // The document is written out straight from the log's text, which is most of its
        // bytes, as serde_json writes the object: its members in this order, without spaces.
        let json = format!(
            "{{\"project\":{},\"deployment\":{},\"log\":",
            identity["project"], identity["deployment"]
        );
        LogHead { identity, json }
    }
}

impl Iterator for Documents<'_> {
    type Item = Result<Document, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(incoming) = self.ready.pop_front() {
                return Some(Ok(incoming));
            }
            if self.ended {
                return None;
            }
            let failed = match self.read.next() {
                Some(Ok(read)) => {
                    self.take(read);
                    continue;
                }
                Some(Err(error)) => error,
                None => match self.finish() {
                    Ok(()) => {
                        self.ended = true;
                        continue;
                    }
                    Err(error) => error,
                },
            };
            self.ended = true;
            self.ready.clear();
            return Some(Err(failed));
        }
    }
}

/// One file, read.
enum Read {
    /// A task log's text as a JSON string, turned into a document once its deployment is read.
    Log(PathBuf, String),
    /// A document; for a deployment, also its file (without extension) and the head of its
    /// task log's document; the script files it named.
    Document(Document, Option<(PathBuf, Box<LogHead>)>, Vec<PathBuf>),
}

fn read_one(
    tree: &dyn Tree,
    folder: &Folder<'_>,
    name: &str,
    collection: Collection,
) -> Result<Read, ReadError> {
    let text = tree.read_in(folder, name)?;
    let relative = &folder.path.join(name);
    if collection == Collection::TaskLogs {
        let log = serde_json::to_string(&text).expect("a string serializes");
        return Ok(Read::Log(relative.to_owned(), log));
    }
    let decl = collection.decl();
    // Without scripts to put back, the reader needs only the identifying fields, and the text
    // goes on as it is; otherwise the document is parsed whole and written anew.
    let not_json =
        |e: cuttle_domain::json::JsonError| file_error(relative, format!("not valid JSON: {e}"));
    let (identity, json, scripts) = if decl.scripts.is_empty() {
        let identity = codec::parse(decl, &text, codec::Part::Identity).map_err(not_json)?;
        (identity, text, Vec::new())
    } else if let Some((head, json, scripts)) =
        inline_scripts_by_elements(tree, relative, decl, &text)
    {
        (codec::identity_of(decl, &head), json, scripts)
    } else {
        let mut value = codec::parse(decl, &text, codec::Part::Whole).map_err(not_json)?;
        let root = JsonPath::root();
        let scripts = inline_scripts(tree, relative, decl, decl, &mut value, &root)?;
        let json = value.to_string();
        (codec::identity_of(decl, &value), json, scripts)
    };
    let value = &identity;
    check_place(relative, collection, value)?;
    let deployment = (collection == Collection::Deployments)
        .then(|| (relative.with_extension(""), Box::new(LogHead::of(value))));
    Ok(Read::Document(
        Document {
            incoming: Incoming {
                collection,
                origin: relative.display().to_string(),
                json,
            },
            identity,
        },
        deployment,
        scripts,
    ))
}

/// A document must stand where its content puts it (SPEC 5.4): a project's document and every
/// part of it in the project's folder, a deployment in its release's folder. A file whose
/// project (or release) disagrees with its folder is most likely a copy-and-paste mistake, or a
/// rename made in one file only; either way, importing it would attach it to another document
/// than the one its neighbours belong to. (Identity still comes from the content, and the name
/// of a document's own file is free.)
fn check_place(relative: &Path, collection: Collection, value: &Value) -> Result<(), ReadError> {
    let decl = collection.decl();
    let folder = |n: usize| {
        relative
            .iter()
            .nth(n)
            .and_then(|f| f.to_str())
            .unwrap_or_default()
    };
    let named = |field: &str| -> Result<String, ReadError> {
        match value.get(field).and_then(Value::as_str) {
            Some(name) => Ok(cuttle_domain::names::nfc(name).into_owned()),
            None => Err(file_error(
                relative,
                format!("$.{field}: a {} names its {field} as text", decl.singular),
            )),
        }
    };
    let project = match decl.layout {
        Layout::Project => Some(("name", named("name")?)),
        _ if decl.is_project_owned() => Some(("project", named("project")?)),
        _ => None,
    };
    if let Some((field, project)) = project {
        let expected = format::stem(&project);
        let here = folder(1);
        if here != expected {
            let advice = if field == "name" {
                "to rename a project, change its name here and its `project` in every file of its folder, then move the folder there (or rename it in the instance and export again); a folder holds one project"
            } else {
                "move the file or correct its `project` (a copied file keeps the project it was copied from)"
            };
            return Err(file_error(
                relative,
                format!(
                    "$.{field}: the project {} belongs in projects/{expected}/, not in projects/{here}/: {advice}",
                    names::quoted(&project)
                ),
            ));
        }
    }
    if let Layout::Deployment { key, .. } = decl.layout {
        let deployment = if key.is_empty() {
            value
        } else {
            value.get(key).unwrap_or(&Value::Null)
        };
        if let Some(release) = deployment.get("release").and_then(Value::as_str) {
            let expected = format::stem(&cuttle_domain::names::nfc(release));
            let here = folder(3);
            if here != expected {
                return Err(file_error(
                    relative,
                    format!(
                        "$.release: a deployment of the release {} belongs in releases/{expected}/, not in releases/{here}/: move the file or correct its `release`",
                        names::quoted(release)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A large document with extracted scripts ([`cuttle_instance::large`]), its scripts put back an
/// element at a time: its identifying fields (its head), its text and the script files read.
/// `None` when it is not large, or anything about it is wrong: the whole document is then read,
/// and what is wrong reported as for any other.
fn inline_scripts_by_elements(
    tree: &dyn Tree,
    relative: &Path,
    decl: &CollectionDecl,
    text: &str,
) -> Option<(Value, String, Vec<PathBuf>)> {
    let field = decl.elements?.field;
    let element_decl = decl.element_decl()?;
    // Scripts in more than one kind of place are read in the whole's order.
    if !large::is_large(decl, text.len()) || decl.scripts.len() > 1 {
        return None;
    }
    let split = large::split(text, field)?;
    let mut head = cuttle_domain::json::parse(&split.head).ok()?;
    let root = JsonPath::root();
    let mut read = inline_scripts(tree, relative, decl, decl, &mut head, &root).ok()?;
    let mut json = Vec::with_capacity(text.len());
    large::print_with(
        &head,
        field,
        split.elements.len(),
        large::Print::Compact,
        &mut json,
        &mut |index| {
            // Parsed as deep as it stands in the whole (its nesting is limited there).
            let nested = format!("[[{}]]", split.elements[index]);
            let mut element = cuttle_domain::json::parse(&nested).map_err(|_| ())?[0][0].take();
            let at = JsonPath::root().field(field).index(index);
            // The scripts folder is the document's: named by the collection's declaration.
            let scripts = inline_scripts(tree, relative, decl, element_decl, &mut element, &at)
                .map_err(|_| ())?;
            read.extend(scripts);
            Ok::<_, ()>(element)
        },
    )
    .ok()?;
    let json = String::from_utf8(json).expect("serde_json writes UTF-8");
    Some((head, json, read))
}

/// Puts extracted scripts back: `{"syntax", "file"}` becomes `{"syntax", "body"}`, the body read
/// from the named file in the document's scripts folder (its collection's, `decl`). `value` is
/// the part of the document that stands at `base` (the root, or an element of its large array),
/// declared by `part` (`decl` itself, or its element's declaration). Returns the script files
/// read.
fn inline_scripts(
    tree: &dyn Tree,
    relative: &Path,
    decl: &CollectionDecl,
    part: &CollectionDecl,
    value: &mut Value,
    base: &JsonPath,
) -> Result<Vec<PathBuf>, ReadError> {
    let mut read = Vec::new();
    if part.scripts.is_empty() {
        return Ok(read);
    }
    let folder = layout::scripts_dir_beside(decl, relative);
    let mut found = Vec::new();
    for script_path in part.scripts {
        let _ = path::for_each::<()>(value, script_path, None, &mut |script, at| {
            if let Some(file) = script.get("file") {
                found.push((at.to_path(), file.clone()));
            }
            Ok(())
        });
    }
    for (within, file) in found {
        let at = base.clone().join(&within);
        let name = file.as_str().unwrap_or_default();
        let bare = !name.is_empty() && !name.contains(['/', '\\']) && name != "." && name != "..";
        if !bare {
            return Err(file_error(
                relative,
                format!(
                    "{at}.file: a script is named by its bare file name in {}",
                    folder.display()
                ),
            ));
        }
        let script = folder.join(name);
        let body = tree.read(&script)?;
        read.push(script);
        let slot = value
            .pointer_mut(&within.pointer())
            .expect("a path just found");
        let syntax = slot.get("syntax").cloned().unwrap_or(Value::Null);
        let extra: Vec<&String> = slot
            .as_object()
            .map(|o| {
                o.keys()
                    .filter(|k| *k != "syntax" && *k != "file")
                    .collect()
            })
            .unwrap_or_default();
        if !extra.is_empty() {
            return Err(file_error(
                relative,
                format!("{at}: an extracted script has only `syntax` and `file`"),
            ));
        }
        *slot = json!({ "syntax": syntax, "body": body });
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file is read to its end whatever size was seen of it, and no further than the bound.
    #[test]
    fn a_file_is_read_whole_however_its_size_changed_since_it_was_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        let text: String = (0..10_000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        fs::write(&path, &text).unwrap();
        for seen in [0, 3, 9_999, 10_000, 10_001, 1 << 20] {
            let mut file = fs::File::open(&path).unwrap();
            let read = read_to_end(&mut file, seen).unwrap();
            assert_eq!(read, text.as_bytes(), "seen as {seen} bytes");
        }
        fs::write(&path, "").unwrap();
        let mut file = fs::File::open(&path).unwrap();
        assert!(read_to_end(&mut file, 0).unwrap().is_empty());
    }

    /// A folder opened is read by its files' names; one that became a link since the walk saw it
    /// is not followed, nor is a file that became one.
    #[test]
    fn a_folder_opened_reads_its_files_and_follows_no_link_put_in_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("environments")).unwrap();
        fs::write(dir.path().join("environments/a.json"), "{}").unwrap();
        fs::write(outside.path().join("a.json"), "{\"secret\": 1}").unwrap();
        let tree = Directory::new(dir.path());
        let folder = tree.open_folder(Path::new("environments"));
        assert_eq!(tree.read_in(&folder, "a.json").unwrap(), "{}");
        assert!(!tree.is_cold(&folder, "missing.json"));

        std::os::unix::fs::symlink(
            outside.path().join("a.json"),
            dir.path().join("environments/b.json"),
        )
        .unwrap();
        let error = tree.read_in(&folder, "b.json").unwrap_err().to_string();
        assert!(
            error.contains("environments/b.json: is a symbolic link"),
            "{error}"
        );

        fs::rename(dir.path().join("environments"), dir.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("environments")).unwrap();
        let relinked = tree.open_folder(Path::new("environments"));
        let error = tree.read_in(&relinked, "a.json").unwrap_err().to_string();
        assert!(
            error.contains("environments/a.json: its folder is no longer a folder"),
            "{error}"
        );
        // The folder opened before still reads the folder it opened.
        assert_eq!(tree.read_in(&folder, "a.json").unwrap(), "{}");
    }

    /// Files are held by folder and name, and still come in the order of their whole paths:
    /// a folder's files among its subfolders by name (a release's file before the files in its
    /// folder, a project's releases before its `variables.json`).
    #[test]
    fn the_walk_gives_files_in_the_order_of_their_paths() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            "manifest.json",
            "environments/b.json",
            "environments/a.json",
            "projects/web/project.json",
            "projects/web/variables.json",
            "projects/web/channels/default.json",
            "projects/web/releases/1-4-2_abc.json",
            "projects/web/releases/1-4-2_abc/deployments/production-1.json",
            "projects/web/releases/1-4-2_abc/task-logs/production-1.log",
            "projects/web/releases/1-4-2_abd.json",
            "projects/web/releases/1-4-2_abd/deployments/test-2.json",
            "projects/api/project.json",
        ];
        for file in files {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "{}").unwrap();
        }
        let walk = walk(&Directory::new(dir.path())).unwrap();
        let paths: Vec<PathBuf> = walk
            .files
            .iter()
            .map(|(folder, name, ..)| walk.folders[*folder as usize].join(&**name))
            .collect();
        let mut expected: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
        expected.sort();
        assert_eq!(paths, expected);
        // Each folder's path is held once.
        assert_eq!(walk.folders.len(), 9, "{:?}", walk.folders);
    }

    /// Files come in the order of their paths across many batches, taken off the front of the
    /// list of those still to read, which shrinks as it goes.
    #[test]
    fn thousands_of_files_come_in_order_across_batches() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("environments")).unwrap();
        let n = 3 * BATCH + 7;
        for i in 0..n {
            let name = format!("env-{i:05}");
            let text = json!({ "name": name }).to_string();
            std::fs::write(dir.path().join(format!("environments/{name}.json")), text).unwrap();
        }
        let origins: Vec<String> = documents(&Directory::new(dir.path()), |read| {
            read.map(|r| r.unwrap().incoming.origin).collect()
        })
        .unwrap();
        let expected: Vec<String> = (0..n)
            .map(|i| format!("environments/env-{i:05}.json"))
            .collect();
        assert_eq!(origins, expected);
    }

    /// The sort compares paths as their components compare, where comparing their text would
    /// not: `-` and `.` sort before `/`.
    #[test]
    fn files_sort_as_their_paths_components_do() {
        let names = ["a", "a-b", "a.json", "b", "a.b", "é", "a b", "ab", "z"];
        let folders: Vec<PathBuf> = std::iter::once(PathBuf::new())
            .chain(names.iter().map(PathBuf::from))
            .chain(
                names
                    .iter()
                    .flat_map(|a| names.iter().map(move |b| Path::new(a).join(b))),
            )
            .collect();
        let mut files: Vec<WalkedFile> = Vec::new();
        for (folder, _) in folders.iter().enumerate().rev() {
            for name in names.iter().rev() {
                files.push((folder as u32, Box::from(*name), 0, layout::File::Script));
            }
        }
        sort_by_path(&folders, &mut files);
        let sorted: Vec<PathBuf> = files
            .iter()
            .map(|(folder, name, ..)| folders[*folder as usize].join(&**name))
            .collect();
        let mut expected = sorted.clone();
        expected.sort();
        assert_eq!(sorted, expected);
        let at = |path: &str| sorted.iter().position(|p| p == Path::new(path)).unwrap();
        assert!(
            at("a/b/a") < at("a-b/a") && at("a/z") < at("a.json"),
            "a folder's files before those of a sibling whose name it begins"
        );
    }

    /// A task log's document is put together from pieces made where its deployment and its log
    /// are read: the same text as serde_json makes of the whole, whatever the log holds.
    #[test]
    fn a_task_log_document_is_the_json_of_its_identity_and_its_log() {
        let deployment = json!({
            "project": "Wëb \"api\"",
            "release": "1.0",
            "environment": "Prod\u{1b}",
            "tenant": null,
            "number": 7,
            "state": "Success",
        });
        let log = "line \"one\"\n\ttab \\ back\u{0}slash é \u{2028}\r\n";
        std::thread::scope(|scope| {
            let mut documents = Documents {
                read: parallel::ahead(scope, |_| {}),
                files: 0,
                logs: true,
                ready: VecDeque::new(),
                deployments: HashMap::new(),
                waiting_logs: Vec::new(),
                scripts: BTreeSet::new(),
                warnings: Vec::new(),
                ended: false,
            };
            let file = Path::new("projects/web/releases/1-0/deployments/prod-7");
            documents
                .deployments
                .insert(file.to_owned(), Box::new(LogHead::of(&deployment)));
            let read = serde_json::to_string(log).unwrap();
            let document = documents
                .log_document(
                    Path::new("projects/web/releases/1-0/logs/prod-7.log"),
                    &read,
                )
                .expect("its deployment was read");
            let identity = json!({
                "project": "Wëb \"api\"",
                "deployment": {"release": "1.0", "environment": "Prod\u{1b}", "tenant": null, "number": 7},
            });
            assert_eq!(document.identity, identity);
            let mut whole = identity.clone();
            whole["log"] = json!(log);
            assert_eq!(
                document.incoming.json,
                serde_json::to_string(&whole).unwrap()
            );
            assert!(
                documents.deployments.is_empty(),
                "a deployment's head serves once"
            );
        });
    }
}
