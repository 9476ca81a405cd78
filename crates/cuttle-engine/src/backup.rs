//! Instance backups (SPEC 7): one file holding a consistent copy of a whole instance, its
//! sensitive values still sealed under the instance's master key, which
//! [`read_backup`] turns back into documents that the importer takes like an export directory's.
//!
//! # The backup format, version 1
//!
//! This is a promise to users: every later Cuttle reads a backup written in this format.
//!
//! A backup is UTF-8 text, one JSON object per line, every line ending with LF (no other line
//! breaks, no blank lines). It depends on no database: a backup of a SQLite instance fills a
//! PostgreSQL one and the other way round.
//!
//! 1. **Header** (the first line):
//!
//!    ```text
//!    {"format":"cuttle-backup","formatVersion":1,"productVersion":"0.1.0","schemaVersion":1,
//!     "instance":"production","identity":"<32 hex digits>","created":"2026-01-31T12:00:00.000Z",
//!     "keyCheck":"<43 characters>","documents":{"environments":3,"machines":12,…}}
//!    ```
//!
//!    - `formatVersion`: the version of this format; a reader refuses a newer one;
//!    - `productVersion`: the Cuttle that wrote the backup; `schemaVersion`: the version of the
//!      document shapes (the domain version) of the bodies;
//!    - `instance`, `identity`: the name and the identity (as `cuttle instance show` prints it)
//!      of the instance the backup is a copy of; its sealed values are bound to that identity;
//!    - `created`: when the backup was taken (UTC, milliseconds);
//!    - `keyCheck`: HMAC-SHA-256 under a key derived from the master key (see
//!      [`cuttle_crypto::BackupKeys`]), so that a wrong master key is told apart from a damaged
//!      file; it reveals nothing of the key;
//!    - `documents`: how many records of each collection follow, in declaration order.
//!
//! 2. **Records**, one per stored document, collection by collection in declaration order (the
//!    header's), each collection ordered by owner and stored key:
//!
//!    ```text
//!    {"id":12,"collection":"environments","owner":0,"key":"Production","body":{…}}
//!    ```
//!
//!    exactly as the instance stores the document: `id` is its instance-local id, `owner` the id
//!    of its project (`0` for a top-level document), `key` its stored natural key (names, with ids
//!    where a key part is a reference, parts separated by U+001F), and `body` the document in its
//!    stored shape: references as ids, each sensitive value as `{"sealed": "…"}`, AES-256-GCM-SIV
//!    under the master key, bound to the identity, the collection, the id and the value's JSON
//!    pointer. Everything the instance holds is there: configuration, history, task logs.
//!
//! 3. **Trailer** (the last line):
//!
//!    ```text
//!    {"end":"cuttle-backup","records":1234,"sha256":"<43 characters>","mac":"<43 characters>"}
//!    ```
//!
//!    `records` counts the records; `sha256` is SHA-256 of every byte before this line (which
//!    finds accidental damage without any key) and `mac` HMAC-SHA-256 of the same bytes under the
//!    integrity key derived from the master key (which finds any alteration), both unpadded
//!    base64url.
//!
//! Nothing in a backup is a plaintext secret; whoever holds the file and the master key holds
//! every secret of the instance. The file is written with mode 0600.
//!
//! # Reading
//!
//! [`read_backup`] checks, in this order: that the file is a regular file (not a symbolic link);
//! that its first line is a backup header ("not a Cuttle backup"); that its format version is not
//! newer than [`BACKUP_FORMAT_VERSION`] (unless told to ignore it); that it ends with its trailer
//! and the SHA-256 matches ("damaged"); that the MAC matches, or else whether the key check does
//! ("wrong master key" when it does not, "altered" when it does). Only then are records parsed,
//! in a second pass that computes the MAC again, so that a file changed between the passes is
//! caught. Records are rendered into the export shape, each sensitive value opened with the
//! source's master key and encrypted under the caller's [`ExportKey`].

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cuttle_crypto::export::ExportKey;
use cuttle_crypto::{BackupMac, MasterKey, Place, Sealer};
use cuttle_domain::decl::CollectionDecl;
use cuttle_domain::{COLLECTIONS, Collection};
use cuttle_instance::addresses::{AddressBook, may_be_named};
use cuttle_instance::codec::{self, Names};
use cuttle_instance::{Incoming, Instance, large};

