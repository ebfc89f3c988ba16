//! Publishing the outbox of committed changes.
//!
//! A webhook event or an API change writes its new state, its audit items and its outbox
//! (sync jobs, domain events) in one DynamoDB transaction, in a new event record. The table's
//! stream hands every new record to `outbox-relay`, which publishes the outbox here: sync jobs
//! to the SQS sync queue, domain events to the EventBridge bus. The request that made the
//! change writes once and publishes nothing, and a crash between "state written" and
//! "effects published" cannot happen: the stream keeps the record until it is relayed.
//!
//! Delivery is at least once (a stream batch can be retried): sync jobs are level-triggered
//! and domain events carry the event id for consumers to deduplicate.

use crate::adapters::dynamodb::event_record_from_image;
use crate::ports::{BillingStore, EventBus, Outbox, SyncQueue};
use aws_lambda_events::event::dynamodb::{Event, EventRecord as StreamRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use tracing::{error, info};

/// A failed publish: the stream retries the record.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RelayError(pub String);

/// Publishes one outbox: sync jobs to the queue, then domain events to the bus.
pub async fn publish(
    queue: &dyn SyncQueue,
    bus: &dyn EventBus,
    outbox: &Outbox,
) -> Result<(), RelayError> {
    if !outbox.jobs.is_empty() {
        queue
            .enqueue(&outbox.jobs)
            .await
            .map_err(|e| RelayError(format!("enqueue sync jobs: {e}")))?;
    }
    if !outbox.events.is_empty() {
        bus.publish(&outbox.events)
            .await
            .map_err(|e| RelayError(format!("publish domain events: {e}")))?;
    }
    Ok(())
}

/// What [`republish`] found for one event id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Republished {
    /// Its outbox was published again: this many sync jobs and domain events.
    Published {
        /// Sync jobs sent to the queue.
        jobs: usize,
        /// Domain events put on the bus.
        events: usize,
    },
    /// The event is recorded with nothing to publish.
    NothingToPublish,
    /// No record of that event (never processed, or expired).
    Unknown,
}

/// Publishes the outbox of a recorded event again: for records the relay gave up on (the
/// relay's failure queue and its `outbox_relay_failed` logs name them). Consumers see a
/// duplicate at worst, which they already tolerate.
pub async fn republish(
    store: &dyn BillingStore,
    queue: &dyn SyncQueue,
    bus: &dyn EventBus,
    event_id: &str,
) -> Result<Republished, RelayError> {
    let Some(record) = store
        .event_record(event_id)
        .await
        .map_err(|e| RelayError(e.to_string()))?
    else {
        return Ok(Republished::Unknown);
    };
    if record.outbox.is_empty() {
        return Ok(Republished::NothingToPublish);
    }
    publish(queue, bus, &record.outbox).await?;
    Ok(Republished::Published {
        jobs: record.outbox.jobs.len(),
        events: record.outbox.events.len(),
    })
}

/// Relays one batch of the table's stream, in order. At the first record that cannot be
/// published it stops and reports that record: Lambda retries the batch from it (the records
/// before it are done), and after the retries the batch goes to the relay's failure queue
/// while the record itself stays in the table for `republish-outbox` to publish again.
pub async fn relay_stream(
    event: Event,
    queue: &dyn SyncQueue,
    bus: &dyn EventBus,
) -> DynamoDbEventResponse {
    let mut response = DynamoDbEventResponse::default();
    for record in event.records {
        let sequence = record.change.sequence_number.clone();
        let key = record.change.keys.get("PK").and_then(|pk| match pk {
            serde_dynamo::AttributeValue::S(pk) => Some(pk.clone()),
            _ => None,
        });
        if let Err(e) = relay_record(record, queue, bus).await {
            // The event id (in the key) is what `republish-outbox` takes.
            error!(
                metric = "outbox_relay_failed",
                sequence = sequence.as_deref().unwrap_or("-"),
                record = key.as_deref().unwrap_or("-"),
                error = %e,
                "outbox not published; the stream retries it"
            );
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = sequence;
            response.batch_item_failures.push(failure);
            break;
        }
    }
    response
}

