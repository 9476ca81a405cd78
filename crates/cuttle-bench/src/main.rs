//! `cuttle-bench`: the references Cuttle's benchmarks measure against (SPEC 8), driven by
//! `scripts/bench.sh`.
//!
//! `cuttle-bench raw-floor --instance NAME --directory DIR` is the **raw floor**: open the
//! instance, take one read snapshot, read every stored document row of every collection and write
//! its stored body bytes to `DIR/<collection>/<id>.json`, nothing else (no decoding, no
//! reference resolution, no decryption, no canonical formatting). An export can only be slower;
//! the ratio says by how much.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cuttle_instance::Instance;

const USAGE: &str = "usage: cuttle-bench raw-floor --instance NAME --directory DIR

  raw-floor   read every stored document of an instance (one snapshot) and write each stored
              body to DIR/<collection>/<id>.json; prints documents and bytes written

Instances are found under CUTTLE_HOME, as for `cuttle`.";

struct RawFloorArgs {
    instance: String,
    directory: PathBuf,
}

fn parse(args: &[String]) -> Result<RawFloorArgs> {
    let (mut instance, mut directory) = (None, None);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_owned())),
            None => (arg.as_str(), None),
        };
        let slot = match flag {
            "--instance" => &mut instance,
            "--directory" => &mut directory,
            other => bail!("unexpected argument {other:?}"),
        };
        let value = match inline {
            Some(value) => value,
            None => rest
                .next()
                .with_context(|| format!("{flag} needs a value"))?
                .clone(),
        };
        if slot.replace(value).is_some() {
            bail!("{flag} given twice");
        }
    }
    Ok(RawFloorArgs {
        instance: instance.context("--instance NAME is required")?,
        directory: directory.context("--directory DIR is required")?.into(),
    })
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

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("raw-floor") => parse(&args[1..]).and_then(|args| raw_floor(&args)),
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
        Ok(written) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "{} documents, {} bytes written",
                written.documents, written.bytes
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
