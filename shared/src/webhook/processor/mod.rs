//! Applies a verified Stripe event exactly once.
//!
//! 1. In one round of concurrent reads: the event's record (any record means a duplicate:
//!    applied, ignored or failed), the payments the event may name, and its likely user (the
//!    customer's link, else the user id Tierflow put on the Stripe object) with their profile.
//! 2. The user is resolved (customer link, the payment an event refers to, or the user id on
//!    the object), their profile read if the first round read another's, and [`decide`] asked.
//! 3. One transaction writes the new profile (conditional on the version read), the audit
//!    items, payments, customer links and the event record with its outbox (conditional on
//!    not existing). A concurrent delivery of the same event loses that race and becomes a
//!    duplicate; a concurrent event for the same user re-reads and decides again.
//! 4. Nothing else: the table's stream carries the new record to `outbox-relay`, which
//!    publishes the sync jobs and domain events (see [`crate::outbox`]). A delivery is one
//!    write, and there is no window where the state is written but its effects could be lost.

mod reads;

use super::decide::{
    decide, ignore_regardless_of_user, subject_of, Decision, Input, Policy, HANDLED_EVENT_TYPES,
};
use crate::domain::profile::RevocationPolicy;
use crate::domain::{BillingProfile, Catalog, UserId};
use crate::ports::billing_store::EVENT_RECORD_TTL_SECONDS;
use crate::ports::Clock;
use crate::ports::{
    BillingStore, Commit, CommitError, EventRecord, EventStatus, Outbox, ProfileWrite, StoreError,
    StripeApi,
};
use crate::stripe::{Event, Expandable, Invoice, StripeError};
use reads::{resolve_user, FirstRead};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tracing::{error, info, warn};

/// How long an event about a customer no user is linked to is retried before it is recorded
/// as failed (Stripe keeps retrying a delivery for three days).
pub const UNKNOWN_CUSTOMER_RETRY_SECONDS: i64 = 3600;

/// How often a decision is retried when another event for the same user commits first.
const MAX_CONFLICT_RETRIES: usize = 5;

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// State and outbox written.
    Applied,
    /// Already processed by another delivery: nothing done.
    Duplicate,
    /// Deliberately not applied; recorded.
    Ignored(String),
    /// Can never apply; recorded as failed for a person to look at.
    Failed(String),
    /// A type Tierflow does not act on: acknowledged, not recorded.
    Unhandled,
}

impl Outcome {
    /// The word for logs and the webhook's `{"outcome": …}` answer.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored(_) => "ignored",
            Outcome::Failed(_) => "failed",
            Outcome::Unhandled => "unhandled",
        }
    }
}

/// A failure worth retrying (AWS, Stripe 5xx, throttling): answer 5xx so Stripe retries.
#[derive(Debug, thiserror::Error)]
#[error("transient failure: {0}")]
pub struct ProcessError(pub String);

impl From<StoreError> for ProcessError {
    fn from(e: StoreError) -> Self {
        ProcessError(e.to_string())
    }
}

/// The processing core shared by `stripe-webhook`, `stripe-events` and `reconcile-stripe`.
pub struct Processor {
    /// Profiles, history, event records and the outbox, committed together.
    pub store: Arc<dyn BillingStore>,
    /// For fetching a subscription (or an invoice) an event does not carry fresh enough.
    pub stripe: Arc<dyn StripeApi>,
    /// Maps Stripe prices to tiers and cycles.
    pub catalog: Catalog,
    /// Days a past-due subscription keeps its tier (`GRACE_DAYS`).
    pub grace_days: u32,
    /// What disputes and full refunds do to the Stripe subscription.
    pub revocation: RevocationPolicy,
    /// Our "now" ([`Input::now`]): the system clock deployed.
    pub clock: Arc<dyn Clock>,
}

/// SHA-256 of a payload, hex: kept on the record to notice a different body under one id.
pub fn payload_hash(payload: &[u8]) -> String {
    hex::encode(Sha256::digest(payload))
}

impl Processor {
    fn policy(&self) -> Policy {
        Policy {
            grace_days: self.grace_days,
            revocation: self.revocation,
        }
    }

    fn record(
        &self,
        event: &Event,
        hash: &str,
        attempt: u32,
        status: EventStatus,
        detail: Option<String>,
        outbox: Outbox,
    ) -> EventRecord {
        let now = self.clock.now();
        EventRecord {
            event_id: event.id.clone(),
            event_type: event.kind.clone(),
            status,
            created: event.created,
            payload_hash: hash.to_owned(),
            attempts: attempt,
            detail,
            outbox,
            updated_at: now,
            expires_at: now + EVENT_RECORD_TTL_SECONDS,
        }
    }

