//! Sync worker (SQS consumer): pushes each named user's current state to Keycloak and Lago and
//! sends their email; failed messages are reported one by one for SQS to redeliver.

mod handler;

use lambda_runtime::{run, service_fn, Error};

// One invocation at a time: a single-threaded runtime starts no worker threads (a cold start
// pays for their spawn, stacks and cross-thread wakeups).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tierflow::telemetry::init();
    let deps = handler::Deps::from_env().await?;
    run(service_fn(|event| handler::handle(&deps, event))).await
}
