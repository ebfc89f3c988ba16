#!/usr/bin/env python3
"""Local stand-in for the Lambda event source mapping from the sync queue to sync-worker
(template.yaml's SyncWorkerFunction, event SyncJobs): receives batches from the queue in the AWS
emulator, invokes the function under `cargo lambda watch` with them in Lambda's SQS event format,
and deletes the messages the batch response does not report as failed (ReportBatchItemFailures).
A failed message is left alone: it reappears after the queue's visibility timeout and, after the
queue's maxReceiveCount receives, SQS moves it to the dead-letter queue, as in AWS. When the
invocation itself fails, nothing is deleted.

usage: sync_relay.py --aws http://127.0.0.1:5050 --queue URL --invoke http://127.0.0.1:9000
                     [--batch-size 10] [--wait 2]
"""

import argparse
import hashlib
import json
import sys
import time
import urllib.error
import urllib.request

import boto3


def lambda_record(message, queue_arn, region):
    """One SQS message as Lambda's SQS event carries it."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def invoke(url, records):
    """Invokes sync-worker; returns the ids of the messages it did not finish (all of them when
    the invocation failed)."""
    req = urllib.request.Request(
        url,
        data=json.dumps({"Records": records}).encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=120) as resp:
        answer = json.loads(resp.read() or b"{}")
    if "errorMessage" in answer:
        print(f"sync_relay: sync-worker failed: {answer.get('errorMessage')}", flush=True)
        return {r["messageId"] for r in records}
    return {f["itemIdentifier"] for f in answer.get("batchItemFailures") or []}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--aws", required=True)
    parser.add_argument("--queue", required=True, help="the sync queue's URL")
    parser.add_argument("--invoke", required=True, help="base URL of cargo lambda watch")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument(
        "--wait", type=int, default=2, help="long-poll seconds (the batching window)"
    )
    args = parser.parse_args()
    url = f"{args.invoke}/2015-03-31/functions/sync-worker/invocations"
    sqs = boto3.client("sqs", endpoint_url=args.aws)
    region = sqs.meta.region_name
    queue_arn = sqs.get_queue_attributes(QueueUrl=args.queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    print(f"sync_relay: relaying {queue_arn} to {url}", flush=True)
    while True:
        try:
            received = sqs.receive_message(
                QueueUrl=args.queue,
                MaxNumberOfMessages=args.batch_size,
                WaitTimeSeconds=args.wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        except Exception as e:  # noqa: BLE001 -- the emulator restarting: keep polling
            print(f"sync_relay: receive failed ({e}); retrying", flush=True)
            time.sleep(1)
            continue
        messages = received.get("Messages", [])
        if not messages:
            continue
        records = [lambda_record(m, queue_arn, region) for m in messages]
        try:
            failed = invoke(url, records)
        except (urllib.error.URLError, OSError) as e:
            # Not deleted: the messages come back after the visibility timeout.
            print(
                f"sync_relay: sync-worker unreachable ({e}); {len(records)} message(s) left to the queue",
                flush=True,
            )
            time.sleep(1)
            continue
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(
                QueueUrl=args.queue,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
        print(
            f"sync_relay: {len(done)} message(s) done, {len(failed)} left for redelivery",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
