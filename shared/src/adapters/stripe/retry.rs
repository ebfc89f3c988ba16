//! When a failed Stripe call is worth repeating, and how long to wait first. Pure, so the
//! policy is tested without a server; the client applies it with the same idempotency key.

use crate::stripe::{ErrorKind, StripeError};
use std::time::Duration;

/// How many attempts a call gets and how the waits between them grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// The wait before the second attempt; it doubles after that.
    pub base_delay: Duration,
    /// No wait exceeds this (a Lambda invocation has little time to spare).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(4),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries, for tests and one-shot tools.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Whether attempt number `attempt` (1-based) that failed with `error` gets another try.
    pub fn should_retry(&self, error: &StripeError, attempt: u32) -> bool {
        attempt < self.max_attempts && is_retryable(error)
    }

    /// The wait after failed attempt `attempt` (1-based): exponential, capped, with "equal
    /// jitter" (half fixed, half random) so that many clients do not retry in lockstep.
    /// `jitter` is a random number in `[0, 1)`.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.max_delay);
        let half = exp / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

/// Stripe's advice (`Stripe-Should-Retry`) wins when present; otherwise network failures, 429,
/// 409 `lock_timeout` and 5xx are retried, and no other 4xx is.
pub fn is_retryable(error: &StripeError) -> bool {
    if let Some(advice) = error.should_retry {
        return advice;
    }
    match (error.kind, error.status) {
        (ErrorKind::Network, _) => true,
        (_, Some(429)) => true,
        (_, Some(409)) => error.code.as_deref() == Some("lock_timeout"),
        (_, Some(s)) => s >= 500,
        (_, None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16, code: Option<&str>, advice: Option<bool>) -> StripeError {
        let body = match code {
            Some(c) => format!(
                r#"{{"error":{{"type":"invalid_request_error","code":"{c}","message":"m"}}}}"#
            ),
            None => r#"{"error":{"type":"api_error","message":"m"}}"#.to_owned(),
        };
        StripeError::from_response(status, &body, None, advice)
    }

    #[test]
    fn retries_only_what_may_succeed_later() {
        let cases = [
            (answered(429, Some("rate_limit"), None), true),
            (answered(409, Some("lock_timeout"), None), true),
            (answered(409, Some("idempotency_key_in_use"), None), false),
            (answered(500, None, None), true),
            (answered(502, None, None), true),
            (answered(503, None, None), true),
            (answered(400, Some("parameter_missing"), None), false),
            (answered(402, Some("card_declined"), None), false),
            (answered(404, Some("resource_missing"), None), false),
            (answered(401, None, None), false),
            (answered(500, None, Some(false)), false),
            (answered(400, Some("x"), Some(true)), true),
            (StripeError::network("reset"), true),
            (StripeError::invalid_response("bad json", None), false),
        ];
        for (error, want) in cases {
            assert_eq!(is_retryable(&error), want, "{error:?}");
        }
    }

    #[test]
    fn stops_after_the_last_attempt() {
        let policy = RetryPolicy::default();
        let e = answered(503, None, None);
        assert!(policy.should_retry(&e, 1));
        assert!(policy.should_retry(&e, 2));
        assert!(!policy.should_retry(&e, 3));
        assert!(!RetryPolicy::none().should_retry(&e, 1));
    }

    #[test]
    fn delays_grow_exponentially_within_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, 0.0), Duration::from_millis(250));
        assert_eq!(p.delay(1, 1.0), Duration::from_millis(500));
        assert_eq!(p.delay(2, 0.0), Duration::from_millis(500));
        assert_eq!(p.delay(3, 0.5), Duration::from_millis(1500));
        assert_eq!(p.delay(30, 1.0), Duration::from_secs(4));
        assert!(p.delay(2, 0.3) < p.delay(2, 0.9));
    }
}
