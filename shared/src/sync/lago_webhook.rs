//! Lago's webhooks: verified by `X-Lago-Signature-Algorithm` (`hmac`: base64 HMAC-SHA256 of the
//! raw body with the organization's HMAC key; `jwt`: RS256 with claims `data` = the raw body and
//! `iss` = Lago's own `LAGO_API_URL`, checked with Lago's public key, fetched once and cached),
//! deduped on `X-Lago-Unique-Key`, audited (subscription.* and invoice.*), and, for a subscription
//! Lago terminated on its own, reconciled by a sync job that re-asserts Tierflow's state.
//!
//! Lago retries a failed delivery only about three times within ~20 s, so a delivery is
//! recorded first and processed after; the processing (enqueueing a level-triggered job) is
//! harmless to repeat, so a duplicate delivery repeats it instead of skipping it.

use super::lago::{decode_public_key, LagoClient};
use super::worker::desired_state::lago_plan;
use crate::config::{ConfigError, Env, EnvSource, Secret};
use crate::domain::Catalog;
use crate::domain::UserId;
use crate::http::ApiError;
use crate::ports::{BillingStore, LagoWebhookRecord, SyncJob, SyncQueue, SyncTarget};
use crate::time::{Clock, UnixTime};
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lambda_http::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::sync::Mutex;
use tracing::{info, warn};

/// How long records kept only for dedupe (not audited) live: well past Lago's retries.
pub const DEDUPE_TTL_SECONDS: i64 = 30 * 86_400;
/// A cached public key older than this is fetched again when a signature does not verify
/// (Lago rotated its key); younger, the signature is simply wrong.
const KEY_REFRESH_AFTER_SECONDS: i64 = 300;
/// How long a cached public key is used at all.
const KEY_TTL_SECONDS: i64 = 6 * 3600;

/// The object fields the audit keeps (when present and scalar).
const SUMMARY_FIELDS: [&str; 20] = [
    "lago_id",
    "external_id",
    "external_customer_id",
    "plan_code",
    "previous_plan_code",
    "next_plan_code",
    "status",
    "started_at",
    "terminated_at",
    "canceled_at",
    "downgrade_plan_date",
    "number",
    "invoice_type",
    "payment_status",
    "payment_overdue",
    "issuing_date",
    "total_amount_cents",
    "amount_cents",
    "currency",
    "amount_currency",
];

/// How Lago's webhooks are verified.
#[derive(Debug, Clone, Default)]
pub struct LagoWebhookConfig {
    /// `LAGO_WEBHOOK_HMAC_KEY`: the organization's HMAC key, for endpoints set to `hmac`.
    pub hmac_key: Option<Secret>,
    /// `LAGO_WEBHOOK_ISSUER`, else `LAGO_API_URL` without `/api/v1`: the `iss` of `jwt`
    /// signatures, which Lago sets to its own `LAGO_API_URL` (the API root).
    pub issuer: Option<String>,
    /// `LAGO_WEBHOOK_PUBLIC_KEY`: Lago's public key (PEM, or base64 of it) instead of fetching
    /// it from `GET /api/v1/webhooks/json_public_key`.
    pub public_key: Option<String>,
    /// `LAGO_WEBHOOK_SIGNATURE` (`jwt` or `hmac`): the algorithm the endpoint is registered
    /// with in Lago. With `jwt`, start-up fails unless the public key can be read.
    pub signature: Option<SignatureAlgorithm>,
}

/// The signature algorithm of a Lago webhook endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    Jwt,
    Hmac,
}

