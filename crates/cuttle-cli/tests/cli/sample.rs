//! `cuttle sample`: every collection filled, deterministic for a seed, no plaintext at rest, and
//! every document readable and writable back through `doc get` / `doc put`.

use crate::common;

use common::{World, stderr, stdout};
use serde_json::Value;

fn documents_per_collection(world: &World, instance: &str) -> serde_json::Map<String, Value> {
    let show: Value = serde_json::from_str(&stdout(
        &world
            .cuttle()
            .args(["instance", "show", instance, "--format", "json"])
            .assert()
            .success(),
    ))
    .unwrap();
    show["documents"].as_object().unwrap().clone()
}

fn small_sample_covers_everything_and_seals_its_secrets(world: &World) {
    world.create_instance("a");
    let out = world
        .cuttle()
        .args([
            "sample",
            "--instance",
            "a",
            "--size",
            "small",
            "--seed",
            "7",
        ])
        .assert()
        .success();
    assert!(
        stderr(&out).contains("documents in"),
        "a summary: {}",
        stderr(&out)
    );
    let counts = documents_per_collection(world, "a");
    assert_eq!(counts.len(), cuttle_domain::COLLECTIONS.len());
    for (collection, count) in &counts {
        assert!(count.as_u64().unwrap() > 0, "{collection} is empty");
    }
    let total: u64 = counts.values().map(|c| c.as_u64().unwrap()).sum();
    assert!(
        (100..1000).contains(&total),
        "small is a few hundred documents, not {total}"
    );
    assert!(
        !world.leaks("sample-secret-"),
        "no plaintext secret in any file or row the instance wrote"
    );

    // The first document of every collection: what `doc get` prints, `doc put` takes back, unchanged.
    for decl in cuttle_domain::COLLECTIONS {
        let keys = world.list("a", decl.name, None);
        let first = &keys[0];
        let (project, key) = if decl.is_project_owned() {
            let (project, rest) = first.split_once(" / ").unwrap_or((first.as_str(), ""));
            (
                Some(project),
                if decl.key.is_empty() {
                    None
                } else {
                    Some(rest)
                },
            )
        } else {
            (None, Some(first.as_str()))
        };
        let doc = world.get("a", decl.name, key, project);
        world.put("a", decl.name, &doc).success();
        assert_eq!(
            world.get("a", decl.name, key, project),
            doc,
            "{} {first:?} round-trips",
            decl.name
        );
    }
    assert_eq!(
        documents_per_collection(world, "a"),
        counts,
        "putting documents back adds nothing"
    );
}

fn the_same_seed_gives_the_same_instance(world: &World) {
    world.create_instance("a");
    world.create_instance("b");
    world
        .cuttle()
        .args(["sample", "--instance", "a", "--seed", "3"])
        .assert()
        .success();
    world
        .cuttle()
        .args(["sample", "--instance", "b", "--seed", "3"])
        .assert()
        .success();
    for decl in cuttle_domain::COLLECTIONS {
        assert_eq!(
            world.list("a", decl.name, None),
            world.list("b", decl.name, None),
            "{}",
            decl.name
        );
    }
    let project = world.list("a", "projects", None)[0].clone();
    assert_eq!(
        world.get("a", "project-variables", None, Some(&project)),
        world.get("b", "project-variables", None, Some(&project))
    );
}

both_backends!(
    small_sample_covers_everything_and_seals_its_secrets,
    the_same_seed_gives_the_same_instance
);
