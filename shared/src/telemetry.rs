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

/// An event handler's failed invocation as Lambda records it: `errorType` is
/// `Tierflow.Retryable`, so an alarm or a person reading the DLQ knows a retry may fix it (a
/// store, Stripe or queue failure). Failures no retry can fix never fail an invocation: the
/// handlers record or log them and succeed, so the event source does not retry them into a DLQ.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RetryableFailure(pub String);

impl RetryableFailure {
    /// The failure `e`, retryable.
    pub fn of(e: impl std::fmt::Display) -> Self {
        Self(e.to_string())
    }
}

impl From<RetryableFailure> for lambda_runtime::Diagnostic {
    fn from(failure: RetryableFailure) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "Tierflow.Retryable".into(),
            error_message: failure.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retryable_failure_says_so_in_its_error_type() {
        let d: lambda_runtime::Diagnostic = RetryableFailure::of("store unavailable").into();
        assert_eq!(d.error_type, "Tierflow.Retryable");
        assert_eq!(d.error_message, "store unavailable");
    }
}
