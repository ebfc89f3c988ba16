//! A store that lets another writer commit first: two webhook deliveries for one user,
//! interleaved deterministically (one has read and decided, the other commits, then the first
//! commits).

use async_trait::async_trait;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tierflow::adapters::memory::MemoryStore;
use tierflow::domain::time::UnixTime;
use tierflow::domain::{BillingProfile, UserId};
use tierflow::ports::{
    BillingStore, ChangeRecord, Commit, CommitError, CustomerOwner, EventRecord, LagoWebhookRecord,
    PaymentPage, PaymentRecord, StoreError, SyncFailure,
};
use tokio::sync::Mutex;

/// What another delivery does while the first waits to commit.
pub type Write = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The in-memory store, with another writer that commits first when the next commit comes.
pub struct InterleavedStore {
    /// The store both deliveries read and write.
    pub inner: Arc<MemoryStore>,
    /// Run (once) before the next commit goes through.
    pending: Mutex<Option<Write>>,
}

impl InterleavedStore {
    /// `inner`, with nothing to interleave yet.
    pub fn new(inner: Arc<MemoryStore>) -> Self {
        Self {
            inner,
            pending: Mutex::new(None),
        }
    }

    /// Makes `write` run before the next commit goes through.
    pub async fn before_next_commit(&self, write: Write) {
        *self.pending.lock().await = Some(write);
    }
}

#[async_trait]
impl BillingStore for InterleavedStore {
    async fn profile(&self, user_id: &UserId) -> Result<Option<BillingProfile>, StoreError> {
        self.inner.profile(user_id).await
    }
    async fn user_for_customer(&self, customer_id: &str) -> Result<Option<UserId>, StoreError> {
        self.inner.user_for_customer(customer_id).await
    }
    async fn customer_owner(&self, customer_id: &str) -> Result<Option<CustomerOwner>, StoreError> {
        self.inner.customer_owner(customer_id).await
    }
    async fn commit(&self, commit: Commit) -> Result<(), CommitError> {
        let other = self.pending.lock().await.take();
        if let Some(other) = other {
            other.await;
        }
        self.inner.commit(commit).await
    }
    async fn changes(&self, user_id: &UserId, limit: u32) -> Result<Vec<ChangeRecord>, StoreError> {
        self.inner.changes(user_id, limit).await
    }
    async fn due_changes(
        &self,
        now: UnixTime,
        limit: u32,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        self.inner.due_changes(now, limit).await
    }
    async fn payments(
        &self,
        user_id: &UserId,
        limit: u32,
        after: Option<&str>,
    ) -> Result<PaymentPage, StoreError> {
        self.inner.payments(user_id, limit, after).await
    }
    async fn payment_by_ref(&self, stripe_id: &str) -> Result<Option<PaymentRecord>, StoreError> {
        self.inner.payment_by_ref(stripe_id).await
    }
    async fn event_record(&self, event_id: &str) -> Result<Option<EventRecord>, StoreError> {
        self.inner.event_record(event_id).await
    }
    async fn failed_events(&self, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        self.inner.failed_events(limit).await
    }
    async fn count_in_window(&self, key: &str, window_end: UnixTime) -> Result<u64, StoreError> {
        self.inner.count_in_window(key, window_end).await
    }
    async fn checkpoint(&self, name: &str) -> Result<Option<i64>, StoreError> {
        self.inner.checkpoint(name).await
    }
    async fn set_checkpoint(&self, name: &str, value: i64) -> Result<(), StoreError> {
        self.inner.set_checkpoint(name, value).await
    }
    async fn record_lago_webhook(&self, record: &LagoWebhookRecord) -> Result<bool, StoreError> {
        self.inner.record_lago_webhook(record).await
    }
    async fn record_sync_failure(&self, failure: &SyncFailure) -> Result<(), StoreError> {
        self.inner.record_sync_failure(failure).await
    }
    async fn sync_failures(&self, limit: u32) -> Result<Vec<SyncFailure>, StoreError> {
        self.inner.sync_failures(limit).await
    }
    async fn user_sync_failures(&self, user: &UserId) -> Result<Vec<SyncFailure>, StoreError> {
        self.inner.user_sync_failures(user).await
    }
    async fn clear_sync_failure(&self, failure: &SyncFailure) -> Result<(), StoreError> {
        self.inner.clear_sync_failure(failure).await
    }
}
