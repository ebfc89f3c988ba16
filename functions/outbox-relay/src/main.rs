//! Outbox relay (DynamoDB stream consumer): publishes the outbox of every new event record —
//! sync jobs to the SQS sync queue, domain events to the EventBridge bus. The webhook and the
//! API write state and outbox in one transaction; this is the only place either is published.

mod handler;

use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tierflow::telemetry::init();
    let deps = handler::Deps::from_env().await?;
    run(service_fn(|event| handler::handle(&deps, event))).await
}
