#!/usr/bin/env bash
# check-generate.sh: regenerating the committed generated code must change
# nothing (make check-generate; make test runs it).
#
# It compares the state of the generated paths (their diff against the
# index plus the content of untracked files under them) before and after
# `go generate ./...`, so it also works on a tree with uncommitted changes.
# It cannot compare without git and a git work tree: then it fails and says
# so, rather than comparing two empty outputs and passing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

GO=${GO:-go}
paths=(graph gqlgen.yml)

fail() {
	echo "check-generate: $*" >&2
	exit 1
}

command -v git >/dev/null 2>&1 ||
	fail "git not found: it is needed to compare the generated code with the committed one (as root on Debian/Ubuntu: apt-get install -y git)"
inside=$(git rev-parse --is-inside-work-tree 2>&1) ||
	fail "not inside a git work tree, cannot compare the generated code with the committed one (git says: ${inside%%$'\n'*}); run it in a git clone"
[ "$inside" = true ] || fail "not inside a git work tree (git rev-parse says '$inside'); run it in a git clone"

# state: the diff of the generated paths and the hashes of untracked files
# there. Any git failure fails the check (pipefail, and the explicit ||).
state() {
	local diff untracked
	diff=$(git diff --no-ext-diff --binary -- "${paths[@]}") || return 1
	untracked=$(git ls-files -z --others --exclude-standard -- "${paths[@]}" | xargs -0 -r sha256sum) || return 1
	printf '%s\n--\n%s\n' "$diff" "$untracked" | sha256sum
}

before=$(state) || fail "git could not read the state of ${paths[*]}"
"$GO" generate ./... || fail "go generate ./... failed"
after=$(state) || fail "git could not read the state of ${paths[*]}"
if [ "$before" != "$after" ]; then
	git diff --stat -- "${paths[@]}" >&2 || true
	git ls-files --others --exclude-standard -- "${paths[@]}" >&2 || true
	fail "generated code is stale: run make generate and commit"
fi
echo "check-generate: generated code is up to date"
