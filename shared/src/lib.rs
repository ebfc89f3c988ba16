//! Tierflow's one library crate: the pure domain, the ports the functions call, and the
//! adapters behind them (DynamoDB, SQS, EventBridge, Stripe, Lago, Keycloak, email).

pub mod adapters;
pub mod auth;
pub mod config;
pub mod domain;
pub mod effects;
pub mod http;
pub mod outbox;
pub mod ports;
pub mod service;
pub mod stripe;
pub mod subscription_state;
pub mod sync;
pub mod telemetry;
pub mod time;
pub mod webhook;
pub mod wiring;

// The layering check reads the module files (tests only).
#[cfg(test)]
mod layering;
