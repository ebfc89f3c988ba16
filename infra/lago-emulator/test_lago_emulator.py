"""The Lago emulator held to Lago's published API: driven by the official `lago-python-client`
(pinned in infra/requirements.txt), whose models mirror lago-openapi. Every request goes through
the client's input models; every response parses into the client's response model and carries
no field that model does not know; the emulator's accepted request fields are the models' own.

Run: python3 -m unittest discover -s infra/lago-emulator -v
"""

import base64
import json
import subprocess
import sys
import threading
import typing
import unittest
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from lago_python_client.base_model import BaseModel
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models.billable_metric import BillableMetric, BillableMetricResponse
from lago_python_client.models.charge import Charge
from lago_python_client.models.customer import (
    Customer,
    CustomerBillingConfiguration,
    CustomerResponse,
)
from lago_python_client.models.event import Event, EventResponse
from lago_python_client.models.invoice import InvoiceResponse
from lago_python_client.models.plan import Plan, PlanResponse
from lago_python_client.models.subscription import Subscription, SubscriptionResponse

sys.path.insert(0, str(Path(__file__).parent))
import dates
import lago_api

KEY = "lago-emulator-test-key"
EMULATOR = Path(__file__).parent / "lago_emulator.py"


class Recorder(ThreadingHTTPServer):
    """A local HTTP endpoint that records what it is sent and answers with `answer`."""

    def __init__(self, answer):
        self.requests = []
        self.answer = answer
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                recorder.requests.append((self.path, dict(self.headers), body))
                status, payload = recorder.answer(self.path)
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request, client_address):
        pass  # a sender that hung up (the emulator stopped mid-delivery) is not a failure here


def fields_of(model):
    return set(model.__fields__)


def unknown_keys(data, model, where="$"):
    """Keys of `data` (recursively) that `model` does not declare."""
    root = model.__fields__.get("__root__")
    if root is not None:
        items = data if isinstance(data, list) else []
        inner = root.type_
        return [
            k
            for i, item in enumerate(items)
            for k in (
                unknown_keys(item, inner, f"{where}[{i}]")
                if isinstance(inner, type) and issubclass(inner, BaseModel)
                else []
            )
        ]
    found = []
    for key, value in (data or {}).items():
        field = model.__fields__.get(key)
        if field is None:
            found.append(f"{where}.{key}")
            continue
        inner = field.type_
        if typing.get_origin(inner) is not None or not isinstance(inner, type):
            continue
        if issubclass(inner, BaseModel) and value is not None:
            values = (
                value if isinstance(value, list) and "__root__" not in inner.__fields__ else [value]
            )
            for i, item in enumerate(values):
                found += unknown_keys(item, inner, f"{where}.{key}")
    return found


class EmulatorCase(unittest.TestCase):
    signature = "jwt"

    def setUp(self):
        self.deleted_stripe_customers = set()
        self.stripe = Recorder(self.stripe_answer)
        self.hooks = Recorder(lambda path: (200, {}))
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(EMULATOR),
                "--port",
                "0",
                "--api-key",
                KEY,
                "--restricted-key",
                "limited=customer:read+write,subscription:write",
                "--stripe-api-base",
                self.stripe.url,
                "--stripe-secret-key",
                "sk_test_emulator",
                "--webhook-url",
                self.hooks.url + "/lago",
                "--webhook-signature",
                self.signature,
                "--hmac-key",
                "hmac-test-key",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.url = self.process.stdout.readline().strip().rsplit(" ", 1)[-1]
        self.assertTrue(self.url.startswith("http://"), self.url)
        self.client = Client(api_key=KEY, api_url=self.url)

    def tearDown(self):
        self.process.terminate()
        self.process.wait(timeout=10)
        self.process.stdout.close()
        for server in (self.stripe, self.hooks):
            server.shutdown()
            server.server_close()

    def stripe_answer(self, path):
        customer = path.rsplit("/", 1)[-1]
        if customer in self.deleted_stripe_customers:
            return 404, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "message": f"No such customer: '{customer}'",
                }
            }
        return 200, {"id": customer, "object": "customer"}

    def raw(self, method, path, body=None, key=KEY):
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def webhooks(self):
        return self.raw("GET", "/_emulator/webhooks?wait_idle=1")[1]["webhooks"]

    def assert_conforms(self, data, model):
        model.parse_obj(data)
        self.assertEqual(unknown_keys(data, model), [], f"fields {model.__name__} does not know")

    def usage_plan(self, code, amount_cents=0, interval="monthly"):
        metric = self.client.billable_metrics.create(
            BillableMetric(name=f"{code} calls", code=f"{code}_calls", aggregation_type="count_agg")
        )
        return self.client.plans.create(
            Plan(
                name=code,
                code=code,
                interval=interval,
                amount_cents=amount_cents,
                amount_currency="USD",
                charges=[
                    Charge(
                        billable_metric_id=metric.lago_id,
                        charge_model="standard",
                        properties={"amount": "0.5"},
                    )
                ],
            )
        )


