//! Checks the samples against the domain's declarations, not against the generator's own idea of
//! them: shapes, natural keys, keyed and set-like arrays, references (every declared reference
//! path used, every reference resolving within the run) and sensitive values.
//!
//! The checks stream: a first pass indexes every natural key, a second pass (the generator is
//! deterministic) resolves references against it, so that the large sample can be checked too.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::time::Instant;

use cuttle_domain::path::for_each;
use cuttle_domain::sensitive::{Form, form_of};
use cuttle_domain::{COLLECTIONS, Collection, CollectionDecl, RefDecl, RefScope, names};
use cuttle_sample::{Size, generate};
use serde_json::Value;

const SEED: u64 = 20_260_131;

fn collect(size: Size, seed: u64) -> Vec<(Collection, Value)> {
    let mut docs = Vec::new();
    generate(size, seed, &mut |collection, value| {
        docs.push((collection, value))
    });
    docs
}

/// A document's natural key: its project (for project-owned documents), then its key fields.
fn key(decl: &CollectionDecl, doc: &Value) -> String {
    let mut parts = Vec::new();
    if decl.is_project_owned() {
        parts.push(doc["project"].clone());
    }
    parts.extend(
        decl.key
            .iter()
            .map(|field| doc.get(*field).cloned().unwrap_or(Value::Null)),
    );
    Value::Array(parts).to_string()
}

/// Every natural key of a run, and every tag of every tag set.
#[derive(Default)]
struct Index {
    keys: BTreeMap<Collection, BTreeSet<String>>,
    tags: BTreeMap<String, BTreeSet<String>>,
    counts: BTreeMap<Collection, usize>,
    variables: usize,
}

