//! The pure domain: plain types and functions, no SDK types, tested without any server.

pub mod access;
pub mod catalog;
pub mod discount;
pub mod money;
pub mod ordering;
pub mod profile;
pub mod proration;
pub mod tier;
pub mod time;
pub mod transition;
pub mod trial;

pub use access::{access_for, Access};
pub use catalog::{Catalog, CatalogError, LegacyPrice, PlanMatch, PriceFacts, PriceSpec, TierSpec};
pub use money::{Currency, Money};
pub use profile::{BillingProfile, PaidPrice, PendingChange, SubscriptionStatus};
pub use tier::{BillingCycle, Tier, UserId};
pub use transition::{classify, Transition};
pub use trial::{TrialEndBehavior, TrialSpec};

/// A value from outside that does not fit the domain; the message is safe to show the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);
