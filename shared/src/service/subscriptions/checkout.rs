//! `POST /api/v1/billing/checkout`: a Checkout session for a first subscription.

use super::{
    api_cause, stripe_failure, Committed, Planned, Snapshot, SubscriptionService, MAX_ATTEMPTS,
};
use crate::auth::Caller;
use crate::config::{ConfigError, Env, EnvSource, ProcessEnv};
use crate::domain::time::UnixTime;
use crate::domain::{classify, BillingCycle, Tier, Transition};
use crate::http::ApiError;
use crate::service::customer_of_user::find_or_create_customer;
use crate::stripe::{CheckoutMode, IdempotencyScope, Metadata, NewCheckoutSession};
use serde::{Deserialize, Serialize};
use tracing::{error, info};

/// Where Checkout sends the customer back: configuration only, never a URL from the caller
/// (no open redirects). `{CHECKOUT_SESSION_ID}` in the success URL is filled in by Stripe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutUrls {
    /// `CHECKOUT_SUCCESS_URL`: where a completed payment lands.
    pub success_url: String,
    /// `CHECKOUT_CANCEL_URL`: where the customer goes on backing out of Checkout.
    pub cancel_url: String,
}

impl CheckoutUrls {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(&ProcessEnv)
    }

    /// `CHECKOUT_SUCCESS_URL` and `CHECKOUT_CANCEL_URL`, absolute http(s) URLs.
    pub fn load(source: &dyn EnvSource) -> Result<Self, ConfigError> {
        let env = Env(source);
        let url = |name: &'static str| -> Result<String, ConfigError> {
            let value = env.required(name)?;
            let ok = (value.starts_with("https://") || value.starts_with("http://"))
                && !value.contains(char::is_whitespace);
            if ok {
                Ok(value)
            } else {
                Err(ConfigError::Invalid {
                    name,
                    reason: "an absolute http(s) URL is required".into(),
                })
            }
        };
        Ok(Self {
            success_url: url("CHECKOUT_SUCCESS_URL")?,
            cancel_url: url("CHECKOUT_CANCEL_URL")?,
        })
    }
}

/// Checkout sessions a user may create per minute.
pub const CHECKOUT_LIMIT_PER_MINUTE: u64 = 5;

/// Requests for the same plan within this window share an idempotency key, so Stripe replays
/// the first session: a double click opens one session, not two.
pub const CHECKOUT_REPLAY_WINDOW_SECONDS: i64 = 120;

const RATE_WINDOW_SECONDS: i64 = 60;

/// The body: `{tier, billing_cycle}` (cycle defaults to monthly).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// A paid tier's API word; parsed by the service so a bad one gets a 400 that names it.
    pub tier: String,
    /// `monthly` or `yearly`; `None` means monthly.
    #[serde(default)]
    pub billing_cycle: Option<String>,
    /// A promotion code the customer typed, applied to the first invoice (and, as its coupon
    /// says, later ones).
    #[serde(default)]
    pub promotion_code: Option<String>,
}

/// What a Checkout session sells: the plan and the promotion code applied up front.
#[derive(Debug, Clone)]
pub(super) struct CheckoutPlan {
    /// A paid tier.
    pub(super) tier: Tier,
    /// Its cycle.
    pub(super) cycle: BillingCycle,
    /// The resolved `promo_...` id, if the customer gave a code.
    pub(super) promotion_code: Option<String>,
}

/// Where to send the user, and the session to confirm afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckoutView {
    /// The session's hosted Checkout page on Stripe.
    pub checkout_url: String,
    /// Stripe's `cs_…` id, for `confirm-upgrade?checkout_session_id=` after the redirect back.
    pub session_id: String,
}

/// Seconds until the rate-limit window that `now` falls in ends (the `Retry-After` value).
pub fn checkout_retry_after(now: UnixTime) -> i64 {
    crate::domain::time::window_end(now, RATE_WINDOW_SECONDS) - now
}

