#!/usr/bin/env bash
# Runs every check and test: fmt, clippy -D warnings, cfn-lint, unit and handler tests, adapter
# tests against the AWS emulator (moto server), Stripe emulator tests, and end-to-end tests of
# the functions under `cargo lambda watch`. Installs what it needs; starts and stops its own stack.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$TIERFLOW_ROOT"
trap stop_all EXIT

ensure_tools

log "cargo fmt --check"
cargo fmt --all --check

log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "cfn-lint template.yaml"
cfn-lint template.yaml

log "building every binary and test"
cargo build --workspace --bins --locked
cargo test --workspace --no-run --locked --quiet

start_aws_emulator "$(free_port)" "tierflow-test-$$"
export TIERFLOW_TEST_AWS_ENDPOINT="$AWS_ENDPOINT_URL"

API_PORT=$(free_port)
WEBHOOK_SECRET="whsec_$(random_secret)"
start_stripe_emulator "$(free_port)" "http://127.0.0.1:$API_PORT/lambda-url/stripe-webhook" "$WEBHOOK_SECRET"
export STRIPE_SECRET_KEY="sk_test_tierflow_ci" STRIPE_WEBHOOK_SECRETS="$WEBHOOK_SECRET"
export JWT_HS256_SECRET=$(random_secret)

log "unit, handler and adapter tests"
cargo test --workspace --locked

log "serving every function with cargo lambda watch on 127.0.0.1:$API_PORT"
ENV_FILE="$STATE_DIR/functions-test.env"
cat >"$ENV_FILE" <<ENV
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
AWS_ACCESS_KEY_ID=testing
AWS_SECRET_ACCESS_KEY=testing
AWS_REGION=us-east-1
TABLE_NAME=$TABLE_NAME
SYNC_QUEUE_URL=$SYNC_QUEUE_URL
EVENT_BUS_NAME=$EVENT_BUS_NAME
STRIPE_API_BASE=$STRIPE_API_BASE
STRIPE_SECRET_KEY=$STRIPE_SECRET_KEY
STRIPE_WEBHOOK_SECRETS=$STRIPE_WEBHOOK_SECRETS
JWT_HS256_SECRET=$JWT_HS256_SECRET
ENV
cargo lambda watch -A 127.0.0.1 -P "$API_PORT" --ignore-changes --env-file "$ENV_FILE" >"$STATE_DIR/watch.log" 2>&1 &
PIDS+=($!)
wait_for_http "http://127.0.0.1:$API_PORT/api/v1/billing/config" 120

log "end-to-end tests"
TIERFLOW_E2E_BASE="http://127.0.0.1:$API_PORT" cargo test -p tierflow-e2e --locked -- --ignored --test-threads 4

log "all checks passed"
