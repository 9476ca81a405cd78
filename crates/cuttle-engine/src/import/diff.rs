//! Field-level differences between two versions of a document in the export shape (SPEC 6.5),
//! driven by the declarations: elements of keyed arrays (variables, steps, actions) are matched by
//! their key, set-like arrays report the elements added and removed, and a sensitive value is
//! only ever "changed" or not, never shown.

use std::borrow::Cow;
use std::collections::HashMap;

use cuttle_domain::decl::CollectionDecl;
use cuttle_domain::path::{self, JsonPath, Step};
use cuttle_domain::sensitive::redacted;
use serde::Serialize;

pub use cuttle_instance::codec::element_key;
use serde_json::Value;

/// The field of a sensitive value's stand-in, in the views that the planner compares: a keyed
/// digest of the plaintext, so that two values compare equal exactly when their plaintexts do.
pub const DIGEST: &str = "$digest";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// One difference. For a sensitive value, `old` and `new` are absent and `sensitive` is true.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub path: String,
    pub change: ChangeKind,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

/// Whether `value` stands for a sensitive value (see [`DIGEST`]).
pub fn is_sensitive(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|object| path::member(object, DIGEST).is_some())
}

/// The differences from `old` to `new`, in document order.
pub fn diff(decl: &CollectionDecl, old: &Value, new: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    walk(decl, "", "$", old, new, &mut changes);
    changes
}

/// Whether [`diff`] would find no change between `old` and `new`, checked without naming
/// anything: sensitive values compare by their digests, everything else as JSON, arrays in their
/// order. `false` only means that the walk must tell (keyed elements may merely be reordered).
pub fn same(old: &Value, new: &Value) -> bool {
    if is_sensitive(old) || is_sensitive(new) {
        return is_sensitive(old) && is_sensitive(new) && old.get(DIGEST) == new.get(DIGEST);
    }
    match (old, new) {
        // Members in the same order (the canonical form's) are matched where they stand;
        // others by name.
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter().zip(b).all(|((k, v), (l, w))| match k == l {
                    true => same(v, w),
                    false => b.get(k).is_some_and(|w| same(v, w)),
                })
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(v, w)| same(v, w))
        }
        _ => old == new,
    }
}

/// One side of a [`diff_large`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Old,
    New,
}

/// [`diff`] of two versions of a large document whose large array, the keyed array `field`, is
/// given an element at a time: `old` and `new` are the versions with the array empty, `keys`
/// the elements' keys ([`element_key`]) on each side, and `element` parses one element of a
/// side. The same changes, in the same order, as [`diff`] of the whole; `None` when `old` or
/// `new` is not an object holding the empty array.
pub fn diff_large(
    decl: &CollectionDecl,
    field: &str,
    old: &Value,
    new: &Value,
    keys: [&[String]; 2],
    element: &mut dyn FnMut(Side, usize) -> Value,
) -> Option<Vec<Change>> {
    let keyed = decl.keyed_arrays.iter().find(|k| k.path == field)?;
    let empty = |v: &Value| {
        v.get(field)
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
    };
    let (Value::Object(a), Value::Object(b)) = (old, new) else {
        return None;
    };
    if !empty(old) || !empty(new) {
        return None;
    }
    let mut out = Vec::new();
    for (name, left) in a {
        let here = field_path("$", name);
        if name != field {
            match b.get(name) {
                Some(right) => walk(decl, name, &here, left, right, &mut out),
                None => out.push(change(&here, ChangeKind::Removed, Some(left), None)),
            }
            continue;
        }
        let pattern = format!("{field}[]");
        let mut element = |side: Side, i: usize| Cow::Owned(element(side, i));
        keyed_walk(
            decl,
            keyed.key,
            &pattern,
            &here,
            keys,
            &mut element,
            &mut out,
        );
    }
    for (name, right) in b.iter().filter(|(n, _)| !a.contains_key(*n)) {
        let here = field_path("$", name);
        out.push(change(&here, ChangeKind::Added, None, Some(right)));
    }
    Some(out)
}

