//! Stripe webhook (Lambda function URL, POST): verify, record once, apply, enqueue, answer fast.

mod handler;

use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tierflow::telemetry::init();
    let deps = tierflow::wiring::WebhookRoute::from_env().await?;
    run(service_fn(|req| handler::handle(&deps, req))).await
}
