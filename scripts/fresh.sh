#!/usr/bin/env bash
# fresh.sh: a newcomer's first hour, replayed. Builds a minimal Debian
# (bookworm, debootstrap --variant=minbase) in a temporary folder, copies in
# this machine's Go (/usr/local/go) and a clean git clone of HEAD, installs
# only what README.md says a user brings (make, git), then, inside the
# chroot: `make run` in the background until GraphiQL and a query of the
# seeded data answer, SIGINT (what Ctrl-C sends) and a check that it exits;
# then `make test`. It prints each step, how long it took and what the chroot
# had to install. See docs/setup.md ("Checking it on a fresh machine").
#
# Usage: scripts/fresh.sh [--prepare-only [--clean]] [--keep] [--http-addr ADDR]
#        scripts/fresh.sh --host-plan
#   --prepare-only  build the chroot, copy Go and the clone, install make and
#                   git, and stop there: nothing runs inside it, this
#                   machine's servers are left alone; the chroot is kept for
#                   inspection (its path is printed) unless --clean.
#   --clean         with --prepare-only: remove the chroot at the end.
#   --keep          after a full run, keep the chroot (its servers stopped,
#                   everything unmounted) instead of removing it.
#   --http-addr     where `make run`'s gateway listens (CRM_HTTP_ADDR),
#                   default 127.0.0.1:8080; it must be free on this machine.
#   --host-plan     only say how this machine's PostgreSQL and Redis run and
#                   how a full run would stop and restart them; change nothing.
#
# Needs root on Debian/Ubuntu (debootstrap, chroot, mounts; debootstrap is
# installed with apt-get when missing). The chroot shares this machine's
# network, so the full run first stops this machine's PostgreSQL and Redis
# that listen on 127.0.0.1:5432 and :6379 (the chroot's setup must install
# and start its own there) and restarts them at the end whatever happens
# (trap on EXIT), after stopping the chroot's servers and unmounting. How it
# will restart them is written to restart-host.sh in the work folder (and
# printed) before anything is stopped. Not part of make test. Environment:
# TMPDIR (where the work folder goes, default /var/tmp).
set -euo pipefail

prepare_only='' clean='' keep='' host_plan='' http_addr=127.0.0.1:8080 suite=bookworm
while [ $# -gt 0 ]; do
	case "$1" in
	--prepare-only) prepare_only=1 ;;
	--clean) clean=1 ;;
	--keep) keep=1 ;;
	--host-plan) host_plan=1 ;;
	--http-addr)
		[ $# -ge 2 ] || { echo "fresh: --http-addr needs an address" >&2; exit 2; }
		http_addr=$2
		shift
		;;
	-h | --help)
		awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
		exit 0
		;;
	*)
		echo "fresh: unknown argument '$1' (see --help)" >&2
		exit 2
		;;
	esac
	shift
done
[ -z "$clean" ] || [ -n "$prepare_only" ] || { echo "fresh: --clean goes with --prepare-only" >&2; exit 2; }

say() { printf 'fresh: %s\n' "$*"; }
die() {
	printf 'fresh: %s\n' "$*" >&2
	exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot and mounts need it)"
for t in git chroot mount umount findmnt setsid curl ps apt-get; do
	have "$t" || die "$t not found on this machine"
done

repo=$(git -C "$(dirname "${BASH_SOURCE[0]}")/.." rev-parse --show-toplevel) ||
	die "not inside a git work tree: fresh clones HEAD of one"
