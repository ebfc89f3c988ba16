//! Stripe's error envelope (`{"error": {"type", "code", "decline_code", "message", "param"}}`)
//! as one typed error, plus the failures that never reached Stripe.

use serde::Deserialize;
use std::fmt;

/// What kind of failure a Stripe call ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The card was declined or needs something the customer must fix (HTTP 402).
    Card,
    /// Parameters Stripe refused, or an object that does not exist (HTTP 400/404).
    InvalidRequest,
    /// An idempotency key reused with different parameters.
    Idempotency,
    /// Stripe's own failure (HTTP 5xx).
    Api,
    /// Too many requests (HTTP 429).
    RateLimit,
    /// The secret key is missing, wrong or revoked (HTTP 401).
    Authentication,
    /// The key may not do this (HTTP 403).
    Permission,
    /// No answer: connection refused, reset or timed out.
    Network,
    /// Stripe answered with a body these types cannot read.
    InvalidResponse,
}

impl ErrorKind {
    /// Stripe's `error.type` word, or ours for failures without an envelope.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Card => "card_error",
            ErrorKind::InvalidRequest => "invalid_request_error",
            ErrorKind::Idempotency => "idempotency_error",
            ErrorKind::Api => "api_error",
            ErrorKind::RateLimit => "rate_limit",
            ErrorKind::Authentication => "authentication",
            ErrorKind::Permission => "permission",
            ErrorKind::Network => "network",
            ErrorKind::InvalidResponse => "invalid_response",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed Stripe call. The optional texts are boxed to keep `Result<T, StripeError>` small.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stripe {kind}{}: {message}", self.code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct StripeError {
    /// What failed, from the HTTP status and `error.type`.
    pub kind: ErrorKind,
    /// The HTTP status, when Stripe answered.
    pub status: Option<u16>,
    /// Stripe's `error.code` (`resource_missing`, `card_declined`, `lock_timeout`, ...).
    pub code: Option<Box<str>>,
    /// The issuer's reason for a card decline (`insufficient_funds`, ...).
    pub decline_code: Option<Box<str>>,
    /// Stripe's `error.message`, or ours when Stripe never answered or its body was unreadable.
    pub message: String,
    /// The parameter Stripe blames, when it names one.
    pub param: Option<Box<str>>,
    /// `Request-Id` of the failed call, for Stripe support and logs.
    pub request_id: Option<Box<str>>,
    /// Stripe's own advice from the `Stripe-Should-Retry` header, when sent.
    pub should_retry: Option<bool>,
}

#[derive(Deserialize)]
struct Envelope {
    error: Body,
}

#[derive(Deserialize)]
struct Body {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    decline_code: Option<String>,
    message: Option<String>,
    param: Option<String>,
}

impl StripeError {
    /// Reads a non-2xx answer. The HTTP status decides the kind where Stripe's SDKs do (401,
    /// 403, 429); otherwise `error.type` does, and an unreadable body falls back to the status.
    pub fn from_response(
        status: u16,
        body: &str,
        request_id: Option<String>,
        should_retry: Option<bool>,
    ) -> Self {
        let parsed = serde_json::from_str::<Envelope>(body).ok().map(|e| e.error);
        let declared = parsed.as_ref().and_then(|b| b.kind.as_deref());
        let kind = match (status, declared) {
            (401, _) => ErrorKind::Authentication,
            (403, _) => ErrorKind::Permission,
            (429, _) => ErrorKind::RateLimit,
            (_, Some("card_error")) => ErrorKind::Card,
            (_, Some("idempotency_error")) => ErrorKind::Idempotency,
            (_, Some("invalid_request_error")) => ErrorKind::InvalidRequest,
            (_, Some("api_error")) => ErrorKind::Api,
            (s, _) if s >= 500 => ErrorKind::Api,
            (402, _) => ErrorKind::Card,
            _ => ErrorKind::InvalidRequest,
        };
        let (code, decline_code, message, param) = match parsed {
            Some(b) => (b.code, b.decline_code, b.message, b.param),
            None => (None, None, None, None),
        };
        Self {
            kind,
            status: Some(status),
            code: code.map(Into::into),
            decline_code: decline_code.map(Into::into),
            message: message.unwrap_or_else(|| format!("HTTP {status} from Stripe")),
            param: param.map(Into::into),
            request_id: request_id.map(Into::into),
            should_retry,
        }
    }

    /// A call that got no answer (connection refused or reset, timeout).
    pub fn network(message: impl Into<String>) -> Self {
        Self::without_status(ErrorKind::Network, message.into())
    }

    /// A 2xx answer whose body does not match the expected type.
    pub fn invalid_response(message: impl Into<String>, request_id: Option<String>) -> Self {
        Self {
            request_id: request_id.map(Into::into),
            ..Self::without_status(ErrorKind::InvalidResponse, message.into())
        }
    }

    /// An id that cannot be a Stripe id, refused before any request is made.
    pub fn invalid_id(id: &str) -> Self {
        Self {
            code: Some("invalid_id".into()),
            ..Self::without_status(
                ErrorKind::InvalidRequest,
                format!(
                    "{:?} is not a Stripe id",
                    id.chars().take(64).collect::<String>()
                ),
            )
        }
    }

    fn without_status(kind: ErrorKind, message: String) -> Self {
        Self {
            kind,
            status: None,
            code: None,
            decline_code: None,
            message,
            param: None,
            request_id: None,
            should_retry: None,
        }
    }

