"""Runs Lambda binaries the way Lambda does, and measures them.

A minimal Lambda Runtime API stand-in (lambda_runtime.py) feeds one invocation to a freshly
started process, then kills it: from that we get the time to init (process start to the first
`next`), the time to the first handled invocation, the CPU time and the peak RSS. Counting
proxies (counting_proxy.py) in front of the AWS emulator (moto) and the Stripe emulator count
every call a function makes, by service and operation, and the items each DynamoDB Query read.

Subcommands (each writes one JSON file; `table` prints the suite's table from all of them):
  flow    every function, cold, along a real user journey (checkout, webhooks, reads, changes)
  init    where init goes: one layer per binary
  peers   stripe-webhook vs a Python (stripe + boto3) and a Node (stripe + AWS SDK) Lambda, same webhook
  scale   apply-scheduled-changes and billing-history against tables of 10, 10k and 100k items
  table   print the table

Needs AWS_ENDPOINT_URL (moto, provisioned), TABLE_NAME, SYNC_QUEUE_URL, SYNC_DLQ_URL,
EVENT_BUS_NAME and STRIPE_API_BASE (the Stripe emulator, catalog synced); run.sh sets them up.
"""

import argparse
import json
from pathlib import Path

from cold_start import init_breakdown, peers
from fixtures import BENCH, ROOT
from journey import Flow
from report import table
from scale import scale


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["flow", "peers", "init", "scale", "table"])
    parser.add_argument("--bin-dir", type=Path, default=ROOT / "target" / "release")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument(
        "--fallback-bin-dir",
        type=Path,
        default=None,
        help="flow: run functions missing from --bin-dir from here (calls only)",
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="10,10000,100000")
    parser.add_argument("--due", type=int, default=5)
    parser.add_argument(
        "--stripe-delay-ms",
        type=float,
        default=0.0,
        help="flow: latency model, added to every Stripe call",
    )
    parser.add_argument(
        "--aws-delay-ms",
        type=float,
        default=0.0,
        help="flow: latency model, added to every AWS call",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "outbox").mkdir(exist_ok=True)
    if args.command == "flow":
        flow = Flow(
            args.bin_dir, args.out, args.fallback_bin_dir, args.stripe_delay_ms, args.aws_delay_ms
        )
        runs = flow.run()
        (args.out / "flow.json").write_text(json.dumps(runs, indent=1))
        (args.out / "latency.json").write_text(json.dumps(flow.delays))
    elif args.command == "peers":
        summary = peers(args.bin_dir, args.out, args.runs)
        (args.out / "peers.json").write_text(json.dumps(summary, indent=1))
    elif args.command == "init":
        rows = init_breakdown(args.bin_dir, args.out, args.runs)
        (args.out / "init.json").write_text(json.dumps(rows, indent=1))
    elif args.command == "scale":
        rows = scale(args.bin_dir, args.out, [int(s) for s in args.sizes.split(",")], args.due)
        (args.out / "scale.json").write_text(json.dumps(rows, indent=1))
    else:
        table(args.out)


if __name__ == "__main__":
    main()
