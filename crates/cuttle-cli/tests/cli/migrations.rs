//! Migrations as tasks (SPEC 9), through real HTTP against real `cuttle serve` processes, on
//! both backends: an export task's archive downloaded, byte for byte the archive the command line
//! makes; uploaded to another server, previewed, and the previewed plan applied; a stale plan
//! refused with nothing written; cancels at several moments and a killed server leave the
//! destination as it was (or, for a cancel that came too late, fully imported); hostile uploads
//! refused; what a task may read from the server's disk; who may start a task.

use crate::common;

use std::time::{Duration, Instant};

use common::World;
use common::http::*;
use serde_json::{Value, json};

// Again, every document that has a large array handled an element at a time by the server.

fn large_an_export_travels_as_an_archive_and_its_plan_is_applied_exactly(world: &World) {
    world.with_large_documents(an_export_travels_as_an_archive_and_its_plan_is_applied_exactly);
}

fn large_a_scoped_user_promotes_one_project_and_nothing_else(world: &World) {
    world.with_large_documents(a_scoped_user_promotes_one_project_and_nothing_else);
}

both_backends!(
    an_export_travels_as_an_archive_and_its_plan_is_applied_exactly,
    a_stale_plan_is_refused_and_writes_nothing,
    cancelled_and_interrupted_imports_leave_the_destination_whole,
    hostile_uploads_are_refused,
    imports_read_directories_only_under_the_migration_roots,
    tasks_are_authorised,
    a_scoped_user_promotes_one_project_and_nothing_else,
    large_an_export_travels_as_an_archive_and_its_plan_is_applied_exactly,
    large_a_scoped_user_promotes_one_project_and_nothing_else,
);

fn start(server: &Server, key: &str, task: &Value) -> i64 {
    let reply = call(
        server,
        "POST",
        "/tasks",
        Some(key),
        Some(&task.to_string()),
        &[],
    );
    assert_eq!(reply.status, 202, "{}", reply.body);
    let id = reply.json()["id"].as_i64().unwrap();
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/tasks/{id}").as_str())
    );
    id
}

