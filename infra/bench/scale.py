"""`scale`: apply-scheduled-changes and billing-history against tables of growing size, filled
with copies of the items `flow` kept (what DynamoDB read, and how long it took)."""

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from counting_proxy import CountingProxy, summarize
from fixtures import ROOT, USER_ID, event_file, function_env
from lambda_runtime import RuntimeApi, run_cold


def scale(bin_dir: Path, out_dir: Path, sizes: list[int], due: int) -> list[dict]:
    import boto3

    templates = json.loads((out_dir / "templates.json").read_text())
    if "payment" not in templates or "change" not in templates:
        raise SystemExit("scale: run `flow` first (it keeps a payment and a change item)")
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    client = boto3.client("dynamodb", endpoint_url=endpoint)
    runtime = RuntimeApi()
    rows = []
    for size in sizes:
        stack = f"bench-scale-{size}-{os.getpid()}"
        settings = subprocess.run(
            [
                sys.executable,
                str(ROOT / "infra" / "provision.py"),
                "--endpoint",
                endpoint,
                "--stack",
                stack,
                "--template",
                str(ROOT / "template.yaml"),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        resources = dict(line.split("=", 1) for line in settings.split() if "=" in line)
        table = resources["TABLE_NAME"]
        started = time.perf_counter()
        seed(client, table, templates, size, due)
        seeded_s = time.perf_counter() - started
        aws = CountingProxy(endpoint, "aws")
        stripe = CountingProxy(os.environ["STRIPE_API_BASE"], "stripe")
        env = {**function_env(stripe.url, aws.url, out_dir / "outbox"), **resources}
        for function, payload in (
            ("billing-history", event_file("billing-history")),
            ("apply-scheduled-changes", event_file("apply-scheduled-changes")),
        ):
            aws.take()
            stripe.take()
            result = run_cold(
                runtime, [str(bin_dir / function)], env, payload, out_dir / f"scale-{function}.log"
            )
            time.sleep(0.05)
            calls = aws.take() + stripe.take()
            queries = [c for c in calls if c["op"] == "Query"]
            rows.append(
                {
                    "table_items": size,
                    "function": function,
                    "status": result["status"],
                    "first_ms": result["first_ms"],
                    "cpu_ms": result["cpu_ms"],
                    "queries": len(queries),
                    "items_read": sum(c.get("scanned", 0) for c in queries),
                    "items_returned": sum(c.get("returned", 0) for c in queries),
                    "emulator_ms": round(sum(c["upstream_ms"] for c in calls), 1),
                    "calls": summarize(calls)["by_service"],
                    "seed_s": round(seeded_s, 1),
                }
            )
            print(
                f"  {size:>7} items  {function:<24} {result['status']}  "
                f"read {rows[-1]['items_read']}  {result['first_ms']} ms",
                file=sys.stderr,
            )
        aws.shutdown()
        stripe.shutdown()
        client.delete_table(TableName=table)  # free the emulator's memory before the next size
    return rows


def seed(client, table: str, templates: dict, size: int, due: int):
    """`size` items: the user's 50 payments, `due` changes due now, and filler that a scan would
    read but a keyed query must not: other users' payments and changes due in a year."""
    now = int(time.time())
    items = []
    payment, change = templates["payment"], templates["change"]
    for i in range(min(50, max(size - due, 0))):
        item = copy.deepcopy(payment)
        item["PK"] = {"S": f"USER#{USER_ID}"}
        item["SK"] = {"S": f"PAYMENT#{now - i * 3600:012}#bench{i:06d}"}
        items.append(item)
    for i in range(due):
        items.append(change_item(change, f"bench-due-{i}", now - 60))
    for i in range(len(items), size):
        if i % 2:
            item = copy.deepcopy(payment)
            item["PK"] = {"S": f"USER#filler-{i % 5000}"}
            item["SK"] = {"S": f"PAYMENT#{now - i:012}#filler{i:07d}"}
            items.append(item)
        else:
            items.append(change_item(change, f"filler-{i}", now + 365 * 86_400))
    for start in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": it}} for it in items[start : start + 25]]}
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems")


def change_item(template: dict, user: str, due_at: int) -> dict:
    item = copy.deepcopy(template)
    change_id = f"{user}-change"
    item["PK"] = {"S": f"USER#{user}"}
    item["SK"] = {"S": f"CHANGE#{change_id}"}
    item["GSI1PK"] = {"S": "DUE"}
    item["GSI1SK"] = {"S": f"{due_at:012}#{user}#{change_id}"}
    for key, value in (
        ("user_id", {"S": user}),
        ("change_id", {"S": change_id}),
        ("due_at", {"N": str(due_at)}),
    ):
        if key in item:
            item[key] = value
    return item
