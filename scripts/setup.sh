#!/usr/bin/env bash
# setup.sh: make sure this machine has what crm's make targets need, before
# they build or download anything: the go command (Go from go.mod's go line,
# brought by the user), CA certificates (the go command downloads modules over
# TLS), a C compiler and git for `make test`, and a PostgreSQL and a Redis that
# answer. Missing packages are installed on Debian/Ubuntu as root; elsewhere it
# names what is missing and the one command that installs it, and fails.
# Servers that are down are started. docs/setup.md says exactly what it does.
#
# Usage: scripts/setup.sh [run|test|bench|build|web]
#   run    make run: Go, CA certificates, a PostgreSQL and a Redis that answer.
#   test   make test (default): as run, plus the redis-server binary (tests
#          start private Redis servers with it), a C compiler with the C
#          library's headers (go test -race needs cgo), git (make
#          check-generate compares with the committed code), Node.js and
#          npm (make check-web rebuilds the console) and Chromium (the
#          console's browser tests).
#   bench  make bench, chaos, scale: as run, plus the redis-server binary.
#   build  make build, generate, lint, check-generate: Go, CA certificates.
#   web    make web, check-web: CA certificates, Node.js and npm.
#
# Environment: GO (the go command, default go), CRM_DATABASE_URL (checked
# against its server, default
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
run | test | bench | build | web) ;;
-h | --help)
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
	exit 0
	;;
*)
	echo "setup: unknown mode '$mode' (want run, test, bench, build or web)" >&2
	exit 2
	;;
esac

GO=${GO:-go}
root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
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
		# The install step ran before: still no server binaries is a bug
		# of that step's checks, or a package that installed none.
		[ -n "$(pg_bindir)" ] ||
			die "postgres: nothing answers at $where and no PostgreSQL server is installed (install Debian's postgresql package, or set CRM_DATABASE_URL)"
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
	# The install step ran before: a missing binary was optional (run mode).
	have redis-server || say "redis: redis-server is not installed (tests will need it)"
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

# ---------------------------------------------------------------- tools
# version_ge A B: version A is at least B (1.26.10 >= 1.26.8).
version_ge() {
	[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$2" ]
}

# check_go: the go command is there and new enough. Go is what the user
# brings (the only prerequisite besides make and git), so a missing or old
# one ends setup at once.
check_go() {
	local want got toolchain
	want=$(sed -n 's/^go \([0-9][0-9.]*\).*/\1/p' "$root_dir/go.mod" | head -n 1)
	want=${want:-1.26}
	if ! have "$GO"; then
		[ -x /usr/local/go/bin/go ] &&
			die "go: '$GO' not found on PATH, but /usr/local/go/bin/go exists: export PATH=\"/usr/local/go/bin:\$PATH\" and run make again"
		die "go: '$GO' not found: install Go $want or newer (the official release unpacked into /usr/local/go, with /usr/local/go/bin on PATH)"
	fi
	# Outside the module, and local: asking must not download a toolchain.
	got=$(cd / && GOTOOLCHAIN=local "$GO" env GOVERSION 2>/dev/null) ||
		die "go: '$GO env GOVERSION' failed; is '$(command -v "$GO")' a working Go installation?"
	case "$got" in
	go[0-9]*) ;;
	*) return 0 ;; # a development build: trust it
	esac
	got=${got#go}
	got=${got%%[!0-9.]*}
	version_ge "$got" "$want" && return 0
	toolchain=$(cd / && { "$GO" env GOTOOLCHAIN 2>/dev/null || true; })
	if [ "${toolchain%%+*}" = local ]; then
		die "go: found go$got, this project needs Go $want or newer (go.mod): install it, or set GOTOOLCHAIN=auto to let the go command download it"
	fi
	say "go: found go$got; the go command will switch to go$want (GOTOOLCHAIN=$toolchain)"
}

# ca_bundle: a CA bundle where the go command looks for one (crypto/x509 on
# Linux), so that downloading modules over TLS can verify the proxy.
ca_bundle() {
	local f
	if [ -n "${SSL_CERT_FILE:-}" ]; then
		[ -s "$SSL_CERT_FILE" ]
		return
	fi
	for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt \
		/etc/ssl/ca-bundle.pem /etc/pki/tls/cacert.pem \
		/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem /etc/ssl/cert.pem; do
		[ -s "$f" ] && return 0
	done
	return 1
}

# cc_works: the C compiler the go command would use for cgo compiles and
# links a program against the C library (go test -race needs cgo).
cc_works() {
	local cc tmp ok=1
	cc=$(cd / && "$GO" env CC 2>/dev/null) || return 1
	cc=${cc%% *}
	have "${cc:-gcc}" || return 1
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/crm-setup-cc.XXXXXX") || return 1
	printf '#include <stdlib.h>\nint main(void) { return EXIT_SUCCESS; }\n' >"$tmp/t.c"
	if "${cc:-gcc}" "$tmp/t.c" -o "$tmp/t" >/dev/null 2>&1; then ok=0; fi
	rm -rf "$tmp"
	return "$ok"
}

# ---------------------------------------------------------------- what is missing
# need WHAT DEB RPM: something this mode requires is missing; WHAT says what
# for, DEB and RPM are the Debian/Ubuntu and Fedora packages that bring it.
# want: the same for something useful but not required in this mode.
need_what=() need_deb=() need_rpm=() want_what=() want_deb=() want_rpm=()
need() {
	local -a deb rpm
	read -ra deb <<<"$2"
	read -ra rpm <<<"$3"
	need_what+=("$1")
	need_deb+=("${deb[@]}")
	need_rpm+=("${rpm[@]}")
}
want() {
	local -a deb rpm
	read -ra deb <<<"$2"
	read -ra rpm <<<"$3"
	want_what+=("$1")
	want_deb+=("${deb[@]}")
	want_rpm+=("${rpm[@]}")
}

