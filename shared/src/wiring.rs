//! Builds the real adapters from configuration, once per cold start.

use crate::adapters::aws::sdk_config;
use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::eventbridge::EventBridgeBus;
use crate::adapters::sqs::SqsSyncQueue;
use crate::config::{BusConfig, PolicyConfig, QueueConfig, StripeConfig, TableConfig};
use crate::domain::Catalog;
use crate::ports::{EventBus, SyncQueue};
use crate::stripe::StripeClient;
use crate::time::SystemClock;
use crate::webhook::Processor;
use std::sync::Arc;

/// Any init failure, with a message naming what is missing.
pub type InitError = Box<dyn std::error::Error + Send + Sync>;

/// The event-processing core with DynamoDB and Stripe behind it.
pub async fn processor_from_env() -> Result<Processor, InitError> {
    let table = TableConfig::from_env()?;
    let stripe = StripeConfig::from_env()?;
    let policy = PolicyConfig::from_env()?;
    let catalog = Catalog::from_env()?;
    let aws = sdk_config().await;
    Ok(Processor {
        store: Arc::new(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&aws),
            table.table_name,
        )),
        stripe: Arc::new(StripeClient::new(&stripe)?),
        catalog,
        grace_days: policy.grace_days,
        revocation: policy.revocation,
        clock: Arc::new(SystemClock),
    })
}

/// Where committed outboxes are published: the SQS sync queue and the EventBridge bus.
pub struct Publisher {
    pub queue: Arc<dyn SyncQueue>,
    pub bus: Arc<dyn EventBus>,
}

/// The sync queue and the bus from `SYNC_QUEUE_URL` and `EVENT_BUS_NAME`.
pub async fn publisher_from_env() -> Result<Publisher, InitError> {
    publisher_with(&sdk_config().await)
}

/// [`publisher_from_env`] on an SDK configuration the caller already loaded.
pub fn publisher_with(aws: &aws_types::SdkConfig) -> Result<Publisher, InitError> {
    let queue = QueueConfig::from_env()?;
    let bus = BusConfig::from_env()?;
    Ok(Publisher {
        queue: Arc::new(SqsSyncQueue::new(
            aws_sdk_sqs::Client::new(aws),
            queue.sync_queue_url,
        )),
        bus: Arc::new(EventBridgeBus::new(
            aws_sdk_eventbridge::Client::new(aws),
            bus.event_bus_name,
        )),
    })
}
