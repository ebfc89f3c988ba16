//! Bad input end to end: malformed JSON, wrong types, unknown tiers and fields, negative and huge
//! amounts, oversized bodies, wrong content types, missing, expired and forged tokens, replayed
//! and stale webhook deliveries, and signed webhook bodies that are not Stripe events. Each is a
//! clear 4xx with the JSON envelope, and nothing is written: the caller's billing, history and
//! Stripe customer are as before, and a refused webhook event id is still new afterwards.

use serde_json::{json, Value};
use std::time::Duration;
use stripe_flows::StripeEmulator;
use support::{unique_user, Stack};
use tierflow::webhook::signature::sign;
use tierflow_e2e::{stripe_flows, support};

/// Sends a raw body with an optional content type.
async fn send(
    stack: &Stack,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Option<String>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = stack.http.request(method, stack.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{path}: {status} answered a non-JSON body: {text:?}"));
    (status, body)
}

async fn post_json(stack: &Stack, path: &str, token: &str, body: &str) -> (u16, Value) {
    send(
        stack,
        "POST",
        path,
        Some(token),
        Some("application/json"),
        Some(body.to_owned()),
    )
    .await
}

/// A clear refusal: `want_status`, the envelope, `want_code`, a message.
#[track_caller]
fn refused(what: &str, (status, body): &(u16, Value), want_status: u16, want_code: &str) {
    assert_eq!(*status, want_status, "{what}: {body}");
    assert_eq!(body["error"]["code"], want_code, "{what}: {body}");
    let message = body["error"]["message"].as_str().unwrap_or("");
    assert!(!message.is_empty(), "{what}: no message: {body}");
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(1),
        "{what}: only the envelope: {body}"
    );
}

/// What the user's billing looks like from outside, for before/after comparisons.
async fn billing_of(stack: &Stack, token: &str) -> Value {
    let (s1, current) = stack
        .get("/api/v1/subscriptions/current", Some(token))
        .await;
    let (s2, history) = stack.get("/api/v1/billing/history", Some(token)).await;
    let (s3, methods) = stack
        .get("/api/v1/billing/payment-methods", Some(token))
        .await;
    assert_eq!(
        (s1, s2, s3),
        (200, 200, 200),
        "{current} {history} {methods}"
    );
    json!({"current": current, "history": history, "payment_methods": methods})
}

