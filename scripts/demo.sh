#!/usr/bin/env bash
# The main job, end to end, on the embedded default: an instance with sample data, exported to a
# directory of JSON, the import into a second instance previewed (a dry run), then imported, and
# the second instance exported into a copy of the first export to show that nothing differs.
#
# Uses CUTTLE_HOME if set, else a fresh temporary directory; the exports go under $CUTTLE_HOME.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet -p cuttle-cli
cuttle=$PWD/target/release/cuttle
export CUTTLE_HOME=${CUTTLE_HOME:-$(mktemp -d)}
export CUTTLE_PASSWORD=${CUTTLE_PASSWORD:-demo password}
echo "CUTTLE_HOME=$CUTTLE_HOME" >&2
step() { printf '\n== %s\n' "$*" >&2; }

step "staging: an instance with sample data"
"$cuttle" instance create staging
"$cuttle" sample --instance staging --size small --seed 1

step "export staging"
"$cuttle" export --instance staging --directory "$CUTTLE_HOME/export"

step "production: an empty instance; preview the import (dry run, the plan's summary)"
"$cuttle" instance create production
"$cuttle" import --instance production --directory "$CUTTLE_HOME/export" --dry-run --quiet

step "import for real"
"$cuttle" import --instance production --directory "$CUTTLE_HOME/export" --quiet

step "import again: everything exists, so everything is skipped"
"$cuttle" import --instance production --directory "$CUTTLE_HOME/export" --quiet | tail -n 2

step "export production into a copy of staging's export: no file changes"
cp -r "$CUTTLE_HOME/export" "$CUTTLE_HOME/export-production"
"$cuttle" export --instance production --directory "$CUTTLE_HOME/export-production" 2>&1 | tail -n 1
diff -r "$CUTTLE_HOME/export" "$CUTTLE_HOME/export-production" && echo "the two exports are identical" >&2
"$cuttle" instance list
