"""`table`: the suite's one table, printed from the JSON files the other subcommands wrote."""

import json
from pathlib import Path

READ_ENDPOINTS = {
    "billing-config",
    "subscription-current",
    "billing-history",
    "billing-payment-methods",
    "subscription-preview",
}


def table(out_dir: Path):
    load = lambda name: (
        json.loads((out_dir / name).read_text()) if (out_dir / name).exists() else None
    )
    meta = load("meta.json") or {}
    print(f"Tierflow performance — {meta.get('date', '?')} — {meta.get('machine', '?')}")
    print()

    verify = load("verify.json")
    print("### 1. Webhook verify + parse (5 KB Stripe event, median per call)")
    print()
    if verify:
        floor = verify["rust"]["floor_ns"]
        print("| implementation | µs per call | × floor |")
        print("|---|---:|---:|")
        rows = [
            ("raw floor (one HMAC-SHA256 + one parse of the envelope, `data.object` raw)", floor),
            (
                "Tierflow (`verify` + `parse_event`: typed envelope, `data.object` raw)",
                verify["rust"]["tierflow_ns"],
            ),
        ]
        if verify["rust"].get("tierflow_typed_ns"):
            rows.append(
                (
                    "Tierflow, then `data.object` typed (what a state-changing event costs)",
                    verify["rust"]["tierflow_typed_ns"],
                )
            )
        if verify.get("node"):
            rows.append(
                (
                    f"stripe-node {verify['node']['version']} `webhooks.constructEvent`",
                    verify["node"]["median_ns"],
                )
            )
        if verify.get("python"):
            rows.append(
                (
                    f"stripe-python {verify['python']['version']} `Webhook.construct_event`",
                    verify["python"]["median_ns"],
                )
            )
        for label, ns in rows:
            print(f"| {label} | {ns / 1000:.1f} | {ns / floor:.2f}× |")
    else:
        print("(not measured)")
    print()

    peer = load("peers.json")
    print("### 2. Cold start, same webhook (init → first handled invocation; medians)")
    print()
    if peer:
        base = peer["tierflow"]
        print("| process | init ms | first answer ms | CPU ms | peak RSS MB | CPU vs Tierflow |")
        print("|---|---:|---:|---:|---:|---:|")
        labels = {
            "tierflow": "Tierflow stripe-webhook (release)",
            "python": "Python: stripe + boto3",
            "node": "Node: stripe + @aws-sdk/client-dynamodb",
        }
        for name, r in peer.items():
            ratio = (r["cpu_ms"] / base["cpu_ms"]) if r["cpu_ms"] and base["cpu_ms"] else None
            print(
                f"| {labels.get(name, name)} ({r['answered']}/{r['runs']} answered "
                f"{'/'.join(r['statuses'])}) | {fmt(r['init_ms'])} | {fmt(r['first_ms'])} | "
                f"{fmt(r['cpu_ms'])} | {fmt(r['rss_kb'] and r['rss_kb'] / 1024)} | "
                f"{fmt(ratio)}× |"
            )
    else:
        print("(not measured)")
    print()

    flow = load("flow.json")
    sizes = load("sizes.json") or {}
    arm, x86 = sizes.get("arm64", {}), sizes.get("x86_64", {})
    print("### 2–4. Every function: cold start, calls on its main path, size")
    print()
    if flow:
        print(
            "| step (one cold process each) | status | init ms | first answer ms | CPU ms | "
            "RSS MB | DynamoDB | SQS | EventBridge | AWS writes | Stripe | arm64 MB | x86_64 MB |"
        )
        print("|---|---|---:|---:|---:|---:|---|---|---|---:|---:|---:|---:|")
        for r in flow:
            calls = r["by_service"]
            stripe_calls = ", ".join(
                f"{n} {op}" for op, n in sorted(calls.get("stripe", {}).items())
            )
            a, x = arm.get(r["function"]), x86.get(r["function"])
            timing = (
                f"{fmt(r['init_ms'])} | {fmt(r['first_ms'])} | {fmt(r['cpu_ms'])} | "
                f"{fmt(r['rss_kb'] and r['rss_kb'] / 1024)}"
            )
            if r.get("build", "release") != "release":
                timing = "not built in release | | | "
            print(
                f"| {r['step']} | {r['status']} | {timing} | "
                f"{calls_cell(calls, 'dynamodb')} | {calls_cell(calls, 'sqs')} | {calls_cell(calls, 'eventbridge')} | "
                f"{r['aws_writes']} | {r['stripe']}{' (' + stripe_calls + ')' if stripe_calls else ''} | "
                f"{fmt(a and a / 1e6)} | {fmt(x and x / 1e6)} |"
            )
        hot = [r for r in flow if r["function"] == "stripe-webhook" and r["by_service"]]
        if hot:
            writes = sorted({r["aws_writes"] for r in hot})
            with_stripe = sorted({r["step"] for r in hot if r["stripe"]})
            print()
            print(
                f"Webhook hot path (events that change state): {writes[0]}–{writes[-1]} AWS writes "
                f"per event (target ≤ 2); the outbox is published off the request path by "
                f"outbox-relay from the table's stream. Stripe calls in "
                f"{sum(1 for r in hot if r['stripe'])} of {len(hot)} deliveries (target 0; only "
                f"when the event alone cannot decide)"
                f"{': ' + '; '.join(with_stripe) if with_stripe else ''}."
            )
        reads = [r for r in flow if r["function"] in READ_ENDPOINTS]
        if reads:
            print(
                "Read (GET) endpoints, Stripe calls: "
                + ", ".join(f"{r['step']} {r['stripe']}" for r in reads)
                + " (target 0; saved cards and "
                "proration previews exist only in Stripe)."
            )
    else:
        print("(not measured)")
    print()
    for arch, built in (("arm64", arm), ("x86_64", x86)):
        if built:
            print(
                f"{arch} release binaries (stripped): {len(built)} built, "
                f"{min(built.values()) / 1e6:.2f}–{max(built.values()) / 1e6:.2f} MB, largest "
                f"{max(built, key=built.get)} (target ≤ 8 MB)."
            )
    build = load("build.json")
    if build:
        print(f"Clean build of the workspace: {build['seconds']:.0f} s ({build['command']}).")
    print()

    latency_table(flow, load("latency.json"))

    rows = load("init.json")
    print("### Where init goes (medians; a request answered before any network call)")
    print()
    if rows:
        print("| binary | adds | init ms | CPU ms | RSS MB |")
        print("|---|---|---:|---:|---:|")
        for r in rows:
            print(
                f"| {r['function']} | {r['layers']} | {fmt(r['init_ms'])} | "
                f"{fmt(r['cpu_ms'])} | {fmt(r['rss_kb'] and r['rss_kb'] / 1024)} |"
            )
    else:
        print("(not measured)")
    print()

    rows = load("scale.json")
    print("### 5. Scale: cost vs table size (moto; items read = DynamoDB ScannedCount)")
    print()
    if rows:
        print(
            "| table items | function | status | calls | queries | items read | items returned | "
            "first answer ms | of which in moto |"
        )
        print("|---:|---|---|---|---:|---:|---:|---:|---:|")
        for r in rows:
            calls = ", ".join(
                f"{n} {op}" for ops in r["calls"].values() for op, n in sorted(ops.items())
            )
            print(
                f"| {r['table_items']:,} | {r['function']} | {r['status']} | {calls} | "
                f"{r['queries']} | {r['items_read']} | {r['items_returned']} | "
                f"{fmt(r['first_ms'])} | {fmt(r.get('emulator_ms'))} |"
            )
    else:
        print("(not measured)")


