# shellcheck shell=bash
# Helpers shared by infra/up.sh and infra/test.sh. Sourced, not run.

TIERFLOW_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="$TIERFLOW_ROOT/infra/.local"
mkdir -p "$STATE_DIR"
# Where the emulators' logs go; infra/test.sh gives each run its own (its log hygiene check reads them).
LOG_DIR="$STATE_DIR"
PIDS=()

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs what the stack needs from PyPI and rustup, only when missing.
ensure_tools() {
  local missing=0
  for tool in moto_server cargo-lambda cfn-lint st; do
    command -v "$tool" >/dev/null 2>&1 || missing=1
  done
  python3 -c 'import stripe, boto3, yaml, openapi_spec_validator, schemathesis, cryptography, lago_python_client' 2>/dev/null || missing=1
  # The Stripe conformance check holds traffic to this exact SDK release (pinned to basil).
  python3 -c 'import stripe; assert stripe.VERSION == "12.1.0"' 2>/dev/null || missing=1
  # Every exact pin of requirements.txt (moto, which aws_emulator.py patches, among them) is the
  # installed release.
  python3 -c 'import importlib.metadata as m, re, sys
for line in open(sys.argv[1]):
    pin = re.match(r"([A-Za-z0-9_.-]+)(\[[^]]*\])?==(\S+)", line)
    assert not pin or m.version(pin[1]) == pin[3], line' "$TIERFLOW_ROOT/infra/requirements.txt" 2>/dev/null || missing=1
  if [ "$missing" = 1 ]; then
    log "installing local stack tools from PyPI (infra/requirements.txt)"
    python3 -m pip install --quiet --disable-pip-version-check -r "$TIERFLOW_ROOT/infra/requirements.txt"
    hash -r
  fi
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
}

# The lint step's tools (infra/lint.sh): ruff at infra/requirements.txt's exact pin (its rules
# and formatting change between releases) from PyPI, shellcheck from Debian.
ensure_lint_tools() {
  local ruff_pin
  ruff_pin=$(sed -n 's/^ruff==//p' "$TIERFLOW_ROOT/infra/requirements.txt")
  if [ "$(ruff --version 2>/dev/null)" != "ruff $ruff_pin" ]; then
    log "installing ruff $ruff_pin from PyPI"
    python3 -m pip install --quiet --disable-pip-version-check "ruff==$ruff_pin"
    hash -r
  fi
  command -v shellcheck >/dev/null 2>&1 && return 0
  log "installing shellcheck (apt-get)"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get install -y -qq shellcheck >/dev/null || { $sudo apt-get update -qq && $sudo apt-get install -y -qq shellcheck >/dev/null; }
}

# A free TCP port on loopback.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until a URL answers (any HTTP status), at most $2 seconds.
wait_for_http() {
  local url=$1 timeout=${2:-30} start=$SECONDS
  until curl -s -o /dev/null "$url"; do
    if (( SECONDS - start > timeout )); then
      log "timed out waiting for $url"
      return 1
    fi
    sleep 0.2
  done
}

stop_all() {
  local pid deadline
  for pid in "${PIDS[@]:-}"; do
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  done
  # A process still running 15 s after SIGTERM is killed: a run never hangs in its own cleanup.
  deadline=$((SECONDS + 15))
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] || continue
    while running "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
    if running "$pid"; then
      log "process $pid ($(ps -o args= -p "$pid" | cut -c1-80)) ignored SIGTERM: killed"
      kill -9 "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
}

# Whether a process runs (an exited child waiting to be reaped does not).
running() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $state != Z* ]]
}

# Starts moto server on loopback and provisions template.yaml's resources into it.
# Exports AWS_* settings and TABLE_NAME, SYNC_QUEUE_URL, SYNC_DLQ_URL, EVENT_BUS_NAME.
start_aws_emulator() {
  local port=$1 stack=$2
  log "starting the AWS emulator (moto server) on 127.0.0.1:$port"
  python3 "$TIERFLOW_ROOT/infra/aws_emulator.py" -H 127.0.0.1 -p "$port" >"$LOG_DIR/moto.log" 2>&1 &
  PIDS+=($!)
  wait_for_http "http://127.0.0.1:$port/moto-api/" 30
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  provision_stack "$stack"
}

