//! The sync to Keycloak end to end: API changes go through the table's stream and the sync
//! queue (`infra/stream_relay.py`, `infra/sync_relay.py`: the local event source mappings) to
//! `sync-worker`, which writes the six billing attributes to the real Keycloak and the emails to
//! the local outbox; what Keycloak refuses for good is recorded as a permanent sync failure.

use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use stripe_flows::StripeEmulator;
use support::{outbox_until, Keycloak, Stack, REALM};
use tierflow::adapters::dynamodb::DynamoStore;
use tierflow::domain::catalog::BUILT_IN_CATALOG;
use tierflow::domain::{Catalog, UserId};
use tierflow::ports::{BillingStore, SyncFailure, SyncJob};
use tierflow::stripe::Form;
use tierflow::sync::keycloak::SUBSCRIPTION_ATTRIBUTES;
use tierflow::sync::worker::Worker;
use tierflow_e2e::{stripe_flows, support};

/// The emulator's clock is global: the tests that move it or subscribe take turns (under
/// nextest, where each test is a process, the e2e profile's test group runs this file's tests
/// one at a time).
static EMULATOR: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Polls the Keycloak user until `done` holds for their attributes (the sync is asynchronous).
async fn keycloak_until(
    kc: &Keycloak,
    realm: &str,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        let (status, user) = kc.user(realm, id).await;
        assert_eq!(status, 200, "{user}");
        if done(&user["attributes"]) {
            return user;
        }
        last = user;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("Keycloak never showed {what}; last {last}");
}

fn attribute<'a>(user: &'a Value, name: &str) -> Option<&'a str> {
    user["attributes"][name][0].as_str()
}

/// Checks out `tier` through the API and pays in the emulator's Checkout page.
async fn check_out(stack: &Stack, stripe: &StripeEmulator, token: &str, tier: &str) {
    let session = stack
        .checkout(token, json!({"tier": tier, "billing_cycle": "monthly"}))
        .await;
    let done = stripe
        .post(
            &format!("/_emulator/checkout/sessions/{session}/complete"),
            Form::new().field("payment_method", "pm_card_visa"),
        )
        .await;
    assert_eq!(done["status"], "complete", "{done}");
}

