//! Tracing init: JSON lines in Lambda (where `AWS_LAMBDA_LOG_FORMAT=JSON`), readable text locally.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once. Level from `RUST_LOG` (default `info`).
pub fn init() {
    let in_lambda_json = std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .map(|v| v.eq_ignore_ascii_case("json"))
        .unwrap_or(false);
    if in_lambda_json {
        // lambda_runtime's subscriber emits the JSON shape CloudWatch's JSON log format expects.
        lambda_runtime::tracing::init_default_subscriber();
        return;
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .without_time()
        .try_init();
}
