//! Between the two shapes of a document, driven by the declarations alone.
//!
//! - The **export shape** is what people and files see: references by natural key, sensitive
//!   values as `{"secret"}` (in), `{"masked"}` or `{"encrypted"}`.
//! - The **stored shape** is what the database keeps: references by instance-local id (a tenant
//!   tag as `"<tag set id>/<tag>"`, the owning project's id in `project`), sensitive values as
//!   `{"sealed": …}` under the master key, bound to the document and the field.
//!
//! Nothing here knows a document type: it reads [`CollectionDecl`]s.

use std::collections::HashMap;
use std::sync::Arc;

use cuttle_crypto::{Place, Sealer};
use cuttle_domain::decl::{CollectionDecl, RefDecl, RefScope};
use cuttle_domain::path::{self, At, JsonPath, Step};
use cuttle_domain::sensitive::{self, Form};
use cuttle_domain::{Collection, json, names, shape};
use cuttle_store::{DocId, NO_OWNER, ReadTxn, StoreError};
use serde_json::{Map, Value, json};
use zeroize::Zeroize;

use crate::addresses::{AddressBook, SealedBook};

/// Separates the parts of a composite stored key (names cannot hold control characters).
pub const KEY_SEPARATOR: char = '\u{1f}';
/// Separates the parts of a composite key shown to people (`doc list`, errors).
pub const DISPLAY_SEPARATOR: &str = " / ";

/// Why a document cannot be converted: a problem with the document, or a failing database.
#[derive(Debug)]
pub enum Fail {
    At(JsonPath, String),
    Store(StoreError),
}

impl From<StoreError> for Fail {
    fn from(error: StoreError) -> Self {
        Fail::Store(error)
    }
}

fn at(path: JsonPath, message: impl Into<String>) -> Fail {
    Fail::At(path, message.into())
}

/// Finds documents by natural key while documents are being written: the documents of the
/// batch being written first, then the database.
pub trait Lookup {
    fn id_of(
        &mut self,
        collection: Collection,
        owner: DocId,
        key: &str,
    ) -> Result<Option<DocId>, StoreError>;
    /// Whether the tag set `set` has a tag named `tag`.
    fn has_tag(&mut self, set: DocId, tag: &str) -> Result<bool, StoreError>;
}

/// The tag names of a tag set's stored or incoming body.
pub fn tag_names(body: &Value) -> impl Iterator<Item = &str> {
    body.get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("name")?.as_str())
}

// ---------------------------------------------------------------------------------------------
// Incoming: shape, names, keys.

/// How much of a document's text [`parse`] builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Every field.
    Whole,
    /// Only the top-level fields that say which document it is: its key fields, its project,
    /// its name and, for a tag set, its tags. The rest of the text is checked for syntax but not
    /// built into values, which makes matching a document by its key several times cheaper.
    Identity,
}

/// A document's JSON text (of `decl`), parsed: whole, or its identifying fields ([`Part`]).
/// Text that is not one JSON object is parsed whole, so that the error (or the value the caller
/// goes on to refuse) is what a whole parse gives.
///
/// Either way an object that holds a member twice is refused ([`cuttle_domain::json`]): where
/// the identifying fields alone are built, the members left unbuilt are checked by the whole
/// parse that every document meets before it is written or compared.
pub fn parse(decl: &CollectionDecl, text: &str, part: Part) -> Result<Value, json::JsonError> {
    match part {
        Part::Identity => key_view(decl, text).map_or_else(|| json::parse(text), Ok),
        Part::Whole => json::parse(text),
    }
}

/// Whether `field` is one of a document's identifying fields ([`Part::Identity`]).
fn is_identity_field(decl: &CollectionDecl, field: &str) -> bool {
    decl.key.contains(&field)
        || matches!(field, "project" | "name")
        || (field == "tags" && decl.collection == Collection::TagSets)
}

/// The identifying fields of a document already parsed whole: what [`parse`] of its text gives
/// for [`Part::Identity`].
pub fn identity_of(decl: &CollectionDecl, whole: &Value) -> Value {
    match whole {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter(|(field, _)| is_identity_field(decl, field))
                .map(|(field, value)| (field.clone(), value.clone()))
                .collect(),
        ),
        // Not one JSON object: the identity is the whole, as `parse` gives it.
        other => other.clone(),
    }
}

/// The identifying fields of `text` ([`Part::Identity`]); `None` when it is not one JSON object.
fn key_view(decl: &CollectionDecl, text: &str) -> Option<Value> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

    struct KeyFields<'d>(&'d CollectionDecl);

    impl KeyFields<'_> {
        fn wanted(&self, field: &str) -> bool {
            is_identity_field(self.0, field)
        }
    }

    impl<'de> Visitor<'de> for KeyFields<'_> {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut fields = Map::new();
            while let Some(field) = map.next_key::<String>()? {
                if self.wanted(&field) {
                    if fields.contains_key(&field) {
                        return Err(json::repeated(&field));
                    }
                    fields.insert(field, map.next_value_seed(json::Strict)?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(Value::Object(fields))
        }
    }

    impl<'de> DeserializeSeed<'de> for KeyFields<'_> {
        type Value = Value;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_map(self)
        }
    }

    let mut de = serde_json::Deserializer::from_str(text);
    let view = KeyFields(decl).deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(view)
}

/// Why a document's text was refused by [`canonicalize`].
#[derive(Debug, PartialEq)]
pub enum Refused {
    /// The text is not JSON that Cuttle reads ([`json::parse`]).
    Json(json::JsonError),
    /// What is wrong with its shape, names or keys, where.
    Shape(Vec<(JsonPath, String)>),
}

