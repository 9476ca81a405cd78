#!/usr/bin/env bash
# The main job, end to end, on the embedded default: an instance with sample data.
# (Export and import between two instances join this script when they exist.)
#
# Uses CUTTLE_HOME if set, else a fresh temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
cuttle=$PWD/target/release/cuttle
export CUTTLE_HOME=${CUTTLE_HOME:-$(mktemp -d)}
echo "CUTTLE_HOME=$CUTTLE_HOME" >&2

"$cuttle" instance create staging
"$cuttle" sample --instance staging --size small --seed 1
"$cuttle" instance list
"$cuttle" instance show staging
echo "projects:"; "$cuttle" doc list projects --instance staging | head -n 5
