//! Support for the functions' handler tests: a Stripe emulator started in-process with the
//! catalog created in it, the in-memory store, queue and bus (the store's stream relayed into
//! them as `outbox-relay` does), a [`SubscriptionService`] over them, and API Gateway requests
//! built from the `events/` samples.

use lambda_http::Request;
use serde_json::Value;
use std::sync::Arc;
use stripe_emulator::{Config, Emulator};
use tierflow::adapters::memory::{MemoryBus, MemoryQueue, MemoryStore};
use tierflow::adapters::stripe::catalog_sync::{apply, plan};
use tierflow::adapters::stripe::{RetryPolicy, StripeClient};
use tierflow::auth::Caller;
use tierflow::config::{Secret, StripeConfig};
use tierflow::domain::catalog::BUILT_IN_CATALOG;
use tierflow::domain::{BillingProfile, Catalog, UserId};
use tierflow::ports::{BillingStore, DomainEvent, StripeApi, SyncJob};
use tierflow::service::subscriptions::{CheckoutRequest, CheckoutUrls, SubscriptionService};
use tierflow::time::FixedClock;

/// The user in the `events/` samples' authorizer claims.
pub const SAMPLE_USER: &str = "8f14e45f-ceea-467f-a0e6-6f6b7a1c2d3e";
/// Their email.
pub const SAMPLE_EMAIL: &str = "ada@example.com";

/// An emulator with the catalog, and the in-memory ports a handler test inspects.
pub struct Harness {
    pub emulator: Emulator,
    pub stripe: Arc<StripeClient>,
    pub store: Arc<MemoryStore>,
    pub queue: Arc<MemoryQueue>,
    pub bus: Arc<MemoryBus>,
    pub clock: Arc<FixedClock>,
    pub catalog: Catalog,
    pub http: reqwest::Client,
}

impl Harness {
    /// Starts the emulator on a free port and creates the catalog's products and prices.
    pub async fn start() -> Self {
        let emulator = Emulator::start(Config {
            port: 0,
            ..Config::default()
        })
        .await
        .expect("the emulator starts");
        let stripe = StripeClient::new(&StripeConfig {
            secret_key: Secret::new("sk_test_testkit"),
            publishable_key: "pk_test_testkit".into(),
            api_base: emulator.url().to_owned(),
        })
        .expect("client")
        .with_retry_policy(RetryPolicy::none());
        let catalog = Catalog::parse(BUILT_IN_CATALOG).expect("catalog");
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

    /// A service over the harness's ports, with Checkout URLs configured.
    /// A subscription route's dependencies over this harness, callers trusted from API Gateway.
    pub fn route(&self) -> tierflow::wiring::SubscriptionRoute {
        tierflow::wiring::SubscriptionRoute {
            service: self.service(),
            auth: tierflow::auth::Authenticator::ApiGateway,
        }
    }

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
        let mut encoded = tierflow::stripe::Form::new();
        for (k, v) in form {
            encoded = encoded.field(*k, *v);
        }
        let url = format!("{}{path}", self.emulator.url());
        let req = match method {
            "GET" if form.is_empty() => self.http.get(url),
            "GET" => self.http.get(format!("{url}?{}", encoded.encode())),
            _ => self
                .http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(encoded.encode()),
        };
        let resp = req
            .bearer_auth("sk_test_testkit")
            .header("Stripe-Version", tierflow::stripe::STRIPE_API_VERSION)
            .send()
            .await
            .expect("emulator answers");
        resp.json().await.expect("json")
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

/// A caller with a plausible email.
pub fn caller(user: &str) -> Caller {
    Caller {
        user_id: UserId::parse(user).expect("user"),
        email: Some(format!("{user}@example.com")),
    }
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
