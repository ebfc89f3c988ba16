//! Support for the functions' handler tests: a Stripe emulator started in-process with the
//! catalog created in it, the in-memory store, queue and bus (the store's stream relayed into
//! them as `outbox-relay` does), a [`SubscriptionService`] over them, and API Gateway requests
//! built from the `events/` samples.
//!
//! Each function's test takes its dependencies from here: [`Harness::route`] for the
//! subscription routes, [`Harness::payment_route`] for the payment routes, the harness's fields
//! and its `*_config` and `cursor_key` methods for the rest.

mod interleaved;

pub use interleaved::{InterleavedStore, Write};

use lambda_http::Request;
use serde_json::Value;
use std::sync::Arc;
use stripe_emulator::{Config, Emulator};
use tierflow::adapters::memory::{MemoryBus, MemoryQueue, MemoryStore};
use tierflow::adapters::stripe::catalog_sync::{apply, plan};
use tierflow::adapters::stripe::{RetryPolicy, StripeClient};
use tierflow::auth::Caller;
use tierflow::config::{Secret, StripeConfig};
use tierflow::domain::Currency;
use tierflow::domain::{BillingProfile, Catalog, UserId};
use tierflow::ports::{BillingStore, Commit, DomainEvent, ProfileWrite, StripeApi, SyncJob};
use tierflow::service::payments::{PaymentsConfig, PortalConfig};
use tierflow::service::subscriptions::{
    CheckoutRequest, CheckoutUrls, DowngradeRequest, SubscriptionService,
};
use tierflow::stripe::{IdempotencyScope, NewCustomer};
use tierflow::time::FixedClock;

/// The user in the `events/` samples' authorizer claims.
pub const SAMPLE_USER: &str = "8f14e45f-ceea-467f-a0e6-6f6b7a1c2d3e";
/// Their email.
pub const SAMPLE_EMAIL: &str = "ada@example.com";
/// Where [`Harness::portal_config`] sends the customer back from the Customer Portal.
pub const PORTAL_RETURN_URL: &str = "https://app.example/account/billing";
/// The key that signs history cursors in handler tests (as long as `CursorConfig` requires).
const HISTORY_CURSOR_KEY: &str = "history-handler-test-key-0123456789";
/// The secret key every request of the harness sends (the emulator accepts any).
const SECRET_KEY: &str = "sk_test_testkit";

/// An emulator with the catalog, and the in-memory ports a handler test inspects.
pub struct Harness {
    /// The in-process Stripe emulator, on a free loopback port; stops when the harness drops.
    pub emulator: Emulator,
    /// A client of the emulator that never retries, so a test sees each failure at once.
    pub stripe: Arc<StripeClient>,
    /// The store the handlers write; its stream is relayed by [`Harness::relay`].
    pub store: Arc<MemoryStore>,
    /// Sync jobs, filled only by [`Harness::relay`] (as `outbox-relay` fills SQS).
    pub queue: Arc<MemoryQueue>,
    /// Domain events, filled only by [`Harness::relay`] (as `outbox-relay` fills EventBridge).
    pub bus: Arc<MemoryBus>,
    /// The services' clock: Stripe's at the start and after [`Harness::advance`], else still.
    pub clock: Arc<FixedClock>,
    /// The built-in catalog, whose products and prices the emulator holds.
    pub catalog: Catalog,
    /// For calls to the emulator outside the Stripe client ([`Harness::emulator_call`]).
    pub http: reqwest::Client,
}

impl Harness {
    /// Starts the emulator on a free port and creates the built-in catalog's products and prices.
    pub async fn start() -> Self {
        Self::with_catalog(Catalog::built_in()).await
    }

    /// [`Harness::start`] with `catalog` instead of the built-in one (a team's own tiers).
    pub async fn with_catalog(catalog: Catalog) -> Self {
        let emulator = Emulator::start(Config {
            port: 0,
            ..Config::default()
        })
        .await
        .expect("the emulator starts");
        let stripe = stripe_at(emulator.url());
        let products = stripe.list_products().await.expect("products");
        let prices = stripe
            .list_prices_by_lookup_keys(&catalog.lookup_keys(), false)
            .await
            .expect("prices");
        apply(&stripe, &plan(&catalog, &products, &prices), |_| {})
            .await
            .expect("catalog sync");
        let harness = Self {
            emulator,
            stripe: Arc::new(stripe),
            store: Arc::new(MemoryStore::new()),
            queue: Arc::new(MemoryQueue::new()),
            bus: Arc::new(MemoryBus::new()),
            clock: Arc::new(FixedClock::at(0)),
            catalog,
            http: reqwest::Client::new(),
        };
        harness.sync_clock().await;
        harness
    }

