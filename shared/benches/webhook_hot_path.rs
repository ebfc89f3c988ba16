#![recursion_limit = "256"]
//! Calls on the webhook hot path: the store, queue, bus and Stripe calls one new state-changing
//! event makes (counted at the ports, with the in-memory adapters). The speed of verify + parse
//! is measured by `infra/bench` (`verify-bench`), side by side with the official SDKs.
//!
//! `cargo bench -p tierflow-shared --bench webhook_hot_path`

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tierflow::adapters::memory::{MemoryBus, MemoryQueue, MemoryStore};
use tierflow::adapters::stripe::StripeClient;
use tierflow::config::{Secret, StripeConfig};
use tierflow::domain::catalog::BUILT_IN_CATALOG;
use tierflow::domain::{BillingProfile, Catalog, UserId};
use tierflow::ports::*;
use tierflow::time::FixedClock;
use tierflow::webhook::delivery::parse_event;
use tierflow::webhook::processor::payload_hash;
use tierflow::webhook::Processor;

/// A `customer.subscription.updated` event of about 5 KB, shaped like Stripe's basil payloads.
fn realistic_event(created: i64) -> String {
    let metadata: serde_json::Map<String, serde_json::Value> = (0..12)
        .map(|i| {
            (
                format!("key_{i}"),
                format!("value number {i} with some text").into(),
            )
        })
        .collect();
    let event = serde_json::json!({
        "id": "evt_1SBenchmarkEvent00000001", "object": "event", "api_version": "2025-04-30.basil",
        "created": created, "livemode": false, "pending_webhooks": 1, "type": "customer.subscription.updated",
        "request": {"id": "req_benchmark0001", "idempotency_key": "4f5c8a0e-2c3b-4b1a-9a1e-0c7d2e1f3a4b"},
        "data": {
            "object": {
                "id": "sub_1SBenchmark0001", "object": "subscription", "application": null,
                "application_fee_percent": null, "automatic_tax": {"disabled_reason": null, "enabled": false, "liability": null},
                "billing_cycle_anchor": created - 86_400, "billing_cycle_anchor_config": null,
                "billing_thresholds": null, "cancel_at": null, "cancel_at_period_end": false,
                "canceled_at": null, "cancellation_details": {"comment": null, "feedback": null, "reason": null},
                "collection_method": "charge_automatically", "created": created - 86_400, "currency": "usd",
                "customer": "cus_BenchmarkCustomer", "days_until_due": null,
                "default_payment_method": "pm_1SBenchmarkCard0001", "default_source": null, "default_tax_rates": [],
                "description": null, "discounts": [], "ended_at": null,
                "invoice_settings": {"account_tax_ids": null, "issuer": {"type": "self"}},
                "items": {"object": "list", "has_more": false, "total_count": 1, "url": "/v1/subscription_items?subscription=sub_1SBenchmark0001",
                    "data": [{
                        "id": "si_BenchmarkItem0001", "object": "subscription_item", "billing_thresholds": null,
                        "created": created - 86_400, "current_period_start": created - 86_400,
                        "current_period_end": created + 29 * 86_400, "discounts": [], "metadata": {},
                        "plan": {"id": "price_1SBenchmarkPro", "object": "plan", "active": true, "amount": 4900,
                            "amount_decimal": "4900", "billing_scheme": "per_unit", "created": created - 864_000,
                            "currency": "usd", "interval": "month", "interval_count": 1, "livemode": false,
                            "metadata": {}, "meter": null, "nickname": "Professional monthly",
                            "product": "prod_BenchmarkPro", "tiers_mode": null, "transform_usage": null,
                            "trial_period_days": null, "usage_type": "licensed"},
                        "price": {"id": "price_1SBenchmarkPro", "object": "price", "active": true,
                            "billing_scheme": "per_unit", "created": created - 864_000, "currency": "usd",
                            "custom_unit_amount": null, "livemode": false, "lookup_key": "tierflow_professional_monthly",
                            "metadata": {}, "nickname": "Professional monthly", "product": "prod_BenchmarkPro",
                            "recurring": {"interval": "month", "interval_count": 1, "meter": null,
                                "trial_period_days": null, "usage_type": "licensed"},
                            "tax_behavior": "unspecified", "tiers_mode": null, "transform_quantity": null,
                            "type": "recurring", "unit_amount": 4900, "unit_amount_decimal": "4900"},
                        "quantity": 1, "subscription": "sub_1SBenchmark0001", "tax_rates": []
                    }]},
                "latest_invoice": "in_1SBenchmarkInvoice01", "livemode": false, "metadata": metadata,
                "next_pending_invoice_item_invoice": null, "on_behalf_of": null, "pause_collection": null,
                "payment_settings": {"payment_method_options": null, "payment_method_types": null,
                    "save_default_payment_method": "off"},
                "pending_invoice_item_interval": null, "pending_setup_intent": null, "pending_update": null,
                "schedule": null, "start_date": created - 86_400, "status": "active",
                "test_clock": null, "transfer_data": null, "trial_end": null,
                "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}}, "trial_start": null
            },
            "previous_attributes": {"cancel_at_period_end": true, "cancellation_details": {"reason": "cancellation_requested"}}
        }
    });
    let mut text = serde_json::to_string_pretty(&event).expect("json");
    // Pad with whitespace-free metadata until the body is ~5 KB, like a real event with a note.
    while text.len() < 5 * 1024 {
        text = text.replacen(
            "\"comment\": null",
            "\"comment\": \"customer asked to keep the plan after talking to support; see ticket\"",
            1,
        );
        if text.len() < 5 * 1024 {
            text.push(' ');
        }
    }
    text
}

