# shellcheck shell=bash
# shellcheck disable=SC2034 # pg_admin_url is read by the script that sources this file
# Sourced by the scripts that need a PostgreSQL server on which they may create databases.
#
# find_postgres URL VARIABLE: sets pg_admin_url to URL when given; else, as root on a machine with
# PostgreSQL 15, starts the local cluster (.ci/postgres.sh) and uses it; else leaves pg_admin_url
# empty and says loudly that PostgreSQL is skipped (VARIABLE names the setting to use instead).
# Needs a `note` function and the repository root as the working directory.
find_postgres() {
    pg_admin_url=
    if [ -n "$1" ]; then
        pg_admin_url=$1
    elif [ "$(id -u)" -eq 0 ] && [ -x /usr/lib/postgresql/15/bin/postgres ] && [ -f .ci/postgres.sh ]; then
        note "starting the local PostgreSQL 15 cluster (.ci/postgres.sh)"
        if bash .ci/postgres.sh; then
            pg_admin_url=postgres://cuttle:cuttle@127.0.0.1:5432/cuttle
        else
            note "SKIPPED postgres: .ci/postgres.sh failed"
        fi
    else
        note "SKIPPED postgres: set $2, or run as root on a machine with PostgreSQL 15"
    fi
}