use crate::spool::{Span, Spool};
use crate::unnamed::Unnamed;
use cuttle_store::{DocId, StoreError, StoredDoc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The version of the backup format this Cuttle writes, and the newest it reads.
pub const BACKUP_FORMAT_VERSION: u32 = 1;

/// The `format` of a header and the `end` of a trailer.
const FORMAT: &str = "cuttle-backup";
/// A header line is never longer than this (it counts the documents of each collection).
const HEADER_LIMIT: u64 = 1 << 20;
/// A trailer line is never longer than this.
const TRAILER_LIMIT: u64 = 4096;
/// The size of read and write buffers.
const BUFFER: usize = 1 << 16;

/// What a backup wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackupSummary {
    /// Records (stored documents) in the file.
    pub documents: u64,
    /// The size of the file.
    pub bytes: u64,
}

/// A backup's header, checked (see the module's documentation for its fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupHeader {
    pub format_version: u32,
    /// The Cuttle that wrote the backup.
    pub product_version: String,
    /// The version of the document shapes (the domain version).
    pub schema_version: u32,
    /// The name of the instance it is a copy of.
    pub instance: String,
    /// The identity of the instance it is a copy of.
    pub identity: [u8; 16],
    /// When the backup was taken: RFC 3339, UTC, milliseconds.
    pub created: String,
    pub key_check: String,
    /// Documents per collection, in declaration order.
    pub documents: Vec<(Collection, u64)>,
}

impl BackupHeader {
    /// The identity as `cuttle instance show` prints it (32 hex digits).
    pub fn identity_hex(&self) -> String {
        hex(&self.identity)
    }
}

/// A backup read back and checked: its header and its documents.
#[derive(Debug)]
pub struct BackupSource<'k> {
    pub header: BackupHeader,
    pub documents: BackupDocuments<'k>,
}

/// The documents of a checked backup, in its order, each rendered into the export shape when it
/// is taken: references by name, sensitive values as `{"encrypted": …}` under the [`ExportKey`]
/// given to [`read_backup`]. The records wait in a spool (a temporary file), so that a backup is
/// not held in memory; what is, is each record's address (for the references by name).
pub struct BackupDocuments<'k> {
    file: PathBuf,
    spool: Spool,
    rows: std::vec::IntoIter<Row>,
    /// The number of the next record, counting from 1.
    number: usize,
    names: Names<'static>,
    sealer: Sealer,
    key: &'k ExportKey,
}

impl std::fmt::Debug for BackupDocuments<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupDocuments")
            .field("file", &self.file)
            .field("left", &self.rows.len())
            .finish_non_exhaustive()
    }
}

impl Iterator for BackupDocuments<'_> {
    type Item = Result<Incoming, BackupError>;

    fn next(&mut self) -> Option<Self::Item> {
        let row = self.rows.next()?;
        let number = self.number;
        self.number += 1;
        Some(self.render(row, number))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.rows.size_hint()
    }
}

impl ExactSizeIterator for BackupDocuments<'_> {}

