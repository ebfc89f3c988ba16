#!/usr/bin/env python3
"""A Lago API v1 emulator for Tierflow's tests and local stack (standard library + cryptography).

In memory: customers (with the Stripe link and the Stripe-side customer update it triggers),
billable metrics, plans, subscriptions by external id with lago-api's plan-change rules, events,
the invoices that termination and upgrades bill, API keys with permissions, and signed webhook
deliveries (hmac, or jwt with `iss` = this emulator's API URL). Behaviour follows lago-api's
services (named at each handler); shapes follow the published client models (checked by
infra/lago-emulator/test_lago_emulator.py against `lago-python-client`).

One deliberate strictness: a request field Lago's API does not document is refused with 400
(Lago itself ignores it), so a misspelt field fails Tierflow's tests instead of passing unseen.

Control endpoints for tests (no API key): `GET /_emulator/webhooks[?wait_idle=1]` lists the
deliveries (waiting for pending ones), `GET /_emulator/calls` the API calls received,
`POST /_emulator/faults` makes the next N calls to a path answer a given status.
"""

import argparse
import base64
import hashlib
import hmac
import json
import queue
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# Request fields Lago documents, per object (the client models of lago-python-client).
CUSTOMER_FIELDS = {
    "external_id",
    "name",
    "email",
    "currency",
    "firstname",
    "lastname",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "zipcode",
    "state",
    "country",
    "timezone",
    "legal_name",
    "legal_number",
    "url",
    "billing_configuration",
    "metadata",
}
BILLING_CONFIGURATION_FIELDS = {
    "payment_provider",
    "payment_provider_code",
    "provider_customer_id",
    "sync",
    "sync_with_provider",
    "document_locale",
    "invoice_grace_period",
    "provider_payment_methods",
}
SUBSCRIPTION_FIELDS = {
    "external_customer_id",
    "plan_code",
    "external_id",
    "name",
    "subscription_at",
    "billing_time",
    "ending_at",
}
PLAN_FIELDS = {
    "name",
    "code",
    "interval",
    "description",
    "amount_cents",
    "amount_currency",
    "pay_in_advance",
    "charges",
    "invoice_display_name",
}
CHARGE_FIELDS = {"billable_metric_id", "charge_model", "properties", "invoice_display_name"}
METRIC_FIELDS = {"name", "code", "aggregation_type", "field_name", "description"}
EVENT_FIELDS = {
    "transaction_id",
    "external_subscription_id",
    "code",
    "timestamp",
    "properties",
    "precise_total_amount_cents",
}
CURRENCIES = {"USD", "EUR", "GBP", "CHF", "CAD", "AUD", "JPY", "SEK", "NOK", "DKK", "PLN"}
INTERVALS = {"weekly": 52, "monthly": 12, "quarterly": 4, "semiannual": 2, "yearly": 1}
PAYMENT_PROVIDERS = {"stripe", "gocardless", "adyen", "cashfree", "moneyhash", "flutterwave"}
# ApiKey::RESOURCES names (app/models/api_key.rb) for the routes emulated here.
RESOURCES = {
    "customer",
    "subscription",
    "plan",
    "billable_metric",
    "event",
    "invoice",
    "webhook_jwt_public_key",
}


def now_utc():
    return datetime.now(UTC).replace(microsecond=0)


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def parse_time(value):
    """An ISO 8601 time (or epoch seconds), or None when it is not one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(int(value), UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def add_interval(dt, interval, count=1):
    """`dt` moved by `count` plan intervals, the day clamped to the month's length."""
    if interval == "weekly":
        return dt + timedelta(weeks=count)
    months = {"monthly": 1, "quarterly": 3, "semiannual": 6, "yearly": 12}[interval] * count
    month0 = dt.month - 1 + months
    year, month = dt.year + month0 // 12, month0 % 12 + 1
    days = [
        31,
        29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28,
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ][month - 1]
    return dt.replace(year=year, month=month, day=min(dt.day, days))


class Failure(Exception):
    """An answer in Lago's error envelope (app/controllers/concerns/api_errors.rb)."""

    def __init__(self, status, body):
        super().__init__(body)
        self.status = status
        self.body = body

    @classmethod
    def bad_request(cls, message):
        return cls(400, {"status": 400, "error": f"BadRequest: {message}"})

    @classmethod
    def unauthorized(cls):
        return cls(401, {"status": 401, "error": "Unauthorized"})

    @classmethod
    def forbidden(cls, code):
        return cls(403, {"status": 403, "error": "Forbidden", "code": code})

    @classmethod
    def not_found(cls, resource):
        return cls(404, {"status": 404, "error": "Not Found", "code": f"{resource}_not_found"})

    @classmethod
    def validation(cls, errors):
        return cls(
            422,
            {
                "status": 422,
                "error": "Unprocessable Entity",
                "code": "validation_errors",
                "error_details": errors,
            },
        )

    @classmethod
    def third_party(cls, third_party, message):
        return cls(
            422,
            {
                "status": 422,
                "error": "Unprocessable Entity",
                "code": "third_party_error",
                "error_details": {"third_party": third_party, "thirdparty_error": message},
            },
        )


def require_root(body, root, allowed):
    """`params.require(root)`, with undocumented fields refused (see the module doc)."""
    obj = body.get(root) if isinstance(body, dict) else None
    if not isinstance(obj, dict) or not obj:
        raise Failure.bad_request(f"param is missing or the value is empty: {root}")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise Failure.bad_request(f"unknown field(s) in {root}: {', '.join(unknown)}")
    return obj