async fn relay_record(
    record: StreamRecord,
    queue: &dyn SyncQueue,
    bus: &dyn EventBus,
) -> Result<(), RelayError> {
    // A new event record, or a failed one a replay replaced (its only modification).
    if !matches!(record.event_name.as_str(), "INSERT" | "MODIFY") {
        return Ok(());
    }
    let image = record.change.new_image.into();
    let Some(event_record) =
        event_record_from_image(image).map_err(|e| RelayError(e.to_string()))?
    else {
        return Ok(());
    };
    if event_record.outbox.is_empty() {
        return Ok(());
    }
    publish(queue, bus, &event_record.outbox).await?;
    info!(
        event_id = %event_record.event_id,
        jobs = event_record.outbox.jobs.len(),
        events = event_record.outbox.events.len(),
        "outbox published"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::dynamodb::DynamoStore;
    use crate::adapters::memory::{MemoryBus, MemoryQueue};
    use crate::domain::UserId;
    use crate::ports::{DomainEvent, EventRecord, EventStatus, SyncJob};
    use serde_json::{json, Value};

    fn user() -> UserId {
        UserId::parse("user-1").expect("user id")
    }

    fn record(event_id: &str, outbox: Outbox) -> EventRecord {
        EventRecord {
            event_id: event_id.into(),
            event_type: "invoice.paid".into(),
            status: EventStatus::Completed,
            created: 1_700_000_000,
            payload_hash: "hash".into(),
            attempts: 1,
            detail: Some("starter → professional".into()),
            outbox,
            updated_at: 1_700_000_000,
            expires_at: 1_700_000_000 + 86_400,
        }
    }

    fn outbox(cause: &str) -> Outbox {
        Outbox {
            jobs: vec![SyncJob::state(user(), cause)],
            events: vec![DomainEvent {
                id: format!("{cause}:tier"),
                detail_type: "tier.changed".into(),
                user_id: user(),
                detail: json!({"from": "starter", "to": "professional"}),
            }],
        }
    }

    /// One stream record in Lambda's format, its new image written by the DynamoDB adapter.
    fn stream_record(name: &str, sequence: &str, image: Value) -> Value {
        json!({
            "eventID": format!("id-{sequence}"),
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1_700_000_000.0,
                "Keys": {"PK": image["PK"].clone(), "SK": image["SK"].clone()},
                "NewImage": image,
                "SequenceNumber": sequence,
                "SizeBytes": 100,
                "StreamViewType": "NEW_IMAGE"
            },
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/tierflow/stream/2026-01-01T00:00:00.000"
        })
    }

    fn image_of(record: &EventRecord) -> Value {
        let item = DynamoStore::event_item(record).expect("item");
        serde_json::to_value(serde_dynamo::Item::from(item)).expect("image json")
    }

    fn batch(records: Vec<Value>) -> Event {
        serde_json::from_value(json!({ "Records": records })).expect("stream event")
    }

    #[tokio::test]
    async fn new_event_records_publish_their_outbox_and_everything_else_is_skipped() {
        let (queue, bus) = (MemoryQueue::new(), MemoryBus::new());
        let applied = record("evt_applied", outbox("evt_applied"));
        let ignored = record("evt_ignored", Outbox::default());
        let profile_image =
            json!({"PK": {"S": "USER#user-1"}, "SK": {"S": "PROFILE"}, "version": {"N": "3"}});
        // A failed record that a replay replaced with an applied one is a MODIFY.
        let replayed = record("evt_replayed", outbox("evt_replayed"));
        let event = batch(vec![
            stream_record("INSERT", "100", image_of(&applied)),
            stream_record("INSERT", "101", image_of(&ignored)),
            stream_record("MODIFY", "102", profile_image.clone()),
            stream_record("INSERT", "103", profile_image),
            stream_record("MODIFY", "104", image_of(&replayed)),
            stream_record("REMOVE", "105", image_of(&applied)),
        ]);

        let response = relay_stream(event, &queue, &bus).await;

        assert!(response.batch_item_failures.is_empty());
        let jobs = [applied.outbox.jobs.clone(), replayed.outbox.jobs.clone()].concat();
        assert_eq!(queue.jobs(), jobs);
        let events = [applied.outbox.events.clone(), replayed.outbox.events].concat();
        assert_eq!(bus.events(), events);
    }

    #[tokio::test]
    async fn a_failed_publish_reports_that_record_and_leaves_the_rest_for_the_retry() {
        let (queue, bus) = (MemoryQueue::new(), MemoryBus::new());
        let first = record("evt_1", outbox("evt_1"));
        let second = record("evt_2", outbox("evt_2"));
        let third = record("evt_3", outbox("evt_3"));
        let records = [
            stream_record("INSERT", "200", image_of(&first)),
            stream_record("INSERT", "201", image_of(&second)),
            stream_record("INSERT", "202", image_of(&third)),
        ];

        // The bus is down once the first record is through.
        let event = batch(records[..1].to_vec());
        assert!(relay_stream(event, &queue, &bus)
            .await
            .batch_item_failures
            .is_empty());
        bus.set_unavailable(true);
        let response = relay_stream(batch(records[1..].to_vec()), &queue, &bus).await;
        assert_eq!(response.batch_item_failures.len(), 1);
        assert_eq!(
            response.batch_item_failures[0].item_identifier.as_deref(),
            Some("201")
        );
        assert_eq!(
            bus.events(),
            first.outbox.events,
            "evt_3 waits for the retry"
        );

        // Lambda retries from the reported record: everything arrives, jobs at least once.
        bus.set_unavailable(false);
        let response = relay_stream(batch(records[1..].to_vec()), &queue, &bus).await;
        assert!(response.batch_item_failures.is_empty());
        let published: Vec<String> = bus.events().into_iter().map(|e| e.id).collect();
        assert_eq!(published, ["evt_1:tier", "evt_2:tier", "evt_3:tier"]);
        let causes: Vec<String> = queue.jobs().into_iter().map(|j| j.cause).collect();
        assert_eq!(causes, ["evt_1", "evt_2", "evt_2", "evt_3"]);
    }

    #[tokio::test]
    async fn republish_publishes_a_recorded_outbox_again_and_says_what_it_found() {
        use crate::adapters::memory::MemoryStore;
        use crate::ports::{BillingStore, Commit};
        let (store, queue, bus) = (MemoryStore::new(), MemoryQueue::new(), MemoryBus::new());
        for r in [
            record("evt_pub", outbox("evt_pub")),
            record("evt_quiet", Outbox::default()),
        ] {
            store
                .commit(Commit {
                    event: Some(r),
                    ..Default::default()
                })
                .await
                .expect("commit");
        }
        assert_eq!(
            republish(&store, &queue, &bus, "evt_pub")
                .await
                .expect("published"),
            Republished::Published { jobs: 1, events: 1 }
        );
        assert_eq!(queue.jobs().len(), 1);
        assert_eq!(
            republish(&store, &queue, &bus, "evt_quiet")
                .await
                .expect("read"),
            Republished::NothingToPublish
        );
        assert_eq!(
            republish(&store, &queue, &bus, "evt_never")
                .await
                .expect("read"),
            Republished::Unknown
        );
        bus.set_unavailable(true);
        assert!(republish(&store, &queue, &bus, "evt_pub").await.is_err());
    }

    #[tokio::test]
    async fn an_unreadable_outbox_is_reported_not_skipped() {
        let (queue, bus) = (MemoryQueue::new(), MemoryBus::new());
        let mut image = image_of(&record("evt_bad", outbox("evt_bad")));
        image["outbox"] = json!({"S": "{not json"});
        let response = relay_stream(
            batch(vec![stream_record("INSERT", "300", image)]),
            &queue,
            &bus,
        )
        .await;
        assert_eq!(
            response.batch_item_failures[0].item_identifier.as_deref(),
            Some("300")
        );
        assert!(queue.jobs().is_empty());
    }
}
