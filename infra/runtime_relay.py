"""Relays the Lambda Runtime API between the functions and `cargo lambda watch`, whole requests
at a time, on connections it keeps open.

`cargo lambda watch` (1.9.2) answers a function's `POST .../invocation/{id}/response` as soon as
it has the request's head, and reads the body afterwards, in the task that answers the caller.
lambda_runtime's client takes that early answer as the end of the exchange and drops its
connection, and whatever the emulator had not read by then is lost: the caller gets the
emulator's own 500 (`https://httpstatuses.com/500`). Measured with two calls at a time on the
billing page's `app.js` (30 KB, more than the emulator's first read): 4 in 2,000 without this
relay, none in 6,000 with it. The relay reads each request from the function completely, sends
it on a kept connection and never closes one after an answer, so the emulator always reads the
whole body. It changes nothing else: in AWS the functions talk to Lambda's own Runtime API.

The functions find it through `infra/lambda-runner.sh` (cargo's target runner, which rewrites
AWS_LAMBDA_RUNTIME_API); `serve_functions` in infra/lib.sh starts both. Usage:
  python3 infra/runtime_relay.py --port N --upstream http://127.0.0.1:API_PORT
"""

import argparse
import http.client
import http.server
import queue
import socket
import sys
import urllib.parse

# Headers that belong to one connection, not to the request or the answer.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "host",
}


def read_body(rfile, headers):
    """The whole request body: by Content-Length, or every chunk of a chunked one."""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int(rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(body)
            body += rfile.read(size)
            rfile.readline()
    length = int(headers.get("content-length") or 0)
    return rfile.read(length) if length else b""


class NoDelayConnection(http.client.HTTPConnection):
    """An upstream connection that sends each write at once: with Nagle's algorithm a request
    written in two parts waits for the peer's delayed ACK (40 ms) before its second part."""

    def connect(self):
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class UpstreamPool:
    """Kept connections to the emulator. One is never closed after an answer: the emulator may
    still be reading the body it answered early, and a close would cut it off."""

    def __init__(self, upstream):
        target = urllib.parse.urlsplit(upstream)
        self.host, self.port = target.hostname, target.port
        self.idle = queue.LifoQueue()

    def take(self):
        try:
            return self.idle.get_nowait(), True
        except queue.Empty:
            return NoDelayConnection(self.host, self.port), False

    def give_back(self, conn):
        self.idle.put(conn)

    def exchange(self, method, path, headers, body):
        """(status, reason, headers, payload) of one request, on a kept connection if there is one."""
        conn, reused = self.take()
        while True:
            try:
                conn.request(method, path, body=body, headers=headers)
                answer = conn.getresponse()
                break
            except (ConnectionError, http.client.RemoteDisconnected):
                conn.close()
                if not reused:
                    raise
                # The emulator closed that kept connection while it was idle: a new one.
                conn, reused = NoDelayConnection(self.host, self.port), False
        payload = answer.read()
        self.give_back(conn)
        return answer.status, answer.reason, answer.getheaders(), payload


def make_handler(pool):
    class Relay(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, fmt, *args):
            pass  # one line per runtime call would drown the watch log

        def _relay(self):
            body = read_body(self.rfile, self.headers)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            try:
                status, reason, answer_headers, payload = pool.exchange(
                    self.command, self.path, headers, body
                )
            except OSError as e:
                print(
                    f"runtime relay: {self.command} {self.path}: {e}", file=sys.stderr, flush=True
                )
                self.send_error(502, "cargo lambda watch is not answering")
                return
            # The head and the body in one write, so neither waits on a delayed ACK.
            head = [f"HTTP/1.1 {status} {reason}"]
            head += [
                f"{name}: {value}"
                for name, value in answer_headers
                if name.lower() not in HOP_BY_HOP
            ]
            head.append(f"Content-Length: {len(payload)}")
            self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)

        do_GET = do_POST = do_PUT = _relay

    return Relay


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="cargo lambda watch, http://host:port")
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", args.port), make_handler(UpstreamPool(args.upstream))
    )
    server.daemon_threads = True
    print(f"runtime relay: 127.0.0.1:{args.port} -> {args.upstream}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
