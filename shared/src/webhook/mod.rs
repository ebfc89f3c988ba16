//! The Stripe event pipeline: signature verification, the pure decision per event, and the
//! processor that applies each event exactly once, in order, and publishes its effects.

pub mod decide;
pub mod delivery;
pub mod processor;
pub mod reconcile;
pub mod replay;
pub mod signature;

pub use decide::{decide, subject_of, Decision, Policy, HANDLED_EVENT_TYPES};
pub use processor::{Outcome, ProcessError, Processor};
