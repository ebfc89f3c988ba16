//! In-memory ports for handler unit tests. They keep the same conditional semantics as the
//! DynamoDB adapter (version checks, create-once event records, pending scheduled changes) so a
//! handler test exercises the same decisions; the real adapters are tested against the emulator.

use crate::domain::time::UnixTime;
use crate::domain::{BillingProfile, UserId};
use crate::ports::{
    BillingStore, ChangeRecord, Commit, CommitError, CustomerOwner, DomainEvent, EnqueueError,
    EventBus, EventRecord, EventStatus, LagoWebhookRecord, PaymentPage, PaymentRecord,
    PublishError, StoreError, SyncFailure, SyncJob, SyncQueue,
};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

#[derive(Default)]
struct State {
    profiles: HashMap<UserId, BillingProfile>,
    customers: HashMap<String, UserId>,
    /// Customer → the profile as last committed while it named that customer (the copy the
    /// DynamoDB link item carries; older than the profile once it names another customer).
    customer_copies: HashMap<String, BillingProfile>,
    /// (user, change id) → change.
    changes: BTreeMap<(UserId, String), ChangeRecord>,
    /// (user, sort key) → payment.
    payments: BTreeMap<(UserId, String), PaymentRecord>,
    payment_refs: HashMap<String, (UserId, String)>,
    events: HashMap<String, EventRecord>,
    /// New event records with an outbox, in commit order: what the table's stream carries to
    /// `outbox-relay`.
    stream: Vec<EventRecord>,
    counters: HashMap<(String, UnixTime), u64>,
    checkpoints: HashMap<String, i64>,
    lago_webhooks: BTreeMap<String, LagoWebhookRecord>,
    sync_failures: BTreeMap<String, SyncFailure>,
}

/// The billing store in memory.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    unavailable: AtomicBool,
}

/// The sort key of a payment: newest first when read in reverse.
pub fn payment_sort_key(payment: &PaymentRecord) -> String {
    format!("{:012}#{}", payment.created.max(0), payment.payment_id)
}

impl MemoryStore {
    /// An empty, available store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every call fail as if the store were unreachable (for failure-path tests).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// Takes the new event records with an outbox, oldest first, as the table's stream hands
    /// them to `outbox-relay` (tests publish them with [`crate::outbox::publish`]).
    pub fn take_stream(&self) -> Vec<EventRecord> {
        self.state
            .lock()
            .map(|mut s| std::mem::take(&mut s.stream))
            .unwrap_or_default()
    }

    /// Every recorded Lago webhook, by unique key (for assertions).
    pub fn lago_webhooks(&self) -> Vec<LagoWebhookRecord> {
        self.state
            .lock()
            .map(|s| s.lago_webhooks.values().cloned().collect())
            .unwrap_or_default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StoreError("simulated outage".into()));
        }
        self.state
            .lock()
            .map_err(|_| StoreError("memory store poisoned".into()))
    }
}

#[async_trait]
impl BillingStore for MemoryStore {
    async fn profile(&self, user_id: &UserId) -> Result<Option<BillingProfile>, StoreError> {
        Ok(self.lock()?.profiles.get(user_id).cloned())
    }

    async fn user_for_customer(&self, customer_id: &str) -> Result<Option<UserId>, StoreError> {
        Ok(self.lock()?.customers.get(customer_id).cloned())
    }

    async fn customer_owner(&self, customer_id: &str) -> Result<Option<CustomerOwner>, StoreError> {
        let state = self.lock()?;
        Ok(state.customers.get(customer_id).map(|user| CustomerOwner {
            user: user.clone(),
            profile: state.customer_copies.get(customer_id).cloned(),
        }))
    }

