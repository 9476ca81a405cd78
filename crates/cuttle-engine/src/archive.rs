//! An export directory as one archive (SPEC 9: "an export travels as a deterministic tar
//! archive"), and an archive read back into a directory without trusting it.
//!
//! **Writing** ([`write`]) is deterministic: the same directory gives the same bytes. Entries are
//! the directory's regular files only, in byte order of their paths (`/`-separated, relative),
//! each a ustar entry with mode 0644, owner and group 0 with no names, and time 0 (a long path
//! split between the header's prefix and name, or where it cannot be, in a GNU long-name entry;
//! see `write`). Compressed archives are gzip with no name and time 0. Nothing of the machine that
//! wrote it (user, umask, clock, file-system order, the number of cores) reaches the bytes.
//!
//! **Reading** takes a plain or gzip-compressed tar (told apart by its first bytes, not its
//! name), refusing, with the entry's name, anything an export does not hold or that would escape
//! its directory: `..` or absolute paths, links, devices and other special entries, names that are
//! not UTF-8, paths longer than `PATH_MAX` (4096 bytes), the same path twice, entries larger than
//! a document may be, more entries or more bytes than the [`Limits`] allow (a compression bomb is
//! more bytes than its archive's size allows), and archives that are truncated or whose sizes
//! lie. Every reader refuses the same:
//!
//! - [`Archive::open`] reads an archive in place, for the import: a [`Tree`] whose files are read
//!   where their bytes stand (a compressed archive's are copied once to an anonymous temporary
//!   file), so that importing an archive writes no file and costs little more than its directory;
//! - [`index_stream`] does the same with an archive as it streams in (an upload);
//! - [`check`] reads it and keeps nothing.
//!
//! A file is read through once (a plain archive's entries' headers only, their data skipped over
//! and checked to lie within the file); a stream, as it comes.
//!
//! Nothing is ever unpacked: no entry is written anywhere as a file, so none can land outside.

use std::borrow::Cow;
use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use thiserror::Error;

use cuttle_domain::names;

use crate::Cancel;
use crate::reader::{Entry, EntryKind, ReadError, Tree};

mod paths;
mod write;

use paths::{Index, Node, Paths};
pub(crate) use write::{Stored, WholeFile, write_stored};
pub use write::{Writer, write, write_file};

/// How an archive is compressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// A plain tar.
    #[default]
    None,
    /// A gzip-compressed tar (`.tar.gz`, `.tgz`).
    Gzip,
}

impl Compression {
    /// What a file's name says: gzip for `.gz` and `.tgz`, else none.
    pub fn for_path(path: &Path) -> Compression {
        let name = path.to_string_lossy().to_ascii_lowercase();
        if name.ends_with(".gz") || name.ends_with(".tgz") {
            Compression::Gzip
        } else {
            Compression::None
        }
    }

    /// The media type of an archive so compressed.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::None => "application/x-tar",
            Compression::Gzip => "application/gzip",
        }
    }
}

/// What an archive may hold, at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Entries (files and folders).
    pub entries: u64,
    /// Bytes of all files together, unpacked.
    pub bytes: u64,
    /// Unpacked bytes per byte of the archive as stored (a compression bomb has far more); an
    /// archive of any size may unpack to [`Limits::SMALL`] bytes.
    pub ratio: u64,
}

impl Limits {
    /// What any archive may unpack to, whatever its size.
    pub const SMALL: u64 = 256 << 20;
}

impl Default for Limits {
    /// Room for the large sample many times over: 4 million entries, 64 GiB, and 100 bytes
    /// unpacked per byte stored (JSON exports compress about ten to one).
    fn default() -> Self {
        Limits {
            entries: 4_000_000,
            bytes: 64 << 30,
            ratio: 100,
        }
    }
}

/// What is wrong with an archive, or with writing one.
#[derive(Debug, Error)]
pub enum ArchiveError {
    /// The archive holds something an export does not, or that would escape its directory.
    #[error("archive {archive}: entry {entry:?} {what}")]
    Entry {
        archive: String,
        entry: String,
        what: String,
    },
    /// The archive as a whole: not a tar, truncated, too large.
    #[error("archive {archive}: {what}")]
    Invalid { archive: String, what: String },
    /// Reading or writing a file failed.
    #[error("{path}: {error}")]
    Io { path: String, error: io::Error },
    /// Stopped when asked to, before the end.
    #[error("cancelled while reading the archive")]
    Cancelled,
}

impl ArchiveError {
    pub(crate) fn io(path: &Path, error: io::Error) -> ArchiveError {
        ArchiveError::Io {
            path: path.display().to_string(),
            error,
        }
    }

    /// True when the archive itself is at fault (not the disk that reads or writes it).
    pub fn is_hostile(&self) -> bool {
        !matches!(self, ArchiveError::Io { .. } | ArchiveError::Cancelled)
    }
}