/// Checks a document's text against its shape and brings it to canonical form: field order and
/// defaults from its type ([`cuttle_domain::shape::canonical`], which builds no value of the
/// input), names in NFC, set-like arrays sorted, keyed arrays free of duplicates, key names
/// valid.
pub fn canonicalize(decl: &CollectionDecl, text: &str) -> Result<Value, Refused> {
    let mut value = (decl.shape)(text).map_err(|refused| match refused {
        shape::Refused::Json(e) => Refused::Json(e),
        shape::Refused::Shape(e) => Refused::Shape(vec![(e.path, e.message)]),
    })?;
    if !is_nfc_text(text) {
        normalize_names(decl, &mut value);
    }
    sort_sets(decl, &mut value);
    let mut problems = Vec::new();
    check_key_names(decl, &value, &mut problems);
    check_keyed_arrays(decl, &value, &mut problems);
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(Refused::Shape(problems))
    }
}

/// Whether every string of the JSON text `text` is in NFC, without reading them: text in ASCII
/// is, and only an escape (`\u…`) can make such text hold a character beyond ASCII. Most
/// documents are such text, and for them [`normalize_names`], which walks every reference,
/// changes nothing. (What a shape adds, its defaults, is ASCII.)
fn is_nfc_text(text: &str) -> bool {
    text.is_ascii() && !text.contains("\\u")
}

fn nfc_in_place(value: &mut Value) {
    match value {
        Value::String(text) => {
            if let std::borrow::Cow::Owned(normal) = names::nfc(text) {
                *text = normal;
            }
        }
        Value::Object(object) => object.values_mut().for_each(nfc_in_place),
        _ => {}
    }
}

/// Brings the natural key's fields (and the owning project's name) to NFC.
pub fn normalize_key_fields(decl: &CollectionDecl, value: &mut Value) {
    let Value::Object(object) = value else {
        return;
    };
    for field in decl
        .key
        .iter()
        .copied()
        .chain(decl.is_project_owned().then_some("project"))
    {
        if let Some(v) = object.get_mut(field) {
            nfc_in_place(v);
        }
    }
}

fn normalize_names(decl: &CollectionDecl, value: &mut Value) {
    normalize_key_fields(decl, value);
    for r in decl.refs {
        let _ = path::for_each_mut::<()>(value, r.path, r.when.as_ref(), &mut |v, _| {
            nfc_in_place(v);
            Ok(())
        });
    }
}

fn sort_sets(decl: &CollectionDecl, value: &mut Value) {
    for set in decl.sets {
        let _ = path::for_each_mut::<()>(value, set.path, None, &mut |v, _| {
            if let Value::Array(items) = v {
                sort_set(items, set.by);
            }
            Ok(())
        });
    }
}

/// Sorts a set-like array by byte order of its elements (or of the field `by`), dropping exact
/// duplicates of plain elements.
fn sort_set(items: &mut Vec<Value>, by: Option<&str>) {
    fn sort_key<'v>(v: &'v Value, by: Option<&str>) -> &'v str {
        let v = match by {
            Some(field) => v.get(field).unwrap_or(&Value::Null),
            None => v,
        };
        v.as_str().unwrap_or("")
    }
    items.sort_by(|a, b| sort_key(a, by).as_bytes().cmp(sort_key(b, by).as_bytes()));
    if by.is_none() {
        items.dedup();
    }
}

fn check_key_names(decl: &CollectionDecl, value: &Value, problems: &mut Vec<(JsonPath, String)>) {
    for field in decl.key {
        if decl.key_ref(field).is_some() {
            continue;
        }
        if let Some(Value::String(name)) = value.get(field)
            && let Err(message) = names::check(name)
        {
            problems.push((JsonPath::root().field(field), message.to_owned()));
        }
    }
}

fn check_keyed_arrays(
    decl: &CollectionDecl,
    value: &Value,
    problems: &mut Vec<(JsonPath, String)>,
) {
    for keyed in decl.keyed_arrays {
        let _ = path::for_each::<()>(value, keyed.path, None, &mut |v, at| {
            let Value::Array(items) = v else {
                return Ok(());
            };
            // Every element's key, one after the other, each found in one map by its slice
            // (an allocation for each element was most of this check).
            let keys = element_keys(keyed.key, items);
            let mut seen: HashMap<ElementKey<'_, '_>, usize, foldhash::fast::RandomState> =
                HashMap::with_capacity_and_hasher(items.len(), Default::default());
            for (i, key) in keys.iter().enumerate() {
                if let Some(first) = seen.insert(key, i) {
                    problems.push((
                        at.to_path().index(i),
                        format!("duplicates the element at index {first}: elements here are identified by {}", keyed.key.join(" and ")),
                    ));
                }
            }
            Ok(())
        });
    }
}

/// An element's identity in its keyed array: its key fields' values as JSON text (a missing one
/// as `null`). What [`ElementKey`] compares without making the text.
pub fn element_key(fields: &[&str], element: &Value) -> String {
    let values: Vec<&Value> = fields
        .iter()
        .map(|f| element.get(*f).unwrap_or(&Value::Null))
        .collect();
    serde_json::to_string(&values).expect("JSON serializes")
}

/// An element's identity in its keyed array, borrowed: its key fields' values. Two are equal
/// exactly when their [`element_key`] texts are (an object's members compare in their order, a
/// number as it is written), and hashing one makes no text: an overwrite matches every element
/// of a variable set by its key.
#[derive(Clone, Copy, Debug)]
pub struct ElementKey<'k, 'v>(&'k [&'v Value]);

