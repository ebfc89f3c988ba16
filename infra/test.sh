#!/usr/bin/env bash
# Runs every check and test: fmt, clippy -D warnings, cfn-lint, unit and handler tests, adapter
# tests against the AWS emulator (moto server), Stripe and Lago emulator tests, and end-to-end tests of
# the functions under `cargo lambda watch`. Installs what it needs; starts and stops its own stack.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$TIERFLOW_ROOT"
# On failure, the tail of each log of this run (emulators, functions) goes to the output, so a
# failed CI run can be diagnosed from what it printed. Logs hold no secrets: see log_hygiene.py.
on_exit() {
  local status=$?
  if [ "$status" != 0 ] && [ -n "${RUN_LOG_DIR:-}" ]; then
    for f in "$RUN_LOG_DIR"/*.log "$RUN_LOG_DIR"/*/*.log; do
      [ -f "$f" ] || continue
      printf '\n==> last lines of %s\n' "$(basename "$f")"
      tail -n 40 "$f" | cut -c1-400
    done
  fi
  stop_all
  exit "$status"
}
trap on_exit EXIT

# TIERFLOW_E2E_ONLY=1 skips the static checks and unit tests (for iterating on end-to-end
# tests); TIERFLOW_E2E_FILTER=<test file stem> runs one end-to-end file.
E2E_ONLY=${TIERFLOW_E2E_ONLY:-0}

ensure_tools

# Both test tiers run under cargo-nextest (its profiles: .config/nextest.toml), this release.
NEXTEST_VERSION=0.9.151
if ! cargo nextest --version 2>/dev/null | grep -q "^cargo-nextest $NEXTEST_VERSION "; then
  log "installing cargo-nextest $NEXTEST_VERSION from crates.io (a few minutes, once)"
  cargo install cargo-nextest --version "$NEXTEST_VERSION" --locked --quiet
fi

# This run's logs (emulators, Keycloak, functions), checked for leaked secrets at the end.
LOG_DIR="$STATE_DIR/logs-test-$$"
RUN_LOG_DIR=$LOG_DIR
mkdir -p "$LOG_DIR"
# Keycloak starts once per run, while the checks and the build run.
# The API's port is chosen first: the billing page's client in the realm redirects to it.
API_PORT=$(free_port)
export TIERFLOW_BILLING_PAGE_ORIGIN="http://127.0.0.1:$API_PORT"
start_keycloak "$(free_port)" "$STATE_DIR/keycloak-test-$$"

if [ "$E2E_ONLY" != 1 ]; then
  log "cargo fmt --check"
  cargo fmt --all --check

  log "cargo clippy -D warnings"
  cargo clippy --workspace --all-targets --locked -- -D warnings

  log "lint: ruff and shellcheck (infra/lint.sh)"
  bash infra/lint.sh

  log "cfn-lint template.yaml"
  cfn-lint template.yaml

  log "API contract: openapi.yaml against template.yaml and the local router"
  python3 infra/contract.py

  log "the infra checks' own tests (infra/test_*.py)"
  python3 -m unittest discover -s infra -p 'test_*.py'

  log "typed client (and billing page bundle): regenerated from source, nothing changes"
  bash infra/web.sh check
fi

log "building every binary and test"
cargo build --workspace --bins --locked
cargo test --workspace --no-run --locked --quiet

start_aws_emulator "$(free_port)" "tierflow-test-$$"
export TIERFLOW_TEST_AWS_ENDPOINT="$AWS_ENDPOINT_URL"

WEBHOOK_SECRET="whsec_$(random_secret)"
# Every Stripe request (functions, catalog-sync, tests) and every webhook delivery of this run
# goes through a recording proxy; infra/stripe_conformance.py checks the recording at the end.
STRIPE_RECORDING="$STATE_DIR/stripe-recording-$$.jsonl"
HOOK_RECORDER_PORT=$(free_port)
start_stripe_recorder webhook "$HOOK_RECORDER_PORT" "http://127.0.0.1:$API_PORT" "$STRIPE_RECORDING"
start_stripe_emulator "$(free_port)" "http://127.0.0.1:$HOOK_RECORDER_PORT/lambda-url/stripe-webhook" "$WEBHOOK_SECRET"
STRIPE_EMULATOR_URL=$STRIPE_API_BASE
start_stripe_recorder api "$(free_port)" "$STRIPE_API_BASE" "$STRIPE_RECORDING"
export STRIPE_SECRET_KEY="sk_test_tierflow_ci" STRIPE_WEBHOOK_SECRETS="$WEBHOOK_SECRET"

