//! Writing an archive: deterministic, the same files giving the same bytes.
//!
//! Each file is one entry, in the order given (the callers sort them by the bytes of their
//! paths): a POSIX ustar header (mode 0644, owner and group 0 with no names, time 0), its bytes,
//! and zeros to the end of its last block. A path longer than the header's name field (100 bytes)
//! is split at a `/` between its prefix field (155 bytes) and its name field; a path that cannot
//! be split so (about one in a thousand of an export's have a name over 100 bytes or no `/` early
//! enough) is carried by a GNU long-name entry before its header, which every tar reader in use
//! reads. Two blocks of zeros end the archive. Compressed archives are gzip with no name and
//! time 0.
//!
//! Since where each entry starts follows from the lengths of the paths and files before it, a
//! plain archive of files that already stand in files (the export's spool, the archive an export
//! is written over) is written on every core, each thread writing its share of the entries where
//! they belong ([`write_stored`]).

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{ArchiveError, Compression};
use crate::unnamed::{Unnamed, folder_of};

/// A tar block: every header, and every file's bytes padded to a whole number of them.
const BLOCK: usize = 512;
/// The length of a ustar header's name field.
const NAME: usize = 100;
/// The length of a ustar header's prefix field.
const PREFIX: usize = 155;
/// The name of a GNU long-name entry.
const LONG_LINK: &[u8] = b"././@LongLink";
/// A plain archive's threads gather their entries into writes of about this size.
const WRITE: usize = 1 << 20;

/// Writes the regular files under `directory` as a deterministic archive to `out`. Anything else
/// under it (a link, a device) is an error: an export holds files and folders only.
pub fn write(
    directory: &Path,
    out: impl Write,
    compression: Compression,
) -> Result<u64, ArchiveError> {
    let mut files = Vec::new();
    collect(directory, String::new(), &mut files)?;
    files.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let failed = |e| ArchiveError::io(directory, e);
    let mut writer = Writer::new(out, compression);
    for (path, _) in &files {
        let full = directory.join(path);
        let file = File::open(&full).map_err(|e| ArchiveError::io(&full, e))?;
        // The size as it is now (the file is read whole, and must not have changed).
        let size = file
            .metadata()
            .map_err(|e| ArchiveError::io(&full, e))?
            .len();
        writer
            .add(path, size, file)
            .map_err(|e| ArchiveError::io(&full, e))?;
    }
    writer.finish().map_err(failed)?;
    Ok(files.len() as u64)
}

/// Writes the archive of `directory` to the file `path`, whole or not at all (written beside it,
/// then renamed over it).
pub fn write_file(
    directory: &Path,
    path: &Path,
    compression: Compression,
) -> Result<u64, ArchiveError> {
    let mut count = 0;
    write_whole(path, |out| {
        count = write(directory, out, compression)?;
        Ok(())
    })?;
    Ok(count)
}

/// Writes the file `path` whole or not at all: `fill` writes into a temporary file beside it,
/// which is flushed to disk and renamed over `path` (mode 0600) only once `fill` succeeded.
pub(crate) fn write_whole(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    write_whole_file(path, |file| {
        let mut out = BufWriter::with_capacity(1 << 20, file);
        fill(&mut out)?;
        out.flush().map_err(|e| ArchiveError::io(path, e))
    })
}

/// [`write_whole`], `fill` writing into the file as it likes (at offsets, from several
/// threads).
pub(crate) fn write_whole_file(
    path: &Path,
    fill: impl FnOnce(&File) -> Result<(), ArchiveError>,
) -> Result<(), ArchiveError> {
    let whole = WholeFile::begin(path)?;
    fill(whole.file())?;
    whole.finish()
}

/// The file `path` being written whole or not at all. It is made when the writing begins, so
/// that a folder that is missing or cannot be written to is found before any work is done, and
/// has no name until it is whole and on disk ([`Unnamed`]): a writer that fails or is killed
/// meanwhile leaves nothing behind, and `path` as it was.
pub(crate) struct WholeFile {
    path: PathBuf,
    unnamed: Unnamed,
}

impl WholeFile {
    const PREFIX: &str = ".cuttle-archive-";

    pub(crate) fn begin(path: &Path) -> Result<WholeFile, ArchiveError> {
        let unnamed = Unnamed::new_in(folder_of(path), Self::PREFIX)
            .map_err(|e| ArchiveError::io(path, e))?;
        Ok(WholeFile {
            path: path.to_owned(),
            unnamed,
        })
    }

    /// The file, empty until written to.
    pub(crate) fn file(&self) -> &File {
        self.unnamed.file()
    }

