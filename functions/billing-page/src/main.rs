//! `GET /billing` and its assets — the reference billing page, embedded in the binary.

mod handler;
mod page;

use lambda_http::{run, service_fn, Error};

// One invocation at a time: a single-threaded runtime starts no worker threads (a cold start
// pays for their spawn, stacks and cross-thread wakeups).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tierflow::telemetry::init();
    let site = page::Site::new(&page::PageConfig::from_env()?)?;
    run(service_fn(|req| handler::handle(&site, req))).await
}
