use lambda_runtime::LambdaEvent;
use serde_json::Value;
use tierflow::service::subscriptions::{parse_event_time, SubscriptionService};
use tierflow::telemetry::RetryableFailure;

/// Changes applied per run; the rest wait for the next run (every 5 minutes).
const BATCH: u32 = 200;

/// One run "as of" the schedule's tick (the event's `time`, never earlier than now). A change
/// is only recorded once Stripe's subscription agrees, so a late or early tick is harmless.
/// Items that failed transiently fail the invocation, so EventBridge retries it.
pub(crate) async fn handle(
    service: &SubscriptionService,
    event: LambdaEvent<Value>,
) -> Result<Value, RetryableFailure> {
    let now = service.clock.now();
    let tick = event
        .payload
        .get("time")
        .and_then(Value::as_str)
        .and_then(parse_event_time);
    let as_of = tick.map_or(now, |t| t.max(now));
    let report = service
        .apply_due_changes(as_of, BATCH)
        .await
        .map_err(RetryableFailure::of)?;
    if report.failed > 0 {
        return Err(RetryableFailure(format!(
            "{} scheduled change(s) failed; see the log",
            report.failed
        )));
    }
    serde_json::to_value(report).map_err(RetryableFailure::of)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use tierflow::domain::time::rfc3339;

    use tierflow::ports::{BillingStore, ChangeKind};
    use tierflow_testkit::tier;

    use tierflow_testkit::{Harness, SAMPLE_USER};

    const SAMPLE: &str = include_str!("../../../events/apply-scheduled-changes.json");

    /// The sample scheduled event, ticking at `at`.
    fn tick(at: i64) -> LambdaEvent<Value> {
        let mut event: Value = serde_json::from_str(SAMPLE).unwrap();
        event["time"] = Value::String(rfc3339(at));
        LambdaEvent::new(event, Context::default())
    }

    /// Professional until period end, then starter: returns the period end.
    async fn downgraded(h: &Harness, user: &str) -> i64 {
        let profile = h
            .subscribe(user, "professional", "monthly", "pm_card_visa")
            .await;
        h.schedule_downgrade(user, "starter", None).await;
        profile.current_period_end.unwrap()
    }

    #[tokio::test]
    async fn applies_a_due_downgrade_once_stripe_moved_and_runs_idempotently() {
        let h = Harness::start().await;
        let end = downgraded(&h, SAMPLE_USER).await;

        // Due by the tick, but Stripe's clock has not reached period end: wait.
        let early = handle(&h.service(), tick(end + 5)).await.unwrap();
        assert_eq!(early["deferred"], 1, "{early}");
        assert_eq!(h.profile(SAMPLE_USER).await.tier, tier("professional"));

        h.advance(end - h.stripe_now().await + 60).await;
        let report = handle(&h.service(), tick(end + 60)).await.unwrap();
        assert_eq!(report["applied"], 1, "{report}");
        let profile = h.profile(SAMPLE_USER).await;
        assert_eq!(profile.tier, tier("starter"));
        assert!(profile.pending_change.is_none());
        let changes = h.store.changes(&profile.user_id, 20).await.unwrap();
        assert!(changes.iter().any(|c| c.kind == ChangeKind::Downgraded));
        assert!(changes.iter().all(|c| !c.pending));
        assert!(h
            .jobs()
            .await
            .iter()
            .any(|j| j.email.as_deref() == Some("downgrade_applied")));
        assert!(h
            .events()
            .await
            .iter()
            .any(|e| e.detail_type == "subscription.tier_changed"));
        // The renewal Stripe made at period end billed the lower price.
        let sub = h
            .stripe_get(&format!(
                "/v1/subscriptions/{}",
                profile.subscription_id.unwrap()
            ))
            .await;
        let invoice = h
            .stripe_get(&format!(
                "/v1/invoices/{}",
                sub["latest_invoice"].as_str().unwrap()
            ))
            .await;
        assert_eq!(invoice["billing_reason"], "subscription_cycle");
        assert_eq!(invoice["amount_paid"], 1900);
        // The schedule's last phase would hold the subscription for another period, refusing
        // a cancellation: carried out, it is released.
        assert!(sub["schedule"].is_null(), "{sub}");

        let jobs = h.jobs().await.len();
        let again = handle(&h.service(), tick(end + 120)).await.unwrap();
        assert_eq!(again["due"], 0, "settled: {again}");
        assert_eq!(h.jobs().await.len(), jobs);
    }

    #[tokio::test]
    async fn a_change_the_webhook_already_applied_is_only_settled() {
        let h = Harness::start().await;
        let end = downgraded(&h, SAMPLE_USER).await;
        h.advance(end - h.stripe_now().await + 60).await;
        // The webhook recorded the change (simulated: the profile says starter, no pending change).
        let mut profile = h.profile(SAMPLE_USER).await;
        let version = profile.version;
        profile.tier = tier("starter");
        profile.pending_change = None;
        h.store
            .commit(tierflow::ports::Commit {
                profile: Some(tierflow::ports::ProfileWrite {
                    profile,
                    expected_version: version,
                }),
                ..Default::default()
            })
            .await
            .unwrap();
        let jobs = h.jobs().await.len();
        let report = handle(&h.service(), tick(end + 60)).await.unwrap();
        assert_eq!(report["already_applied"], 1, "{report}");
        assert_eq!(h.jobs().await.len(), jobs, "no second email or sync");
        assert!(h.store.due_changes(end + 60, 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_schedule_released_in_stripe_counts_as_withdrawn() {
        let h = Harness::start().await;
        let end = downgraded(&h, SAMPLE_USER).await;
        let schedule = h.pending_schedule(SAMPLE_USER).await;
        h.emulator_call(
            "POST",
            &format!("/v1/subscription_schedules/{schedule}/release"),
            &[],
        )
        .await;
        let report = handle(&h.service(), tick(end + 1)).await.unwrap();
        assert_eq!(report["withdrawn"], 1, "{report}");
        let profile = h.profile(SAMPLE_USER).await;
        assert_eq!(profile.tier, tier("professional"));
        assert!(profile.pending_change.is_none());
    }

    #[tokio::test]
    async fn nothing_due_is_a_quiet_run_and_a_store_outage_fails_it() {
        let h = Harness::start().await;
        let report = handle(&h.service(), tick(0)).await.unwrap();
        assert_eq!(report["due"], 0);
        h.store.set_unavailable(true);
        assert!(handle(&h.service(), tick(0)).await.is_err());
    }
}
