//! The Lago sync end to end against the Lago emulator (with the Stripe emulator behind it, and
//! its webhooks delivered to Tierflow's Lago webhook receiver): what Lago holds after each
//! change, and how many sync jobs a change costs.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use crate::support::tier;
use crate::sync_support::{LagoEmulator, LagoOptions, StripeSide, LAGO_API_KEY};
use aws_lambda_events::event::sqs::SqsEvent;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tierflow::adapters::memory::{MemoryQueue, MemoryStore};
use tierflow::domain::catalog::BUILT_IN_CATALOG;
use tierflow::domain::{BillingProfile, Catalog, PendingChange, SubscriptionStatus, Tier, UserId};
use tierflow::ports::{BillingStore, Commit, ProfileWrite, SyncJob};
use tierflow::sync::lago::{LagoClient, LagoConfig};
use tierflow::sync::lago_webhook::signature::{LagoSignatureVerifier, LagoWebhookConfig};
use tierflow::sync::lago_webhook::{LagoDelivery, LagoWebhookReceiver};
use tierflow::sync::worker::{handle_batch, EmailSettings, Worker, DEFAULT_JOB_TIMEOUT};
use tierflow::time::FixedClock;

const NOW: i64 = 1_793_000_000; // 2026-10-26
const PERIOD_START: i64 = 1_792_713_600; // 2026-10-23
const PERIOD_END: i64 = 1_795_392_000; // 2026-11-23

/// One webhook delivery as the receiver got it, and what it answered.
#[derive(Debug, Clone)]
struct Delivery {
    headers: HashMap<String, String>,
    body: Vec<u8>,
    status: u16,
}

/// What the receiver got, in order.
type Deliveries = Arc<Mutex<Vec<Delivery>>>;

/// Tierflow's side: the profile store, the worker, and the Lago webhook receiver (on a local
/// URL the emulator delivers to), whose reconciliation jobs land in `reconciliations`.
struct Stack {
    stripe: StripeSide,
    lago: LagoEmulator,
    store: Arc<MemoryStore>,
    worker: Arc<Worker>,
    reconciliations: Arc<MemoryQueue>,
    deliveries: Deliveries,
    clock: Arc<FixedClock>,
}

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn receive(
    State((receiver, deliveries)): State<(Arc<LagoWebhookReceiver>, Deliveries)>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let status = match receiver
        .receive(LagoDelivery {
            signature: header("x-lago-signature"),
            algorithm: header("x-lago-signature-algorithm"),
            unique_key: header("x-lago-unique-key"),
            body: &body,
        })
        .await
    {
        Ok(_) => StatusCode::OK,
        Err(e) => e.status,
    };
    deliveries.lock().unwrap().push(Delivery {
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: body.to_vec(),
        status: status.as_u16(),
    });
    status
}