    async fn commit(&self, commit: Commit) -> Result<(), CommitError> {
        let mut state = self.lock()?;
        // Check every condition first so a failed commit writes nothing.
        if let Some(write) = &commit.profile {
            let current = state
                .profiles
                .get(&write.profile.user_id)
                .map(|p| p.version);
            let ok = match current {
                None => write.expected_version == 0,
                Some(v) => v == write.expected_version,
            };
            if !ok {
                return Err(CommitError::ProfileConflict);
            }
        }
        if let Some((user, version)) = &commit.profile_unchanged {
            if state.profiles.get(user).map_or(0, |p| p.version) != *version {
                return Err(CommitError::ProfileConflict);
            }
        }
        // The profile's own customer is linked to it with the copy (see `customer_owner`).
        let own_customer = commit.profile.as_ref().and_then(|w| {
            w.profile
                .customer_id
                .clone()
                .map(|c| (c, w.profile.user_id.clone()))
        });
        for (customer, user) in commit.customer_links.iter().chain(own_customer.as_ref()) {
            if state.customers.get(customer).is_some_and(|u| u != user) {
                return Err(CommitError::CustomerLinkedElsewhere);
            }
        }
        for key in &commit.settle_changes {
            if !state.changes.get(key).is_some_and(|c| c.pending) {
                return Err(CommitError::ChangeNotPending);
            }
        }
        for payment in &commit.payments {
            let stored = state
                .payments
                .get(&(payment.user_id.clone(), payment_sort_key(payment)))
                .map(|p| p.version);
            let current = match (stored, payment.version) {
                // A new payment: none of its Stripe ids may name a payment yet.
                (None, 0) => payment
                    .stripe_refs
                    .iter()
                    .all(|r| !state.payment_refs.contains_key(r)),
                (Some(v), read) => v == read,
                (None, _) => false,
            };
            if !current {
                return Err(CommitError::PaymentConflict);
            }
        }
        if let Some(event) = &commit.event {
            let existing = state.events.get(&event.event_id);
            let writable = match existing {
                None => event.attempts <= 1,
                Some(failed) => {
                    event.attempts > 1
                        && failed.status == EventStatus::Failed
                        && failed.attempts + 1 == event.attempts
                }
            };
            if !writable {
                return Err(CommitError::EventAlreadyRecorded);
            }
        }
        if let Some(write) = commit.profile {
            let mut profile = write.profile;
            profile.version = write.expected_version + 1;
            if let Some((customer, user)) = own_customer {
                state.customers.insert(customer.clone(), user);
                state.customer_copies.insert(customer, profile.clone());
            }
            state.profiles.insert(profile.user_id.clone(), profile);
        }
        for (customer, user) in commit.customer_links {
            state.customers.insert(customer, user);
        }
        for key in commit.settle_changes {
            if let Some(change) = state.changes.get_mut(&key) {
                change.pending = false;
            }
        }
        for change in commit.changes {
            state
                .changes
                .insert((change.user_id.clone(), change.change_id.clone()), change);
        }
        for mut payment in commit.payments {
            payment.version += 1;
            let sk = payment_sort_key(&payment);
            for r in &payment.stripe_refs {
                state
                    .payment_refs
                    .insert(r.clone(), (payment.user_id.clone(), sk.clone()));
            }
            state
                .payments
                .insert((payment.user_id.clone(), sk), payment);
        }
        if let Some(event) = commit.event {
            if !event.outbox.is_empty() {
                state.stream.push(event.clone());
            }
            state.events.insert(event.event_id.clone(), event);
        }
        Ok(())
    }

