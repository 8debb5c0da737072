#!/usr/bin/env bash
# make run: everything in one process (crm dev), demo data through the
# public mutations (crm seed), then the GraphiQL URL. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
addr="${CRM_HTTP_ADDR:-127.0.0.1:8080}"
./bin/crm dev &
dev=$!
trap 'kill -INT "$dev" 2>/dev/null; wait "$dev"' INT TERM
# Ready when /readyz answers 200 (plain bash: no curl needed).
ready() {
	local line
	{ exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}"; } 2>/dev/null || return 1
	printf 'GET /readyz HTTP/1.0\r\nHost: %s\r\n\r\n' "$addr" >&3
	IFS= read -r line <&3 || true
	exec 3<&- 3>&-
	[[ "$line" == *" 200"* ]]
}
for _ in $(seq 1 300); do
	if ready; then break; fi
	if ! kill -0 "$dev" 2>/dev/null; then wait "$dev"; exit 1; fi
	sleep 0.2
done
./bin/crm seed
echo
echo "Console:  http://$addr/app/   (the CRM in the browser: sign in as any demo user)"
echo "GraphiQL: http://$addr/   (GraphQL at http://$addr/graphql; Ctrl-C stops)"
echo "Sign in: GraphiQL's user picker; from a script, the users are at GET http://$addr/dev/users and"
echo "  curl -s -X POST http://$addr/dev/token -d '{\"sub\": \"admin\"}'   gives a token for 'Authorization: Bearer ...'"
wait "$dev"