/// Polls the task until it ends; returns it.
fn wait(server: &Server, key: &str, id: i64) -> Value {
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let task = get(server, &format!("/tasks/{id}"), key).json();
        if ["succeeded", "failed", "cancelled"].contains(&task["state"].as_str().unwrap()) {
            return task;
        }
        assert!(Instant::now() < until, "task {id} did not end: {task}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An export task (`extra` may name another kind) to its end, and its archive.
fn export_task(server: &Server, key: &str, extra: Value) -> (Value, Vec<u8>) {
    let mut task = json!({"kind": "export", "password": common::PASSWORD});
    for (k, v) in extra.as_object().unwrap() {
        task[k] = v.clone();
    }
    let id = start(server, key, &task);
    let ended = wait(server, key, id);
    assert_eq!(ended["state"], "succeeded", "{ended}");
    let (status, bytes) = download(server, &format!("/tasks/{id}/archive"), key);
    assert_eq!(status, 200);
    assert_eq!(
        ended["result"]["download"]["bytes"].as_u64().unwrap(),
        bytes.len() as u64
    );
    (ended, bytes)
}

fn upload(server: &Server, key: &str, archive: Vec<u8>) -> String {
    let reply = send_bytes(server, "/uploads", key, "application/x-tar", archive);
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.json()["id"].as_str().unwrap().to_owned()
}

fn import_task(server: &Server, key: &str, upload: &str, extra: Value) -> Value {
    let mut task = json!({"kind": "import", "password": common::PASSWORD, "uploads": [upload]});
    for (k, v) in extra.as_object().unwrap() {
        task[k] = v.clone();
    }
    let id = start(server, key, &task);
    wait(server, key, id)
}

fn an_export_travels_as_an_archive_and_its_plan_is_applied_exactly(world: &World) {
    world.create_sampled("a");
    world.create_instance("b");
    let source = world.serve("a", &[]);
    let destination = world.serve("b", &[]);
    let ka = world.admin("a");
    let kb = world.admin("b");

    // The same data exports to the same bytes: twice through the API, and from the command line.
    let (first, archive) = export_task(&source, &ka, json!({}));
    let (_, again) = export_task(&source, &ka, json!({"base": first["id"]}));
    assert!(archive == again, "two exports of unchanged data differ");
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("a.tar");
    world
        .cuttle()
        .env("CUTTLE_PASSWORD", common::PASSWORD)
        .args(["export", "--instance", "a", "--archive"])
        .arg(&file)
        .assert()
        .success();
    assert!(
        std::fs::read(&file).unwrap() == archive,
        "the command line's archive differs from the API's"
    );
    // The task's script: its command line, run in a shell, makes the same bytes again; its curl
    // calls take the password and the key from the environment.
    let script = get(&source, &format!("/tasks/{}/script", first["id"]), &ka).json();
    let line = script["commandLine"].as_str().unwrap();
    assert_eq!(
        line,
        "cuttle export --instance a --archive export.tar --password-env CUTTLE_PASSWORD"
    );
    let shell = tempfile::tempdir().unwrap();
    assert!(world.shell(line, shell.path()).success());
    assert!(
        std::fs::read(shell.path().join("export.tar")).unwrap() == archive,
        "the script's archive differs from the task's"
    );
    let curl = script["curl"].to_string();
    assert!(
        curl.contains("$CUTTLE_PASSWORD") && curl.contains("$CUTTLE_API_KEY"),
        "{curl}"
    );
    assert!(!curl.contains(common::PASSWORD), "{curl}");
    let (gzipped_task, gzipped) = export_task(&source, &ka, json!({"compression": "gzip"}));
    assert_eq!(gzipped[..2], [0x1f, 0x8b]);
    assert_eq!(
        gzipped_task["result"]["download"]["mediaType"],
        "application/gzip"
    );

    // Previewed on the other server: the plan's lines, grants first, the summary last.
    let id = upload(&destination, &kb, gzipped);
    let before = world.records("b");
    let preview = import_task(&destination, &kb, &id, json!({"dryRun": true}));
    assert_eq!(preview["state"], "succeeded", "{preview}");
    assert_eq!(world.records("b"), before, "a preview wrote");
    let plan_id = preview["result"]["planId"].as_str().unwrap().to_owned();
    let (status, lines) = download(&destination, &format!("/tasks/{}/plan", preview["id"]), &kb);
    assert_eq!(status, 200);
    let lines = common::json_lines(&String::from_utf8(lines).unwrap());
    assert_eq!(lines[0]["type"], "grant", "{}", lines[0]);
    let last = lines.last().unwrap();
    assert_eq!(last["type"], "summary");
    assert_eq!(last["dryRun"], true);
    assert!(last["totals"]["create"].as_u64().unwrap() > 100, "{last}");

    // Applied: the destination now holds what the source does.
    let applied = start(
        &destination,
        &kb,
        &json!({"kind": "import", "password": common::PASSWORD, "plan": plan_id}),
    );
    let applied = wait(&destination, &kb, applied);
    assert_eq!(applied["state"], "succeeded", "{applied}");
    assert_eq!(applied["result"]["appliedPlan"], plan_id.as_str());
    let source_docs = world.snapshot("a");
    let destination_docs = world.snapshot("b");
    for (collection, names) in &source_docs {
        if ["users", "teams", "user-roles", "task-logs"].contains(&collection.as_str()) {
            // The destination's administrator stays beside the source's people; task logs are
            // exported only when asked for.
            continue;
        }
        let theirs = destination_docs
            .iter()
            .find(|(c, _)| c == collection)
            .map(|(_, n)| n.clone())
            .unwrap_or_default();
        assert_eq!(&theirs, names, "{collection}");
    }

    // Every task is in the audit log, with who started it and how it ended.
    let audit = get(&destination, "/audit?limit=50", &kb).json();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"task-import-start"), "{actions:?}");
    // The import's own entry committed with it.
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "import" && e["outcome"] == "succeeded"),
        "{audit}"
    );
    // The apply's entry: who, the task's options (no password), its plan's summary, the outcome.
    let ended = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "task-import" && e["task"]["id"] == applied["id"])
        .unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(ended["actor"], "admin");
    assert_eq!(ended["outcome"], "succeeded");
    assert_eq!(ended["task"]["options"]["plan"], plan_id.as_str());
    assert!(
        ended["task"]["options"].get("password").is_none(),
        "{ended}"
    );
    assert_eq!(ended["task"]["summary"]["committed"], true, "{ended}");
    assert!(
        ended["task"]["summary"]["totals"]["create"]
            .as_u64()
            .unwrap()
            > 100
    );
    no_plaintext_seen();
}

