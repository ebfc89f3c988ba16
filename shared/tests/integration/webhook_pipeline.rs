//! The processing core against the local AWS emulator: exactly-once under concurrent
//! deliveries (state, and the outbox relayed from the table's stream to SQS and EventBridge),
//! and order-independence of a subscription's history.

use crate::support::tier;
use crate::support::{local_aws, stream_batch, unique, LocalAws};
use std::sync::Arc;
use tierflow::adapters::aws::sdk_config_for_endpoint;
use tierflow::adapters::dynamodb::DynamoStore;
use tierflow::adapters::eventbridge::EventBridgeBus;
use tierflow::adapters::sqs::SqsSyncQueue;
use tierflow::adapters::stripe::StripeClient;
use tierflow::config::{Secret, StripeConfig};
use tierflow::domain::catalog::BUILT_IN_CATALOG;
use tierflow::domain::{BillingCycle, Catalog, SubscriptionStatus, UserId};
use tierflow::ports::{BillingStore, EventStatus};
use tierflow::stripe::Event;
use tierflow::time::SystemClock;
use tierflow::webhook::processor::payload_hash;
use tierflow::webhook::{Outcome, Processor};

/// A processor, and a relay whose sync jobs and domain events land in queues of this test's own.
struct Pipeline {
    processor: Arc<Processor>,
    store: Arc<DynamoStore>,
    queue: SqsSyncQueue,
    bus: EventBridgeBus,
    sqs: aws_sdk_sqs::Client,
    jobs_url: String,
    events_url: String,
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes()
        .expect("attributes")[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone()
}

async fn pipeline(aws: &LocalAws) -> Pipeline {
    let cfg = sdk_config_for_endpoint(&aws.endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    let events = aws_sdk_eventbridge::Client::new(&cfg);
    let jobs_url = sqs
        .create_queue()
        .queue_name(unique("jobs"))
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("url");
    let events_url = sqs
        .create_queue()
        .queue_name(unique("events"))
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("url");
    let bus = unique("bus");
    events
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .expect("bus");
    events
        .put_rule()
        .name("all")
        .event_bus_name(&bus)
        .event_pattern(r#"{"source":["tierflow.billing"]}"#)
        .send()
        .await
        .expect("rule");
    events
        .put_targets()
        .rule("all")
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("q")
                .arn(queue_arn(&sqs, &events_url).await)
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("targets");
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&cfg),
        &aws.table,
    ));
    let stripe = StripeClient::new(&StripeConfig {
        secret_key: Secret::new("sk_test_unused"),
        publishable_key: String::new(),
        api_base: "http://127.0.0.1:9".into(),
    })
    .expect("client");
    let processor = Processor {
        store: store.clone(),
        stripe: Arc::new(stripe),
        catalog: Catalog::parse(BUILT_IN_CATALOG).expect("catalog"),
        grace_days: 3,
        revocation: Default::default(),
        clock: Arc::new(SystemClock),
    };
    Pipeline {
        processor: Arc::new(processor),
        store,
        queue: SqsSyncQueue::new(sqs.clone(), &jobs_url),
        bus: EventBridgeBus::new(events, &bus),
        sqs,
        jobs_url,
        events_url,
    }
}

async fn count_messages(sqs: &aws_sdk_sqs::Client, url: &str) -> usize {
    let mut total = 0;
    loop {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        let n = out.messages.unwrap_or_default().len();
        if n == 0 {
            return total;
        }
        total += n;
    }
}

struct Step {
    kind: &'static str,
    created: i64,
    status: &'static str,
    lookup_key: &'static str,
    cancel_at_period_end: bool,
    previous: serde_json::Value,
}

