//! `POST /api/v1/billing/payment-intent`: a PaymentIntent for a one-time payment, confirmed by
//! the frontend with Stripe.js. Its outcome reaches the history through the
//! `payment_intent.succeeded` / `payment_intent.payment_failed` webhooks, which find the user
//! by the customer link or by `metadata[user_id]`.

use super::customer::ensure_customer;
use super::{store_unavailable, PaymentsConfig};
use crate::auth::Caller;
use crate::domain::time::{rfc3339, UnixTime};
use crate::domain::{Catalog, Currency};
use crate::http::ApiError;
use crate::ports::{BillingStore, StripeApi};
use crate::service::stripe_failure::stripe_failure;
use crate::stripe::{IdempotencyScope, Metadata, NewPaymentIntent};
use lambda_http::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest description accepted (Stripe's own limit is larger; this keeps receipts readable).
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// Longest client idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// Without a client key, identical requests within this many seconds make one intent.
pub const DEDUP_WINDOW_SECONDS: i64 = 600;
const RATE_WINDOW_SECONDS: i64 = 3600;

/// The request body as sent; every field is checked by [`OneTimePayment::parse`] so each
/// mistake gets its own message.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentIntentBody {
    /// Should be an integer of minor units; any JSON is kept so a wrong kind gets a clear 400.
    #[serde(default)]
    pub amount: Option<Value>,
    /// Should be one of `PAYMENT_CURRENCIES`, as an ISO 4217 string.
    #[serde(default)]
    pub currency: Option<Value>,
    /// Optional text for the receipt, at most [`MAX_DESCRIPTION_CHARS`].
    #[serde(default)]
    pub description: Option<Value>,
    /// Chosen by the client per payment attempt: a retried request with the same key makes
    /// no second intent.
    #[serde(default)]
    pub idempotency_key: Option<Value>,
}

impl PaymentIntentBody {
    /// Reads a JSON object; serde alone would also take an array of the fields in order.
    pub fn from_object(object: serde_json::Map<String, Value>) -> Result<Self, ApiError> {
        serde_json::from_value(Value::Object(object)).map_err(|e| {
            ApiError::bad_request("invalid_body", format!("the JSON body is invalid: {e}"))
        })
    }
}

/// A checked one-time payment request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimePayment {
    /// Minor units, within the configured bounds.
    pub amount: i64,
    /// One of `PAYMENT_CURRENCIES`.
    pub currency: Currency,
    /// Trimmed; `None` when absent or blank.
    pub description: Option<String>,
    /// The client's key, at most [`MAX_IDEMPOTENCY_KEY_CHARS`]; `None` dedups by content within
    /// [`DEDUP_WINDOW_SECONDS`].
    pub idempotency_key: Option<String>,
}

fn invalid_amount(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_amount", message)
}

