//! Trials: the trialing subscription and its $0 invoice, `trial_will_end`, the trial's end
//! (convert, cancel, pause, an unpaid invoice), `trial_end=now`, resuming, and Checkout trials
//! without a payment method.

use serde_json::Value;
use stripe_emulator::calendar::timestamp;
use stripe_emulator::Config;

use crate::harness::{s, types, Catalog, Harness};

const DAY: i64 = 86_400;

/// A customer, with `pm_card_visa` as its default payment method when `card`.
async fn customer(h: &Harness, card: bool) -> String {
    let mut pairs = vec![("email", "trial@example.com")];
    if card {
        pairs.push(("payment_method", "pm_card_visa"));
        pairs.push(("invoice_settings[default_payment_method]", "pm_card_visa"));
    }
    let c = h.post("/v1/customers", &pairs).await;
    s(&c, "id").to_string()
}

/// Professional monthly with a 14-day trial and the given end behavior.
async fn trial_sub(h: &Harness, c: &Catalog, cus: &str, behavior: &str) -> Value {
    h.post(
        "/v1/subscriptions",
        &[
            ("customer", cus),
            ("items[0][price]", &c.professional_monthly),
            ("trial_period_days", "14"),
            (
                "trial_settings[end_behavior][missing_payment_method]",
                behavior,
            ),
            ("expand[]", "latest_invoice"),
        ],
    )
    .await
}

/// An emulator whose clock moves only when advanced: the tests assert exact times.
async fn start() -> (Harness, Catalog, i64) {
    let h = Harness::with_config(Config {
        frozen_clock: true,
        ..Config::default()
    })
    .await;
    let c = h.catalog().await;
    let t0 = timestamp(2030, 5, 1, 0, 0, 0);
    h.advance_to(t0).await;
    (h, c, t0)
}

#[tokio::test]
async fn a_trial_starts_trialing_with_a_paid_zero_invoice() {
    let (h, c, t0) = start().await;
    let cus = customer(&h, false).await;
    let before = h.event_count().await;
    let sub = trial_sub(&h, &c, &cus, "create_invoice").await;
    assert_eq!(sub["status"], "trialing");
    assert_eq!(sub["trial_start"], t0);
    assert_eq!(sub["trial_end"], t0 + 14 * DAY);
    assert_eq!(sub["billing_cycle_anchor"], t0 + 14 * DAY);
    assert_eq!(
        sub["trial_settings"]["end_behavior"]["missing_payment_method"],
        "create_invoice"
    );
    let item = &sub["items"]["data"][0];
    assert_eq!(item["current_period_start"], t0);
    assert_eq!(item["current_period_end"], t0 + 14 * DAY);
    let inv = &sub["latest_invoice"];
    assert_eq!(inv["billing_reason"], "subscription_create");
    assert_eq!(inv["status"], "paid");
    assert_eq!(inv["total"], 0);
    assert_eq!(inv["amount_due"], 0);
    let line = &inv["lines"]["data"][0];
    assert_eq!(line["amount"], 0);
    assert_eq!(line["description"], "Trial period for Professional");
    assert_eq!(line["period"]["start"], t0);
    assert_eq!(line["period"]["end"], t0 + 14 * DAY);
    assert_eq!(
        types(&h.events_after(before).await),
        [
            "customer.subscription.created",
            "invoice.created",
            "invoice.finalized",
            "invoice.paid",
            "invoice.payment_succeeded"
        ]
    );
    // No charge for a $0 invoice.
    assert_eq!(h.get("/v1/charges").await["data"], serde_json::json!([]));
}

