//! The files Cuttle reads and the private files it keeps, in one place (SPEC 8: huge files and
//! special files give a clear error; key files are 0600).
//!
//! **Reads** are bounded by what the file holds: at most `limit` bytes are taken
//! ([`Read::take`] of `limit + 1`, then checked), whatever the file's metadata says, so that
//! `/dev/zero`, a growing file or an endless pipe cannot take the memory. The file must be a
//! regular file; where a person gives a path to a secret or a document, a pipe too (`--password-file
//! <(pass show cuttle)`). Directories, devices and sockets are refused, naming the file. A pipe is
//! opened without waiting for a writer, so a named FIFO that nobody writes to reads as empty
//! instead of hanging; what is opened is checked again, so a file swapped in meanwhile is refused
//! as well. Text must be UTF-8. The bytes read are wiped when dropped (they may be a secret).
//!
//! **Private files** (a master key, a registration that may hold a database password, the
//! embedded database) are only ever readable by their owner, whatever the umask: written to a
//! temporary file made 0600 before anything goes into it, then renamed (or linked, where nothing
//! may be replaced) into place, and checked. **Private folders** are made 0700. What an earlier
//! Cuttle left open to others under a permissive umask loses what others may do ([`tighten`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The largest password file: the password is its first line.
pub const PASSWORD_FILE_LIMIT: u64 = 64 << 10;
/// The largest master-key file: one line of 44 characters.
pub const KEY_FILE_LIMIT: u64 = 4 << 10;
/// The largest registration (`instance.json`): a name, a database URL and a path.
pub const REGISTRATION_LIMIT: u64 = 64 << 10;

/// What may stand at a path that is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accept {
    /// A regular file only (the files Cuttle keeps itself).
    RegularFile,
    /// A regular file or a pipe (what a person names: a password, a key, a document).
    FileOrPipe,
}

/// How long a read waits between two looks at a pipe whose writer has not written yet.
const PIPE_WAIT: Duration = Duration::from_millis(5);
/// What a read from a pipe reserves at first (it grows up to the limit).
const PIPE_START: u64 = 64 << 10;

/// `limit` for people: `64 KiB`, `64 MiB`.
pub fn size_text(limit: u64) -> String {
    if limit >= 1 << 20 && limit.trailing_zeros() >= 20 {
        format!("{} MiB", limit >> 20)
    } else if limit >= 1 << 10 && limit.trailing_zeros() >= 10 {
        format!("{} KiB", limit >> 10)
    } else {
        format!("{limit} bytes")
    }
}

/// Reads the file at `path` as UTF-8 text of at most `limit` bytes. `what` says what it is, for
/// errors ("password file": "the password file F is larger than 64 KiB, the most a password file
/// may hold").
pub fn read_text(path: &Path, what: &str, limit: u64, accept: Accept) -> Result<Zeroizing<String>> {
    let named = format!("the {what} {}", path.display());
    let bytes = read_bytes(path, &named, what, limit, accept)?;
    text(bytes, &named)
}

/// Reads `reader` (standard input) as UTF-8 text of at most `limit` bytes; `named` names it,
/// `what` says what it holds.
pub fn read_text_from(
    reader: impl Read,
    named: &str,
    what: &str,
    limit: u64,
) -> Result<Zeroizing<String>> {
    let bytes = read_limited(reader, named, what, limit, PIPE_START.min(limit + 1))?;
    text(bytes, named)
}

fn read_bytes(
    path: &Path,
    named: &str,
    what: &str,
    limit: u64,
    accept: Accept,
) -> Result<Zeroizing<Vec<u8>>> {
    let meta = fs::metadata(path).map_err(Error::io(format!("reading {named}")))?;
    check_kind(&meta, named, accept)?;
    let file = open_without_waiting(path).map_err(Error::io(format!("reading {named}")))?;
    // What was opened is what is read: a file swapped in since the look above is checked too.
    let opened = file
        .metadata()
        .map_err(Error::io(format!("reading {named}")))?;
    check_kind(&opened, named, accept)?;
    let reserve = if opened.is_file() {
        opened.len().min(limit) + 1
    } else {
        PIPE_START.min(limit + 1)
    };
    read_limited(file, named, what, limit, reserve)
}

#[cfg(unix)]
fn open_without_waiting(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_without_waiting(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).open(path)
}

