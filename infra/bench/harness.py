"""Runs Lambda binaries the way Lambda does, and measures them.

A minimal Lambda Runtime API stand-in (`GET /2018-06-01/runtime/invocation/next`,
`POST .../{id}/response|error`, `POST .../init/error`) feeds one invocation to a freshly started
process, then kills it: from that we get the time to init (process start to the first `next`),
the time to the first handled invocation, the CPU time and the peak RSS (`wait4` rusage).
Counting proxies in front of the AWS emulator (moto) and the Stripe emulator count every call a
function makes, by service and operation, and the items each DynamoDB Query read.

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
import copy
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import tomllib
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "infra" / "bench"
sys.path.insert(0, str(ROOT / "infra"))
from stream_relay import StreamReader  # noqa: E402  (the local stream → outbox-relay mapping)
WEBHOOK_SECRET = "whsec_benchmark_secret_0123456789"
USER_ID = "8f14e45f-ceea-467f-a0e6-6f6b7a1c2d3e"  # the `sub` of the events/ files
AWS_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem",
              "SendMessage", "SendMessageBatch", "DeleteMessage", "DeleteMessageBatch",
              "PutEvents"}


# ---------------------------------------------------------------- the Runtime API stand-in

class Invocation:
    """One event handed to one process, and what came back."""

    def __init__(self, payload: bytes):
        self.payload = payload
        self.request_id = f"bench-{time.monotonic_ns()}"
        self.served = False
        self.t_next: float | None = None
        self.t_done: float | None = None
        self.response: bytes | None = None
        self.error: str | None = None
        self.done = threading.Event()
        self.release = threading.Event()
        # Served to the same process on its next poll (a warm invocation), when set.
        self.follow_up: "Invocation | None" = None


class RuntimeApi(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), RuntimeHandler)
        self.invocation: Invocation | None = None
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request, client_address):
        # A process killed mid-request resets its connections: expected, not worth a trace.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class RuntimeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _reply(self, status: int, body: bytes = b"{}", headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        inv = self.server.invocation
        if self.path != "/2018-06-01/runtime/invocation/next" or inv is None:
            return self._reply(404)
        if inv.served:
            # Hold the long poll until the process is killed, or a warm invocation follows.
            inv.release.wait(120)
            if inv.follow_up is None or inv.follow_up.served:
                self.close_connection = True
                return
            inv = inv.follow_up
        inv.served = True
        inv.t_next = time.perf_counter()
        self._reply(200, inv.payload, {
            "Lambda-Runtime-Aws-Request-Id": inv.request_id,
            "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 30_000),
            "Lambda-Runtime-Invoked-Function-Arn":
                "arn:aws:lambda:us-east-1:123456789012:function:bench",
            "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
        })

    def do_POST(self):
        inv = self.server.invocation
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if inv is None:
            return self._reply(404)
        if self.path.endswith("/response"):
            inv.response = body
        else:  # .../error and /runtime/init/error
            inv.error = body.decode(errors="replace")[:500] or self.path
        inv.t_done = time.perf_counter()
        inv.done.set()
        self._reply(202, b'{"status":"OK"}')


def run_cold(runtime: RuntimeApi, argv: list[str], env: dict, payload: dict | bytes,
             log: Path, timeout: float = 60.0) -> dict:
    """Starts `argv` as a fresh Lambda process, hands it one event, kills it once it answered."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    inv = Invocation(body)
    runtime.invocation = inv
    child_env = {**lambda_env(), **env, "AWS_LAMBDA_RUNTIME_API": runtime.address}
    with open(log, "ab") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=child_env, stdout=out, stderr=out)
        deadline = t0 + timeout
        while not inv.done.wait(0.005):
            if proc.poll() is not None or time.perf_counter() > deadline:
                break
    exited = proc.poll()
    peak_kb = None
    if exited is None:
        # VmHWM is the process's own peak since exec; rusage's ru_maxrss would also count the
        # pages of the Python parent it was forked from.
        peak_kb = vm_hwm_kb(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = -9
    else:
        # Popen reaped it already: the process ended on its own (a crash or an init failure).
        usage = None
    inv.release.set()
    result = {
        "init_ms": ms(inv.t_next - t0) if inv.t_next else None,
        "first_ms": ms(inv.t_done - t0) if inv.t_done and inv.response is not None else None,
        "cpu_ms": round((usage.ru_utime + usage.ru_stime) * 1000, 1) if usage else None,
        "rss_kb": peak_kb,
        "exit": exited,
        "error": inv.error,
        "status": None,
        "body": None,
    }
    if inv.response is not None:
        try:
            answer = json.loads(inv.response)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and "statusCode" in answer:
            result["status"] = answer["statusCode"]
            result["body"] = answer.get("body")
        else:
            result["status"] = "ok"
            result["body"] = inv.response.decode(errors="replace")[:2000]
    elif inv.error:
        result["status"] = "error"
    else:
        result["status"] = "no answer" if exited is None else f"exited {exited}"
    return result


def run_warm(runtime: RuntimeApi, argv: list[str], env: dict, payloads: list[dict],
             log: Path, between, timeout: float = 60.0) -> list[dict]:
    """Starts `argv` once and hands it `payloads` one after another, as Lambda does to a warm
    container; `between(i)` runs after invocation i answered. Each result has the CPU that
    invocation used (from /proc, so the first includes init)."""
    child_env = {**lambda_env(), **env, "AWS_LAMBDA_RUNTIME_API": runtime.address}
    invocations = [Invocation(json.dumps(p).encode()) for p in payloads]
    runtime.invocation = invocations[0]
    results = []
    with open(log, "ab") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=child_env, stdout=out, stderr=out)
        cpu_before = 0.0
        for i, inv in enumerate(invocations):
            if i:
                previous = invocations[i - 1]
                previous.follow_up = inv
                runtime.invocation = inv
                previous.release.set()
                t0 = time.perf_counter()
            inv.done.wait(timeout)
            cpu = process_cpu_ms(proc.pid)
            results.append({"first_ms": ms(inv.t_done - t0) if inv.t_done else None,
                            "cpu_ms": round(cpu - cpu_before, 1) if cpu is not None else None,
                            "status": answer_status(inv), "body": answer_body(inv)})
            cpu_before = cpu or 0.0
            between(i)
    proc.kill()
    proc.wait()
    invocations[-1].release.set()
    return results