fn a_stale_plan_is_refused_and_writes_nothing(world: &World) {
    world.create_sampled("a");
    world.create_instance("b");
    let source = world.serve("a", &[]);
    let destination = world.serve("b", &[]);
    let ka = world.admin("a");
    let kb = world.admin("b");
    let (_, archive) = export_task(&source, &ka, json!({}));
    let id = upload(&destination, &kb, archive);
    let preview = import_task(&destination, &kb, &id, json!({"dryRun": true}));
    let plan_id = preview["result"]["planId"].as_str().unwrap().to_owned();

    // Someone creates, between the preview and the apply, an environment the plan creates.
    let (_, lines) = download(&destination, &format!("/tasks/{}/plan", preview["id"]), &kb);
    let lines = common::json_lines(&String::from_utf8(lines).unwrap());
    let environment = lines
        .iter()
        .find(|l| l["collection"] == "environments" && l["action"] == "create")
        .expect("the plan creates environments")["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let put_reply = put(
        &destination,
        "environments",
        &kb,
        &json!({"name": environment}),
    );
    assert_eq!(put_reply.status, 201, "{}", put_reply.body);
    let before = world.records("b");

    let applied = start(
        &destination,
        &kb,
        &json!({"kind": "import", "password": common::PASSWORD, "plan": plan_id}),
    );
    let applied = wait(&destination, &kb, applied);
    assert_eq!(applied["state"], "failed", "{applied}");
    assert_eq!(applied["error"]["status"], 409, "{applied}");
    assert_eq!(applied["error"]["kind"], "stale-plan", "{applied}");
    assert!(
        applied["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("environments"),
        "{applied}"
    );
    assert_eq!(world.records("b"), before, "a stale plan wrote");
    // The refusal is in the audit log: the import failed, and why (its kind).
    let audit = get(&destination, "/audit?limit=10", &kb).json();
    let import = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "import")
        .unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(import["outcome"], "failed", "{import}");
    assert_eq!(import["reason"], "stale-plan", "{import}");
}

/// What an import into `b` leaves, when it ended: nothing (as `empty`), or everything (as the
/// `reference` instance, which imported the same archive from the command line), never between.
fn whole_or_nothing(world: &World, empty: &Snapshot, reference: &Snapshot, state: &str) -> bool {
    let now = world.snapshot("b");
    let imported = now != *empty;
    if imported {
        for (collection, names) in reference {
            if ["users", "teams", "user-roles", "task-logs"].contains(&collection.as_str()) {
                continue; // b has its administrator beside the source's people
            }
            let theirs = now.iter().find(|(c, _)| c == collection).map(|(_, n)| n);
            assert_eq!(
                theirs,
                Some(names),
                "{collection}: an import left part of itself"
            );
        }
    }
    assert_eq!(
        imported,
        state == "succeeded",
        "a task that ended {state} left the destination {}",
        if imported { "imported" } else { "as it was" }
    );
    imported
}

type Snapshot = Vec<(String, Vec<String>)>;

/// A small deterministic generator of delays (so that a failure can be run again).
struct Delays(u64);

impl Delays {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below.max(1)
    }
}

