#!/usr/bin/env bash
# Export benchmarks (SPEC 8): `cuttle export` against references measured in the same run, on the
# sample sizes, on SQLite and (when reachable) PostgreSQL. Not a test: it prints figures.
#
#   scripts/bench.sh                          # medium and large, 3 runs each, median reported
#   SIZES=medium RUNS=1 scripts/bench.sh      # a quick look
#
# For each size and backend it creates an instance in a fresh temporary CUTTLE_HOME, fills it with
# `cuttle sample`, then measures (wall seconds, user and system CPU seconds and peak RSS with
# /usr/bin/time; WARMUP unrecorded rounds, then RUNS rounds, the commands interleaved so that a slow
# spell of the shared machine hits every command alike; each run into a fresh path after a `sync`):
#
#   export            cuttle export (default options: no task logs; default key derivation)
#   export+logs       cuttle export --include-task-logs: the same documents as the references
#   raw-floor         cuttle-bench raw-floor: one snapshot, every stored row's body to its own file
#   sqlite3-dump      sqlite3 DB .dump > file                       (SQLite)
#   pg_dump           pg_dump --format=plain --no-sync -f file      (PostgreSQL)
#
# and prints, per size and backend, median seconds, documents/s, MB/s, peak MiB, and the ratios of
# export to each reference (the headline: the machine is shared and noisy, ratios much less so).
# The same tables go to $OUT/export.md; the raw measurements to $OUT/export.tsv (runs <= 0 are
# warm-ups); the last run's output of every command to $OUT/logs/.
#
# Environment:
#   SIZES    sample sizes (default "medium large"; small | medium | large)
#   RUNS     runs per command (default 3; the median is reported)
#   WARMUP   unrecorded rounds first (default 1): the first writes into a fresh area of the disk
#            are often several times slower than the next ones
#   BACKENDS "sqlite postgres" by default
#   OUT      output directory (default bench-out, git-ignored)
#   CUTTLE_BENCH_POSTGRES_URL  a PostgreSQL URL whose role may CREATE DATABASE: each size gets a
#            fresh database on that server, dropped at exit. Without it, as root on a machine with
#            PostgreSQL 15, the local cluster is started by .ci/postgres.sh and used as
#            postgres://cuttle:cuttle@127.0.0.1:5432/. Otherwise PostgreSQL is skipped, loudly.
#   BENCH_TMPDIR  where the temporary CUTTLE_HOME and the outputs go (default: $OUT, which keeps
#            them away from the file churn of /tmp); keep it on the disk you want to measure.
#            BENCH_TMPDIR=/dev/shm (tmpfs) takes the file system's cost of creating files mostly out
#            of the figures: steadier ratios of the work each command does itself. On ext4 every
#            output is kept until its size and backend are done (large, RUNS=3: about 5 GB).
#
# Extending (e.g. import): inside `bench_instance`, add `measure NAME [--docs N] [--stdout] --
# command...` lines to the run loop. In the command, @OUT@ stands for a fresh path (not yet
# existing) the command should write to; with --stdout the command's standard output is that file.
# The figures are the sum of the sizes of the files under @OUT@ (or the file itself).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

SIZES=${SIZES:-medium large}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-1}
BACKENDS=${BACKENDS:-sqlite postgres}
OUT=${OUT:-bench-out}
export CUTTLE_PASSWORD=${CUTTLE_PASSWORD:-cuttle-bench-password}

note() { printf 'bench: %s\n' "$*" >&2; }
# Runs a command, showing its output only when it fails (kept in $work/quiet.log).
quiet() {
    "$@" >"$work/quiet.log" 2>&1 || {
        cat "$work/quiet.log" >&2
        die "failed: $*"
    }
}
die() {
    note "error: $*"
    exit 1
}

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, not ${RUNS@Q}"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a whole number, not ${WARMUP@Q}"
for size in $SIZES; do
    case $size in small | medium | large) ;; *) die "unknown size ${size@Q} in SIZES (small, medium, large)" ;; esac
done
for backend in $BACKENDS; do
    case $backend in sqlite | postgres) ;; *) die "unknown backend ${backend@Q} in BACKENDS (sqlite, postgres)" ;; esac
done
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (Debian package: time)"
command -v python3 >/dev/null || die "python3 is missing"