def process_cpu_ms(pid: int) -> float | None:
    """User + system CPU a live process has used so far (/proc/<pid>/stat), in ms."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def answer_status(inv: Invocation):
    if inv.response is None:
        return "error" if inv.error else "no answer"
    try:
        answer = json.loads(inv.response)
    except ValueError:
        return "ok"
    return answer.get("statusCode", "ok") if isinstance(answer, dict) else "ok"


def answer_body(inv: Invocation):
    try:
        answer = json.loads(inv.response or b"null")
    except ValueError:
        return None
    return answer.get("body") if isinstance(answer, dict) else None


def vm_hwm_kb(pid: int) -> int | None:
    """Peak resident set size of a live process, from /proc (kB)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def lambda_env() -> dict:
    """What Lambda sets for every function, plus the non-secret settings from Cargo.toml."""
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    env = {k: str(v) for k, v in
           cargo.get("workspace", {}).get("metadata", {}).get("lambda", {}).get("env", {}).items()}
    env.update({
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    return env


# ---------------------------------------------------------------- counting proxies

READ_ENDPOINTS = {"billing-config", "subscription-current", "billing-history",
                  "billing-payment-methods", "subscription-preview"}
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
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("transfer-encoding", "connection", "content-length")}
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
            return {"service": "stripe", "op": f"{self.command} {'/'.join(parts)}",
                    "status": status}
        target = self.headers.get("X-Amz-Target", "")
        if target:
            prefix, _, op = target.partition(".")
            service = {"DynamoDB_20120810": "dynamodb", "AmazonSQS": "sqs",
                       "AWSEvents": "eventbridge"}.get(prefix, prefix)
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
        "aws_reads": sum(1 for c in calls if c["service"] != "stripe"
                         and c["op"] not in AWS_WRITES),
        "stripe": sum(1 for c in calls if c["service"] == "stripe"),
        "items_read": sum(c.get("scanned", 0) for c in calls),
    }