# Provisions template.yaml's resources as another stack in the running AWS emulator and exports
# its TABLE_NAME, SYNC_QUEUE_URL, SYNC_DLQ_URL, EVENT_BUS_NAME.
provision_stack() {
  local stack=$1
  log "provisioning table, queues and bus from template.yaml (stack $stack)"
  local settings
  settings=$(python3 "$TIERFLOW_ROOT/infra/provision.py" --endpoint "$AWS_ENDPOINT_URL" --stack "$stack" --template "$TIERFLOW_ROOT/template.yaml")
  while IFS= read -r line; do
    export "${line?}"
  done <<<"$settings"
}

# Starts the Stripe emulator (built already) and exports STRIPE_API_BASE.
start_stripe_emulator() {
  local port=$1 webhook_url=${2:-} webhook_secret=${3:-}
  log "starting the Stripe emulator on 127.0.0.1:$port"
  local args=(--port "$port")
  if [ -n "$webhook_url" ]; then
    args+=(--webhook-url "$webhook_url" --webhook-secret "$webhook_secret")
  fi
  "$TIERFLOW_ROOT/target/debug/stripe-emulator" "${args[@]}" >"$LOG_DIR/stripe-emulator.log" 2>&1 &
  PIDS+=($!)
  wait_for_http "http://127.0.0.1:$port/v1/events" 30
  export STRIPE_API_BASE="http://127.0.0.1:$port"
}

# Starts a recording proxy (infra/stripe_recorder.py) on port $2 in front of $3, appending every
# exchange to $4; $1 is `api` (exports STRIPE_API_BASE as the proxy) or `webhook`.
start_stripe_recorder() {
  local kind=$1 port=$2 upstream=$3 out=$4
  log "recording Stripe $kind traffic through 127.0.0.1:$port into $(basename "$out")"
  python3 "$TIERFLOW_ROOT/infra/stripe_recorder.py" --kind "$kind" --port "$port" --upstream "$upstream" --out "$out" \
    >"$LOG_DIR/stripe-recorder-$kind.log" 2>&1 &
  PIDS+=($!)
  wait_for_http "http://127.0.0.1:$port/_recorder/health" 30
  if [ "$kind" = api ]; then
    export STRIPE_API_BASE="http://127.0.0.1:$port"
  fi
}

# Serves every function with `cargo lambda watch` on 127.0.0.1:$1 with the env file $2 (further
# arguments go to the watch), their Runtime API through infra/runtime_relay.py: the watch loses
# responses larger than its first read without it. Output goes to stdout unless $WATCH_LOG is set.
serve_functions() {
  local port=$1 env_file=$2
  shift 2
  local relay_port host
  relay_port=$(free_port)
  python3 "$TIERFLOW_ROOT/infra/runtime_relay.py" --port "$relay_port" --upstream "http://127.0.0.1:$port" \
    >"$LOG_DIR/runtime-relay.log" 2>&1 &
  PIDS+=($!)
  host=$(rustc -vV | sed -n 's/^host: //p' | tr '[:lower:]-' '[:upper:]_')
  log "serving every function with cargo lambda watch on 127.0.0.1:$port (Runtime API relayed on $relay_port)"
  env "CARGO_TARGET_${host}_RUNNER=$TIERFLOW_ROOT/infra/lambda-runner.sh" \
    TIERFLOW_RUNTIME_UPSTREAM="127.0.0.1:$port" TIERFLOW_RUNTIME_RELAY="127.0.0.1:$relay_port" \
    cargo lambda watch -A 127.0.0.1 -P "$port" --env-file "$env_file" "$@" >"${WATCH_LOG:-/dev/stdout}" 2>&1 &
  PIDS+=($!)
}

# Relays the stack's table stream to outbox-relay and its sync queue to sync-worker (Keycloak
# sync and the email outbox) of the functions on 127.0.0.1:$1, as Lambda's event source
# mappings do in AWS. Needs AWS_ENDPOINT_URL, TABLE_NAME and SYNC_QUEUE_URL; logs in $LOG_DIR.
start_relays() {
  local port=$1
  python3 "$TIERFLOW_ROOT/infra/stream_relay.py" --aws "$AWS_ENDPOINT_URL" --table "$TABLE_NAME" \
    --invoke "http://127.0.0.1:$port" >"$LOG_DIR/stream-relay.log" 2>&1 &
  PIDS+=($!)
  python3 "$TIERFLOW_ROOT/infra/sync_relay.py" --aws "$AWS_ENDPOINT_URL" --queue "$SYNC_QUEUE_URL" \
    --invoke "http://127.0.0.1:$port" >"$LOG_DIR/sync-relay.log" 2>&1 &
  PIDS+=($!)
}

