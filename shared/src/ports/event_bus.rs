//! Domain events on Tierflow's EventBridge bus (`source = tierflow.billing`), for the product
//! team's own consumers.

use crate::domain::UserId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// EventBridge `source` of every Tierflow event.
pub const EVENT_SOURCE: &str = "tierflow.billing";

/// One domain event: `detail-type` such as `subscription.tier_changed` or `access.revoked`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainEvent {
    /// Stable id (derived from the cause) so consumers can dedupe an at-least-once delivery.
    pub id: String,
    /// EventBridge `detail-type`: what happened (`subscription.tier_changed`).
    pub detail_type: String,
    /// The user it happened to.
    pub user_id: UserId,
    /// EventBridge `detail`: the event's fields, never card data or secrets.
    pub detail: serde_json::Value,
}

/// The bus refused or could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("event bus unavailable: {0}")]
pub struct PublishError(pub String);

/// Publishes domain events.
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes all of them or fails; a retry may publish some twice, so consumers dedupe by `id`.
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), PublishError>;
}
