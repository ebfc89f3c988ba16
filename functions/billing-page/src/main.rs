//! `GET /billing` and its assets — the reference billing page, embedded in the binary.

mod handler;
mod page;

use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tierflow::telemetry::init();
    let site = page::Site::new(&page::PageConfig::from_env()?)?;
    run(service_fn(|req| handler::handle(&site, req))).await
}
