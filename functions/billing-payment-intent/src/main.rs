//! `POST /api/v1/billing/payment-intent` — a PaymentIntent for a one-time payment.

mod handler;

use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tierflow::telemetry::init();
    let deps =
        handler::Deps::from_env(tierflow::service::payments::PaymentsConfig::from_env()?).await?;
    run(service_fn(|req| handler::handle(&deps, req))).await
}