#[tokio::test]
async fn trial_will_end_three_days_before_and_at_once_for_short_trials() {
    let (h, c, t0) = start().await;
    let cus = customer(&h, true).await;
    let sub = trial_sub(&h, &c, &cus, "create_invoice").await;
    let before = h.event_count().await;
    h.advance_to(t0 + 11 * DAY - 1).await;
    assert!(types(&h.events_after(before).await).is_empty());
    h.advance_to(t0 + 11 * DAY).await;
    let events = h.events_after(before).await;
    assert_eq!(types(&events), ["customer.subscription.trial_will_end"]);
    assert_eq!(events[0]["created"], t0 + 11 * DAY);
    assert_eq!(events[0]["data"]["object"]["id"], sub["id"]);
    assert_eq!(events[0]["data"]["object"]["status"], "trialing");
    // Once only.
    let n = h.event_count().await;
    h.advance_to(t0 + 12 * DAY).await;
    assert_eq!(h.event_count().await, n);

    let two_days = (h.now().await + 2 * DAY).to_string();
    let before = h.event_count().await;
    let short = h
        .post(
            "/v1/subscriptions",
            &[
                ("customer", &cus),
                ("items[0][price]", &c.starter_monthly),
                ("trial_end", &two_days),
            ],
        )
        .await;
    assert_eq!(short["status"], "trialing");
    let kinds = types(&h.events_after(before).await);
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("customer.subscription.trial_will_end")
    );
}

#[tokio::test]
async fn with_a_default_payment_method_the_trial_converts_and_charges() {
    let (h, c, t0) = start().await;
    let cus = customer(&h, true).await;
    let sub = trial_sub(&h, &c, &cus, "cancel").await;
    let id = s(&sub, "id");
    let before = h.event_count().await;
    h.advance_to(t0 + 14 * DAY).await;
    let events = h.events_after(before).await;
    let kinds = types(&events);
    for kind in [
        "invoice.created",
        "invoice.finalized",
        "payment_intent.succeeded",
        "charge.succeeded",
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} missing: {kinds:?}");
    }
    let updated = events
        .iter()
        .find(|e| e["type"] == "customer.subscription.updated")
        .unwrap();
    assert_eq!(updated["data"]["object"]["status"], "active");
    assert_eq!(updated["data"]["previous_attributes"]["status"], "trialing");
    let sub = h
        .get(&format!("/v1/subscriptions/{id}?expand[]=latest_invoice"))
        .await;
    assert_eq!(sub["status"], "active");
    let item = &sub["items"]["data"][0];
    assert_eq!(item["current_period_start"], t0 + 14 * DAY);
    assert_eq!(item["current_period_end"], timestamp(2030, 6, 15, 0, 0, 0));
    let inv = &sub["latest_invoice"];
    assert_eq!(inv["billing_reason"], "subscription_cycle");
    assert_eq!(inv["status"], "paid");
    assert_eq!(inv["amount_paid"], 4900);
    let charge = &h.get("/v1/charges").await["data"][0];
    assert_eq!(charge["amount"], 4900);
}

