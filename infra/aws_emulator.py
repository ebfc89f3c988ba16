#!/usr/bin/env python3
"""The local AWS emulator: moto's server app, with DynamoDB requests serialized and table
streams copied cheaply.

moto serves requests on threads, and its TransactWriteItems deep-copies tables for rollback
while other threads write to them ("dictionary changed size during iteration", a 500). Real
DynamoDB applies each request atomically; serializing DynamoDB requests here gives the same
guarantee without slowing SQS long polls or EventBridge, which stay concurrent.

usage: aws_emulator.py -H 127.0.0.1 -p 5050
"""

import argparse
import copy
import gc
import threading

from moto.dynamodb.models.table import StreamShard
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def _copy_stream_shard(shard, memo):
    """moto deep-copies a table before each transaction (to roll back on failure), and with it
    every record of the table's stream, so each transaction got slower with every write ever
    made. Stream records are never changed once written: the copy shares them and copies only
    the list, which is all a rollback needs to forget the failed transaction's records."""
    clone = StreamShard.__new__(StreamShard)
    memo[id(shard)] = clone
    clone.__dict__.update(shard.__dict__)
    clone.table = copy.deepcopy(shard.table, memo)
    clone.items = list(shard.items)
    return clone


StreamShard.__deepcopy__ = _copy_stream_shard


class SerializedDynamoDB:
    """WSGI middleware: one DynamoDB request at a time, everything else as it comes."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            # A transaction's rollback copy of the tables is garbage with reference cycles once
            # the request is done. Collected during the request, its objects would be promoted
            # to the oldest generation and freed only by full collections, which then pause the
            # whole server for tens of seconds once the table is large (seen late in CI runs).
            # With the collector off during the request, one young collection afterwards frees
            # the copy at the cost of the copy.
            gc.disable()
            try:
                result = self.app(environ, start_response)
                try:
                    body = b"".join(result)
                finally:
                    close = getattr(result, "close", None)
                    if close:
                        close()
            finally:
                gc.enable()
                gc.collect(0)
            return [body]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5050)
    args = parser.parse_args()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, SerializedDynamoDB(app), threaded=True)


if __name__ == "__main__":
    main()
