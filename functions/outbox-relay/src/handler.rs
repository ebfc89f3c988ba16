use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use lambda_runtime::{Error, LambdaEvent};
use tierflow::wiring::{publisher_from_env, Publisher};

/// What the handler needs, built once at init.
pub(crate) struct Deps {
    pub publisher: Publisher,
}

impl Deps {
    pub(crate) async fn from_env() -> Result<Self, Error> {
        Ok(Self {
            publisher: publisher_from_env().await?,
        })
    }
}

/// One stream batch; a record that cannot be published is reported for Lambda to retry.
pub(crate) async fn handle(
    deps: &Deps,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, Error> {
    let Publisher { queue, bus } = &deps.publisher;
    Ok(tierflow::outbox::relay_stream(event.payload, queue.as_ref(), bus.as_ref()).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tierflow::adapters::memory::{MemoryBus, MemoryQueue};

    fn sample() -> LambdaEvent<Event> {
        let event: Event =
            serde_json::from_str(include_str!("../../../events/outbox-relay.json")).unwrap();
        LambdaEvent::new(event, lambda_runtime::Context::default())
    }

    #[tokio::test]
    async fn the_sample_batch_publishes_its_sync_job_and_domain_event() {
        let (queue, bus) = (Arc::new(MemoryQueue::new()), Arc::new(MemoryBus::new()));
        let deps = Deps {
            publisher: Publisher {
                queue: queue.clone(),
                bus: bus.clone(),
            },
        };
        let response = handle(&deps, sample()).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
        let jobs = queue.jobs();
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            jobs[0].user_id.to_string(),
            "8f14e45f-ceea-467f-a0e6-6f6b7a1c2d3e"
        );
        assert_eq!(jobs[0].cause, "evt_1SampleRelay");
        let events = bus.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].detail_type, "subscription.tier_changed");
    }

    #[tokio::test]
    async fn an_unreachable_queue_reports_the_record_for_a_retry() {
        let (queue, bus) = (Arc::new(MemoryQueue::new()), Arc::new(MemoryBus::new()));
        queue.set_unavailable(true);
        let deps = Deps {
            publisher: Publisher {
                queue: queue.clone(),
                bus: bus.clone(),
            },
        };
        let response = handle(&deps, sample()).await.unwrap();
        assert_eq!(response.batch_item_failures.len(), 1);
        assert_eq!(
            response.batch_item_failures[0].item_identifier.as_deref(),
            Some("4421584500000000017450439091")
        );
        assert!(bus.events().is_empty());
    }
}
