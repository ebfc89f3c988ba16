//! The subscription lifecycle: first subscription through Checkout, confirmation, preview,
//! upgrade now, downgrade at period end, cancel and resume, scheduled changes, and account
//! deletion. Each use case calls Stripe first (Stripe is the source of truth for money), then
//! commits the resulting profile, its audit items and its outbox atomically, in a record under
//! the request's cause. The table's stream carries that record to `outbox-relay`, which
//! publishes the outbox, as for a webhook event (see [`crate::outbox`]).

mod cancel;
mod checkout;
mod confirm;
mod downgrade;
mod live;
mod preview;
mod prices;
mod promotion;
mod scheduled;
mod trial;
mod upgrade;
mod user_deleted;

pub use cancel::CancelRequest;
pub use checkout::CheckoutUrls;
pub use checkout::{
    checkout_retry_after, CheckoutRequest, CheckoutView, CHECKOUT_LIMIT_PER_MINUTE,
    CHECKOUT_REPLAY_WINDOW_SECONDS,
};
pub use downgrade::{DowngradeRequest, DowngradeView};
pub use preview::{PreviewQuery, PreviewView};
pub use prices::PriceIds;
pub use promotion::TaxMode;
pub use scheduled::{parse_event_time, DueChangeError, DueChangesReport};
pub use trial::{had_trial, trial_params, TrialRequest, TRIAL_USED_KEY};
pub use upgrade::{UpgradeOutcome, UpgradeRequest};
pub use user_deleted::{UserDeletedError, UserDeletedReport};

use live::{is_price_error, refused_as_stale, LiveSubscription};
use promotion::{invalid_promotion_code, promotion_code_refused, refusal_or_failure};

use crate::domain::time::UnixTime;
use crate::domain::{BillingCycle, BillingProfile, Catalog, Money, Tier, UserId};
use crate::effects::{describe_change, Effects};
use crate::http::ApiError;
use crate::ports::billing_store::EVENT_RECORD_TTL_SECONDS;
use crate::ports::Clock;
use crate::ports::{
    BillingStore, ChangeKind, ChangeRecord, Commit, CommitError, EventRecord, EventStatus,
    ProfileWrite, StripeApi, SyncTarget,
};
use crate::service::current_subscription::{subscription_view, SubscriptionView};
use crate::service::stripe_failure::stripe_failure;
use crate::stripe::StripeError;
use serde_json::{Map, Value};
use std::sync::Arc;
use tracing::{error, info, warn};

/// How often a use case re-reads and decides again when the profile changed under it.
const MAX_ATTEMPTS: usize = 5;

/// Subscription changes (upgrade, downgrade, cancel, resume, withdraw) one user may make per
/// hour, together, unless `CHANGE_LIMIT_PER_HOUR` says otherwise: each calls Stripe, and a
/// loop of them would churn invoices and emails.
pub const DEFAULT_CHANGE_LIMIT_PER_HOUR: u64 = 10;

const CHANGE_WINDOW_SECONDS: i64 = 3600;

/// The end of the fixed hourly window of the change limit that `now` falls in.
pub fn change_window_end(now: UnixTime) -> UnixTime {
    crate::domain::time::window_end(now, CHANGE_WINDOW_SECONDS)
}

/// Everything the subscription use cases need, built once per cold start.
pub struct SubscriptionService {
    /// The billing table: profiles, changes, rate-limit counters.
    pub store: Arc<dyn BillingStore>,
    /// Stripe, the source of truth for the subscription itself.
    pub stripe: Arc<dyn StripeApi>,
    /// The tiers and prices offered.
    pub catalog: Catalog,
    /// The service's "now": the system clock deployed, a fixed one in tests.
    pub clock: Arc<dyn Clock>,
    /// Days a past-due subscription keeps its tier.
    pub grace_days: u32,
    /// Set for the functions that create Checkout sessions.
    pub checkout: Option<CheckoutUrls>,
    /// Changes per user and hour (see [`DEFAULT_CHANGE_LIMIT_PER_HOUR`]).
    pub change_limit_per_hour: u64,
    /// The catalog's Stripe price ids, resolved once per container.
    pub prices: PriceIds,
    /// `ALLOW_PROMOTION_CODES`: Checkout lets the customer type a promotion code.
    pub allow_promotion_codes: bool,
    /// `TAX_MODE`: whether Checkout's subscriptions are taxed by Stripe Tax.
    pub tax: TaxMode,
}

