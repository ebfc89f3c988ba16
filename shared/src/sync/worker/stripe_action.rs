//! The change a job asks of Stripe (a revocation that stops billing), made before any sync.

use super::{SyncError, Worker};
use crate::domain::SubscriptionStatus;
use crate::ports::{StripeAction, SubscriptionChange};
use crate::stripe::{IdempotencyScope, StripeError};
use tracing::info;

impl Worker {
    /// Makes the job's change in Stripe. A refusal for a subscription that has already ended
    /// (or is gone) means there is nothing left to do; any other refusal is permanent.
    pub(super) async fn apply_stripe_action(&self, action: &StripeAction) -> Result<(), SyncError> {
        let stripe = self
            .stripe
            .as_ref()
            .ok_or(SyncError::StripeNotConfigured(action.change))?;
        let id = action.subscription_id.as_str();
        let scope = IdempotencyScope::new(["stripe-action", &action.requested_by]);
        let result = match action.change {
            SubscriptionChange::CancelNow => stripe.cancel_subscription(id).await,
            SubscriptionChange::CancelAtPeriodEnd => {
                stripe.set_cancel_at_period_end_once(id, true, &scope).await
            }
            SubscriptionChange::Resume => {
                stripe
                    .set_cancel_at_period_end_once(id, false, &scope)
                    .await
            }
        };
        let refused = |error: StripeError| SyncError::Stripe {
            subscription: id.to_owned(),
            change: action.change,
            error,
        };
        let error = match result {
            Ok(sub) => {
                info!(subscription = id, change = ?action.change, status = %sub.status,
                      cancel_at_period_end = sub.cancel_at_period_end, "Stripe subscription changed");
                return Ok(());
            }
            Err(e) if e.is_transient() => return Err(refused(e)),
            Err(e) => e,
        };
        match stripe.retrieve_subscription(id).await {
            Ok(sub) if !SubscriptionStatus::from_stripe(&sub.status).is_live() => {
                info!(subscription = id, change = ?action.change, status = %sub.status,
                      "the subscription has already ended: nothing to change");
                Ok(())
            }
            Err(e) if e.is_not_found() => {
                info!(
                    subscription = id,
                    "the subscription is gone: nothing to change"
                );
                Ok(())
            }
            Err(e) if e.is_transient() => Err(refused(e)),
            _ => Err(refused(error)),
        }
    }
}
