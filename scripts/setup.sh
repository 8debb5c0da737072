#!/usr/bin/env bash
# setup.sh: make sure the PostgreSQL and Redis that crm needs answer on this
# machine, starting (and on Debian/Ubuntu as root, installing) them when they
# don't. Called by `make run` and `make test`; docs/setup.md says exactly what
# it does on each kind of machine.
#
# Usage: scripts/setup.sh [run|test]
#   run   what `crm dev` needs: a PostgreSQL and a Redis that answer.
#   test  the same, and also the redis-server binary, which tests use to start
#         private Redis servers (eventlog/testenv.PrivateRedis). Default.
#
# Environment: CRM_DATABASE_URL (checked against its server, default
# postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), CRM_REDIS_URL
# (default redis://127.0.0.1:6379/0), CRM_PG_HOME (data of a server this
# script starts from bare binaries, default /var/lib/crm-postgres as root),
# CRM_PG_BARE=1 (use bare initdb/pg_ctl even where Debian's cluster tools are).
#
# It only ever starts or probes servers on this machine: a URL naming another
# host is reported and left alone.
set -euo pipefail

mode=${1:-test}
case "$mode" in
run | test) ;;
-h | --help)
	sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
*)
	echo "setup: unknown mode '$mode' (want run or test)" >&2
	exit 2
	;;
esac

