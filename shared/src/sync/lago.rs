//! Lago's API v1: the customer upserted by external id, the subscription's plan assigned on one
//! external subscription id (Lago applies upgrades at once and downgrades at its next billing
//! date), termination, and the public key that signs Lago's webhooks.
//!
//! Stripe bills the subscription; Lago prices usage only. Lago plans must therefore have a zero
//! base amount, or the plan's fixed fee would be invoiced twice (see `infra/SYNCS.md`).

use super::{http_client, path_segment, snippet};
use crate::config::{ConfigError, Env, EnvSource, Secret};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Lago's API and the key Tierflow calls it with.
#[derive(Debug, Clone)]
pub struct LagoConfig {
    /// API root, e.g. `https://api.getlago.com` (without `/api/v1`).
    pub api_url: String,
    pub api_key: Secret,
    /// The code of Lago's Stripe connection, when the organization has several.
    pub stripe_provider_code: Option<String>,
}

impl LagoConfig {
    /// `LAGO_API_URL` enables the sync; then `LAGO_API_KEY` is required.
    /// `LAGO_STRIPE_PROVIDER_CODE` is optional. `None` when Lago is not configured.
    pub fn load(source: &dyn EnvSource) -> Result<Option<Self>, ConfigError> {
        let env = Env(source);
        let Some(api_url) = env.optional("LAGO_API_URL") else {
            return Ok(None);
        };
        Ok(Some(Self {
            api_url: api_url
                .trim()
                .trim_end_matches('/')
                .trim_end_matches("/api/v1")
                .to_owned(),
            api_key: env.secret("LAGO_API_KEY")?,
            stripe_provider_code: env.optional("LAGO_STRIPE_PROVIDER_CODE"),
        }))
    }
}

/// Why a Lago call did not succeed. [`LagoError::is_permanent`] tells a refusal no retry can
/// change (validation, unknown plan, a key without the permission) from an outage.
#[derive(Debug, thiserror::Error)]
pub enum LagoError {
    #[error("Lago unreachable during {operation}: {detail}")]
    Unreachable {
        operation: &'static str,
        detail: String,
    },
    #[error("Lago answered {status} to {operation}: {detail}")]
    Status {
        operation: &'static str,
        status: u16,
        detail: String,
    },
    #[error("Lago's answer to {operation} is not what its API documents: {detail}")]
    Decode {
        operation: &'static str,
        detail: String,
    },
}

impl LagoError {
    /// A 4xx other than 401, 408 or 429: the same request will be refused again.
    pub fn is_permanent(&self) -> bool {
        match self {
            LagoError::Status { status, .. } => super::keycloak::is_permanent_status(*status),
            LagoError::Unreachable { .. } | LagoError::Decode { .. } => false,
        }
    }
}

/// A Tierflow user as a Lago customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LagoCustomer {
    /// Tierflow's user id.
    pub external_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// ISO 4217, any case (sent uppercase, as Lago writes it).
    pub currency: String,
    /// The Stripe customer Lago charges usage invoices to.
    pub stripe_customer_id: Option<String>,
}

/// The Lago API client.
pub struct LagoClient {
    http: reqwest::Client,
    config: LagoConfig,
}

