#!/usr/bin/env python3
"""Creates the table (with its stream), queues and bus on the local AWS emulator exactly as
template.yaml declares them (template.yaml is the one source of truth), and prints the resulting settings as
KEY=value lines for an env file.

usage: provision.py --endpoint http://127.0.0.1:5050 --stack tierflow-local
"""

import argparse
import json
import sys

import boto3

from cfn_template import load_template


def resolve(value, stack):
    """Resolves the few intrinsic forms the template uses for names."""
    if isinstance(value, dict) and "Sub" in value:
        return value["Sub"].replace("${AWS::StackName}", stack)
    if isinstance(value, dict) and "Fn::Sub" in value:
        return value["Fn::Sub"].replace("${AWS::StackName}", stack)
    return value


def resources_of(template, kind):
    return {
        name: res.get("Properties", {})
        for name, res in template["Resources"].items()
        if res["Type"] == kind
    }


def create_table(ddb, props, stack):
    name = resolve(props["TableName"], stack)
    existing = ddb.list_tables()["TableNames"]
    if name not in existing:
        args = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props["BillingMode"],
        }
        if props.get("GlobalSecondaryIndexes"):
            args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        stream = props.get("StreamSpecification")
        if stream:
            args["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        ddb.create_table(**args)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
    return name


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--stack", default="tierflow-local")
    parser.add_argument("--template", default="template.yaml")
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()

    template = load_template(args.template)

    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=args.region
    )
    ddb = session.client("dynamodb", endpoint_url=args.endpoint)
    sqs = session.client("sqs", endpoint_url=args.endpoint)
    events = session.client("events", endpoint_url=args.endpoint)
    out = {}

    tables = resources_of(template, "AWS::DynamoDB::Table")
    for logical, props in tables.items():
        out["TABLE_NAME"] = create_table(ddb, props, args.stack)

    queues = resources_of(template, "AWS::SQS::Queue")
    urls, arns = {}, {}
    # Queues without a redrive policy first: the redrive target must exist.
    for logical, props in sorted(queues.items(), key=lambda kv: "RedrivePolicy" in kv[1]):
        attributes = {}
        for key in ("VisibilityTimeout", "MessageRetentionPeriod"):
            if key in props:
                attributes[key] = str(props[key])
        if "RedrivePolicy" in props:
            policy = dict(props["RedrivePolicy"])
            target = policy["deadLetterTargetArn"]
            target_logical = target["GetAtt"].split(".")[0] if isinstance(target, dict) else target
            policy["deadLetterTargetArn"] = arns[target_logical]
            attributes["RedrivePolicy"] = json.dumps(policy)
        name = resolve(props["QueueName"], args.stack)
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        urls[logical] = url
        arns[logical] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
    out["SYNC_QUEUE_URL"] = urls["SyncQueue"]
    out["SYNC_DLQ_URL"] = urls["SyncDeadLetterQueue"]

    for logical, props in resources_of(template, "AWS::Events::EventBus").items():
        name = resolve(props["Name"], args.stack)
        existing = [b["Name"] for b in events.list_event_buses()["EventBuses"]]
        if name not in existing:
            events.create_event_bus(Name=name)
        out["EVENT_BUS_NAME"] = name

    for key, value in out.items():
        print(f"{key}={value}")


if __name__ == "__main__":
    sys.exit(main())