/// What reading an archive through found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unpacked {
    pub files: u64,
    pub bytes: u64,
    /// Whether it holds an export's manifest at its root.
    pub manifest: bool,
}

/// Counts the bytes read (or skipped) through it, in a cell others may read meanwhile: where it
/// stands in its input.
struct Counted<R> {
    inner: R,
    read: Rc<Cell<u64>>,
}

impl<R> Counted<R> {
    fn new(inner: R) -> Counted<R> {
        Counted {
            inner,
            read: Rc::default(),
        }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

/// Skipping forward, as the tar reader skips an entry's data it was not asked for: within the
/// buffer, without a system call; beyond it, one `lseek`.
impl<R: Read + Seek> Seek for Counted<BufReader<R>> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let SeekFrom::Current(by) = to else {
            return Err(io::Error::other("an archive is read forward only"));
        };
        let at = self
            .read
            .get()
            .checked_add_signed(by)
            .ok_or_else(|| io::Error::other("an entry's size is out of bounds"))?;
        self.inner.seek_relative(by)?;
        self.read.set(at);
        Ok(at)
    }
}

/// Reads the archive `archive`, writing nothing: whatever [`Archive::open`] refuses, this
/// refuses.
pub fn check(archive: &Path, limits: &Limits) -> Result<Unpacked, ArchiveError> {
    read_into(archive, Target::Check, limits, &Cancel::default()).map(|(unpacked, _)| unpacked)
}

/// Opens the archive `archive` and reads it into `target`: a compressed archive through, a plain
/// one by its entries' headers.
fn read_into(
    archive: &Path,
    mut target: Target,
    limits: &Limits,
    cancel: &Cancel,
) -> Result<(Unpacked, Target), ArchiveError> {
    let label = archive.display().to_string();
    let meta = std::fs::metadata(archive).map_err(|e| ArchiveError::io(archive, e))?;
    if !meta.is_file() {
        return Err(ArchiveError::Invalid {
            archive: label,
            what: "is not a regular file".into(),
        });
    }
    let file = File::open(archive).map_err(|e| ArchiveError::io(archive, e))?;
    // The size of what was opened (whatever stands at the path since the look).
    let length = file
        .metadata()
        .map_err(|e| ArchiveError::io(archive, e))?
        .len();
    let budget = Budget::Whole(
        limits
            .bytes
            .min(length.saturating_mul(limits.ratio).max(Limits::SMALL)),
    );
    let reading = Reading {
        label: &label,
        limits,
        budget,
        cancel,
    };
    let mut raw = BufReader::with_capacity(BUFFER, file);
    let unpacked = if is_gzip(&mut raw, &label)? {
        read_gzip(raw, &mut target, &reading)?
    } else {
        // A plain archive's data is where the import reads it: its entries are skipped over,
        // each checked to lie within the file.
        read_entries(
            tar::Archive::new(Counted::new(raw)),
            tar::Archive::entries_with_seek,
            Some(length),
            &mut target,
            &reading,
        )?
    };
    Ok((unpacked, target))
}

/// Reads an archive through as it streams in (an upload being received), refusing what
/// [`check`] refuses, and indexes it as [`Archive::open`] does; once the stream is stored in a
/// file, [`Indexed::stored_in`] makes it an [`Archive`] without reading it again. The one
/// difference from a file: a stream's size is not known before its end, so a compressed archive
/// may unpack to [`Limits::ratio`] times the bytes read so far (or [`Limits::SMALL`]), never more
/// than [`check`] allows the whole file. `label` names the archive in errors.
pub fn index_stream(
    stream: impl Read,
    label: &str,
    limits: &Limits,
) -> Result<(Unpacked, Indexed), ArchiveError> {
    let counted = Counted::new(stream);
    let budget = Budget::SoFar {
        read: counted.read.clone(),
        limits: *limits,
    };
    let mut target = Target::Index {
        copy: None,
        paths: Paths::default(),
    };
    let reading = Reading {
        label,
        limits,
        budget,
        cancel: &Cancel::default(),
    };
    let unpacked = read_stream(counted, &mut target, &reading)?;
    Ok((unpacked, Indexed::from(target)?))
}

/// An archive indexed from a stream, waiting for the file the stream is stored in.
pub struct Indexed {
    /// A compressed archive's files, copied out.
    copy: Option<File>,
    paths: Paths,
}

impl Indexed {
    fn from(target: Target) -> Result<Indexed, ArchiveError> {
        let Target::Index { copy, paths } = target else {
            unreachable!("an index is read into a target of its kind")
        };
        let copy = match copy {
            Some(copy) => Some(
                copy.out
                    .into_inner()
                    .map_err(|e| ArchiveError::io(&temporary(), e.into_error()))?,
            ),
            None => None,
        };
        Ok(Indexed { copy, paths })
    }

