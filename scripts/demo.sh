#!/usr/bin/env bash
# The main job, end to end, on the embedded default: an instance with sample data, exported to
# a directory of JSON (import into a second instance joins this script when it exists).
#
# Uses CUTTLE_HOME if set, else a fresh temporary directory; the export goes to $CUTTLE_HOME/export.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet -p cuttle-cli
cuttle=$PWD/target/release/cuttle
export CUTTLE_HOME=${CUTTLE_HOME:-$(mktemp -d)}
export CUTTLE_PASSWORD=${CUTTLE_PASSWORD:-demo password}
echo "CUTTLE_HOME=$CUTTLE_HOME" >&2

"$cuttle" instance create staging
"$cuttle" sample --instance staging --size small --seed 1
"$cuttle" instance list
"$cuttle" export --instance staging --directory "$CUTTLE_HOME/export"
"$cuttle" export --instance staging --directory "$CUTTLE_HOME/export"   # again: nothing changes
echo "projects:"; "$cuttle" doc list projects --instance staging | head -n 5
echo "export:"; ls "$CUTTLE_HOME/export"
