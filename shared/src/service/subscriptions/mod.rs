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
mod preview;
mod scheduled;
mod upgrade;
mod user_deleted;

pub use cancel::CancelRequest;
pub use checkout::{
    checkout_retry_after, CheckoutRequest, CheckoutView, CHECKOUT_LIMIT_PER_MINUTE,
    CHECKOUT_REPLAY_WINDOW_SECONDS,
};
pub use downgrade::{DowngradeRequest, DowngradeView};
pub use preview::{PreviewQuery, PreviewView};
pub use scheduled::{parse_event_time, DueChangeError, DueChangesReport};
pub use upgrade::{UpgradeOutcome, UpgradeRequest, UPGRADE_PRORATION};
pub use user_deleted::{UserDeletedError, UserDeletedReport};

use crate::config::{ConfigError, Env, EnvSource, ProcessEnv};
use crate::domain::{BillingCycle, BillingProfile, Catalog, Money, Tier, UserId};
use crate::effects::{describe_change, Effects};
use crate::http::ApiError;
use crate::ports::billing_store::EVENT_RECORD_TTL_SECONDS;
use crate::ports::{
    BillingStore, ChangeKind, ChangeRecord, Commit, CommitError, EventRecord, EventStatus,
    ProfileWrite, SyncTarget,
};
use crate::service::current_subscription::{subscription_view, SubscriptionView};
use crate::service::stripe_failure::stripe_failure;
use crate::stripe::{ErrorKind, StripeApi, StripeError};
use crate::time::{Clock, UnixTime};
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
    now - now.rem_euclid(CHANGE_WINDOW_SECONDS) + CHANGE_WINDOW_SECONDS
}

/// Where Checkout sends the customer back: configuration only, never a URL from the caller
/// (no open redirects). `{CHECKOUT_SESSION_ID}` in the success URL is filled in by Stripe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutUrls {
    pub success_url: String,
    pub cancel_url: String,
}

impl CheckoutUrls {
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

/// Everything the subscription use cases need, built once per cold start.
pub struct SubscriptionService {
    pub store: Arc<dyn BillingStore>,
    pub stripe: Arc<dyn StripeApi>,
    pub catalog: Catalog,
    pub clock: Arc<dyn Clock>,
    /// Days a past-due subscription keeps its tier.
    pub grace_days: u32,
    /// Set for the functions that create Checkout sessions.
    pub checkout: Option<CheckoutUrls>,
    /// Changes per user and hour (see [`DEFAULT_CHANGE_LIMIT_PER_HOUR`]).
    pub change_limit_per_hour: u64,
    /// The catalog's Stripe price ids, resolved once per container.
    pub prices: PriceIds,
}

/// Stripe price ids by lookup key, resolved once per container: a click then needs no
/// `GET /v1/prices`. An id Stripe refuses is forgotten and looked up again (see
/// [`SubscriptionService::with_price`]), so a `catalog-sync` that replaced a price never
/// leaves a container on the old one.
#[derive(Debug, Default)]
pub struct PriceIds(std::sync::Mutex<std::collections::HashMap<String, String>>);

impl PriceIds {
    fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn get(&self, lookup_key: &str) -> Option<String> {
        self.lock().get(lookup_key).cloned()
    }

    fn remember(&self, lookup_key: &str, price_id: &str) {
        self.lock()
            .insert(lookup_key.to_owned(), price_id.to_owned());
    }

