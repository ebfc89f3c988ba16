//! `apply-scheduled-changes`: settles the scheduled downgrades that are due, found by a query
//! on the sparse due index (its cost follows the due items, never the table). Stripe's
//! schedule moves the subscription at period end; this job records the change once Stripe's
//! subscription agrees (tier, audit, sync job, domain event, email), and settles the item in
//! the same commit, so a second run, or the webhook having got there first, changes nothing.

use super::{pending_change_id, record, Committed, Planned, SubscriptionService, MAX_ATTEMPTS};
use crate::domain::time::UnixTime;
use crate::domain::SubscriptionStatus;
use crate::ports::{ChangeKind, ChangeRecord};
use crate::stripe::ErrorKind;
use crate::subscription_state::{apply_subscription, Observation, Seen};
use serde::Serialize;
use serde_json::json;
use tracing::{error, info, warn};

/// How long after its due time a change may wait for Stripe before it is alerted on.
const STRIPE_LAG_ALERT_SECONDS: i64 = 3600;

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DueChangesReport {
    /// Scheduled changes found due this run; the counts below split them by outcome.
    pub due: usize,
    /// Recorded now (tier, audit, sync, event, email).
    pub applied: usize,
    /// Already recorded by the webhook or an earlier run: only settled.
    pub already_applied: usize,
    /// Withdrawn outside Tierflow (schedule released, subscription gone): settled as such.
    pub withdrawn: usize,
    /// Stripe has not moved the subscription yet: left for the next run.
    pub deferred: usize,
    /// Failed transiently: left for the next run.
    pub failed: usize,
}

enum DueOutcome {
    Applied,
    AlreadyApplied,
    Withdrawn,
    Deferred,
}

/// A failure of the store or of Stripe that the next run retries.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DueChangeError(String);

impl SubscriptionService {
    /// Applies up to `limit` changes due at `as_of`.
    pub async fn apply_due_changes(
        &self,
        as_of: UnixTime,
        limit: u32,
    ) -> Result<DueChangesReport, DueChangeError> {
        let due = self
            .store
            .due_changes(as_of, limit)
            .await
            .map_err(|e| DueChangeError(e.to_string()))?;
        let mut report = DueChangesReport {
            due: due.len(),
            ..Default::default()
        };
        for change in &due {
            match self.apply_due_change(change, as_of).await {
                Ok(DueOutcome::Applied) => report.applied += 1,
                Ok(DueOutcome::AlreadyApplied) => report.already_applied += 1,
                Ok(DueOutcome::Withdrawn) => report.withdrawn += 1,
                Ok(DueOutcome::Deferred) => report.deferred += 1,
                Err(e) => {
                    error!(user_id = %change.user_id, change_id = %change.change_id, error = %e, "scheduled change not applied; the next run retries");
                    report.failed += 1;
                }
            }
        }
        info!(?report, "scheduled changes run");
        Ok(report)
    }

