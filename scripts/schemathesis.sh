#!/usr/bin/env bash
# Schemathesis (from PyPI, in a virtual environment under target/) against a live `cuttle serve`
# on a sampled instance, on SQLite and (when CUTTLE_TEST_POSTGRES_URL names a server) on
# PostgreSQL: no 5xx, every response as the OpenAPI document says, with a bounded number of
# examples. Part of scripts/test.sh.
#
# Documents are generic JSON objects in the OpenAPI document (their shapes are the collections'
# own), so the check that any schema-valid body is accepted (positive_data_acceptance) does not
# apply and is left out; every other check runs.
#
#   EXAMPLES=100 scripts/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${EXAMPLES:-60}
version=4.32.5
target=${CARGO_TARGET_DIR:-target}
venv=$target/schemathesis-venv

skip() {
    echo "SKIPPED: schemathesis ($*)" >&2
    [ "${CUTTLE_REQUIRE_SCHEMATHESIS:-}" != 1 ] || { echo "error: CUTTLE_REQUIRE_SCHEMATHESIS=1" >&2; exit 1; }
    exit 0
}

command -v python3 >/dev/null || skip "python3 is missing"
if [ ! -x "$venv/bin/schemathesis" ] || ! "$venv/bin/schemathesis" --version | grep -q "$version"; then
    rm -rf "$venv"
    python3 -m venv "$venv" || skip "python3 cannot make a virtual environment (Debian: python3-venv)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version" ||
        skip "schemathesis $version could not be installed from PyPI"
fi

cargo build --locked -q -p cuttle-cli
cuttle=$target/debug/cuttle
work=$(mktemp -d)
server=
cleanup() {
    [ -z "$server" ] || kill "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
export CUTTLE_HOME=$work/home

run() {
    local backend=$1 database=()
    if [ "$backend" = postgres ]; then
        local db="cuttle_schemathesis_$$"
        psql -q "$CUTTLE_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
        database=(--database "${CUTTLE_TEST_POSTGRES_URL%/*}/$db")
    fi
    "$cuttle" instance create "$backend" "${database[@]}" >/dev/null 2>&1
    "$cuttle" sample --instance "$backend" >/dev/null 2>&1
    local key
    key=$("$cuttle" admin create --instance "$backend" --user schemathesis 2>/dev/null)
    "$cuttle" serve --instance "$backend" --listen 127.0.0.1:0 2>"$work/$backend.log" &
    server=$!
    local url=
    for _ in $(seq 1 100); do
        url=$(grep -o 'http://[^ ]*/api/v1' "$work/$backend.log" || true)
        [ -z "$url" ] || break
        sleep 0.1
    done
    [ -n "$url" ] || { cat "$work/$backend.log" >&2; echo "the server did not start" >&2; exit 1; }
    echo "schemathesis against $backend at $url ($examples examples per operation)"
    "$venv/bin/schemathesis" run "$url/openapi.json" \
        --header "Authorization: Bearer $key" \
        --checks all --exclude-checks positive_data_acceptance \
        --max-examples "$examples" --seed 1 \
        --suppress-health-check all
    kill "$server"
    wait "$server" || true
    server=
    if [ "$backend" = postgres ]; then
        "$cuttle" instance delete postgres >/dev/null 2>&1 || true
        psql -q "$CUTTLE_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS cuttle_schemathesis_$$" >/dev/null || true
    fi
}

run sqlite
if [ -n "${CUTTLE_TEST_POSTGRES_URL:-}" ]; then
    run postgres
fi
