//! Nothing is lost when an integration fails, against the local AWS emulator: a batch of ten
//! jobs where Keycloak answers 500 for three users, partial batch failures, redelivery until
//! `maxReceiveCount`, the dead-letter queue, a redrive once Keycloak recovers, and every user
//! converged; a job Lago refuses (422) recorded as a permanent failure instead, nothing
//! dead-lettered. Also the Lago webhook record's conditional put on DynamoDB.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use crate::support::tier;
use crate::support::{local_aws, unique};
use crate::sync_support::{FakeKeycloak, LagoEmulator, LagoOptions, StripeSide};
use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::QueueAttributeName;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tierflow::adapters::aws::sdk_config_for_endpoint;
use tierflow::adapters::dynamodb::DynamoStore;
use tierflow::adapters::sqs::SqsSyncQueue;
use tierflow::domain::catalog::BUILT_IN_CATALOG;
use tierflow::domain::{BillingProfile, Catalog, SubscriptionStatus, UserId};
use tierflow::ports::{
    BillingStore, Commit, LagoWebhookRecord, ProfileWrite, SyncJob, SyncQueue, SyncTarget,
};
use tierflow::sync::keycloak::KeycloakClient;
use tierflow::sync::lago::LagoClient;
use tierflow::sync::mailer::OutboxMailer;
use tierflow::sync::redrive::redrive;
use tierflow::sync::worker::{handle_batch, EmailSettings, Worker};
use tierflow::time::FixedClock;

const NOW: i64 = 1_795_391_165;

/// A queue pair of this test's own, with the redrive policy the template gives the sync queue.
async fn queue_pair(sqs: &aws_sdk_sqs::Client, template_queue: &str) -> (String, String, u32) {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(template_queue)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .unwrap();
    let policy: serde_json::Value = serde_json::from_str(
        attrs
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::RedrivePolicy))
            .expect("the sync queue has a redrive policy"),
    )
    .unwrap();
    let max_receive: u32 = match &policy["maxReceiveCount"] {
        serde_json::Value::Number(n) => n.as_u64().unwrap() as u32,
        serde_json::Value::String(s) => s.parse().unwrap(),
        other => panic!("maxReceiveCount {other}"),
    };
    let dlq = sqs
        .create_queue()
        .queue_name(unique("sync-dlq-test"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap();
    let queue = sqs
        .create_queue()
        .queue_name(unique("sync-test"))
        .attributes(
            QueueAttributeName::RedrivePolicy,
            serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive})
                .to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    (queue, dlq, max_receive)
}

async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> u64 {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let map = attrs.attributes().unwrap();
    [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ]
    .iter()
    .map(|k| map.get(k).map_or(0, |v| v.parse::<u64>().unwrap()))
    .sum()
}

/// What one delivery round did, as Lambda's event source mapping would run it.
struct Round {
    received: Vec<String>,
    failed: Vec<String>,
}

