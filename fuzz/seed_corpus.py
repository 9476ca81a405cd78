#!/usr/bin/env python3
"""Seeds fuzz/corpus/import_reader/ from the committed export fixture.

Each seed is a small export directory in the encoding of `cuttle_engine::fuzzing` (entries
separated by NUL, each `path LF content`): the fixture's manifest plus one document (with what
it needs beside it: a step template's or a process's scripts, a deployment's task log), a few
documents of each collection, and a handful of hand-made hostile cases. Deterministic: run it
again and the same files come out. Usage: python3 fuzz/seed_corpus.py (from anywhere).
"""
import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "crates", "cuttle-cli", "tests", "fixtures", "export-v1", "small-seed-1")
OUT = os.path.join(HERE, "corpus", "import_reader")
PER_KIND = 4          # documents of each collection kind
MAX_SEED = 24 * 1024  # bytes per seed


def read(rel):
    with open(os.path.join(FIXTURE, rel), "rb") as f:
        return f.read()


def encode(entries):
    return b"\0".join(p.encode() + b"\n" + c for p, c in entries)


def files_under(rel):
    base = os.path.join(FIXTURE, rel)
    if not os.path.isdir(base):
        return []
    return sorted(os.path.join(rel, f) for f in os.listdir(base) if os.path.isfile(os.path.join(base, f)))


def kind_of(rel):
    parts = rel.split("/")
    if parts[0] != "projects":
        return parts[0]
    if len(parts) == 3:
        return parts[2]
    if len(parts) == 4:
        return parts[2]
    return "releases/" + parts[4]


def main():
    manifest = read("manifest.json")
    all_files = []
    for dirpath, _, names in os.walk(FIXTURE):
        for n in names:
            all_files.append(os.path.relpath(os.path.join(dirpath, n), FIXTURE))
    all_files.sort()
    seeds = {}

    def add(name, entries):
        data = encode(entries)
        if len(data) <= MAX_SEED:
            seeds[name] = data

    counts = {}
    for rel in all_files:
        if rel == "manifest.json" or rel.endswith((".log", ".sh", ".ps1", ".py", ".bash")) or "/scripts/" in rel or ".scripts/" in rel:
            continue
        kind = kind_of(rel)
        if counts.get(kind, 0) >= PER_KIND:
            continue
        entries = [("manifest.json", manifest), (rel, read(rel))]
        parts = rel.split("/")
        if parts[0] == "step-templates":
            entries += [(f, read(f)) for f in files_under(rel[: -len(".json")] + ".scripts")]
        if parts[0] == "projects" and parts[-1] == "deployment-process.json":
            entries += [(f, read(f)) for f in files_under("/".join(parts[:2] + ["scripts"]))]
        if kind == "releases/deployments":
            log = "/".join(parts[:5] + ["task-logs", parts[-1][: -len(".json")] + ".log"])
            if os.path.exists(os.path.join(FIXTURE, log)):
                entries.append((log, read(log)))
        before = len(seeds)
        add("seed-" + rel.replace("/", "--"), entries)
        if len(seeds) > before:
            counts[kind] = counts.get(kind, 0) + 1

    # One whole small unit: a project with its process, scripts, channels, a release, a deployment.
    project = "projects/order-service_w5xthesvxa"
    unit = [("manifest.json", manifest)]
    for rel in all_files:
        if rel.startswith(project + "/") and "/releases/" not in rel and not rel.endswith("variables.json"):
            unit.append((rel, read(rel)))
    add("seed-unit-order-service", unit)

    # Hostile, by hand.
    add("hostile-no-manifest", [("teams/a.json", b'{"name":"a"}\n')])
    add("hostile-manifest-not-json", [("manifest.json", b"{\"formatVersion\": 1,")])
    add("hostile-manifest-dir", [("manifest.json/x", b"")])
    seeds["hostile-manifest-symlink"] = b"@manifest.json\n/etc/hostname"
    seeds["hostile-doc-symlink"] = encode([("manifest.json", manifest)]) + b"\0@teams/a.json\n/dev/zero"
    seeds["hostile-dir-symlink"] = encode([("manifest.json", manifest)]) + b"\0@projects/p_x\n/"
    add("hostile-wrong-project-folder", [("manifest.json", manifest), ("projects/elsewhere/channels/c.json", b'{"project":"Order Service","name":"c"}\n')])
    add("hostile-script-escape", [("manifest.json", manifest), ("step-templates/t.json", b'{"name":"t","scripts":{"syntax":"bash","file":"../../manifest.json"}}\n')])
    add("hostile-orphan-log", [("manifest.json", manifest), ("projects/p/releases/1/task-logs/x-1.log", b"log\n")])
    add("hostile-deep-json", [("manifest.json", manifest), ("teams/a.json", b"[" * 5000 + b"]" * 5000)])
    add("hostile-not-utf8", [("manifest.json", manifest), ("teams/a.json", b'{"name":"\xff\xfe"}')])

    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        if old.startswith(("seed-", "hostile-")):
            os.remove(os.path.join(OUT, old))
    for name, data in sorted(seeds.items()):
        safe = name.replace(" ", "_")[:120]
        with open(os.path.join(OUT, safe), "wb") as f:
            f.write(data)
    total = sum(len(d) for d in seeds.values())
    print(f"{len(seeds)} seeds, {total} bytes in {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
