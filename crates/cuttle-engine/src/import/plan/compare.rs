//! An overwrite's comparison of a source's document with the destination's version: what the
//! merge rule makes of both, and what changes. It needs nothing of the transaction, so that any
//! core makes it: the plan compares a chunk's documents on every core, ahead of their decisions
//! ([`super::Planner::checks`]), and the decision applies what was found
//! ([`super::Planner::decide`]).

use std::collections::BTreeSet;
use std::convert::Infallible;

use cuttle_crypto::export::ExportKey;
use cuttle_crypto::{Place, Sealer};
use cuttle_domain::Collection;
use cuttle_domain::decl::{CollectionDecl, Merged, RefScope};
use cuttle_domain::path::{self, At, JsonPath};
use cuttle_domain::sensitive::{ENCRYPTED, Form, SECRET};
use cuttle_instance::codec::{self, Names};
use cuttle_store::{DocId, StoreError};
use serde_json::Value;
use zeroize::Zeroizing;

use super::super::diff::{self, DIGEST};
use super::super::merge;
use super::{
    Checked, MASKED_DIGEST, Planner, digest, grant_changes, masked_stand_in, resolve_masked,
};
use crate::export::reencrypt;
use crate::format;

/// What comparing needs, on any core: the destination's sealer (its versions' sensitive values
/// are opened to be compared), the sources' keys (a source's sensitive values are compared by
/// the digest of their plaintext) and the run's digest key.
#[derive(Clone)]
pub(super) struct Comparing<'k> {
    pub sealer: &'k Sealer,
    pub keys: &'k [ExportKey],
    pub digest_key: Zeroizing<[u8; 32]>,
    /// `--keep-destination-secrets`.
    pub keep_destination_secrets: bool,
}

/// What comparing a source's document with the destination's version found.
pub(super) struct Compared {
    /// What changes (none when the merge is the destination's version), grants included.
    pub changes: Vec<diff::Change>,
    /// What keeping the destination's secrets did.
    pub notes: Vec<String>,
    /// Where something changes, the merged document's text, as it is written.
    pub merged: Option<String>,
    /// Of a deployment process, the destination's steps that the merged one does not have.
    pub removed_steps: BTreeSet<String>,
    /// Of project variables, the destination's variables that the merge keeps.
    pub kept_variables: Vec<Value>,
    /// The channels the source's document refers to, by name, and where.
    pub channel_refs: Vec<(String, JsonPath)>,
}

/// The problems of a source's document that cannot be compared: each sensitive value that does
/// not open, and why.
pub(super) type Unopened = Vec<(JsonPath, String)>;

/// The destination's version of a source's document, as [`Comparing::dest_version`] renders it.
pub(super) enum DestVersion {
    /// The source's text is what its export writes of the destination's version: the document
    /// checked (its identifying fields) and compared.
    Written(Checked),
    /// The version to compare the source's document with ([`Comparing::compare`]).
    View(Value),
}

