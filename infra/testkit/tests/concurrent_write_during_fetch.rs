//! An event the version guard cannot order asks Stripe for the subscription. If another event
//! commits a newer state between that fetch and this event's commit, the fetched copy is older
//! than the stored state: deciding again must not write it back (seen in the browser test as an
//! upgrade paid through 3-D Secure shown, then lost to the plan before it).

use async_trait::async_trait;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tierflow::adapters::memory::MemoryStore;
use tierflow::domain::time::UnixTime;
use tierflow::domain::{BillingProfile, Tier, UserId};
use tierflow::ports::{
    BillingStore, ChangeRecord, Commit, CommitError, CustomerOwner, EventRecord, LagoWebhookRecord,
    PaymentPage, PaymentRecord, StoreError, StripeApi, SyncFailure,
};
use tierflow::stripe::Event;
use tierflow::webhook::{Outcome, Processor};
use tierflow_testkit::{unique, Harness};
use tokio::sync::Mutex;

type Write = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The in-memory store, with another writer that commits first when the next commit comes: the
/// interleaving of two webhook deliveries for one user, made deterministic.
struct InterleavedStore {
    inner: Arc<MemoryStore>,
    before_next_commit: Mutex<Option<Write>>,
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
        let other = self.before_next_commit.lock().await.take();
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

/// `event` again under another id: a second event of the same second and state, which the
/// version guard cannot order against the first.
fn same_second_copy(event: &Event) -> Event {
    let mut json = serde_json::to_value(event).expect("json");
    json["id"] = format!("{}_same_second", event.id).into();
    json["type"] = "customer.subscription.updated".into();
    serde_json::from_value(json).expect("event")
}

#[tokio::test]
async fn a_newer_state_committed_while_stripe_was_asked_is_not_overwritten_by_the_older_copy() {
    let h = Harness::start().await;
    let user = unique("interleaved");
    h.subscribe(&user, "starter", "monthly", "pm_card_visa")
        .await;
    let created = h.stripe_events(&["customer.subscription.created"]).await;
    let created = created.last().expect("the subscription's creation").clone();
    let sub_id = created.object_id().expect("subscription").to_owned();

    let inner = Arc::new(MemoryStore::new());
    let store = Arc::new(InterleavedStore {
        inner: inner.clone(),
        before_next_commit: Mutex::new(None),
    });
    let racing = Processor {
        store: store.clone(),
        ..h.processor(inner.clone(), Default::default())
    };
    assert_eq!(
        racing
            .process(&created, &created.id)
            .await
            .expect("applied"),
        Outcome::Applied
    );

    // While the same-second event asks Stripe, the subscription is upgraded and that upgrade's
    // event is applied by another delivery.
    let other = Arc::new(h.processor(inner.clone(), Default::default()));
    let stripe = h.stripe.clone();
    let professional = stripe
        .list_prices_by_lookup_keys(&["tierflow_professional_monthly"], true)
        .await
        .expect("prices")
        .remove(0)
        .id;
    let item = h.stripe_get(&format!("/v1/subscriptions/{sub_id}")).await["items"]["data"][0]["id"]
        .as_str()
        .expect("item")
        .to_owned();
    let (url, http) = (h.emulator.url().to_owned(), h.http.clone());
    let upgrade_and_apply: Write = Box::pin(async move {
        let answer = http
            .post(format!("{url}/v1/subscriptions/{sub_id}"))
            .bearer_auth("sk_test_testkit")
            .header("Stripe-Version", tierflow::stripe::STRIPE_API_VERSION)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                tierflow::stripe::Form::new()
                    .field("items[0][id]", item.as_str())
                    .field("items[0][price]", professional.as_str())
                    .field("proration_behavior", "none")
                    .encode(),
            )
            .send()
            .await
            .expect("emulator answers");
        assert!(answer.status().is_success(), "{:?}", answer.text().await);
        let updated = stripe
            .list_events(&tierflow::stripe::EventQuery {
                types: vec!["customer.subscription.updated".into()],
                ..Default::default()
            })
            .await
            .expect("events")
            .remove(0);
        assert_eq!(
            other.process(&updated, &updated.id).await.expect("applied"),
            Outcome::Applied
        );
    });
    *store.before_next_commit.lock().await = Some(upgrade_and_apply);

    let same_second = same_second_copy(&created);
    racing
        .process(&same_second, &same_second.id)
        .await
        .expect("answered");

    let profile = inner
        .profile(&UserId::parse(&user).expect("user"))
        .await
        .expect("store")
        .expect("profile");
    assert_eq!(
        profile.tier,
        Tier::Professional,
        "the upgrade stays: {profile:?}"
    );
}
