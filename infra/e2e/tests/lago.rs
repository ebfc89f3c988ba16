//! Lago end to end: a subscription made through the Stripe emulator, its sync job run by
//! `sync-worker` under `cargo lambda watch` against the Lago emulator (`infra/lago-emulator`),
//! whose hmac-signed webhooks `lago-webhook` verifies and records.

use serde_json::{json, Value};
use std::time::Duration;
use stripe_flows::StripeEmulator;
use support::Stack;
use tierflow_e2e::{stripe_flows, support};

/// The Lago emulator the stack's functions talk to.
struct Lago {
    url: String,
    key: String,
    http: reqwest::Client,
}

impl Lago {
    fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k}: run infra/test.sh"));
        Self {
            url: var("LAGO_API_URL"),
            key: var("LAGO_API_KEY"),
            http: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("the Lago emulator");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

/// Runs `sync-worker` on one Lago job for `user`, as the SQS event source mapping would.
async fn sync_lago(stack: &Stack, user: &str) {
    let job = json!({"user_id": user, "targets": ["lago"], "cause": format!("e2e-{user}")});
    let event = json!({"Records": [{"messageId": format!("m-{user}"), "body": job.to_string()}]});
    let resp = stack
        .http
        .post(stack.url("/2015-03-31/functions/sync-worker/invocations"))
        .json(&event)
        .send()
        .await
        .expect("invoke sync-worker");
    assert!(resp.status().is_success(), "{}", resp.status());
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["batchItemFailures"], json!([]), "{body}");
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn a_subscription_reaches_lago_linked_anchored_and_its_webhooks_are_recorded() {
    let (stack, stripe, lago) = (
        Stack::from_env(),
        StripeEmulator::from_env(),
        Lago::from_env(),
    );
    let (user, token) = stack.user("e2e-lago").await;
    let subscribed = stripe
        .subscribe(&user, "tierflow_professional_monthly")
        .await;
    let mut current = Value::Null;
    for _ in 0..600 {
        let (_, body) = stack
            .get("/api/v1/subscriptions/current", Some(&token))
            .await;
        if body["tier"] == "professional" {
            current = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(current["tier"], "professional", "the webhook applied");

    sync_lago(&stack, &user).await;
    let (status, customer) = lago.get(&format!("/api/v1/customers/{user}")).await;
    assert_eq!(status, 200, "{customer}");
    assert_eq!(
        customer["customer"]["billing_configuration"]["provider_customer_id"],
        json!(subscribed.customer)
    );
    let (status, sub) = lago.get(&format!("/api/v1/subscriptions/{user}")).await;
    assert_eq!(status, 200, "{sub}");
    let sub = &sub["subscription"];
    assert_eq!(
        (&sub["plan_code"], &sub["status"], &sub["billing_time"]),
        (
            &json!("tierflow_professional"),
            &json!("active"),
            &json!("anniversary")
        )
    );
    assert!(sub["subscription_at"].is_string(), "anchored: {sub}");

    // A second run (a duplicate job) changes nothing in Lago.
    sync_lago(&stack, &user).await;
    let (_, again) = lago.get(&format!("/api/v1/subscriptions/{user}")).await;
    assert_eq!(again["subscription"]["lago_id"], sub["lago_id"]);

    // Lago's webhooks about this user reached lago-webhook and were accepted.
    let mut mine = Vec::new();
    for _ in 0..100 {
        let (_, hooks) = lago.get("/_emulator/webhooks?wait_idle=1").await;
        mine = hooks["webhooks"]
            .as_array()
            .expect("webhooks")
            .iter()
            .filter(|h| h["payload"].to_string().contains(&user))
            .cloned()
            .collect();
        if mine
            .iter()
            .any(|h| h["webhook_type"] == "subscription.started")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        mine.iter()
            .any(|h| h["webhook_type"] == "subscription.started"),
        "{mine:?}"
    );
    for hook in &mine {
        assert_eq!(hook["status"], 200, "{hook}");
    }
}