impl Comparing<'_> {
    /// Compares `source` (a source's document of `decl`, in canonical form) with `dest` (the
    /// destination's version in the export shape, digests for its sensitive values).
    pub fn compare(
        &self,
        decl: &CollectionDecl,
        dest: Value,
        source: Value,
    ) -> Result<Compared, Unopened> {
        let channel_refs = channel_refs(decl, &source);
        let mut source = source;
        let unopened = self.put_stand_ins(&mut source);
        if !unopened.is_empty() {
            return Err(unopened);
        }
        // Most of an overwrite of identical data is documents alike the destination's: where
        // the merge rule then gives the source's version, there is nothing to merge and no
        // change to find (and no grant, no secret kept, no step or variable left behind).
        if merges_alike_to_nothing(decl) && diff::same(&dest, &source) {
            return Ok(alike(channel_refs));
        }
        // What a merge keeps of the destination's own variables (the removals check their
        // scopes).
        let kept_variables = match decl.collection {
            Collection::ProjectVariables => decl
                .merge
                .merged()
                .iter()
                .filter_map(|m| match m {
                    Merged::ByKey(field) => Some(merge::kept_elements(decl, field, &dest, &source)),
                    _ => None,
                })
                .flatten()
                .collect(),
            _ => Vec::new(),
        };
        let mut merged = merge::merge(decl, &dest, source);
        resolve_masked(decl, &dest, &mut merged);
        let notes = match self.keep_destination_secrets {
            true => merge::keep_destination_secrets(decl, &dest, &mut merged),
            false => Vec::new(),
        };
        let removed_steps = match decl.collection {
            Collection::DeploymentProcesses => {
                let kept = step_names(&merged);
                step_names(&dest).difference(&kept).cloned().collect()
            }
            _ => BTreeSet::new(),
        };
        // Documents alike after the merge have no change to find, and the walk that names each
        // change is skipped.
        let mut changes = match diff::same(&dest, &merged) {
            true => Vec::new(),
            false => diff::diff(decl, &dest, &merged),
        };
        if let Some(grants) = &decl.grants {
            changes.extend(grant_changes(grants, Some(&dest), &merged));
        }
        drop(dest);
        let merged = (!changes.is_empty()).then(|| {
            merge::strip_digests(&mut merged);
            merged.to_string()
        });
        Ok(Compared {
            changes,
            notes,
            merged,
            removed_steps,
            kept_variables,
            channel_refs,
        })
    }

    /// The destination's version of a document of `decl` (`id`, its stored `body`), to compare
    /// with `text`, the document of source `source` that matches it; `None` where the version
    /// does not render from `names` (one that needs a name the chunk did not read, such as one
    /// inside a referenced document's key, or that fails): the decision renders it again, with
    /// the transaction, which reads what it needs (or fails the same way).
    ///
    /// Most of an overwrite of unchanged data is documents whose text is, byte for byte, what
    /// the source's export wrote of the destination's version (an export is deterministic, and
    /// its encryption too). The version is rendered as that export renders it first, and such a
    /// text is not read: it is the destination's version, which was checked when it was written,
    /// and that rendering is its canonical form. Where the merge rule makes nothing of two alike
    /// versions, they are not compared either. Any other text is read into its canonical form
    /// and compared with the view made of that rendering.
    pub fn dest_version(
        &self,
        decl: &CollectionDecl,
        id: DocId,
        body: Value,
        names: &mut Names<'_>,
        source: u32,
        text: &str,
    ) -> Option<DestVersion> {
        let key = self.keys.get(source as usize);
        // Only what the format writes can be what it writes: a backup's document (on one line)
        // or an upgraded one is not, nor a document with scripts (an export may write them in
        // files of their own) or a task log (written as its text).
        let written = decl.scripts.is_empty()
            && decl.collection != Collection::TaskLogs
            && text.starts_with("{\n");
        let (Some(key), true) = (key, written) else {
            let root = JsonPath::root();
            let view =
                Planner::dest_view(self.sealer, &self.digest_key, names, decl, id, body, &root);
            return view.ok().map(DestVersion::View);
        };
        let mut reencrypt = |slot: &mut Value, place: Place<'_>| {
            reencrypt(self.sealer, key, slot, place).map_err(|e| StoreError::Corrupt(e.to_string()))
        };
        let exported = codec::render_parsed(decl, id, body, names, &mut reencrypt).ok()?;
        if !format::is_written_as(&exported, text) {
            return self.view_of_exported(exported, key).map(DestVersion::View);
        }
        let value = codec::identity_of(decl, &exported);
        let compared = match merges_alike_to_nothing(decl) {
            true => Ok(alike(channel_refs(decl, &exported))),
            // The merge rule makes what it does of the two versions, alike.
            false => {
                let view = self.view_of_exported(exported.clone(), key)?;
                self.compare(decl, view, exported)
            }
        };
        Some(DestVersion::Written(Checked {
            value,
            compared: Some(compared),
        }))
    }

    /// The view ([`Planner::dest_view`]) of the destination's version rendered as an export
    /// under `key`: each sensitive value's stand-in takes the digest of its plaintext.
    fn view_of_exported(&self, mut exported: Value, key: &ExportKey) -> Option<Value> {
        let walked =
            codec::for_each_sensitive_mut::<()>(&mut exported, &At::ROOT, &mut |slot, form, _| {
                if form != Form::Encrypted {
                    return Ok(());
                }
                let text = slot
                    .get(ENCRYPTED)
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let plain = key.decrypt(text).map_err(|_| ())?;
                *slot = masked_stand_in(digest(&self.digest_key, &plain));
                Ok(())
            });
        walked.ok().map(|()| exported)
    }

    /// Gives each sensitive value of a source's `view` its stand-in (the digest of its
    /// plaintext); where a value does not open, what is wrong.
    pub fn put_stand_ins(&self, view: &mut Value) -> Unopened {
        let mut unopened = Vec::new();
        let walked = codec::for_each_sensitive_mut(view, &At::ROOT, &mut |slot, form, here| {
            let text = |field: &str| slot.get(field).and_then(Value::as_str).unwrap_or_default();
            let stand_in = match form {
                Form::Encrypted => match super::super::open_any(self.keys, text(ENCRYPTED)) {
                    Ok(plain) => digest(&self.digest_key, &plain),
                    Err(message) => {
                        unopened.push((here.to_path(), message));
                        return Ok(());
                    }
                },
                Form::Secret => digest(&self.digest_key, text(SECRET).as_bytes()),
                // Keeps the destination's value: resolved against it after the merge.
                Form::Masked => MASKED_DIGEST.into(),
                // Refused by the write path (a sealed value belongs to one instance).
                Form::Sealed => "sealed".into(),
            };
            if let Value::Object(object) = slot {
                object.insert(DIGEST.into(), Value::String(stand_in));
            }
            Ok::<(), Infallible>(())
        });
        let Ok(()) = walked;
        unopened
    }
}

/// Whether the merge rule of `decl` makes nothing of two versions alike: it gives the source's
/// version ([`merge::gives_source_when_alike`]) and grants nothing.
fn merges_alike_to_nothing(decl: &CollectionDecl) -> bool {
    merge::gives_source_when_alike(decl) && decl.grants.is_none()
}

/// What comparing two alike versions finds, where the merge rule makes nothing of them: no
/// change, no secret kept, no step or variable left behind; the channels the source's document
/// refers to.
fn alike(channel_refs: Vec<(String, JsonPath)>) -> Compared {
    Compared {
        changes: Vec::new(),
        notes: Vec::new(),
        merged: None,
        removed_steps: BTreeSet::new(),
        kept_variables: Vec::new(),
        channel_refs,
    }
}

/// The channels a document of `decl` refers to within its project: each by name, and where.
pub(super) fn channel_refs(decl: &CollectionDecl, value: &Value) -> Vec<(String, JsonPath)> {
    let mut found = Vec::new();
    for r in decl
        .refs
        .iter()
        .filter(|r| r.scope == RefScope::SameProject && r.target == Collection::Channels)
    {
        let _ = path::for_each::<()>(value, r.path, r.when.as_ref(), &mut |v, at| {
            if let Some(name) = v.as_str() {
                found.push((name.to_owned(), at.to_path()));
            }
            Ok(())
        });
    }
    found
}

/// The names of a deployment process's steps.
fn step_names(process: &Value) -> BTreeSet<String> {
    process
        .get("steps")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|s| super::super::text_of(s.get("name")))
        .collect()
}
