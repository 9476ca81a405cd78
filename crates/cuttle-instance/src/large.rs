//! A large document, an element at a time.
//!
//! Most of a large document is one array at its top (a variable set's `variables`, a process's
//! `steps`): its collection's [`Elements`]. The whole-document path builds a tree of the whole
//! (several times the text); here the document is split into its head (the document with that
//! array empty) and its elements' texts, and each element is brought through the same steps on
//! its own, with the declarations under the array ([`CollectionDecl::element_decl`]). The
//! document then costs its text, its output and one chunk of elements.
//!
//! This is a faster way to the same result, never a second set of rules: whenever something is
//! wrong with the document, or it needs what only the whole can give (a `{"masked"}` value keeps
//! the stored value at its place, found in the stored version), these functions give `None` and
//! the whole-document path runs, to the same result or to the same problems.

use std::collections::HashSet;
use std::hash::BuildHasher;

use cuttle_crypto::Sealer;
use cuttle_domain::decl::{CollectionDecl, Elements};
use cuttle_domain::path::JsonPath;
use cuttle_domain::sensitive::Form;
use cuttle_store::{DocId, StoreError};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::codec::{self, Decrypt, Lookup};
use crate::parallel;

/// A document is processed an element at a time from this size of text on.
pub const LARGE_DOCUMENT: usize = 4 << 20;

/// Elements are shaped on every core in chunks of at most this much text.
const CHUNK_BYTES: usize = 1 << 20;
const CHUNK_ELEMENTS: usize = 4_096;

/// Whether a document of `decl`'s collection whose text is `size` bytes long goes an element at
/// a time.
pub fn by_elements(decl: &CollectionDecl, size: usize) -> bool {
    decl.elements.is_some() && size >= LARGE_DOCUMENT
}

/// A document's text, split at its large array.
#[derive(Debug)]
pub struct Split<'t> {
    /// The document with the array empty.
    pub head: String,
    /// Each element's text, in order.
    pub elements: Vec<&'t str>,
}

/// Splits `text` at the top-level member `field`, an array; `None` unless `text` is one JSON
/// object that has `field` once, holding an array, and no other member twice.
pub fn split<'t>(text: &'t str, field: &str) -> Option<Split<'t>> {
    struct Members;

    impl<'de> Visitor<'de> for Members {
        type Value = Vec<(String, &'de RawValue)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut members = Vec::new();
            while let Some(member) = map.next_entry::<String, &'de RawValue>()? {
                members.push(member);
            }
            Ok(members)
        }
    }

    let mut de = serde_json::Deserializer::from_str(text);
    let members = de.deserialize_map(Members).ok()?;
    de.end().ok()?;
    let mut seen = HashSet::new();
    if !members.iter().all(|(name, _)| seen.insert(name.as_str())) {
        return None;
    }
    let (_, array) = members.iter().find(|(name, _)| name == field)?;
    let elements: Vec<&'t RawValue> = serde_json::from_str(array.get()).ok()?;
    let mut head = String::with_capacity(text.len() - array.get().len() + 2);
    head.push('{');
    for (i, (name, value)) in members.iter().enumerate() {
        if i > 0 {
            head.push(',');
        }
        head.push_str(&Value::from(name.as_str()).to_string());
        head.push(':');
        head.push_str(if name == field { "[]" } else { value.get() });
    }
    head.push('}');
    Some(Split {
        head,
        elements: elements.into_iter().map(RawValue::get).collect(),
    })
}

/// The stored body of the document `text` of `decl`'s collection, to be stored under `id` in
/// `owner` (as the write path makes it from the whole: canonical, references resolved, secrets
/// sealed, serialized), made an element at a time. `None` when the whole-document path must
/// make it (see the module's documentation), or when `decl` declares no large array.
#[allow(clippy::too_many_arguments)]
pub fn stored_body(
    decl: &CollectionDecl,
    text: &str,
    id: DocId,
    owner: DocId,
    lookup: &mut dyn Lookup,
    sealer: &Sealer,
    decrypt: Option<Decrypt<'_>>,
) -> Result<Option<String>, StoreError> {
    let (Some(Elements { field, .. }), Some(element_decl)) = (decl.elements, decl.element_decl())
    else {
        return Ok(None);
    };
    let Some(split) = split(text, field) else {
        return Ok(None);
    };
    let Ok(mut head) = codec::canonicalize(decl, &split.head) else {
        return Ok(None);
    };
    if !head
        .get(field)
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        return Ok(None);
    }
    let mut finish = |value: &mut Value, decl: &CollectionDecl, at: &JsonPath| {
        finish(decl, value, at, id, owner, lookup, sealer, decrypt)
    };
    if finish(&mut head, decl, &JsonPath::root())?.is_none() {
        return Ok(None);
    }
    let Value::Object(members) = &head else {
        return Ok(None);
    };
    let key_fields = decl
        .keyed_arrays
        .iter()
        .find(|k| k.path == field)
        .map_or(&[][..], |k| k.key);
    // The elements' keys, hashed: a repeated hash sends the document to the whole path, which
    // tells a repeated key from a collision.
    let hasher = std::hash::RandomState::new();
    let mut keys = HashSet::with_capacity(split.elements.len());

    let mut body = Vec::with_capacity(text.len());
    body.push(b'{');
    for (i, (name, value)) in members.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        write(&mut body, &Value::from(name.as_str()));
        body.push(b':');
        if name != field {
            write(&mut body, value);
            continue;
        }
        body.push(b'[');
        let mut done = 0;
        while done < split.elements.len() {
            let end = done
                + parallel::chunk_len(&split.elements[done..], CHUNK_ELEMENTS, CHUNK_BYTES, |t| {
                    t.len()
                });
            let shaped = parallel::map_in_order(&split.elements[done..end], |text| {
                codec::canonicalize(element_decl, text)
            });
            for (index, shaped) in (done..).zip(shaped) {
                let Ok(mut element) = shaped else {
                    return Ok(None);
                };
                let key: Vec<&Value> = key_fields
                    .iter()
                    .map(|k| element.get(*k).unwrap_or(&Value::Null))
                    .collect();
                if !keys.insert(hasher.hash_one(serde_json::to_string(&key).expect("JSON"))) {
                    return Ok(None);
                }
                let at = JsonPath::root().field(field).index(index);
                if finish(&mut element, element_decl, &at)?.is_none() {
                    return Ok(None);
                }
                if index > 0 {
                    body.push(b',');
                }
                write(&mut body, &element);
            }
            done = end;
        }
        body.push(b']');
    }
    body.push(b'}');
    Ok(Some(
        String::from_utf8(body).expect("serde_json writes UTF-8"),
    ))
}

