//! The upgrade chain (SPEC 6.2, 6.6): an export of an older format version is brought forward
//! one version at a time, each step a small function from the documents of version N to those
//! of version N + 1, proven by a committed fixture of version N
//! (`crates/cuttle-cli/tests/fixtures/export-v<N>`) and a test.
//!
//! The documents stream through the chain (an import holds no export in memory): a step maps
//! one stream to the next, and may hold back what it needs to see first (a step that moves a
//! field from one collection to another keeps only that field's values).
//!
//! Format 1 is the only version so far, so the chain has no step yet. The next format change
//! adds `fn v1_to_v2(documents: Documents) -> Documents` in `upgrade/v1_to_v2.rs` and one line to
//! [`STEPS`].

use cuttle_instance::Incoming;
use cuttle_instance::error::{Hint, Message};

use super::ImportError;
use crate::format::FORMAT_VERSION;

/// The oldest format version this Cuttle reads.
pub const OLDEST: u32 = 1;

/// A stream of documents of one format version; the first error ends it.
pub type Documents<'a> = Box<dyn Iterator<Item = Result<Incoming, ImportError>> + 'a>;

/// A stream of documents of the running version, each with its identifying fields when they
/// are known ([`upgrade_read`]).
pub type Identified<'a> =
    Box<dyn Iterator<Item = Result<(Incoming, Option<serde_json::Value>), ImportError>> + 'a>;

/// One step: the documents of format `from` brought to format `from + 1`.
pub struct Step {
    pub from: u32,
    pub apply: for<'a> fn(Documents<'a>) -> Documents<'a>,
}

/// Every step, in order: `STEPS[i].from == OLDEST + i`, and the last brings the documents to
/// [`FORMAT_VERSION`].
pub const STEPS: &[Step] = &[];

/// Refuses a version this Cuttle cannot read; with `ignore`, a newer version is read as if it
/// were the running one, with a warning that says what that risks.
pub fn check_version(
    version: u32,
    ignore: bool,
    source: &str,
    warnings: &mut Vec<Message>,
) -> Result<(), ImportError> {
    if version < OLDEST {
        return Err(ImportError::Version(
            format!(
                "{source}: format version {version} is not a Cuttle export format (they start at {OLDEST})"
            )
            .into(),
        ));
    }
    if version > FORMAT_VERSION {
        if !ignore {
            return Err(ImportError::Version(Message::hinted(
                format!(
                    "{source}: the export is of format version {version}, written by a newer Cuttle; this Cuttle reads format versions {OLDEST} to {FORMAT_VERSION}. \
                     Import it with the newer Cuttle, or upgrade this one"
                ),
                Hint::IgnoreVersionCheck,
            )));
        }
        warnings.push(Message::hinted(
            format!(
                "{source}: format version {version} is newer than this Cuttle's {FORMAT_VERSION}; reading it as version {FORMAT_VERSION}, as asked. \
                 Fields and meanings added since are refused or misread; check the preview carefully"
            ),
            Hint::VersionCheckIgnored,
        ));
    }
    Ok(())
}

/// Brings the reader's documents of format `version` to the running version, each with the
/// identifying fields the reader found in it while no step changes it. A step may change a
/// document, so after one the identity is `None`, for the caller to read again.
pub fn upgrade_read<'a>(
    version: u32,
    documents: impl Iterator<Item = Result<crate::reader::Document, ImportError>> + 'a,
) -> Identified<'a> {
    if STEPS.iter().all(|step| step.from < version) {
        return Box::new(documents.map(|read| read.map(|d| (d.incoming, Some(d.identity)))));
    }
    let incoming = documents.map(|read| read.map(|d| d.incoming));
    Box::new(upgrade(version, Box::new(incoming)).map(|read| read.map(|i| (i, None))))
}

/// Brings documents of format `version` to the running version.
pub fn upgrade(version: u32, mut documents: Documents<'_>) -> Documents<'_> {
    for step in STEPS.iter().filter(|s| s.from >= version) {
        documents = (step.apply)(documents);
    }
    documents
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_is_contiguous_and_ends_at_the_running_version() {
        for (i, step) in STEPS.iter().enumerate() {
            assert_eq!(
                step.from,
                OLDEST + i as u32,
                "step {i} starts where it should"
            );
        }
        assert_eq!(OLDEST + STEPS.len() as u32, FORMAT_VERSION);
    }

    #[test]
    fn versions_are_checked() {
        let mut warnings = Vec::new();
        assert!(check_version(FORMAT_VERSION, false, "x", &mut warnings).is_ok());
        assert!(check_version(0, true, "x", &mut warnings).is_err());
        let newer = check_version(FORMAT_VERSION + 1, false, "x", &mut warnings).unwrap_err();
        assert!(newer.to_string().contains("newer Cuttle"), "{newer}");
        assert!(warnings.is_empty());
        check_version(FORMAT_VERSION + 1, true, "x", &mut warnings).unwrap();
        assert_eq!(warnings.len(), 1);
    }
}
