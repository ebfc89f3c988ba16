#!/usr/bin/env bash
# The static checks beside cargo's own (infra/test.sh runs fmt and clippy): ruff (lint and format)
# on the Python and shellcheck on the shell scripts. Installs its pinned tools when missing.
# infra/bench/ is left out while it is being rewritten (see ruff.toml).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$TIERFLOW_ROOT"
ensure_lint_tools

log "ruff check and ruff format --check (ruff.toml)"
ruff check --no-cache .
ruff format --no-cache --check .

log "shellcheck (.shellcheckrc)"
mapfile -t scripts < <(git ls-files '*.sh' .ci/run | grep -v '^infra/bench/')
shellcheck "${scripts[@]}"
