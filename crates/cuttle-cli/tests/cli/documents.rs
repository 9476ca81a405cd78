//! `cuttle doc`: documents in the export shape, references by name, secrets masked on the way
//! out and sealed on the way in; bad input is refused and changes nothing.

use crate::common;

use common::{World, stderr};
use serde_json::{Value, json};

fn base(world: &World) {
    world.create_instance("a");
    world
        .put(
            "a",
            "environments",
            &json!({"name": "Production", "sortOrder": 2}),
        )
        .success();
    world
        .put(
            "a",
            "environments",
            &json!({"name": "Test", "sortOrder": 1}),
        )
        .success();
    world
        .put("a", "project-groups", &json!({"name": "Web"}))
        .success();
    world
        .put(
            "a",
            "lifecycles",
            &json!({"name": "Default", "phases": [
                {"name": "Test", "automaticDeploymentTargets": ["Test"]},
                {"name": "Production", "optionalDeploymentTargets": ["Production"]}
            ]}),
        )
        .success();
    world
        .put(
            "a",
            "projects",
            &json!({"name": "Web App", "projectGroup": "Web", "lifecycle": "Default"}),
        )
        .success();
}

fn round_trip_in_the_export_shape(world: &World) {
    base(world);
    world
        .put("a", "accounts", &json!({
            "name": "AWS prod",
            "environments": ["Test", "Production"],
            "credentials": {"kind": "AmazonWebServices", "accessKey": "AKIA1", "secretKey": {"secret": "sample-secret-aws"}}
        }))
        .success();
    world
        .put(
            "a",
            "channels",
            &json!({"project": "Web App", "name": "Hotfix", "lifecycle": "Default"}),
        )
        .success();
    world
        .put("a", "deployment-processes", &json!({"project": "Web App", "steps": [{
            "name": "Deploy",
            "actions": [{
                "name": "Run",
                "actionType": "Cuttle.Script",
                "channels": ["Hotfix"],
                "environments": ["Production", "Test"],
                "properties": {"Cuttle.Action.Account": "AWS prod", "Token": {"secret": "sample-secret-token"}},
                "script": {"syntax": "Bash", "body": "echo hi\n"}
            }]
        }]}))
        .success();

    let account = world.get("a", "accounts", Some("AWS prod"), None);
    assert_eq!(
        account["environments"],
        json!(["Production", "Test"]),
        "set-like arrays are sorted by byte order"
    );
    assert_eq!(account["credentials"]["secretKey"], json!({"masked": true}));
    let process = world.get("a", "deployment-processes", None, Some("Web App"));
    let action = &process["steps"][0]["actions"][0];
    assert_eq!(process["project"], "Web App");
    assert_eq!(
        action["properties"]["Cuttle.Action.Account"], "AWS prod",
        "references come back as names"
    );
    assert_eq!(action["properties"]["Token"], json!({"masked": true}));
    assert_eq!(action["channels"], json!(["Hotfix"]));
    assert_eq!(action["environments"], json!(["Production", "Test"]));

    // What `doc get` prints, `doc put` takes back, and it changes nothing.
    world.put("a", "deployment-processes", &process).success();
    world.put("a", "accounts", &account).success();
    assert_eq!(
        world.get("a", "deployment-processes", None, Some("Web App")),
        process
    );
    assert_eq!(world.get("a", "accounts", Some("AWS prod"), None), account);

    assert_eq!(
        world.list("a", "environments", None),
        ["Production", "Test"]
    );
    assert_eq!(world.list("a", "channels", Some("Web App")), ["Hotfix"]);
    assert_eq!(world.list("a", "channels", None), ["Web App / Hotfix"]);
    assert_eq!(world.list("a", "deployment-processes", None), ["Web App"]);
    assert!(
        !world.leaks("sample-secret-"),
        "no plaintext secret at rest"
    );
}

fn names_are_exact(world: &World) {
    world.create_instance("a");
    world
        .put("a", "environments", &json!({"name": "Prod"}))
        .success();
    world
        .put("a", "environments", &json!({"name": "prod"}))
        .success();
    world
        .put("a", "environments", &json!({"name": "Cafe\u{301}"}))
        .success(); // NFD on the way in
    world
        .put("a", "environments", &json!({"name": "Zürich/EU. CON"}))
        .success();
    assert_eq!(
        world.list("a", "environments", None),
        ["Caf\u{e9}", "Prod", "Zürich/EU. CON", "prod"],
        "byte order, NFC"
    );
    assert_eq!(
        world.get("a", "environments", Some("Caf\u{e9}"), None)["name"],
        "Caf\u{e9}"
    );
    assert_eq!(
        world.get("a", "environments", Some("Cafe\u{301}"), None)["name"],
        "Caf\u{e9}"
    );
    // Putting the NFD name again replaces, it does not duplicate.
    world
        .put(
            "a",
            "environments",
            &json!({"name": "Cafe\u{301}", "sortOrder": 5}),
        )
        .success();
    assert_eq!(world.list("a", "environments", None).len(), 4);
}