# ---------------------------------------------------------------- helpers

def stripe_api(method: str, path: str, params: dict | None = None) -> dict:
    """Calls the Stripe emulator directly (not through the counting proxy)."""
    base = os.environ["STRIPE_API_BASE"]
    data = urllib.parse.urlencode(params or {}).encode() if method != "GET" else None
    url = base + path + ("?" + urllib.parse.urlencode(params) if method == "GET" and params else "")
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": "Bearer sk_test_benchmark"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def sign(secret: str, timestamp: int, payload: str) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def event_file(name: str) -> dict:
    return json.loads((ROOT / "events" / f"{name}.json").read_text())


def webhook_delivery(payload: str) -> dict:
    """A function-URL event carrying `payload`, signed now with the benchmark secret."""
    event = event_file("stripe-webhook")
    event["body"] = payload
    event["headers"]["stripe-signature"] = sign(WEBHOOK_SECRET, int(time.time()), payload)
    return event


def function_env(stripe_base: str, aws_base: str, outbox: Path) -> dict:
    return {
        "AWS_ENDPOINT_URL": aws_base,
        "TABLE_NAME": os.environ["TABLE_NAME"],
        "SYNC_QUEUE_URL": os.environ["SYNC_QUEUE_URL"],
        "SYNC_DLQ_URL": os.environ.get("SYNC_DLQ_URL", ""),
        "EVENT_BUS_NAME": os.environ["EVENT_BUS_NAME"],
        "STRIPE_API_BASE": stripe_base,
        "STRIPE_SECRET_KEY": "sk_test_benchmark",
        "STRIPE_WEBHOOK_SECRETS": WEBHOOK_SECRET,
        "AUTH_MODE": "apigateway",
        "HISTORY_CURSOR_SECRET": "bench-history-cursor-secret-0123456789",
        "EMAIL_OUTBOX_DIR": str(outbox),
        "LAGO_WEBHOOK_HMAC_KEY": "lago_hmac_key_local_test_only",
        # The billing page's URLs (infra/lib.sh writes the same into the local env file).
        "CHECKOUT_SUCCESS_URL": "http://127.0.0.1:3000/billing?checkout_session_id={CHECKOUT_SESSION_ID}",
        "CHECKOUT_CANCEL_URL": "http://127.0.0.1:3000/billing?checkout_cancelled=1",
        "PORTAL_RETURN_URL": "http://127.0.0.1:3000/billing",
    }


# ---------------------------------------------------------------- flow: every function, cold