# What the two best-known Stripe billing libraries send to Stripe for the same actions, counted
# from their source (laravel/cashier-stripe v15.3.1-1-g6c30457; pay-rails/pay v11.7.0).
ANCHORS = {
    "billing-checkout": (
        (
            "2: `createOrGetStripeCustomer` (POST /v1/customers, or GET /v1/customers/:id once "
            "stored), POST /v1/checkout/sessions"
        ),
        (
            "1–2: POST /v1/customers (only without a stored processor_id), "
            "POST /v1/checkout/sessions"
        ),
    ),
    "subscription-preview": (
        "2: GET /v1/subscriptions/:id (items to swap), GET /v1/invoices/upcoming",
        "1: POST /v1/invoices/create_preview (items from the stored object)",
    ),
    "subscription-upgrade": (
        "2: GET /v1/subscriptions/:id (items to swap), POST /v1/subscriptions/:id",
        (
            "2: POST /v1/subscriptions/:id (item from the stored object), "
            "GET /v1/payment_intents/:id (the proration invoice's payment)"
        ),
    ),
}


def latency_table(flow: list[dict] | None, delays: dict | None):
    """Per route and per webhook type: sequential round trips and the modelled latency."""
    print("### Latency a user feels (latency model: every call delayed as a network round trip)")
    print()
    if not flow or "seq_stripe" not in flow[0]:
        print("(not measured)")
        print()
        return
    delays = delays or {"stripe_ms": 0, "aws_ms": 0}
    print(
        f"Each Stripe call waits {delays['stripe_ms']:g} ms and each AWS call "
        f"{delays['aws_ms']:g} ms before it is forwarded; modelled latency = sequential Stripe "
        f"round trips × {delays['stripe_ms']:g} ms + sequential AWS round trips × "
        f"{delays['aws_ms']:g} ms + the process's measured CPU. Webhook types show their "
        f"slowest delivery."
    )
    print()
    print(
        "| route or webhook | deliveries | Stripe calls | sequential Stripe | AWS calls | "
        "sequential AWS | CPU ms | modelled ms | Laravel Cashier | Pay (Rails) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
    rows: dict[str, list[dict]] = {}
    for r in flow:
        if r["function"] == "outbox-relay":
            continue  # off the request path: fed by the table's stream
        own_row = r["function"] == "stripe-webhook" or r.get("same_process")
        key = r["step"] if own_row else r["function"]
        rows.setdefault(key, []).append(r)
    for key, runs in rows.items():
        worst = max(runs, key=lambda r: (r["modelled_ms"], r["seq_stripe"], r["seq_aws"]))
        cashier, pay = ANCHORS.get(key, ("", ""))
        cpu = fmt(worst["cpu_ms"]) + (
            "" if worst.get("build", "release") == "release" else " (debug)"
        )
        print(
            f"| {key} | {len(runs)} | {worst['stripe']} | {worst['seq_stripe']} | "
            f"{worst['aws_reads'] + worst['aws_writes']} | {worst['seq_aws']} | {cpu} | "
            f"{fmt(worst['modelled_ms'])} | {cashier} | {pay} |"
        )
    print()


def calls_cell(calls: dict, service: str) -> str:
    """`n Operation` for each operation `service` was called with, or 0."""
    return ", ".join(f"{n} {op}" for op, n in sorted(calls.get(service, {}).items())) or "0"


def fmt(value) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}" if isinstance(value, float) else str(value)
