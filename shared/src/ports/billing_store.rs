//! The billing store: profiles, customer links, the change audit trail with scheduled changes,
//! payment history, Stripe event records (idempotency), rate-limit counters and checkpoints.
//! Every multi-item effect goes through one atomic [`Commit`].

use super::{DomainEvent, SyncJob};
use crate::domain::time::UnixTime;
use crate::domain::{BillingCycle, BillingProfile, Money, Tier, UserId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// How long event records are kept: longer than Stripe retries (3 days) and the Events API (30).
pub const EVENT_RECORD_TTL_SECONDS: i64 = 35 * 86_400;

/// A store failure that is worth retrying (the store was unreachable or throttled).
#[derive(Debug, thiserror::Error)]
#[error("billing store unavailable: {0}")]
pub struct StoreError(pub String);

/// Why a [`Commit`] did not apply. Nothing was written in any case.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The profile changed since it was read: re-read and decide again.
    #[error("the profile changed concurrently")]
    ProfileConflict,
    /// Another delivery of the same event was recorded first.
    #[error("the event was already recorded")]
    EventAlreadyRecorded,
    /// A scheduled change was already applied or withdrawn.
    #[error("the scheduled change is no longer pending")]
    ChangeNotPending,
    /// The Stripe customer already belongs to another user.
    #[error("the Stripe customer is linked to another user")]
    CustomerLinkedElsewhere,
    /// A payment changed since it was read, or one the commit would record as new is already
    /// recorded under one of its Stripe ids: re-read it and decide again.
    #[error("a payment changed concurrently")]
    PaymentConflict,
    /// The store failed; worth retrying.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A customer's user, with the profile copy the link carries (see
/// [`BillingStore::customer_owner`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerOwner {
    /// The user the customer is linked to.
    pub user: UserId,
    /// The copy of their profile written with the link's last profile write; absent on links
    /// written before links carried one.
    pub profile: Option<BillingProfile>,
}

/// A profile write conditioned on the version that was read (`expected_version` 0 = new user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileWrite {
    /// The profile as it is to be written, its `version` already advanced.
    pub profile: BillingProfile,
    /// The version read; the write fails with `ProfileConflict` if the stored one differs.
    pub expected_version: u64,
}

/// What kind of change an audit item records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A first paid subscription started.
    Subscribed,
    /// Moved to a higher tier at once, with proration.
    Upgraded,
    /// A lower tier was scheduled for period end.
    DowngradeScheduled,
    /// A scheduled downgrade took effect.
    Downgraded,
    /// The subscription was set to end at period end.
    CancellationScheduled,
    /// A scheduled cancellation or downgrade was withdrawn by the user.
    Resumed,
    /// The subscription ended; the user is on the free tier.
    Canceled,
    /// Paid access was withdrawn early (a dispute, a full refund).
    AccessRevoked,
    /// A revocation was lifted (a dispute won).
    AccessRestored,
    /// A renewal failed and the grace period began.
    GraceStarted,
    /// Stripe changed the subscription's status without a tier change.
    StatusChanged,
    /// A scheduled change disappeared in Stripe (schedule released elsewhere).
    ChangeWithdrawn,
    /// A trial began: access to the tier before the first charge.
    TrialStarted,
    /// A trial ended in a paid subscription.
    TrialConverted,
    /// A trial ended without a payment method: canceled, or paused without access.
    TrialExpired,
}

/// One entry of the audit trail; when `due_at` is set and `pending`, it is also a scheduled
/// change found by the sparse due index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// Whose change it is.
    pub user_id: UserId,
    /// Unique per user; sorts by time.
    pub change_id: String,
    /// What happened.
    pub kind: ChangeKind,
    /// The tier before the change.
    pub from_tier: Tier,
    /// The tier after it (or once it takes effect).
    pub to_tier: Tier,
    /// The cycle of the new price, when the change has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_cycle: Option<BillingCycle>,
    /// When Tierflow recorded it (our clock).
    pub recorded_at: UnixTime,
    /// When a scheduled change takes effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<UnixTime>,
    /// True while a scheduled change waits to be applied.
    #[serde(default)]
    pub pending: bool,
    /// What caused it: a Stripe event id or an API request.
    pub cause: String,
    /// What the change charged now (an upgrade's proration), when it charged anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    /// The Stripe objects involved (subscription, invoice, schedule).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stripe_refs: Vec<String>,
}

