//! The composition root: builds the real adapters from configuration, once per cold start.
//! Functions and tools get their dependencies here and never see an AWS SDK client.

use crate::adapters::aws::sdk_config;
use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::eventbridge::EventBridgeBus;
use crate::adapters::sqs::SqsSyncQueue;
use crate::adapters::stripe::StripeClient;
use crate::auth::Authenticator;
use crate::config::{
    BusConfig, ConfigError, Env, PolicyConfig, ProcessEnv, QueueConfig, StripeConfig, TableConfig,
    WebhookConfig,
};
use crate::domain::Catalog;
use crate::ports::mailer::Mailer;
use crate::ports::{BillingStore, Clock, EventBus, StripeApi, SyncQueue};
use crate::service::subscriptions::TaxMode;
use crate::service::subscriptions::{
    CheckoutUrls, PriceIds, SubscriptionService, DEFAULT_CHANGE_LIMIT_PER_HOUR,
};
use crate::sync::lago_webhook::LagoWebhookReceiver;
use crate::sync::mailer::SesMailer;
use crate::sync::worker::Worker;
use crate::time::SystemClock;
use crate::webhook::Processor;
use aws_types::SdkConfig;
use std::sync::Arc;

pub use crate::config::InitError;

/// The AWS configuration loaded once (region, credentials, `AWS_ENDPOINT_URL` locally), from
/// which every adapter is made.
pub struct Core {
    aws: SdkConfig,
}

/// Where committed outboxes are published: the SQS sync queue and the EventBridge bus.
pub struct Publisher {
    /// The sync queue (`SYNC_QUEUE_URL`), for the outbox's sync jobs.
    pub queue: Arc<dyn SyncQueue>,
    /// The EventBridge bus (`EVENT_BUS_NAME`), for the outbox's domain events.
    pub bus: Arc<dyn EventBus>,
}

impl Core {
    /// Loads the AWS configuration from the environment Lambda provides.
    pub async fn load() -> Self {
        Self {
            aws: sdk_config().await,
        }
    }

    /// The billing table named by `TABLE_NAME`.
    pub fn store(&self) -> Result<DynamoStore, ConfigError> {
        let table = TableConfig::from_env()?;
        Ok(DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&self.aws),
            table.table_name,
        ))
    }

    /// The sync queue named by `SYNC_QUEUE_URL`.
    pub fn sync_queue(&self) -> Result<SqsSyncQueue, ConfigError> {
        let queue = QueueConfig::from_env()?;
        Ok(SqsSyncQueue::new(
            aws_sdk_sqs::Client::new(&self.aws),
            queue.sync_queue_url,
        ))
    }

    /// The sync queue and the bus (`SYNC_QUEUE_URL`, `EVENT_BUS_NAME`).
    pub fn publisher(&self) -> Result<Publisher, InitError> {
        let bus = BusConfig::from_env()?;
        Ok(Publisher {
            queue: Arc::new(self.sync_queue()?),
            bus: Arc::new(EventBridgeBus::new(
                aws_sdk_eventbridge::Client::new(&self.aws),
                bus.event_bus_name,
            )),
        })
    }

    /// The Stripe client (`STRIPE_SECRET_KEY`, `STRIPE_API_BASE` locally).
    pub fn stripe(&self) -> Result<StripeClient, InitError> {
        Ok(StripeClient::new(&StripeConfig::from_env()?)?)
    }

    /// The event-processing core with the table and Stripe behind it.
    pub fn processor(&self) -> Result<Processor, InitError> {
        let policy = PolicyConfig::from_env()?;
        Ok(Processor {
            store: Arc::new(self.store()?),
            stripe: Arc::new(self.stripe()?),
            catalog: crate::config::load_catalog()?,
            grace_days: policy.grace_days,
            revocation: policy.revocation,
            clock: Arc::new(SystemClock),
        })
    }

    /// The use cases of the subscription routes; `checkout` for those that open Checkout.
    pub fn subscription_service(
        &self,
        checkout: Option<CheckoutUrls>,
    ) -> Result<SubscriptionService, InitError> {
        let processor = self.processor()?;
        Ok(SubscriptionService {
            store: processor.store,
            stripe: processor.stripe,
            catalog: processor.catalog,
            clock: processor.clock,
            grace_days: processor.grace_days,
            checkout,
            change_limit_per_hour: Env(&ProcessEnv)
                .parsed("CHANGE_LIMIT_PER_HOUR", DEFAULT_CHANGE_LIMIT_PER_HOUR)?,
            prices: PriceIds::default(),
            allow_promotion_codes: Env(&ProcessEnv).parsed("ALLOW_PROMOTION_CODES", false)?,
            tax: Env(&ProcessEnv).parsed("TAX_MODE", TaxMode::Off)?,
        })
    }

    /// The sync worker with the integrations the environment configures (SES for email unless
    /// a local outbox is set); logs which are enabled.
    pub fn sync_worker(&self) -> Result<Worker, InitError> {
        let worker = Worker::with_integrations(
            Arc::new(self.store()?),
            &ProcessEnv,
            crate::config::load_catalog()?,
            Arc::new(SystemClock),
            |cfg| {
                Arc::new(SesMailer::new(
                    aws_sdk_sesv2::Client::new(&self.aws),
                    cfg.from.clone(),
                    cfg.configuration_set.clone(),
                )) as Arc<dyn Mailer>
            },
        )?;
        worker.log_startup();
        Ok(worker)
    }

    /// The Lago webhook receiver over the table and the sync queue.
    pub async fn lago_webhook_receiver(&self) -> Result<LagoWebhookReceiver, InitError> {
        LagoWebhookReceiver::configured(Arc::new(self.store()?), Arc::new(self.sync_queue()?)).await
    }

    /// An SQS client, for moving messages between queues (`redrive`).
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.aws)
    }
}