impl BackupDocuments<'_> {
    /// The record `number` (counting from 1), rendered.
    fn render(&mut self, row: Row, number: usize) -> Result<Incoming, BackupError> {
        let invalid = |message: String| BackupError::Invalid {
            path: self.file.clone(),
            message,
        };
        let body = self
            .spool
            .read(row.body)
            .map_err(io_error("reading back the records of", &self.file))?;
        let decl = row.collection.decl();
        let mut unopened: Option<String> = None;
        let (sealer, key) = (&self.sealer, self.key);
        let mut secret = |slot: &mut Value, place: Place<'_>| {
            if crate::export::reencrypt(sealer, key, slot, place).is_err() {
                unopened.get_or_insert_with(|| place.pointer.to_owned());
            }
            Ok(())
        };
        let damaged = |e: StoreError| invalid(format!("record {number}: {e}"));
        // A large document is rendered an element at a time ([`large`]), into the same text.
        let (json, head) = match large::render(decl, row.id, &body, &mut self.names, &mut secret)
            .map_err(damaged)?
        {
            Some(rendering) => {
                let mut json = Vec::with_capacity(body.len());
                let (names, field) = (&mut self.names, rendering.field());
                large::print_with(
                    &rendering.head,
                    field,
                    rendering.len(),
                    large::Print::Compact,
                    &mut json,
                    &mut |index| rendering.element(index, names, &mut secret),
                )
                .map_err(damaged)?;
                let json = String::from_utf8(json).expect("serde_json writes UTF-8");
                (json, rendering.head)
            }
            None => {
                let value = codec::render(decl, row.id, &body, &mut self.names, &mut secret)
                    .map_err(damaged)?;
                (value.to_string(), value)
            }
        };
        if let Some(pointer) = unopened {
            return Err(invalid(format!(
                "record {number} ({}): the sensitive value at {pointer} does not open under the master key, though the backup is intact; the instance it was made from held a damaged value",
                cuttle_instance::documents::describe(decl, &head)
            )));
        }
        Ok(Incoming {
            collection: row.collection,
            origin: format!("{}, record {number}", self.file.display()),
            json,
        })
    }
}

/// What can go wrong with a backup. No message holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{}: not a Cuttle backup ({detail})", path.display())]
    NotABackup { path: PathBuf, detail: String },
    #[error(
        "{}: the backup is damaged or was altered (integrity check failed): {detail}; restore it from another copy",
        path.display()
    )]
    Integrity { path: PathBuf, detail: String },
    #[error(
        "{}: wrong master key for this backup: it was made from the instance with identity {identity}; give that instance's master key",
        path.display()
    )]
    WrongMasterKey { path: PathBuf, identity: String },
    #[error(
        "{}: made by a newer Cuttle (format {found}); this one reads up to {supported}: upgrade Cuttle",
        path.display(),
        supported = BACKUP_FORMAT_VERSION
    )]
    NewerFormat { path: PathBuf, found: u64 },
    #[error(
        "{} already exists; a backup never replaces a file: choose another file name, or remove that file first",
        path.display()
    )]
    Exists { path: PathBuf },
    /// Not a regular file, a symbolic link, and the like.
    #[error("{}: {message}", path.display())]
    Refused { path: PathBuf, message: String },
    /// Intact (its integrity check passed) but not something this Cuttle understands.
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io_error(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BackupError {
    let path = path.to_owned();
    move |source| BackupError::Io { what, path, source }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex16(text: &str) -> Option<[u8; 16]> {
    if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HeaderLine {
    format: String,
    format_version: u32,
    product_version: String,
    schema_version: u32,
    instance: String,
    identity: String,
    created: String,
    key_check: String,
    documents: Map<String, Value>,
}

#[derive(Serialize, Deserialize)]
struct TrailerLine {
    end: String,
    records: u64,
    sha256: String,
    mac: String,
}

#[derive(Deserialize)]
struct RecordLine<'a> {
    id: DocId,
    #[serde(borrow)]
    collection: Cow<'a, str>,
    owner: DocId,
    key: String,
    #[serde(borrow)]
    body: &'a RawValue,
}

fn decl_named(name: &str) -> Option<&'static CollectionDecl> {
    COLLECTIONS.iter().find(|d| d.name == name)
}

// ---------------------------------------------------------------------------------------------
// Writing.

/// Feeds every byte written to the file to the SHA-256 and the MAC of the trailer.
struct Hashing<'f> {
    file: &'f File,
    sha: Sha256,
    mac: BackupMac,
}