class Shapes(EmulatorCase):
    def test_accepted_request_fields_are_the_published_models_fields(self):
        for accepted, model in [
            (lago_api.CUSTOMER_FIELDS, Customer),
            (lago_api.BILLING_CONFIGURATION_FIELDS, CustomerBillingConfiguration),
            (lago_api.SUBSCRIPTION_FIELDS, Subscription),
            (lago_api.PLAN_FIELDS, Plan),
            (lago_api.CHARGE_FIELDS, Charge),
            (lago_api.METRIC_FIELDS, BillableMetric),
            (lago_api.EVENT_FIELDS, Event),
        ]:
            self.assertEqual(accepted - fields_of(model), set(), model.__name__)

    def test_every_response_is_the_published_shape(self):
        plan = self.usage_plan("starter")
        self.assertEqual(plan.charges.__root__[0].billable_metric_code, "starter_calls")
        status, body = self.raw("GET", "/api/v1/plans/starter")
        self.assertEqual(status, 200)
        self.assert_conforms(body["plan"], PlanResponse)
        status, body = self.raw(
            "POST",
            "/api/v1/billable_metrics",
            {
                "billable_metric": {
                    "name": "Storage",
                    "code": "storage",
                    "aggregation_type": "sum_agg",
                    "field_name": "gb",
                }
            },
        )
        self.assert_conforms(body["billable_metric"], BillableMetricResponse)
        customer = self.client.customers.create(
            Customer(
                external_id="u1",
                currency="USD",
                email="ada@example.com",
                name="Ada",
                billing_configuration=CustomerBillingConfiguration(
                    payment_provider="stripe",
                    provider_customer_id="cus_1",
                    sync=False,
                    sync_with_provider=False,
                ),
            )
        )
        self.assertEqual(customer.billing_configuration.provider_customer_id, "cus_1")
        self.assert_conforms(
            self.raw("GET", "/api/v1/customers/u1")[1]["customer"], CustomerResponse
        )
        sub = self.client.subscriptions.create(
            Subscription(
                external_customer_id="u1",
                plan_code="starter",
                external_id="u1",
                billing_time="anniversary",
                subscription_at="2026-10-23T00:00:00Z",
            )
        )
        self.assertEqual(sub.status, "active")
        self.assert_conforms(
            self.raw("GET", "/api/v1/subscriptions/u1")[1]["subscription"], SubscriptionResponse
        )
        event = self.client.events.create(
            Event(transaction_id="t1", external_subscription_id="u1", code="starter_calls")
        )
        self.assertEqual(event.lago_subscription_id, sub.lago_id)
        self.assert_conforms(
            self.raw(
                "POST",
                "/api/v1/events",
                {
                    "event": {
                        "transaction_id": "t2",
                        "external_subscription_id": "u1",
                        "code": "starter_calls",
                    }
                },
            )[1]["event"],
            EventResponse,
        )
        terminated = self.client.subscriptions.destroy("u1")
        self.assertEqual(terminated.status, "terminated")
        status, body = self.raw("GET", "/api/v1/invoices?external_customer_id=u1")
        self.assertEqual(len(body["invoices"]), 1)
        self.assert_conforms(body["invoices"][0], InvoiceResponse)
        self.assertEqual(body["invoices"][0]["fees"][0]["units"], "2")
        self.assertEqual(body["invoices"][0]["total_amount_cents"], 100)
        for hook in self.webhooks():
            model = {
                "subscription": SubscriptionResponse,
                "customer": CustomerResponse,
                "invoice": InvoiceResponse,
            }[hook["object_type"]]
            self.assert_conforms(hook["payload"][hook["object_type"]], model)

    def test_errors_use_lagos_envelopes(self):
        self.usage_plan("starter")
        cases = [
            (
                "POST",
                "/api/v1/subscriptions",
                {"subscription": {"external_customer_id": "u1", "plan_code": "nope"}},
                KEY,
                404,
                "plan_not_found",
            ),
            (
                "POST",
                "/api/v1/subscriptions",
                {"subscription": {"plan_code": "starter"}},
                KEY,
                422,
                "validation_errors",
            ),
            (
                "POST",
                "/api/v1/subscriptions",
                {
                    "subscription": {
                        "external_customer_id": "u1",
                        "plan_code": "starter",
                        "subscription_at": "soon",
                    }
                },
                KEY,
                422,
                "validation_errors",
            ),
            ("DELETE", "/api/v1/subscriptions/none", None, KEY, 404, "subscription_not_found"),
            (
                "GET",
                "/api/v1/webhooks/json_public_key",
                None,
                "limited",
                403,
                "read_action_not_allowed_for_webhook_jwt_public_key",
            ),
            (
                "POST",
                "/api/v1/customers",
                {"customer": {"external_id": "u1", "currency": "usd"}},
                KEY,
                422,
                "validation_errors",
            ),
            (
                "POST",
                "/api/v1/customers",
                {"customer": {"external_id": "u1", "plan": "x"}},
                KEY,
                400,
                None,
            ),
            ("POST", "/api/v1/customers", {}, KEY, 400, None),
            ("GET", "/api/v1/customers/u1", None, "wrong-key", 401, None),
        ]
        for method, path, body, key, status, code in cases:
            got_status, got = self.raw(method, path, body, key)
            self.assertEqual((got_status, got.get("code")), (status, code), (method, path, got))
            self.assertEqual(got["status"], status)
        with self.assertRaises(LagoApiError) as e:
            self.client.subscriptions.destroy("none")
        self.assertEqual(e.exception.status_code, 404)