class Flow:
    def __init__(self, bin_dir: Path, out_dir: Path, fallback_dir: Path | None,
                 stripe_delay_ms: float = 0.0, aws_delay_ms: float = 0.0):
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
        result = run_cold(self.runtime, [str(binary)], self.env, payload,
                          self.out_dir / f"{function}.log")
        time.sleep(0.05)  # let the proxies record the last response
        calls = self.aws.take() + self.stripe.take()
        result.update({"function": function, "step": label or function, "build": build,
                       **summarize(calls)})
        result["modelled_ms"] = round(
            result["seq_stripe"] * self.delays["stripe_ms"]
            + result["seq_aws"] * self.delays["aws_ms"] + (result["cpu_ms"] or 0), 1)
        self.runs.append(result)
        print(f"  {result['step']:<58} {str(result['status']):>6}  init {result['init_ms']} ms"
              f"  cpu {result['cpu_ms']} ms  aws r/w {result['aws_reads']}/{result['aws_writes']}"
              f"  stripe {result['stripe']}  sequential stripe/aws "
              f"{result['seq_stripe']}/{result['seq_aws']}  modelled {result['modelled_ms']} ms",
              file=sys.stderr)
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
        results = run_warm(self.runtime, [str(binary)], self.env, [event, event],
                           self.out_dir / f"{function}.log",
                           lambda _: (time.sleep(0.05),
                                      calls.append(self.aws.take() + self.stripe.take())))
        for result, taken, step in zip(results, calls, (f"{label} (cold)", f"{label} (warm)")):
            result.update({"function": function, "step": step, "build": build, "init_ms": None,
                           "rss_kb": None, "same_process": True, **summarize(taken)})
            result["modelled_ms"] = round(
                result["seq_stripe"] * self.delays["stripe_ms"]
                + result["seq_aws"] * self.delays["aws_ms"] + (result["cpu_ms"] or 0), 1)
            self.runs.append(result)
            print(f"  {step:<58} {str(result['status']):>6}  stripe {result['stripe']}  "
                  f"sequential stripe/aws {result['seq_stripe']}/{result['seq_aws']}  "
                  f"modelled {result['modelled_ms']} ms", file=sys.stderr)

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
            self.invoke("stripe-webhook", webhook_delivery(json.dumps(event)),
                        f"stripe-webhook ({event['type']})")
        self.relay()

    def relay(self):
        """Hands what the table's stream carried since the last call to outbox-relay, one batch."""
        records = [r for shard in self.stream.poll().values() for r in shard]
        if records:
            self.invoke("outbox-relay", {"Records": records},
                        f"outbox-relay ({len(records)} new event record{'s' if len(records) > 1 else ''})")

    def http(self, function: str, name: str | None = None, label: str | None = None,
             body: dict | None = None, query: dict | None = None) -> dict:
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
            stripe_api("POST", f"/_emulator/checkout/sessions/{session}/complete",
                       {"payment_method": "pm_card_visa"})
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


# ---------------------------------------------------------------- peers: the same webhook, cold

def peers(bin_dir: Path, out_dir: Path, runs: int) -> dict:
    sys.path.insert(0, str(BENCH / "peers"))
    from payload import realistic_event  # noqa: E402 (the shared generator)

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
                "evt_1SBenchmarkEvent00000001", f"evt_1SBench{name}{i:04d}{created}")
            results[name].append(run_cold(runtime, argv, {**env, **node_env},
                                          webhook_delivery(payload),
                                          out_dir / f"peer-{name}.log"))
    summary = {}
    for name, rs in results.items():
        ok = [r for r in rs if r["first_ms"] is not None]
        summary[name] = {
            "runs": len(rs), "answered": len(ok),
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


# ---------------------------------------------------------------- where init goes

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
            ("outbox-relay", "SQS + EventBridge clients (no DynamoDB, no Stripe)", {"Records": []})):
        if not (bin_dir / function).exists():
            continue
        rs = [run_cold(runtime, [str(bin_dir / function)], env, probe,
                       out_dir / f"init-{function}.log") for _ in range(runs)]
        rows.append({"function": function, "layers": layers,
                     "init_ms": median(r["init_ms"] for r in rs),
                     "cpu_ms": median(r["cpu_ms"] for r in rs),
                     "rss_kb": median(r["rss_kb"] for r in rs)})
        print(f"  {function:<22} init {rows[-1]['init_ms']} ms cpu {rows[-1]['cpu_ms']} ms",
              file=sys.stderr)
    return rows