commit=$(git -C "$repo" rev-parse HEAD)
branch=$(git -C "$repo" symbolic-ref -q --short HEAD || echo fresh)
if [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
	say "note: $repo has uncommitted changes; the chroot gets HEAD ($commit) without them"
fi

# tcp_open HOST:PORT: something accepts connections there.
tcp_open() {
	local hp=$1
	# shellcheck disable=SC2016 # $0 and $1 are the inner shell's arguments
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "${hp%:*}" "${hp##*:}" 2>/dev/null
}
if [ -z "$prepare_only$host_plan" ] && tcp_open "$http_addr"; then
	die "$http_addr is taken on this machine, and the chroot shares its network: free it or pass --http-addr"
fi

# Resolved: /proc/PID/root and findmnt show resolved paths.
work=$(realpath "$(mktemp -d "${TMPDIR:-/var/tmp}/crm-fresh.XXXXXX")")
root=$work/root
logs=$work/logs
mkdir -p "$root" "$logs"
restart_file=$work/restart-host.sh
src=/root/crm # the clone, inside the chroot
failed=''
current='' # the step running now

# ------------------------------------------------------------------ steps
# step NAME FUNCTION: runs FUNCTION in a subshell with errexit on (a step
# stops at its first failing command), prints its duration and records it
# for the summary. A failed step ends the run (and so runs the cleanup).
summary=()
step() {
	local name=$1 t=$SECONDS rc
	shift
	current=$name
	say "==> $name"
	set +e
	(
		set -e
		"$@"
	)
	rc=$?
	set -e
	if [ "$rc" = 0 ]; then
		current=
		summary+=("$(printf '%-58s %6s s  ok' "$name" $((SECONDS - t)))")
		say "<== $name: ok, $((SECONDS - t)) s"
		return 0
	fi
	current=
	summary+=("$(printf '%-58s %6s s  FAILED (exit %s)' "$name" $((SECONDS - t)) "$rc")")
	say "<== $name: FAILED (exit $rc) after $((SECONDS - t)) s"
	failed=$name
	exit 1
}

# run_logged LOG CMD...: CMD's output to LOG; on failure its last lines.
run_logged() {
	local log=$1
	shift
	if ! "$@" >"$log" 2>&1; then
		tail -n 30 "$log" >&2
		say "full log: $log" >&2
		return 1
	fi
}

# in_chroot CMD...: CMD inside the chroot, as a newcomer's root shell would
# run it: a clean environment with Go on PATH.
in_chroot() {
	chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
		PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# packages N: the chroot's installed packages, kept as $work/pkgs.N.
packages() {
	# shellcheck disable=SC2016 # dpkg-query's format, not the shell's
	chroot "$root" dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' | awk '$1 == "ii" { print $2 }' | sort >"$work/pkgs.$1"
}

# new_packages A B: what was installed between snapshots A and B.
new_packages() {
	comm -13 "$work/pkgs.$1" "$work/pkgs.$2"
}

# report_installed A B WHAT: one line on what the chroot installed.
report_installed() {
	local n list
	n=$(new_packages "$1" "$2" | wc -l)
	list=$(new_packages "$1" "$2" | tr '\n' ' ')
	say "installed by $3: $n packages${list:+: $list}"
}

# ------------------------------------------------------------------ cleanup
# Processes whose root directory is the chroot: everything started inside.
chroot_pids() {
	local p r
	for p in /proc/[0-9]*; do
		r=$(readlink "$p/root" 2>/dev/null) || continue
		[ "$r" = "$root" ] && echo "${p#/proc/}"
	done
	return 0
}

mounts_under_root() {
	findmnt -rn -o TARGET | awk -v r="$root/" 'index($0, r) == 1' | sort -r
}

stop_chroot() {
	local pids line ver name status _ pid run_pgid=
	if [ -f "$work/run.pid" ]; then run_pgid=$(cat "$work/run.pid"); fi
	if [ -n "$run_pgid" ] && kill -0 -- "-$run_pgid" 2>/dev/null; then
		say "cleanup: make run still running: SIGTERM to its process group $run_pgid"
		kill -TERM -- "-$run_pgid" 2>/dev/null || true
		sleep 3
	fi
	if [ -x "$root/usr/bin/pg_lsclusters" ] && [ -d "$root/proc/1" ]; then
		while read -r line; do
			read -r ver name _ status _ <<<"$line"
			[ "$status" = online ] || continue
			say "cleanup: stopping the chroot's PostgreSQL cluster $ver/$name"
			in_chroot pg_ctlcluster "$ver" "$name" stop -m fast || true
		done < <(chroot "$root" pg_lsclusters -h 2>/dev/null || true)
	fi
	# The chroot's Redis: a redis-server whose root is the chroot (asking
	# 127.0.0.1:6379 to shut down could reach this machine's own).
	pids=$(chroot_pids)
	for pid in $pids; do
		if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = redis-server ]; then
			say "cleanup: stopping the chroot's redis-server (pid $pid)"
			kill -TERM "$pid" 2>/dev/null || true
		fi
	done
	for _ in $(seq 1 20); do
		[ -n "$(chroot_pids)" ] || break
		sleep 0.5
	done
	pids=$(chroot_pids)
	if [ -n "$pids" ]; then
		say "cleanup: SIGTERM to what still runs inside the chroot: $(echo "$pids" | tr '\n' ' ')"
		for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
		for _ in $(seq 1 20); do
			[ -n "$(chroot_pids)" ] || break
			sleep 0.5
		done
		for pid in $(chroot_pids); do
			say "cleanup: SIGKILL to $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-80))"
			kill -KILL "$pid" 2>/dev/null || true
		done
		sleep 1
	fi
}

unmount_all() {
	local m
	for m in $(mounts_under_root); do
		umount "$m" 2>/dev/null || umount -l "$m" || say "cleanup: cannot unmount $m"
	done
	m=$(mounts_under_root)
	[ -z "$m" ] || {
		say "cleanup: still mounted: $m"
		return 1
	}
}

cleanup() {
	local rc=$? ok=1
	set +e
	trap - HUP INT TERM
	if [ "$rc" != 0 ] && [ -z "$failed" ]; then
		failed="interrupted or failed outside a step (exit $rc)"
		[ -z "$current" ] || failed="$current (interrupted, exit $rc)"
	fi
	say "==> cleanup"
	stop_chroot
	unmount_all || ok=
	restart_host || ok=
	if [ -z "$ok" ]; then
		say "cleanup: left $work in place (see above)"
	elif [ -n "$keep" ] || { [ -n "$prepare_only" ] && [ -z "$clean" ] && [ -z "$failed" ]; }; then
		say "cleanup: the chroot is kept at $root (nothing mounted, nothing running); remove it with: rm -rf --one-file-system $work"
	else
		rm -rf --one-file-system "$root"
		if [ -n "$failed" ]; then
			say "cleanup: removed the chroot; logs kept in $logs"
		else
			rm -rf --one-file-system "$work"
			say "cleanup: removed $work"
		fi
	fi
	echo
	say "summary ($commit):"
	printf '  %s\n' "${summary[@]}"
	if [ -n "$failed" ]; then
		say "FAILED at: $failed"
		exit 1
	fi
	say "all steps passed"
	exit 0
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ the chroot
# mirror: the first URI of this machine's Debian sources that serve the
# suite (deb822 debian.sources, else a one-line sources.list).
mirror() {
	local f=/etc/apt/sources.list.d/debian.sources uri
	if [ -f "$f" ]; then
		uri=$(awk -v s="$suite" '
			/^$/ { if (ok && u != "") { print u; exit } ok = 0; u = "" }
			/^URIs:/ { u = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) ok = 1 }
			END { if (ok && u != "") print u }' "$f" | head -n 1)
	fi
	if [ -z "${uri:-}" ] && [ -f /etc/apt/sources.list ]; then
		uri=$(awk -v s="$suite" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i + 1) == s) { print $i; exit } }' /etc/apt/sources.list)
	fi
	[ -n "${uri:-}" ] || return 1
	echo "$uri"
}

