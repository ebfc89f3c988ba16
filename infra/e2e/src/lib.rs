//! End-to-end tests live in `tests/`; they are `#[ignore]`d in plain `cargo test` and run by
//! `infra/test.sh` once the local stack is serving. Their shared helpers are this library.

pub mod stripe_flows;
pub mod support;