# ---------------------------------------------------------------- scale

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
            [sys.executable, str(ROOT / "infra" / "provision.py"), "--endpoint", endpoint,
             "--stack", stack, "--template", str(ROOT / "template.yaml")],
            check=True, capture_output=True, text=True).stdout
        resources = dict(line.split("=", 1) for line in settings.split() if "=" in line)
        table = resources["TABLE_NAME"]
        started = time.perf_counter()
        seed(client, table, templates, size, due)
        seeded_s = time.perf_counter() - started
        aws = CountingProxy(endpoint, "aws")
        stripe = CountingProxy(os.environ["STRIPE_API_BASE"], "stripe")
        env = {**function_env(stripe.url, aws.url, out_dir / "outbox"), **resources}
        for function, payload in (("billing-history", event_file("billing-history")),
                                  ("apply-scheduled-changes",
                                   event_file("apply-scheduled-changes"))):
            aws.take()
            stripe.take()
            result = run_cold(runtime, [str(bin_dir / function)], env, payload,
                              out_dir / f"scale-{function}.log")
            time.sleep(0.05)
            calls = aws.take() + stripe.take()
            queries = [c for c in calls if c["op"] == "Query"]
            rows.append({
                "table_items": size, "function": function, "status": result["status"],
                "first_ms": result["first_ms"], "cpu_ms": result["cpu_ms"],
                "queries": len(queries),
                "items_read": sum(c.get("scanned", 0) for c in queries),
                "items_returned": sum(c.get("returned", 0) for c in queries),
                "emulator_ms": round(sum(c["upstream_ms"] for c in calls), 1),
                "calls": summarize(calls)["by_service"], "seed_s": round(seeded_s, 1),
            })
            print(f"  {size:>7} items  {function:<24} {result['status']}  "
                  f"read {rows[-1]['items_read']}  {result['first_ms']} ms", file=sys.stderr)
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
        request = {table: [{"PutRequest": {"Item": it}} for it in items[start:start + 25]]}
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems")


def change_item(template: dict, user: str, due_at: int) -> dict:
    item = copy.deepcopy(template)
    change_id = f"{user}-change"
    item["PK"] = {"S": f"USER#{user}"}
    item["SK"] = {"S": f"CHANGE#{change_id}"}
    item["GSI1PK"] = {"S": "DUE"}
    item["GSI1SK"] = {"S": f"{due_at:012}#{user}#{change_id}"}
    for key, value in (("user_id", {"S": user}), ("change_id", {"S": change_id}),
                       ("due_at", {"N": str(due_at)})):
        if key in item:
            item[key] = value
    return item


# ---------------------------------------------------------------- the table