/// A stored large document, rendered to the export shape a part at a time: its head at once,
/// each element when asked ([`render`]).
pub struct Rendering<'b> {
    element_decl: &'static CollectionDecl,
    field: &'static str,
    id: DocId,
    /// The document with its large array empty, rendered.
    pub head: Value,
    elements: Vec<&'b str>,
}

impl Rendering<'_> {
    /// The large array's field in [`Rendering::head`].
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// How many elements the array holds.
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// The element at `index`, rendered as [`codec::render`] renders it in the whole (its
    /// sealed values handed to `secret` with their place in the whole).
    pub fn element(
        &self,
        index: usize,
        names: &mut codec::Names<'_>,
        secret: &mut dyn FnMut(&mut Value, cuttle_crypto::Place<'_>) -> Result<(), StoreError>,
    ) -> Result<Value, StoreError> {
        let value = codec::parse_stored(self.element_decl, self.id, self.elements[index])?;
        let at = JsonPath::root().field(self.field).index(index);
        codec::render_part(self.element_decl, self.id, value, &at, names, secret)
    }
}

/// The stored body `body` of document `id`, to be rendered a part at a time; its head is
/// rendered here. `None` when `decl` declares no large array or `body` is smaller than
/// [`LARGE_DOCUMENT`]: [`codec::render`] renders it whole.
pub fn render<'b>(
    decl: &CollectionDecl,
    id: DocId,
    body: &'b str,
    names: &mut codec::Names<'_>,
    secret: &mut dyn FnMut(&mut Value, cuttle_crypto::Place<'_>) -> Result<(), StoreError>,
) -> Result<Option<Rendering<'b>>, StoreError> {
    let (Some(Elements { field, .. }), Some(element_decl)) = (decl.elements, decl.element_decl())
    else {
        return Ok(None);
    };
    if body.len() < LARGE_DOCUMENT {
        return Ok(None);
    }
    let split = split(body, field).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "{} document {id} is not an object with one array {field:?}",
            decl.name
        ))
    })?;
    let head = codec::render(decl, id, &split.head, names, secret)?;
    Ok(Some(Rendering {
        element_decl,
        field,
        id,
        head,
        elements: split.elements,
    }))
}

/// Brings a canonical part of a document (the head, or an element at `at`) to its stored form:
/// references resolved, secrets sealed; `None` when that finds a problem or needs the stored
/// version.
#[allow(clippy::too_many_arguments)]
fn finish(
    decl: &CollectionDecl,
    value: &mut Value,
    at: &JsonPath,
    id: DocId,
    owner: DocId,
    lookup: &mut dyn Lookup,
    sealer: &Sealer,
    decrypt: Option<Decrypt<'_>>,
) -> Result<Option<()>, StoreError> {
    if !codec::resolve_refs(decl, value, owner, lookup)?.is_empty()
        || codec::sensitive_values(value)
            .iter()
            .any(|(_, form)| *form == Form::Masked)
    {
        return Ok(None);
    }
    match codec::seal_secrets_at(decl, value, at, id, None, sealer, decrypt) {
        Ok(problems) if problems.is_empty() => Ok(Some(())),
        // The whole-document path says what is wrong.
        Ok(_) | Err(_) => Ok(None),
    }
}

fn write(out: &mut Vec<u8>, value: &Value) {
    serde_json::to_writer(out, value).expect("a JSON value serializes");
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn a_document_splits_into_its_head_and_its_elements_texts() {
        let text = "{ \"project\" : \"Web\",\n \"vari\\u0061bles\": [ {\"name\": \"a\"} , 7,[]\n],\"x\":{} }\n";
        let parts = split(text, "variables").unwrap();
        assert_eq!(parts.head, r#"{"project":"Web","variables":[],"x":{}}"#);
        assert_eq!(parts.elements, [r#"{"name": "a"}"#, "7", "[]"]);
        assert_eq!(
            split(r#"{"variables":[]}"#, "variables")
                .unwrap()
                .elements
                .len(),
            0
        );
    }

    #[test]
    fn anything_but_one_object_with_the_array_once_is_not_split() {
        for text in [
            r#"{"project":"Web"}"#,
            r#"{"variables":{}}"#,
            r#"{"variables":null}"#,
            r#"{"variables":[],"variables":[]}"#,
            r#"{"project":"a","project":"b","variables":[]}"#,
            r#"{"variables":[1,]}"#,
            r#"{"variables":[]} {}"#,
            r#"[{"variables":[]}]"#,
            r#"{"variables":[] "#,
        ] {
            assert!(split(text, "variables").is_none(), "{text}");
        }
    }
}
