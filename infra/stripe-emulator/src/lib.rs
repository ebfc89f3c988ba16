//! An in-memory emulator of the Stripe API subset Tierflow calls, for offline development and
//! tests: Stripe's object shapes (API version `2025-04-30.basil`), error envelope, idempotency,
//! time-based proration, a movable clock, the Events API and signed webhook deliveries.
//!
//! Start it in-process with [`Emulator::start`] or run the `stripe-emulator` binary.

#![recursion_limit = "256"]

pub mod billing;
pub mod calendar;
pub mod clock;
pub mod config;
pub mod dunning;
pub mod error;
pub mod expand;
pub mod form;
pub mod ids;
pub mod list;
pub mod objects;
mod pages;
pub mod payments;
pub mod proration;
mod routes;
pub mod schedules;
pub mod server;
pub mod store;
pub mod webhooks;

pub use config::Config;
pub use server::{serve, Emulator};