    /// Processes one verified event.
    #[tracing::instrument(skip_all, fields(event_id = %event.id, event_type = %event.kind))]
    pub async fn process(&self, event: &Event, hash: &str) -> Result<Outcome, ProcessError> {
        if !HANDLED_EVENT_TYPES.contains(&event.kind.as_str()) {
            info!(
                metric = "stripe_event_unhandled",
                "acknowledged an event type Tierflow does not act on"
            );
            return Ok(Outcome::Unhandled);
        }
        // The event's record is read alongside what the event needs (see `attempt`).
        self.attempt(event, hash, 1, Recorded::Unknown).await
    }

    /// [`Self::process`] for a stream of events that are mostly known already (a
    /// reconciliation run): the event's record is read first, so a known event costs one read.
    #[tracing::instrument(skip_all, fields(event_id = %event.id, event_type = %event.kind))]
    pub async fn process_unless_recorded(
        &self,
        event: &Event,
        hash: &str,
    ) -> Result<Outcome, ProcessError> {
        if !HANDLED_EVENT_TYPES.contains(&event.kind.as_str()) {
            return Ok(Outcome::Unhandled);
        }
        if self.already_recorded(event, hash).await? {
            return Ok(Outcome::Duplicate);
        }
        self.attempt(event, hash, 1, Recorded::Checked).await
    }

    /// Runs an event recorded as failed through the core again (its cause fixed, say), as
    /// attempt `attempts + 1`: the new record replaces the failed one only if it is still the
    /// failed record that was read, so a concurrent replay or delivery applies it once. An event
    /// that still fails stays failed, with the new reason; one not recorded failed is not
    /// touched ([`Outcome::Duplicate`]).
    #[tracing::instrument(skip_all, fields(event_id = %event.id, event_type = %event.kind))]
    pub async fn replay_failed(&self, event: &Event, hash: &str) -> Result<Outcome, ProcessError> {
        match self.store.event_record(&event.id).await? {
            None => self.process(event, hash).await,
            Some(record) if record.status == EventStatus::Failed => {
                info!(attempt = record.attempts + 1, previous = ?record.detail, "replaying a failed event");
                self.attempt(event, hash, record.attempts + 1, Recorded::Checked)
                    .await
            }
            Some(_) => Ok(Outcome::Duplicate),
        }
    }

