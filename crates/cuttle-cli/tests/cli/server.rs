//! `cuttle serve` through real HTTP against a real server process, on both backends: documents
//! with hostile names, masked secrets, entity tags, problem details, every authentication
//! failure, the authorisation table, the audit log, limits, TLS, graceful shutdown during writes,
//! and two servers on one PostgreSQL database.

use crate::common;

use std::time::Duration;

use common::World;
use common::http::*;
use serde_json::{Value, json};

both_backends!(
    health_and_the_openapi_document_need_no_key,
    every_authentication_failure_is_refused,
    documents_round_trip_with_hostile_names_and_masked_secrets,
    entity_tags_refuse_writes_based_on_an_old_version,
    errors_are_problem_details_with_the_structured_error,
    the_authorisation_table_holds,
    the_audit_log_records_writes_and_refusals,
    a_shutdown_finishes_every_acknowledged_write,
);

fn health_and_the_openapi_document_need_no_key(world: &World) {
    world.create_instance("a");
    let server = world.serve("a", &[]);
    let health = call(&server, "GET", "/health", None, None, &[]);
    assert_eq!(health.status, 200);
    assert_eq!(health.json(), json!({"status": "ok"}));
    for header in [
        "x-content-type-options",
        "x-frame-options",
        "content-security-policy",
        "cache-control",
    ] {
        assert!(health.header(header).is_some(), "{header}");
    }
    let served = call(&server, "GET", "/openapi.json", None, None, &[]);
    assert_eq!(served.status, 200);
    let committed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json"),
    )
    .unwrap();
    assert_eq!(
        served.body, committed,
        "the served document is the committed one"
    );
    let missing = call(&server, "GET", "/nowhere", None, None, &[]);
    assert_problem(&missing, 404, "no-route");
    let outside = agent()
        .get(format!(
            "{}/../../x",
            server.base.trim_end_matches("/api/v1")
        ))
        .call()
        .unwrap();
    assert_eq!(outside.status().as_u16(), 404);
}