impl LagoWebhookConfig {
    pub fn load(source: &dyn EnvSource) -> Result<Self, ConfigError> {
        let env = Env(source);
        let signature = match env
            .optional("LAGO_WEBHOOK_SIGNATURE")
            .as_deref()
            .map(str::trim)
        {
            None => None,
            Some(a) if a.eq_ignore_ascii_case("jwt") => Some(SignatureAlgorithm::Jwt),
            Some(a) if a.eq_ignore_ascii_case("hmac") => Some(SignatureAlgorithm::Hmac),
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "LAGO_WEBHOOK_SIGNATURE",
                    reason: "expected jwt or hmac".into(),
                })
            }
        };
        Ok(Self {
            hmac_key: env.optional("LAGO_WEBHOOK_HMAC_KEY").map(Secret::new),
            issuer: env
                .optional("LAGO_WEBHOOK_ISSUER")
                .map(|u| u.trim().trim_end_matches('/').to_owned())
                .or_else(|| env.optional("LAGO_API_URL").map(|u| lago_issuer(&u))),
            public_key: env.optional("LAGO_WEBHOOK_PUBLIC_KEY"),
            signature,
        })
    }
}

/// The `iss` Lago signs with for an API reached at `api_url`: Lago's `LAGO_API_URL` is its root,
/// so a URL given with the `/api/v1` path (as API clients often are) loses it.
pub fn lago_issuer(api_url: &str) -> String {
    api_url
        .trim()
        .trim_end_matches('/')
        .trim_end_matches("/api/v1")
        .trim_end_matches('/')
        .to_owned()
}

/// Why a delivery's signature was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Lago-Signature header is missing")]
    Missing,
    #[error("signature algorithm {0:?} is not supported (expected hmac or jwt)")]
    UnknownAlgorithm(String),
    #[error("{0} signatures are not configured on this endpoint")]
    NotConfigured(&'static str),
    #[error("the signature does not match the body")]
    Mismatch,
    /// Lago's public key could not be fetched: a failure of ours, worth Lago's retry.
    #[error("Lago's public key is unavailable: {0}")]
    KeyUnavailable(String),
}

enum KeySource {
    Fixed(DecodingKey),
    Fetched(LagoClient),
}

struct CachedKey {
    key: DecodingKey,
    fetched_at: UnixTime,
}

struct JwtVerifier {
    validation: Validation,
    source: KeySource,
    cache: Mutex<Option<CachedKey>>,
}

#[derive(Deserialize)]
struct JwtClaims {
    data: String,
}

/// Verifies `X-Lago-Signature` by algorithm.
pub struct LagoSignatureVerifier {
    hmac_key: Option<Secret>,
    jwt: Option<JwtVerifier>,
    clock: Arc<dyn Clock>,
}

