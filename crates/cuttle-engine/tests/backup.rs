//! Instance backups (SPEC 7): a backup holds the whole instance with its secrets still sealed,
//! reads back into documents that fill another instance exactly (its export is byte for byte
//! the source's), and any damage, a wrong master key, a cut or a newer format is reported as
//! such. On SQLite, and on PostgreSQL when `CUTTLE_TEST_POSTGRES_URL` is set.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cuttle_crypto::MasterKey;
use cuttle_crypto::export::ExportKey;
use cuttle_engine::backup::{
    BACKUP_FORMAT_VERSION, BackupError, read_backup, read_header, write_backup,
};
use cuttle_engine::export::{ExportOptions, export};
use cuttle_engine::format::InlineScripts;
use cuttle_instance::{Incoming, Instance};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

mod common;
use common::sampled;

const PASSWORD: &[u8] = b"backup test password";

fn total_documents(instance: &mut Instance) -> u64 {
    instance.describe().unwrap().documents.values().sum()
}

fn export_options(directory: &Path) -> ExportOptions {
    ExportOptions {
        output: cuttle_engine::export::Output::Directory(directory.to_owned()),
        clean: false,
        prune: true,
        rekey: false,
        history: true,
        task_logs: true,
        inline_scripts: InlineScripts::Extract,
        selection: None,
        visible: None,
    }
}