impl SubscriptionService {
    /// Parses the body's plan and starts Checkout for it.
    pub async fn checkout(
        &self,
        caller: &Caller,
        request: &CheckoutRequest,
        request_id: &str,
    ) -> Result<CheckoutView, ApiError> {
        let tier = self.named_tier(&request.tier)?;
        let cycle = match &request.billing_cycle {
            Some(raw) => BillingCycle::parse(raw)
                .map_err(|e| ApiError::bad_request("invalid_billing_cycle", e.0))?,
            None => BillingCycle::Monthly,
        };
        let free = self.catalog.free_tier();
        if let Transition::Invalid(why) = classify(&self.catalog, (free, None), (&tier, cycle)) {
            return Err(ApiError::bad_request("invalid_plan", why));
        }
        if &tier == free {
            return Err(ApiError::bad_request(
                "invalid_plan",
                format!("{free} is the free tier: it needs no checkout"),
            ));
        }
        // The profile, the rate-limit count and the promotion code in one round trip.
        let (snapshot, count, promotion_code) = tokio::join!(
            self.load(&caller.user_id),
            self.count_checkout(caller),
            self.promotion_code(request.promotion_code.as_deref())
        );
        let snapshot = snapshot?;
        if snapshot.live_subscription().is_some() {
            return Err(live_subscription_conflict());
        }
        let plan = CheckoutPlan {
            tier,
            cycle,
            promotion_code: promotion_code?.map(|code| code.id),
        };
        self.start_checkout_counted(caller, snapshot, plan, request_id, count?)
            .await
    }

    /// Counts one checkout against the caller's per-minute limit; returns the window's count.
    async fn count_checkout(&self, caller: &Caller) -> Result<u64, ApiError> {
        let now = self.clock.now();
        let window_end = crate::domain::time::window_end(now, RATE_WINDOW_SECONDS);
        self.store
            .count_in_window(&format!("checkout#{}", caller.user_id), window_end)
            .await
            .map_err(|e| {
                error!(error = %e, "rate-limit counter failed");
                ApiError::unavailable()
            })
    }

    /// [`Self::start_checkout_counted`], counting the checkout first.
    pub(super) async fn start_checkout(
        &self,
        caller: &Caller,
        snapshot: Snapshot,
        plan: CheckoutPlan,
        request_id: &str,
    ) -> Result<CheckoutView, ApiError> {
        let count = self.count_checkout(caller).await?;
        self.start_checkout_counted(caller, snapshot, plan, request_id, count)
            .await
    }