/// Refuses what is not a regular file (or, where accepted, a pipe), saying what it is.
fn check_kind(meta: &fs::Metadata, named: &str, accept: Accept) -> Result<()> {
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(());
    }
    #[cfg(unix)]
    let (pipe, device, socket) = {
        use std::os::unix::fs::FileTypeExt;
        (
            kind.is_fifo(),
            kind.is_char_device() || kind.is_block_device(),
            kind.is_socket(),
        )
    };
    #[cfg(not(unix))]
    let (pipe, device, socket) = (false, false, false);
    if pipe && accept == Accept::FileOrPipe {
        return Ok(());
    }
    let is = if kind.is_dir() {
        "a directory"
    } else if pipe {
        "a pipe (FIFO)"
    } else if device {
        "a device"
    } else if socket {
        "a socket"
    } else {
        "not a regular file"
    };
    let give = match accept {
        Accept::RegularFile => "a regular file",
        Accept::FileOrPipe => "a regular file (or a pipe, such as <(command))",
    };
    Err(Error::File(format!(
        "{named} is {is}, not a file Cuttle can read: give {give}"
    )))
}

/// Reads at most `limit` bytes; more is an error. `reserve` bytes are set aside first, so that a
/// secret that fits is never copied by a reallocation.
fn read_limited(
    reader: impl Read,
    named: &str,
    what: &str,
    limit: u64,
    reserve: u64,
) -> Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(Vec::with_capacity(reserve as usize));
    let mut reader = reader.take(limit + 1);
    loop {
        match reader.read_to_end(&mut bytes) {
            Ok(_) => break,
            // A pipe opened without waiting, whose writer has not written yet.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(PIPE_WAIT),
            Err(e) => return Err(Error::io(format!("reading {named}"))(e)),
        }
    }
    if bytes.len() as u64 > limit {
        return Err(Error::File(format!(
            "{named} is larger than {}, the most a {what} may hold: is it the right file?",
            size_text(limit)
        )));
    }
    Ok(bytes)
}

fn text(mut bytes: Zeroizing<Vec<u8>>, named: &str) -> Result<Zeroizing<String>> {
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            drop(Zeroizing::new(e.into_bytes()));
            Err(Error::File(format!(
                "{named} is not UTF-8 text (at byte {at})"
            )))
        }
    }
}

/// What to do about an I/O error on a file or folder Cuttle needs to write, for a message: the
/// cause is in the error itself.
pub fn write_hint(error: &io::Error) -> &'static str {
    match error.kind() {
        io::ErrorKind::PermissionDenied => {
            "; give the user running Cuttle write access to it (or run Cuttle as the user it belongs to)"
        }
        io::ErrorKind::ReadOnlyFilesystem => {
            "; it is on a read-only file system: remount it read-write, or set CUTTLE_HOME to a writable folder"
        }
        io::ErrorKind::StorageFull => "; free some space there",
        _ => "",
    }
}

/// Creates the folder `dir` (and any missing parent) so that only its owner may enter it: mode
/// 0700, whatever the umask; from an existing `dir` (one of Cuttle's own folders), what others may
/// do is taken away. Parents that exist are left as they are.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    let failed = |e: io::Error| {
        let hint = write_hint(&e);
        Error::File(format!("creating the folder {}: {e}{hint}", dir.display()))
    };
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(failed)?;
    let meta = fs::symlink_metadata(dir).map_err(failed)?;
    if !meta.is_dir() {
        return Err(Error::File(format!(
            "{} is not a folder (a symbolic link or a file is in its place); remove it",
            dir.display()
        )));
    }
    restrict(dir, &meta).map_err(failed)
}

/// Takes away what others may do with an existing file or folder of Cuttle's (what an earlier
/// Cuttle made under a permissive umask): a 0644 registration becomes 0600, a 0755 folder 0700.
/// Best effort: one that cannot be changed (on a read-only file system, or someone else's) is
/// left as it is.
pub fn tighten(path: &Path) {
    if let Ok(meta) = fs::symlink_metadata(path)
        && !meta.file_type().is_symlink()
    {
        let _ = restrict(path, &meta);
    }
}

/// Takes away what others (group and world) may do with `path`; what its owner may do stays as
/// it is (a folder its owner made read-only stays read-only).
#[cfg(unix)]
fn restrict(path: &Path, meta: &fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(mode & !0o077))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict(_: &Path, _: &fs::Metadata) -> io::Result<()> {
    Ok(())
}

/// Writes `bytes` as the file `path`, readable and writable by its owner only (0600, whatever
/// the umask): a temporary file beside it is made 0600, filled and synced, then renamed onto
/// `path` (`replace`), or linked there, never replacing anything (`!replace`: an existing `path`
/// is [`io::ErrorKind::AlreadyExists`]). The mode of the result is checked. `what` names the file
/// in errors.
pub fn write_private(path: &Path, bytes: &[u8], replace: bool, what: &str) -> Result<()> {
    let named = format!("{what} {}", path.display());
    let failed = |e: io::Error| {
        let hint = write_hint(&e);
        Error::Io {
            context: format!("writing {named}{hint}"),
            source: e,
        }
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let temporary = tempfile::Builder::new()
        .prefix(".cuttle-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(failed)?;
    {
        let mut file = temporary.as_file();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(0o600))
                .map_err(failed)?;
        }
        io::Write::write_all(&mut file, bytes)
            .and_then(|()| file.sync_all())
            .map_err(failed)?;
    }
    let persisted = if replace {
        temporary.persist(path)
    } else {
        temporary.persist_noclobber(path)
    };
    persisted.map_err(|e| {
        if e.error.kind() == io::ErrorKind::AlreadyExists {
            Error::Io {
                context: format!("writing {named}"),
                source: e.error,
            }
        } else {
            failed(e.error)
        }
    })?;
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    check_private(path, &named)
}

