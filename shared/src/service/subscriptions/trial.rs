//! `POST /api/v1/subscriptions/trial {tier}`: a card-less trial of a tier that offers one,
//! started without Checkout (with Stripe Tax on, only through Checkout: it has the address). One trial per account: the profile records it, and so does the
//! Stripe customer (its metadata, and the trial on any subscription it ever had), so neither a
//! lost profile nor a second device gets a second one.

use super::{api_cause, busy, stripe_failure, Committed, Planned, SubscriptionService};
use super::{Snapshot, MAX_ATTEMPTS};
use crate::auth::Caller;
use crate::domain::{BillingCycle, Tier, TrialSpec};
use crate::http::ApiError;
use crate::service::current_subscription::SubscriptionView;
use crate::stripe::{
    CustomerUpdate, IdempotencyScope, Metadata, NewTrialSubscription, Subscription, TrialParams,
};
use crate::subscription_state::{apply_subscription, Observation, Seen};
use serde::Deserialize;
use tracing::{error, info, warn};

/// The Stripe customer's metadata key recording when the account's trial started.
pub const TRIAL_USED_KEY: &str = "tierflow_trial_used_at";

/// The body: `{tier}`, a tier whose catalog entry offers a card-less trial.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrialRequest {
    /// The tier to try; parsed by the service so a bad one gets a 400 that names it.
    pub tier: String,
}

/// The Stripe parameters of a tier's trial: a card-less one says what its end does without a
/// payment method; one that needs a card leaves Stripe to charge it.
pub fn trial_params(trial: &TrialSpec) -> TrialParams {
    TrialParams {
        days: trial.days,
        missing_payment_method: (!trial.card_required)
            .then(|| trial.end_behavior.as_str().to_owned()),
    }
}

/// Whether any of the customer's subscriptions ever had a trial: Stripe's own record of it.
pub fn had_trial(subscriptions: &[Subscription]) -> bool {
    subscriptions.iter().any(|s| s.trial_start.is_some())
}

fn already_subscribed() -> ApiError {
    ApiError::conflict(
        "subscription_exists",
        "you already have a subscription: a trial is for a first subscription",
    )
}

fn trial_not_available() -> ApiError {
    ApiError::conflict(
        "trial_not_available",
        "this account has already had its trial; subscribe with /api/v1/billing/checkout",
    )
}

impl SubscriptionService {
    /// Starts the caller's card-less trial of `request.tier`; see the module docs.
    pub async fn start_trial(
        &self,
        caller: &Caller,
        request: &TrialRequest,
        request_id: &str,
    ) -> Result<SubscriptionView, ApiError> {
        let tier = self.named_tier(&request.tier)?;
        let trial = self.card_less_trial(&tier)?;
        if self.tax.automatic() {
            // Stripe Tax needs the customer's address, which only Checkout collects here: a
            // trial started without it would convert into untaxed charges.
            return Err(ApiError::bad_request(
                "trial_requires_checkout",
                "with Stripe Tax on, a trial starts in /api/v1/billing/checkout, which collects the billing address its tax is computed from",
            ));
        }
        let snapshot = self.limit_and_load(caller, true).await?;
        if snapshot.live_subscription().is_some() {
            return Err(already_subscribed());
        }
        if snapshot.profile.trial_used_at.is_some() {
            return Err(trial_not_available());
        }
        let (customer, new_customer) = self.ensure_customer(caller, snapshot, request_id).await?;
        if !new_customer {
            self.check_customer_may_trial(&customer).await?;
        }
        let user = caller.user_id.as_str();
        let scope = IdempotencyScope::new(["trial", user, tier.as_str()]);
        let subscription = self
            .with_price(
                &tier,
                BillingCycle::Monthly,
                "create trial subscription",
                |price| {
                    let params = NewTrialSubscription {
                        customer: customer.clone(),
                        price,
                        trial: trial_params(&trial),
                        metadata: Metadata::from([("user_id".to_owned(), user.to_owned())]),
                    };
                    let scope = &scope;
                    async move { self.stripe.create_trial_subscription(&params, scope).await }
                },
            )
            .await?;
        let started = subscription
            .trial_start
            .unwrap_or_else(|| self.stripe_now());
        let mark = CustomerUpdate {
            metadata: Metadata::from([(TRIAL_USED_KEY.to_owned(), started.to_string())]),
            ..CustomerUpdate::default()
        };
        if let Err(e) = self.stripe.update_customer(&customer, &mark).await {
            // The subscription's own trial_start records the trial in Stripe too.
            warn!(error = %e, %customer, "marking the customer's trial failed");
        }
        info!(user_id = %caller.user_id, subscription = %subscription.id, %tier, "trial started");
        self.record_trial(caller, &customer, &subscription, request_id)
            .await
    }

