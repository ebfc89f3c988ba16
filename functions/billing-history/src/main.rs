//! `GET /api/v1/billing/history` — the caller's payments, newest first, from DynamoDB.

mod handler;

use lambda_http::{run, service_fn, Error};

// One invocation at a time: a single-threaded runtime starts no worker threads (a cold start
// pays for their spawn, stacks and cross-thread wakeups).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tierflow::telemetry::init();
    let deps = handler::Deps::from_env().await?;
    run(service_fn(|req| handler::handle(&deps, req))).await
}