    /// Puts the file on disk and gives it its name, replacing what stood there.
    pub(crate) fn finish(self) -> Result<(), ArchiveError> {
        let failed = |e| ArchiveError::io(&self.path, e);
        self.unnamed.file().sync_all().map_err(failed)?;
        self.unnamed
            .replace(&self.path, Self::PREFIX)
            .map_err(failed)
    }
}

/// Where a file's bytes already stand: `len` bytes at `offset` in `file`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stored<'f> {
    pub file: &'f File,
    pub offset: u64,
    pub len: u64,
}

impl Stored<'_> {
    /// Appends the file's bytes to `into`.
    pub(crate) fn read_into(&self, into: &mut Vec<u8>) -> io::Result<()> {
        let from = into.len();
        let len = usize::try_from(self.len).map_err(io::Error::other)?;
        into.resize(from + len, 0);
        self.file.read_exact_at(&mut into[from..], self.offset)
    }
}

/// Writes the deterministic archive of `entries` (each a path and where its bytes stand, in the
/// byte order of their paths) into `out` from its start: the same bytes as [`Writer`] writes.
/// A plain archive is written on up to `threads` threads, each its share of the entries at the
/// offsets that the entries before it take; a compressed one, on this thread.
pub(crate) fn write_stored<P: AsRef<str> + Sync>(
    out: &File,
    entries: &[(P, Stored<'_>)],
    compression: Compression,
    threads: usize,
) -> io::Result<()> {
    if compression != Compression::None {
        let mut writer = Writer::new(BufWriter::with_capacity(1 << 20, out), compression);
        let mut bytes = Vec::new();
        for (path, stored) in entries {
            bytes.clear();
            stored.read_into(&mut bytes)?;
            writer.add(path.as_ref(), stored.len, &bytes[..])?;
        }
        return writer.finish()?.flush();
    }
    let len = |(path, stored): &(P, Stored<'_>)| entry_len(path.as_ref().as_bytes(), stored.len);
    let end: u64 = entries.iter().map(len).sum();
    // Shares of about equal bytes, in order: each its entries and where they start and end.
    let threads = threads.clamp(1, entries.len().max(1)) as u64;
    let mut shares = Vec::new();
    let (mut first, mut start, mut at) = (0, 0, 0);
    for (index, entry) in entries.iter().enumerate() {
        at += len(entry);
        if at >= end / threads * (shares.len() as u64 + 1) || index + 1 == entries.len() {
            shares.push((&entries[first..=index], start, at));
            (first, start) = (index + 1, at);
        }
    }
    std::thread::scope(|scope| {
        let written: Vec<_> = shares
            .iter()
            .map(|&(entries, start, end)| {
                (scope.spawn(move || write_share(out, entries, start)), end)
            })
            .collect();
        for (written, end) in written {
            let reached = written.join().unwrap_or_else(|panic| {
                std::panic::resume_unwind(panic);
            })?;
            // A share ends where the next begins, or the archive holds a gap or an overlap.
            if reached != end {
                return Err(io::Error::other(format!(
                    "the archive's entries did not take the room they were given (they end at {reached}, not {end}); this is a bug, please report it"
                )));
            }
        }
        Ok(())
    })?;
    out.write_all_at(&[0; 2 * BLOCK], end)
}

/// Writes `entries` into `out` from `start`, in writes of about [`WRITE`] bytes. Returns where
/// they end.
fn write_share<P: AsRef<str>>(
    out: &File,
    entries: &[(P, Stored<'_>)],
    start: u64,
) -> io::Result<u64> {
    let mut buffer = Vec::with_capacity(WRITE);
    let mut at = start;
    for (path, stored) in entries {
        // Written out before an entry that would not fit (the buffer keeps its size, unless
        // for an entry larger than it).
        let len = entry_len(path.as_ref().as_bytes(), stored.len);
        if buffer.len() as u64 + len > WRITE as u64 && !buffer.is_empty() {
            out.write_all_at(&buffer, at)?;
            at += buffer.len() as u64;
            buffer.clear();
        }
        header(path.as_ref(), stored.len, &mut buffer);
        stored.read_into(&mut buffer)?;
        pad(&mut buffer);
    }
    out.write_all_at(&buffer, at)?;
    Ok(at + buffer.len() as u64)
}

/// Writes a deterministic archive entry by entry, in the order given (the caller sorts them by
/// the bytes of their paths): see the module's documentation.
pub struct Writer<W: Write> {
    out: Compressed<W>,
    /// An entry's header, then its bytes' padding.
    scratch: Vec<u8>,
}

/// An archive's bytes on their way out, compressed or not.
enum Compressed<W: Write> {
    Plain(W),
    Gzip(flate2::write::GzEncoder<W>),
}

impl<W: Write> Write for Compressed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressed::Plain(out) => out.write(buf),
            Compressed::Gzip(out) => out.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressed::Plain(out) => out.flush(),
            Compressed::Gzip(out) => out.flush(),
        }
    }
}

impl<W: Write> Writer<W> {
    pub fn new(out: W, compression: Compression) -> Writer<W> {
        let out = match compression {
            Compression::None => Compressed::Plain(out),
            Compression::Gzip => Compressed::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .operating_system(255)
                    .write(out, flate2::Compression::default()),
            ),
        };
        Writer {
            out,
            scratch: Vec::with_capacity(BLOCK),
        }
    }

    /// Adds the file `path` (`/`-separated, relative) of `size` bytes, read from `data`; an
    /// error if `data` holds fewer or more (the file changed while it was archived).
    pub fn add(&mut self, path: &str, size: u64, data: impl Read) -> io::Result<()> {
        self.scratch.clear();
        header(path, size, &mut self.scratch);
        self.out.write_all(&self.scratch)?;
        // One byte more than the size, to tell a file that grew.
        let copied = io::copy(&mut data.take(size.saturating_add(1)), &mut self.out)?;
        if copied != size {
            return Err(io::Error::other(format!(
                "{path} changed while it was archived: {copied} bytes where {size} were expected"
            )));
        }
        let padding = (BLOCK - (size % BLOCK as u64) as usize) % BLOCK;
        self.out.write_all(&[0; BLOCK][..padding])
    }

    /// Ends the archive (and its compression); returns where it went.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0; 2 * BLOCK])?;
        match self.out {
            Compressed::Plain(out) => Ok(out),
            Compressed::Gzip(out) => out.finish(),
        }
    }
}

