//! `POST /api/v1/subscriptions/cancel {at_period_end}` (default true) and
//! `POST /api/v1/subscriptions/resume`.

use super::{
    api_cause, busy, no_subscription, pending_change_id, record, stripe_failure, Committed,
    Planned, Snapshot, SubscriptionService, MAX_ATTEMPTS,
};
use crate::auth::Caller;
use crate::http::ApiError;
use crate::ports::ChangeKind;
use crate::service::current_subscription::SubscriptionView;
use crate::stripe::Subscription;
use crate::subscription_state::{apply_subscription, Observation, Seen};
use serde::Deserialize;
use tracing::{error, info, warn};

/// The body of a cancellation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// True (the default): at the end of the paid period; false: now.
    #[serde(default)]
    pub at_period_end: Option<bool>,
}

impl SubscriptionService {
    /// Cancels the caller's subscription at period end (withdrawing any scheduled downgrade),
    /// or now.
    pub async fn cancel(
        &self,
        caller: &Caller,
        request: &CancelRequest,
        request_id: &str,
    ) -> Result<SubscriptionView, ApiError> {
        let at_period_end = request.at_period_end.unwrap_or(true);
        let snapshot = self.limit_and_load(caller, false).await?;
        let sub_id = snapshot
            .live_subscription()
            .map(str::to_owned)
            .ok_or_else(no_subscription)?;
        if at_period_end && snapshot.profile.cancel_at_period_end {
            return Ok(self.view(&snapshot.profile));
        }
        if let Some(schedule) = snapshot
            .profile
            .pending_change
            .as_ref()
            .and_then(|c| c.schedule_id.as_deref())
        {
            // A schedule refuses cancel_at_period_end; the cancellation supersedes it.
            if let Err(e) = self.stripe.release_schedule(schedule).await {
                if e.is_transient() {
                    return Err(stripe_failure("release schedule", &e));
                }
                warn!(schedule, error = %e, "the schedule was not active");
            }
        }
        let updated = if at_period_end {
            self.stripe.set_cancel_at_period_end(&sub_id, true).await
        } else {
            self.stripe.cancel_subscription(&sub_id).await
        }
        .map_err(|e| stripe_failure("cancel subscription", &e))?;
        info!(user_id = %caller.user_id, at_period_end, "subscription canceled");
        let label = if at_period_end {
            "cancellation_scheduled"
        } else {
            "canceled"
        };
        let cause = api_cause(label, &caller.user_id, request_id);
        self.record_subscription(caller, snapshot, &updated, label, &cause)
            .await
    }

    /// Undoes a pending cancellation before the period ends.
    pub async fn resume(
        &self,
        caller: &Caller,
        request_id: &str,
    ) -> Result<SubscriptionView, ApiError> {
        let snapshot = self.limit_and_load(caller, false).await?;
        let sub_id = snapshot
            .live_subscription()
            .map(str::to_owned)
            .ok_or_else(|| {
                ApiError::conflict(
                    "not_resumable",
                    "there is no subscription to resume; start a new one with checkout",
                )
            })?;
        if snapshot.profile.status == crate::domain::SubscriptionStatus::Paused {
            return self
                .resume_paused(caller, snapshot, &sub_id, request_id)
                .await;
        }
        if !snapshot.profile.cancel_at_period_end {
            return Err(ApiError::conflict(
                "not_canceling",
                "the subscription is not set to cancel",
            ));
        }
        if snapshot
            .profile
            .current_period_end
            .is_some_and(|end| end <= self.clock.now())
        {
            return Err(ApiError::conflict(
                "period_ended",
                "the subscription has already ended",
            ));
        }
        let updated = self
            .stripe
            .set_cancel_at_period_end(&sub_id, false)
            .await
            .map_err(|e| stripe_failure("resume subscription", &e))?;
        if !crate::domain::SubscriptionStatus::from_stripe(&updated.status).is_live() {
            return Err(ApiError::conflict(
                "period_ended",
                "the subscription has already ended",
            ));
        }
        info!(user_id = %caller.user_id, "subscription resumed");
        let cause = api_cause("resume", &caller.user_id, request_id);
        self.record_subscription(caller, snapshot, &updated, "resumed", &cause)
            .await
    }

    /// Resumes a subscription paused at the end of a card-less trial, once a card is on file:
    /// Stripe starts a new period now and charges it.
    async fn resume_paused(
        &self,
        caller: &Caller,
        snapshot: Snapshot,
        sub_id: &str,
        request_id: &str,
    ) -> Result<SubscriptionView, ApiError> {
        if !snapshot.profile.has_payment_method() {
            return Err(ApiError::conflict(
                "payment_method_required",
                "add a card (the billing portal's payment methods) before resuming",
            ));
        }
        let scope = crate::stripe::IdempotencyScope::new(["resume", sub_id, request_id]);
        let updated = self
            .stripe
            .resume_paused_subscription(sub_id, &scope)
            .await
            .map_err(|e| stripe_failure("resume paused subscription", &e))?;
        info!(user_id = %caller.user_id, subscription = %sub_id, status = %updated.status, "paused subscription resumed");
        let cause = api_cause("resume", &caller.user_id, request_id);
        self.record_subscription(caller, snapshot, &updated, "resumed", &cause)
            .await
    }

    /// Records the subscription Stripe returned, settling a scheduled change it no longer has.
    async fn record_subscription(
        &self,
        caller: &Caller,
        mut snapshot: Snapshot,
        updated: &Subscription,
        label: &'static str,
        cause: &str,
    ) -> Result<SubscriptionView, ApiError> {
        let mut settle = true;
        for _ in 0..MAX_ATTEMPTS {
            let mut next = snapshot.profile.clone();
            let seen = Observation {
                source: cause,
                at: self.stripe_now(),
                previous_status: None,
                kind: Seen::Answered,
            };
            apply_subscription(
                &mut next,
                updated,
                &seen,
                self.clock.now(),
                &self.catalog,
                self.grace_days,
            )
            .map_err(|reason| {
                error!(%reason, "the subscription cannot be applied");
                ApiError::unavailable()
            })?;
            let mut planned = Planned::new(next, label);
            planned.stripe_refs = vec![updated.id.clone()];
            if let Some(pending) = &snapshot.profile.pending_change {
                if let Some(id) = pending_change_id(&snapshot.profile).filter(|_| settle) {
                    planned.settle.push(id);
                }
                planned.profile.pending_change = None;
                planned.records.push(record(
                    &snapshot.profile,
                    ChangeKind::ChangeWithdrawn,
                    (pending.target_tier.clone(), pending.billing_cycle),
                    self.clock.now(),
                    cause,
                    "withdrawn",
                ));
            }
            match self.commit(&snapshot, planned, cause).await? {
                Committed::Done(p) | Committed::Unchanged(p) => return Ok(self.view(&p)),
                Committed::AlreadyDone => {
                    return Ok(self.view(&self.load(&caller.user_id).await?.profile))
                }
                Committed::NotPending => settle = false,
                Committed::Conflict => snapshot = self.load(&caller.user_id).await?,
            }
        }
        Err(busy())
    }
}
