//! The importer's fuzz target, shared by `fuzz/fuzz_targets/import_reader.rs` (cargo fuzz) and
//! the corpus replay test (`tests/fuzz_corpus.rs`), so that both run exactly the same code.
//!
//! An input is a small export directory, encoded as entries separated by a NUL byte:
//!
//! ```text
//! input := entry (NUL entry)*
//! entry := path LF content      a regular file at `path` (`/`-separated, relative)
//!        | "@" path LF target   a symbolic link at `path` pointing to `target`
//! ```
//!
//! An entry without a LF is a file with empty content. Paths are taken as UTF-8 (lossily);
//! entries whose path is empty, absolute, too deep or has an empty, `.` or `..` component are
//! dropped, as are entries past [`MAX_ENTRIES`] and files whose path is already taken (the first
//! wins). Links are made after every file, so no file is ever written through one. JSON and
//! task logs hold no NUL byte, so a real export encodes losslessly (see [`encode`]).
//!
//! [`run_one`] writes the entries into a fresh temporary directory, then reads it as the importer
//! does: the manifest, every document, and each document through the validator's shape check
//! ([`cuttle_instance::codec::canonicalize`], with its oracle: [`read_strictly`]). Errors are
//! expected; a panic is the bug.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use cuttle_domain::json;
use cuttle_instance::codec;

use crate::import::ImportError;
use crate::import::upgrade::upgrade;
use crate::reader;

/// At most this many entries are taken from one input.
pub const MAX_ENTRIES: usize = 64;
/// At most this many path components.
pub const MAX_DEPTH: usize = 8;
/// At most this many bytes in one path component.
pub const MAX_COMPONENT: usize = 200;

/// One decoded entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The relative path, its components checked.
    pub path: Vec<String>,
    pub kind: EntryKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    File(Vec<u8>),
    Symlink(String),
}

fn component_ok(c: &str) -> bool {
    !c.is_empty() && c != "." && c != ".." && c.len() <= MAX_COMPONENT && !c.contains('\\')
}

/// Decodes an input into entries (never fails: what does not fit is dropped).
pub fn decode(data: &[u8]) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut taken: BTreeSet<Vec<String>> = BTreeSet::new();
    for raw in data.split(|b| *b == 0) {
        if entries.len() >= MAX_ENTRIES {
            break;
        }
        let (head, content) = match raw.iter().position(|b| *b == b'\n') {
            Some(i) => (&raw[..i], &raw[i + 1..]),
            None => (raw, &[][..]),
        };
        let head = String::from_utf8_lossy(head);
        let (link, path_text) = match head.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, &*head),
        };
        if path_text.starts_with('/') {
            continue;
        }
        let path: Vec<String> = path_text.split('/').map(str::to_owned).collect();
        if path.len() > MAX_DEPTH || !path.iter().all(|c| component_ok(c)) {
            continue;
        }
        // A path is a file or a folder, never both: the first entry decides.
        let clashes = taken.iter().any(|t| {
            t == &path
                || (t.len() < path.len() && path.starts_with(t))
                || (path.len() < t.len() && t.starts_with(&path))
        });
        if clashes {
            continue;
        }
        taken.insert(path.clone());
        let kind = if link {
            EntryKind::Symlink(String::from_utf8_lossy(content).into_owned())
        } else {
            EntryKind::File(content.to_vec())
        };
        entries.push(Entry { path, kind });
    }
    entries
}

/// Encodes files (relative path with `/`, content) into an input that [`decode`] gives back.
pub fn encode<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (path, content)) in files.into_iter().enumerate() {
        if i > 0 {
            out.push(0);
        }
        out.extend_from_slice(path.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(content);
    }
    out
}