impl LagoClient {
    pub fn new(config: LagoConfig) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: http_client()?,
            config,
        })
    }

    /// The API root, for the startup line and the webhook issuer.
    pub fn api_url(&self) -> &str {
        &self.config.api_url
    }

    async fn call(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, String), LagoError> {
        let mut request = self
            .http
            .request(method, format!("{}/api/v1/{path}", self.config.api_url))
            .bearer_auth(self.config.api_key.expose())
            .header("accept", "application/json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| LagoError::Unreachable {
            operation,
            detail: e.to_string(),
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| LagoError::Unreachable {
            operation,
            detail: e.to_string(),
        })?;
        Ok((status, text))
    }

    /// The body of `POST /api/v1/customers` for `customer`.
    pub fn customer_body(&self, customer: &LagoCustomer) -> Value {
        let mut fields = Map::new();
        fields.insert("external_id".into(), json!(customer.external_id));
        fields.insert("currency".into(), json!(customer.currency.to_uppercase()));
        if let Some(email) = &customer.email {
            fields.insert("email".into(), json!(email));
        }
        if let Some(name) = &customer.name {
            fields.insert("name".into(), json!(name));
        }
        if let Some(stripe_customer) = &customer.stripe_customer_id {
            // The Stripe customer already exists: Lago must link it, not create another one.
            let mut billing = Map::new();
            billing.insert("payment_provider".into(), json!("stripe"));
            if let Some(code) = &self.config.stripe_provider_code {
                billing.insert("payment_provider_code".into(), json!(code));
            }
            billing.insert("provider_customer_id".into(), json!(stripe_customer));
            billing.insert("sync".into(), json!(false));
            billing.insert("sync_with_provider".into(), json!(false));
            fields.insert("billing_configuration".into(), Value::Object(billing));
        }
        json!({ "customer": fields })
    }

    /// `POST /api/v1/customers`: creates the customer or updates the one with this external id.
    pub async fn upsert_customer(&self, customer: &LagoCustomer) -> Result<(), LagoError> {
        const OP: &str = "upsert customer";
        let (status, body) = self
            .call(
                OP,
                Method::POST,
                "customers",
                Some(self.customer_body(customer)),
            )
            .await?;
        ok_or_error(OP, status, &body)
    }

    /// `POST /api/v1/subscriptions` with the user's one external subscription id: creates the
    /// subscription, changes its plan (upgrade now, downgrade at Lago's next billing date), or
    /// returns it unchanged when it is already on `plan_code`.
    pub async fn assign_plan(
        &self,
        external_customer_id: &str,
        external_subscription_id: &str,
        plan_code: &str,
    ) -> Result<(), LagoError> {
        const OP: &str = "assign plan";
        let body = json!({
            "subscription": {
                "external_customer_id": external_customer_id,
                "plan_code": plan_code,
                "external_id": external_subscription_id,
                // Billed from the day it starts, like the Stripe subscription it mirrors.
                "billing_time": "anniversary"
            }
        });
        let (status, text) = self
            .call(OP, Method::POST, "subscriptions", Some(body))
            .await?;
        ok_or_error(OP, status, &text)
    }

    /// `DELETE /api/v1/subscriptions/{external_id}`: terminates the active subscription. True
    /// if one was terminated, false if there was none (already terminated or never created).
    pub async fn terminate_subscription(&self, external_id: &str) -> Result<bool, LagoError> {
        const OP: &str = "terminate subscription";
        let path = format!("subscriptions/{}", path_segment(external_id));
        let (status, body) = self.call(OP, Method::DELETE, &path, None).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        ok_or_error(OP, status, &body).map(|()| true)
    }

    /// `GET /api/v1/webhooks/json_public_key`: the PEM of the RSA key that signs `jwt` webhooks.
    pub async fn webhook_public_key(&self) -> Result<String, LagoError> {
        const OP: &str = "get webhook public key";
        let (status, body) = self
            .call(OP, Method::GET, "webhooks/json_public_key", None)
            .await?;
        ok_or_error(OP, status, &body)?;
        #[derive(Deserialize)]
        struct Envelope {
            webhook: Inner,
        }
        #[derive(Deserialize)]
        struct Inner {
            public_key: String,
        }
        let envelope: Envelope = serde_json::from_str(&body).map_err(|e| LagoError::Decode {
            operation: OP,
            detail: e.to_string(),
        })?;
        decode_public_key(&envelope.webhook.public_key).map_err(|detail| LagoError::Decode {
            operation: OP,
            detail,
        })
    }
}

/// Lago hands out its webhook key as base64 of the PEM text; a PEM given as is passes through.
pub fn decode_public_key(raw: &str) -> Result<String, String> {
    use base64::Engine as _;
    let raw = raw.trim();
    if raw.starts_with("-----BEGIN") {
        return Ok(raw.replace("\\n", "\n"));
    }
    let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| format!("the public key is not base64: {e}"))?;
    let pem = String::from_utf8(bytes).map_err(|_| "the public key is not PEM text".to_owned())?;
    if !pem.trim_start().starts_with("-----BEGIN") {
        return Err("the public key is not PEM text".into());
    }
    Ok(pem)
}

fn ok_or_error(operation: &'static str, status: StatusCode, body: &str) -> Result<(), LagoError> {
    if status.is_success() {
        Ok(())
    } else {
        Err(LagoError::Status {
            operation,
            status: status.as_u16(),
            detail: snippet(body, 300),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_trims_the_api_path_and_is_off_without_a_url() {
        let env = |pairs: &[(&str, &str)]| -> std::collections::HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(LagoConfig::load(&env(&[])).unwrap().is_none());
        assert_eq!(
            LagoConfig::load(&env(&[("LAGO_API_URL", "https://lago")]))
                .unwrap_err()
                .to_string(),
            "LAGO_API_KEY must be set"
        );
        let cfg = LagoConfig::load(&env(&[
            ("LAGO_API_URL", "https://api.getlago.com/api/v1/"),
            ("LAGO_API_KEY", "key"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(cfg.api_url, "https://api.getlago.com");
    }

    #[test]
    fn public_keys_decode_from_base64_pem() {
        use base64::Engine as _;
        let pem = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n";
        let b64 = base64::engine::general_purpose::STANDARD.encode(pem);
        assert_eq!(decode_public_key(&b64).unwrap(), pem);
        assert_eq!(decode_public_key(pem).unwrap(), pem.trim());
        assert!(decode_public_key("not base64!").is_err());
        let not_pem = base64::engine::general_purpose::STANDARD.encode("hello");
        assert!(decode_public_key(&not_pem).is_err());
    }
}
