//! `user-deleted`: the identity side deleted an account; its subscriptions are canceled at
//! once so it is never billed again, the cancellation is audited (no email: the person is
//! gone), and the profile records the deletion, so the account's sync jobs stop looking for a
//! user the identity provider no longer has.

use super::{Committed, Planned, SubscriptionService, MAX_ATTEMPTS};
use crate::domain::{SubscriptionStatus, UserId};
use crate::stripe::{ErrorKind, StripeError, Subscription};
use crate::subscription_state::{apply_subscription, Observation, Seen};
use serde::Serialize;
use tracing::{info, warn};

/// What the deletion did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserDeletedReport {
    /// Subscriptions canceled now.
    pub canceled: Vec<String>,
    /// The user's customer, if they had one.
    pub customer_id: Option<String>,
}

/// A failure worth retrying (the store or Stripe was unavailable).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserDeletedError(String);

impl SubscriptionService {
    /// Cancels every live subscription of the deleted user, now, and records it with the
    /// deletion.
    pub async fn cancel_for_deleted_user(
        &self,
        user: &UserId,
        event_id: &str,
    ) -> Result<UserDeletedReport, UserDeletedError> {
        let fail = |e: crate::http::ApiError| UserDeletedError(e.to_string());
        let transient = |e: StripeError| UserDeletedError(e.to_string());
        let snapshot = self.load(user).await.map_err(fail)?;
        let customer = match snapshot.profile.customer_id.clone() {
            Some(c) => Some(c),
            None => self
                .stripe
                .find_customer_by_user_id(user.as_str())
                .await
                .map_err(transient)?
                .map(|c| c.id),
        };
        let mut report = UserDeletedReport {
            customer_id: customer.clone(),
            ..Default::default()
        };
        let current = snapshot.profile.subscription_id.clone();
        let last = match &customer {
            Some(customer) => {
                self.cancel_live_subscriptions(customer, current.as_deref(), &mut report)
                    .await?
            }
            None => {
                info!(user_id = %user, "deleted user had no Stripe customer");
                None
            }
        };
        let cause = format!("user-deleted:{event_id}:{user}");
        let mut snapshot = snapshot;
        let mut settle = true;
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let mut next = snapshot.profile.clone();
            next.deleted_at.get_or_insert(now);
            if let Some(canceled) = &last {
                let seen = Observation {
                    source: &cause,
                    at: self.stripe_now(),
                    previous_status: None,
                    kind: Seen::Answered,
                };
                apply_subscription(
                    &mut next,
                    canceled,
                    &seen,
                    now,
                    &self.catalog,
                    self.grace_days,
                )
                .map_err(UserDeletedError)?;
            }
            let mut planned = Planned::new(next, "account_deleted");
            planned.no_email = true;
            planned.stripe_refs = last.iter().map(|s| s.id.clone()).collect();
            planned.settle = super::pending_change_id(&snapshot.profile)
                .filter(|_| settle && last.is_some())
                .into_iter()
                .collect();
            match self
                .commit(&snapshot, planned, &cause)
                .await
                .map_err(fail)?
            {
                Committed::Conflict => snapshot = self.load(user).await.map_err(fail)?,
                // The scheduled item was settled meanwhile: record without it.
                Committed::NotPending => settle = false,
                _ => return Ok(report),
            }
        }
        Err(UserDeletedError(format!(
            "the profile of {user} kept changing"
        )))
    }

    /// Cancels each of the customer's subscriptions that could still bill; returns the
    /// canceled one that is the profile's `current` subscription.
    async fn cancel_live_subscriptions(
        &self,
        customer: &str,
        current: Option<&str>,
        report: &mut UserDeletedReport,
    ) -> Result<Option<Subscription>, UserDeletedError> {
        let transient = |e: StripeError| UserDeletedError(e.to_string());
        let subscriptions = self
            .stripe
            .list_customer_subscriptions(customer)
            .await
            .map_err(transient)?;
        let mut last = None;
        for sub in subscriptions {
            if !SubscriptionStatus::from_stripe(&sub.status).is_live() && sub.status != "incomplete"
            {
                continue;
            }
            match self.stripe.cancel_subscription(&sub.id).await {
                Ok(canceled) => {
                    report.canceled.push(canceled.id.clone());
                    if Some(canceled.id.as_str()) == current {
                        last = Some(canceled);
                    }
                }
                Err(e) if e.kind == ErrorKind::InvalidRequest => {
                    warn!(subscription = %sub.id, error = %e, "already canceled");
                }
                Err(e) => return Err(transient(e)),
            }
        }
        info!(customer, canceled = ?report.canceled, "deleted user's subscriptions canceled");
        Ok(last)
    }
}