/// Every file under `root`, by relative path, with its bytes.
fn tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path.strip_prefix(root).unwrap().to_owned(), bytes));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for (relative, bytes) in tree(from) {
        let target = to.join(relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, bytes).unwrap();
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Backs `source` up, reads the backup back into a new instance on `destination`, and checks
/// that both export to the same bytes.
fn round_trip(source_database: Option<&str>, destination_database: Option<&str>) {
    let home_dir = TempDir::new().unwrap();
    let home = cuttle_backends::home_at(home_dir.path().to_owned());
    let mut source = sampled(&home, "source", source_database);
    let total = total_documents(&mut source);

    let dir = TempDir::new().unwrap();
    let file = dir.path().join("backup.cuttle");
    let summary = write_backup(&mut source, &file).unwrap();
    assert_eq!(summary.documents, total);
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(summary.bytes, bytes.len() as u64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    // Nothing but the backup is left in the directory (no temporary file).
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["backup.cuttle"]);
    // Secrets stay sealed; the sample has some.
    assert!(!contains(&bytes, b"sample-secret-"));
    assert!(contains(&bytes, b"{\"sealed\":"));
    // One header, one line per document, one trailer.
    assert_eq!(
        bytes.iter().filter(|&&b| b == b'\n').count() as u64,
        total + 2
    );
    assert!(bytes.ends_with(b"\n"));

    let header = read_header(&file).unwrap();
    assert_eq!(header.format_version, BACKUP_FORMAT_VERSION);
    assert_eq!(header.identity, source.identity());
    assert_eq!(header.instance, "source");
    let described = source.describe().unwrap();
    assert_eq!(header.identity_hex(), described.identity);
    for (collection, count) in &header.documents {
        assert_eq!(described.documents[collection.decl().name], *count);
    }

    let key = ExportKey::ephemeral().unwrap();
    let read = read_backup(&file, source.master_key(), &key, false).unwrap();
    assert_eq!(read.header, header);
    assert_eq!(read.documents.len() as u64, total);
    let documents: Vec<Incoming> = read.documents.collect::<Result<_, _>>().unwrap();
    assert_eq!(documents.len() as u64, total);
    assert_eq!(
        documents[16].origin,
        format!("{}, record 17", file.display())
    );
    assert!(documents.iter().any(|d| d.json.contains("{\"encrypted\":")));
    assert!(
        documents
            .iter()
            .all(|d| !d.json.contains("\"sealed\"") && !d.json.contains("sample-secret-"))
    );

    let mut destination =
        Instance::create(&home, "destination", destination_database, None).unwrap();
    if let Err(error) = common::write(&mut destination, &documents, Some(&key)) {
        panic!("the documents do not write: {error}");
    }
    assert_ne!(destination.identity(), source.identity());
    assert_eq!(total_documents(&mut destination), total);

    // The destination exports byte for byte as the source does (into a copy of the source's
    // export, so that both use the same salt; nothing is then written or removed).
    let exported = TempDir::new().unwrap();
    let source_export = exported.path().join("source");
    let destination_export = exported.path().join("destination");
    export(
        &mut source,
        PASSWORD,
        &export_options(&source_export),
        &mut |_, _| {},
    )
    .unwrap();
    copy_tree(&source_export, &destination_export);
    let again = export(
        &mut destination,
        PASSWORD,
        &export_options(&destination_export),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(
        (again.files_written, again.files_removed),
        (0, 0),
        "the destination's export differs from the source's"
    );
    assert!(tree(&source_export) == tree(&destination_export));
}

#[test]
fn sqlite_backup_round_trips() {
    round_trip(None, None);
}

#[test]
fn postgres_backup_round_trips() {
    let Some(source) = cuttle_store_postgres::testing::fresh_database() else {
        return;
    };
    let destination = cuttle_store_postgres::testing::fresh_database().unwrap();
    round_trip(Some(source.url()), Some(destination.url()));
}

#[test]
fn backup_moves_sqlite_to_postgres() {
    let Some(destination) = cuttle_store_postgres::testing::fresh_database() else {
        return;
    };
    round_trip(None, Some(destination.url()));
}

/// The position after the header line and the start of the trailer line.
fn lines(bytes: &[u8]) -> (usize, usize) {
    let header_end = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let trailer_start = bytes[..bytes.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1;
    (header_end, trailer_start)
}

/// Writes a new trailer for `bytes` (as a tamperer would): the checksum always, the MAC only
/// with the master key.
fn reseal(bytes: &[u8], key: Option<&MasterKey>) -> Vec<u8> {
    let (_, trailer_start) = lines(bytes);
    let body = &bytes[..trailer_start];
    let mut trailer: serde_json::Value =
        serde_json::from_slice(&bytes[trailer_start..bytes.len() - 1]).unwrap();
    trailer["sha256"] = URL_SAFE_NO_PAD.encode(Sha256::digest(body)).into();
    if let Some(key) = key {
        let mut mac = key.backup_keys().integrity();
        mac.update(body);
        trailer["mac"] = mac.finish().into();
    }
    let mut out = body.to_vec();
    out.extend_from_slice(trailer.to_string().as_bytes());
    out.push(b'\n');
    out
}

fn assert_integrity(result: Result<impl std::fmt::Debug, BackupError>, what: &str) {
    match result {
        Err(error @ BackupError::Integrity { .. }) => {
            let message = error.to_string();
            assert!(
                message.contains("damaged or was altered (integrity check failed)"),
                "{message}"
            );
        }
        other => panic!("{what}: expected an integrity error, got {other:?}"),
    }
}

/// A backup of the small sample (SQLite), in a folder of its own.
struct SampleBackup {
    /// Holds the sample's instance, which made the backup.
    _home: TempDir,
    /// Holds the backup, and whatever a test makes of it.
    dir: TempDir,
    file: PathBuf,
    /// The master key of the instance the backup came from.
    master: MasterKey,
}

fn sample_backup() -> SampleBackup {
    let home_dir = TempDir::new().unwrap();
    let home = cuttle_backends::home_at(home_dir.path().to_owned());
    let mut source = sampled(&home, "source", None);
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("backup.cuttle");
    write_backup(&mut source, &file).unwrap();
    SampleBackup {
        master: source.master_key().clone(),
        _home: home_dir,
        dir,
        file,
    }
}

#[test]
fn damage_a_wrong_key_cuts_and_versions_are_told_apart() {
    let SampleBackup {
        dir, file, master, ..
    } = sample_backup();
    let key = ExportKey::ephemeral().unwrap();
    let good = std::fs::read(&file).unwrap();
    let (header_end, trailer_start) = lines(&good);
    let read = |path: &Path| read_backup(path, &master, &key, false);
    assert!(read(&file).is_ok());

    // A flipped bit anywhere: every byte of the header and the trailer, and bytes spread over
    // the records (every newline among them).
    let mut positions: Vec<usize> = (0..header_end).chain(trailer_start..good.len()).collect();
    let step = (trailer_start - header_end) / 150;
    positions.extend((header_end..trailer_start).step_by(step.max(1)));
    positions.extend(
        good[header_end..trailer_start]
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| header_end + i)
            .step_by(37),
    );
    let damaged = dir.path().join("damaged.cuttle");
    let mut bytes = good.clone();
    std::fs::write(&damaged, &bytes).unwrap();
    for position in positions {
        bytes[position] ^= 0x01;
        std::fs::write(&damaged, &bytes).unwrap();
        assert_integrity(read(&damaged), &format!("byte {position} flipped"));
        bytes[position] ^= 0x01;
    }

    // An alteration whose checksum is made again is still found (the MAC needs the key), and
    // is not mistaken for a wrong key.
    let text = String::from_utf8(good.clone()).unwrap();
    let altered = text.replacen("\"owner\":0", "\"owner\":1", 1);
    assert_ne!(altered, text);
    std::fs::write(&damaged, reseal(altered.as_bytes(), None)).unwrap();
    assert_integrity(read(&damaged), "altered, checksum made again");

    // A wrong master key is reported as such, not as damage.
    let wrong = MasterKey::generate().unwrap();
    match read_backup(&file, &wrong, &key, false) {
        Err(error @ BackupError::WrongMasterKey { .. }) => {
            let message = error.to_string();
            assert!(message.contains("wrong master key"), "{message}");
            assert!(
                message.contains(&read_header(&file).unwrap().identity_hex()),
                "{message}"
            );
        }
        other => panic!("expected a wrong-key error, got {other:?}"),
    }

    // Cut short anywhere.
    for cut in [
        10,
        header_end - 1,
        header_end,
        header_end + 1,
        (header_end + trailer_start) / 2,
        trailer_start - 1,
        trailer_start,
        good.len() - 1,
    ] {
        std::fs::write(&damaged, &good[..cut]).unwrap();
        assert_integrity(read(&damaged), &format!("cut after {cut} bytes"));
    }
    std::fs::write(&damaged, b"").unwrap();
    assert!(matches!(
        read(&damaged),
        Err(BackupError::NotABackup { .. })
    ));
    std::fs::write(&damaged, b"name,value\nx,1\n").unwrap();
    let error = read(&damaged).unwrap_err();
    assert!(matches!(error, BackupError::NotABackup { .. }), "{error:?}");
    assert!(error.to_string().contains("not a Cuttle backup"), "{error}");

    // A newer format is refused unless the version check is ignored.
    let newer = text.replacen("\"formatVersion\":1,", "\"formatVersion\":2,", 1);
    assert_ne!(newer, text);
    std::fs::write(&damaged, reseal(newer.as_bytes(), Some(&master))).unwrap();
    let error = read(&damaged).unwrap_err();
    assert!(
        matches!(error, BackupError::NewerFormat { found: 2, .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("made by a newer Cuttle (format 2); this one reads up to 1"),
        "{message}"
    );
    let ignored = read_backup(&damaged, &master, &key, true).unwrap();
    assert_eq!(ignored.header.format_version, 2);
    assert_eq!(
        ignored.documents.len(),
        read(&file).unwrap().documents.len()
    );

    // Only a regular file is read, never through a symbolic link.
    #[cfg(unix)]
    {
        let link = dir.path().join("link.cuttle");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(matches!(read(&link), Err(BackupError::Refused { .. })));
    }
    assert!(matches!(read(dir.path()), Err(BackupError::Refused { .. })));
}

/// The records are checked whole before the first is given, and rendered as they are taken: a
/// sealed value that does not open (in a backup whose integrity holds, made from an instance that
/// held it damaged) is reported with its record when that record is reached.
#[test]
fn a_damaged_value_in_an_intact_backup_is_reported_with_its_record() {
    let SampleBackup {
        dir, file, master, ..
    } = sample_backup();
    let key = ExportKey::ephemeral().unwrap();
    let text = std::fs::read_to_string(&file).unwrap();

    // One character of the first sealed value changed, the integrity check made again with the
    // master key: the file is intact, the value is not.
    let at = text.find("{\"sealed\":\"").unwrap() + "{\"sealed\":\"".len() + 8;
    let mut bytes = text.clone().into_bytes();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let record = text[..at].matches('\n').count();
    let damaged = dir.path().join("damaged.cuttle");
    std::fs::write(&damaged, reseal(&bytes, Some(&master))).unwrap();

    let read = read_backup(&damaged, &master, &key, false).expect("the backup is intact");
    assert_eq!(read.documents.len(), text.lines().count() - 2);
    let error = read
        .documents
        .collect::<Result<Vec<_>, _>>()
        .expect_err("the damaged value is found");
    let message = error.to_string();
    assert!(matches!(error, BackupError::Invalid { .. }), "{error:?}");
    assert!(
        message.contains(&format!("record {record} (")),
        "the record is named: {message}"
    );
    assert!(
        message.contains("does not open under the master key, though the backup is intact"),
        "{message}"
    );
    assert!(!message.contains("sample-secret-"), "{message}");
}

#[test]
fn a_backup_never_replaces_a_file() {
    let home_dir = TempDir::new().unwrap();
    let home = cuttle_backends::home_at(home_dir.path().to_owned());
    let mut instance = Instance::create(&home, "small", None, None).unwrap();
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("backup.cuttle");
    std::fs::write(&file, b"precious").unwrap();
    let error = write_backup(&mut instance, &file).unwrap_err();
    assert!(matches!(error, BackupError::Exists { .. }), "{error:?}");
    assert!(error.to_string().contains("already exists"), "{error}");
    assert_eq!(std::fs::read(&file).unwrap(), b"precious");
    #[cfg(unix)]
    {
        let link = dir.path().join("dangling.cuttle");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &link).unwrap();
        assert!(matches!(
            write_backup(&mut instance, &link),
            Err(BackupError::Exists { .. })
        ));
        assert!(!dir.path().join("nowhere").exists());
    }
    // An empty instance backs up and reads back as empty.
    let empty = dir.path().join("empty.cuttle");
    let summary = write_backup(&mut instance, &empty).unwrap();
    assert_eq!(summary.documents, 0);
    let key = ExportKey::ephemeral().unwrap();
    let read = read_backup(&empty, instance.master_key(), &key, false).unwrap();
    assert_eq!(read.documents.len(), 0);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
}

/// Ids are the instance's own: two records with the same id (in a backup intact under the master
/// key, as only its owner could make it) are refused, the later record named, whichever
/// collections the two are of.
#[test]
fn a_backup_giving_one_id_to_two_records_is_refused() {
    let SampleBackup {
        dir, file, master, ..
    } = sample_backup();
    let key = ExportKey::ephemeral().unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let id_of = |line: &str| -> i64 {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        record["id"].as_i64().unwrap()
    };
    let records = lines.len() - 2;
    // Record 1 and record 3 (both early: named by others), then record 1 and the last record.
    for (first, later) in [(1, 3), (1, records)] {
        let (id, replaced) = (id_of(lines[first]), id_of(lines[later]));
        let mut altered = lines.clone();
        let line = lines[later].replacen(
            &format!("{{\"id\":{replaced},"),
            &format!("{{\"id\":{id},"),
            1,
        );
        assert_ne!(line, lines[later]);
        altered[later] = &line;
        let damaged = dir.path().join("repeated.cuttle");
        let bytes = format!("{}\n", altered.join("\n"));
        std::fs::write(&damaged, reseal(bytes.as_bytes(), Some(&master))).unwrap();
        let error = read_backup(&damaged, &master, &key, false).unwrap_err();
        assert!(matches!(error, BackupError::Invalid { .. }), "{error:?}");
        let message = error.to_string();
        assert!(
            message.contains(&format!(
                "record {later} (line {}): the id {id} is given to two records",
                later + 1
            )),
            "{message}"
        );
    }
}