    async fn apply_due_change(
        &self,
        change: &ChangeRecord,
        as_of: UnixTime,
    ) -> Result<DueOutcome, DueChangeError> {
        let cause = format!("scheduled:{}", change.change_id);
        let fail = |e: crate::http::ApiError| DueChangeError(e.to_string());
        for _ in 0..MAX_ATTEMPTS {
            let snapshot = self.load(&change.user_id).await.map_err(fail)?;
            let profile = &snapshot.profile;
            let still_pending =
                pending_change_id(profile).as_deref() == Some(change.change_id.as_str());
            if !still_pending || change.kind != ChangeKind::DowngradeScheduled {
                // The webhook applied it when Stripe moved the subscription (and cleared the
                // profile's pending change), or it was replaced: only the item is left, and the
                // schedule, if it carried the change out, still holds the subscription.
                let schedule = schedule_of(change);
                let still_used = profile
                    .pending_change
                    .as_ref()
                    .is_some_and(|c| c.schedule_id.as_deref() == schedule);
                if change.kind == ChangeKind::DowngradeScheduled && !still_pending && !still_used {
                    self.release_carried_out(schedule).await?;
                }
                let mut planned = Planned::new(profile.clone(), "scheduled_settled");
                planned.quiet = true;
                planned.settle = vec![change.change_id.clone()];
                match self
                    .commit(&snapshot, planned, &cause)
                    .await
                    .map_err(fail)?
                {
                    Committed::Conflict => continue,
                    _ => return Ok(DueOutcome::AlreadyApplied),
                }
            }
            let pending = profile
                .pending_change
                .clone()
                .unwrap_or_else(|| unreachable_pending(change));
            let subscription = match profile.subscription_id.as_deref() {
                None => None,
                Some(id) => match self.stripe.retrieve_subscription(id).await {
                    Ok(sub) => Some(sub),
                    Err(e) if e.kind == ErrorKind::InvalidRequest && e.status == Some(404) => None,
                    Err(e) => return Err(DueChangeError(e.to_string())),
                },
            };
            let carried_out = subscription.as_ref().is_some_and(|sub| {
                self.plan_of(sub.price())
                    == Some((
                        change.to_tier.clone(),
                        change
                            .billing_cycle
                            .unwrap_or(crate::domain::BillingCycle::Monthly),
                    ))
                    || !SubscriptionStatus::from_stripe(&sub.status).is_live()
            });
            let mut next = profile.clone();
            let mut planned;
            let outcome;
            if let (true, Some(sub)) = (carried_out, subscription.as_ref()) {
                let seen = Observation {
                    source: &cause,
                    at: self.stripe_now(),
                    previous_status: None,
                    kind: Seen::Answered,
                };
                apply_subscription(
                    &mut next,
                    sub,
                    &seen,
                    self.clock.now(),
                    &self.catalog,
                    self.grace_days,
                )
                .map_err(DueChangeError)?;
                next.pending_change = None;
                if sub.schedule_id().is_some() {
                    self.release_carried_out(sub.schedule_id()).await?;
                }
                planned = Planned::new(next, "downgrade_applied");
                planned.stripe_refs = std::iter::once(sub.id.clone())
                    .chain(pending.schedule_id.clone())
                    .collect();
                outcome = DueOutcome::Applied;
            } else {
                let schedule_attached = subscription.as_ref().is_some_and(|sub| {
                    sub.schedule_id().is_some()
                        && sub.schedule_id() == pending.schedule_id.as_deref()
                });
                if schedule_attached {
                    let late = as_of - pending.effective_at;
                    if late > STRIPE_LAG_ALERT_SECONDS {
                        error!(metric = "scheduled_change_stuck", user_id = %change.user_id, change_id = %change.change_id, late, "Stripe has not carried out a due downgrade");
                    } else {
                        warn!(user_id = %change.user_id, change_id = %change.change_id, "Stripe has not moved the subscription yet; deferring");
                    }
                    return Ok(DueOutcome::Deferred);
                }
                // No schedule carries it any more and Stripe kept the plan: withdrawn outside
                // Tierflow (Dashboard, Portal), or the subscription is gone.
                next.pending_change = None;
                planned = Planned::new(next, "scheduled_withdrawn");
                planned.records.push(record(
                    profile,
                    ChangeKind::ChangeWithdrawn,
                    (change.to_tier.clone(), change.billing_cycle),
                    self.clock.now(),
                    &cause,
                    "withdrawn",
                ));
                planned.events.push((
                    "subscription.downgrade_withdrawn",
                    json!({"tier": profile.tier, "withdrawn_target": change.to_tier}),
                ));
                outcome = DueOutcome::Withdrawn;
            }
            planned.settle = vec![change.change_id.clone()];
            match self
                .commit(&snapshot, planned, &cause)
                .await
                .map_err(fail)?
            {
                Committed::Done(_) | Committed::Unchanged(_) => {
                    info!(user_id = %change.user_id, change_id = %change.change_id, "scheduled change settled");
                    return Ok(outcome);
                }
                Committed::AlreadyDone | Committed::NotPending => {
                    return Ok(DueOutcome::AlreadyApplied)
                }
                Committed::Conflict => continue,
            }
        }
        Err(DueChangeError(format!(
            "the profile of {} kept changing",
            change.user_id
        )))
    }
}

impl SubscriptionService {
    /// Releases the schedule that carried out a downgrade. Its last phase would hold the
    /// subscription for another period, in which Stripe refuses a cancellation or a plan change
    /// made on the subscription itself; released, the subscription keeps its new price. One
    /// already released or canceled is left alone; a transient failure is retried next run.
    async fn release_carried_out(&self, schedule: Option<&str>) -> Result<(), DueChangeError> {
        let Some(schedule) = schedule else {
            return Ok(());
        };
        match self.stripe.release_schedule(schedule).await {
            Ok(_) => {
                info!(
                    schedule,
                    "released the schedule that carried out the downgrade"
                );
                Ok(())
            }
            Err(e) if e.is_transient() => Err(DueChangeError(format!("release {schedule}: {e}"))),
            Err(e) => {
                warn!(schedule, error = %e, "the schedule was no longer active");
                Ok(())
            }
        }
    }
}

/// The schedule a scheduled downgrade was made with (recorded among its Stripe refs).
fn schedule_of(change: &ChangeRecord) -> Option<&str> {
    change
        .stripe_refs
        .iter()
        .map(String::as_str)
        .find(|r| r.starts_with("sub_sched_"))
}

/// `still_pending` guarantees the profile names this change; this only keeps the types total.
fn unreachable_pending(change: &ChangeRecord) -> crate::domain::PendingChange {
    crate::domain::PendingChange {
        target_tier: change.to_tier.clone(),
        billing_cycle: change.billing_cycle,
        effective_at: change.due_at.unwrap_or(change.recorded_at),
        schedule_id: None,
        change_id: Some(change.change_id.clone()),
        scheduled_at: None,
    }
}

/// Reads an EventBridge `time` (`2026-11-23T00:05:00Z`); `None` if it is not that shape.
pub fn parse_event_time(raw: &str) -> Option<UnixTime> {
    let b = raw.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| raw.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, min, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || min > 59 || s > 60 {
        return None;
    }
    // Howard Hinnant's days-from-civil (proleptic Gregorian).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + min * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::rfc3339;

    #[test]
    fn event_times_round_trip() {
        for t in [0, 951_782_400, 1_795_391_165, 1_795_392_000] {
            assert_eq!(parse_event_time(&rfc3339(t)), Some(t), "{t}");
        }
        assert_eq!(parse_event_time("2026-11-23"), None);
        assert_eq!(parse_event_time("2026-13-01T00:00:00Z"), None);
    }
}