def table(out_dir: Path):
    load = lambda name: json.loads((out_dir / name).read_text()) if (out_dir / name).exists() else None  # noqa: E731
    meta = load("meta.json") or {}
    print(f"Tierflow performance — {meta.get('date', '?')} — {meta.get('machine', '?')}")
    print()

    verify = load("verify.json")
    print("### 1. Webhook verify + parse (5 KB Stripe event, median per call)")
    print()
    if verify:
        floor = verify["rust"]["floor_ns"]
        print(f"| implementation | µs per call | × floor |")
        print("|---|---:|---:|")
        rows = [("raw floor (one HMAC-SHA256 + one parse of the envelope, `data.object` raw)", floor),
                ("Tierflow (`verify` + `parse_event`: typed envelope, `data.object` raw)", verify["rust"]["tierflow_ns"])]
        if verify["rust"].get("tierflow_typed_ns"):
            rows.append(("Tierflow, then `data.object` typed (what a state-changing event costs)",
                         verify["rust"]["tierflow_typed_ns"]))
        if verify.get("node"):
            rows.append((f"stripe-node {verify['node']['version']} `webhooks.constructEvent`",
                         verify["node"]["median_ns"]))
        if verify.get("python"):
            rows.append((f"stripe-python {verify['python']['version']} "
                         "`Webhook.construct_event`", verify["python"]["median_ns"]))
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
        labels = {"tierflow": "Tierflow stripe-webhook (release)",
                  "python": "Python: stripe + boto3", "node": "Node: stripe + @aws-sdk/client-dynamodb"}
        for name, r in peer.items():
            ratio = (r["cpu_ms"] / base["cpu_ms"]) if r["cpu_ms"] and base["cpu_ms"] else None
            print(f"| {labels.get(name, name)} ({r['answered']}/{r['runs']} answered "
                  f"{'/'.join(r['statuses'])}) | {fmt(r['init_ms'])} | {fmt(r['first_ms'])} | "
                  f"{fmt(r['cpu_ms'])} | {fmt(r['rss_kb'] and r['rss_kb'] / 1024)} | "
                  f"{fmt(ratio)}× |")
    else:
        print("(not measured)")
    print()

    flow = load("flow.json")
    sizes = load("sizes.json") or {}
    arm, x86 = sizes.get("arm64", {}), sizes.get("x86_64", {})
    print("### 2–4. Every function: cold start, calls on its main path, size")
    print()
    if flow:
        print("| step (one cold process each) | status | init ms | first answer ms | CPU ms | "
              "RSS MB | DynamoDB | SQS | EventBridge | AWS writes | Stripe | arm64 MB | x86_64 MB |")
        print("|---|---|---:|---:|---:|---:|---|---|---|---:|---:|---:|---:|")
        for r in flow:
            calls = r["by_service"]
            cell = lambda s: ", ".join(f"{n} {op}" for op, n in sorted(calls.get(s, {}).items())) or "0"  # noqa: E731
            stripe_calls = ", ".join(f"{n} {op}" for op, n in sorted(calls.get("stripe", {}).items()))
            a, x = arm.get(r["function"]), x86.get(r["function"])
            timing = (f"{fmt(r['init_ms'])} | {fmt(r['first_ms'])} | {fmt(r['cpu_ms'])} | "
                      f"{fmt(r['rss_kb'] and r['rss_kb'] / 1024)}")
            if r.get("build", "release") != "release":
                timing = "not built in release | | | "
            print(f"| {r['step']} | {r['status']} | {timing} | "
                  f"{cell('dynamodb')} | {cell('sqs')} | {cell('eventbridge')} | "
                  f"{r['aws_writes']} | {r['stripe']}{' (' + stripe_calls + ')' if stripe_calls else ''} | "
                  f"{fmt(a and a / 1e6)} | {fmt(x and x / 1e6)} |")
        hot = [r for r in flow if r["function"] == "stripe-webhook" and r["by_service"]]
        if hot:
            writes = sorted({r["aws_writes"] for r in hot})
            with_stripe = sorted({r["step"] for r in hot if r["stripe"]})
            print()
            print(f"Webhook hot path (events that change state): {writes[0]}–{writes[-1]} AWS writes "
                  f"per event (target ≤ 2); the outbox is published off the request path by "
                  f"outbox-relay from the table's stream. Stripe calls in "
                  f"{sum(1 for r in hot if r['stripe'])} of {len(hot)} deliveries (target 0; only "
                  f"when the event alone cannot decide)"
                  f"{': ' + '; '.join(with_stripe) if with_stripe else ''}.")
        reads = [r for r in flow if r["function"] in READ_ENDPOINTS]
        if reads:
            print("Read (GET) endpoints, Stripe calls: " + ", ".join(
                f"{r['step']} {r['stripe']}" for r in reads) + " (target 0; saved cards and "
                "proration previews exist only in Stripe).")
    else:
        print("(not measured)")
    print()
    for arch, built in (("arm64", arm), ("x86_64", x86)):
        if built:
            print(f"{arch} release binaries (stripped): {len(built)} built, "
                  f"{min(built.values()) / 1e6:.2f}–{max(built.values()) / 1e6:.2f} MB, largest "
                  f"{max(built, key=built.get)} (target ≤ 8 MB).")
    build = load("build.json")
    if build:
        print(f"Clean build of the workspace: {build['seconds']:.0f} s "
              f"({build['command']}).")
    print()

    latency_table(flow, load("latency.json"))

    rows = load("init.json")
    print("### Where init goes (medians; a request answered before any network call)")
    print()
    if rows:
        print("| binary | adds | init ms | CPU ms | RSS MB |")
        print("|---|---|---:|---:|---:|")
        for r in rows:
            print(f"| {r['function']} | {r['layers']} | {fmt(r['init_ms'])} | "
                  f"{fmt(r['cpu_ms'])} | {fmt(r['rss_kb'] and r['rss_kb'] / 1024)} |")
    else:
        print("(not measured)")
    print()

    rows = load("scale.json")
    print("### 5. Scale: cost vs table size (moto; items read = DynamoDB ScannedCount)")
    print()
    if rows:
        print("| table items | function | status | calls | queries | items read | items returned | "
              "first answer ms | of which in moto |")
        print("|---:|---|---|---|---:|---:|---:|---:|---:|")
        for r in rows:
            calls = ", ".join(f"{n} {op}" for ops in r["calls"].values()
                              for op, n in sorted(ops.items()))
            print(f"| {r['table_items']:,} | {r['function']} | {r['status']} | {calls} | "
                  f"{r['queries']} | {r['items_read']} | {r['items_returned']} | "
                  f"{fmt(r['first_ms'])} | {fmt(r.get('emulator_ms'))} |")
    else:
        print("(not measured)")