/// What every subscription route needs: the use cases and the caller's authentication.
pub struct SubscriptionRoute {
    /// The subscription use cases over the DynamoDB table and Stripe.
    pub service: SubscriptionService,
    /// Finds the caller's user id in the request, as `AUTH_MODE` says.
    pub auth: Authenticator,
}

impl SubscriptionRoute {
    /// From the environment; `opens_checkout` for the routes that may start a Checkout session
    /// (they need `CHECKOUT_SUCCESS_URL` and `CHECKOUT_CANCEL_URL`).
    pub async fn from_env(opens_checkout: bool) -> Result<Self, InitError> {
        let checkout = if opens_checkout {
            Some(CheckoutUrls::from_env()?)
        } else {
            None
        };
        Ok(Self {
            auth: Authenticator::from_env()?,
            service: Core::load().await.subscription_service(checkout)?,
        })
    }
}

/// What a payment route needs: the table, Stripe, the caller's authentication, the clock and
/// the route's own settings (`()` for a route that has none).
pub struct PaymentRoute<S = ()> {
    /// The billing table (`TABLE_NAME`).
    pub store: Arc<dyn BillingStore>,
    /// The Stripe client (`STRIPE_SECRET_KEY`).
    pub stripe: Arc<dyn StripeApi>,
    /// Finds the caller's user id in the request, as `AUTH_MODE` says.
    pub auth: Authenticator,
    /// The time the route acts at.
    pub clock: Arc<dyn Clock>,
    /// The catalog (`CATALOG_FILE`): the free tier a first-time caller's profile starts on.
    pub catalog: Catalog,
    /// The route's settings, read from the environment by the caller.
    pub settings: S,
}

impl<S> PaymentRoute<S> {
    /// From the environment, with the settings the route has read already.
    pub async fn from_env(settings: S) -> Result<Self, InitError> {
        let auth = Authenticator::from_env()?;
        let core = Core::load().await;
        Ok(Self {
            store: Arc::new(core.store()?),
            stripe: Arc::new(core.stripe()?),
            auth,
            clock: Arc::new(SystemClock),
            catalog: crate::config::load_catalog()?,
            settings,
        })
    }
}

/// What the Stripe webhook needs: the processing core and the signing secrets.
pub struct WebhookRoute {
    /// The event-processing core over the table and Stripe.
    pub processor: Processor,
    /// The endpoint's signing secrets and timestamp tolerance.
    pub config: WebhookConfig,
}

impl WebhookRoute {
    /// From the environment (`STRIPE_WEBHOOK_SECRET` and the processor's settings).
    pub async fn from_env() -> Result<Self, InitError> {
        Ok(Self {
            config: WebhookConfig::from_env()?,
            processor: processor_from_env().await?,
        })
    }
}

/// [`Core::processor`] for a function that needs nothing else.
pub async fn processor_from_env() -> Result<Processor, InitError> {
    Core::load().await.processor()
}

/// [`Core::subscription_service`] without Checkout, for a function that needs nothing else.
pub async fn subscription_service_from_env() -> Result<SubscriptionService, InitError> {
    Core::load().await.subscription_service(None)
}

/// [`Core::publisher`] for a function that needs nothing else.
pub async fn publisher_from_env() -> Result<Publisher, InitError> {
    Core::load().await.publisher()
}