/// Starts the stack with the webhook receiver configured from `LAGO_API_URL` = `api_url(emulator
/// URL)`, the way the lago-webhook function reads it.
async fn stack(api_url: impl Fn(&str) -> String) -> Stack {
    let stripe = StripeSide::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/lago", listener.local_addr().unwrap());
    let lago = LagoEmulator::start(LagoOptions {
        stripe_api_base: Some(stripe.url()),
        webhook_url: Some(hook_url),
        webhook_signature: Some("jwt"),
        ..Default::default()
    })
    .await;
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(FixedClock::at(NOW));
    let catalog = Catalog::parse(BUILT_IN_CATALOG).unwrap();
    let source = env(&[
        ("LAGO_API_URL", &api_url(&lago.url)),
        ("LAGO_API_KEY", LAGO_API_KEY),
    ]);
    let client = || {
        LagoConfig::load(&source)
            .unwrap()
            .map(LagoClient::new)
            .unwrap()
            .unwrap()
    };
    let reconciliations = Arc::new(MemoryQueue::new());
    let receiver = Arc::new(LagoWebhookReceiver {
        verifier: LagoSignatureVerifier::new(
            LagoWebhookConfig::load(&source).unwrap(),
            Some(client()),
            clock.clone(),
        )
        .unwrap(),
        store: store.clone(),
        queue: reconciliations.clone(),
        clock: clock.clone(),
        catalog: catalog.clone(),
    });
    let deliveries = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route("/lago", axum::routing::post(receive))
        .with_state((receiver, deliveries.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let worker = Arc::new(Worker {
        store: store.clone(),
        stripe: None,
        keycloak: None,
        lago: Some(client()),
        mailer: None,
        email: EmailSettings {
            product_name: "Acme".into(),
            billing_url: None,
        },
        catalog,
        clock: clock.clone(),
        job_timeout: DEFAULT_JOB_TIMEOUT,
    });
    Stack {
        stripe,
        lago,
        store,
        worker,
        reconciliations,
        deliveries,
        clock,
    }
}

impl Stack {
    async fn save(&self, profile: &BillingProfile) {
        let expected_version = self
            .store
            .profile(&profile.user_id)
            .await
            .unwrap()
            .map_or(0, |p| p.version);
        self.store
            .commit(Commit {
                profile: Some(ProfileWrite {
                    profile: profile.clone(),
                    expected_version,
                }),
                ..Default::default()
            })
            .await
            .unwrap();
    }

    /// Runs the one sync job a change enqueues through the worker's SQS handler, then lets
    /// Lago's webhooks arrive; returns the batch item failures.
    async fn run_job(&self, user: &UserId, cause: &str) -> usize {
        let job = SyncJob::state(user.clone(), cause);
        let event: SqsEvent = serde_json::from_value(json!({"Records": [
            {"messageId": cause, "body": serde_json::to_string(&job).unwrap()}
        ]}))
        .unwrap();
        let failures = handle_batch(self.worker.clone(), event)
            .await
            .batch_item_failures
            .len();
        self.lago.webhooks().await;
        failures
    }

    /// `(plan_code, status, next_plan_code)` of every Lago subscription of the user.
    async fn lago_state(&self, user: &str) -> Vec<(String, String, Option<String>)> {
        let text = |v: &Value| v.as_str().map(str::to_owned);
        self.lago
            .subscriptions(user)
            .await
            .iter()
            .map(|s| {
                (
                    text(&s["plan_code"]).unwrap(),
                    text(&s["status"]).unwrap(),
                    text(&s["next_plan_code"]),
                )
            })
            .collect()
    }

    fn delivered(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }
}

fn state(plan: &str, status: &str, next: Option<&str>) -> (String, String, Option<String>) {
    (plan.into(), status.into(), next.map(str::to_owned))
}

async fn subscribed(s: &Stack, id: &str, tier: Tier) -> BillingProfile {
    let mut profile = BillingProfile::new_free(
        UserId::parse(id).unwrap(),
        &tierflow::domain::Catalog::built_in(),
    );
    profile.email = Some(format!("{id}@example.com"));
    profile.tier = tier;
    profile.status = SubscriptionStatus::Active;
    profile.customer_id = Some(s.stripe.create_customer(&format!("{id}@example.com")).await);
    profile.subscription_id = Some(format!("sub_{id}"));
    profile.current_period_start = Some(PERIOD_START);
    profile.current_period_end = Some(PERIOD_END);
    s.save(&profile).await;
    assert_eq!(s.run_job(&profile.user_id, "evt_subscribed").await, 0);
    profile
}

#[tokio::test]
async fn a_customer_deleted_in_stripe_ends_its_lago_subscription_and_the_job_succeeds() {
    let s = stack(str::to_owned).await;
    let mut profile = subscribed(&s, "user-gone", tier("starter")).await;
    let cus = profile.customer_id.clone().unwrap();
    let linked = s.lago.customer("user-gone").await.unwrap();
    assert_eq!(
        linked["billing_configuration"]["provider_customer_id"],
        json!(cus)
    );

    // Deleted in Stripe's dashboard; Tierflow's customer.deleted handling drops both.
    s.stripe.delete_customer(&cus).await;
    profile.clear_subscription(&tierflow::domain::Catalog::built_in());
    profile.customer_id = None;
    s.save(&profile).await;
    assert_eq!(s.run_job(&profile.user_id, "evt_customer_deleted").await, 0);

    assert!(s.store.sync_failures(10).await.unwrap().is_empty());
    assert_eq!(
        s.lago_state("user-gone").await,
        [state("tierflow_starter", "terminated", None)],
        "no usage accrues on a customer Stripe no longer has"
    );
    let customer = s.lago.customer("user-gone").await.unwrap();
    assert_eq!(
        customer["billing_configuration"]["provider_customer_id"],
        Value::Null
    );
    assert!(
        s.reconciliations.jobs().is_empty(),
        "the termination Tierflow asked for is not reconciled"
    );
    // A later job (a redrive, a duplicate) is a no-op that still succeeds.
    assert_eq!(s.run_job(&profile.user_id, "evt_again").await, 0);
    assert!(s.store.sync_failures(10).await.unwrap().is_empty());
}

/// Tierflow's choice (infra/SYNCS.md): an upgrade goes to Lago at once (Lago terminates the old
/// subscription and bills its usage so far at the old plan's rates); a downgrade goes to Lago
/// only when Stripe applies it at the period's end, so Lago bills the whole period at the old
/// rates and no mid-period invoice cuts it. Either way one sync job per change: the
/// `subscription.terminated` Lago sends for Tierflow's own change enqueues nothing.
#[tokio::test]
async fn an_upgrade_and_a_downgrade_leave_lago_as_documented_with_one_job_each() {
    let s = stack(str::to_owned).await;
    let mut profile = subscribed(&s, "user-moves", tier("starter")).await;
    s.lago
        .usage("user-moves", "tierflow_starter", "call-1")
        .await;

    // Upgrade: at once, the starter usage billed, the anchor kept.
    profile.tier = tier("professional");
    s.save(&profile).await;
    assert_eq!(s.run_job(&profile.user_id, "evt_upgrade").await, 0);
    assert_eq!(
        s.lago_state("user-moves").await,
        [
            state(
                "tierflow_starter",
                "terminated",
                Some("tierflow_professional")
            ),
            state("tierflow_professional", "active", None),
        ]
    );
    let invoices = s.lago.invoices("user-moves").await;
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0]["fees"][0]["units"], "1");
    assert_eq!(invoices[0]["total_amount_cents"], 5);
    let active = s.lago.subscriptions("user-moves").await.pop().unwrap();
    assert_eq!(active["subscription_at"], "2026-10-23T00:00:00Z");
    assert!(s
        .delivered()
        .iter()
        .any(|d| String::from_utf8_lossy(&d.body).contains("subscription.terminated")));
    assert!(s.delivered().iter().all(|d| d.status == 200));
    assert!(
        s.reconciliations.jobs().is_empty(),
        "one job for the upgrade"
    );

    // Downgrade scheduled for the period's end: Lago keeps the professional plan meanwhile.
    profile.pending_change = Some(PendingChange {
        target_tier: tier("starter"),
        billing_cycle: None,
        effective_at: PERIOD_END,
        schedule_id: Some("sub_sched_1".into()),
        change_id: None,
        scheduled_at: Some(NOW),
    });
    s.save(&profile).await;
    assert_eq!(
        s.run_job(&profile.user_id, "evt_downgrade_scheduled").await,
        0
    );
    assert_eq!(s.lago_state("user-moves").await.len(), 2, "unchanged");
    assert_eq!(
        s.lago.invoices("user-moves").await.len(),
        1,
        "no mid-period invoice"
    );

    // Applied at the period's end: then Lago moves to starter.
    s.clock.set(PERIOD_END + 60);
    profile.pending_change = None;
    profile.tier = tier("starter");
    profile.current_period_start = Some(PERIOD_END);
    profile.current_period_end = Some(PERIOD_END + 30 * 86_400);
    s.save(&profile).await;
    assert_eq!(
        s.run_job(&profile.user_id, "evt_downgrade_applied").await,
        0
    );
    assert_eq!(
        s.lago_state("user-moves").await,
        [
            state(
                "tierflow_starter",
                "terminated",
                Some("tierflow_professional")
            ),
            state(
                "tierflow_professional",
                "terminated",
                Some("tierflow_starter")
            ),
            state("tierflow_starter", "active", None),
        ]
    );
    assert!(
        s.reconciliations.jobs().is_empty(),
        "one job for the downgrade"
    );
    assert!(s.store.sync_failures(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn jwt_webhooks_verify_when_lago_api_url_ends_in_api_v1() {
    let s = stack(|url| format!("{url}/api/v1/")).await;
    subscribed(&s, "user-jwt", tier("starter")).await;
    let delivered = s.delivered();
    assert!(!delivered.is_empty());
    for d in &delivered {
        assert_eq!(d.headers["x-lago-signature-algorithm"], "jwt");
        assert_eq!(d.status, 200, "{}", String::from_utf8_lossy(&d.body));
    }
    assert!(!s.store.lago_webhooks().is_empty());
}

#[tokio::test]
async fn a_public_key_with_line_breaks_verifies_however_it_was_copied() {
    let s = stack(str::to_owned).await;
    subscribed(&s, "user-key", tier("starter")).await;
    let delivery = s.delivered().remove(0);
    let (_, body) = s.lago.get("/api/v1/webhooks/json_public_key").await;
    let served = body["webhook"]["public_key"].as_str().unwrap().to_owned();
    assert!(
        served.trim_end().contains('\n'),
        "served in lines, as Lago does"
    );
    let pem = tierflow::sync::lago::decode_public_key(&served).unwrap();
    for (shape, key) in [
        ("as served", served.clone()),
        ("copied out of the JSON answer", served.replace('\n', "\\n")),
        ("PEM on one line", pem.replace('\n', " ")),
        ("PEM with literal \\n", pem.replace('\n', "\\n")),
    ] {
        let verifier = LagoSignatureVerifier::new(
            LagoWebhookConfig::load(&env(&[
                ("LAGO_WEBHOOK_ISSUER", &s.lago.url),
                ("LAGO_WEBHOOK_PUBLIC_KEY", &key),
            ]))
            .unwrap(),
            None,
            Arc::new(FixedClock::at(NOW)),
        )
        .unwrap_or_else(|e| panic!("{shape}: {e}"));
        verifier
            .verify(
                Some("jwt"),
                Some(&delivery.headers["x-lago-signature"]),
                &delivery.body,
            )
            .await
            .unwrap_or_else(|e| panic!("{shape}: {e}"));
    }
}

#[tokio::test]
async fn jwt_chosen_with_a_key_that_cannot_read_the_public_key_fails_at_start() {
    let lago = LagoEmulator::start(LagoOptions::default()).await;
    let source = env(&[
        ("LAGO_API_URL", &lago.url),
        (
            "LAGO_API_KEY",
            crate::sync_support::LAGO_KEY_WITHOUT_PUBLIC_KEY,
        ),
        ("LAGO_WEBHOOK_SIGNATURE", "jwt"),
    ]);
    let verifier = LagoSignatureVerifier::new(
        LagoWebhookConfig::load(&source).unwrap(),
        LagoConfig::load(&source)
            .unwrap()
            .map(LagoClient::new)
            .transpose()
            .unwrap(),
        Arc::new(FixedClock::at(NOW)),
    )
    .unwrap();
    let err = verifier.check_jwt_key().await.unwrap_err().to_string();
    assert!(
        err.contains("403") && err.contains("webhook_jwt_public_key"),
        "{err}"
    );

    let readable = env(&[("LAGO_API_URL", &lago.url), ("LAGO_API_KEY", LAGO_API_KEY)]);
    let verifier = LagoSignatureVerifier::new(
        LagoWebhookConfig::load(&readable).unwrap(),
        LagoConfig::load(&readable)
            .unwrap()
            .map(LagoClient::new)
            .transpose()
            .unwrap(),
        Arc::new(FixedClock::at(NOW)),
    )
    .unwrap();
    verifier.check_jwt_key().await.unwrap();
}