/// How a path is written in a ustar header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Name {
    /// In the name field.
    Whole,
    /// The part before the `/` at this index in the prefix field, the part after it in the name
    /// field.
    Split(usize),
    /// In a GNU long-name entry of its own.
    Long,
}

impl Name {
    fn of(path: &[u8]) -> Name {
        if path.len() <= NAME {
            return Name::Whole;
        }
        // The longest prefix that fits leaves the shortest name.
        let slash = path[..path.len().min(PREFIX + 1)]
            .iter()
            .rposition(|&byte| byte == b'/');
        match slash {
            Some(slash) if slash > 0 && (1..=NAME).contains(&(path.len() - slash - 1)) => {
                Name::Split(slash)
            }
            _ => Name::Long,
        }
    }
}

/// The bytes a file's entry takes in the archive: its header, a long name's entry if it needs
/// one, and its bytes padded to whole blocks.
fn entry_len(path: &[u8], size: u64) -> u64 {
    let header = match Name::of(path) {
        Name::Whole | Name::Split(_) => BLOCK,
        Name::Long => 2 * BLOCK + padded(path.len() + 1),
    };
    header as u64 + size.div_ceil(BLOCK as u64) * BLOCK as u64
}

/// `len` rounded up to whole blocks.
fn padded(len: usize) -> usize {
    len.div_ceil(BLOCK) * BLOCK
}

/// Zeros to the end of the last block of `bytes`.
fn pad(bytes: &mut Vec<u8>) {
    let len = padded(bytes.len());
    bytes.resize(len, 0);
}

/// Appends the header of the file `path` of `size` bytes (preceded by a long name's entry where
/// the path needs one) to `into`, which ends at a block's end.
fn header(text: &str, size: u64, into: &mut Vec<u8>) {
    let path = text.as_bytes();
    let mut header = fresh(tar::Header::new_ustar(), tar::EntryType::Regular, size);
    let fields = header.as_ustar_mut().expect("a ustar header");
    match Name::of(path) {
        Name::Whole => fields.name[..path.len()].copy_from_slice(path),
        Name::Split(slash) => {
            fields.prefix[..slash].copy_from_slice(&path[..slash]);
            fields.name[..path.len() - slash - 1].copy_from_slice(&path[slash + 1..]);
        }
        Name::Long => {
            // Its size counts the zero that ends the path, as GNU tar writes it.
            let kind = tar::EntryType::GNULongName;
            let mut long = fresh(tar::Header::new_gnu(), kind, path.len() as u64 + 1);
            long.as_gnu_mut().expect("a GNU header").name[..LONG_LINK.len()]
                .copy_from_slice(LONG_LINK);
            long.set_cksum();
            into.extend_from_slice(long.as_bytes());
            into.extend_from_slice(path);
            into.push(0);
            pad(into);
            // The header holds what its name field can of the path, cut at a character's end,
            // for a reader that knows no long names.
            let cut = (0..=NAME)
                .rev()
                .find(|&cut| text.is_char_boundary(cut))
                .unwrap_or(0);
            fields.name[..cut].copy_from_slice(&path[..cut]);
        }
    }
    header.set_cksum();
    into.extend_from_slice(header.as_bytes());
}

