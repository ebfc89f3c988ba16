use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};
use tierflow::domain::UserId;
use tierflow::service::subscriptions::SubscriptionService;
use tierflow::telemetry::RetryableFailure;

/// The EventBridge event `user.deleted` with `detail.user_id`. A malformed event is a
/// permanent failure (logged, acknowledged, never retried); a Stripe or store failure fails
/// the invocation so EventBridge retries it.
pub(crate) async fn handle(
    service: &SubscriptionService,
    event: LambdaEvent<Value>,
) -> Result<Value, RetryableFailure> {
    let payload = &event.payload;
    let raw = payload
        .pointer("/detail/user_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Ok(user) = UserId::parse(raw) else {
        tracing::error!(
            metric = "user_deleted_malformed",
            "user.deleted without a valid detail.user_id; ignored"
        );
        return Ok(json!({"ignored": "no valid detail.user_id"}));
    };
    let event_id = payload
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or(event.context.request_id.as_str());
    let report = service
        .cancel_for_deleted_user(&user, event_id)
        .await
        .map_err(RetryableFailure::of)?;
    serde_json::to_value(report).map_err(RetryableFailure::of)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;

    use tierflow::ports::{BillingStore, ChangeKind, SyncTarget};
    use tierflow_testkit::tier;
    use tierflow_testkit::{Harness, SAMPLE_USER};

    const SAMPLE: &str = include_str!("../../../events/user-deleted.json");

    fn event(raw: &str) -> LambdaEvent<Value> {
        LambdaEvent::new(serde_json::from_str(raw).unwrap(), Context::default())
    }

    #[tokio::test]
    async fn cancels_the_subscription_at_once_without_an_email() {
        let (h, profile) = Harness::subscribed("starter", "yearly").await;
        let jobs_before = h.jobs().await.len();
        let report = handle(&h.service(), event(SAMPLE)).await.unwrap();
        let sub_id = profile.subscription_id.unwrap();
        assert_eq!(report["canceled"], serde_json::json!([sub_id]));
        let sub = h.stripe_get(&format!("/v1/subscriptions/{sub_id}")).await;
        assert_eq!(sub["status"], "canceled");
        let after = h.profile(SAMPLE_USER).await;
        assert_eq!(after.tier, tier("free"));
        assert!(after.deleted_at.is_some(), "the deletion is recorded");
        let changes = h.store.changes(&after.user_id, 5).await.unwrap();
        assert_eq!(changes[0].kind, ChangeKind::Canceled);
        let new_jobs = &h.jobs().await[jobs_before..];
        assert!(!new_jobs.is_empty(), "Keycloak and Lago still learn of it");
        assert!(new_jobs
            .iter()
            .all(|j| j.email.is_none() && !j.targets.contains(&SyncTarget::Email)));

        // A redelivery finds nothing left to cancel.
        let again = handle(&h.service(), event(SAMPLE)).await.unwrap();
        assert_eq!(again["canceled"], serde_json::json!([]));
    }

    #[tokio::test]
    async fn a_user_without_billing_or_a_malformed_event_is_acknowledged() {
        let h = Harness::start().await;
        let report = handle(&h.service(), event(SAMPLE)).await.unwrap();
        assert_eq!(report["customer_id"], Value::Null);
        let recorded = h.profile(SAMPLE_USER).await;
        assert!(recorded.deleted_at.is_some(), "even without billing");
        let mut malformed: Value = serde_json::from_str(SAMPLE).unwrap();
        malformed["detail"] = json!({"user": "x"});
        let report = handle(&h.service(), event(&malformed.to_string()))
            .await
            .unwrap();
        assert!(report["ignored"].is_string());
    }
}
