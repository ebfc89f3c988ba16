//! Lago's webhooks: verified by `X-Lago-Signature-Algorithm` ([`signature`]), deduped on
//! `X-Lago-Unique-Key`, audited (subscription.* and invoice.*), and, for a subscription Lago
//! terminated on its own, reconciled by a sync job that re-asserts Tierflow's state.
//!
//! Lago retries a failed delivery only about three times within ~20 s, so a delivery is
//! recorded first and processed after; the processing (enqueueing a level-triggered job) is
//! harmless to repeat, so a duplicate delivery repeats it instead of skipping it.

pub mod signature;

use super::lago::LagoClient;
use super::worker::desired_state::lago_plan;
use crate::domain::Catalog;
use crate::domain::UserId;
use crate::http::ApiError;
use crate::ports::Clock;
use crate::ports::{BillingStore, LagoWebhookRecord, SyncJob, SyncQueue, SyncTarget};
use lambda_http::http::StatusCode;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use signature::{LagoSignatureVerifier, LagoWebhookConfig, SignatureAlgorithm, SignatureError};
use std::sync::Arc;
use tracing::{info, warn};

/// How long records kept only for dedupe (not audited) live: well past Lago's retries.
pub const DEDUPE_TTL_SECONDS: i64 = 30 * 86_400;

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

/// One delivery as the function URL received it.
#[derive(Debug, Clone, Copy)]
pub struct LagoDelivery<'a> {
    /// `X-Lago-Signature`: a base64 HMAC or a JWT, by algorithm.
    pub signature: Option<&'a str>,
    /// `X-Lago-Signature-Algorithm` (`hmac` or `jwt`); `jwt` when absent.
    pub algorithm: Option<&'a str>,
    /// `X-Lago-Unique-Key`; older Lago versions send none (the body's hash is used instead).
    pub unique_key: Option<&'a str>,
    /// The raw body, exactly as signed.
    pub body: &'a [u8],
}

/// What became of a verified delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// First delivery of this key: recorded (and reconciled when needed).
    Recorded {
        /// Lago's `webhook_type`, e.g. `subscription.terminated`.
        webhook_type: String,
    },
    /// A key already recorded: not recorded again.
    Duplicate {
        /// Lago's `webhook_type`, e.g. `subscription.terminated`.
        webhook_type: String,
    },
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
    /// Checks each delivery's signature before anything is read from it.
    pub verifier: LagoSignatureVerifier,
    /// Records deliveries once (the audit and the dedupe) and reads profiles to reconcile.
    pub store: Arc<dyn BillingStore>,
    /// Takes the Lago sync job that undoes a termination Tierflow did not cause.
    pub queue: Arc<dyn SyncQueue>,
    /// "Now" for records' timestamps and expiry, and for the plan the user should be on.
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
            catalog: crate::config::load_catalog()?,
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