/// `header` (empty, of its format) made an entry of `kind` and `size` bytes, with nothing of the
/// machine that writes it: mode 0644, owner and group 0 without names, time 0; no name yet.
fn fresh(mut header: tar::Header, kind: tar::EntryType, size: u64) -> tar::Header {
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

fn collect(
    root: &Path,
    relative: String,
    files: &mut Vec<(String, u64)>,
) -> Result<(), ArchiveError> {
    let here = root.join(&relative);
    let entries = std::fs::read_dir(&here).map_err(|e| ArchiveError::io(&here, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| ArchiveError::io(&here, e))?;
        let name = entry.file_name();
        let name = name.to_str().ok_or_else(|| ArchiveError::Invalid {
            archive: here.display().to_string(),
            what: format!(
                "{:?} is not a UTF-8 name, which no export holds",
                entry.file_name()
            ),
        })?;
        let path = if relative.is_empty() {
            name.to_owned()
        } else {
            format!("{relative}/{name}")
        };
        let kind = entry
            .file_type()
            .map_err(|e| ArchiveError::io(&entry.path(), e))?;
        if kind.is_dir() {
            collect(root, path, files)?;
        } else if kind.is_file() {
            let size = entry
                .metadata()
                .map_err(|e| ArchiveError::io(&entry.path(), e))?
                .len();
            files.push((path, size));
        } else {
            return Err(ArchiveError::Invalid {
                archive: root.display().to_string(),
                what: format!("{path} is neither a file nor a folder, which no export holds"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Seek;

    #[test]
    fn a_long_path_is_split_where_its_name_is_shortest_or_else_named_apart() {
        let path = |parts: &[usize]| {
            parts
                .iter()
                .map(|&n| "a".repeat(n))
                .collect::<Vec<_>>()
                .join("/")
        };
        assert_eq!(Name::of(path(&[100]).as_bytes()), Name::Whole);
        assert_eq!(Name::of(path(&[50, 49]).as_bytes()), Name::Whole);
        // 60 + 1 + 60 + 1 + 20: the prefix takes the first two parts.
        assert_eq!(Name::of(path(&[60, 60, 20]).as_bytes()), Name::Split(121));
        // The prefix field holds 155 bytes: a `/` at 155 splits, one at 156 does not.
        assert_eq!(Name::of(path(&[155, 100]).as_bytes()), Name::Split(155));
        assert_eq!(Name::of(path(&[156, 10]).as_bytes()), Name::Long);
        // The name field holds 100 bytes.
        assert_eq!(Name::of(path(&[10, 101]).as_bytes()), Name::Long);
        assert_eq!(Name::of(path(&[150]).as_bytes()), Name::Long);
        // Nothing before the first `/` (an absolute path) is not a prefix.
        assert_eq!(
            Name::of(format!("/{}", path(&[100])).as_bytes()),
            Name::Long
        );
        // Nothing after the last `/`.
        assert_eq!(
            Name::of(format!("{}/", path(&[100])).as_bytes()),
            Name::Long
        );
    }

    /// Files in a spool-like file, written by [`write_stored`] on any number of threads and by
    /// [`Writer`]: the same bytes, which tar-rs and GNU tar read back as the files.
    #[test]
    fn an_archive_is_the_same_bytes_on_any_number_of_threads_and_reads_back() {
        let long = |n| "d".repeat(n);
        let files: Vec<(String, Vec<u8>)> = vec![
            ("cuttle-export.json".into(), b"{}\n".to_vec()),
            ("empty.json".into(), Vec::new()),
            (format!("{}/split.json", long(120)), vec![b'x'; 512]),
            (format!("{}/{}", long(20), long(130)), vec![b'y'; 513]),
            // A long name cut for its header at a character's end: `é` is two bytes.
            (format!("{}é{}", long(99), long(10)), b"accent".to_vec()),
            (format!("{}/z.json", long(200)), vec![b'z'; 3 * WRITE + 7]),
            // Fields filled to their last byte: a name of 100 bytes, a prefix of 155.
            (long(100), b"name".to_vec()),
            (
                format!("{}/{}", long(155), "n".repeat(100)),
                b"both".to_vec(),
            ),
        ];
        let mut data = tempfile::tempfile().unwrap();
        let mut entries = Vec::new();
        let mut offset = 0;
        for (path, bytes) in &files {
            data.write_all(bytes).unwrap();
            entries.push((path.as_str(), offset, bytes.len() as u64));
            offset += bytes.len() as u64;
        }
        let entries: Vec<(&str, Stored<'_>)> = entries
            .into_iter()
            .map(|(path, offset, len)| {
                let stored = Stored {
                    file: &data,
                    offset,
                    len,
                };
                (path, stored)
            })
            .collect();
        let written = |compression, threads| {
            let out = tempfile::tempfile().unwrap();
            write_stored(&out, &entries, compression, threads).unwrap();
            let mut bytes = Vec::new();
            (&out).seek(io::SeekFrom::Start(0)).unwrap();
            (&out).read_to_end(&mut bytes).unwrap();
            bytes
        };
        for compression in [Compression::None, Compression::Gzip] {
            let mut writer = Writer::new(Vec::new(), compression);
            for (path, bytes) in &files {
                writer.add(path, bytes.len() as u64, &bytes[..]).unwrap();
            }
            let expected = writer.finish().unwrap();
            for threads in [1, 2, 3, 7, 100] {
                assert!(
                    written(compression, threads) == expected,
                    "{compression:?} on {threads} threads"
                );
            }
        }

        let plain = written(Compression::None, 2);
        let read: Vec<(String, Vec<u8>)> = tar::Archive::new(&plain[..])
            .entries()
            .unwrap()
            .map(|entry| {
                let mut entry = entry.unwrap();
                let path = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).unwrap();
                (path, bytes)
            })
            .collect();
        assert!(read == files, "tar-rs reads the files back");

        let scratch = tempfile::tempdir().unwrap();
        let archive = scratch.path().join("out.tar");
        std::fs::write(&archive, &plain).unwrap();
        let listed = std::process::Command::new("tar")
            .arg("-tvf")
            .arg(&archive)
            .output()
            .unwrap();
        assert!(listed.status.success(), "{listed:?}");
        let listed = String::from_utf8(listed.stdout).unwrap();
        for (path, bytes) in &files {
            let line = listed
                .lines()
                .find(|line| line.ends_with(&format!(" {path}")))
                .unwrap_or_else(|| panic!("GNU tar lists {path}:\n{listed}"));
            assert!(line.starts_with("-rw-r--r-- 0/0"), "{line}");
            assert!(
                line.contains(&format!(" {} 1970-01-01 00:00 ", bytes.len())),
                "{line}"
            );
        }
        assert_eq!(listed.lines().count(), files.len(), "{listed}");
    }

    /// An archive has no name until it is whole: a process killed while writing it leaves
    /// nothing behind, and the file it replaces stays as it was until then.
    #[test]
    fn an_archive_has_no_name_until_it_is_whole() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.tar");
        let listed = || crate::unnamed::listed(dir.path());
        std::fs::write(&path, b"before").unwrap();
        write_whole_file(&path, |file| {
            assert_eq!(
                listed(),
                ["out.tar"],
                "nothing else is named while it is written"
            );
            (&*file).write_all(b"after").unwrap();
            Ok(())
        })
        .unwrap();
        assert_eq!(listed(), ["out.tar"]);
        assert_eq!(std::fs::read(&path).unwrap(), b"after");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let failed = write_whole_file(&path, |file| {
            (&*file).write_all(b"half").unwrap();
            Err(ArchiveError::Cancelled)
        });
        assert!(matches!(failed, Err(ArchiveError::Cancelled)));
        assert_eq!(listed(), ["out.tar"], "a failed write leaves nothing");
        assert_eq!(std::fs::read(&path).unwrap(), b"after");
    }

    #[test]
    fn a_file_that_changed_while_it_was_archived_is_an_error() {
        let mut writer = Writer::new(Vec::new(), Compression::None);
        let grew = writer.add("a.json", 2, &b"{}\n"[..]).unwrap_err();
        assert!(
            grew.to_string()
                .contains("a.json changed while it was archived"),
            "{grew}"
        );
        let shrank = writer.add("b.json", 4, &b"{}\n"[..]).unwrap_err();
        assert!(
            shrank.to_string().contains("3 bytes where 4 were expected"),
            "{shrank}"
        );
    }
}
