//! Every 5 minutes: applies the scheduled downgrades that are due.

mod handler;

use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tierflow::telemetry::init();
    let deps = tierflow::wiring::subscription_service_from_env().await?;
    run(service_fn(|event| handler::handle(&deps, event))).await
}
