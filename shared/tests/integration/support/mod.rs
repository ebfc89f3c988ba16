//! Shared set-up for integration tests against the local AWS emulator started by
//! `infra/test.sh` (which exports the endpoint and the names provisioned from template.yaml).
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

/// The emulator settings, or `None` (with a message) when the local stack is not running.
/// Under CI the stack is always started, so missing settings fail the test instead.
pub(crate) struct LocalAws {
    pub endpoint: String,
    pub table: String,
    pub sync_queue_url: String,
    pub sync_dlq_url: String,
    pub bus: String,
}

pub(crate) fn local_aws() -> Option<LocalAws> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (
        get("TIERFLOW_TEST_AWS_ENDPOINT"),
        get("TABLE_NAME"),
        get("SYNC_QUEUE_URL"),
        get("SYNC_DLQ_URL"),
        get("EVENT_BUS_NAME"),
    ) {
        (Some(endpoint), Some(table), Some(sync_queue_url), Some(sync_dlq_url), Some(bus)) => {
            Some(LocalAws {
                endpoint,
                table,
                sync_queue_url,
                sync_dlq_url,
                bus,
            })
        }
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run these tests against the local AWS emulator: run them through infra/test.sh"
            );
            eprintln!("skipping: the local AWS emulator is not configured (run infra/test.sh)");
            None
        }
    }
}

/// A name unique to this test process and call, so tests sharing one table never collide.
pub(crate) fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Calls the DynamoDB Streams API of the local emulator (JSON protocol; the emulator does not
/// check signatures).
async fn streams_call(
    http: &reqwest::Client,
    endpoint: &str,
    operation: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let response = http
        .post(endpoint)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", format!("DynamoDBStreams_20120810.{operation}"))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .expect("the emulator answers");
    let status = response.status();
    let json: serde_json::Value = response.json().await.expect("json");
    assert!(status.is_success(), "{operation}: {status} {json}");
    json
}

/// The records of the table's stream whose `PK` passes `keep`, as the Lambda event source
/// mapping would hand them to `outbox-relay` (the stream's record format plus the source ARN).
pub(crate) async fn stream_batch(
    aws: &LocalAws,
    keep: impl Fn(&str) -> bool,
) -> aws_lambda_events::event::dynamodb::Event {
    let cfg = tierflow::adapters::aws::sdk_config_for_endpoint(&aws.endpoint).await;
    let table = aws_sdk_dynamodb::Client::new(&cfg)
        .describe_table()
        .table_name(&aws.table)
        .send()
        .await
        .expect("describe table");
    let arn = table
        .table()
        .and_then(|t| t.latest_stream_arn())
        .expect("the table has a stream (template.yaml's StreamSpecification)")
        .to_owned();
    let http = tierflow::adapters::https::client_builder()
        .build()
        .expect("client");
    let stream = streams_call(
        &http,
        &aws.endpoint,
        "DescribeStream",
        serde_json::json!({"StreamArn": arn}),
    )
    .await;
    let mut records = Vec::new();
    for shard in stream["StreamDescription"]["Shards"]
        .as_array()
        .expect("shards")
    {
        let iterator = streams_call(
            &http,
            &aws.endpoint,
            "GetShardIterator",
            serde_json::json!({"StreamArn": arn, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}),
        )
        .await;
        let mut iterator = iterator["ShardIterator"].clone();
        loop {
            let page = streams_call(
                &http,
                &aws.endpoint,
                "GetRecords",
                serde_json::json!({"ShardIterator": iterator, "Limit": 1000}),
            )
            .await;
            let batch = page["Records"].as_array().cloned().unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            for mut record in batch {
                let pk = record["dynamodb"]["Keys"]["PK"]["S"]
                    .as_str()
                    .unwrap_or_default();
                if keep(pk) {
                    record["eventSourceARN"] = arn.clone().into();
                    records.push(record);
                }
            }
            iterator = page["NextShardIterator"].clone();
            if iterator.is_null() {
                break;
            }
        }
    }
    serde_json::from_value(serde_json::json!({ "Records": records })).expect("a stream event")
}

/// A tier by name: panics on a malformed name.
pub(crate) fn tier(name: &str) -> tierflow::domain::Tier {
    tierflow::domain::Tier::parse(name).expect("a well-formed tier name")
}
