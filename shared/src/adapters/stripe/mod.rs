//! The Stripe adapter: [`StripeClient`], the HTTP client behind [`crate::ports::StripeApi`],
//! its retry policy, and catalog-sync, which drives the client's catalog calls.

pub mod catalog_sync;
mod client;
mod retry;

pub use client::{ClientBuildError, StripeClient, CONNECT_TIMEOUT, REQUEST_TIMEOUT};
pub use retry::{is_retryable, RetryPolicy};
