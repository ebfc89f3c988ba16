//! On `user.deleted` from the identity side: cancels the user's subscriptions at once.

mod handler;

use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tierflow::telemetry::init();
    let deps = tierflow::wiring::subscription_service_from_env().await?;
    run(service_fn(|event| handler::handle(&deps, event))).await
}
