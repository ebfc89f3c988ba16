//! One HTTP delivery from Stripe: verify, parse, process, answer. Invalid deliveries are 400
//! with nothing recorded; transient failures are 500 so Stripe retries; everything else is 200.

use super::processor::{payload_hash, Processor};
use super::signature::verify;
use crate::config::WebhookConfig;
use crate::domain::time::UnixTime;
use crate::http::{ApiError, Receipt};
use crate::stripe::Event;
use lambda_http::http::StatusCode;
use tracing::{error, warn};

/// Parses a verified payload as a v1 Stripe event (thin v2 notifications are refused). One
/// typed pass on the happy path; the slower untyped look only explains a refusal.
pub fn parse_event(payload: &[u8]) -> Result<Event, ApiError> {
    if let Ok(event) = serde_json::from_slice::<Event>(payload) {
        if event.object.as_deref() == Some("event")
            && !event.id.is_empty()
            && !event.kind.is_empty()
        {
            return Ok(event);
        }
    }
    let value: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|_| ApiError::bad_request("invalid_payload", "the body is not JSON"))?;
    Err(match value.get("object").and_then(|o| o.as_str()) {
        Some("v2.core.event") => ApiError::bad_request(
            "unsupported_event",
            "thin (v2) event notifications are not supported; use a snapshot event destination",
        ),
        Some("event") => ApiError::bad_request(
            "invalid_payload",
            "the event is malformed: it needs an id, a type, created and data.object",
        ),
        _ => ApiError::bad_request("invalid_payload", "the body is not a Stripe event"),
    })
}

/// Handles one delivery: its receipt, or the error Stripe is answered with.
pub async fn handle_delivery(
    processor: &Processor,
    config: &WebhookConfig,
    signature: Option<&str>,
    payload: &[u8],
    now: UnixTime,
) -> Result<Receipt, ApiError> {
    if let Err(e) = verify(
        signature.unwrap_or(""),
        payload,
        &config.secrets,
        Some(config.tolerance_seconds),
        now,
    ) {
        // Only the event id, if one can be read, is logged: never the body.
        let id = serde_json::from_slice::<serde_json::Value>(payload)
            .ok()
            .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_owned));
        warn!(event_id = id.as_deref().unwrap_or("-"), reason = %e, "refused a webhook delivery");
        return Err(ApiError::bad_request("invalid_signature", e.to_string()));
    }
    let event = parse_event(payload)?;
    match processor.process(&event, &payload_hash(payload)).await {
        Ok(outcome) => Ok(Receipt::of(outcome.label())),
        Err(e) => {
            error!(event_id = %event.id, error = %e, "transient failure; Stripe will retry");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "retry_later",
                "the event could not be processed now; it will be retried",
            ))
        }
    }
}
