#!/usr/bin/env bash
# Crash safety of an import at scale (SPEC 8, issue 6): `cuttle import` of the MEDIUM sample's
# export is killed (SIGKILL) at KILLS random moments per backend; after each kill the destination
# must be either exactly as it was or exactly fully imported, never in between. Not run by CI (the
# test crates/cuttle-cli/tests/cli/crash.rs does a few kills on the small sample there).
#
#   scripts/crash.sh                              # 100 kills per backend, medium sample
#   KILLS=10 BACKENDS=sqlite scripts/crash.sh     # a quick look
#   SEED=12345 scripts/crash.sh                   # replays the moments of an earlier run
#
# Made once, untimed: a source instance filled by `cuttle sample --size $SIZE` (SQLite) and its
# export with --include-task-logs. Then per backend:
#   - a reference destination: a fresh instance holding one document of its own (an environment
#     "Kept before the import"), exported as the "before" state; the export imported into it
#     without interruption (its duration D is measured); exported again, into a copy of "before",
#     as the "after" state;
#   - KILLS rounds, each on a fresh destination made the same way (`cuttle instance create`, on
#     PostgreSQL in a fresh database dropped after the round, and one `cuttle doc put`): the import
#     is started and killed after a random moment in [0, 1.1 D) (start-up and key derivation
#     included, and some moments after the end). The destination is then exported with
#     --include-task-logs into a copy of each reference in turn; the export reuses the copy's salt,
#     so equal contents give equal files, and `diff -r -q` against the reference decides: "as
#     before", "fully imported", or IN BETWEEN (a failure: the differences are printed).
#   - after the first round, the killed destination must still take the import, ending fully
#     imported.
#
# Prints the seed, one line per round and a tally per backend; exits 1 if any round found the
# destination in between (or anything else failed), 0 otherwise.
#
# Environment:
#   KILLS     kills per backend (default 100)
#   BACKENDS  "sqlite postgres" by default
#   SIZE      sample size (default medium; small | medium | large)
#   SEED      the seed of the random moments (default: from the clock; printed)
#   CUTTLE_CRASH_POSTGRES_URL  a PostgreSQL URL whose role may CREATE DATABASE (default
#             CUTTLE_TEST_POSTGRES_URL). Without either, as root on a machine with PostgreSQL 15,
#             the local cluster is started by .ci/postgres.sh and used as
#             postgres://cuttle:cuttle@127.0.0.1:5432/cuttle. Otherwise PostgreSQL is skipped,
#             loudly.
#   CRASH_TMPDIR  where the temporary CUTTLE_HOME and exports go (default: the system's)
#   CARGO_TARGET_DIR  honoured for the release build
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=scripts/lib/postgres.sh
. scripts/lib/postgres.sh

KILLS=${KILLS:-100}
BACKENDS=${BACKENDS:-sqlite postgres}
SIZE=${SIZE:-medium}
export CUTTLE_PASSWORD=${CUTTLE_PASSWORD:-cuttle-crash-password}
unset CUTTLE_MASTER_KEY PGPASSWORD

note() { printf 'crash: %s\n' "$*" >&2; }
die() {
    note "error: $*"
    exit 1
}
# Runs a command, showing its output only when it fails (kept in $work/quiet.log).
quiet() {
    "$@" >"$work/quiet.log" 2>&1 || {
        cat "$work/quiet.log" >&2
        die "failed: $*"
    }
}

[[ $KILLS =~ ^[1-9][0-9]*$ ]] || die "KILLS must be a positive integer, not ${KILLS@Q}"
case $SIZE in small | medium | large) ;; *) die "unknown size ${SIZE@Q} (small, medium, large)" ;; esac
for backend in $BACKENDS; do
    case $backend in sqlite | postgres) ;; *) die "unknown backend ${backend@Q} in BACKENDS (sqlite, postgres)" ;; esac
done
[ -n "${BACKENDS// /}" ] || die "BACKENDS is empty (sqlite, postgres)"
if [ -n "${SEED:-}" ]; then
    [[ $SEED =~ ^[0-9]+$ ]] || die "SEED must be a whole number, not ${SEED@Q}"
    seed=$SEED
else
    seed=$(($(date +%s%N) % 1000000000))
fi
command -v python3 >/dev/null || die "python3 is missing"

