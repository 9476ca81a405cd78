//! The merge rules of SPEC 6.3, on documents in the export shape, where sensitive values are
//! stand-ins carrying a digest (see [`super::diff::DIGEST`]): given the destination's version
//! and the source's, the version to write.

use cuttle_domain::decl::{CollectionDecl, MergeRule, Merged};
use cuttle_domain::path::{JsonPath, Step};
use serde_json::Value;

use std::collections::HashMap;

use cuttle_instance::codec::{ElementKey, element_keys};

use super::diff::{DIGEST, element_key, is_sensitive};

/// The version an overwrite writes, by the collection's merge rule.
pub fn merge(decl: &CollectionDecl, dest: &Value, source: Value) -> Value {
    let mut merged = source;
    match decl.merge {
        MergeRule::Merge(arrays) => {
            for array in arrays {
                match *array {
                    Merged::ByKey(field) => merge_keyed(decl, field, dest, &mut merged),
                    Merged::Union(field) => union_sorted(dest, &mut merged, field),
                    Merged::Append(field) => append_new(dest, &mut merged, field),
                    Merged::Connections { path, set } => {
                        merge_connections(decl, path, set, dest, &mut merged)
                    }
                }
            }
        }
        MergeRule::KeepActive(field) => {
            let active = |v: &Value| v.get(field).and_then(Value::as_bool).unwrap_or(true);
            if active(dest) && !active(&merged) {
                merged[field] = Value::Bool(true);
            }
        }
        MergeRule::Replace
        | MergeRule::ProjectUnit
        | MergeRule::ProjectPart
        | MergeRule::CreateOnly => {}
    }
    merged
}

/// Whether [`merge`] gives the source's version whenever it is alike the destination's
/// ([`super::diff::same`]: the same JSON, sensitive values by their digests, arrays in the same
/// order): it does unless the rule unites or appends arrays, which sorts or adds elements. (A
/// keyed array's elements replace the destination's with the same key, where they stand: alike,
/// each replaces the one in its place, and none of the destination's is left.)
pub fn gives_source_when_alike(decl: &CollectionDecl) -> bool {
    decl.merge
        .merged()
        .iter()
        .all(|merged| matches!(merged, Merged::ByKey(_)))
}

/// `merged[field]` keeps every element of the destination's, then adds the source's that are
/// new.
fn append_new(dest: &Value, merged: &mut Value, field: &str) {
    let kept = dest
        .get(field)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let imported = merged
        .get(field)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut all = kept.clone();
    all.extend(imported.into_iter().filter(|a| !kept.contains(a)));
    if let Some(object) = merged.as_object_mut() {
        object.insert(field.to_owned(), Value::Array(all));
    }
}

/// Elements of the keyed array `field` merge by key: the source's replace the destination's
/// with the same key in place, the destination's others stay, the source's new ones follow.
fn merge_keyed(decl: &CollectionDecl, field: &str, dest: &Value, merged: &mut Value) {
    let Some(keyed) = decl.keyed_arrays.iter().find(|k| k.path == field) else {
        return;
    };
    let theirs = elements(dest, field);
    let ours = merged
        .get_mut(field)
        .and_then(Value::as_array_mut)
        .map(std::mem::take)
        .unwrap_or_default();
    let replacing = same_keys(keyed.key, &ours, theirs);
    let mut ours: Vec<Option<Value>> = ours.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(theirs.len() + ours.len());
    for (t, replaced) in theirs.iter().zip(replacing) {
        let replaced = replaced.and_then(|i| ours[i].take());
        out.push(replaced.unwrap_or_else(|| t.clone()));
    }
    out.extend(ours.into_iter().flatten());
    if let Some(object) = merged.as_object_mut() {
        object.insert(field.to_owned(), Value::Array(out));
    }
}

/// The destination's elements of the keyed array `field` that the source does not replace
/// (what a merge keeps of the destination's own).
pub fn kept_elements(
    decl: &CollectionDecl,
    field: &str,
    dest: &Value,
    source: &Value,
) -> Vec<Value> {
    let Some(keyed) = decl.keyed_arrays.iter().find(|k| k.path == field) else {
        return Vec::new();
    };
    let theirs = elements(dest, field);
    theirs
        .iter()
        .zip(same_keys(keyed.key, elements(source, field), theirs))
        .filter(|(_, replaced)| replaced.is_none())
        .map(|(t, _)| t.clone())
        .collect()
}

/// For each of `theirs`, the index of the element of `ours` with the same key (`fields`), if
/// there is one.
fn same_keys(fields: &[&str], ours: &[Value], theirs: &[Value]) -> Vec<Option<usize>> {
    let ours = element_keys(fields, ours);
    let at: HashMap<ElementKey<'_, '_>, usize, foldhash::fast::RandomState> =
        ours.iter().enumerate().map(|(i, k)| (k, i)).collect();
    element_keys(fields, theirs)
        .iter()
        .map(|k| at.get(&k).copied())
        .collect()
}

