#!/usr/bin/env bash
# The npm side of the repository: the typed client generated from openapi.yaml
# (clients/typescript) and the billing page's bundle (functions/billing-page/web).
#   infra/web.sh install   npm ci in each package (cache under ~/.cache/tierflow/npm)
#   infra/web.sh check     regenerate both into a scratch directory; fail if either differs
#                          from what is committed, or if the TypeScript does not type-check
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export npm_config_cache="${TIERFLOW_NPM_CACHE:-$HOME/.cache/tierflow/npm}"
CLIENT="$ROOT/clients/typescript"

install() {
  for pkg in "$CLIENT"; do
    (cd "$pkg" && npm ci --no-audit --no-fund --loglevel=error)
  done
}

check() {
  local scratch
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' RETURN
  (cd "$CLIENT" && npx --no-install openapi-typescript ../../openapi.yaml --output "$scratch/schema.d.ts" --silent)
  if ! cmp -s "$scratch/schema.d.ts" "$CLIENT/src/schema.d.ts"; then
    diff -u "$CLIENT/src/schema.d.ts" "$scratch/schema.d.ts" | head -40 >&2 || true
    echo "clients/typescript/src/schema.d.ts is stale: run 'npm run generate' in clients/typescript and commit it" >&2
    return 1
  fi
  (cd "$CLIENT" && npx --no-install tsc --noEmit)
}

case "${1:-}" in
  install) install ;;
  check) install && check ;;
  *) echo "usage: infra/web.sh install|check" >&2; exit 2 ;;
esac
