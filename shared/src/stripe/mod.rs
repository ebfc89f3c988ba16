//! Stripe's vocabulary as Tierflow speaks it: form encoding, idempotency keys, the error
//! shape, typed objects that read every API version from 2020-03-02 to basil, and the request
//! parameters. The port that uses it is [`crate::ports::StripeApi`]; the HTTP client that
//! speaks it is [`crate::adapters::stripe`].
//!
//! Calls go to `STRIPE_API_BASE` (real Stripe, or the emulator locally) with the API version
//! pinned to [`STRIPE_API_VERSION`].

mod error;
pub mod form;
mod idempotency;
pub mod objects;
mod params;

pub use error::{ErrorKind, StripeError};
pub use form::Form;
pub use idempotency::{derive_key, unique_key, IdempotencyScope};
pub use objects::*;
pub use params::{
    CheckoutMode, CustomerUpdate, EventQuery, NewCheckoutSession, NewCustomer, NewPaymentIntent,
    NewPortalSession, NewPrice, NewProduct, NewRefund, NewTrialSubscription, NewWebhookEndpoint,
    PaymentBehavior, PortalConfigurationParams, PriceChangePreview, ProductUpdate,
    ProrationBehavior, ScheduledPriceChange, SubscriptionPriceChange, TrialParams,
    SUBSCRIPTION_CHANGE_EXPAND, UPGRADE_PRORATION,
};

/// The Stripe API version every request is pinned to (the `Stripe-Version` header), and the
/// version webhook endpoints created by Tierflow render events in.
pub const STRIPE_API_VERSION: &str = "2025-04-30.basil";
