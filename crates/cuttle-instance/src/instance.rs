//! Creating, opening and deleting instances (SPEC 2).

use std::fs;
use std::path::{Path, PathBuf};

use cuttle_crypto::{MasterKey, Place, Sealer};
use cuttle_store::{Store, meta};

use crate::error::{Error, Hint, Message, Result};
use crate::files::{self, Accept};
use crate::home::{Backend, Home, Registration, check_instance_name, redact_url};

/// The environment variable that may hold the master key (its one-line form) instead of the key
/// file, for hosts that inject secrets through the environment.
pub const MASTER_KEY_ENV: &str = "CUTTLE_MASTER_KEY";

/// The product version every instance records.
pub const PRODUCT_VERSION: &str = env!("CARGO_PKG_VERSION");

const KEY_CHECK_PLAINTEXT: &[u8] = b"cuttle master key check v1";
const KEY_CHECK_PLACE: Place<'static> = Place {
    collection: "cuttle_meta",
    document: 0,
    pointer: "/master_key_check",
};

/// An open instance: its registration, its database and its master key.
pub struct Instance {
    registration: Registration,
    identity: [u8; 16],
    store: Box<dyn Store>,
    key: MasterKey,
    sealer: Sealer,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("registration", &self.registration)
            .field("identity", &hex::encode(self.identity))
            .finish_non_exhaustive()
    }
}

/// What `instance show` prints.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Description {
    pub name: String,
    pub identity: String,
    pub backend: Backend,
    pub database: String,
    pub master_key_file: PathBuf,
    pub product_version: String,
    pub domain_version: String,
    pub schema_version: i64,
    pub created: String,
    pub documents: std::collections::BTreeMap<&'static str, u64>,
}

fn open_store(home: &Home, registration: &Registration, create: bool) -> Result<Box<dyn Store>> {
    Ok(match registration.backend {
        Backend::Sqlite => {
            let path = Path::new(&registration.database);
            if !create {
                // SQLite says "unable to open database file", without the file or the cause.
                files::check_database_access(path)?;
                // A database an earlier Cuttle made under the umask (its -wal and -shm copy it).
                files::tighten(path);
            }
            (home.backends().sqlite)(path, create).map_err(|e| {
                Error::File(format!(
                    "opening the SQLite database {}: {e}",
                    path.display()
                ))
            })?
        }
        Backend::Postgres => (home.backends().postgres)(&registration.database)?,
    })
}

fn write_key_file(path: &Path, key: &MasterKey) -> Result<()> {
    let mut line = zeroize::Zeroizing::new(key.to_line().as_bytes().to_vec());
    line.push(b'\n');
    files::write_private(path, &line, false, "master key file").map_err(|e| match e {
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
            Error::MasterKey(format!(
                "{} already exists; Cuttle never overwrites a key file",
                path.display()
            ))
        }
        other => other,
    })
}

/// Reads a master key from a file holding its one-line form: a regular file, or where a person
/// names it (`import --backup --master-key-file`), a pipe too ([`Accept`]).
pub fn read_key_file(path: &Path, accept: Accept) -> Result<MasterKey> {
    let text = files::read_text(path, "master key file", files::KEY_FILE_LIMIT, accept)?;
    MasterKey::from_line(&text).map_err(|e| Error::MasterKey(format!("{}: {e}", path.display())))
}