class Customers(EmulatorCase):
    def link(self, **billing):
        return self.raw(
            "POST",
            "/api/v1/customers",
            {
                "customer": {
                    "external_id": "u1",
                    "currency": "USD",
                    "email": "ada@example.com",
                    "name": "Ada",
                    **({"billing_configuration": billing} if billing else {}),
                }
            },
        )

    def test_a_linked_customer_updates_the_stripe_customer_on_every_upsert(self):
        self.assertEqual(
            self.link(
                payment_provider="stripe",
                provider_customer_id="cus_1",
                sync=False,
                sync_with_provider=False,
            )[0],
            200,
        )
        self.assertEqual(self.stripe.requests, [], "linking an existing customer calls nobody")
        self.assertEqual(self.link()[0], 200)
        path, headers, body = self.stripe.requests[0]
        self.assertEqual(path, "/v1/customers/cus_1")
        self.assertEqual(headers["Authorization"], "Bearer sk_test_emulator")
        self.assertEqual(body, "name=Ada&email=ada%40example.com")

    def test_a_deleted_stripe_customer_fails_the_upsert_until_the_link_is_dropped(self):
        self.link(payment_provider="stripe", provider_customer_id="cus_1")
        self.deleted_stripe_customers.add("cus_1")
        status, body = self.link()
        self.assertEqual((status, body["code"]), (422, "third_party_error"))
        self.assertEqual(body["error_details"]["third_party"], "Stripe")
        calls = len(self.stripe.requests)
        status, body = self.link(payment_provider=None)
        self.assertEqual(status, 200)
        self.assertIsNone(body["customer"]["billing_configuration"]["provider_customer_id"])
        self.assertEqual(len(self.stripe.requests), calls, "dropping the link calls nobody")
        self.assertEqual(self.link()[0], 200)