    /// The archive, its bytes being those of `file`, which holds the stream byte for byte.
    pub fn stored_in(self, file: &Path) -> Result<Archive, ArchiveError> {
        let data = match self.copy {
            Some(copy) => copy,
            None => File::open(file).map_err(|e| ArchiveError::io(file, e))?,
        };
        Ok(Archive {
            data,
            paths: self.paths,
        })
    }
}

/// How many bytes an archive may unpack to.
enum Budget {
    /// An archive of a known size: a fixed amount.
    Whole(u64),
    /// A stream: by what was read of it so far.
    SoFar { read: Rc<Cell<u64>>, limits: Limits },
}

impl Budget {
    fn now(&self) -> u64 {
        match self {
            Budget::Whole(bytes) => *bytes,
            Budget::SoFar { read, limits } => limits
                .bytes
                .min(read.get().saturating_mul(limits.ratio).max(Limits::SMALL)),
        }
    }
}

/// How an archive is read: what names it in errors, what it may hold and unpack to, and when
/// to stop.
struct Reading<'a> {
    label: &'a str,
    limits: &'a Limits,
    budget: Budget,
    cancel: &'a Cancel,
}

/// How much of an archive is read from its input at once.
const BUFFER: usize = 1 << 16;

/// Reads an archive (plain or gzip, told apart by its first bytes) through into `target`.
fn read_stream(
    raw: impl Read,
    target: &mut Target,
    reading: &Reading<'_>,
) -> Result<Unpacked, ArchiveError> {
    let mut raw = BufReader::with_capacity(BUFFER, raw);
    if is_gzip(&mut raw, reading.label)? {
        read_gzip(raw, target, reading)
    } else {
        read_entries(
            tar::Archive::new(Counted::new(raw)),
            tar::Archive::entries,
            None,
            target,
            reading,
        )
    }
}

/// Whether the archive that `raw` reads is gzip-compressed (by its first bytes).
fn is_gzip(raw: &mut impl io::BufRead, label: &str) -> Result<bool, ArchiveError> {
    let head = raw
        .fill_buf()
        .map_err(|e| ArchiveError::io(Path::new(label), e))?;
    Ok(head.starts_with(&[0x1f, 0x8b]))
}

/// Reads a gzip-compressed archive through into `target`.
fn read_gzip(
    raw: impl io::BufRead,
    target: &mut Target,
    reading: &Reading<'_>,
) -> Result<Unpacked, ArchiveError> {
    if let Target::Index { copy, .. } = target {
        // A compressed archive's files cannot be read in place: their bytes are copied to an
        // anonymous temporary file (gone with the process, however it ends).
        let spill = tempfile::tempfile().map_err(|e| ArchiveError::io(&temporary(), e))?;
        *copy = Some(Copy {
            out: BufWriter::with_capacity(1 << 20, spill),
            written: 0,
        });
    }
    read_entries(
        tar::Archive::new(Counted::new(flate2::bufread::GzDecoder::new(raw))),
        tar::Archive::entries,
        None,
        target,
        reading,
    )
}

/// Where the entries of an archive go as they are read.
enum Target {
    /// Nowhere: the archive is only checked.
    Check,
    /// Into an index of where each file's bytes stand: in the archive itself, or for a
    /// compressed archive, in `copy`.
    Index { copy: Option<Copy>, paths: Paths },
}

/// A compressed archive's files, copied out as they are read.
struct Copy {
    out: BufWriter<File>,
    written: u64,
}

/// How the entries of an archive are listed: [`tar::Archive::entries`], or
/// [`tar::Archive::entries_with_seek`] to skip over their data.
type ListEntries<R> =
    for<'a> fn(&'a mut tar::Archive<Counted<R>>) -> io::Result<tar::Entries<'a, Counted<R>>>;

