"""A recording HTTP proxy for Stripe traffic: forwards every request to one upstream unchanged and
appends the exchange to a JSON-lines file, for infra/stripe_conformance.py to check.

infra/test.sh runs two: one between everything that calls Stripe (functions, catalog-sync, tests)
and the Stripe emulator (`--kind api`), and one between the emulator's webhook deliveries and
the `stripe-webhook` function (`--kind webhook`). The Authorization header is never recorded.

Usage: python3 infra/stripe_recorder.py --port P --upstream http://127.0.0.1:N --kind api --out F
"""

import argparse
import http.client
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Headers the conformance check reads; nothing else of the request is kept.
RECORDED_HEADERS = ("stripe-version", "idempotency-key", "user-agent", "content-type")
# Answered by the proxy itself (infra/lib.sh waits on it), neither forwarded nor recorded.
HEALTH_PATH = "/_recorder/health"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def make_handler(upstream, kind, out, lock):
    target = urllib.parse.urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def forward(self):
            if self.path == HEALTH_PATH:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                answer = response.read()
                status, answer_headers = response.status, response.getheaders()
            except OSError as e:
                status, answer, answer_headers = (
                    502,
                    json.dumps({"error": {"message": str(e)}}).encode(),
                    [],
                )
            finally:
                conn.close()
            # Stripe's own headers only: its `Date` is Stripe's clock, which the client reads
            # (send_response would put this proxy's real-time Date and Server first).
            self.log_request(status)
            self.send_response_only(status)
            for name, value in answer_headers:
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            path, _, query = self.path.partition("?")
            record = {
                "kind": kind,
                "method": self.command,
                "path": path,
                "query": query,
                "headers": {
                    k.lower(): v for k, v in self.headers.items() if k.lower() in RECORDED_HEADERS
                },
                "body": body.decode("utf-8", "replace"),
                "status": status,
                "response": answer.decode("utf-8", "replace"),
            }
            with lock:
                out.write(json.dumps(record) + "\n")
                out.flush()

        do_GET = do_POST = do_DELETE = forward

        def log_message(self, *args):
            pass

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--kind", choices=["api", "webhook"], required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.out, "a") as out:
        handler = make_handler(args.upstream.rstrip("/"), args.kind, out, threading.Lock())
        server = ThreadingHTTPServer(("127.0.0.1", args.port), handler)
        server.daemon_threads = True
        server.serve_forever()


if __name__ == "__main__":
    main()