impl SubscriptionService {
    /// Now in Stripe's clock: when what a call just answered was true there, comparable with
    /// the `created` of Stripe's events (see [`StripeApi::stripe_time`]).
    fn stripe_now(&self) -> crate::domain::time::UnixTime {
        self.stripe.stripe_time(self.clock.now())
    }

    /// Counts one change against the caller's hourly limit; past it, 429 with `Retry-After`.
    async fn limit_changes(&self, caller: &crate::auth::Caller) -> Result<(), ApiError> {
        let now = self.clock.now();
        let window_end = change_window_end(now);
        let count = self
            .store
            .count_in_window(&format!("change#{}", caller.user_id), window_end)
            .await
            .map_err(|e| {
                error!(error = %e, "rate-limit counter failed");
                ApiError::unavailable()
            })?;
        if count > self.change_limit_per_hour {
            info!(user_id = %caller.user_id, count, "subscription change rate limit reached");
            return Err(ApiError::rate_limited(
                format!(
                    "at most {} subscription changes an hour; retry in {} seconds",
                    self.change_limit_per_hour,
                    window_end - now
                ),
                window_end - now,
            ));
        }
        Ok(())
    }

    /// Counts one change against the caller's hourly limit and reads their profile, in one
    /// round of concurrent calls (with `prices`, also the catalog's price ids on a cold
    /// container).
    async fn limit_and_load(
        &self,
        caller: &crate::auth::Caller,
        prices: bool,
    ) -> Result<Snapshot, ApiError> {
        let (limited, snapshot, ()) = tokio::join!(
            self.limit_changes(caller),
            self.load(&caller.user_id),
            async {
                if prices {
                    self.prefetch_prices().await;
                }
            }
        );
        limited?;
        snapshot
    }

    /// The caller's profile as stored, with the version the next write is conditioned on.
    async fn load(&self, user: &UserId) -> Result<Snapshot, ApiError> {
        let stored = self.store.profile(user).await.map_err(|e| {
            error!(error = %e, "profile read failed");
            ApiError::unavailable()
        })?;
        let version = stored.as_ref().map_or(0, |p| p.version);
        Ok(Snapshot {
            profile: stored
                .unwrap_or_else(|| BillingProfile::new_free(user.clone(), &self.catalog)),
            version,
        })
    }

    /// The catalog's tier the caller named; a 400 that lists the tiers there are otherwise.
    fn named_tier(&self, raw: &str) -> Result<Tier, ApiError> {
        self.catalog
            .tier_named(raw)
            .map(|spec| spec.tier.clone())
            .map_err(|e| ApiError::bad_request("invalid_tier", e.0))
    }

    /// The view the API answers with after a change.
    fn view(&self, profile: &BillingProfile) -> SubscriptionView {
        subscription_view(profile, &self.catalog, self.clock.now())
    }

