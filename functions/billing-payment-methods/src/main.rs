//! `GET /api/v1/billing/payment-methods` — the caller's saved cards.

mod handler;

use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tierflow::telemetry::init();
    let deps = handler::Deps::from_env(()).await?;
    run(service_fn(|req| handler::handle(&deps, req))).await
}