impl LagoSignatureVerifier {
    /// `lago` fetches the public key when none is configured; `jwt` is off without an issuer
    /// or any way to get the key.
    pub fn new(
        config: LagoWebhookConfig,
        lago: Option<LagoClient>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let source = match (&config.public_key, lago) {
            (Some(raw), _) => {
                let pem = decode_public_key(raw).map_err(|reason| ConfigError::Invalid {
                    name: "LAGO_WEBHOOK_PUBLIC_KEY",
                    reason,
                })?;
                let key = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
                    ConfigError::Invalid {
                        name: "LAGO_WEBHOOK_PUBLIC_KEY",
                        reason: e.to_string(),
                    }
                })?;
                Some(KeySource::Fixed(key))
            }
            (None, Some(client)) => Some(KeySource::Fetched(client)),
            (None, None) => None,
        };
        let jwt = match (config.issuer, source) {
            (Some(issuer), Some(source)) => {
                let mut validation = Validation::new(Algorithm::RS256);
                // Lago's LAGO_API_URL is used as it was written, with or without a final slash.
                validation.set_issuer(&[format!("{issuer}/"), issuer]);
                // Lago signs no expiry: the issuer is the only registered claim to require.
                validation.validate_exp = false;
                validation.set_required_spec_claims(&["iss"]);
                Some(JwtVerifier {
                    validation,
                    source,
                    cache: Mutex::new(None),
                })
            }
            _ => None,
        };
        Ok(Self {
            hmac_key: config.hmac_key,
            jwt,
            clock,
        })
    }

    /// Reads Lago's public key now, for a start-up that fails clearly rather than a 503 on
    /// every delivery: a fixed key is already parsed; a fetched one is fetched and cached.
    pub async fn check_jwt_key(&self) -> Result<(), SignatureError> {
        let jwt = self
            .jwt
            .as_ref()
            .ok_or(SignatureError::NotConfigured("jwt"))?;
        self.public_key(jwt, false).await.map(|_| ())
    }

    /// Which algorithms this endpoint accepts, for the startup line.
    pub fn describe(&self) -> String {
        let mut accepted = Vec::new();
        if self.hmac_key.is_some() {
            accepted.push("hmac");
        }
        if self.jwt.is_some() {
            accepted.push("jwt");
        }
        if accepted.is_empty() {
            "no Lago signature algorithm is configured: set LAGO_WEBHOOK_HMAC_KEY, or LAGO_API_URL with LAGO_API_KEY (or LAGO_WEBHOOK_PUBLIC_KEY) for jwt; every delivery will be refused".into()
        } else {
            format!("Lago webhook signatures accepted: {}", accepted.join(", "))
        }
    }

    /// Verifies `signature` over the raw `body`.
    pub async fn verify(
        &self,
        algorithm: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let signature = signature
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(SignatureError::Missing)?;
        // Lago always names the algorithm; its default is jwt.
        match algorithm.map(str::trim).unwrap_or("jwt") {
            a if a.eq_ignore_ascii_case("hmac") => self.verify_hmac(signature, body),
            a if a.eq_ignore_ascii_case("jwt") => self.verify_jwt(signature, body).await,
            other => Err(SignatureError::UnknownAlgorithm(
                other.chars().take(20).collect(),
            )),
        }
    }

    fn verify_hmac(&self, signature: &str, body: &[u8]) -> Result<(), SignatureError> {
        use base64::Engine as _;
        let key = self
            .hmac_key
            .as_ref()
            .ok_or(SignatureError::NotConfigured("hmac"))?;
        let given = base64::engine::general_purpose::STANDARD
            .decode(signature)
            .map_err(|_| SignatureError::Mismatch)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes())
            .map_err(|_| SignatureError::NotConfigured("hmac"))?;
        mac.update(body);
        // Constant-time comparison of the raw 32 bytes.
        mac.verify_slice(&given)
            .map_err(|_| SignatureError::Mismatch)
    }

    async fn verify_jwt(&self, token: &str, body: &[u8]) -> Result<(), SignatureError> {
        let jwt = self
            .jwt
            .as_ref()
            .ok_or(SignatureError::NotConfigured("jwt"))?;
        let (key, fetched_at) = self.public_key(jwt, false).await?;
        match check_jwt(token, body, &key, &jwt.validation) {
            Err(SignatureError::Mismatch)
                if matches!(jwt.source, KeySource::Fetched(_))
                    && self.clock.now() - fetched_at >= KEY_REFRESH_AFTER_SECONDS =>
            {
                let (fresh, _) = self.public_key(jwt, true).await?;
                check_jwt(token, body, &fresh, &jwt.validation)
            }
            other => other,
        }
    }

    async fn public_key(
        &self,
        jwt: &JwtVerifier,
        refresh: bool,
    ) -> Result<(DecodingKey, UnixTime), SignatureError> {
        let client = match &jwt.source {
            KeySource::Fixed(key) => return Ok((key.clone(), self.clock.now())),
            KeySource::Fetched(client) => client,
        };
        let mut cache = jwt.cache.lock().await;
        let now = self.clock.now();
        if let Some(cached) = cache
            .as_ref()
            .filter(|c| !refresh && now - c.fetched_at < KEY_TTL_SECONDS)
        {
            return Ok((cached.key.clone(), cached.fetched_at));
        }
        let pem = client
            .webhook_public_key()
            .await
            .map_err(|e| SignatureError::KeyUnavailable(e.to_string()))?;
        let key = DecodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| SignatureError::KeyUnavailable(format!("not an RSA public key: {e}")))?;
        *cache = Some(CachedKey {
            key: key.clone(),
            fetched_at: now,
        });
        Ok((key, now))
    }
}

