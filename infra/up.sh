#!/usr/bin/env bash
# Brings the whole local stack up and serves the API and the webhook:
#   AWS emulator (moto server) with template.yaml's table, queues and bus,
#   the Stripe emulator with the catalog created in it and webhooks pointed at stripe-webhook,
#   the Lago emulator (infra/lago-emulator) with the catalog's plans, webhooks to lago-webhook,
#   Keycloak with the realms of infra/keycloak/ (the API trusts realm tierflow's tokens),
#   every function under `cargo lambda watch` on http://127.0.0.1:${TIERFLOW_PORT:-9000},
#   the table's stream relayed to outbox-relay (infra/stream_relay.py),
#   and the sync queue relayed to sync-worker (infra/sync_relay.py).
# Ctrl-C stops everything.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$TIERFLOW_ROOT"
trap stop_all EXIT

API_PORT=${TIERFLOW_PORT:-9000}
AWS_PORT=${TIERFLOW_AWS_PORT:-5050}
STRIPE_PORT=${TIERFLOW_STRIPE_PORT:-12111}
LAGO_PORT=${TIERFLOW_LAGO_PORT:-3000}
KEYCLOAK_PORT=${TIERFLOW_KEYCLOAK_PORT:-8180}

ensure_tools
export TIERFLOW_BILLING_PAGE_ORIGIN="http://127.0.0.1:$API_PORT" # the billing page client's redirect URI
start_keycloak "$KEYCLOAK_PORT" "$STATE_DIR/keycloak"
log "building the workspace (first run: a few minutes)"
cargo build --workspace --bins

start_aws_emulator "$AWS_PORT" tierflow-local

WEBHOOK_SECRET="whsec_$(random_secret)"
start_stripe_emulator "$STRIPE_PORT" "http://127.0.0.1:$API_PORT/lambda-url/stripe-webhook" "$WEBHOOK_SECRET"
export STRIPE_SECRET_KEY="sk_test_tierflow_local"

start_lago_emulator "$LAGO_PORT" "http://127.0.0.1:$API_PORT/lambda-url/lago-webhook" lago_hmac_key_local_test_only

if [ -x target/debug/catalog-sync ]; then
  log "creating the catalog's products and prices in the Stripe emulator"
  target/debug/catalog-sync
fi

ENV_FILE="$STATE_DIR/functions.env"
STRIPE_WEBHOOK_SECRETS=$WEBHOOK_SECRET STRIPE_EMULATOR_URL=$STRIPE_API_BASE write_functions_env "$ENV_FILE"

wait_for_keycloak
cat <<MSG

  Tierflow is up.
    Billing page: http://127.0.0.1:$API_PORT/billing  (sign in as alice or bob, below)
    API:      http://127.0.0.1:$API_PORT/api/v1/billing/config
    Webhook:  http://127.0.0.1:$API_PORT/lambda-url/stripe-webhook
    Stripe:   $STRIPE_API_BASE   AWS: $AWS_ENDPOINT_URL   Lago: $LAGO_API_URL
    Keycloak: $KEYCLOAK_URL/admin/  (admin / $KEYCLOAK_ADMIN_PASSWORD, this run only)
  Sign in as alice or bob (password $KEYCLOAK_USER_PASSWORD, this run only):
    browser: $KEYCLOAK_URL/realms/tierflow/account
    web app: client tierflow-web (public, authorization code with PKCE S256)
    a token: curl -s -d grant_type=password -d client_id=tierflow-e2e -d username=alice \
               -d password=$KEYCLOAK_USER_PASSWORD $KEYCLOAK_URL/realms/tierflow/protocol/openid-connect/token

MSG
serve_functions "$API_PORT" "$ENV_FILE"
wait_for_http "http://127.0.0.1:$API_PORT/api/v1/billing/config" 300
log "relaying the table's stream to outbox-relay (Lambda's event source mapping, locally)"
python3 infra/stream_relay.py --aws "$AWS_ENDPOINT_URL" --table "$TABLE_NAME" \
  --invoke "http://127.0.0.1:$API_PORT" &
PIDS+=($!)
log "relaying the sync queue to sync-worker (Keycloak attributes; emails in $STATE_DIR/outbox)"
python3 infra/sync_relay.py --aws "$AWS_ENDPOINT_URL" --queue "$SYNC_QUEUE_URL" \
  --invoke "http://127.0.0.1:$API_PORT" &
PIDS+=($!)
wait "${PIDS[@]}"
