//! No plan, in any format, at any action, shows a sensitive value (issue 11, items 1 and 4):
//! not its plaintext, however a hand-edited export spells it (`{"secret": …}` where a value, an
//! element, a name, a member or a role assignment stands), not its ciphertext, not the digest
//! the planner compares it by. A sensitive value appears in a plan only as set, cleared or
//! changed.
//!
//! The corpus: the small sample's export, changed three ways over every sensitive value it
//! holds (each given as plaintext; each element holding one added again under a new name; each
//! such element removed), imported into an instance holding the same documents (every
//! overwrite, merge and removal diffs them) and into an empty one (every document created),
//! under both policies, as text and as JSON lines, with and without
//! `--keep-destination-secrets`; and documents that put a secret where a name, a member or a
//! role assignment stands, which are refused.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{World, copy_tree, files_under, stderr, stdout};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Every `{"encrypted": …}` ciphertext under `dir`.
fn ciphertexts(dir: &Path) -> BTreeSet<String> {
    fn walk(value: &Value, out: &mut BTreeSet<String>) {
        match value {
            Value::Object(o) => {
                if let Some(Value::String(text)) = o.get("encrypted") {
                    out.insert(text.clone());
                }
                o.values().for_each(|v| walk(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for file in files_under(dir) {
        if file.extension().is_some_and(|e| e == "json") {
            let value: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
            walk(&value, &mut out);
        }
    }
    out
}

/// Asserts that nothing `out` printed shows a sensitive value: no plaintext of the corpus (they
/// all start with `sample-secret-`), no ciphertext of `known`, no digest, no sensitive member.
fn assert_clean(what: &str, out: &assert_cmd::assert::Assert, known: &BTreeSet<String>) {
    let all = format!("{}{}", stdout(out), stderr(out));
    for needle in [
        "sample-secret-",
        "$digest",
        "\"encrypted\"",
        "\"sealed\"",
        "\"secret\"",
    ] {
        assert!(!all.contains(needle), "{what}: {needle:?} in:\n{all}");
    }
    if let Some(found) = known.iter().find(|c| all.contains(c.as_str())) {
        panic!("{what}: the ciphertext {found} in:\n{all}");
    }
}

/// Rewrites every JSON file under `dir` with `edit`.
fn edit_all(dir: &Path, edit: &mut dyn FnMut(&mut Value)) {
    for file in files_under(dir) {
        if file.extension().is_some_and(|e| e == "json") && !file.ends_with("manifest.json") {
            let mut value: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
            edit(&mut value);
            std::fs::write(&file, serde_json::to_string_pretty(&value).unwrap()).unwrap();
        }
    }
}

fn holds_sensitive(value: &Value) -> bool {
    match value {
        Value::Object(o) => {
            o.contains_key("encrypted")
                || o.contains_key("secret")
                || o.values().any(holds_sensitive)
        }
        Value::Array(a) => a.iter().any(holds_sensitive),
        _ => false,
    }
}

/// Every ciphertext becomes a plaintext `{"secret": "sample-secret-plan-N"}`.
fn spell_plain(value: &mut Value, n: &mut usize) {
    match value {
        Value::Object(o) if o.contains_key("encrypted") => {
            *n += 1;
            *value = json!({ "secret": format!("sample-secret-plan-{n}") });
        }
        Value::Object(o) => o.values_mut().for_each(|v| spell_plain(v, n)),
        Value::Array(a) => a.iter_mut().for_each(|v| spell_plain(v, n)),
        _ => {}
    }
}

/// Every named array element that holds a sensitive value is added again under a new name.
fn add_copies(value: &mut Value) {
    match value {
        Value::Array(items) => {
            items.iter_mut().for_each(add_copies);
            let copies: Vec<Value> = items
                .iter()
                .filter(|v| holds_sensitive(v) && v.get("name").is_some_and(Value::is_string))
                .map(|v| {
                    let mut copy = v.clone();
                    copy["name"] = json!(format!("{} (copy)", v["name"].as_str().unwrap()));
                    copy
                })
                .collect();
            items.extend(copies);
        }
        Value::Object(o) => o.values_mut().for_each(add_copies),
        _ => {}
    }
}

/// Every array element that holds a sensitive value is removed.
fn remove_holders(value: &mut Value) {
    match value {
        Value::Array(items) => {
            items.retain(|v| !holds_sensitive(v));
            items.iter_mut().for_each(remove_holders);
        }
        Value::Object(o) => o.values_mut().for_each(remove_holders),
        _ => {}
    }
}

fn plans_never_show_a_sensitive_value(world: &World) {
    world.create_sampled("src");
    world.create_sampled("dst");
    world.create_instance("empty");
    let good = TempDir::new().unwrap();
    world.export("src", good.path(), &[]).success();
    let mut known = ciphertexts(good.path());
    let dst = TempDir::new().unwrap();
    world.export("dst", dst.path(), &[]).success();
    known.extend(ciphertexts(dst.path()));
    assert!(known.len() > 20, "the sample holds sensitive values");

    // Each variant, and what its overwrite's plan shows (so that the corpus is what it says): a
    // sensitive change, or an element shown with its value masked.
    type Variant = fn(&mut Value, &mut usize);
    let variants: [(&str, Variant, &str); 3] = [
        (
            "every value as plaintext",
            |v, n| spell_plain(v, n),
            r#""sensitive":true"#,
        ),
        (
            "every element holding one added again",
            |v, n| {
                add_copies(v);
                spell_plain(v, n);
            },
            r#""change":"added","new":{"#,
        ),
        (
            "every element holding one removed",
            |v, _| remove_holders(v),
            r#""change":"removed","old":{"#,
        ),
    ];
    for (what, variant, shows) in variants {
        let dir = TempDir::new().unwrap();
        copy_tree(good.path(), dir.path());
        let mut n = 0;
        edit_all(dir.path(), &mut |v| variant(v, &mut n));
        for (instance, options) in [
            ("dst", &["--overwrite", "--format", "json"][..]),
            ("dst", &["--overwrite"][..]),
            (
                "dst",
                &[
                    "--overwrite",
                    "--keep-destination-secrets",
                    "--format",
                    "json",
                ][..],
            ),
            ("dst", &["--overwrite", "--keep-destination-secrets"][..]),
            ("dst", &["--format", "json"][..]),
            ("empty", &["--format", "json"][..]),
            ("empty", &[][..]),
        ] {
            let mut args = vec!["--dry-run"];
            args.extend(options);
            let out = world.import(instance, &[dir.path()], &args);
            let label = format!("{what}, into {instance} with {options:?}");
            assert_eq!(
                out.get_output().status.code(),
                Some(0),
                "{label}: {}",
                stderr(&out)
            );
            assert_clean(&label, &out, &known);
        }
        let out = world.import(
            "dst",
            &[dir.path()],
            &["--dry-run", "--overwrite", "--format", "json"],
        );
        let plan = stdout(&out);
        assert!(plan.contains(shows), "{what}: {shows} in {plan}");
        if what != "every value as plaintext" {
            assert!(plan.contains(r#"{"masked":true}"#), "{what}: {plan}");
        }
    }
}

/// A secret where a name, a member or a role assignment stands: refused, and never shown, not
/// even in the JSON lines streamed before the refusal.
fn secrets_where_names_stand_are_refused_unseen(world: &World) {
    world.create_sampled("src");
    world.create_instance("empty");
    let good = TempDir::new().unwrap();
    world.export("src", good.path(), &[]).success();
    let known = ciphertexts(good.path());
    let secret = |what: &str| json!({ "secret": format!("sample-secret-{what}") });
    let cases: [(&str, &str, Value); 5] = [
        (
            "a name",
            "environments/x.json",
            json!({"name": secret("name")}),
        ),
        (
            "a member",
            "teams/x.json",
            json!({"name": "T", "members": [secret("member")]}),
        ),
        (
            "a role assignment",
            "teams/y.json",
            json!({"name": "U", "roleAssignments": [{"userRole": secret("role"), "environments": [secret("env")]}]}),
        ),
        (
            "a reference",
            "projects/web/project.json",
            json!({"name": "web", "lifecycle": secret("lifecycle"), "projectGroup": {"name": secret("group")}}),
        ),
        (
            "a scope",
            "library-variable-sets/x.json",
            json!({"name": "L", "variables": [{"name": "V", "type": "String", "value": "v", "scope": {"environments": [secret("scope")]}}]}),
        ),
    ];
    for (what, file, doc) in cases {
        let dir = TempDir::new().unwrap();
        copy_tree(good.path(), dir.path());
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, doc.to_string()).unwrap();
        for instance in ["src", "empty"] {
            for format in ["json", "text"] {
                let out = world.import(
                    instance,
                    &[dir.path()],
                    &["--overwrite", "--format", format],
                );
                let label = format!("a secret as {what}, into {instance}, as {format}");
                assert_eq!(out.get_output().status.code(), Some(1), "{label}");
                assert_clean(&label, &out, &known);
            }
        }
    }
}

both_backends!(
    plans_never_show_a_sensitive_value,
    secrets_where_names_stand_are_refused_unseen
);
