#!/usr/bin/env bash
# The server under load (issue 13, SPEC 8): an authorised GET of a document and a validated PUT
# of it, at concurrency 1, 16 and 64, with wrk, on SQLite and PostgreSQL; next to references run
# in the same script: nginx serving the same document as a static file (the HTTP floor of this
# machine) and, for writes, pgbench running a comparable one-row transaction. Not a test: it
# prints figures (requests/s, p50 and p99 latency) and the ratios, and writes $OUT/server.md.
#
#   scripts/bench-server.sh                     # medium sample, 10 s per run
#   DURATION=5 SIZE=small scripts/bench-server.sh
#   BENCHES=server scripts/bench.sh             # the same, from the benchmark script
#
# Needs wrk and nginx (Debian: wrk, nginx-light; installed when run as root) and, for
# PostgreSQL, a server (as scripts/bench.sh finds one) and pgbench.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib/postgres.sh
. scripts/lib/postgres.sh

DURATION=${DURATION:-10}
SIZE=${SIZE:-medium}
BACKENDS=${BACKENDS:-sqlite postgres}
OUT=${OUT:-bench-out}
CONCURRENCY=${CONCURRENCY:-1 16 64}
note() { printf 'bench-server: %s\n' "$*" >&2; }
die() {
    note "error: $*"
    exit 1
}

for tool in wrk nginx; do
    command -v "$tool" >/dev/null && continue
    [ "$(id -u)" -eq 0 ] || die "$tool is missing (Debian: apt-get install wrk nginx-light)"
    note "installing wrk and nginx-light"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk nginx-light >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk nginx-light >/dev/null 2>&1; } ||
        die "installing wrk and nginx-light failed"
done

cargo build --release --locked -q -p cuttle-cli
target=${CARGO_TARGET_DIR:-$root/target}
[[ $target = /* ]] || target=$root/$target
cuttle=$target/release/cuttle

mkdir -p "$OUT"
work=$(mktemp -d)
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
export CUTTLE_HOME=$work/home
rows=$work/rows.tsv
printf 'backend\tcommand\tconcurrency\trequests_per_s\tp50_ms\tp99_ms\tnon_2xx\n' >"$rows"

# wrk NAME BACKEND CONCURRENCY [wrk options] URL: one run, its figures appended to $rows.
load() {
    local name=$1 backend=$2 c=$3
    shift 3
    local threads=$((c < 2 ? 1 : 2))
    local out
    out=$(wrk -t"$threads" -c"$c" -d"${DURATION}s" --latency "$@")
    python3 - "$name" "$backend" "$c" "$out" >>"$rows" <<'PY'
import re, sys
name, backend, c, out = sys.argv[1:]
def ms(label):
    m = re.search(r"^\s+" + label + r"\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
print(f"{backend}\t{name}\t{c}\t{rps:.0f}\t{ms('50%'):.2f}\t{ms('99%'):.2f}\t{bad.group(1) if bad else 0}")
PY
    note "$(tail -n 1 "$rows")"
}

serve() {
    local instance=$1 log=$work/$1.serve.log
    "$cuttle" serve --instance "$instance" --listen 127.0.0.1:0 2>"$log" &
    pids+=($!)
    for _ in $(seq 1 200); do
        url=$(grep -o 'http://[^ ]*/api/v1' "$log" || true)
        [ -z "$url" ] || return 0
        sleep 0.1
    done
    cat "$log" >&2
    die "the server did not start"
}

# The HTTP floor: nginx serving the document's bytes as a static file, on every core.
start_nginx() {
    mkdir -p "$work/nginx/html"
    cp "$work/document.json" "$work/nginx/html/document.json"
    # nginx's workers run as an unprivileged user: let them read the document.
    chmod a+rx "$work" "$work/nginx" "$work/nginx/html"
    chmod a+r "$work/nginx/html/document.json"
    cat >"$work/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
error_log $work/nginx/error.log;
pid $work/nginx/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    default_type application/json;
    server {
        listen 127.0.0.1:0;
        root $work/nginx/html;
    }
}
EOF
    # nginx takes no port 0: find a free one.
    nginx_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    sed -i "s/127.0.0.1:0/127.0.0.1:$nginx_port/" "$work/nginx/nginx.conf"
    nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
    pids+=($!)
    sleep 0.5
}

cat >"$work/put.lua" <<'EOF'
wrk.method = "PUT"
local f = io.open(os.getenv("CUTTLE_BENCH_BODY"), "r")
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
EOF