impl Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut file = self.file;
        let n = file.write(buf)?;
        self.sha.update(&buf[..n]);
        self.mac.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut file = self.file;
        file.flush()
    }
}

impl BackupError {
    /// What can be done about it, where something can.
    pub fn hint(&self) -> Option<cuttle_instance::error::Hint> {
        match self {
            BackupError::NewerFormat { .. } => {
                Some(cuttle_instance::error::Hint::IgnoreVersionCheck)
            }
            _ => None,
        }
    }
}

/// Writes a consistent backup of the whole instance (one read snapshot) into `file`, mode 0600:
/// into a file in the same directory that has no name until it is complete ([`Unnamed`]), so
/// that `file` is either absent or a whole backup, and a process killed meanwhile leaves
/// nothing. Refused if `file` exists (a symbolic link included). Memory does not grow with the
/// instance: records are streamed.
pub fn write_backup(instance: &mut Instance, file: &Path) -> Result<BackupSummary, BackupError> {
    if fs::symlink_metadata(file).is_ok() {
        return Err(BackupError::Exists {
            path: file.to_owned(),
        });
    }
    let dir = crate::unnamed::folder_of(file).to_owned();
    let temp = Unnamed::new_in(&dir, ".cuttle-backup-")
        .map_err(io_error("creating a temporary file in", &dir))?;

    let keys = instance.master_key().backup_keys();
    let identity = instance.identity();
    let name = instance.name().to_owned();
    let writing = io_error("writing", file);
    let (store, _) = instance.parts();
    let mut read = store.read()?;

    let mut counts = Vec::with_capacity(COLLECTIONS.len());
    let mut documents = Map::new();
    for decl in COLLECTIONS {
        let n = read.count(decl.collection)?;
        counts.push(n);
        documents.insert(decl.name.to_owned(), Value::from(n));
    }
    let header = HeaderLine {
        format: FORMAT.to_owned(),
        format_version: BACKUP_FORMAT_VERSION,
        product_version: cuttle_instance::instance::PRODUCT_VERSION.to_owned(),
        schema_version: cuttle_domain::DOMAIN_VERSION,
        instance: name,
        identity: hex(&identity),
        created: cuttle_domain::documents::Timestamp::now()
            .as_str()
            .to_owned(),
        key_check: keys.key_check(),
        documents,
    };

    let mut out = BufWriter::with_capacity(
        BUFFER,
        Hashing {
            file: temp.file(),
            sha: Sha256::new(),
            mac: keys.integrity(),
        },
    );
    let mut header_line = serde_json::to_vec(&header).expect("a header serializes");
    header_line.push(b'\n');
    out.write_all(&header_line)
        .map_err(io_error("writing", file))?;

    let mut records = 0u64;
    for (decl, expected) in COLLECTIONS.iter().zip(counts) {
        let mut written = 0u64;
        let mut failure = None;
        let scanned = read.scan(decl.collection, None, &mut |doc| {
            write_record(&mut out, decl, &doc).map_err(|error| {
                let message = error.to_string();
                failure = Some(error);
                StoreError::Corrupt(message)
            })?;
            written += 1;
            Ok(())
        });
        if let Some(error) = failure {
            return Err(match error {
                RecordError::Io(e) => writing(e),
                RecordError::Store(e) => BackupError::Store(e),
            });
        }
        scanned?;
        if written != expected {
            return Err(BackupError::Store(StoreError::Corrupt(format!(
                "the snapshot counted {expected} {} but gave {written}",
                decl.name
            ))));
        }
        records += written;
    }
    drop(read);

    let hashing = out
        .into_inner()
        .map_err(|e| io_error("writing", file)(e.into_error()))?;
    let trailer = TrailerLine {
        end: FORMAT.to_owned(),
        records,
        sha256: URL_SAFE_NO_PAD.encode(hashing.sha.finalize()),
        mac: hashing.mac.finish(),
    };
    let mut trailer_line = serde_json::to_vec(&trailer).expect("a trailer serializes");
    trailer_line.push(b'\n');
    let mut handle = temp.file();
    handle
        .write_all(&trailer_line)
        .and_then(|()| handle.sync_all())
        .map_err(io_error("writing", file))?;
    let bytes = handle
        .metadata()
        .map_err(io_error("reading the size of", file))?
        .len();

    temp.create(file).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            BackupError::Exists {
                path: file.to_owned(),
            }
        } else {
            io_error("moving the finished backup to", file)(e)
        }
    })?;
    // Make the new name durable too (best effort: not every platform can sync a directory).
    if let Ok(dir) = File::open(&dir) {
        let _ = dir.sync_all();
    }
    Ok(BackupSummary {
        documents: records,
        bytes,
    })
}

