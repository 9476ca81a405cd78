#!/usr/bin/env bash
# One very large document (issue 11, item 10): what it costs, in memory and time, to import, to
# overwrite and to export a project whose variables.json holds VARIABLES variables. Not a test: it
# prints figures, each peak memory also as a multiple of the document's file size.
#
#   scripts/bench-document.sh                  # 200,000 variables (a 49 MB variables.json), on SQLite
#   VARIABLES=50000 scripts/bench-document.sh
#   SENSITIVE_EVERY=10 scripts/bench-document.sh   # every tenth variable sensitive
#
# Measured with /usr/bin/time (wall seconds, peak RSS), one run each, into a fresh CUTTLE_HOME in
# BENCH_TMPDIR (default: the system's temporary directory, the real disk here):
#   import-empty        cuttle import of the export into an empty instance
#   overwrite-same      cuttle import --overwrite of the same export into that instance (all unchanged)
#   overwrite-half      the same after every second variable's value changed (100,000 changes;
#                       a sensitive one becomes {"masked": true}: it keeps the stored value)
#   dry-run-half        the same, --dry-run (the text plan printed, to /dev/null)
#   keep-secrets        the same again with --keep-destination-secrets
#   export              cuttle export of the instance holding the document
#   backup-import       cuttle import --backup of that instance's backup into an empty instance
set -euo pipefail
cd "$(dirname "$0")/.."

variables=${VARIABLES:-200000}
sensitive_every=${SENSITIVE_EVERY:-0}
cargo build --release --locked -q -p cuttle-cli
cuttle=$PWD/target/release/cuttle
work=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/cuttle-bench-document.XXXXXX")
trap 'rm -rf "$work"' EXIT
export CUTTLE_HOME=$work/home CUTTLE_PASSWORD=bench-document-password

"$cuttle" instance create src >/dev/null 2>&1
"$cuttle" instance create dst >/dev/null 2>&1
echo '{"name":"Test"}' | "$cuttle" doc put environments --instance src --file - >/dev/null 2>&1
echo '{"name":"Default","phases":[]}' | "$cuttle" doc put lifecycles --instance src --file - >/dev/null 2>&1
echo '{"name":"Apps"}' | "$cuttle" doc put project-groups --instance src --file - >/dev/null 2>&1
echo '{"name":"Web","projectGroup":"Apps","lifecycle":"Default"}' | "$cuttle" doc put projects --instance src --file - >/dev/null 2>&1
"$cuttle" export --instance src --directory "$work/export" 2>/dev/null
file=$(echo "$work"/export/projects/*/)variables.json
python3 - "$file" "$variables" "$sensitive_every" <<'EOF'
import json, sys
path, n, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def variable(i):
    sensitive = every > 0 and i % every == 0
    return {"name": "Var.%07d" % i,
            "value": {"secret": "secret number %d with some padding" % i} if sensitive
                     else "value number %d with some padding text here" % i,
            "type": "Sensitive" if sensitive else "String", "description": "", "prompt": None,
            "scope": {"environments": ["Test"] if i % 2 else []}}
json.dump({"project": "Web", "variables": [variable(i) for i in range(n)]}, open(path, "w"), indent=2)
EOF
size=$(stat -c %s "$file")

awk -v n="$variables" -v size="$size" -v at="$work" \
    'BEGIN { printf "one variables.json of %d variables, %.1f MB, on SQLite in %s\n", n, size / 1e6, at }'
run() {
    local name=$1
    shift
    /usr/bin/time -f "%e %M" -o "$work/$name.time" "$@" >/dev/null 2>"$work/$name.err" ||
        { echo "$name failed:" >&2; cat "$work/$name.err" >&2; exit 1; }
    read -r seconds kib <"$work/$name.time"
    awk -v name="$name" -v s="$seconds" -v kb="$kib" -v size="$size" \
        'BEGIN { printf "  %-16s %7.2f s  %7.0f MiB  %5.1f x the file\n", name, s, kb / 1024, kb * 1024 / size }'
}
run import-empty "$cuttle" import --instance dst --directory "$work/export" --quiet
run overwrite-same "$cuttle" import --instance dst --directory "$work/export" --quiet --overwrite
python3 - "$file" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
for v in doc["variables"][::2]:
    if v["type"] == "String":
        v["value"] += " (changed)"
    else:
        v["value"] = {"masked": True}
json.dump(doc, open(sys.argv[1], "w"), indent=2)
EOF
run dry-run-half "$cuttle" import --instance dst --directory "$work/export" --overwrite --dry-run
run overwrite-half "$cuttle" import --instance dst --directory "$work/export" --quiet --overwrite
run keep-secrets "$cuttle" import --instance dst --directory "$work/export" --quiet --overwrite \
    --keep-destination-secrets
run export "$cuttle" export --instance dst --directory "$work/export-again"
"$cuttle" instance backup dst --file "$work/dst.backup" >/dev/null 2>&1
"$cuttle" instance master-key dst >"$work/dst.key"
"$cuttle" instance create restored >/dev/null 2>&1
run backup-import "$cuttle" import --instance restored --backup "$work/dst.backup" \
    --master-key-file "$work/dst.key" --quiet
