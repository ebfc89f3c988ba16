"""`flow`: every function, cold, along a real user's journey (checkout, webhooks, reads, plan
changes), with the table's stream handed to outbox-relay as Lambda's event source mapping would."""

import json
import os
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from counting_proxy import CountingProxy, summarize
from fixtures import ROOT, event_file, function_env, webhook_delivery
from lambda_runtime import RuntimeApi, run_cold, run_warm

sys.path.insert(0, str(ROOT / "infra"))
from stream_relay import StreamReader  # the local stream → outbox-relay mapping


def stripe_api(method: str, path: str, params: dict | None = None) -> dict:
    """Calls the Stripe emulator directly (not through the counting proxy)."""
    base = os.environ["STRIPE_API_BASE"]
    data = urllib.parse.urlencode(params or {}).encode() if method != "GET" else None
    url = base + path + ("?" + urllib.parse.urlencode(params) if method == "GET" and params else "")
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Authorization": "Bearer sk_test_benchmark"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


class Flow:
    def __init__(
        self,
        bin_dir: Path,
        out_dir: Path,
        fallback_dir: Path | None,
        stripe_delay_ms: float = 0.0,
        aws_delay_ms: float = 0.0,
    ):
        self.bin_dir = bin_dir
        self.fallback_dir = fallback_dir
        self.out_dir = out_dir
        self.runtime = RuntimeApi()
        self.delays = {"stripe_ms": stripe_delay_ms, "aws_ms": aws_delay_ms}
        self.aws = CountingProxy(os.environ["AWS_ENDPOINT_URL"], "aws", aws_delay_ms)
        self.stripe = CountingProxy(os.environ["STRIPE_API_BASE"], "stripe", stripe_delay_ms)
        self.env = function_env(self.stripe.url, self.aws.url, out_dir / "outbox")
        self.runs: list[dict] = []
        # The table's stream, read as Lambda's event source mapping would (not counted: that
        # is the platform's call, not the function's).
        self.stream = StreamReader(os.environ["AWS_ENDPOINT_URL"], os.environ["TABLE_NAME"])
        self.seen_events: set[str] = set()
        # Events that exist before the journey starts are not ours to deliver.
        self.seen_events.update(e["id"] for e in self.stripe_events())

    def invoke(self, function: str, payload: dict, label: str | None = None) -> dict:
        binary, build = self.bin_dir / function, "release"
        if not binary.exists() and self.fallback_dir is not None:
            # Calls do not depend on the build; cold-start figures of such rows are not shown.
            binary, build = self.fallback_dir / function, "fallback"
        self.aws.take()
        self.stripe.take()
        result = run_cold(
            self.runtime, [str(binary)], self.env, payload, self.out_dir / f"{function}.log"
        )
        time.sleep(0.05)  # let the proxies record the last response
        calls = self.aws.take() + self.stripe.take()
        result.update(
            {"function": function, "step": label or function, "build": build, **summarize(calls)}
        )
        result["modelled_ms"] = round(
            result["seq_stripe"] * self.delays["stripe_ms"]
            + result["seq_aws"] * self.delays["aws_ms"]
            + (result["cpu_ms"] or 0),
            1,
        )
        self.runs.append(result)
        print(
            f"  {result['step']:<58} {result['status']!s:>6}  init {result['init_ms']} ms"
            f"  cpu {result['cpu_ms']} ms  aws r/w {result['aws_reads']}/{result['aws_writes']}"
            f"  stripe {result['stripe']}  sequential stripe/aws "
            f"{result['seq_stripe']}/{result['seq_aws']}  modelled {result['modelled_ms']} ms",
            file=sys.stderr,
        )
        return result

    def warm(self, function: str, label: str):
        """The `events/` sample for `function` twice in one process: cold, then warm (the
        container's caches filled). Records both rows."""
        binary, build = self.bin_dir / function, "release"
        if not binary.exists() and self.fallback_dir is not None:
            binary, build = self.fallback_dir / function, "fallback"
        event = event_file(function)
        self.aws.take()
        self.stripe.take()
        calls: list[list[dict]] = []
        results = run_warm(
            self.runtime,
            [str(binary)],
            self.env,
            [event, event],
            self.out_dir / f"{function}.log",
            lambda _: (time.sleep(0.05), calls.append(self.aws.take() + self.stripe.take())),
        )
        for result, taken, step in zip(results, calls, (f"{label} (cold)", f"{label} (warm)")):
            result.update(
                {
                    "function": function,
                    "step": step,
                    "build": build,
                    "init_ms": None,
                    "rss_kb": None,
                    "same_process": True,
                    **summarize(taken),
                }
            )
            result["modelled_ms"] = round(
                result["seq_stripe"] * self.delays["stripe_ms"]
                + result["seq_aws"] * self.delays["aws_ms"]
                + (result["cpu_ms"] or 0),
                1,
            )
            self.runs.append(result)
            print(
                f"  {step:<58} {result['status']!s:>6}  stripe {result['stripe']}  "
                f"sequential stripe/aws {result['seq_stripe']}/{result['seq_aws']}  "
                f"modelled {result['modelled_ms']} ms",
                file=sys.stderr,
            )

    def stripe_events(self) -> list[dict]:
        events, after = [], None
        while True:
            params = {"limit": 100, **({"starting_after": after} if after else {})}
            page = stripe_api("GET", "/v1/events", params)
            events.extend(page["data"])
            if not page.get("has_more") or not page["data"]:
                return events
            after = page["data"][-1]["id"]

    def deliver_new_events(self):
        """Delivers Stripe's new events to stripe-webhook, oldest first, as Stripe would."""
        fresh = [e for e in reversed(self.stripe_events()) if e["id"] not in self.seen_events]
        for event in fresh:
            self.seen_events.add(event["id"])
            self.invoke(
                "stripe-webhook",
                webhook_delivery(json.dumps(event)),
                f"stripe-webhook ({event['type']})",
            )
        self.relay()

    def relay(self):
        """Hands what the table's stream carried since the last call to outbox-relay, one batch."""
        records = [r for shard in self.stream.poll().values() for r in shard]
        if records:
            self.invoke(
                "outbox-relay",
                {"Records": records},
                f"outbox-relay ({len(records)} new event record{'s' if len(records) > 1 else ''})",
            )

    def http(
        self,
        function: str,
        name: str | None = None,
        label: str | None = None,
        body: dict | None = None,
        query: dict | None = None,
    ) -> dict:
        event = event_file(name or function)
        if body is not None:
            event["body"] = json.dumps(body)
        if query is not None:
            event["queryStringParameters"] = query
            event["rawQueryString"] = urllib.parse.urlencode(query)
        return self.invoke(function, event, label)

    def run(self) -> list[dict]:
        self.http("billing-config")
        self.http("subscription-current", label="subscription-current (no subscription yet)")
        checkout = self.http("billing-checkout")
        session = json.loads(checkout.get("body") or "{}").get("session_id")
        if session:
            stripe_api(
                "POST",
                f"/_emulator/checkout/sessions/{session}/complete",
                {"payment_method": "pm_card_visa"},
            )
        self.deliver_new_events()
        self.http("subscription-current")
        self.http("billing-history")
        self.http("billing-payment-methods")
        self.http("subscription-preview")
        self.warm("subscription-preview", "subscription-preview, one container")
        self.http("subscription-upgrade")
        self.deliver_new_events()
        self.http("subscription-confirm-upgrade")
        self.http("subscription-downgrade")
        self.deliver_new_events()
        capture_templates(self.out_dir)
        self.http("subscription-cancel-change")
        self.deliver_new_events()
        self.http("subscription-cancel")
        self.deliver_new_events()
        self.http("subscription-resume")
        self.deliver_new_events()
        self.http("billing-portal")
        self.http("billing-payment-intent")
        self.deliver_new_events()
        self.invoke("apply-scheduled-changes", event_file("apply-scheduled-changes"))
        self.relay()
        self.invoke("reconcile-stripe", event_file("reconcile-stripe"))
        self.invoke("sync-worker", event_file("sync-worker"))
        self.http("lago-webhook")
        self.invoke("stripe-events", event_file("stripe-events"))
        self.invoke("user-deleted", event_file("user-deleted"))
        self.deliver_new_events()
        self.invoke("outbox-relay", event_file("outbox-relay"), "outbox-relay (events/ sample)")
        return self.runs


def capture_templates(out_dir: Path):
    """Keeps one payment item and one scheduled-change item exactly as the real adapter wrote
    them, so the scale tables are filled with items the functions can read."""
    import boto3

    table = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    templates: dict[str, dict] = {}
    for page in table.get_paginator("scan").paginate(TableName=os.environ["TABLE_NAME"]):
        for item in page["Items"]:
            sk = item.get("SK", {}).get("S", "")
            if sk.startswith("PAYMENT#"):
                templates.setdefault("payment", item)
            if sk.startswith("CHANGE#") and "GSI1PK" in item:
                templates.setdefault("change", item)
    (out_dir / "templates.json").write_text(json.dumps(templates))