# Starts the Lago emulator (infra/lago-emulator) with the catalog's plans (`CATALOG_FILE`, else
# the built-in one; zero base amount, the catalog's currency),
# its Stripe connection on the Stripe emulator, and hmac-signed webhooks to $2; exports
# LAGO_API_URL and LAGO_API_KEY. Needs STRIPE_API_BASE and STRIPE_SECRET_KEY.
start_lago_emulator() {
  local port=$1 webhook_url=$2 hmac_key=$3
  log "starting the Lago emulator on 127.0.0.1:$port"
  local catalog=${CATALOG_FILE:-$TIERFLOW_ROOT/shared/catalog.json} lago_args=()
  while IFS= read -r code; do
    lago_args+=(--plan "$code:0")
  done < <(python3 -c 'import json,sys; [print(t["lago_plan_code"]) for t in json.load(open(sys.argv[1]))["tiers"]]' "$catalog")
  # Lago refuses a customer whose currency is not its plans' (currencies_does_not_match).
  lago_args+=(--currency "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["currency"].upper())' "$catalog")")
  LAGO_API_KEY="lago_local_$(random_secret)"
  export LAGO_API_KEY
  python3 "$TIERFLOW_ROOT/infra/lago-emulator/lago_emulator.py" --port "$port" --api-key "$LAGO_API_KEY" \
    --stripe-api-base "$STRIPE_API_BASE" --stripe-secret-key "$STRIPE_SECRET_KEY" "${lago_args[@]}" \
    --webhook-url "$webhook_url" --webhook-signature hmac --hmac-key "$hmac_key" \
    >"$LOG_DIR/lago-emulator.log" 2>&1 &
  PIDS+=($!)
  wait_for_http "http://127.0.0.1:$port/api/v1/customers/none" 30
  export LAGO_API_URL="http://127.0.0.1:$port"
}

# Writes the functions' env file $1 (mode 600) from the running stack's settings: the AWS
# emulator's resources, Stripe (STRIPE_API_BASE, STRIPE_EMULATOR_URL for the browser's Stripe.js),
# Lago, Keycloak and the billing page on 127.0.0.1:$API_PORT. One file per run: functions under
# watch read it at their first call, and parallel runs must not read each other's secrets.
write_functions_env() {
  local file=$1
  (umask 077 && cat >"$file" <<ENV
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
HISTORY_CURSOR_SECRET=$(random_secret)
SYNC_DLQ_URL=$SYNC_DLQ_URL
EMAIL_OUTBOX_DIR=$STATE_DIR/outbox
LAGO_WEBHOOK_HMAC_KEY=lago_hmac_key_local_test_only
LAGO_API_URL=$LAGO_API_URL
LAGO_API_KEY=$LAGO_API_KEY
LAGO_WEBHOOK_SIGNATURE=hmac
JWT_ISSUER=$KEYCLOAK_URL/realms/tierflow
JWT_AUDIENCE=tierflow-api
KEYCLOAK_BASE_URL=$KEYCLOAK_URL
KEYCLOAK_REALM=tierflow
KEYCLOAK_CLIENT_ID=tierflow-sync
KEYCLOAK_CLIENT_SECRET=$KEYCLOAK_SYNC_SECRET
OIDC_ISSUER=$KEYCLOAK_URL/realms/tierflow
OIDC_CLIENT_ID=tierflow-billing-page
STRIPE_JS_URL=$STRIPE_EMULATOR_URL/js/v3
CHECKOUT_SUCCESS_URL='http://127.0.0.1:$API_PORT/billing?checkout_session_id={CHECKOUT_SESSION_ID}'
CHECKOUT_CANCEL_URL='http://127.0.0.1:$API_PORT/billing?checkout_cancelled=1'
PORTAL_RETURN_URL=http://127.0.0.1:$API_PORT/billing
ENV
  )
}

# A random secret of 48 hex characters (local use only, regenerated per run, never committed).
random_secret() {
  python3 -c 'import secrets; print(secrets.token_hex(24))'
}

# Keycloak's server distribution, fetched through Maven into ~/.cache/tierflow (never the repo).
KEYCLOAK_VERSION=${TIERFLOW_KEYCLOAK_VERSION:-26.4.7}
KEYCLOAK_HOME="${TIERFLOW_CACHE:-$HOME/.cache/tierflow}/keycloak-$KEYCLOAK_VERSION"

