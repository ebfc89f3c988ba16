//! Hourly reconciliation: replays Stripe events that never reached us and corrects drift
//! between stored subscriptions and Stripe's.

mod handler;

use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tierflow::telemetry::init();
    let deps = tierflow::wiring::processor_from_env().await?;
    run(service_fn(|event| handler::handle(&deps, event))).await
}