    /// One attempt at an event: decide and commit, recording it as attempt `attempt`. With
    /// [`Recorded::Unknown`] the event's record is read too: any record makes it a duplicate.
    async fn attempt(
        &self,
        event: &Event,
        hash: &str,
        attempt: u32,
        recorded: Recorded,
    ) -> Result<Outcome, ProcessError> {
        let first_delivery = recorded == Recorded::Unknown;
        let object = match event.object() {
            Ok(object) => object,
            Err(_) if first_delivery && self.already_recorded(event, hash).await? => {
                return Ok(Outcome::Duplicate)
            }
            Err(e) => {
                return self
                    .finish_unapplied(
                        event,
                        hash,
                        attempt,
                        EventStatus::Failed,
                        format!("malformed {}: {e}", event.object_type().unwrap_or("object")),
                    )
                    .await
            }
        };
        if let Some(reason) = ignore_regardless_of_user(event, &object) {
            if first_delivery && self.already_recorded(event, hash).await? {
                return Ok(Outcome::Duplicate);
            }
            return self
                .finish_unapplied(event, hash, attempt, EventStatus::Ignored, reason)
                .await;
        }
        let subject = subject_of(&object);
        // One round of reads: the event's record, the payments it may name, and its user with
        // their profile.
        let Some(FirstRead {
            payment: mut existing_payment,
            likely,
        }) = self
            .first_round(event, hash, first_delivery, &subject)
            .await?
        else {
            return Ok(Outcome::Duplicate);
        };
        let mut linked_invoice = None;
        if let (None, Some(intent)) = (&existing_payment, &subject.invoice_of_payment_intent) {
            match self.invoice_paid_by(intent).await {
                Ok(Some(invoice)) => {
                    // The invoice's payment is read here only when it names the user (a dispute
                    // names no customer). Otherwise it is not: if the invoice's events recorded
                    // it first, the commit (which records it as new) fails on its refs and reads
                    // it then, and a charge, which usually comes first, pays no second round.
                    if likely.is_none() {
                        existing_payment = self.store.payment_by_ref(&invoice.id).await?;
                    }
                    linked_invoice = Some(invoice);
                }
                Ok(None) => {}
                Err(e) if e.is_transient() => {
                    return Err(ProcessError(format!("invoice of {intent}: {e}")))
                }
                Err(e) => {
                    return self
                        .finish_unapplied(
                            event,
                            hash,
                            attempt,
                            EventStatus::Failed,
                            format!("invoice of {intent}: {e}"),
                        )
                        .await
                }
            }
        }
        let Some(user_id) = resolve_user(likely.as_ref(), existing_payment.as_ref()) else {
            let who = subject
                .customer_id
                .clone()
                .or(subject.payment_refs.first().cloned())
                .unwrap_or_else(|| "an unknown object".into());
            // Stripe does not order deliveries: an invoice can arrive before the checkout or
            // subscription event that links its customer. While the event is recent, ask for a
            // retry; only an event that stays unknown is recorded as failed.
            if self.clock.now() - event.created < UNKNOWN_CUSTOMER_RETRY_SECONDS {
                return Err(ProcessError(format!(
                    "{who} is not linked to a user yet; retry later"
                )));
            }
            return self
                .finish_unapplied(
                    event,
                    hash,
                    attempt,
                    EventStatus::Failed,
                    format!("no Tierflow user for {who}"),
                )
                .await;
        };

        // The profile read with the user, when it is the user resolved; a retry reads anew.
        let mut prefetched = likely
            .filter(|l| l.user == user_id)
            .map(|l| (l.profile, l.from_copy));
        let mut fetched = None;
        let mut fetched_at = 0;
        for _ in 0..MAX_CONFLICT_RETRIES {
            let (stored, from_copy) = match prefetched.take() {
                Some(read) => read,
                None => (self.store.profile(&user_id).await?, false),
            };
            // A decision taken from the link's copy commits only if the copy was current.
            let decided_from =
                from_copy.then(|| (user_id.clone(), stored.as_ref().map_or(0, |p| p.version)));
            // Kept for deciding again with Stripe's copy: nothing was written in between.
            let read = stored.clone();
            let expected_version = stored.as_ref().map_or(0, |p| p.version);
            let profile =
                stored.unwrap_or_else(|| BillingProfile::new_free(user_id.clone(), &self.catalog));
            let input = Input {
                catalog: &self.catalog,
                user_id: &user_id,
                profile: &profile,
                existing_payment: existing_payment.as_ref(),
                linked_invoice: linked_invoice.as_ref(),
                fetched_subscription: fetched.as_ref(),
                fetched_at,
                now: self.clock.now(),
            };
            let decision = decide(event, &object, &input, self.policy());
            // How an event that is not applied is recorded.
            let unapplied = if matches!(decision, Decision::Fail(_)) {
                EventStatus::Failed
            } else {
                EventStatus::Ignored
            };
            let app = match decision {
                Decision::Apply(app) => app,
                // A decision from the link's copy that turns out older than the profile is
                // taken again from the profile.
                Decision::Ignore(reason) | Decision::Fail(reason) => {
                    match self
                        .record_unapplied(event, hash, attempt, unapplied, reason, decided_from)
                        .await?
                    {
                        Some(outcome) => return Ok(outcome),
                        None => {
                            fetched = None;
                            continue;
                        }
                    }
                }
                Decision::FetchSubscription(id) if fetched.is_none() => {
                    match self.stripe.retrieve_subscription(&id).await {
                        Ok(sub) => {
                            info!(subscription = %id, "fetched the subscription to decide");
                            fetched = Some(sub);
                            fetched_at = self.stripe.stripe_time(self.clock.now());
                            prefetched = Some((read, from_copy));
                            continue;
                        }
                        Err(e) if e.is_transient() => {
                            return Err(ProcessError(format!("retrieve {id}: {e}")))
                        }
                        Err(e) => {
                            return self
                                .finish_unapplied(
                                    event,
                                    hash,
                                    attempt,
                                    EventStatus::Failed,
                                    format!("retrieve {id}: {e}"),
                                )
                                .await
                        }
                    }
                }
                Decision::FetchSubscription(id) => {
                    return self
                        .finish_unapplied(
                            event,
                            hash,
                            attempt,
                            EventStatus::Failed,
                            format!("{id} could not be decided even from Stripe's copy"),
                        )
                        .await;
                }
            };
            let app = *app;
            let profile_changed = app.profile != profile;
            let commit = Commit {
                profile: profile_changed.then(|| ProfileWrite {
                    profile: app.profile.clone(),
                    expected_version,
                }),
                profile_unchanged: decided_from.filter(|_| !profile_changed),
                customer_links: app.customer_links.clone(),
                changes: app.effects.changes.clone(),
                settle_changes: vec![],
                payments: app.payments.clone(),
                event: Some(self.record(
                    event,
                    hash,
                    attempt,
                    EventStatus::Completed,
                    Some(app.detail.clone()),
                    app.effects.outbox.clone(),
                )),
            };
            match self.store.commit(commit).await {
                Ok(()) => {
                    info!(user_id = %user_id, detail = %app.detail, "applied");
                    return Ok(Outcome::Applied);
                }
                Err(CommitError::ProfileConflict) => {
                    warn!(user_id = %user_id, "profile changed concurrently; deciding again");
                    // Stripe's copy was fetched before the concurrent write and may be older than
                    // what it applied: the guard decides again, and asks Stripe again if need be.
                    fetched = None;
                    continue;
                }
                Err(CommitError::PaymentConflict) => {
                    warn!(user_id = %user_id, "a payment changed concurrently; deciding again");
                    let refs: Vec<String> = app
                        .payments
                        .iter()
                        .flat_map(|p| p.stripe_refs.iter().cloned())
                        .collect();
                    existing_payment = self.payment_named(&refs).await?;
                    prefetched = Some((read, from_copy));
                    continue;
                }
                Err(CommitError::EventAlreadyRecorded) => return Ok(Outcome::Duplicate),
                Err(CommitError::CustomerLinkedElsewhere) => {
                    return self
                        .finish_unapplied(
                            event,
                            hash,
                            attempt,
                            EventStatus::Failed,
                            "the Stripe customer belongs to another user".into(),
                        )
                        .await;
                }
                Err(CommitError::ChangeNotPending) => {
                    return Err(ProcessError("unexpected scheduled-change conflict".into()))
                }
                Err(CommitError::Store(e)) => return Err(e.into()),
            }
        }
        Err(ProcessError(format!(
            "the profile of {user_id} kept changing; retry"
        )))
    }

