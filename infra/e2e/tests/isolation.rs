//! Isolation end to end: a caller only ever sees or changes their own billing. User A holds a
//! live subscription, a scheduled downgrade, two payments and a paged history; user B calls
//! every route carrying A's identifiers (history cursor, Checkout session, payment intent,
//! customer and subscription ids, A's user id in queries and bodies) and gets a 4xx or their
//! own empty billing, never A's data; A's billing is exactly as it was afterwards, in Tierflow
//! and in Stripe.

use serde_json::{json, Value};
use std::time::Duration;
use stripe_flows::{StripeEmulator, Subscribed};
use support::Stack;
use tierflow::stripe::Form;
use tierflow_e2e::{stripe_flows, support};

/// Calls the API with a raw JSON body (or none).
async fn call(
    stack: &Stack,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = stack
        .http
        .request(method, stack.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A refusal: the given 4xx with the error envelope and code.
fn refused(what: &str, (status, body): &(u16, Value), want_status: u16, want_code: &str) {
    assert_eq!(*status, want_status, "{what}: {body}");
    assert_eq!(body["error"]["code"], want_code, "{what}: {body}");
    assert!(body["error"]["message"].is_string(), "{what}: {body}");
}

/// Reads `path` until two reads a second apart agree (webhooks land asynchronously).
async fn settled(stack: &Stack, path: &str, token: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..30 {
        let (status, body) = stack.get(path, Some(token)).await;
        assert_eq!(status, 200, "{path}: {body}");
        if body == last {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("{path} never settled; last {last}");
}

async fn until(stack: &Stack, path: &str, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..150 {
        let (status, body) = stack.get(path, Some(token)).await;
        assert_eq!(status, 200, "{path}: {body}");
        if done(&body) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{path} never reached the expected state; last {last}");
}

/// User A: professional monthly through Checkout, a one-time payment, a downgrade scheduled.
struct Victim {
    sub: Subscribed,
    token: String,
    checkout_session: String,
    payment_intent: String,
    cursor: String,
}

async fn victim(stack: &Stack, stripe: &StripeEmulator) -> Victim {
    let (user, token) = stack.user("e2e-iso-a").await;
    let sub = stripe
        .subscribe(&user, "tierflow_professional_monthly")
        .await;
    let sessions = stripe
        .get(&format!(
            "/v1/checkout/sessions?subscription={}",
            sub.subscription
        ))
        .await;
    let checkout_session = sessions["data"][0]["id"]
        .as_str()
        .expect("A's checkout session")
        .to_owned();
    until(stack, "/api/v1/subscriptions/current", &token, |b| {
        b["tier"] == "professional"
    })
    .await;

    let (status, intent) = call(
        stack,
        "POST",
        "/api/v1/billing/payment-intent",
        &token,
        Some(json!({"amount": 2500, "currency": "usd", "description": "A's credits"})),
    )
    .await;
    assert_eq!(status, 200, "{intent}");
    let payment_intent = intent["payment_intent_id"].as_str().expect("pi").to_owned();
    stripe
        .post(
            &format!("/v1/payment_intents/{payment_intent}/confirm"),
            Form::new()
                .field("payment_method", "pm_card_visa")
                // Real Stripe refuses a server-side confirmation that could redirect without one.
                .field("return_url", "https://tierflow.example/billing/return"),
        )
        .await;
    until(stack, "/api/v1/billing/history", &token, |b| {
        // Both payments may carry the same second, so either may be listed first.
        b["transactions"].as_array().is_some_and(|all| {
            all.len() >= 2
                && all
                    .iter()
                    .any(|t| t["id"] == payment_intent.as_str() && t["status"] == "succeeded")
        })
    })
    .await;

    let (status, body) = call(
        stack,
        "POST",
        "/api/v1/subscriptions/downgrade",
        &token,
        Some(json!({"target_tier": "starter"})),
    )
    .await;
    assert_eq!(status, 200, "A's downgrade: {body}");
    until(stack, "/api/v1/subscriptions/current", &token, |b| {
        b["pending_change"]["target_tier"] == "starter"
    })
    .await;

    let (status, page) = stack
        .get("/api/v1/billing/history?limit=1", Some(&token))
        .await;
    assert_eq!(status, 200, "{page}");
    let cursor = page["next_cursor"]
        .as_str()
        .expect("A's history has a second page")
        .to_owned();
    Victim {
        sub,
        token,
        checkout_session,
        payment_intent,
        cursor,
    }
}

/// Everything of A's that B might read or change: Tierflow's view and Stripe's subscription.
async fn snapshot(stack: &Stack, stripe: &StripeEmulator, a: &Victim) -> Value {
    let current = settled(stack, "/api/v1/subscriptions/current", &a.token).await;
    let history = settled(stack, "/api/v1/billing/history?limit=100", &a.token).await;
    let (_, methods) = stack
        .get("/api/v1/billing/payment-methods", Some(&a.token))
        .await;
    let stripe_sub = stripe
        .get(&format!("/v1/subscriptions/{}", a.sub.subscription))
        .await;
    json!({
        "current": current,
        "history": history,
        "payment_methods": methods,
        "stripe": {
            "status": stripe_sub["status"],
            "cancel_at_period_end": stripe_sub["cancel_at_period_end"],
            "schedule": stripe_sub["schedule"],
            "price": stripe_sub["items"]["data"][0]["price"]["id"],
        },
    })
}

/// B's answer must not mention any of A's identifiers.
fn mentions_none_of(what: &str, body: &Value, a: &Victim) {
    let text = body.to_string();
    for id in [
        a.sub.user.as_str(),
        a.sub.customer.as_str(),
        a.sub.subscription.as_str(),
        a.checkout_session.as_str(),
        a.payment_intent.as_str(),
    ] {
        assert!(!text.contains(id), "{what} reveals A's {id}: {text}");
    }
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn another_user_can_neither_read_nor_change_a_users_billing_on_any_route() {
    let (stack, stripe) = (Stack::from_env(), StripeEmulator::from_env());
    let a = victim(&stack, &stripe).await;
    let before = snapshot(&stack, &stripe, &a).await;
    assert_eq!(before["current"]["tier"], "professional");

    let (user_b, b) = stack.user("e2e-iso-b").await;
    let q = |path: &str| format!("{path}?user_id={}", a.sub.user);

    // Reads: B's own (empty) billing, whatever A's ids ride along.
    let (status, body) = stack
        .get(&q("/api/v1/subscriptions/current"), Some(&b))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tier"], "free", "{body}");
    assert_eq!(body["status"], "none", "{body}");
    assert_eq!(body["pending_change"], Value::Null);
    mentions_none_of("current", &body, &a);

    let (status, body) = stack.get(&q("/api/v1/billing/history"), Some(&b)).await;
    assert_eq!((status, &body["transactions"]), (200, &json!([])), "{body}");
    let cursor_of_a = format!("/api/v1/billing/history?limit=1&cursor={}", a.cursor);
    let answer = stack.get(&cursor_of_a, Some(&b)).await;
    refused("A's history cursor", &answer, 400, "invalid_cursor");
    mentions_none_of("history with A's cursor", &answer.1, &a);

    let (status, body) = stack
        .get(&q("/api/v1/billing/payment-methods"), Some(&b))
        .await;
    assert_eq!(
        (status, body.clone()),
        (200, json!({"payment_methods": []}))
    );

    let answer = call(&stack, "POST", &q("/api/v1/billing/portal"), &b, None).await;
    refused("B's portal", &answer, 404, "no_billing_account");

    let (status, body) = stack
        .get(
            "/api/v1/subscriptions/preview-change?target_tier=enterprise",
            Some(&b),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["current_tier"], "free",
        "B previews from B's plan: {body}"
    );
    assert_eq!(body["change"], "new_subscription");
    mentions_none_of("preview", &body, &a);

    // Changes carrying A's identifiers.
    let confirm = format!(
        "/api/v1/subscriptions/confirm-upgrade?checkout_session_id={}",
        a.checkout_session
    );
    let answer = call(&stack, "POST", &confirm, &b, None).await;
    refused(
        "A's checkout session",
        &answer,
        404,
        "checkout_session_not_found",
    );
    mentions_none_of("confirm with A's session", &answer.1, &a);
    let with_pi = format!(
        "/api/v1/subscriptions/confirm-upgrade?checkout_session_id={}",
        a.payment_intent
    );
    let answer = call(&stack, "POST", &with_pi, &b, None).await;
    refused(
        "A's payment intent as a session",
        &answer,
        400,
        "invalid_checkout_session_id",
    );

    for (path, body) in [
        (
            "/api/v1/subscriptions/upgrade",
            json!({"target_tier": "enterprise", "subscription_id": a.sub.subscription}),
        ),
        (
            "/api/v1/subscriptions/downgrade",
            json!({"target_tier": "trial", "user_id": a.sub.user}),
        ),
        (
            "/api/v1/subscriptions/cancel",
            json!({"at_period_end": false, "subscription": a.sub.subscription}),
        ),
        (
            "/api/v1/billing/checkout",
            json!({"tier": "starter", "customer": a.sub.customer}),
        ),
        (
            "/api/v1/billing/payment-intent",
            json!({"amount": 1000, "currency": "usd", "customer": a.sub.customer}),
        ),
    ] {
        let answer = call(&stack, "POST", path, &b, Some(body)).await;
        refused(
            &format!("{path} with A's id in the body"),
            &answer,
            400,
            "invalid_body",
        );
    }

    let answer = call(
        &stack,
        "POST",
        &q("/api/v1/subscriptions/downgrade"),
        &b,
        Some(json!({"target_tier": "starter"})),
    )
    .await;
    refused("B's downgrade", &answer, 409, "no_subscription");
    let answer = call(
        &stack,
        "DELETE",
        &q("/api/v1/subscriptions/pending-change"),
        &b,
        None,
    )
    .await;
    refused("B withdrawing a change", &answer, 404, "no_pending_change");
    let answer = call(
        &stack,
        "POST",
        &q("/api/v1/subscriptions/cancel"),
        &b,
        Some(json!({"at_period_end": false})),
    )
    .await;
    refused("B's cancel", &answer, 409, "no_subscription");
    let answer = call(&stack, "POST", &q("/api/v1/subscriptions/resume"), &b, None).await;
    refused("B's resume", &answer, 409, "not_resumable");

    // What B may do lands on B's own Stripe customer, never A's.
    let (status, upgrade) = call(
        &stack,
        "POST",
        &q("/api/v1/subscriptions/upgrade"),
        &b,
        Some(json!({"target_tier": "enterprise"})),
    )
    .await;
    assert_eq!(status, 202, "{upgrade}");
    assert_eq!(upgrade["status"], "checkout_required", "{upgrade}");
    let session = stripe
        .get(&format!(
            "/v1/checkout/sessions/{}",
            upgrade["session_id"].as_str().expect("session")
        ))
        .await;
    assert_eq!(session["client_reference_id"], user_b.as_str());
    assert_ne!(session["customer"], a.sub.customer.as_str());

    let (status, intent) = call(
        &stack,
        "POST",
        &q("/api/v1/billing/payment-intent"),
        &b,
        Some(json!({"amount": 1000, "currency": "usd"})),
    )
    .await;
    assert_eq!(status, 200, "{intent}");
    let intent = stripe
        .get(&format!(
            "/v1/payment_intents/{}",
            intent["payment_intent_id"].as_str().expect("pi")
        ))
        .await;
    assert_ne!(intent["customer"], a.sub.customer.as_str());
    assert_eq!(intent["metadata"]["user_id"], user_b.as_str());

    // A token naming A but not signed by the issuer is nobody.
    let forged = stack.forged_token(&a.sub.user).await;
    let answer = stack
        .get("/api/v1/subscriptions/current", Some(&forged))
        .await;
    refused("a forged token for A", &answer, 401, "unauthorized");
    let answer = call(
        &stack,
        "POST",
        "/api/v1/subscriptions/cancel",
        &forged,
        Some(json!({})),
    )
    .await;
    refused("a forged cancel for A", &answer, 401, "unauthorized");

    // A's billing is untouched, in Tierflow and in Stripe.
    let after = snapshot(&stack, &stripe, &a).await;
    assert_eq!(after, before, "B's calls changed A's billing");
}
