"""Cold starts: `peers` (stripe-webhook vs a Python and a Node Lambda handling the same
webhook) and `init` (where init goes, one layer per binary)."""

import os
import statistics
import sys
import time
from pathlib import Path

from fixtures import BENCH, USER_ID, event_file, function_env, webhook_delivery
from lambda_runtime import RuntimeApi, run_cold


def peers(bin_dir: Path, out_dir: Path, runs: int) -> dict:
    sys.path.insert(0, str(BENCH / "peers"))
    from payload import realistic_event  # the generator verify-bench also uses

    runtime = RuntimeApi()
    env = function_env("http://127.0.0.1:9", os.environ["AWS_ENDPOINT_URL"], out_dir / "outbox")
    contenders = {
        "tierflow": [str(bin_dir / "stripe-webhook")],
        "python": [sys.executable, str(BENCH / "peers" / "lambda_python.py")],
        "node": ["node", str(BENCH / "peers" / "lambda_node.js")],
    }
    node_env = {"NODE_PATH": str(BENCH / "node_modules")}
    results: dict[str, list[dict]] = {name: [] for name in contenders}
    for i in range(runs):
        for name, argv in contenders.items():
            # A new event id per run, so each run records a new event rather than a duplicate.
            created = int(time.time())
            payload = realistic_event(created, USER_ID).replace(
                "evt_1SBenchmarkEvent00000001", f"evt_1SBench{name}{i:04d}{created}"
            )
            results[name].append(
                run_cold(
                    runtime,
                    argv,
                    {**env, **node_env},
                    webhook_delivery(payload),
                    out_dir / f"peer-{name}.log",
                )
            )
    summary = {}
    for name, rs in results.items():
        ok = [r for r in rs if r["first_ms"] is not None]
        summary[name] = {
            "runs": len(rs),
            "answered": len(ok),
            "statuses": sorted({str(r["status"]) for r in rs}),
            "init_ms": median(r["init_ms"] for r in ok),
            "first_ms": median(r["first_ms"] for r in ok),
            "cpu_ms": median(r["cpu_ms"] for r in rs if r["cpu_ms"] is not None),
            "rss_kb": median(r["rss_kb"] for r in rs if r["rss_kb"] is not None),
        }
    return summary


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


def init_breakdown(bin_dir: Path, out_dir: Path, runs: int) -> list[dict]:
    """Init of binaries that add one layer each: the bare runtime with config and tracing; the
    AWS SDK configuration and a DynamoDB client; the Stripe client; SQS and EventBridge clients.
    TLS roots are compiled in (webpki-roots), so no trust store is read from disk."""
    runtime = RuntimeApi()
    env = function_env("http://127.0.0.1:9", os.environ["AWS_ENDPOINT_URL"], out_dir / "outbox")
    # A GET to each HTTP function answers 405 or 4xx before any network call: pure init plus
    # routing; outbox-relay gets an empty batch.
    rows = []
    for function, layers, probe in (
        ("billing-config", "runtime + config + tracing", event_file("billing-config")),
        ("subscription-current", "+ AWS SDK config, DynamoDB client", event_file("billing-config")),
        ("stripe-webhook", "+ Stripe client (DynamoDB + Stripe)", event_file("billing-config")),
        ("outbox-relay", "SQS + EventBridge clients (no DynamoDB, no Stripe)", {"Records": []}),
    ):
        if not (bin_dir / function).exists():
            continue
        rs = [
            run_cold(
                runtime, [str(bin_dir / function)], env, probe, out_dir / f"init-{function}.log"
            )
            for _ in range(runs)
        ]
        rows.append(
            {
                "function": function,
                "layers": layers,
                "init_ms": median(r["init_ms"] for r in rs),
                "cpu_ms": median(r["cpu_ms"] for r in rs),
                "rss_kb": median(r["rss_kb"] for r in rs),
            }
        )
        print(
            f"  {function:<22} init {rows[-1]['init_ms']} ms cpu {rows[-1]['cpu_ms']} ms",
            file=sys.stderr,
        )
    return rows