/// Writes the entries under `root` (an empty directory): files first, then links.
pub fn materialize(root: &Path, entries: &[Entry]) -> std::io::Result<()> {
    let full = |path: &[String]| -> PathBuf { path.iter().fold(root.to_owned(), |p, c| p.join(c)) };
    for entry in entries {
        if let EntryKind::File(content) = &entry.kind {
            let at = full(&entry.path);
            if let Some(parent) = at.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&at)
                .and_then(|mut f| std::io::Write::write_all(&mut f, content))?;
        }
    }
    for entry in entries {
        if let EntryKind::Symlink(target) = &entry.kind {
            let at = full(&entry.path);
            if let Some(parent) = at.parent() {
                fs::create_dir_all(parent)?;
            }
            #[cfg(unix)]
            std::os::unix::fs::symlink(target, &at)?;
            #[cfg(not(unix))]
            let _ = target;
        }
    }
    Ok(())
}

/// Runs one input: decode, write into a temporary directory, read it as the importer does.
/// Returns how many documents the validator accepted (for tests); never panics on any input,
/// unless the code under test does.
pub fn run_one(data: &[u8]) -> usize {
    let entries = decode(data);
    let Ok(dir) = tempfile::tempdir() else {
        return 0;
    };
    if materialize(dir.path(), &entries).is_err() {
        // Something the file system refuses (a name too long for it, say): not the reader's.
        return 0;
    }
    check(dir.path())
}

/// Reads the export at `root` as the importer does, through the validator's shape check.
pub fn check(root: &Path) -> usize {
    let tree = reader::Directory::new(root);
    let Ok(manifest) = reader::read_manifest(&tree) else {
        return 0;
    };
    let counted = reader::documents(&tree, |read| {
        let read = read.map(|r| {
            r.map(|document| document.incoming)
                .map_err(|e| ImportError::Source(e.to_string()))
        });
        let documents = upgrade(manifest.format_version, Box::new(read));
        let mut accepted = 0;
        // As the importer does, the first error ends the stream.
        for incoming in documents.map_while(Result::ok) {
            let decl = incoming.collection.decl();
            let shaped = read_strictly(decl, &incoming.json);
            let Ok(mut value) = serde_json::from_str::<Value>(&incoming.json) else {
                continue;
            };
            cuttle_instance::codec::normalize_key_fields(decl, &mut value);
            let _ = cuttle_instance::documents::describe(decl, &value);
            if let Ok(value) = shaped {
                let _ = cuttle_instance::codec::sensitive_values(&value);
                accepted += 1;
            }
        }
        accepted
    });
    counted.unwrap_or(0)
}

/// The importer's shape check of a document's text ([`codec::canonicalize`]), which reads the
/// text strictly without building it. It must refuse what [`json::parse`] refuses, for the same
/// reason, and give a text the result it gives the same document spelt otherwise (parsed and
/// written back).
///
/// # Panics
///
/// When it does not (the fuzz target's finding).
fn read_strictly(
    decl: &cuttle_domain::CollectionDecl,
    text: &str,
) -> Result<Value, codec::Refused> {
    let shaped = codec::canonicalize(decl, text);
    match json::parse(text) {
        Err(e) => assert_eq!(
            shaped,
            Err(codec::Refused::Json(e)),
            "{}: {text:?}",
            decl.name
        ),
        Ok(parsed) => {
            let respelt = codec::canonicalize(decl, &parsed.to_string());
            assert_eq!(shaped, respelt, "{}: {text:?}, spelt {parsed}", decl.name);
        }
    }
    shaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_and_decode_agree() {
        let input = encode([
            ("manifest.json", &b"{}"[..]),
            ("teams/a.json", &b"{\"name\":\"a\"}\n"[..]),
        ]);
        let entries = decode(&input);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].path, ["teams", "a.json"]);
        assert_eq!(
            entries[1].kind,
            EntryKind::File(b"{\"name\":\"a\"}\n".to_vec())
        );
    }

    #[test]
    fn hostile_paths_are_dropped() {
        let entries = decode(b"../x\n\0/etc/x\n\0a/./b\n\0a//b\n\0a\n\0a/b\n\0@l\n/etc/passwd");
        let paths: Vec<_> = entries.iter().map(|e| e.path.join("/")).collect();
        assert_eq!(paths, ["a", "l"]);
    }
}
