//! The webhook pipeline end to end: the Stripe emulator signs and delivers events to
//! `stripe-webhook` under `cargo lambda watch`, which applies them to the AWS emulator; the API
//! then answers from DynamoDB, and the table's stream carries each outbox to `outbox-relay`
//! (invoked by `infra/stream_relay.py`, the local event source mapping) and on to SQS, which
//! `infra/sync_relay.py` feeds to `sync-worker`.

use serde_json::Value;
use std::time::Duration;
use stripe_flows::StripeEmulator;
use support::Stack;
use tierflow::stripe::Form;
use tierflow_e2e::{stripe_flows, support};

/// The emulator's clock is global: tests that advance it, or that drop deliveries, take turns
/// (under nextest, where each test is a process, the e2e profile's test group runs this file's
/// tests one at a time).
static EMULATOR: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn a_completed_checkout_makes_the_user_professional() {
    let _turn = EMULATOR.lock().await;
    let (stack, stripe) = (Stack::from_env(), StripeEmulator::from_env());
    let (user, token) = stack.user("e2e-pro").await;
    stripe
        .subscribe(&user, "tierflow_professional_monthly")
        .await;
    let body = stack
        .current_until(&token, "professional", |b| b["tier"] == "professional")
        .await;
    assert_eq!(body["status"], "active");
    assert_eq!(body["access"], "active");
    assert_eq!(body["billing_cycle"], "monthly");
    assert_eq!(body["entitlements"]["seats"], 25);
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn a_tier_change_reaches_keycloak_through_the_stream_the_sync_queue_and_the_worker() {
    let (stack, stripe) = (Stack::from_env(), StripeEmulator::from_env());
    let (user, token) = stack.user("e2e-relay").await;
    stripe.subscribe(&user, "tierflow_starter_monthly").await;
    stack
        .current_until(&token, "starter", |b| b["tier"] == "starter")
        .await;
    let mut last = Value::Null;
    for _ in 0..300 {
        let (status, kc_user) = stack.keycloak.user(support::REALM, &user).await;
        assert_eq!(status, 200, "{kc_user}");
        if kc_user["attributes"]["subscription_tier"][0] == "starter" {
            return;
        }
        last = kc_user;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("the starter tier never reached Keycloak; last {last}");
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn a_failed_renewal_gives_grace_then_revokes_when_stripe_stops_retrying() {
    let _turn = EMULATOR.lock().await;
    let (stack, stripe) = (Stack::from_env(), StripeEmulator::from_env());
    let (user, token) = stack.user("e2e-dunning").await;
    let sub = stripe.subscribe(&user, "tierflow_starter_monthly").await;
    stack
        .current_until(&token, "starter", |b| b["tier"] == "starter")
        .await;

    stripe.use_failing_card(&sub).await;
    stripe.advance_clock(32 * 86_400).await;
    let grace = stack
        .current_until(&token, "grace", |b| b["access"] == "grace")
        .await;
    assert_eq!(grace["status"], "past_due");
    assert_eq!(grace["tier"], "starter");
    assert_eq!(grace["effective_tier"], "starter");
    assert!(grace["grace_until"].is_string());

    // Past Stripe's last retry the subscription is unpaid: access is revoked.
    stripe.advance_clock(10 * 86_400).await;
    let revoked = stack
        .current_until(&token, "revocation", |b| b["access"] == "revoked")
        .await;
    assert_eq!(revoked["effective_tier"], "free");
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn a_dispute_revokes_access_at_once() {
    let _turn = EMULATOR.lock().await;
    let (stack, stripe) = (Stack::from_env(), StripeEmulator::from_env());
    let (user, token) = stack.user("e2e-dispute").await;
    let sub = stripe.subscribe(&user, "tierflow_enterprise_yearly").await;
    stack
        .current_until(&token, "enterprise", |b| b["tier"] == "enterprise")
        .await;

    // Basil's invoices name no charge: the customer's only charge paid the first invoice.
    let charges = stripe
        .get(&format!("/v1/charges?customer={}", sub.customer))
        .await;
    let charge = charges["data"][0]["id"]
        .as_str()
        .expect("the paid invoice's charge")
        .to_owned();
    stripe
        .post(
            &format!("/_emulator/charges/{charge}/dispute"),
            Form::new().field("reason", "fraudulent"),
        )
        .await;
    let body = stack
        .current_until(&token, "revocation", |b| b["access"] == "revoked")
        .await;
    assert_eq!(body["tier"], "free");
    assert_eq!(body["effective_tier"], "free");
    assert_eq!(body["entitlements"]["projects"], 1);
}

/// With 30% of deliveries dropped, one run of `reconcile-stripe` brings every user to exactly
/// the state full delivery would have produced.
#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn reconciliation_recovers_dropped_deliveries() {
    let _turn = EMULATOR.lock().await;
    let (stack, stripe) = (Stack::from_env(), StripeEmulator::from_env());
    stripe.drop_deliveries(0.3).await;
    let plans = [
        ("tierflow_trial_monthly", "trial"),
        ("tierflow_starter_monthly", "starter"),
        ("tierflow_starter_yearly", "starter"),
        ("tierflow_professional_monthly", "professional"),
        ("tierflow_professional_yearly", "professional"),
        ("tierflow_enterprise_monthly", "enterprise"),
        ("tierflow_enterprise_yearly", "enterprise"),
        ("tierflow_professional_monthly", "professional"),
    ];
    let mut users = Vec::new();
    for (i, (key, tier)) in plans.iter().enumerate() {
        let (user, token) = stack.user(&format!("e2e-drop{i}")).await;
        let sub = stripe.subscribe(&user, key).await;
        // Half of them also schedule a cancellation, so an `updated` event matters too.
        let cancels = i % 2 == 0;
        if cancels {
            stripe
                .post(
                    &format!("/v1/subscriptions/{}", sub.subscription),
                    Form::new().field("cancel_at_period_end", "true"),
                )
                .await;
        }
        users.push((user, token, *tier, cancels));
    }
    // Let every delivery that was not dropped land, then stop dropping.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stripe.drop_deliveries(0.0).await;
    let deliveries = stripe.get("/_emulator/webhooks/deliveries").await;
    let dropped = deliveries
        .as_array()
        .or_else(|| deliveries["data"].as_array())
        .map(|d| {
            d.iter()
                .filter(|x| x["dropped"] == true || x["delivered"] == false)
                .count()
        })
        .unwrap_or(0);
    assert!(dropped > 0, "the emulator dropped some deliveries");

    let report: Value = stack
        .http
        .post(stack.url("/2015-03-31/functions/reconcile-stripe/invocations"))
        .json(&serde_json::json!({"source": "aws.scheduler", "detail-type": "Scheduled Event"}))
        .send()
        .await
        .expect("invoke reconcile-stripe")
        .json()
        .await
        .expect("report");
    assert_eq!(report["failed"], 0, "{report}");

    for (user, token, tier, cancels) in users {
        let (status, body) = stack
            .get("/api/v1/subscriptions/current", Some(&token))
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["tier"], tier, "{user}: {body}");
        assert_eq!(body["status"], "active", "{user}: {body}");
        assert_eq!(body["cancel_at_period_end"], cancels, "{user}: {body}");
    }
}
