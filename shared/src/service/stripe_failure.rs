//! The one way a failed Stripe call reaches an API caller, for every route.

use crate::http::ApiError;
use crate::stripe::StripeError;
use lambda_http::http::StatusCode;
use tracing::{error, warn};

/// A failed Stripe call as the caller sees it, by [`StripeError::http_status`]:
/// - 402 `card_declined`: the card was declined; the message gives Stripe's reason;
/// - 404 `not_found`: the Stripe object on record no longer exists;
/// - 409 `stripe_refused`: Stripe refused the request in the account's present state; its
///   message says why;
/// - 502 `payment_provider_error`: only the operator can fix it (keys, permissions, an answer
///   we cannot read); logged with Stripe's request id;
/// - 503 `temporarily_unavailable`: a retry may succeed.
pub fn stripe_failure(operation: &str, e: &StripeError) -> ApiError {
    match e.http_status() {
        402 => {
            let reason = e
                .decline_code
                .as_deref()
                .or(e.code.as_deref())
                .unwrap_or("card_declined");
            ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "card_declined",
                format!("{} ({reason})", e.message),
            )
        }
        404 => ApiError::not_found("not_found", "the billing object no longer exists"),
        409 => {
            warn!(operation, error = %e, "stripe refused the request");
            ApiError::conflict("stripe_refused", e.message.clone())
        }
        503 => {
            warn!(operation, error = %e, "stripe unavailable");
            ApiError::unavailable()
        }
        _ => {
            error!(operation, error = %e, request_id = ?e.request_id, "stripe refused a call only the operator can fix");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "payment_provider_error",
                e.customer_message(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_stripe_failure_has_one_answer() {
        let cases = [
            (
                402,
                r#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds."}}"#,
                402,
                "card_declined",
                "Your card has insufficient funds. (insufficient_funds)",
            ),
            (
                404,
                r#"{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such customer: 'cus_x'"}}"#,
                404,
                "not_found",
                "the billing object no longer exists",
            ),
            (
                400,
                r#"{"error":{"type":"invalid_request_error","message":"This customer has no attached payment source"}}"#,
                409,
                "stripe_refused",
                "This customer has no attached payment source",
            ),
            (
                401,
                r#"{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: sk_test_***"}}"#,
                502,
                "payment_provider_error",
                "the payment provider refused the request",
            ),
            (
                429,
                r#"{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}"#,
                503,
                "temporarily_unavailable",
                "",
            ),
        ];
        for (status, body, answer, code, message) in cases {
            let e = stripe_failure(
                "test",
                &StripeError::from_response(status, body, None, None),
            );
            assert_eq!((e.status.as_u16(), e.code), (answer, code), "{body}");
            if !message.is_empty() {
                assert_eq!(e.message, message, "{body}");
            }
        }
        let down = stripe_failure("test", &StripeError::network("connection refused"));
        assert_eq!(down.status.as_u16(), 503);
    }
}
