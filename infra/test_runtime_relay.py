"""infra/runtime_relay.py against an upstream that behaves as `cargo lambda watch` does: it answers
a request from its head alone and reads the body later."""

import http.client
import http.server
import socket
import threading
import time
import unittest

import runtime_relay


class EarlyAnswering:
    """A raw HTTP/1.1 server: answers 200 once it has a request's head, then reads the body,
    and records each body and whether the connection was closed under it."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.bodies = []
        self.closed_early = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        reader = conn.makefile("rb")
        while True:
            head = []
            while (line := reader.readline()) not in (b"\r\n", b""):
                head.append(line.decode().strip())
            if not head:
                return
            length = next(
                int(h.split(":", 1)[1]) for h in head if h.lower().startswith("content-length")
            )
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            time.sleep(0.05)  # the emulator's caller-side task reads the body later
            body = reader.read(length)
            if len(body) < length:
                self.closed_early += 1
                return
            self.bodies.append(body)


class RuntimeRelayTest(unittest.TestCase):
    def setUp(self):
        self.upstream = EarlyAnswering()
        pool = runtime_relay.UpstreamPool(f"http://127.0.0.1:{self.upstream.port}")
        self.relay = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), runtime_relay.make_handler(pool)
        )
        self.relay.daemon_threads = True
        threading.Thread(target=self.relay.serve_forever, daemon=True).start()
        self.addCleanup(self.relay.server_close)
        self.addCleanup(self.relay.shutdown)

    def post_and_hang_up(self, body, headers, chunked=False):
        """As lambda_runtime does: the response, then its connection dropped at once."""
        conn = http.client.HTTPConnection("127.0.0.1", self.relay.server_address[1])
        path = "/.rt/f/2018-06-01/runtime/invocation/1/response"
        conn.request("POST", path, body, headers, encode_chunked=chunked)
        answer = conn.getresponse()
        self.assertEqual((answer.status, answer.read()), (200, b"ok"))
        conn.close()

    def wait_for_bodies(self, count):
        deadline = time.monotonic() + 5
        while len(self.upstream.bodies) < count and time.monotonic() < deadline:
            time.sleep(0.01)

    def test_a_body_answered_before_it_was_read_reaches_the_upstream_whole(self):
        bodies = [bytes([65 + i]) * 30_000 for i in range(3)]
        for body in bodies:
            self.post_and_hang_up(body, {"content-type": "application/json"})
        self.wait_for_bodies(3)
        self.assertEqual(self.upstream.bodies, bodies)
        self.assertEqual(self.upstream.closed_early, 0)

    def test_a_chunked_body_is_forwarded_with_its_length(self):
        def chunks():
            yield b"hello "
            yield b"world"

        self.post_and_hang_up(chunks(), {"transfer-encoding": "chunked"}, chunked=True)
        self.wait_for_bodies(1)
        self.assertEqual(self.upstream.bodies, [b"hello world"])


if __name__ == "__main__":
    unittest.main()
