"""Subscriptions by external id with lago-api's plan-change rules
(app/services/subscriptions/create_service.rb, plan_upgrade_service.rb, plan_downgrade_service.rb,
terminate_service.rb)."""

import uuid

from dates import add_interval, iso, now_utc, parse_time
from lago_api import SUBSCRIPTION_FIELDS, Failure, require_root


class Subscriptions:
    """The subscription routes; the state is `organization.Lago`'s."""

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