/// Reads the entries of `archive` (listed by `entries`) into `target`. `skipped`: the length of
/// the file whose data is skipped over rather than read (a plain archive read in place).
fn read_entries<R: Read>(
    mut archive: tar::Archive<Counted<R>>,
    entries: ListEntries<R>,
    skipped: Option<u64>,
    target: &mut Target,
    reading: &Reading<'_>,
) -> Result<Unpacked, ArchiveError> {
    let (label, limits, budget, cancel) = (
        reading.label,
        reading.limits,
        &reading.budget,
        reading.cancel,
    );
    let invalid = |what: String| ArchiveError::Invalid {
        archive: label.to_owned(),
        what,
    };
    // A read error of the archive (not of the disk) is the archive's fault: truncated, a size
    // that lies, a checksum that fails, a damaged compression.
    let damaged = |e: io::Error| invalid(format!("is damaged or truncated ({e})"));
    // Every path of the archive, and what stands there.
    let mut index = Index::default();
    let full = |_: paths::Full| invalid("holds more paths than any export".into());
    let mut unpacked = Unpacked::default();
    let mut entries_seen = 0u64;
    // Where the last entry's data ends: an archive ends with zero blocks after it, which a cut
    // at an entry's first byte would lose (and the reader take for the end).
    let mut last_end = 0u64;
    // One buffer for every entry's bytes: an archive may hold hundreds of thousands of entries,
    // and a buffer of its own for each was filled with zeros each time.
    let mut buffer = vec![0u8; 64 << 10];
    for entry in entries(&mut archive).map_err(damaged)? {
        if cancel.is_cancelled() {
            return Err(ArchiveError::Cancelled);
        }
        let mut entry = entry.map_err(damaged)?;
        entries_seen += 1;
        if entries_seen > limits.entries {
            return Err(invalid(format!(
                "holds more than {} entries, more than any export",
                limits.entries
            )));
        }
        let name = String::from_utf8(entry.path_bytes().into_owned()).map_err(|e| {
            ArchiveError::Entry {
                archive: label.to_owned(),
                entry: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                what: "is not a UTF-8 name, which no export holds".into(),
            }
        })?;
        if name.len() > paths::MAX_PATH {
            return Err(ArchiveError::Entry {
                archive: label.to_owned(),
                entry: format!("{}…", name.chars().take(100).collect::<String>()),
                what: format!(
                    "is a path longer than {} bytes, which no export holds",
                    paths::MAX_PATH
                ),
            });
        }
        let refuse = |what: &str| ArchiveError::Entry {
            archive: label.to_owned(),
            entry: name.clone(),
            what: what.to_owned(),
        };
        let stored = entry.header().entry_size().map_err(damaged)?;
        let position = entry.raw_file_position();
        last_end = position + stored.div_ceil(512) * 512;
        let kind = entry.header().entry_type();
        let directory = match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => false,
            tar::EntryType::Directory => true,
            // Comments of the archiver (`git archive` writes one), not entries.
            tar::EntryType::XGlobalHeader => continue,
            tar::EntryType::Symlink | tar::EntryType::Link => {
                return Err(refuse(
                    "is a link, which no export holds (and which could point outside it)",
                ));
            }
            _ => {
                return Err(refuse(
                    "is not a file or a folder (a device, a pipe, …), which no export holds",
                ));
            }
        };
        let Some(key) = safe_path(&name).map_err(&refuse)? else {
            continue; // `.` or `./`: the archive's root.
        };
        match index.get(&key) {
            Some(Node::File { .. } | Node::Folder) => {
                return Err(refuse("is in the archive twice (which copy is meant?)"));
            }
            // A folder where an entry is a file (or the reverse) is the same path twice.
            Some(Node::Implied) if !directory => {
                return Err(refuse("is in the archive twice (as a file and a folder)"));
            }
            _ => {}
        }
        // The folders it stands in that are not known yet (as the lengths of its path that end
        // at each), innermost first.
        let mut unknown = Vec::new();
        for (slash, _) in key.rmatch_indices('/') {
            match index.get(&key[..slash]) {
                Some(Node::File { .. }) => {
                    return Err(refuse("is in the archive twice (as a file and a folder)"));
                }
                // Its own ancestors are known too.
                Some(_) => break,
                None => unknown.push(slash),
            }
        }
        if directory {
            index.add(&key, Node::Folder, &unknown).map_err(full)?;
            continue;
        }
        if key == crate::format::MANIFEST {
            unpacked.manifest = true;
        }
        let size = entry.header().size().map_err(damaged)?;
        if size > crate::reader::MAX_FILE {
            return Err(refuse(&format!(
                "is larger than {} MiB, more than any document",
                crate::reader::MAX_FILE >> 20
            )));
        }
        let budget = budget.now();
        if unpacked.bytes + size > budget {
            return Err(invalid(format!(
                "unpacks to more than {budget} bytes, more than an archive of its size may (a compression bomb, or an archive larger than this server takes)"
            )));
        }
        let data = (&mut entry).take(size);
        let (copied, at) = match target {
            // Skipped over, where it stands in the file: what of it the file holds.
            Target::Check | Target::Index { copy: None, .. } if let Some(length) = skipped => {
                (size.min(length.saturating_sub(position)), position)
            }
            Target::Check | Target::Index { copy: None, .. } => (
                copy_checked(data, &mut io::sink(), &mut buffer, label, Path::new(""))?,
                position,
            ),
            Target::Index {
                copy: Some(copy), ..
            } => {
                let at = copy.written;
                let copied = copy_checked(data, &mut copy.out, &mut buffer, label, &temporary())?;
                copy.written += copied;
                (copied, at)
            }
        };
        if copied != size {
            return Err(invalid(format!(
                "is truncated: entry {name:?} says it holds {size} bytes and holds {copied}"
            )));
        }
        index
            .add(&key, Node::File { at, size }, &unknown)
            .map_err(full)?;
        unpacked.files += 1;
        unpacked.bytes += size;
    }
    let mut rest = archive.into_inner();
    // The reader stops at a zero block, or at the end of the input where a header would be: the
    // latter is an archive cut short (the writer always ends with zero blocks).
    if rest.read.get() < last_end + 512 {
        return Err(invalid(if entries_seen == 0 {
            "is empty, or not a tar archive".into()
        } else {
            "is truncated: it ends where an entry would begin, without the end-of-archive blocks"
                .into()
        }));
    }
    // Whatever follows the end of the archive is read too: a compressed stream must end well.
    io::copy(&mut (&mut rest).take(budget.now()), &mut io::sink()).map_err(damaged)?;
    if let Target::Index { paths, .. } = target {
        *paths = index.finish().map_err(full)?;
    }
    Ok(unpacked)
}

