//! `POST /api/v1/subscriptions/trial` — a card-less trial started without Checkout.

mod handler;

use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tierflow::telemetry::init();
    let deps = tierflow::wiring::SubscriptionRoute::from_env(false).await?;
    run(service_fn(|event| handler::handle(&deps, event))).await
}