/// The changes between two versions of the keyed array at `path` (whose elements' pattern is
/// `pattern`), its elements given by `element` with their keys ([`element_key`] of `key`) on
/// each side: elements matched by key are walked, the others removed or added, and a new order
/// of the elements both have is one change.
fn keyed_walk<'v>(
    decl: &CollectionDecl,
    key: &[&str],
    pattern: &str,
    path: &str,
    [left_keys, right_keys]: [&[String]; 2],
    element: &mut dyn FnMut(Side, usize) -> Cow<'v, Value>,
    out: &mut Vec<Change>,
) {
    fn at(keys: &[String]) -> HashMap<&str, usize> {
        keys.iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect()
    }
    let (left_at, right_at) = (at(left_keys), at(right_keys));
    let label = |v: &Value| format!("{path}[{}]", key_label(key, v));
    for (i, left_key) in left_keys.iter().enumerate() {
        let left = element(Side::Old, i);
        match right_at.get(left_key.as_str()) {
            Some(j) => {
                let right = element(Side::New, *j);
                // Alike elements, as most are, have nothing to name.
                if left != right {
                    walk(decl, pattern, &label(&left), &left, &right, out);
                }
            }
            None => out.push(change(
                &label(&left),
                ChangeKind::Removed,
                Some(&left),
                None,
            )),
        }
    }
    for (j, right_key) in right_keys.iter().enumerate() {
        if !left_at.contains_key(right_key.as_str()) {
            let right = element(Side::New, j);
            out.push(change(
                &label(&right),
                ChangeKind::Added,
                None,
                Some(&right),
            ));
        }
    }
    fn common<'k>(keys: &'k [String], other: &HashMap<&str, usize>) -> Vec<&'k String> {
        keys.iter()
            .filter(|k| other.contains_key(k.as_str()))
            .collect()
    }
    if common(left_keys, &right_at) != common(right_keys, &left_at) {
        let mut names = |side: Side, n: usize| -> Vec<String> {
            (0..n).map(|i| key_label(key, &element(side, i))).collect()
        };
        out.push(Change {
            path: format!("{path} (order)"),
            change: ChangeKind::Changed,
            sensitive: false,
            old: Some(Value::from(names(Side::Old, left_keys.len()))),
            new: Some(Value::from(names(Side::New, right_keys.len()))),
        });
    }
}

/// Where an element of the keyed array `field` stands, as the plan shows it:
/// `$.variables[name="Db"]` ([`shown_path`]).
pub fn element_path(decl: &CollectionDecl, field: &str, element: &Value) -> String {
    let keys = decl
        .keyed_arrays
        .iter()
        .find(|k| k.path == field)
        .map_or(&[][..], |k| k.key);
    format!("{}[{}]", field_path("$", field), key_label(keys, element))
}

fn change(path: &str, kind: ChangeKind, old: Option<&Value>, new: Option<&Value>) -> Change {
    let sensitive = old.is_some_and(is_sensitive) || new.is_some_and(is_sensitive);
    Change {
        path: path.to_owned(),
        change: kind,
        sensitive,
        old: if sensitive { None } else { old.map(redacted) },
        new: if sensitive { None } else { new.map(redacted) },
    }
}

