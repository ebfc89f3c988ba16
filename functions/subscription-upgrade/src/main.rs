//! `POST /api/v1/subscriptions/upgrade` — the new plan now, the proration charged now.

mod handler;

use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tierflow::telemetry::init();
    let deps = tierflow::wiring::SubscriptionRoute::from_env(true).await?;
    run(service_fn(|event| handler::handle(&deps, event))).await
}