fn every_authentication_failure_is_refused(world: &World) {
    world.create_sampled("a");
    let admin = world.admin("a");
    // A user in no team, a read-only key, a key that expires at once, a revoked key.
    world
        .put(
            "a",
            "users",
            &json!({"username": "loner", "displayName": "Loner"}),
        )
        .success();
    let loner = world.key("a", "loner", &[]);
    let expiring = world.key("a", "loner", &["--expires", "1s"]);
    let revoked = world.key("a", "loner", &[]);
    let listed = world
        .cuttle()
        .args(["api-key", "list", "--instance", "a", "--format", "json"])
        .assert()
        .success();
    let listed = common::json_lines(&common::stdout(&listed));
    assert!(
        !serde_json::to_string(&listed)
            .unwrap()
            .contains(&revoked[10..]),
        "keys are never listed"
    );
    let id = listed[0]["id"].as_i64().unwrap();
    world
        .cuttle()
        .args(["api-key", "revoke", &id.to_string(), "--instance", "a"])
        .assert()
        .success();
    let mut server = world.serve("a", &[]);

    let whoami = |key: Option<&str>| call(&server, "GET", "/whoami", key, None, &[]);
    assert_eq!(whoami(Some(&admin)).status, 200);
    assert_eq!(
        whoami(Some(&loner)).status,
        200,
        "a user in no team is someone"
    );
    assert_eq!(whoami(Some(&loner)).json()["permissions"], json!([]));
    let refused = assert_problem(&whoami(None), 401, "unauthenticated");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer")
    );
    assert_eq!(
        whoami(None).header("www-authenticate"),
        Some("Bearer realm=\"cuttle\"")
    );
    assert_problem(&whoami(Some("cuttle_not-a-key")), 401, "unauthenticated");
    assert_problem(&whoami(Some(&revoked)), 401, "unauthenticated");
    std::thread::sleep(Duration::from_millis(1100));
    assert_problem(&whoami(Some(&expiring)), 401, "unauthenticated");
    let basic = call(
        &server,
        "GET",
        "/whoami",
        None,
        None,
        &[("Authorization", "Basic YTpi")],
    );
    assert_problem(&basic, 401, "unauthenticated");
    // A key in the URL is refused, whatever it is.
    let in_url = call(
        &server,
        "GET",
        &format!("/whoami?api_key={admin}"),
        None,
        None,
        &[],
    );
    assert_problem(&in_url, 400, "credential-in-url");
    // A deactivated user's key, and a deleted user's.
    world
        .put(
            "a",
            "users",
            &json!({"username": "loner", "displayName": "Loner", "isActive": false}),
        )
        .success();
    assert_problem(&whoami(Some(&loner)), 401, "unauthenticated");
    world
        .cuttle()
        .args(["doc", "delete", "users", "loner", "--instance", "a"])
        .assert()
        .success();
    assert_problem(&whoami(Some(&loner)), 401, "unauthenticated");
    // Failures are counted per address: past ten in a minute, 429 even for a good key.
    let mut limited = None;
    for _ in 0..12 {
        let reply = whoami(Some("cuttle_wrong"));
        if reply.status == 429 {
            limited = Some(reply);
            break;
        }
    }
    let limited = limited.expect("failed authentications are limited");
    assert!(limited.header("retry-after").is_some());
    assert_eq!(whoami(Some(&admin)).status, 429);
    // Keys are instance-local: in no export and no backup.
    let out = tempfile::TempDir::new().unwrap();
    world.export("a", &out.path().join("export"), &[]).success();
    let backup = out.path().join("a.backup");
    world
        .cuttle()
        .args(["instance", "backup", "a", "--file"])
        .arg(&backup)
        .assert()
        .success();
    let mut everything = std::fs::read(&backup).unwrap();
    for (_, bytes) in common::tree(&out.path().join("export")) {
        everything.extend(bytes);
    }
    let text = String::from_utf8_lossy(&everything);
    for key in [&admin, &loner, &revoked] {
        assert!(
            !text.contains(&key[..11]),
            "a key's start in an export or a backup"
        );
    }
    assert!(
        !text.contains("api-key"),
        "API key records in an export or a backup"
    );
    // No key is ever in the log.
    let mut fresh = world.serve("a", &[]);
    call(&fresh, "GET", "/whoami", Some(&admin), None, &[]);
    // Stopped, so that their logs are whole.
    fresh.stop();
    server.stop();
    let log = fresh.log() + &server.log();
    assert!(!log.contains(&admin[8..]), "a key in the log: {log}");
}