prepare_host() {
	mirror >"$work/mirror" || {
		echo "no Debian mirror for $suite in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list" >&2
		return 1
	}
	say "mirror (from this machine's apt sources): $(cat "$work/mirror")"
	# The minimal system, Go, the module and build caches, PostgreSQL.
	local free
	free=$(df -Pk "$work" | awk 'NR == 2 { print int($4 / 1048576) }')
	if [ "$free" -lt 4 ]; then
		echo "only $free GiB free under $work; the run needs about 4" >&2
		return 1
	fi
	if ! have debootstrap; then
		say "installing debootstrap on this machine"
		run_logged "$logs/host-apt-update.log" env DEBIAN_FRONTEND=noninteractive apt-get update -q
		run_logged "$logs/host-apt-install.log" env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends debootstrap
	fi
	say "work folder: $work"
}

bootstrap() {
	local keyring=() proxy=
	if [ -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then
		keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
	fi
	# debootstrap downloads with wget, which reads http_proxy, not apt's
	# configuration: hand it apt's proxy if this machine has one.
	eval "$(apt-config shell proxy Acquire::http::Proxy)"
	run_logged "$logs/debootstrap.log" env ${proxy:+http_proxy="$proxy"} \
		debootstrap --variant=minbase "${keyring[@]}" "$suite" "$root" "$(cat "$work/mirror")"
	packages 0
	say "minimal $suite: $(wc -l <"$work/pkgs.0") packages, $(du -sh --one-file-system "$root" | cut -f1)"
}

configure() {
	local f
	# apt: the same sources as this machine (what works here), and its
	# proxy configuration if any.
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/"
		rm -f "$root/etc/apt/sources.list"
	fi
	for f in /etc/apt/apt.conf.d/*; do
		if [ -f "$f" ] && grep -qi 'proxy' "$f"; then
			cp "$f" "$root/etc/apt/apt.conf.d/"
			say "copied this machine's apt proxy configuration $f"
		fi
	done
	cp -L /etc/resolv.conf "$root/etc/resolv.conf"
	# CAs this machine adds locally (a TLS-inspecting egress proxy): they
	# take effect in the chroot only once its setup installs ca-certificates,
	# whose update-ca-certificates reads this folder, so they do not hide a
	# missing ca-certificates.
	if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
		mkdir -p "$root/usr/local/share/ca-certificates"
		cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
		say "copied this machine's local CAs (/usr/local/share/ca-certificates)"
	fi
	[ -x /usr/local/go/bin/go ] || {
		echo "no Go in /usr/local/go on this machine" >&2
		return 1
	}
	cp -a /usr/local/go "$root/usr/local/go"
	say "Go: $(head -n 1 /usr/local/go/VERSION) copied to /usr/local/go"
	run_logged "$logs/clone.log" git clone --quiet --no-hardlinks "$repo" "$root$src"
	git -C "$root$src" checkout --quiet -B "$branch" "$commit"
	say "clone of $commit (branch $branch) at $src"
}

mount_all() {
	mount -t proc proc "$root/proc"
	mount -t sysfs sysfs "$root/sys"
	if [ ! -c "$root/dev/null" ]; then
		# debootstrap could not create device nodes: this machine's /dev,
		# private so that nothing mounted below propagates back.
		mount --bind /dev "$root/dev"
		mount --make-private "$root/dev"
	fi
	mkdir -p "$root/dev/pts" "$root/dev/shm"
	mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts"
	mount -t tmpfs -o mode=1777 shm "$root/dev/shm" # PostgreSQL's shared memory
	say "mounted: $(mounts_under_root | sed "s|^$root||" | sort | tr '\n' ' ')"
}

user_brings() {
	run_logged "$logs/chroot-apt-update.log" in_chroot env DEBIAN_FRONTEND=noninteractive apt-get update -q
	# --no-install-recommends: git recommends ca-certificates, which setup
	# must install by itself.
	run_logged "$logs/chroot-apt-install.log" in_chroot env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends make git
	packages 1
	report_installed 0 1 "apt-get install make git"
	in_chroot go version
	for t in gcc cc psql redis-server; do
		if in_chroot sh -c "command -v $t" >/dev/null; then
			echo "$t is in the chroot before setup ran" >&2
			return 1
		fi
	done
	[ ! -e "$root/etc/ssl/certs/ca-certificates.crt" ] || {
		echo "the chroot has CA certificates before setup ran" >&2
		return 1
	}
}

# ------------------------------------------------------------------ this machine's servers
# The chroot shares this machine's network: its setup must find
# 127.0.0.1:5432 and :6379 free, so that it installs and starts its own.
# plan_host_servers finds what answers there and how it runs, and writes
# for each server a line to $work/host-servers: NAME<TAB>STOP<TAB>START
# (shell commands). stop_host_servers writes every START to $restart_file
# before it runs any STOP; restart_host (cleanup) runs them.
systemd_runs() { [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; }

plan_postgres() {
	local line ver name port status pid ppid data opts bindir user
	tcp_open 127.0.0.1:5432 || return 0
	if have pg_lsclusters; then
		while read -r line; do
			read -r ver name port status _ <<<"$line"
			if [ "$port" != 5432 ] || [ "${status%%,*}" != online ]; then continue; fi
			if systemd_runs && systemctl is-active --quiet "postgresql@$ver-$name"; then
				printf 'PostgreSQL %s/%s (systemd unit)\t%s\t%s\n' "$ver" "$name" \
					"systemctl stop postgresql@$ver-$name" "systemctl start postgresql@$ver-$name"
			else
				printf 'PostgreSQL %s/%s (pg_ctlcluster)\t%s\t%s\n' "$ver" "$name" \
					"pg_ctlcluster --skip-systemctl-redirect $ver $name stop -m fast" \
					"pg_ctlcluster --skip-systemctl-redirect $ver $name start"
			fi
			return 0
		done < <(pg_lsclusters -h)
	fi
	# A plain postmaster: its working directory is its data directory, and
	# postmaster.opts holds the command line it was started with.
	for pid in $(pgrep -x postgres; pgrep -x postmaster); do
		ppid=$(ps -o ppid= -p "$pid" | tr -d ' ')
		[ "$(ps -o comm= -p "$ppid")" != postgres ] || continue
		data=$(readlink "/proc/$pid/cwd") || continue
		[ "$(sed -n 4p "$data/postmaster.pid" 2>/dev/null)" = 5432 ] || continue
		bindir=$(dirname "$(readlink "/proc/$pid/exe")")
		user=$(ps -o user= -p "$pid" | tr -d ' ')
		opts=$(cut -d' ' -f2- "$data/postmaster.opts" 2>/dev/null || true)
		printf 'PostgreSQL pid %s, data %s (pg_ctl as %s)\t%s\t%s\n' "$pid" "$data" "$user" \
			"$(printf 'runuser -u %q -- %q -D %q -m fast -w stop' "$user" "$bindir/pg_ctl" "$data")" \
			"$(printf 'runuser -u %q -- %q -D %q -l %q -w -t 60 -o %q start' "$user" "$bindir/pg_ctl" "$data" \
				"/var/tmp/crm-fresh-host-postgres.log" "$opts")"
		return 0
	done
	echo "something answers at 127.0.0.1:5432 that is neither a Debian cluster nor a postmaster this script can find" >&2
	return 1
}

plan_redis() {
	local info pid conf user exe cwd k v args=() start
	tcp_open 127.0.0.1:6379 || return 0
	have redis-cli || {
		echo "something listens at 127.0.0.1:6379 and there is no redis-cli to ask what" >&2
		return 1
	}
	if systemd_runs && systemctl is-active --quiet redis-server; then
		printf 'Redis (systemd unit)\t%s\t%s\n' "systemctl stop redis-server" "systemctl start redis-server"
		return 0
	fi
	if [ -x /etc/init.d/redis-server ] && service redis-server status >/dev/null 2>&1; then
		printf 'Redis (service)\t%s\t%s\n' "service redis-server stop" "service redis-server start"
		return 0
	fi
	# A plain process: the same binary (by the name redis-server: Debian's
	# is a link to redis-check-rdb, which looks at its name), user, working
	# directory and config file, with the settings that say where it
	# listens and keeps its data as it runs now.
	info=$(redis-cli -h 127.0.0.1 -p 6379 INFO server | tr -d '\r')
	pid=$(sed -n 's/^process_id://p' <<<"$info")
	conf=$(sed -n 's/^config_file://p' <<<"$info")
	exe=$(sed -n 's/^executable://p' <<<"$info")
	if [ ! -x "$exe" ] || [ "${exe##*/}" != redis-server ]; then
		exe=$(command -v redis-server) || {
			echo "Redis at 127.0.0.1:6379 (pid $pid): no redis-server binary to restart it with" >&2
			return 1
		}
	fi
	user=$(ps -o user= -p "$pid" | tr -d ' ')
	cwd=$(readlink "/proc/$pid/cwd")
	for k in port bind dir dbfilename save appendonly logfile pidfile protected-mode databases maxmemory maxmemory-policy unixsocket; do
		v=$(redis-cli -h 127.0.0.1 -p 6379 --raw CONFIG GET "$k" | sed -n 2p)
		case "$k" in
		save) ;;                         # empty: no snapshots, keep it so
		*) [ -n "$v" ] || continue ;;
		esac
		case "$k" in
		bind | save) # several values, each its own argument
			[ -n "$v" ] || { args+=("--$k" ""); continue; }
			# shellcheck disable=SC2206 # split on purpose
			args+=("--$k" $v) ;;
		*) args+=("--$k" "$v") ;;
		esac
	done
	start=$(printf 'cd %q && runuser -u %q -- %q' "$cwd" "$user" "$exe")
	[ -z "$conf" ] || start+=$(printf ' %q' "$conf")
	start+=$(printf ' %q' "${args[@]}" --daemonize yes)
	# SHUTDOWN NOSAVE: the server keeps nothing on disk, and a snapshot left
	# behind would be loaded by every later start; it comes back empty, as
	# after any restart (the CRM catches up from its logs).
	printf 'Redis pid %s (%s as %s%s)\t%s\t%s\n' "$pid" "$exe" "$user" "${conf:+, config $conf}" \
		"redis-cli -h 127.0.0.1 -p 6379 SHUTDOWN NOSAVE" "$start"
}