/// Runs `doc put` with `input` (raw text) and checks that it fails with a message containing every
/// one of `expected`, and that the instance is unchanged.
fn refused(world: &World, collection: &str, input: &str, expected: &[&str]) -> String {
    let before = world.snapshot("a");
    let assert = world
        .cuttle()
        .args(["doc", "put", collection, "--instance", "a", "--file", "-"])
        .write_stdin(input.to_owned())
        .assert()
        .failure()
        .code(1);
    let message = stderr(&assert);
    for part in expected {
        assert!(message.contains(part), "expected {part:?} in:\n{message}");
    }
    assert_eq!(world.snapshot("a"), before, "a refused put changes nothing");
    message
}

fn bad_input_is_refused_and_changes_nothing(world: &World) {
    base(world);
    refused(
        world,
        "environments",
        "{\"name\": \"X\",\n  \"sortOrder\": }",
        &["not valid JSON", "line 2"],
    );
    refused(
        world,
        "environments",
        r#"{"name": "X", "colour": "red"}"#,
        &["unknown field `colour`", "$"],
    );
    refused(
        world,
        "environments",
        r#"{"sortOrder": 1}"#,
        &["missing field `name`"],
    );
    refused(
        world,
        "environments",
        r#"{"name": " padded"}"#,
        &["$.name", "white space"],
    );
    refused(
        world,
        "machines",
        r#"{"name": "web-01", "environments": ["Nowhere"], "endpoint": {"kind": "CloudRegion"}}"#,
        &[
            "machines \"web-01\"",
            "$.environments[0]",
            "no environment named \"Nowhere\"",
        ],
    );
    refused(
        world,
        "projects",
        r#"{"name": "P2", "projectGroup": "Web", "lifecycle": "Default", "includedLibraryVariableSets": ["Missing set"]}"#,
        &[
            "$.includedLibraryVariableSets[0]",
            "no library variable set named \"Missing set\"",
        ],
    );
    refused(
        world,
        "channels",
        r#"{"project": "No such project", "name": "C"}"#,
        &["$.project", "no project named \"No such project\""],
    );
    // Two documents with the same natural key in one batch: nothing of the batch is written.
    refused(
        world,
        "environments",
        r#"[{"name": "New"}, {"name": "Dup"}, {"name": "Dup"}]"#,
        &["given twice"],
    );
    // Keyed arrays: two steps with one name.
    refused(
        world,
        "deployment-processes",
        r#"{"project": "Web App", "steps": [
            {"name": "S", "actions": [{"name": "A", "actionType": "Cuttle.Script"}]},
            {"name": "S", "actions": [{"name": "B", "actionType": "Cuttle.Script"}]}]}"#,
        &["$.steps[1]", "duplicates"],
    );
    // A sensitive value given as a plain string is refused without repeating it.
    let message = refused(
        world,
        "feeds",
        r#"{"name": "F", "feedType": "NuGet", "password": "hunter2-plain"}"#,
        &["$.password", "sensitive value"],
    );
    assert!(!message.contains("hunter2-plain"), "{message}");
    // `masked` with nothing stored to keep.
    refused(
        world,
        "feeds",
        r#"{"name": "F", "feedType": "NuGet", "password": {"masked": true}}"#,
        &["no stored sensitive value"],
    );
    // Internal and export forms are not taken by `doc put`.
    refused(
        world,
        "feeds",
        r#"{"name": "F", "feedType": "NuGet", "password": {"sealed": "AAAA"}}"#,
        &["$.password"],
    );
    refused(
        world,
        "feeds",
        r#"{"name": "F", "feedType": "NuGet", "password": {"encrypted": "AAAA"}}"#,
        &["cuttle import"],
    );
    // A tenant tag that does not exist.
    world
        .put(
            "a",
            "tag-sets",
            &json!({"name": "Tier", "tags": [{"name": "Gold"}]}),
        )
        .success();
    refused(
        world,
        "tenants",
        r#"{"name": "T", "tenantTags": ["Tier/Silver"]}"#,
        &["$.tenantTags[0]", "no tag named \"Silver\""],
    );
    world
        .put(
            "a",
            "tenants",
            &json!({"name": "T", "tenantTags": ["Tier/Gold"]}),
        )
        .success();

    // An unknown collection is wrong usage.
    let usage = world
        .cuttle()
        .args(["doc", "put", "planets", "--instance", "a", "--file", "-"])
        .write_stdin("{}")
        .assert()
        .failure()
        .code(2);
    assert!(stderr(&usage).contains("planets"));
}