fn check_jwt(
    token: &str,
    body: &[u8],
    key: &DecodingKey,
    validation: &Validation,
) -> Result<(), SignatureError> {
    let claims = jsonwebtoken::decode::<JwtClaims>(token, key, validation)
        .map_err(|_| SignatureError::Mismatch)?
        .claims;
    // The signature covers `data`; it must be exactly the body received.
    if claims.data.as_bytes() == body {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// One delivery as the function URL received it.
#[derive(Debug, Clone, Copy)]
pub struct LagoDelivery<'a> {
    pub signature: Option<&'a str>,
    pub algorithm: Option<&'a str>,
    pub unique_key: Option<&'a str>,
    pub body: &'a [u8],
}

/// What became of a verified delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// First delivery of this key: recorded (and reconciled when needed).
    Recorded { webhook_type: String },
    /// A key already recorded: not recorded again.
    Duplicate { webhook_type: String },
}

impl Received {
    /// `recorded` or `duplicate`, for the response body.
    pub fn label(&self) -> &'static str {
        match self {
            Received::Recorded { .. } => "recorded",
            Received::Duplicate { .. } => "duplicate",
        }
    }
}

/// Verifies, records once and reconciles Lago's webhooks.
pub struct LagoWebhookReceiver {
    pub verifier: LagoSignatureVerifier,
    pub store: Arc<dyn BillingStore>,
    pub queue: Arc<dyn SyncQueue>,
    pub clock: Arc<dyn Clock>,
    /// The tiers' Lago plans, to tell a termination Tierflow caused from one it must undo.
    pub catalog: Catalog,
}

impl LagoWebhookReceiver {
    /// Builds the receiver over `store` and `queue` with the Lago verification settings of the
    /// environment, and logs which signature algorithms it accepts.
    pub async fn configured(
        store: Arc<dyn BillingStore>,
        queue: Arc<dyn SyncQueue>,
    ) -> Result<Self, crate::config::InitError> {
        let source = crate::config::ProcessEnv;
        let clock: Arc<dyn Clock> = Arc::new(crate::time::SystemClock);
        let lago = super::lago::LagoConfig::load(&source)?
            .map(LagoClient::new)
            .transpose()?;
        let config = LagoWebhookConfig::load(&source)?;
        let jwt_chosen = config.signature == Some(SignatureAlgorithm::Jwt);
        let verifier = LagoSignatureVerifier::new(config, lago, clock.clone())?;
        if jwt_chosen {
            verifier.check_jwt_key().await.map_err(|e| {
                format!(
                    "LAGO_WEBHOOK_SIGNATURE is jwt but Lago's public key cannot be read ({e}): give \
                     the API key read access to webhook_jwt_public_key, set \
                     LAGO_WEBHOOK_PUBLIC_KEY, or register the endpoint with hmac \
                     (LAGO_WEBHOOK_HMAC_KEY)"
                )
            })?;
        }
        let line = verifier.describe();
        if line.starts_with("no ") {
            warn!("{line}");
        } else {
            info!("{line}");
        }
        Ok(Self {
            verifier,
            store,
            queue,
            clock,
            catalog: Catalog::from_env()?,
        })
    }