/// Counts calls per port method.
#[derive(Default)]
struct Calls(Mutex<BTreeMap<&'static str, usize>>);

impl Calls {
    fn hit(&self, name: &'static str) {
        if let Ok(mut m) = self.0.lock() {
            *m.entry(name).or_insert(0) += 1;
        }
    }
    fn snapshot(&self) -> BTreeMap<&'static str, usize> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

struct CountingStore(MemoryStore, Arc<Calls>);
struct CountingQueue(MemoryQueue, Arc<Calls>);
struct CountingBus(MemoryBus, Arc<Calls>);

#[async_trait]
impl BillingStore for CountingStore {
    async fn profile(&self, u: &UserId) -> Result<Option<BillingProfile>, StoreError> {
        self.1.hit("dynamodb GetItem (profile)");
        self.0.profile(u).await
    }
    async fn user_for_customer(&self, c: &str) -> Result<Option<UserId>, StoreError> {
        self.1.hit("dynamodb GetItem (customer link)");
        self.0.user_for_customer(c).await
    }
    async fn customer_owner(&self, c: &str) -> Result<Option<CustomerOwner>, StoreError> {
        self.1.hit("dynamodb GetItem (customer link)");
        self.0.customer_owner(c).await
    }
    async fn commit(&self, c: Commit) -> Result<(), CommitError> {
        self.1.hit("dynamodb TransactWriteItems (commit)");
        self.0.commit(c).await
    }
    async fn changes(&self, u: &UserId, l: u32) -> Result<Vec<ChangeRecord>, StoreError> {
        self.1.hit("dynamodb Query (changes)");
        self.0.changes(u, l).await
    }
    async fn due_changes(&self, n: i64, l: u32) -> Result<Vec<ChangeRecord>, StoreError> {
        self.1.hit("dynamodb Query (due)");
        self.0.due_changes(n, l).await
    }
    async fn failed_events(&self, l: u32) -> Result<Vec<EventRecord>, StoreError> {
        self.1.hit("dynamodb Query (failed events)");
        self.0.failed_events(l).await
    }
    async fn payments(
        &self,
        u: &UserId,
        l: u32,
        a: Option<&str>,
    ) -> Result<PaymentPage, StoreError> {
        self.1.hit("dynamodb Query (payments)");
        self.0.payments(u, l, a).await
    }
    async fn payment_by_ref(&self, r: &str) -> Result<Option<PaymentRecord>, StoreError> {
        self.1.hit("dynamodb GetItem (payment ref)");
        self.0.payment_by_ref(r).await
    }
    async fn event_record(&self, e: &str) -> Result<Option<EventRecord>, StoreError> {
        self.1.hit("dynamodb GetItem (event record)");
        self.0.event_record(e).await
    }
    async fn count_in_window(&self, k: &str, w: i64) -> Result<u64, StoreError> {
        self.1.hit("dynamodb UpdateItem (counter)");
        self.0.count_in_window(k, w).await
    }
    async fn checkpoint(&self, n: &str) -> Result<Option<i64>, StoreError> {
        self.1.hit("dynamodb GetItem (checkpoint)");
        self.0.checkpoint(n).await
    }
    async fn record_lago_webhook(&self, r: &LagoWebhookRecord) -> Result<bool, StoreError> {
        self.1.hit("dynamodb PutItem (lago webhook)");
        self.0.record_lago_webhook(r).await
    }
    async fn set_checkpoint(&self, n: &str, v: i64) -> Result<(), StoreError> {
        self.1.hit("dynamodb PutItem (checkpoint)");
        self.0.set_checkpoint(n, v).await
    }
    async fn record_sync_failure(&self, f: &SyncFailure) -> Result<(), StoreError> {
        self.1.hit("dynamodb PutItem (sync failure)");
        self.0.record_sync_failure(f).await
    }
    async fn sync_failures(&self, l: u32) -> Result<Vec<SyncFailure>, StoreError> {
        self.1.hit("dynamodb Query (sync failures)");
        self.0.sync_failures(l).await
    }
    async fn user_sync_failures(&self, u: &UserId) -> Result<Vec<SyncFailure>, StoreError> {
        self.1.hit("dynamodb Query (user sync failures)");
        self.0.user_sync_failures(u).await
    }
    async fn clear_sync_failure(&self, f: &SyncFailure) -> Result<(), StoreError> {
        self.1.hit("dynamodb DeleteItem (sync failure)");
        self.0.clear_sync_failure(f).await
    }
}

#[async_trait]
impl SyncQueue for CountingQueue {
    async fn enqueue(&self, jobs: &[SyncJob]) -> Result<(), EnqueueError> {
        self.1.hit("sqs SendMessageBatch");
        self.0.enqueue(jobs).await
    }
}

#[async_trait]
impl EventBus for CountingBus {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), PublishError> {
        self.1.hit("eventbridge PutEvents");
        self.0.publish(events).await
    }
}

/// Connections made to the stand-in Stripe API (each is refused by closing it).
static STRIPE_CALLS: AtomicUsize = AtomicUsize::new(0);

/// A loopback listener standing in for Stripe: counts every connection the client opens.
fn counting_stripe() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            STRIPE_CALLS.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    format!("http://{addr}")
}

