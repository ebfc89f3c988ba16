//! Lago webhook (Lambda function URL, POST): verify Lago's signature, record the delivery once,
//! audit it, and reconcile a subscription Lago terminated.

mod handler;

use lambda_http::{run, service_fn, Error};

// One invocation at a time: a single-threaded runtime starts no worker threads (a cold start
// pays for their spawn, stacks and cross-thread wakeups).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tierflow::telemetry::init();
    let receiver = tierflow::wiring::Core::load()
        .await
        .lago_webhook_receiver()
        .await?;
    run(service_fn(|req| handler::handle(&receiver, req))).await
}