/// Plays the event source mapping once: receive a batch (visibility timeout 0, so a failed
/// message is visible again at once), run the worker, delete what succeeded.
async fn deliver(sqs: &aws_sdk_sqs::Client, queue: &str, worker: &Arc<Worker>) -> Option<Round> {
    let out = sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .wait_time_seconds(0)
        .send()
        .await
        .unwrap();
    let messages = out.messages.unwrap_or_default();
    if messages.is_empty() {
        return None;
    }
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| serde_json::json!({"messageId": m.message_id(), "body": m.body(), "receiptHandle": m.receipt_handle()}))
        .collect();
    let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": records})).unwrap();
    let response = handle_batch(worker.clone(), event).await;
    let failed: BTreeSet<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    let user_of = |body: Option<&str>| -> String {
        serde_json::from_str::<SyncJob>(body.unwrap())
            .unwrap()
            .user_id
            .to_string()
    };
    let mut round = Round {
        received: vec![],
        failed: vec![],
    };
    for m in &messages {
        let user = user_of(m.body());
        round.received.push(user.clone());
        if failed.contains(m.message_id().unwrap()) {
            round.failed.push(user);
        } else {
            sqs.delete_message()
                .queue_url(queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    round.failed.sort();
    Some(round)
}

#[tokio::test]
async fn failed_jobs_retry_land_in_the_dlq_and_converge_after_a_redrive() {
    let Some(env) = local_aws() else { return };
    let aws = sdk_config_for_endpoint(&env.endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&aws),
        env.table.clone(),
    ));
    let (queue_url, dlq_url, max_receive) = queue_pair(&sqs, &env.sync_queue_url).await;

    let kc = FakeKeycloak::start().await;
    let run = unique("conv");
    let users: Vec<UserId> = (0..10)
        .map(|i| UserId::parse(&format!("{run}-u{i}")).unwrap())
        .collect();
    let failing: BTreeSet<String> = users[..3].iter().map(ToString::to_string).collect();
    for (i, user) in users.iter().enumerate() {
        kc.add_user(user.as_str(), &format!("user{i}@example.com"));
        let mut profile =
            BillingProfile::new_free(user.clone(), &tierflow::domain::Catalog::built_in());
        profile.tier = tier("professional");
        profile.status = SubscriptionStatus::Active;
        profile.customer_id = Some(format!("cus_{i}"));
        profile.subscription_id = Some(format!("sub_{i}"));
        store
            .commit(Commit {
                profile: Some(ProfileWrite {
                    profile,
                    expected_version: 0,
                }),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    for user in &failing {
        kc.set_failing(user, true);
    }
    let clock = Arc::new(FixedClock::at(NOW));
    let worker = Arc::new(Worker {
        store: store.clone(),
        stripe: None,
        keycloak: Some(KeycloakClient::new(kc.config(), clock.clone()).unwrap()),
        lago: None,
        mailer: None,
        email: EmailSettings {
            product_name: "Acme".into(),
            billing_url: None,
        },
        catalog: Catalog::parse(BUILT_IN_CATALOG).unwrap(),
        clock,
        job_timeout: Duration::from_secs(10),
    });

    // The sync queue adapter puts the ten jobs in.
    let jobs: Vec<SyncJob> = users
        .iter()
        .map(|u| SyncJob::state(u.clone(), "evt_batch"))
        .collect();
    SqsSyncQueue::new(sqs.clone(), &queue_url)
        .enqueue(&jobs)
        .await
        .unwrap();

    // First delivery: one batch of ten, seven succeed, the three failing users are reported.
    let first = deliver(&sqs, &queue_url, &worker).await.expect("a batch");
    assert_eq!(first.received.len(), 10);
    assert_eq!(first.failed, failing.iter().cloned().collect::<Vec<_>>());
    let mut succeeded: BTreeSet<String> = first
        .received
        .iter()
        .filter(|u| !failing.contains(*u))
        .cloned()
        .collect();
    assert_eq!(succeeded.len(), 7);

    // Redelivered while Keycloak still fails, until SQS gives up and dead-letters them.
    let mut receives: BTreeMap<String, u32> = failing.iter().map(|u| (u.clone(), 1)).collect();
    for _ in 0..(max_receive * 3) {
        match deliver(&sqs, &queue_url, &worker).await {
            Some(round) => {
                assert_eq!(round.received, round.failed, "they all still fail");
                for u in round.received {
                    *receives.get_mut(&u).unwrap() += 1;
                }
            }
            None => break,
        }
    }
    for (user, count) in &receives {
        assert_eq!(
            *count, max_receive,
            "{user} was tried maxReceiveCount times"
        );
    }
    assert_eq!(depth(&sqs, &queue_url).await, 0);
    assert_eq!(depth(&sqs, &dlq_url).await, 3, "the three are in the DLQ");
    for user in &failing {
        assert!(
            kc.user(user).unwrap()["attributes"]["subscription_tier"].is_null(),
            "{user} not synced yet"
        );
    }

    // Keycloak recovers; the redrive tool moves them back and they converge.
    for user in &failing {
        kc.set_failing(user, false);
    }
    let moved = redrive(&sqs, &dlq_url, &queue_url, 100).await.unwrap();
    assert_eq!(moved, 3);
    while let Some(round) = deliver(&sqs, &queue_url, &worker).await {
        assert!(round.failed.is_empty());
        succeeded.extend(round.received);
    }

    // Zero lost: every job completed exactly for its user, and nothing is left anywhere.
    assert_eq!(succeeded.len(), 10);
    assert_eq!(depth(&sqs, &queue_url).await, 0);
    assert_eq!(depth(&sqs, &dlq_url).await, 0);
    for user in &users {
        let attrs = &kc.user(user.as_str()).unwrap()["attributes"];
        assert_eq!(
            attrs["subscription_tier"],
            serde_json::json!(["professional"]),
            "{user}"
        );
        assert_eq!(
            attrs["department"],
            serde_json::json!(["research"]),
            "{user}"
        );
    }
}

#[tokio::test]
async fn a_lago_webhook_key_is_recorded_once_on_dynamodb() {
    let Some(env) = local_aws() else { return };
    let aws = sdk_config_for_endpoint(&env.endpoint).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&aws), env.table.clone());
    let record = LagoWebhookRecord {
        unique_key: unique("lago-key"),
        webhook_type: "invoice.created".into(),
        object_type: "invoice".into(),
        user_id: Some(UserId::parse("user-1").unwrap()),
        summary:
            serde_json::json!({"number": "N-1", "total_amount_cents": 120, "next_plan_code": null})
                .as_object()
                .unwrap()
                .clone(),
        received_at: NOW,
        expires_at: None,
    };
    assert!(store.record_lago_webhook(&record).await.unwrap());
    assert!(
        !store.record_lago_webhook(&record).await.unwrap(),
        "second time"
    );

    let item = aws_sdk_dynamodb::Client::new(&aws)
        .get_item()
        .table_name(&env.table)
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("LAGOHOOK#{}", record.unique_key)),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("LAGOHOOK".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["webhook_type"].as_s().unwrap(), "invoice.created");
    assert_eq!(item["user_id"].as_s().unwrap(), "user-1");
    let summary: serde_json::Value = serde_json::from_str(item["summary"].as_s().unwrap()).unwrap();
    assert_eq!(summary["number"], "N-1");
    assert!(
        !item.contains_key("expires_at"),
        "audited records do not expire"
    );
}