#[tokio::test]
async fn without_a_payment_method_cancel_ends_the_subscription() {
    let (h, c, t0) = start().await;
    let cus = customer(&h, false).await;
    let sub = trial_sub(&h, &c, &cus, "cancel").await;
    let before = h.event_count().await;
    h.advance_to(t0 + 14 * DAY).await;
    let events = h.events_after(before).await;
    let kinds = types(&events);
    assert_eq!(
        kinds,
        [
            "customer.subscription.trial_will_end",
            "customer.subscription.deleted"
        ]
    );
    let gone = &events[1]["data"]["object"];
    assert_eq!(gone["id"], sub["id"]);
    assert_eq!(gone["status"], "canceled");
    assert_eq!(gone["ended_at"], t0 + 14 * DAY);
    assert_eq!(
        gone["cancellation_details"]["reason"],
        "cancellation_requested"
    );
    assert_eq!(
        h.get("/v1/invoices").await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn without_a_payment_method_pause_then_resume() {
    let (h, c, t0) = start().await;
    let cus = customer(&h, false).await;
    let sub = trial_sub(&h, &c, &cus, "pause").await;
    let id = s(&sub, "id");
    let (status, err) = h
        .post_status(&format!("/v1/subscriptions/{id}/resume"), &[])
        .await;
    assert_eq!(status, 400, "{err:#}");
    let before = h.event_count().await;
    h.advance_to(t0 + 14 * DAY).await;
    let events = h.events_after(before).await;
    assert_eq!(
        types(&events),
        [
            "customer.subscription.trial_will_end",
            "customer.subscription.updated",
            "customer.subscription.paused"
        ]
    );
    assert_eq!(
        events[1]["data"]["previous_attributes"]["status"],
        "trialing"
    );
    assert_eq!(events[2]["data"]["object"]["status"], "paused");
    // A paused subscription is not invoiced.
    h.advance_to(t0 + 60 * DAY).await;
    assert_eq!(
        h.get("/v1/invoices").await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    h.post(
        &format!("/v1/customers/{cus}"),
        &[("payment_method", "pm_card_visa")],
    )
    .await;
    let pm = &h.get(&format!("/v1/customers/{cus}/payment_methods")).await["data"][0];
    h.post(
        &format!("/v1/subscriptions/{id}"),
        &[("default_payment_method", s(pm, "id"))],
    )
    .await;
    let before = h.event_count().await;
    let resumed = h
        .post(
            &format!("/v1/subscriptions/{id}/resume"),
            &[("expand[]", "latest_invoice")],
        )
        .await;
    assert_eq!(resumed["status"], "active");
    let now = t0 + 60 * DAY;
    assert_eq!(resumed["billing_cycle_anchor"], now);
    assert_eq!(resumed["items"]["data"][0]["current_period_start"], now);
    assert_eq!(resumed["latest_invoice"]["amount_paid"], 4900);
    assert_eq!(resumed["latest_invoice"]["status"], "paid");
    let kinds = types(&h.events_after(before).await);
    assert_eq!(
        &kinds[kinds.len() - 2..],
        [
            "customer.subscription.updated",
            "customer.subscription.resumed"
        ]
    );
}

#[tokio::test]
async fn without_a_payment_method_create_invoice_leaves_it_past_due() {
    let (h, c, t0) = start().await;
    let cus = customer(&h, false).await;
    let sub = trial_sub(&h, &c, &cus, "create_invoice").await;
    let id = s(&sub, "id");
    h.advance_to(t0 + 14 * DAY).await;
    let sub = h
        .get(&format!("/v1/subscriptions/{id}?expand[]=latest_invoice"))
        .await;
    assert_eq!(sub["status"], "past_due");
    let inv = &sub["latest_invoice"];
    assert_eq!(inv["status"], "open");
    assert_eq!(inv["billing_reason"], "subscription_cycle");
    assert_eq!(inv["amount_due"], 4900);
    assert_eq!(inv["attempt_count"], 1);
    assert_eq!(inv["next_payment_attempt"], t0 + 17 * DAY);
}

#[tokio::test]
async fn a_payment_method_added_during_the_trial_makes_it_convert() {
    let (h, c, t0) = start().await;
    let cus = customer(&h, false).await;
    let sub = trial_sub(&h, &c, &cus, "cancel").await;
    h.advance_to(t0 + 5 * DAY).await;
    h.post(
        &format!("/v1/customers/{cus}"),
        &[("payment_method", "pm_card_mastercard")],
    )
    .await;
    let pm = h.get(&format!("/v1/customers/{cus}/payment_methods")).await["data"][0].clone();
    h.post(
        &format!("/v1/customers/{cus}"),
        &[("invoice_settings[default_payment_method]", s(&pm, "id"))],
    )
    .await;
    h.advance_to(t0 + 14 * DAY).await;
    let sub = h.get(&format!("/v1/subscriptions/{}", s(&sub, "id"))).await;
    assert_eq!(sub["status"], "active");
    let charge = &h.get("/v1/charges").await["data"][0];
    assert_eq!(charge["amount"], 4900);
    assert_eq!(charge["payment_method"], pm["id"]);
}

#[tokio::test]
async fn trial_end_now_ends_the_trial_at_once_and_a_new_end_moves_it() {
    let (h, c, t0) = start().await;
    let cus = customer(&h, true).await;
    let sub = trial_sub(&h, &c, &cus, "create_invoice").await;
    let id = s(&sub, "id");
    let later = (t0 + 20 * DAY).to_string();
    let moved = h
        .post(&format!("/v1/subscriptions/{id}"), &[("trial_end", &later)])
        .await;
    assert_eq!(moved["trial_end"], t0 + 20 * DAY);
    assert_eq!(moved["status"], "trialing");
    assert_eq!(
        moved["items"]["data"][0]["current_period_end"],
        t0 + 20 * DAY
    );
    h.advance_to(t0 + DAY).await;
    let ended = h
        .post(
            &format!("/v1/subscriptions/{id}"),
            &[("trial_end", "now"), ("expand[]", "latest_invoice")],
        )
        .await;
    assert_eq!(ended["status"], "active");
    assert_eq!(ended["trial_end"], t0 + DAY);
    assert_eq!(ended["billing_cycle_anchor"], t0 + DAY);
    assert_eq!(ended["items"]["data"][0]["current_period_start"], t0 + DAY);
    assert_eq!(ended["latest_invoice"]["amount_paid"], 4900);
    assert_eq!(
        ended["latest_invoice"]["billing_reason"],
        "subscription_cycle"
    );
}

#[tokio::test]
async fn trial_parameters_are_checked_as_stripe_checks_them() {
    let (h, c, t0) = start().await;
    let cus = customer(&h, true).await;
    let base = [
        ("customer", cus.as_str()),
        ("items[0][price]", c.starter_monthly.as_str()),
    ];
    let past = (t0 - 10).to_string();
    let far = (t0 + 731 * DAY).to_string();
    let soon = (t0 + DAY).to_string();
    for (extra, param) in [
        (vec![("trial_end", past.as_str())], "trial_end"),
        (vec![("trial_end", far.as_str())], "trial_end"),
        (vec![("trial_end", "tomorrow")], "trial_end"),
        (
            vec![("trial_end", soon.as_str()), ("trial_period_days", "3")],
            "trial_period_days",
        ),
        (vec![("trial_period_days", "731")], "trial_period_days"),
        (
            vec![(
                "trial_settings[end_behavior][missing_payment_method]",
                "void",
            )],
            "trial_settings[end_behavior][missing_payment_method]",
        ),
        (
            vec![("trial_settings[end_behavior][x]", "cancel")],
            "trial_settings[end_behavior][missing_payment_method]",
        ),
    ] {
        let mut pairs = base.to_vec();
        pairs.extend(extra);
        let (status, body) = h.post_status("/v1/subscriptions", &pairs).await;
        assert_eq!(status, 400, "{pairs:?} -> {body:#}");
        assert_eq!(body["error"]["param"], param, "{pairs:?} -> {body:#}");
    }
    // `trial_end=now` on creation means no trial.
    let mut pairs = base.to_vec();
    pairs.push(("trial_end", "now"));
    let sub = h.post("/v1/subscriptions", &pairs).await;
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["trial_end"], Value::Null);
}

#[tokio::test]
async fn a_checkout_trial_completes_without_a_payment_method_when_if_required() {
    let (h, c, t0) = start().await;
    let open = |collection: &'static str| {
        let price = c.professional_monthly.clone();
        let h = &h;
        async move {
            h.post(
                "/v1/checkout/sessions",
                &[
                    ("mode", "subscription"),
                    ("customer_email", "trial@example.com"),
                    ("line_items[0][price]", &price),
                    ("success_url", "http://localhost/ok"),
                    ("subscription_data[trial_period_days]", "7"),
                    (
                        "subscription_data[trial_settings][end_behavior][missing_payment_method]",
                        "cancel",
                    ),
                    ("payment_method_collection", collection),
                ],
            )
            .await
        }
    };
    let always = open("always").await;
    assert_eq!(always["amount_total"], 0);
    let (status, err) = h
        .post_status(
            &format!("/_emulator/checkout/sessions/{}/complete", s(&always, "id")),
            &[("without_payment_method", "true")],
        )
        .await;
    assert_eq!(status, 400, "{err:#}");

    let session = open("if_required").await;
    assert_eq!(session["payment_method_collection"], "if_required");
    let done = h
        .post(
            &format!(
                "/_emulator/checkout/sessions/{}/complete",
                s(&session, "id")
            ),
            &[("without_payment_method", "true")],
        )
        .await;
    assert_eq!(done["status"], "complete");
    assert_eq!(done["payment_status"], "no_payment_required");
    assert_eq!(done["amount_total"], 0);
    let sub = h
        .get(&format!("/v1/subscriptions/{}", s(&done, "subscription")))
        .await;
    assert_eq!(sub["status"], "trialing");
    assert_eq!(sub["trial_end"], t0 + 7 * DAY);
    assert_eq!(sub["default_payment_method"], Value::Null);
    assert_eq!(
        sub["trial_settings"]["end_behavior"]["missing_payment_method"],
        "cancel"
    );
    h.advance_to(t0 + 7 * DAY).await;
    let sub = h.get(&format!("/v1/subscriptions/{}", s(&sub, "id"))).await;
    assert_eq!(sub["status"], "canceled");

    // With a card, the Checkout trial converts at its end.
    let with_card = open("always").await;
    let done = h
        .post(
            &format!(
                "/_emulator/checkout/sessions/{}/complete",
                s(&with_card, "id")
            ),
            &[("payment_method", "pm_card_visa")],
        )
        .await;
    let id = s(&done, "subscription").to_string();
    h.advance_to(t0 + 14 * DAY).await;
    let sub = h.get(&format!("/v1/subscriptions/{id}")).await;
    assert_eq!(sub["status"], "active");
}

#[tokio::test]
async fn checkout_refuses_bad_trial_data() {
    let (h, c, t0) = start().await;
    let soon = (t0 + DAY).to_string();
    for (extra, param) in [
        (
            ("subscription_data[trial_end]", soon.as_str()),
            "subscription_data[trial_end]",
        ),
        (
            ("subscription_data[trial_period_days]", "1000"),
            "subscription_data[trial_period_days]",
        ),
        (
            ("payment_method_collection", "never"),
            "payment_method_collection",
        ),
    ] {
        let (status, body) = h
            .post_status(
                "/v1/checkout/sessions",
                &[
                    ("mode", "subscription"),
                    ("line_items[0][price]", &c.starter_monthly),
                    ("success_url", "http://localhost/ok"),
                    extra,
                ],
            )
            .await;
        assert_eq!(status, 400, "{extra:?} -> {body:#}");
        assert_eq!(body["error"]["param"], param);
    }
}

#[tokio::test]
async fn resume_with_the_old_anchor_prorates_the_rest_of_its_period() {
    let (h, c, t0) = start().await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let cus = customer(&h, false).await;
        let sub = trial_sub(&h, &c, &cus, "pause").await;
        ids.push((cus, s(&sub, "id").to_string()));
    }
    h.advance_to(t0 + 24 * DAY).await;
    for (cus, id) in &ids {
        h.post(
            &format!("/v1/customers/{cus}"),
            &[("payment_method", "pm_card_visa")],
        )
        .await;
        let pm = h.get(&format!("/v1/customers/{cus}/payment_methods")).await["data"][0].clone();
        h.post(
            &format!("/v1/subscriptions/{id}"),
            &[("default_payment_method", s(&pm, "id"))],
        )
        .await;
    }
    let (_, invoiced) = &ids[0];
    let resumed = h
        .post(
            &format!("/v1/subscriptions/{invoiced}/resume"),
            &[
                ("billing_cycle_anchor", "unchanged"),
                ("proration_behavior", "always_invoice"),
                ("expand[]", "latest_invoice"),
            ],
        )
        .await;
    assert_eq!(resumed["status"], "active");
    // The anchor stays at the trial's end (15 May); the period 15 May – 15 Jun has 31 days,
    // 21 left: 4900 × 21 / 31 = 3319.35.
    assert_eq!(resumed["billing_cycle_anchor"], t0 + 14 * DAY);
    let item = &resumed["items"]["data"][0];
    assert_eq!(item["current_period_start"], t0 + 14 * DAY);
    assert_eq!(item["current_period_end"], timestamp(2030, 6, 15, 0, 0, 0));
    let inv = &resumed["latest_invoice"];
    assert_eq!(inv["lines"]["data"][0]["amount"], 3319);
    assert_eq!(inv["amount_paid"], 3319);

    let (_, pending) = &ids[1];
    let resumed = h
        .post(
            &format!("/v1/subscriptions/{pending}/resume"),
            &[("billing_cycle_anchor", "unchanged")],
        )
        .await;
    assert_eq!(resumed["status"], "active");
    let items = h
        .get(&format!(
            "/v1/invoiceitems?customer={}&pending=true",
            s(&resumed, "customer")
        ))
        .await;
    assert_eq!(items["data"][0]["amount"], 3319);
    // Billed with the next cycle.
    h.advance_to(timestamp(2030, 6, 15, 0, 0, 0)).await;
    let renewed = h
        .get(&format!(
            "/v1/subscriptions/{pending}?expand[]=latest_invoice"
        ))
        .await;
    assert_eq!(renewed["latest_invoice"]["total"], 3319 + 4900);
}