    /// A subscription route's dependencies over this harness, callers trusted from API Gateway.
    pub fn route(&self) -> tierflow::wiring::SubscriptionRoute {
        tierflow::wiring::SubscriptionRoute {
            service: self.service(),
            auth: tierflow::auth::Authenticator::ApiGateway,
        }
    }

    /// A payment route's dependencies over this harness with `settings`, callers trusted from
    /// API Gateway, at the system's time.
    pub fn payment_route<S>(&self, settings: S) -> tierflow::wiring::PaymentRoute<S> {
        tierflow::wiring::PaymentRoute {
            store: self.store.clone(),
            stripe: self.stripe.clone(),
            auth: tierflow::auth::Authenticator::ApiGateway,
            clock: Arc::new(tierflow::time::SystemClock),
            catalog: self.catalog.clone(),
            settings,
        }
    }

    /// A service over the harness's ports, with Checkout URLs configured.
    pub fn service(&self) -> SubscriptionService {
        SubscriptionService {
            store: self.store.clone(),
            stripe: self.stripe.clone(),
            catalog: self.catalog.clone(),
            clock: self.clock.clone(),
            grace_days: 3,
            checkout: Some(CheckoutUrls {
                success_url: "https://app.example/billing/done?session_id={CHECKOUT_SESSION_ID}"
                    .into(),
                cancel_url: "https://app.example/billing".into(),
            }),
            change_limit_per_hour: tierflow::service::subscriptions::DEFAULT_CHANGE_LIMIT_PER_HOUR,
            prices: Default::default(),
            allow_promotion_codes: false,
            tax: Default::default(),
        }
    }

    /// Publishes the outboxes committed since the last call, as `outbox-relay` does from the
    /// table's stream.
    pub async fn relay(&self) {
        relay(&self.store, &self.queue, &self.bus).await;
    }

    /// Every sync job published so far (after relaying what was committed).
    pub async fn jobs(&self) -> Vec<SyncJob> {
        self.relay().await;
        self.queue.jobs()
    }

    /// Every domain event published so far (after relaying what was committed).
    pub async fn events(&self) -> Vec<DomainEvent> {
        self.relay().await;
        self.bus.events()
    }

    /// The emulator's clock (Stripe's "now").
    pub async fn stripe_now(&self) -> i64 {
        let clock = self.emulator_call("GET", "/_emulator/clock", &[]).await;
        clock["now"].as_i64().expect("clock")
    }

    /// Sets the service's clock to the emulator's.
    pub async fn sync_clock(&self) {
        self.clock.set(self.stripe_now().await);
    }

    /// Moves Stripe's clock forward (renewals, schedule phases happen) and ours with it.
    pub async fn advance(&self, seconds: i64) {
        let s = seconds.to_string();
        self.emulator_call("POST", "/_emulator/clock/advance", &[("seconds", &s)])
            .await;
        self.sync_clock().await;
    }

    /// Calls the emulator (Stripe paths or `/_emulator/` hooks) and returns the JSON body.
    pub async fn emulator_call(&self, method: &str, path: &str, form: &[(&str, &str)]) -> Value {
        let resp = self.emulator_request(method, path, form).await;
        resp.json().await.expect("json")
    }

    /// Calls the emulator as [`Harness::emulator_call`] does and returns the whole response.
    /// `method` is GET (`form` as the query), DELETE, or anything else for a form POST.
    pub async fn emulator_request(
        &self,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut encoded = tierflow::stripe::Form::new();
        for (k, v) in form {
            encoded = encoded.field(*k, *v);
        }
        let url = format!("{}{path}", self.emulator.url());
        let req = match method {
            "GET" if form.is_empty() => self.http.get(url),
            "GET" => self.http.get(format!("{url}?{}", encoded.encode())),
            "DELETE" => self.http.delete(url),
            _ => self
                .http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(encoded.encode()),
        };
        req.bearer_auth(SECRET_KEY)
            .header("Stripe-Version", tierflow::stripe::STRIPE_API_VERSION)
            .send()
            .await
            .expect("emulator answers")
    }

    /// Completes a Checkout session as the customer would (`payment_method` a test card).
    pub async fn complete_checkout(&self, session_id: &str, payment_method: &str) {
        let body = self
            .emulator_call(
                "POST",
                &format!("/_emulator/checkout/sessions/{session_id}/complete"),
                &[("payment_method", payment_method)],
            )
            .await;
        assert_eq!(body["status"], "complete", "{body}");
    }