/// A payment's state as the history shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Paid.
    Succeeded,
    /// The charge was declined or failed.
    Failed,
    /// Waiting on the customer (3-D Secure).
    RequiresAction,
    /// Refunded in full.
    Refunded,
    /// Part of the amount was refunded.
    PartiallyRefunded,
    /// Disputed with the bank, not decided yet.
    Disputed,
    /// The dispute was decided for the merchant: the payment stands.
    DisputeWon,
    /// The dispute was decided for the cardholder: the money went back.
    DisputeLost,
}

impl PaymentStatus {
    /// Whether a dispute, open or decided, is the payment's story: a later refund or payment
    /// event does not overwrite it.
    pub fn is_disputed(self) -> bool {
        matches!(
            self,
            PaymentStatus::Disputed | PaymentStatus::DisputeWon | PaymentStatus::DisputeLost
        )
    }

    /// A refund or a dispute: what happened after the payment, which a late payment event
    /// must not overwrite.
    pub fn is_after_payment(self) -> bool {
        self.is_disputed()
            || matches!(
                self,
                PaymentStatus::Refunded | PaymentStatus::PartiallyRefunded
            )
    }
}

/// One payment in a user's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecord {
    /// Whose payment it is.
    pub user_id: UserId,
    /// The primary Stripe id (payment intent, else invoice, else charge).
    pub payment_id: String,
    /// Every Stripe id that refers to this payment (invoice, payment intent, charge).
    pub stripe_refs: Vec<String>,
    /// Sort time: when the payment was created in Stripe.
    pub created: UnixTime,
    /// Minor units of `currency`.
    pub amount: i64,
    /// Lowercase ISO code, as Stripe writes it.
    pub currency: String,
    /// Where the payment stands.
    pub status: PaymentStatus,
    /// What it paid for, as the history shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The card's brand (`visa`), when paid by card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_brand: Option<String>,
    /// The card's last four digits, when paid by card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_last4: Option<String>,
    /// The hosted invoice page (`hosted_invoice_url`), for invoice payments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_url: Option<String>,
    /// The invoice's PDF (`invoice_pdf`), for invoice payments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_pdf: Option<String>,
    /// The successful charge's receipt page (`receipt_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_url: Option<String>,
    /// When the payment succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<UnixTime>,
    /// Minor units refunded so far.
    #[serde(default)]
    pub amount_refunded: i64,
    /// When the latest refund was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded_at: Option<UnixTime>,
    /// Stripe's decline or failure message, for a failed payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// The subscription an invoice payment paid for; `None` for one-time payments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    /// Tax included in `amount` (an invoice's Stripe Tax), minor units; 0 without tax.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tax: i64,
    /// How many writes the stored item has seen (0: not stored yet). A commit writes the
    /// payment only over the version it read, so concurrent events about one payment (Stripe
    /// sends a charge's, its PaymentIntent's and its invoice's at once) cannot lose each
    /// other's fields.
    #[serde(default = "unversioned_payment")]
    pub version: u64,
}

/// The version of a payment stored before payments carried one: stored, so not 0.
fn is_zero(amount: &i64) -> bool {
    *amount == 0
}

fn unversioned_payment() -> u64 {
    1
}

/// A page of history, newest first, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentPage {
    /// At most the page's limit, newest first.
    pub payments: Vec<PaymentRecord>,
    /// Opaque position after the last item; `None` on the last page.
    pub next: Option<String>,
}

/// Where a Stripe event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Applied: its state and its outbox were written in one transaction.
    Completed,
    /// Deliberately not applied (unknown type, older than the state, nothing to do).
    Ignored,
    /// Could never be applied (unknown customer, malformed object): needs a person.
    Failed,
}

/// What must be published after an event's state is written. It is written with the state,
/// in the event record, and published from the table's stream by `outbox-relay`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbox {
    /// Sync jobs for the queue (Keycloak, Lago, email, Stripe actions).
    pub jobs: Vec<SyncJob>,
    /// Domain events for the event bus.
    pub events: Vec<DomainEvent>,
}

impl Outbox {
    /// Nothing to publish.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty() && self.events.is_empty()
    }
}

