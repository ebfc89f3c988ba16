//! Lago's API v1: the customer upserted by external id (its Stripe link sent only when it
//! changes), the subscription's plan assigned on one external subscription id, termination, and
//! the public key that signs Lago's webhooks.
//!
//! Stripe bills the subscription; Lago prices usage only. Lago plans must therefore have a zero
//! base amount, or the plan's fixed fee would be invoiced twice. With zero-base plans Lago treats
//! every plan change as an upgrade (it compares yearly amounts): the old subscription is
//! terminated and its usage invoiced at once (see `infra/SYNCS.md`).

use super::{path_segment, snippet};
use crate::adapters::https::integration_client;
use crate::config::{ConfigError, Env, EnvSource, Secret};
use crate::domain::time::{rfc3339, UnixTime};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Lago's API and the key Tierflow calls it with.
#[derive(Debug, Clone)]
pub struct LagoConfig {
    /// API root, e.g. `https://api.getlago.com` (without `/api/v1`).
    pub api_url: String,
    /// `LAGO_API_KEY`: the organization's API key, sent as a bearer token.
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
    /// No answer (connection refused, timeout): an outage, retried.
    #[error("Lago unreachable during {operation}: {detail}")]
    Unreachable {
        /// What Tierflow was doing, e.g. `upsert customer`.
        operation: &'static str,
        /// reqwest's error, as text.
        detail: String,
    },
    /// A status other than success; permanent per [`LagoError::is_permanent`].
    #[error("Lago answered {status} to {operation}: {detail}")]
    Status {
        /// What Tierflow was doing, e.g. `assign plan`.
        operation: &'static str,
        /// The HTTP status.
        status: u16,
        /// The `code` of Lago's error envelope (`validation_errors`, `plan_not_found`,
        /// `third_party_error`, ...), when the body has one.
        code: Option<String>,
        /// The start of Lago's answer, at most 300 characters.
        detail: String,
    },
    /// A success whose body does not parse as Lago's API documents it: retried.
    #[error("Lago's answer to {operation} is not what its API documents: {detail}")]
    Decode {
        /// What Tierflow was doing, e.g. `get customer`.
        operation: &'static str,
        /// The parser's message.
        detail: String,
    },
}

impl LagoError {
    /// A 4xx other than 401, 408 or 429: the same request will be refused again (Lago's 400
    /// bad request, 403 key without the permission, 404 `*_not_found`, 422 validation or
    /// `third_party_error`). 5xx, 429 and network failures are outages worth a retry.
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
    /// The profile's email, else Keycloak's.
    pub email: Option<String>,
    /// The name Keycloak has for the user, when the job read it.
    pub name: Option<String>,
    /// ISO 4217, any case (sent uppercase, as Lago writes it).
    pub currency: String,
    /// The Stripe customer Lago charges usage invoices to.
    pub stripe_customer_id: Option<String>,
}

/// What Lago holds for a customer that Tierflow compares before an upsert.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LagoCustomerState {
    /// Lago's `billing_configuration`: the customer's payment provider link.
    pub billing_configuration: LagoBillingConfiguration,
}

/// The payment provider link of a Lago customer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct LagoBillingConfiguration {
    /// `stripe` when the customer is linked to Stripe; `None` when unlinked.
    pub payment_provider: Option<String>,
    /// The `cus_…` id on the provider's side.
    pub provider_customer_id: Option<String>,
}

impl LagoCustomerState {
    /// The Stripe customer Lago is linked to, if any.
    pub fn stripe_customer_id(&self) -> Option<&str> {
        let billing = &self.billing_configuration;
        (billing.payment_provider.as_deref() == Some("stripe"))
            .then_some(billing.provider_customer_id.as_deref())
            .flatten()
    }
}

/// What an upsert does to the customer's Stripe link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StripeLink {
    /// Leave the link as it is: no `billing_configuration` is sent.
    Keep,
    /// Link this existing Stripe customer (Lago must not create another one).
    Link(String),
    /// Drop the link (`payment_provider: null`): the Stripe customer is gone.
    Drop,
}

impl StripeLink {
    /// The change that brings Lago's link (`current`) to Tierflow's Stripe customer (`wanted`).
    pub fn between(current: Option<&str>, wanted: Option<&str>) -> Self {
        match (current, wanted) {
            (current, Some(wanted)) if current != Some(wanted) => StripeLink::Link(wanted.into()),
            (Some(_), None) => StripeLink::Drop,
            _ => StripeLink::Keep,
        }
    }
}

/// The Lago API client.
pub struct LagoClient {
    http: reqwest::Client,
    config: LagoConfig,
}

impl LagoClient {
    /// A client for `config`'s API root and key.
    pub fn new(config: LagoConfig) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: integration_client()?,
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