class Subscriptions(EmulatorCase):
    def subscribe(self, plan, anchor="2026-10-23T00:00:00Z"):
        return self.client.subscriptions.create(
            Subscription(
                external_customer_id="u1",
                plan_code=plan,
                external_id="u1",
                billing_time="anniversary",
                subscription_at=anchor,
            )
        )

    def test_an_upgrade_terminates_bills_and_starts_the_new_plan_at_once(self):
        self.usage_plan("starter")
        self.usage_plan("pro")
        first = self.subscribe("starter")
        self.assertEqual(first.subscription_at, "2026-10-23T00:00:00Z")
        self.assertEqual(self.subscribe("starter").lago_id, first.lago_id, "same plan: unchanged")
        # Zero-base plans: 0 >= 0 is an upgrade.
        second = self.subscribe("pro", anchor="2026-12-01T00:00:00Z")
        self.assertNotEqual(second.lago_id, first.lago_id)
        self.assertEqual((second.status, second.previous_plan_code), ("active", "starter"))
        self.assertEqual(second.subscription_at, "2026-10-23T00:00:00Z", "the anchor is kept")
        hooks = [
            (h["webhook_type"], h["payload"].get("subscription", {}).get("next_plan_code"))
            for h in self.webhooks()
            if h["object_type"] == "subscription"
        ]
        self.assertIn(("subscription.terminated", "pro"), hooks)
        invoices = self.raw("GET", "/api/v1/invoices")[1]["invoices"]
        self.assertEqual(len(invoices), 1, "the old subscription's usage is billed")

    def test_a_downgrade_waits_for_the_next_billing_date(self):
        self.raw(
            "POST",
            "/api/v1/plans",
            {
                "plan": {
                    "name": "P",
                    "code": "pricey",
                    "interval": "monthly",
                    "amount_cents": 5000,
                    "amount_currency": "USD",
                }
            },
        )
        self.raw(
            "POST",
            "/api/v1/plans",
            {
                "plan": {
                    "name": "C",
                    "code": "cheap",
                    "interval": "monthly",
                    "amount_cents": 1000,
                    "amount_currency": "USD",
                }
            },
        )
        first = self.subscribe("pricey")
        after = self.subscribe("cheap")
        self.assertEqual(
            (after.lago_id, after.status, after.next_plan_code), (first.lago_id, "active", "cheap")
        )
        self.assertIsNotNone(after.downgrade_plan_date)
        pending = self.raw("GET", "/api/v1/subscriptions/u1?status=pending")[1]["subscription"]
        self.assertEqual(pending["plan_code"], "cheap")
        self.assertEqual(self.raw("GET", "/api/v1/invoices")[1]["invoices"], [])

    def test_termination_and_its_404(self):
        self.usage_plan("starter")
        self.subscribe("starter")
        status, body = self.raw("DELETE", "/api/v1/subscriptions/u1")
        self.assertEqual((status, body["subscription"]["status"]), (200, "terminated"))
        status, body = self.raw("DELETE", "/api/v1/subscriptions/u1")
        self.assertEqual((status, body["code"]), (404, "subscription_not_found"))
        # Lago accepts the same external id again for a later subscription.
        self.assertEqual(self.subscribe("starter").status, "active")


class JwtWebhooks(EmulatorCase):
    def test_jwt_deliveries_verify_with_the_served_public_key_and_iss(self):
        self.usage_plan("starter")
        self.client.subscriptions.create(
            Subscription(external_customer_id="u1", plan_code="starter", external_id="u1")
        )
        self.webhooks()
        _, raw_key = self.raw("GET", "/api/v1/webhooks/json_public_key")
        served = raw_key["webhook"]["public_key"]
        self.assertIn("\n", served.rstrip("\n"), "Base64.encode64 breaks lines")
        pem = self.client.webhooks.public_key()
        key = serialization.load_pem_public_key(pem)
        _path, headers, body = self.hooks.requests[0]
        self.assertEqual(headers["X-Lago-Signature-Algorithm"], "jwt")
        header, claims, signature = headers["X-Lago-Signature"].split(".")
        pad = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
        key.verify(
            pad(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        decoded = json.loads(pad(claims))
        self.assertEqual(decoded, {"data": body, "iss": self.url})
        self.assertTrue(headers["X-Lago-Unique-Key"])


class HmacWebhooks(EmulatorCase):
    signature = "hmac"

    def test_hmac_deliveries_sign_the_raw_body(self):
        import hashlib
        import hmac

        self.raw("POST", "/api/v1/customers", {"customer": {"external_id": "u1"}})
        self.webhooks()
        _, headers, body = self.hooks.requests[0]
        want = base64.b64encode(hmac.new(b"hmac-test-key", body.encode(), hashlib.sha256).digest())
        self.assertEqual(headers["X-Lago-Signature"], want.decode())
        self.assertEqual(json.loads(body)["webhook_type"], "customer.created")


class Dates(unittest.TestCase):
    def test_intervals_clamp_to_the_months_length(self):
        jan31 = datetime(2027, 1, 31, tzinfo=UTC)
        self.assertEqual(dates.add_interval(jan31, "monthly"), jan31.replace(month=2, day=28))
        self.assertEqual(dates.add_interval(jan31, "weekly"), jan31 + timedelta(weeks=1))
        self.assertEqual(dates.add_interval(jan31, "yearly").year, 2028)


if __name__ == "__main__":
    unittest.main()
