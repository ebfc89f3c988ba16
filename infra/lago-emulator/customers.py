"""Customers and their Stripe link (app/services/customers/upsert_from_api_service.rb)."""

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid

from dates import iso, now_utc
from lago_api import (
    BILLING_CONFIGURATION_FIELDS,
    CURRENCIES,
    CUSTOMER_FIELDS,
    PAYMENT_PROVIDERS,
    Failure,
    require_root,
)


class Customers:
    """The customer routes; the state is `organization.Lago`'s."""

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
