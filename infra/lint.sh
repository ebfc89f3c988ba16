#!/usr/bin/env bash
# The static checks beside cargo's own (infra/test.sh runs fmt and clippy): ruff (lint and format)
# on the Python, shellcheck on the shell scripts, and no unused dependency in any crate. Installs its
# pinned tools when missing.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$TIERFLOW_ROOT"
ensure_lint_tools

log "ruff check and ruff format --check (ruff.toml)"
ruff check --no-cache .
ruff format --no-cache --check .

log "shellcheck (.shellcheckrc)"
mapfile -t scripts < <(git ls-files '*.sh' .ci/run)
shellcheck "${scripts[@]}"

# cargo-machete's check without compiling it in CI (minutes on two cores): infra/unused_deps.py.
log "unused dependencies (infra/unused_deps.py)"
python3 infra/unused_deps.py
