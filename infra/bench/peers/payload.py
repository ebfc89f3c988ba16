"""Writes the benchmark's webhook: a ~5 KB `customer.subscription.updated` event shaped like
Stripe's 2025-04-30.basil payloads (the same shape as shared/benches/webhook_hot_path.rs), signed
once, so Tierflow, stripe-python and stripe-node verify the very same bytes, secret and header.

python3 payload.py OUT.json [--user-id ID]
"""

import argparse
import hashlib
import hmac
import json
import time

SECRET = "whsec_benchmark_secret_0123456789"


def realistic_event(created: int, user_id: str | None) -> str:
    metadata = {f"key_{i}": f"value number {i} with some text" for i in range(12)}
    if user_id:
        metadata["user_id"] = user_id
    plan = {
        "id": "price_1SBenchmarkPro",
        "object": "plan",
        "active": True,
        "amount": 4900,
        "amount_decimal": "4900",
        "billing_scheme": "per_unit",
        "created": created - 864_000,
        "currency": "usd",
        "interval": "month",
        "interval_count": 1,
        "livemode": False,
        "metadata": {},
        "meter": None,
        "nickname": "Professional monthly",
        "product": "prod_BenchmarkPro",
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }
    price = {
        "id": "price_1SBenchmarkPro",
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": created - 864_000,
        "currency": "usd",
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": "tierflow_professional_monthly",
        "metadata": {},
        "nickname": "Professional monthly",
        "product": "prod_BenchmarkPro",
        "recurring": {
            "interval": "month",
            "interval_count": 1,
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        },
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring",
        "unit_amount": 4900,
        "unit_amount_decimal": "4900",
    }
    subscription = {
        "id": "sub_1SBenchmark0001",
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": created - 86_400,
        "billing_cycle_anchor_config": None,
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": created - 86_400,
        "currency": "usd",
        "customer": "cus_BenchmarkCustomer",
        "days_until_due": None,
        "default_payment_method": "pm_1SBenchmarkCard0001",
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "has_more": False,
            "total_count": 1,
            "url": "/v1/subscription_items?subscription=sub_1SBenchmark0001",
            "data": [
                {
                    "id": "si_BenchmarkItem0001",
                    "object": "subscription_item",
                    "billing_thresholds": None,
                    "created": created - 86_400,
                    "current_period_start": created - 86_400,
                    "current_period_end": created + 29 * 86_400,
                    "discounts": [],
                    "metadata": {},
                    "plan": plan,
                    "price": price,
                    "quantity": 1,
                    "subscription": "sub_1SBenchmark0001",
                    "tax_rates": [],
                }
            ],
        },
        "latest_invoice": "in_1SBenchmarkInvoice01",
        "livemode": False,
        "metadata": metadata,
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": created - 86_400,
        "status": "active",
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }
    event = {
        "id": "evt_1SBenchmarkEvent00000001",
        "object": "event",
        "api_version": "2025-04-30.basil",
        "created": created,
        "livemode": False,
        "pending_webhooks": 1,
        "type": "customer.subscription.updated",
        "request": {
            "id": "req_benchmark0001",
            "idempotency_key": "4f5c8a0e-2c3b-4b1a-9a1e-0c7d2e1f3a4b",
        },
        "data": {
            "object": subscription,
            "previous_attributes": {
                "cancel_at_period_end": True,
                "cancellation_details": {"reason": "cancellation_requested"},
            },
        },
    }
    text = json.dumps(event, indent=2)
    # Pad to ~5 KB with a cancellation note, as a real event with a support comment would be.
    while len(text) < 5 * 1024:
        text = text.replace(
            '"comment": null',
            '"comment": "customer asked to keep the plan after talking to support; see ticket"',
            1,
        )
        if len(text) < 5 * 1024:
            text += " "
    return text


def sign(secret: str, timestamp: int, payload: str) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out")
    parser.add_argument("--user-id", default=None)
    args = parser.parse_args()
    now = int(time.time())
    payload = realistic_event(now, args.user_id)
    spec = {
        "payload": payload,
        "secret": SECRET,
        "header": sign(SECRET, now, payload),
        "timestamp": now,
    }
    with open(args.out, "w") as f:
        json.dump(spec, f)


if __name__ == "__main__":
    main()
