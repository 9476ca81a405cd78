//! The overwrite of a large document, an element at a time (`cuttle_instance::large` says what a
//! large document is).
//!
//! The source's version and the destination's are each held as a head (the document with its
//! large array empty) and the elements' views as compact JSON text, each with its key; an
//! element is parsed only while it is compared, merged or printed. What this decides is what
//! [`Planner::decide`] decides of the whole: the same merge (by key, or the source's array
//! whole), the same stand-ins for sensitive values, the same changes in the same order, the
//! same notes, and the same text to write. Whenever the document needs something this does not
//! do (a problem to report, a merge rule other than these), it gives `None` and the whole
//! document is planned as any other, to the same result.

use std::collections::{HashMap, HashSet};

use cuttle_domain::Collection;
use cuttle_domain::decl::{CollectionDecl, Elements, MergeRule, Merged, RefScope};
use cuttle_domain::path::JsonPath;
use cuttle_instance::codec::{self, Names};
use cuttle_instance::large;
use cuttle_store::DocId;
use serde_json::Value;

use super::super::diff::{self, DIGEST, Side};
use super::super::merge;
use super::super::spool::Spooled;
use super::super::{Action, DocumentPlan, ImportError, sources};
use super::{ChannelRef, Decision, MASKED_DIGEST, Planner, resolve_masked};

/// A version of a large document, as the plan compares it.
struct Parts {
    /// The document with its large array empty.
    head: Value,
    elements: Vec<Element>,
}

/// An element of a large array: its view as compact JSON, and its key ([`diff::element_key`]).
#[derive(Clone)]
struct Element {
    key: String,
    text: Box<str>,
}

impl Element {
    fn of(keys: &[&str], value: &Value) -> Self {
        Element {
            key: diff::element_key(keys, value),
            text: value.to_string().into(),
        }
    }

    fn value(&self) -> Value {
        serde_json::from_str(&self.text).expect("an element's view is JSON")
    }
}

/// What the source's version brings besides its parts: the channels it refers to.
struct Source {
    parts: Parts,
    channel_refs: Vec<ChannelRef>,
}

