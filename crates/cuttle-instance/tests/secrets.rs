//! Sensitive values at rest: sealed under the master key, bound to their place, kept by
//! `{"masked": true}` where their variable moved.

mod common;

use common::put;
use cuttle_crypto::Place;
use cuttle_domain::Collection;
use cuttle_instance::Instance;
use cuttle_instance::documents::{self, Address};
use serde_json::{Value, json};

/// The plaintexts of a stored library variable set's variables, by (name, first environment id).
fn plaintexts(instance: &mut Instance, set: &str) -> Vec<(String, String)> {
    let (store, sealer) = instance.parts();
    let mut read = store.read().unwrap();
    let address = Address {
        collection: Collection::LibraryVariableSets,
        project: None,
        key: Some(set),
    };
    let doc = documents::find(&mut *read, &address).unwrap();
    let body: Value = serde_json::from_str(&doc.body).unwrap();
    let mut out = Vec::new();
    for (i, variable) in body["variables"].as_array().unwrap().iter().enumerate() {
        if let Some(sealed) = variable["value"].get("sealed").and_then(Value::as_str) {
            let pointer = format!("/variables/{i}/value");
            let plain = sealer
                .open(
                    sealed,
                    Place {
                        collection: "library-variable-sets",
                        document: doc.id,
                        pointer: &pointer,
                    },
                )
                .unwrap();
            out.push((
                variable["scope"]["environments"].to_string(),
                String::from_utf8(plain.to_vec()).unwrap(),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn masked_values_follow_their_variable_and_stay_sealed() {
    let home_dir = tempfile::TempDir::new().unwrap();
    let home = cuttle_backends::home_at(home_dir.path().to_owned());
    let mut instance = Instance::create(&home, "a", None, None).unwrap();
    put(
        &mut instance,
        Collection::Environments,
        json!({"name": "Production"}),
    )
    .unwrap();
    put(
        &mut instance,
        Collection::Environments,
        json!({"name": "Test"}),
    )
    .unwrap();
    put(
        &mut instance,
        Collection::LibraryVariableSets,
        json!({"name": "Shared", "variables": [
            {"name": "Password", "type": "Sensitive", "value": {"secret": "sample-secret-prod"}, "scope": {"environments": ["Production"]}},
            {"name": "Password", "type": "Sensitive", "value": {"secret": "sample-secret-test"}, "scope": {"environments": ["Test"]}}
        ]}),
    )
    .unwrap();
    let before = plaintexts(&mut instance, "Shared");
    assert_eq!(before.len(), 2);

    // Swap the two variables and put them back masked: each keeps its own value.
    put(
        &mut instance,
        Collection::LibraryVariableSets,
        json!({"name": "Shared", "variables": [
            {"name": "Url", "type": "String", "value": "https://example.com"},
            {"name": "Password", "type": "Sensitive", "value": {"masked": true}, "scope": {"environments": ["Test"]}},
            {"name": "Password", "type": "Sensitive", "value": {"masked": true}, "scope": {"environments": ["Production"]}}
        ]}),
    )
    .unwrap();
    assert_eq!(plaintexts(&mut instance, "Shared"), before);

    // The database file holds no plaintext.
    drop(instance);
    for entry in std::fs::read_dir(home_dir.path().join("instances/a")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(14).any(|w| w == b"sample-secret-"));
    }
}

#[test]
fn a_sealed_value_moved_to_another_row_does_not_open() {
    let home_dir = tempfile::TempDir::new().unwrap();
    let home = cuttle_backends::home_at(home_dir.path().to_owned());
    let mut instance = Instance::create(&home, "a", None, None).unwrap();
    for name in ["F1", "F2"] {
        put(
            &mut instance,
            Collection::Feeds,
            json!({"name": name, "feedType": "NuGet", "password": {"secret": "sample-secret-f"}}),
        )
        .unwrap();
    }
    let (store, sealer) = instance.parts();
    let mut read = store.read().unwrap();
    let f1 = documents::find(
        &mut *read,
        &Address {
            collection: Collection::Feeds,
            project: None,
            key: Some("F1"),
        },
    )
    .unwrap();
    let f2 = documents::find(
        &mut *read,
        &Address {
            collection: Collection::Feeds,
            project: None,
            key: Some("F2"),
        },
    )
    .unwrap();
    let sealed: Value = serde_json::from_str(&f1.body).unwrap();
    let sealed = sealed["password"]["sealed"].as_str().unwrap().to_owned();
    let at_f1 = Place {
        collection: "feeds",
        document: f1.id,
        pointer: "/password",
    };
    let at_f2 = Place {
        collection: "feeds",
        document: f2.id,
        pointer: "/password",
    };
    assert!(sealer.open(&sealed, at_f1).is_ok());
    assert!(
        sealer.open(&sealed, at_f2).is_err(),
        "bound to its document"
    );
}