enum RecordError {
    Io(io::Error),
    Store(StoreError),
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::Io(e) => e.fmt(f),
            RecordError::Store(e) => e.fmt(f),
        }
    }
}

/// One record line: the stored body goes in verbatim (checked to be JSON on one line).
fn write_record(
    out: &mut impl Write,
    decl: &CollectionDecl,
    doc: &StoredDoc,
) -> Result<(), RecordError> {
    if serde_json::from_str::<serde::de::IgnoredAny>(&doc.body).is_err() {
        return Err(RecordError::Store(StoreError::Corrupt(format!(
            "{} document {} does not hold valid JSON",
            decl.name, doc.id
        ))));
    }
    let body: Cow<'_, str> = if doc.body.bytes().any(|b| b == b'\n' || b == b'\r') {
        let value: Value = serde_json::from_str(&doc.body).expect("just checked");
        Cow::Owned(value.to_string())
    } else {
        Cow::Borrowed(&doc.body)
    };
    (|| {
        write!(
            out,
            "{{\"id\":{},\"collection\":\"{}\",\"owner\":{},\"key\":",
            doc.id, decl.name, doc.owner
        )?;
        serde_json::to_writer(&mut *out, &doc.key)?;
        out.write_all(b",\"body\":")?;
        out.write_all(body.as_bytes())?;
        out.write_all(b"}\n")
    })()
    .map_err(RecordError::Io)
}

// ---------------------------------------------------------------------------------------------
// Reading.

/// Opens `file` for reading if it is a regular file, not through a symbolic link.
fn open_regular(file: &Path) -> Result<File, BackupError> {
    let refused = |message: &str| BackupError::Refused {
        path: file.to_owned(),
        message: message.to_owned(),
    };
    let meta = fs::symlink_metadata(file).map_err(io_error("reading", file))?;
    if meta.file_type().is_symlink() {
        return Err(refused(
            "is a symbolic link; a backup is read from a regular file only: give the file's own path",
        ));
    }
    if !meta.is_file() {
        return Err(refused("is not a regular file, so it is not a backup"));
    }
    let opened = File::open(file).map_err(io_error("opening", file))?;
    let now = opened.metadata().map_err(io_error("reading", file))?;
    #[cfg(unix)]
    let same = {
        use std::os::unix::fs::MetadataExt;
        now.dev() == meta.dev() && now.ino() == meta.ino()
    };
    #[cfg(not(unix))]
    let same = true;
    if !now.is_file() || !same {
        return Err(refused("was replaced while being opened; try again"));
    }
    Ok(opened)
}

/// What a backup's first line starts with.
const HEADER_PREFIX: &[u8] = b"{\"format\":\"cuttle-backup\"";

/// Reads the first line (with its LF) and what it says, if it is a backup header.
fn read_header_line(f: &File, file: &Path) -> Result<(Vec<u8>, Option<Value>), BackupError> {
    let mut line = Vec::new();
    BufReader::new(f.take(HEADER_LIMIT))
        .read_until(b'\n', &mut line)
        .map_err(io_error("reading", file))?;
    let probe = line
        .strip_suffix(b"\n")
        .and_then(|text| serde_json::from_slice::<Value>(text).ok())
        .filter(|v| v.get("format").and_then(Value::as_str) == Some(FORMAT));
    Ok((line, probe))
}