for backend in $BACKENDS; do
    database=()
    if [ "$backend" = postgres ]; then
        find_postgres "${CUTTLE_BENCH_POSTGRES_URL:-}" CUTTLE_BENCH_POSTGRES_URL
        if [ -z "$pg_admin_url" ]; then
            note "SKIPPED postgres: no PostgreSQL server"
            continue
        fi
        # The client tools of the server's major version (pgbench is not on PATH on Debian).
        major=$(($(psql -X -tA -d "$pg_admin_url" -c 'SHOW server_version_num') / 10000))
        pg_bin=
        [ ! -x "/usr/lib/postgresql/$major/bin/pgbench" ] || pg_bin=/usr/lib/postgresql/$major/bin/
        db=cuttle_bench_server_$$
        psql -X -q -d "$pg_admin_url" -c "CREATE DATABASE \"$db\"" >/dev/null
        databases+=("$db")
        database=(--database "$(python3 -c 'import sys, urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit((p.scheme, p.netloc, "/"+sys.argv[2], "", "")))' "$pg_admin_url" "$db")")
    fi
    note "$backend: a $SIZE sample, an administrator"
    "$cuttle" instance create "$backend" "${database[@]}" >/dev/null 2>&1
    "$cuttle" sample --instance "$backend" --size "$SIZE" >/dev/null 2>&1
    key=$("$cuttle" admin create --instance "$backend" --user bench 2>/dev/null)
    serve "$backend"
    doc_url="$url/collections/environments/document?key=Staging"
    curl -fsS -H "Authorization: Bearer $key" "$doc_url" >"$work/document.json"
    export CUTTLE_BENCH_BODY=$work/document.json
    # Warm up, unrecorded: the server opens its sessions (database connections, each with the
    # instance's key unsealed) on demand, up to 16; the figures are of a server in service.
    wrk -t2 -c16 -d2s -H "Authorization: Bearer $key" "$doc_url" >/dev/null
    for c in $CONCURRENCY; do
        load get "$backend" "$c" -H "Authorization: Bearer $key" "$doc_url"
    done
    for c in $CONCURRENCY; do
        load put "$backend" "$c" -s "$work/put.lua" -H "Authorization: Bearer $key" "$url/collections/environments/document"
    done
    if [ "$backend" = sqlite ]; then
        start_nginx
        for c in $CONCURRENCY; do
            load nginx - "$c" "http://127.0.0.1:$nginx_port/document.json"
        done
    fi
    if [ "$backend" = postgres ] && command -v "${pg_bin:-}pgbench" >/dev/null; then
        # A comparable one-row transaction: read the row, replace its body, in a transaction that
        # holds the writer's lock, as a validated PUT does.
        bench_url=$(python3 -c 'import sys, urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit((p.scheme, p.netloc, "/"+sys.argv[2], "", "")))' "$pg_admin_url" "$db")
        psql -X -q -d "$bench_url" -c "CREATE TABLE bench_row (id int PRIMARY KEY, body text); INSERT INTO bench_row VALUES (1, '$(tr -d "'" <"$work/document.json")')" >/dev/null
        cat >"$work/pgbench.sql" <<'EOF'
BEGIN;
SELECT pg_advisory_xact_lock(1);
SELECT body FROM bench_row WHERE id = 1;
UPDATE bench_row SET body = body WHERE id = 1;
COMMIT;
EOF
        # And a read of it in a read-only snapshot: the floor of any read that asks the database.
        cat >"$work/pgbench-read.sql" <<'EOF'
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
SELECT body FROM bench_row WHERE id = 1;
COMMIT;
EOF
        for script in pgbench pgbench-read; do
            for c in $CONCURRENCY; do
                out=$("${pg_bin:-}pgbench" -n -c "$c" -j $((c < 2 ? 1 : 2)) -T "$DURATION" -f "$work/$script.sql" "$bench_url" 2>&1)
                tps=$(printf '%s\n' "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
                latency=$(printf '%s\n' "$out" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
                printf 'postgres\t%s\t%s\t%.0f\t%s\tnan\t0\n' "$script" "$c" "$tps" "$latency" >>"$rows"
                note "$(tail -n 1 "$rows")"
            done
        done
    fi
    kill "${pids[@]}" 2>/dev/null || true
    pids=()
done

python3 - "$rows" "$OUT/server.md" "$DURATION" "$SIZE" "$(git rev-parse --short HEAD)" <<'PY'
import csv, sys
rows_path, out_path, duration, size, commit = sys.argv[1:]
rows = list(csv.DictReader(open(rows_path), delimiter="\t"))
def find(backend, command, c):
    for r in rows:
        if r["backend"] == backend and r["command"] == command and r["concurrency"] == c:
            return r
lines = ["# Server benchmark", "",
         f"Commit {commit}; the {size} sample; wrk for {duration} s per run (2 threads, 1 for one connection), after 2 s unrecorded to open the server's sessions;",
         "one document (an environment) read with an administrator's API key, and written back (a",
         "validated PUT: authentication, authorisation, validation, the write, the audit entry, one",
         "transaction). nginx serves the same bytes as a static file; pgbench runs a one-row transaction",
         "that takes the writer's lock, reads the row and replaces it, and (pgbench-read) one that reads",
         "it in a read-only snapshot. p50/p99 from wrk (for pgbench, the",
         "average latency in the p50 column). On a shared 2-core machine: the ratios matter.", "",
         "| backend | command | concurrency | requests/s | p50 ms | p99 ms | non-2xx |", "|---|---|--:|--:|--:|--:|--:|"]
for r in rows:
    lines.append(f"| {r['backend']} | {r['command']} | {r['concurrency']} | {r['requests_per_s']} | {r['p50_ms']} | {r['p99_ms']} | {r['non_2xx']} |")
lines += ["", "| ratio | concurrency | value | target |", "|---|--:|--:|---|"]
for backend in ["sqlite", "postgres"]:
    for c in ["1", "16", "64"]:
        get, nginx = find(backend, "get", c), find("-", "nginx", c)
        if get and nginx:
            lines.append(f"| {backend} GET / nginx | {c} | {float(get['requests_per_s']) / float(nginx['requests_per_s']):.2f} | {'≥ 0.25, p99 < 20 ms (p99 ' + get['p99_ms'] + ' ms)' if c == '16' else ''} |")
    for c in ["1", "16", "64"]:
        get, pg = find(backend, "get", c), find("postgres", "pgbench-read", c)
        if get and pg and backend == "postgres":
            lines.append(f"| postgres GET / pgbench-read | {c} | {float(get['requests_per_s']) / float(pg['requests_per_s']):.2f} | (the database's own floor) |")
    for c in ["1", "16", "64"]:
        put, pg = find(backend, "put", c), find("postgres", "pgbench", c)
        if put and pg and backend == "postgres":
            lines.append(f"| postgres PUT / pgbench | {c} | {float(put['requests_per_s']) / float(pg['requests_per_s']):.2f} | ≥ 0.50 |")
open(out_path, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
note "figures written to $OUT/server.md"
