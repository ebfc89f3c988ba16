//! A team's own catalog through the functions, on the second stack `infra/test.sh` starts for
//! it (`infra/e2e/own-catalog.json`: Hobby free, Solo, Team with a 14-day card-less trial that
//! cancels, Business with a 7-day one that pauses, in eur; `TAX_MODE=stripe_tax` and
//! `ALLOW_PROMOTION_CODES=true`). Trials start (in Checkout, which collects the address Stripe
//! Tax needs), warn, convert, cancel or pause; a second one is refused; promotion codes at checkout and on an upgrade are charged what was previewed;
//! Stripe Tax's VAT agrees to the cent across preview, charge and history; and the lifecycle
//! runs on tier names the built-in catalog does not have.
//!
//! The stack's Stripe emulator is its own, and every test here moves its clock, so they take
//! turns (the TURN lock; under nextest the e2e profile's test group).

use serde_json::{json, Value};
use std::time::Duration;
use stripe_flows::StripeEmulator;
use support::{outbox_until, Stack, REALM};
use tierflow::domain::UserId;
use tierflow::ports::BillingStore;
use tierflow::stripe::Form;
use tierflow_e2e::{stripe_flows, support};

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const DAY: i64 = 86_400;

/// The second stack, after checking it is the one on the team's catalog.
async fn own_stack() -> (Stack, StripeEmulator) {
    let stack = Stack::from_env();
    let (status, config) = stack.get("/api/v1/billing/config", None).await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(
        config["plans"][0]["tier"], "hobby",
        "run on infra/test.sh's own-catalog stack: {config}"
    );
    (stack, StripeEmulator::from_env())
}

/// A new user: `(user id, email, token)`.
async fn user(stack: &Stack, prefix: &str) -> (String, String, String) {
    let (id, token) = stack.user(prefix).await;
    let (status, kc) = stack.keycloak.user(REALM, &id).await;
    assert_eq!(status, 200, "{kc}");
    let email = kc["email"].as_str().expect("email").to_owned();
    (id, email, token)
}

/// The user's subscription in Stripe (found by the `user_id` Tierflow puts in its metadata).
async fn stripe_subscription(stripe: &StripeEmulator, user: &str) -> Value {
    let all = stripe.get("/v1/subscriptions?limit=100&status=all").await;
    all["data"]
        .as_array()
        .expect("subscriptions")
        .iter()
        .find(|s| s["metadata"]["user_id"] == user)
        .cloned()
        .unwrap_or_else(|| panic!("no subscription of {user} in Stripe"))
}

async fn start_trial(stack: &Stack, token: &str, tier: &str) -> (u16, Value) {
    stack
        .call(
            "POST",
            "/api/v1/subscriptions/trial",
            token,
            Some(json!({ "tier": tier })),
        )
        .await
}

/// A card-less trial as this stack starts one: with Stripe Tax on, the trial route sends the
/// caller to Checkout, which collects a German billing address and no card. The subscription
/// once the webhook has applied it.
async fn trial_in_checkout(
    stack: &Stack,
    stripe: &StripeEmulator,
    token: &str,
    tier: &str,
) -> Value {
    let (status, refused) = start_trial(stack, token, tier).await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (400, &json!("trial_requires_checkout")),
        "{refused}"
    );
    let session_id = stack
        .checkout(token, json!({"tier": tier, "billing_cycle": "monthly"}))
        .await;
    let session = stripe
        .get(&format!("/v1/checkout/sessions/{session_id}"))
        .await;
    assert_eq!(
        session["payment_method_collection"], "if_required",
        "{session}"
    );
    let completed = stripe
        .post(
            &format!("/_emulator/checkout/sessions/{session_id}/complete"),
            Form::new()
                .field("without_payment_method", "true")
                .field("address_country", "DE"),
        )
        .await;
    assert_eq!(completed["status"], "complete", "{completed}");
    stack
        .current_until(token, "the trial", |c| c["status"] == "trialing")
        .await
}

/// What the portal's payment-method flow does: a card attached and made the default.
async fn add_card(stripe: &StripeEmulator, customer: &str) {
    let card = stripe
        .post(
            "/v1/payment_methods/pm_card_visa/attach",
            Form::new().field("customer", customer),
        )
        .await;
    let card = card["id"].as_str().expect("card id");
    stripe
        .post(
            &format!("/v1/customers/{customer}"),
            Form::new().field("invoice_settings[default_payment_method]", card),
        )
        .await;
}