impl Instance {
    /// Creates an instance: an embedded SQLite database under `CUTTLE_HOME` unless `database`
    /// gives a PostgreSQL URL; a new master key in a 0600 file (under `CUTTLE_HOME` unless
    /// `key_file` says where); a new identity.
    pub fn create(
        home: &Home,
        name: &str,
        database: Option<&str>,
        key_file: Option<&Path>,
    ) -> Result<Instance> {
        check_instance_name(name)?;
        if home.exists(name) {
            return Err(Error::Registry(
                format!("an instance named {name:?} already exists").into(),
            ));
        }
        let dir = home.create_instance_dir(name)?;
        let (backend, database) = match database {
            None => (
                Backend::Sqlite,
                dir.join("cuttle.db").to_string_lossy().into_owned(),
            ),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                (Backend::Postgres, url.to_owned())
            }
            Some(other) => {
                return Err(Error::Registry(Message::hinted(
                    format!(
                        "{} is not a PostgreSQL URL (postgres://user@host:port/database)",
                        redact_url(other)
                    ),
                    Hint::EmbeddedDatabase,
                )));
            }
        };
        let master_key_file = match key_file {
            Some(path) => {
                std::path::absolute(path).map_err(Error::io("resolving the key file's path"))?
            }
            None => dir.join("master.key"),
        };
        let registration = Registration {
            name: name.to_owned(),
            backend,
            database,
            master_key_file,
        };
        let created = Self::create_in(home, registration);
        if created.is_err() {
            // Leave nothing half-made behind: the registration is written last, so removing the
            // instance's own directory is enough (a key file placed elsewhere was not created or
            // is removed below).
            let _ = fs::remove_dir_all(&dir);
        }
        created
    }

    fn create_in(home: &Home, registration: Registration) -> Result<Instance> {
        let key = MasterKey::generate().map_err(|e| Error::MasterKey(e.to_string()))?;
        let mut identity = [0u8; 16];
        cuttle_crypto::random_bytes(&mut identity).map_err(|e| Error::MasterKey(e.to_string()))?;
        let sealer = Sealer::new(&key, identity);
        let key_check = sealer
            .seal(KEY_CHECK_PLAINTEXT, KEY_CHECK_PLACE)
            .map_err(|e| Error::MasterKey(e.to_string()))?;
        write_key_file(&registration.master_key_file, &key)?;
        let result = (|| {
            if registration.backend == Backend::Sqlite {
                // Made private before SQLite fills it; its -wal and -shm files take its mode.
                files::create_private_empty(Path::new(&registration.database), "database")?;
            }
            let mut store = open_store(home, &registration, true)?;
            let identity_hex = hex::encode(identity);
            let domain_version = cuttle_domain::DOMAIN_VERSION.to_string();
            let created = cuttle_domain::documents::Timestamp::now();
            store.initialize(&[
                (meta::IDENTITY, &identity_hex),
                (meta::PRODUCT_VERSION, PRODUCT_VERSION),
                (meta::DOMAIN_VERSION, &domain_version),
                (meta::MASTER_KEY_CHECK, &key_check),
                (meta::CREATED, created.as_str()),
            ])?;
            home.save(&registration)?;
            Ok(Instance {
                registration: registration.clone(),
                identity,
                store,
                key,
                sealer,
            })
        })();
        if result.is_err() {
            let _ = fs::remove_file(&registration.master_key_file);
        }
        result
    }

    /// Opens a registered instance and checks that its master key is the right one.
    pub fn open(home: &Home, name: &str) -> Result<Instance> {
        let registration = home.load(name)?;
        // Where the key comes from, decided once: an error names that place, and only it.
        let from_env = match std::env::var_os(MASTER_KEY_ENV) {
            None => None,
            Some(value) => match value.into_string() {
                Ok(line) if line.trim().is_empty() => None,
                Ok(line) => Some(zeroize::Zeroizing::new(line)),
                Err(value) => {
                    drop(zeroize::Zeroizing::new(value.into_encoded_bytes()));
                    return Err(Error::MasterKey(format!(
                        "{MASTER_KEY_ENV} does not hold UTF-8 text; it holds the line `cuttle instance master-key` prints"
                    )));
                }
            },
        };
        let (key, source) = match &from_env {
            Some(line) => (
                MasterKey::from_line(line)
                    .map_err(|e| Error::MasterKey(format!("{MASTER_KEY_ENV}: {e}")))?,
                MASTER_KEY_ENV.to_owned(),
            ),
            None => (
                read_key_file(&registration.master_key_file, Accept::RegularFile)?,
                registration.master_key_file.display().to_string(),
            ),
        };
        let mut store = open_store(home, &registration, false)?;
        store.migrate()?;
        let (identity, key_check) = {
            let mut read = store.read()?;
            (
                read.meta(meta::IDENTITY)?,
                read.meta(meta::MASTER_KEY_CHECK)?,
            )
        };
        let database = redact_url(&registration.database);
        let damaged = |what: &str| {
            Error::Damaged(format!(
                "the database of instance {name:?} ({database}) {what}: it is damaged, or not a Cuttle instance's"
            ))
        };
        let identity = match identity {
            None => return Err(damaged("holds no instance identity")),
            Some(text) => hex::decode(&text)
                .ok()
                .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
                .ok_or_else(|| damaged("holds an instance identity that is not 32 hex digits"))?,
        };
        let sealer = Sealer::new(&key, identity);
        let Some(key_check) = key_check else {
            return Err(damaged("holds no master key check"));
        };
        match sealer.open(&key_check, KEY_CHECK_PLACE) {
            Ok(plain) if plain.as_slice() == KEY_CHECK_PLAINTEXT => {}
            Ok(_) => {
                return Err(damaged(
                    "holds a master key check that opens to something else",
                ));
            }
            Err(cuttle_crypto::CryptoError::Tampered) => {
                return Err(Error::MasterKey(format!(
                    "the master key (from {source}) is not the master key of instance {name:?}"
                )));
            }
            Err(_) => return Err(damaged("holds a malformed master key check")),
        }
        Ok(Instance {
            registration,
            identity,
            store,
            key,
            sealer,
        })
    }

    /// Deletes an instance: its database (the SQLite file, or Cuttle's tables in the PostgreSQL
    /// database), its registration, and its key file when the key file is under `CUTTLE_HOME`.
    pub fn delete(home: &Home, name: &str) -> Result<()> {
        let registration = home.load(name)?;
        match registration.backend {
            Backend::Postgres => open_store(home, &registration, false)?.drop_instance()?,
            Backend::Sqlite => {
                for suffix in ["", "-wal", "-shm"] {
                    let file = format!("{}{suffix}", registration.database);
                    match fs::remove_file(&file) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(Error::io(format!("deleting {file}"))(e)),
                    }
                }
            }
        }
        let dir = home.instance_dir(name);
        fs::remove_dir_all(&dir).map_err(Error::io(format!("deleting {}", dir.display())))
    }

    pub fn name(&self) -> &str {
        &self.registration.name
    }

    pub fn registration(&self) -> &Registration {
        &self.registration
    }

    pub fn identity(&self) -> [u8; 16] {
        self.identity
    }

    /// The master key (checked against the instance when it was opened).
    pub fn master_key(&self) -> &MasterKey {
        &self.key
    }

    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    pub fn store(&mut self) -> &mut dyn Store {
        &mut *self.store
    }

    /// The store and the sealer together, for work that writes sealed values.
    pub fn parts(&mut self) -> (&mut dyn Store, &Sealer) {
        (&mut *self.store, &self.sealer)
    }

    pub fn describe(&mut self) -> Result<Description> {
        let schema_version = self.store.schema_version();
        let mut read = self.store.read()?;
        let mut documents = std::collections::BTreeMap::new();
        for decl in cuttle_domain::COLLECTIONS {
            documents.insert(decl.name, read.count(decl.collection)?);
        }
        Ok(Description {
            name: self.registration.name.clone(),
            identity: hex::encode(self.identity),
            backend: self.registration.backend,
            database: redact_url(&self.registration.database),
            master_key_file: self.registration.master_key_file.clone(),
            product_version: read.meta(meta::PRODUCT_VERSION)?.unwrap_or_default(),
            domain_version: read.meta(meta::DOMAIN_VERSION)?.unwrap_or_default(),
            schema_version,
            created: read.meta(meta::CREATED)?.unwrap_or_default(),
            documents,
        })
    }
}