fn cancelled_and_interrupted_imports_leave_the_destination_whole(world: &World) {
    world.create_sampled("a");
    let source = world.serve("a", &[]);
    let ka = world.admin("a");
    let (_, archive) = export_task(&source, &ka, json!({}));
    drop(source);
    let file = world.home().join("a.tar");
    std::fs::write(&file, &archive).unwrap();
    // The reference: the same import from the command line, timed.
    world.create_instance("reference");
    let started = Instant::now();
    world
        .import_from("--archive", "reference", &[&file], &[])
        .success();
    let span = started.elapsed().as_millis() as u64 + 50;
    let reference = world.snapshot("reference");

    let fresh = |world: &World| {
        let _ = world.cuttle().args(["instance", "delete", "b"]).assert();
        world.create_instance("b");
        let key = world.admin("b");
        (world.serve("b", &[]), key, world.snapshot("b"))
    };
    let seed = 0x5eed_u64 + span;
    let mut delays = Delays(seed);
    eprintln!("delays seeded with {seed}, within {span} ms");

    // Cancels at random moments of the import: each ends cancelled with nothing written, or
    // (the cancel too late) succeeded with everything.
    let (mut server, mut key, mut empty) = fresh(world);
    let mut cancelled = 0;
    for _ in 0..8 {
        let id = upload(&server, &key, archive.clone());
        let task = start(
            &server,
            &key,
            &json!({"kind": "import", "password": common::PASSWORD, "uploads": [id]}),
        );
        let delay = delays.next(span);
        std::thread::sleep(Duration::from_millis(delay));
        let reply = call(
            &server,
            "POST",
            &format!("/tasks/{task}/cancel"),
            Some(&key),
            None,
            &[],
        );
        assert!([202, 409].contains(&reply.status), "{}", reply.body);
        let ended = wait(&server, &key, task);
        let state = ended["state"].as_str().unwrap();
        eprintln!("cancel after {delay} ms: {state}");
        assert!(["cancelled", "succeeded"].contains(&state), "{ended}");
        if whole_or_nothing(world, &empty, &reference, state) {
            drop(server);
            (server, key, empty) = fresh(world);
        } else {
            cancelled += 1;
        }
    }
    assert!(
        cancelled > 0,
        "no cancel arrived in time (delays seeded with {seed})"
    );

    // Kills at random moments: the next server shows the task failed with nothing written, or
    // succeeded with everything (it committed just before the kill).
    for _ in 0..4 {
        let id = upload(&server, &key, archive.clone());
        let task = start(
            &server,
            &key,
            &json!({"kind": "import", "password": common::PASSWORD, "uploads": [id]}),
        );
        // Up to twice an import's time: some kills come after it ended.
        let delay = delays.next(2 * span);
        std::thread::sleep(Duration::from_millis(delay));
        unsafe {
            libc::kill(server.child.id() as i32, libc::SIGKILL);
        }
        server.child.wait().unwrap();
        server = world.serve("b", &[]);
        let shown = get(&server, &format!("/tasks/{task}"), &key).json();
        let state = shown["state"].as_str().unwrap();
        eprintln!("kill after {delay} ms: {state}");
        assert!(["failed", "succeeded"].contains(&state), "{shown}");
        if whole_or_nothing(world, &empty, &reference, state) {
            drop(server);
            (server, key, empty) = fresh(world);
        }
    }
}

