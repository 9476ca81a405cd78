//! The export format, version 1 (SPEC 5): how file names are made from natural keys, and the
//! manifest. Where each file stands, and which files the format owns, is [`crate::layout`].
//!
//! Everything here is a promise to users who commit exports to git: changing it means a new
//! format version and an upgrade step.

use cuttle_domain::documents::ScriptSyntax;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The version of the export format this build writes.
pub const FORMAT_VERSION: u32 = 1;
/// The manifest's file name, at the root of an export.
pub const MANIFEST: &str = "manifest.json";
/// The folder of a project's documents, and of the projects.
pub const PROJECTS: &str = "projects";
/// The folder of a process's extracted scripts, inside its project's folder.
pub const PROCESS_SCRIPTS: &str = "scripts";
/// The suffix of the folder beside a top-level document that holds its extracted scripts.
pub const SCRIPTS_SUFFIX: &str = ".scripts";

/// The longest readable prefix of a file name, in characters.
const MAX_PREFIX: usize = 32;
/// Windows' reserved device names, which no file may be called (whatever its extension).
const RESERVED: &[&str] = &[
    "con", "prn", "aux", "nul", "com0", "com1", "com2", "com3", "com4", "com5", "com6", "com7",
    "com8", "com9", "lpt0", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// The file-name stem of a name (SPEC 5.4): a readable lowercase ASCII prefix, plus `_` and a
/// 10-character hash of the exact name whenever the prefix does not spell the name exactly.
///
/// - The prefix keeps ASCII letters (lowercased) and digits; every other run of characters
///   becomes one `-`, none at either end; it is at most 32 characters long.
/// - Exact stems hold only `[a-z0-9-]`, so they are distinct from each other even on
///   case-insensitive and normalising file systems; hashed stems hold a `_`, which an exact stem
///   never does, so they are distinct from exact ones; two hashed stems collide only if 50 bits of
///   SHA-256 do.
/// - No stem is a reserved device name, ends in a dot or a space, or holds a character that any
///   of Linux, macOS or Windows forbids.
/// - The stem depends on the name alone.
pub fn stem(name: &str) -> String {
    let mut prefix = String::with_capacity(name.len().min(MAX_PREFIX));
    for c in name.chars() {
        if prefix.len() >= MAX_PREFIX {
            break;
        }
        if c.is_ascii_alphanumeric() {
            prefix.push(c.to_ascii_lowercase());
        } else if !prefix.is_empty() && !prefix.ends_with('-') {
            prefix.push('-');
        }
    }
    while prefix.ends_with('-') {
        prefix.pop();
    }
    if !prefix.is_empty() && prefix == name && !RESERVED.contains(&prefix.as_str()) {
        return prefix;
    }
    let hash = short_hash(name);
    if prefix.is_empty() {
        hash
    } else {
        format!("{prefix}_{hash}")
    }
}

/// 50 bits of SHA-256 of the name's bytes, in lowercase base32 (10 characters).
fn short_hash(name: &str) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let digest = Sha256::digest(name.as_bytes());
    let bits = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (0..10)
        .map(|i| ALPHABET[((bits >> (59 - 5 * i)) & 31) as usize] as char)
        .collect()
}

/// The file extension of an extracted script.
pub fn script_extension(syntax: ScriptSyntax) -> &'static str {
    match syntax {
        ScriptSyntax::PowerShell => "ps1",
        ScriptSyntax::Bash => "sh",
        ScriptSyntax::Python => "py",
        ScriptSyntax::CSharp => "csx",
        ScriptSyntax::FSharp => "fsx",
    }
}

/// What an export holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Contents {
    /// `instance` or `partial`.
    pub kind: ContentsKind,
    /// For a partial export: the selected projects and project groups, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub projects: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub project_groups: Vec<String>,
    /// For a partial export: the kinds left out (`machines`, `tenants`, …), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
    pub history: bool,
    pub task_logs: bool,
    pub inline_scripts: InlineScripts,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentsKind {
    Instance,
    Partial,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InlineScripts {
    /// Scripts are files beside their owner.
    Extract,
    /// Scripts stay inside the JSON.
    Inline,
}

/// How sensitive values are encrypted (SPEC 5.7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Encryption {
    /// Always `AES-256-SIV`.
    pub algorithm: String,
    pub kdf: Kdf,
    /// HMAC-SHA-256 of a fixed string under the check key, base64url: proves the password.
    pub key_check: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Kdf {
    /// Always `argon2id`.
    pub algorithm: String,
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// 16 bytes, base64url without padding.
    pub salt: String,
}

/// The manifest at the root of an export (SPEC 5.6). Apart from the salt, nothing in it depends
/// on the time or on which instance exported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    pub format_version: u32,
    pub product_version: String,
    /// The version of the documents' schema (the domain version).
    pub schema_version: u32,
    pub contents: Contents,
    pub encryption: Encryption,
}

