//! The registry of instances under `CUTTLE_HOME` (SPEC 2), the way an instance manager on a
//! server host knows its instances.
//!
//! ```text
//! $CUTTLE_HOME/instances/<name>/                a folder of its own (mode 0700)
//! $CUTTLE_HOME/instances/<name>/instance.json   the registration (mode 0600: a URL may hold a password)
//! $CUTTLE_HOME/instances/<name>/cuttle.db       an embedded instance's database (mode 0600, and so
//!                                               are the -wal and -shm files SQLite keeps beside it)
//! $CUTTLE_HOME/instances/<name>/master.key      the master key (mode 0600), unless placed elsewhere
//! ```
//!
//! Those modes hold whatever the umask. `CUTTLE_HOME` and `instances` are made 0700 when Cuttle
//! creates them; an existing `CUTTLE_HOME` is left as its owner made it.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use cuttle_domain::names;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Hint, Message, Result};
use crate::files::{self, Accept};

/// Where instances are registered, and how their databases are opened.
#[derive(Clone, Debug)]
pub struct Home {
    root: PathBuf,
    backends: Backends,
}

/// How a store is opened for each backend: chosen once, at the top (the `cuttle` binary, a
/// test), so that nothing below it depends on a database driver (see `cuttle-backends`).
#[derive(Clone, Copy)]
pub struct Backends {
    /// Opens the SQLite file at the path; `true` creates it.
    pub sqlite: fn(&Path, bool) -> cuttle_store::Result<Box<dyn cuttle_store::Store>>,
    /// Connects to the PostgreSQL database at the URL.
    pub postgres: fn(&str) -> cuttle_store::Result<Box<dyn cuttle_store::Store>>,
}

impl fmt::Debug for Backends {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Backends")
    }
}

/// Which database holds an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// An instance's registration.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Registration {
    pub name: String,
    pub backend: Backend,
    /// The SQLite file, or the PostgreSQL URL (which may hold a password the user put there; one
    /// that came from `PGPASSWORD` is never written here).
    pub database: String,
    pub master_key_file: PathBuf,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("name", &self.name)
            .field("backend", &self.backend)
            .field("database", &redact_url(&self.database))
            .field("master_key_file", &self.master_key_file)
            .finish()
    }
}

/// A database URL with any password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let mut out = match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
                    None => url.to_owned(),
                },
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    };
    // Query parameters (and key=value connection strings) may carry a password too.
    let mut from = 0;
    while let Some(found) = out[from..].find("password=") {
        let start = from + found + "password=".len();
        let end = out[start..]
            .find(['&', ' '])
            .map_or(out.len(), |e| start + e);
        out.replace_range(start..end, "***");
        from = start + 3;
    }
    out
}

/// Checks an instance name: it names a directory, so it is kept to a portable alphabet.
pub fn check_instance_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(Error::Registry(format!(
            "{} is not a valid instance name: use 1 to 64 ASCII letters, digits, '-', '_' or '.', not starting with '.' or '-'",
            names::quoted(name)
        ).into()))
    }
}

impl Home {
    /// `CUTTLE_HOME`, or the platform's data directory.
    pub fn from_env(backends: Backends) -> Result<Home> {
        if let Some(root) = std::env::var_os("CUTTLE_HOME").filter(|v| !v.is_empty()) {
            return Ok(Home::at(PathBuf::from(root), backends));
        }
        let data = dirs::data_dir().ok_or_else(|| {
            Error::Registry("cannot find the platform's data directory; set CUTTLE_HOME".into())
        })?;
        Ok(Home::at(data.join("cuttle"), backends))
    }

    pub fn at(root: PathBuf, backends: Backends) -> Home {
        Home { root, backends }
    }

    pub fn backends(&self) -> Backends {
        self.backends
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of an instance's files.
    pub fn instance_dir(&self, name: &str) -> PathBuf {
        self.root.join("instances").join(name)
    }

    fn registration_file(&self, name: &str) -> PathBuf {
        self.instance_dir(name).join("instance.json")
    }

    pub fn load(&self, name: &str) -> Result<Registration> {
        check_instance_name(name)?;
        let file = self.registration_file(name);
        let text = match files::read_text(
            &file,
            "registration",
            files::REGISTRATION_LIMIT,
            Accept::RegularFile,
        ) {
            Ok(text) => text,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(Message::hinted(
                    format!(
                        "there is no instance named {} under {}",
                        names::quoted(name),
                        self.root.display()
                    ),
                    Hint::ListInstances,
                )));
            }
            Err(e) => return Err(e),
        };
        // An earlier Cuttle made these under the umask (a database password readable by all).
        files::tighten(&file);
        files::tighten(&self.instance_dir(name));
        serde_json::from_str(&text)
            .map_err(|e| Error::Registry(format!("{} is damaged: {e}", file.display()).into()))
    }

    pub fn exists(&self, name: &str) -> bool {
        self.registration_file(name).exists()
    }

    /// Writes a registration, mode 0600 whatever the umask: its database URL may hold a
    /// password.
    pub fn save(&self, registration: &Registration) -> Result<()> {
        let file = self.registration_file(&registration.name);
        let text = zeroize::Zeroizing::new(
            serde_json::to_string_pretty(registration).expect("a registration serializes") + "\n",
        );
        files::write_private(&file, text.as_bytes(), true, "registration")
    }

    /// Creates the folder of a new instance, and `instances` above it, mode 0700 whatever the
    /// umask (and `CUTTLE_HOME` itself, 0700, when it does not exist yet).
    pub fn create_instance_dir(&self, name: &str) -> Result<PathBuf> {
        files::create_private_dir(&self.root.join("instances"))?;
        let dir = self.instance_dir(name);
        files::create_private_dir(&dir)?;
        Ok(dir)
    }

    /// Every registered instance, by name.
    pub fn list(&self) -> Result<Vec<Registration>> {
        let dir = self.root.join("instances");
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("listing {}", dir.display()))(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(Error::io(format!("listing {}", dir.display())))?;
            if let Some(name) = entry.file_name().to_str()
                && check_instance_name(name).is_ok()
                && self.exists(name)
            {
                out.push(self.load(name)?);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_url("postgres://h/db?user=u&password=secret&x=1"),
            "postgres://h/db?user=u&password=***&x=1"
        );
        assert_eq!(redact_url("/var/lib/cuttle.db"), "/var/lib/cuttle.db");
    }

    #[test]
    fn instance_names() {
        assert!(check_instance_name("staging-2").is_ok());
        assert!(check_instance_name("../x").is_err());
        assert!(check_instance_name("").is_err());
        assert!(check_instance_name(".hidden").is_err());
    }
}
