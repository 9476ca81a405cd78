//! A large document, an element at a time.
//!
//! Most of a large document is one array at its top (a variable set's `variables`, a process's
//! `steps`): its collection's [`Elements`]. The whole-document path builds a tree of the whole
//! (several times the text); here the document is split into its head (the document with that
//! array empty) and its elements' texts, and each element is brought through the same steps on
//! its own, with the declarations under the array ([`CollectionDecl::element_decl`]). The
//! document then costs its text, its output and one chunk of elements.
//!
//! Here: the split ([`split`], [`Canonical`]), the write path's stored body ([`stored_body`]),
//! the rendering of a stored one ([`render`], for the export and the backup), and the printing
//! of a document given an element at a time ([`print_with`]). The import's plan compares and
//! merges a large document's versions the same way (`cuttle-engine`, `import/plan/large.rs`),
//! and its reader puts a large process's scripts back so.
//!
//! This is a faster way to the same result, never a second set of rules: whenever something is
//! wrong with the document, or it needs what only the whole can give (a `{"masked"}` value keeps
//! the stored value at its place, found in the stored version), these functions give `None` and
//! the whole-document path runs, to the same result or to the same problems. A document is large
//! from [`threshold`] bytes on.

use std::collections::{HashMap, HashSet};
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

/// A document is processed an element at a time from this size of text on, unless the
/// environment says otherwise ([`threshold`]).
pub const LARGE_DOCUMENT: usize = 4 << 20;

/// The environment variable that sets the size, in bytes, from which a document is processed an
/// element at a time: a smaller value trades speed on mid-sized documents for memory; `0` sends
/// every document that has a large array this way (the tests walk every path so).
pub const THRESHOLD_VAR: &str = "CUTTLE_LARGE_DOCUMENT";

/// The size from which a document is large: [`THRESHOLD_VAR`] if it holds a number, otherwise
/// [`LARGE_DOCUMENT`]. Read once.
pub fn threshold() -> usize {
    static THRESHOLD: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THRESHOLD.get_or_init(|| {
        std::env::var(THRESHOLD_VAR)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(LARGE_DOCUMENT)
    })
}

/// Elements are shaped on every core in chunks of at most this much text.
const CHUNK_BYTES: usize = 1 << 20;
const CHUNK_ELEMENTS: usize = 4_096;

/// Whether a document of `decl`'s collection whose text is `size` bytes long goes an element at
/// a time.
pub fn is_large(decl: &CollectionDecl, size: usize) -> bool {
    decl.elements.is_some() && size >= threshold()
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

/// A large document's text in canonical form, a part at a time: its head at once, its elements
/// in order, shaped on every core a chunk at a time ([`codec::canonicalize`] with the element's
/// declarations), each element's key checked against the others'.
pub struct Canonical<'t> {
    element_decl: &'static CollectionDecl,
    field: &'static str,
    key_fields: &'static [&'static str],
    /// The head in canonical form, its array empty.
    pub head: Value,
    elements: Vec<&'t str>,
    /// The elements' keys, hashed: a repeated hash sends the document to the whole path, which
    /// tells a repeated key from a collision.
    hasher: std::hash::RandomState,
    keys: HashSet<u64>,
    shaped: std::vec::IntoIter<Option<Value>>,
    next: usize,
}

impl<'t> Canonical<'t> {
    /// `text`, a document of `decl`'s collection, split at its large array with its head in
    /// canonical form; `None` when `decl` declares no large array, or the text is not split as
    /// it declares, or its head is not of its shape.
    pub fn of(decl: &CollectionDecl, text: &'t str) -> Option<Self> {
        let field = decl.elements?.field;
        let element_decl = decl.element_decl()?;
        let key_fields = decl.keyed_arrays.iter().find(|k| k.path == field)?.key;
        let split = split(text, field)?;
        let head = codec::canonicalize(decl, &split.head).ok()?;
        if !head
            .get(field)
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
        {
            return None;
        }
        Some(Canonical {
            element_decl,
            field,
            key_fields,
            head,
            keys: HashSet::with_capacity(split.elements.len()),
            elements: split.elements,
            hasher: std::hash::RandomState::new(),
            shaped: Vec::new().into_iter(),
            next: 0,
        })
    }

    /// The large array's field.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The declarations of an element.
    pub fn element_decl(&self) -> &'static CollectionDecl {
        self.element_decl
    }

    /// How many elements the array holds.
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// The next element in canonical form; `None` when it is not of its shape, or its key
    /// repeats another's (or there is none left).
    pub fn next_element(&mut self) -> Option<Value> {
        if self.shaped.len() == 0 {
            let rest = self.elements.get(self.next..)?;
            let n = parallel::chunk_len(rest, CHUNK_ELEMENTS, CHUNK_BYTES, |t| t.len());
            let element_decl = self.element_decl;
            self.shaped = parallel::map_in_order(&rest[..n], |text| {
                codec::canonicalize(element_decl, text).ok()
            })
            .into_iter();
        }
        self.next += 1;
        let element = self.shaped.next().flatten()?;
        let hash = self
            .hasher
            .hash_one(codec::element_key(self.key_fields, &element));
        self.keys.insert(hash).then_some(element)
    }
}

