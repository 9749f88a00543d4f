#!/usr/bin/env bash
# Make sure PostgreSQL's server binaries (initdb, pg_ctl, postgres) exist so
# internal/pgtest can start throwaway servers for tests and benchmarks.
#
# Idempotent and fast when PostgreSQL is already present (no package manager
# call then). When absent, installs Debian's `postgresql` package. pgtest runs
# its own private server, so the system "main" cluster the package's postinst
# may start is stopped again: it would only hold port 5432 and memory.
set -euo pipefail

# find_initdb prints the path of initdb: on PATH, else the newest
# /usr/lib/postgresql/<version>/bin (Debian keeps them off PATH), matching
# what internal/pgtest looks for.
find_initdb() {
	if command -v initdb >/dev/null 2>&1; then
		command -v initdb
		return 0
	fi
	local candidates=() f
	for f in /usr/lib/postgresql/*/bin/initdb; do
		[[ -x "$f" ]] && candidates+=("$f")
	done
	((${#candidates[@]})) || return 1
	printf '%s\n' "${candidates[@]}" | sort -V | tail -n 1
}

describe() { # "PostgreSQL 15.18 at /usr/lib/postgresql/15/bin"
	local initdb=$1 version
	version=$("$initdb" --version 2>/dev/null | sed -n 's/.*(PostgreSQL) //p') || true
	echo "PostgreSQL ${version:-(unknown version)} at $(dirname "$(readlink -f "$initdb")")"
}

if initdb=$(find_initdb); then
	echo "ensure-postgres: found $(describe "$initdb")"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "ensure-postgres: PostgreSQL (initdb) not found and apt-get unavailable; install the PostgreSQL server package yourself" >&2
	exit 1
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "ensure-postgres: PostgreSQL (initdb) not found; need root or sudo to apt-get install postgresql" >&2
		exit 1
	fi
	sudo=(sudo)
fi

# Quiet, non-interactive install; output is only shown if it fails.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >"$log" 2>&1; then
	cat "$log" >&2
	echo "ensure-postgres: apt-get install postgresql failed" >&2
	exit 1
fi

# Stop any cluster the postinst started (Debian creates and starts "main").
# Errors are ignored: there may be no init system, or nothing running.
stopped=""
if command -v pg_lsclusters >/dev/null 2>&1; then
	while read -r ver name _port status _rest; do
		if [[ $status == online* ]]; then
			"${sudo[@]}" pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true
			stopped+=" $ver/$name"
		fi
	done < <(pg_lsclusters -h 2>/dev/null || true)
fi
if [[ -z $stopped ]] && command -v service >/dev/null 2>&1; then
	"${sudo[@]}" service postgresql stop >/dev/null 2>&1 || true
fi

if ! initdb=$(find_initdb); then
	echo "ensure-postgres: installed postgresql but initdb is still missing" >&2
	exit 1
fi
echo "ensure-postgres: installed $(describe "$initdb")${stopped:+; stopped system cluster(s):$stopped}"
