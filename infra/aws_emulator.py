#!/usr/bin/env python3
"""The local AWS emulator: moto's server app, with DynamoDB requests serialized and
transactions that cost what they write.

moto serves requests on threads, and its TransactWriteItems deep-copies tables for rollback
while other threads write to them ("dictionary changed size during iteration", a 500). Real
DynamoDB applies each request atomically; serializing DynamoDB requests here gives the same
guarantee without slowing SQS long polls or EventBridge, which stay concurrent.

moto also deep-copies every table a transaction names, each time, so a transaction's cost grew
with every item ever written, and the copies' garbage paused the server for tens of seconds late
in long runs. `transact_write_items` below checks every condition first and keeps a copy of only
the items it writes, which is all a rollback needs.

usage: aws_emulator.py -H 127.0.0.1 -p 5050
"""

import argparse
import copy
import json
import threading

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

WRITE_OPS = {"Put", "Delete", "Update"}


def transact_write_items(self, transact_items):
    """TransactWriteItems as DynamoDB applies it: every condition is checked against the state
    before the transaction (no two operations may name one item, so their order cannot matter),
    and only if all hold is anything written. A write refused while applying (an update
    expression that does not fit the item) undoes the writes before it, and their stream records."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    planned, reasons, named = [], [], set()
    for entry in transact_items:
        if len(entry) != 1:
            raise TransactWriteSingleOpException()
        kind, op = next(iter(entry.items()))
        try:
            if kind not in WRITE_OPS | {"ConditionCheck"}:
                raise ValueError(f"unsupported transaction operation {kind}")
            table = self.get_table(op["TableName"])
            key = op["Key"] if kind != "Put" else item_key(table, op["Item"])
            identity = (table.name, json.dumps(key, sort_keys=True))
            if identity in named:
                raise MultipleTransactionsException()
            named.add(identity)
            current = self.get_item(table.name, key)
            condition = op.get("ConditionExpression")
            if condition is not None:
                holds = get_filter_expression(
                    condition,
                    op.get("ExpressionAttributeNames"),
                    op.get("ExpressionAttributeValues"),
                ).expr(current)
                if not holds:
                    wants_old = op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
                    old = current.to_json()["Attributes"] if wants_old and current else None
                    reasons.append(
                        ("ConditionalCheckFailed", "The conditional request failed", old)
                    )
                    continue
            planned.append((len(reasons), kind, op, table, key, current))
            reasons.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            raise
        except Exception as error:  # noqa: BLE001 (DynamoDB reports each operation's own reason)
            reasons.append((type(error).__name__, str(error), None))
    if any(code is not None for code, _, _ in reasons):
        raise TransactionCanceledException(reasons)

    stream_lengths = {
        table.name: len(table.stream_shard.items)
        for _, _, _, table, _, _ in planned
        if table.stream_shard is not None
    }
    written = []
    try:
        for index, kind, op, table, key, current in planned:
            if kind == "ConditionCheck":
                continue
            # Updates change moto's item in place: keep a copy of the item as it was.
            written.append((table, key, copy.deepcopy(current)))
            if kind == "Put":
                self.put_item(table.name, op["Item"])
            elif kind == "Delete":
                self.delete_item(table.name, key)
            else:
                self.update_item(
                    table.name,
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=op.get("ExpressionAttributeNames"),
                    expression_attribute_values=op.get("ExpressionAttributeValues"),
                )
    except Exception as error:
        for table, key, before in reversed(written):
            restore_item(self, table, key, before)
        for table_name, length in stream_lengths.items():
            del self.tables[table_name].stream_shard.items[length:]
        if isinstance(error, MockValidationException):
            raise
        reasons[index] = (type(error).__name__, str(error), None)
        raise TransactionCanceledException(reasons) from error


def item_key(table, item):
    """The key attributes of an item about to be put."""
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    return {name: item[name] for name in names}


def restore_item(backend, table, key, before):
    """Puts `before` back under `key` (or removes what is there when it was absent), without a
    stream record: the rollback of a write that never happened."""
    hash_key, range_key = backend.get_keys_value(table, key)
    if range_key is not None:
        if before is None:
            table.items[hash_key].pop(range_key, None)
        else:
            table.items[hash_key][range_key] = before
    elif before is None:
        table.items.pop(hash_key, None)
    else:
        table.items[hash_key] = before


DynamoDBBackend.transact_write_items = transact_write_items


class SerializedDynamoDB:
    """WSGI middleware: one DynamoDB request at a time, everything else as it comes."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            result = self.app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close:
                    close()
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