/// Copies an entry's bytes through `buffer`: a failure to read is the archive's (damaged,
/// truncated), a failure to write is the disk's.
fn copy_checked(
    mut from: impl Read,
    to: &mut impl Write,
    buffer: &mut [u8],
    label: &str,
    written_to: &Path,
) -> Result<u64, ArchiveError> {
    let mut copied = 0u64;
    loop {
        let n = match from.read(buffer) {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(ArchiveError::Invalid {
                    archive: label.to_owned(),
                    what: format!("is damaged or truncated ({e})"),
                });
            }
        };
        to.write_all(&buffer[..n])
            .map_err(|e| ArchiveError::io(written_to, e))?;
        copied += n as u64;
    }
}

/// Where the bytes of a compressed archive's files go while it is read.
fn temporary() -> PathBuf {
    std::env::temp_dir()
}

/// An archive read in place, as a [`Tree`] the import reads like a directory: read once when
/// opened (refusing whatever [`check`] refuses), then each file read where its bytes stand:
/// in the archive itself, or for a compressed archive, in an anonymous temporary file its files
/// were copied to. Nothing is written to disk for a plain archive, and nothing is left behind for
/// a compressed one.
pub struct Archive {
    /// The archive, or the copy of a compressed archive's files.
    data: File,
    paths: Paths,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive")
            .field("paths", &self.paths.len())
            .finish_non_exhaustive()
    }
}

impl Archive {
    /// Reads the archive `archive` (plain or gzip), stopping (with [`ArchiveError::Cancelled`])
    /// between entries once `cancel` is set.
    pub fn open(archive: &Path, limits: &Limits, cancel: &Cancel) -> Result<Archive, ArchiveError> {
        let target = Target::Index {
            copy: None,
            paths: Paths::default(),
        };
        let (_, target) = read_into(archive, target, limits, cancel)?;
        Indexed::from(target)?.stored_in(archive)
    }

    /// The paths of its files (`/`-separated), in the byte order of their paths.
    pub fn files(&self) -> impl Iterator<Item = String> {
        let mut cursor = self.paths.cursor();
        (0..self.paths.len())
            .filter(|&at| matches!(self.paths.node(at), Node::File { .. }))
            .map(move |at| cursor.path(at).to_owned())
    }

    /// Where the bytes of its file at `relative` (`/`-separated) stand; `None` when no file
    /// stands there.
    pub(crate) fn stored(&self, relative: &str) -> Option<Stored<'_>> {
        let Node::File { at, size } = self.paths.find(relative)? else {
            return None;
        };
        Some(Stored {
            file: &self.data,
            offset: at,
            len: size,
        })
    }

    /// The bytes of its file at `relative`; `None` when no file stands there.
    pub fn bytes(&self, relative: &Path) -> Option<io::Result<Vec<u8>>> {
        let stored = self.stored(relative.to_str()?)?;
        let mut bytes = Vec::new();
        Some(stored.read_into(&mut bytes).map(|()| bytes))
    }

    fn find(&self, relative: &Path) -> Option<Node> {
        self.paths.find(relative.to_str()?)
    }
}