impl Index {
    /// Indexes a run, checking that natural keys are unique and valid names.
    fn build(size: Size, seed: u64) -> Index {
        let mut index = Index::default();
        generate(size, seed, &mut |collection, doc| {
            let decl = collection.decl();
            for field in decl.key {
                if let Some(name) = doc[*field].as_str() {
                    assert_eq!(names::check(name), Ok(()), "{}: {name:?}", decl.name);
                    assert_eq!(names::nfc(name), name, "{}: {name:?} is not NFC", decl.name);
                }
            }
            let key = key(decl, &doc);
            assert!(
                index
                    .keys
                    .entry(collection)
                    .or_default()
                    .insert(key.clone()),
                "{}: duplicate key {key}",
                decl.name
            );
            *index.counts.entry(collection).or_default() += 1;
            if collection == Collection::TagSets {
                let tags = doc["tags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["name"].as_str().unwrap().to_owned());
                index
                    .tags
                    .insert(doc["name"].as_str().unwrap().to_owned(), tags.collect());
            }
            if let Some(variables) = doc.get("variables").and_then(Value::as_array) {
                index.variables += variables.len();
            }
        });
        index
    }

    fn total(&self) -> usize {
        self.counts.values().sum()
    }

    /// Checks one reference; `Err` says why it does not resolve.
    fn resolve(&self, r: &RefDecl, doc: &Value, value: &Value) -> Result<(), String> {
        let target = r.target.decl();
        let found = |key: String| {
            if self
                .keys
                .get(&r.target)
                .is_some_and(|keys| keys.contains(&key))
            {
                Ok(())
            } else {
                Err(format!("no {} {key}", target.name))
            }
        };
        match r.scope {
            RefScope::Global => {
                assert!(
                    !target.is_project_owned(),
                    "a global reference to {}",
                    target.name
                );
                found(Value::Array(vec![value.clone()]).to_string())
            }
            RefScope::SameProject => {
                let mut parts = vec![doc["project"].clone()];
                match value {
                    Value::Object(object) => parts.extend(
                        target
                            .key
                            .iter()
                            .map(|f| object.get(*f).cloned().unwrap_or(Value::Null)),
                    ),
                    _ => parts.push(value.clone()),
                }
                found(Value::Array(parts).to_string())
            }
            RefScope::TenantTag => {
                let text = value.as_str().ok_or("a tenant tag is a string")?;
                let (set, tag) = text
                    .rsplit_once('/')
                    .ok_or_else(|| format!("{text:?} is not Set/Tag"))?;
                match self.tags.get(set) {
                    Some(tags) if tags.contains(tag) => Ok(()),
                    _ => Err(format!("no tenant tag {text:?}")),
                }
            }
        }
    }
}

/// Resolves every reference of a run; returns the declared references it used, as
/// (collection, path, target).
fn check_references(
    size: Size,
    seed: u64,
    index: &Index,
) -> BTreeSet<(&'static str, &'static str, &'static str)> {
    let mut used = BTreeSet::new();
    generate(size, seed, &mut |collection, doc| {
        let decl = collection.decl();
        for r in decl.refs {
            for_each::<String>(&doc, r.path, r.when.as_ref(), &mut |value, at| {
                if !value.is_null() {
                    used.insert((decl.name, r.path, r.target.name()));
                    index
                        .resolve(r, &doc, value)
                        .map_err(|e| format!("{} {}: {at}: {e}", decl.name, key(decl, &doc)))?;
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
        }
    });
    used
}

fn every_declared_reference() -> BTreeSet<(&'static str, &'static str, &'static str)> {
    COLLECTIONS
        .iter()
        .flat_map(|d| {
            d.refs
                .iter()
                .map(move |r| (d.name, r.path, r.target.name()))
        })
        .collect()
}

fn digest(size: Size, seed: u64) -> (u64, usize) {
    let mut hasher = DefaultHasher::new();
    let mut count = 0;
    generate(size, seed, &mut |collection, doc| {
        collection.hash(&mut hasher);
        doc.to_string().hash(&mut hasher);
        count += 1;
    });
    (hasher.finish(), count)
}

#[test]
fn the_same_seed_gives_the_same_sample() {
    assert_eq!(collect(Size::Small, SEED), collect(Size::Small, SEED));
    assert_ne!(collect(Size::Small, SEED), collect(Size::Small, SEED + 1));
    assert_eq!(digest(Size::Medium, 7), digest(Size::Medium, 7));
    assert_ne!(digest(Size::Medium, 7).0, digest(Size::Medium, 8).0);
}

#[test]
fn every_document_has_its_collections_shape_in_canonical_form() {
    for size in [Size::Small, Size::Medium] {
        generate(size, SEED, &mut |collection, doc| {
            let decl = collection.decl();
            // From its text, as the import reads it.
            let text = serde_json::to_string_pretty(&doc).unwrap();
            match (decl.shape)(&text) {
                Ok(canonical) => assert_eq!(canonical, doc, "{}: not in canonical form", decl.name),
                Err(e) => panic!("{} {}: {e}", decl.name, key(decl, &doc)),
            }
        });
    }
}

#[test]
fn small_covers_every_collection_and_every_declared_reference_and_they_resolve() {
    for seed in [SEED, 0, 1, 42] {
        let index = Index::build(Size::Small, seed);
        for decl in COLLECTIONS {
            assert!(
                index.counts.get(&decl.collection).is_some_and(|&n| n > 0),
                "seed {seed}: no {}",
                decl.name
            );
        }
        let used = check_references(Size::Small, seed, &index);
        let unused: Vec<_> = every_declared_reference()
            .difference(&used)
            .copied()
            .collect();
        assert!(
            unused.is_empty(),
            "seed {seed}: declared references never used: {unused:?}"
        );
    }
}

#[test]
fn medium_references_resolve() {
    let index = Index::build(Size::Medium, SEED);
    let used = check_references(Size::Medium, SEED, &index);
    assert_eq!(used, every_declared_reference());
}

/// Whether the value at a declared sensitive path is, or (for a free-form map) holds, a sensitive
/// value.
fn holds_sensitive(value: &Value) -> bool {
    form_of(value).is_some()
        || value
            .as_object()
            .is_some_and(|map| map.values().any(|v| form_of(v).is_some()))
}

/// Every sensitive object of a document, by JSON pointer.
fn sensitive_objects<'v>(value: &'v Value, at: String, found: &mut Vec<(String, &'v Value)>) {
    if form_of(value).is_some() {
        found.push((at, value));
        return;
    }
    match value {
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| sensitive_objects(v, format!("{at}/{k}"), found)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| sensitive_objects(v, format!("{at}/{i}"), found)),
        _ => {}
    }
}

#[test]
fn sensitive_values_stand_where_declared_and_start_with_sample_secret() {
    let mut declared_used = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    let mut total = 0;
    generate(Size::Small, SEED, &mut |collection, doc| {
        let decl = collection.decl();
        let mut declared = BTreeSet::new();
        for field in decl.sensitive {
            let path = field.path;
            for_each::<()>(&doc, path, None, &mut |value, at| {
                if holds_sensitive(value) {
                    declared_used.insert((decl.name, path));
                }
                declared.insert(at.to_path().pointer());
                Ok(())
            })
            .unwrap();
        }
        let mut found = Vec::new();
        sensitive_objects(&doc, String::new(), &mut found);
        for (at, value) in found {
            let parent = &at[..at.rfind('/').unwrap()];
            assert!(
                declared.contains(&at) || declared.contains(parent),
                "{} {}: undeclared sensitive value at {at}",
                decl.name,
                key(decl, &doc)
            );
            assert_eq!(form_of(value), Some(Form::Secret), "{}: {at}", decl.name);
            let plain = value["secret"].as_str().unwrap();
            assert!(plain.starts_with("sample-secret-"), "{} {at}", decl.name);
            secrets.insert(plain.to_owned());
            total += 1;
        }
    });
    let declared: BTreeSet<_> = COLLECTIONS
        .iter()
        .flat_map(|d| d.sensitive.iter().map(move |p| (d.name, p.path)))
        .collect();
    let unused: Vec<_> = declared.difference(&declared_used).collect();
    assert!(
        unused.is_empty(),
        "declared sensitive paths without a sensitive value: {unused:?}"
    );
    assert!(
        secrets.len() * 10 >= total * 9,
        "{} distinct secrets among {total}",
        secrets.len()
    );
}

#[test]
fn keyed_arrays_have_unique_keys_and_sets_are_sorted() {
    for size in Size::ALL {
        generate(size, SEED, &mut |collection, doc| {
            let decl = collection.decl();
            for keyed in decl.keyed_arrays {
                for_each::<()>(&doc, keyed.path, None, &mut |array, at| {
                    let mut keys = BTreeSet::new();
                    for item in array.as_array().unwrap() {
                        let item_key: Vec<&Value> = keyed
                            .key
                            .iter()
                            .map(|f| item.get(*f).unwrap_or(&Value::Null))
                            .collect();
                        let text = serde_json::to_string(&item_key).unwrap();
                        assert!(
                            keys.insert(text),
                            "{} {}: {at}: duplicate {item_key:?}",
                            decl.name,
                            key(decl, &doc)
                        );
                    }
                    Ok(())
                })
                .unwrap();
            }
            for array in decl.sets {
                for_each::<()>(&doc, array.path, None, &mut |items, at| {
                    let sort_key = |v: &Value| match array.by {
                        Some(field) => v[field].as_str().unwrap().to_owned(),
                        None => v.as_str().unwrap().to_owned(),
                    };
                    let keys: Vec<String> =
                        items.as_array().unwrap().iter().map(sort_key).collect();
                    assert!(
                        keys.windows(2).all(|w| w[0] < w[1]),
                        "{} {}: {at} is not sorted: {keys:?}",
                        decl.name,
                        key(decl, &doc)
                    );
                    Ok(())
                })
                .unwrap();
            }
        });
    }
}

#[test]
fn deployments_are_numbered_in_queue_order() {
    let mut queued: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    generate(Size::Medium, SEED, &mut |collection, doc| {
        if collection == Collection::Deployments {
            let group = serde_json::to_string(&[
                &doc["project"],
                &doc["release"],
                &doc["environment"],
                &doc["tenant"],
            ])
            .unwrap();
            queued.entry(group).or_default().push((
                doc["number"].as_u64().unwrap(),
                doc["queued"].as_str().unwrap().to_owned(),
            ));
        }
    });
    for (group, deployments) in queued {
        for (i, (number, _)) in deployments.iter().enumerate() {
            assert_eq!(*number, i as u64 + 1, "{group}");
        }
        assert!(
            deployments.windows(2).all(|w| w[0].1 < w[1].1),
            "{group}: not in queue order"
        );
    }
}

#[test]
fn small_has_every_kind_and_hostile_names() {
    let docs = collect(Size::Small, SEED);
    let kinds = |collection: Collection, pointer: &str| -> BTreeSet<String> {
        docs.iter()
            .filter(|(c, _)| *c == collection)
            .filter_map(|(_, d)| {
                d.pointer(pointer)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect()
    };
    let count = |collection, pointer| kinds(collection, pointer).len();
    assert_eq!(count(Collection::Accounts, "/credentials/kind"), 6);
    assert_eq!(count(Collection::Machines, "/endpoint/kind"), 7);
    assert_eq!(count(Collection::Feeds, "/feedType"), 7);
    assert_eq!(count(Collection::Triggers, "/filter/kind"), 2);
    assert_eq!(count(Collection::Triggers, "/action/kind"), 3);
    let variable_types: BTreeSet<&str> = docs
        .iter()
        .filter(|(c, _)| {
            matches!(
                c,
                Collection::ProjectVariables | Collection::LibraryVariableSets
            )
        })
        .flat_map(|(_, d)| {
            d["variables"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["type"].as_str().unwrap())
        })
        .collect();
    assert_eq!(variable_types.len(), 8, "{variable_types:?}");
    let syntaxes: BTreeSet<&str> = docs
        .iter()
        .filter(|(c, _)| {
            matches!(
                c,
                Collection::StepTemplates | Collection::DeploymentProcesses
            )
        })
        .flat_map(|(_, d)| {
            let mut found = Vec::new();
            for path in ["script", "steps[]/actions[]/script"] {
                for_each::<()>(d, path, None, &mut |s, _| {
                    found.extend(s["syntax"].as_str());
                    Ok(())
                })
                .unwrap();
            }
            found
        })
        .collect();
    assert_eq!(syntaxes.len(), 5, "{syntaxes:?}");

    let environments = kinds(Collection::Environments, "/name");
    let projects = kinds(Collection::Projects, "/name");
    let tenants = kinds(Collection::Tenants, "/name");
    assert!(environments.contains("Prod-EU") && environments.contains("prod-eu"));
    assert!(projects.iter().any(|p| p.contains('/')));
    assert!(projects.iter().any(|p| p.ends_with('.')));
    assert!(projects.contains("CON"));
    assert!(tenants.contains("Café Zürich"));
}

#[test]
fn sizes_are_in_range() {
    let small = Index::build(Size::Small, SEED);
    assert!(
        (200..=500).contains(&small.total()),
        "small: {} documents",
        small.total()
    );
    let medium = Index::build(Size::Medium, SEED);
    assert!(
        (30_000..=60_000).contains(&medium.total()),
        "medium: {} documents",
        medium.total()
    );
    for (name, index) in [("small", &small), ("medium", &medium)] {
        eprintln!(
            "{name}: {} documents, {} variables",
            index.total(),
            index.variables
        );
        for (collection, n) in &index.counts {
            eprintln!("  {:<24} {n}", collection.name());
        }
    }
}

/// Run with `cargo test --release -p cuttle-sample -- --ignored --nocapture`.
#[test]
#[ignore = "generates the large sample several times; run in release mode"]
fn large_is_in_range_and_consistent() {
    let started = Instant::now();
    let (_, documents) = digest(Size::Large, SEED);
    let generating = started.elapsed();
    let index = Index::build(Size::Large, SEED);
    eprintln!(
        "large: {documents} documents, {} variables, generated in {:.2} s",
        index.variables,
        generating.as_secs_f64()
    );
    for (collection, n) in &index.counts {
        eprintln!("  {:<24} {n}", collection.name());
    }
    assert!(
        (300_000..=600_000).contains(&documents),
        "{documents} documents"
    );
    assert!(
        (900_000..=1_200_000).contains(&index.variables),
        "{} variables",
        index.variables
    );
    assert_eq!(
        check_references(Size::Large, SEED, &index),
        every_declared_reference()
    );
}
