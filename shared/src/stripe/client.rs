//! The HTTP client: authentication, the pinned API version, idempotency keys, timeouts and
//! retries. Each call is one method; the calls handlers use are the [`StripeApi`] trait.

use super::error::StripeError;
use super::form::Form;
use super::idempotency::{derive_key, unique_key, IdempotencyScope};
use super::objects::{
    CheckoutSession, Customer, Event, HasId, Invoice, InvoicePayment, List, PaymentIntent,
    PaymentMethod, PortalConfiguration, PortalSession, Price, Product, Refund, Subscription,
    SubscriptionSchedule, WebhookEndpoint,
};
use super::params::{
    CustomerUpdate, EventQuery, NewCheckoutSession, NewCustomer, NewPaymentIntent,
    NewPortalSession, NewPrice, NewProduct, NewRefund, NewWebhookEndpoint,
    PortalConfigurationParams, PriceChangePreview, ProductUpdate, ScheduledPriceChange,
    SubscriptionPriceChange,
};
use super::retry::RetryPolicy;
use super::{StripeApi, STRIPE_API_VERSION};
use crate::config::{Secret, StripeConfig};
use crate::time::UnixTime;
use async_trait::async_trait;
use reqwest::Method;
use serde::de::DeserializeOwned;
use std::hash::BuildHasher;
use std::time::Duration;

/// Time to establish a connection to Stripe.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for a whole attempt, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The HTTP client could not be built (no TLS backend).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the Stripe HTTP client: {0}")]
pub struct ClientBuildError(String);

/// Talks to Stripe (or the emulator) at `STRIPE_API_BASE`. Cheap to clone; build it once at
/// init and share it.
#[derive(Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    api_base: String,
    secret_key: Secret,
    retry: RetryPolicy,
    /// Seconds Stripe's clock is ahead of ours, from the `Date` of its last answer.
    clock_offset: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient")
            .field("api_base", &self.api_base)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// How a POST gets its `Idempotency-Key`.
enum Idempotency<'a> {
    /// Derived from the operation, the scope and the parameters: repeats replay.
    Derived(&'a str, &'a IdempotencyScope),
    /// Fresh for this call, shared only by its retries.
    Unique(&'a str),
}