fn documents_round_trip_with_hostile_names_and_masked_secrets(world: &World) {
    world.create_sampled("a");
    let admin = world.admin("a");
    let server = world.serve("a", &[]);
    let names = [
        "a/b",
        "Prod / EU",
        "東京 ☃",
        "with  two  spaces",
        "100% & more?",
        "-leading",
        "#hash",
        "plus+sign",
    ];
    for name in names {
        let written = put(&server, "environments", &admin, &json!({"name": name}));
        assert_eq!(written.status, 201, "{name}: {}", written.body);
        assert_eq!(written.json()["key"], name);
        assert!(written.header("etag").is_some());
        let read = document(&server, "environments", None, Some(name), &admin);
        assert_eq!(read.status, 200, "{name}: {}", read.body);
        assert_eq!(read.json()["name"], name);
        assert_eq!(read.header("etag"), written.header("etag"));
    }
    // Listing: byte order, pages that fit together.
    let all = get(
        &server,
        "/collections/environments/documents?limit=1000",
        &admin,
    )
    .json();
    let all: Vec<String> = serde_json::from_value(all["keys"].clone()).unwrap();
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(all, sorted);
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!(
                "/collections/environments/documents?limit=3&after={}",
                encode(a)
            ),
            None => "/collections/environments/documents?limit=3".into(),
        };
        let page = get(&server, &path, &admin).json();
        paged.extend(serde_json::from_value::<Vec<String>>(page["keys"].clone()).unwrap());
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, all);
    // A composite key within a project, and a project's singleton part.
    let channel = put(
        &server,
        "channels",
        &admin,
        &json!({"project": "Order Service", "name": "Hot / fix ☃", "lifecycle": "Default lifecycle"}),
    );
    assert_eq!(channel.status, 201, "{}", channel.body);
    let read = document(
        &server,
        "channels",
        Some("Order Service"),
        Some("Hot / fix ☃"),
        &admin,
    );
    assert_eq!(read.json()["name"], "Hot / fix ☃");
    let process = document(
        &server,
        "deployment-processes",
        Some("Order Service"),
        None,
        &admin,
    );
    assert_eq!(process.status, 200, "{}", process.body);
    // A secret goes in as {"secret"}, comes out masked, and stays when given back masked.
    let feed = json!({"name": "Private ☃", "feedType": "NuGet", "feedUri": "https://feed.example",
        "username": "u", "password": {"secret": "sample-secret-over-http"}});
    assert_eq!(put(&server, "feeds", &admin, &feed).status, 201);
    let shown = document(&server, "feeds", None, Some("Private ☃"), &admin).json();
    assert_eq!(shown["password"], json!({"masked": true}));
    assert_eq!(
        put(&server, "feeds", &admin, &shown).status,
        200,
        "masked keeps the value"
    );
    let exported = world.get("a", "feeds", Some("Private ☃"), None);
    assert_eq!(exported["password"], json!({"masked": true}));
    // Deleting: refused with the referrers, then allowed.
    let refused = call(
        &server,
        "DELETE",
        &format!(
            "/collections/environments/document{}",
            address(None, Some("Production"))
        ),
        Some(&admin),
        None,
        &[],
    );
    let problem = assert_problem(&refused, 409, "in-use");
    assert!(
        problem["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("refer to it")
    );
    let deleted = call(
        &server,
        "DELETE",
        &format!(
            "/collections/environments/document{}",
            address(None, Some("a/b"))
        ),
        Some(&admin),
        None,
        &[],
    );
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(deleted.json(), json!({"deleted": 1}));
    assert_eq!(
        document(&server, "environments", None, Some("a/b"), &admin).status,
        404
    );
    no_plaintext_seen();
}

fn entity_tags_refuse_writes_based_on_an_old_version(world: &World) {
    world.create_sampled("a");
    let admin = world.admin("a");
    let server = world.serve("a", &[]);
    let first = document(&server, "environments", None, Some("Test"), &admin);
    let tag = first.header("etag").unwrap().to_owned();
    let mut doc = first.json();
    doc["description"] = json!("one");
    let with = |doc: &Value, headers: &[(&str, &str)]| {
        call(
            &server,
            "PUT",
            "/collections/environments/document",
            Some(&admin),
            Some(&doc.to_string()),
            headers,
        )
    };
    let one = with(&doc, &[("If-Match", &tag)]);
    assert_eq!(one.status, 200, "{}", one.body);
    let new_tag = one.header("etag").unwrap().to_owned();
    assert_ne!(new_tag, tag);
    doc["description"] = json!("two, based on the old version");
    let stale = with(&doc, &[("If-Match", &tag)]);
    assert_problem(&stale, 412, "precondition-failed");
    assert_eq!(
        world.get("a", "environments", Some("Test"), None)["description"],
        "one"
    );
    assert_problem(
        &with(&doc, &[("If-None-Match", "*")]),
        412,
        "precondition-failed",
    );
    assert_eq!(with(&doc, &[("If-Match", &new_tag)]).status, 200);
    let create_only = with(&json!({"name": "Brand new"}), &[("If-None-Match", "*")]);
    assert_eq!(create_only.status, 201);
    let gone = call(
        &server,
        "DELETE",
        &format!(
            "/collections/environments/document{}",
            address(None, Some("Brand new"))
        ),
        Some(&admin),
        None,
        &[("If-Match", "\"00000000000000000000000000000000\"")],
    );
    assert_problem(&gone, 412, "precondition-failed");
    assert_eq!(
        document(&server, "environments", None, Some("Brand new"), &admin).status,
        200
    );
}