/// Whether the large document `text` of `decl`'s collection is of its shape, checked an element
/// at a time: its head in canonical form, or `None` when it is not (or cannot be checked so;
/// the whole-document path then says what is wrong).
pub fn check(decl: &CollectionDecl, text: &str) -> Option<Value> {
    let mut canonical = Canonical::of(decl, text)?;
    for _ in 0..canonical.len() {
        canonical.next_element()?;
    }
    Some(canonical.head)
}

/// The stored body of the document `text` of `decl`'s collection, to be stored under `id` in
/// `owner` (as the write path makes it from the whole: canonical, references resolved, secrets
/// sealed, serialized), made an element at a time. `previous` is the stored body it replaces,
/// where a `{"masked": true}` in it keeps the stored value (matched by key, as the whole is).
/// `None` when the whole-document path must make it (see the module's documentation), or when
/// `decl` declares no large array.
#[allow(clippy::too_many_arguments)]
pub fn stored_body(
    decl: &CollectionDecl,
    text: &str,
    id: DocId,
    owner: DocId,
    previous: Option<&str>,
    lookup: &mut dyn Lookup,
    sealer: &Sealer,
    decrypt: Option<Decrypt<'_>>,
) -> Result<Option<String>, StoreError> {
    let Some(mut canonical) = Canonical::of(decl, text) else {
        return Ok(None);
    };
    let (field, element_decl, len) = (canonical.field(), canonical.element_decl(), canonical.len());
    let mut storing = Storing {
        id,
        owner,
        lookup,
        sealer,
        decrypt,
        field,
        key_fields: canonical.key_fields,
        previous,
        stored: None,
    };
    let mut head = std::mem::take(&mut canonical.head);
    if storing.finish(decl, &mut head, None)?.is_none() {
        return Ok(None);
    }
    /// Why the elements stopped: the whole-document path must make the document, or the
    /// database failed.
    enum Stop {
        Whole,
        Store(StoreError),
    }
    let mut element = |index: usize| -> Result<Value, Stop> {
        let mut element = canonical.next_element().ok_or(Stop::Whole)?;
        match storing.finish(element_decl, &mut element, Some(index)) {
            Ok(Some(())) => Ok(element),
            Ok(None) => Err(Stop::Whole),
            Err(e) => Err(Stop::Store(e)),
        }
    };
    let mut body = Vec::with_capacity(text.len());
    match print_with(&head, field, len, Print::Compact, &mut body, &mut element) {
        Ok(()) => Ok(Some(
            String::from_utf8(body).expect("serde_json writes UTF-8"),
        )),
        Err(Stop::Whole) => Ok(None),
        Err(Stop::Store(e)) => Err(e),
    }
}

/// What the parts of a document being written need to reach their stored form.
struct Storing<'a, 'p> {
    id: DocId,
    owner: DocId,
    lookup: &'a mut dyn Lookup,
    sealer: &'a Sealer,
    decrypt: Option<Decrypt<'a>>,
    field: &'static str,
    key_fields: &'static [&'static str],
    /// The stored body the document replaces.
    previous: Option<&'p str>,
    /// Its elements, and the first with each key: read when a `{"masked"}` value first needs
    /// them.
    stored: Option<(Vec<&'p str>, HashMap<String, usize>)>,
}

impl Storing<'_, '_> {
    /// Brings a canonical part of the document (the head, or the element at `index`) to its
    /// stored form: references resolved, secrets sealed; `None` when that finds a problem or
    /// needs what only the whole can give (a `{"masked"}` value in the head).
    fn finish(
        &mut self,
        decl: &CollectionDecl,
        value: &mut Value,
        index: Option<usize>,
    ) -> Result<Option<()>, StoreError> {
        if !codec::resolve_refs(decl, value, self.owner, self.lookup)?.is_empty() {
            return Ok(None);
        }
        let masked = codec::sensitive_values(value)
            .iter()
            .any(|(_, form)| *form == Form::Masked);
        let at = match index {
            Some(index) => JsonPath::root().field(self.field).index(index),
            None if masked => return Ok(None),
            None => JsonPath::root(),
        };
        let stored = match masked {
            true => self.stored_element(value),
            false => None,
        };
        let previous = stored.as_ref().map(|(value, at)| (value, at));
        match codec::seal_secrets_at(
            decl,
            value,
            &at,
            self.id,
            previous,
            self.sealer,
            self.decrypt,
        ) {
            Ok(problems) if problems.is_empty() => Ok(Some(())),
            // The whole-document path says what is wrong.
            Ok(_) | Err(_) => Ok(None),
        }
    }