impl StripeClient {
    /// A client for `config.api_base` with the default retry policy.
    pub fn new(config: &StripeConfig) -> Result<Self, ClientBuildError> {
        let http = crate::adapters::https::client_builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("tierflow/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientBuildError(e.to_string()))?;
        Ok(Self {
            http,
            api_base: config.api_base.trim_end_matches('/').to_owned(),
            secret_key: config.secret_key.clone(),
            retry: RetryPolicy::default(),
            clock_offset: std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0)),
        })
    }

    /// The same client with another retry policy (tests shorten the waits).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Keeps how far Stripe's clock (its answer's `Date`) is from ours.
    fn learn_clock(&self, response: &reqwest::Response) {
        let stripe = header(response, "date")
            .and_then(|d| httpdate::parse_http_date(&d).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        let local = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        if let (Some(stripe), Ok(local)) = (stripe, local) {
            let offset = stripe.as_secs() as i64 - local.as_secs() as i64;
            self.clock_offset
                .store(offset, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The base URL calls go to.
    pub fn api_base(&self) -> &str {
        &self.api_base
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &Form) -> Result<T, StripeError> {
        self.send(Method::GET, path, query, None).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        form: &Form,
        idempotency: Idempotency<'_>,
    ) -> Result<T, StripeError> {
        let key = match idempotency {
            Idempotency::Derived(operation, scope) => derive_key(operation, scope, form),
            Idempotency::Unique(operation) => unique_key(operation),
        };
        self.send(Method::POST, path, form, Some(key)).await
    }

    async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, StripeError> {
        self.send(Method::DELETE, path, &Form::new(), None).await
    }

    /// One logical call: attempts until success, a permanent error, or the policy's limit,
    /// always with the same idempotency key.
    #[tracing::instrument(level = "debug", skip(self, form, idempotency_key), fields(attempts))]
    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        form: &Form,
        idempotency_key: Option<String>,
    ) -> Result<T, StripeError> {
        let mut attempt = 1;
        loop {
            let result = self
                .attempt(method.clone(), path, form, idempotency_key.as_deref())
                .await;
            match result {
                Err(error) if self.retry.should_retry(&error, attempt) => {
                    let wait = self.retry.delay(attempt, jitter());
                    tracing::warn!(
                        attempt,
                        status = error.status,
                        kind = %error.kind,
                        code = error.code.as_deref(),
                        wait_ms = wait.as_millis() as u64,
                        "stripe call failed; retrying"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => {
                    tracing::Span::current().record("attempts", attempt);
                    return other;
                }
            }
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        form: &Form,
        idempotency_key: Option<&str>,
    ) -> Result<T, StripeError> {
        let is_post = method == Method::POST;
        let mut url = format!("{}{}", self.api_base, path);
        if !is_post && !form.is_empty() {
            url.push('?');
            url.push_str(&form.encode());
        }
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(self.secret_key.expose())
            .header("Stripe-Version", STRIPE_API_VERSION);
        if is_post {
            request = request
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form.encode());
        }
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        // Stripe's and reqwest's messages can carry the URL (with an email in the query);
        // the path alone is enough to debug.
        let response = request.send().await.map_err(network_error)?;
        self.learn_clock(&response);
        let status = response.status();
        let request_id = header(&response, "request-id");
        let should_retry = header(&response, "stripe-should-retry").map(|v| v == "true");
        let body = response.text().await.map_err(network_error)?;
        if !status.is_success() {
            return Err(StripeError::from_response(
                status.as_u16(),
                &body,
                request_id,
                should_retry,
            ));
        }
        serde_json::from_str(&body).map_err(|e| {
            let message = format!("{path} answered {}: {e}", status.as_u16());
            StripeError::invalid_response(message, request_id)
        })
    }

    /// Every item of a list endpoint, following `starting_after` until `has_more` is false.
    async fn list_all<T>(
        &self,
        path: &str,
        query: &Form,
        limit: usize,
    ) -> Result<Vec<T>, StripeError>
    where
        T: DeserializeOwned + HasId,
    {
        let mut items: Vec<T> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page_query = query.clone().opt("starting_after", cursor.as_deref());
            let page: List<T> = self.get(path, &page_query).await?;
            let more = page.has_more && !page.data.is_empty();
            cursor = page.data.last().map(|item| item.id().to_owned());
            items.extend(page.data);
            if !more || items.len() >= limit {
                items.truncate(limit);
                return Ok(items);
            }
        }
    }

    /// `GET /v1/customers?email=`: customers with that email (there may be several).
    pub async fn list_customers_by_email(&self, email: &str) -> Result<Vec<Customer>, StripeError> {
        let query = Form::new().field("email", email).field("limit", 100u32);
        self.list_all("/v1/customers", &query, 1000).await
    }

    /// `GET /v1/products`: every product, active or not.
    pub async fn list_products(&self) -> Result<Vec<Product>, StripeError> {
        let query = Form::new().field("limit", 100u32);
        self.list_all("/v1/products", &query, 10_000).await
    }

    /// `POST /v1/billing_portal/configurations` (idempotent on its parameters).
    pub async fn create_portal_configuration(
        &self,
        params: &PortalConfigurationParams,
    ) -> Result<PortalConfiguration, StripeError> {
        let scope = IdempotencyScope::none();
        let idempotency = Idempotency::Derived("portal_configuration_create", &scope);
        self.post(
            "/v1/billing_portal/configurations",
            &params.form(),
            idempotency,
        )
        .await
    }

    /// `POST /v1/billing_portal/configurations/{id}`: replaces its features and metadata.
    pub async fn update_portal_configuration(
        &self,
        id: &str,
        params: &PortalConfigurationParams,
    ) -> Result<PortalConfiguration, StripeError> {
        let path = format!("/v1/billing_portal/configurations/{}", segment(id)?);
        let idempotency = Idempotency::Unique("portal_configuration_update");
        self.post(&path, &params.form(), idempotency).await
    }

    /// `POST /v1/products`.
    pub async fn create_product(
        &self,
        params: &NewProduct,
        scope: &IdempotencyScope,
    ) -> Result<Product, StripeError> {
        let idempotency = Idempotency::Derived("product_create", scope);
        self.post("/v1/products", &params.form(), idempotency).await
    }

    /// `POST /v1/products/{id}`.
    pub async fn update_product(
        &self,
        id: &str,
        params: &ProductUpdate,
    ) -> Result<Product, StripeError> {
        let path = format!("/v1/products/{}", segment(id)?);
        self.post(&path, &params.form(), Idempotency::Unique("product_update"))
            .await
    }

    /// `POST /v1/prices`.
    pub async fn create_price(
        &self,
        params: &NewPrice,
        scope: &IdempotencyScope,
    ) -> Result<Price, StripeError> {
        let idempotency = Idempotency::Derived("price_create", scope);
        self.post("/v1/prices", &params.form(), idempotency).await
    }

    /// `POST /v1/prices/{id}` with `active`: retire a price (or bring it back).
    pub async fn set_price_active(&self, id: &str, active: bool) -> Result<Price, StripeError> {
        let path = format!("/v1/prices/{}", segment(id)?);
        let form = Form::new().field("active", active);
        self.post(&path, &form, Idempotency::Unique("price_update"))
            .await
    }

    /// `POST /v1/refunds`.
    pub async fn create_refund(
        &self,
        params: &NewRefund,
        scope: &IdempotencyScope,
    ) -> Result<Refund, StripeError> {
        let idempotency = Idempotency::Derived("refund_create", scope);
        self.post("/v1/refunds", &params.form(), idempotency).await
    }

    /// `POST /v1/webhook_endpoints`; the answer carries the signing secret, once.
    pub async fn create_webhook_endpoint(
        &self,
        params: &NewWebhookEndpoint,
        scope: &IdempotencyScope,
    ) -> Result<WebhookEndpoint, StripeError> {
        let idempotency = Idempotency::Derived("webhook_endpoint_create", scope);
        self.post("/v1/webhook_endpoints", &params.form(), idempotency)
            .await
    }
}

#[async_trait]
impl StripeApi for StripeClient {
    fn stripe_time(&self, local: UnixTime) -> UnixTime {
        local + self.clock_offset.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn create_customer(
        &self,
        params: &NewCustomer,
        scope: &IdempotencyScope,
    ) -> Result<Customer, StripeError> {
        let idempotency = Idempotency::Derived("customer_create", scope);
        self.post("/v1/customers", &params.form(), idempotency)
            .await
    }

    async fn retrieve_customer(&self, id: &str) -> Result<Customer, StripeError> {
        let path = format!("/v1/customers/{}", segment(id)?);
        self.get(&path, &Form::new()).await
    }

    async fn update_customer(
        &self,
        id: &str,
        params: &CustomerUpdate,
    ) -> Result<Customer, StripeError> {
        let path = format!("/v1/customers/{}", segment(id)?);
        self.post(
            &path,
            &params.form(),
            Idempotency::Unique("customer_update"),
        )
        .await
    }

    async fn find_customer_by_user_id(
        &self,
        user_id: &str,
    ) -> Result<Option<Customer>, StripeError> {
        // Search syntax quotes values with single quotes; a quote in the id would break it.
        let escaped = user_id.replace('\\', "\\\\").replace('\'', "\\'");
        let query = Form::new()
            .field("query", format!("metadata['user_id']:'{escaped}'"))
            .field("limit", 10u32);
        let page: List<Customer> = self.get("/v1/customers/search", &query).await?;
        // Oldest first, so that the same customer wins every time if a race made two.
        Ok(page
            .data
            .into_iter()
            .filter(|c| !c.deleted)
            .min_by_key(|c| (c.created, c.id.clone())))
    }

    async fn list_prices_by_lookup_keys(
        &self,
        lookup_keys: &[&str],
        active_only: bool,
    ) -> Result<Vec<Price>, StripeError> {
        let query = Form::new()
            .list("lookup_keys", lookup_keys)
            .opt("active", active_only.then_some(true))
            .list("expand", ["data.product"])
            .field("limit", 100u32);
        self.list_all("/v1/prices", &query, 1000).await
    }

    async fn create_checkout_session(
        &self,
        params: &NewCheckoutSession,
        scope: &IdempotencyScope,
    ) -> Result<CheckoutSession, StripeError> {
        let idempotency = Idempotency::Derived("checkout_session_create", scope);
        self.post("/v1/checkout/sessions", &params.form(), idempotency)
            .await
    }

    async fn retrieve_checkout_session(&self, id: &str) -> Result<CheckoutSession, StripeError> {
        let path = format!("/v1/checkout/sessions/{}", segment(id)?);
        self.get(&path, &Form::new().list("expand", ["subscription"]))
            .await
    }

    async fn create_portal_session(
        &self,
        params: &NewPortalSession,
    ) -> Result<PortalSession, StripeError> {
        // A portal session is a short-lived link; a fresh one per request is what callers want.
        let idempotency = Idempotency::Unique("portal_session_create");
        self.post("/v1/billing_portal/sessions", &params.form(), idempotency)
            .await
    }

    async fn list_portal_configurations(&self) -> Result<Vec<PortalConfiguration>, StripeError> {
        let query = Form::new().field("active", true).field("limit", 100u32);
        self.list_all("/v1/billing_portal/configurations", &query, 1000)
            .await
    }

    async fn list_card_payment_methods(
        &self,
        customer: &str,
    ) -> Result<Vec<PaymentMethod>, StripeError> {
        let query = Form::new()
            .field("customer", customer)
            .field("type", "card")
            .field("limit", 100u32);
        self.list_all("/v1/payment_methods", &query, 1000).await
    }

    async fn retrieve_subscription(&self, id: &str) -> Result<Subscription, StripeError> {
        let path = format!("/v1/subscriptions/{}", segment(id)?);
        self.get(&path, &Form::new()).await
    }

    async fn list_customer_subscriptions(
        &self,
        customer: &str,
    ) -> Result<Vec<Subscription>, StripeError> {
        let query = Form::new()
            .field("customer", customer)
            .field("status", "all")
            .field("limit", 100u32);
        self.list_all("/v1/subscriptions", &query, 1000).await
    }

    async fn list_live_subscriptions(&self, max: usize) -> Result<Vec<Subscription>, StripeError> {
        let mut live = Vec::new();
        for status in ["active", "past_due", "unpaid", "trialing"] {
            let query = Form::new().field("status", status).field("limit", 100u32);
            live.extend(self.list_all("/v1/subscriptions", &query, max).await?);
        }
        Ok(live)
    }

    async fn change_subscription_price(
        &self,
        id: &str,
        params: &SubscriptionPriceChange,
        scope: &IdempotencyScope,
    ) -> Result<Subscription, StripeError> {
        let path = format!("/v1/subscriptions/{}", segment(id)?);
        let idempotency = Idempotency::Derived("subscription_price_change", scope);
        self.post(&path, &params.form(), idempotency).await
    }

    async fn set_cancel_at_period_end(
        &self,
        id: &str,
        cancel: bool,
    ) -> Result<Subscription, StripeError> {
        let path = format!("/v1/subscriptions/{}", segment(id)?);
        let form = Form::new().field("cancel_at_period_end", cancel);
        self.post(
            &path,
            &form,
            Idempotency::Unique("subscription_cancel_at_period_end"),
        )
        .await
    }

    async fn set_cancel_at_period_end_once(
        &self,
        id: &str,
        cancel: bool,
        scope: &IdempotencyScope,
    ) -> Result<Subscription, StripeError> {
        let path = format!("/v1/subscriptions/{}", segment(id)?);
        let form = Form::new().field("cancel_at_period_end", cancel);
        let idempotency = Idempotency::Derived("subscription_cancel_at_period_end", scope);
        self.post(&path, &form, idempotency).await
    }

    async fn cancel_subscription(&self, id: &str) -> Result<Subscription, StripeError> {
        let path = format!("/v1/subscriptions/{}", segment(id)?);
        self.delete(&path).await
    }

    async fn create_schedule_from_subscription(
        &self,
        subscription: &str,
        scope: &IdempotencyScope,
    ) -> Result<SubscriptionSchedule, StripeError> {
        let form = Form::new().field("from_subscription", subscription);
        let idempotency = Idempotency::Derived("subscription_schedule_create", scope);
        self.post("/v1/subscription_schedules", &form, idempotency)
            .await
    }

    async fn schedule_price_change(
        &self,
        schedule: &str,
        params: &ScheduledPriceChange,
    ) -> Result<SubscriptionSchedule, StripeError> {
        let path = format!("/v1/subscription_schedules/{}", segment(schedule)?);
        // Setting the phases is absolute, so repeating it is harmless; the key only has to
        // cover this call's own retries.
        self.post(
            &path,
            &params.form(),
            Idempotency::Unique("subscription_schedule_update"),
        )
        .await
    }

    async fn release_schedule(&self, schedule: &str) -> Result<SubscriptionSchedule, StripeError> {
        let path = format!("/v1/subscription_schedules/{}/release", segment(schedule)?);
        self.post(
            &path,
            &Form::new(),
            Idempotency::Unique("subscription_schedule_release"),
        )
        .await
    }

    async fn retrieve_schedule(&self, schedule: &str) -> Result<SubscriptionSchedule, StripeError> {
        let path = format!("/v1/subscription_schedules/{}", segment(schedule)?);
        self.get(&path, &Form::new()).await
    }

    async fn preview_price_change(
        &self,
        params: &PriceChangePreview,
    ) -> Result<Invoice, StripeError> {
        // A preview changes nothing; the key only covers this call's retries.
        let idempotency = Idempotency::Unique("invoice_preview");
        self.post("/v1/invoices/create_preview", &params.form(), idempotency)
            .await
    }

    async fn retrieve_invoice(&self, id: &str) -> Result<Invoice, StripeError> {
        let path = format!("/v1/invoices/{}", segment(id)?);
        self.get(&path, &Form::new().list("expand", ["payments"]))
            .await
    }

    async fn find_invoice_payment(
        &self,
        payment_intent: &str,
    ) -> Result<Option<InvoicePayment>, StripeError> {
        let query = Form::new()
            .field("payment[type]", "payment_intent")
            .field("payment[payment_intent]", payment_intent)
            .list("expand", ["data.invoice"])
            .field("limit", 1u32);
        let page: List<InvoicePayment> = self.get("/v1/invoice_payments", &query).await?;
        Ok(page.data.into_iter().next())
    }

    async fn create_payment_intent(
        &self,
        params: &NewPaymentIntent,
        scope: &IdempotencyScope,
    ) -> Result<PaymentIntent, StripeError> {
        let idempotency = Idempotency::Derived("payment_intent_create", scope);
        self.post("/v1/payment_intents", &params.form(), idempotency)
            .await
    }

    async fn retrieve_payment_intent(&self, id: &str) -> Result<PaymentIntent, StripeError> {
        let path = format!("/v1/payment_intents/{}", segment(id)?);
        self.get(&path, &Form::new()).await
    }

    async fn list_events(&self, query: &EventQuery) -> Result<Vec<Event>, StripeError> {
        let mut events: Vec<Event> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page: List<Event> = self
                .get("/v1/events", &query.form(cursor.as_deref()))
                .await?;
            let more = page.has_more && !page.data.is_empty();
            cursor = page.data.last().map(|e| e.id.clone());
            events.extend(page.data);
            if !more || events.len() >= query.max_events {
                events.truncate(query.max_events);
                return Ok(events);
            }
        }
    }

    async fn retrieve_event(&self, id: &str) -> Result<Event, StripeError> {
        let path = format!("/v1/events/{}", segment(id)?);
        self.get(&path, &Form::new()).await
    }
}

/// An id placed in a path. Stripe ids are `[A-Za-z0-9_-]`; anything else (`/`, `..`, `?`)
/// could change which endpoint is called, so it is refused before any request is made.
fn segment(id: &str) -> Result<&str, StripeError> {
    let valid = !id.is_empty()
        && id.len() <= 255
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    if valid {
        Ok(id)
    } else {
        Err(StripeError::invalid_id(id))
    }
}

/// A transport failure with its causes ("connection refused", "timed out") but without the
/// URL, whose query may hold an email address.
fn network_error(error: reqwest::Error) -> StripeError {
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    StripeError::network(message)
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A number in `[0, 1)` that differs between calls and processes, for retry jitter. The
/// standard library's per-instance random hasher seed is all the randomness this needs.
fn jitter() -> f64 {
    let random = std::collections::hash_map::RandomState::new().hash_one(0u8);
    (random >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_cannot_escape_the_path() {
        assert_eq!(segment("sub_1AbC-x").ok(), Some("sub_1AbC-x"));
        for bad in ["", "..", "../v1/x", "cus_1?expand[]=x", "a b", "é"] {
            let err = segment(bad).unwrap_err();
            assert_eq!(
                err.kind,
                crate::stripe::ErrorKind::InvalidRequest,
                "{bad:?}"
            );
            assert!(!err.is_transient());
        }
    }

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j));
        }
    }
}
