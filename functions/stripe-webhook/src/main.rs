//! Stripe webhook (Lambda function URL, POST): verify, record once, apply, enqueue, answer fast.

mod handler;

use lambda_http::{run, service_fn, Error};

// One invocation at a time: a single-threaded runtime starts no worker threads (a cold start
// pays for their spawn, stacks and cross-thread wakeups).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tierflow::telemetry::init();
    let deps = tierflow::wiring::WebhookRoute::from_env().await?;
    run(service_fn(|req| handler::handle(&deps, req))).await
}