plan_host_servers() {
	plan_postgres >"$work/host-servers"
	plan_redis >>"$work/host-servers"
	if [ ! -s "$work/host-servers" ]; then
		say "nothing answers at 127.0.0.1:5432 or :6379 on this machine: nothing to stop"
		return 0
	fi
	say "this machine's servers, and how they will be stopped and restarted:"
	while IFS=$'\t' read -r name stop start; do
		printf '    %s\n      stop:    %s\n      restart: %s\n' "$name" "$stop" "$start"
	done <"$work/host-servers"
}

stop_host_servers() {
	local name stop start
	plan_host_servers
	{
		echo "# written by scripts/fresh.sh: restarts this machine's servers it stopped"
		echo "rc=0"
		while IFS=$'\t' read -r name stop start; do
			printf '%s || { echo "restart failed: %s" >&2; rc=1; }\n' "$start" "$name"
		done <"$work/host-servers"
		echo "exit \$rc"
	} >"$restart_file"
	say "if this script is killed before its cleanup, restart them with: bash $restart_file"
	while IFS=$'\t' read -r name stop start; do
		say "stopping $name"
		# Judged by the port check below, not by the command's status.
		bash -c "$stop" >/dev/null || say "stop command of $name failed: $stop"
	done <"$work/host-servers"
	for port in 5432 6379; do
		for _ in $(seq 1 50); do
			tcp_open "127.0.0.1:$port" || continue 2
			sleep 0.2
		done
		echo "something still answers at 127.0.0.1:$port after stopping this machine's servers" >&2
		return 1
	done
}

