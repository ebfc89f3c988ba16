//! The HTTP client: authentication, the pinned API version, idempotency keys, timeouts and
//! retries. Each call is one method; the calls handlers use are the [`crate::ports::StripeApi`]
//! trait (`stripe_api.rs`), the rest are in `account.rs`.

mod account;
mod stripe_api;

use super::retry::RetryPolicy;
use crate::config::{Secret, StripeConfig};
use crate::stripe::{
    derive_key, unique_key, Form, HasId, IdempotencyScope, List, StripeError, STRIPE_API_VERSION,
};
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
