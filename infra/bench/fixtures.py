"""What every benchmark hands a function: its environment, the `events/` samples, and Stripe
webhook deliveries signed with the benchmark's secret."""

import hashlib
import hmac
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "infra" / "bench"
WEBHOOK_SECRET = "whsec_benchmark_secret_0123456789"
USER_ID = "8f14e45f-ceea-467f-a0e6-6f6b7a1c2d3e"  # the `sub` of the events/ files


def sign(secret: str, timestamp: int, payload: str) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def event_file(name: str) -> dict:
    return json.loads((ROOT / "events" / f"{name}.json").read_text())


def webhook_delivery(payload: str) -> dict:
    """A function-URL event carrying `payload`, signed now with the benchmark secret."""
    event = event_file("stripe-webhook")
    event["body"] = payload
    event["headers"]["stripe-signature"] = sign(WEBHOOK_SECRET, int(time.time()), payload)
    return event


def function_env(stripe_base: str, aws_base: str, outbox: Path) -> dict:
    return {
        "AWS_ENDPOINT_URL": aws_base,
        "TABLE_NAME": os.environ["TABLE_NAME"],
        "SYNC_QUEUE_URL": os.environ["SYNC_QUEUE_URL"],
        "SYNC_DLQ_URL": os.environ.get("SYNC_DLQ_URL", ""),
        "EVENT_BUS_NAME": os.environ["EVENT_BUS_NAME"],
        "STRIPE_API_BASE": stripe_base,
        "STRIPE_SECRET_KEY": "sk_test_benchmark",
        "STRIPE_WEBHOOK_SECRETS": WEBHOOK_SECRET,
        "AUTH_MODE": "apigateway",
        "HISTORY_CURSOR_SECRET": "bench-history-cursor-secret-0123456789",
        "EMAIL_OUTBOX_DIR": str(outbox),
        "LAGO_WEBHOOK_HMAC_KEY": "lago_hmac_key_local_test_only",
        # The billing page's URLs (infra/lib.sh writes the same into the local env file).
        "CHECKOUT_SUCCESS_URL": "http://127.0.0.1:3000/billing?checkout_session_id={CHECKOUT_SESSION_ID}",
        "CHECKOUT_CANCEL_URL": "http://127.0.0.1:3000/billing?checkout_cancelled=1",
        "PORTAL_RETURN_URL": "http://127.0.0.1:3000/billing",
    }