restart_host() {
	local name port ok=1
	[ -s "$restart_file" ] || return 0
	say "cleanup: restarting this machine's servers (bash $restart_file)"
	# Judged by whether they answer again (a supervisor may have restarted
	# one already, and then its start command fails).
	bash "$restart_file" || say "cleanup: a restart command failed (above); checking whether they answer"
	while IFS=$'\t' read -r name _ _; do
		case "$name" in
		PostgreSQL*) port=5432 ;;
		Redis*) port=6379 ;;
		*) continue ;;
		esac
		for _ in $(seq 1 150); do
			tcp_open "127.0.0.1:$port" && break
			sleep 0.2
		done
		if tcp_open "127.0.0.1:$port"; then
			say "cleanup: $name answers again at 127.0.0.1:$port"
		else
			say "cleanup: $name does not answer at 127.0.0.1:$port 30 s after its restart"
			ok=
		fi
	done <"$work/host-servers"
	if [ -z "$ok" ]; then
		say "cleanup: RESTARTING THIS MACHINE'S SERVERS FAILED: see above, and $restart_file"
		return 1
	fi
}

# ------------------------------------------------------------------ inside the chroot
make_run() {
	local log=$logs/make-run.log pid pgid body token='' users sub rc
	# The chroot shares this machine's network: whatever answers at
	# http_addr must be the chroot's gateway, not another program's.
	if tcp_open "$http_addr"; then
		echo "$http_addr is taken on this machine: make run's gateway could not listen there" >&2
		return 1
	fi
	setsid chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
		PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		CRM_HTTP_ADDR="$http_addr" bash -c "cd $src && exec make run" </dev/null >"$log" 2>&1 &
	pid=$!
	echo "$pid" >"$work/run.pid"
	sleep 0.5
	pgid=$(ps -o pgid= -p "$pid" | tr -d ' ')
	if [ -n "$pgid" ] && [ "$pgid" != "$pid" ]; then
		echo "make run (pid $pid) does not lead its own process group ($pgid): cannot send it Ctrl-C's SIGINT" >&2
		return 1
	fi
	# scripts/run.sh's last line, after the seed (crm dev's own
	# "GraphiQL: URL" line comes before the seed, without "Ctrl-C").
	say "make run started (pid $pid, log $log); waiting for its GraphiQL line after the seed"
	for _ in $(seq 1 1800); do # setup installs, module downloads and the build: up to 30 min
		grep -q '^GraphiQL: .*Ctrl-C' "$log" && break
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 40 "$log" >&2
			echo "make run exited before printing its GraphiQL URL" >&2
			return 1
		fi
		sleep 1
	done
	grep '^GraphiQL: .*Ctrl-C' "$log" || {
		tail -n 40 "$log" >&2
		echo "no GraphiQL line after 30 min" >&2
		return 1
	}
	sleep 1
	if ! kill -0 "$pid" 2>/dev/null; then
		tail -n 40 "$log" >&2
		echo "make run printed its GraphiQL URL but exited: its gateway is not running" >&2
		return 1
	fi
	grep -E '^(setup|tools|postgres|redis|go):' "$log" | sed 's/^/    /'
	packages 2
	report_installed 1 2 "make run's setup"
	curl -fsS -o "$work/graphiql.html" "http://$http_addr/"
	grep -qi graphiql "$work/graphiql.html" || {
		echo "GET / answered, but not with GraphiQL" >&2
		return 1
	}
	say "GraphiQL answers at http://$http_addr/"
	# Development sign-in when the gateway asks for it (CONTRACT.md):
	# a token of the first admin of GET /dev/users.
	body=$(curl -sS -H 'Content-Type: application/json' --data '{"query":"{ customers(first: 5) { totalCount } }"}' \
		"http://$http_addr/graphql")
	if [[ $body == *UNAUTHENTICATED* ]]; then
		users=$(curl -fsS "http://$http_addr/dev/users")
		sub=$(grep -o '"sub": *"[^"]*"[^}]*"role": *"admin"' <<<"$users" | head -n 1 | sed 's/"sub": *"\([^"]*\)".*/\1/')
		token=$(curl -fsS -H 'Content-Type: application/json' --data "{\"sub\":\"$sub\"}" "http://$http_addr/dev/token" |
			sed -n 's/.*"access_token": *"\([^"]*\)".*/\1/p')
		body=$(curl -sS -H 'Content-Type: application/json' -H "Authorization: Bearer $token" \
			--data '{"query":"{ customers(first: 5) { totalCount } }"}' "http://$http_addr/graphql")
	fi
	say "{ customers(first: 5) { totalCount } } answers $body"
	[[ $body =~ \"totalCount\":([1-9][0-9]*) ]] || {
		echo "the seeded data is not there (want totalCount >= 1)" >&2
		return 1
	}
	say "SIGINT to make run's process group (what Ctrl-C sends)"
	kill -INT -- "-$pid"
	for _ in $(seq 1 60); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "make run still runs 60 s after SIGINT" >&2
		return 1
	fi
	wait "$pid" && rc=0 || rc=$?
	say "make run exited (status $rc) after SIGINT"
	# What it started may take a moment more to shut down (crm dev
	# finishes in-flight work), but not long.
	for _ in $(seq 1 30); do
		kill -0 -- "-$pid" 2>/dev/null || break
		sleep 1
	done
	if kill -0 -- "-$pid" 2>/dev/null; then
		echo "processes of make run still run 30 s after it exited: $(pgrep -g "$pid" | tr '\n' ' ')" >&2
		return 1
	fi
	! tcp_open "$http_addr" || {
		echo "something still listens at $http_addr" >&2
		return 1
	}
	rm -f "$work/run.pid"
}

make_test() {
	local log=$logs/make-test.log rc
	say "make test (log $log); progress:"
	set +e
	in_chroot bash -c "cd $src && make test" 2>&1 | tee "$log" |
		grep --line-buffered -E '^(ok |FAIL|--- FAIL|panic:|setup|tools:|postgres:|redis:|check-generate|make)' | sed -u 's/^/    /'
	rc=${PIPESTATUS[0]}
	set -e
	packages 3
	report_installed 2 3 "make test's setup"
	[ "$rc" = 0 ] || {
		tail -n 40 "$log" >&2
		echo "make test failed (exit $rc)" >&2
		return 1
	}
}

# ------------------------------------------------------------------ main
if [ -n "$host_plan" ]; then
	step "how this machine's PostgreSQL and Redis run (nothing is changed)" plan_host_servers
	exit 0
fi
step "check this machine, find the mirror, debootstrap present" prepare_host
step "debootstrap --variant=minbase $suite" bootstrap
step "configure apt, copy Go and a clone of HEAD" configure
step "mount proc, sys, dev/pts, dev/shm" mount_all
step "what a user brings: apt-get install make git" user_brings
if [ -n "$prepare_only" ]; then
	say "--prepare-only: stopping before make run; this machine's servers were not touched"
	exit 0
fi
step "stop this machine's PostgreSQL and Redis" stop_host_servers
step "make run: setup, build, GraphiQL, seeded query, SIGINT" make_run
step "make test" make_test
say "the chroot installed, beyond the minimal system and make and git:"
new_packages 1 3 | tr '\n' ' ' | fold -s -w 100 | sed 's/^/    /'
echo