pg_url=${CRM_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
redis_url=${CRM_REDIS_URL:-redis://127.0.0.1:6379/0}

die() {
	echo "setup: $*" >&2
	exit 1
}
say() { echo "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }
is_root() { [ "$(id -u)" = 0 ]; }

# URL parts. Sets url_user, url_host, url_port (default $2) for URL $1;
# url_host is empty for a Unix-socket URL (postgres:///db).
parse_url() {
	local rest=${1#*://} authority hostport
	authority=${rest%%[/?]*}
	url_user=
	hostport=$authority
	if [[ $authority == *@* ]]; then
		url_user=${authority%@*}
		url_user=${url_user%%:*}
		hostport=${authority##*@}
	fi
	if [[ $hostport == \[*\]* ]]; then # [::1]:5432
		url_host=${hostport#\[}
		url_host=${url_host%%\]*}
		url_port=${hostport##*\]}
		url_port=${url_port#:}
	elif [[ $hostport == *:* ]]; then
		url_host=${hostport%%:*}
		url_port=${hostport##*:}
	else
		url_host=$hostport
		url_port=
	fi
	url_port=${url_port:-$2}
	[[ $url_port =~ ^[0-9]+$ ]] || die "bad port '$url_port' in a URL"
}

is_local() {
	case "$1" in
	"" | 127.0.0.1 | localhost | ::1) return 0 ;;
	*) return 1 ;;
	esac
}

# tcp_open HOST PORT: something accepts TCP connections there.
tcp_open() {
	timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

# ---------------------------------------------------------------- packages
apt_updated=
apt_install() {
	is_root && have apt-get || return 1
	export DEBIAN_FRONTEND=noninteractive
	local log
	log=$(mktemp "${TMPDIR:-/tmp}/crm-setup-apt.XXXXXX")
	if [ -z "$apt_updated" ]; then
		say "setup: apt-get update"
		if ! apt-get update -q >"$log" 2>&1; then
			tail -n 20 "$log" >&2
			return 1
		fi
		apt_updated=1
	fi
	say "setup: apt-get install -y $*"
	if ! apt-get install -y -q --no-install-recommends "$@" >"$log" 2>&1; then
		tail -n 20 "$log" >&2
		return 1
	fi
	rm -f "$log"
}

# newest PostgreSQL server binaries directory, or empty.
pg_bindir() {
	local d
	if have initdb && have pg_ctl; then
		dirname "$(readlink -f "$(command -v pg_ctl)")"
		return
	fi
	for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
			echo "$d"
			return
		fi
	done
}

# ---------------------------------------------------------------- PostgreSQL
# newest server version installed the Debian way (/usr/lib/postgresql/VER
# with initdb: a client-only version has none), or empty.
pg_debian_version() {
	local d
	for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
		if [ -x "$d/initdb" ]; then
			basename "$(dirname "$d")"
			return
		fi
	done
}

pg_tool() { # a client tool from PATH or the server's bin directory
	if have "$1"; then
		command -v "$1"
	elif [ -n "$(pg_bindir)" ] && [ -x "$(pg_bindir)/$1" ]; then
		echo "$(pg_bindir)/$1"
	fi
}

# pg_answers: 0 when the server accepts connections.
pg_answers() {
	local isready
	isready=$(pg_tool pg_isready)
	if [ -n "$isready" ]; then
		"$isready" -q -t 3 -d "$pg_url" >/dev/null 2>&1
	elif [ -n "$pg_host" ]; then
		tcp_open "$pg_host" "$pg_port"
	else
		[ -S "/var/run/postgresql/.s.PGSQL.$pg_port" ]
	fi
}

# pg_login: empty output when user can log in (a missing database is fine:
# crm creates its own); otherwise the reason.
pg_login() {
	local psql out
	psql=$(pg_tool psql)
	[ -n "$psql" ] || return 0
	if out=$(PGCONNECT_TIMEOUT=3 "$psql" "$pg_url" -XAtqc 'select 1' 2>&1 </dev/null); then
		return 0
	fi
	case "$out" in
	*'database "'*'" does not exist'*) return 0 ;;
	esac
	echo "$out" | head -n 1
}

pg_wait() {
	for _ in $(seq 1 100); do
		pg_answers && return 0
		sleep 0.1
	done
	return 1
}

# pg_trust_local CONFDIR: let user postgres in over 127.0.0.1 without a
# password. Only ever applied to a cluster this script created.
pg_trust_local() {
	local hba=$1/pg_hba.conf marker='# added by crm scripts/setup.sh'
	grep -qF "$marker" "$hba" && return 0
	{
		echo "$marker: local development, loopback only"
		echo "host all postgres 127.0.0.1/32 trust"
		echo "host all postgres ::1/128 trust"
		cat "$hba"
	} >"$hba.crm-new"
	chown --reference="$hba" "$hba.crm-new" 2>/dev/null || true
	chmod --reference="$hba" "$hba.crm-new"
	mv "$hba.crm-new" "$hba"
}

# Debian's cluster tools: start the cluster on our port, or create one.
pg_start_debian() {
	local ver name port status line
	while read -r line; do
		read -r ver name port status _ <<<"$line"
		[ "$port" = "$pg_port" ] || continue
		if [ "$status" != online ]; then
			{ mkdir -p /var/run/postgresql && chown postgres:postgres /var/run/postgresql; } 2>/dev/null || true
			pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start ||
				die "postgres: pg_ctlcluster $ver $name start failed (see /var/log/postgresql/postgresql-$ver-$name.log)"
			say "postgres: started cluster $ver/$name on port $pg_port"
		fi
		return 0
	done < <(pg_lsclusters -h 2>/dev/null)

	ver=$(pg_debian_version)
	[ -n "$ver" ] || die "postgres: no server version under /usr/lib/postgresql"
	for name in main crm crm2 crm3 ''; do
		[ -e "/etc/postgresql/$ver/$name" ] || break
	done
	[ -n "$name" ] || die "postgres: clusters main, crm, crm2 and crm3 of version $ver exist, none on port $pg_port"
	pg_createcluster "$ver" "$name" --port "$pg_port" >/dev/null ||
		die "postgres: pg_createcluster $ver $name --port $pg_port failed"
	pg_trust_local "/etc/postgresql/$ver/$name"
	pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start ||
		die "postgres: pg_ctlcluster $ver $name start failed (see /var/log/postgresql/postgresql-$ver-$name.log)"
	say "postgres: created and started cluster $ver/$name on port $pg_port (trust for postgres on loopback)"
}

# Bare binaries (no Debian cluster tools): our own data directory.
pg_start_bare() {
	local bindir=$1 home data as=()
	if is_root; then
		home=${CRM_PG_HOME:-/var/lib/crm-postgres}
		if ! id postgres >/dev/null 2>&1; then
			if have useradd; then
				useradd --system --home-dir "$home" --shell /bin/sh postgres
			else
				adduser --system --group --home "$home" --shell /bin/sh postgres >/dev/null
			fi || die "postgres: cannot create user postgres (initdb refuses to run as root)"
			say "postgres: created system user postgres"
		fi
		as=(runuser -u postgres --)
		have runuser || as=(su -s /bin/sh postgres -c)
	else
		home=${CRM_PG_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/crm-postgres}
	fi
	data=$home/data
	mkdir -p "$home/run"
	is_root && chown postgres: "$home" "$home/run"
	run_as() {
		if [ "${as[0]:-}" = su ]; then
			"${as[@]}" "$(printf '%q ' "$@")"
		else
			"${as[@]}" "$@"
		fi
	}
	if [ ! -s "$data/PG_VERSION" ]; then
		run_as "$bindir/initdb" -D "$data" -U postgres -E UTF8 --locale=C \
			--auth-local=trust --auth-host=trust >"$home/initdb.log" 2>&1 ||
			die "postgres: initdb $data failed (see $home/initdb.log)"
		say "postgres: initialized $data (trust auth)"
	fi
	run_as "$bindir/pg_ctl" -D "$data" -l "$home/postgres.log" -w -t 30 start \
		-o "-c listen_addresses=127.0.0.1 -c port=$pg_port -c unix_socket_directories=$home/run" >/dev/null ||
		die "postgres: pg_ctl start failed (see $home/postgres.log)"
	say "postgres: started $bindir/postgres, data $data, on 127.0.0.1:$pg_port"
}

setup_postgres() {
	parse_url "$pg_url" 5432
	pg_host=$url_host pg_port=$url_port
	local user=${url_user:-$(id -un)} where="${pg_host:-localhost}:$pg_port" reason
	if ! is_local "$pg_host"; then
		say "postgres: $where is not on this machine: not checked"
		return 0
	fi
	if ! pg_answers; then
		if [ -z "$(pg_bindir)" ]; then
			apt_install postgresql ||
				die "postgres: nothing answers at $where and no PostgreSQL server is installed (install Debian's postgresql package, or set CRM_DATABASE_URL)"
			installed_pg=1
		fi
		if [ -z "${CRM_PG_BARE:-}" ] && have pg_lsclusters && have pg_ctlcluster && have pg_createcluster && is_root; then
			if [ -n "${installed_pg:-}" ]; then
				# The package created a cluster with password auth on TCP;
				# it is ours, so let postgres in over loopback.
				local ver
				ver=$(pg_debian_version)
				if [ -d "/etc/postgresql/$ver/main" ]; then
					pg_trust_local "/etc/postgresql/$ver/main"
					# The package may have started it already.
					pg_ctlcluster --skip-systemctl-redirect "$ver" main reload >/dev/null 2>&1 || true
				fi
			fi
			pg_start_debian
		else
			[ -n "$(pg_bindir)" ] || die "postgres: no initdb/pg_ctl found"
			pg_start_bare "$(pg_bindir)"
		fi
		pg_wait || die "postgres: started, but nothing answers at $where after 10 s"
		reason=$(pg_login)
		[ -z "$reason" ] || die "postgres: $where refuses user $user: $reason"
		say "postgres: reachable at $where (user $user)"
		return 0
	fi
	reason=$(pg_login)
	[ -z "$reason" ] || die "postgres: $where answers but refuses user $user: $reason (check the user in CRM_DATABASE_URL and pg_hba.conf of the server)"
	say "postgres: reachable at $where (user $user)"
}

# ---------------------------------------------------------------- Redis
redis_answers() {
	local out
	if have redis-cli; then
		out=$(timeout 3 redis-cli --no-auth-warning -u "$redis_url" ping 2>&1 </dev/null) || return 1
		[ "$out" = PONG ] && return 0
		echo "$out" | head -n 1 >&2
		return 1
	fi
	# shellcheck disable=SC2016 # $0 and $1 are the inner shell's arguments
	out=$(timeout 3 bash -c 'exec 3<>/dev/tcp/$0/$1 && printf "PING\r\n" >&3 && head -c 5 <&3' \
		"$redis_host" "$redis_port" 2>/dev/null) || return 1
	[ "${out%$'\r'}" = +PONG ]
}

setup_redis() {
	parse_url "$redis_url" 6379
	redis_host=${url_host:-127.0.0.1} redis_port=$url_port
	local where="$redis_host:$redis_port"
	case "$redis_url" in
	redis://* | rediss://*) ;;
	*) die "redis: CRM_REDIS_URL must be a redis:// URL" ;;
	esac
	if ! have redis-server; then
		if apt_install redis-server; then
			say "redis: installed redis-server"
		elif [ "$mode" = test ]; then
			die "redis: redis-server is not installed and cannot be installed here (tests start private servers with it; install Debian's redis-server package)"
		else
			say "redis: redis-server is not installed (tests will need it)"
		fi
	fi
	if ! is_local "$redis_host"; then
		say "redis: $where is not on this machine: not checked"
		return 0
	fi
	if redis_answers 2>/dev/null; then
		say "redis: reachable at $where"
		return 0
	fi
	if tcp_open "$redis_host" "$redis_port"; then
		die "redis: something listens at $where but does not answer PING: $(redis_answers 2>&1 || true)"
	fi
	have redis-server || die "redis: nothing answers at $where and redis-server is not installed (install Debian's redis-server package, or set CRM_REDIS_URL)"
	redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
		--dir /tmp --logfile "/tmp/crm-redis-$redis_port.log" >/dev/null ||
		die "redis: redis-server failed to start (see /tmp/crm-redis-$redis_port.log)"
	for _ in $(seq 1 100); do
		if redis_answers 2>/dev/null; then
			say "redis: started redis-server at $where (nothing kept on disk)"
			return 0
		fi
		sleep 0.1
	done
	die "redis: started redis-server, but nothing answers at $where after 10 s (see /tmp/crm-redis-$redis_port.log)"
}

main() {
	setup_postgres
	setup_redis
}

# Sourcing the script (for its functions) runs nothing.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	main
fi
