"""The local AWS emulator's TransactWriteItems (infra/aws_emulator.py) against DynamoDB's rules:
all or nothing, conditions read the state before the transaction, no stream record for a write
that was rolled back, and no copy of the table."""

import sys
import unittest
from pathlib import Path
from unittest import mock

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table

sys.path.insert(0, str(Path(__file__).parent))
import aws_emulator  # noqa: F401  (installs the transaction)

REGION = "us-east-1"
ACCOUNT = "123456789012"


def key(pk, sk):
    return {"PK": {"S": pk}, "SK": {"S": sk}}


def put(pk, sk, **extra):
    return {"Put": {"TableName": "t", "Item": {**key(pk, sk), **extra}}}


class TransactWriteItems(unittest.TestCase):
    def setUp(self):
        self.aws = mock_aws()
        self.aws.start()
        self.client = boto3.client("dynamodb", region_name=REGION)
        self.client.create_table(
            TableName="t",
            KeySchema=[
                {"AttributeName": "PK", "KeyType": "HASH"},
                {"AttributeName": "SK", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "PK", "AttributeType": "S"},
                {"AttributeName": "SK", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        self.client.put_item(
            TableName="t",
            Item={**key("u1", "PROFILE"), "version": {"N": "1"}, "name": {"S": "ada"}},
        )
        self.addCleanup(self.aws.stop)

    def stream_records(self):
        return len(dynamodb_backends[ACCOUNT][REGION].tables["t"].stream_shard.items)

    def item(self, pk, sk):
        return self.client.get_item(TableName="t", Key=key(pk, sk)).get("Item")

    def bump_version(self, expected, update="SET version = :next"):
        return {
            "Update": {
                "TableName": "t",
                "Key": key("u1", "PROFILE"),
                "UpdateExpression": update,
                "ConditionExpression": "version = :expected",
                "ExpressionAttributeValues": {
                    ":expected": {"N": str(expected)},
                    ":next": {"N": str(expected + 1)},
                },
            }
        }

    def test_a_transaction_whose_conditions_hold_writes_every_item(self):
        before = self.stream_records()
        self.client.transact_write_items(
            TransactItems=[put("u1", "PAYMENT#1"), self.bump_version(1)]
        )
        self.assertIsNotNone(self.item("u1", "PAYMENT#1"))
        self.assertEqual(self.item("u1", "PROFILE")["version"], {"N": "2"})
        self.assertEqual(self.stream_records(), before + 2)

    def test_a_failed_condition_writes_nothing_and_names_the_operation(self):
        before = self.stream_records()
        with self.assertRaises(ClientError) as raised:
            self.client.transact_write_items(
                TransactItems=[put("u1", "PAYMENT#1"), self.bump_version(7)]
            )
        error = raised.exception.response
        self.assertEqual(error["Error"]["Code"], "TransactionCanceledException")
        codes = [r.get("Code") for r in error["CancellationReasons"]]
        self.assertEqual(codes, ["None", "ConditionalCheckFailed"])
        self.assertIsNone(self.item("u1", "PAYMENT#1"))
        self.assertEqual(self.stream_records(), before)

    def test_a_condition_check_gates_the_writes_without_writing_itself(self):
        check = {
            "ConditionCheck": {
                "TableName": "t",
                "Key": key("u1", "PROFILE"),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }
        with self.assertRaises(ClientError):
            self.client.transact_write_items(TransactItems=[put("u1", "PAYMENT#1"), check])
        self.assertIsNone(self.item("u1", "PAYMENT#1"))

    def test_a_write_refused_while_applying_undoes_the_writes_before_it(self):
        before = self.stream_records()
        refused = self.bump_version(
            1, update="SET version = name + :next"
        )  # a string plus a number
        with self.assertRaises(ClientError):
            self.client.transact_write_items(TransactItems=[put("u1", "PAYMENT#1"), refused])
        self.assertIsNone(self.item("u1", "PAYMENT#1"))
        self.assertEqual(self.item("u1", "PROFILE")["version"], {"N": "1"})
        self.assertEqual(self.stream_records(), before)

    def test_two_operations_on_one_item_are_refused(self):
        with self.assertRaises(ClientError) as raised:
            self.client.transact_write_items(TransactItems=[put("u1", "X"), put("u1", "X")])
        self.assertEqual(raised.exception.response["Error"]["Code"], "ValidationException")
        self.assertIsNone(self.item("u1", "X"))

    def test_no_table_is_copied(self):
        with mock.patch.object(
            Table, "__deepcopy__", side_effect=AssertionError("table copied"), create=True
        ):
            self.client.transact_write_items(
                TransactItems=[put("u1", "PAYMENT#1"), self.bump_version(1)]
            )


if __name__ == "__main__":
    unittest.main()