    /// Rate-limits (`count`: this checkout's place in its window), makes sure the user has
    /// exactly one Stripe customer and no live subscription, and creates (or replays) the
    /// Checkout session.
    async fn start_checkout_counted(
        &self,
        caller: &Caller,
        snapshot: Snapshot,
        plan: CheckoutPlan,
        request_id: &str,
        count: u64,
    ) -> Result<CheckoutView, ApiError> {
        let CheckoutPlan {
            tier,
            cycle,
            promotion_code,
        } = plan;
        let urls = self.checkout.as_ref().ok_or_else(|| {
            error!(
                "CHECKOUT_SUCCESS_URL / CHECKOUT_CANCEL_URL are not configured for this function"
            );
            ApiError::unavailable()
        })?;
        let now = self.clock.now();
        if count > CHECKOUT_LIMIT_PER_MINUTE {
            info!(user_id = %caller.user_id, count, "checkout rate limit reached");
            let retry_after = checkout_retry_after(now);
            return Err(ApiError::rate_limited(
                format!(
                    "at most {CHECKOUT_LIMIT_PER_MINUTE} checkouts a minute; retry in {retry_after} seconds"
                ),
                retry_after,
            ));
        }
        // One trial per account: the profile's record, then Stripe's (below).
        let mut trial = self
            .catalog
            .paid(&tier)
            .and_then(|spec| spec.trial)
            .filter(|_| snapshot.profile.trial_used_at.is_none());
        let (customer, ()) = tokio::join!(
            self.ensure_customer(caller, snapshot, request_id),
            self.prefetch_prices()
        );
        let (customer, new_customer) = customer?;
        // The stored profile lags the webhook: ask Stripe too, so a second click after paying
        // (before the webhook landed) cannot start a second subscription. A customer this
        // request created and linked has none: a session is only ever made for a linked one.
        if !new_customer {
            let subscriptions = self
                .stripe
                .list_customer_subscriptions(&customer)
                .await
                .map_err(|e| stripe_failure("list subscriptions", &e))?;
            if super::live::any_live(&subscriptions) {
                return Err(live_subscription_conflict());
            }
            if super::had_trial(&subscriptions) {
                trial = None;
            }
        }
        let user = caller.user_id.as_str();
        let bucket = (now.div_euclid(CHECKOUT_REPLAY_WINDOW_SECONDS)).to_string();
        let offer = if trial.is_some() { "trial" } else { "paid" };
        let code = promotion_code.as_deref().unwrap_or("");
        let scope = IdempotencyScope::new([
            "checkout",
            user,
            tier.as_str(),
            cycle.as_str(),
            offer,
            code,
            &bucket,
        ]);
        let session = self
            .with_price(&tier, cycle, "create checkout session", |price| {
                let params = NewCheckoutSession {
                    mode: CheckoutMode::Subscription {
                        price,
                        quantity: 1,
                        metadata: Metadata::from([("user_id".to_owned(), user.to_owned())]),
                        trial: trial.as_ref().map(super::trial_params),
                    },
                    customer: Some(customer.clone()),
                    customer_email: None,
                    client_reference_id: Some(user.to_owned()),
                    success_url: urls.success_url.clone(),
                    cancel_url: urls.cancel_url.clone(),
                    metadata: Metadata::from([
                        ("user_id".to_owned(), user.to_owned()),
                        ("tier".to_owned(), tier.as_str().to_owned()),
                        ("billing_cycle".to_owned(), cycle.as_str().to_owned()),
                    ]),
                    promotion_code: promotion_code.clone(),
                    allow_promotion_codes: self.allow_promotion_codes,
                    automatic_tax: self.tax.automatic(),
                };
                let scope = &scope;
                async move { self.stripe.create_checkout_session(&params, scope).await }
            })
            .await?;
        let checkout_url = session.url.clone().ok_or_else(|| {
            error!(session = %session.id, "Stripe returned a checkout session without a URL");
            ApiError::unavailable()
        })?;
        info!(user_id = %caller.user_id, session = %session.id, %tier, %cycle, trial = trial.is_some(), "checkout started");
        Ok(CheckoutView {
            checkout_url,
            session_id: session.id,
        })
    }

    /// The user's one Stripe customer: the profile's, else the one tagged with their user id,
    /// else a new one (idempotent per user; see [`find_or_create_customer`]). Linked to the
    /// profile before it is used. `true` with a customer this call created and linked.
    pub(super) async fn ensure_customer(
        &self,
        caller: &Caller,
        mut snapshot: Snapshot,
        request_id: &str,
    ) -> Result<(String, bool), ApiError> {
        if let Some(id) = &snapshot.profile.customer_id {
            return Ok((id.clone(), false));
        }
        let found = find_or_create_customer(
            self.stripe.as_ref(),
            caller.user_id.as_str(),
            caller.email.as_deref(),
        )
        .await
        .map_err(|(call, e)| stripe_failure(call, &e))?;
        let (customer, created) = (found.id, found.created);
        let cause = api_cause("customer", &caller.user_id, request_id);
        for _ in 0..MAX_ATTEMPTS {
            if let Some(existing) = &snapshot.profile.customer_id {
                return Ok((existing.clone(), false));
            }
            let mut profile = snapshot.profile.clone();
            profile.customer_id = Some(customer.clone());
            if profile.email.is_none() {
                profile.email = caller.email.clone();
            }
            let mut planned = Planned::new(profile, "customer_linked");
            planned.links = vec![(customer.clone(), caller.user_id.clone())];
            match self.commit(&snapshot, planned, &cause).await? {
                Committed::Conflict | Committed::AlreadyDone => {
                    snapshot = self.load(&caller.user_id).await?;
                }
                _ => return Ok((customer, created)),
            }
        }
        Err(super::busy())
    }
}

fn live_subscription_conflict() -> ApiError {
    ApiError::conflict(
        "subscription_exists",
        "you already have a subscription: change it with /api/v1/subscriptions/upgrade or /downgrade",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_counts_to_the_end_of_the_minute() {
        assert_eq!(checkout_retry_after(120), 60);
        assert_eq!(checkout_retry_after(179), 1);
        assert_eq!(checkout_retry_after(150), 30);
    }
}