    /// The tier's trial, if it offers one that needs no card.
    fn card_less_trial(&self, tier: &Tier) -> Result<TrialSpec, ApiError> {
        let spec = self.catalog.paid(tier).ok_or_else(|| {
            ApiError::bad_request("invalid_plan", format!("{tier} is the free tier"))
        })?;
        match spec.trial {
            None => Err(ApiError::bad_request(
                "no_trial",
                format!("{tier} offers no trial"),
            )),
            Some(trial) if trial.card_required => Err(ApiError::bad_request(
                "trial_requires_card",
                format!("the {tier} trial needs a card: start it with /api/v1/billing/checkout"),
            )),
            Some(trial) => Ok(trial),
        }
    }

    /// Refuses a customer whose metadata records a trial, or that ever had a trialing or live
    /// subscription, in one round of concurrent calls.
    async fn check_customer_may_trial(&self, customer: &str) -> Result<(), ApiError> {
        let (found, subscriptions) = tokio::join!(
            self.stripe.retrieve_customer(customer),
            self.stripe.list_customer_subscriptions(customer)
        );
        let found = found.map_err(|e| stripe_failure("retrieve customer", &e))?;
        let subscriptions = subscriptions.map_err(|e| stripe_failure("list subscriptions", &e))?;
        if super::live::any_live(&subscriptions) {
            return Err(already_subscribed());
        }
        if found.metadata.contains_key(TRIAL_USED_KEY) || had_trial(&subscriptions) {
            return Err(trial_not_available());
        }
        Ok(())
    }

    /// Applies the new trialing subscription to the profile, as the webhook will.
    async fn record_trial(
        &self,
        caller: &Caller,
        customer: &str,
        subscription: &Subscription,
        request_id: &str,
    ) -> Result<SubscriptionView, ApiError> {
        let cause = api_cause("trial", &caller.user_id, request_id);
        for _ in 0..MAX_ATTEMPTS {
            let snapshot: Snapshot = self.load(&caller.user_id).await?;
            let mut profile = snapshot.profile.clone();
            let seen = Observation {
                source: &cause,
                at: self.stripe_now(),
                previous_status: None,
                kind: Seen::Answered,
            };
            apply_subscription(
                &mut profile,
                subscription,
                &seen,
                self.clock.now(),
                &self.catalog,
                self.grace_days,
            )
            .map_err(|reason| {
                error!(%reason, "the trial's subscription cannot be applied");
                ApiError::unavailable()
            })?;
            let mut planned = Planned::new(profile, "trial_started");
            planned.links = vec![(customer.to_owned(), caller.user_id.clone())];
            planned.stripe_refs = vec![subscription.id.clone()];
            match self.commit(&snapshot, planned, &cause).await? {
                Committed::Done(p) | Committed::Unchanged(p) => return Ok(self.view(&p)),
                Committed::AlreadyDone => {
                    return Ok(self.view(&self.load(&caller.user_id).await?.profile))
                }
                Committed::Conflict | Committed::NotPending => continue,
            }
        }
        Err(busy())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TrialEndBehavior;

    #[test]
    fn a_card_less_trial_says_what_its_end_does_and_a_carded_one_leaves_it_to_stripe() {
        let spec = |card_required, end_behavior| TrialSpec {
            days: 14,
            card_required,
            end_behavior,
        };
        for (trial, missing) in [
            (spec(false, TrialEndBehavior::Cancel), Some("cancel")),
            (spec(false, TrialEndBehavior::Pause), Some("pause")),
            (spec(true, TrialEndBehavior::Pause), None),
        ] {
            let params = trial_params(&trial);
            assert_eq!(params.days, 14);
            assert_eq!(params.missing_payment_method.as_deref(), missing);
        }
    }

    #[test]
    fn any_subscription_with_a_trial_start_used_the_trial() {
        let sub = |trial_start| Subscription {
            trial_start,
            ..Subscription::default()
        };
        assert!(!had_trial(&[]));
        assert!(!had_trial(&[sub(None)]));
        assert!(had_trial(&[sub(None), sub(Some(1_700_000_000))]));
    }
}
