//! The sync worker end to end with in-memory AWS ports: a Stripe webhook never waits on
//! Keycloak, Lago or email (all three hang here), and a full job reaches all three.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use crate::sync_support::{
    lago_config, start_hanging_server, FakeKeycloak, LagoEmulator, LagoOptions, StripeSide,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tierflow::adapters::memory::{MemoryBus, MemoryQueue, MemoryStore};
use tierflow::adapters::stripe::StripeClient;
use tierflow::config::{Secret, StripeConfig, WebhookConfig};
use tierflow::domain::catalog::BUILT_IN_CATALOG;
use tierflow::domain::{Catalog, UserId};
use tierflow::ports::mailer::Mailer;
use tierflow::ports::{BillingStore, SyncJob, SyncTarget};
use tierflow::sync::keycloak::{KeycloakClient, KeycloakConfig};
use tierflow::sync::lago::LagoClient;
use tierflow::sync::mailer::{OutboxEntry, OutboxMailer, SesMailer};
use tierflow::sync::worker::{EmailSettings, SyncError, Worker};
use tierflow::time::FixedClock;
use tierflow::webhook::delivery::handle_delivery;
use tierflow::webhook::signature::sign;
use tierflow::webhook::Processor;

const NOW: i64 = 1_795_391_165;
const SECRET: &str = "whsec_sync_worker_test";

fn subscription_event(id: &str, user: &str) -> String {
    serde_json::json!({
        "id": id, "object": "event", "type": "customer.subscription.updated", "created": NOW - 5,
        "api_version": "2025-04-30.basil", "livemode": false,
        "data": {"object": {
            "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
            "metadata": {"user_id": user}, "cancel_at_period_end": false,
            "items": {"object": "list", "data": [{"id": "si_1", "object": "subscription_item",
                "current_period_start": NOW - 5, "current_period_end": NOW + 2_592_000,
                "price": {"id": "price_pro_m", "object": "price", "lookup_key": "tierflow_professional_monthly",
                    "unit_amount": 4900, "currency": "usd", "recurring": {"interval": "month"}}}]}
        }}
    })
    .to_string()
}

/// Publishes the committed outboxes, as `outbox-relay` does from the table's stream.
async fn relay(store: &MemoryStore, queue: &MemoryQueue) {
    for record in store.take_stream() {
        tierflow::outbox::publish(queue, &MemoryBus::new(), &record.outbox)
            .await
            .unwrap();
    }
}

fn processor(store: Arc<MemoryStore>) -> Processor {
    Processor {
        store,
        // No Stripe call is expected; an unroutable base makes any call fail fast.
        stripe: Arc::new(
            StripeClient::new(&StripeConfig {
                secret_key: Secret::new("sk_test_unused"),
                publishable_key: String::new(),
                api_base: "http://127.0.0.1:9".into(),
            })
            .unwrap(),
        ),
        catalog: Catalog::parse(BUILT_IN_CATALOG).unwrap(),
        grace_days: 3,
        revocation: Default::default(),
        clock: Arc::new(FixedClock::at(NOW)),
    }
}

fn worker_with(
    store: Arc<MemoryStore>,
    keycloak: Option<KeycloakClient>,
    lago: Option<LagoClient>,
    mailer: Option<Arc<dyn Mailer>>,
    job_timeout: Duration,
) -> Worker {
    Worker {
        store,
        stripe: None,
        keycloak,
        lago,
        mailer,
        email: EmailSettings {
            product_name: "Acme".into(),
            billing_url: Some("https://app.example.com/billing".into()),
        },
        catalog: Catalog::parse(BUILT_IN_CATALOG).unwrap(),
        clock: Arc::new(FixedClock::at(NOW)),
        job_timeout,
    }
}

fn keycloak_at(url: &str) -> KeycloakClient {
    KeycloakClient::new(
        KeycloakConfig {
            base_url: url.to_owned(),
            realm: "app".into(),
            client_id: "tierflow-sync".into(),
            client_secret: Secret::new("kc-test-secret"),
        },
        Arc::new(FixedClock::at(NOW)),
    )
    .unwrap()
}