fn walk(
    decl: &CollectionDecl,
    pattern: &str,
    path: &str,
    old: &Value,
    new: &Value,
    out: &mut Vec<Change>,
) {
    if is_sensitive(old) || is_sensitive(new) {
        if old.get(DIGEST) != new.get(DIGEST) {
            let kind = match (old.is_null(), new.is_null()) {
                (true, false) => ChangeKind::Added,
                (false, true) => ChangeKind::Removed,
                _ => ChangeKind::Changed,
            };
            out.push(change(path, kind, Some(old), Some(new)));
        }
        return;
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (name, left) in a {
                let here = field_path(path, name);
                let pat = join(pattern, name);
                match b.get(name) {
                    Some(right) => walk(decl, &pat, &here, left, right, out),
                    None => out.push(change(&here, ChangeKind::Removed, Some(left), None)),
                }
            }
            for (name, right) in b.iter().filter(|(n, _)| !a.contains_key(*n)) {
                let here = field_path(path, name);
                out.push(change(&here, ChangeKind::Added, None, Some(right)));
            }
        }
        (Value::Array(a), Value::Array(b)) if a != b => {
            let element_pattern = format!("{pattern}[]");
            if let Some(keyed) = decl.keyed_arrays.iter().find(|k| k.path == pattern) {
                let left_keys: Vec<String> = a.iter().map(|v| element_key(keyed.key, v)).collect();
                let right_keys: Vec<String> = b.iter().map(|v| element_key(keyed.key, v)).collect();
                let mut element = |side: Side, i: usize| match side {
                    Side::Old => Cow::Borrowed(&a[i]),
                    Side::New => Cow::Borrowed(&b[i]),
                };
                let keys = [&left_keys[..], &right_keys[..]];
                keyed_walk(
                    decl,
                    keyed.key,
                    &element_pattern,
                    path,
                    keys,
                    &mut element,
                    out,
                );
            } else if decl.sets.iter().any(|s| s.path == pattern) {
                for left in a.iter().filter(|l| !b.contains(l)) {
                    out.push(change(path, ChangeKind::Removed, Some(left), None));
                }
                for right in b.iter().filter(|r| !a.contains(r)) {
                    out.push(change(path, ChangeKind::Added, None, Some(right)));
                }
            } else {
                out.push(change(path, ChangeKind::Changed, Some(old), Some(new)));
            }
        }
        (a, b) if a != b => {
            let kind = match (a.is_null(), b.is_null()) {
                (true, false) => ChangeKind::Added,
                (false, true) => ChangeKind::Removed,
                _ => ChangeKind::Changed,
            };
            out.push(change(path, kind, Some(a), Some(b)));
        }
        _ => {}
    }
}

/// The path `at` into `doc` as the plan shows it: elements of keyed arrays named by their key
/// (`$.variables[name="Db"].value`), as in a [`Change`].
pub fn shown_path(decl: &CollectionDecl, doc: &Value, at: &JsonPath) -> String {
    let (mut shown, mut pattern, mut here) = ("$".to_owned(), String::new(), doc);
    for step in at.steps() {
        match step {
            Step::Field(name) => {
                shown = field_path(&shown, name);
                pattern = join(&pattern, name);
                here = here.get(name).unwrap_or(&Value::Null);
            }
            Step::Index(i) => {
                here = here.get(*i).unwrap_or(&Value::Null);
                match decl.keyed_arrays.iter().find(|k| k.path == pattern) {
                    Some(keyed) => shown = format!("{shown}[{}]", key_label(keyed.key, here)),
                    None => shown = format!("{shown}[{i}]"),
                }
                pattern.push_str("[]");
            }
        }
    }
    shown
}

fn join(pattern: &str, name: &str) -> String {
    if pattern.is_empty() {
        name.to_owned()
    } else {
        format!("{pattern}/{name}")
    }
}

fn field_path(path: &str, name: &str) -> String {
    let plain = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        format!("{path}.{name}")
    } else {
        format!("{path}[{}]", Value::String(name.to_owned()))
    }
}

/// An element's key as a path segment: `name="Db", scope={"environments":["Prod"]}`, leaving out
/// empty parts (a variable without scope is named by its name alone).
fn key_label(fields: &[&str], element: &Value) -> String {
    fields
        .iter()
        .map(|f| (f, element.get(*f).unwrap_or(&Value::Null)))
        .filter(|(_, v)| !is_empty(v))
        .map(|(f, v)| format!("{f}={}", compact(&redacted(v))))
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_empty),
        _ => false,
    }
}

