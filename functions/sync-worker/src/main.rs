//! Sync worker (SQS consumer): pushes each named user's current state to Keycloak and Lago and
//! sends their email; failed messages are reported one by one for SQS to redeliver.

mod handler;

use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tierflow::telemetry::init();
    let deps = handler::Deps::from_env().await?;
    run(service_fn(|event| handler::handle(&deps, event))).await
}