/// The elements of the array `field` of `value` (none where it has no such array).
fn elements<'v>(value: &'v Value, field: &str) -> &'v [Value] {
    value
        .get(field)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Connections only grow (a tenant's to projects): every element either side has, matched by
/// its key, each with the union of both sides' `set`; sorted by key.
fn merge_connections(
    decl: &CollectionDecl,
    path: &str,
    set: &str,
    dest: &Value,
    merged: &mut Value,
) {
    let Some(keyed) = decl.keyed_arrays.iter().find(|k| k.path == path) else {
        return;
    };
    let theirs = dest
        .get(path)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut ours = merged
        .get(path)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for t in theirs {
        let key = element_key(keyed.key, &t);
        match ours.iter_mut().find(|o| element_key(keyed.key, o) == key) {
            Some(o) => union_sorted(&t, o, set),
            None => ours.push(t),
        }
    }
    // As the set is sorted (by byte order of its key's text).
    ours.sort_by_cached_key(|v| {
        keyed
            .key
            .iter()
            .map(|f| v.get(*f).and_then(Value::as_str).map(str::to_owned))
            .collect::<Vec<_>>()
    });
    if let Some(object) = merged.as_object_mut() {
        object.insert(path.into(), Value::Array(ours));
    }
}

/// `merged[field]` becomes the sorted union of both sides' text arrays.
fn union_sorted(dest: &Value, merged: &mut Value, field: &str) {
    let mut all: Vec<String> = [dest.get(field), merged.get(field)]
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    all.sort();
    all.dedup();
    if let Some(object) = merged.as_object_mut() {
        object.insert(
            field.to_owned(),
            Value::Array(all.into_iter().map(Value::String).collect()),
        );
    }
}

/// `--keep-destination-secrets`: wherever the destination holds a sensitive value, the merged
/// version holds it too, at the place matched by key (as the write path matches it), whatever
/// the source does there. Where the source also changes what makes the place sensitive (a
/// variable's `type`, a parameter's `controlType`, credentials' `kind`: the declaration's
/// `decided_by`), the destination's element is kept whole, so that its value stays sensitive
/// and the element stays valid. An element the source does not have at all is left to the merge
/// rule (a variable set keeps the destination's; an overwrite of a whole document removes it).
///
/// Returns, for the plan, what was kept that the source would have changed beyond the value:
/// each an element, as the plan names it, and why.
pub fn keep_destination_secrets(
    decl: &CollectionDecl,
    dest: &Value,
    merged: &mut Value,
) -> Vec<String> {
    let shown = |at: &JsonPath| super::diff::shown_path(decl, dest, at);
    keep_destination_secrets_in(decl, dest, merged, &shown)
}

/// [`keep_destination_secrets`] of a part of a document (an element of its large array, with
/// its declarations), whose places the plan shows as `shown` says.
pub fn keep_destination_secrets_in(
    decl: &CollectionDecl,
    dest: &Value,
    merged: &mut Value,
    shown: &dyn Fn(&JsonPath) -> String,
) -> Vec<String> {
    let mut notes = Vec::new();
    for here in stand_ins(dest) {
        let Some((parent, Step::Field(field))) = here.split_last() else {
            continue;
        };
        let Some((_, there)) = cuttle_instance::codec::locate(decl, dest, merged, &parent) else {
            continue;
        };
        let theirs = dest.pointer(&parent.pointer()).expect("a path just found");
        let shown_parent = shown(&parent);
        let Some(ours) = merged.pointer_mut(&there.pointer()) else {
            continue;
        };
        let decided_by = decl
            .sensitive_at(&here.pattern())
            .and_then(|s| s.decided_by);
        if let Some(kind) = decided_by
            && theirs.get(kind) != ours.get(kind)
        {
            notes.push(format!(
                "{shown_parent}: kept whole as the destination has it (--keep-destination-secrets): the source makes its {kind} {} instead of {}, which would replace the destination's sensitive value",
                ours.get(kind).map_or("absent".into(), Value::to_string),
                theirs.get(kind).map_or("absent".into(), Value::to_string),
            ));
            *ours = theirs.clone();
            continue;
        }
        let Some(object) = ours.as_object_mut() else {
            continue;
        };
        let plain = object
            .get(field.as_str())
            .is_some_and(|v| !v.is_null() && !is_sensitive(v));
        if plain {
            notes.push(format!(
                "{}: stays the destination's sensitive value (--keep-destination-secrets): the source gives plain text there",
                shown(&here)
            ));
        }
        object.insert(
            field.clone(),
            dest.pointer(&here.pointer())
                .cloned()
                .expect("a path just found"),
        );
    }
    notes
}

/// The paths of every sensitive stand-in of a view.
pub fn stand_ins(value: &Value) -> Vec<JsonPath> {
    cuttle_instance::codec::find_all(value, &|v| is_sensitive(v).then_some(()))
        .into_iter()
        .map(|(path, ())| path)
        .collect()
}

/// The view with its stand-ins turned back into the forms the write path takes: a source's
/// value keeps its `{"encrypted"}` (or other) form, a destination's becomes `{"masked": true}`.
pub fn strip_digests(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if object.remove(DIGEST).is_some() {
                return;
            }
            object.values_mut().for_each(strip_digests);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_digests),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cuttle_domain::Collection;
    use serde_json::json;

    #[test]
    fn variables_merge_by_name_and_scope() {
        let decl = Collection::LibraryVariableSets.decl();
        let dest = json!({"name": "L", "variables": [
            {"name": "A", "value": "old", "scope": {}},
            {"name": "A", "value": "prod", "scope": {"environments": ["Prod"]}},
            {"name": "Mine", "value": "m", "scope": {}},
        ]});
        let source = json!({"name": "L", "variables": [
            {"name": "A", "value": "new", "scope": {}},
            {"name": "B", "value": "b", "scope": {}},
        ]});
        let merged = merge(decl, &dest, source.clone());
        let values: Vec<&str> = merged["variables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["value"].as_str().unwrap())
            .collect();
        assert_eq!(values, ["new", "prod", "m", "b"]);
        assert_eq!(kept_elements(decl, "variables", &dest, &source).len(), 2);
    }

    #[test]
    fn a_merge_by_key_of_a_version_alike_gives_it_and_a_union_may_not() {
        let decl = Collection::ProjectVariables.decl();
        assert!(gives_source_when_alike(decl));
        let stand_in = |form: &str| json!({form: "…", DIGEST: "d"});
        let dest = json!({"project": "P", "variables": [
            {"name": "A", "value": "1", "scope": {"environments": ["Prod"]}},
            {"name": "A", "value": "1", "scope": {}},
            {"name": "S", "value": stand_in("masked"), "scope": {}},
        ]});
        let source = json!({"project": "P", "variables": [
            {"name": "A", "value": "1", "scope": {"environments": ["Prod"]}},
            {"name": "A", "value": "1", "scope": {}},
            {"name": "S", "value": stand_in("encrypted"), "scope": {}},
        ]});
        assert!(crate::import::diff::same(&dest, &source));
        assert_eq!(merge(decl, &dest, source.clone()), source);
        assert!(kept_elements(decl, "variables", &dest, &source).is_empty());
        // Members united are sorted: a version alike but unsorted does not merge to itself.
        let teams = Collection::Teams.decl();
        assert!(!gives_source_when_alike(teams));
        let team = json!({"name": "T", "members": ["b", "a"], "roleAssignments": []});
        assert_ne!(merge(teams, &team, team.clone()), team);
        for collection in [
            Collection::Projects,
            Collection::Environments,
            Collection::Users,
        ] {
            assert!(gives_source_when_alike(collection.decl()), "{collection:?}");
        }
    }

    #[test]
    fn teams_and_tenants_never_lose_anything() {
        let decl = Collection::Teams.decl();
        let dest = json!({"name": "T", "members": ["a", "me"], "roleAssignments": [{"userRole": "Admin"}]});
        let source =
            json!({"name": "T", "members": ["b"], "roleAssignments": [{"userRole": "Viewer"}]});
        let merged = merge(decl, &dest, source.clone());
        assert_eq!(merged["members"], json!(["a", "b", "me"]));
        assert_eq!(merged["roleAssignments"].as_array().unwrap().len(), 2);

        let decl = Collection::Tenants.decl();
        let dest = json!({"name": "X", "projects": [
            {"project": "P", "environments": ["Prod"]}, {"project": "Q", "environments": []}]});
        let source = json!({"name": "X", "projects": [{"project": "P", "environments": ["Dev"]}]});
        let merged = merge(decl, &dest, source.clone());
        assert_eq!(
            merged["projects"],
            json!([{"project": "P", "environments": ["Dev", "Prod"]}, {"project": "Q", "environments": []}])
        );
    }

    #[test]
    fn users_are_never_deactivated() {
        let decl = Collection::Users.decl();
        let merged = merge(
            decl,
            &json!({"username": "u", "isActive": true}),
            json!({"username": "u", "isActive": false, "displayName": "U"}),
        );
        assert_eq!(merged["isActive"], json!(true));
        assert_eq!(merged["displayName"], json!("U"));
    }

    #[test]
    fn destination_secrets_are_kept_where_asked() {
        let decl = Collection::ProjectVariables.decl();
        let dest = json!({"variables": [
            {"name": "S", "value": {"masked": true, DIGEST: "d"}, "scope": {}}]});
        let mut merged = json!({"variables": [
            {"name": "T", "value": "t", "scope": {}},
            {"name": "S", "value": {"encrypted": "e", DIGEST: "s"}, "scope": {}}]});
        keep_destination_secrets(decl, &dest, &mut merged);
        assert_eq!(merged["variables"][1]["value"][DIGEST], json!("d"));
        strip_digests(&mut merged);
        assert_eq!(merged["variables"][1]["value"], json!({"masked": true}));
    }
}