/// Creates the empty file `path` (it must not exist), mode 0600 whatever the umask: for a file
/// that another library then fills (the embedded database).
pub fn create_private_empty(path: &Path, what: &str) -> Result<()> {
    let named = format!("{what} {}", path.display());
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(|e| {
        let hint = write_hint(&e);
        Error::Io {
            context: format!("creating {named}{hint}"),
            source: e,
        }
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(Error::io(format!("creating {named}")))?;
    }
    drop(file);
    check_private(path, &named)
}

/// Checks that `path` is a regular file that only its owner may read or write.
fn check_private(path: &Path, named: &str) -> Result<()> {
    let meta = fs::symlink_metadata(path).map_err(Error::io(format!("checking {named}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if !meta.is_file() || mode != 0o600 {
            return Err(Error::File(format!(
                "{named} has mode {mode:04o} where Cuttle made it 0600: its file system does not keep \
                 permissions, so others could read it; keep CUTTLE_HOME on one that does"
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    Ok(())
}

/// Whether this process may read and write `path` (by its effective user), without opening it.
#[cfg(unix)]
fn may_read_write(path: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in the path"))?;
    // SAFETY: `name` is a NUL-terminated path that lives across the call.
    let result = unsafe {
        libc::faccessat(
            libc::AT_FDCWD,
            name.as_ptr(),
            libc::R_OK | libc::W_OK,
            libc::AT_EACCESS,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(unix))]
fn may_read_write(path: &Path) -> io::Result<()> {
    fs::metadata(path).map(|_| ())
}

/// Whether Cuttle can write the embedded database `path` and what SQLite keeps beside it (its
/// `-wal` and `-shm` files, which even a read writes): the first thing in the way, as an error that
/// names it, says why and what to do.
pub fn check_database_access(path: &Path) -> Result<()> {
    let refused = |what: &Path, e: io::Error| {
        let hint = write_hint(&e);
        Error::File(format!(
            "cannot open the SQLite database {}: {} {}: {e}{hint} (SQLite writes the database, and its -wal \
             and -shm files beside it, even to read it)",
            path.display(),
            if what == path {
                "the file"
            } else {
                "its folder"
            },
            what.display()
        ))
    };
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => {
            return Err(Error::File(format!(
                "the SQLite database {} is not a regular file",
                path.display()
            )));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::File(format!(
                "the SQLite database {} is missing: was it moved or deleted? Its instance's registration names it",
                path.display()
            )));
        }
        Err(e) => return Err(refused(path, e)),
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // An anonymous file where SQLite will make its -wal and -shm (nothing is left behind).
    tempfile::tempfile_in(dir).map_err(|e| refused(dir, e))?;
    // The database and its -wal and -shm are asked about, never opened here: closing any file
    // descriptor of a file drops every POSIX lock this process holds on it, the locks of its
    // open SQLite connections included (another process would then take the database for
    // unused, check the log point and delete the -wal under them).
    may_read_write(path).map_err(|e| refused(path, e))?;
    for suffix in ["-wal", "-shm"] {
        let beside = Path::new(&format!("{}{suffix}", path.display())).to_owned();
        if beside.exists() {
            may_read_write(&beside).map_err(|e| refused(&beside, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_for_people() {
        assert_eq!(size_text(64 << 20), "64 MiB");
        assert_eq!(size_text(4 << 10), "4 KiB");
        assert_eq!(size_text(100), "100 bytes");
    }

    #[test]
    fn reads_are_bounded_and_special_files_refused() {
        let dir = tempfile::TempDir::new().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "12345").unwrap();
        assert_eq!(
            *read_text(&file, "file", 5, Accept::RegularFile).unwrap(),
            "12345"
        );
        let error = read_text(&file, "file", 4, Accept::RegularFile).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("larger than 4 bytes, the most a file"),
            "{error}"
        );
        let error = read_text(dir.path(), "file", 4, Accept::FileOrPipe).unwrap_err();
        assert!(error.to_string().contains("is a directory"), "{error}");
        #[cfg(unix)]
        {
            let error =
                read_text(Path::new("/dev/zero"), "key", 4, Accept::FileOrPipe).unwrap_err();
            assert!(error.to_string().contains("is a device"), "{error}");
        }
        let error = read_text_from(&b"\xff\xfe"[..], "standard input", "document", 10).unwrap_err();
        assert!(error.to_string().contains("not UTF-8"), "{error}");
    }
}