fn errors_are_problem_details_with_the_structured_error(world: &World) {
    world.create_sampled("a");
    let admin = world.admin("a");
    let server = world.serve("a", &["--max-request-bytes", "4096"]);
    let invalid = put(
        &server,
        "projects",
        &admin,
        &json!({"name": "p", "projectGroup": "Nowhere", "lifecycle": "Default lifecycle"}),
    );
    let problem = assert_problem(&invalid, 422, "invalid");
    let first = &problem["problems"][0];
    assert_eq!(first["path"], "$.projectGroup", "{problem}");
    assert!(
        first["message"].as_str().unwrap().contains("Nowhere"),
        "{problem}"
    );
    assert_eq!(first["file"], "the request's body");
    let wrong_project = document(&server, "channels", None, Some("x"), &admin);
    let problem = assert_problem(&wrong_project, 404, "not-found");
    assert_eq!(problem["hint"], "give-project");
    assert_problem(
        &document(&server, "planets", None, Some("x"), &admin),
        404,
        "not-found",
    );
    let text = call(
        &server,
        "PUT",
        "/collections/environments/document",
        Some(&admin),
        Some("{\"name\": \"x\"}"),
        &[("Content-Type", "text/plain")],
    );
    assert_problem(&text, 415, "unsupported-media-type");
    for body in ["[]", "[{\"name\": \"x\"}]", "\"x\""] {
        let not_one = call(
            &server,
            "PUT",
            "/collections/environments/document",
            Some(&admin),
            Some(body),
            &[],
        );
        assert_problem(&not_one, 400, "usage");
    }
    let duplicate = call(
        &server,
        "PUT",
        "/collections/environments/document",
        Some(&admin),
        Some(r#"{"name": "A", "name": "B"}"#),
        &[],
    );
    let problem = assert_problem(&duplicate, 422, "invalid");
    assert!(
        problem["detail"].as_str().unwrap().contains("twice")
            || problem.to_string().contains("twice"),
        "{problem}"
    );
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(10_000));
    let too_big = put(
        &server,
        "environments",
        &admin,
        &serde_json::from_str(&big).unwrap(),
    );
    assert_eq!(too_big.status, 413, "{}", too_big.body);
    let method = call(
        &server,
        "POST",
        "/collections/environments/document",
        Some(&admin),
        Some("{}"),
        &[],
    );
    assert_problem(&method, 405, "method-not-allowed");
    let bad_limit = get(
        &server,
        "/collections/environments/documents?limit=0",
        &admin,
    );
    assert_problem(&bad_limit, 400, "usage");
}

/// A document with every masked sensitive value given a value of its own (a new document has no
/// stored value for `{"masked": true}` to keep).
fn unmasked(value: &Value) -> Value {
    match value {
        Value::Object(o) if o.len() == 1 && o.get("masked") == Some(&json!(true)) => {
            json!({"secret": "sample-secret-copy"})
        }
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), unmasked(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(unmasked).collect()),
        other => other.clone(),
    }
}

