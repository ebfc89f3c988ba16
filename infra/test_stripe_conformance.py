"""Tests of infra/stripe_conformance.py: each kind of finding is caught, basil's shapes pass.

Run: python3 -m unittest discover -s infra -p 'test_*.py' (needs stripe==12.1.0)
"""

import collections
import json
import unittest

import stripe_conformance as check

BASIL = {"stripe-version": "2025-04-30.basil", "user-agent": "tierflow/0.1", "idempotency-key": "k"}


def exchange(method, path, body="", query="", headers=BASIL, response=None, status=200, kind="api"):
    return {
        "kind": kind,
        "method": method,
        "path": path,
        "query": query,
        "headers": headers,
        "body": body,
        "status": status,
        "response": json.dumps(response if response is not None else {}),
    }


def findings_of(*records):
    found, counts = check.Findings(), collections.Counter()
    for r in records:
        check.check_exchange(r, found, counts)
    return {kind: sorted(c) for kind, c in found.by_kind.items()}


class Requests(unittest.TestCase):
    def test_the_form_notation(self):
        self.assertEqual(
            check.parse_form("items[0][price]=p&expand[]=a&expand[]=b&metadata[k]=v&x="),
            {"items": [{"price": "p"}], "expand": ["a", "b"], "metadata": {"k": "v"}, "x": ""},
        )

    def test_unknown_bad_and_missing_parameters_are_named(self):
        found = findings_of(
            exchange(
                "POST",
                "/v1/subscriptions",
                "customer=c&items[0][price]=p&items[0][nope]=1&payment_behavior=bogus",
                status=400,
            ),
            exchange("POST", "/v1/payment_intents", "currency=usd", status=400),
            exchange("GET", "/v1/invoices", query="limit=ten", status=400),
        )
        self.assertEqual(found["unknown parameter"], ["POST /v1/subscriptions: items[0][nope]"])
        self.assertEqual(len(found["bad enum value"]), 1)
        self.assertIn("payment_behavior='bogus'", found["bad enum value"][0])
        self.assertEqual(found["missing required parameter"], ["POST /v1/payment_intents: amount"])
        self.assertEqual(found["bad parameter value"], ["GET /v1/invoices: limit='ten' is not int"])

    def test_headers_and_endpoints(self):
        found = findings_of(
            exchange(
                "POST",
                "/v1/refunds",
                "charge=ch_1",
                headers={"user-agent": "tierflow/0.1"},
                status=400,
            ),
            exchange("GET", "/v1/no_such_thing", status=404),
        )
        self.assertEqual(found["missing Stripe-Version"], ["POST /v1/refunds: none"])
        self.assertEqual(found["missing Idempotency-Key"], ["POST /v1/refunds: -"])
        self.assertEqual(found["unknown endpoint"], ["GET /v1/no_such_thing: -"])

    def test_a_valid_request_passes(self):
        self.assertEqual(
            findings_of(
                exchange(
                    "POST",
                    "/v1/invoices/in_1/pay",
                    "payment_method=pm_1&expand[]=payments",
                    status=402,
                )
            ),
            {},
        )


class Responses(unittest.TestCase):
    def invoice(self, **fields):
        hints = check.hints(check.stripe.Invoice)
        body = {k: None for k in hints if k not in check.INCLUDABLE["invoice"]}
        body.update(
            object="invoice",
            id="in_1",
            lines={
                "object": "list",
                "data": [],
                "has_more": False,
                "url": "/v1/invoices/in_1/lines",
            },
        )
        body.update(fields)
        return body

    def test_pre_basil_fields_missing_defaults_and_includables_are_named(self):
        body = self.invoice(
            payment_intent="pi_1",
            payments={"object": "list", "data": [], "has_more": False, "url": "/x"},
        )
        del body["total_taxes"]
        found = findings_of(exchange("GET", "/v1/invoices/in_1", response=body))
        self.assertEqual(
            found["undeclared response field"],
            ["GET /v1/invoices/{invoice}: Invoice.payment_intent"],
        )
        self.assertEqual(
            found["includable field sent unexpanded"],
            ["GET /v1/invoices/{invoice}: Invoice.payments"],
        )
        self.assertEqual(
            found["missing default field"], ["GET /v1/invoices/{invoice}: Invoice.total_taxes"]
        )

    def test_an_expanded_includable_and_a_basil_invoice_pass(self):
        payments = {"object": "list", "data": [], "has_more": False, "url": "/v1/invoice_payments"}
        found = findings_of(
            exchange(
                "GET",
                "/v1/invoices/in_1",
                query="expand[]=payments",
                response=self.invoice(payments=payments),
            )
        )
        self.assertEqual(found, {})

    def test_enums_and_unrequested_expansions_in_responses_and_webhooks(self):
        invoice = self.invoice(status="settled", customer={"object": "customer", "id": "cus_1"})
        event = {
            "object": "event",
            "id": "evt_1",
            "type": "invoice.paid",
            "api_version": "2025-04-30.basil",
            "created": 1,
            "livemode": False,
            "pending_webhooks": 1,
            "request": None,
            "data": {"object": invoice},
        }
        found = findings_of(
            exchange("POST", "/lambda-url/stripe-webhook", json.dumps(event), kind="webhook")
        )
        self.assertEqual(
            found["bad enum value in response"],
            ["webhook invoice.paid: data.object.status='settled'"],
        )
        self.assertEqual(
            found["expandable field expanded without expand[]"],
            ["webhook invoice.paid: data.object.customer"],
        )


if __name__ == "__main__":
    unittest.main()
