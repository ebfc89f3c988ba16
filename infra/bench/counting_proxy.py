"""Counting proxies in front of the AWS emulator (moto) and the Stripe emulator: every call a
function makes, by service and operation, the items each DynamoDB Query read, and the round trips
it waited for one after another."""

import http.client
import json
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lambda_runtime import ms

AWS_WRITES = {
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "TransactWriteItems",
    "BatchWriteItem",
    "SendMessage",
    "SendMessageBatch",
    "DeleteMessage",
    "DeleteMessageBatch",
    "PutEvents",
}
STRIPE_ID = re.compile(r"^[a-z]+_[A-Za-z0-9_]*[A-Z0-9][A-Za-z0-9_]*$")


class CountingProxy(ThreadingHTTPServer):
    """Forwards every request to `upstream` and records what it was."""

    daemon_threads = True

    def __init__(self, upstream: str, kind: str, delay_ms: float = 0.0):
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        parsed = urllib.parse.urlparse(upstream)
        self.upstream = (parsed.hostname, parsed.port or 80)
        self.kind = kind
        # The latency model: every call waits this long before it is forwarded, as a real
        # network round trip would, so calls made concurrently overlap and sequential ones add up.
        self.delay_s = delay_ms / 1000
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request, client_address):
        # A process killed mid-request resets its connections: expected, not worth a trace.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def take(self) -> list[dict]:
        with self.lock:
            calls, self.calls = self.calls, []
        return calls


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(self):
        body = self._read_body()
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in ("transfer-encoding", "connection", "content-length")
        }
        upstream = http.client.HTTPConnection(*self.server.upstream, timeout=120)
        started = time.perf_counter()
        if self.server.delay_s:
            time.sleep(self.server.delay_s)
        upstream.request(self.command, self.path, body=body or None, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        call = self._describe(body, response.status, data)
        call["upstream_ms"] = ms(time.perf_counter() - started)
        call["span"] = (started, time.perf_counter())
        with self.server.lock:
            self.server.calls.append(call)
        self.send_response(response.status)
        for k, v in response.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    def _describe(self, body: bytes, status: int, data: bytes) -> dict:
        if self.server.kind == "stripe":
            path = urllib.parse.urlparse(self.path).path
            parts = [":id" if STRIPE_ID.match(p) else p for p in path.split("/")]
            return {
                "service": "stripe",
                "op": f"{self.command} {'/'.join(parts)}",
                "status": status,
            }
        target = self.headers.get("X-Amz-Target", "")
        if target:
            prefix, _, op = target.partition(".")
            service = {
                "DynamoDB_20120810": "dynamodb",
                "AmazonSQS": "sqs",
                "AWSEvents": "eventbridge",
            }.get(prefix, prefix)
        else:  # the query protocol: Action=... in a form body
            form = urllib.parse.parse_qs(body.decode(errors="replace"))
            op = (form.get("Action") or ["?"])[0]
            service = "sqs" if "Queue" in op or "Message" in op else "aws"
        call = {"service": service, "op": op, "status": status}
        if service == "dynamodb" and op in ("Query", "Scan"):
            try:
                answer = json.loads(data)
                call["scanned"] = answer.get("ScannedCount", 0)
                call["returned"] = answer.get("Count", 0)
            except ValueError:
                pass
        return call

    do_GET = do_POST = do_DELETE = do_PUT = _forward


def sequential_round_trips(calls: list[dict]) -> dict:
    """The round trips a caller waits for one after another: the longest chain of calls that do
    not overlap in time (calls made concurrently overlap, so a batch of them counts once),
    split into Stripe and AWS."""
    chain, last_end = [], float("-inf")
    for call in sorted(calls, key=lambda c: c["span"][1]):
        if call["span"][0] >= last_end:
            chain.append(call)
            last_end = call["span"][1]
    stripe = sum(1 for c in chain if c["service"] == "stripe")
    return {"seq_stripe": stripe, "seq_aws": len(chain) - stripe}


def summarize(calls: list[dict]) -> dict:
    """Calls by service and operation, AWS writes, items DynamoDB queries read, and the
    sequential round trips."""
    by_service: dict[str, dict[str, int]] = {}
    for c in calls:
        ops = by_service.setdefault(c["service"], {})
        ops[c["op"]] = ops.get(c["op"], 0) + 1
    return {
        **sequential_round_trips(calls),
        "by_service": by_service,
        "aws_writes": sum(1 for c in calls if c["service"] != "stripe" and c["op"] in AWS_WRITES),
        "aws_reads": sum(
            1 for c in calls if c["service"] != "stripe" and c["op"] not in AWS_WRITES
        ),
        "stripe": sum(1 for c in calls if c["service"] == "stripe"),
        "items_read": sum(c.get("scanned", 0) for c in calls),
    }
