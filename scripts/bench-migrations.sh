#!/usr/bin/env bash
# An import over HTTP against the same import from the command line (issue 14): the sample's
# export as one archive, imported into a fresh empty instance
#   cli    `cuttle import --archive FILE` (wall seconds and peak RSS, /usr/bin/time)
#   http   a running `cuttle serve` of the fresh instance: the archive uploaded (POST
#          /api/v1/uploads), an import task started and followed through its events (GET
#          /api/v1/tasks/ID/events, a stream that ends with the task): wall seconds from the
#          upload's first byte to the stream's end, and the server's peak RSS (VmHWM of the server
#          process, which was started just before, idle)
# RUNS rounds, the two interleaved, each into a fresh instance (PostgreSQL: a fresh database);
# the median is reported, with http ÷ cli. Not a test: it prints figures. Part of
# `BENCHES=migrations scripts/bench.sh`.
#
#   SIZE=large RUNS=3 scripts/bench-migrations.sh
#
# Environment: SIZE (default large), RUNS (default 3), BACKENDS (default "sqlite postgres"),
# OUT (default bench-out), BENCH_TMPDIR (where the instances and the archive go; default the
# system's temporary folder), CUTTLE_BENCH_POSTGRES_URL (else the local cluster, as root).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib/postgres.sh

SIZE=${SIZE:-large}
RUNS=${RUNS:-3}
BACKENDS=${BACKENDS:-sqlite postgres}
OUT=${OUT:-bench-out}
note() { printf 'bench-migrations: %s\n' "$*" >&2; }
die() {
    note "error: $*"
    exit 1
}
command -v /usr/bin/time >/dev/null || die "/usr/bin/time is missing (Debian: apt-get install time)"

cargo build --release --locked -q -p cuttle-cli
target=${CARGO_TARGET_DIR:-$root/target}
[[ $target = /* ]] || target=$root/$target
cuttle=$target/release/cuttle

mkdir -p "$OUT"
work=$(mktemp -d -p "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}")
pids=()
databases=()
pg_admin_url=
cleanup() {
    set +e
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    for db in "${databases[@]}"; do psql -X -q -d "$pg_admin_url" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1; done
    rm -rf "$work"
}
trap cleanup EXIT
export CUTTLE_HOME=$work/home CUTTLE_PASSWORD=bench-migrations-password
rows=$work/rows.tsv
printf 'backend\trun\tcommand\tseconds\tpeak_mib\n' >"$rows"

# fresh BACKEND NAME: a new empty instance (PostgreSQL: in a database of its own).
fresh() {
    local backend=$1 name=$2 database=()
    if [ "$backend" = postgres ]; then
        local db=cuttle_bench_migrations_${$}_$name
        db=${db//-/_}
        psql -X -q -d "$pg_admin_url" -c "CREATE DATABASE \"$db\"" >/dev/null
        databases+=("$db")
        database=(--database "$(python3 -c 'import sys, urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit((p.scheme, p.netloc, "/"+sys.argv[2], "", "")))' "$pg_admin_url" "$db")")
    fi
    "$cuttle" instance create "$name" "${database[@]}" >/dev/null 2>&1
}

# drop NAME: the instance and its database, to keep the disk free.
drop() {
    "$cuttle" instance delete "$1" >/dev/null 2>&1 || true
}

serve() {
    local instance=$1 log=$work/$1.serve.log
    "$cuttle" serve --instance "$instance" --listen 127.0.0.1:0 --work-dir "$work" 2>"$log" &
    server=$!
    pids+=("$server")
    for _ in $(seq 1 200); do
        url=$(grep -o 'http://[^ ]*/api/v1' "$log" || true)
        [ -z "$url" ] || return 0
        sleep 0.1
    done
    cat "$log" >&2
    die "the server did not start"
}

json() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }

for backend in $BACKENDS; do
    if [ "$backend" = postgres ]; then
        find_postgres "${CUTTLE_BENCH_POSTGRES_URL:-}" CUTTLE_BENCH_POSTGRES_URL
        [ -n "$pg_admin_url" ] || { note "SKIPPED postgres: no PostgreSQL server"; continue; }
    fi
    note "$backend: a $SIZE sample and its archive"
    fresh "$backend" "source-$backend"
    "$cuttle" sample --instance "source-$backend" --size "$SIZE" >/dev/null 2>&1
    archive=$work/$backend.tar
    "$cuttle" export --instance "source-$backend" --archive "$archive" >/dev/null 2>&1
    drop "source-$backend"
    for run in $(seq 1 "$RUNS"); do
        # The command line.
        fresh "$backend" "cli-$backend-$run"
        sync
        /usr/bin/time -f '%e %M' -o "$work/time" \
            "$cuttle" import --instance "cli-$backend-$run" --archive "$archive" --quiet >/dev/null 2>"$work/cli.log" ||
            { cat "$work/cli.log" >&2; die "the command line's import failed"; }
        read -r seconds kib <"$work/time"
        printf '%s\t%s\tcli\t%s\t%.0f\n' "$backend" "$run" "$seconds" "$((kib / 1024))" >>"$rows"
        note "$(tail -n 1 "$rows")"
        drop "cli-$backend-$run"

        # The API.
        fresh "$backend" "http-$backend-$run"
        key=$("$cuttle" admin create --instance "http-$backend-$run" --user bench 2>/dev/null)
        serve "http-$backend-$run"
        sync
        started=$(date +%s.%N)
        upload=$(curl -fsS -H "Authorization: Bearer $key" -H 'Content-Type: application/x-tar' \
            -X POST --upload-file "$archive" "$url/uploads" | json '["id"]')
        task=$(curl -fsS -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
            --data "{\"kind\": \"import\", \"password\": \"$CUTTLE_PASSWORD\", \"uploads\": [\"$upload\"]}" \
            "$url/tasks" | json '["id"]')
        # Followed as a client would: its events, a stream the server ends when the task ends.
        curl -fsS -N -H "Authorization: Bearer $key" "$url/tasks/$task/events" >/dev/null
        ended=$(date +%s.%N)
        state=$(curl -fsS -H "Authorization: Bearer $key" "$url/tasks/$task" | json '["state"]')
        if [ "$state" != succeeded ]; then
            curl -fsS -H "Authorization: Bearer $key" "$url/tasks/$task" >&2
            die "the import task ended $state"
        fi
        peak=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$server/status")
        kill "$server"
        wait "$server" 2>/dev/null || true
        printf '%s\t%s\thttp\t%.2f\t%s\n' "$backend" "$run" "$(python3 -c "print($ended - $started)")" "$peak" >>"$rows"
        note "$(tail -n 1 "$rows")"
        drop "http-$backend-$run"
    done
done

cp "$rows" "$OUT/migrations.tsv"
python3 - "$rows" "$SIZE" "$RUNS" >"$OUT/migrations.md" <<'PY'
import csv, statistics, sys
rows, size, runs = sys.argv[1], sys.argv[2], sys.argv[3]
data = {}
for r in csv.DictReader(open(rows), delimiter="\t"):
    data.setdefault((r["backend"], r["command"]), []).append((float(r["seconds"]), float(r["peak_mib"])))
print(f"Import of the {size} sample's export archive into an empty instance, median of {runs}:\n")
print("| backend | command line (s) | over HTTP (s) | HTTP ÷ command line | command line peak (MiB) | server peak (MiB) |")
print("|---|--:|--:|--:|--:|--:|")
for backend in dict.fromkeys(b for b, _ in data):
    cli, http = data.get((backend, "cli"), []), data.get((backend, "http"), [])
    if not cli or not http:
        continue
    c = statistics.median(s for s, _ in cli)
    h = statistics.median(s for s, _ in http)
    print(f"| {backend} | {c:.2f} | {h:.2f} | **{h / c:.2f}×** | {max(m for _, m in cli):.0f} | {max(m for _, m in http):.0f} |")
PY
cat "$OUT/migrations.md"