    /// The invoice a PaymentIntent pays, as Stripe names it (one call, the invoice expanded;
    /// a second only if Stripe did not expand it); `None` for a one-time payment.
    async fn invoice_paid_by(&self, intent: &str) -> Result<Option<Invoice>, StripeError> {
        let Some(paid) = self.stripe.find_invoice_payment(intent).await? else {
            return Ok(None);
        };
        match paid.invoice {
            Some(Expandable::Object(invoice)) => Ok(Some(*invoice)),
            Some(Expandable::Id(id)) => self.stripe.retrieve_invoice(&id).await.map(Some),
            None => Ok(None),
        }
    }

    async fn finish_unapplied(
        &self,
        event: &Event,
        hash: &str,
        attempt: u32,
        status: EventStatus,
        reason: String,
    ) -> Result<Outcome, ProcessError> {
        self.record_unapplied(event, hash, attempt, status, reason, None)
            .await?
            .ok_or_else(|| ProcessError("unexpected profile conflict".into()))
    }

    /// Records the event as ignored or failed; with `decided_from` (user, version), only while
    /// that profile is still at that version (`None`: it changed, decide again).
    async fn record_unapplied(
        &self,
        event: &Event,
        hash: &str,
        attempt: u32,
        status: EventStatus,
        reason: String,
        decided_from: Option<(UserId, u64)>,
    ) -> Result<Option<Outcome>, ProcessError> {
        let record = self.record(
            event,
            hash,
            attempt,
            status,
            Some(reason.clone()),
            Outbox::default(),
        );
        match self
            .store
            .commit(Commit {
                event: Some(record),
                profile_unchanged: decided_from,
                ..Default::default()
            })
            .await
        {
            Ok(()) => {}
            Err(CommitError::EventAlreadyRecorded) => return Ok(Some(Outcome::Duplicate)),
            Err(CommitError::ProfileConflict) => {
                info!("the link's profile copy was older than the profile; deciding again");
                return Ok(None);
            }
            Err(CommitError::Store(e)) => return Err(e.into()),
            Err(other) => return Err(ProcessError(other.to_string())),
        }
        Ok(Some(match status {
            EventStatus::Failed => {
                error!(metric = "stripe_event_failed", reason = %reason, "event recorded as failed; needs a person");
                Outcome::Failed(reason)
            }
            _ => {
                info!(reason = %reason, "event ignored");
                Outcome::Ignored(reason)
            }
        }))
    }
}

/// Whether the caller has already looked for the event's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recorded {
    Unknown,
    Checked,
}
