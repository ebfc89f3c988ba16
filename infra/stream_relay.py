#!/usr/bin/env python3
"""Local stand-in for the Lambda event source mapping from the billing table's DynamoDB stream to
outbox-relay (template.yaml's OutboxRelayFunction): reads the stream from the AWS emulator, keeps
the records its filter keeps (new event records with an outbox), and invokes the function under
`cargo lambda watch` with them in Lambda's event format. A record the function reports as failed
is retried from there, in order, as Lambda does; nothing is skipped.

usage: stream_relay.py --aws http://127.0.0.1:5050 --table NAME --invoke http://127.0.0.1:9000
                       [--start TRIM_HORIZON|LATEST] [--batch-size 25]
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.request

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError


def aws_clients(endpoint):
    """DynamoDB and DynamoDB Streams clients for the emulator, whose records keep the wire's form,
    which is Lambda's event format: boto3 would otherwise parse ApproximateCreationDateTime into a
    datetime and decode B values into bytes."""
    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=lambda value: value, blob_parser=lambda value: value
    )
    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
        botocore_session=core,
    )
    # One attempt per call: the relay's loop retries (and says so).
    config = Config(connect_timeout=30, read_timeout=30, retries={"total_max_attempts": 1})
    return (
        session.client("dynamodb", endpoint_url=endpoint, config=config),
        session.client("dynamodbstreams", endpoint_url=endpoint, config=config),
    )


def wanted(record):
    """The template's FilterCriteria: INSERTs (and replays' MODIFYs) of event records that carry an outbox."""
    image = record.get("dynamodb", {}).get("NewImage", {})
    return (
        record.get("eventName") in ("INSERT", "MODIFY")
        and image.get("SK", {}).get("S") == "EVENT"
        and "S" in image.get("outbox", {})
    )


def invoke(url, records):
    """Invokes outbox-relay; returns the sequence number of the first failed record, or None."""
    req = urllib.request.Request(
        url,
        data=json.dumps({"Records": records}).encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=120) as resp:
        answer = json.loads(resp.read() or b"{}")
    failures = answer.get("batchItemFailures") or []
    if "errorMessage" in answer:
        return records[0]["dynamodb"]["SequenceNumber"]
    return failures[0]["itemIdentifier"] if failures else None


class StreamReader:
    """Reads the table's stream shard by shard, oldest first, and keeps what the filter keeps.

    Each read asks for a fresh iterator after the last record seen: the emulator replaces a
    table (and its stream shard) when it rolls a failed transaction back, and an iterator
    handed out before that would see nothing new afterwards."""

    def __init__(self, aws, table, start="TRIM_HORIZON"):
        dynamodb, self.streams = aws_clients(aws)
        self.arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        shards = self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        self.shards = [s["ShardId"] for s in shards]
        self.last = {}
        if start == "LATEST":
            self.poll()  # what the table already holds is skipped

    def _iterator(self, shard):
        after = self.last.get(shard)
        request = {"StreamArn": self.arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}
        if after is not None:
            request.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        return self.streams.get_shard_iterator(**request)["ShardIterator"]

    def poll(self):
        """{shard: [records]} written since the last poll, oldest first, in Lambda's format."""
        fresh = {}
        for shard in self.shards:
            page = self.streams.get_records(ShardIterator=self._iterator(shard), Limit=1000)
            records = page.get("Records", [])
            if records:
                self.last[shard] = records[-1]["dynamodb"]["SequenceNumber"]
            fresh[shard] = [dict(r, eventSourceARN=self.arn) for r in records if wanted(r)]
        return fresh


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--aws", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--invoke", required=True, help="base URL of cargo lambda watch")
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument(
        "--start",
        choices=["TRIM_HORIZON", "LATEST"],
        default="TRIM_HORIZON",
        help="LATEST skips what the table held before (tests that wrote to it directly)",
    )
    args = parser.parse_args()
    url = f"{args.invoke}/2015-03-31/functions/outbox-relay/invocations"

    reader = StreamReader(args.aws, args.table, args.start)
    # Records not yet relayed, per shard, oldest first.
    pending = {shard: [] for shard in reader.shards}
    print(f"stream_relay: relaying {reader.arn} to {url}", flush=True)
    while True:
        busy = False
        try:
            fresh = reader.poll()
        except (BotoCoreError, ClientError) as e:
            # A slow or restarting emulator: read again from the last record seen.
            print(f"stream_relay: the stream could not be read ({e}); retrying", flush=True)
            time.sleep(1)
            continue
        for shard, records in fresh.items():
            pending.setdefault(shard, []).extend(records)
        for shard, records in pending.items():
            batch = records[: args.batch_size]
            if not batch:
                continue
            busy = True
            try:
                failed = invoke(url, batch)
            except (urllib.error.URLError, OSError) as e:
                print(f"stream_relay: outbox-relay unreachable ({e}); retrying", flush=True)
                time.sleep(1)
                continue
            if failed is None:
                del records[: len(batch)]
                print(
                    f"stream_relay: relayed {len(batch)} record(s), {len(records)} waiting",
                    flush=True,
                )
            else:
                done = next(
                    (i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] == failed), 0
                )
                del records[:done]
                print(f"stream_relay: record {failed} failed; retrying it", flush=True)
                time.sleep(1)
        if not busy:
            time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
