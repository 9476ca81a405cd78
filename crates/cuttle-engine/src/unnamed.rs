//! Files written whole or not at all, which have no name until they are whole.
//!
//! An archive or a backup is written into a file in its folder with no name (`O_TMPFILE`), so
//! that a process killed while writing it leaves nothing behind (such a file is as large as what
//! it holds); once whole and on disk, it is given its name ([`Unnamed::replace`],
//! [`Unnamed::create`]). Where the file system cannot make such a file, or `/proc` (through which
//! it is named) is missing, it is made with a hidden name beside the file instead, removed when
//! the writing fails, and left behind only by a process killed meanwhile.

use std::fs::File;
use std::io;
use std::path::Path;

use tempfile::NamedTempFile;

/// A file being written in a folder, named only once it is whole.
pub(crate) enum Unnamed {
    /// With no name at all (`O_TMPFILE`).
    Anonymous(File),
    /// With a hidden name, where a file cannot go without one.
    Named(NamedTempFile),
}

impl Unnamed {
    /// A new empty file in the folder `dir`, mode 0600; `prefix` begins its hidden name, where
    /// it needs one.
    pub(crate) fn new_in(dir: &Path, prefix: &str) -> io::Result<Unnamed> {
        // Said plainly here: the temporary file's error would name a path nobody gave.
        match std::fs::metadata(dir) {
            Ok(meta) if !meta.is_dir() => {
                return Err(io::Error::new(
                    io::ErrorKind::NotADirectory,
                    format!("{} is not a folder", dir.display()),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("the folder {} does not exist", dir.display()),
                ));
            }
            _ => {}
        }
        if let Some(file) = anonymous_in(dir)? {
            return Ok(Unnamed::Anonymous(file));
        }
        let named = tempfile::Builder::new().prefix(prefix).tempfile_in(dir)?;
        // `tempfile` makes it 0600 already; said again, as what is written may be secret.
        use std::os::unix::fs::PermissionsExt;
        named
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(Unnamed::Named(named))
    }

    pub(crate) fn file(&self) -> &File {
        match self {
            Unnamed::Anonymous(file) => file,
            Unnamed::Named(named) => named.as_file(),
        }
    }

    /// Names the file `path` (in the folder it was made in), replacing what stands there.
    pub(crate) fn replace(self, path: &Path, prefix: &str) -> io::Result<()> {
        match self {
            Unnamed::Named(named) => named.persist(path).map(|_| ()).map_err(|e| e.error),
            // Named beside `path` first: a link cannot replace a file.
            Unnamed::Anonymous(file) => tempfile::Builder::new()
                .prefix(prefix)
                .make_in(folder_of(path), |name| link(&file, name))?
                .persist(path)
                .map(|_| ())
                .map_err(|e| e.error),
        }
    }

    /// Names the file `path`, unless something stands there already (`AlreadyExists`).
    pub(crate) fn create(self, path: &Path) -> io::Result<()> {
        match self {
            Unnamed::Anonymous(file) => link(&file, path),
            Unnamed::Named(named) => named
                .persist_noclobber(path)
                .map(|_| ())
                .map_err(|e| e.error),
        }
    }
}

/// The folder a file at `path` stands in.
pub(crate) fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// A file in the folder `dir` with no name (`O_TMPFILE`, mode 0600); `None` where the file
/// system cannot make one, or it could not be named later ([`link`] names it through `/proc`).
fn anonymous_in(dir: &Path) -> io::Result<Option<File>> {
    use std::os::unix::fs::OpenOptionsExt;
    if !Path::new("/proc/self/fd").is_dir() {
        return Ok(None);
    }
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir);
    match opened {
        Ok(file) => Ok(Some(file)),
        // What a file system without such files says (as the `tempfile` crate reads it).
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EOPNOTSUPP | libc::EISDIR | libc::ENOENT)
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Gives `file`, made by [`anonymous_in`], the name `name` in its folder; `AlreadyExists` if
/// something stands there.
fn link(file: &File, name: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let from = std::ffi::CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
    let to = std::ffi::CString::new(name.as_os_str().as_bytes())?;
    // SAFETY: both paths are NUL-terminated strings that outlive the call.
    let linked = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    match linked {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// The names in the folder `dir`, sorted: what a test sees left behind.
#[cfg(test)]
pub(crate) fn listed(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    /// Nothing is named while the file is written; it replaces, or is refused where it would
    /// replace, and a file dropped unnamed leaves nothing.
    #[test]
    fn a_file_has_no_name_until_it_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        std::fs::write(&path, b"before").unwrap();

        let unnamed = Unnamed::new_in(dir.path(), ".t-").unwrap();
        assert!(
            matches!(unnamed, Unnamed::Anonymous(_)),
            "this file system makes them"
        );
        unnamed.file().write_all(b"after").unwrap();
        assert_eq!(
            listed(dir.path()),
            ["out"],
            "nothing else is named while it is written"
        );
        unnamed.replace(&path, ".t-").unwrap();
        assert_eq!(listed(dir.path()), ["out"]);
        assert_eq!(std::fs::read(&path).unwrap(), b"after");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let unnamed = Unnamed::new_in(dir.path(), ".t-").unwrap();
        unnamed.file().write_all(b"refused").unwrap();
        let refused = unnamed.create(&path).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"after");

        let unnamed = Unnamed::new_in(dir.path(), ".t-").unwrap();
        unnamed.file().write_all(b"new").unwrap();
        unnamed.create(&dir.path().join("new")).unwrap();
        assert_eq!(std::fs::read(dir.path().join("new")).unwrap(), b"new");

        drop(Unnamed::new_in(dir.path(), ".t-").unwrap());
        assert_eq!(
            listed(dir.path()),
            ["new", "out"],
            "a file never named leaves nothing"
        );
    }
}
