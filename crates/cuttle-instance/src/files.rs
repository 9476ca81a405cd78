//! The files Cuttle reads, in one place (SPEC 8: huge files and special files give a clear
//! error).
//!
//! **Reads** are bounded by what the file holds: at most `limit` bytes are taken
//! ([`Read::take`] of `limit + 1`, then checked), whatever the file's metadata says, so that
//! `/dev/zero`, a growing file or an endless pipe cannot take the memory. The file must be a
//! regular file; where a person gives a path to a secret or a document, a pipe too (`--password-file
//! <(pass show cuttle)`). Directories, devices and sockets are refused, naming the file. A pipe is
//! opened without waiting for a writer, so a named FIFO that nobody writes to reads as empty
//! instead of hanging; what is opened is checked again, so a file swapped in meanwhile is refused
//! as well. Text must be UTF-8. The bytes read are wiped when dropped (they may be a secret).

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