/// A value without its empty parts, as compact JSON.
fn compact(value: &Value) -> String {
    match value {
        Value::Object(o) => {
            let kept: serde_json::Map<String, Value> = o
                .iter()
                .filter(|(_, v)| !is_empty(v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Value::Object(kept).to_string()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cuttle_domain::Collection;
    use serde_json::json;

    #[test]
    fn fields_sets_keyed_elements_and_secrets() {
        let decl = Collection::ProjectVariables.decl();
        let old = json!({"project": "P", "variables": [
            {"name": "A", "value": "1", "scope": {"environments": ["Prod"]}},
            {"name": "S", "value": {DIGEST: "x"}, "scope": {}},
            {"name": "Gone", "value": "g", "scope": {}},
        ]});
        let new = json!({"project": "P", "variables": [
            {"name": "A", "value": "2", "scope": {"environments": ["Prod"]}},
            {"name": "S", "value": {DIGEST: "y"}, "scope": {}},
            {"name": "New", "value": "n", "scope": {}},
        ]});
        let changes = diff(decl, &old, &new);
        let paths: Vec<(&str, ChangeKind)> = changes
            .iter()
            .map(|c| (c.path.as_str(), c.change))
            .collect();
        assert_eq!(
            paths,
            [
                (
                    r#"$.variables[name="A", scope={"environments":["Prod"]}].value"#,
                    ChangeKind::Changed
                ),
                (r#"$.variables[name="S"].value"#, ChangeKind::Changed),
                (r#"$.variables[name="Gone"]"#, ChangeKind::Removed),
                (r#"$.variables[name="New"]"#, ChangeKind::Added),
            ]
        );
        assert!(changes[1].sensitive && changes[1].old.is_none() && changes[1].new.is_none());
        let text = serde_json::to_string(&changes).unwrap();
        assert!(
            !text.contains(DIGEST),
            "digests never leave the planner: {text}"
        );
    }

    #[test]
    fn same_secret_is_unchanged_and_sets_list_members() {
        let decl = Collection::Teams.decl();
        let old = json!({"name": "T", "members": ["a", "b"]});
        let new = json!({"name": "T", "members": ["b", "c"]});
        let changes = diff(decl, &old, &new);
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].change, ChangeKind::Removed);
        assert_eq!(changes[1].new, Some(json!("c")));
        let decl = Collection::Feeds.decl();
        let same = json!({"password": {DIGEST: "x"}});
        assert!(diff(decl, &same, &same.clone()).is_empty());
    }

    #[test]
    fn what_is_the_same_has_no_change_and_what_is_not_is_left_to_the_walk() {
        let decl = Collection::ProjectVariables.decl();
        // The destination's stand-in and the source's differ in form, not in digest.
        let dest = json!({"project": "P", "variables": [
            {"name": "S", "value": {"masked": true, DIGEST: "x"}, "scope": {}},
            {"name": "A", "value": "1", "scope": {}},
        ]});
        let source = json!({"project": "P", "variables": [
            {"name": "S", "value": {"encrypted": "…", DIGEST: "x"}, "scope": {}},
            {"name": "A", "value": "1", "scope": {}},
        ]});
        assert!(same(&dest, &source));
        assert!(diff(decl, &dest, &source).is_empty());
        // Reordered elements: not the same here, whatever the walk then finds.
        let reordered = json!({"project": "P", "variables": [
            {"name": "A", "value": "1", "scope": {}},
            {"name": "S", "value": {"encrypted": "…", DIGEST: "x"}, "scope": {}},
        ]});
        assert!(!same(&dest, &reordered));
        // Any real change is not the same.
        for changed in [
            json!({"project": "P", "variables": [
                {"name": "S", "value": {"encrypted": "…", DIGEST: "y"}, "scope": {}},
                {"name": "A", "value": "1", "scope": {}},
            ]}),
            json!({"project": "P", "variables": [
                {"name": "S", "value": "plain now", "scope": {}},
                {"name": "A", "value": "1", "scope": {}},
            ]}),
            json!({"project": "P", "variables": [
                {"name": "S", "value": {"masked": true, DIGEST: "x"}, "scope": {}},
            ]}),
        ] {
            assert!(!same(&dest, &changed), "{changed}");
            assert!(!diff(decl, &dest, &changed).is_empty(), "{changed}");
        }
    }
}