/// The idempotency record of one Stripe event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Stripe's event id (`evt_…`): the record's key.
    pub event_id: String,
    /// Stripe's event type (`invoice.paid`).
    pub event_type: String,
    /// What processing it came to.
    pub status: EventStatus,
    /// The event's `created`.
    pub created: UnixTime,
    /// SHA-256 of the payload, to notice a different body under a known id.
    pub payload_hash: String,
    /// Which processing of the event this records: 1, or N > 1 for an operator's replay of a
    /// failed record (which replaces attempt N - 1 only while that is still failed).
    pub attempts: u32,
    /// Why it was ignored or failed, for the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// What its processing must publish (written with the state).
    #[serde(default)]
    pub outbox: Outbox,
    /// When this record was written (our clock).
    pub updated_at: UnixTime,
    /// TTL: DynamoDB may delete the record after this.
    pub expires_at: UnixTime,
}

/// A verified Lago webhook: its idempotency key (`X-Lago-Unique-Key`) and the audit summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LagoWebhookRecord {
    /// `X-Lago-Unique-Key`: the record's key.
    pub unique_key: String,
    /// Lago's `webhook_type` (`invoice.created`).
    pub webhook_type: String,
    /// Lago's `object_type` (`invoice`, `subscription`).
    pub object_type: String,
    /// The Lago customer's external id when it is a Tierflow user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    /// What the audit keeps of the object (ids, plan, status, amounts), never the whole body.
    #[serde(default)]
    pub summary: serde_json::Map<String, serde_json::Value>,
    /// When Tierflow received it.
    pub received_at: UnixTime,
    /// TTL for records kept only for dedupe; audited ones (subscription.*, invoice.*) have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<UnixTime>,
}

/// A sync job that failed in a way no retry can fix (a user the identity provider does not
/// have, a request Lago refuses): kept where an operator lists and replays it, instead of being
/// retried into the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncFailure {
    /// The job as it was queued, to replay unchanged.
    pub job: SyncJob,
    /// What failed, as the integration answered it.
    pub reason: String,
    /// When it failed for good.
    pub failed_at: UnixTime,
}

impl SyncFailure {
    /// One record per user, cause and message: a later failure of the same job replaces it,
    /// and a failed email is never hidden behind a failed state sync of the same user.
    pub fn key(&self) -> String {
        format!(
            "{}#{}#{}",
            self.job.user_id,
            self.job.cause,
            self.job.email.as_deref().unwrap_or("state")
        )
    }
}

/// Everything one decision writes, applied atomically or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commit {
    /// The profile to write, conditioned on the version read.
    pub profile: Option<ProfileWrite>,
    /// Stripe customer → user links to create (or confirm).
    pub customer_links: Vec<(String, UserId)>,
    /// Audit entries (and scheduled changes) to add.
    pub changes: Vec<ChangeRecord>,
    /// Scheduled changes (user, change id) that stop being pending; fails if one already did.
    pub settle_changes: Vec<(UserId, String)>,
    /// Payment history entries to write, each over the `version` it was read at (0: new, and
    /// then none of its Stripe ids may name a payment yet).
    pub payments: Vec<PaymentRecord>,
    /// Created only if no record of this event exists yet; with `attempts` N > 1, written only
    /// over the failed record of attempt N - 1 (a replay).
    pub event: Option<EventRecord>,
    /// A commit that writes no profile but was decided from one: fails with
    /// [`CommitError::ProfileConflict`] unless that user's profile is still at this version
    /// (0: still absent).
    pub profile_unchanged: Option<(UserId, u64)>,
}

/// What a webhook delivery reads before it decides: the keys of [`BillingStore::delivery_reads`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DeliveryKeys<'a> {
    /// The event whose record makes the delivery a duplicate (none: the caller checked).
    pub event_id: Option<&'a str>,
    /// The Stripe ids (invoice, payment intent, charge) whose payments the event may name.
    pub payment_refs: &'a [String],
    /// The Stripe customer whose link (and its profile copy) names the user.
    pub customer_id: Option<&'a str>,
    /// The user the object names, whose profile is read too.
    pub user_id: Option<&'a UserId>,
}

/// What [`BillingStore::delivery_reads`] found for each of its keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReads {
    /// The event's record.
    pub event: Option<EventRecord>,
    /// The payment of each of the `payment_refs`, in their order.
    pub payments: Vec<Option<PaymentRecord>>,
    /// The customer's user, with the link's copy of their profile.
    pub customer: Option<CustomerOwner>,
    /// The named user's profile.
    pub profile: Option<BillingProfile>,
}

/// The billing store port.
#[async_trait]
pub trait BillingStore: Send + Sync {
    /// The user's profile, if Tierflow has one.
    async fn profile(&self, user_id: &UserId) -> Result<Option<BillingProfile>, StoreError>;