    /// The Stripe price id of a catalog price, found by its lookup key once per container,
    /// and whether it came from that cache.
    async fn price_id(&self, tier: &Tier, cycle: BillingCycle) -> Result<(String, bool), ApiError> {
        let spec = self.catalog.price(tier, cycle).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_plan",
                format!("there is no {cycle} price for {tier}"),
            )
        })?;
        let key = spec.lookup_key.as_str();
        if let Some(id) = self.prices.get(key) {
            return Ok((id, true));
        }
        self.load_prices().await?;
        self.prices.get(key).map(|id| (id, false)).ok_or_else(|| {
            error!(lookup_key = %key, "no active Stripe price has this lookup key: run catalog-sync");
            ApiError::unavailable()
        })
    }

    /// Resolves every catalog price in one call: a click needs one, the others come free.
    async fn load_prices(&self) -> Result<(), ApiError> {
        let keys = self.catalog.lookup_keys();
        let prices = self
            .stripe
            .list_prices_by_lookup_keys(&keys, true)
            .await
            .map_err(|e| stripe_failure("list prices", &e))?;
        for price in prices {
            if let Some(key) = price.lookup_key.as_deref().filter(|k| keys.contains(k)) {
                self.prices.remember(key, &price.id);
            }
        }
        Ok(())
    }

    /// Resolves the catalog's price ids alongside a call that does not need them yet, so a
    /// cold container waits for one round trip instead of two; a failure is left to the call
    /// that needs an id.
    async fn prefetch_prices(&self) {
        if self.prices.is_empty() {
            let _ = self.load_prices().await;
        }
    }

    /// Runs `call` with the Stripe price id of a catalog plan. When Stripe refuses a cached id
    /// (`catalog-sync` replaced and archived that price since), the id is looked up again and
    /// `call` runs once more with the fresh one; `what` names the call in errors.
    async fn with_price<T, F, Fut>(
        &self,
        tier: &Tier,
        cycle: BillingCycle,
        what: &str,
        call: F,
    ) -> Result<T, ApiError>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, StripeError>>,
    {
        self.with_price_answer(tier, cycle, call)
            .await?
            .map_err(|e| refusal_or_failure(what, &e))
    }

    /// [`Self::with_price`], with Stripe's refusal of the call left to the caller.
    async fn with_price_answer<T, F, Fut>(
        &self,
        tier: &Tier,
        cycle: BillingCycle,
        call: F,
    ) -> Result<Result<T, StripeError>, ApiError>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, StripeError>>,
    {
        let (price, cached) = self.price_id(tier, cycle).await?;
        match call(price.clone()).await {
            Err(e) if cached && is_price_error(&e) => {
                warn!(%price, error = %e, "Stripe refused the cached price id; looking it up again");
                self.prices.forget(&price);
                let (fresh, _) = self.price_id(tier, cycle).await?;
                Ok(call(fresh).await)
            }
            answer => Ok(answer),
        }
    }

    /// Stripe's copy of a live subscription, read while the catalog's price ids are looked up.
    async fn live_from_stripe(&self, subscription: &str) -> Result<LiveSubscription, ApiError> {
        let (sub, ()) = tokio::join!(
            self.stripe.retrieve_subscription(subscription),
            self.prefetch_prices()
        );
        let sub = sub.map_err(|e| stripe_failure("retrieve subscription", &e))?;
        Ok(LiveSubscription::from_stripe(
            &sub,
            self.plan_of(sub.price()),
        ))
    }

    /// Which catalog plan a Stripe price bills for, a legacy price included.
    fn plan_of(&self, price: Option<&crate::stripe::Price>) -> Option<(Tier, BillingCycle)> {
        let plan = self.catalog.resolve_price(&price?.facts())?;
        Some((plan.tier, plan.cycle))
    }

    /// Commits a planned change of `snapshot` with its outbox. The profile write is
    /// conditioned on the snapshot's version; the outbox is recorded under `cause`, so the same
    /// cause never commits twice.
    async fn commit(
        &self,
        snapshot: &Snapshot,
        planned: Planned,
        cause: &str,
    ) -> Result<Committed, ApiError> {
        let now = self.clock.now();
        let before = &snapshot.profile;
        let mut effects = if planned.quiet {
            Effects::default()
        } else {
            describe_change(&self.catalog, before, &planned.profile, now, cause)
        };
        for record in &mut effects.changes {
            record.amount = planned.amount.clone();
            record.stripe_refs = planned.stripe_refs.clone();
        }
        effects.changes.extend(planned.records);
        for (detail_type, detail) in planned.events {
            effects.add_event(&planned.profile, detail_type, detail, cause);
        }
        if let Some((template, fields)) = planned.email {
            effects.add_email(&planned.profile, template, fields, cause);
        }
        if let Some(fields) = planned.email_fields {
            for job in effects.outbox.jobs.iter_mut().filter(|j| j.email.is_some()) {
                job.email_fields.extend(fields.clone());
            }
        }
        if planned.no_email {
            for job in &mut effects.outbox.jobs {
                job.email = None;
                job.email_fields = Map::new();
                job.targets.retain(|t| *t != SyncTarget::Email);
            }
            effects.outbox.jobs.retain(|j| !j.targets.is_empty());
        }

        let mut profile = planned.profile;
        let changed = materially_changed(before, &profile);
        if changed {
            profile.updated_at = now;
        }
        let settle: Vec<(UserId, String)> = planned
            .settle
            .into_iter()
            .map(|id| (profile.user_id.clone(), id))
            .collect();
        if !changed && effects.is_empty() && settle.is_empty() && planned.links.is_empty() {
            return Ok(Committed::Unchanged(Box::new(profile)));
        }
        let outbox = effects.outbox;
        let event = (!outbox.is_empty()).then(|| EventRecord {
            event_id: cause.to_owned(),
            event_type: planned.label.to_owned(),
            status: EventStatus::Completed,
            created: now,
            payload_hash: String::new(),
            attempts: 1,
            detail: Some(planned.label.to_owned()),
            outbox,
            updated_at: now,
            expires_at: now + EVENT_RECORD_TTL_SECONDS,
        });
        let commit = Commit {
            profile: changed.then(|| ProfileWrite {
                profile: profile.clone(),
                expected_version: snapshot.version,
            }),
            customer_links: planned.links,
            changes: effects.changes,
            settle_changes: settle,
            payments: vec![],
            event,
            profile_unchanged: None,
        };
        match self.store.commit(commit).await {
            Ok(()) => {}
            Err(CommitError::ProfileConflict | CommitError::PaymentConflict) => {
                return Ok(Committed::Conflict)
            }
            Err(CommitError::EventAlreadyRecorded) => return Ok(Committed::AlreadyDone),
            Err(CommitError::ChangeNotPending) => return Ok(Committed::NotPending),
            Err(CommitError::CustomerLinkedElsewhere) => {
                error!(user_id = %profile.user_id, "the Stripe customer is linked to another user");
                return Err(ApiError::conflict(
                    "customer_conflict",
                    "your billing account is linked elsewhere; contact support",
                ));
            }
            Err(CommitError::Store(e)) => {
                error!(error = %e, "commit failed");
                return Err(ApiError::unavailable());
            }
        }
        info!(user_id = %profile.user_id, cause, label = planned.label, "committed");
        Ok(Committed::Done(Box::new(profile)))
    }
}

