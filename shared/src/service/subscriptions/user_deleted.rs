//! `user-deleted`: the identity side deleted an account; its subscriptions are canceled at
//! once so it is never billed again, and the cancellation is audited (no email: the person is
//! gone).

use super::{Committed, Planned, SubscriptionService, MAX_ATTEMPTS};
use crate::domain::{SubscriptionStatus, UserId};
use crate::stripe::{ErrorKind, StripeError};
use crate::subscription_state::{apply_subscription, Observation};
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
    /// Cancels every live subscription of the deleted user, now, and records it.
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
        let Some(customer) = customer else {
            info!(user_id = %user, "deleted user had no Stripe customer");
            return Ok(report);
        };
        let subscriptions = self
            .stripe
            .list_customer_subscriptions(&customer)
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
                    if Some(canceled.id.as_str()) == snapshot.profile.subscription_id.as_deref() {
                        last = Some(canceled);
                    }
                }
                Err(e) if e.kind == ErrorKind::InvalidRequest => {
                    warn!(subscription = %sub.id, error = %e, "already canceled");
                }
                Err(e) => return Err(transient(e)),
            }
        }
        info!(user_id = %user, canceled = ?report.canceled, "deleted user's subscriptions canceled");
        let Some(canceled) = last else {
            return Ok(report);
        };
        let cause = format!("user-deleted:{event_id}:{user}");
        let mut snapshot = snapshot;
        let mut settle = true;
        for _ in 0..MAX_ATTEMPTS {
            let mut next = snapshot.profile.clone();
            let seen = Observation {
                source: &cause,
                at: self.clock.now(),
                previous_status: None,
            };
            apply_subscription(
                &mut next,
                &canceled,
                &seen,
                self.clock.now(),
                &self.catalog,
                self.grace_days,
            )
            .map_err(UserDeletedError)?;
            let mut planned = Planned::new(next, "account_deleted");
            planned.no_email = true;
            planned.stripe_refs = vec![canceled.id.clone()];
            planned.settle = super::pending_change_id(&snapshot.profile)
                .filter(|_| settle)
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
}
