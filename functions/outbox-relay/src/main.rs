//! Outbox relay (DynamoDB stream consumer): publishes the outbox of every new event record —
//! sync jobs to the SQS sync queue, domain events to the EventBridge bus. The webhook and the
//! API write state and outbox in one transaction; this is the only place either is published.

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
