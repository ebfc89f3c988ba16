use super::*;
use crate::adapters::memory::MemoryStore;
use crate::domain::catalog::BUILT_IN_CATALOG;
use crate::domain::UserId;
use crate::time::FixedClock;

fn env(pairs: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn no_ses(_: &EmailConfig) -> Arc<dyn Mailer> {
    unreachable!("these tests configure no SES")
}

#[test]
fn unconfigured_integrations_are_announced_once_as_disabled() {
    let worker = Worker::with_integrations(
        Arc::new(MemoryStore::new()),
        &env(&[]),
        Catalog::parse(BUILT_IN_CATALOG).unwrap(),
        Arc::new(FixedClock::at(0)),
        no_ses,
    )
    .unwrap();
    let report = worker.startup_report();
    assert_eq!(report.len(), 4);
    assert!(report.iter().all(|l| l.contains("disabled")), "{report:?}");
    assert!(report[0].contains("STRIPE_SECRET_KEY"));
    assert!(report[1].contains("KEYCLOAK_BASE_URL"));
}

#[test]
fn configured_integrations_are_announced_with_where_they_point() {
    let worker = Worker::with_integrations(
        Arc::new(MemoryStore::new()),
        &env(&[
            ("KEYCLOAK_BASE_URL", "https://kc.example.com"),
            ("KEYCLOAK_REALM", "app"),
            ("KEYCLOAK_CLIENT_ID", "tierflow"),
            ("KEYCLOAK_CLIENT_SECRET", "secret-value"),
            ("LAGO_API_URL", "https://lago.example.com"),
            ("LAGO_API_KEY", "lago-key"),
            ("EMAIL_FROM", "billing@example.com"),
            ("EMAIL_OUTBOX_DIR", "/tmp/tierflow-outbox"),
            ("STRIPE_SECRET_KEY", "sk_test_worker"),
        ]),
        Catalog::parse(BUILT_IN_CATALOG).unwrap(),
        Arc::new(FixedClock::at(0)),
        no_ses,
    )
    .unwrap();
    let report = worker.startup_report().join("\n");
    assert!(report.contains("Keycloak sync enabled: realm app at https://kc.example.com"));
    assert!(report.contains("Lago sync enabled: https://lago.example.com"));
    assert!(report.contains("email enabled: local outbox in /tmp/tierflow-outbox"));
    assert!(report.contains("Stripe changes enabled"));
    assert!(
        !report.contains("secret-value")
            && !report.contains("lago-key")
            && !report.contains("sk_test_worker")
    );
}

#[tokio::test]
async fn malformed_messages_fail_and_are_reported() {
    let worker = Arc::new(
        Worker::with_integrations(
            Arc::new(MemoryStore::new()),
            &env(&[]),
            Catalog::parse(BUILT_IN_CATALOG).unwrap(),
            Arc::new(FixedClock::at(0)),
            no_ses,
        )
        .unwrap(),
    );
    let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
        {"messageId": "m-bad", "body": "{\"not\": \"a job\"}"},
        {"messageId": "m-ok", "body": "{\"user_id\": \"u1\", \"targets\": [\"keycloak\"], \"cause\": \"evt_1\"}"}
    ]}))
    .unwrap();
    let response = handle_batch(worker, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m-bad"]);
}

#[tokio::test]
async fn permanent_failures_are_recorded_and_acknowledged_transient_ones_retried() {
    let store = Arc::new(MemoryStore::new());
    let outbox = std::env::temp_dir().join(format!("tierflow-worker-{}", std::process::id()));
    let outbox = outbox.to_string_lossy().into_owned();
    let worker = Arc::new(
        Worker::with_integrations(
            store.clone(),
            &env(&[
                ("EMAIL_FROM", "billing@example.com"),
                ("EMAIL_OUTBOX_DIR", &outbox),
            ]),
            Catalog::parse(BUILT_IN_CATALOG).unwrap(),
            Arc::new(FixedClock::at(1_800_000_000)),
            no_ses,
        )
        .unwrap(),
    );
    let unknown_template = SyncJob::state(UserId::parse("u1").unwrap(), "evt_1")
        .with_email("no_such_template", serde_json::Map::new());
    let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
        {"messageId": "m-permanent", "body": serde_json::to_string(&unknown_template).unwrap()},
    ]}))
    .unwrap();

    let response = handle_batch(worker.clone(), event.clone()).await;
    assert!(response.batch_item_failures.is_empty());
    let failures = store.sync_failures(10).await.unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].job, unknown_template);
    assert_eq!(failures[0].failed_at, 1_800_000_000);
    assert!(failures[0].reason.contains("no_such_template"));

    // When the failure cannot be recorded, SQS keeps the message: nothing is lost.
    store.set_unavailable(true);
    let response = handle_batch(worker, event).await;
    assert_eq!(response.batch_item_failures.len(), 1);
}

#[test]
fn only_refusals_no_retry_can_change_are_permanent() {
    let status = |status| KeycloakError::Status {
        operation: "update user",
        status,
        detail: String::new(),
    };
    for (error, permanent) in [
        (SyncError::Keycloak(status(400)), true),
        (SyncError::Keycloak(status(403)), true),
        (SyncError::Keycloak(status(404)), true),
        (SyncError::Keycloak(status(401)), false),
        (SyncError::Keycloak(status(409)), false),
        (SyncError::Keycloak(status(429)), false),
        (SyncError::Keycloak(status(503)), false),
        (
            SyncError::Keycloak(KeycloakError::UserNotFound {
                user_id: "u1".into(),
            }),
            true,
        ),
        (
            SyncError::Lago(LagoError::Status {
                operation: "upsert customer",
                status: 422,
                code: Some("third_party_error".into()),
                detail: String::new(),
            }),
            true,
        ),
        (
            SyncError::Lago(LagoError::Unreachable {
                operation: "upsert customer",
                detail: String::new(),
            }),
            false,
        ),
        (SyncError::NoRecipient("u1".into()), true),
        (SyncError::Timeout(Duration::from_secs(1)), false),
        (SyncError::Malformed("x".into()), false),
        (
            SyncError::Several(vec![
                SyncError::NoRecipient("u1".into()),
                SyncError::Timeout(Duration::from_secs(1)),
            ]),
            false,
        ),
    ] {
        assert_eq!(error.is_permanent(), permanent, "{error}");
    }
}