class Lago:
    """The organization's state. Every method runs under `self.lock`."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.customers = {}
        self.metrics = {}
        self.plans = {}
        self.subscriptions = []
        self.events = {}
        self.invoices = []
        self.faults = []
        self.calls = []
        self.deliveries = []
        self.outbox = queue.Queue()
        self.pending_deliveries = 0
        self.delivery_done = threading.Condition(self.lock)
        self.organization_id = str(uuid.uuid4())
        self.hmac_key = args.hmac_key or base64.b64encode(uuid.uuid4().bytes).decode()
        if args.private_key:
            with open(args.private_key, "rb") as f:
                self.private_key = serialization.load_pem_private_key(f.read(), password=None)
        else:
            self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.keys = {args.api_key: None}
        for spec in args.restricted_key or []:
            key, _, grants = spec.partition("=")
            perms = {}
            for grant in filter(None, grants.split(",")):
                resource, _, modes = grant.partition(":")
                perms[resource] = set(modes.split("+")) if modes else set()
            self.keys[key] = perms
        for spec in args.plan or []:
            code, _, rest = spec.partition(":")
            amount, _, interval = rest.partition(":")
            self.create_plan(
                {
                    "name": code,
                    "code": code,
                    "amount_cents": int(amount or 0),
                    "amount_currency": args.currency,
                    "interval": interval or "monthly",
                }
            )

    # --- auth (app/controllers/api/base_controller.rb, app/models/api_key.rb) ---

    def authorize(self, header, resource, mode):
        token = header[7:].strip() if header and header.startswith("Bearer ") else None
        if not token or token not in self.keys:
            raise Failure.unauthorized()
        perms = self.keys[token]
        if perms is not None and mode not in perms.get(resource, set()):
            raise Failure.forbidden(f"{mode}_action_not_allowed_for_{resource}")

    # --- customers (app/services/customers/upsert_from_api_service.rb) ---

    def upsert_customer(self, body):
        params = require_root(body, "customer", CUSTOMER_FIELDS)
        external_id = str(params.get("external_id") or "").strip()
        if not external_id:
            raise Failure.validation({"external_id": ["value_is_mandatory"]})
        currency = params.get("currency")
        if currency is not None and currency not in CURRENCIES:
            raise Failure.validation({"currency": ["value_is_invalid"]})
        billing = params.get("billing_configuration") or {}
        if not isinstance(billing, dict):
            raise Failure.bad_request("billing_configuration must be an object")
        unknown = sorted(set(billing) - BILLING_CONFIGURATION_FIELDS)
        if unknown:
            raise Failure.bad_request(
                f"unknown field(s) in billing_configuration: {', '.join(unknown)}"
            )
        customer = self.customers.get(external_id)
        new_customer = customer is None
        if new_customer:
            customer = {
                "lago_id": str(uuid.uuid4()),
                "external_id": external_id,
                "created_at": iso(now_utc()),
                "currency": None,
                "name": None,
                "email": None,
                "payment_provider": None,
                "payment_provider_code": None,
                "provider_customer_id": None,
                "sync_with_provider": None,
            }
        elif (
            currency
            and customer["currency"]
            and currency != customer["currency"]
            and self.customer_has_subscriptions(external_id)
        ):
            # Customers::UpdateCurrencyService: fixed once the customer is subscribed.
            raise Failure.validation({"currency": ["currencies_does_not_match"]})
        for field in ("name", "email", "currency"):
            if field in params:
                customer[field] = params[field]
        customer["updated_at"] = iso(now_utc())
        # The fields above are saved in the service's transaction; the billing configuration is
        # handled after it, so a Stripe failure below leaves them saved and still answers 422.
        self.customers[external_id] = customer
        self.apply_billing_configuration(customer, billing, new_customer)
        self.enqueue_webhook(
            "customer.created" if new_customer else "customer.updated",
            "customer",
            self.serialize_customer(customer),
        )
        return {"customer": self.serialize_customer(customer)}

    def apply_billing_configuration(self, customer, billing, new_customer):
        wants_link = billing.get("sync_with_provider") or billing.get("provider_customer_id")
        if new_customer or (wants_link and not customer["provider_customer_id"]):
            # create_billing_configuration: link (or create) the provider customer, no update.
            if billing.get("payment_provider") is None or not wants_link:
                return
            self.link_provider(customer, billing)
            return
        linked = customer["provider_customer_id"] is not None
        if "payment_provider" in billing:
            provider = billing["payment_provider"]
            customer["payment_provider"] = provider if provider in PAYMENT_PROVIDERS else None
            if provider is None and linked:
                # removing_provider: the provider customer is discarded.
                customer["payment_provider_code"] = None
                customer["provider_customer_id"] = None
                customer["sync_with_provider"] = None
                return
            if customer["payment_provider"] and "payment_provider_code" in billing:
                self.find_provider(billing["payment_provider_code"])
                customer["payment_provider_code"] = billing["payment_provider_code"]
        if customer["payment_provider"] is None:
            return
        if not (billing.get("provider_customer_id") or customer["provider_customer_id"]):
            return
        if billing.get("provider_customer_id"):
            customer["provider_customer_id"] = billing["provider_customer_id"]
        # PaymentProviderCustomers::UpdateService → StripeService#update, synchronously,
        # whatever `sync` says (app/services/payment_provider_customers/stripe_service.rb).
        if customer["payment_provider"] == "stripe":
            self.update_stripe_customer(customer)

    def link_provider(self, customer, billing):
        provider = billing["payment_provider"]
        if provider not in PAYMENT_PROVIDERS:
            raise Failure.validation({"payment_provider": ["value_is_invalid"]})
        code = self.find_provider(billing.get("payment_provider_code"))
        customer["payment_provider"] = provider
        customer["payment_provider_code"] = code
        customer["provider_customer_id"] = billing.get("provider_customer_id")
        customer["sync_with_provider"] = bool(billing.get("sync_with_provider"))

    def find_provider(self, code):
        """PaymentProviders::FindService: the one connection, or the one with this code."""
        if code not in (None, "", self.args.stripe_provider_code):
            raise Failure.not_found("payment_provider")
        return self.args.stripe_provider_code

    def update_stripe_customer(self, customer):
        """Stripe::Customer.update with Lago's name and email (Lago also sends its address and
        phone, blank when it has none, which clears Stripe's: Tierflow sets neither)."""
        form = {"name": customer["name"] or "", "email": (customer["email"] or "").split(",")[0]}
        request = urllib.request.Request(
            f"{self.args.stripe_api_base.rstrip('/')}/v1/customers/"
            f"{urllib.parse.quote(customer['provider_customer_id'], safe='')}",
            data=urllib.parse.urlencode(form).encode(),
            method="POST",
            headers={
                "Authorization": f"Bearer {self.args.stripe_secret_key}",
                # Lago's Stripe client pins an API version; the account's is basil.
                "Stripe-Version": "2025-04-30.basil",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10):
                return
        except urllib.error.HTTPError as e:
            try:
                message = json.loads(e.read()).get("error", {}).get("message", str(e))
            except (ValueError, AttributeError):
                message = str(e)
            if e.code in (401,):
                raise Failure(
                    401, {"status": 401, "error": f"Stripe authentication failed. {message}"}
                )
            self.enqueue_webhook(
                "customer.payment_provider_error",
                "payment_provider_customer_error",
                {
                    "lago_customer_id": customer["lago_id"],
                    "external_id": customer["external_id"],
                    "payment_provider": "stripe",
                    "error_message": message,
                },
            )
            raise Failure.third_party("Stripe", message)
        except (urllib.error.URLError, OSError) as e:
            raise Failure(500, {"status": 500, "error": f"Internal Server Error: {e}"})

    def customer_has_subscriptions(self, external_id):
        return any(
            s["customer"] == external_id and s["status"] in ("active", "pending")
            for s in self.subscriptions
        )

    def get_customer(self, external_id):
        customer = self.customers.get(external_id)
        if customer is None:
            raise Failure.not_found("customer")
        return {"customer": self.serialize_customer(customer)}

    def serialize_customer(self, c):
        return {
            "lago_id": c["lago_id"],
            "external_id": c["external_id"],
            "name": c["name"],
            "email": c["email"],
            "currency": c["currency"],
            "created_at": c["created_at"],
            "updated_at": c.get("updated_at"),
            "timezone": None,
            "applicable_timezone": "UTC",
            "billing_configuration": {
                "payment_provider": c["payment_provider"],
                "payment_provider_code": c["payment_provider_code"],
                "provider_customer_id": c["provider_customer_id"],
                "sync_with_provider": c["sync_with_provider"],
                "invoice_grace_period": None,
                "document_locale": None,
            },
        }

    # --- billable metrics and plans (app/services/plans/create_service.rb) ---

    def create_metric(self, body):
        params = require_root(body, "billable_metric", METRIC_FIELDS)
        errors = {}
        if not params.get("code"):
            errors["code"] = ["value_is_mandatory"]
        elif params["code"] in self.metrics:
            errors["code"] = ["value_already_exist"]
        if params.get("aggregation_type") not in ("count_agg", "sum_agg"):
            errors["aggregation_type"] = ["value_is_invalid"]
        elif params["aggregation_type"] == "sum_agg" and not params.get("field_name"):
            errors["field_name"] = ["value_is_mandatory"]
        if errors:
            raise Failure.validation(errors)
        metric = {
            "lago_id": str(uuid.uuid4()),
            "name": params.get("name") or params["code"],
            "code": params["code"],
            "aggregation_type": params["aggregation_type"],
            "field_name": params.get("field_name"),
            "filters": [],
            "created_at": iso(now_utc()),
        }
        self.metrics[metric["code"]] = metric
        return {"billable_metric": dict(metric)}

    def create_plan(self, params):
        errors = {}
        if not params.get("code"):
            errors["code"] = ["value_is_mandatory"]
        elif params["code"] in self.plans:
            errors["code"] = ["value_already_exist"]
        if params.get("interval") not in INTERVALS:
            errors["interval"] = ["value_is_invalid"]
        amount = params.get("amount_cents")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
            errors["amount_cents"] = ["value_is_invalid"]
        if params.get("amount_currency") not in CURRENCIES:
            errors["amount_currency"] = ["value_is_invalid"]
        charges = []
        for i, charge in enumerate(params.get("charges") or []):
            unknown = sorted(set(charge) - CHARGE_FIELDS)
            if unknown:
                raise Failure.bad_request(f"unknown field(s) in charges[{i}]: {', '.join(unknown)}")
            metric = next(
                (
                    m
                    for m in self.metrics.values()
                    if m["lago_id"] == charge.get("billable_metric_id")
                ),
                None,
            )
            if metric is None:
                raise Failure.not_found("billable_metrics")
            if charge.get("charge_model") != "standard":
                errors["charge_model"] = ["value_is_invalid"]
                continue
            try:
                unit = Decimal(str((charge.get("properties") or {}).get("amount")))
            except InvalidOperation:
                errors["properties"] = ["invalid_amount"]
                continue
            charges.append(
                {
                    "lago_id": str(uuid.uuid4()),
                    "lago_billable_metric_id": metric["lago_id"],
                    "billable_metric_code": metric["code"],
                    "charge_model": "standard",
                    "properties": {"amount": str(unit)},
                    "created_at": iso(now_utc()),
                }
            )
        if errors:
            raise Failure.validation(errors)
        plan = {
            "lago_id": str(uuid.uuid4()),
            "name": params.get("name") or params["code"],
            "code": params["code"],
            "interval": params["interval"],
            "amount_cents": amount,
            "amount_currency": params["amount_currency"],
            "pay_in_advance": bool(params.get("pay_in_advance")),
            "charges": charges,
            "created_at": iso(now_utc()),
        }
        self.plans[plan["code"]] = plan
        return {"plan": self.serialize_plan(plan)}

    def serialize_plan(self, plan):
        return {
            k: plan[k]
            for k in (
                "lago_id",
                "name",
                "code",
                "interval",
                "amount_cents",
                "amount_currency",
                "pay_in_advance",
                "charges",
                "created_at",
            )
        }

    @staticmethod
    def yearly_amount_cents(plan):
        """Plan#yearly_amount_cents: what Subscriptions::CreateService compares on a change."""
        return plan["amount_cents"] * INTERVALS[plan["interval"]]

    # --- subscriptions (app/services/subscriptions/create_service.rb, plan_upgrade_service.rb,
    #     plan_downgrade_service.rb, terminate_service.rb) ---

    def create_subscription(self, body):
        params = require_root(body, "subscription", SUBSCRIPTION_FIELDS)
        external_customer_id = str(params.get("external_customer_id") or "").strip()
        plan = self.plans.get(params.get("plan_code"))
        if plan is None:
            raise Failure.not_found("plan")
        if not external_customer_id:
            raise Failure.validation({"external_customer_id": ["value_is_mandatory"]})
        billing_time = params.get("billing_time") or "calendar"
        if billing_time not in ("calendar", "anniversary"):
            raise Failure.validation({"billing_time": ["value_is_invalid"]})
        subscription_at = now_utc()
        if "subscription_at" in params and params["subscription_at"] is not None:
            subscription_at = parse_time(params["subscription_at"])
            if subscription_at is None:
                raise Failure.validation({"subscription_at": ["invalid_date"]})
        external_id = str(params.get("external_id") or "").strip() or str(uuid.uuid4())
        customer = self.customers.get(external_customer_id)
        if customer is None:
            # "in API, it's possible to create a subscription for a new customer"
            self.upsert_customer({"customer": {"external_id": external_customer_id}})
            customer = self.customers[external_customer_id]
        if (
            customer["currency"]
            and customer["currency"] != plan["amount_currency"]
            and self.customer_has_subscriptions(external_customer_id)
        ):
            raise Failure.validation({"currency": ["currencies_does_not_match"]})
        customer["currency"] = plan["amount_currency"]
        # editable_subscriptions: the customer's active one, or one starting in the future.
        candidates = [
            s
            for s in self.subscriptions
            if s["customer"] == external_customer_id
            and s["external_id"] == external_id
            and (s["status"] == "active" or s["status"] == "pending" and s["previous"] is None)
        ]
        current = next(
            (s for s in candidates if s["status"] == "active"),
            candidates[0] if candidates else None,
        )
        if current is None and any(
            s["external_id"] == external_id and s["status"] == "active" for s in self.subscriptions
        ):
            raise Failure.validation({"external_id": ["value_already_exist"]})
        if current is None:
            subscription = self.new_subscription(
                customer, plan, params, external_id, subscription_at, billing_time
            )
        elif plan["code"] == current["plan_code"]:
            subscription = current
        elif self.yearly_amount_cents(plan) >= self.yearly_amount_cents(
            self.plans[current["plan_code"]]
        ):
            subscription = self.upgrade(current, plan, params)
        else:
            subscription = self.downgrade(current, plan, params)
        return {"subscription": self.serialize_subscription(subscription)}

    def new_subscription(self, customer, plan, params, external_id, subscription_at, billing_time):
        now = now_utc()
        sub = {
            "lago_id": str(uuid.uuid4()),
            "external_id": external_id,
            "customer": customer["external_id"],
            "plan_code": plan["code"],
            "name": str(params.get("name") or "").strip(),
            "billing_time": billing_time,
            "subscription_at": subscription_at,
            "started_at": None,
            "terminated_at": None,
            "canceled_at": None,
            "ending_at": parse_time(params.get("ending_at")),
            "created_at": now,
            "status": "pending",
            "previous": None,
            "next": None,
        }
        self.subscriptions.append(sub)
        if subscription_at.date() <= now.date():
            # Today: ActivateService; in the past: started at subscription_at (no back-billing).
            sub["status"] = "active"
            sub["started_at"] = subscription_at if subscription_at.date() < now.date() else now
            self.enqueue_webhook(
                "subscription.started", "subscription", self.serialize_subscription(sub)
            )
        return sub

    def upgrade(self, current, plan, params):
        if current["status"] == "pending":
            current["plan_code"] = plan["code"]
            return current
        now = now_utc()
        self.cancel_pending_next(current)
        new = {
            "lago_id": str(uuid.uuid4()),
            "external_id": current["external_id"],
            "customer": current["customer"],
            "plan_code": plan["code"],
            "name": str(params.get("name") or "").strip(),
            "billing_time": current["billing_time"],
            "subscription_at": current["subscription_at"],
            "started_at": now,
            "terminated_at": None,
            "canceled_at": None,
            "ending_at": current["ending_at"],
            "created_at": now,
            "status": "active",
            "previous": current["lago_id"],
            "next": None,
        }
        self.subscriptions.append(new)
        current["next"] = new["lago_id"]
        # TerminateService(upgrade: true): terminated now; the upgrade bills its usage.
        self.terminate(current, reason="upgrading")
        self.enqueue_webhook(
            "subscription.started", "subscription", self.serialize_subscription(new)
        )
        return new

    def downgrade(self, current, plan, params):
        if current["status"] == "pending":
            current["plan_code"] = plan["code"]
            return current
        self.cancel_pending_next(current)
        pending = {
            "lago_id": str(uuid.uuid4()),
            "external_id": current["external_id"],
            "customer": current["customer"],
            "plan_code": plan["code"],
            "name": str(params.get("name") or "").strip(),
            "billing_time": current["billing_time"],
            "subscription_at": current["subscription_at"],
            "started_at": None,
            "terminated_at": None,
            "canceled_at": None,
            "ending_at": current["ending_at"],
            "created_at": now_utc(),
            "status": "pending",
            "previous": current["lago_id"],
            "next": None,
        }
        self.subscriptions.append(pending)
        current["next"] = pending["lago_id"]
        self.enqueue_webhook(
            "subscription.updated", "subscription", self.serialize_subscription(current)
        )
        return current

    def cancel_pending_next(self, sub):
        nxt = self.by_id(sub["next"])
        if nxt is not None and nxt["status"] == "pending":
            nxt["status"] = "canceled"
            nxt["canceled_at"] = now_utc()
            sub["next"] = None

    def terminate_subscription(self, external_id, status):
        wanted = "pending" if status == "pending" else "active"
        sub = next(
            (
                s
                for s in self.subscriptions
                if s["external_id"] == external_id and s["status"] == wanted
            ),
            None,
        )
        if sub is None:
            raise Failure.not_found("subscription")
        if sub["status"] == "pending":
            sub["status"] = "canceled"
            sub["canceled_at"] = now_utc()
            previous = self.by_id(sub["previous"])
            if previous is not None:
                previous["next"] = None
                self.enqueue_webhook(
                    "subscription.updated", "subscription", self.serialize_subscription(previous)
                )
            self.enqueue_webhook(
                "subscription.terminated", "subscription", self.serialize_subscription(sub)
            )
        else:
            self.cancel_pending_next(sub)
            self.terminate(sub, reason="subscription_terminating")
        return {"subscription": self.serialize_subscription(sub)}

    def terminate(self, sub, reason):
        sub["status"] = "terminated"
        sub["terminated_at"] = now_utc()
        self.bill(sub, sub["terminated_at"], reason)
        self.enqueue_webhook(
            "subscription.terminated", "subscription", self.serialize_subscription(sub)
        )

    def by_id(self, lago_id):
        return next((s for s in self.subscriptions if s["lago_id"] == lago_id), None)

    def period(self, sub, at):
        """The billing period containing `at`: anniversary from subscription_at, calendar from
        the interval's start (Subscriptions::DatesService)."""
        interval = self.plans[sub["plan_code"]]["interval"]
        if sub["billing_time"] == "anniversary":
            start = sub["subscription_at"]
        else:
            start = sub["subscription_at"].replace(day=1, hour=0, minute=0, second=0)
            if interval == "yearly":
                start = start.replace(month=1)
        n = 0
        while add_interval(start, interval, n + 1) <= at:
            n += 1
        return add_interval(start, interval, n), add_interval(start, interval, n + 1)

    def get_subscription(self, external_id, status):
        wanted = status or "active"
        sub = next(
            (
                s
                for s in reversed(self.subscriptions)
                if s["external_id"] == external_id and s["status"] == wanted
            ),
            None,
        )
        if sub is None:
            raise Failure.not_found("subscription")
        return {"subscription": self.serialize_subscription(sub)}

    def list_subscriptions(self, query):
        customer = (query.get("external_customer_id") or [None])[0]
        statuses = set(query.get("status[]") or ["active", "pending"])
        subs = [
            self.serialize_subscription(s)
            for s in self.subscriptions
            if (customer is None or s["customer"] == customer) and s["status"] in statuses
        ]
        return {
            "subscriptions": subs,
            "meta": {
                "current_page": 1,
                "next_page": None,
                "prev_page": None,
                "total_pages": 1,
                "total_count": len(subs),
            },
        }

    def serialize_subscription(self, s):
        plan = self.plans[s["plan_code"]]
        previous, nxt = self.by_id(s["previous"]), self.by_id(s["next"])
        period = (
            self.period(s, s["terminated_at"] or now_utc())
            if s["status"] in ("active", "terminated")
            else None
        )
        downgrade_date = None
        if nxt is not None and nxt["status"] == "pending" and s["status"] == "active":
            downgrade_date = self.period(s, now_utc())[1].date().isoformat()
        return {
            "lago_id": s["lago_id"],
            "external_id": s["external_id"],
            "lago_customer_id": self.customers[s["customer"]]["lago_id"],
            "external_customer_id": s["customer"],
            "name": s["name"],
            "plan_code": s["plan_code"],
            "plan_amount_cents": plan["amount_cents"],
            "plan_amount_currency": plan["amount_currency"],
            "status": s["status"],
            "billing_time": s["billing_time"],
            "subscription_at": iso(s["subscription_at"]),
            "started_at": iso(s["started_at"]),
            "trial_ended_at": None,
            "ending_at": iso(s["ending_at"]),
            "terminated_at": iso(s["terminated_at"]),
            "canceled_at": iso(s["canceled_at"]),
            "created_at": iso(s["created_at"]),
            "previous_plan_code": previous["plan_code"] if previous else None,
            "next_plan_code": nxt["plan_code"] if nxt else None,
            "downgrade_plan_date": downgrade_date,
            "current_billing_period_started_at": iso(period[0]) if period else None,
            "current_billing_period_ending_at": iso(period[1]) if period else None,
            "on_termination_credit_note": None,
            "on_termination_invoice": "generate",
        }

    # --- events and invoices (app/services/events/create_service.rb, invoices) ---

    def create_event(self, body):
        params = require_root(body, "event", EVENT_FIELDS)
        errors = {}
        for field in ("transaction_id", "external_subscription_id", "code"):
            if not params.get(field):
                errors[field] = ["value_is_mandatory"]
        if params.get("transaction_id") in self.events:
            errors["transaction_id"] = ["value_already_exist"]
        timestamp = now_utc()
        if params.get("timestamp") not in (None, ""):
            try:
                timestamp = datetime.fromtimestamp(float(params["timestamp"]), UTC)
            except (TypeError, ValueError):
                errors["timestamp"] = ["invalid_format"]
        if errors:
            raise Failure.validation(errors)
        sub = next(
            (
                s
                for s in self.subscriptions
                if s["external_id"] == params["external_subscription_id"]
                and s["status"] == "active"
            ),
            None,
        )
        event = {
            "lago_id": str(uuid.uuid4()),
            "transaction_id": params["transaction_id"],
            "lago_customer_id": self.customers[sub["customer"]]["lago_id"] if sub else None,
            "lago_subscription_id": sub["lago_id"] if sub else None,
            "external_subscription_id": params["external_subscription_id"],
            "code": params["code"],
            "timestamp": iso(timestamp),
            "properties": params.get("properties") or {},
            "created_at": iso(now_utc()),
        }
        self.events[event["transaction_id"]] = event
        return {"event": dict(event)}

    def bill(self, sub, until, reason):
        """The invoice of a subscription's usage in its current period, at termination or upgrade
        (Invoices::SubscriptionService; one fee per charge, standard model)."""
        plan = self.plans[sub["plan_code"]]
        start, _ = self.period(sub, until)
        start = max(start, sub["started_at"] or start)
        fees = []
        for charge in plan["charges"]:
            metric = self.metrics[charge["billable_metric_code"]]
            units = Decimal(0)
            for event in self.events.values():
                at = parse_time(event["timestamp"])
                if (
                    event["lago_subscription_id"] != sub["lago_id"]
                    or event["code"] != metric["code"]
                    or not (start <= at <= until)
                ):
                    continue
                if metric["aggregation_type"] == "count_agg":
                    units += 1
                else:
                    try:
                        units += Decimal(str(event["properties"].get(metric["field_name"], 0)))
                    except InvalidOperation:
                        pass
            amount = int(
                (units * Decimal(charge["properties"]["amount"]) * 100).to_integral_value()
            )
            fees.append(
                {
                    "lago_id": str(uuid.uuid4()),
                    "lago_charge_id": charge["lago_id"],
                    "external_subscription_id": sub["external_id"],
                    "external_customer_id": sub["customer"],
                    "amount_cents": amount,
                    "amount_currency": plan["amount_currency"],
                    "total_amount_cents": amount,
                    "taxes_amount_cents": 0,
                    "units": str(units),
                    "events_count": int(units)
                    if metric["aggregation_type"] == "count_agg"
                    else None,
                    "created_at": iso(now_utc()),
                }
            )
        total = sum(f["amount_cents"] for f in fees)
        invoice = {
            "lago_id": str(uuid.uuid4()),
            "sequential_id": len(self.invoices) + 1,
            "number": f"LAGO-EMU-{len(self.invoices) + 1:04d}",
            "issuing_date": until.date().isoformat(),
            "payment_overdue": False,
            "net_payment_term": 0,
            "invoice_type": "subscription",
            "version_number": 4,
            "status": "finalized",
            "payment_status": "pending",
            "currency": plan["amount_currency"],
            "fees_amount_cents": total,
            "coupons_amount_cents": 0,
            "taxes_amount_cents": 0,
            "credit_notes_amount_cents": 0,
            "progressive_billing_credit_amount_cents": 0,
            "sub_total_excluding_taxes_amount_cents": total,
            "sub_total_including_taxes_amount_cents": total,
            "total_amount_cents": total,
            "total_due_amount_cents": total,
            "prepaid_credit_amount_cents": 0,
            "customer": self.serialize_customer(self.customers[sub["customer"]]),
            "fees": fees,
            "invoicing_reason": reason,
            "billing_period_started_at": iso(start),
            "billing_period_ending_at": iso(until),
        }
        self.invoices.append(invoice)
        self.enqueue_webhook("invoice.created", "invoice", self.serialize_invoice(invoice))

    @staticmethod
    def serialize_invoice(invoice):
        return {
            k: v
            for k, v in invoice.items()
            if k
            not in ("invoicing_reason", "billing_period_started_at", "billing_period_ending_at")
        }

    def list_invoices(self, query):
        customer = (query.get("external_customer_id") or [None])[0]
        found = [
            self.serialize_invoice(i)
            for i in self.invoices
            if customer is None or i["customer"]["external_id"] == customer
        ]
        return {
            "invoices": found,
            "meta": {
                "current_page": 1,
                "next_page": None,
                "prev_page": None,
                "total_pages": 1,
                "total_count": len(found),
            },
        }

    # --- webhooks (app/models/webhook.rb, app/services/webhooks/base_service.rb,
    #     app/controllers/api/v1/webhooks_controller.rb) ---

    def public_key(self):
        # Base64.encode64: lines of 60 characters, each ending in a newline.
        encoded = base64.encodebytes(self.public_pem).decode()
        lines = encoded.replace("\n", "")
        return {
            "webhook": {
                "public_key": "".join(lines[i : i + 60] + "\n" for i in range(0, len(lines), 60))
            }
        }

    def enqueue_webhook(self, webhook_type, object_type, obj):
        if not self.args.webhook_url:
            return
        payload = {
            "webhook_type": webhook_type,
            "object_type": object_type,
            "organization_id": self.organization_id,
            object_type: obj,
        }
        self.pending_deliveries += 1
        # Sent after the request's transaction commits (SendWebhookJob.perform_after_commit).
        self.outbox.put(payload)

    def sign(self, body):
        if self.args.webhook_signature == "hmac":
            return base64.b64encode(
                hmac.new(self.hmac_key.encode(), body.encode(), hashlib.sha256).digest()
            ).decode()

        def b64url(raw):
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        header = b64url(json.dumps({"alg": "RS256"}, separators=(",", ":")).encode())
        claims = b64url(
            json.dumps({"data": body, "iss": self.api_url}, separators=(",", ":")).encode()
        )
        signing_input = f"{header}.{claims}".encode()
        signature = self.private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{claims}.{b64url(signature)}"

    def deliver_forever(self):
        while True:
            payload = self.outbox.get()
            body = json.dumps(payload, separators=(",", ":"))
            unique_key = str(uuid.uuid4())
            record = {
                "webhook_type": payload["webhook_type"],
                "object_type": payload["object_type"],
                "unique_key": unique_key,
                "attempts": 0,
                "status": None,
                "payload": payload,
            }
            # SendHttpWebhookJob: a few attempts, then the webhook is marked failed.
            for attempt in range(self.args.webhook_attempts):
                record["attempts"] = attempt + 1
                request = urllib.request.Request(
                    self.args.webhook_url,
                    data=body.encode(),
                    method="POST",
                    headers={
                        "Content-Type": "application/json",
                        "User-Agent": "Lago/emulator",
                        "X-Lago-Signature": self.sign(body),
                        "X-Lago-Signature-Algorithm": self.args.webhook_signature,
                        "X-Lago-Unique-Key": unique_key,
                    },
                )
                try:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        record["status"] = response.status
                except urllib.error.HTTPError as e:
                    record["status"] = e.code
                except (urllib.error.URLError, OSError):
                    record["status"] = 0
                if 200 <= record["status"] < 300:
                    break
                time.sleep(0.2 * (attempt + 1))
            with self.lock:
                self.deliveries.append(record)
                self.pending_deliveries -= 1
                self.delivery_done.notify_all()

    def webhooks(self, wait_idle):
        if wait_idle:
            deadline = time.monotonic() + 20
            while self.pending_deliveries and time.monotonic() < deadline:
                self.delivery_done.wait(timeout=0.5)
        return {"webhooks": list(self.deliveries), "pending": self.pending_deliveries}

    def take_fault(self, method, path):
        for fault in self.faults:
            if fault["method"] == method and path.startswith(fault["path"]) and fault["count"] > 0:
                fault["count"] -= 1
                return fault["status"]
        return None


ROUTES = [
    # (method, path or prefix ending in /, ApiKey resource)
    ("POST", "/api/v1/customers", "customer"),
    ("GET", "/api/v1/customers/", "customer"),
    ("POST", "/api/v1/billable_metrics", "billable_metric"),
    ("POST", "/api/v1/plans", "plan"),
    ("GET", "/api/v1/plans/", "plan"),
    ("POST", "/api/v1/subscriptions", "subscription"),
    ("GET", "/api/v1/subscriptions", "subscription"),
    ("GET", "/api/v1/subscriptions/", "subscription"),
    ("DELETE", "/api/v1/subscriptions/", "subscription"),
    ("POST", "/api/v1/events", "event"),
    ("GET", "/api/v1/invoices", "invoice"),
    ("GET", "/api/v1/webhooks/json_public_key", "webhook_jwt_public_key"),
]


def make_handler(lago):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            sys.stderr.write("lago-emulator: %s\n" % (fmt % args))

        def answer(self, status, body):
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def body(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not raw:
                return {}
            try:
                return json.loads(raw)
            except ValueError as e:
                raise Failure.bad_request(f"the body is not JSON: {e}")

        def handle_any(self, method):
            url = urllib.parse.urlsplit(self.path)
            path, query = url.path, urllib.parse.parse_qs(url.query)
            try:
                body = self.body()
                if path.startswith("/_emulator/"):
                    return self.answer(200, self.control(method, path, query, body))
                route = next(
                    (
                        r
                        for r in ROUTES
                        if r[0] == method
                        and (
                            path == r[1]
                            or r[1].endswith("/")
                            and path.startswith(r[1])
                            and len(path) > len(r[1])
                        )
                    ),
                    None,
                )
                if route is None:
                    return self.answer(404, {"status": 404, "error": "Not Found"})
                with lago.lock:
                    lago.calls.append(
                        {
                            "method": method,
                            "path": path,
                            "authorized": bool(self.headers.get("Authorization")),
                        }
                    )
                    lago.authorize(
                        self.headers.get("Authorization"),
                        route[2],
                        "read" if method == "GET" else "write",
                    )
                    injected = lago.take_fault(method, path)
                    if injected:
                        return self.answer(
                            injected, {"status": injected, "error": "Injected failure"}
                        )
                    result = self.dispatch(method, path, query, body)
                return self.answer(200, result)
            except Failure as f:
                return self.answer(f.status, f.body)

        def dispatch(self, method, path, query, body):
            tail = urllib.parse.unquote(path.rsplit("/", 1)[-1])
            status = (query.get("status") or [None])[0]
            if path == "/api/v1/customers":
                return lago.upsert_customer(body)
            if path.startswith("/api/v1/customers/"):
                return lago.get_customer(tail)
            if path == "/api/v1/billable_metrics":
                return lago.create_metric(body)
            if path == "/api/v1/plans":
                return lago.create_plan(require_root(body, "plan", PLAN_FIELDS))
            if path.startswith("/api/v1/plans/"):
                if tail not in lago.plans:
                    raise Failure.not_found("plan")
                return {"plan": lago.serialize_plan(lago.plans[tail])}
            if path == "/api/v1/subscriptions" and method == "POST":
                return lago.create_subscription(body)
            if path == "/api/v1/subscriptions":
                return lago.list_subscriptions(query)
            if path.startswith("/api/v1/subscriptions/") and method == "GET":
                return lago.get_subscription(tail, status)
            if path.startswith("/api/v1/subscriptions/"):
                return lago.terminate_subscription(tail, status)
            if path == "/api/v1/events":
                return lago.create_event(body)
            if path == "/api/v1/invoices":
                return lago.list_invoices(query)
            return lago.public_key()

        def control(self, method, path, query, body):
            with lago.lock:
                if path == "/_emulator/webhooks":
                    return lago.webhooks(bool(query.get("wait_idle")))
                if path == "/_emulator/calls":
                    return {"calls": list(lago.calls)}
                if path == "/_emulator/faults" and method == "POST":
                    lago.faults.append(
                        {
                            "method": body["method"],
                            "path": body["path"],
                            "status": int(body["status"]),
                            "count": int(body.get("count", 1)),
                        }
                    )
                    return {"faults": lago.faults}
            raise Failure(404, {"status": 404, "error": "Not Found"})

        def do_GET(self):
            self.handle_any("GET")

        def do_POST(self):
            self.handle_any("POST")

        def do_PUT(self):
            self.handle_any("PUT")

        def do_DELETE(self):
            self.handle_any("DELETE")

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000, help="0 picks a free port")
    parser.add_argument("--api-key", required=True, help="a key with every permission")
    parser.add_argument(
        "--restricted-key",
        action="append",
        help="KEY=resource:read+write,resource:read (repeatable)",
    )
    parser.add_argument("--api-url", help="this API's URL as Lago's LAGO_API_URL (the jwt iss)")
    parser.add_argument("--currency", default="USD")
    parser.add_argument("--plan", action="append", help="CODE:AMOUNT_CENTS[:INTERVAL] (repeatable)")
    parser.add_argument("--stripe-api-base", default="https://api.stripe.com")
    parser.add_argument("--stripe-secret-key", default="")
    parser.add_argument("--stripe-provider-code", default="stripe")
    parser.add_argument("--webhook-url")
    parser.add_argument("--webhook-signature", choices=["jwt", "hmac"], default="jwt")
    parser.add_argument("--hmac-key")
    parser.add_argument("--webhook-attempts", type=int, default=3)
    parser.add_argument(
        "--private-key",
        help="PEM file of the RSA key that signs jwt webhooks (default: a new one per start)",
    )
    args = parser.parse_args()
    lago = Lago(args)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(lago))
    server.daemon_threads = True
    lago.api_url = (args.api_url or f"http://{args.host}:{server.server_address[1]}").rstrip("/")
    threading.Thread(target=lago.deliver_forever, daemon=True).start()
    print(f"lago-emulator listening on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