    /// The stored version of `element` (in stored form), found by its key among the elements of
    /// the body it replaces, and where it stands there.
    fn stored_element(&mut self, element: &Value) -> Option<(Value, JsonPath)> {
        if self.stored.is_none() {
            let split = split(self.previous?, self.field)?;
            let mut first = HashMap::with_capacity(split.elements.len());
            for (i, text) in split.elements.iter().enumerate() {
                let value: Value = serde_json::from_str(text).ok()?;
                first
                    .entry(codec::element_key(self.key_fields, &value))
                    .or_insert(i);
            }
            self.stored = Some((split.elements, first));
        }
        let (elements, first) = self.stored.as_ref()?;
        let index = *first.get(&codec::element_key(self.key_fields, element))?;
        let value = serde_json::from_str(elements[index]).ok()?;
        Some((value, JsonPath::root().field(self.field).index(index)))
    }
}

/// How [`print_with`] prints: as `serde_json::to_writer` or `to_writer_pretty` do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Print {
    Compact,
    Pretty,
}

/// Prints the object `head` with the array at its member `field` (empty in `head`) made of `len`
/// elements, each given by `element` as it is printed: the bytes that printing the whole would
/// give, with one element in memory at a time. The first error of `element` stops it.
pub fn print_with<E>(
    head: &Value,
    field: &str,
    len: usize,
    print: Print,
    out: &mut Vec<u8>,
    element: &mut dyn FnMut(usize) -> Result<Value, E>,
) -> Result<(), E> {
    /// `value` printed as it is at `depth` in a document: pretty, each line after the first
    /// indented (a JSON string holds no line break of its own).
    fn nested(value: &Value, depth: usize, print: Print, out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
        if print == Print::Compact {
            serde_json::to_writer(out, value).expect("a JSON value serializes");
            return;
        }
        scratch.clear();
        serde_json::to_writer_pretty(&mut *scratch, value).expect("a JSON value serializes");
        for (i, line) in scratch.split(|b| *b == b'\n').enumerate() {
            if i > 0 {
                out.push(b'\n');
                out.extend(std::iter::repeat_n(b' ', 2 * depth));
            }
            out.extend_from_slice(line);
        }
    }

    let Value::Object(members) = head else {
        nested(head, 0, print, out, &mut Vec::new());
        return Ok(());
    };
    let (member, first_member, colon, element_sep, first_element, close_array, close) = match print
    {
        Print::Compact => (
            &b","[..],
            &b""[..],
            &b":"[..],
            &b","[..],
            &b""[..],
            &b"]"[..],
            &b"}"[..],
        ),
        Print::Pretty => (
            &b",\n  "[..],
            &b"\n  "[..],
            &b": "[..],
            &b",\n    "[..],
            &b"\n    "[..],
            &b"\n  ]"[..],
            &b"\n}"[..],
        ),
    };
    let mut scratch = Vec::new();
    out.push(b'{');
    for (i, (name, value)) in members.iter().enumerate() {
        out.extend_from_slice(if i > 0 { member } else { first_member });
        serde_json::to_writer(&mut *out, name).expect("a string serializes");
        out.extend_from_slice(colon);
        if name != field || len == 0 {
            nested(value, 1, print, out, &mut scratch);
            continue;
        }
        out.push(b'[');
        for index in 0..len {
            out.extend_from_slice(if index > 0 {
                element_sep
            } else {
                first_element
            });
            nested(&element(index)?, 2, print, out, &mut scratch);
        }
        out.extend_from_slice(close_array);
    }
    out.extend_from_slice(if members.is_empty() { b"}" } else { close });
    Ok(())
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
/// the [`threshold`]: [`codec::render`] renders it whole.
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
    if !is_large(decl, body.len()) {
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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{Print, print_with, split};

    /// Printed an element at a time, a document has the bytes it has printed whole.
    #[test]
    fn a_document_printed_an_element_at_a_time_is_printed_as_a_whole() {
        let elements = [
            json!({"name": "a \"quoted\"\nline", "scope": {"environments": ["Prod", "Test"], "roles": []}}),
            json!({"name": "b", "value": {"encrypted": "xyz"}, "nested": [[1, 2], {}, [], {"k": null}]}),
            json!(7),
            json!("text"),
            json!([]),
        ];
        for (head, field) in [
            (
                json!({"name": "Set", "variables": [], "description": "x"}),
                "variables",
            ),
            (json!({"variables": []}), "variables"),
            (json!({"project": "Web", "steps": []}), "steps"),
            (json!({}), "steps"),
        ] {
            for n in [0, 1, 2, elements.len()] {
                let mut whole = head.clone();
                if head.get(field).is_some() {
                    whole[field] = Value::Array(elements[..n].to_vec());
                }
                for print in [Print::Compact, Print::Pretty] {
                    let expected = match print {
                        Print::Compact => serde_json::to_string(&whole).unwrap(),
                        Print::Pretty => serde_json::to_string_pretty(&whole).unwrap(),
                    };
                    let mut printed = Vec::new();
                    print_with::<()>(&head, field, n, print, &mut printed, &mut |i| {
                        Ok(elements[i].clone())
                    })
                    .unwrap();
                    assert_eq!(String::from_utf8(printed).unwrap(), expected);
                }
            }
        }
    }

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