impl Tree for Archive {
    fn entries(&self, dir: &Path) -> Result<Vec<Entry>, ReadError> {
        let prefix = match dir.to_str() {
            Some("") => String::new(),
            Some(dir) => format!("{dir}/"),
            None => return Ok(Vec::new()),
        };
        let mut cursor = self.paths.cursor();
        let mut entries: Vec<Entry> = Vec::new();
        let mut at = self.paths.partition_point(|path| path < prefix.as_str());
        while at < self.paths.len() {
            let path = cursor.path(at);
            let Some(name) = path.strip_prefix(prefix.as_str()) else {
                break;
            };
            // A deeper path: the folder it stands in is an entry here, and its subtree is
            // passed over whole.
            if let Some(slash) = name.find('/') {
                entries.push(Entry {
                    name: name[..slash].into(),
                    kind: EntryKind::Folder,
                });
                let subtree = &path[..prefix.len() + slash + 1];
                at = self
                    .paths
                    .partition_point(|p| p < subtree || p.starts_with(subtree));
                continue;
            }
            entries.push(Entry {
                name: name.into(),
                kind: match self.paths.node(at) {
                    Node::File { size, .. } => EntryKind::File { size },
                    Node::Folder | Node::Implied => EntryKind::Folder,
                },
            });
            at += 1;
        }
        // A folder the archive has an entry for is listed twice: for its entry, and for the
        // paths below it.
        entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        entries.dedup_by(|a, b| a.name == b.name);
        Ok(entries)
    }

    fn exists(&self, relative: &Path) -> bool {
        self.find(relative).is_some()
    }

    fn read(&self, relative: &Path) -> Result<String, ReadError> {
        let error = |message: String| ReadError::File {
            path: names::visible(&relative.display().to_string()).into_owned(),
            message,
        };
        match self.find(relative) {
            None => return Err(error("is not in the archive".into())),
            Some(Node::File { size, .. }) if size > crate::reader::MAX_FILE => {
                return Err(crate::reader::too_large(relative));
            }
            Some(Node::File { .. }) => {}
            Some(_) => return Err(error("is not a regular file".into())),
        }
        let bytes = self
            .bytes(relative)
            .expect("a file found")
            .map_err(|e| error(format!("cannot be read from the archive: {e}")))?;
        String::from_utf8(bytes).map_err(|_| error("stream did not contain valid UTF-8".into()))
    }
}

