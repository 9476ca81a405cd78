//! A large document, written an element at a time (`large::stored_body`), is stored as the
//! whole-document path stores it: the same references, sets and names, its secrets sealed at
//! the same places; and a document with a problem goes to the whole-document path.

mod common;

use cuttle_crypto::{Place, Sealer};
use cuttle_domain::Collection;
use cuttle_domain::sensitive;
use cuttle_instance::codec::{self, Lookup};
use cuttle_instance::documents::{self, Address};
use cuttle_instance::{Instance, large};
use cuttle_store::{DocId, NO_OWNER, StoreError, WriteTxn};
use serde_json::{Value, json};

/// Finds documents in the database, as the write path does for those outside its batch.
struct Stored<'t>(&'t mut dyn WriteTxn);

impl Lookup for Stored<'_> {
    fn id_of(
        &mut self,
        collection: Collection,
        owner: DocId,
        key: &str,
    ) -> Result<Option<DocId>, StoreError> {
        self.0.find_id(collection, owner, key)
    }
    fn has_tag(&mut self, set: DocId, tag: &str) -> Result<bool, StoreError> {
        let Some(doc) = self.0.get(set)? else {
            return Ok(false);
        };
        let body: Value = serde_json::from_str(&doc.body).unwrap();
        Ok(codec::tag_names(&body).any(|t| t == tag))
    }
}

/// The stored document at `address`: its id and body.
fn stored(instance: &mut Instance, address: &Address<'_>) -> (DocId, String) {
    let (store, _) = instance.parts();
    let mut read = store.read().unwrap();
    let doc = documents::find(&mut *read, address).unwrap();
    (doc.id, doc.body)
}

/// `body` with each sealed value opened at its place in document `id` (which fails if it was
/// sealed for another place).
fn opened(sealer: &Sealer, collection: Collection, id: DocId, body: &str) -> Value {
    let mut value: Value = serde_json::from_str(body).unwrap();
    for (path, _) in codec::sensitive_values(&value) {
        let pointer = path.pointer();
        let slot = value.pointer_mut(&pointer).unwrap();
        let place = Place {
            collection: collection.decl().name,
            document: id,
            pointer: &pointer,
        };
        let plain = codec::open_sealed(sealer, slot, place).expect("sealed for its place");
        *slot = json!({ "opened": String::from_utf8(plain.to_vec()).unwrap() });
    }
    value
}

/// `stored_body` of `doc` as a new document of `collection` owned by `owner`; its id with it.
fn by_elements(
    instance: &mut Instance,
    collection: Collection,
    owner: DocId,
    doc: &str,
) -> (DocId, Option<String>) {
    let (store, sealer) = instance.parts();
    let mut txn = store.write().unwrap();
    let id = txn.allocate_ids(1).unwrap().start;
    let mut lookup = Stored(&mut *txn);
    let decl = collection.decl();
    let body = large::stored_body(decl, doc, id, owner, None, &mut lookup, sealer, None).unwrap();
    (id, body)
}

/// `stored_body` of `doc` replacing the stored document `id`, whose body is `previous`.
fn replacing(instance: &mut Instance, id: DocId, previous: &str, doc: &str) -> Option<String> {
    let (store, sealer) = instance.parts();
    let mut txn = store.write().unwrap();
    let mut lookup = Stored(&mut *txn);
    let decl = Collection::LibraryVariableSets.decl();
    let previous = Some(previous);
    large::stored_body(decl, doc, id, NO_OWNER, previous, &mut lookup, sealer, None).unwrap()
}

