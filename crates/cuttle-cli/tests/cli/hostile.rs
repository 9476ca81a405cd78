//! The corpus of hostile export directories (SPEC 8 "Reliability", issue 6 item 6): a real export
//! of the small sample, made hostile one way at a time (links out of the tree, huge and deeply
//! nested documents, duplicate and colliding names, wrong types, unknown fields, manifests from
//! the future, broken encodings and odd file names), each imported with the real `cuttle` into a
//! destination with documents and a secret of its own. Every refusal exits with status 1, names what is wrong (and the file),
//! prints no plaintext secret and leaves the destination exactly as it was; what SPEC 5.9 lets the
//! importer ignore (files the format does not own) is shown to change nothing in the plan. The
//! cases `import.rs` already covers (`bad_input_is_refused_and_changes_nothing`) are not repeated.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{World, copy_tree, stderr, stdout};
use serde_json::{Value, json};
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// The corpus's world and its one helper

/// How long one refused import may take, however hostile its input.
const PATIENCE: Duration = Duration::from_secs(60);

/// The longest message a refusal may print: a huge input is never echoed back.
const LONGEST_MESSAGE: usize = 8 << 10;

/// "src" (the small sample, exported with its history and task logs into `good`) and "dst", a
/// destination with documents and a secret of its own, its `records` taken once.
struct Corpus<'w> {
    world: &'w World,
    good: TempDir,
    before: Vec<String>,
}

/// A hostile export, at `export/` in a folder of its own, beside what its links point to
/// (`outside/`, see [`outside`]).
struct Hostile {
    root: TempDir,
}

impl Hostile {
    fn path(&self) -> PathBuf {
        self.root.path().join("export")
    }
}

/// One hostile directory: how it is made from a good export, and what its refusal must say.
struct Case {
    what: &'static str,
    make: fn(&Path),
    says: &'static [&'static str],
}

