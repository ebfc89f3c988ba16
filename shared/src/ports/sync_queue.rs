//! The sync queue: level-triggered jobs naming a user; the worker reads the user's current state
//! and pushes it, so duplicates and reordering are harmless.

use crate::domain::UserId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// What a job asks the worker to bring up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncTarget {
    /// The user's tier attributes in Keycloak.
    Keycloak,
    /// The user's customer and plan in Lago.
    Lago,
    /// A billing email to the user.
    Email,
}

/// One job: a user, what to sync, and (for email) which message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncJob {
    /// Whose state to push.
    pub user_id: UserId,
    /// Where to push it.
    pub targets: Vec<SyncTarget>,
    /// The email template to send, when `targets` includes email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Values the email template needs (amounts, dates, links), never card numbers or secrets.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub email_fields: serde_json::Map<String, serde_json::Value>,
    /// What caused it (a Stripe event id, an API request id), for tracing and dedupe.
    pub cause: String,
    /// A change to make in Stripe first (a revocation that stops billing): the decision that
    /// asked for it stays pure and the change is committed with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_action: Option<StripeAction>,
}

/// A change the worker makes to a Stripe subscription on behalf of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StripeAction {
    /// The Stripe subscription (`sub_…`) to change.
    pub subscription_id: String,
    /// What to do to it.
    pub change: SubscriptionChange,
    /// The event that asked for it: the idempotency scope, so a retried or replayed job sends
    /// Stripe the same key and never acts twice.
    pub requested_by: String,
}

/// What to do to the subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionChange {
    /// End it now: no further invoice.
    CancelNow,
    /// End it when the paid period runs out.
    CancelAtPeriodEnd,
    /// Withdraw a cancellation at period end (a dispute won after one).
    Resume,
}

impl SyncJob {
    /// A state sync (Keycloak + Lago) for `user_id`.
    pub fn state(user_id: UserId, cause: impl Into<String>) -> Self {
        Self {
            user_id,
            targets: vec![SyncTarget::Keycloak, SyncTarget::Lago],
            email: None,
            email_fields: serde_json::Map::new(),
            cause: cause.into(),
            stripe_action: None,
        }
    }

    /// Adds an email to the job.
    pub fn with_email(
        mut self,
        template: &str,
        fields: serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        self.targets.push(SyncTarget::Email);
        self.email = Some(template.to_owned());
        self.email_fields = fields;
        self
    }
}

/// The queue could not take the job; the caller must not acknowledge its own input.
#[derive(Debug, thiserror::Error)]
#[error("sync queue unavailable: {0}")]
pub struct EnqueueError(pub String);

/// Sends sync jobs.
#[async_trait]
pub trait SyncQueue: Send + Sync {
    /// Queues every job or fails; a retry may queue some twice, which the level-triggered worker absorbs.
    async fn enqueue(&self, jobs: &[SyncJob]) -> Result<(), EnqueueError>;
}
