//! The money-facing routes of an account screen: the Customer Portal, saved cards, one-time
//! payments and the payment history. The history is read from DynamoDB only; the other three
//! talk to Stripe through [`crate::stripe::StripeApi`].

pub mod config;
pub mod cursor;
pub mod customer;
pub mod history;
pub mod payment_intent;
pub mod payment_methods;
pub mod portal;

pub use config::{CursorConfig, PaymentsConfig, PortalConfig};

use crate::http::ApiError;
use crate::stripe::{ErrorKind, StripeError};
use lambda_http::http::StatusCode;

/// The store could not be reached: logged here, a retryable 503 for the caller.
fn store_unavailable(error: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(error = %error, "billing store unavailable");
    ApiError::unavailable()
}

/// A failed Stripe call as the caller should see it: 503 when a retry may succeed, 402 for a
/// declined card (with Stripe's customer-facing reason), 502 for anything only we can fix.
fn provider_failure(operation: &'static str, error: &StripeError) -> ApiError {
    if error.is_transient() {
        tracing::warn!(operation, error = %error, "Stripe unavailable");
        return ApiError::unavailable();
    }
    if error.kind == ErrorKind::Card {
        return ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "payment_failed",
            error.customer_message(),
        );
    }
    tracing::error!(operation, error = %error, request_id = ?error.request_id, "Stripe refused a call");
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "payment_provider_error",
        error.customer_message(),
    )
}

/// 404 for a caller Tierflow has no Stripe customer for.
fn no_billing_account() -> ApiError {
    ApiError::not_found(
        "no_billing_account",
        "you have no billing account yet: subscribe to a plan or make a payment first",
    )
}