ensure_keycloak() {
  [ -x "$KEYCLOAK_HOME/bin/kc.sh" ] && return 0
  log "fetching Keycloak $KEYCLOAK_VERSION (org.keycloak:keycloak-quarkus-dist) through Maven"
  local download
  download=$(mktemp -d)
  mvn -q dependency:copy -Dartifact="org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip" \
    -DoutputDirectory="$download"
  mkdir -p "$(dirname "$KEYCLOAK_HOME")"
  (cd "$download" && unzip -q "keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip" &&
    mv "keycloak-$KEYCLOAK_VERSION" "$KEYCLOAK_HOME.partial" && mv "$KEYCLOAK_HOME.partial" "$KEYCLOAK_HOME")
  rm -rf "$download"
}

# Starts Keycloak in the background (start-dev, loopback, in-memory database) with the realms in
# infra/keycloak/ imported and a per-run admin password, sync client secret and test-user
# password; wait_for_keycloak waits until it serves them. The server runs from a home of its own
# under $2 (its data and import directories; the distribution is linked), so parallel runs never
# share state. Exports KEYCLOAK_URL, KEYCLOAK_ADMIN_PASSWORD, KEYCLOAK_SYNC_SECRET and
# KEYCLOAK_USER_PASSWORD.
start_keycloak() {
  local port=$1 home=$2
  ensure_keycloak
  export KEYCLOAK_URL="http://127.0.0.1:$port"
  export KEYCLOAK_ADMIN_PASSWORD KEYCLOAK_SYNC_SECRET KEYCLOAK_USER_PASSWORD
  KEYCLOAK_ADMIN_PASSWORD=$(random_secret)
  KEYCLOAK_SYNC_SECRET=$(random_secret)
  KEYCLOAK_USER_PASSWORD=$(random_secret)
  rm -rf "$home" && mkdir -p "$home/bin" "$home/data/import"
  cp "$KEYCLOAK_HOME/bin/kc.sh" "$home/bin/"
  for part in lib conf providers themes; do ln -s "$KEYCLOAK_HOME/$part" "$home/$part"; done
  cp "$TIERFLOW_ROOT"/infra/keycloak/realm-*.json "$home/data/import/"
  # Keycloak 26 needs Java 21 or later: the Temurin JDK when the default java is older. On Java
  # 24+ its worker threads reset their thread-locals through java.lang's internals; without
  # that package opened each worker dies after its first task (IllegalAccessError in the log)
  # and requests wait for new ones: the stack stalled for tens of seconds late in CI runs.
  local java_home=${TIERFLOW_KEYCLOAK_JAVA_HOME:-}
  if [ -z "$java_home" ] && [ -d /usr/lib/jvm/temurin-25-jdk-amd64 ]; then
    java_home=/usr/lib/jvm/temurin-25-jdk-amd64
  fi
  log "starting Keycloak $KEYCLOAK_VERSION on $KEYCLOAK_URL (realms from infra/keycloak/)"
  KEYCLOAK_STARTED=$SECONDS
  env ${java_home:+JAVA_HOME="$java_home"} \
    KC_BOOTSTRAP_ADMIN_USERNAME=admin KC_BOOTSTRAP_ADMIN_PASSWORD="$KEYCLOAK_ADMIN_PASSWORD" \
    TIERFLOW_KEYCLOAK_SYNC_SECRET="$KEYCLOAK_SYNC_SECRET" \
    TIERFLOW_KEYCLOAK_USER_PASSWORD="$KEYCLOAK_USER_PASSWORD" \
    JAVA_OPTS_KC_HEAP="-Xms64m -Xmx512m" \
    JAVA_OPTS_APPEND="--add-opens=java.base/java.lang=ALL-UNNAMED" \
    "$home/bin/kc.sh" start-dev --db=dev-mem --http-host=127.0.0.1 --http-port="$port" \
    --http-management-port="$(free_port)" --import-realm >"$LOG_DIR/keycloak.log" 2>&1 &
  PIDS+=($!)
}

# Waits (at most 5 minutes: its first start builds its Quarkus application) until the Keycloak
# of start_keycloak serves the realm the API trusts.
wait_for_keycloak() {
  wait_for_http "$KEYCLOAK_URL/realms/tierflow/.well-known/openid-configuration" 300
  log "Keycloak serves realm tierflow ($(grep -o 'started in [0-9.]*s' "$LOG_DIR/keycloak.log" | head -1); waited until $((SECONDS - KEYCLOAK_STARTED))s after its launch)"
}

# Debian's chromium for the billing page's browser tests (playwright-core never downloads one).
ensure_chromium() {
  [ -x /usr/bin/chromium ] && return 0
  log "installing chromium (apt-get)"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get install -y -qq chromium >/dev/null || { $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium >/dev/null; }
}