impl Planner<'_> {
    /// Whether the overwrite of `doc` (stored as `existing`) is planned an element at a time: its
    /// collection declares a large array, and its text or the destination's version is large.
    pub(super) fn is_large(&self, decl: &CollectionDecl, doc: &Spooled, existing: DocId) -> bool {
        large::is_large(decl, doc.span.len()) || self.large_dests.contains(&existing)
    }

    /// A large source document's head in canonical form, its shape checked an element at a
    /// time (for a document the plan skips: nothing else of it is needed); `None` when it is not
    /// large or not of its shape (read whole, its problems are reported).
    pub(super) fn check_large(
        &self,
        decl: &CollectionDecl,
        doc: &Spooled,
    ) -> Result<Option<Value>, ImportError> {
        if !large::is_large(decl, doc.span.len()) {
            return Ok(None);
        }
        let text = self.spool.read(doc.span).map_err(sources::spool_error)?;
        Ok(large::check(decl, &text))
    }

    /// The overwrite of the source's document `incoming` (its identifying fields `identity`)
    /// over the destination's `existing`, planned an element at a time; `None` when it must be
    /// planned whole (see the module's documentation).
    pub(super) fn decide_large(
        &mut self,
        decl: &'static CollectionDecl,
        incoming: &Spooled,
        identity: &Value,
        existing: DocId,
        mut plan: DocumentPlan,
    ) -> Result<Option<Decision>, ImportError> {
        let (Some(Elements { field, .. }), Some(element_decl)) =
            (decl.elements, decl.element_decl())
        else {
            return Ok(None);
        };
        let Some(keyed) = decl.keyed_arrays.iter().find(|k| k.path == field) else {
            return Ok(None);
        };
        // The array merges by key, or comes whole with the source's document.
        let by_key = match decl.merge {
            MergeRule::Merge(arrays) => {
                if arrays
                    .iter()
                    .any(|m| m.path() == field && *m != Merged::ByKey(field))
                {
                    return Ok(None);
                }
                arrays.contains(&Merged::ByKey(field))
            }
            MergeRule::Replace | MergeRule::ProjectPart | MergeRule::ProjectUnit => false,
            MergeRule::KeepActive(_) | MergeRule::CreateOnly => return Ok(None),
        };
        // What grants access is planned whole, and so is a document with more than one kind of
        // reference to its project's channels (their order in the plan follows the whole's walk).
        let channel_refs = decl
            .refs
            .iter()
            .filter(|r| r.scope == RefScope::SameProject && r.target == Collection::Channels);
        if decl.grants.is_some() || channel_refs.count() > 1 {
            return Ok(None);
        }
        let Some(Source {
            parts: source,
            channel_refs,
        }) = self.source_parts(decl, element_decl, field, keyed.key, incoming, &plan)?
        else {
            return Ok(None);
        };
        let Some(dest) = self.dest_parts(decl, element_decl, field, keyed.key, existing)? else {
            return Ok(None);
        };
        let keep_secrets = self.options.keep_destination_secrets;
        if keep_secrets && !merge::stand_ins(&dest.head).is_empty() {
            return Ok(None);
        }

        // The merge: the head by the collection's rule (its array empty on both sides), the
        // elements by key or the source's whole.
        let source_at: HashMap<String, usize> = source
            .elements
            .iter()
            .enumerate()
            .map(|(i, e)| (e.key.clone(), i))
            .collect();
        let kept_variables: Option<Vec<Value>> =
            (decl.collection == Collection::ProjectVariables && by_key).then(|| {
                dest.elements
                    .iter()
                    .filter(|e| !source_at.contains_key(&e.key))
                    .map(Element::value)
                    .collect()
            });
        let mut merged_head = merge::merge(decl, &dest.head, source.head);
        resolve_masked(decl, &dest.head, &mut merged_head);
        let mut merged: Vec<Element> = if by_key {
            let mut ours: Vec<Option<Element>> = source.elements.into_iter().map(Some).collect();
            let mut out = Vec::with_capacity(dest.elements.len().max(ours.len()));
            for theirs in &dest.elements {
                let replaced = source_at.get(&theirs.key).and_then(|i| ours[*i].take());
                out.push(replaced.unwrap_or_else(|| theirs.clone()));
            }
            out.extend(ours.into_iter().flatten());
            out
        } else {
            source.elements
        };
        drop(source_at);
        let dest_at: HashMap<&str, usize> = dest
            .elements
            .iter()
            .enumerate()
            .map(|(i, e)| (e.key.as_str(), i))
            .collect();
        // Stored keys are unique; where they are not, the whole's first match decides.
        if dest_at.len() != dest.elements.len() {
            return Ok(None);
        }
        // A source's `{"masked": true}` keeps the destination's value at its place.
        let masked = format!("\"{DIGEST}\":{}", Value::from(MASKED_DIGEST));
        for element in merged.iter_mut().filter(|e| e.text.contains(&masked)) {
            if let Some(theirs) = dest_at.get(element.key.as_str()) {
                let mut value = element.value();
                resolve_masked(element_decl, &dest.elements[*theirs].value(), &mut value);
                *element = Element::of(keyed.key, &value);
            }
        }
        if keep_secrets {
            let merged_at: HashMap<String, usize> = merged
                .iter()
                .enumerate()
                .map(|(i, e)| (e.key.clone(), i))
                .collect();
            let stand_in = format!("\"{DIGEST}\":");
            for theirs in dest.elements.iter().filter(|e| e.text.contains(&stand_in)) {
                let Some(ours) = merged_at.get(&theirs.key) else {
                    continue;
                };
                let theirs = theirs.value();
                let mut value = merged[*ours].value();
                let at = diff::element_path(decl, field, &theirs);
                let shown = |here: &JsonPath| {
                    let within = diff::shown_path(element_decl, &theirs, here);
                    format!("{at}{}", &within[1..])
                };
                plan.notes.extend(merge::keep_destination_secrets_in(
                    element_decl,
                    &theirs,
                    &mut value,
                    &shown,
                ));
                merged[*ours] = Element::of(keyed.key, &value);
            }
        }
        let removed_steps = (decl.collection == Collection::DeploymentProcesses).then(|| {
            let names = |elements: &[Element]| -> HashSet<String> {
                elements
                    .iter()
                    .map(|e| super::super::text_of(e.value().get("name")))
                    .collect()
            };
            let kept = names(&merged);
            names(&dest.elements)
                .into_iter()
                .filter(|name| !kept.contains(name))
                .collect::<std::collections::BTreeSet<_>>()
        });

        // The changes: none where every part is alike, as most overwrites of large documents
        // find; otherwise the walk that names them.
        let alike = diff::same(&dest.head, &merged_head)
            && dest.elements.len() == merged.len()
            && dest.elements.iter().zip(&merged).all(|(theirs, ours)| {
                theirs.text == ours.text || diff::same(&theirs.value(), &ours.value())
            });
        let changes = if alike {
            Vec::new()
        } else {
            let keys = [
                dest.elements
                    .iter()
                    .map(|e| e.key.clone())
                    .collect::<Vec<_>>(),
                merged.iter().map(|e| e.key.clone()).collect::<Vec<_>>(),
            ];
            let mut element = |side: Side, i: usize| match side {
                Side::Old => dest.elements[i].value(),
                Side::New => merged[i].value(),
            };
            let found = diff::diff_large(
                decl,
                field,
                &dest.head,
                &merged_head,
                [&keys[0], &keys[1]],
                &mut element,
            );
            match found {
                Some(changes) => changes,
                None => return Ok(None),
            }
        };

        // Decided: what the project's unit learns, then the decision.
        self.note_part(decl, &plan, identity);
        if let Some(unit) = plan.project.as_ref().and_then(|p| self.units.get_mut(p)) {
            if let Some(removed) = removed_steps {
                unit.removed_steps = removed;
            }
            if let Some(kept) = kept_variables {
                unit.kept_variables = kept;
            }
        }
        plan.changes = changes;
        // Changed or not, what the source brings must not refer to a removed channel.
        self.record_channel_refs(&plan, channel_refs);
        if plan.changes.is_empty() {
            plan.action = Action::Unchanged;
            return Ok(Some(Decision { plan, write: None }));
        }
        plan.action = match decl.merge {
            MergeRule::Merge(_) => Action::Merge,
            _ => Action::Overwrite,
        };
        drop(dest_at);
        drop(dest);
        merge::strip_digests(&mut merged_head);
        let mut text = Vec::new();
        large::print_with::<std::convert::Infallible>(
            &merged_head,
            field,
            merged.len(),
            large::Print::Compact,
            &mut text,
            &mut |i| {
                let mut value = merged[i].value();
                merge::strip_digests(&mut value);
                Ok(value)
            },
        )
        .unwrap_or_else(|never| match never {});
        drop(merged);
        let text = String::from_utf8(text).expect("serde_json writes UTF-8");
        let write = incoming
            .replaced(self.spool, &text)
            .map_err(sources::spool_error)?;
        Ok(Some(Decision {
            plan,
            write: Some(write),
        }))
    }

    /// The source's version of a large document, in canonical form, its sensitive values given
    /// their stand-ins; `None` when it has a problem (the whole-document path reports it).
    fn source_parts(
        &self,
        decl: &CollectionDecl,
        element_decl: &'static CollectionDecl,
        field: &'static str,
        keys: &[&str],
        incoming: &Spooled,
        plan: &DocumentPlan,
    ) -> Result<Option<Source>, ImportError> {
        let text = self
            .spool
            .read(incoming.span)
            .map_err(sources::spool_error)?;
        let Some(mut canonical) = large::Canonical::of(decl, &text) else {
            return Ok(None);
        };
        let mut head = std::mem::take(&mut canonical.head);
        let mut channel_refs = self.channel_refs(decl, plan, &head, incoming.origin);
        if !self.comparing.put_stand_ins(&mut head).is_empty() {
            return Ok(None);
        }
        let mut elements = Vec::with_capacity(canonical.len());
        for index in 0..canonical.len() {
            let Some(mut value) = canonical.next_element() else {
                return Ok(None);
            };
            let at = JsonPath::root().field(field).index(index);
            channel_refs.extend(
                self.channel_refs(element_decl, plan, &value, incoming.origin)
                    .into_iter()
                    .map(|(channel, document, origin, path)| {
                        (channel, document, origin, at.clone().join(&path))
                    }),
            );
            if !self.comparing.put_stand_ins(&mut value).is_empty() {
                return Ok(None);
            }
            elements.push(Element::of(keys, &value));
        }
        Ok(Some(Source {
            parts: Parts { head, elements },
            channel_refs,
        }))
    }

    /// The destination's version of a large document, in the export shape with digest
    /// stand-ins: rendered whole where it is small, otherwise an element at a time. `None` when
    /// it is not split as its declaration says.
    fn dest_parts(
        &mut self,
        decl: &CollectionDecl,
        element_decl: &'static CollectionDecl,
        field: &'static str,
        keys: &[&str],
        id: DocId,
    ) -> Result<Option<Parts>, ImportError> {
        let stored = self.stored(id)?;
        if !self.large_dests.remove(&id) {
            let mut view = self.stored_view(decl, id, &stored.body)?;
            let empty = Value::Array(Vec::new());
            let Some(Value::Array(items)) =
                view.get_mut(field).map(|v| std::mem::replace(v, empty))
            else {
                return Ok(None);
            };
            let elements = items.iter().map(|v| Element::of(keys, v)).collect();
            return Ok(Some(Parts {
                head: view,
                elements,
            }));
        }
        let Some(split) = large::split(&stored.body, field) else {
            return Ok(None);
        };
        let (sealer, digest_key) = (self.sealer, self.digest_key.clone());
        let root = JsonPath::root();
        let mut names = Names::new(&mut *self.txn);
        let head = codec::parse_stored(decl, id, &split.head)?;
        let head = Self::dest_view(sealer, &digest_key, &mut names, decl, id, head, &root)?;
        let mut elements = Vec::with_capacity(split.elements.len());
        for (index, text) in split.elements.iter().enumerate() {
            let value = codec::parse_stored(element_decl, id, text)?;
            let at = JsonPath::root().field(field).index(index);
            let view = Self::dest_view(
                sealer,
                &digest_key,
                &mut names,
                element_decl,
                id,
                value,
                &at,
            )?;
            elements.push(Element::of(keys, &view));
        }
        Ok(Some(Parts { head, elements }))
    }
}