    /// Handles one delivery: 401 for a bad signature (nothing recorded), 400 for a signed body
    /// that is not a Lago webhook, 503 when our store or queue failed (Lago retries).
    pub async fn receive(&self, delivery: LagoDelivery<'_>) -> Result<Received, ApiError> {
        if let Err(e) = self
            .verifier
            .verify(delivery.algorithm, delivery.signature, delivery.body)
            .await
        {
            if let SignatureError::KeyUnavailable(detail) = &e {
                warn!(error = %detail, "cannot verify a Lago webhook now; Lago will retry");
                return Err(ApiError::unavailable());
            }
            warn!(reason = %e, "refused a Lago webhook delivery");
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_signature",
                e.to_string(),
            ));
        }
        let body: Value = serde_json::from_slice(delivery.body)
            .map_err(|_| ApiError::bad_request("invalid_payload", "the body is not JSON"))?;
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
        let (Some(webhook_type), Some(object_type)) = (text("webhook_type"), text("object_type"))
        else {
            return Err(ApiError::bad_request(
                "invalid_payload",
                "the body has no webhook_type or object_type",
            ));
        };
        let unique_key = match delivery.unique_key.map(str::trim).filter(|k| !k.is_empty()) {
            Some(key) if key.len() <= 200 && key.chars().all(|c| c.is_ascii_graphic()) => {
                key.to_owned()
            }
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_unique_key",
                    "X-Lago-Unique-Key must be at most 200 printable characters",
                ))
            }
            // Older Lago versions send no key: identical bodies are then the same delivery.
            None => format!("sha256:{}", hex::encode(Sha256::digest(delivery.body))),
        };
        let object = body.get(&object_type).and_then(Value::as_object);
        let user_id = object
            .and_then(|o| customer_of(&object_type, o))
            .and_then(|id| UserId::parse(&id).ok());
        let now = self.clock.now();
        let audited =
            webhook_type.starts_with("subscription.") || webhook_type.starts_with("invoice.");
        let record = LagoWebhookRecord {
            unique_key: unique_key.clone(),
            webhook_type: webhook_type.clone(),
            object_type,
            user_id: user_id.clone(),
            summary: summarize(&body, object),
            received_at: now,
            expires_at: (!audited).then_some(now + DEDUPE_TTL_SECONDS),
        };
        let first = self.store.record_lago_webhook(&record).await.map_err(|e| {
            warn!(error = %e, unique_key = %unique_key, "could not record a Lago webhook");
            ApiError::unavailable()
        })?;
        if webhook_type == "subscription.terminated" {
            let next_plan = object
                .and_then(|o| o.get("next_plan_code"))
                .and_then(Value::as_str);
            self.reconcile(user_id.as_ref(), next_plan, &unique_key)
                .await?;
        }
        info!(
            webhook_type = %webhook_type,
            unique_key = %unique_key,
            user_id = user_id.as_ref().map(UserId::as_str).unwrap_or("-"),
            first,
            "Lago webhook received"
        );
        Ok(if first {
            Received::Recorded { webhook_type }
        } else {
            Received::Duplicate { webhook_type }
        })
    }

    /// Lago ended a subscription. When that leaves Lago where Tierflow wants it (nothing after
    /// it and no plan: Tierflow's own termination; the user's plan after it: Tierflow's own plan
    /// change, which Lago applies by terminating the old subscription), it is the echo of a sync
    /// and nothing is done. Otherwise (someone in Lago's UI, an ending date) a Lago sync job for the user
    /// puts Lago back in line with Tierflow's state.
    async fn reconcile(
        &self,
        user_id: Option<&UserId>,
        next_plan: Option<&str>,
        unique_key: &str,
    ) -> Result<(), ApiError> {
        let Some(user_id) = user_id else {
            warn!(
                unique_key,
                "subscription.terminated for a customer that is not a Tierflow user id"
            );
            return Ok(());
        };
        let known = self.store.profile(user_id).await.map_err(|e| {
            warn!(error = %e, "could not read the profile to reconcile");
            ApiError::unavailable()
        })?;
        let Some(profile) = known else {
            warn!(user_id = %user_id, "subscription.terminated for a user Tierflow does not know");
            return Ok(());
        };
        let wanted = lago_plan(&profile, self.clock.now(), &self.catalog);
        if termination_is_in_line(wanted, next_plan) {
            info!(user_id = %user_id, "subscription.terminated is Tierflow's own change: nothing to do");
            return Ok(());
        }
        let job = SyncJob {
            user_id: user_id.clone(),
            targets: vec![SyncTarget::Lago],
            email: None,
            email_fields: Map::new(),
            cause: format!("lago:{unique_key}"),
            stripe_action: None,
        };
        self.queue.enqueue(&[job]).await.map_err(|e| {
            warn!(error = %e, "could not enqueue the Lago reconciliation");
            ApiError::unavailable()
        })
    }
}