/// The keys of `items`, the elements of an array keyed by `fields` ([`ElementKey`]), in order.
pub fn element_keys<'v>(fields: &[&str], items: &'v [Value]) -> ElementKeys<'v> {
    let width = fields.len().max(1);
    let mut values = Vec::with_capacity(items.len() * width);
    for item in items {
        values.extend((0..width).map(|i| {
            fields
                .get(i)
                .and_then(|f| item.get(*f))
                .unwrap_or(&Value::Null)
        }));
    }
    ElementKeys { width, values }
}

/// The keys of an array's elements ([`element_keys`]), their values one after the other.
pub struct ElementKeys<'v> {
    width: usize,
    values: Vec<&'v Value>,
}

impl<'v> ElementKeys<'v> {
    /// Each element's key, in the array's order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = ElementKey<'_, 'v>> {
        self.values.chunks(self.width).map(ElementKey)
    }
}

impl PartialEq for ElementKey<'_, '_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && self.0.iter().zip(other.0).all(|(a, b)| same_text(a, b))
    }
}

impl Eq for ElementKey<'_, '_> {}

impl std::hash::Hash for ElementKey<'_, '_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for value in self.0 {
            hash_text(value, state);
        }
    }
}

/// Whether `a` and `b` are written as the same JSON text (compact, members in their order).
fn same_text(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Number(a), Value::Number(b)) => number_text(a) == number_text(b),
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_text(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((k, a), (l, b))| k == l && same_text(a, b))
        }
        _ => false,
    }
}

/// A number as [`same_text`] tells numbers apart: by its kind (an integer is written without a
/// fraction, a float with one) and its value (a float by its bits: `-0.0` is written so).
fn number_text(n: &serde_json::Number) -> (u8, u64) {
    match (n.as_u64(), n.as_i64(), n.as_f64()) {
        (Some(u), _, _) => (0, u),
        (None, Some(i), _) => (1, i as u64),
        (None, None, f) => (2, f.map_or(0, f64::to_bits)),
    }
}

/// Hashes `value` consistently with [`same_text`].
fn hash_text<H: std::hash::Hasher>(value: &Value, state: &mut H) {
    use std::hash::Hash;
    match value {
        Value::Null => state.write_u8(0),
        Value::Bool(b) => {
            state.write_u8(1);
            b.hash(state);
        }
        Value::Number(n) => {
            state.write_u8(2);
            number_text(n).hash(state);
        }
        Value::String(s) => {
            state.write_u8(3);
            s.hash(state);
        }
        Value::Array(items) => {
            state.write_u8(4);
            state.write_usize(items.len());
            items.iter().for_each(|v| hash_text(v, state));
        }
        Value::Object(members) => {
            state.write_u8(5);
            state.write_usize(members.len());
            for (k, v) in members {
                k.hash(state);
                hash_text(v, state);
            }
        }
    }
}

/// The owning project's id of a project-owned document (from its `project` field).
pub fn resolve_owner(
    decl: &CollectionDecl,
    value: &Value,
    lookup: &mut dyn Lookup,
) -> Result<DocId, Fail> {
    if !decl.is_project_owned() {
        return Ok(NO_OWNER);
    }
    let here = JsonPath::root().field("project");
    let Some(Value::String(project)) = value.get("project") else {
        return Err(at(
            here,
            "a project-owned document names its project in the `project` field",
        ));
    };
    lookup
        .id_of(Collection::Projects, NO_OWNER, project)?
        .ok_or_else(|| {
            at(
                here,
                format!("there is no project named {}", names::quoted(project)),
            )
        })
}

/// The stored natural key of a document (in export shape) of `decl` owned by `owner`.
pub fn stored_key(
    decl: &CollectionDecl,
    value: &Value,
    owner: DocId,
    lookup: &mut dyn Lookup,
    here: &At<'_>,
) -> Result<String, Fail> {
    let mut key = String::new();
    for (i, field) in decl.key.iter().enumerate() {
        if i > 0 {
            key.push(KEY_SEPARATOR);
        }
        let part = value.get(*field).unwrap_or(&Value::Null);
        let part_at = here.field(field);
        match (decl.key_ref(field), part) {
            (_, Value::Null) => {}
            (Some(r), part) => match resolve_ref(r, part, owner, lookup, &part_at)? {
                Value::String(stored) => key.push_str(&stored),
                stored => key.push_str(&stored.to_string()),
            },
            (None, Value::String(text)) => key.push_str(text),
            (None, Value::Number(n)) => key.push_str(&n.to_string()),
            (None, _) => {
                return Err(at(
                    part_at.to_path(),
                    "a natural key part is text or a number",
                ));
            }
        }
    }
    Ok(key)
}