fn subscription_event(
    id: &str,
    sub: &str,
    customer: &str,
    user: &UserId,
    step: &Step,
) -> (Event, Vec<u8>) {
    let json = serde_json::json!({
        "id": id, "object": "event", "type": step.kind, "created": step.created,
        "api_version": "2025-04-30.basil", "livemode": false,
        "data": {
            "object": {
                "id": sub, "object": "subscription", "customer": customer, "status": step.status,
                "metadata": {"user_id": user.as_str()},
                "cancel_at_period_end": step.cancel_at_period_end,
                "items": {"object": "list", "data": [{
                    "id": format!("si_{sub}"), "object": "subscription_item",
                    "current_period_start": 1_795_000_000, "current_period_end": 1_797_592_000,
                    "price": {"id": format!("price_{}", step.lookup_key), "object": "price",
                              "lookup_key": step.lookup_key, "unit_amount": 4900, "currency": "usd",
                              "recurring": {"interval": "month"}}
                }]}
            },
            "previous_attributes": step.previous
        }
    });
    let bytes = serde_json::to_vec(&json).expect("json");
    (serde_json::from_slice(&bytes).expect("event"), bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_deliveries_apply_once() {
    let Some(aws) = local_aws() else { return };
    let p = pipeline(&aws).await;
    let user = UserId::parse(&unique("race")).expect("user");
    let (sub, cus, evt) = (unique("sub"), unique("cus"), unique("evt"));
    let step = Step {
        kind: "customer.subscription.created",
        created: 1_795_000_000,
        status: "active",
        lookup_key: "tierflow_professional_monthly",
        cancel_at_period_end: false,
        previous: serde_json::Value::Null,
    };
    let (event, bytes) = subscription_event(&evt, &sub, &cus, &user, &step);
    let hash = payload_hash(&bytes);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let processor = p.processor.clone();
        let event = event.clone();
        let hash = hash.clone();
        tasks.push(tokio::spawn(async move {
            processor.process(&event, &hash).await
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(
            t.await
                .expect("task")
                .expect("every delivery is answered 2xx"),
        );
    }
    let applied = outcomes.iter().filter(|o| **o == Outcome::Applied).count();
    assert_eq!(applied, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Outcome::Applied | Outcome::Duplicate)),
        "{outcomes:?}"
    );

    let profile = p
        .store
        .profile(&user)
        .await
        .expect("read")
        .expect("profile");
    assert_eq!(profile.version, 1, "exactly one state change");
    assert_eq!(profile.tier, tier("professional"));
    assert_eq!(
        p.store
            .event_record(&evt)
            .await
            .expect("read")
            .expect("record")
            .status,
        EventStatus::Completed
    );
    // The table's stream carries the one new record to the relay (as Lambda would).
    let key = format!("EVENT#{evt}");
    let batch = stream_batch(&aws, |pk| pk == key).await;
    assert_eq!(batch.records.len(), 1, "one record, written once");
    let relayed = tierflow::outbox::relay_stream(batch, &p.queue, &p.bus).await;
    assert!(relayed.batch_item_failures.is_empty());
    assert_eq!(count_messages(&p.sqs, &p.jobs_url).await, 1, "one sync job");
    assert_eq!(
        count_messages(&p.sqs, &p.events_url).await,
        1,
        "one domain event"
    );
}

fn history() -> Vec<Step> {
    let t = 1_795_000_000;
    vec![
        Step {
            kind: "customer.subscription.created",
            created: t,
            status: "active",
            lookup_key: "tierflow_starter_monthly",
            cancel_at_period_end: false,
            previous: serde_json::Value::Null,
        },
        Step {
            kind: "customer.subscription.updated",
            created: t + 1,
            status: "active",
            lookup_key: "tierflow_professional_monthly",
            cancel_at_period_end: false,
            previous: serde_json::json!({"items": {}}),
        },
        Step {
            kind: "customer.subscription.updated",
            created: t + 2,
            status: "past_due",
            lookup_key: "tierflow_professional_monthly",
            cancel_at_period_end: false,
            previous: serde_json::json!({"status": "active"}),
        },
        Step {
            kind: "customer.subscription.updated",
            created: t + 3,
            status: "active",
            lookup_key: "tierflow_professional_monthly",
            cancel_at_period_end: false,
            previous: serde_json::json!({"status": "past_due"}),
        },
        Step {
            kind: "customer.subscription.updated",
            created: t + 4,
            status: "active",
            lookup_key: "tierflow_professional_monthly",
            cancel_at_period_end: true,
            previous: serde_json::json!({"cancel_at_period_end": false}),
        },
    ]
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for perm in permutations(n - 1) {
        for i in 0..=perm.len() {
            let mut p = perm.clone();
            p.insert(i, n - 1);
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_order_of_a_subscription_history_ends_in_the_same_state() {
    let Some(aws) = local_aws() else { return };
    let p = pipeline(&aws).await;
    let steps = history();
    let orders = permutations(steps.len());
    assert_eq!(orders.len(), 120);
    let mut finals = Vec::new();
    for order in orders {
        let user = UserId::parse(&unique("perm")).expect("user");
        let (sub, cus) = (unique("sub"), unique("cus"));
        let ids: Vec<String> = (0..steps.len()).map(|_| unique("evt")).collect();
        for &i in &order {
            let (event, bytes) = subscription_event(&ids[i], &sub, &cus, &user, &steps[i]);
            let outcome = p
                .processor
                .process(&event, &payload_hash(&bytes))
                .await
                .expect("processed");
            assert!(
                matches!(outcome, Outcome::Applied | Outcome::Ignored(_)),
                "{order:?}: {outcome:?}"
            );
        }
        let profile = p
            .store
            .profile(&user)
            .await
            .expect("read")
            .expect("profile");
        finals.push((order, profile));
    }
    for (order, profile) in &finals {
        assert_eq!(profile.tier, tier("professional"), "{order:?}");
        assert_eq!(profile.status, SubscriptionStatus::Active, "{order:?}");
        assert!(profile.cancel_at_period_end, "{order:?}");
        assert_eq!(profile.grace_until, None, "{order:?}");
        assert_eq!(
            profile.billing_cycle,
            Some(BillingCycle::Monthly),
            "{order:?}"
        );
        assert_eq!(
            profile.subscription_version.as_ref().map(|v| v.created),
            Some(1_795_000_004),
            "{order:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_event_is_listed_and_a_replay_after_the_fix_applies_it_once() {
    let Some(aws) = local_aws() else { return };
    let p = pipeline(&aws).await;
    let user = UserId::parse(&unique("replay")).expect("user");
    let (sub, cus, evt) = (unique("sub"), unique("cus"), unique("evt"));
    let step = Step {
        kind: "customer.subscription.created",
        created: 1_795_000_000,
        status: "active",
        lookup_key: "someone_elses_monthly",
        cancel_at_period_end: false,
        previous: serde_json::Value::Null,
    };
    let (event, bytes) = subscription_event(&evt, &sub, &cus, &user, &step);
    let hash = payload_hash(&bytes);
    let first = p.processor.process(&event, &hash).await.expect("processed");
    assert!(matches!(first, Outcome::Failed(_)), "{first:?}");
    let listed = |records: Vec<tierflow::ports::EventRecord>| {
        records.into_iter().find(|r| r.event_id == evt)
    };
    let failed = listed(p.store.failed_events(1_000).await.expect("query")).expect("listed");
    assert_eq!((failed.attempts, failed.status), (1, EventStatus::Failed));

    // Replayed before the cause is fixed: still failed, with the new attempt's reason.
    let again = p
        .processor
        .replay_failed(&event, &hash)
        .await
        .expect("replayed");
    assert!(matches!(again, Outcome::Failed(_)), "{again:?}");
    let failed = listed(p.store.failed_events(1_000).await.expect("query")).expect("listed");
    assert_eq!(failed.attempts, 2);

    // The catalog learns the price; the replay applies the event and it leaves the index.
    let mut catalog = Catalog::parse(BUILT_IN_CATALOG).expect("catalog");
    catalog.legacy_prices.push(tierflow::domain::LegacyPrice {
        price_id: "price_someone_elses_monthly".into(),
        tier: tier("professional"),
        cycle: BillingCycle::Monthly,
    });
    let fixed = Processor {
        store: p.store.clone(),
        stripe: p.processor.stripe.clone(),
        catalog,
        grace_days: 3,
        revocation: Default::default(),
        clock: Arc::new(SystemClock),
    };
    let applied = fixed.replay_failed(&event, &hash).await.expect("replayed");
    assert_eq!(applied, Outcome::Applied);
    let profile = p
        .store
        .profile(&user)
        .await
        .expect("read")
        .expect("profile");
    assert_eq!(profile.tier, tier("professional"));
    let record = p
        .store
        .event_record(&evt)
        .await
        .expect("read")
        .expect("record");
    assert_eq!(
        (record.status, record.attempts),
        (EventStatus::Completed, 3)
    );
    assert!(listed(p.store.failed_events(1_000).await.expect("query")).is_none());
    // Applied once: a second replay and a late delivery are duplicates.
    assert_eq!(
        fixed.replay_failed(&event, &hash).await.expect("replayed"),
        Outcome::Duplicate
    );
    assert_eq!(
        fixed.process(&event, &hash).await.expect("processed"),
        Outcome::Duplicate
    );

    // The stream carries the replaced record, outbox and all, to the relay.
    let key = format!("EVENT#{evt}");
    let batch = stream_batch(&aws, |pk| pk == key).await;
    let relayed = tierflow::outbox::relay_stream(batch, &p.queue, &p.bus).await;
    assert!(relayed.batch_item_failures.is_empty());
    assert_eq!(count_messages(&p.sqs, &p.jobs_url).await, 1, "one sync job");
}