pub const SIV: &str = "AES-256-SIV";
pub const ARGON2ID: &str = "argon2id";

/// A JSON document as the format writes it (SPEC 5.2): two-space indent, LF, a trailing
/// newline; into `bytes`, which is cleared first (a worker reuses one buffer).
pub fn write_document(value: &serde_json::Value, bytes: &mut Vec<u8>) {
    bytes.clear();
    serde_json::to_writer_pretty(&mut *bytes, value).expect("a JSON value serializes");
    bytes.push(b'\n');
}

/// Whether `text` is, byte for byte, what [`write_document`] writes of `value`: compared as it
/// is written, so that neither is copied and the first difference ends the comparison.
pub fn is_written_as(value: &serde_json::Value, text: &str) -> bool {
    /// The text still to be matched; a write that does not match it fails.
    struct Matching<'t>(&'t [u8]);
    impl std::io::Write for Matching<'_> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            match self.0.strip_prefix(bytes) {
                Some(rest) => {
                    self.0 = rest;
                    Ok(bytes.len())
                }
                None => Err(std::io::ErrorKind::InvalidData.into()),
            }
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut rest = Matching(text.as_bytes());
    serde_json::to_writer_pretty(&mut rest, value).is_ok() && rest.0 == b"\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_written_as_a_value_only_when_it_is_its_document_byte_for_byte() {
        let value = serde_json::json!({"name": "Web", "tags": ["a", "b"], "n": 1});
        let mut bytes = Vec::new();
        write_document(&value, &mut bytes);
        let text = String::from_utf8(bytes).unwrap();
        assert!(is_written_as(&value, &text));
        // The same document in another layout, or without its last newline, is not.
        assert!(!is_written_as(&value, &value.to_string()));
        assert!(!is_written_as(&value, text.trim_end()));
        assert!(!is_written_as(&value, &format!("{text}\n")));
        assert!(!is_written_as(&value, &text.replace("Web", "Wab")));
        assert!(!is_written_as(&serde_json::json!({"name": "Web"}), &text));
    }

    #[test]
    fn exact_lowercase_names_are_their_own_stem() {
        assert_eq!(stem("production"), "production");
        assert_eq!(stem("web-app-2"), "web-app-2");
    }

    #[test]
    fn other_names_get_a_readable_prefix_and_a_hash() {
        let s = stem("Production");
        assert!(s.starts_with("production_"), "{s}");
        assert_eq!(s.len(), "production_".len() + 10);
        assert_ne!(stem("Prod-EU"), stem("prod-eu"));
        assert_ne!(
            stem("Prod-EU").to_lowercase(),
            stem("prod-eu").to_lowercase()
        );
        assert!(stem("Payments/API").starts_with("payments-api_"));
        assert!(stem("Intranet.").starts_with("intranet_"));
        assert!(stem("1.4.2").starts_with("1-4-2_"));
    }

    #[test]
    fn hostile_names_give_valid_distinct_stems() {
        let names = [
            "CON",
            "con",
            "Con",
            "nul",
            "lpt1",
            "COM9",
            "a/b",
            "a\\b",
            "a:b",
            "a*b",
            "a?b",
            "a\"b",
            "a<b>",
            "a|b",
            "trailing.",
            "trailing ",
            " leading",
            "..",
            ".",
            ".git",
            "東京",
            "Café",
            "Cafe\u{301}",
            "😀",
            "",
            "-",
            "_",
            "a_b",
            "a-b",
        ];
        let long = "x".repeat(500);
        let mut stems: Vec<String> = names.iter().map(|n| stem(n)).collect();
        stems.push(stem(&long));
        for (name, s) in names.iter().chain([&long.as_str()]).zip(&stems) {
            assert!(!s.is_empty() && s.len() <= 43, "{name:?} -> {s:?}");
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'-'
                    || b == b'_'),
                "{name:?} -> {s:?}"
            );
            assert!(!RESERVED.contains(&s.as_str()), "{name:?} -> {s:?}");
            assert!(
                !s.ends_with(['.', ' ']) && !s.starts_with('.'),
                "{name:?} -> {s:?}"
            );
        }
        let mut unique = stems.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), stems.len(), "{stems:?}");
    }

    #[test]
    fn stems_are_pinned() {
        // The format is a promise: these must never change. (Cross-checked with Python's
        // hashlib: the top 50 bits of SHA-256 of the UTF-8 name, in RFC 4648 base32, lowercase.)
        assert_eq!(stem("Production"), "production_cot4mvnh2q");
        assert_eq!(stem("CON"), "con_upn4jnsevg");
        assert_eq!(stem("con"), "con_cfb5uk6fjr");
        assert_eq!(stem("Café Zürich"), "caf-z-rich_3j2gk3knnt");
        assert_eq!(stem("1.4.2"), "1-4-2_r3c2c6xye5");
        assert_eq!(stem("web-app"), "web-app");
    }
}