log "creating the catalog's products and prices in the Stripe emulator"
target/debug/catalog-sync
start_lago_emulator "$(free_port)" "http://127.0.0.1:$API_PORT/lambda-url/lago-webhook" lago_hmac_key_local_test_only

if [ "$E2E_ONLY" != 1 ]; then
  log "Lago emulator against Lago's published client models (lago-python-client)"
  python3 -m unittest discover -s infra/lago-emulator
fi

if [ "$E2E_ONLY" != 1 ]; then
  log "unit, handler and adapter tests"
  # The workspace has no doctests (nextest would not run them): no `cargo test --doc` step.
  cargo nextest run --workspace --locked
fi

# The functions get tables, queues and a bus of their own: the emulator copies a whole table
# (and its stream) for every transaction, so the adapter tests' thousands of items would slow
# every end-to-end write.
provision_stack "tierflow-e2e-$$"

wait_for_keycloak
# One env file per run: functions under watch read it at their first call, and parallel runs
# (which pick their own ports) must not read each other's secrets.
ENV_FILE="$STATE_DIR/functions-test-$$.env"
write_functions_env "$ENV_FILE"
# The end-to-end tests see both kinds of stop: a dispute ends the subscription at period end
# (so winning it can resume one that still lives), a full refund cancels now (the default).
printf 'ON_DISPUTE=cancel_at_period_end\nON_FULL_REFUND=cancel_now\n' >>"$ENV_FILE"
WATCH_LOG="$LOG_DIR/watch.log" serve_functions "$API_PORT" "$ENV_FILE" --ignore-changes
wait_for_http "http://127.0.0.1:$API_PORT/api/v1/billing/config" 120
start_relays "$API_PORT"
export EMAIL_OUTBOX_DIR="$STATE_DIR/outbox"

log "end-to-end tests"
export TIERFLOW_E2E_BASE="http://127.0.0.1:$API_PORT"
# The end-to-end tests are the workspace's only ignored tests. One file after another, in name
# order (whole_lifecycle.rs last: it moves the emulator's clock furthest), as cargo ran them;
# within a file the e2e profile says what runs together. `--workspace` keeps the feature set of
# the build above (`-p tierflow-e2e` alone would rebuild tokio and the SDKs).
# own_catalog.rs runs against the second stack below, not this one.
if [ "${TIERFLOW_E2E_FILTER:-}" = browser ] || [ "${TIERFLOW_E2E_FILTER:-}" = own_catalog ]; then
  log "(end-to-end tests of the first stack filtered out)"
