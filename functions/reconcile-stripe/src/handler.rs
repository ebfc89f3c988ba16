use lambda_runtime::LambdaEvent;
use serde_json::Value;
use tierflow::telemetry::RetryableFailure;
use tierflow::webhook::reconcile::reconcile;
use tierflow::webhook::Processor;

/// One run; the scheduled event's content does not matter. A transient failure fails the
/// invocation (the next hourly run starts from the checkpoint it left).
pub(crate) async fn handle(
    processor: &Processor,
    _event: LambdaEvent<Value>,
) -> Result<Value, RetryableFailure> {
    let now = processor.clock.now();
    // Boxed: a run's future holds whole profiles and events across its awaits (over 16 KiB),
    // too much to keep on the runtime's stack for an hourly job.
    let report = Box::pin(reconcile(processor, now))
        .await
        .map_err(RetryableFailure::of)?;
    serde_json::to_value(report).map_err(RetryableFailure::of)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tierflow::domain::{SubscriptionStatus, UserId};
    use tierflow::ports::BillingStore;
    use tierflow::time::SystemClock;
    use tierflow_testkit::tier;
    use tierflow_testkit::Harness;

    /// A user subscribes in the Stripe emulator while every webhook is lost; one run of
    /// reconciliation brings Tierflow to the state the webhooks would have produced.
    #[tokio::test]
    async fn replays_events_that_never_arrived() {
        let h = Harness::start().await;
        let prices = h
            .emulator_call(
                "GET",
                "/v1/prices",
                &[("lookup_keys[]", "tierflow_starter_monthly")],
            )
            .await;
        let price = prices["data"][0]["id"].as_str().unwrap().to_owned();
        let user = "user-reconciled";
        let session = h
            .emulator_call(
                "POST",
                "/v1/checkout/sessions",
                &[
                    ("mode", "subscription"),
                    ("customer_email", "r@example.com"),
                    ("client_reference_id", user),
                    ("line_items[0][price]", price.as_str()),
                    ("line_items[0][quantity]", "1"),
                    ("success_url", "https://app.example/ok"),
                    ("subscription_data[metadata][user_id]", user),
                ],
            )
            .await;
        let completed = h
            .emulator_request(
                "POST",
                &format!(
                    "/_emulator/checkout/sessions/{}/complete",
                    session["id"].as_str().unwrap()
                ),
                &[],
            )
            .await;
        assert!(completed.status().is_success());

        let processor = Processor {
            clock: Arc::new(SystemClock),
            ..h.processor(h.store.clone(), Default::default())
        };
        let report = handle(
            &processor,
            LambdaEvent::new(Value::Null, Default::default()),
        )
        .await
        .unwrap();
        assert!(report["applied"].as_u64().unwrap() >= 3, "{report}");
        assert_eq!(report["failed"], 0, "{report}");
        let store = &h.store;
        let profile = store
            .profile(&UserId::parse(user).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(profile.tier, tier("starter"));
        assert_eq!(profile.status, SubscriptionStatus::Active);
        assert_eq!(
            store
                .payments(&profile.user_id, 10, None)
                .await
                .unwrap()
                .payments
                .len(),
            1
        );

        // A second run changes nothing.
        let again = handle(
            &processor,
            LambdaEvent::new(Value::Null, Default::default()),
        )
        .await
        .unwrap();
        assert_eq!(again["applied"], 0, "{again}");
        assert_eq!(again["drift_corrected"], 0, "{again}");
        assert_eq!(
            store
                .profile(&profile.user_id)
                .await
                .unwrap()
                .unwrap()
                .version,
            profile.version
        );
    }
}