/// Resolves one reference (export shape) to its stored form.
fn resolve_ref(
    r: &RefDecl,
    value: &Value,
    owner: DocId,
    lookup: &mut dyn Lookup,
    here: &At<'_>,
) -> Result<Value, Fail> {
    let target = r.target.decl();
    if r.scope == RefScope::TenantTag {
        let Some(text) = value.as_str() else {
            return Err(at(
                here.to_path(),
                "a tenant tag is written as text: `Tag set/Tag`",
            ));
        };
        let Some((set, tag)) = text.rsplit_once('/') else {
            return Err(at(
                here.to_path(),
                format!("{text:?} is not a tenant tag: write `Tag set/Tag`"),
            ));
        };
        let Some(set_id) = lookup.id_of(Collection::TagSets, NO_OWNER, set)? else {
            return Err(at(
                here.to_path(),
                format!("there is no tag set named {}", names::quoted(set)),
            ));
        };
        if !lookup.has_tag(set_id, tag)? {
            return Err(at(
                here.to_path(),
                format!("the tag set {set:?} has no tag named {tag:?}"),
            ));
        }
        return Ok(Value::String(format!("{set_id}/{tag}")));
    }
    let target_owner = if r.scope == RefScope::SameProject {
        owner
    } else {
        NO_OWNER
    };
    let key = match (target.key, value) {
        ([_], Value::String(name)) => name.clone(),
        ([_], _) => {
            return Err(at(
                here.to_path(),
                format!("a reference to {} is written as its name", target.name),
            ));
        }
        (_, Value::Object(_)) => stored_key(target, value, target_owner, lookup, here)?,
        (fields, _) => {
            return Err(at(
                here.to_path(),
                format!(
                    "a reference to {} is an object with {}",
                    target.name,
                    fields.join(", ")
                ),
            ));
        }
    };
    match lookup.id_of(r.target, target_owner, &key)? {
        Some(id) => Ok(Value::from(id)),
        None => {
            let in_project = if r.scope == RefScope::SameProject {
                " in this project"
            } else {
                ""
            };
            Err(at(
                here.to_path(),
                format!(
                    "there is no {} {}{in_project}",
                    target.singular,
                    show(value)
                ),
            ))
        }
    }
}

fn show(value: &Value) -> String {
    match value {
        Value::String(text) => format!("named {}", names::quoted(text)),
        other => format!("with the key {}", sensitive::redacted(other)),
    }
}

/// Replaces every reference of an export-shape document by its stored form; the `project`
/// field becomes the owner's id.
pub fn resolve_refs(
    decl: &CollectionDecl,
    value: &mut Value,
    owner: DocId,
    lookup: &mut dyn Lookup,
) -> Result<Vec<(JsonPath, String)>, StoreError> {
    let mut problems = Vec::new();
    if decl.is_project_owned() {
        value["project"] = Value::from(owner);
    }
    for r in decl.refs {
        path::for_each_mut(value, r.path, r.when.as_ref(), &mut |v, here| {
            if v.is_null() {
                return Ok(());
            }
            match resolve_ref(r, v, owner, lookup, here) {
                Ok(stored) => *v = stored,
                Err(Fail::At(path, message)) => problems.push((path, message)),
                Err(Fail::Store(error)) => return Err(error),
            }
            Ok(())
        })?;
    }
    Ok(problems)
}

// ---------------------------------------------------------------------------------------------
// Sensitive values.

/// The JSON paths of every sensitive object in a document, with its form.
pub fn sensitive_values(value: &Value) -> Vec<(JsonPath, Form)> {
    find_all(value, &sensitive::form_of)
}

