#!/usr/bin/env bash
# Runs every test, on SQLite and on PostgreSQL, then Schemathesis against a live server.
#
# PostgreSQL: if CUTTLE_TEST_POSTGRES_URL is not set and this runs as root on a machine with
# PostgreSQL 15 installed, the local cluster is started and prepared by .ci/postgres.sh;
# otherwise the PostgreSQL tests say loudly that they were skipped (CUTTLE_REQUIRE_POSTGRES=1
# makes that a failure, as in CI).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${CUTTLE_TEST_POSTGRES_URL:-}" ] && [ "$(id -u)" -eq 0 ] && [ -x /usr/lib/postgresql/15/bin/postgres ]; then
    bash .ci/postgres.sh
    export CUTTLE_TEST_POSTGRES_URL=postgres://cuttle:cuttle@127.0.0.1:5432/cuttle
fi

# The tests make and remove hundreds of thousands of small files (instances, exports, archives).
# On ext4, making files gets slower as removed ones pile up (the kernel's inode allocation skips
# recently deleted inodes): the command line's import tests on SQLite took 62 to 64 s with their
# files on this machine's disk and 50 to 54 s on tmpfs, with half the system time. So their
# temporary files go to /dev/shm when it is a tmpfs with 4 GiB free, unless TMPDIR is already
# set (what the tests check does not depend on the file system).
log=$(mktemp)
scratch=
trap 'rm -f "$log"; [ -z "$scratch" ] || rm -rf "$scratch"' EXIT
if [ -z "${TMPDIR:-}" ] && [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
    [ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -ge $((4 << 20)) ]; then
    scratch=$(mktemp -d /dev/shm/cuttle-tests.XXXXXX)
    export TMPDIR=$scratch
fi
# The command line's tests wait on PostgreSQL and on the processes they start as well as compute:
# one thread more than the cores keeps the cores busy (its import tests on the 2-core machine,
# with their files on tmpfs: 132 and 138 s with three threads, 144 and 148 s with two).
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-$(($(nproc) + 1))}
cargo test --workspace --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] || exit "$status"

# Schemathesis against a live server (see the script; CUTTLE_REQUIRE_SCHEMATHESIS=1 makes a
# missing Python or PyPI a failure).
bash scripts/schemathesis.sh

if grep -q "SKIPPED: PostgreSQL" "$log"; then
    echo "warning: the PostgreSQL tests were skipped (set CUTTLE_TEST_POSTGRES_URL)" >&2
    [ "${CUTTLE_REQUIRE_POSTGRES:-}" != 1 ] || { echo "error: CUTTLE_REQUIRE_POSTGRES=1 and the PostgreSQL tests did not run" >&2; exit 1; }
fi
