//! `cuttle-bench`: the references Cuttle's benchmarks measure against (SPEC 8), driven by
//! `scripts/bench.sh`.
//!
//! `cuttle-bench raw-floor --instance NAME --directory DIR` is the **raw floor**: open the
//! instance, take one read snapshot, read every stored document row of every collection and write
//! its stored body bytes to `DIR/<collection>/<id>.json`, nothing else (no decoding, no
//! reference resolution, no decryption, no canonical formatting). An export can only be slower;
//! the ratio says by how much.
//!
//! `cuttle-bench read-floor --directory DIR` is the import's counterpart, the **read floor**:
//! walk the tree and read every regular file in it whole, on every core, nothing else (no
//! parsing, no spool, no database). An import of the tree can only be slower; the ratio says how
//! much of an import is the file system's.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use cuttle_instance::Instance;

const USAGE: &str = "usage: cuttle-bench raw-floor --instance NAME --directory DIR
       cuttle-bench read-floor --directory DIR

  raw-floor   read every stored document of an instance (one snapshot) and write each stored
              body to DIR/<collection>/<id>.json; prints documents and bytes written
  read-floor  walk DIR and read every regular file in it whole, on every core; prints files and
              bytes read

Instances are found under CUTTLE_HOME, as for `cuttle`.";

struct RawFloorArgs {
    instance: String,
    directory: PathBuf,
}

/// The values of `flags` (each given once, as `--flag VALUE` or `--flag=VALUE`) in `args`, in
/// the order of `flags`; `None` for a flag not given.
fn parse<const N: usize>(args: &[String], flags: [&str; N]) -> Result<[Option<String>; N]> {
    let mut values = [const { None }; N];
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_owned())),
            None => (arg.as_str(), None),
        };
        let Some(at) = flags.iter().position(|known| *known == flag) else {
            bail!("unexpected argument {flag:?}");
        };
        let value = match inline {
            Some(value) => value,
            None => rest
                .next()
                .with_context(|| format!("{flag} needs a value"))?
                .clone(),
        };
        if values[at].replace(value).is_some() {
            bail!("{flag} given twice");
        }
    }
    Ok(values)
}

fn raw_floor_args(args: &[String]) -> Result<RawFloorArgs> {
    let [instance, directory] = parse(args, ["--instance", "--directory"])?;
    Ok(RawFloorArgs {
        instance: instance.context("--instance NAME is required")?,
        directory: directory.context("--directory DIR is required")?.into(),
    })
}

fn read_floor_args(args: &[String]) -> Result<PathBuf> {
    let [directory] = parse(args, ["--directory"])?;
    Ok(directory.context("--directory DIR is required")?.into())
}

/// What the raw floor wrote.
struct Written {
    documents: u64,
    bytes: u64,
}

fn raw_floor(args: &RawFloorArgs) -> Result<Written> {
    let home = cuttle_backends::home_from_env()?;
    let mut instance = Instance::open(&home, &args.instance)
        .with_context(|| format!("opening instance {:?}", args.instance))?;
    let mut read = instance.store().read()?;
    let mut written = Written {
        documents: 0,
        bytes: 0,
    };
    for decl in cuttle_domain::COLLECTIONS {
        let folder = args.directory.join(decl.name);
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("creating {}", folder.display()))?;
        // The visitor can only return a store error: keep the I/O error aside and stop the scan.
        let mut io_error = None;
        let scanned = read.scan(decl.collection, None, &mut |doc| match write_file(
            &folder,
            doc.id,
            doc.body.as_bytes(),
        ) {
            Ok(()) => {
                written.documents += 1;
                written.bytes += doc.body.len() as u64;
                Ok(())
            }
            Err(e) => {
                io_error = Some(e);
                Err(cuttle_store::StoreError::Corrupt(
                    "stopped by a write error".into(),
                ))
            }
        });
        if let Some(e) = io_error {
            return Err(e);
        }
        scanned.with_context(|| format!("reading {}", decl.name))?;
    }
    Ok(written)
}

fn write_file(folder: &Path, id: cuttle_store::DocId, body: &[u8]) -> Result<()> {
    let path = folder.join(format!("{id}.json"));
    std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))
}

/// What the read floor read.
struct ReadAll {
    files: u64,
    bytes: u64,
}

/// Walks `root` (not following links) and reads every regular file whole: the files are listed
/// first, then read on every core, each thread taking the next file of the list.
fn read_floor(root: &Path) -> Result<ReadAll> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_owned()];
    while let Some(folder) = folders.pop() {
        let entries =
            std::fs::read_dir(&folder).with_context(|| format!("listing {}", folder.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {}", folder.display()))?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                folders.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    let next = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| -> Result<()> {
        let readers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    while let Some(path) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let read = std::fs::read(path)
                            .with_context(|| format!("reading {}", path.display()))?;
                        bytes.fetch_add(read.len() as u64, Ordering::Relaxed);
                    }
                    Ok(())
                })
            })
            .collect();
        for reader in readers {
            reader.join().expect("a reader does not panic")?;
        }
        Ok(())
    })?;
    Ok(ReadAll {
        files: files.len() as u64,
        bytes: bytes.into_inner(),
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("raw-floor") => raw_floor_args(&args[1..])
            .and_then(|args| raw_floor(&args))
            .map(|written| {
                format!(
                    "{} documents, {} bytes written",
                    written.documents, written.bytes
                )
            }),
        Some("read-floor") => read_floor_args(&args[1..])
            .and_then(|root| read_floor(&root))
            .map(|read| format!("{} files, {} bytes read", read.files, read.bytes)),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(said) => {
            let _ = writeln!(std::io::stdout().lock(), "{said}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
