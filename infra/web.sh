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
PAGE="$ROOT/functions/billing-page"

install() {
  for pkg in "$CLIENT" "$PAGE/web"; do
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
  (cd "$PAGE/web" && npx --no-install tsc --noEmit && node build.mjs "$scratch/assets")
  for file in index.html app.js app.css; do
    if ! cmp -s "$scratch/assets/$file" "$PAGE/assets/$file"; then
      echo "functions/billing-page/assets/$file is stale: run 'npm run build' in functions/billing-page/web and commit it" >&2
      return 1
    fi
  done
  python3 - "$ROOT/openapi.yaml" "$PAGE/web/src/errors.ts" <<'PY'
"""Every error code openapi.yaml documents has a message on the billing page."""
import re, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
table = open(sys.argv[2]).read()
def descriptions(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "responses" and isinstance(value, dict):
                for status, response in value.items():
                    if not str(status).startswith("2") and isinstance(response, dict):
                        yield response.get("description", "")
            else:
                yield from descriptions(value)
    elif isinstance(node, list):
        for value in node:
            yield from descriptions(value)
texts = list(descriptions(doc)) + [r.get("description", "") for r in doc["components"]["responses"].values()]
codes = {c for text in texts for c in re.findall(r"`([a-z_]+)`", text)}
missing = sorted(c for c in codes if not re.search(rf"^\s+{c}:", table, re.M))
if missing:
    sys.exit(f"functions/billing-page/web/src/errors.ts has no message for: {', '.join(missing)}")
print(f"billing page: a message for each of the {len(codes)} documented error codes")
PY
}

case "${1:-}" in
  install) install ;;
  check) install && check ;;
  *) echo "usage: infra/web.sh install|check" >&2; exit 2 ;;
esac
