"""The HTTP side: Lago's routes, each to one method of the organization, and the control
endpoints for tests."""

import json
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler

from lago_api import PLAN_FIELDS, Failure, require_root

ROUTES = [
    # (method, path or prefix ending in /, its ApiKey::RESOURCES name in app/models/api_key.rb)
    ("POST", "/api/v1/customers", "customer"),
    ("GET", "/api/v1/customers/", "customer"),
    ("POST", "/api/v1/billable_metrics", "billable_metric"),
    ("POST", "/api/v1/plans", "plan"),
    ("GET", "/api/v1/plans/", "plan"),
    ("POST", "/api/v1/subscriptions", "subscription"),
    ("GET", "/api/v1/subscriptions", "subscription"),
    ("GET", "/api/v1/subscriptions/", "subscription"),
    ("DELETE", "/api/v1/subscriptions/", "subscription"),
    ("POST", "/api/v1/events", "event"),
    ("GET", "/api/v1/invoices", "invoice"),
    ("GET", "/api/v1/webhooks/json_public_key", "webhook_jwt_public_key"),
]


def make_handler(lago):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            sys.stderr.write("lago-emulator: %s\n" % (fmt % args))

        def answer(self, status, body):
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def body(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not raw:
                return {}
            try:
                return json.loads(raw)
            except ValueError as e:
                raise Failure.bad_request(f"the body is not JSON: {e}")

        def handle_any(self, method):
            url = urllib.parse.urlsplit(self.path)
            path, query = url.path, urllib.parse.parse_qs(url.query)
            try:
                body = self.body()
                if path.startswith("/_emulator/"):
                    return self.answer(200, self.control(method, path, query, body))
                route = next(
                    (
                        r
                        for r in ROUTES
                        if r[0] == method
                        and (
                            path == r[1]
                            or r[1].endswith("/")
                            and path.startswith(r[1])
                            and len(path) > len(r[1])
                        )
                    ),
                    None,
                )
                if route is None:
                    return self.answer(404, {"status": 404, "error": "Not Found"})
                with lago.lock:
                    lago.calls.append(
                        {
                            "method": method,
                            "path": path,
                            "authorized": bool(self.headers.get("Authorization")),
                        }
                    )
                    lago.authorize(
                        self.headers.get("Authorization"),
                        route[2],
                        "read" if method == "GET" else "write",
                    )
                    injected = lago.take_fault(method, path)
                    if injected:
                        return self.answer(
                            injected, {"status": injected, "error": "Injected failure"}
                        )
                    result = self.dispatch(method, path, query, body)
                return self.answer(200, result)
            except Failure as f:
                return self.answer(f.status, f.body)

        def dispatch(self, method, path, query, body):
            tail = urllib.parse.unquote(path.rsplit("/", 1)[-1])
            status = (query.get("status") or [None])[0]
            if path == "/api/v1/customers":
                return lago.upsert_customer(body)
            if path.startswith("/api/v1/customers/"):
                return lago.get_customer(tail)
            if path == "/api/v1/billable_metrics":
                return lago.create_metric(body)
            if path == "/api/v1/plans":
                return lago.create_plan(require_root(body, "plan", PLAN_FIELDS))
            if path.startswith("/api/v1/plans/"):
                if tail not in lago.plans:
                    raise Failure.not_found("plan")
                return {"plan": lago.serialize_plan(lago.plans[tail])}
            if path == "/api/v1/subscriptions" and method == "POST":
                return lago.create_subscription(body)
            if path == "/api/v1/subscriptions":
                return lago.list_subscriptions(query)
            if path.startswith("/api/v1/subscriptions/") and method == "GET":
                return lago.get_subscription(tail, status)
            if path.startswith("/api/v1/subscriptions/"):
                return lago.terminate_subscription(tail, status)
            if path == "/api/v1/events":
                return lago.create_event(body)
            if path == "/api/v1/invoices":
                return lago.list_invoices(query)
            return lago.public_key()

        def control(self, method, path, query, body):
            with lago.lock:
                if path == "/_emulator/webhooks":
                    return lago.webhooks(bool(query.get("wait_idle")))
                if path == "/_emulator/calls":
                    return {"calls": list(lago.calls)}
                if path == "/_emulator/faults" and method == "POST":
                    lago.faults.append(
                        {
                            "method": body["method"],
                            "path": body["path"],
                            "status": int(body["status"]),
                            "count": int(body.get("count", 1)),
                        }
                    )
                    return {"faults": lago.faults}
            raise Failure(404, {"status": 404, "error": "Not Found"})

        def do_GET(self):
            self.handle_any("GET")

        def do_POST(self):
            self.handle_any("POST")

        def do_PUT(self):
            self.handle_any("PUT")

        def do_DELETE(self):
            self.handle_any("DELETE")

    return Handler