else
  if [ -n "${TIERFLOW_E2E_FILTER:-}" ]; then
    e2e_files=("$TIERFLOW_E2E_FILTER")
  else
    e2e_files=()
    for file in infra/e2e/tests/*.rs; do
      [ "$(basename "$file")" = own_catalog.rs ] || e2e_files+=("$(basename "$file" .rs)")
    done
  fi
  for file in "${e2e_files[@]}"; do
    cargo nextest run --workspace --locked --profile e2e --run-ignored only --test "$file"
  done
fi

# The billing page in a real browser, signed in through Keycloak, paying in the Stripe emulator.
if [ -z "${TIERFLOW_E2E_FILTER:-}" ] || [ "$TIERFLOW_E2E_FILTER" = browser ]; then
  log "browser tests of the billing page (playwright-core, Debian's chromium, axe-core)"
  ensure_chromium
  bash infra/web.sh install
  (cd functions/billing-page/web && BILLING_PAGE_URL="http://127.0.0.1:$API_PORT/billing" \
    TIERFLOW_TEST_USERS="[{\"username\":\"alice\",\"password\":\"$KEYCLOAK_USER_PASSWORD\"},{\"username\":\"bob\",\"password\":\"$KEYCLOAK_USER_PASSWORD\"}]" \
    timeout --kill-after=15 900 node --test tests/browser.test.mjs)
fi

# Fuzzing takes a few minutes: every full run; a filtered run only with TIERFLOW_FUZZ=1.
if [ -z "${TIERFLOW_E2E_FILTER:-}" ] || [ "${TIERFLOW_FUZZ:-0}" = 1 ]; then
  log "fuzzing the HTTP API with schemathesis (openapi.yaml): no 5xx, every response conforming"
  python3 infra/fuzz.py --max-examples "${TIERFLOW_FUZZ_EXAMPLES:-20}" --max-time "${TIERFLOW_FUZZ_SECONDS:-150}"
fi

# A second stack on a team's own catalog (infra/e2e/own-catalog.json: Hobby, Solo, Team and
# Business in eur, two of them with card-less trials) with Stripe Tax and promotion codes on,
# for the journeys the built-in catalog cannot show: trials, codes and tax through the functions.
# It has its own Stripe and Lago emulators (their clocks and webhooks are its own), table, queues
# and function server; Keycloak and the recording of Stripe's traffic are shared.
if [ -z "${TIERFLOW_E2E_FILTER:-}" ] || [ "$TIERFLOW_E2E_FILTER" = own_catalog ]; then
  log "end-to-end tests on a second stack: a team's own catalog, Stripe Tax, promotion codes"
  LOG_DIR="$RUN_LOG_DIR/own-catalog"
  mkdir -p "$LOG_DIR"
  export CATALOG_FILE="$TIERFLOW_ROOT/infra/e2e/own-catalog.json"
  OWN_PORT=$(free_port)
  OWN_HOOK_PORT=$(free_port)
  start_stripe_recorder webhook "$OWN_HOOK_PORT" "http://127.0.0.1:$OWN_PORT" "$STRIPE_RECORDING"
  start_stripe_emulator "$(free_port)" "http://127.0.0.1:$OWN_HOOK_PORT/lambda-url/stripe-webhook" "$WEBHOOK_SECRET"
  STRIPE_EMULATOR_URL=$STRIPE_API_BASE
  start_stripe_recorder api "$(free_port)" "$STRIPE_API_BASE" "$STRIPE_RECORDING"
  target/debug/catalog-sync
  start_lago_emulator "$(free_port)" "http://127.0.0.1:$OWN_PORT/lambda-url/lago-webhook" lago_hmac_key_local_test_only
  provision_stack "tierflow-own-$$"
  OWN_ENV_FILE="$STATE_DIR/functions-own-$$.env"
  API_PORT=$OWN_PORT write_functions_env "$OWN_ENV_FILE"
  printf 'CATALOG_FILE=%s\nTAX_MODE=stripe_tax\nALLOW_PROMOTION_CODES=true\n' "$CATALOG_FILE" >>"$OWN_ENV_FILE"
  WATCH_LOG="$LOG_DIR/watch.log" serve_functions "$OWN_PORT" "$OWN_ENV_FILE" --ignore-changes
  wait_for_http "http://127.0.0.1:$OWN_PORT/api/v1/billing/config" 120
  start_relays "$OWN_PORT"
  TIERFLOW_E2E_BASE="http://127.0.0.1:$OWN_PORT" \
    cargo nextest run --workspace --locked --profile e2e --run-ignored only --test own_catalog
  LOG_DIR=$RUN_LOG_DIR
fi

log "Stripe conformance: the recorded traffic against stripe==12.1.0's declared params and fields"
python3 infra/stripe_conformance.py "$STRIPE_RECORDING"

log "Keycloak ran without a thread dying (its log names every one)"
if grep -n 'Exception in thread' "$LOG_DIR/keycloak.log"; then
  log "Keycloak threads died during the run (above)"
  exit 1
fi

log "log hygiene: no secret, card number or webhook body in this run's logs"
hygiene_env=(--env-file "$ENV_FILE")
if [ -n "${OWN_ENV_FILE:-}" ]; then hygiene_env+=(--env-file "$OWN_ENV_FILE"); fi
run_logs=("$LOG_DIR"/*.log)
if [ -d "$LOG_DIR/own-catalog" ]; then run_logs+=("$LOG_DIR"/own-catalog/*.log); fi
python3 infra/log_hygiene.py "${hygiene_env[@]}" "${run_logs[@]}"

log "all checks passed"
