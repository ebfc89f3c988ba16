"""The Python peer for the cold-start comparison: what a Python Stripe webhook Lambda does, run
under the same Lambda Runtime API stand-in as Tierflow's binaries. Init imports stripe and boto3
and builds a DynamoDB client; each invocation verifies the Stripe signature with
`stripe.Webhook.construct_event` and records the event id once (a conditional PutItem), as the
Tierflow webhook's idempotency record does. The runtime loop is the Runtime API's, by hand."""

import http.client
import json
import os

import boto3
import stripe

TABLE = os.environ["TABLE_NAME"]
SECRET = os.environ["STRIPE_WEBHOOK_SECRETS"].split(",")[0]
DYNAMODB = boto3.client("dynamodb")


def handle(event: dict) -> dict:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    try:
        stripe_event = stripe.Webhook.construct_event(
            event.get("body") or "", headers.get("stripe-signature", ""), SECRET
        )
    except (ValueError, stripe.SignatureVerificationError):
        return {"statusCode": 400, "body": "invalid signature"}
    try:
        DYNAMODB.put_item(
            TableName=TABLE,
            Item={
                "PK": {"S": f"PEER#{stripe_event['id']}"},
                "SK": {"S": "EVENT"},
                "type": {"S": stripe_event["type"]},
            },
            ConditionExpression="attribute_not_exists(PK)",
        )
    except DYNAMODB.exceptions.ConditionalCheckFailedException:
        pass
    return {"statusCode": 200, "body": json.dumps({"received": True})}


def main() -> None:
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    conn = http.client.HTTPConnection(host, int(port))
    while True:
        conn.request("GET", "/2018-06-01/runtime/invocation/next")
        response = conn.getresponse()
        request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
        event = json.loads(response.read())
        result = json.dumps(handle(event))
        conn.request(
            "POST",
            f"/2018-06-01/runtime/invocation/{request_id}/response",
            body=result,
            headers={"Content-Type": "application/json"},
        )
        conn.getresponse().read()


if __name__ == "__main__":
    main()