/// A profile as read, and the version a write must find.
#[derive(Debug, Clone)]
struct Snapshot {
    profile: BillingProfile,
    version: u64,
}

impl Snapshot {
    /// The user has a subscription that still bills.
    fn live_subscription(&self) -> Option<&str> {
        self.profile
            .subscription_id
            .as_deref()
            .filter(|_| self.profile.status.is_live())
    }
}

/// What a use case decided: the new profile and what describe_change cannot know.
#[derive(Debug, Clone)]
struct Planned {
    profile: BillingProfile,
    /// A short name for logs and the outbox record (`upgrade`, `downgrade_scheduled`, ...).
    label: &'static str,
    links: Vec<(String, UserId)>,
    /// This user's scheduled changes that stop being pending.
    settle: Vec<String>,
    /// Audit items beyond the ones describing the profile change.
    records: Vec<ChangeRecord>,
    events: Vec<(&'static str, Value)>,
    email: Option<(&'static str, Map<String, Value>)>,
    /// Extra fields for the change's email (an upgrade's amount).
    email_fields: Option<Map<String, Value>>,
    /// Charged now, put on the change's audit items.
    amount: Option<Money>,
    stripe_refs: Vec<String>,
    /// No email at all (the account is being deleted).
    no_email: bool,
    /// Only `records`, `events` and `email`: the profile change is not described again
    /// (someone else, e.g. the webhook, already did).
    quiet: bool,
}

impl Planned {
    fn new(profile: BillingProfile, label: &'static str) -> Self {
        Self {
            profile,
            label,
            links: vec![],
            settle: vec![],
            records: vec![],
            events: vec![],
            email: None,
            email_fields: None,
            amount: None,
            stripe_refs: vec![],
            no_email: false,
            quiet: false,
        }
    }
}

/// What became of a commit.
#[derive(Debug)]
enum Committed {
    Done(Box<BillingProfile>),
    /// Nothing to write: the profile already says it.
    Unchanged(Box<BillingProfile>),
    /// The profile changed since it was read: read again and decide again.
    Conflict,
    /// The same cause was committed before (a retried request).
    AlreadyDone,
    /// A scheduled change was settled by someone else first.
    NotPending,
}

/// Whether a profile differs in anything but bookkeeping. A state that only restamps the
/// applied version (the webhook got there first) is not worth a write.
fn materially_changed(before: &BillingProfile, after: &BillingProfile) -> bool {
    let strip = |p: &BillingProfile| {
        let mut p = p.clone();
        p.updated_at = 0;
        p.version = 0;
        p.subscription_version = None;
        p
    };
    strip(before) != strip(after)
}

/// An audit item that is not a profile difference (a scheduled downgrade, a withdrawal).
fn record(
    profile: &BillingProfile,
    kind: ChangeKind,
    to: (Tier, Option<BillingCycle>),
    now: UnixTime,
    cause: &str,
    suffix: &str,
) -> ChangeRecord {
    ChangeRecord {
        user_id: profile.user_id.clone(),
        change_id: format!("{now:012}#{cause}#{suffix}"),
        kind,
        from_tier: profile.tier.clone(),
        to_tier: to.0,
        billing_cycle: to.1,
        recorded_at: now,
        due_at: None,
        pending: false,
        cause: cause.to_owned(),
        amount: None,
        stripe_refs: vec![],
    }
}

/// The error when a change needs a subscription the caller does not have.
fn no_subscription() -> ApiError {
    ApiError::conflict(
        "no_subscription",
        "you have no active subscription; start one with POST /api/v1/billing/checkout",
    )
}

/// Too many attempts lost to concurrent changes.
fn busy() -> ApiError {
    warn!("the profile kept changing; giving up");
    ApiError::unavailable()
}

/// The pending scheduled change's id, when it is one Tierflow recorded.
fn pending_change_id(profile: &BillingProfile) -> Option<String> {
    profile.pending_change.as_ref()?.change_id.clone()
}

/// The cause recorded for an API request: the operation and the gateway's request id, so a
/// retried invocation of the same request is recognised.
pub fn api_cause(operation: &str, user: &UserId, request_id: &str) -> String {
    format!("api:{operation}:{user}:{request_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_change_limit_counts_in_fixed_hours() {
        // (now, window end)
        for (now, end) in [(0, 3600), (3599, 3600), (3600, 7200), (5400, 7200)] {
            assert_eq!(change_window_end(now), end, "{now}");
        }
    }

    #[test]
    fn checkout_urls_must_be_configured_absolute_urls() {
        let ok = CheckoutUrls::load(&env(&[
            (
                "CHECKOUT_SUCCESS_URL",
                "https://app/ok?s={CHECKOUT_SESSION_ID}",
            ),
            ("CHECKOUT_CANCEL_URL", "https://app/cancel"),
        ]))
        .unwrap();
        assert_eq!(ok.cancel_url, "https://app/cancel");
        let err = CheckoutUrls::load(&env(&[("CHECKOUT_CANCEL_URL", "https://app")])).unwrap_err();
        assert_eq!(err.to_string(), "CHECKOUT_SUCCESS_URL must be set");
        let err = CheckoutUrls::load(&env(&[
            ("CHECKOUT_SUCCESS_URL", "javascript:alert(1)"),
            ("CHECKOUT_CANCEL_URL", "https://app"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("CHECKOUT_SUCCESS_URL is invalid"));
    }
}
