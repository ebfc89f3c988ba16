use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};
use tierflow::telemetry::RetryableFailure;
use tierflow::webhook::delivery::parse_event;
use tierflow::webhook::processor::payload_hash;
use tierflow::webhook::Processor;
use tracing::error;

/// Processes one Stripe event from the partner bus. A transient failure is returned as an
/// error so EventBridge/Lambda retry it (and, after the retries, the function's DLQ keeps it);
/// a malformed detail can never succeed and is logged for a person instead.
pub(crate) async fn handle(
    processor: &Processor,
    event: LambdaEvent<EventBridgeEvent<Value>>,
) -> Result<Value, RetryableFailure> {
    let payload = serde_json::to_vec(&event.payload.detail).map_err(RetryableFailure::of)?;
    let stripe_event = match parse_event(&payload) {
        Ok(e) => e,
        Err(e) => {
            error!(metric = "stripe_event_rejected", reason = %e.message, "the bus delivered a detail that is not a Stripe event");
            return Ok(json!({"outcome": "rejected", "reason": e.message}));
        }
    };
    let outcome = processor
        .process(&stripe_event, &payload_hash(&payload))
        .await
        .map_err(RetryableFailure::of)?;
    Ok(json!({"event_id": stripe_event.id, "outcome": outcome.label()}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tierflow::domain::UserId;
    use tierflow::ports::BillingStore;
    use tierflow::time::FixedClock;
    use tierflow_testkit::tier;
    use tierflow_testkit::{unreachable_stripe, Harness};

    /// The processor over the harness's store at the sample's time. Its Stripe is unreachable:
    /// the sample needs no call, so any would fail the test.
    fn processor(h: &Harness) -> Processor {
        Processor {
            stripe: Arc::new(unreachable_stripe()),
            clock: Arc::new(FixedClock::at(1_795_391_165)),
            ..h.processor(h.store.clone(), Default::default())
        }
    }

    fn sample() -> EventBridgeEvent<Value> {
        serde_json::from_str(include_str!("../../../events/stripe-events.json")).unwrap()
    }

    #[tokio::test]
    async fn the_partner_bus_sample_applies_once() {
        let h = Harness::start().await;
        let processor = processor(&h);
        let out = handle(&processor, LambdaEvent::new(sample(), Default::default()))
            .await
            .unwrap();
        assert_eq!(out["outcome"], "applied");
        let user = UserId::parse("8f14e45f-ceea-467f-a0e6-6f6b7a1c2d3e").unwrap();
        assert_eq!(
            h.store.profile(&user).await.unwrap().unwrap().tier,
            tier("enterprise")
        );
        let again = handle(&processor, LambdaEvent::new(sample(), Default::default()))
            .await
            .unwrap();
        assert_eq!(again["outcome"], "duplicate");
    }

    #[tokio::test]
    async fn a_detail_that_is_not_an_event_is_rejected_without_retry() {
        let h = Harness::start().await;
        let processor = processor(&h);
        let mut event = sample();
        event.detail = json!({"hello": "world"});
        let out = handle(&processor, LambdaEvent::new(event, Default::default()))
            .await
            .unwrap();
        assert_eq!(out["outcome"], "rejected");
    }

    #[tokio::test]
    async fn a_store_outage_is_an_error_so_the_bus_retries() {
        let h = Harness::start().await;
        h.store.set_unavailable(true);
        let processor = processor(&h);
        assert!(
            handle(&processor, LambdaEvent::new(sample(), Default::default()))
                .await
                .is_err()
        );
    }
}