    /// Subscribes `user` to a plan end to end through the service: Checkout, the customer
    /// paying with `card`, and the confirmation. Returns the profile.
    pub async fn subscribe(
        &self,
        user: &str,
        tier: &str,
        cycle: &str,
        card: &str,
    ) -> BillingProfile {
        let service = self.service();
        let caller = caller(user);
        let view = service
            .checkout(
                &caller,
                &CheckoutRequest {
                    tier: tier.into(),
                    billing_cycle: Some(cycle.into()),
                    promotion_code: None,
                },
                &unique("subscribe"),
            )
            .await
            .expect("checkout");
        self.complete_checkout(&view.session_id, card).await;
        service
            .confirm_checkout(&caller, &view.session_id, &unique("confirm"))
            .await
            .expect("confirm");
        self.profile(user).await
    }

    /// Schedules `user`'s downgrade to `tier` at period end (in `cycle`, else the current one)
    /// through the service.
    pub async fn schedule_downgrade(&self, user: &str, tier: &str, cycle: Option<&str>) {
        self.service()
            .schedule_downgrade(
                &caller(user),
                &DowngradeRequest {
                    target_tier: tier.into(),
                    billing_cycle: cycle.map(str::to_owned),
                },
                &unique("downgrade"),
            )
            .await
            .expect("downgrade scheduled");
    }

    /// Stores `profile` as a new one (version 0), linking `customer` to its user when given.
    pub async fn store_new_profile(&self, profile: BillingProfile, customer: Option<&str>) {
        store_new_profile(&self.store, profile, customer).await;
    }

    /// The id of the Stripe subscription schedule behind `user`'s pending change (there must
    /// be one).
    pub async fn pending_schedule(&self, user: &str) -> String {
        self.profile(user)
            .await
            .pending_change
            .expect("a pending change")
            .schedule_id
            .expect("its schedule")
    }

    /// A Stripe customer for `user` with a free profile linked to it, as Stripe and the store
    /// would have it after a first visit; returns the customer's id.
    pub async fn linked_customer(&self, user: &str) -> String {
        let id = self
            .stripe
            .create_customer(
                &NewCustomer::for_user(user, None),
                &IdempotencyScope::new([user]),
            )
            .await
            .expect("customer")
            .id;
        let mut profile =
            BillingProfile::new_free(UserId::parse(user).expect("user"), &self.catalog);
        profile.customer_id = Some(id.clone());
        self.store_new_profile(profile, Some(&id)).await;
        id
    }

    /// A harness whose sample user has subscribed to `tier` in `cycle` with a card that pays;
    /// with their profile.
    pub async fn subscribed(tier: &str, cycle: &str) -> (Self, BillingProfile) {
        let harness = Self::start().await;
        let profile = harness
            .subscribe(SAMPLE_USER, tier, cycle, "pm_card_visa")
            .await;
        (harness, profile)
    }

    /// The webhook core over `store`, with this harness's Stripe, catalog and clock.
    pub fn processor(
        &self,
        store: Arc<MemoryStore>,
        revocation: tierflow::domain::profile::RevocationPolicy,
    ) -> tierflow::webhook::Processor {
        tierflow::webhook::Processor {
            store,
            stripe: self.stripe.clone(),
            catalog: self.catalog.clone(),
            grace_days: 3,
            revocation,
            clock: self.clock.clone(),
        }
    }

    /// One-time payment bounds that the `events/` samples fit: the deployed defaults (50 to
    /// 1 000 000 minor units, usd only, 30 payment intents per user an hour).
    pub fn payments_config(&self) -> PaymentsConfig {
        PaymentsConfig {
            min_amount: 50,
            max_amount: 1_000_000,
            currencies: vec![Currency::parse("usd").expect("usd")],
            intents_per_hour: 30,
        }
    }

    /// The Customer Portal's return address, [`PORTAL_RETURN_URL`].
    pub fn portal_config(&self) -> PortalConfig {
        PortalConfig {
            return_url: PORTAL_RETURN_URL.into(),
        }
    }

    /// The key history cursors are signed with, as `HISTORY_CURSOR_SECRET` gives it.
    pub fn cursor_key(&self) -> Secret {
        Secret::new(HISTORY_CURSOR_KEY)
    }

    /// Stripe's events of `types`, oldest first.
    pub async fn stripe_events(&self, types: &[&str]) -> Vec<tierflow::stripe::Event> {
        let mut events = self
            .stripe
            .list_events(&tierflow::stripe::EventQuery {
                types: types.iter().map(|t| (*t).to_owned()).collect(),
                ..tierflow::stripe::EventQuery::default()
            })
            .await
            .expect("events");
        events.reverse();
        events
    }