/// Why a file whose first line is not a backup header is refused: a backup damaged in its header
/// or cut short inside it is told apart from a file that never was a backup.
fn bad_header(f: &File, file: &Path, line: &[u8], len: u64) -> BackupError {
    let damaged = |detail: &str| BackupError::Integrity {
        path: file.to_owned(),
        detail: detail.to_owned(),
    };
    if line.is_empty() {
        return BackupError::NotABackup {
            path: file.to_owned(),
            detail: "the file is empty".into(),
        };
    }
    if line.last() != Some(&b'\n')
        && (line.starts_with(HEADER_PREFIX) || HEADER_PREFIX.starts_with(line))
        && (line.len() as u64) < HEADER_LIMIT
    {
        return damaged("it ends inside its header: the file was cut short");
    }
    if read_trailer(f, file, len, 0).is_ok() {
        return damaged("its header is damaged");
    }
    BackupError::NotABackup {
        path: file.to_owned(),
        detail: "its first line is not a backup header".into(),
    }
}

/// Finds and reads the trailer: the last line, after the header. Returns it and where it starts.
fn read_trailer(
    mut f: &File,
    file: &Path,
    len: u64,
    header_end: u64,
) -> Result<(TrailerLine, u64), BackupError> {
    let damaged = |detail: &str| BackupError::Integrity {
        path: file.to_owned(),
        detail: detail.to_owned(),
    };
    if len <= header_end {
        return Err(damaged(
            "it ends after its header, without records or end record: the file was cut short",
        ));
    }
    let start = header_end.max(len.saturating_sub(TRAILER_LIMIT));
    f.seek(SeekFrom::Start(start))
        .map_err(io_error("reading", file))?;
    let mut tail = Vec::with_capacity((len - start) as usize);
    f.take(len - start)
        .read_to_end(&mut tail)
        .map_err(io_error("reading", file))?;
    let cut = || damaged("it does not end with its end record: the file was cut short");
    if tail.len() as u64 != len - start || tail.last() != Some(&b'\n') {
        return Err(cut());
    }
    let body = &tail[..tail.len() - 1];
    let line_start = match body.iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None if start == header_end => 0,
        None => return Err(cut()),
    };
    let trailer: TrailerLine = serde_json::from_slice(&body[line_start..]).map_err(|_| cut())?;
    if trailer.end != FORMAT {
        return Err(cut());
    }
    Ok((trailer, start + line_start as u64))
}

/// SHA-256 and MAC of the first `end` bytes of `f`.
fn hash_prefix(
    mut f: &File,
    file: &Path,
    end: u64,
    mut mac: BackupMac,
) -> Result<([u8; 32], BackupMac), BackupError> {
    f.seek(SeekFrom::Start(0))
        .map_err(io_error("reading", file))?;
    let mut sha = Sha256::new();
    let mut reader = f.take(end);
    let mut buffer = vec![0u8; BUFFER];
    let mut total = 0u64;
    loop {
        let n = reader
            .read(&mut buffer)
            .map_err(io_error("reading", file))?;
        if n == 0 {
            break;
        }
        sha.update(&buffer[..n]);
        mac.update(&buffer[..n]);
        total += n as u64;
    }
    if total != end {
        return Err(BackupError::Integrity {
            path: file.to_owned(),
            detail: "it became shorter while being read".into(),
        });
    }
    Ok((sha.finalize().into(), mac))
}

/// A record kept between parsing and rendering: its body waits in the spool.
struct Row {
    collection: Collection,
    id: DocId,
    body: Span,
}