fn main() {
    let now = 1_795_391_165;
    let body = realistic_event(now);
    println!(
        "webhook hot path: calls one event makes (event body {} bytes; verify + parse speed is \
         infra/bench's verify-bench)",
        body.len()
    );

    let calls = Arc::new(Calls::default());
    let store = Arc::new(CountingStore(MemoryStore::new(), calls.clone()));
    let stripe = StripeClient::new(&StripeConfig {
        secret_key: Secret::new("sk_test_unused"),
        publishable_key: String::new(),
        api_base: counting_stripe(),
    })
    .expect("client");
    let processor = Processor {
        store: store.clone(),
        stripe: Arc::new(stripe),
        catalog: Catalog::parse(BUILT_IN_CATALOG).expect("catalog"),
        grace_days: 3,
        revocation: Default::default(),
        clock: Arc::new(FixedClock::at(now)),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut event_with_user = parse_event(body.as_bytes()).expect("event");
    let mut object: serde_json::Value =
        serde_json::from_str(event_with_user.data.object.get()).expect("data.object");
    object["metadata"]["user_id"] = "bench-user".into();
    event_with_user.data.object = tierflow::stripe::RawObject::from_value(&object).expect("raw");
    let outcome = runtime
        .block_on(processor.process(&event_with_user, &payload_hash(body.as_bytes())))
        .expect("processed");
    println!();
    println!(
        "calls made by one new event ({}; tier changes, so a sync job and a domain event):",
        outcome.label()
    );
    let writes = print_calls(&calls);
    let stripe_calls = STRIPE_CALLS.load(Ordering::SeqCst);
    println!("  {stripe_calls} × Stripe API");
    println!("AWS writes on the hot path: {writes}; Stripe calls: {stripe_calls}");

    // Off the request path: outbox-relay publishes the record the table's stream carries.
    let relay_calls = Arc::new(Calls::default());
    let queue = CountingQueue(MemoryQueue::new(), relay_calls.clone());
    let bus = CountingBus(MemoryBus::new(), relay_calls.clone());
    for record in store.0.take_stream() {
        runtime
            .block_on(tierflow::outbox::publish(&queue, &bus, &record.outbox))
            .expect("relayed");
    }
    println!();
    println!("calls outbox-relay makes for that event (from the table's stream):");
    print_calls(&relay_calls);
}

/// Prints each counted call; returns how many were writes.
fn print_calls(calls: &Calls) -> usize {
    let mut writes = 0;
    for (name, n) in &calls.snapshot() {
        println!("  {n} × {name}");
        if !name.contains("GetItem") && !name.contains("Query") {
            writes += n;
        }
    }
    writes
}
