#!/usr/bin/env bash
# cargo's target runner for the functions `cargo lambda watch` starts (set by serve_functions in
# infra/lib.sh): points their Runtime API at infra/runtime_relay.py, which hands cargo lambda
# watch whole responses (see its docstring). Anything else cargo runs is run unchanged.
set -euo pipefail
if [ -n "${TIERFLOW_RUNTIME_RELAY:-}" ] && [ -n "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
  AWS_LAMBDA_RUNTIME_API=${AWS_LAMBDA_RUNTIME_API/"$TIERFLOW_RUNTIME_UPSTREAM"/"$TIERFLOW_RUNTIME_RELAY"}
  export AWS_LAMBDA_RUNTIME_API
fi
exec "$@"