fn instance() -> (tempfile::TempDir, Instance) {
    let home_dir = tempfile::TempDir::new().unwrap();
    let home = cuttle_backends::home_at(home_dir.path().to_owned());
    let mut instance = Instance::create(&home, "a", None, None).unwrap();
    for (collection, doc) in [
        (Collection::Environments, json!({"name": "Test"})),
        (Collection::Environments, json!({"name": "Prod"})),
        (
            Collection::TagSets,
            json!({"name": "Region", "tags": [{"name": "EU"}, {"name": "US"}]}),
        ),
        (
            Collection::Feeds,
            json!({"name": "NuGet", "feedType": "NuGet"}),
        ),
        (
            Collection::Lifecycles,
            json!({"name": "Default", "phases": []}),
        ),
        (Collection::ProjectGroups, json!({"name": "Apps"})),
        (
            Collection::Projects,
            json!({"name": "Web", "projectGroup": "Apps", "lifecycle": "Default"}),
        ),
    ] {
        common::put(&mut instance, collection, doc).unwrap();
    }
    (home_dir, instance)
}

fn variable_set(name: &str) -> Value {
    let mut variables = Vec::new();
    for i in 0..50 {
        variables.push(json!({
            "name": format!("Var.{i}"),
            "value": format!("value {i}"),
            "type": "String",
            // A set out of order, and a name in another normal form (NFD "é" is not a name
            // here: environments are plain).
            "scope": {"environments": ["Test", "Prod"], "tenantTags": ["Region/US", "Region/EU"]}
        }));
        variables.push(json!({
            "name": format!("Secret.{i}"),
            "value": {"secret": format!("sample-secret-{i}")},
            "type": "Sensitive",
        }));
    }
    json!({"name": name, "description": "shared", "variables": variables})
}

