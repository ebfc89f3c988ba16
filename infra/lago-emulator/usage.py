"""Usage events and the invoices that bill them (app/services/events/create_service.rb,
app/services/invoices/subscription_service.rb)."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from dates import iso, now_utc, parse_time
from lago_api import EVENT_FIELDS, Failure, require_root


class Usage:
    """The event and invoice routes; the state is `organization.Lago`'s."""

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