/// Reads and checks the backup `file` made from an instance whose master key is `master_key`;
/// its documents are then rendered, as they are taken, into the export shape with every
/// sensitive value encrypted under `key` (`{"encrypted": …}`), as an export directory holds
/// them: the importer treats a backup like an export. Each document's `origin` names the file
/// and the record (`backup.cuttle, record 17`, counting from 1). See the module's documentation
/// for the order of the checks: every one of them is made before this returns. A header of a
/// newer format is refused unless `ignore_version_check`.
pub fn read_backup<'k>(
    file: &Path,
    master_key: &MasterKey,
    key: &'k ExportKey,
    ignore_version_check: bool,
) -> Result<BackupSource<'k>, BackupError> {
    let f = open_regular(file)?;
    let len = f.metadata().map_err(io_error("reading", file))?.len();
    let damaged = |detail: &str| BackupError::Integrity {
        path: file.to_owned(),
        detail: detail.to_owned(),
    };
    let invalid = |message: String| BackupError::Invalid {
        path: file.to_owned(),
        message,
    };

    // The header, as far as needed before the integrity check.
    let (header_line, probe) = read_header_line(&f, file)?;
    let Some(probe) = probe else {
        return Err(bad_header(&f, file, &header_line, len));
    };
    let header_end = header_line.len() as u64;
    if let Some(found) = probe.get("formatVersion").and_then(Value::as_u64)
        && found > u64::from(BACKUP_FORMAT_VERSION)
        && !ignore_version_check
    {
        return Err(BackupError::NewerFormat {
            path: file.to_owned(),
            found,
        });
    }

    // Integrity: the whole file, before any record is parsed.
    let (trailer, trailer_start) = read_trailer(&f, file, len, header_end)?;
    let keys = master_key.backup_keys();
    let (sha, mac) = hash_prefix(&f, file, trailer_start, keys.integrity())?;
    if URL_SAFE_NO_PAD.encode(sha) != trailer.sha256 {
        return Err(damaged("its checksum does not match its content"));
    }
    if !mac.verify(&trailer.mac) {
        let key_check = probe.get("keyCheck").and_then(Value::as_str).unwrap_or("");
        if keys.verify_key_check(key_check) {
            return Err(damaged(
                "its content does not match its integrity check, though the master key is right",
            ));
        }
        return Err(BackupError::WrongMasterKey {
            path: file.to_owned(),
            // Not yet authenticated: shown only if it looks like an identity.
            identity: probe
                .get("identity")
                .and_then(Value::as_str)
                .filter(|text| unhex16(text).is_some())
                .unwrap_or("(unknown)")
                .to_owned(),
        });
    }

    // The header, whole: it is intact now.
    let header = parse_header(&header_line[..header_line.len() - 1]).map_err(invalid)?;

    // The records, in a second pass that checks the MAC again.
    (&f).seek(SeekFrom::Start(header_end))
        .map_err(io_error("reading", file))?;
    let mut reader = BufReader::with_capacity(BUFFER, (&f).take(trailer_start - header_end));
    let mut mac = keys.integrity();
    mac.update(&header_line);
    let mut rows = Vec::with_capacity(trailer.records.min(1 << 20) as usize);
    let mut spool = Spool::new().map_err(io_error("making a temporary file for", file))?;
    // The addresses of the documents that others may name, for rendering references.
    let mut book = AddressBook::default();
    let mut counts: HashMap<Collection, u64> = HashMap::new();
    let mut line = Vec::new();
    let mut last_collection = 0usize;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(io_error("reading", file))?;
        if n == 0 {
            break;
        }
        mac.update(&line);
        let number = rows.len() + 1;
        let at = |message: String| format!("record {number} (line {}): {message}", number + 1);
        let record: RecordLine<'_> = serde_json::from_slice(&line)
            .map_err(|e| invalid(at(format!("not a backup record: {e}"))))?;
        let Some(position) = COLLECTIONS.iter().position(|d| d.name == record.collection) else {
            return Err(invalid(at(format!(
                "{:?} is not a collection this Cuttle knows",
                record.collection
            ))));
        };
        if position < last_collection {
            return Err(invalid(at(format!(
                "a record of {} after records of {}: collections come in declaration order",
                record.collection, COLLECTIONS[last_collection].name
            ))));
        }
        last_collection = position;
        let collection = COLLECTIONS[position].collection;
        if may_be_named(collection) {
            book.push(collection, record.id, record.owner, &record.key)
                .map_err(|e| invalid(at(e.to_string())))?;
        }
        *counts.entry(collection).or_default() += 1;
        let body = spool
            .push(record.body.get())
            .map_err(io_error("keeping in a temporary file the records of", file))?;
        rows.push(Row {
            collection,
            id: record.id,
            body,
        });
    }
    if !mac.verify(&trailer.mac) {
        return Err(damaged("the file changed while it was being read"));
    }
    if rows.len() as u64 != trailer.records {
        return Err(damaged(&format!(
            "its end record counts {} records, but it holds {}",
            trailer.records,
            rows.len()
        )));
    }
    for (collection, expected) in &header.documents {
        let found = counts.get(collection).copied().unwrap_or(0);
        if found != *expected {
            return Err(invalid(format!(
                "the header counts {expected} {}, but the file holds {found}",
                collection.decl().name
            )));
        }
    }

    if let Some(number) = first_repeated_id(&rows) {
        return Err(invalid(format!(
            "record {number} (line {}): the id {} is given to two records",
            number + 1,
            rows[number - 1].id
        )));
    }
    let names = Names::from_book(book).map_err(|e| invalid(e.to_string()))?;

    // Rendered as they are taken: references by name, sensitive values re-encrypted under `key`.
    let documents = BackupDocuments {
        file: file.to_owned(),
        spool,
        rows: rows.into_iter(),
        number: 1,
        names,
        sealer: Sealer::new(master_key, header.identity),
        key,
    };
    Ok(BackupSource { header, documents })
}

