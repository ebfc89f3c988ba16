//! Domain events on a custom EventBridge bus.

use crate::ports::event_bus::EVENT_SOURCE;
use crate::ports::{DomainEvent, EventBus, PublishError};
use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

/// EventBridge-backed [`EventBus`].
#[derive(Clone)]
pub struct EventBridgeBus {
    client: Client,
    bus_name: String,
}

impl EventBridgeBus {
    /// A bus publishing to `bus_name` (from `EVENT_BUS_NAME`) through `client`.
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        Self {
            client,
            bus_name: bus_name.into(),
        }
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), PublishError> {
        // PutEvents takes at most ten entries per call.
        for chunk in events.chunks(10) {
            let mut entries = Vec::with_capacity(chunk.len());
            for event in chunk {
                let mut detail = event.detail.clone();
                if let Some(map) = detail.as_object_mut() {
                    map.insert("event_id".into(), event.id.clone().into());
                    map.insert("user_id".into(), event.user_id.as_str().into());
                }
                entries.push(
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus_name)
                        .source(EVENT_SOURCE)
                        .detail_type(&event.detail_type)
                        .detail(detail.to_string())
                        .build(),
                );
            }
            let out = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    PublishError(format!(
                        "PutEvents: {}",
                        aws_sdk_eventbridge::error::DisplayErrorContext(&e)
                    ))
                })?;
            if out.failed_entry_count() > 0 {
                let reason = out
                    .entries()
                    .iter()
                    .find_map(|e| e.error_message().map(str::to_owned))
                    .unwrap_or_else(|| "unknown".into());
                return Err(PublishError(format!(
                    "PutEvents: {} entries failed: {reason}",
                    out.failed_entry_count()
                )));
            }
        }
        Ok(())
    }
}
