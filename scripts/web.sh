#!/usr/bin/env bash
# web.sh: build the console's bundle, or check the committed one is fresh
# (docs/console.md). Needs Node.js and npm (scripts/setup.sh web installs
# them); make run and the binary do not.
#
# Usage: scripts/web.sh build|check
#   build  npm ci (exactly the lockfile's packages), then vite build into
#          graph/console/dist (make web).
#   check  build, then fail if graph/console/dist differs from what was
#          there before (make check-web; make test runs it): the build is
#          deterministic (no hashes or timestamps in the output), so a
#          difference means the committed bundle is stale.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=${1:-build}
web=graph/console/web
dist=graph/console/dist

fail() {
	echo "web: $*" >&2
	exit 1
}

build() {
	command -v npm >/dev/null 2>&1 || fail "npm not found: run scripts/setup.sh web (or install Node.js 18+ and npm)"
	(cd "$web" && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build) || fail "the build failed"
}

case "$mode" in
build)
	build
	echo "web: built $dist"
	;;
check)
	command -v git >/dev/null 2>&1 || fail "git not found: it is needed to compare the bundle with the committed one"
	[ "$(git rev-parse --is-inside-work-tree 2>/dev/null)" = true ] || fail "not inside a git work tree: cannot compare the bundle with the committed one"
	state() {
		local diff untracked
		diff=$(git diff --no-ext-diff --binary -- "$dist") || return 1
		untracked=$(git ls-files -z --others --exclude-standard -- "$dist" | xargs -0 -r sha256sum) || return 1
		printf '%s\n--\n%s\n' "$diff" "$untracked" | sha256sum
	}
	before=$(state) || fail "git could not read the state of $dist"
	build >/dev/null
	after=$(state) || fail "git could not read the state of $dist"
	if [ "$before" != "$after" ]; then
		git status --short -- "$dist" >&2 || true
		fail "the committed bundle is stale: run make web and commit $dist"
	fi
	echo "web: the bundle in $dist is up to date"
	;;
*)
	fail "unknown mode '$mode' (want build or check)"
	;;
esac