/// The number (counting from 1) of the first record whose id an earlier record has. The ids are
/// sorted rather than gathered in a set as the records are read: a set of every id held the large
/// sample's backup import 4 to 5 MiB higher at its peak.
fn first_repeated_id(rows: &[Row]) -> Option<usize> {
    let mut ids: Vec<DocId> = rows.iter().map(|row| row.id).collect();
    ids.sort_unstable();
    let repeated: HashSet<DocId> = ids
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    if repeated.is_empty() {
        return None;
    }
    let mut seen = HashSet::new();
    rows.iter()
        .position(|row| repeated.contains(&row.id) && !seen.insert(row.id))
        .map(|index| index + 1)
}

/// Reads only the header of `file`, **without checking it** (no key is needed): for showing what
/// a backup is. [`read_backup`] checks everything.
pub fn read_header(file: &Path) -> Result<BackupHeader, BackupError> {
    let f = open_regular(file)?;
    let (line, probe) = read_header_line(&f, file)?;
    if probe.is_none() {
        let len = f.metadata().map_err(io_error("reading", file))?.len();
        return Err(bad_header(&f, file, &line, len));
    }
    parse_header(&line[..line.len() - 1]).map_err(|message| BackupError::Invalid {
        path: file.to_owned(),
        message,
    })
}

fn parse_header(line: &[u8]) -> Result<BackupHeader, String> {
    let header: HeaderLine = serde_json::from_slice(line)
        .map_err(|e| format!("its header is not one this Cuttle understands: {e}"))?;
    if header.format_version == 0 {
        return Err("its header gives format version 0, which no Cuttle writes".into());
    }
    let identity =
        unhex16(&header.identity).ok_or("its header's identity is not 32 hex digits (16 bytes)")?;
    let mut documents = Vec::with_capacity(header.documents.len());
    for (name, count) in &header.documents {
        let decl = decl_named(name).ok_or_else(|| {
            format!("its header counts {name:?}, a collection this Cuttle does not know")
        })?;
        let count = count
            .as_u64()
            .ok_or_else(|| format!("its header's count of {name} is not a number"))?;
        documents.push((decl.collection, count));
    }
    Ok(BackupHeader {
        format_version: header.format_version,
        product_version: header.product_version,
        schema_version: header.schema_version,
        instance: header.instance,
        identity,
        created: header.created,
        key_check: header.key_check,
        documents,
    })
}