#[tokio::test]
async fn a_lago_refusal_is_recorded_as_a_permanent_failure_and_never_dead_lettered() {
    let Some(env) = local_aws() else { return };
    let aws = sdk_config_for_endpoint(&env.endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&aws),
        env.table.clone(),
    ));
    let (queue_url, dlq_url, max_receive) = queue_pair(&sqs, &env.sync_queue_url).await;
    let stripe = StripeSide::start().await;
    let lago = LagoEmulator::start(LagoOptions {
        stripe_api_base: Some(stripe.url()),
        ..Default::default()
    })
    .await;
    let user = UserId::parse(&unique("lago-422")).unwrap();
    let customer = stripe.create_customer("ada@example.com").await;
    let mut profile =
        BillingProfile::new_free(user.clone(), &tierflow::domain::Catalog::built_in());
    profile.tier = tier("professional");
    profile.status = SubscriptionStatus::Active;
    profile.customer_id = Some(customer.clone());
    profile.email = Some("ada@example.com".into());
    store
        .commit(Commit {
            profile: Some(ProfileWrite {
                profile,
                expected_version: 0,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let clock = Arc::new(FixedClock::at(NOW));
    let outbox = std::env::temp_dir().join(unique("lago-422-outbox"));
    let worker = Arc::new(Worker {
        store: store.clone(),
        stripe: None,
        keycloak: None,
        lago: Some(LagoClient::new(lago.config()).unwrap()),
        mailer: Some(Arc::new(OutboxMailer::new(&outbox, "billing@example.com"))),
        email: EmailSettings {
            product_name: "Acme".into(),
            billing_url: None,
        },
        catalog: Catalog::parse(BUILT_IN_CATALOG).unwrap(),
        clock,
        job_timeout: Duration::from_secs(10),
    });
    let queue = SqsSyncQueue::new(sqs.clone(), &queue_url);
    queue
        .enqueue(&[SyncJob::state(user.clone(), "evt_linked")])
        .await
        .unwrap();
    assert!(deliver(&sqs, &queue_url, &worker)
        .await
        .unwrap()
        .failed
        .is_empty());

    // The Stripe customer is deleted while Tierflow still names it: Lago's upsert updates it
    // and answers 422 third_party_error, which no retry changes.
    stripe.delete_customer(&customer).await;
    let job = SyncJob::state(user.clone(), "evt_refused").with_email("resumed", Default::default());
    queue.enqueue(std::slice::from_ref(&job)).await.unwrap();
    let mut rounds = 0;
    while let Some(round) = deliver(&sqs, &queue_url, &worker).await {
        assert!(round.failed.is_empty(), "acknowledged, not retried");
        rounds += 1;
        assert!(rounds <= max_receive, "redelivered");
    }
    assert_eq!(rounds, 1);
    assert_eq!(depth(&sqs, &queue_url).await, 0);
    assert_eq!(depth(&sqs, &dlq_url).await, 0, "nothing dead-lettered");
    let failures: Vec<_> = store
        .sync_failures(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.job.user_id == user)
        .collect();
    assert_eq!(failures.len(), 1);
    // What is replayed is what failed: Lago. The email was not held back by Lago's refusal
    // (no retry was coming), so the replay does not send it again.
    let remaining = SyncJob {
        targets: vec![SyncTarget::Lago],
        ..SyncJob::state(user.clone(), "evt_refused")
    };
    assert_eq!(failures[0].job, remaining);
    assert!(
        failures[0].reason.contains("422") && failures[0].reason.contains("third_party_error"),
        "{}",
        failures[0].reason
    );
    let sent: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".json"))
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("resumed"), "{sent:?}");
}
