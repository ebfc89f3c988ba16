"""Billable metrics and plans (app/services/plans/create_service.rb)."""

import uuid
from decimal import Decimal, InvalidOperation

from dates import iso, now_utc
from lago_api import CHARGE_FIELDS, CURRENCIES, INTERVALS, METRIC_FIELDS, Failure, require_root


class Plans:
    """The billable metric and plan routes; the state is `organization.Lago`'s."""

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
