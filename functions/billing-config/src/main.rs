//! `GET /api/v1/billing/config` — publishable key and plan catalog, no auth.

mod handler;

use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tierflow::telemetry::init();
    let deps = handler::Deps::from_env()?;
    run(service_fn(|req| handler::handle(&deps, req))).await
}