#[test]
fn a_variable_set_written_by_elements_is_stored_as_written_whole() {
    let (_home, mut instance) = instance();
    common::put(
        &mut instance,
        Collection::LibraryVariableSets,
        variable_set("Whole"),
    )
    .unwrap();
    let (whole_id, whole) = stored(
        &mut instance,
        &Address {
            collection: Collection::LibraryVariableSets,
            project: None,
            key: Some("Whole"),
        },
    );
    let text = serde_json::to_string_pretty(&variable_set("Parts")).unwrap();
    let (id, body) = by_elements(
        &mut instance,
        Collection::LibraryVariableSets,
        NO_OWNER,
        &text,
    );
    let body = body.expect("written an element at a time");
    assert!(!body.contains("sample-secret-"));
    let (_, sealer) = instance.parts();
    let collection = Collection::LibraryVariableSets;
    let mut whole = opened(sealer, collection, whole_id, &whole);
    whole["name"] = json!("Parts");
    assert_eq!(opened(sealer, collection, id, &body), whole);
    assert_eq!(
        whole["variables"][0]["scope"]["environments"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(whole["variables"][1]["value"]["opened"], "sample-secret-0");
}

#[test]
fn a_process_written_by_elements_is_stored_as_written_whole() {
    let (_home, mut instance) = instance();
    let process = json!({"project": "Web", "steps": [
        {"name": "Deploy", "properties": {"Token": {"secret": "sample-secret-step"}},
         "targetRoles": ["web", "app"],
         "actions": [{"name": "Run", "actionType": "Cuttle.Script",
                      "environments": ["Test", "Prod"],
                      "packages": [{"packageId": "App", "feed": "NuGet"}],
                      "properties": {"Password": {"secret": "sample-secret-action"}, "Plain": "x"},
                      "script": {"syntax": "Bash", "body": "echo hi\n"}}]},
        {"name": "Smoke", "actions": [{"name": "Check", "actionType": "Cuttle.Script"}]}
    ]});
    common::put(
        &mut instance,
        Collection::DeploymentProcesses,
        process.clone(),
    )
    .unwrap();
    let (project, _) = stored(
        &mut instance,
        &Address {
            collection: Collection::Projects,
            project: None,
            key: Some("Web"),
        },
    );
    let (whole_id, whole) = stored(
        &mut instance,
        &Address {
            collection: Collection::DeploymentProcesses,
            project: Some("Web"),
            key: None,
        },
    );
    let (id, body) = by_elements(
        &mut instance,
        Collection::DeploymentProcesses,
        project,
        &process.to_string(),
    );
    let body = body.expect("written an element at a time");
    let (_, sealer) = instance.parts();
    let collection = Collection::DeploymentProcesses;
    let whole = opened(sealer, collection, whole_id, &whole);
    assert_eq!(opened(sealer, collection, id, &body), whole);
    assert_eq!(
        whole["steps"][0]["actions"][0]["properties"]["Password"]["opened"],
        "sample-secret-action"
    );
}

#[test]
fn a_document_with_a_problem_or_a_kept_secret_goes_whole() {
    let (_home, mut instance) = instance();
    let mut unknown = variable_set("Parts");
    unknown["variables"][4]["scope"]["environments"] = json!(["Nowhere"]);
    let mut masked = variable_set("Parts");
    masked["variables"][3]["value"] = json!({ sensitive::MASKED: true });
    let mut repeated = variable_set("Parts");
    let first = repeated["variables"][0].clone();
    repeated["variables"].as_array_mut().unwrap().push(first);
    let mut misshapen = variable_set("Parts");
    misshapen["variables"][6]["type"] = json!("Sensitive");
    for (what, doc) in [
        ("an unknown environment", unknown),
        ("a kept secret", masked),
        ("a repeated key", repeated),
        ("a misshapen element", misshapen),
    ] {
        let (_, body) = by_elements(
            &mut instance,
            Collection::LibraryVariableSets,
            NO_OWNER,
            &doc.to_string(),
        );
        assert!(body.is_none(), "{what}");
    }
    // A collection with no large array, or a document not split as declared, goes whole.
    let (_, body) = by_elements(
        &mut instance,
        Collection::Environments,
        NO_OWNER,
        r#"{"name": "Staging"}"#,
    );
    assert_eq!(body, None);
    let (_, body) = by_elements(
        &mut instance,
        Collection::LibraryVariableSets,
        NO_OWNER,
        r#"{"name": "Parts", "variables": {}}"#,
    );
    assert_eq!(body, None);
}

/// A `{"masked": true}` keeps the stored value of the element with the same key, wherever that
/// element stood: at the same place it is the same ciphertext, elsewhere it is sealed again for
/// its new place.
#[test]
fn a_kept_secret_is_found_by_its_variables_key() {
    let (_home, mut instance) = instance();
    common::put(
        &mut instance,
        Collection::LibraryVariableSets,
        variable_set("Set"),
    )
    .unwrap();
    let (id, stored_body) = stored(
        &mut instance,
        &Address {
            collection: Collection::LibraryVariableSets,
            project: None,
            key: Some("Set"),
        },
    );
    let mut kept = variable_set("Set");
    let variables = kept["variables"].as_array_mut().unwrap();
    for variable in variables.iter_mut() {
        if variable["type"] == "Sensitive" {
            variable["value"] = json!({ sensitive::MASKED: true });
        }
    }
    // The first variable moves last: every element after it moves up by one.
    let first = variables.remove(0);
    variables.push(first);
    let body = replacing(&mut instance, id, &stored_body, &kept.to_string())
        .expect("written an element at a time");
    let (_, sealer) = instance.parts();
    let collection = Collection::LibraryVariableSets;
    let opened_now = opened(sealer, collection, id, &body);
    let opened_before = opened(sealer, collection, id, &stored_body);
    let by_name = |value: &Value| -> Vec<(String, Value)> {
        let mut all: Vec<(String, Value)> = value["variables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["name"].as_str().unwrap().to_owned(), v["value"].clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    };
    assert_eq!(by_name(&opened_now), by_name(&opened_before));
    assert_eq!(
        opened_now["variables"][0]["value"]["opened"],
        "sample-secret-0"
    );
    // A kept secret with no stored value of its key is the whole path's to report.
    let mut unknown = kept.clone();
    unknown["variables"][0]["name"] = json!("Secret.new");
    assert!(replacing(&mut instance, id, &stored_body, &unknown.to_string()).is_none());
}
