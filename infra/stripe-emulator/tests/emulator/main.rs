//! End-to-end tests of the emulator over HTTP (in-process server, reqwest client).

// Tests may unwrap; clippy.toml only covers `#[test]` bodies, not the harness helpers.
#![allow(clippy::unwrap_used)]

mod api;
mod checkout;
mod discounts;
mod dunning;
mod harness;
mod lifecycle;
mod pages;
mod payments;
mod portal;
mod proration;
mod tax;
mod trials;
mod webhooks;
