//! On `user.deleted` from the identity side: cancels the user's subscriptions at once.

mod handler;

use lambda_runtime::{run, service_fn, Error};

// One invocation at a time: a single-threaded runtime starts no worker threads (a cold start
// pays for their spawn, stacks and cross-thread wakeups).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tierflow::telemetry::init();
    let deps = tierflow::wiring::subscription_service_from_env().await?;
    run(service_fn(|event| handler::handle(&deps, event))).await
}
