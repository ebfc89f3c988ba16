//! Events.

use serde_json::{json, Value};

use super::API_VERSION;
use crate::store::RequestInfo;

/// A recorded event with a snapshot of its object.
#[derive(Debug, Clone)]
pub struct Event {
    /// `evt_...`.
    pub id: String,
    /// Emulator time of the change.
    pub created: i64,
    /// `customer.subscription.updated`, ...
    pub kind: String,
    /// Snapshot of the object at that time.
    pub object: Value,
    /// Old values of changed fields, for `*.updated`.
    pub previous_attributes: Option<Value>,
    /// The API request that caused it (`None` for clock-driven changes).
    pub request: Option<RequestInfo>,
    /// Endpoints that still have to acknowledge it.
    pub pending_webhooks: i64,
}

impl Event {
    /// The event object.
    pub fn to_json(&self) -> Value {
        let mut data = json!({ "object": self.object });
        if let Some(prev) = &self.previous_attributes {
            data["previous_attributes"] = prev.clone();
        }
        json!({
            "id": self.id,
            "object": "event",
            "api_version": API_VERSION,
            "created": self.created,
            "data": data,
            "livemode": false,
            "pending_webhooks": self.pending_webhooks,
            "request": {
                "id": self.request.as_ref().map(|r| r.id.clone()),
                "idempotency_key": self.request.as_ref().and_then(|r| r.idempotency_key.clone())
            },
            "type": self.kind
        })
    }
}