impl<'w> Corpus<'w> {
    fn new(world: &'w World) -> Corpus<'w> {
        world.create_sampled("src");
        let good = TempDir::new().unwrap();
        world
            .export("src", good.path(), &["--include-task-logs"])
            .success();
        world.create_instance("dst");
        for (collection, doc) in [
            ("environments", json!({"name": "Destination only"})),
            (
                "library-variable-sets",
                json!({"name": "Destination secrets", "variables": [
                    {"name": "Key", "type": "Sensitive", "value": {"secret": "sample-secret-dst"}}
                ]}),
            ),
        ] {
            world.put("dst", collection, &doc).success();
        }
        let before = world.records("dst");
        Corpus {
            world,
            good,
            before,
        }
    }

    /// A copy of the good export, changed by `make`.
    fn hostile(&self, make: impl FnOnce(&Path)) -> Hostile {
        let root = TempDir::new().unwrap();
        let export = root.path().join("export");
        copy_tree(self.good.path(), &export);
        make(&export);
        Hostile { root }
    }

    /// Imports a hostile copy (made by `make`) into "dst" and checks that it is refused: status
    /// 1, in reasonable time, a short message holding every one of `says`, no panic, no
    /// plaintext secret, and the destination exactly as it was. Returns the message.
    fn refused(&self, what: &str, make: impl FnOnce(&Path), says: &[&str]) -> String {
        let dir = self.hostile(make);
        let started = Instant::now();
        let out = self.world.import("dst", &[&dir.path()], &[]);
        let took = started.elapsed();
        let message = stderr(&out);
        let all = format!("{}{message}", stdout(&out));
        assert_eq!(
            out.get_output().status.code(),
            Some(1),
            "{what}: refused with status 1, got:\n{all}"
        );
        assert!(took < PATIENCE, "{what}: took {took:?}");
        assert!(
            !all.contains("panicked") && !all.contains("RUST_BACKTRACE"),
            "{what}: a panic:\n{all}"
        );
        assert!(
            all.len() < LONGEST_MESSAGE,
            "{what}: a message of {} bytes, starting:\n{}",
            all.len(),
            &all[..all.floor_char_boundary(2000)]
        );
        assert!(
            !all.contains("sample-secret-"),
            "{what}: a plaintext secret in:\n{all}"
        );
        // Nothing from the input reaches the terminal that could rewrite or disguise it.
        assert!(
            !all.chars()
                .any(|c| cuttle_domain::names::is_unseen(c) && c != '\n'),
            "{what}: a character that cannot be seen, unescaped, in:\n{all:?}"
        );
        for part in says {
            assert!(
                message.contains(part),
                "{what}: expected {part:?} in:\n{message}"
            );
        }
        assert_eq!(
            self.world.records("dst"),
            self.before,
            "{what}: a refused import changes nothing"
        );
        message
    }

    /// Runs every case of a table through [`Corpus::refused`].
    fn refuse_all(&self, cases: &[Case]) {
        for case in cases {
            self.refused(case.what, case.make, case.says);
        }
    }

    /// The dry-run plan (`--format json`) of importing `dir` into "dst", with the directory's
    /// own path taken out so that plans of different copies compare.
    fn plan(&self, dir: &Path) -> String {
        let out = self
            .world
            .import("dst", &[dir], &["--dry-run", "--format", "json"])
            .success();
        assert!(!stdout(&out).contains("sample-secret-"));
        stdout(&out).replace(&dir.display().to_string(), "<export>")
    }

    /// A change that the importer reads nothing of, but says so: the plan of the good export,
    /// with warnings holding every one of `says` before it.
    fn noticed(&self, what: &str, make: impl FnOnce(&Path), says: &[&str]) {
        let dir = self.hostile(make);
        let plan = self.plan(&dir.path());
        let (warnings, rest): (Vec<&str>, Vec<&str>) = plan
            .lines()
            .partition(|l| l.starts_with(r#"{"type":"warning""#));
        let good = self.plan(self.good.path());
        let good: Vec<&str> = good
            .lines()
            .filter(|l| !l.starts_with(r#"{"type":"warning""#))
            .collect();
        assert_eq!(rest, good, "{what}: the plan of the unchanged export");
        let warnings = warnings.join("\n");
        for part in says {
            assert!(warnings.contains(part), "{what}: {part:?} in:\n{warnings}");
        }
    }

    /// A change the importer may ignore (SPEC 5.9: files the format does not own): the import
    /// goes ahead with exactly the plan of the good export.
    fn harmless(&self, what: &str, make: impl FnOnce(&Path)) {
        let dir = self.hostile(make);
        assert_eq!(
            self.plan(&dir.path()),
            self.plan(self.good.path()),
            "{what}: the plan of the unchanged export"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Finding and changing files in an export

fn read_json(file: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
}

fn write_json(file: &Path, value: &Value) {
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, serde_json::to_string_pretty(value).unwrap() + "\n").unwrap();
}

fn edit_json(file: &Path, edit: impl FnOnce(&mut Value)) {
    let mut value = read_json(file);
    edit(&mut value);
    write_json(file, &value);
}

/// The JSON files directly in `dir`, sorted.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// The first document file of a top-level collection.
fn first(d: &Path, collection: &str) -> PathBuf {
    json_files(&d.join(collection))
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {collection} in the sample's export"))
}

/// A copy of the first environment, as `environments/<file>`, changed by `edit`.
fn environment_as(d: &Path, file: &str, edit: impl FnOnce(&mut Value)) {
    let mut value = read_json(&first(d, "environments"));
    edit(&mut value);
    write_json(&d.join("environments").join(file), &value);
}

/// The raw text of a new environment file, `environments/<file>`.
fn environment_text(d: &Path, file: &str, text: impl AsRef<[u8]>) {
    std::fs::write(d.join("environments").join(file), text).unwrap();
}

/// The folder of the first project (by folder name) whose process has a step with an action.
fn project_dir(d: &Path) -> PathBuf {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(d.join("projects"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    folders.sort();
    folders
        .into_iter()
        .find(|f| {
            let process = f.join("deployment-process.json");
            process.is_file() && read_json(&process)["steps"][0]["actions"][0].is_object()
        })
        .expect("a project with a process in the sample")
}

/// The `file` of the first extracted script of a process.
fn extracted_script(process: &mut Value) -> &mut Value {
    process["steps"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .flat_map(|step| step["actions"].as_array_mut().unwrap().iter_mut())
        .map(|action| &mut action["script"])
        .find(|script| script.get("file").is_some())
        .map(|script| &mut script["file"])
        .expect("an extracted script in the process")
}

/// The first project whose variables include one at all.
fn variables_file(d: &Path) -> PathBuf {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(d.join("projects"))
        .unwrap()
        .map(|e| e.unwrap().path().join("variables.json"))
        .collect();
    folders.sort();
    folders
        .into_iter()
        .find(|f| f.is_file() && read_json(f)["variables"][0].is_object())
        .expect("a project with variables in the sample")
}

/// A folder outside the export `d` (beside it, removed with it) holding `outside.json`, a valid
/// environment whose content must never be read.
fn outside(d: &Path) -> PathBuf {
    let dir = d.parent().unwrap().join("outside");
    write_json(
        &dir.join("outside.json"),
        &json!({"name": "Outside the tree", "description": "outside-content"}),
    );
    dir
}

/// Puts a symbolic link to `target` at `link`, in place of whatever is there.
fn symlink(target: impl AsRef<Path>, link: &Path) {
    if link.is_dir() && !link.is_symlink() {
        std::fs::remove_dir_all(link).unwrap();
    } else if link.exists() || link.is_symlink() {
        std::fs::remove_file(link).unwrap();
    }
    #[cfg(unix)]
    std::os::unix::fs::symlink(target, link).unwrap();
    #[cfg(not(unix))]
    panic!(
        "symbolic links are tested on Unix: {}",
        target.as_ref().display()
    );
}

// ---------------------------------------------------------------------------------------------
// 1. Symbolic links out of the tree

fn links_out_of_the_tree_are_refused(world: &World) {
    let corpus = Corpus::new(world);
    let cases = [
        Case {
            what: "a new document file linked to a file outside",
            make: |d| {
                symlink(
                    outside(d).join("outside.json"),
                    &d.join("environments/linked.json"),
                )
            },
            says: &["environments/linked.json", "never follows links"],
        },
        Case {
            what: "a relative link climbing out of the tree",
            make: |d| {
                outside(d);
                symlink(
                    "../../outside/outside.json",
                    &d.join("environments/climbing.json"),
                );
            },
            says: &["environments/climbing.json", "never follows links"],
        },
        Case {
            what: "a manifest linked to a copy outside",
            make: |d| {
                let copy = outside(d).join("manifest.json");
                std::fs::copy(d.join("manifest.json"), &copy).unwrap();
                symlink(&copy, &d.join("manifest.json"));
            },
            says: &["manifest.json", "never follows links"],
        },
        Case {
            what: "a project's channel linked to a file outside",
            make: |d| {
                let channels = project_dir(d).join("channels");
                symlink(
                    outside(d).join("outside.json"),
                    &channels.join("linked.json"),
                );
            },
            says: &["channels/linked.json", "never follows links"],
        },
        Case {
            what: "an extracted script linked to a file outside",
            make: |d| {
                let scripts = project_dir(d).join("scripts");
                let script = std::fs::read_dir(&scripts)
                    .expect("the sample extracts scripts")
                    .map(|e| e.unwrap().path())
                    .min()
                    .unwrap();
                symlink(outside(d).join("outside.json"), &script);
            },
            says: &["scripts/", "never follows links"],
        },
    ];
    corpus.refuse_all(&cases);
    // Nor is the outside file's content read as a document, even in a dry run.
    for case in &cases {
        let dir = corpus.hostile(case.make);
        let out = world.import("dst", &[&dir.path()], &["--dry-run", "--format", "json"]);
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            !all.contains("Outside the tree") && !all.contains("outside-content"),
            "{}: {all}",
            case.what
        );
    }
}

/// A linked folder is refused with a clear message, as a linked file is (SPEC 6.7, 8); it was once
/// silently left out, being neither followed nor reported.
fn linked_folders_are_refused(world: &World) {
    let corpus = Corpus::new(world);
    corpus.refuse_all(&[
        Case {
            what: "a collection folder linked to a copy outside",
            make: |d| {
                let copy = outside(d).join("environments");
                copy_tree(&d.join("environments"), &copy);
                symlink(&copy, &d.join("environments"));
            },
            // Today: refused, but for 100 references to environments "not found".
            says: &["environments", "symbolic link"],
        },
        Case {
            what: "a new project's folder linked to a folder outside",
            make: |d| {
                let mut project = read_json(&project_dir(d).join("project.json"));
                project["name"] = json!("Outside project");
                let folder = outside(d).join("project");
                write_json(&folder.join("project.json"), &project);
                symlink(&folder, &d.join("projects/zz-outside"));
            },
            // Today: accepted (status 0), the project neither imported nor mentioned.
            says: &["projects/zz-outside", "symbolic link"],
        },
    ]);
}

// ---------------------------------------------------------------------------------------------
// 2. Huge documents and 3. deep nesting

fn huge_and_deep_documents_fail_cleanly(world: &World) {
    let corpus = Corpus::new(world);
    corpus.refuse_all(&[
        Case {
            what: "a 20 MB string in an unknown field",
            make: |d| {
                environment_text(
                    d,
                    "huge.json",
                    format!(
                        "{{\"name\": \"Huge\", \"padding\": \"{}\"}}\n",
                        "x".repeat(20 << 20)
                    ),
                )
            },
            says: &[
                "environments/huge.json",
                "$.padding",
                "unknown field `padding`",
            ],
        },
        Case {
            what: "a million-element array in an unknown field",
            make: |d| {
                let elements = vec!["{}"; 1_000_000].join(",");
                environment_text(
                    d,
                    "million.json",
                    format!("{{\"name\": \"Many\", \"extra\": [{elements}]}}\n"),
                );
            },
            says: &[
                "environments/million.json",
                "$.extra",
                "unknown field `extra`",
            ],
        },
        Case {
            what: "100,000 nested arrays as a field's value",
            make: |d| {
                let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
                environment_text(
                    d,
                    "deep.json",
                    format!("{{\"name\": \"Deep\", \"description\": {deep}}}\n"),
                );
            },
            says: &[
                "environments/deep.json",
                "not valid JSON: recursion limit exceeded at line 1",
            ],
        },
        Case {
            what: "100,000 nested objects in a process",
            make: |d| {
                let file = project_dir(d).join("deployment-process.json");
                let deep = format!("{}null{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
                let text = std::fs::read_to_string(&file).unwrap();
                let text = text.replacen('{', &format!("{{\"deep\": {deep},"), 1);
                std::fs::write(&file, text).unwrap();
            },
            says: &["deployment-process.json", "recursion limit"],
        },
        Case {
            what: "100,000 nested arrays in an unknown field of the manifest",
            make: |d| {
                let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
                let text = std::fs::read_to_string(d.join("manifest.json")).unwrap();
                let text = text.replacen('{', &format!("{{\"deep\": {deep},"), 1);
                std::fs::write(d.join("manifest.json"), text).unwrap();
            },
            says: &["manifest.json", "unknown field `deep`"],
        },
        Case {
            what: "100,000 nested arrays as the manifest's formatVersion",
            make: |d| {
                let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
                let text = std::fs::read_to_string(d.join("manifest.json")).unwrap();
                let text = text.replacen(
                    "\"formatVersion\": 1",
                    &format!("\"formatVersion\": {deep}"),
                    1,
                );
                std::fs::write(d.join("manifest.json"), text).unwrap();
            },
            says: &[
                "manifest.json",
                "not a Cuttle export manifest",
                "invalid type: sequence",
            ],
        },
    ]);
}

/// A huge value in a key field is not echoed back whole: the message names the document by its
/// key, and a 20 MB name once gave 20 MB of error message (a million-element array 2 MB of
/// `[0,0,0,…]`). Both are refused with status 1, change nothing, and say so briefly.
fn huge_values_are_not_echoed_back(world: &World) {
    let corpus = Corpus::new(world);
    corpus.refuse_all(&[
        Case {
            what: "a 20 MB name (the longest is 200 characters)",
            make: |d| {
                environment_as(d, "long-name.json", |e| {
                    e["name"] = json!("x".repeat(20 << 20))
                })
            },
            says: &["environments/long-name.json", "$.name", "200"],
        },
        Case {
            what: "a million-element array as a name",
            make: |d| {
                let elements = vec!["0"; 1_000_000].join(",");
                environment_text(d, "million.json", format!("{{\"name\": [{elements}]}}\n"));
            },
            says: &["environments/million.json", "$.name"],
        },
    ]);
}

// ---------------------------------------------------------------------------------------------
// 4. Duplicates across files and 5. names equal after Unicode normalisation

fn duplicates_across_files_are_refused(world: &World) {
    let corpus = Corpus::new(world);
    corpus.refuse_all(&[
        Case {
            what: "an environment copied under another name, then edited",
            make: |d| {
                environment_as(d, "zz-second.json", |e| {
                    e["description"] = json!("edited copy")
                })
            },
            says: &["environments/zz-second.json", "define the same document"],
        },
        Case {
            what: "a library variable set copied under another name",
            make: |d| {
                let set = first(d, "library-variable-sets");
                std::fs::copy(&set, d.join("library-variable-sets/zz-copy.json")).unwrap();
            },
            says: &[
                "library-variable-sets/zz-copy.json",
                "define the same document",
            ],
        },
        Case {
            what: "a channel copied under another name in its project's folder",
            make: |d| {
                let channels = project_dir(d).join("channels");
                let channel = json_files(&channels).into_iter().next().unwrap();
                std::fs::copy(&channel, channels.join("zz-copy.json")).unwrap();
            },
            says: &["channels/zz-copy.json", "define the same document"],
        },
        Case {
            what: "the same project defined in two project folders",
            make: |d| {
                let project = project_dir(d);
                let again = d.join("projects/zz-the-same-again");
                std::fs::create_dir_all(&again).unwrap();
                std::fs::copy(project.join("project.json"), again.join("project.json")).unwrap();
            },
            // A project's document stands in its own folder (SPEC 5.4).
            says: &[
                "projects/zz-the-same-again/project.json",
                "belongs in projects/con_upn4jnsevg/, not in projects/zz-the-same-again/",
            ],
        },
    ]);
    // Both files are named.
    let message = corpus.refused(
        "an environment copied (both files named)",
        |d| {
            std::fs::copy(
                first(d, "environments"),
                d.join("environments/zz-copy.json"),
            )
            .map(drop)
            .unwrap()
        },
        &["environments/zz-copy.json"],
    );
    let original = first(corpus.good.path(), "environments");
    let original = original.file_name().unwrap().to_string_lossy();
    assert!(message.contains(&*original), "{message}");
}

/// SPEC 5.4 and the importer's matching: names are compared in NFC, so "Café" written composed
/// and decomposed, in two files of their own names, are one document defined twice.
fn names_equal_after_normalisation_are_one_document(world: &World) {
    let corpus = Corpus::new(world);
    let message = corpus.refused(
        "NFC and NFD forms of one name in two files",
        |d| {
            environment_as(d, "caf\u{e9}.json", |e| e["name"] = json!("Caf\u{e9}"));
            environment_as(d, "cafe\u{301}.json", |e| e["name"] = json!("Cafe\u{301}"));
        },
        &["define the same document", "environments"],
    );
    assert!(
        message.contains("caf\u{e9}.json") && message.contains("cafe\u{301}.json"),
        "{message}"
    );
    // The same for a project: whichever form it is named in, it has one folder (its name's), and a
    // project's document stands in it.
    corpus.refused(
        "a project named in NFC and in NFD",
        |d| {
            let project = project_dir(d);
            for (folder, name) in [("zz-nfc", "Caf\u{e9} app"), ("zz-nfd", "Cafe\u{301} app")] {
                let mut value = read_json(&project.join("project.json"));
                value["name"] = json!(name);
                write_json(
                    &d.join("projects").join(folder).join("project.json"),
                    &value,
                );
            }
        },
        &[
            "zz-nfc/project.json",
            "the project \"Café app\" belongs in projects/caf-app_",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Wrong types and 7. unknown fields

fn wrong_types_name_the_field(world: &World) {
    let corpus = Corpus::new(world);
    corpus.refuse_all(&[
        Case {
            what: "a number for a name",
            make: |d| environment_as(d, "typed.json", |e| e["name"] = json!(42)),
            says: &[
                "environments/typed.json",
                "$.name",
                "invalid type: integer `42`, expected a string",
            ],
        },
        Case {
            what: "a boolean for a name (a key field)",
            make: |d| environment_as(d, "typed.json", |e| e["name"] = json!(true)),
            says: &[
                "environments/typed.json",
                "$.name",
                "a natural key part is text or a number",
            ],
        },
        Case {
            what: "null for a name",
            make: |d| environment_as(d, "typed.json", |e| e["name"] = Value::Null),
            says: &[
                "environments/typed.json",
                "$.name",
                "invalid type: null, expected a string",
            ],
        },
        Case {
            what: "no name at all",
            make: |d| {
                environment_as(d, "typed.json", |e| {
                    e.as_object_mut().unwrap().remove("name");
                })
            },
            says: &["environments/typed.json", "missing field `name`"],
        },
        Case {
            what: "a document that is an array",
            make: |d| environment_text(d, "typed.json", "[{\"name\": \"Listed\"}]\n"),
            says: &["environments/typed.json"],
        },
        Case {
            what: "an object where the steps array is",
            make: |d| {
                edit_json(&project_dir(d).join("deployment-process.json"), |p| {
                    p["steps"] = json!({"name": "Not a list"})
                })
            },
            says: &["deployment-process.json", "$.steps", "expected a sequence"],
        },
        Case {
            what: "a string where a step's actions are",
            make: |d| {
                edit_json(&project_dir(d).join("deployment-process.json"), |p| {
                    p["steps"][0]["actions"] = json!("Run")
                })
            },
            says: &[
                "deployment-process.json",
                "$.steps[0].actions",
                "expected a sequence",
            ],
        },
        Case {
            what: "a number for a project-owned document's project",
            make: |d| {
                edit_json(&project_dir(d).join("deployment-process.json"), |p| {
                    p["project"] = json!(7)
                })
            },
            says: &["deployment-process.json", "$.project", "names its project"],
        },
        Case {
            what: "a number for a variable's name",
            make: |d| edit_json(&variables_file(d), |v| v["variables"][0]["name"] = json!(1)),
            says: &["variables.json", "$.variables[0].name", "expected a string"],
        },
    ]);
}

fn unknown_fields_are_refused_at_every_level(world: &World) {
    let corpus = Corpus::new(world);
    corpus.refuse_all(&[
        Case {
            what: "an unknown field in a step",
            make: |d| {
                edit_json(&project_dir(d).join("deployment-process.json"), |p| {
                    p["steps"][0]["colour"] = json!("red")
                })
            },
            says: &[
                "deployment-process.json",
                "$.steps[0].colour",
                "unknown field",
            ],
        },
        Case {
            what: "an unknown field in an action",
            make: |d| {
                edit_json(&project_dir(d).join("deployment-process.json"), |p| {
                    p["steps"][0]["actions"][0]["colour"] = json!("red")
                })
            },
            says: &[
                "deployment-process.json",
                "$.steps[0].actions[0].colour",
                "unknown field",
            ],
        },
        Case {
            what: "an unknown field in a variable",
            make: |d| {
                edit_json(&variables_file(d), |v| {
                    v["variables"][0]["colour"] = json!("red")
                })
            },
            says: &["variables.json", "$.variables[0].colour", "unknown field"],
        },
        Case {
            what: "an unknown field in a variable's scope",
            make: |d| {
                edit_json(&variables_file(d), |v| {
                    v["variables"][0]["scope"]["colour"] = json!("red")
                })
            },
            says: &[
                "variables.json",
                "$.variables[0].scope.colour",
                "unknown field",
            ],
        },
        Case {
            what: "an unknown field in a sealed value",
            make: |d| {
                let file = first(d, "library-variable-sets");
                let text = std::fs::read_to_string(&file).unwrap();
                assert!(text.contains("\"encrypted\": \""), "{text}");
                let text = text.replacen(
                    "\"encrypted\": \"",
                    "\"colour\": \"red\", \"encrypted\": \"",
                    1,
                );
                std::fs::write(&file, text).unwrap();
            },
            // Refused at the value's path, saying which member is unknown (issue 11, item 13:
            // once "data did not match any variant of untagged enum PropertyValue").
            says: &[
                "library-variable-sets/",
                "at $.variables[",
                "].value",
                "unknown member \"colour\"",
            ],
        },
    ]);
    // What the format does not own is left alone (SPEC 5.9), as an export leaves it untouched,
    // and whatever of it looks like a document is said (issue 11, item 6).
    corpus.harmless(
        "a file that is not a document, at the root and in a collection folder",
        |d| {
            std::fs::write(d.join("README.md"), "# Our export\n").unwrap();
            std::fs::write(d.join("environments/notes.txt"), "not a document\n").unwrap();
            std::fs::write(d.join("environments/prod.json~"), "{ an editor's backup").unwrap();
        },
    );
    corpus.noticed(
        "an unknown collection folder and a JSON file at the root",
        |d| {
            write_json(&d.join("widgets/one.json"), &json!({"name": "Widget"}));
            write_json(&d.join("notes.json"), &json!({"colour": "red"}));
        },
        &["2 files that look like documents stand outside the format's folders and are not read: notes.json, widgets/one.json"],
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Manifests from the future, and otherwise odd

fn format_version(d: &Path, version: Value) {
    edit_json(&d.join("manifest.json"), |m| m["formatVersion"] = version)
}

fn odd_manifests_are_refused(world: &World) {
    let corpus = Corpus::new(world);
    corpus.refuse_all(&[
        Case {
            what: "formatVersion 2^32",
            make: |d| format_version(d, json!(4_294_967_296u64)),
            says: &[
                "manifest.json",
                "not a Cuttle export manifest",
                "4294967296",
            ],
        },
        Case {
            what: "formatVersion 1e30",
            make: |d| format_version(d, json!(1e30)),
            says: &["manifest.json", "not a Cuttle export manifest", "1e+30"],
        },
        Case {
            what: "formatVersion 1.0",
            make: |d| format_version(d, json!(1.0)),
            says: &["manifest.json", "not a Cuttle export manifest", "1.0"],
        },
        Case {
            what: "formatVersion \"2\"",
            make: |d| format_version(d, json!("2")),
            says: &["manifest.json", "invalid type: string \"2\""],
        },
        Case {
            what: "formatVersion -1",
            make: |d| format_version(d, json!(-1)),
            says: &["manifest.json", "invalid value: integer `-1`"],
        },
        Case {
            what: "formatVersion 0",
            make: |d| format_version(d, json!(0)),
            says: &["format version 0 is not a Cuttle export format"],
        },
        Case {
            what: "formatVersion null",
            make: |d| format_version(d, Value::Null),
            says: &["manifest.json", "invalid type: null"],
        },
    ]);
    corpus.refuse_all(&[
        Case {
            what: "no formatVersion",
            make: |d| {
                edit_json(&d.join("manifest.json"), |m| {
                    m.as_object_mut().unwrap().remove("formatVersion");
                })
            },
            says: &["manifest.json", "missing field `formatVersion`"],
        },
        Case {
            what: "a manifest that is an array",
            make: |d| {
                let manifest = read_json(&d.join("manifest.json"));
                write_json(&d.join("manifest.json"), &json!([manifest]));
            },
            says: &["manifest.json", "not a Cuttle export manifest"],
        },
        Case {
            what: "an unknown field in a manifest of format version 1",
            make: |d| edit_json(&d.join("manifest.json"), |m| m["colour"] = json!("red")),
            says: &[
                "manifest.json",
                "of format version 1",
                "unknown field `colour`",
            ],
        },
        Case {
            what: "an empty manifest",
            make: |d| std::fs::write(d.join("manifest.json"), "").unwrap(),
            says: &["manifest.json", "not a Cuttle export manifest", "EOF"],
        },
        Case {
            what: "a folder for a manifest",
            make: |d| {
                std::fs::remove_file(d.join("manifest.json")).unwrap();
                std::fs::create_dir(d.join("manifest.json")).unwrap();
            },
            says: &["manifest.json", "not a regular file"],
        },
    ]);
}

// ---------------------------------------------------------------------------------------------
// 9. Broken encodings and odd file names

fn broken_files_and_odd_names(world: &World) {
    let corpus = Corpus::new(world);
    // Identity comes from the content, never from the name (SPEC 5.4): a new document in a file
    // whose name holds a line break is one more document in the plan, nothing else.
    let dir = corpus
        .hostile(|d| environment_as(d, "line\nbreak.json", |e| e["name"] = json!("Oddly filed")));
    let plan = corpus.plan(&dir.path());
    let good = corpus.plan(corpus.good.path());
    let added: Vec<&str> = plan
        .lines()
        .filter(|l| l.contains("\"type\":\"document\"") && !good.contains(l))
        .collect();
    assert_eq!(added.len(), 1, "{added:?}");
    assert!(added[0].contains("\"key\":\"Oddly filed\""), "{added:?}");
    corpus.refuse_all(&[
        Case {
            what: "an empty document file",
            make: |d| environment_text(d, "empty.json", ""),
            says: &[
                "environments/empty.json",
                "not valid JSON: EOF while parsing",
            ],
        },
        Case {
            what: "a document that is not UTF-8",
            make: |d| environment_text(d, "latin1.json", b"{\"name\": \"Caf\xe9\"}\n"),
            says: &["environments/latin1.json", "did not contain valid UTF-8"],
        },
        Case {
            what: "a document file with a byte order mark",
            make: |d| environment_text(d, "bom.json", "\u{feff}{\"name\": \"With a BOM\"}\n"),
            // Refused, though the message does not say "byte order mark".
            says: &["environments/bom.json", "not valid JSON", "line 1 column 1"],
        },
        Case {
            what: "a document of only `null`",
            make: |d| environment_text(d, "null.json", "null\n"),
            says: &["environments/null.json", "at $: invalid type: null"],
        },
        Case {
            what: "two documents in one file",
            make: |d| environment_text(d, "two.json", "{\"name\": \"A\"}\n{\"name\": \"B\"}\n"),
            says: &["environments/two.json", "trailing characters"],
        },
        Case {
            what: "a file name with a line break",
            make: |d| environment_as(d, "line\nbreak.json", |e| e["description"] = json!("copy")),
            says: &[
                "environments/line\\u{000a}break.json",
                "define the same document",
            ],
        },
        Case {
            what: "a file name of dots",
            make: |d| environment_as(d, "...json", |e| e["description"] = json!("dots")),
            says: &["environments/...json", "define the same document"],
        },
        Case {
            what: "a file name with an escape character",
            make: |d| environment_as(d, "esc\u{1b}[2J.json", |e| e["description"] = json!("copy")),
            says: &[
                "environments/esc\\u{001b}[2J.json",
                "define the same document",
            ],
        },
        Case {
            what: "a script named with `..` to climb out of its folder",
            make: |d| {
                edit_json(&project_dir(d).join("deployment-process.json"), |p| {
                    *extracted_script(p) = json!("../../../manifest.json")
                })
            },
            says: &["deployment-process.json", ".script.file", "bare file name"],
        },
        Case {
            what: "a script named that is not there",
            make: |d| {
                edit_json(&project_dir(d).join("deployment-process.json"), |p| {
                    *extracted_script(p) = json!("missing.ps1")
                })
            },
            says: &["scripts/missing.ps1", "No such file"],
        },
        Case {
            what: "a task log without its deployment",
            make: |d| {
                let release = std::fs::read_dir(project_dir(d).join("releases"))
                    .expect("the sample has releases")
                    .map(|e| e.unwrap().path())
                    .filter(|p| p.is_dir())
                    .min()
                    .unwrap();
                let logs = release.join("task-logs");
                std::fs::create_dir_all(&logs).unwrap();
                std::fs::write(logs.join("nobody-1.log"), "a log of nothing\n").unwrap();
            },
            says: &["task-logs/nobody-1.log", "deployment file"],
        },
    ]);
}

/// Names that would look like others are refused (issue 11, item 12): a bidirectional override,
/// a zero-width space, a soft hyphen, a no-break space inside; and a file name holding a C1
/// control or a direction override is shown escaped.
fn names_that_look_like_others_are_refused(world: &World) {
    let corpus = Corpus::new(world);
    let says = &["a name cannot contain characters that draw nothing"][..];
    for (what, name) in [
        ("a bidirectional override", "Produ\u{202e}tion"),
        ("a zero-width space", "Prod\u{200b}"),
        ("a soft hyphen", "Pro\u{ad}duction"),
        ("a no-break space", "Prod\u{a0}EU"),
        ("a Hangul filler", "Prod\u{3164}"),
    ] {
        let refused = corpus.refused(
            what,
            |d| environment_as(d, "odd.json", |e| e["name"] = json!(name)),
            says,
        );
        assert!(refused.contains("environments \"Pro"), "{refused}");
    }
    for (what, file) in [
        ("a C1 control", "csi\u{9b}2J.json"),
        ("a direction override", "prod\u{202e}nosj.json"),
    ] {
        corpus.refused(
            what,
            |d| environment_as(d, file, |e| e["description"] = json!("a copy")),
            &["define the same document", "\\u{"],
        );
    }
    let out = world
        .put("dst", "environments", &json!({"name": "Te\u{202e}st"}))
        .failure();
    assert!(stderr(&out).contains(says[0]), "{}", stderr(&out));
}

/// A document stands where its content puts it (issue 11, item 3): a project renamed in its
/// `project.json` only, its other files still naming the old project, was imported as a new,
/// empty project; now it is one clear error, naming the file and what to do. The same for a
/// project's part copied from another project and a deployment copied from another release.
fn documents_stand_where_their_content_puts_them(world: &World) {
    let corpus = Corpus::new(world);
    let message = corpus.refused(
        "a project renamed in its project.json only",
        |d| {
            edit_json(&project_dir(d).join("project.json"), |p| {
                p["name"] = json!("Renamed")
            })
        },
        &[
            "project.json",
            "$.name: the project \"Renamed\" belongs in projects/renamed_",
            "to rename a project",
        ],
    );
    assert_eq!(
        message.matches("belongs in").count(),
        1,
        "said once: {message}"
    );
    corpus.refuse_all(&[
        Case {
            what: "a project renamed everywhere but its folder",
            make: |d| {
                for file in common::files_under(&project_dir(d)) {
                    if file.extension().is_some_and(|e| e == "json") {
                        edit_json(&file, |v| {
                            let field = if file.ends_with("project.json") {
                                "name"
                            } else {
                                "project"
                            };
                            v[field] = json!("Renamed");
                        });
                    }
                }
            },
            says: &["belongs in projects/renamed_", "not in projects/"],
        },
        Case {
            what: "a deployment copied into another release's folder",
            make: |d| {
                let mut releases: Vec<PathBuf> = common::files_under(d)
                    .into_iter()
                    .filter(|f| f.parent().is_some_and(|p| p.ends_with("deployments")))
                    .collect();
                releases.sort();
                let deployment = &releases[0];
                let other = releases
                    .iter()
                    .find(|f| {
                        f.parent() != deployment.parent()
                            && f.parent().unwrap().parent().unwrap().parent()
                                == deployment.parent().unwrap().parent().unwrap().parent()
                    })
                    .expect("two releases with deployments in one project");
                let target = other.parent().unwrap().join("zz-copied-99.json");
                std::fs::copy(deployment, target).unwrap();
            },
            says: &[
                "zz-copied-99.json",
                "$.release: a deployment of the release",
                "belongs in releases/",
            ],
        },
    ]);
}

/// Nothing that looks like a document is left out unseen (issue 11, item 6): inside the
/// format's folders, a document where the format puts none (a project folder nested one level
/// too deep, a folder named like a format folder but for its case) is refused; outside them, a
/// copy of an export in a folder of its own, or an extracted script no document names, is said
/// in the plan.
fn nothing_that_looks_like_a_document_is_left_out_unseen(world: &World) {
    let corpus = Corpus::new(world);
    corpus.refuse_all(&[
        Case {
            what: "a project folder nested one level too deep",
            make: |d| {
                let project = project_dir(d);
                let nested = d.join("projects/group").join(project.file_name().unwrap());
                std::fs::create_dir_all(nested.parent().unwrap()).unwrap();
                std::fs::rename(&project, &nested).unwrap();
            },
            says: &[
                "projects/group/",
                "project.json",
                "looks like a document but stands where the format puts none",
                "projects/<project>/project.json",
            ],
        },
        Case {
            what: "a collection folder named in another case",
            make: |d| std::fs::rename(d.join("teams"), d.join("Teams")).unwrap(),
            says: &["Teams: is named like the format's folder teams/ but for its case"],
        },
        Case {
            what: "a project's folder named in another case",
            make: |d| {
                let project = project_dir(d);
                std::fs::rename(project.join("channels"), project.join("Channels")).unwrap()
            },
            says: &["/Channels: is named like the format's folder", "/channels/"],
        },
        Case {
            what: "a document in a folder inside a collection folder",
            make: |d| {
                write_json(
                    &d.join("environments/old/prod.json"),
                    &json!({"name": "Old"}),
                )
            },
            says: &["environments/old/prod.json", "looks like a document"],
        },
        Case {
            what: "a document whose extension is in capitals",
            make: |d| environment_as(d, "LOUD.JSON", |e| e["name"] = json!("Loud")),
            says: &["environments/LOUD.JSON", "looks like a document"],
        },
        Case {
            what: "an unknown folder in a project",
            make: |d| {
                write_json(
                    &project_dir(d).join("widgets/one.json"),
                    &json!({"name": "W"}),
                )
            },
            says: &["widgets/one.json", "looks like a document"],
        },
    ]);
    corpus.noticed(
        "an export copied into a folder of its own",
        |d| copy_tree(d, &d.join("old-export")),
        &["old-export holds an export of its own (manifest.json), which is not read"],
    );
    corpus.noticed(
        "an extracted script that no document names",
        |d| std::fs::write(project_dir(d).join("scripts/forgotten.sh"), "echo hi\n").unwrap(),
        &[
            "1 script file in the format's script folders is named by no document, and is not read",
            "scripts/forgotten.sh",
        ],
    );
}

/// A name of 100,000 characters given where a name is expected is refused without being echoed
/// whole (issue 11, item 13), by every command that looks a name up.
fn a_long_name_is_never_echoed_whole(world: &World) {
    world.create_sampled("dst");
    let long = "k".repeat(100_000);
    let key = format!("{long} / Production /  / 1");
    let commands: [&[&str]; 7] = [
        &["doc", "get", "environments", &long, "--instance", "dst"],
        &["doc", "delete", "environments", &long, "--instance", "dst"],
        &[
            "doc",
            "get",
            "channels",
            "Default",
            "--project",
            &long,
            "--instance",
            "dst",
        ],
        &[
            "doc",
            "list",
            "channels",
            "--project",
            &long,
            "--instance",
            "dst",
        ],
        &[
            "doc",
            "get",
            "deployments",
            &key,
            "--project",
            "Web Storefront",
            "--instance",
            "dst",
        ],
        &[
            "partial-export",
            "--instance",
            "dst",
            "--directory",
            "never",
            "--project",
            &long,
        ],
        &["instance", "show", &long],
    ];
    for args in commands {
        let out = world
            .cuttle()
            .env("CUTTLE_PASSWORD", common::PASSWORD)
            .args(args)
            .assert()
            .failure();
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            all.len() < 2000 && all.contains("characters in all"),
            "{:?}: {} bytes: {}",
            &args[..2],
            all.len(),
            &all[..all.floor_char_boundary(400)]
        );
    }
}

/// Malformed input is called what it is (issue 11, item 13): a lone UTF-16 surrogate in a name
/// is not "the end of a hex escape", a malformed sensitive property not "no variant matched".
fn malformed_values_are_called_what_they_are(world: &World) {
    let corpus = Corpus::new(world);
    corpus.refuse_all(&[
        Case {
            what: "a lone surrogate in a name",
            make: |d| environment_text(d, "lone.json", "{\"name\": \"Prod\\ud800\"}\n"),
            says: &[
                "environments/lone.json",
                "one half of a UTF-16 surrogate pair",
                "line 1",
            ],
        },
        Case {
            what: "a sensitive property whose secret is a number",
            make: |d| {
                edit_json(&project_dir(d).join("deployment-process.json"), |p| {
                    p["steps"][0]["actions"][0]["properties"]["Odd"] = json!({"secret": 5})
                })
            },
            says: &["deployment-process.json", "\"secret\" must hold a string"],
        },
        Case {
            what: "a property that is a number",
            make: |d| {
                edit_json(&project_dir(d).join("deployment-process.json"), |p| {
                    p["steps"][0]["actions"][0]["properties"]["Odd"] = json!(5)
                })
            },
            says: &[
                "deployment-process.json",
                "expected text, or a sensitive value",
            ],
        },
    ]);
}

/// A document file that holds a JSON array is refused. Serde reads a struct from the sequence of
/// its fields' values, and such a file once imported as an environment under the key "" whose
/// body was named "Seq env".
fn a_document_that_is_an_array_is_refused(world: &World) {
    let corpus = Corpus::new(world);
    corpus.refuse_all(&[
        Case {
            what: "an environment as an array of its fields",
            make: |d| environment_text(d, "seq.json", "[\"Seq env\", \"d\", 9, false, true]\n"),
            says: &["environments/seq.json"],
        },
        Case {
            what: "an environment as an array of its name",
            make: |d| environment_text(d, "seq.json", "[\"Seq env\"]\n"),
            says: &["environments/seq.json"],
        },
    ]);
}

/// A document file whose name is not UTF-8 is imported or refused, never dropped unseen (SPEC 5.4:
/// identity comes from a file's content, not its name); it was once taken for a foreign file.
fn a_file_whose_name_is_not_utf8_is_not_dropped(world: &World) {
    #[cfg(unix)]
    use std::os::unix::ffi::OsStrExt;
    let corpus = Corpus::new(world);
    let dir = corpus.hostile(|d| {
        let mut value = read_json(&first(d, "environments"));
        value["name"] = json!("Named in Latin-1");
        #[cfg(unix)]
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9.json");
        #[cfg(not(unix))]
        let name = "caf\u{e9}.json";
        write_json(&d.join("environments").join(name), &value);
    });
    let out = world.import("dst", &[&dir.path()], &["--dry-run", "--format", "json"]);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    if out.get_output().status.success() {
        assert!(
            all.contains("Named in Latin-1"),
            "left out unseen:\n{}",
            stderr(&out)
        );
    } else {
        assert!(all.contains("environments/caf"), "{all}");
    }
}

// ---------------------------------------------------------------------------------------------
// 10. A member written twice in one object (issue 11, item 5)

/// `text` with its first `from` replaced by `to` (which must be there).
fn replace_once(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{from} in {}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

/// The first ciphertext in a file, as it is written there.
fn first_ciphertext(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let at = text.find("\"encrypted\": \"").expect("a ciphertext") + 14;
    let end = at + text[at..].find('"').unwrap();
    text[at..end].to_owned()
}

/// A reviewer and the importer must never read different values from one file: an object that
/// holds a member twice is refused with its position, wherever it stands, whether the importer
/// reads the document whole or only its identifying fields, and through `doc put` too.
fn repeated_members_are_refused(world: &World) {
    let corpus = Corpus::new(world);
    corpus.refuse_all(&[
        Case {
            what: "a name given twice",
            make: |d| environment_text(d, "twice.json", "{\"name\": \"A\",\n \"name\": \"B\"}\n"),
            says: &[
                "environments/twice.json",
                "the member \"name\" appears twice",
                "line 2",
            ],
        },
        Case {
            what: "a field given twice beside the key",
            make: |d| {
                environment_text(
                    d,
                    "twice.json",
                    "{\"name\": \"Twice\", \"sortOrder\": 1, \"sortOrder\": 2}\n",
                )
            },
            says: &["environments/twice.json", "\"sortOrder\" appears twice"],
        },
        Case {
            what: "an action property given twice",
            make: |d| {
                replace_once(
                    &project_dir(d).join("deployment-process.json"),
                    "\"properties\": {",
                    "\"properties\": {\"Twice\": \"a\", \"Twice\": \"b\",",
                )
            },
            says: &["deployment-process.json", "\"Twice\" appears twice"],
        },
        Case {
            what: "a ciphertext given twice",
            make: |d| {
                let file = variables_file(d);
                let text = first_ciphertext(&file);
                replace_once(
                    &file,
                    &format!("\"encrypted\": \"{text}\""),
                    &format!("\"encrypted\": \"{text}\", \"encrypted\": \"{text}\""),
                )
            },
            says: &["variables.json", "\"encrypted\" appears twice"],
        },
        Case {
            what: "a member given twice deep in a team",
            make: |d| {
                let file = first(d, "teams");
                replace_once(
                    &file,
                    "\"userRole\": ",
                    "\"userRole\": \"Nobody\", \"userRole\": ",
                )
            },
            says: &["teams/", "\"userRole\" appears twice"],
        },
    ]);
    let out = world
        .cuttle()
        .args([
            "doc",
            "put",
            "environments",
            "--instance",
            "dst",
            "--file",
            "-",
        ])
        .write_stdin("{\"name\": \"Once\", \"name\": \"Twice\"}")
        .assert()
        .failure();
    assert!(
        stderr(&out).contains("the member \"name\" appears twice in this object"),
        "{}",
        stderr(&out)
    );
    assert_eq!(world.records("dst"), corpus.before);
}

// ---------------------------------------------------------------------------------------------

both_backends!(
    links_out_of_the_tree_are_refused,
    huge_and_deep_documents_fail_cleanly,
    duplicates_across_files_are_refused,
    names_equal_after_normalisation_are_one_document,
    wrong_types_name_the_field,
    unknown_fields_are_refused_at_every_level,
    odd_manifests_are_refused,
    broken_files_and_odd_names,
    linked_folders_are_refused,
    huge_values_are_not_echoed_back,
    a_document_that_is_an_array_is_refused,
    a_file_whose_name_is_not_utf8_is_not_dropped,
    repeated_members_are_refused,
    names_that_look_like_others_are_refused,
    documents_stand_where_their_content_puts_them,
    nothing_that_looks_like_a_document_is_left_out_unseen,
    a_long_name_is_never_echoed_whole,
    malformed_values_are_called_what_they_are,
);