async fn upgrade(stack: &Stack, token: &str, tier: &str) {
    let (status, preview) = stack
        .call(
            "GET",
            &format!("/api/v1/subscriptions/preview-change?target_tier={tier}"),
            token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{preview}");
    let (status, body) = stack
        .call(
            "POST",
            "/api/v1/subscriptions/upgrade",
            token,
            Some(json!({"target_tier": tier, "proration_date": preview["proration_date"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// The permanent sync failures recorded for `user`.
async fn failures_for(store: &DynamoStore, user: &str) -> Vec<SyncFailure> {
    store
        .sync_failures(1000)
        .await
        .expect("sync failures")
        .into_iter()
        .filter(|f| f.job.user_id.as_str() == user)
        .collect()
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn checkout_upgrade_cancellation_and_period_end_each_reach_keycloak_and_the_outbox() {
    let _turn = EMULATOR.lock().await;
    let (stack, stripe) = (Stack::from_env(), StripeEmulator::from_env());
    let kc = &stack.keycloak;
    let (user, token) = stack.user("e2e-kc-sync").await;
    let (_, before) = kc.user(REALM, &user).await;
    let email = before["email"].as_str().expect("email").to_owned();

    check_out(&stack, &stripe, &token, "starter").await;
    let starter = keycloak_until(kc, REALM, &user, "the starter tier", |a| {
        a["subscription_tier"] == json!(["starter"])
            && SUBSCRIPTION_ATTRIBUTES.iter().all(|n| a[n].is_array())
    })
    .await;
    assert_eq!(attribute(&starter, "subscription_status"), Some("active"));
    assert!(attribute(&starter, "stripe_customer_id").is_some_and(|c| c.starts_with("cus_")));
    assert!(attribute(&starter, "stripe_subscription_id").is_some_and(|s| s.starts_with("sub_")));
    let (_, current) = stack
        .get("/api/v1/subscriptions/current", Some(&token))
        .await;
    assert_eq!(
        attribute(&starter, "subscription_end_date"),
        current["current_period_end"].as_str(),
        "{current}"
    );
    // The write kept what Tierflow does not own.
    for field in ["firstName", "lastName", "email", "username"] {
        assert_eq!(starter[field], before[field], "{field}");
    }
    outbox_until(&email, "subscription_confirmed").await;
    outbox_until(&email, "payment_receipt").await;

    upgrade(&stack, &token, "professional").await;
    keycloak_until(kc, REALM, &user, "the upgrade", |a| {
        a["subscription_tier"] == json!(["professional"])
    })
    .await;

    let (status, canceled) = stack
        .call(
            "POST",
            "/api/v1/subscriptions/cancel",
            &token,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{canceled}");
    outbox_until(&email, "cancellation_scheduled").await;
    // Until the period ends the user keeps the tier they paid for.
    let (_, kept) = kc.user(REALM, &user).await;
    assert_eq!(attribute(&kept, "subscription_tier"), Some("professional"));
    assert_eq!(attribute(&kept, "subscription_status"), Some("active"));

    stripe.advance_clock(32 * 86_400).await;
    let ended = keycloak_until(kc, REALM, &user, "the end of the period", |a| {
        a["subscription_tier"] == json!(["free"]) && a["subscription_status"] != json!(["active"])
    })
    .await;
    let (_, current) = stack
        .get("/api/v1/subscriptions/current", Some(&token))
        .await;
    assert_eq!(
        attribute(&ended, "subscription_status"),
        current["status"].as_str(),
        "{current}"
    );
    assert!(
        attribute(&ended, "stripe_subscription_id").is_none(),
        "{ended}"
    );
    assert_eq!(ended["firstName"], before["firstName"]);
    outbox_until(&email, "subscription_canceled").await;
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn a_deleted_keycloak_user_is_a_recorded_permanent_failure_not_a_dead_letter() {
    let _turn = EMULATOR.lock().await;
    let (stack, stripe) = (Stack::from_env(), StripeEmulator::from_env());
    let kc = &stack.keycloak;
    let (user, token) = stack.user("e2e-kc-gone").await;
    check_out(&stack, &stripe, &token, "starter").await;
    keycloak_until(kc, REALM, &user, "the starter tier", |a| {
        a["subscription_tier"] == json!(["starter"])
    })
    .await;

    let (status, body) = kc
        .admin(
            reqwest::Method::DELETE,
            &format!("{REALM}/users/{user}"),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    // The token outlives the user: the API still serves them and the change is synced.
    upgrade(&stack, &token, "professional").await;

    let store = support::table_store().await;
    let mut recorded = Vec::new();
    for _ in 0..300 {
        recorded = failures_for(&store, &user).await;
        if !recorded.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(recorded.len(), 1, "one recorded failure: {recorded:?}");
    assert!(
        recorded[0].reason.contains("no Keycloak user"),
        "{}",
        recorded[0].reason
    );

    // Acknowledged, not retried: nothing about the user waits in the dead-letter queue.
    assert!(!support::dead_lettered(&user).await);
}

/// A worker like the deployed one, syncing to `realm` with the test stack's sync client.
fn worker_for(realm: &str, store: DynamoStore) -> Worker {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("{name}: run through infra/test.sh"))
    };
    let env: std::collections::HashMap<String, String> = [
        ("KEYCLOAK_BASE_URL", var("KEYCLOAK_URL")),
        ("KEYCLOAK_REALM", realm.to_owned()),
        ("KEYCLOAK_CLIENT_ID", "tierflow-sync".to_owned()),
        ("KEYCLOAK_CLIENT_SECRET", var("KEYCLOAK_SYNC_SECRET")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Worker::with_integrations(
        Arc::new(store),
        &env,
        Catalog::parse(BUILT_IN_CATALOG).expect("catalog"),
        Arc::new(tierflow::time::SystemClock),
        |_| unreachable!("no email configured"),
    )
    .expect("worker")
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn a_realm_that_does_not_declare_the_attributes_fails_permanently_naming_the_setting() {
    let stack = Stack::from_env();
    let kc = &stack.keycloak;
    let realm = "tierflow-undeclared";
    let username = support::unique_user("e2e-undeclared").to_lowercase();
    kc.create_user(
        realm,
        &username,
        &format!("{username}@example.com"),
        json!({}),
    )
    .await;
    let id = kc.user_id(realm, &username).await;
    let worker = worker_for(realm, support::table_store().await);
    let job = SyncJob::state(UserId::parse(&id).expect("id"), "e2e-undeclared");
    let body = serde_json::to_string(&job).expect("job");

    // Acknowledged (Ok: SQS deletes it, no retry, no dead letter) and recorded.
    worker
        .settle_message(Some(&body))
        .await
        .expect("acknowledged");
    let recorded = failures_for(&support::table_store().await, &id).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let reason = &recorded[0].reason;
    assert!(reason.contains("did not store"), "{reason}");
    assert!(reason.contains("subscription_tier"), "{reason}");
    assert!(
        reason.contains("user profile") && reason.contains("unmanagedAttributePolicy"),
        "{reason}"
    );
    let (_, user) = kc.user(realm, &id).await;
    assert!(user["attributes"]["subscription_tier"].is_null(), "{user}");
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn a_user_with_a_read_only_attribute_is_updated_and_keeps_everything_else() {
    let stack = Stack::from_env();
    let kc = &stack.keycloak;
    let realm = "tierflow-readonly";
    // Imported with the realm: `employee_number` is read-only, as a directory's would be.
    let id = kc.user_id(realm, "dave").await;
    let (_, before) = kc.user(realm, &id).await;
    assert_eq!(attribute(&before, "employee_number"), Some("E-1001"));

    let worker = worker_for(realm, support::table_store().await);
    let job = SyncJob::state(UserId::parse(&id).expect("id"), "e2e-readonly");
    let report = worker.sync(&job).await.expect("synced");
    assert!(report.keycloak);

    let (_, after) = kc.user(realm, &id).await;
    assert_eq!(attribute(&after, "subscription_tier"), Some("free"));
    assert_eq!(attribute(&after, "subscription_status"), Some("none"));
    assert_eq!(attribute(&after, "employee_number"), Some("E-1001"));
    assert_eq!(attribute(&after, "department"), Some("sales"));
    for field in [
        "firstName",
        "lastName",
        "email",
        "username",
        "emailVerified",
    ] {
        assert_eq!(after[field], before[field], "{field}");
    }
}