/// A coupon of `percent` percent off forever and its promotion code `code`.
async fn promotion_code(stripe: &StripeEmulator, code: &str, percent: i64) {
    let coupon = stripe
        .post(
            "/v1/coupons",
            Form::new()
                .field("percent_off", percent)
                .field("duration", "forever"),
        )
        .await;
    let coupon = coupon["id"].as_str().expect("coupon id");
    stripe
        .post(
            "/v1/promotion_codes",
            Form::new().field("coupon", coupon).field("code", code),
        )
        .await;
}

/// The caller's history once it holds `count` payments, as `(amount, tax)`.
async fn history_of(stack: &Stack, token: &str, count: usize) -> Vec<(i64, i64)> {
    let mut last = Value::Null;
    for _ in 0..300 {
        let (status, body) = stack.get("/api/v1/billing/history", Some(token)).await;
        assert_eq!(status, 200, "{body}");
        let rows: Vec<(i64, i64)> = body["transactions"]
            .as_array()
            .expect("transactions")
            .iter()
            .map(|t| {
                (
                    t["amount"].as_i64().expect("amount"),
                    t["tax"].as_i64().expect("tax"),
                )
            })
            .collect();
        if rows.len() >= count {
            return rows;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the history never held {count} payments: {last}");
}

/// The user's `subscription_tier` in Keycloak, once the sync has written `tier`.
async fn keycloak_tier_until(stack: &Stack, user: &str, tier: &str) {
    let mut last = Value::Null;
    for _ in 0..300 {
        let (status, kc) = stack.keycloak.user(REALM, user).await;
        assert_eq!(status, 200, "{kc}");
        if kc["attributes"]["subscription_tier"][0] == tier {
            return;
        }
        last = kc["attributes"].clone();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("Keycloak never showed {tier}: {last}");
}

/// Nothing failed on the way: no event of this stack recorded as failed, no sync job of the
/// users' (Keycloak, Lago, the email) recorded as a permanent failure.
async fn nothing_failed(users: &[&str]) {
    let store = support::table_store().await;
    let events = store.failed_events(100).await.expect("failed events");
    assert!(events.is_empty(), "{events:?}");
    for user in users {
        let id = UserId::parse(user).expect("user id");
        let failures = store.user_sync_failures(&id).await.expect("sync failures");
        assert!(failures.is_empty(), "{user}: {failures:?}");
    }
}

#[tokio::test]
#[ignore = "needs the own-catalog stack: run infra/test.sh"]
async fn a_card_less_trial_warns_then_cancels_and_a_second_one_is_refused() {
    let _turn = TURN.lock().await;
    let (stack, stripe) = own_stack().await;
    let (id, email, token) = user(&stack, "own-trial-cancel").await;

    let started = trial_in_checkout(&stack, &stripe, &token, "team").await;
    assert_eq!(
        (&started["tier"], &started["status"], &started["access"]),
        (&json!("team"), &json!("trialing"), &json!("active")),
        "{started}"
    );
    assert_eq!(started["has_payment_method"], false);
    assert_eq!(started["trial_used"], true);
    assert!(started["trial_end"].is_string(), "{started}");
    let (status, again) = stack
        .call(
            "POST",
            "/api/v1/billing/checkout",
            &token,
            Some(json!({"tier": "business", "billing_cycle": "monthly"})),
        )
        .await;
    assert_eq!(
        (status, &again["error"]["code"]),
        (409, &json!("subscription_exists")),
        "{again}"
    );
    outbox_until(&email, "trial_started").await;
    keycloak_tier_until(&stack, &id, "team").await;

    let sub = stripe_subscription(&stripe, &id).await;
    assert_eq!(sub["status"], "trialing", "{sub}");
    let trial_end = sub["trial_end"].as_i64().expect("trial_end");
    // Stripe's own record of the trial, which a second one is checked against.
    assert!(sub["trial_start"].is_i64(), "{sub}");

    // Three days before the end Stripe warns; the email links to the page's add-a-card flow,
    // which opens the portal's payment-method form.
    stripe.webhooks_delivered().await;
    stripe
        .advance_clock(trial_end - stripe.now().await - 3 * DAY + 60)
        .await;
    let warning = outbox_until(&email, "trial_ending").await;
    assert!(
        warning["html"].as_str().unwrap_or("").contains("#add-card"),
        "{warning}"
    );
    let (status, portal) = stack
        .call(
            "POST",
            "/api/v1/billing/portal?flow=payment_method_update",
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{portal}");
    assert!(portal["portal_url"].is_string(), "{portal}");

    // No card by the end: Stripe cancels, and the user is back on Hobby.
    stripe.webhooks_delivered().await;
    stripe.advance_clock(3 * DAY).await;
    let ended = stack
        .current_until(&token, "the trial's end", |c| c["status"] == "none")
        .await;
    assert_eq!(ended["tier"], "hobby", "{ended}");
    assert_eq!(ended["trial_used"], true, "{ended}");
    outbox_until(&email, "trial_expired").await;
    keycloak_tier_until(&stack, &id, "hobby").await;

    // One trial per account: Checkout now sells Team without one.
    let session_id = stack
        .checkout(&token, json!({"tier": "team", "billing_cycle": "monthly"}))
        .await;
    let session = stripe
        .get(&format!("/v1/checkout/sessions/{session_id}"))
        .await;
    assert_ne!(
        session["payment_method_collection"], "if_required",
        "{session}"
    );
    let (status, shown) = stack
        .get(
            "/api/v1/subscriptions/preview-change?target_tier=team",
            Some(&token),
        )
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["amount_due"], 2900, "no trial left: {shown}");
    nothing_failed(&[&id]).await;
}

#[tokio::test]
#[ignore = "needs the own-catalog stack: run infra/test.sh"]
async fn a_card_added_converts_a_trial_and_without_one_it_pauses_until_resumed() {
    let _turn = TURN.lock().await;
    let (stack, stripe) = own_stack().await;
    let (payer, _, payer_token) = user(&stack, "own-trial-convert").await;
    let (lapser, lapser_email, lapser_token) = user(&stack, "own-trial-pause").await;
    for token in [&payer_token, &lapser_token] {
        let started = trial_in_checkout(&stack, &stripe, token, "business").await;
        assert_eq!(started["tier"], "business", "{started}");
    }

    let payer_sub = stripe_subscription(&stripe, &payer).await;
    let payer_customer = payer_sub["customer"].as_str().expect("customer").to_owned();
    add_card(&stripe, &payer_customer).await;
    stack
        .current_until(&payer_token, "the card on file", |c| {
            c["has_payment_method"] == true
        })
        .await;

    stripe.webhooks_delivered().await;
    let trial_end = payer_sub["trial_end"].as_i64().expect("trial_end");
    stripe
        .advance_clock(trial_end - stripe.now().await + 60)
        .await;

    // The card pays Business's first month: the trial converted.
    let converted = stack
        .current_until(&payer_token, "the conversion", |c| c["status"] == "active")
        .await;
    assert_eq!(converted["tier"], "business", "{converted}");
    assert!(converted["trial_end"].is_null(), "{converted}");
    // The history: the trial's invoice of 0, then Business's first month with German VAT.
    let history = history_of(&stack, &payer_token, 2).await;
    assert_eq!(history, [(9900 + 1881, 1881), (0, 0)], "newest first");

    // No card: paused, without access, until a card is on file and the user resumes.
    let paused = stack
        .current_until(&lapser_token, "the pause", |c| c["status"] == "paused")
        .await;
    assert_eq!(paused["access"], "revoked", "{paused}");
    assert_eq!(paused["effective_tier"], "hobby", "{paused}");
    outbox_until(&lapser_email, "trial_expired").await;
    let (status, refused) = stack
        .call("POST", "/api/v1/subscriptions/resume", &lapser_token, None)
        .await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (409, &json!("payment_method_required")),
        "{refused}"
    );
    let lapser_sub = stripe_subscription(&stripe, &lapser).await;
    add_card(&stripe, lapser_sub["customer"].as_str().expect("customer")).await;
    stack
        .current_until(&lapser_token, "the card on file", |c| {
            c["has_payment_method"] == true
        })
        .await;
    let (status, resumed) = stack
        .call("POST", "/api/v1/subscriptions/resume", &lapser_token, None)
        .await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(
        (&resumed["status"], &resumed["access"]),
        (&json!("active"), &json!("active")),
        "{resumed}"
    );
    stack
        .current_until(&lapser_token, "the resumed subscription", |c| {
            c["status"] == "active" && c["effective_tier"] == "business"
        })
        .await;
    nothing_failed(&[&payer, &lapser]).await;
}

#[tokio::test]
#[ignore = "needs the own-catalog stack: run infra/test.sh"]
async fn the_lifecycle_on_other_tier_names_with_codes_and_tax_charges_what_was_previewed() {
    let _turn = TURN.lock().await;
    let (stack, stripe) = own_stack().await;
    promotion_code(&stripe, "ACME20", 20).await;
    promotion_code(&stripe, "YEARLY15", 15).await;
    let (id, _, token) = user(&stack, "own-lifecycle").await;

    // The catalog as the page sees it: its own names, ranks and trials, in eur.
    let (_, config) = stack.get("/api/v1/billing/config", None).await;
    let plans: Vec<(&str, i64)> = config["plans"]
        .as_array()
        .expect("plans")
        .iter()
        .map(|p| (p["tier"].as_str().unwrap(), p["rank"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        plans,
        [("hobby", 0), ("solo", 5), ("team", 10), ("business", 20)]
    );
    assert_eq!(config["currency"], "eur");
    assert_eq!(config["plans"][2]["trial"]["days"], 14, "{config}");

    // A first subscription with a code: the preview is the price less the code (the tax
    // follows from the address Checkout collects).
    let (status, shown) = stack
        .get(
            "/api/v1/subscriptions/preview-change?target_tier=solo&promotion_code=ACME20",
            Some(&token),
        )
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        (&shown["subtotal"], &shown["discount"], &shown["amount_due"]),
        (&json!(900), &json!(180), &json!(720)),
        "{shown}"
    );
    let session_id = stack
        .checkout(
            &token,
            json!({"tier": "solo", "billing_cycle": "monthly", "promotion_code": "ACME20"}),
        )
        .await;
    let session = stripe
        .get(&format!("/v1/checkout/sessions/{session_id}"))
        .await;
    assert_eq!(session["automatic_tax"]["enabled"], true, "{session}");
    assert_eq!(session["billing_address_collection"], "required");
    let completed = stripe
        .post(
            &format!("/_emulator/checkout/sessions/{session_id}/complete"),
            Form::new()
                .field("payment_method", "pm_card_visa")
                .field("address_country", "DE"),
        )
        .await;
    assert_eq!(completed["status"], "complete", "{completed}");
    let (status, confirmed) = stack
        .call(
            "POST",
            &format!("/api/v1/subscriptions/confirm-upgrade?checkout_session_id={session_id}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(confirmed["tier"], "solo", "{confirmed}");
    assert_eq!(confirmed["discount"]["percent_off"], 20.0, "{confirmed}");
    // German VAT, 19 % of the discounted 720.
    let first = history_of(&stack, &token, 1).await;
    assert_eq!(first, [(720 + 137, 137)]);
    keycloak_tier_until(&stack, &id, "solo").await;
    stripe.webhooks_delivered().await;

    // An upgrade by rank to Team, yearly, with another code: previewed with its tax, charged
    // exactly that.
    let (status, shown) = stack
        .get(
            "/api/v1/subscriptions/preview-change?target_tier=team&billing_cycle=yearly&promotion_code=YEARLY15",
            Some(&token),
        )
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["change"], "upgrade", "{shown}");
    let (due, tax) = (
        shown["amount_due"].as_i64().expect("amount_due"),
        shown["tax"].as_i64().expect("tax"),
    );
    assert!(tax > 0 && shown["discount"].as_i64() > Some(0), "{shown}");
    let (status, upgraded) = stack
        .call(
            "POST",
            "/api/v1/subscriptions/upgrade",
            &token,
            Some(json!({"target_tier": "team", "billing_cycle": "yearly",
                        "proration_date": shown["proration_date"],
                        "promotion_code": "YEARLY15"})),
        )
        .await;
    assert_eq!(status, 200, "{upgraded}");
    assert_eq!(upgraded["amount_charged"].as_i64(), Some(due), "{upgraded}");
    let history = history_of(&stack, &token, 2).await;
    assert!(history.contains(&(due, tax)), "{history:?} {shown}");
    let current = stack
        .current_until(&token, "the upgrade", |c| {
            c["tier"] == "team" && c["billing_cycle"] == "yearly"
        })
        .await;
    assert_eq!(current["discount"]["percent_off"], 15.0, "{current}");
    keycloak_tier_until(&stack, &id, "team").await;

    // A downgrade to Solo waits for the period end; the scheduled job carries it out there.
    let (status, scheduled) = stack
        .call(
            "POST",
            "/api/v1/subscriptions/downgrade",
            &token,
            Some(json!({"target_tier": "solo", "billing_cycle": "yearly"})),
        )
        .await;
    assert_eq!(status, 200, "{scheduled}");
    assert_eq!(
        stack
            .get("/api/v1/subscriptions/current", Some(&token))
            .await
            .1["tier"],
        "team"
    );
    stripe.webhooks_delivered().await;
    stripe.post("/_emulator/webhooks/pause", Form::new()).await;
    let now = stripe.now().await;
    stripe.advance_clock(366 * DAY).await;
    let tick = tierflow::domain::time::rfc3339(now + 366 * DAY);
    let report = stack
        .invoke(
            "apply-scheduled-changes",
            json!({"version": "0", "id": "own-tick", "detail-type": "Scheduled Event",
                   "source": "aws.events", "time": tick, "detail": {}}),
        )
        .await;
    stripe.post("/_emulator/webhooks/resume", Form::new()).await;
    assert!(report["applied"].as_u64().unwrap_or(0) >= 1, "{report}");
    let downgraded = stack
        .current_until(&token, "the downgrade", |c| c["tier"] == "solo")
        .await;
    assert!(downgraded["pending_change"].is_null(), "{downgraded}");
    keycloak_tier_until(&stack, &id, "solo").await;
    let renewed = stripe_subscription(&stripe, &id).await;
    assert_eq!(
        renewed["items"]["data"][0]["price"]["lookup_key"], "acme_solo_yearly",
        "{renewed}"
    );

    // Canceled at the period end, then resumed.
    stripe.webhooks_delivered().await;
    let (status, canceled) = stack
        .call(
            "POST",
            "/api/v1/subscriptions/cancel",
            &token,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{canceled}");
    assert_eq!(canceled["cancel_at_period_end"], true, "{canceled}");
    stripe.webhooks_delivered().await;
    let (status, resumed) = stack
        .call("POST", "/api/v1/subscriptions/resume", &token, None)
        .await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["cancel_at_period_end"], false, "{resumed}");
    assert_eq!(resumed["tier"], "solo", "{resumed}");
    nothing_failed(&[&id]).await;
}

#[tokio::test]
#[ignore = "needs the own-catalog stack: run infra/test.sh"]
async fn a_code_at_checkout_typed_or_sent_is_charged_its_preview_where_no_tax_is_due() {
    let _turn = TURN.lock().await;
    let (stack, stripe) = own_stack().await;
    promotion_code(&stripe, "SWISS10", 10).await;
    let (id, _, token) = user(&stack, "own-untaxed").await;
    let (status, shown) = stack
        .get(
            "/api/v1/subscriptions/preview-change?target_tier=solo&billing_cycle=yearly&promotion_code=swiss10",
            Some(&token),
        )
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        (&shown["subtotal"], &shown["discount"], &shown["amount_due"]),
        (&json!(9000), &json!(900), &json!(8100)),
        "{shown}"
    );
    let session_id = stack
        .checkout(
            &token,
            json!({"tier": "solo", "billing_cycle": "yearly", "promotion_code": "swiss10"}),
        )
        .await;
    // Switzerland: Stripe Tax collects nothing there for this account.
    stripe
        .post(
            &format!("/_emulator/checkout/sessions/{session_id}/complete"),
            Form::new()
                .field("payment_method", "pm_card_visa")
                .field("address_country", "CH"),
        )
        .await;
    assert_eq!(history_of(&stack, &token, 1).await, [(8100, 0)]);
    stack
        .current_until(&token, "the subscription", |c| c["tier"] == "solo")
        .await;

    // ALLOW_PROMOTION_CODES: a Checkout started without a code lets the customer type one.
    let (typist, _, typist_token) = user(&stack, "own-typed-code").await;
    let session_id = stack
        .checkout(
            &typist_token,
            json!({"tier": "solo", "billing_cycle": "monthly"}),
        )
        .await;
    let session = stripe
        .get(&format!("/v1/checkout/sessions/{session_id}"))
        .await;
    assert_eq!(session["allow_promotion_codes"], true, "{session}");
    stripe
        .post(
            &format!("/_emulator/checkout/sessions/{session_id}/complete"),
            Form::new()
                .field("payment_method", "pm_card_visa")
                .field("promotion_code", "SWISS10")
                .field("address_country", "CH"),
        )
        .await;
    assert_eq!(history_of(&stack, &typist_token, 1).await, [(810, 0)]);
    let current = stack
        .current_until(&typist_token, "the typed code's discount", |c| {
            c["discount"]["percent_off"] == 10.0
        })
        .await;
    assert_eq!(current["tier"], "solo", "{current}");
    nothing_failed(&[&id, &typist]).await;
}