const BODY_ROUTES: [&str; 6] = [
    "/api/v1/billing/checkout",
    "/api/v1/billing/payment-intent",
    "/api/v1/subscriptions/upgrade",
    "/api/v1/subscriptions/downgrade",
    "/api/v1/subscriptions/cancel",
    "/api/v1/subscriptions/trial",
];

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn malformed_mistyped_oversized_and_mislabelled_bodies_are_refused_and_write_nothing() {
    let stack = Stack::from_env();
    let (_, token) = stack.user("e2e-hostile-body").await;
    let before = billing_of(&stack, &token).await;

    let oversized = format!(r#"{{"tier":"starter","pad":"{}"}}"#, "x".repeat(20 * 1024));
    for path in BODY_ROUTES {
        for body in ["{", "{\"tier\": }", "not json", "[1,2", "\u{0}"] {
            let answer = post_json(&stack, path, &token, body).await;
            refused(&format!("{path} {body:?}"), &answer, 400, "invalid_body");
        }
        let answer = post_json(&stack, path, &token, &oversized).await;
        refused(&format!("{path} 20 KiB"), &answer, 413, "body_too_large");
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/xml",
        ] {
            let answer = send(
                &stack,
                "POST",
                path,
                Some(&token),
                Some(ct),
                Some(r#"{"tier":"starter"}"#.into()),
            )
            .await;
            refused(
                &format!("{path} as {ct}"),
                &answer,
                415,
                "unsupported_media_type",
            );
        }
    }

    // Wrong types, unknown fields, unknown tiers and cycles.
    let cases: &[(&str, &str, &str)] = &[
        ("/api/v1/billing/checkout", r#"{"tier": 5}"#, "invalid_body"),
        ("/api/v1/billing/checkout", r#"["starter"]"#, "invalid_body"),
        ("/api/v1/billing/checkout", r#""starter""#, "invalid_body"),
        ("/api/v1/billing/checkout", r#"{}"#, "invalid_body"),
        (
            "/api/v1/billing/checkout",
            r#"{"tier": "starter", "price": "price_1"}"#,
            "invalid_body",
        ),
        (
            "/api/v1/billing/checkout",
            r#"{"tier": "gold"}"#,
            "invalid_tier",
        ),
        (
            "/api/v1/billing/checkout",
            r#"{"tier": "STARTER'; DROP TABLE--"}"#,
            "invalid_tier",
        ),
        (
            "/api/v1/billing/checkout",
            r#"{"tier": "starter", "billing_cycle": "weekly"}"#,
            "invalid_billing_cycle",
        ),
        (
            "/api/v1/billing/checkout",
            r#"{"tier": "free"}"#,
            "invalid_plan",
        ),
        (
            "/api/v1/billing/checkout",
            r#"{"tier": "trial", "billing_cycle": "yearly"}"#,
            "invalid_plan",
        ),
        (
            "/api/v1/subscriptions/trial",
            r#"{"tier": "platinum"}"#,
            "invalid_tier",
        ),
        (
            "/api/v1/subscriptions/trial",
            r#"{"tier": "starter", "days": 365}"#,
            "invalid_body",
        ),
        (
            "/api/v1/subscriptions/trial",
            r#"{"tier": "starter"}"#,
            "no_trial",
        ),
        (
            "/api/v1/subscriptions/upgrade",
            r#"{"target_tier": "platinum"}"#,
            "invalid_tier",
        ),
        (
            "/api/v1/subscriptions/upgrade",
            r#"{"target_tier": ["enterprise"]}"#,
            "invalid_body",
        ),
        (
            "/api/v1/subscriptions/upgrade",
            r#"{"target_tier": "enterprise", "proration_date": "now"}"#,
            "invalid_body",
        ),
        (
            "/api/v1/subscriptions/downgrade",
            r#"{"target_tier": "bronze"}"#,
            "invalid_tier",
        ),
        (
            "/api/v1/subscriptions/downgrade",
            r#"{"target_tier": null}"#,
            "invalid_body",
        ),
        (
            "/api/v1/subscriptions/cancel",
            r#"{"at_period_end": "yes"}"#,
            "invalid_body",
        ),
        (
            "/api/v1/subscriptions/cancel",
            r#"{"at_period_end": true, "refund": true}"#,
            "invalid_body",
        ),
        (
            "/api/v1/billing/payment-intent",
            r#"[4200, "usd"]"#,
            "invalid_body",
        ),
        (
            "/api/v1/billing/payment-intent",
            r#"{"amount": 4200, "currency": "usd", "customer": "cus_x"}"#,
            "invalid_body",
        ),
        (
            "/api/v1/billing/payment-intent",
            r#"{"currency": "usd"}"#,
            "invalid_amount",
        ),
        (
            "/api/v1/billing/payment-intent",
            r#"{"amount": "4200", "currency": "usd"}"#,
            "invalid_amount",
        ),
        (
            "/api/v1/billing/payment-intent",
            r#"{"amount": 42.5, "currency": "usd"}"#,
            "invalid_amount",
        ),
        (
            "/api/v1/billing/payment-intent",
            r#"{"amount": 1e3, "currency": "usd"}"#,
            "invalid_amount",
        ),
        (
            "/api/v1/billing/payment-intent",
            r#"{"amount": -4200, "currency": "usd"}"#,
            "invalid_amount",
        ),
        (
            "/api/v1/billing/payment-intent",
            r#"{"amount": 0, "currency": "usd"}"#,
            "invalid_amount",
        ),
        (
            "/api/v1/billing/payment-intent",
            r#"{"amount": 1000001, "currency": "usd"}"#,
            "invalid_amount",
        ),
        (
            "/api/v1/billing/payment-intent",
            r#"{"amount": 9223372036854775807, "currency": "usd"}"#,
            "invalid_amount",
        ),
        (
            "/api/v1/billing/payment-intent",
            r#"{"amount": 18446744073709551616, "currency": "usd"}"#,
            "invalid_amount",
        ),
        (
            "/api/v1/billing/payment-intent",
            r#"{"amount": -9223372036854775809, "currency": "usd"}"#,
            "invalid_amount",
        ),
        (
            "/api/v1/billing/payment-intent",
            r#"{"amount": 4200}"#,
            "invalid_currency",
        ),
        (
            "/api/v1/billing/payment-intent",
            r#"{"amount": 4200, "currency": "dollars"}"#,
            "invalid_currency",
        ),
        (
            "/api/v1/billing/payment-intent",
            r#"{"amount": 4200, "currency": "eur"}"#,
            "invalid_currency",
        ),
        (
            "/api/v1/billing/payment-intent",
            r#"{"amount": 4200, "currency": 840}"#,
            "invalid_currency",
        ),
        (
            "/api/v1/billing/payment-intent",
            r#"{"amount": 4200, "currency": "usd", "description": 7}"#,
            "invalid_description",
        ),
        (
            "/api/v1/billing/payment-intent",
            r#"{"amount": 4200, "currency": "usd", "description": "a\u0007b"}"#,
            "invalid_description",
        ),
        (
            "/api/v1/billing/payment-intent",
            r#"{"amount": 4200, "currency": "usd", "idempotency_key": ""}"#,
            "invalid_idempotency_key",
        ),
        (
            "/api/v1/billing/payment-intent",
            r#"{"amount": 4200, "currency": "usd", "idempotency_key": "has space"}"#,
            "invalid_idempotency_key",
        ),
    ];
    for (path, body, code) in cases {
        let answer = post_json(&stack, path, &token, body).await;
        refused(&format!("{path} {body}"), &answer, 400, code);
    }
    let long = json!({"amount": 4200, "currency": "usd", "description": "d".repeat(501)});
    let answer = post_json(
        &stack,
        "/api/v1/billing/payment-intent",
        &token,
        &long.to_string(),
    )
    .await;
    refused(
        "a 501-character description",
        &answer,
        400,
        "invalid_description",
    );

    // Queries.
    for (query, code) in [
        ("/api/v1/billing/history?limit=0", "invalid_limit"),
        ("/api/v1/billing/history?limit=101", "invalid_limit"),
        ("/api/v1/billing/history?limit=-1", "invalid_limit"),
        ("/api/v1/billing/history?limit=ten", "invalid_limit"),
        (
            "/api/v1/billing/history?limit=99999999999999999999",
            "invalid_limit",
        ),
        ("/api/v1/billing/history?cursor=garbage", "invalid_cursor"),
        (
            "/api/v1/billing/history?cursor=v1.AAAA.AAAAAAAAAAAAAAAAAAAAAA",
            "invalid_cursor",
        ),
        ("/api/v1/subscriptions/preview-change", "invalid_tier"),
        (
            "/api/v1/subscriptions/preview-change?target_tier=gold",
            "invalid_tier",
        ),
        (
            "/api/v1/subscriptions/preview-change?target_tier=starter&billing_cycle=daily",
            "invalid_billing_cycle",
        ),
    ] {
        let answer = stack.get(query, Some(&token)).await;
        refused(query, &answer, 400, code);
    }
    let long_cursor = format!("/api/v1/billing/history?cursor=v1.{}", "A".repeat(4000));
    refused(
        "a 4 KB cursor",
        &stack.get(&long_cursor, Some(&token)).await,
        400,
        "invalid_cursor",
    );
    for query in [
        "",
        "?checkout_session_id=",
        "?checkout_session_id=pi_123",
        "?checkout_session_id=cs_%27%20OR%201%3D1",
    ] {
        let path = format!("/api/v1/subscriptions/confirm-upgrade{query}");
        let answer = send(&stack, "POST", &path, Some(&token), None, None).await;
        refused(&path, &answer, 400, "invalid_checkout_session_id");
    }
    let path = "/api/v1/subscriptions/confirm-upgrade?checkout_session_id=cs_test_doesnotexist";
    let answer = send(&stack, "POST", path, Some(&token), None, None).await;
    refused(path, &answer, 404, "checkout_session_not_found");

    // Nothing of the above left a trace: no profile, no customer, no payment.
    assert_eq!(billing_of(&stack, &token).await, before);
    assert_eq!(before["current"]["status"], "none");
    let answer = send(
        &stack,
        "POST",
        "/api/v1/billing/portal",
        Some(&token),
        None,
        None,
    )
    .await;
    refused("portal afterwards", &answer, 404, "no_billing_account");
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn missing_malformed_expired_and_forged_tokens_are_401_on_every_route() {
    let stack = Stack::from_env();
    let (user, token) = stack.user("e2e-hostile-auth").await;
    let expired = stack.expired_token("e2e-hostile-expired").await;
    let forged = stack.forged_token(&user).await;
    let routes = [
        ("GET", "/api/v1/subscriptions/current"),
        (
            "GET",
            "/api/v1/subscriptions/preview-change?target_tier=starter",
        ),
        ("POST", "/api/v1/subscriptions/upgrade"),
        (
            "POST",
            "/api/v1/subscriptions/confirm-upgrade?checkout_session_id=cs_x",
        ),
        ("POST", "/api/v1/subscriptions/downgrade"),
        ("DELETE", "/api/v1/subscriptions/pending-change"),
        ("POST", "/api/v1/subscriptions/cancel"),
        ("POST", "/api/v1/subscriptions/resume"),
        ("POST", "/api/v1/subscriptions/trial"),
        ("POST", "/api/v1/billing/checkout"),
        ("POST", "/api/v1/billing/portal"),
        ("GET", "/api/v1/billing/payment-methods"),
        ("POST", "/api/v1/billing/payment-intent"),
        ("GET", "/api/v1/billing/history"),
    ];
    for (method, path) in routes {
        let body = Some(r#"{"tier":"starter","target_tier":"enterprise"}"#.to_owned())
            .filter(|_| method == "POST");
        for (what, header, reason) in [
            ("no token", None, "missing"),
            (
                "basic auth",
                Some("Basic dXNlcjpwYXNz".to_owned()),
                "Bearer",
            ),
            ("garbage", Some("Bearer not.a.jwt".to_owned()), "invalid"),
            ("expired", Some(format!("Bearer {expired}")), "expired"),
            ("forged", Some(format!("Bearer {forged}")), "signature"),
        ] {
            let mut req = stack
                .http
                .request(
                    reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                    stack.url(path),
                )
                .header("content-type", "application/json");
            if let Some(h) = &header {
                req = req.header("authorization", h);
            }
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            let resp = req.send().await.expect("request");
            let answer = (
                resp.status().as_u16(),
                resp.json::<Value>().await.unwrap_or(Value::Null),
            );
            refused(
                &format!("{method} {path} with {what}"),
                &answer,
                401,
                "unauthorized",
            );
            let message = answer.1["error"]["message"].as_str().unwrap_or("");
            assert!(message.contains(reason), "{what}: {message}");
        }
    }
    // The token's user was never created by any of it.
    let (_, current) = stack
        .get("/api/v1/subscriptions/current", Some(&token))
        .await;
    assert_eq!(current["status"], "none", "{current}");
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn bad_input_to_a_subscribed_user_changes_nothing() {
    let (stack, stripe) = (Stack::from_env(), StripeEmulator::from_env());
    let (user, token) = stack.user("e2e-hostile-sub").await;
    let sub = stripe.subscribe(&user, "tierflow_starter_monthly").await;
    let mut before = Value::Null;
    for _ in 0..100 {
        let billing = billing_of(&stack, &token).await;
        // Settled: the tier, and the first invoice's payment (its webhook may come later).
        let paid = billing["history"]["transactions"]
            .as_array()
            .is_some_and(|t| !t.is_empty());
        if billing["current"]["tier"] == "starter" && paid && billing == before {
            break;
        }
        before = billing;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(before["current"]["tier"], "starter", "{before}");

    for (path, body, status, code) in [
        (
            "/api/v1/subscriptions/upgrade",
            r#"{"target_tier": "starter"}"#,
            400,
            "not_an_upgrade",
        ),
        (
            "/api/v1/subscriptions/upgrade",
            r#"{"target_tier": "trial"}"#,
            400,
            "not_an_upgrade",
        ),
        (
            "/api/v1/subscriptions/upgrade",
            r#"{"target_tier": "enterprise", "proration_date": -1}"#,
            400,
            "invalid_proration_date",
        ),
        (
            "/api/v1/subscriptions/upgrade",
            r#"{"target_tier": "enterprise", "proration_date": 9223372036854775807}"#,
            400,
            "invalid_proration_date",
        ),
        (
            "/api/v1/subscriptions/upgrade",
            r#"{"target_tier": "enterprise", "billing_cycle": "hourly"}"#,
            400,
            "invalid_billing_cycle",
        ),
        (
            "/api/v1/subscriptions/downgrade",
            r#"{"target_tier": "professional"}"#,
            400,
            "not_a_downgrade",
        ),
        (
            "/api/v1/subscriptions/downgrade",
            r#"{"target_tier": "starter"}"#,
            400,
            "not_a_downgrade",
        ),
        (
            "/api/v1/subscriptions/cancel",
            r#"{"at_period_end": 0}"#,
            400,
            "invalid_body",
        ),
        (
            "/api/v1/billing/checkout",
            r#"{"tier": "professional"}"#,
            409,
            "subscription_exists",
        ),
    ] {
        let answer = post_json(&stack, path, &token, body).await;
        refused(&format!("{path} {body}"), &answer, status, code);
    }
    refused(
        "resume when not canceling",
        &send(
            &stack,
            "POST",
            "/api/v1/subscriptions/resume",
            Some(&token),
            None,
            None,
        )
        .await,
        409,
        "not_canceling",
    );
    refused(
        "withdraw with nothing pending",
        &send(
            &stack,
            "DELETE",
            "/api/v1/subscriptions/pending-change",
            Some(&token),
            None,
            None,
        )
        .await,
        404,
        "no_pending_change",
    );

    assert_eq!(billing_of(&stack, &token).await, before);
    let stripe_sub = stripe
        .get(&format!("/v1/subscriptions/{}", sub.subscription))
        .await;
    assert_eq!(stripe_sub["status"], "active");
    assert_eq!(stripe_sub["cancel_at_period_end"], false);
    assert_eq!(stripe_sub["schedule"], Value::Null);
}

/// Delivers a webhook body to `stripe-webhook` with the given `Stripe-Signature`.
async fn deliver(stack: &Stack, body: &str, signature: Option<String>) -> (u16, Value) {
    let mut req = stack
        .http
        .post(stack.url("/lambda-url/stripe-webhook"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(s) = signature {
        req = req.header("stripe-signature", s);
    }
    let resp = req.send().await.expect("delivery");
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

fn webhook_secret() -> String {
    std::env::var("STRIPE_WEBHOOK_SECRETS")
        .expect("STRIPE_WEBHOOK_SECRETS: run through infra/test.sh")
        .split(',')
        .next()
        .expect("a secret")
        .trim()
        .to_owned()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

#[tokio::test]
#[ignore = "needs the local stack: run infra/test.sh"]
async fn webhook_deliveries_that_are_unsigned_stale_replayed_or_not_events_are_refused() {
    let (stack, stripe) = (Stack::from_env(), StripeEmulator::from_env());
    let secret = webhook_secret();
    let (user, token) = stack.user("e2e-hostile-hook").await;
    let sub = stripe.subscribe(&user, "tierflow_starter_monthly").await;

    // A setup-mode Checkout session changes no billing: processed once, recorded as ignored.
    let event_id = unique_user("evt_hostile").replace('-', "_");
    let event = json!({
        "id": event_id,
        "object": "event",
        "api_version": "2025-04-30.basil",
        "created": now(),
        "livemode": false,
        "pending_webhooks": 1,
        "type": "checkout.session.completed",
        "data": {"object": {
            "id": format!("cs_test_{event_id}"),
            "object": "checkout.session",
            "mode": "setup",
            "status": "complete",
            "payment_status": "no_payment_required",
            "client_reference_id": user,
            "metadata": {},
        }},
    })
    .to_string();

    // Refusals first: none of them may record the event id.
    let stale = now() - 3600;
    let refusals = [
        ("no signature", None),
        ("garbage signature", Some("t=1,v1=00".to_owned())),
        (
            "another secret",
            Some(sign("whsec_not_ours", now(), event.as_bytes())),
        ),
        ("an hour old", Some(sign(&secret, stale, event.as_bytes()))),
        ("signed for another body", Some(sign(&secret, now(), b"{}"))),
    ];
    for (what, signature) in refusals {
        let answer = deliver(&stack, &event, signature).await;
        refused(what, &answer, 400, "invalid_signature");
    }
    let not_events = [
        r#"{"hello": "world"}"#.to_owned(),
        "[1, 2, 3]".to_owned(),
        "42".to_owned(),
        "not json at all".to_owned(),
        json!({"id": event_id, "object": "event"}).to_string(),
        json!({"id": event_id, "object": "customer", "type": "customer.subscription.updated"})
            .to_string(),
        json!({"id": event_id, "object": "v2.core.event", "type": "v1.billing.meter.error_report_triggered"})
            .to_string(),
    ];
    for body in &not_events {
        let answer = deliver(&stack, body, Some(sign(&secret, now(), body.as_bytes()))).await;
        let code = if body.contains("v2.core.event") {
            "unsupported_event"
        } else {
            "invalid_payload"
        };
        refused(&format!("signed {body}"), &answer, 400, code);
    }

    // The event id is still new, so the real delivery is processed; its replay is a duplicate.
    let first = deliver(&stack, &event, Some(sign(&secret, now(), event.as_bytes()))).await;
    assert_eq!(first.0, 200, "{}", first.1);
    assert_eq!(first.1["received"], true);
    assert_eq!(
        first.1["outcome"], "ignored",
        "processed as new: the refusals recorded nothing"
    );
    let replay = deliver(&stack, &event, Some(sign(&secret, now(), event.as_bytes()))).await;
    assert_eq!(
        replay,
        (200, json!({"received": true, "outcome": "duplicate"}))
    );

    // A real delivery replayed, signed anew: a duplicate that changes nothing.
    let mut before = Value::Null;
    for _ in 0..100 {
        let billing = billing_of(&stack, &token).await;
        // Settled: the tier, and the first invoice's payment (its webhook may come later).
        let paid = billing["history"]["transactions"]
            .as_array()
            .is_some_and(|t| !t.is_empty());
        if billing["current"]["tier"] == "starter" && paid && billing == before {
            break;
        }
        before = billing;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(before["current"]["tier"], "starter", "{before}");
    // Wait until the emulator's own delivery of it succeeded, so ours is the second.
    let mut created = None;
    for _ in 0..100 {
        let events = stripe
            .get("/v1/events?type=customer.subscription.created&limit=100")
            .await;
        let event = events["data"].as_array().and_then(|d| {
            d.iter()
                .find(|e| e["data"]["object"]["id"] == sub.subscription.as_str())
                .cloned()
        });
        if let Some(event) = event.filter(|e| e["pending_webhooks"] == 0) {
            created = Some(event.to_string());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let created = created.expect("the emulator delivered customer.subscription.created");
    let replay = deliver(
        &stack,
        &created,
        Some(sign(&secret, now(), created.as_bytes())),
    )
    .await;
    assert_eq!(
        replay,
        (200, json!({"received": true, "outcome": "duplicate"}))
    );
    let stale_replay = deliver(
        &stack,
        &created,
        Some(sign(&secret, now() - 600, created.as_bytes())),
    )
    .await;
    refused("a stale replay", &stale_replay, 400, "invalid_signature");
    assert_eq!(billing_of(&stack, &token).await, before);

    // Only POST is a delivery.
    let resp = stack
        .http
        .get(stack.url("/lambda-url/stripe-webhook"))
        .send()
        .await
        .expect("get");
    let answer = (
        resp.status().as_u16(),
        resp.json::<Value>().await.unwrap_or(Value::Null),
    );
    refused("GET on the webhook", &answer, 405, "method_not_allowed");
}
