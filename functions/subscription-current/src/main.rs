//! `GET /api/v1/subscriptions/current` — the caller's billing profile from DynamoDB.

mod handler;

use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tierflow::telemetry::init();
    let deps = handler::Deps::from_env().await?;
    run(service_fn(|req| handler::handle(&deps, req))).await
}
