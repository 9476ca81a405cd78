#!/usr/bin/env bash
# Export and import benchmarks (SPEC 8): `cuttle export` and `cuttle import` against references
# measured in the same run, on the sample sizes, on SQLite and (when reachable) PostgreSQL. Not a
# test: it prints figures.
#
#   scripts/bench.sh                          # medium and large, 3 runs each, median reported
#   SIZES=medium RUNS=1 scripts/bench.sh      # a quick look
#   BENCHES=import SIZES=medium scripts/bench.sh
#
# For each size and backend it creates an instance in a fresh temporary CUTTLE_HOME, fills it with
# `cuttle sample`, then measures (wall seconds, user and system CPU seconds and peak RSS with
# /usr/bin/time; WARMUP unrecorded rounds, then RUNS rounds, the commands interleaved so that a slow
# spell of the shared machine hits every command alike; each run into a fresh path after a `sync`;
# a run's untimed setup, such as creating a fresh instance, comes before that `sync`):
#
# Export (BENCHES contains "export"):
#   export            cuttle export (default options: no task logs; default key derivation)
#   export+logs       cuttle export --include-task-logs: the same documents as the references
#   raw-floor         cuttle-bench raw-floor: one snapshot, every stored row's body to its own file
#   export-archive+logs  cuttle export --archive FILE --include-task-logs: the same as one plain tar
#   export+logs-again  export+logs into the export made before the runs (untimed) from the same
#                     instance: the git workflow, where nothing changed and nothing is written;
#                     the target is 0.3× a fresh export+logs
#   sqlite3-dump      sqlite3 DB .dump > file                       (SQLite)
#   pg_dump           pg_dump --format=plain --no-sync -f file      (PostgreSQL)
#
# Import (BENCHES contains "import"). Made once, untimed, before the runs: the instance's full export
# with --include-task-logs, as a directory and as one plain tar; a dump of its database (`sqlite3 .dump`, or plain `pg_dump`); a
# "populated" instance that the full export was imported into; a partial export of one mid-sized
# project P (with its task logs); a "large" destination filled by `cuttle sample` with the same size
# and seed, from which P was then deleted (`cuttle doc delete projects P`: the first project,
# from the middle of the sizes outwards, that nothing else refers to).
#   import-empty           cuttle import --quiet --include-task-logs of the full export into a fresh
#                          empty instance (PostgreSQL: in a fresh database), created before each run
#   import-archive         the same from the export's archive (--archive FILE.tar): the target is
#                          no slower than from the directory
#   import-populated       the same with --overwrite into the populated instance. Every run reuses it:
#                          an overwrite with identical data changes nothing (all "unchanged", and
#                          history, being create-only, "skip"), so each run does the same work
#   import-populated-skip  the same with the default policy (skip) into the populated instance
#   read-floor             cuttle-bench read-floor of the full export: walk it and read every file
#                          whole, on every core, nothing else: what the file system takes of an
#                          import from a directory (the skip, which writes nothing, is the closest)
#   sqlite3-restore        sqlite3 NEWDB < dump.sql, into a fresh file each run        (SQLite)
#   psql-restore           psql -X -q -v ON_ERROR_STOP=1 -d NEWDB -f dump.sql, into a fresh empty
#                          database each run (ON_ERROR_STOP only makes a failure visible)  (PostgreSQL)
#   partial-into-empty     cuttle import --quiet --include-task-logs --dry-run of the partial export
#                          into a fresh empty instance
#   partial-into-large     the same into the large destination, which lacks P but has everything
#                          else, so P's dependencies are skipped there and created in the empty one.
#                          Both use --dry-run so that every run finds the destination as it was: a dry
#                          run goes through exactly the same code path as an import, every database
#                          write included, inside the transaction, and then rolls back (SPEC 6.4).
#                          The cost of importing one project must not depend on the destination's
#                          size (SPEC 8): the target (issue 15) is the large destination at most 1.5×
#                          the empty one and well under a second. The large one may well be faster:
#                          it has P's dependencies, which the import creates in the empty one.
#   nothing-into-empty     the same two with an export that holds no document (made once from an
#   nothing-into-large     empty instance): the fixed cost of any import (process start, key
#                          derivation, opening the instance, one transaction), which is most of a
#                          small partial import; the report also gives the partial ratio less it.
#
# and prints, per size and backend, median seconds, documents/s, MB/s, peak MiB, and the ratios of
# export to each reference and of import to the restore (the headline: the machine is shared and
# noisy, ratios much less so). The same tables go to $OUT/export.md and $OUT/import.md; the raw
# measurements to $OUT/export.tsv and $OUT/import.tsv (runs <= 0 are warm-ups); the last run's
# output of every command to $OUT/logs/.
#
# Environment:
#   BENCHES  which benchmarks (default "export import"; "server" runs scripts/bench-server.sh,
#            "migrations" scripts/bench-migrations.sh: an import over HTTP against the command line)
#   SIZES    sample sizes (default "medium large"; small | medium | large)
#   RUNS     runs per command (default 3; the median is reported)
#   WARMUP   unrecorded rounds first (default 1): the first writes into a fresh area of the disk
#            are often several times slower than the next ones
#   BACKENDS "sqlite postgres" by default
#   OUT      output directory (default bench-out, git-ignored)
#   CUTTLE_BENCH_POSTGRES_URL  a PostgreSQL URL whose role may CREATE DATABASE: each size gets
#            fresh databases on that server, dropped when done with (at the latest at exit).
#            Without it, as root on a machine with PostgreSQL 15, the local cluster is started by
#            .ci/postgres.sh and used as postgres://cuttle:cuttle@127.0.0.1:5432/. Otherwise
#            PostgreSQL is skipped, loudly.
#   BENCH_TMPDIR  where the temporary CUTTLE_HOME and the outputs go (default: $OUT, which keeps
#            them away from the file churn of /tmp); keep it on the disk you want to measure.
#            BENCH_TMPDIR=/dev/shm (tmpfs) takes the file system's cost of creating files mostly out
#            of the figures: steadier ratios of the work each command does itself. On ext4 every
#            output is kept until its size and backend are done (large, RUNS=3: about 5 GB for the
#            export; the import adds a database per run of import-empty and sqlite3-restore).
#
# Extending: inside `bench_export` or `bench_import`, add `measure NAME [options] -- command...`
# lines to the run loop (see `measure`). In the command, @OUT@ stands for a fresh path (not yet
# existing, unless a --setup made it) the command should write to, @DB@ for the URL of the fresh
# PostgreSQL database a --setup made. The figures are the sum of the sizes of the files under @OUT@
# (or the file itself), plus the size of that fresh database.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=scripts/lib/postgres.sh
. scripts/lib/postgres.sh