/// The entry's path, relative and made of plain names joined by `/`; `None` for the archive's
/// root. A path already so (as every path an export writes) is the name itself.
fn safe_path(name: &str) -> Result<Option<Cow<'_, str>>, &'static str> {
    if name.contains('\0') {
        return Err("has a NUL in its name");
    }
    if name.contains('\\') {
        return Err("has a backslash in its name, which no export holds");
    }
    // A folder's entry ends with a `/`.
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    if trimmed
        .split('/')
        .all(|part| !matches!(part, "" | "." | ".."))
    {
        return Ok(Some(Cow::Borrowed(trimmed)));
    }
    let mut out = String::with_capacity(name.len());
    for component in Path::new(name).components() {
        match component {
            Component::Normal(part) => {
                if !out.is_empty() {
                    out.push('/');
                }
                // Parts of a `&str`, split at `/`.
                out.push_str(part.to_str().unwrap_or_default());
            }
            Component::CurDir => {}
            Component::ParentDir => return Err("goes up a folder (`..`), outside the archive"),
            Component::RootDir | Component::Prefix(_) => {
                return Err("is an absolute path, outside the archive");
            }
        }
    }
    Ok((!out.is_empty()).then_some(Cow::Owned(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside() {
        let safe = |name| safe_path(name).unwrap().map(Cow::into_owned);
        assert_eq!(safe("a/b.json").as_deref(), Some("a/b.json"));
        assert_eq!(safe("./a/./b.json").as_deref(), Some("a/b.json"));
        assert_eq!(safe("a//b/").as_deref(), Some("a/b"));
        assert_eq!(safe("folder/").as_deref(), Some("folder"));
        assert_eq!(safe("./").as_deref(), None);
        assert_eq!(safe(".").as_deref(), None);
        assert_eq!(safe("a/.../b").as_deref(), Some("a/.../b"));
        assert!(safe_path("../a").is_err());
        assert!(safe_path("a/../../b").is_err());
        assert!(safe_path("/etc/passwd").is_err());
        assert!(safe_path("a\\..\\b").is_err());
    }

    #[test]
    fn the_same_directory_gives_the_same_bytes() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("projects/web")).unwrap();
        std::fs::write(dir.path().join("projects/web/project.json"), b"{}\n").unwrap();
        std::fs::write(dir.path().join("cuttle-export.json"), b"{\"a\":1}\n").unwrap();
        let long = "x".repeat(150);
        std::fs::write(dir.path().join(&long), b"long").unwrap();
        for compression in [Compression::None, Compression::Gzip] {
            let mut first = Vec::new();
            write(dir.path(), &mut first, compression).unwrap();
            let mut second = Vec::new();
            write(dir.path(), &mut second, compression).unwrap();
            assert_eq!(first, second);
            let file = scratch.path().join("out.tar");
            std::fs::write(&file, &first).unwrap();
            assert_eq!(check(&file, &Limits::default()).unwrap().files, 3);
            let back = Archive::open(&file, &Limits::default(), &Cancel::default()).unwrap();
            assert_eq!(
                back.read(Path::new("projects/web/project.json")).unwrap(),
                "{}\n"
            );
            assert_eq!(back.read(Path::new(&long)).unwrap(), "long");
            std::fs::remove_file(&file).unwrap();
        }
    }

    #[test]
    fn a_stream_may_unpack_to_what_it_has_sent_so_far_allows() {
        // 300 MiB of zeros compress to about 300 KiB: over 256 MiB, a stream of that size may not.
        let mut builder = tar::Builder::new(Vec::new());
        for n in 0..5 {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(60 << 20);
            header.set_mode(0o644);
            builder
                .append_data(&mut header, format!("f{n}"), io::repeat(0).take(60 << 20))
                .unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzip.write_all(&tar).unwrap();
        let bomb = gzip.finish().unwrap();
        let error = index_stream(&bomb[..], "bomb", &Limits::default())
            .err()
            .unwrap();
        assert!(
            error.to_string().contains("unpacks to more than"),
            "{error}"
        );
        // The plain archive holds what it says.
        let (unpacked, _) = index_stream(&tar[..], "plain", &Limits::default()).unwrap();
        assert_eq!(unpacked.bytes, 300 << 20);
    }

    #[test]
    fn an_archive_read_in_place_reads_as_its_directory() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("export");
        for (path, text) in [
            ("environments/Prod.json", "{\"name\":\"Prod\"}"),
            ("projects/web/project.json", "{}"),
            ("projects/web-api/project.json", "{\"x\":1}"),
            ("projects/web/scripts/deploy.sh", "echo é"),
            // Folders whose names extend one another (a folder's listing passes over each
            // subtree whole).
            ("projects/web/releases/1.0/deployments/a.json", "{}"),
            ("projects/web/releases/1.0.1/deployments/b.json", "{}"),
            ("projects/web/releases/1.0-rc/c.json", "{}"),
            ("projects/web/releases/1.0/d.json", "{}"),
            ("README.md", "# mine"),
            ("empty.json", ""),
        ] {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        std::fs::create_dir_all(dir.join("projects/empty")).unwrap();
        let directory = crate::reader::Directory::new(&dir);
        let sorted = |tree: &dyn Tree, at: &str| {
            let mut entries = tree.entries(Path::new(at)).unwrap();
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            entries
        };
        for compression in [Compression::None, Compression::Gzip] {
            let file = scratch.path().join(format!("{compression:?}.tar"));
            write_file(&dir, &file, compression).unwrap();
            let archive = Archive::open(&file, &Limits::default(), &Cancel::default()).unwrap();
            // Folders without files are not in an archive (it holds files only).
            let mut projects = sorted(&directory, "projects");
            projects.retain(|e| e.name != "empty");
            assert_eq!(sorted(&archive, "projects"), projects);
            for at in [
                "",
                "projects/web",
                "projects/web-api",
                "environments",
                "projects/web/releases",
                "projects/web/releases/1.0",
                "projects/web/releases/1.0.1",
            ] {
                assert_eq!(sorted(&archive, at), sorted(&directory, at), "{at}");
            }
            for at in [
                "projects/web/scripts/deploy.sh",
                "environments/Prod.json",
                "empty.json",
            ] {
                assert_eq!(
                    archive.read(Path::new(at)).unwrap(),
                    directory.read(Path::new(at)).unwrap()
                );
                assert!(archive.exists(Path::new(at)));
            }
            assert!(archive.exists(Path::new("projects/web")));
            assert!(!archive.exists(Path::new("projects/we")));
            let folder = archive.read(Path::new("projects")).unwrap_err();
            assert!(
                folder.to_string().contains("not a regular file"),
                "{folder}"
            );
            let missing = archive.read(Path::new("nothing.json")).unwrap_err();
            assert!(
                missing.to_string().contains("not in the archive"),
                "{missing}"
            );
        }
    }

    #[test]
    fn every_reader_refuses_alike() {
        let scratch = tempfile::tempdir().unwrap();
        let tar_of = |entries: &[(&str, tar::EntryType)]| {
            let mut builder = tar::Builder::new(Vec::new());
            for (name, kind) in entries {
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(*kind);
                header.set_size(if *kind == tar::EntryType::Directory {
                    0
                } else {
                    2
                });
                header.set_mode(0o644);
                let data: &[u8] = if *kind == tar::EntryType::Directory {
                    b""
                } else {
                    b"{}"
                };
                builder.append_data(&mut header, name, data).unwrap();
            }
            builder.into_inner().unwrap()
        };
        let file = tar::EntryType::Regular;
        let folder = tar::EntryType::Directory;
        let cases: [&[(&str, tar::EntryType)]; 4] = [
            &[("a", file), ("a/b", file)],
            &[("a/b", file), ("a", file)],
            &[("a", file), ("a", folder)],
            &[("a", folder), ("a", file)],
        ];
        for (n, entries) in cases.iter().enumerate() {
            let path = scratch.path().join(format!("{n}.tar"));
            std::fs::write(&path, tar_of(entries)).unwrap();
            let checked = check(&path, &Limits::default()).unwrap_err();
            assert!(
                checked.to_string().contains("twice"),
                "{entries:?}: {checked}"
            );
            let opened = Archive::open(&path, &Limits::default(), &Cancel::default()).unwrap_err();
            assert_eq!(checked.to_string(), opened.to_string(), "{entries:?}");
            let label = path.display().to_string();
            let streamed = index_stream(File::open(&path).unwrap(), &label, &Limits::default())
                .err()
                .unwrap();
            assert_eq!(checked.to_string(), streamed.to_string(), "{entries:?}");
        }
        let path = scratch.path().join("good.tar");
        std::fs::write(
            &path,
            tar_of(&[
                ("d", folder),
                ("d/x.json", file),
                (crate::format::MANIFEST, file),
            ]),
        )
        .unwrap();
        let checked = check(&path, &Limits::default()).unwrap();
        assert!(checked.manifest);
        let (streamed, indexed) =
            index_stream(File::open(&path).unwrap(), "good", &Limits::default()).unwrap();
        assert_eq!(checked, streamed);
        let archive = indexed.stored_in(&path).unwrap();
        assert_eq!(archive.read(Path::new("d/x.json")).unwrap(), "{}");
    }

    #[test]
    fn a_path_longer_than_any_export_holds_is_refused_shortened() {
        let scratch = tempfile::tempdir().unwrap();
        let long = format!("projects/{}/x.json", "deep/".repeat(1000));
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(2);
        header.set_mode(0o644);
        builder.append_data(&mut header, &long, &b"{}"[..]).unwrap();
        let path = scratch.path().join("long.tar");
        std::fs::write(&path, builder.into_inner().unwrap()).unwrap();
        let checked = check(&path, &Limits::default()).unwrap_err().to_string();
        assert!(checked.contains("longer than 4096 bytes"), "{checked}");
        assert!(checked.len() < 400, "{checked}");
        let opened = Archive::open(&path, &Limits::default(), &Cancel::default()).unwrap_err();
        assert_eq!(opened.to_string(), checked);
        let label = path.display().to_string();
        let streamed = index_stream(File::open(&path).unwrap(), &label, &Limits::default())
            .err()
            .unwrap();
        assert_eq!(streamed.to_string(), checked);
    }

    /// An archive made by another tool need not hold its paths in order, nor a folder before its
    /// files: it reads the same, plain (its data skipped when opened) or compressed.
    #[test]
    fn an_archive_in_any_order_reads_the_same() {
        let scratch = tempfile::tempdir().unwrap();
        let files: [(&str, &str); 4] = [
            ("projects/web/project.json", "{\"name\":\"web\"}"),
            ("environments/Prod.json", "{}"),
            ("projects/web-api/project.json", "[]"),
            ("projects/web/variables.json", "{\"variables\":[]}"),
        ];
        let mut builder = tar::Builder::new(Vec::new());
        for (at, (path, text)) in files.iter().enumerate() {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            builder
                .append_data(&mut header, path, text.as_bytes())
                .unwrap();
            if at == 0 {
                // A folder's own entry after one of its files.
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                header.set_mode(0o755);
                builder
                    .append_data(&mut header, "projects/web", &b""[..])
                    .unwrap();
            }
        }
        let plain = builder.into_inner().unwrap();
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzip.write_all(&plain).unwrap();
        let gzipped = gzip.finish().unwrap();
        let mut sorted: Vec<&str> = files.iter().map(|(path, _)| *path).collect();
        sorted.sort_unstable();
        for (name, bytes) in [("plain.tar", plain), ("gzipped.tgz", gzipped)] {
            let path = scratch.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let archive = Archive::open(&path, &Limits::default(), &Cancel::default()).unwrap();
            assert_eq!(archive.files().collect::<Vec<_>>(), sorted, "{name}");
            let mut projects: Vec<_> = archive
                .entries(Path::new("projects"))
                .unwrap()
                .into_iter()
                .map(|e| (e.name.into_string().unwrap(), e.kind))
                .collect();
            projects.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(
                projects,
                [
                    ("web".to_owned(), EntryKind::Folder),
                    ("web-api".to_owned(), EntryKind::Folder)
                ],
                "{name}"
            );
            for (file, text) in files {
                assert_eq!(archive.read(Path::new(file)).unwrap(), text, "{name}");
            }
        }
    }
}
