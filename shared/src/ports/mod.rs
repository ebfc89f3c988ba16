//! Narrow traits per capability. Each has a real adapter (`crate::adapters`) tested against the
//! local emulators, and an in-memory one (`crate::adapters::memory`) for handler tests.

pub mod billing_store;
pub mod clock;
pub mod event_bus;
pub mod mailer;
pub mod stripe_api;
pub mod sync_queue;

pub use billing_store::{
    BillingStore, ChangeKind, ChangeRecord, Commit, CommitError, CustomerOwner, DeliveryKeys,
    DeliveryReads, EventRecord, EventStatus, LagoWebhookRecord, Outbox, PaymentPage, PaymentRecord,
    PaymentStatus, ProfileWrite, StoreError, SyncFailure,
};
pub use clock::Clock;
pub use event_bus::{DomainEvent, EventBus, PublishError};
pub use stripe_api::StripeApi;
pub use sync_queue::{
    EnqueueError, StripeAction, SubscriptionChange, SyncJob, SyncQueue, SyncTarget,
};