BENCHES=${BENCHES:-export import}
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

for one in $BENCHES; do
    case $one in export | import | server | migrations) ;; *) die "unknown benchmark ${one@Q} in BENCHES (export, import, server, migrations)" ;; esac
done
# An import over HTTP against the same from the command line: a script of its own.
if [[ " $BENCHES " == *" migrations "* ]]; then
    OUT=$OUT BACKENDS=$BACKENDS SIZE=${SIZES##* } RUNS=${RUNS:-3} bash "$(dirname "$0")/bench-migrations.sh"
    BENCHES=${BENCHES//migrations/}
fi
# The server's load benchmark is a script of its own (wrk, nginx, pgbench).
if [[ " $BENCHES " == *" server "* ]]; then
    OUT=$OUT BACKENDS=$BACKENDS SIZE=${SIZES%% *} bash "$(dirname "$0")/bench-server.sh"
    BENCHES=${BENCHES//server/}
    [ -n "${BENCHES// /}" ] || exit 0
fi
[ -n "${BENCHES// /}" ] || die "BENCHES is empty (export, import)"
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

# drop_database ADMIN-URL DATABASE: drops it (if it exists) and forgets it.
drop_database() {
    "${pg_bin}psql" -X -q -d "$1" -c "DROP DATABASE IF EXISTS \"$2\"" >/dev/null 2>&1 ||
        "${pg_bin}psql" -X -q -d "$1" -c "DROP DATABASE IF EXISTS \"$2\" WITH (FORCE)" >/dev/null 2>&1 ||
        { note "could not drop the PostgreSQL database $2; drop it by hand" && return 1; }
    local entry kept=()
    for entry in "${created_databases[@]}"; do
        [ "$entry" = "$1 $2" ] || kept+=("$entry")
    done
    created_databases=("${kept[@]}")
}

cleanup() {
    local status=$? entry
    set +e
    for entry in "${created_databases[@]}"; do
        # shellcheck disable=SC2086
        drop_database $entry
    done
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wants() { [[ " $BENCHES " == *" $1 "* ]]; }
tsv_header=$'size\tbackend\tcommand\trun\tseconds\tuser\tsystem\tpeak_kib\tbytes\tfiles\tdocuments'
# Where `measure` appends its rows, and where the report goes: set per benchmark.
results='' report=''
for one in export import; do
    ! wants "$one" || printf '%s\n' "$tsv_header" >"$OUT/$one.tsv"
done

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
        note "SKIPPED sqlite3-dump and sqlite3-restore: installing sqlite3 failed:"
        tail -n 5 "$work/apt.log" >&2
    fi
else
    note "SKIPPED sqlite3-dump and sqlite3-restore: sqlite3 is not installed and this is not root (apt-get install sqlite3)"
fi

# The admin URL of a PostgreSQL server on which fresh databases can be created, or empty.
pg_admin_url=
want_postgres=false
[[ " $BACKENDS " == *" postgres "* ]] && want_postgres=true
if $want_postgres; then
    find_postgres "${CUTTLE_BENCH_POSTGRES_URL:-}" CUTTLE_BENCH_POSTGRES_URL
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

# Creates an empty database on the server (dropped at exit, if not before): its name in $new_db.
# (Not in a subshell: it records the database in created_databases.)
db_serial=0 new_db=''
new_database() {
    db_serial=$((db_serial + 1))
    new_db=cuttle_bench_$$_$db_serial
    "${pg_bin}psql" -X -q -v ON_ERROR_STOP=1 -d "$pg_admin_url" -c "CREATE DATABASE \"$new_db\"" >/dev/null || {
        note "could not create the PostgreSQL database $new_db (the role needs CREATEDB)"
        return 1
    }
    created_databases+=("$pg_admin_url $new_db")
}

# A copy of the URL with another database (path) and no query string.
url_with_database() {
    python3 - "$1" "$2" <<'PY'
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
print(u.urlunsplit((p.scheme, p.netloc, "/" + sys.argv[2], "", "")))
PY
}

# --- measuring ------------------------------------------------------------------------------------
# Set by bench_export and bench_import for the measurements that follow.
current_size='' current_backend='' current_docs=0 current_run=0

# measure NAME [--docs N] [--stdout] [--stdin FILE] [--setup FUNCTION] -- COMMAND...
# Runs COMMAND once under /usr/bin/time into a fresh @OUT@ and appends a row to $results (runs
# numbered 0 and below are warm-ups, left out of the report). --stdout: the command's standard
# output is @OUT@; --stdin FILE: its standard input is FILE. --setup FUNCTION: calls the shell
# function FUNCTION with the run's @OUT@ path first, untimed (before the `sync`); it may create that
# path, and may make a fresh PostgreSQL database (`fresh_database`), which @DB@ then stands for and
# which is dropped right after the run, its size counted in the figures.
measure() {
    local name=$1 docs=$current_docs to_stdout=false stdin=/dev/null setup=
    shift
    while [ "$#" -gt 0 ]; do
        case $1 in
        --docs) docs=$2 && shift 2 ;;
        --stdout) to_stdout=true && shift ;;
        --stdin) stdin=$2 && shift 2 ;;
        --setup) setup=$2 && shift 2 ;;
        --) shift && break ;;
        *) die "measure: unexpected ${1@Q}" ;;
        esac
    done
    local dir=$work/runs/$current_size-$current_backend/$name-$current_run
    mkdir -p "$dir"
    local out=$dir/out args=() arg
    run_databases=() fresh_url=
    [ -z "$setup" ] || quiet "$setup" "$out"
    for arg in "$@"; do
        arg=${arg//@OUT@/"$out"}
        args+=("${arg//@DB@/"$fresh_url"}")
    done
    local log=$OUT/logs/$current_size-$current_backend-$name.log
    local stdout=$dir/stdout
    ! $to_stdout || stdout=$out
    sync
    local start=$EPOCHREALTIME end
    if ! /usr/bin/time -f '%e %U %S %M' -o "$dir/time" "${args[@]}" <"$stdin" >"$stdout" 2>"$log"; then
        note "error: $name failed (${args[*]}):"
        tail -n 20 "$log" >&2
        cat "$dir/time" >&2
        exit 1
    fi
    end=$EPOCHREALTIME
    [ "$to_stdout" = true ] || cat "$stdout" >>"$log"
    local seconds user system peak bytes files db db_bytes
    # Wall time from the shell's clock (microseconds; /usr/bin/time's %e has 10 ms steps).
    read -r _ user system peak < <(tail -n 1 "$dir/time")
    seconds=$(awk -v a="${start/,/.}" -v b="${end/,/.}" 'BEGIN { printf "%.3f", b - a }')
    bytes=0 files=0
    [ ! -e "$out" ] ||
        read -r bytes files < <(find "$out" -type f -printf '%s\n' | awk '{ s += $1; n++ } END { print s + 0, n + 0 }')
    for db in "${run_databases[@]}"; do
        db_bytes=$("${pg_bin}psql" -X -tA -d "$pg_admin_url" -c "SELECT pg_database_size('$db')") ||
            die "could not read the size of the PostgreSQL database $db"
        bytes=$((bytes + db_bytes))
        drop_database "$pg_admin_url" "$db" || die "could not drop the PostgreSQL database $db"
    done
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$current_size" "$current_backend" "$name" \
        "$current_run" "$seconds" "$user" "$system" "$peak" "$bytes" "$files" "$docs" >>"$results"
    printf '  run %s  %-22s %8.3f s (user %6.2f, sys %6.2f) %8.1f MiB %10.1f MB\n' "$current_run" "$name" \
        "$seconds" "$user" "$system" \
        "$(awk -v k="$peak" 'BEGIN { print k / 1024 }')" "$(awk -v b="$bytes" 'BEGIN { print b / 1e6 }')" >&2
    # On ext4 the output stays until the size and backend are done: see `settle`.
    $careful_removal || rm -rf "$dir"
}