# chromium_bin: the Chromium (or Chrome) the browser tests would run, or
# fails; CRM_CHROMIUM names one explicitly.
chromium_bin() {
	local b
	for b in ${CRM_CHROMIUM:-} chromium chromium-browser google-chrome; do
		if have "$b"; then
			command -v "$b"
			return 0
		fi
	done
	return 1
}

# node_ok: node 18 or later and npm are installed.
node_ok() {
	have node && have npm || return 1
	local v
	v=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || return 1
	[ "${v:-0}" -ge 18 ]
}

# find_missing: every check, no side effects (probes only).
find_missing() {
	ca_bundle ||
		need "CA certificates (the go command downloads modules over TLS)" ca-certificates ca-certificates
	if [ "$mode" = test ]; then
		cc_works ||
			need "a C compiler and the C library's headers (go test -race needs cgo)" "gcc libc6-dev" "gcc glibc-devel"
		have git ||
			need "git (make check-generate compares the generated code with the committed one)" git git
		chromium_bin >/dev/null ||
			need "Chromium (the console's browser tests drive it)" chromium chromium
	fi
	if [ "$mode" = test ] || [ "$mode" = web ]; then
		node_ok ||
			need "Node.js 18 or later and npm (make web builds the console with them)" "nodejs npm" "nodejs npm"
	fi
	[ "$mode" = build ] || [ "$mode" = web ] && return 0

	parse_url "$pg_url" 5432
	pg_host=$url_host pg_port=$url_port
	if is_local "$pg_host" && ! pg_answers && [ -z "$(pg_bindir)" ]; then
		need "a PostgreSQL server (nothing answers at ${pg_host:-localhost}:$pg_port)" postgresql "postgresql-server postgresql"
	fi

	parse_url "$redis_url" 6379
	redis_host=${url_host:-127.0.0.1} redis_port=$url_port
	if ! have redis-server; then
		if [ "$mode" != run ]; then
			need "redis-server (tests start private Redis servers with it)" redis-server redis
		elif is_local "$redis_host" && ! redis_answers 2>/dev/null; then
			need "a Redis server (nothing answers at $redis_host:$redis_port)" redis-server redis
		else
			want "redis-server (tests start private Redis servers with it)" redis-server redis
		fi
	fi
}

# install_hint: the one command that installs what is missing here.
install_hint() {
	local sudo=
	is_root || sudo="sudo "
	if have apt-get; then
		echo "${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends ${need_deb[*]}"
	elif have dnf; then
		echo "${sudo}dnf install -y ${need_rpm[*]}"
	else
		echo "your system's package manager (Debian/Ubuntu packages: ${need_deb[*]}; Fedora: ${need_rpm[*]})"
	fi
}

# install_missing: install what is missing as root with apt-get, or say what
# is missing and how to install it, and fail.
install_missing() {
	local w
	if [ ${#need_deb[@]} -eq 0 ] && [ ${#want_deb[@]} -eq 0 ]; then
		return 0
	fi
	if is_root && have apt-get; then
		for w in "${need_what[@]}" "${want_what[@]}"; do
			say "setup: missing: $w"
		done
		apt_install "${need_deb[@]}" "${want_deb[@]}" ||
			die "apt-get could not install ${need_deb[*]} ${want_deb[*]} (its last lines are above)"
		case " ${need_deb[*]} " in
		*" postgresql "*) installed_pg=1 ;;
		esac
		return 0
	fi
	if [ ${#need_deb[@]} -eq 0 ]; then
		return 0 # only wanted: setup_redis says what tests will need
	fi
	{
		case "$mode" in
		bench) echo "setup: this machine lacks what make bench, chaos and scale need:" ;;
		build) echo "setup: this machine lacks what building crm needs:" ;;
		*) echo "setup: this machine lacks what make $mode needs:" ;;
		esac
		for w in "${need_what[@]}"; do
			echo "  - $w"
		done
		if is_root; then
			echo "setup: it installs them itself only with apt-get (Debian/Ubuntu); install them with:"
		else
			echo "setup: it installs them itself only as root with apt-get; install them with:"
		fi
		echo "  $(install_hint)"
		echo "setup: then run make again."
	} >&2
	exit 1
}

# report_tools: one line on the tools found, after any install.
report_tools() {
	local line
	line="tools: $(cd / && GOTOOLCHAIN=local "$GO" env GOVERSION 2>/dev/null || echo "$GO"), CA certificates"
	ca_bundle || die "CA certificates: still none after installing ca-certificates"
	if [ "$mode" = test ]; then
		cc_works || die "cc: still no working C compiler after installing gcc libc6-dev"
		[ "$(cd / && "$GO" env CGO_ENABLED)" = 1 ] ||
			die "go: cgo is disabled (CGO_ENABLED=0 in the environment or go env), but go test -race needs it: unset it"
		have git || die "git: still not found after installing git"
		line+=", C compiler $(cd / && "$GO" env CC), $(git --version), $(chromium_bin || die "chromium: still not found after installing chromium")"
	fi
	if [ "$mode" = test ] || [ "$mode" = web ]; then
		node_ok || die "node: still no Node.js 18+ with npm after installing nodejs npm"
		line+=", node $(node --version), npm $(npm --version)"
	fi
	say "$line"
}

main() {
	check_go
	find_missing
	install_missing
	report_tools
	[ "$mode" = build ] || [ "$mode" = web ] && return 0
	setup_postgres
	setup_redis
}

# Sourcing the script (for its functions) runs nothing.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	main
fi