# --- build ----------------------------------------------------------------------------------------
note "building cuttle and cuttle-bench (release)"
cargo build --release --locked -p cuttle-cli -p cuttle-bench
target=${CARGO_TARGET_DIR:-$root/target}
[[ $target = /* ]] || target=$root/$target
cuttle=$target/release/cuttle
bench=$target/release/cuttle-bench

# --- work area and cleanup ------------------------------------------------------------------------
mkdir -p "$OUT/logs" "${BENCH_TMPDIR:-$OUT}"
work=$(mktemp -d "$(cd "${BENCH_TMPDIR:-$OUT}" && pwd)/work.XXXXXX")
export CUTTLE_HOME=$work/home
unset CUTTLE_MASTER_KEY
created_databases=() # "admin-url database" pairs, dropped at exit
pg_bin=

cleanup() {
    local status=$? entry
    set +e
    for entry in "${created_databases[@]}"; do
        # shellcheck disable=SC2086
        set -- $entry
        "${pg_bin}psql" -X -q -d "$1" -c "DROP DATABASE IF EXISTS \"$2\"" >/dev/null 2>&1 ||
            "${pg_bin}psql" -X -q -d "$1" -c "DROP DATABASE IF EXISTS \"$2\" WITH (FORCE)" >/dev/null 2>&1 ||
            note "could not drop the PostgreSQL database $2; drop it by hand"
    done
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

results=$OUT/export.tsv
report=$OUT/export.md
printf 'size\tbackend\tcommand\trun\tseconds\tuser\tsystem\tpeak_kib\tbytes\tfiles\tdocuments\n' >"$results"

# --- references: what is available ----------------------------------------------------------------
sqlite3_bin=
if command -v sqlite3 >/dev/null; then
    sqlite3_bin=$(command -v sqlite3)
elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    note "installing the sqlite3 package for the SQLite dump reference"
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -q sqlite3 >"$work/apt.log" 2>&1 ||
        { apt-get update -q >>"$work/apt.log" 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q sqlite3 >>"$work/apt.log" 2>&1; }; then
        sqlite3_bin=$(command -v sqlite3)
    else
        note "SKIPPED sqlite3-dump: installing sqlite3 failed:"
        tail -n 5 "$work/apt.log" >&2
    fi
else
    note "SKIPPED sqlite3-dump: sqlite3 is not installed and this is not root (apt-get install sqlite3)"
fi

# The admin URL of a PostgreSQL server on which fresh databases can be created, or empty.
pg_admin_url=
want_postgres=false
[[ " $BACKENDS " == *" postgres "* ]] && want_postgres=true
if $want_postgres; then
    if [ -n "${CUTTLE_BENCH_POSTGRES_URL:-}" ]; then
        pg_admin_url=$CUTTLE_BENCH_POSTGRES_URL
    elif [ "$(id -u)" -eq 0 ] && [ -x /usr/lib/postgresql/15/bin/postgres ] && [ -f .ci/postgres.sh ]; then
        note "starting the local PostgreSQL 15 cluster (.ci/postgres.sh)"
        if bash .ci/postgres.sh; then
            pg_admin_url=postgres://cuttle:cuttle@127.0.0.1:5432/cuttle
        else
            note "SKIPPED postgres: .ci/postgres.sh failed"
        fi
    else
        note "SKIPPED postgres: set CUTTLE_BENCH_POSTGRES_URL, or run as root on a machine with PostgreSQL 15"
    fi
fi
if [ -n "$pg_admin_url" ]; then
    # Client tools of the server's major version when installed (pg_dump refuses newer servers).
    if ! server=$(psql -X -tA -d "$pg_admin_url" -c 'SHOW server_version_num' 2>&1); then
        note "SKIPPED postgres: cannot reach the server: $server"
        pg_admin_url=
    else
        major=$((server / 10000))
        if [ -x "/usr/lib/postgresql/$major/bin/pg_dump" ]; then
            pg_bin=/usr/lib/postgresql/$major/bin/
        else
            note "no /usr/lib/postgresql/$major/bin; using the psql and pg_dump on PATH"
        fi
    fi
fi

# A copy of the URL with another database (path) and no query string.
url_with_database() {
    python3 - "$1" "$2" <<'PY'
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
print(u.urlunsplit((p.scheme, p.netloc, "/" + sys.argv[2], "", "")))
PY
}

# --- measuring ------------------------------------------------------------------------------------
# Set by bench_instance for the measurements that follow.
current_size= current_backend= current_docs=0 current_run=0

# measure NAME [--docs N] [--stdout] -- COMMAND...
# Runs COMMAND once under /usr/bin/time into a fresh @OUT@ and appends a row to $results (runs
# numbered 0 and below are warm-ups, left out of the report).
measure() {
    local name=$1 docs=$current_docs to_stdout=false
    shift
    while [ "$#" -gt 0 ]; do
        case $1 in
        --docs) docs=$2 && shift 2 ;;
        --stdout) to_stdout=true && shift ;;
        --) shift && break ;;
        *) die "measure: unexpected ${1@Q}" ;;
        esac
    done
    local dir=$work/runs/$current_size-$current_backend/$name-$current_run
    mkdir -p "$dir"
    local out=$dir/out args=() arg
    for arg in "$@"; do args+=("${arg//@OUT@/"$out"}"); done
    local log=$OUT/logs/$current_size-$current_backend-$name.log
    local stdout=$dir/stdout
    ! $to_stdout || stdout=$out
    sync
    local start=$EPOCHREALTIME end
    if ! /usr/bin/time -f '%e %U %S %M' -o "$dir/time" "${args[@]}" >"$stdout" 2>"$log"; then
        note "error: $name failed (${args[*]}):"
        tail -n 20 "$log" >&2
        cat "$dir/time" >&2
        exit 1
    fi
    end=$EPOCHREALTIME
    [ "$to_stdout" = true ] || cat "$stdout" >>"$log"
    local seconds user system peak bytes files
    # Wall time from the shell's clock (microseconds; /usr/bin/time's %e has 10 ms steps).
    read -r _ user system peak < <(tail -n 1 "$dir/time")
    seconds=$(awk -v a="${start/,/.}" -v b="${end/,/.}" 'BEGIN { printf "%.3f", b - a }')
    read -r bytes files < <(find "$out" -type f -printf '%s\n' | awk '{ s += $1; n++ } END { print s + 0, n + 0 }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$current_size" "$current_backend" "$name" \
        "$current_run" "$seconds" "$user" "$system" "$peak" "$bytes" "$files" "$docs" >>"$results"
    printf '  run %s  %-14s %8.3f s (user %6.2f, sys %6.2f) %8.1f MiB %10.1f MB\n' "$current_run" "$name" \
        "$seconds" "$user" "$system" \
        "$(awk -v k="$peak" 'BEGIN { print k / 1024 }')" "$(awk -v b="$bytes" 'BEGIN { print b / 1e6 }')" >&2
    # On ext4 the output stays until the size and backend are done: see `settle`.
    $careful_removal || rm -rf "$dir"
}

# ext4 without a journal (this kind of VM disk) avoids reusing an inode freed in the last 60 s
# (360 s while its inode-table block is dirty), and checks every such free inode of the group again
# for each file it creates: right after a big `rm -rf`, creating files is many times slower (seen:
# the medium raw floor at 1 s, then 11 to 15 s). So outputs are removed only between sizes and
# backends, then written back (`sync`), and measuring waits until those frees are old.
settle_seconds=62
careful_removal=false
case $(stat -f -c %T "$work") in ext*) careful_removal=true ;; esac
last_removal=-1000000
remove_outputs() {
    if [ -d "$work/runs" ]; then
        rm -rf "$work/runs"
        sync
        last_removal=$SECONDS
    fi
}
settle() {
    $careful_removal || return 0
    local wait=$((last_removal + settle_seconds - SECONDS))
    if [ "$wait" -gt 0 ]; then
        note "waiting ${wait}s for the file system to forget the outputs just removed"
        sleep "$wait"
    fi
}

# Prints the tables of one size and backend, and appends them to $report.
report_instance() {
    python3 - "$results" "$1" "$2" "$RUNS" "$WARMUP" <<'PY' | tee -a "$report"
import csv, statistics, sys
results, size, backend, runs, warmup = sys.argv[1:6]
rows = [r for r in csv.DictReader(open(results), delimiter="\t")
        if r["size"] == size and r["backend"] == backend and int(r["run"]) >= 1]
by = {}
for r in rows:
    by.setdefault(r["command"], []).append(r)
def med(rs, k):
    return statistics.median(float(r[k]) for r in rs)
figures = {}
for name, rs in by.items():
    s = med(rs, "seconds")
    figures[name] = dict(
        s=s, user=med(rs, "user"), system=med(rs, "system"), peak=med(rs, "peak_kib") / 1024,
        bytes=med(rs, "bytes"), files=med(rs, "files"), docs=float(rs[0]["documents"]),
    )
    f = figures[name]
    f["dps"] = f["docs"] / s if s > 0 else float("inf")
    f["mbps"] = f["bytes"] / 1e6 / s if s > 0 else float("inf")

def num(x, digits=1):
    return "∞" if x == float("inf") else f"{x:,.{digits}f}"

total = max(f["docs"] for f in figures.values())
print(f"\n### {size} / {backend}: {int(total):,} documents, median of {runs} run(s) after {warmup} warm-up\n")
print("| command | documents | wall s | user s | sys s | documents/s | MB written | MB/s | files | peak MiB |")
print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
for name, f in figures.items():
    print(f"| {name} | {int(f['docs']):,} | {f['s']:.3f} | {f['user']:.2f} | {f['system']:.2f} "
          f"| {num(f['dps'], 0)} | {f['bytes'] / 1e6:,.1f} | {num(f['mbps'])} | {int(f['files']):,} "
          f"| {f['peak']:,.1f} |")

refs = [r for r in ("raw-floor", "sqlite3-dump", "pg_dump") if r in figures]
exports = [e for e in ("export", "export+logs") if e in figures]
if refs and exports:
    print("\nRatios (export ÷ reference; time > 1 and throughput < 1 mean export is slower):\n")
    print("| ratio | wall time | CPU time | documents/s | MB/s | peak memory |")
    print("|---|--:|--:|--:|--:|--:|")
    for e in exports:
        for r in refs:
            a, b = figures[e], figures[r]
            def ratio(x, y):
                return "n/a" if y == 0 or x == float("inf") or y == float("inf") else f"{x / y:.2f}×"
            print(f"| {e} / {r} | {ratio(a['s'], b['s'])} "
                  f"| {ratio(a['user'] + a['system'], b['user'] + b['system'])} | {ratio(a['dps'], b['dps'])} "
                  f"| {ratio(a['mbps'], b['mbps'])} | {ratio(a['peak'], b['peak'])} |")
PY
}

# bench_instance SIZE BACKEND [DATABASE-URL]
bench_instance() {
    local size=$1 backend=$2 url=${3:-} name=bench-$1-$2
    current_size=$size current_backend=$backend
    note "$size / $backend: creating instance $name and its $size sample"
    quiet "$cuttle" instance create "$name" ${url:+--database "$url"}
    quiet "$cuttle" sample --instance "$name" --size "$size"
    tail -n 1 "$work/quiet.log" >&2
    # Also lets SQLite fold its WAL into the database (the last connection to close checkpoints).
    local show total logs database
    show=$("$cuttle" instance show "$name" --format json)
    read -r total logs database < <(python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sum(d["documents"].values()), d["documents"].get("task-logs", 0), d["database"])' <<<"$show")
    note "$size / $backend: $total documents ($logs task logs); measuring, $RUNS run(s)"

    settle
    for ((current_run = 1 - WARMUP; current_run <= RUNS; current_run++)); do
        [ "$current_run" -ge 1 ] || note "$size / $backend: warm-up round"
        current_docs=$total
        measure export --docs $((total - logs)) -- \
            "$cuttle" export --instance "$name" --directory @OUT@
        measure export+logs -- \
            "$cuttle" export --instance "$name" --directory @OUT@ --include-task-logs
        measure raw-floor -- "$bench" raw-floor --instance "$name" --directory @OUT@
        case $backend in
        sqlite)
            [ -z "$sqlite3_bin" ] || measure sqlite3-dump --stdout -- "$sqlite3_bin" -readonly "$database" .dump
            ;;
        postgres)
            measure pg_dump -- "${pg_bin}pg_dump" --format=plain --no-sync --file=@OUT@ --dbname="$url"
            ;;
        esac
    done
    report_instance "$size" "$backend"
    remove_outputs
}

# --- the runs -------------------------------------------------------------------------------------
{
    echo "# Export benchmark"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)'),"
    echo "$(nproc) CPU(s) ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(uname -sr)."
    echo "Median of $RUNS run(s) of each command after $WARMUP warm-up round(s), interleaved; wall and CPU"
    echo "seconds and peak RSS from /usr/bin/time; outputs written to $(stat -f -c %T "$work") ($work)."
    echo "CPU time and peak memory are the measured process's own: the PostgreSQL server's share of"
    echo "pg_dump's (and every command's) reading is not in them. \`export\` leaves task logs out (its"
    echo "default); \`export+logs\` includes them, covering the same documents as the raw floor and the"
    echo "dumps. Documents/s counts the documents each command covers."
} >"$report"
[ -n "$sqlite3_bin" ] || echo "- sqlite3-dump skipped: sqlite3 not available." >>"$report"

for size in $SIZES; do
    for backend in $BACKENDS; do
        case $backend in
        sqlite) bench_instance "$size" sqlite ;;
        postgres)
            if [ -z "$pg_admin_url" ]; then
                echo "- $size / postgres skipped: no PostgreSQL server (see scripts/bench.sh)." >>"$report"
                continue
            fi
            db=cuttle_bench_${size}_$$_$RANDOM
            "${pg_bin}psql" -X -q -v ON_ERROR_STOP=1 -d "$pg_admin_url" -c "CREATE DATABASE \"$db\"" >/dev/null ||
                die "could not create the PostgreSQL database $db (the role needs CREATEDB)"
            created_databases+=("$pg_admin_url $db")
            bench_instance "$size" postgres "$(url_with_database "$pg_admin_url" "$db")"
            ;;
        esac
    done
done

note "figures written to $report (raw measurements: $results)"
