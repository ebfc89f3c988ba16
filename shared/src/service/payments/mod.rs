//! The money-facing routes of an account screen: the Customer Portal, saved cards, one-time
//! payments and the payment history. The history is read from DynamoDB only; the other three
//! talk to Stripe through [`crate::ports::StripeApi`].

pub mod config;
pub mod cursor;
pub mod customer;
pub mod history;
pub mod payment_intent;
pub mod payment_methods;
pub mod portal;

pub use config::{CursorConfig, PaymentsConfig, PortalConfig};

use crate::http::ApiError;

/// The store could not be reached: logged here, a retryable 503 for the caller.
fn store_unavailable(error: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(error = %error, "billing store unavailable");
    ApiError::unavailable()
}

/// 404 for a caller Tierflow has no Stripe customer for.
fn no_billing_account() -> ApiError {
    ApiError::not_found(
        "no_billing_account",
        "you have no billing account yet: subscribe to a plan or make a payment first",
    )
}