/// Calls `f` with each sensitive value under `value` (which stands `here`) and where it stands,
/// to change it in place: the values [`sensitive_values`] finds, in the same order, in one walk
/// that makes no path (a document is rendered for every export). Stops at `f`'s first error.
pub fn for_each_sensitive_mut<E>(
    value: &mut Value,
    here: &At<'_>,
    f: &mut dyn FnMut(&mut Value, Form, &At<'_>) -> Result<(), E>,
) -> Result<(), E> {
    if let Some(form) = sensitive::form_of(value) {
        return f(value, form, here);
    }
    match value {
        Value::Object(object) => {
            for (name, v) in object.iter_mut() {
                for_each_sensitive_mut(v, &here.field(name), f)?;
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                for_each_sensitive_mut(v, &here.index(i), f)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Every value of a document for which `pick` gives something, with its path (what it holds is
/// not searched further).
pub fn find_all<T>(value: &Value, pick: &dyn Fn(&Value) -> Option<T>) -> Vec<(JsonPath, T)> {
    fn walk<T>(
        value: &Value,
        pick: &dyn Fn(&Value) -> Option<T>,
        here: &At<'_>,
        out: &mut Vec<(JsonPath, T)>,
    ) {
        if let Some(found) = pick(value) {
            out.push((here.to_path(), found));
            return;
        }
        match value {
            Value::Object(object) => {
                for (name, v) in object {
                    walk(v, pick, &here.field(name), out);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, pick, &here.index(i), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, pick, &At::ROOT, &mut out);
    out
}

/// Finds, in `previous` (an earlier version of the same document), the value that stands where
/// `here` stands in `current`: array elements are matched by their declared key (a variable by
/// name and scope, a step by name), other elements by position.
pub fn locate<'p>(
    decl: &CollectionDecl,
    current: &Value,
    previous: &'p Value,
    here: &JsonPath,
) -> Option<(&'p Value, JsonPath)> {
    let mut cur = current;
    let mut prev = previous;
    let mut prev_path = JsonPath::root();
    let mut pattern = String::new();
    for step in here.steps() {
        match step {
            Step::Field(name) => {
                cur = cur.get(name)?;
                prev = prev.get(name)?;
                prev_path.push_field(name);
                if !pattern.is_empty() {
                    pattern.push('/');
                }
                pattern.push_str(name);
            }
            Step::Index(i) => {
                let element = cur.get(*i)?;
                let keyed = decl.keyed_arrays.iter().find(|k| k.path == pattern);
                let j = match keyed {
                    Some(keyed) => {
                        let key_of = |v: &Value| {
                            keyed
                                .key
                                .iter()
                                .map(|k| v.get(*k).cloned().unwrap_or(Value::Null))
                                .collect::<Vec<_>>()
                        };
                        let wanted = key_of(element);
                        prev.as_array()?.iter().position(|p| key_of(p) == wanted)?
                    }
                    None => *i,
                };
                cur = element;
                prev = prev.get(j)?;
                prev_path.push_index(j);
                pattern.push_str("[]");
            }
        }
    }
    Some((prev, prev_path))
}

/// Turns an `{"encrypted": …}` value into plaintext (an import supplies this; `doc put` does not).
pub type Decrypt<'a> = &'a (dyn Fn(&str) -> Result<zeroize::Zeroizing<String>, String> + Sync);

/// Seals every sensitive value of a document about to be stored under `id`: `{"secret"}` is
/// sealed; `{"masked"}` keeps the value that `previous` (the stored version) holds at the same
/// place; `{"encrypted"}` is decrypted first when `decrypt` is given. Plaintexts are wiped.
pub fn seal_secrets(
    decl: &CollectionDecl,
    value: &mut Value,
    id: DocId,
    previous: Option<&Value>,
    sealer: &Sealer,
    decrypt: Option<Decrypt<'_>>,
) -> Result<Vec<(JsonPath, String)>, cuttle_crypto::CryptoError> {
    let root = JsonPath::root();
    let previous = previous.map(|p| (p, &root));
    seal_secrets_at(decl, value, &root, id, previous, sealer, decrypt)
}

/// [`seal_secrets`] of `value`, a part of its document that stands at `at` (an element of its
/// large array, [`crate::large`]), declared by `decl`; a sealed value is bound to its place in
/// the whole document. Problems are reported relative to `value`. `previous` is the stored
/// version of the same part (matched by key) and where it stands in the stored document.
pub fn seal_secrets_at(
    decl: &CollectionDecl,
    value: &mut Value,
    at: &JsonPath,
    id: DocId,
    previous: Option<(&Value, &JsonPath)>,
    sealer: &Sealer,
    decrypt: Option<Decrypt<'_>>,
) -> Result<Vec<(JsonPath, String)>, cuttle_crypto::CryptoError> {
    let mut problems = Vec::new();
    let base = at.pointer();
    for (here, form) in sensitive_values(value) {
        let pointer = here.pointer();
        let placed = format!("{base}{pointer}");
        let place = Place {
            collection: decl.name,
            document: id,
            pointer: &placed,
        };
        let replacement = match form {
            Form::Secret => {
                let slot = value.pointer_mut(&pointer).expect("a path just found");
                let mut plain = match slot.get_mut(sensitive::SECRET) {
                    Some(Value::String(plain)) => std::mem::take(plain),
                    _ => String::new(),
                };
                let sealed = sealer.seal(plain.as_bytes(), place);
                plain.zeroize();
                sensitive::wipe(slot);
                json!({ sensitive::SEALED: sealed? })
            }
            Form::Masked => {
                let found = previous.and_then(|(p, p_at)| {
                    locate(decl, value, p, &here).map(|(old, path)| (old, p_at.clone().join(&path)))
                });
                match found {
                    Some((old, old_path)) if sensitive::form_of(old) == Some(Form::Sealed) => {
                        let old_sealed = old[sensitive::SEALED].as_str().unwrap_or_default();
                        if old_path == at.clone().join(&here) {
                            old.clone()
                        } else {
                            let old_pointer = old_path.pointer();
                            let plain = sealer.open(
                                old_sealed,
                                Place {
                                    pointer: &old_pointer,
                                    ..place
                                },
                            )?;
                            json!({ sensitive::SEALED: sealer.seal(&plain, place)? })
                        }
                    }
                    _ => {
                        problems.push((
                            here,
                            "{\"masked\": true} keeps the stored value, but there is no stored sensitive value here; give {\"secret\": \"…\"} or null".to_owned(),
                        ));
                        continue;
                    }
                }
            }
            Form::Encrypted => {
                let text = value
                    .pointer(&pointer)
                    .and_then(|v| v[sensitive::ENCRYPTED].as_str())
                    .unwrap_or_default()
                    .to_owned();
                match decrypt {
                    Some(decrypt) => match decrypt(&text) {
                        Ok(plain) => {
                            json!({ sensitive::SEALED: sealer.seal(plain.as_bytes(), place)? })
                        }
                        Err(message) => {
                            problems.push((here, message));
                            continue;
                        }
                    },
                    None => {
                        problems.push((
                            here,
                            "an {\"encrypted\": …} value belongs to an export and is read by `cuttle import`; here give {\"secret\": \"…\"}, {\"masked\": true} or null".to_owned(),
                        ));
                        continue;
                    }
                }
            }
            Form::Sealed => {
                problems.push((here, "{\"sealed\": …} values never leave an instance and are not accepted; give {\"secret\": \"…\"}".to_owned()));
                continue;
            }
        };
        *value.pointer_mut(&pointer).expect("a path just found") = replacement;
    }
    Ok(problems)
}

// ---------------------------------------------------------------------------------------------
// Outgoing: stored shape to export shape.

/// Finds the names behind ids, with a cache: either inside a read, looking up what it has not
/// seen, or [preloaded](Names::preloaded) with the address of every document a rendering may
/// need, in an [`AddressBook`].
///
/// Both are shared: handing a `Names`'s [`addresses`](Names::addresses) to another thread costs
/// two reference counts (the cache is copied on write), so that threads rendering in parallel
/// (the export's workers) each have a `Names` without copying every address.
pub struct Names<'t> {
    txn: Option<&'t mut dyn ReadTxn>,
    book: Arc<SealedBook>,
    cache: Arc<HashMap<DocId, (Collection, DocId, String)>>,
}

/// The addresses a [`Names`] knows, shared: they can go to another thread (see
/// [`Names::shared`]).
#[derive(Clone, Default)]
pub struct Addresses {
    book: Arc<SealedBook>,
    cache: Arc<HashMap<DocId, (Collection, DocId, String)>>,
}

impl<'t> Names<'t> {
    pub fn new(txn: &'t mut dyn ReadTxn) -> Self {
        Names {
            txn: Some(txn),
            book: Arc::default(),
            cache: Arc::default(),
        }
    }

    /// What this one knows, shared (two reference counts), to make a [`Names`] on another
    /// thread with [`Names::shared`]: for a preloaded `Names`, one that gives the same answers.
    pub fn addresses(&self) -> Addresses {
        Addresses {
            book: Arc::clone(&self.book),
            cache: Arc::clone(&self.cache),
        }
    }

    /// A `Names` that never reads, knowing the [`addresses`](Names::addresses) of another.
    pub fn shared(addresses: Addresses) -> Names<'static> {
        Names {
            txn: None,
            book: addresses.book,
            cache: addresses.cache,
        }
    }

    /// The address of every document that [`render`] may need the name of, read once (for an
    /// export, which renders everything): every document of a collection that
    /// [may be named](crate::addresses::may_be_named). The result needs no further reads, so it
    /// does not hold on to `txn`.
    pub fn preloaded(txn: &mut dyn ReadTxn) -> Result<Names<'static>, StoreError> {
        let named = cuttle_domain::COLLECTIONS
            .iter()
            .filter(|decl| crate::addresses::may_be_named(decl.collection));
        let mut documents = 0;
        for decl in named.clone() {
            documents += txn.count(decl.collection)?;
        }
        let mut book = AddressBook::with_capacity(usize::try_from(documents).unwrap_or(0));
        for decl in named {
            txn.scan_keys(decl.collection, &mut |row| {
                book.push(decl.collection, row.id, row.owner, &row.key)
            })?;
        }
        Names::from_book(book)
    }

    /// A `Names` that knows the addresses in `book` (an instance backup's records, which are
    /// not in a database) and never reads: an id it does not know is reported as a reference to
    /// a missing document.
    pub fn from_book(book: AddressBook) -> Result<Names<'static>, StoreError> {
        let book = book
            .seal()
            .map_err(|id| StoreError::Corrupt(format!("the id {id} is given to two documents")))?;
        Ok(Names {
            txn: None,
            book: Arc::new(book),
            cache: Arc::default(),
        })
    }

    /// Adds addresses read beforehand (in one batch), so that rendering many documents does not
    /// look each reference up on its own.
    pub fn seed(&mut self, rows: impl IntoIterator<Item = (Collection, cuttle_store::KeyRow)>) {
        let cache = Arc::make_mut(&mut self.cache);
        for (collection, row) in rows {
            cache.insert(row.id, (collection, row.owner, row.key));
        }
    }

    fn address(&mut self, id: DocId) -> Result<(Collection, DocId, String), StoreError> {
        if let Some((collection, owner, key)) = self.book.get(id) {
            return Ok((collection, owner, key.to_owned()));
        }
        if let Some(found) = self.cache.get(&id) {
            return Ok(found.clone());
        }
        let txn = self.txn.as_mut().ok_or_else(|| {
            StoreError::Corrupt(format!(
                "a reference to document {id}, which does not exist"
            ))
        })?;
        let (collection, row) = txn.address(id)?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "a reference to document {id}, which does not exist"
            ))
        })?;
        let found = (collection, row.owner, row.key);
        Arc::make_mut(&mut self.cache).insert(id, found.clone());
        Ok(found)
    }

    /// How a reference to document `id` is written in the export shape: its name, or for a
    /// composite natural key an object of its key fields.
    pub fn reference(&mut self, id: DocId) -> Result<Value, StoreError> {
        let (collection, _, key) = self.address(id)?;
        let decl = collection.decl();
        let shown = match decl.key {
            [single] if decl.key_ref(single).is_none() => Value::String(key),
            fields => {
                let mut object = Map::new();
                for (field, part) in fields.iter().zip(key.split(KEY_SEPARATOR)) {
                    let value = if part.is_empty() {
                        Value::Null
                    } else if decl.key_ref(field).is_some() {
                        let target = part.parse().map_err(|_| {
                            StoreError::Corrupt(format!("a stored key part {part:?} is not an id"))
                        })?;
                        self.reference(target)?
                    } else if decl.numeric_key.contains(field) {
                        Value::Number(part.parse().map_err(|_| {
                            StoreError::Corrupt(format!(
                                "a stored key part {part:?} is not a number"
                            ))
                        })?)
                    } else {
                        Value::String(part.to_owned())
                    };
                    object.insert((*field).to_owned(), value);
                }
                match fields {
                    [_] => object
                        .into_iter()
                        .next()
                        .map(|(_, v)| v)
                        .unwrap_or(Value::Null),
                    _ => Value::Object(object),
                }
            }
        };
        Ok(shown)
    }

    /// The name of a project, by id.
    pub fn project_name(&mut self, id: DocId) -> Result<String, StoreError> {
        Ok(self.address(id)?.2)
    }

    /// A natural key as people read it: key parts separated by ` / `, references by name, a
    /// missing part empty.
    pub fn key_text(&mut self, collection: Collection, key: &str) -> Result<String, StoreError> {
        let decl = collection.decl();
        let mut parts = Vec::new();
        for (field, part) in decl.key.iter().zip(key.split(KEY_SEPARATOR)) {
            match decl.key_ref(field) {
                Some(_) if !part.is_empty() => {
                    let id = part.parse().map_err(|_| {
                        StoreError::Corrupt(format!("a stored key part {part:?} is not an id"))
                    })?;
                    parts.push(display(&self.reference(id)?));
                }
                _ => parts.push(part.to_owned()),
            }
        }
        Ok(parts.join(DISPLAY_SEPARATOR))
    }
}

