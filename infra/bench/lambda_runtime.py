"""A minimal Lambda Runtime API stand-in, and the cold and warm runs of a binary against it.

`GET /2018-06-01/runtime/invocation/next` and `POST .../{id}/response|error` (and
`.../init/error`) feed one invocation to a freshly started process: from that come the time to
init (process start to the first `next`), the time to the first handled invocation, the CPU time
and the peak RSS.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from fixtures import ROOT


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
        self.follow_up: Invocation | None = None


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
        self._reply(
            200,
            inv.payload,
            {
                "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 30_000),
                "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:bench",
                "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
            },
        )

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


def run_cold(
    runtime: RuntimeApi,
    argv: list[str],
    env: dict,
    payload: dict | bytes,
    log: Path,
    timeout: float = 60.0,
) -> dict:
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


def run_warm(
    runtime: RuntimeApi,
    argv: list[str],
    env: dict,
    payloads: list[dict],
    log: Path,
    between,
    timeout: float = 60.0,
) -> list[dict]:
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
            results.append(
                {
                    "first_ms": ms(inv.t_done - t0) if inv.t_done else None,
                    "cpu_ms": round(cpu - cpu_before, 1) if cpu is not None else None,
                    "status": answer_status(inv),
                    "body": answer_body(inv),
                }
            )
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
    env = {
        k: str(v)
        for k, v in cargo.get("workspace", {})
        .get("metadata", {})
        .get("lambda", {})
        .get("env", {})
        .items()
    }
    env.update(
        {
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
        }
    )
    return env