impl OneTimePayment {
    /// Checks the body against the configured bounds and currencies.
    pub fn parse(body: &PaymentIntentBody, config: &PaymentsConfig) -> Result<Self, ApiError> {
        let hint = "an integer number of the currency's minor unit, e.g. 1050 for $10.50";
        let amount = match &body.amount {
            None | Some(Value::Null) => {
                return Err(invalid_amount(format!("amount is required: {hint}")))
            }
            Some(Value::Number(n)) => match (n.as_i64(), n.as_u64()) {
                (Some(a), _) => a,
                // Larger than any i64: certainly above the maximum.
                (None, Some(_)) => i64::MAX,
                (None, None) => {
                    return Err(invalid_amount(format!(
                        "amount {n} is not an integer: send {hint}"
                    )))
                }
            },
            Some(other) => {
                return Err(invalid_amount(format!(
                    "amount must be a JSON number, not {}: send {hint}",
                    json_kind(other)
                )))
            }
        };
        if amount < config.min_amount {
            return Err(invalid_amount(format!(
                "amount must be at least {} (minor units)",
                config.min_amount
            )));
        }
        if amount > config.max_amount {
            return Err(invalid_amount(format!(
                "amount must be at most {} (minor units)",
                config.max_amount
            )));
        }
        let currency = match &body.currency {
            Some(Value::String(raw)) => {
                Currency::parse(raw).map_err(|e| ApiError::bad_request("invalid_currency", e.0))?
            }
            None | Some(Value::Null) => {
                return Err(ApiError::bad_request(
                    "invalid_currency",
                    format!("currency is required: one of {}", config.currency_list()),
                ))
            }
            Some(other) => {
                return Err(ApiError::bad_request(
                    "invalid_currency",
                    format!("currency must be a string, not {}", json_kind(other)),
                ))
            }
        };
        if !config.currencies.contains(&currency) {
            return Err(ApiError::bad_request(
                "invalid_currency",
                format!(
                    "currency {:?} is not accepted: use one of {}",
                    currency.as_str(),
                    config.currency_list()
                ),
            ));
        }
        let description = match &body.description {
            None | Some(Value::Null) => None,
            Some(Value::String(d)) => {
                let d = d.trim();
                if d.chars().count() > MAX_DESCRIPTION_CHARS {
                    return Err(ApiError::bad_request(
                        "invalid_description",
                        format!("description is longer than {MAX_DESCRIPTION_CHARS} characters"),
                    ));
                }
                if d.chars().any(char::is_control) {
                    return Err(ApiError::bad_request(
                        "invalid_description",
                        "description must not contain control characters",
                    ));
                }
                Some(d.to_owned()).filter(|d| !d.is_empty())
            }
            Some(other) => {
                return Err(ApiError::bad_request(
                    "invalid_description",
                    format!("description must be a string, not {}", json_kind(other)),
                ))
            }
        };
        let idempotency_key = match &body.idempotency_key {
            None | Some(Value::Null) => None,
            Some(Value::String(k))
                if !k.is_empty()
                    && k.len() <= MAX_IDEMPOTENCY_KEY_CHARS
                    && k.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Some(k.clone())
            }
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_idempotency_key",
                    format!(
                        "idempotency_key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable ASCII characters, e.g. a UUID"
                    ),
                ))
            }
        };
        Ok(Self {
            amount,
            currency,
            description,
            idempotency_key,
        })
    }

    /// What makes this payment one operation for Stripe's idempotency: the client's key, or
    /// else the request's content within a short time window, so a retried or double-clicked
    /// request replays the first intent instead of making a second.
    pub fn scope(&self, caller: &Caller, now: UnixTime) -> IdempotencyScope {
        let user = caller.user_id.as_str();
        match &self.idempotency_key {
            Some(key) => IdempotencyScope::new(["one-time-payment", user, "key", key]),
            None => IdempotencyScope::new([
                "one-time-payment",
                user,
                "content",
                &self.amount.to_string(),
                self.currency.as_str(),
                self.description.as_deref().unwrap_or(""),
                &now.div_euclid(DEDUP_WINDOW_SECONDS).to_string(),
            ]),
        }
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What the frontend needs to confirm the payment with Stripe.js.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentIntentView {
    /// Stripe's `pi_…` id.
    pub payment_intent_id: String,
    /// Stripe's `client_secret`, for `stripe.confirmPayment`; only the caller gets it.
    pub client_secret: String,
    /// Minor units, as Stripe recorded it.
    pub amount: i64,
    /// Lowercase ISO 4217.
    pub currency: String,
    /// Stripe's PaymentIntent status: `requires_payment_method` when new, later ones on a replay.
    pub status: String,
}

/// Creates (or, for a repeated request, replays) the PaymentIntent of a one-time payment.
pub async fn create_one_time_payment(
    store: &dyn BillingStore,
    stripe: &dyn StripeApi,
    catalog: &Catalog,
    config: &PaymentsConfig,
    caller: &Caller,
    body: &PaymentIntentBody,
    now: UnixTime,
) -> Result<PaymentIntentView, ApiError> {
    let payment = OneTimePayment::parse(body, config)?;
    let window_end = crate::domain::time::window_end(now, RATE_WINDOW_SECONDS);
    let attempts = store
        .count_in_window(&format!("payment-intent#{}", caller.user_id), window_end)
        .await
        .map_err(|e| store_unavailable(&e))?;
    if attempts > config.intents_per_hour {
        tracing::warn!(user_id = %caller.user_id, attempts, "payment intents rate-limited");
        return Err(ApiError::rate_limited(
            format!(
                "too many payment attempts: try again after {}",
                rfc3339(window_end)
            ),
            window_end - now,
        ));
    }
    let customer = ensure_customer(store, stripe, catalog, caller, now).await?;
    let params = NewPaymentIntent {
        amount: payment.amount,
        currency: payment.currency.as_str().to_owned(),
        customer: Some(customer),
        description: payment.description.clone(),
        metadata: Metadata::from([("user_id".to_owned(), caller.user_id.to_string())]),
    };
    let intent = stripe
        .create_payment_intent(&params, &payment.scope(caller, now))
        .await
        .map_err(|e| match e.code.as_deref() {
            // Stripe's own per-currency minimum or maximum: its message names the bound.
            Some("amount_too_small" | "amount_too_large") => invalid_amount(e.message.clone()),
            _ => stripe_failure("payment_intent_create", &e),
        })?;
    let Some(client_secret) = intent.client_secret.clone() else {
        tracing::error!(payment_intent = %intent.id, "Stripe returned a PaymentIntent without a client secret");
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "payment_provider_error",
            "the payment provider returned an incomplete answer",
        ));
    };
    tracing::info!(user_id = %caller.user_id, payment_intent = %intent.id, amount = intent.amount, "one-time payment intent ready");
    Ok(PaymentIntentView {
        currency: intent
            .currency
            .clone()
            .unwrap_or_else(|| payment.currency.as_str().to_owned()),
        payment_intent_id: intent.id,
        client_secret,
        amount: intent.amount,
        status: intent.status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;
    use serde_json::json;

    fn config() -> PaymentsConfig {
        PaymentsConfig {
            min_amount: 50,
            max_amount: 1_000_000,
            currencies: vec![
                Currency::parse("usd").unwrap(),
                Currency::parse("eur").unwrap(),
            ],
            intents_per_hour: 30,
        }
    }

    fn body(v: Value) -> PaymentIntentBody {
        serde_json::from_value(v).unwrap()
    }

    fn parse(v: Value) -> Result<OneTimePayment, ApiError> {
        OneTimePayment::parse(&body(v), &config())
    }

    #[test]
    fn a_valid_request_is_normalised() {
        let p = parse(json!({"amount": 1050, "currency": "EUR", "description": "  Credits  "}))
            .unwrap();
        assert_eq!(p.amount, 1050);
        assert_eq!(p.currency.as_str(), "eur");
        assert_eq!(p.description.as_deref(), Some("Credits"));
        let p = parse(json!({"amount": 50, "currency": "usd", "description": " "})).unwrap();
        assert_eq!(p.description, None);
    }

    #[test]
    fn bad_amounts_each_say_what_is_wrong() {
        for (amount, needle) in [
            (json!(null), "required"),
            (json!(0), "at least 50"),
            (json!(-100), "at least 50"),
            (json!(49), "at least 50"),
            (json!(1_000_001), "at most 1000000"),
            (json!(u64::MAX), "at most"),
            (json!(10.5), "not an integer"),
            (json!(1e30), "not an integer"),
            (json!("1050"), "not a string"),
            (json!(true), "not a boolean"),
        ] {
            let err = parse(json!({"amount": amount, "currency": "usd"})).unwrap_err();
            assert_eq!(err.code, "invalid_amount", "{amount}");
            assert!(err.message.contains(needle), "{amount}: {}", err.message);
        }
    }

    #[test]
    fn bad_currencies_and_other_fields_are_refused() {
        let cases = [
            (json!({"amount": 100}), "invalid_currency"),
            (
                json!({"amount": 100, "currency": "gbp"}),
                "invalid_currency",
            ),
            (
                json!({"amount": 100, "currency": "dollars"}),
                "invalid_currency",
            ),
            (json!({"amount": 100, "currency": 840}), "invalid_currency"),
            (
                json!({"amount": 100, "currency": "usd", "description": 5}),
                "invalid_description",
            ),
            (
                json!({"amount": 100, "currency": "usd", "description": "x".repeat(501)}),
                "invalid_description",
            ),
            (
                json!({"amount": 100, "currency": "usd", "idempotency_key": "has space"}),
                "invalid_idempotency_key",
            ),
            (
                json!({"amount": 100, "currency": "usd", "idempotency_key": ""}),
                "invalid_idempotency_key",
            ),
        ];
        for (v, code) in cases {
            assert_eq!(parse(v.clone()).unwrap_err().code, code, "{v}");
        }
        let err = parse(json!({"amount": 100, "currency": "gbp"})).unwrap_err();
        assert!(err.message.contains("usd, eur"), "{}", err.message);
        let unknown = json!({"amount": 1, "amonut": 2});
        let err = PaymentIntentBody::from_object(unknown.as_object().unwrap().clone()).unwrap_err();
        assert_eq!(err.code, "invalid_body");
        assert!(err.message.contains("amonut"), "{}", err.message);
    }

    #[test]
    fn scopes_repeat_for_a_retry_and_differ_otherwise() {
        let ada = Caller {
            user_id: UserId::parse("ada").unwrap(),
            email: None,
        };
        let bob = Caller {
            user_id: UserId::parse("bob").unwrap(),
            email: None,
        };
        let p = parse(json!({"amount": 100, "currency": "usd"})).unwrap();
        let keyed =
            parse(json!({"amount": 100, "currency": "usd", "idempotency_key": "k-1"})).unwrap();
        // A client key holds across time windows; content alone only within one.
        assert_eq!(keyed.scope(&ada, 0), keyed.scope(&ada, 86_000));
        assert_eq!(p.scope(&ada, 600), p.scope(&ada, 1199));
        assert_ne!(p.scope(&ada, 600), p.scope(&ada, 1200));
        assert_ne!(p.scope(&ada, 600), p.scope(&bob, 600));
        assert_ne!(p.scope(&ada, 600), keyed.scope(&ada, 600));
        let other = parse(json!({"amount": 101, "currency": "usd"})).unwrap();
        assert_ne!(p.scope(&ada, 600), other.scope(&ada, 600));
    }
}
