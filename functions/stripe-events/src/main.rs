//! Stripe events delivered through Stripe's Amazon EventBridge destination (partner event bus):
//! the same processing core as the webhook; the bus is the trust boundary, so no signature.

mod handler;

use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tierflow::telemetry::init();
    let deps = tierflow::wiring::processor_from_env().await?;
    run(service_fn(|event| handler::handle(&deps, event))).await
}