/// A reference value as text: a name, or the parts of a composite key. A sensitive value where
/// a name should stand (a hand-edited document) is never shown.
pub fn display(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        _ if sensitive::looks_sensitive(value) => "(a sensitive value)".to_owned(),
        Value::Array(_) => sensitive::redacted(value).to_string(),
        Value::Object(object) => object
            .values()
            .map(display)
            .collect::<Vec<_>>()
            .join(DISPLAY_SEPARATOR),
        other => other.to_string(),
    }
}

/// Converts a stored body to the export shape. Each sealed value is handed to `secret`, which
/// replaces it (with `{"masked": true}` for display, with its encryption for an export).
pub fn render(
    decl: &CollectionDecl,
    id: DocId,
    body: &str,
    names: &mut Names<'_>,
    secret: &mut dyn FnMut(&mut Value, Place<'_>) -> Result<(), StoreError>,
) -> Result<Value, StoreError> {
    render_parsed(decl, id, parse_stored(decl, id, body)?, names, secret)
}

/// A stored document's body (of `decl`, id `id`), parsed.
pub fn parse_stored(decl: &CollectionDecl, id: DocId, body: &str) -> Result<Value, StoreError> {
    serde_json::from_str(body)
        .map_err(|e| StoreError::Corrupt(format!("{} document {id}: {e}", decl.name)))
}

/// [`render`] of a stored body already parsed ([`parse_stored`]).
pub fn render_parsed(
    decl: &CollectionDecl,
    id: DocId,
    value: Value,
    names: &mut Names<'_>,
    secret: &mut dyn FnMut(&mut Value, Place<'_>) -> Result<(), StoreError>,
) -> Result<Value, StoreError> {
    render_part(decl, id, value, &JsonPath::root(), names, secret)
}

/// [`render_parsed`] of `value`, a part of its document that stands at `at` (an element of its
/// large array, [`crate::large`]), declared by `decl`: each sealed value is handed over with its
/// place in the whole document.
pub fn render_part(
    decl: &CollectionDecl,
    id: DocId,
    mut value: Value,
    at: &JsonPath,
    names: &mut Names<'_>,
    secret: &mut dyn FnMut(&mut Value, Place<'_>) -> Result<(), StoreError>,
) -> Result<Value, StoreError> {
    open_each_sealed(decl, id, &mut value, &At::Path(at), secret)?;
    if decl.is_project_owned()
        && let Some(project) = value.get("project").and_then(Value::as_i64)
    {
        value["project"] = Value::String(names.project_name(project)?);
    }
    for r in decl.refs {
        path::for_each_mut(&mut value, r.path, r.when.as_ref(), &mut |v, _| {
            *v = match (r.scope, &*v) {
                (_, Value::Null) => return Ok(()),
                (RefScope::TenantTag, Value::String(stored)) => {
                    let (set, tag) = stored.split_once('/').ok_or_else(|| {
                        StoreError::Corrupt(format!("a stored tenant tag {stored:?}"))
                    })?;
                    let set: DocId = set.parse().map_err(|_| {
                        StoreError::Corrupt(format!("a stored tenant tag {stored:?}"))
                    })?;
                    Value::String(format!("{}/{tag}", display(&names.reference(set)?)))
                }
                (_, Value::Number(n)) => names.reference(n.as_i64().unwrap_or_default())?,
                (_, other) => {
                    return Err(StoreError::Corrupt(format!(
                        "a stored reference {other} is not an id"
                    )));
                }
            };
            Ok(())
        })?;
    }
    sort_sets(decl, &mut value);
    Ok(value)
}

/// Hands every sealed value under `value` (which stands `here`) to `secret`, in the order of
/// [`sensitive_values`]; a value's pointer is made only for a sealed value.
fn open_each_sealed(
    decl: &CollectionDecl,
    id: DocId,
    value: &mut Value,
    here: &At<'_>,
    secret: &mut dyn FnMut(&mut Value, Place<'_>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    for_each_sensitive_mut(value, here, &mut |value, form, here| {
        if form != Form::Sealed {
            return Ok(());
        }
        let pointer = here.pointer();
        let place = Place {
            collection: decl.name,
            document: id,
            pointer: &pointer,
        };
        secret(value, place)
    })
}

/// Opens a stored `{"sealed": …}` value, as [`render`] hands it to its callback.
pub fn open_sealed(
    sealer: &Sealer,
    slot: &Value,
    place: Place<'_>,
) -> Result<zeroize::Zeroizing<Vec<u8>>, cuttle_crypto::CryptoError> {
    let sealed = slot
        .get(sensitive::SEALED)
        .and_then(Value::as_str)
        .unwrap_or_default();
    sealer.open(sealed, place)
}

/// Replaces a sealed value by `{"masked": true}`.
pub fn mask(slot: &mut Value, _: Place<'_>) -> Result<(), StoreError> {
    *slot = json!({ sensitive::MASKED: true });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_to_nfc_however_they_are_written_and_a_keyed_array_holds_each_key_once() {
        let decl = Collection::Environments.decl();
        // "Café" with its "é" decomposed (e and U+0301), as characters and as escapes; and
        // precomposed, as an escape.
        for text in [
            "{\"name\":\"Cafe\u{301}\"}",
            r#"{"name":"Caf\u0065\u0301"}"#,
            r#"{"name":"Caf\u00e9"}"#,
        ] {
            assert_eq!(
                canonicalize(decl, text).unwrap()["name"],
                "Caf\u{e9}",
                "{text}"
            );
        }
        assert_eq!(
            canonicalize(decl, r#"{"name":"Cafe"}"#).unwrap()["name"],
            "Cafe"
        );

        // A variable is identified by its name and its scope, the scope as a whole.
        let decl = Collection::LibraryVariableSets.decl();
        let variable = |name: &str, environments: &[&str]| json!({"name": name, "type": "String", "value": "v", "scope": {"environments": environments}});
        let set = |variables: Vec<Value>| json!({"name": "Shared", "variables": variables});
        let distinct = set(vec![
            variable("A", &[]),
            variable("A", &["Test"]),
            variable("B", &["Test"]),
        ]);
        canonicalize(decl, &distinct.to_string()).unwrap();
        let repeated = set(vec![
            variable("A", &["Test"]),
            variable("B", &[]),
            variable("A", &["Test"]),
            variable("B", &[]),
            variable("A", &["Test"]),
        ]);
        let Err(Refused::Shape(problems)) = canonicalize(decl, &repeated.to_string()) else {
            panic!("duplicates refused");
        };
        let found: Vec<(String, &str)> = problems
            .iter()
            .map(|(path, message)| (path.pointer(), &message[..message.find(':').unwrap()]))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "/variables/2".to_owned(),
                    "duplicates the element at index 0"
                ),
                (
                    "/variables/3".to_owned(),
                    "duplicates the element at index 1"
                ),
                (
                    "/variables/4".to_owned(),
                    "duplicates the element at index 2"
                ),
            ]
        );
    }

    #[test]
    fn a_key_view_holds_the_identifying_fields_as_a_whole_parse_would() {
        let decl = Collection::Deployments.decl();
        let text = r#"{"project":"Web","release":"1.0","environment":"Prod","tenant":null,
            "number":2,"name":"x","state":{"deep":[1,[2,{"a":"\u00e9"}]]},"log":"long text"}"#;
        let view = key_view(decl, text).unwrap();
        let whole: Value = serde_json::from_str(text).unwrap();
        let mut fields: Vec<&str> = view
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "environment",
                "name",
                "number",
                "project",
                "release",
                "tenant"
            ]
        );
        for field in fields {
            assert_eq!(view[field], whole[field], "{field}");
        }
        // A member written twice is refused: an identifying field by the key view, any other
        // by the whole parse that every document meets before it is written or compared.
        for (twice, part) in [
            (r#"{"name":"a","number":2,"number":3}"#, Part::Identity),
            (r#"{"name":"a","state":{"x":1,"x":2}}"#, Part::Whole),
        ] {
            let e = parse(decl, twice, part).unwrap_err();
            assert!(e.message.contains("appears twice"), "{e}");
        }
        // A tag set keeps its tags; other collections do not.
        let tags = r#"{"name":"Tier","tags":[{"name":"Gold"}],"description":"d"}"#;
        assert!(key_view(Collection::TagSets.decl(), tags).unwrap()["tags"].is_array());
        assert!(
            key_view(Collection::Environments.decl(), tags)
                .unwrap()
                .get("tags")
                .is_none()
        );
        // The identity of a document parsed whole is the key view of its text.
        for (collection, text) in [
            (Collection::Deployments, text),
            (Collection::TagSets, tags),
            (Collection::Environments, tags),
            (Collection::Environments, "[1]"),
        ] {
            let decl = collection.decl();
            let whole = parse(decl, text, Part::Whole).unwrap();
            assert_eq!(
                identity_of(decl, &whole).to_string(),
                parse(decl, text, Part::Identity).unwrap().to_string(),
                "{text}"
            );
        }
        // Whatever is not one JSON object is left to a whole parse, for its message.
        for bad in [
            "[1]",
            "\"x\"",
            "{\"name\":",
            "{\"name\":\"a\"} {}",
            "{\"name\":\"a\",}",
        ] {
            assert_eq!(key_view(decl, bad), None, "{bad}");
        }
    }

    #[test]
    fn element_keys_are_equal_exactly_when_their_texts_are() {
        use std::hash::BuildHasher;
        let values = [
            json!(null),
            json!(true),
            json!(false),
            json!(1),
            json!(1.0),
            json!(-1),
            json!(0.0),
            json!(-0.0),
            json!(u64::MAX),
            json!("a"),
            json!("a\"b"),
            json!([]),
            json!(["a"]),
            json!([["a"]]),
            json!({}),
            json!({"environments": ["Prod"], "roles": []}),
            json!({"roles": [], "environments": ["Prod"]}),
            json!({"environments": ["Prod"]}),
        ];
        let fields = ["name", "scope"];
        let elements: Vec<Value> = values
            .iter()
            .flat_map(|scope| {
                [
                    json!({"name": "A", "scope": scope}),
                    json!({"scope": scope}),
                ]
            })
            .collect();
        let keys = element_keys(&fields, &elements);
        let keys: Vec<ElementKey<'_, '_>> = keys.iter().collect();
        assert_eq!(keys.len(), elements.len());
        let hasher = foldhash::fast::RandomState::default();
        for (a, ka) in elements.iter().zip(&keys) {
            for (b, kb) in elements.iter().zip(&keys) {
                let texts = element_key(&fields, a) == element_key(&fields, b);
                assert_eq!(ka == kb, texts, "{a} and {b}");
                if texts {
                    assert_eq!(hasher.hash_one(ka), hasher.hash_one(kb), "{a} and {b}");
                }
            }
        }
    }
}