    /// The user a Stripe customer belongs to.
    async fn user_for_customer(&self, customer_id: &str) -> Result<Option<UserId>, StoreError>;

    /// The user a Stripe customer belongs to, in one read with a copy of their profile as last
    /// committed while it named this customer. The copy can be older than the profile (it moved
    /// to another customer since): a decision taken from it commits with the version it read.
    async fn customer_owner(&self, customer_id: &str) -> Result<Option<CustomerOwner>, StoreError>;

    /// Everything a delivery reads first, in one round: one batched request where the store
    /// has one. By default the single reads, the record, the link and the profile concurrently.
    async fn delivery_reads(&self, keys: &DeliveryKeys<'_>) -> Result<DeliveryReads, StoreError> {
        let (event, payments, customer, profile) = tokio::join!(
            async {
                match keys.event_id {
                    Some(id) => self.event_record(id).await,
                    None => Ok(None),
                }
            },
            async {
                let mut payments = Vec::with_capacity(keys.payment_refs.len());
                for stripe_id in keys.payment_refs {
                    payments.push(self.payment_by_ref(stripe_id).await?);
                }
                Ok::<_, StoreError>(payments)
            },
            async {
                match keys.customer_id {
                    Some(customer) => self.customer_owner(customer).await,
                    None => Ok(None),
                }
            },
            async {
                match keys.user_id {
                    Some(user) => self.profile(user).await,
                    None => Ok(None),
                }
            },
        );
        Ok(DeliveryReads {
            event: event?,
            payments: payments?,
            customer: customer?,
            profile: profile?,
        })
    }

    /// Applies a commit atomically.
    async fn commit(&self, commit: Commit) -> Result<(), CommitError>;

    /// The user's audit trail, newest first.
    async fn changes(&self, user_id: &UserId, limit: u32) -> Result<Vec<ChangeRecord>, StoreError>;

    /// Pending scheduled changes due at or before `now`, oldest first (a query on the sparse
    /// due index: the cost follows the due items, not the table).
    async fn due_changes(&self, now: UnixTime, limit: u32)
        -> Result<Vec<ChangeRecord>, StoreError>;

    /// A page of the user's payments, newest first, starting after the position `after` (a
    /// previous page's `next`). Always a key-range query inside the user's own partition.
    async fn payments(
        &self,
        user_id: &UserId,
        limit: u32,
        after: Option<&str>,
    ) -> Result<PaymentPage, StoreError>;

    /// The payment a Stripe id (invoice, payment intent, charge) refers to.
    async fn payment_by_ref(&self, stripe_id: &str) -> Result<Option<PaymentRecord>, StoreError>;

    /// The record of a Stripe event.
    async fn event_record(&self, event_id: &str) -> Result<Option<EventRecord>, StoreError>;

    /// Events recorded as failed, most recently failed first (a sparse index: the cost follows
    /// the failed records, not the table).
    async fn failed_events(&self, limit: u32) -> Result<Vec<EventRecord>, StoreError>;

    /// Adds one to a fixed-window counter that expires at `window_end`; returns the new count.
    async fn count_in_window(&self, key: &str, window_end: UnixTime) -> Result<u64, StoreError>;

    /// A named checkpoint (e.g. the last Stripe event time reconciled).
    async fn checkpoint(&self, name: &str) -> Result<Option<i64>, StoreError>;

    /// Sets the named checkpoint.
    async fn set_checkpoint(&self, name: &str, value: i64) -> Result<(), StoreError>;

    /// Records a Lago webhook unless its unique key is already recorded; true if this call
    /// recorded it (a conditional put: concurrent deliveries of one key record it once).
    async fn record_lago_webhook(&self, record: &LagoWebhookRecord) -> Result<bool, StoreError>;

    /// Records (or replaces) a permanently failed sync job.
    async fn record_sync_failure(&self, failure: &SyncFailure) -> Result<(), StoreError>;

    /// Recorded sync failures, oldest key first, at most `limit`.
    async fn sync_failures(&self, limit: u32) -> Result<Vec<SyncFailure>, StoreError>;

    /// One user's recorded sync failures.
    async fn user_sync_failures(&self, user: &UserId) -> Result<Vec<SyncFailure>, StoreError>;

    /// Removes a recorded sync failure (after it was re-enqueued).
    async fn clear_sync_failure(&self, failure: &SyncFailure) -> Result<(), StoreError>;
}