    async fn changes(&self, user_id: &UserId, limit: u32) -> Result<Vec<ChangeRecord>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .changes
            .iter()
            .rev()
            .filter(|((u, _), _)| u == user_id)
            .take(limit as usize)
            .map(|(_, c)| c.clone())
            .collect())
    }

    async fn due_changes(
        &self,
        now: UnixTime,
        limit: u32,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        let state = self.lock()?;
        let mut due: Vec<ChangeRecord> = state
            .changes
            .values()
            .filter(|c| c.pending && c.due_at.is_some_and(|d| d <= now))
            .cloned()
            .collect();
        due.sort_by_key(|c| c.due_at);
        due.truncate(limit as usize);
        Ok(due)
    }

    async fn payments(
        &self,
        user_id: &UserId,
        limit: u32,
        after: Option<&str>,
    ) -> Result<PaymentPage, StoreError> {
        let state = self.lock()?;
        let mut items: Vec<(&String, &PaymentRecord)> = state
            .payments
            .iter()
            .rev()
            .filter(|((u, sk), _)| u == user_id && after.is_none_or(|a| sk.as_str() < a))
            .map(|((_, sk), p)| (sk, p))
            .take(limit as usize + 1)
            .collect();
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        Ok(PaymentPage {
            next: if more {
                items.last().map(|(sk, _)| (*sk).clone())
            } else {
                None
            },
            payments: items.into_iter().map(|(_, p)| p.clone()).collect(),
        })
    }

    async fn payment_by_ref(&self, stripe_id: &str) -> Result<Option<PaymentRecord>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .payment_refs
            .get(stripe_id)
            .and_then(|key| state.payments.get(key))
            .cloned())
    }

    async fn event_record(&self, event_id: &str) -> Result<Option<EventRecord>, StoreError> {
        Ok(self.lock()?.events.get(event_id).cloned())
    }

    async fn failed_events(&self, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        let mut failed: Vec<EventRecord> = self
            .lock()?
            .events
            .values()
            .filter(|e| e.status == EventStatus::Failed)
            .cloned()
            .collect();
        failed.sort_by(|a, b| (b.updated_at, &b.event_id).cmp(&(a.updated_at, &a.event_id)));
        failed.truncate(limit as usize);
        Ok(failed)
    }

    async fn count_in_window(&self, key: &str, window_end: UnixTime) -> Result<u64, StoreError> {
        let mut state = self.lock()?;
        let count = state
            .counters
            .entry((key.to_owned(), window_end))
            .or_insert(0);
        *count += 1;
        Ok(*count)
    }

    async fn checkpoint(&self, name: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.lock()?.checkpoints.get(name).copied())
    }

    async fn set_checkpoint(&self, name: &str, value: i64) -> Result<(), StoreError> {
        self.lock()?.checkpoints.insert(name.to_owned(), value);
        Ok(())
    }

    async fn record_lago_webhook(&self, record: &LagoWebhookRecord) -> Result<bool, StoreError> {
        let mut state = self.lock()?;
        if state.lago_webhooks.contains_key(&record.unique_key) {
            return Ok(false);
        }
        state
            .lago_webhooks
            .insert(record.unique_key.clone(), record.clone());
        Ok(true)
    }

    async fn record_sync_failure(&self, failure: &SyncFailure) -> Result<(), StoreError> {
        self.lock()?
            .sync_failures
            .insert(failure.key(), failure.clone());
        Ok(())
    }

    async fn sync_failures(&self, limit: u32) -> Result<Vec<SyncFailure>, StoreError> {
        Ok(self
            .lock()?
            .sync_failures
            .values()
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn user_sync_failures(&self, user: &UserId) -> Result<Vec<SyncFailure>, StoreError> {
        Ok(self
            .lock()?
            .sync_failures
            .values()
            .filter(|f| &f.job.user_id == user)
            .cloned()
            .collect())
    }

    async fn clear_sync_failure(&self, failure: &SyncFailure) -> Result<(), StoreError> {
        self.lock()?.sync_failures.remove(&failure.key());
        Ok(())
    }
}

/// A sync queue that keeps what it was given.
#[derive(Default)]
pub struct MemoryQueue {
    jobs: Mutex<Vec<SyncJob>>,
    unavailable: AtomicBool,
}

impl MemoryQueue {
    /// An empty, available queue.
    pub fn new() -> Self {
        Self::default()
    }
    /// Every job enqueued so far, in order (for assertions).
    pub fn jobs(&self) -> Vec<SyncJob> {
        self.jobs.lock().map(|j| j.clone()).unwrap_or_default()
    }
    /// Makes every enqueue fail as if SQS were unreachable (for failure-path tests).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }
}

#[async_trait]
impl SyncQueue for MemoryQueue {
    async fn enqueue(&self, jobs: &[SyncJob]) -> Result<(), EnqueueError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(EnqueueError("simulated outage".into()));
        }
        self.jobs
            .lock()
            .map_err(|_| EnqueueError("poisoned".into()))?
            .extend_from_slice(jobs);
        Ok(())
    }
}

/// An event bus that keeps what it was given.
#[derive(Default)]
pub struct MemoryBus {
    events: Mutex<Vec<DomainEvent>>,
    unavailable: AtomicBool,
}

impl MemoryBus {
    /// An empty, available bus.
    pub fn new() -> Self {
        Self::default()
    }
    /// Every event published so far, in order (for assertions).
    pub fn events(&self) -> Vec<DomainEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
    /// Makes every publish fail as if EventBridge were unreachable (for failure-path tests).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), PublishError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(PublishError("simulated outage".into()));
        }
        self.events
            .lock()
            .map_err(|_| PublishError("poisoned".into()))?
            .extend_from_slice(events);
        Ok(())
    }
}