# --- build ----------------------------------------------------------------------------------------
note "building cuttle (release)"
cargo build --release --locked -p cuttle-cli
target=${CARGO_TARGET_DIR:-$root/target}
[[ $target = /* ]] || target=$root/$target
cuttle=$target/release/cuttle
[ -x "$cuttle" ] || die "no $cuttle after the build"

# --- work area and cleanup ------------------------------------------------------------------------
work=$(mktemp -d "${CRASH_TMPDIR:-${TMPDIR:-/tmp}}/cuttle-crash.XXXXXX")
export CUTTLE_HOME=$work/home
created_databases=() # dropped at exit, if not before
import_pid=
pg_admin_url=

# drop_database DATABASE: drops it (if it exists) and forgets it.
drop_database() {
    psql -X -q -d "$pg_admin_url" -c "DROP DATABASE IF EXISTS \"$1\"" >/dev/null 2>&1 ||
        psql -X -q -d "$pg_admin_url" -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null 2>&1 ||
        { note "could not drop the PostgreSQL database $1; drop it by hand" && return 1; }
    local entry kept=()
    for entry in "${created_databases[@]}"; do
        [ "$entry" = "$1" ] || kept+=("$entry")
    done
    created_databases=("${kept[@]}")
}

cleanup() {
    local status=$? entry
    set +e
    if [ -n "$import_pid" ]; then
        kill -KILL "$import_pid" 2>/dev/null
        wait "$import_pid" 2>/dev/null
    fi
    for entry in "${created_databases[@]}"; do
        drop_database "$entry"
    done
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- PostgreSQL -----------------------------------------------------------------------------------
if [[ " $BACKENDS " == *" postgres "* ]]; then
    find_postgres "${CUTTLE_CRASH_POSTGRES_URL:-${CUTTLE_TEST_POSTGRES_URL:-}}" CUTTLE_CRASH_POSTGRES_URL
    if [ -n "$pg_admin_url" ]; then
        command -v psql >/dev/null || die "psql is missing (Debian package: postgresql-client)"
        if ! out=$(psql -X -tA -d "$pg_admin_url" -c 'SELECT 1' 2>&1); then
            note "SKIPPED postgres: cannot reach the server: $out"
            pg_admin_url=
        fi
    fi
fi

db_serial=0
# new_database: creates an empty database on the server; its URL in $new_url, its name in $new_db.
new_database() {
    db_serial=$((db_serial + 1))
    new_db=cuttle_crash_$$_$db_serial
    psql -X -q -v ON_ERROR_STOP=1 -d "$pg_admin_url" -c "CREATE DATABASE \"$new_db\"" >/dev/null ||
        die "could not create the PostgreSQL database $new_db (the role needs CREATEDB)"
    created_databases+=("$new_db")
    new_url=$(python3 - "$pg_admin_url" "$new_db" <<'PY'
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
print(u.urlunsplit((p.scheme, p.netloc, "/" + sys.argv[2], "", "")))
PY
    )
}

# --- helpers --------------------------------------------------------------------------------------
# destination BACKEND NAME: a fresh instance holding one document of its own (PostgreSQL: in a
# fresh database, its name in $new_db).
destination() {
    new_db=
    if [ "$1" = postgres ]; then
        new_database
        quiet "$cuttle" instance create "$2" --database "$new_url"
    else
        quiet "$cuttle" instance create "$2"
    fi
    printf '%s' '{"name": "Kept before the import", "description": "mine"}' >"$work/kept.json"
    quiet "$cuttle" doc put environments --instance "$2" --file "$work/kept.json"
}

# remove_destination NAME DATABASE: deletes the instance and drops its database (if any).
remove_destination() {
    quiet "$cuttle" instance delete "$1"
    rm -rf "${CUTTLE_HOME:?}/instances/$1"
    [ -z "$2" ] || drop_database "$2" || true
}

# export_into NAME DIRECTORY: exports the instance into DIRECTORY (a copy of a reference).
export_into() {
    quiet "$cuttle" export --instance "$1" --directory "$2" --include-task-logs
}

# equals NAME REFERENCE: whether exporting the instance into a copy of REFERENCE changes nothing.
# The differences, if any, are left in $work/diff.log.
equals() {
    rm -rf "$work/scratch"
    cp -a "$2" "$work/scratch"
    export_into "$1" "$work/scratch"
    diff -r -q "$2" "$work/scratch" >"$work/diff.log" 2>&1
}

# A pseudo-random fraction in [0, 1) in $fraction, from bash's generator seeded with $seed.
RANDOM=$seed
next_fraction() {
    fraction=$(awk -v a="$RANDOM" -v b="$RANDOM" 'BEGIN { printf "%.6f", (a * 32768 + b) / 1073741824 }')
}

now() { date +%s.%N; }

start_import() {
    "$cuttle" import --quiet --include-task-logs --instance "$1" --directory "$source" \
        >/dev/null 2>"$work/import.log" &
    import_pid=$!
}

# --- the source -----------------------------------------------------------------------------------
source=$work/source
note "seed $seed (replay with SEED=$seed)"
note "filling the source instance with the $SIZE sample, then exporting it (with task logs)"
quiet "$cuttle" instance create source
quiet "$cuttle" sample --instance source --size "$SIZE"
quiet "$cuttle" export --instance source --directory "$source" --include-task-logs
note "$(tail -n 1 "$work/quiet.log")"

failures=0
summary=()

# --- the rounds -----------------------------------------------------------------------------------
for backend in $BACKENDS; do
    if [ "$backend" = postgres ] && [ -z "$pg_admin_url" ]; then
        summary+=("postgres: SKIPPED (no PostgreSQL server)")
        continue
    fi
    before=$work/$backend-before after=$work/$backend-after
    note "$backend: reference destination: before, uninterrupted import, after"
    destination "$backend" "$backend-reference"
    reference_db=$new_db
    export_into "$backend-reference" "$before"
    started=$(now)
    quiet "$cuttle" import --quiet --include-task-logs --instance "$backend-reference" --directory "$source"
    full=$(awk -v a="$started" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
    cp -a "$before" "$after"
    export_into "$backend-reference" "$after"
    if diff -r -q "$before" "$after" >/dev/null 2>&1; then
        die "$backend: the import changed nothing in the reference destination"
    fi
    remove_destination "$backend-reference" "$reference_db"
    note "$backend: the uninterrupted import takes ${full}s; $KILLS kills in [0, $(awk -v f="$full" 'BEGIN { printf "%.3f", f * 1.1 }'))s"

    as_before=0 imported=0 in_between=0
    for ((round = 0; round < KILLS; round++)); do
        name=$backend-destination-$round
        destination "$backend" "$name"
        round_db=$new_db
        next_fraction
        delay=$(awk -v f="$full" -v x="$fraction" 'BEGIN { printf "%.3f", f * x * 1.1 }')
        start_import "$name"
        sleep "$delay"
        kill -KILL "$import_pid" 2>/dev/null || true
        status=0
        wait "$import_pid" 2>/dev/null || status=$? # (without bash's "Killed" notice)
        import_pid=
        case $status in
        137) how="killed" ;;
        0) how="had finished" ;;
        *) how="had failed (exit $status: $(tail -n 1 "$work/import.log"))" ;;
        esac
        if equals "$name" "$before"; then
            as_before=$((as_before + 1))
            state="as before"
        elif equals "$name" "$after"; then
            imported=$((imported + 1))
            state="fully imported"
        else
            in_between=$((in_between + 1))
            state="IN BETWEEN: neither as before nor fully imported"
        fi
        printf 'crash: %s round %d: kill after %ss of %ss (import %s): %s\n' \
            "$backend" "$round" "$delay" "$full" "$how" "$state"
        if [ "${state%%:*}" = "IN BETWEEN" ]; then
            echo "  differences from the fully imported state (first 20):"
            head -n 20 "$work/diff.log" | sed 's/^/    /'
            equals "$name" "$before" || true
            echo "  differences from the state before (first 20):"
            head -n 20 "$work/diff.log" | sed 's/^/    /'
        fi
        if [ "$round" -eq 0 ]; then
            # Whatever the moment, the destination still takes the import afterwards.
            if "$cuttle" import --quiet --include-task-logs --instance "$name" --directory "$source" \
                >"$work/import.log" 2>&1 && equals "$name" "$after"; then
                echo "crash: $backend round 0: importing again afterwards: fully imported"
            else
                echo "crash: $backend round 0: importing again afterwards FAILED:"
                tail -n 5 "$work/import.log" "$work/diff.log" | sed 's/^/    /'
                in_between=$((in_between + 1))
            fi
        fi
        remove_destination "$name" "$round_db"
    done
    line="$backend: $KILLS kills (seed $seed): $as_before as before, $imported fully imported, $in_between in between"
    echo "crash: $line"
    summary+=("$line")
    failures=$((failures + in_between))
done

echo "crash: tally ($SIZE sample):"
printf '  %s\n' "${summary[@]}"
if [ "$failures" -gt 0 ]; then
    echo "crash: FAILED: $failures destination(s) left in between (replay with SEED=$seed)"
    exit 1
fi
echo "crash: passed"