# What the two best-known Stripe billing libraries send to Stripe for the same actions, counted
# from their source (laravel/cashier-stripe v15.3.1-1-g6c30457; pay-rails/pay v11.7.0).
ANCHORS = {
    "billing-checkout": (
        "2: `createOrGetStripeCustomer` (POST /v1/customers, or GET /v1/customers/:id once "
        "stored), POST /v1/checkout/sessions",
        "1–2: POST /v1/customers (only without a stored processor_id), "
        "POST /v1/checkout/sessions"),
    "subscription-preview": (
        "2: GET /v1/subscriptions/:id (items to swap), GET /v1/invoices/upcoming",
        "1: POST /v1/invoices/create_preview (items from the stored object)"),
    "subscription-upgrade": (
        "2: GET /v1/subscriptions/:id (items to swap), POST /v1/subscriptions/:id",
        "2: POST /v1/subscriptions/:id (item from the stored object), GET /v1/payment_intents/:id "
        "(the proration invoice's payment)"),
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
    print(f"Each Stripe call waits {delays['stripe_ms']:g} ms and each AWS call "
          f"{delays['aws_ms']:g} ms before it is forwarded; modelled latency = sequential Stripe "
          f"round trips × {delays['stripe_ms']:g} ms + sequential AWS round trips × "
          f"{delays['aws_ms']:g} ms + the process's measured CPU. Webhook types show their "
          f"slowest delivery.")
    print()
    print("| route or webhook | deliveries | Stripe calls | sequential Stripe | AWS calls | "
          "sequential AWS | CPU ms | modelled ms | Laravel Cashier | Pay (Rails) |")
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
        cpu = fmt(worst["cpu_ms"]) + ("" if worst.get("build", "release") == "release"
                                      else " (debug)")
        print(f"| {key} | {len(runs)} | {worst['stripe']} | {worst['seq_stripe']} | "
              f"{worst['aws_reads'] + worst['aws_writes']} | {worst['seq_aws']} | {cpu} | "
              f"{fmt(worst['modelled_ms'])} | {cashier} | {pay} |")
    print()


def fmt(value) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["flow", "peers", "init", "scale", "table"])
    parser.add_argument("--bin-dir", type=Path, default=ROOT / "target" / "release")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument("--fallback-bin-dir", type=Path, default=None,
                        help="flow: run functions missing from --bin-dir from here (calls only)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="10,10000,100000")
    parser.add_argument("--due", type=int, default=5)
    parser.add_argument("--stripe-delay-ms", type=float, default=0.0,
                        help="flow: latency model, added to every Stripe call")
    parser.add_argument("--aws-delay-ms", type=float, default=0.0,
                        help="flow: latency model, added to every AWS call")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "outbox").mkdir(exist_ok=True)
    if args.command == "flow":
        flow = Flow(args.bin_dir, args.out, args.fallback_bin_dir, args.stripe_delay_ms,
                    args.aws_delay_ms)
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
