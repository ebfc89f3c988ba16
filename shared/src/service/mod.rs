//! The use cases the functions call: each takes ports and plain inputs and returns a view or an
//! [`crate::http::ApiError`], so handlers stay thin.

pub mod billing_config;
pub mod current_subscription;
pub mod customer_of_user;
pub mod payments;
pub mod stripe_failure;
pub mod subscriptions;