# Setups for `measure --setup`, called (through `quiet`) with the run's @OUT@ path; they report a
# failure by their status, as `set -e` does not apply inside them.
run_databases=() fresh_url=''
# A fresh empty PostgreSQL database: its URL in $fresh_url, dropped after the run.
fresh_database() {
    new_database || return 1
    run_databases+=("$new_db")
    fresh_url=$(url_with_database "$pg_admin_url" "$new_db")
}
# A fresh empty instance named `fresh` whose CUTTLE_HOME is @OUT@ (PostgreSQL: in a fresh database):
# the command runs it as `env CUTTLE_HOME=@OUT@ cuttle ... --instance fresh`.
fresh_instance() {
    mkdir -p "$1" || return 1
    if [ "$current_backend" = postgres ]; then
        fresh_database "$1" || return 1
    fi
    CUTTLE_HOME=$1 "$cuttle" instance create fresh ${fresh_url:+--database "$fresh_url"}
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

# Prints the export tables of one size and backend, and appends them to $report.
report_export() {
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
exports = [e for e in ("export", "export+logs", "export-archive+logs") if e in figures]
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
if "export+logs-again" in figures and "export+logs" in figures:
    a, b = figures["export+logs-again"], figures["export+logs"]
    print(f"\nAn export of unchanged data into the previous export takes {a['s'] / b['s']:.2f}× the wall "
          f"time of a fresh one and {(a['user'] + a['system']) / (b['user'] + b['system']):.2f}× its CPU "
          f"time (target: 0.3×).")
PY
}

# Prints the import tables of one size and backend, and appends them to $report.
# report_import SIZE BACKEND PROJECT
report_import() {
    python3 - "$results" "$1" "$2" "$RUNS" "$WARMUP" "$3" <<'PY' | tee -a "$report"
import csv, statistics, sys
results, size, backend, runs, warmup, project = sys.argv[1:7]
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
    f = figures[name] = dict(
        s=s, cpu=med(rs, "user") + med(rs, "system"), user=med(rs, "user"), system=med(rs, "system"),
        peak=med(rs, "peak_kib") / 1024, bytes=med(rs, "bytes"), docs=float(rs[0]["documents"]),
    )
    f["dps"] = f["docs"] / s if s > 0 else float("inf")

def num(x, digits=1):
    return "∞" if x == float("inf") else f"{x:,.{digits}f}"

full = figures.get("import-empty", {}).get("docs", 0)
part = figures.get("partial-into-empty", {}).get("docs", 0)
print(f"\n### {size} / {backend}: import of {int(full):,} documents; partial: project {project!r}, "
      f"{int(part):,} documents; median of {runs} run(s) after {warmup} warm-up\n")
print("| command | documents | wall s | user s | sys s | documents/s | peak MiB | MB stored |")
print("|---|--:|--:|--:|--:|--:|--:|--:|")
for name, f in figures.items():
    stored = f"{f['bytes'] / 1e6:,.1f}" if f["bytes"] > 0 else "—"
    print(f"| {name} | {int(f['docs']):,} | {f['s']:.3f} | {f['user']:.2f} | {f['system']:.2f} "
          f"| {num(f['dps'], 0)} | {f['peak']:,.1f} | {stored} |")

def ratio(x, y):
    return "n/a" if y == 0 or x == float("inf") or y == float("inf") else f"{x / y:.2f}×"
restore = "psql-restore" if backend == "postgres" else "sqlite3-restore"
pairs = [("import-empty", restore), ("import-archive", "import-empty"), ("import-populated", "import-empty"),
         ("import-populated-skip", "import-empty"), ("import-empty", "read-floor"),
         ("import-populated-skip", "read-floor"), ("partial-into-large", "partial-into-empty"),
         ("nothing-into-large", "nothing-into-empty")]
pairs = [(a, b) for a, b in pairs if a in figures and b in figures]
if pairs:
    print("\nRatios (time > 1 means the first is slower; documents/s is the inverse for the same documents):\n")
    print("| ratio | wall time | CPU time | documents/s | peak memory |")
    print("|---|--:|--:|--:|--:|")
    for a, b in pairs:
        x, y = figures[a], figures[b]
        print(f"| {a} / {b} | {ratio(x['s'], y['s'])} | {ratio(x['cpu'], y['cpu'])} "
              f"| {ratio(x['dps'], y['dps'])} | {ratio(x['peak'], y['peak'])} |")
if "partial-into-large" in figures and "partial-into-empty" in figures:
    large, empty = figures["partial-into-large"]["s"], figures["partial-into-empty"]["s"]
    r = large / empty
    verdict = "met" if r <= 1.5 and large < 1.0 else "NOT met"
    print(f"\nOne project into the large destination takes {r:.2f}× the time it takes into an empty one, "
          f"{large:.3f} s (target: at most 1.5×, and well under a second): {verdict}.")
    if "nothing-into-large" in figures and "nothing-into-empty" in figures:
        nl, ne = figures["nothing-into-large"]["s"], figures["nothing-into-empty"]["s"]
        net_large, net_empty = large - nl, empty - ne
        # Below 10 ms the difference is within the noise of two process runs: no ratio.
        net = f"{net_large / net_empty:.2f}×" if net_large > 0.01 and net_empty > 0.01 else "n/a (too small to tell)"
        print(f"Less the fixed cost of an import (an export without documents: {nl:.3f} s into the large "
              f"destination, {ne:.3f} s into the empty one), the project itself takes {net_large:.3f} s "
              f"into the large destination and {net_empty:.3f} s into the empty one: {net}.")
PY
}

# prepare_source SIZE BACKEND [DATABASE-URL]: creates the instance bench-SIZE-BACKEND and fills it
# with the sample; sets src_instance, total, logs and database for bench_export and bench_import.
src_instance='' total=0 logs=0 database=''
prepare_source() {
    local size=$1 backend=$2 url=${3:-}
    src_instance=bench-$size-$backend
    current_size=$size current_backend=$backend
    note "$size / $backend: creating instance $src_instance and its $size sample"
    quiet "$cuttle" instance create "$src_instance" ${url:+--database "$url"}
    quiet "$cuttle" sample --instance "$src_instance" --size "$size"
    tail -n 1 "$work/quiet.log" >&2
    # Also lets SQLite fold its WAL into the database (the last connection to close checkpoints).
    local show
    show=$("$cuttle" instance show "$src_instance" --format json)
    read -r total logs database < <(python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sum(d["documents"].values()), d["documents"].get("task-logs", 0), d["database"])' <<<"$show")
    note "$size / $backend: $total documents ($logs task logs)"
}

# bench_export SIZE BACKEND [DATABASE-URL]
bench_export() {
    local size=$1 backend=$2 url=${3:-}
    current_size=$size current_backend=$backend
    results=$OUT/export.tsv report=$OUT/export.md
    # The previous export for export+logs-again, made once, untimed.
    local previous=$work/runs/$size-$backend-previous
    quiet "$cuttle" export --instance "$src_instance" --directory "$previous" --include-task-logs
    note "$size / $backend: measuring the export, $RUNS run(s)"
    settle
    for ((current_run = 1 - WARMUP; current_run <= RUNS; current_run++)); do
        [ "$current_run" -ge 1 ] || note "$size / $backend: warm-up round"
        current_docs=$total
        measure export --docs $((total - logs)) -- \
            "$cuttle" export --instance "$src_instance" --directory @OUT@
        measure export+logs -- \
            "$cuttle" export --instance "$src_instance" --directory @OUT@ --include-task-logs
        measure raw-floor -- "$bench" raw-floor --instance "$src_instance" --directory @OUT@
        measure export-archive+logs -- \
            "$cuttle" export --instance "$src_instance" --archive @OUT@ --include-task-logs
        measure export+logs-again -- \
            "$cuttle" export --instance "$src_instance" --directory "$previous" --include-task-logs
        case $backend in
        sqlite)
            [ -z "$sqlite3_bin" ] || measure sqlite3-dump --stdout -- "$sqlite3_bin" -readonly "$database" .dump
            ;;
        postgres)
            measure pg_dump -- "${pg_bin}pg_dump" --format=plain --no-sync --file=@OUT@ --dbname="$url"
            ;;
        esac
    done
    report_export "$size" "$backend"
    remove_outputs
}

