#!/usr/bin/env bash
# services.sh makes sure PostgreSQL (with PostGIS 3) and Redis 7 are reachable
# at DATABASE_URL / REDIS_URL (and TEST_DATABASE_URL), creating the databases
# and the postgis extension.
#
# Where they already run, it only checks them. On Debian/Ubuntu as root it
# installs what is missing with apt and starts it. Anywhere else it prints the
# exact commands to run and exits 1.
set -euo pipefail

DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/watchtower?sslmode=disable}
TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/watchtower_test?sslmode=disable}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}

say() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

apt_updated=
apt_install() {
	if [ -z "$apt_updated" ]; then
		say "apt-get update"
		apt-get update -qq >/dev/null
		apt_updated=1
	fi
	say "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# manual prints what a person must do where this script may not do it.
manual() {
	say "cannot install or start $1 here (need root on Debian/Ubuntu). Run:"
	shift
	for c in "$@"; do printf '    %s\n' "$c" >&2; done
	exit 1
}

# --- URLs -----------------------------------------------------------------
# url_part URL FIELD: host, port or db of a postgres:// or redis:// URL.
url_part() {
	local rest=${1#*://} hostport db
	rest=${rest##*@}
	hostport=${rest%%/*}
	db=${rest#"$hostport"}; db=${db#/}; db=${db%%\?*}
	case $2 in
	host) local h=${hostport%%:*}; echo "${h:-127.0.0.1}" ;;
	port) if [[ $hostport == *:* ]]; then echo "${hostport##*:}"; else echo "$3"; fi ;;
	db) echo "$db" ;;
	esac
}
# with_db URL DB: the same URL naming another database.
with_db() {
	local url=$1 db=$2 query=""
	[[ $url == *\?* ]] && query="?${url#*\?}"
	local base=${url%%\?*}
	local scheme=${base%%://*} rest=${base#*://}
	local auth=""
	[[ $rest == *@* ]] && { auth="${rest%@*}@"; rest=${rest##*@}; }
	echo "${scheme}://${auth}${rest%%/*}/${db}${query}"
}

pg_host=$(url_part "$DATABASE_URL" host)
pg_port=$(url_part "$DATABASE_URL" port 5432)
redis_host=$(url_part "$REDIS_URL" host)
redis_port=$(url_part "$REDIS_URL" port 6379)

is_local() { [[ $1 == 127.* || $1 == localhost || $1 == ::1 || $1 == /* ]]; }

tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# --- PostgreSQL -------------------------------------------------------------
pg_major() { ls /etc/postgresql 2>/dev/null | sort -n | tail -1; }

start_postgres() {
	local v; v=$(pg_major)
	[ -n "$v" ] || return 1
	command -v pg_ctlcluster >/dev/null || return 0
	if pg_ctlcluster "$v" main status >/dev/null 2>&1; then
		# Running, configured for $pg_port, yet not answering there: the
		# package (systemd) started it before we set its port and
		# pg_hba.conf. Restart it so they take effect.
		[ "$(pg_lsclusters -h "$v" main | awk '{print $3}')" = "$pg_port" ] || return 0
		pg_ctlcluster "$v" main restart || true
	else
		pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>/dev/null || pg_ctlcluster "$v" main start || true
	fi
}

ensure_postgres() {
	if ! tcp_open "$pg_host" "$pg_port"; then
		is_local "$pg_host" || die "PostgreSQL at $pg_host:$pg_port does not answer, and it is not on this machine"
		if [ -z "$(pg_major)" ]; then
			can_apt || manual PostgreSQL "sudo apt-get install -y postgresql postgresql-contrib" "sudo pg_ctlcluster \$(ls /etc/postgresql) main start"
			apt_install postgresql postgresql-contrib
			# Local development and CI: trust local TCP connections, as the
			# default URLs (no password) expect.
			local conf; conf=/etc/postgresql/$(pg_major)/main
			sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$conf/pg_hba.conf"
			# The cluster we just made listens where DATABASE_URL says.
			sed -i -E "s/^#?port\s*=\s*[0-9]+/port = $pg_port/" "$conf/postgresql.conf"
		fi
		say "starting PostgreSQL $(pg_major)"
		if [ "$(id -u)" = 0 ] || [ "$(id -un)" = postgres ]; then
			start_postgres
		else
			manual PostgreSQL "sudo pg_ctlcluster $(pg_major) main start"
		fi
		for _ in $(seq 1 30); do tcp_open "$pg_host" "$pg_port" && break; sleep 1; done
		tcp_open "$pg_host" "$pg_port" || die "PostgreSQL did not come up on $pg_host:$pg_port"
	fi
	if ! command -v psql >/dev/null; then
		can_apt || manual "the psql client" "sudo apt-get install -y postgresql-client"
		apt_install postgresql-client
	fi
	local admin; admin=$(with_db "$DATABASE_URL" postgres)
	psql "$admin" -qtAc 'SELECT 1' >/dev/null || die "cannot log in to PostgreSQL with DATABASE_URL (check the user and password)"

	local vnum major
	vnum=$(psql "$admin" -qtAc 'SHOW server_version_num')
	major=$((vnum / 10000))
	if [ -z "$(psql "$admin" -qtAc "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")" ]; then
		is_local "$pg_host" || die "PostGIS is not installed on the PostgreSQL server at $pg_host"
		can_apt || manual PostGIS "sudo apt-get install -y postgresql-$major-postgis-3"
		apt_install "postgresql-$major-postgis-3"
	fi
	say "PostgreSQL $major with PostGIS at $pg_host:$pg_port"

	local url db
	for url in "$DATABASE_URL" "$TEST_DATABASE_URL"; do
		db=$(url_part "$url" db)
		[ -n "$db" ] || die "no database name in $url"
		if [ -z "$(psql "$admin" -qtAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
			say "creating database $db"
			psql "$admin" -qc "CREATE DATABASE \"$db\"" >/dev/null
		fi
		psql "$url" -qc 'CREATE EXTENSION IF NOT EXISTS postgis' >/dev/null 2>&1 ||
			psql "$url" -qc 'CREATE EXTENSION IF NOT EXISTS postgis' >/dev/null
		say "database $db ready ($(psql "$url" -qtAc 'SELECT postgis_lib_version()' | tr -d ' ') PostGIS)"
	done
}

# --- Redis ------------------------------------------------------------------
redis_cmd() {
	# One inline command over /dev/tcp, so no redis-cli is needed.
	timeout 3 bash -c '
		exec 3<>/dev/tcp/$1/$2 || exit 1
		printf "%s\r\n" "$3" >&3
		if [ "$3" = "INFO server" ]; then
			while IFS= read -r -t 2 line <&3; do printf "%s\n" "$line"; case $line in redis_version*) exit 0;; esac; done
		else
			IFS= read -r -t 2 line <&3 && printf "%s\n" "$line"
		fi' _ "$redis_host" "$redis_port" "$1" 2>/dev/null
}

ensure_redis() {
	if ! redis_cmd PING | grep -q PONG; then
		is_local "$redis_host" || die "Redis at $redis_host:$redis_port does not answer, and it is not on this machine"
		if ! command -v redis-server >/dev/null; then
			can_apt || manual Redis "sudo apt-get install -y redis-server" "redis-server --daemonize yes --bind 127.0.0.1 --port $redis_port"
			apt_install redis-server
		fi
		say "starting Redis on $redis_host:$redis_port"
		mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
		redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --dir /var/lib/redis \
			--appendonly yes --logfile /var/log/redis/watchtower.log ||
			manual Redis "redis-server --daemonize yes --bind 127.0.0.1 --port $redis_port"
		for _ in $(seq 1 20); do redis_cmd PING | grep -q PONG && break; sleep 0.5; done
		redis_cmd PING | grep -q PONG || die "Redis did not come up on $redis_host:$redis_port"
	fi
	local v; v=$(redis_cmd "INFO server" | tr -d '\r' | sed -n 's/^redis_version://p')
	[ -n "$v" ] || die "Redis at $redis_host:$redis_port answered PING but not INFO (password? use a URL with it)"
	[ "${v%%.*}" -ge 7 ] || die "Redis $v at $redis_host:$redis_port is too old: Watch Tower needs 7 or later"
	say "Redis $v at $redis_host:$redis_port"
}

ensure_postgres
ensure_redis
say "services ready"