    /// The stored profile (it must exist).
    pub async fn profile(&self, user: &str) -> BillingProfile {
        self.store
            .profile(&UserId::parse(user).expect("user"))
            .await
            .expect("store")
            .expect("profile")
    }

    /// A Stripe object by path, e.g. `/v1/subscriptions/sub_...`.
    pub async fn stripe_get(&self, path: &str) -> Value {
        self.emulator_call("GET", path, &[]).await
    }
}

/// A Stripe client at `api_base` with the harness's key, never retrying.
fn stripe_at(api_base: &str) -> StripeClient {
    StripeClient::new(&StripeConfig {
        secret_key: Secret::new(SECRET_KEY),
        publishable_key: "pk_test_testkit".into(),
        api_base: api_base.to_owned(),
    })
    .expect("client")
    .with_retry_policy(RetryPolicy::none())
}

/// A Stripe client whose every call fails at once, as in an outage: its address is a loopback
/// port that was free a moment ago and has no listener.
pub fn unreachable_stripe() -> StripeClient {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = closed.local_addr().expect("its address");
    drop(closed);
    stripe_at(&format!("http://{address}"))
}

/// A caller with a plausible email.
pub fn caller(user: &str) -> Caller {
    Caller {
        user_id: UserId::parse(user).expect("user"),
        email: Some(format!("{user}@example.com")),
    }
}

/// A tier by name: panics on a malformed name.
pub fn tier(name: &str) -> tierflow::domain::Tier {
    tierflow::domain::Tier::parse(name).expect("a well-formed tier name")
}

/// A string no other call uses (request ids, user ids).
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{nanos}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// An API Gateway request from an `events/` sample with a fresh request id, the body replaced
/// when `body` is given (a JSON value, or a raw string sent as is), and the query replaced
/// when `query` is given.
pub fn request(sample: &str, body: Option<Value>, query: Option<&[(&str, &str)]>) -> Request {
    let mut event: Value = serde_json::from_str(sample).expect("sample is JSON");
    event["requestContext"]["requestId"] = Value::String(unique("req"));
    if let Some(body) = body {
        event["body"] = match body {
            Value::String(raw) => Value::String(raw),
            other => Value::String(other.to_string()),
        };
    }
    if let Some(query) = query {
        let mut map = serde_json::Map::new();
        for (k, v) in query {
            map.insert((*k).to_owned(), Value::String((*v).to_owned()));
        }
        let raw: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        event["rawQueryString"] = Value::String(raw.join("&"));
        event["queryStringParameters"] = Value::Object(map);
    }
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event")
}

/// The same request as someone else (another `sub` claim).
pub fn as_user(sample: &str, user: &str) -> String {
    let mut event: Value = serde_json::from_str(sample).expect("sample is JSON");
    event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = Value::String(user.into());
    event.to_string()
}

/// Stores `profile` in `store` as a new one (version 0), linking `customer` to its user when
/// given.
pub async fn store_new_profile(
    store: &MemoryStore,
    profile: BillingProfile,
    customer: Option<&str>,
) {
    let customer_links = customer
        .map(|id| (id.to_owned(), profile.user_id.clone()))
        .into_iter()
        .collect();
    store
        .commit(Commit {
            profile: Some(ProfileWrite {
                profile,
                expected_version: 0,
            }),
            customer_links,
            ..Commit::default()
        })
        .await
        .expect("the new profile is stored");
}

/// The request of an `events/` sample without its authorizer: a caller API Gateway did not
/// authenticate.
pub fn anonymous(sample: &str) -> Request {
    let mut event: Value = serde_json::from_str(sample).expect("sample is JSON");
    if let Some(context) = event["requestContext"].as_object_mut() {
        context.remove("authorizer");
    }
    request(&event.to_string(), None, None)
}

/// The JSON body of a response.
pub fn body(resp: &lambda_http::Response<lambda_http::Body>) -> Value {
    serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null)
}

/// Publishes what `store` committed since the last call into `queue` and `bus`, as
/// `outbox-relay` does from the table's stream.
pub async fn relay(store: &MemoryStore, queue: &MemoryQueue, bus: &MemoryBus) {
    for record in store.take_stream() {
        tierflow::outbox::publish(queue, bus, &record.outbox)
            .await
            .expect("the in-memory queue and bus accept the outbox");
    }
}