fn the_authorisation_table_holds(world: &World) {
    world.create_sampled("a");
    let admin = world.admin("a");
    let views: Vec<&str> = cuttle_domain::COLLECTIONS
        .iter()
        .map(|d| d.needs.view.name())
        .collect();
    world
        .put("a", "user-roles", &json!({"name": "Everything but administration", "permissions": everything_but_administration()}))
        .success();
    world
        .put(
            "a",
            "user-roles",
            &json!({"name": "Viewer", "permissions": views}),
        )
        .success();
    for user in ["scoped", "unscoped", "viewer"] {
        world
            .put("a", "users", &json!({"username": user}))
            .success();
    }
    let team = |name: &str, member: &str, assignment: Value| {
        world
            .put(
                "a",
                "teams",
                &json!({"name": name, "members": [member], "roleAssignments": [assignment]}),
            )
            .success();
    };
    team(
        "Scoped team",
        "scoped",
        json!({"userRole": "Everything but administration", "projects": ["Order Service"], "environments": ["Development"]}),
    );
    team(
        "Unscoped team",
        "unscoped",
        json!({"userRole": "Everything but administration"}),
    );
    team("Viewers", "viewer", json!({"userRole": "Viewer"}));
    let keys = [
        ("scoped", world.key("a", "scoped", &[])),
        ("unscoped", world.key("a", "unscoped", &[])),
        ("viewer", world.key("a", "viewer", &[])),
        (
            "unscoped, read-only key",
            world.key("a", "unscoped", &["--read-only"]),
        ),
    ];
    let server = world.serve("a", &[]);

    // Per collection: a document inside the scoped user's scope and one outside it (where the
    // collection has a scope); chosen by what the documents say.
    let mut cases = Vec::new();
    for decl in cuttle_domain::COLLECTIONS {
        let listed = get(
            &server,
            &format!("/collections/{}/documents?limit=1000", decl.name),
            &admin,
        )
        .json();
        let keys_of: Vec<String> = serde_json::from_value(listed["keys"].clone()).unwrap();
        let mut inside = None;
        let mut outside = None;
        for full in keys_of {
            let (project, key) = if decl.is_project_owned() {
                match full.split_once(" / ") {
                    Some((p, k)) if !decl.key.is_empty() => {
                        (Some(p.to_owned()), Some(k.to_owned()))
                    }
                    _ if decl.key.is_empty() => (Some(full.clone()), None),
                    _ => (Some(full.clone()), None),
                }
            } else {
                (None, Some(full.clone()))
            };
            let doc = document(
                &server,
                decl.name,
                project.as_deref(),
                key.as_deref(),
                &admin,
            );
            if doc.status != 200 {
                continue;
            }
            let doc = doc.json();
            let project_of = |d: &Value| {
                if decl.name == "projects" {
                    d["name"].as_str().map(str::to_owned)
                } else {
                    d["project"].as_str().map(str::to_owned)
                }
            };
            let environments: Vec<String> = match decl.name {
                "environments" => vec![doc["name"].as_str().unwrap().to_owned()],
                "deployments" => vec![doc["environment"].as_str().unwrap().to_owned()],
                "task-logs" => vec![
                    doc["deployment"]["environment"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                ],
                _ => doc["environments"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|e| e.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            let scoped_by_project = decl.is_project_owned() || decl.name == "projects";
            let scoped_by_environment = matches!(
                decl.name,
                "environments"
                    | "deployments"
                    | "task-logs"
                    | "machines"
                    | "accounts"
                    | "certificates"
            );
            let project_ok =
                !scoped_by_project || project_of(&doc).as_deref() == Some("Order Service");
            let environment_ok = !scoped_by_environment
                || environments.is_empty()
                || environments.iter().any(|e| e == "Development");
            let entry = (project.clone(), key.clone(), doc.clone());
            if project_ok && environment_ok {
                inside.get_or_insert(entry);
            } else {
                outside.get_or_insert(entry);
            }
        }
        let scoped_collection = decl.name == "projects"
            || decl.is_project_owned()
            || matches!(
                decl.name,
                "environments" | "machines" | "accounts" | "certificates"
            );
        if let Some(inside) = inside {
            cases.push((decl, inside, true));
        }
        if scoped_collection {
            let outside = outside.unwrap_or_else(|| {
                panic!("{}: the sample has a document outside the scope", decl.name)
            });
            cases.push((decl, outside, false));
        }
    }
    assert!(cases.len() >= 30, "{} cases", cases.len());

    let mut table = Vec::new();
    for (decl, (project, key, doc), in_scope) in &cases {
        for (who, api) in &keys {
            let may = |write: bool| -> bool {
                match *who {
                    "unscoped" => true,
                    "scoped" => *in_scope,
                    _ => !write,
                }
            };
            // View.
            let read = document(&server, decl.name, project.as_deref(), key.as_deref(), api);
            let expected = if may(false) { 200 } else { 403 };
            table.push((decl.name, "view", *who, *in_scope, read.status, expected));
            if read.status == 403 {
                let refusal = read.json()["refusal"].clone();
                assert_eq!(
                    refusal["permission"],
                    decl.needs.view.name(),
                    "{}",
                    read.body
                );
                assert!(
                    refusal["teams"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|t| t == "Unscoped team"),
                    "{}",
                    read.body
                );
            }
            // Edit: the document as the administrator reads it, written back.
            let write = put(&server, decl.name, api, doc);
            let expected = if may(true) { 200 } else { 403 };
            table.push((decl.name, "edit", *who, *in_scope, write.status, expected));
        }
    }
    // Create and delete, on copies of the top-level named documents.
    for (decl, (_, _, doc), in_scope) in &cases {
        let Some(field) = decl.name_field().filter(|_| !decl.is_project_owned()) else {
            continue;
        };
        if decl.name == "users" {
            continue;
        }
        for (who, api) in &keys {
            let mut copy = unmasked(doc);
            copy[field] = json!(format!(
                "{} (copy by {who})",
                doc[field].as_str().unwrap_or_default()
            ));
            let created = put(&server, decl.name, api, &copy);
            // A copy of an environment or a project is a new one, outside the scope.
            let allowed = match *who {
                "unscoped" => true,
                "scoped" => *in_scope && !matches!(decl.name, "environments" | "projects"),
                _ => false,
            };
            table.push((
                decl.name,
                "create",
                *who,
                *in_scope,
                created.status,
                if allowed { 201 } else { 403 },
            ));
            if created.status == 201 {
                let deleted = call(
                    &server,
                    "DELETE",
                    &format!(
                        "/collections/{}/document{}",
                        decl.name,
                        address(None, copy[field].as_str())
                    ),
                    Some(api),
                    None,
                    &[],
                );
                table.push((decl.name, "delete", *who, *in_scope, deleted.status, 200));
            }
        }
    }
    let wrong: Vec<_> = table
        .iter()
        .filter(|(_, _, _, _, got, want)| got != want)
        .collect();
    assert!(
        wrong.is_empty(),
        "(collection, operation, who, in scope, got, expected):\n{wrong:#?}"
    );
    no_plaintext_seen();
}

fn the_audit_log_records_writes_and_refusals(world: &World) {
    world.create_sampled("a");
    let admin = world.admin("a");
    world
        .put("a", "users", &json!({"username": "nobody"}))
        .success();
    let nobody = world.key("a", "nobody", &[]);
    let mut server = world.serve("a", &[]);
    assert_eq!(
        put(&server, "environments", &admin, &json!({"name": "Audited"})).status,
        201
    );
    assert_eq!(
        put(
            &server,
            "environments",
            &nobody,
            &json!({"name": "Refused"})
        )
        .status,
        403
    );
    let secret = json!({"name": "Audited feed", "feedType": "NuGet", "feedUri": "https://f", "password": {"secret": "sample-secret-audited"}});
    assert_eq!(put(&server, "feeds", &admin, &secret).status, 201);
    let page = get(&server, "/audit?limit=10", &admin);
    assert_eq!(page.status, 200, "{}", page.body);
    let entries = page.json()["entries"].clone();
    let find = |action: &str, key: &str| {
        entries
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == action && e["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("no {action} {key} in {entries}"))
    };
    let created = find("create", "Audited");
    assert_eq!(created["actor"], "admin");
    assert_eq!(created["outcome"], "succeeded");
    assert!(created["apiKey"].is_i64());
    let refused = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "Refused")
        .cloned()
        .unwrap_or_else(|| panic!("the refusal is not in {entries}"));
    assert_eq!(refused["actor"], "nobody");
    assert_eq!(refused["outcome"], "refused");
    assert_eq!(refused["reason"], "forbidden");
    assert_problem(&get(&server, "/audit", &nobody), 403, "forbidden");
    // The command line's writes are audited as the host's administrator, and it reads the log.
    world
        .put("a", "environments", &json!({"name": "From the shell"}))
        .success();
    let shown = world
        .cuttle()
        .args([
            "audit",
            "--instance",
            "a",
            "--format",
            "json",
            "--limit",
            "5",
        ])
        .assert()
        .success();
    let lines = common::json_lines(&common::stdout(&shown));
    assert!(
        lines
            .iter()
            .any(|e| e["key"] == "From the shell"
                && e["actor"].as_str().unwrap().starts_with("host:"))
    );
    assert!(
        common::never_printed(common::stdout(&shown).as_bytes()).is_none(),
        "the audit log holds no secret"
    );
    // Stopped, so that its log is whole.
    server.stop();
    assert!(
        common::never_printed(server.log().as_bytes()).is_none(),
        "the request log holds no secret: {}",
        server.log()
    );
    assert!(
        server.log().contains("served"),
        "one line per request: {}",
        server.log()
    );
    no_plaintext_seen();
}

fn a_shutdown_finishes_every_acknowledged_write(world: &World) {
    world.create_instance("a");
    let admin = world.admin("a");
    let mut server = world.serve("a", &[]);
    let base = server.base.clone();
    let writer = std::thread::spawn(move || {
        let agent = agent();
        let mut acknowledged = Vec::new();
        for i in 0..10_000 {
            let name = format!("env-{i:05}");
            let sent = agent
                .put(format!("{base}/collections/environments/document"))
                .header("Authorization", &format!("Bearer {admin}"))
                .header("Content-Type", "application/json")
                .send(json!({"name": name, "description": "x".repeat(1000)}).to_string());
            match sent {
                Ok(reply) if reply.status().as_u16() == 201 => acknowledged.push(name),
                Ok(reply) => panic!("{name}: {}", reply.status()),
                Err(_) => break,
            }
        }
        acknowledged
    });
    std::thread::sleep(Duration::from_millis(1500));
    let status = server.stop();
    assert!(status.success(), "{status:?}: {}", server.log());
    let acknowledged = writer.join().unwrap();
    assert!(
        !acknowledged.is_empty() && acknowledged.len() < 10_000,
        "{}",
        acknowledged.len()
    );
    assert!(
        server
            .log()
            .contains("every request in flight was finished"),
        "{}",
        server.log()
    );
    let stored = world.list("a", "environments", None);
    for name in &acknowledged {
        assert!(
            stored.contains(name),
            "{name} was acknowledged and is missing"
        );
    }
    assert!(
        stored.len() <= acknowledged.len() + 1,
        "at most the write cut off at the end"
    );
}

/// A client that sends its request too slowly is answered 408 when the request timeout runs
/// out (a problem, and the connection closed after it), and what it was sending is not written.
#[test]
fn a_slow_request_is_cut_off() {
    use std::io::{Read, Write};
    let world = World::sqlite();
    world.create_instance("a");
    let admin = world.admin("a");
    let mut server = world.serve("a", &["--request-timeout", "1"]);
    let authority = server
        .base
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    let mut stream = std::net::TcpStream::connect(&authority).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = r#"{"name": "Slow"}"#;
    // The head and the start of the body in one write: the server has read all of it when it
    // answers.
    let start = format!(
        "PUT /api/v1/collections/environments/document HTTP/1.1\r\nHost: {authority}\r\n\
         Authorization: Bearer {admin}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{}",
        body.len(),
        &body[..4]
    );
    let sent = std::time::Instant::now();
    stream.write_all(start.as_bytes()).unwrap();
    // The whole answer: the connection closes after it.
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    if !answer.starts_with("HTTP/1.1 408") {
        let waited = sent.elapsed();
        server.stop();
        panic!(
            "no 408 after {waited:?} ({read:?}): {answer:?}\nthe server's log:\n{}",
            server.log()
        );
    }
    let head = answer.to_ascii_lowercase();
    assert!(head.contains("\r\nconnection: close\r\n"), "{answer}");
    assert!(head.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("\"kind\":\"timeout\""), "{answer}");
    // The rest of the body, too late (the connection is closed). A graceful stop finishes
    // whatever the server still had in hand, so the list read after it (at the command line: no
    // request timeout to meet on a busy machine) would show the write had the server gone on
    // with it.
    let _ = stream.write_all(&body.as_bytes()[4..]);
    drop(stream);
    let status = server.stop();
    assert!(status.success(), "{status:?}: {}", server.log());
    let listed = world.list("a", "environments", None);
    assert!(
        !listed.iter().any(|name| name.contains("Slow")),
        "{listed:?}"
    );
}

#[test]
fn a_public_address_needs_tls_or_an_explicit_opt_out() {
    let world = World::sqlite();
    world.create_instance("a");
    let refused = world
        .cuttle()
        .args(["serve", "--instance", "a", "--listen", "0.0.0.0:0"])
        .assert()
        .failure()
        .code(1);
    assert!(
        common::stderr(&refused).contains("--tls-cert"),
        "{}",
        common::stderr(&refused)
    );
    let server = world.serve("a", &["--listen", "0.0.0.0:0", "--insecure-http"]);
    assert!(server.base.starts_with("http://0.0.0.0:"));
    drop(server);

    // TLS, with a certificate made for the test.
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let server = world.serve(
        "a",
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "{}",
        server.base
    );
    let port = server
        .base
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let out = std::process::Command::new("curl")
        .args(["-sS", "--cacert", cert.to_str().unwrap(), "-D", "-"])
        .arg(format!("https://localhost:{port}/api/v1/health"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("200") && text.contains("{\"status\":\"ok\"}"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.to_lowercase().contains("strict-transport-security"),
        "{text}"
    );
    // Plain HTTP to the TLS port gets no answer of the API.
    let plain = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .arg(format!("http://localhost:{port}/api/v1/health"))
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("ok"));
}

#[test]
fn two_servers_on_one_postgresql_database_take_concurrent_writes() {
    let Some(world) = World::postgres() else {
        return;
    };
    world.create_instance("a");
    let admin = world.admin("a");
    let one = world.serve("a", &[]);
    let two = world.serve("a", &[]);
    let threads: Vec<_> = [one.base.clone(), two.base.clone()]
        .into_iter()
        .enumerate()
        .map(|(node, base)| {
            let admin = admin.clone();
            std::thread::spawn(move || {
                let agent = agent();
                for i in 0..100 {
                    let reply = agent
                        .put(format!("{base}/collections/environments/document"))
                        .header("Authorization", &format!("Bearer {admin}"))
                        .header("Content-Type", "application/json")
                        .send(json!({"name": format!("node{node}-{i:03}")}).to_string())
                        .unwrap();
                    assert_eq!(reply.status().as_u16(), 201);
                    // The same document from both nodes: one create wins, the other replaces.
                    let shared = agent
                        .put(format!("{base}/collections/environments/document"))
                        .header("Authorization", &format!("Bearer {admin}"))
                        .header("Content-Type", "application/json")
                        .send(json!({"name": format!("shared-{i:03}"), "description": format!("node{node}")}).to_string())
                        .unwrap();
                    assert!(matches!(shared.status().as_u16(), 200 | 201));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let stored = world.list("a", "environments", None);
    assert_eq!(
        stored.len(),
        300,
        "every acknowledged write, each natural key once"
    );
    // An If-Match conflict is seen across nodes.
    let read = document(&one, "environments", None, Some("shared-000"), &admin);
    let tag = read.header("etag").unwrap().to_owned();
    let mut doc = read.json();
    doc["description"] = json!("by one");
    let first = call(
        &one,
        "PUT",
        "/collections/environments/document",
        Some(&admin),
        Some(&doc.to_string()),
        &[("If-Match", &tag)],
    );
    assert_eq!(first.status, 200);
    doc["description"] = json!("by two, from the old version");
    let second = call(
        &two,
        "PUT",
        "/collections/environments/document",
        Some(&admin),
        Some(&doc.to_string()),
        &[("If-Match", &tag)],
    );
    assert_problem(&second, 412, "precondition-failed");
}
