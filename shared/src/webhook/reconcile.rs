//! Reconciliation: replays Stripe events that never reached us (the Events API keeps 30 days)
//! and corrects subscriptions whose stored state drifted from Stripe's. Everything goes through the same [`Processor`], so a replay of an event that
//! was already processed is a no-op.

use super::decide::HANDLED_EVENT_TYPES;
use super::processor::{payload_hash, Outcome, ProcessError, Processor};
use crate::domain::time::UnixTime;
use crate::domain::{SubscriptionStatus, UserId};
use crate::stripe::{Event, EventData, EventQuery, RawObject, Subscription};
use serde::Serialize;
use tracing::{error, info};

/// The checkpoint: `created` of the newest event fully handled.
pub const CHECKPOINT: &str = "stripe_events";
/// How far back the first run looks.
pub const FIRST_RUN_LOOKBACK_SECONDS: i64 = 3 * 86_400;
/// Events of the same second as the checkpoint may arrive late; look this far behind it.
pub const OVERLAP_SECONDS: i64 = 300;
/// Bound on one run's work; beyond it the checkpoint stays put and an error is logged.
pub const MAX_EVENTS_PER_RUN: usize = 10_000;

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    /// Events of the handled types the Events API returned since the checkpoint (with overlap).
    pub events_listed: usize,
    /// Listed events that changed state now: the webhook had not applied them.
    pub applied: usize,
    /// Listed events already recorded, or of a type not acted on.
    pub already_processed: usize,
    /// Listed events recorded as deliberately not applied.
    pub ignored: usize,
    /// Listed events recorded as failed, for a person to look at.
    pub failed: usize,
    /// Live subscriptions whose stored profile disagreed with Stripe and was rewritten from it.
    pub drift_corrected: usize,
    /// Events that failed transiently and are retried by the next run.
    pub retry_later: usize,
    /// Unix seconds stored as the new checkpoint; `None` when it stayed put.
    pub checkpoint: Option<i64>,
}

impl ReconcileReport {
    fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Applied => self.applied += 1,
            Outcome::Duplicate | Outcome::Unhandled => self.already_processed += 1,
            Outcome::Ignored(_) => self.ignored += 1,
            Outcome::Failed(_) => self.failed += 1,
        }
    }
}

/// One reconciliation run.
pub async fn reconcile(
    processor: &Processor,
    now: UnixTime,
) -> Result<ReconcileReport, ProcessError> {
    let mut report = ReconcileReport::default();
    replay_missed_events(processor, now, &mut report).await?;
    correct_drift(processor, now, &mut report).await?;
    info!(?report, "reconciliation finished");
    Ok(report)
}

async fn replay_missed_events(
    processor: &Processor,
    now: UnixTime,
    report: &mut ReconcileReport,
) -> Result<(), ProcessError> {
    let since = processor
        .store
        .checkpoint(CHECKPOINT)
        .await?
        .unwrap_or(now - FIRST_RUN_LOOKBACK_SECONDS);
    let query = EventQuery {
        created_after: Some(since - OVERLAP_SECONDS),
        types: HANDLED_EVENT_TYPES
            .iter()
            .map(|t| (*t).to_owned())
            .collect(),
        page_size: 100,
        max_events: MAX_EVENTS_PER_RUN,
    };
    let mut events = processor
        .stripe
        .list_events(&query)
        .await
        .map_err(|e| ProcessError(format!("list events: {e}")))?;
    report.events_listed = events.len();
    let truncated = events.len() >= MAX_EVENTS_PER_RUN;
    // The Events API lists newest first in Stripe's own sequence: reversed, it is the order in
    // which Stripe produced them, even within one second.
    events.reverse();
    let mut newest_done = since;
    let mut first_retry: Option<i64> = None;
    for event in &events {
        let payload = serde_json::to_vec(event).map_err(|e| ProcessError(e.to_string()))?;
        match processor
            .process_unless_recorded(event, &payload_hash(&payload))
            .await
        {
            Ok(outcome) => {
                report.count(&outcome);
                newest_done = newest_done.max(event.created);
            }
            Err(e) => {
                // Keep going, but keep the checkpoint before this event so the next run retries it.
                error!(event_id = %event.id, error = %e, "replay failed; will retry next run");
                report.retry_later += 1;
                first_retry.get_or_insert(event.created);
            }
        }
    }
    let newest_done = match first_retry {
        Some(created) => newest_done.min(created - 1),
        None => newest_done,
    };
    if truncated {
        error!(
            metric = "reconcile_window_exceeded",
            "more events than one run handles; the checkpoint stays put"
        );
        return Ok(());
    }
    store_checkpoint(processor, newest_done, report).await
}

async fn store_checkpoint(
    processor: &Processor,
    value: i64,
    report: &mut ReconcileReport,
) -> Result<(), ProcessError> {
    processor.store.set_checkpoint(CHECKPOINT, value).await?;
    report.checkpoint = Some(value);
    Ok(())
}

/// Whether the stored profile disagrees with Stripe's subscription.
fn drifted(
    processor: &Processor,
    profile: Option<&crate::domain::BillingProfile>,
    sub: &Subscription,
) -> bool {
    let Some(p) = profile else { return true };
    let tier = sub
        .price()
        .and_then(|price| processor.catalog.resolve_price(&price.facts()))
        .map(|plan| plan.tier);
    p.subscription_id.as_deref() != Some(sub.id.as_str())
        || p.status != SubscriptionStatus::from_stripe(&sub.status)
        || (p.revocation.is_none() && tier.is_some_and(|t| t != p.tier))
        || p.current_period_end != sub.current_period_end()
        || p.cancel_at_period_end != (sub.cancel_at_period_end || sub.cancel_at.is_some())
}

async fn correct_drift(
    processor: &Processor,
    now: UnixTime,
    report: &mut ReconcileReport,
) -> Result<(), ProcessError> {
    let live = processor
        .stripe
        .list_live_subscriptions(5_000)
        .await
        .map_err(|e| ProcessError(format!("list subscriptions: {e}")))?;
    for sub in live {
        let user = match processor.store.user_for_customer(sub.customer_id()).await? {
            Some(user) => Some(user),
            None => sub
                .metadata
                .get("user_id")
                .and_then(|u| UserId::parse(u).ok()),
        };
        let Some(user) = user else { continue };
        let profile = processor.store.profile(&user).await?;
        if !drifted(processor, profile.as_ref(), &sub) {
            continue;
        }
        // Stripe's current object, applied as an update at this instant through the same core.
        let mut object = serde_json::to_value(&sub).map_err(|e| ProcessError(e.to_string()))?;
        object["object"] = "subscription".into();
        let event = Event {
            id: format!("evt_reconcile_{}_{now}", sub.id),
            object: Some("event".into()),
            kind: "customer.subscription.updated".into(),
            created: now,
            api_version: None,
            livemode: false,
            data: EventData {
                object: RawObject::from_value(&object).map_err(|e| ProcessError(e.to_string()))?,
                previous_attributes: None,
            },
            request: None,
        };
        let payload = serde_json::to_vec(&event).map_err(|e| ProcessError(e.to_string()))?;
        let outcome = processor.process(&event, &payload_hash(&payload)).await?;
        if outcome == Outcome::Applied {
            info!(subscription = %sub.id, user_id = %user, "corrected drift from Stripe");
            report.drift_corrected += 1;
        }
    }
    Ok(())
}