# The document count in the last line `cuttle export` or `cuttle partial-export` printed.
exported_documents() {
    sed -n 's/^exported \([0-9][0-9]*\) documents .*/\1/p' "$work/quiet.log" | tail -n 1
}

# new_instance NAME: an instance under CUTTLE_HOME (PostgreSQL: in a new database, its name in
# $new_db; empty for SQLite).
new_instance() {
    new_db=
    if [ "$current_backend" = postgres ]; then
        new_database || exit 1
        quiet "$cuttle" instance create "$1" --database "$(url_with_database "$pg_admin_url" "$new_db")"
    else
        quiet "$cuttle" instance create "$1"
    fi
}

# bench_import SIZE BACKEND [DATABASE-URL]
bench_import() {
    local size=$1 backend=$2 url=${3:-}
    current_size=$size current_backend=$backend
    results=$OUT/import.tsv report=$OUT/import.md
    # Made once, untimed. Under $work/runs, so that remove_outputs takes it away with the outputs.
    local prep=$work/runs/$size-$backend-prep
    local full=$prep/full partial=$prep/partial dump=$prep/dump.sql nothing=$prep/nothing
    local populated=$src_instance-populated large=$src_instance-large
    local full_docs partial_docs project='' populated_db large_db
    mkdir -p "$prep"

    note "$size / $backend: preparing the import: full export (with task logs)"
    quiet "$cuttle" export --instance "$src_instance" --directory "$full" --include-task-logs
    quiet "$cuttle" export --instance "$src_instance" --archive "$full.tar" --include-task-logs
    full_docs=$(exported_documents)
    [ -n "$full_docs" ] || die "could not read the document count of the export"
    case $backend in
    sqlite)
        if [ -n "$sqlite3_bin" ]; then
            note "$size / $backend: dumping the database (sqlite3 .dump)"
            "$sqlite3_bin" -readonly "$database" .dump >"$dump" || die "sqlite3 .dump failed"
        fi
        ;;
    postgres)
        note "$size / $backend: dumping the database (pg_dump)"
        quiet "${pg_bin}pg_dump" --format=plain --no-sync --file="$dump" --dbname="$url"
        ;;
    esac

    note "$size / $backend: importing the full export into instance $populated"
    new_instance "$populated"
    populated_db=$new_db
    quiet "$cuttle" import --instance "$populated" --directory "$full" --quiet --include-task-logs
    tail -n 1 "$work/quiet.log" >&2

    note "$size / $backend: filling instance $large with the $size sample, then choosing a project"
    new_instance "$large"
    large_db=$new_db
    quiet "$cuttle" sample --instance "$large" --size "$size"
    # The projects by the number of files of theirs in the full export, from the median outwards:
    # the first one that nothing else refers to (`doc delete` refuses the others, changing nothing)
    # is deleted from the large destination and becomes the partial export.
    local candidate tries=0
    while IFS= read -r candidate; do
        tries=$((tries + 1))
        if "$cuttle" doc delete --instance "$large" projects "$candidate" </dev/null >"$work/quiet.log" 2>&1; then
            project=$candidate
            break
        fi
        [ "$tries" -lt 100 ] || break
    done < <(python3 - "$full/projects" <<'PY'
import json, os, statistics, sys
root = sys.argv[1]
sizes = []
for entry in sorted(os.listdir(root)):
    folder = os.path.join(root, entry)
    with open(os.path.join(folder, "project.json"), encoding="utf-8") as f:
        name = json.load(f)["name"]
    files = sum(len(fs) for _, _, fs in os.walk(folder))
    sizes.append((files, name))
middle = statistics.median_low(n for n, _ in sizes)
for files, name in sorted(sizes, key=lambda s: (abs(s[0] - middle), s[1])):
    print(name)
PY
    )
    [ -n "$project" ] || die "no project of the $size sample can be deleted from $large (all are referred to)"
    quiet "$cuttle" partial-export --instance "$src_instance" --directory "$partial" --project "$project" \
        --include-task-logs
    partial_docs=$(exported_documents)
    [ -n "$partial_docs" ] || die "could not read the document count of the partial export"
    # An export without documents, from an empty SQLite instance of its own (the format is the same).
    quiet env CUTTLE_HOME="$prep/void-home" "$cuttle" instance create void
    quiet env CUTTLE_HOME="$prep/void-home" "$cuttle" export --instance void --directory "$nothing"
    note "$size / $backend: project ${project@Q}: $partial_docs documents; measuring the import, $RUNS run(s)"

    settle
    for ((current_run = 1 - WARMUP; current_run <= RUNS; current_run++)); do
        [ "$current_run" -ge 1 ] || note "$size / $backend: warm-up round"
        current_docs=$full_docs
        measure import-empty --setup fresh_instance -- env CUTTLE_HOME=@OUT@ \
            "$cuttle" import --instance fresh --directory "$full" --quiet --include-task-logs
        measure import-archive --setup fresh_instance -- env CUTTLE_HOME=@OUT@ \
            "$cuttle" import --instance fresh --archive "$full.tar" --quiet --include-task-logs
        measure import-populated -- \
            "$cuttle" import --instance "$populated" --directory "$full" --quiet --include-task-logs --overwrite
        measure import-populated-skip -- \
            "$cuttle" import --instance "$populated" --directory "$full" --quiet --include-task-logs
        measure read-floor -- "$bench" read-floor --directory "$full"
        case $backend in
        sqlite)
            [ -z "$sqlite3_bin" ] || measure sqlite3-restore --stdin "$dump" -- "$sqlite3_bin" @OUT@
            ;;
        postgres)
            measure psql-restore --setup fresh_database -- \
                "${pg_bin}psql" -X -q -v ON_ERROR_STOP=1 -d @DB@ -f "$dump"
            ;;
        esac
        current_docs=$partial_docs
        measure partial-into-empty --setup fresh_instance -- env CUTTLE_HOME=@OUT@ \
            "$cuttle" import --instance fresh --directory "$partial" --quiet --include-task-logs --dry-run
        measure partial-into-large -- \
            "$cuttle" import --instance "$large" --directory "$partial" --quiet --include-task-logs --dry-run
        current_docs=0
        measure nothing-into-empty --setup fresh_instance -- env CUTTLE_HOME=@OUT@ \
            "$cuttle" import --instance fresh --directory "$nothing" --quiet --include-task-logs --dry-run
        measure nothing-into-large -- \
            "$cuttle" import --instance "$large" --directory "$nothing" --quiet --include-task-logs --dry-run
    done
    report_import "$size" "$backend" "$project"

    quiet "$cuttle" instance delete "$populated"
    quiet "$cuttle" instance delete "$large"
    local db
    for db in $populated_db $large_db; do
        drop_database "$pg_admin_url" "$db" || true
    done
    remove_outputs
}