fn masked_keeps_the_stored_value_where_it_moved(world: &World) {
    base(world);
    world
        .put("a", "library-variable-sets", &json!({"name": "Shared", "variables": [
            {"name": "Password", "type": "Sensitive", "value": {"secret": "sample-secret-one"}, "scope": {"environments": ["Production"]}},
            {"name": "Password", "type": "Sensitive", "value": {"secret": "sample-secret-two"}, "scope": {"environments": ["Test"]}}
        ]}))
        .success();
    let mut set = world.get("a", "library-variable-sets", Some("Shared"), None);
    // Reorder the variables and add one in front: masked values follow their variable's key.
    let variables = set["variables"].as_array_mut().unwrap();
    variables.reverse();
    variables.insert(
        0,
        json!({"name": "Url", "type": "String", "value": "https://example.com"}),
    );
    world.put("a", "library-variable-sets", &set).success();
    let again = world.get("a", "library-variable-sets", Some("Shared"), None);
    assert_eq!(again["variables"].as_array().unwrap().len(), 3);
    // A masked value for a variable the stored set does not have is refused.
    let mut bad = again.clone();
    bad["variables"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "New", "type": "Sensitive", "value": {"masked": true}}));
    let out = world
        .put("a", "library-variable-sets", &bad)
        .failure()
        .code(1);
    assert!(
        stderr(&out).contains("$.variables[3].value"),
        "{}",
        stderr(&out)
    );
    assert!(!world.leaks("sample-secret-"));
}

fn delete_is_refused_while_referenced_and_cascades_projects(world: &World) {
    base(world);
    world
        .put(
            "a",
            "channels",
            &json!({"project": "Web App", "name": "Hotfix", "lifecycle": "Default"}),
        )
        .success();
    world.put("a", "project-variables", &json!({"project": "Web App", "variables": [
        {"name": "Region", "type": "String", "value": "eu", "scope": {"environments": ["Test"], "channels": ["Hotfix"]}}
    ]}))
    .success();

    let out = world
        .cuttle()
        .args(["doc", "delete", "environments", "Test", "--instance", "a"])
        .assert()
        .failure()
        .code(1);
    let message = stderr(&out);
    assert!(message.contains("lifecycles \"Default\""), "{message}");
    assert!(
        message.contains("project-variables \"Web App\""),
        "{message}"
    );
    assert!(
        message.contains("$.variables[0].scope.environments[0]"),
        "{message}"
    );
    assert_eq!(
        world.list("a", "environments", None),
        ["Production", "Test"]
    );

    // A project goes with everything it owns.
    world
        .cuttle()
        .args(["doc", "delete", "projects", "Web App", "--instance", "a"])
        .assert()
        .success();
    assert!(world.list("a", "projects", None).is_empty());
    assert!(world.list("a", "channels", None).is_empty());
    assert!(world.list("a", "project-variables", None).is_empty());
    // Now nothing refers to Production but the lifecycle.
    world
        .cuttle()
        .args(["doc", "delete", "lifecycles", "Default", "--instance", "a"])
        .assert()
        .success();
    world
        .cuttle()
        .args(["doc", "delete", "environments", "Test", "--instance", "a"])
        .assert()
        .success();
    assert_eq!(world.list("a", "environments", None), ["Production"]);

    let missing = world
        .cuttle()
        .args(["doc", "delete", "environments", "Nope", "--instance", "a"])
        .assert()
        .failure()
        .code(1);
    assert!(stderr(&missing).contains("no document \"Nope\""));
}

fn a_put_is_one_transaction(world: &World) {
    base(world);
    // The first documents are fine, the last is not: none is written.
    let batch = json!([{"name": "One"}, {"name": "Two"}, {"name": "Three", "sortOrder": "high"}]);
    world.put("a", "environments", &batch).failure().code(1);
    assert_eq!(
        world.list("a", "environments", None),
        ["Production", "Test"]
    );
    // Documents of a batch may refer to each other in any order.
    let batch = json!([
        {"name": "Fresh", "projectGroup": "Web", "lifecycle": "Default", "includedLibraryVariableSets": ["Later"]}
    ]);
    world.put("a", "projects", &batch).failure();
    world
        .put(
            "a",
            "library-variable-sets",
            &json!({"name": "Later", "variables": []}),
        )
        .success();
    world.put("a", "projects", &batch).success();
    let _: Value = world.get("a", "projects", Some("Fresh"), None);
}

fn concurrent_writers_cannot_duplicate_a_key(world: &World) {
    world.create_instance("a");
    let file = world.home().join("racing.json");
    std::fs::write(&file, json!({"name": "Racing"}).to_string()).unwrap();
    let children: Vec<_> = (0..6)
        .map(|_| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("cuttle"))
                .env("CUTTLE_HOME", world.home())
                .args(["doc", "put", "environments", "--instance", "a", "--file"])
                .arg(&file)
                .output_async()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(world.list("a", "environments", None), ["Racing"]);
}

trait SpawnQuietly {
    fn output_async(&mut self) -> std::process::Child;
}

impl SpawnQuietly for std::process::Command {
    fn output_async(&mut self) -> std::process::Child {
        self.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

both_backends!(
    concurrent_writers_cannot_duplicate_a_key,
    round_trip_in_the_export_shape,
    names_are_exact,
    bad_input_is_refused_and_changes_nothing,
    masked_keeps_the_stored_value_where_it_moved,
    delete_is_refused_while_referenced_and_cascades_projects,
    a_put_is_one_transaction,
);