    /// The body of `POST /api/v1/customers` for `customer`, with the billing configuration
    /// only when `link` changes it: once linked, every upsert makes Lago update the Stripe
    /// customer anyway (name and email), so the link itself is sent once.
    pub fn customer_body(&self, customer: &LagoCustomer, link: &StripeLink) -> Value {
        let mut fields = Map::new();
        fields.insert("external_id".into(), json!(customer.external_id));
        fields.insert("currency".into(), json!(customer.currency.to_uppercase()));
        if let Some(email) = &customer.email {
            fields.insert("email".into(), json!(email));
        }
        if let Some(name) = &customer.name {
            fields.insert("name".into(), json!(name));
        }
        match link {
            StripeLink::Keep => {}
            StripeLink::Link(stripe_customer) => {
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
            // Lago discards the provider customer and calls no provider.
            StripeLink::Drop => {
                fields.insert(
                    "billing_configuration".into(),
                    json!({ "payment_provider": null }),
                );
            }
        }
        json!({ "customer": fields })
    }

    /// `POST /api/v1/customers`: creates the customer or updates the one with this external id.
    /// A linked customer's upsert also updates its Stripe customer, synchronously: a Stripe
    /// customer that is gone makes it a 422 `third_party_error` unless `link` drops it.
    pub async fn upsert_customer(
        &self,
        customer: &LagoCustomer,
        link: &StripeLink,
    ) -> Result<(), LagoError> {
        const OP: &str = "upsert customer";
        let (status, body) = self
            .call(
                OP,
                Method::POST,
                "customers",
                Some(self.customer_body(customer, link)),
            )
            .await?;
        ok_or_error(OP, status, &body)
    }

    /// `GET /api/v1/customers/{external_id}`: the customer's Stripe link, or `None` when Lago
    /// has no such customer yet.
    pub async fn customer(
        &self,
        external_id: &str,
    ) -> Result<Option<LagoCustomerState>, LagoError> {
        const OP: &str = "get customer";
        let path = format!("customers/{}", path_segment(external_id));
        let (status, body) = self.call(OP, Method::GET, &path, None).await?;
        if is_not_found(status, &body, "customer_not_found") {
            return Ok(None);
        }
        ok_or_error(OP, status, &body)?;
        #[derive(Deserialize)]
        struct Envelope {
            customer: LagoCustomerState,
        }
        serde_json::from_str::<Envelope>(&body)
            .map(|e| Some(e.customer))
            .map_err(|e| LagoError::Decode {
                operation: OP,
                detail: e.to_string(),
            })
    }

    /// `POST /api/v1/subscriptions` with the user's one external subscription id: creates the
    /// subscription, returns it unchanged when it is already on `plan_code`, or changes its plan
    /// (with zero-base plans always Lago's upgrade: the old one terminated and billed now).
    /// `anchor` (Stripe's period start) becomes `subscription_at`, which Lago uses only when it
    /// creates the subscription; a plan change keeps the first one's.
    pub async fn assign_plan(
        &self,
        external_customer_id: &str,
        external_subscription_id: &str,
        plan_code: &str,
        anchor: Option<UnixTime>,
    ) -> Result<(), LagoError> {
        const OP: &str = "assign plan";
        let mut subscription = json!({
            "external_customer_id": external_customer_id,
            "plan_code": plan_code,
            "external_id": external_subscription_id,
            // Billed on Stripe's anniversary, like the Stripe subscription it mirrors.
            "billing_time": "anniversary"
        });
        if let Some(anchor) = anchor {
            subscription["subscription_at"] = json!(rfc3339(anchor));
        }
        let body = json!({ "subscription": subscription });
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
        if is_not_found(status, &body, "subscription_not_found") {
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

/// Lago serves its webhook key as base64 of the PEM text, in lines of 60 (Ruby's
/// `Base64.encode64`); a PEM given as is is accepted too. Either may arrive with its line breaks
/// as real newlines, as the two characters `\n` (copied out of the JSON answer), or as spaces (a
/// one-line stack parameter): the PEM is rebuilt from its base64 body.
pub fn decode_public_key(raw: &str) -> Result<String, String> {
    use base64::Engine as _;
    let raw = raw.trim().replace("\\n", "\n");
    let pem = if raw.starts_with("-----BEGIN") {
        raw
    } else {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(without_whitespace(&raw))
            .map_err(|e| format!("the public key is not base64: {e}"))?;
        String::from_utf8(bytes).map_err(|_| "the public key is not PEM text".to_owned())?
    };
    normalize_pem(&pem).ok_or_else(|| "the public key is not PEM text".to_owned())
}

fn without_whitespace(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The PEM block rewritten with its header, 64-character base64 lines and footer.
fn normalize_pem(text: &str) -> Option<String> {
    let text = text.trim().replace("\\n", "\n");
    let rest = text.strip_prefix("-----BEGIN ")?;
    let (label, rest) = rest.split_once("-----")?;
    let footer = format!("-----END {label}-----");
    let (body, _) = rest.split_once(&footer)?;
    let body = without_whitespace(body);
    if body.is_empty() {
        return None;
    }
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).ok()?);
        pem.push('\n');
    }
    pem.push_str(&footer);
    pem.push('\n');
    Some(pem)
}

/// Lago's 404 for a missing resource names it (`subscription_not_found`): any other 404 (a
/// wrong API URL, a route Lago does not have) is an error, not an absence.
fn is_not_found(status: StatusCode, body: &str, code: &str) -> bool {
    status == StatusCode::NOT_FOUND && error_code(body).as_deref() == Some(code)
}

/// The `code` of Lago's error envelope `{"status", "error", "code", "error_details"}`.
fn error_code(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    value.get("code")?.as_str().map(str::to_owned)
}

fn ok_or_error(operation: &'static str, status: StatusCode, body: &str) -> Result<(), LagoError> {
    if status.is_success() {
        Ok(())
    } else {
        Err(LagoError::Status {
            operation,
            status: status.as_u16(),
            code: error_code(body),
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
    fn public_keys_decode_from_base64_pem_however_its_lines_are_broken() {
        use base64::Engine as _;
        let body = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo9z+40RQzuVaE8AkAFmxZzow3x+VJYKdjykkJ0iT9wCS0DRTXu269V264Vf/3jvredZiKRkgwlL9xNAwxXFg0x/XFw005UWVRIkdgcKWTjpBP2dPwVZ4WWC+9aGVd+Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbcmwIDAQAB";
        let wrapped = |width: usize| -> String {
            body.as_bytes()
                .chunks(width)
                .map(|l| std::str::from_utf8(l).unwrap())
                .collect::<Vec<_>>()
                .join("\n")
        };
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            wrapped(64)
        );
        let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        // Ruby's Base64.encode64, as Lago serves it: lines of 60, each ending in a newline.
        let served: String = encode(&pem)
            .as_bytes()
            .chunks(60)
            .map(|l| format!("{}\n", std::str::from_utf8(l).unwrap()))
            .collect();
        for (shape, raw) in [
            ("PEM", pem.clone()),
            ("PEM on one line", pem.replace('\n', " ")),
            ("PEM with literal \\n", pem.replace('\n', "\\n")),
            (
                "PEM in 76-column lines",
                pem.replace(&wrapped(64), &wrapped(76)),
            ),
            ("base64", encode(&pem)),
            ("base64 as Lago serves it", served.clone()),
            ("base64 copied out of the JSON", served.replace('\n', "\\n")),
        ] {
            assert_eq!(
                decode_public_key(&raw).as_deref(),
                Ok(pem.as_str()),
                "{shape}"
            );
        }
        assert!(decode_public_key("not base64!").is_err());
        assert!(decode_public_key(&encode("hello")).is_err());
        assert!(decode_public_key("-----BEGIN PUBLIC KEY----- -----END PUBLIC KEY-----").is_err());
    }

    #[test]
    fn the_stripe_link_is_sent_only_when_it_changes() {
        for (current, wanted, link) in [
            (None, None, StripeLink::Keep),
            (Some("cus_1"), Some("cus_1"), StripeLink::Keep),
            (None, Some("cus_1"), StripeLink::Link("cus_1".into())),
            (
                Some("cus_0"),
                Some("cus_1"),
                StripeLink::Link("cus_1".into()),
            ),
            (Some("cus_1"), None, StripeLink::Drop),
        ] {
            assert_eq!(
                StripeLink::between(current, wanted),
                link,
                "{current:?} → {wanted:?}"
            );
        }
    }

    #[test]
    fn lago_refusals_are_permanent_and_outages_transient() {
        let status = |status, code: Option<&str>| LagoError::Status {
            operation: "assign plan",
            status,
            code: code.map(str::to_owned),
            detail: String::new(),
        };
        for (error, permanent) in [
            (status(422, Some("validation_errors")), true),
            (status(422, Some("third_party_error")), true),
            (status(404, Some("plan_not_found")), true),
            (
                status(403, Some("write_action_not_allowed_for_subscription")),
                true,
            ),
            (status(400, None), true),
            (status(401, None), false),
            (status(429, Some("too_many_provider_requests")), false),
            (status(500, None), false),
            (status(503, None), false),
            (
                LagoError::Unreachable {
                    operation: "assign plan",
                    detail: "connection refused".into(),
                },
                false,
            ),
        ] {
            assert_eq!(error.is_permanent(), permanent, "{error}");
        }
    }

    #[test]
    fn only_a_named_404_is_an_absence() {
        let missing = r#"{"status":404,"error":"Not Found","code":"subscription_not_found"}"#;
        assert!(is_not_found(
            StatusCode::NOT_FOUND,
            missing,
            "subscription_not_found"
        ));
        assert!(!is_not_found(
            StatusCode::NOT_FOUND,
            missing,
            "customer_not_found"
        ));
        assert!(!is_not_found(
            StatusCode::NOT_FOUND,
            "<html>Not Found</html>",
            "subscription_not_found"
        ));
        assert!(!is_not_found(
            StatusCode::OK,
            missing,
            "subscription_not_found"
        ));
    }
}