/// A tar's 512-byte header for `name` of `size` bytes and entry type `kind`.
fn header(name: &str, size: usize, kind: u8, link: &str) -> Vec<u8> {
    let mut h = vec![0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| *b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

fn tar_of(entries: &[(&str, &[u8], u8, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data, kind, link) in entries {
        out.extend(header(name, data.len(), *kind, link));
        out.extend(*data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend([0u8; 1024]);
    out
}

fn hostile_uploads_are_refused(world: &World) {
    world.create_sampled("b");
    let server = world.serve("b", &[]);
    let kb = world.admin("b");
    let before = world.records("b");
    let manifest: &[u8] = b"{}";
    let real = {
        let (_, bytes) = export_task(&server, &kb, json!({}));
        bytes
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a path that goes up",
            tar_of(&[("../evil.json", manifest, b'0', "")]),
            "goes up a folder",
        ),
        (
            "an absolute path",
            tar_of(&[("/tmp/evil.json", manifest, b'0', "")]),
            "absolute path",
        ),
        (
            "a symbolic link",
            tar_of(&[("link", b"", b'2', "/etc/passwd")]),
            "is a link",
        ),
        (
            "a hard link",
            tar_of(&[("link", b"", b'1', "cuttle-export.json")]),
            "is a link",
        ),
        (
            "a device",
            tar_of(&[("dev", b"", b'3', "")]),
            "not a file or a folder",
        ),
        (
            "the same path twice",
            tar_of(&[
                ("a.json", manifest, b'0', ""),
                ("./a.json", manifest, b'0', ""),
            ]),
            "twice",
        ),
        (
            "a name that is not UTF-8",
            {
                let mut t = tar_of(&[("a\u{ff}.json", manifest, b'0', "")]);
                // Replace the UTF-8 of ÿ with a lone byte (and fix the checksum).
                t.splice(1..3, [0xffu8, b'.']);
                t[148..156].copy_from_slice(b"        ");
                let sum: u32 = t[..512].iter().map(|b| *b as u32).sum();
                t[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
                t
            },
            "not a UTF-8 name",
        ),
        (
            "a truncated archive",
            real[..real.len() / 2].to_vec(),
            "truncated",
        ),
        (
            "a size that lies",
            {
                let mut t = tar_of(&[("a.json", manifest, b'0', "")]);
                t.truncate(512 + 512);
                let mut h = header("a.json", 1 << 20, b'0', "");
                h.extend(&t[512..]);
                h
            },
            "truncated",
        ),
        (
            "not an archive",
            b"this is not a tar".repeat(100),
            "damaged or truncated",
        ),
        (
            "an archive that is not an export",
            tar_of(&[("README", b"hello", b'0', "")]),
            "not an export",
        ),
    ];
    for (what, bytes, says) in cases {
        let reply = send_bytes(&server, "/uploads", &kb, "application/x-tar", bytes);
        let problem = assert_problem(&reply, 422, "archive");
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{what}: {problem}"
        );
    }
    // A compression bomb: a gzip whose tar would unpack beyond what its size allows.
    let bomb = {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let big = vec![0u8; 32 << 20];
        for n in 0..10 {
            encoder
                .write_all(&header(&format!("{n}.json"), big.len(), b'0', ""))
                .unwrap();
            encoder.write_all(&big).unwrap();
        }
        encoder.finish().unwrap()
    };
    let reply = send_bytes(&server, "/uploads", &kb, "application/gzip", bomb);
    let problem = assert_problem(&reply, 422, "archive");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("compression bomb"),
        "{problem}"
    );
    let reply = send_bytes(&server, "/uploads", &kb, "text/plain", real[..512].to_vec());
    assert_problem(&reply, 415, "unsupported-media-type");
    assert_eq!(
        world.records("b"),
        before,
        "a refused upload changed the instance"
    );
}

fn imports_read_directories_only_under_the_migration_roots(world: &World) {
    world.create_sampled("a");
    world.create_instance("b");
    let roots = tempfile::tempdir().unwrap();
    let allowed = roots.path().join("exports");
    world.export("a", &allowed, &[]).success();
    let outside = tempfile::tempdir().unwrap();
    world.export("a", outside.path(), &[]).success();
    let root = roots.path().to_str().unwrap().to_owned();
    let server = world.serve("b", &["--migration-root", &root]);
    let kb = world.admin("b");

    let refused = call(
        &server,
        "POST",
        "/tasks",
        Some(&kb),
        Some(
            &json!({"kind": "import", "password": common::PASSWORD,
                "directories": [outside.path()], "dryRun": true})
            .to_string(),
        ),
        &[],
    );
    let problem = assert_problem(&refused, 400, "usage");
    assert!(
        problem["detail"].as_str().unwrap().contains("not under"),
        "{problem}"
    );
    // A way out through `..` is the same path outside.
    let sneaky = allowed
        .join("..")
        .join("..")
        .join(outside.path().file_name().unwrap());
    let refused = call(
        &server,
        "POST",
        "/tasks",
        Some(&kb),
        Some(
            &json!({"kind": "import", "password": common::PASSWORD, "directories": [sneaky]})
                .to_string(),
        ),
        &[],
    );
    assert_problem(&refused, 400, "usage");

    let id = start(
        &server,
        &kb,
        &json!({"kind": "import", "password": common::PASSWORD, "directories": [allowed]}),
    );
    let ended = wait(&server, &kb, id);
    assert_eq!(ended["state"], "succeeded", "{ended}");
    assert!(!world.list("b", "environments", None).is_empty());
    // After a task ran on a session of its own, the instance's files are still shared well with
    // other processes: a key made at the command line now works at once.
    let fresh = world.key("b", "admin", &[]);
    assert_eq!(get(&server, "/whoami", &fresh).status, 200);
}

fn tasks_are_authorised(world: &World) {
    world.create_sampled("b");
    let server = world.serve("b", &[]);
    let admin = world.admin("b");
    let read_only = world.key("b", "admin", &["--read-only"]);
    // A user in no team: refused exports, imports and backups.
    world
        .put(
            "b",
            "users",
            &json!({"username": "loner", "displayName": "Loner"}),
        )
        .success();
    let limited = world.key("b", "loner", &[]);
    for task in [
        json!({"kind": "export", "password": common::PASSWORD}),
        json!({"kind": "backup"}),
        json!({"kind": "import", "password": common::PASSWORD, "uploads": ["nothing"]}),
    ] {
        let reply = call(
            &server,
            "POST",
            "/tasks",
            Some(&limited),
            Some(&task.to_string()),
            &[],
        );
        assert_problem(&reply, 403, "forbidden");
    }
    let reply = call(
        &server,
        "POST",
        "/tasks",
        Some(&read_only),
        Some(
            &json!({"kind": "import", "password": common::PASSWORD, "uploads": ["x"]}).to_string(),
        ),
        &[],
    );
    assert_problem(&reply, 403, "forbidden");
    // Another person's task is not theirs to see or cancel; an unknown one is 404.
    let backup = start(&server, &admin, &json!({"kind": "backup"}));
    let ended = wait(&server, &admin, backup);
    assert_eq!(ended["state"], "succeeded", "{ended}");
    let (status, bytes) = download(&server, &format!("/tasks/{backup}/backup"), &admin);
    assert_eq!(status, 200);
    assert!(bytes.len() as u64 == ended["result"]["download"]["bytes"].as_u64().unwrap());
    // Its events: the task as it stands, then the stream ends with the task.
    let events = get(&server, &format!("/tasks/{backup}/events"), &admin);
    assert_eq!(events.header("content-type"), Some("text/event-stream"));
    let data = events
        .body
        .strip_prefix("event: task\ndata: ")
        .and_then(|rest| rest.strip_suffix("\n\n"))
        .unwrap_or_else(|| panic!("{}", events.body));
    assert_eq!(
        serde_json::from_str::<Value>(data).unwrap()["state"],
        "succeeded"
    );
    let reply = get(&server, &format!("/tasks/{backup}"), &limited);
    assert_problem(&reply, 403, "forbidden");
    let reply = get(&server, "/tasks/999999", &admin);
    assert_problem(&reply, 404, "not-found");
    // A task refused at its start is not recorded (nothing stays queued), whatever refused it.
    for task in [
        json!({"kind": "import", "password": common::PASSWORD, "uploads": ["nothing"]}),
        json!({"kind": "export", "password": common::PASSWORD, "base": 999999}),
    ] {
        let reply = call(
            &server,
            "POST",
            "/tasks",
            Some(&admin),
            Some(&task.to_string()),
            &[],
        );
        assert_problem(&reply, 404, "not-found");
    }
    let listed = get(&server, "/tasks", &admin).json();
    assert!(
        listed["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "succeeded"),
        "{listed}"
    );
    // A password is never recorded.
    let id = start(
        &server,
        &admin,
        &json!({"kind": "export", "password": "hunter2-but-long-enough"}),
    );
    let task = wait(&server, &admin, id);
    assert!(!task.to_string().contains("hunter2"), "{task}");
    let reply = call(
        &server,
        "POST",
        "/tasks",
        Some(&admin),
        Some(r#"{"kind": "export", "password": "x", "unknown": 1}"#),
        &[],
    );
    assert_problem(&reply, 400, "usage");
    let reply = call(
        &server,
        "POST",
        "/tasks",
        Some(&admin),
        Some(r#"{"kind": "export"}"#),
        &[("Content-Type", "text/plain")],
    );
    assert_problem(&reply, 415, "unsupported-media-type");
}

fn a_scoped_user_promotes_one_project_and_nothing_else(world: &World) {
    world.create_sampled("a");
    world.create_sampled("b");
    // Staging changes two projects.
    for project in ["Order Service", "Web Storefront"] {
        let mut doc = world.get("a", "projects", Some(project), None);
        doc["description"] = json!(format!("{project}, as promoted"));
        world.put("a", "projects", &doc).success();
    }
    // In staging and in production, a person may do everything but only in project Order
    // Service.
    for instance in ["a", "b"] {
        world
            .put(
                instance,
                "user-roles",
                &json!({"name": "Project owner", "permissions": everything_but_administration()}),
            )
            .success();
        world
            .put(instance, "users", &json!({"username": "promoter"}))
            .success();
        world
            .put(
                instance,
                "teams",
                &json!({"name": "Order Service owners", "members": ["promoter"],
                    "roleAssignments": [{"userRole": "Project owner", "projects": ["Order Service"]}]}),
            )
            .success();
    }
    // They export their project from staging; not the other one, nor the whole instance.
    let staging = world.serve("a", &[]);
    let exporter = world.key("a", "promoter", &[]);
    let archives = tempfile::tempdir().unwrap();
    let (_, order) = export_task(
        &staging,
        &exporter,
        json!({"kind": "partial-export", "projects": ["Order Service"]}),
    );
    std::fs::write(archives.path().join("order.tar"), order).unwrap();
    for refused in [
        json!({"kind": "partial-export", "password": common::PASSWORD, "projects": ["Web Storefront"]}),
        json!({"kind": "export", "password": common::PASSWORD}),
    ] {
        let id = start(&staging, &exporter, &refused);
        let ended = wait(&staging, &exporter, id);
        assert_eq!(ended["state"], "failed", "{ended}");
        assert_eq!(ended["error"]["status"], 403, "{ended}");
        assert!(
            ended["error"]["detail"]
                .as_str()
                .unwrap()
                .contains("may not export"),
            "{ended}"
        );
    }
    // An administrator exports the other project (from the command line).
    world
        .cuttle()
        .env("CUTTLE_PASSWORD", common::PASSWORD)
        .args([
            "partial-export",
            "--instance",
            "a",
            "--project",
            "Web Storefront",
            "--archive",
        ])
        .arg(archives.path().join("web.tar"))
        .assert()
        .success();
    let server = world.serve("b", &[]);
    let promoter = world.key("b", "promoter", &[]);

    // The other project: refused, in the preview already, with the writes listed.
    let before = world.records("b");
    let web = upload(
        &server,
        &promoter,
        std::fs::read(archives.path().join("web.tar")).unwrap(),
    );
    for dry_run in [true, false] {
        let refused = import_task(
            &server,
            &promoter,
            &web,
            json!({"overwrite": true, "dryRun": dry_run}),
        );
        assert_eq!(refused["state"], "failed", "{refused}");
        assert_eq!(refused["error"]["status"], 403, "{refused}");
        let blockers = refused["error"]["blockers"].as_array().unwrap();
        assert!(
            blockers
                .iter()
                .any(|b| b["collection"] == "projects" && b["key"] == "Web Storefront"),
            "{refused}"
        );
        assert!(
            blockers
                .iter()
                .all(|b| b["message"].as_str().unwrap().contains("ProjectEdit")
                    || b["message"].as_str().unwrap().contains("Web Storefront")),
            "{refused}"
        );
    }
    assert_eq!(world.records("b"), before, "a refused import wrote");

    // Their own project: promoted.
    let order = upload(
        &server,
        &promoter,
        std::fs::read(archives.path().join("order.tar")).unwrap(),
    );
    let promoted = import_task(&server, &promoter, &order, json!({"overwrite": true}));
    assert_eq!(promoted["state"], "succeeded", "{promoted}");
    assert_eq!(
        world.get("b", "projects", Some("Order Service"), None)["description"],
        "Order Service, as promoted"
    );
    assert_ne!(
        world.get("b", "projects", Some("Web Storefront"), None)["description"],
        "Web Storefront, as promoted"
    );
}