    /// Trying again later may succeed: the caller should answer 5xx (so its own caller
    /// retries) rather than record a permanent failure.
    pub fn is_transient(&self) -> bool {
        match self.kind {
            ErrorKind::Network | ErrorKind::RateLimit | ErrorKind::Api => true,
            _ => self.code.as_deref() == Some("lock_timeout"),
        }
    }

    /// The object named in the call does not exist (or was deleted).
    pub fn is_not_found(&self) -> bool {
        self.code.as_deref() == Some("resource_missing") || self.status == Some(404)
    }

    /// The status a Tierflow API answer should carry for this failure: 402 for a declined card,
    /// 404 for a missing object, 503 for anything transient, 409 for a request Stripe refused
    /// in the account's present state, and 502 for what only Tierflow's own configuration can
    /// fix (keys, permissions, bad bodies). `service::stripe_failure` builds the answer.
    pub fn http_status(&self) -> u16 {
        if self.is_transient() {
            return 503;
        }
        match self.kind {
            ErrorKind::Card => 402,
            _ if self.is_not_found() => 404,
            ErrorKind::InvalidRequest | ErrorKind::Idempotency => 409,
            _ => 502,
        }
    }

    /// The message a customer may see: the decline reason for card errors, otherwise a
    /// generic one (Stripe's other messages talk about parameters and keys).
    pub fn customer_message(&self) -> String {
        match self.kind {
            ErrorKind::Card => self.message.clone(),
            _ if self.is_transient() => "the payment provider is unavailable; try again".into(),
            _ => "the payment provider refused the request".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_errors_keep_code_decline_code_and_message() {
        let body = r#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds.","param":"","charge":"ch_1","doc_url":"https://stripe.com/docs/error-codes/card-declined"}}"#;
        let e = StripeError::from_response(402, body, Some("req_1".into()), None);
        assert_eq!(e.kind, ErrorKind::Card);
        assert_eq!(e.code.as_deref(), Some("card_declined"));
        assert_eq!(e.decline_code.as_deref(), Some("insufficient_funds"));
        assert_eq!(e.message, "Your card has insufficient funds.");
        assert_eq!(e.request_id.as_deref(), Some("req_1"));
        assert!(!e.is_transient());
        assert_eq!(e.http_status(), 402);
        assert_eq!(e.customer_message(), "Your card has insufficient funds.");
        assert_eq!(
            e.to_string(),
            "stripe card_error (card_declined): Your card has insufficient funds."
        );
    }

    #[test]
    fn kinds_follow_status_and_type() {
        let cases = [
            (
                404,
                r#"{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such customer: 'cus_x'","param":"id"}}"#,
                ErrorKind::InvalidRequest,
                false,
                404,
            ),
            (
                400,
                r#"{"error":{"type":"invalid_request_error","message":"Missing required param: items.","param":"items"}}"#,
                ErrorKind::InvalidRequest,
                false,
                409,
            ),
            (
                400,
                r#"{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters they were first used with."}}"#,
                ErrorKind::Idempotency,
                false,
                409,
            ),
            (
                401,
                r#"{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_***"}}"#,
                ErrorKind::Authentication,
                false,
                502,
            ),
            (
                403,
                r#"{"error":{"type":"invalid_request_error","message":"The provided key does not have access"}}"#,
                ErrorKind::Permission,
                false,
                502,
            ),
            (
                429,
                r#"{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}"#,
                ErrorKind::RateLimit,
                true,
                503,
            ),
            (
                409,
                r#"{"error":{"type":"invalid_request_error","code":"lock_timeout","message":"This object cannot be accessed right now"}}"#,
                ErrorKind::InvalidRequest,
                true,
                503,
            ),
            (
                500,
                r#"{"error":{"type":"api_error","message":"Something went wrong on Stripe's end."}}"#,
                ErrorKind::Api,
                true,
                503,
            ),
            (502, "<html>bad gateway</html>", ErrorKind::Api, true, 503),
            (402, "not json", ErrorKind::Card, false, 402),
        ];
        for (status, body, kind, transient, http) in cases {
            let e = StripeError::from_response(status, body, None, None);
            assert_eq!(e.kind, kind, "{status} {body}");
            assert_eq!(e.is_transient(), transient, "{status} {body}");
            assert_eq!(e.http_status(), http, "{status} {body}");
        }
    }

    #[test]
    fn missing_objects_are_recognised() {
        let body = r#"{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such subscription: 'sub_x'","param":"id"}}"#;
        let e = StripeError::from_response(404, body, None, None);
        assert!(e.is_not_found());
        assert_eq!(e.param.as_deref(), Some("id"));
        assert_eq!(
            e.customer_message(),
            "the payment provider refused the request"
        );
    }

    #[test]
    fn unreadable_bodies_fall_back_to_the_status() {
        let e = StripeError::from_response(503, "", None, Some(true));
        assert_eq!(e.message, "HTTP 503 from Stripe");
        assert_eq!(e.should_retry, Some(true));
        let n = StripeError::network("connection refused");
        assert!(n.is_transient());
        assert_eq!(n.status, None);
        let bad = StripeError::invalid_response("missing field `id`", None);
        assert!(!bad.is_transient());
        assert_eq!(bad.http_status(), 502);
    }
}