#[tokio::test]
async fn a_stripe_webhook_never_waits_on_keycloak_lago_or_email() {
    let hung = start_hanging_server().await;
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let processor = processor(store.clone());
    let config = WebhookConfig {
        secrets: vec![Secret::new(SECRET)],
        tolerance_seconds: 300,
    };

    let payload = subscription_event("evt_sync_1", "user-hang");
    let signature = sign(SECRET, NOW, payload.as_bytes());
    let started = Instant::now();
    let response = tokio::time::timeout(
        Duration::from_secs(5),
        handle_delivery(
            &processor,
            &config,
            Some(&signature),
            payload.as_bytes(),
            NOW,
        ),
    )
    .await
    .expect("the webhook answered without waiting on any integration");
    assert_eq!(response.expect("accepted").outcome, "applied");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    relay(&store, &queue).await;
    let jobs = queue.jobs();
    assert_eq!(jobs.len(), 1, "the webhook only wrote its outbox");
    assert_eq!(
        jobs[0].targets,
        [SyncTarget::Keycloak, SyncTarget::Lago, SyncTarget::Email]
    );

    // The user's address is known, so the email-only worker gets as far as SES.
    let user = UserId::parse("user-hang").unwrap();
    let mut profile = store.profile(&user).await.unwrap().unwrap();
    let expected_version = profile.version;
    profile.email = Some("hang@example.com".into());
    store
        .commit(tierflow::ports::Commit {
            profile: Some(tierflow::ports::ProfileWrite {
                profile,
                expected_version,
            }),
            ..Default::default()
        })
        .await
        .unwrap();

    // The same job, given to a worker whose three integrations hang, does wait: each one
    // alone times the job out, so the webhook above really did not call them.
    let aws = tierflow::adapters::aws::sdk_config_for_endpoint(&hung).await;
    let ses: Arc<dyn Mailer> = Arc::new(SesMailer::new(
        aws_sdk_sesv2::Client::new(&aws),
        "billing@example.com",
        None,
    ));
    let timeout = Duration::from_millis(800);
    let only_keycloak = worker_with(store.clone(), Some(keycloak_at(&hung)), None, None, timeout);
    let only_lago = worker_with(
        store.clone(),
        None,
        Some(LagoClient::new(lago_config(&hung)).unwrap()),
        None,
        timeout,
    );
    let only_email = worker_with(store.clone(), None, None, Some(ses), timeout);
    let body = serde_json::to_string(&jobs[0]).unwrap();
    for (name, worker) in [
        ("keycloak", only_keycloak),
        ("lago", only_lago),
        ("email", only_email),
    ] {
        let result = worker.process_message(Some(&body)).await;
        assert!(
            matches!(result, Err(SyncError::Timeout(_))),
            "{name}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_job_pushes_keycloak_and_lago_then_emails_the_user() {
    let kc = FakeKeycloak::start().await;
    kc.add_user("user-mail", "ada@example.com");
    let stripe = StripeSide::start().await;
    let lago = LagoEmulator::start(LagoOptions {
        stripe_api_base: Some(stripe.url()),
        ..Default::default()
    })
    .await;
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let customer = stripe.create_customer("ada@example.com").await;
    let payload = subscription_event("evt_sync_2", "user-mail")
        .replace("\"cus_1\"", &format!("\"{customer}\""));
    let signature = sign(SECRET, NOW, payload.as_bytes());
    let config = WebhookConfig {
        secrets: vec![Secret::new(SECRET)],
        tolerance_seconds: 300,
    };
    let response = handle_delivery(
        &processor(store.clone()),
        &config,
        Some(&signature),
        payload.as_bytes(),
        NOW,
    )
    .await;
    assert_eq!(response.expect("accepted").outcome, "applied");

    let outbox_dir =
        std::env::temp_dir().join(format!("tierflow-sync-outbox-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&outbox_dir);
    let worker = worker_with(
        store.clone(),
        Some(KeycloakClient::new(kc.config(), Arc::new(FixedClock::at(NOW))).unwrap()),
        Some(LagoClient::new(lago.config()).unwrap()),
        Some(Arc::new(OutboxMailer::new(
            &outbox_dir,
            "billing@example.com",
        ))),
        Duration::from_secs(10),
    );
    relay(&store, &queue).await;
    let job = queue.jobs().remove(0);
    let report = worker.sync(&job).await.unwrap();
    assert!(report.keycloak && report.lago && report.email);

    let attrs = &kc.user("user-mail").unwrap()["attributes"];
    assert_eq!(
        attrs["subscription_tier"],
        serde_json::json!(["professional"])
    );
    assert_eq!(
        attrs["stripe_subscription_id"],
        serde_json::json!(["sub_1"])
    );
    assert_eq!(attrs["locale"], serde_json::json!(["en"]));
    let subscriptions = lago.subscriptions("user-mail").await;
    assert_eq!(subscriptions.len(), 1);
    assert_eq!(
        (&subscriptions[0]["plan_code"], &subscriptions[0]["status"]),
        (
            &serde_json::json!("tierflow_professional"),
            &serde_json::json!("active")
        )
    );

    // The profile has no email; the address came from Keycloak.
    let files: Vec<_> = std::fs::read_dir(&outbox_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(files.len(), 1);
    let entry: OutboxEntry = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    assert_eq!(entry.message.to, "ada@example.com");
    assert_eq!(entry.message.template, "subscription_confirmed");
    assert_eq!(entry.message.subject, "Your Acme plan is now Professional");

    // A duplicate of the job changes nothing and rewrites the same outbox entry.
    worker.sync(&job).await.unwrap();
    assert_eq!(kc.server.count("PUT", "/admin"), 1, "no second PUT");
    assert_eq!(
        lago.subscriptions("user-mail").await.len(),
        1,
        "Lago unchanged"
    );
    assert_eq!(std::fs::read_dir(&outbox_dir).unwrap().count(), 2);
    std::fs::remove_dir_all(&outbox_dir).unwrap();
}

#[tokio::test]
async fn no_email_goes_out_while_keycloak_fails() {
    let kc = FakeKeycloak::start().await;
    kc.add_user("user-fail", "ada@example.com");
    kc.set_failing("user-fail", true);
    let store = Arc::new(MemoryStore::new());
    let outbox_dir =
        std::env::temp_dir().join(format!("tierflow-sync-nomail-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&outbox_dir);
    let worker = worker_with(
        store,
        Some(KeycloakClient::new(kc.config(), Arc::new(FixedClock::at(NOW))).unwrap()),
        None,
        Some(Arc::new(OutboxMailer::new(
            &outbox_dir,
            "billing@example.com",
        ))),
        Duration::from_secs(10),
    );
    let job = SyncJob::state(UserId::parse("user-fail").unwrap(), "evt_3")
        .with_email("resumed", serde_json::Map::new());
    let err = worker.sync(&job).await.unwrap_err();
    assert!(err.to_string().contains("500"), "{err}");
    assert!(!outbox_dir.exists(), "the retry will send it, once");
    // The profile store is untouched by the worker.
    assert!(worker
        .store
        .profile(&UserId::parse("user-fail").unwrap())
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_deleted_accounts_job_never_asks_the_identity_provider() {
    let store = Arc::new(MemoryStore::new());
    let mut profile = tierflow::domain::BillingProfile::new_free(
        UserId::parse("user-gone").unwrap(),
        &tierflow::domain::Catalog::built_in(),
    );
    profile.deleted_at = Some(NOW - 60);
    store
        .commit(tierflow::ports::Commit {
            profile: Some(tierflow::ports::ProfileWrite {
                profile,
                expected_version: 0,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    // Nothing listens here: any Keycloak call fails the job.
    let worker = worker_with(
        store.clone(),
        Some(keycloak_at("http://127.0.0.1:9")),
        None,
        None,
        Duration::from_secs(5),
    );
    let job = |user: &str| {
        serde_json::json!({"user_id": user, "targets": ["keycloak", "lago"], "cause": "user-deleted:evt:1"})
            .to_string()
    };
    // A job that ran between the identity provider's deletion and its announcement was
    // recorded as failed; the deleted account's own job supersedes it, another user's stays.
    let failed_before = |user: &str| tierflow::ports::SyncFailure {
        job: SyncJob::state(UserId::parse(user).unwrap(), "evt_before")
            .with_email("subscription_confirmed", serde_json::Map::new()),
        reason: format!("no Keycloak user with id {user}"),
        failed_at: NOW - 120,
    };
    for user in ["user-gone", "user-other"] {
        store
            .record_sync_failure(&failed_before(user))
            .await
            .unwrap();
    }
    let report = worker.process_message(Some(&job("user-gone"))).await;
    assert!(matches!(&report, Ok(r) if !r.keycloak), "{report:?}");
    assert_eq!(
        store.sync_failures(10).await.unwrap(),
        [failed_before("user-other")]
    );
    // A live account's job does ask (and fails here, to be retried).
    let live = worker.process_message(Some(&job("user-here"))).await;
    assert!(matches!(live, Err(SyncError::Keycloak(_))), "{live:?}");
}
