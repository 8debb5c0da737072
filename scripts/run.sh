#!/usr/bin/env bash
# make run: everything in one process (crm dev), demo data through the
# public mutations (crm seed), then the GraphiQL URL. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
addr="${CRM_HTTP_ADDR:-127.0.0.1:8080}"
./bin/crm dev &
dev=$!
trap 'kill -INT "$dev" 2>/dev/null; wait "$dev"' INT TERM
for _ in $(seq 1 300); do
	if curl -fsS "http://$addr/readyz" >/dev/null 2>&1; then break; fi
	if ! kill -0 "$dev" 2>/dev/null; then wait "$dev"; exit 1; fi
	sleep 0.2
done
./bin/crm seed
echo
echo "GraphiQL: http://$addr/   (GraphQL at http://$addr/graphql; Ctrl-C stops)"
wait "$dev"