/// True when a terminated Lago subscription leaves Lago as Tierflow wants it: nothing after it
/// for a user without a plan, exactly the user's plan after it otherwise.
fn termination_is_in_line(wanted_plan: Option<&str>, next_plan: Option<&str>) -> bool {
    wanted_plan == next_plan
}

/// The Lago customer's external id in a webhook object: `external_customer_id` on most objects,
/// under `customer` on invoices, the object's own `external_id` on customers and their errors.
fn customer_of(object_type: &str, object: &Map<String, Value>) -> Option<String> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    text(object.get("external_customer_id"))
        .or_else(|| text(object.get("customer").and_then(|c| c.get("external_id"))))
        .or_else(|| {
            matches!(object_type, "customer" | "payment_provider_customer_error")
                .then(|| text(object.get("external_id")))
                .flatten()
        })
}

fn summarize(body: &Value, object: Option<&Map<String, Value>>) -> Map<String, Value> {
    let mut summary = Map::new();
    if let Some(org) = body.get("organization_id").filter(|v| v.is_string()) {
        summary.insert("organization_id".into(), org.clone());
    }
    if let Some(object) = object {
        for key in SUMMARY_FIELDS {
            if let Some(v) = object
                .get(key)
                .filter(|v| v.is_string() || v.is_number() || v.is_boolean())
            {
                summary.insert(key.into(), v.clone());
            }
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn customers_are_found_where_each_object_keeps_them() {
        let cases = [
            (
                "subscription",
                json!({"external_id": "sub_ext", "external_customer_id": "u1"}),
                Some("u1"),
            ),
            (
                "invoice",
                json!({"lago_id": "i", "customer": {"external_id": "u2"}}),
                Some("u2"),
            ),
            (
                "customer",
                json!({"lago_id": "c", "external_id": "u3"}),
                Some("u3"),
            ),
            (
                "payment_provider_customer_error",
                json!({"external_id": "u4"}),
                Some("u4"),
            ),
            (
                "credit_note",
                json!({"lago_id": "n", "external_id": "not-a-customer"}),
                None,
            ),
        ];
        for (object_type, object, want) in cases {
            assert_eq!(
                customer_of(object_type, object.as_object().unwrap()).as_deref(),
                want,
                "{object_type}"
            );
        }
    }

    #[test]
    fn only_a_termination_out_of_line_with_tierflow_needs_a_sync() {
        for (wanted, next, in_line) in [
            (None, None, true),
            (None, Some("tierflow_pro"), false),
            (Some("tierflow_pro"), Some("tierflow_pro"), true),
            (Some("tierflow_pro"), None, false),
            (Some("tierflow_pro"), Some("tierflow_starter"), false),
        ] {
            assert_eq!(
                termination_is_in_line(wanted, next),
                in_line,
                "{wanted:?} {next:?}"
            );
        }
    }

    #[test]
    fn the_issuer_is_lagos_api_root() {
        for url in [
            "https://lago.example.com",
            "https://lago.example.com/",
            "https://lago.example.com/api/v1",
            "https://lago.example.com/api/v1/",
        ] {
            assert_eq!(lago_issuer(url), "https://lago.example.com", "{url}");
        }
    }

    #[test]
    fn summaries_keep_scalars_and_never_the_whole_body() {
        let body = json!({"organization_id": "org", "invoice": {"number": "N-1", "total_amount_cents": 120,
            "payment_overdue": false, "customer": {"email": "x@y"}, "fees": [1, 2]}});
        let summary = summarize(&body, body["invoice"].as_object());
        assert_eq!(
            Value::Object(summary),
            json!({"organization_id": "org", "number": "N-1", "total_amount_cents": 120, "payment_overdue": false})
        );
    }
}