# --- the runs -------------------------------------------------------------------------------------
machine() {
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (with local changes)'),"
    echo "$(nproc) CPU(s) ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(uname -sr)."
    echo "Median of $RUNS run(s) of each command after $WARMUP warm-up round(s), interleaved; wall and CPU"
    echo "seconds and peak RSS from /usr/bin/time; outputs written to $(stat -f -c %T "$work") ($work)."
}
if wants export; then
    {
        echo "# Export benchmark"
        echo
        machine
        echo "CPU time and peak memory are the measured process's own: the PostgreSQL server's share of"
        echo "pg_dump's (and every command's) reading is not in them. \`export\` leaves task logs out (its"
        echo "default); \`export+logs\` includes them, covering the same documents as the raw floor and the"
        echo "dumps. Documents/s counts the documents each command covers."
    } >"$OUT/export.md"
    [ -n "$sqlite3_bin" ] || echo "- sqlite3-dump skipped: sqlite3 not available." >>"$OUT/export.md"
fi
if wants import; then
    {
        echo "# Import benchmark"
        echo
        machine
        echo "CPU time and peak memory are the measured process's own: the PostgreSQL server's share of"
        echo "every command's work is not in them. \`import-empty\` imports the instance's full export (task"
        echo "logs included) into a fresh empty instance; \`import-populated\` (--overwrite) and"
        echo "\`import-populated-skip\` (the default policy) into an instance that already holds the same"
        echo "data; the restores load a dump of the same database into a fresh one. \`partial-into-*\` import"
        echo "a partial export of one project (--dry-run: the same code path, rolled back) into a fresh"
        echo "empty instance and into a large one (the same sample without that project); \`nothing-into-*\`"
        echo "the same with an export that holds no document: the fixed cost of every import, key"
        echo "derivation (argon2id, 64 MiB) included. MB stored is the size of the fresh destination"
        echo "afterwards (PostgreSQL: the database, an empty one being about 7.5 MB). See scripts/bench.sh"
        echo "for the exact commands."
    } >"$OUT/import.md"
    [ -n "$sqlite3_bin" ] || echo "- sqlite3-restore skipped: sqlite3 not available." >>"$OUT/import.md"
fi

for size in $SIZES; do
    for backend in $BACKENDS; do
        url=
        if [ "$backend" = postgres ]; then
            if [ -z "$pg_admin_url" ]; then
                for one in $BENCHES; do
                    echo "- $size / postgres skipped: no PostgreSQL server (see scripts/bench.sh)." >>"$OUT/$one.md"
                done
                continue
            fi
            new_database || die "PostgreSQL: cannot create a database"
            url=$(url_with_database "$pg_admin_url" "$new_db")
        fi
        prepare_source "$size" "$backend" "$url"
        ! wants export || bench_export "$size" "$backend" "$url"
        ! wants import || bench_import "$size" "$backend" "$url"
    done
done

for one in $BENCHES; do
    note "$one figures written to $OUT/$one.md (raw measurements: $OUT/$one.tsv)"
done
