//! `POST /api/v1/billing/checkout` — a Checkout session for a first subscription.

mod handler;

use lambda_http::{run, service_fn, Error};

// One invocation at a time: a single-threaded runtime starts no worker threads (a cold start
// pays for their spawn, stacks and cross-thread wakeups).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tierflow::telemetry::init();
    let deps = tierflow::wiring::SubscriptionRoute::from_env(true).await?;
    run(service_fn(|event| handler::handle(&deps, event))).await
}