    /// Drops every lookup key that resolved to `price_id`.
    fn forget(&self, price_id: &str) {
        self.lock().retain(|_, id| id != price_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, String>> {
        // The map holds plain strings: a panic elsewhere cannot leave it half-written.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What a price change needs to know about the live subscription: Stripe's copy, or the
/// stored profile's where that is current (see [`LiveSubscription::from_profile`]).
#[derive(Debug, Clone, PartialEq, Eq)]
struct LiveSubscription {
    id: String,
    customer: String,
    item_id: Option<String>,
    /// The item's price and quantity (the stored copy knows no quantity).
    price_id: Option<String>,
    quantity: Option<u64>,
    /// The plan it bills for, when the catalog knows its price.
    plan: Option<(Tier, BillingCycle)>,
    period: Option<(UnixTime, UnixTime)>,
    schedule: Option<String>,
    /// The subscription names its own default payment method.
    has_payment_method: bool,
    live: bool,
    /// Read from the stored profile, not from Stripe.
    from_profile: bool,
}

impl LiveSubscription {
    /// Stripe's copy; `plan` is what its price bills for.
    fn from_stripe(sub: &crate::stripe::Subscription, plan: Option<(Tier, BillingCycle)>) -> Self {
        Self {
            id: sub.id.clone(),
            customer: sub.customer_id().to_owned(),
            item_id: sub.primary_item().map(|item| item.id.clone()),
            price_id: sub.price().map(|price| price.id.clone()),
            quantity: sub.primary_item().and_then(|item| item.quantity),
            plan,
            period: sub.current_period_start().zip(sub.current_period_end()),
            schedule: sub.schedule_id().map(str::to_owned),
            has_payment_method: sub.default_payment_method.is_some(),
            live: crate::domain::SubscriptionStatus::from_stripe(&sub.status).is_live(),
            from_profile: false,
        }
    }

    /// The stored profile's copy, when nothing says it lags Stripe: an active (or trialing)
    /// subscription inside its current period, with its item known, no scheduled change, no
    /// cancellation pending and no revocation. Anything else is asked of Stripe. What the
    /// profile cannot see (a change made in the Customer Portal a moment ago) Stripe still
    /// decides: an update naming a stale item or a scheduled subscription fails, and the
    /// caller retries once from Stripe's copy.
    fn from_profile(profile: &BillingProfile, now: UnixTime) -> Option<Self> {
        use crate::domain::SubscriptionStatus::{Active, Trialing};
        let (start, end) = profile
            .current_period_start
            .zip(profile.current_period_end)?;
        let current = matches!(profile.status, Active | Trialing)
            && start <= now
            && now < end
            && profile.pending_change.is_none()
            && !profile.cancel_at_period_end
            && profile.revocation.is_none()
            && profile.deleted_at.is_none();
        if !current {
            return None;
        }
        Some(Self {
            id: profile.subscription_id.clone()?,
            customer: profile.customer_id.clone()?,
            item_id: Some(profile.subscription_item_id.clone()?),
            price_id: Some(profile.price.as_ref()?.price_id.clone()),
            quantity: None,
            plan: Some((profile.tier, profile.billing_cycle?)),
            period: Some((start, end)),
            schedule: None,
            has_payment_method: profile.subscription_payment_method.is_some(),
            live: true,
            from_profile: true,
        })
    }
}

/// Stripe refused a call made from the stored profile's copy of the subscription (an item or
/// state that is no longer so): ask Stripe for its copy and decide again.
fn refused_as_stale(live: &LiveSubscription, e: &StripeError) -> bool {
    live.from_profile && e.kind == ErrorKind::InvalidRequest
}

/// Stripe refused a price the request named: unknown (`resource_missing`) or archived.
fn is_price_error(e: &StripeError) -> bool {
    e.kind == ErrorKind::InvalidRequest
        && e.param
            .as_deref()
            .is_some_and(|p| p == "price" || p.ends_with("[price]"))
}

pub use crate::wiring::InitError;

impl SubscriptionService {
    /// The real adapters (DynamoDB, Stripe) from the environment: the same
    /// wiring as the webhook's processing core.
    pub async fn from_env(checkout: Option<CheckoutUrls>) -> Result<Self, InitError> {
        let core = crate::wiring::processor_from_env().await?;
        Ok(Self {
            store: core.store,
            stripe: core.stripe,
            catalog: core.catalog,
            clock: core.clock,
            grace_days: core.grace_days,
            checkout,
            change_limit_per_hour: Env(&ProcessEnv)
                .parsed("CHANGE_LIMIT_PER_HOUR", DEFAULT_CHANGE_LIMIT_PER_HOUR)?,
            prices: PriceIds::default(),
        })
    }

    /// Now in Stripe's clock: when what a call just answered was true there, comparable with
    /// the `created` of Stripe's events (see [`StripeApi::stripe_time`]).
    fn stripe_now(&self) -> crate::time::UnixTime {
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
            profile: stored.unwrap_or_else(|| BillingProfile::new_free(user.clone())),
            version,
        })
    }

    /// The view the API answers with after a change.
    fn view(&self, profile: &BillingProfile) -> SubscriptionView {
        subscription_view(profile, &self.catalog, self.clock.now())
    }

    /// The Stripe price id of a catalog price, found by its lookup key once per container,
    /// and whether it came from that cache.
    async fn price_id(&self, tier: Tier, cycle: BillingCycle) -> Result<(String, bool), ApiError> {
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
        tier: Tier,
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
            .map_err(|e| stripe_failure(what, &e))
    }

    /// [`Self::with_price`], with Stripe's refusal of the call left to the caller.
    async fn with_price_answer<T, F, Fut>(
        &self,
        tier: Tier,
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
            describe_change(before, &planned.profile, now, cause)
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
        };
        match self.store.commit(commit).await {
            Ok(()) => {}
            Err(CommitError::ProfileConflict) => return Ok(Committed::Conflict),
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
        from_tier: profile.tier,
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

/// The id of the API request (API Gateway's, else the invocation's), naming its cause.
pub fn request_id(req: &lambda_http::Request) -> String {
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    let gateway = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    };
    gateway
        .or_else(|| req.lambda_context_ref().map(|c| c.request_id.clone()))
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| crate::stripe::unique_key("request"))
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
