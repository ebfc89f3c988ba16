//! Checkout, subscriptions, proration, previews, pending updates, 3-D Secure, the clock,
//! schedules and customer deletion.

use serde_json::{json, Value};
use stripe_emulator::calendar::timestamp;

use crate::harness::{s, types, Harness};

fn line_summary(inv: &Value) -> Vec<Value> {
    inv["lines"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            json!([
                l["amount"],
                l["description"],
                l["period"],
                l["pricing"]["price_details"]["price"],
                l["parent"]["subscription_item_details"]["proration"]
            ])
        })
        .collect()
}

/// Independent reference: Stripe's per-line proration, rounded half away from zero.
fn reference_share(amount: i64, t: i64, start: i64, end: i64) -> i64 {
    let exact = amount as f64 * (end - t) as f64 / (end - start) as f64;
    exact.round() as i64
}

#[tokio::test]
async fn checkout_subscription_completion_emits_stripes_events() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    let (status, body) = h
        .post_status(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("line_items[0][price]", &c.starter_monthly),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"]["param"].clone()),
        (400, json!("success_url"))
    );
    let (status, body) = h
        .post_status(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("line_items[0][price]", "price_nope"),
                ("success_url", "http://x/ok"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("resource_missing"))
    );
    let (status, _) = h
        .post_status(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("line_items[0][price]", &c.starter_monthly),
                ("success_url", "http://x/ok"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = h
        .post_status(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("line_items[0][price]", &c.credits),
                ("success_url", "http://x/ok"),
            ],
        )
        .await;
    assert_eq!(status, 400);

    let session = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("customer_email", "ada@example.com"),
                ("client_reference_id", "user-1"),
                ("line_items[0][price]", &c.professional_monthly),
                ("line_items[0][quantity]", "1"),
                (
                    "success_url",
                    "http://localhost/ok?session_id={CHECKOUT_SESSION_ID}",
                ),
                ("cancel_url", "http://localhost/cancel"),
                ("metadata[user_id]", "user-1"),
                ("subscription_data[metadata][user_id]", "user-1"),
            ],
        )
        .await;
    let id = s(&session, "id");
    assert!(id.starts_with("cs_test_"));
    assert_eq!(session["status"], "open");
    assert_eq!(session["payment_status"], "unpaid");
    assert_eq!(session["amount_total"], 4900);
    assert_eq!(session["url"], format!("{}/checkout/{id}", h.emu.url()));
    let page = h.http.get(s(&session, "url")).send().await.unwrap();
    assert!(page.text().await.unwrap().contains(id));

    let (status, body) = h
        .post_status(
            &format!("/_emulator/checkout/sessions/{id}/complete"),
            &[("payment_method", "pm_card_chargeDeclined")],
        )
        .await;
    assert_eq!(
        (status, body["error"]["type"].clone()),
        (402, json!("card_error"))
    );
    assert_eq!(
        h.get(&format!("/v1/checkout/sessions/{id}")).await["status"],
        "open"
    );

    let before = h.event_count().await;
    let done = h
        .post(&format!("/_emulator/checkout/sessions/{id}/complete"), &[])
        .await;
    assert_eq!(done["status"], "complete");
    assert_eq!(done["payment_status"], "paid");
    let events = h.events_after(before).await;
    assert_eq!(
        types(&events),
        [
            "customer.created",
            "payment_method.attached",
            "customer.subscription.created",
            "invoice.created",
            "invoice.finalized",
            "payment_intent.succeeded",
            "charge.succeeded",
            "invoice.paid",
            "invoice.payment_succeeded",
            "checkout.session.completed"
        ]
    );
    let completed = &events[9]["data"]["object"];
    assert_eq!(completed["client_reference_id"], "user-1");
    assert_eq!(completed["metadata"]["user_id"], "user-1");
    assert_eq!(completed["customer_details"]["email"], "ada@example.com");
    assert_eq!(completed["subscription"], done["subscription"]);

    let full = h
        .get(&format!("/v1/checkout/sessions/{id}?expand[]=subscription"))
        .await;
    let sub = &full["subscription"];
    assert_eq!(sub["object"], "subscription");
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["metadata"]["user_id"], "user-1");
    assert_eq!(sub["customer"], done["customer"]);
    let item = &sub["items"]["data"][0];
    assert_eq!(item["price"]["lookup_key"], "professional_monthly");
    assert_eq!(item["price"]["recurring"]["interval"], "month");
    assert!(
        sub.get("current_period_end").is_none(),
        "basil keeps the period on the items"
    );
    assert!(item["current_period_end"].as_i64() > item["current_period_start"].as_i64());
    assert_eq!(sub["default_payment_method"].as_str().unwrap()[..3], *"pm_");

    let inv = h
        .get(&format!(
            "/v1/invoices/{}?expand[]=payments",
            s(&done, "invoice")
        ))
        .await;
    assert_eq!(inv["status"], "paid");
    assert_eq!(inv["amount_paid"], 4900);
    assert_eq!(inv["billing_reason"], "subscription_create");
    assert_eq!(
        inv["parent"]["subscription_details"]["subscription"],
        sub["id"]
    );
    for pre_basil in ["subscription", "payment_intent", "charge", "paid"] {
        assert!(
            inv.get(pre_basil).is_none(),
            "basil has no invoice.{pre_basil}"
        );
    }
    assert_eq!(
        inv["lines"]["data"][0]["description"],
        "1 × Professional (at $49.00 / month)"
    );
    let pi = h.invoice_intent(&inv).await;
    assert_eq!(pi["status"], "succeeded");
    assert!(s(&pi, "latest_charge").starts_with("ch_"));
    let cus = h
        .get(&format!("/v1/customers/{}", s(&done, "customer")))
        .await;
    assert_eq!(cus["email"], "ada@example.com");
    assert_eq!(
        cus["invoice_settings"]["default_payment_method"],
        sub["default_payment_method"]
    );
}

#[tokio::test]
async fn checkout_payment_mode() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    let cus = h
        .post("/v1/customers", &[("email", "ada@example.com")])
        .await;
    let session = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("customer", s(&cus, "id")),
                ("line_items[0][price]", &c.credits),
                ("line_items[0][quantity]", "2"),
                ("success_url", "http://x/ok"),
                ("payment_intent_data[metadata][user_id]", "u1"),
            ],
        )
        .await;
    let before = h.event_count().await;
    let done = h
        .post(
            &format!(
                "/_emulator/checkout/sessions/{}/complete",
                s(&session, "id")
            ),
            &[],
        )
        .await;
    assert_eq!(
        types(&h.events_after(before).await),
        [
            "payment_intent.succeeded",
            "charge.succeeded",
            "checkout.session.completed"
        ]
    );
    let pi = h
        .get(&format!(
            "/v1/payment_intents/{}",
            s(&done, "payment_intent")
        ))
        .await;
    assert_eq!(pi["amount"], 5000);
    assert_eq!(pi["status"], "succeeded");
    assert_eq!(pi["metadata"]["user_id"], "u1");
    assert_eq!(pi["customer"], cus["id"]);
}

/// Starter ($19) → Professional ($49) exactly halfway through a 30-day period.
#[tokio::test]
async fn proration_halfway_and_preview_matches_update() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    h.advance_to(timestamp(2030, 4, 1, 0, 0, 0)).await;
    let sub = h.subscribe(&c.starter_monthly, "pm_card_visa").await;
    let (start, end) = (
        sub["items"]["data"][0]["current_period_start"]
            .as_i64()
            .unwrap(),
        sub["items"]["data"][0]["current_period_end"]
            .as_i64()
            .unwrap(),
    );
    assert_eq!(end - start, 30 * 86_400);
    let t = start + 15 * 86_400;
    let sid = s(&sub, "id");
    let item = s(&sub["items"]["data"][0], "id");
    let t_s = t.to_string();
    let preview = h
        .post(
            "/v1/invoices/create_preview",
            &[
                ("customer", s(&sub, "customer")),
                ("subscription", sid),
                ("subscription_details[items][0][id]", item),
                (
                    "subscription_details[items][0][price]",
                    &c.professional_monthly,
                ),
                ("subscription_details[proration_date]", &t_s),
                ("subscription_details[proration_behavior]", "always_invoice"),
            ],
        )
        .await;
    assert_eq!(preview["object"], "invoice");
    assert_eq!(preview["id"], Value::Null);
    let amounts: Vec<i64> = preview["lines"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [-950, 2450]);
    assert_eq!(preview["total"], 1500);
    assert_eq!(preview["amount_due"], 1500);
    assert_eq!(
        preview["lines"]["data"][0]["description"],
        "Unused time on Starter after 16 Apr 2030"
    );
    assert_eq!(
        preview["lines"]["data"][1]["description"],
        "Remaining time on Professional after 16 Apr 2030"
    );
    assert_eq!(
        preview["lines"]["data"][0]["parent"]["subscription_item_details"]["proration"],
        true
    );

    let before = h.event_count().await;
    let updated = h
        .post(
            &format!("/v1/subscriptions/{sid}"),
            &[
                ("items[0][id]", item),
                ("items[0][price]", &c.professional_monthly),
                ("proration_behavior", "always_invoice"),
                ("proration_date", &t_s),
                ("payment_behavior", "pending_if_incomplete"),
                ("expand[]", "latest_invoice.payments"),
            ],
        )
        .await;
    assert_eq!(
        updated["items"]["data"][0]["price"]["lookup_key"],
        "professional_monthly"
    );
    assert_eq!(updated["items"]["data"][0]["id"], item);
    assert_eq!(updated["pending_update"], Value::Null);
    let inv = &updated["latest_invoice"];
    assert_eq!(inv["status"], "paid");
    assert_eq!(inv["total"], 1500);
    assert_eq!(inv["amount_due"], preview["amount_due"]);
    assert_eq!(line_summary(inv), line_summary(&preview));
    let pi = h.invoice_intent(inv).await;
    assert_eq!(pi["status"], "succeeded");
    assert_eq!(pi["amount"], 1500);
    assert_eq!(updated["items"]["data"][0]["current_period_end"], end);
    let events = types(&h.events_after(before).await);
    assert_eq!(
        events,
        [
            "invoice.created",
            "invoice.finalized",
            "payment_intent.succeeded",
            "charge.succeeded",
            "invoice.paid",
            "invoice.payment_succeeded",
            "customer.subscription.updated"
        ]
    );
}

#[tokio::test]
async fn uneven_prorations_round_per_line_and_go_to_the_renewal() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    h.advance_to(timestamp(2030, 1, 31, 12, 0, 0)).await;
    let sub = h.subscribe(&c.starter_monthly, "pm_card_visa").await;
    let (start, end) = (
        sub["items"]["data"][0]["current_period_start"]
            .as_i64()
            .unwrap(),
        sub["items"]["data"][0]["current_period_end"]
            .as_i64()
            .unwrap(),
    );
    // Jan 31 → Feb 28: 28 days; odd offset so the shares are not whole cents.
    let t = start + 9 * 86_400 + 7 * 3600 + 13;
    let sid = s(&sub, "id");
    let item = s(&sub["items"]["data"][0], "id");
    let t_s = t.to_string();
    let preview = h
        .post(
            "/v1/invoices/create_preview",
            &[
                ("subscription", sid),
                ("subscription_details[items][0][id]", item),
                (
                    "subscription_details[items][0][price]",
                    &c.enterprise_monthly,
                ),
                ("subscription_details[proration_date]", &t_s),
            ],
        )
        .await;
    let credit = -reference_share(1900, t, start, end);
    let charge = reference_share(9900, t, start, end);
    let amounts: Vec<i64> = preview["lines"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amount"].as_i64().unwrap())
        .collect();
    // create_prorations: the next invoice holds both prorations and the next period at the new price.
    assert_eq!(amounts, [credit, charge, 9900]);
    assert_eq!(preview["billing_reason"], "upcoming");
    h.post(
        &format!("/v1/subscriptions/{sid}"),
        &[
            ("items[0][id]", item),
            ("items[0][price]", &c.enterprise_monthly),
            ("proration_date", &t_s),
        ],
    )
    .await;
    let invoices = h.get(&format!("/v1/invoices?subscription={sid}")).await;
    assert_eq!(
        invoices["data"].as_array().unwrap().len(),
        1,
        "create_prorations invoices nothing now"
    );
    let pending = h
        .get(&format!(
            "/v1/invoiceitems?customer={}&pending=true",
            s(&sub, "customer")
        ))
        .await;
    assert_eq!(pending["data"].as_array().unwrap().len(), 2);
    h.advance_to(end + 60).await;
    let renewed = h
        .get(&format!("/v1/subscriptions/{sid}?expand[]=latest_invoice"))
        .await;
    let inv = &renewed["latest_invoice"];
    assert_eq!(inv["billing_reason"], "subscription_cycle");
    assert_eq!(inv["status"], "paid");
    assert_eq!(line_summary(inv), line_summary(&preview));
    assert_eq!(inv["total"], credit + charge + 9900);
    assert_eq!(renewed["items"]["data"][0]["current_period_start"], end);
}

#[tokio::test]
async fn monthly_to_yearly_resets_the_billing_anchor() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    h.advance_to(timestamp(2030, 4, 1, 0, 0, 0)).await;
    let sub = h.subscribe(&c.professional_monthly, "pm_card_visa").await;
    let start = sub["items"]["data"][0]["current_period_start"]
        .as_i64()
        .unwrap();
    let end = sub["items"]["data"][0]["current_period_end"]
        .as_i64()
        .unwrap();
    let t = start + 10 * 86_400;
    h.advance_to(t).await;
    let sid = s(&sub, "id");
    let item = s(&sub["items"]["data"][0], "id");
    let t_s = t.to_string();
    let preview = h
        .post(
            "/v1/invoices/create_preview",
            &[
                ("subscription", sid),
                ("subscription_details[items][0][id]", item),
                (
                    "subscription_details[items][0][price]",
                    &c.professional_yearly,
                ),
                ("subscription_details[proration_date]", &t_s),
            ],
        )
        .await;
    let updated = h
        .post(
            &format!("/v1/subscriptions/{sid}"),
            &[
                ("items[0][id]", item),
                ("items[0][price]", &c.professional_yearly),
                ("proration_date", &t_s),
                ("expand[]", "latest_invoice"),
            ],
        )
        .await;
    let credit = -reference_share(4900, t, start, end);
    let inv = &updated["latest_invoice"];
    let amounts: Vec<i64> = inv["lines"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [credit, 49000]);
    assert_eq!(inv["status"], "paid");
    assert_eq!(line_summary(inv), line_summary(&preview));
    let anchor = updated["billing_cycle_anchor"].as_i64().unwrap();
    assert!(anchor >= t && anchor <= t + 5);
    assert_eq!(updated["items"]["data"][0]["current_period_start"], anchor);
    assert_eq!(
        updated["items"]["data"][0]["current_period_end"],
        timestamp(2031, 4, 11, 0, 0, 0) + (anchor - t)
    );
}

#[tokio::test]
async fn pending_if_incomplete_decline_leaves_the_subscription_unchanged() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    let sub = h.subscribe(&c.starter_monthly, "pm_card_visa").await;
    let sid = s(&sub, "id");
    let cus = s(&sub, "customer");
    let item = s(&sub["items"]["data"][0], "id");
    let failing = h
        .post(
            "/v1/payment_methods/pm_card_chargeCustomerFail/attach",
            &[("customer", cus)],
        )
        .await;
    h.post(
        &format!("/v1/subscriptions/{sid}"),
        &[("default_payment_method", s(&failing, "id"))],
    )
    .await;

    let (status, body) = h
        .post_status(
            &format!("/v1/subscriptions/{sid}"),
            &[
                ("items[0][id]", item),
                ("items[0][price]", &c.professional_monthly),
                ("payment_behavior", "pending_if_incomplete"),
                ("metadata[x]", "1"),
            ],
        )
        .await;
    assert_eq!(
        status, 400,
        "metadata is not allowed with pending updates: {body}"
    );

    // error_if_incomplete: a 402 and nothing changes.
    let invoices_before = h.get(&format!("/v1/invoices?subscription={sid}")).await["data"]
        .as_array()
        .unwrap()
        .len();
    let (status, body) = h
        .post_status(
            &format!("/v1/subscriptions/{sid}"),
            &[
                ("items[0][id]", item),
                ("items[0][price]", &c.professional_monthly),
                ("proration_behavior", "always_invoice"),
                ("payment_behavior", "error_if_incomplete"),
            ],
        )
        .await;
    assert_eq!(status, 402);
    assert_eq!(body["error"]["code"], "card_declined");
    assert_eq!(
        h.get(&format!("/v1/invoices?subscription={sid}")).await["data"]
            .as_array()
            .unwrap()
            .len(),
        invoices_before
    );

    let before = h.event_count().await;
    let updated = h
        .post(
            &format!("/v1/subscriptions/{sid}"),
            &[
                ("items[0][id]", item),
                ("items[0][price]", &c.professional_monthly),
                ("proration_behavior", "always_invoice"),
                ("payment_behavior", "pending_if_incomplete"),
                ("expand[]", "latest_invoice.payments"),
            ],
        )
        .await;
    assert_eq!(
        updated["items"]["data"][0]["price"]["id"],
        c.starter_monthly.as_str()
    );
    assert_eq!(updated["status"], "active");
    assert_eq!(
        updated["pending_update"]["subscription_items"][0]["price"]["id"],
        c.professional_monthly.as_str()
    );
    assert!(updated["pending_update"]["expires_at"].as_i64().unwrap() > 0);
    assert_eq!(updated["latest_invoice"]["status"], "open");
    let pi = h.invoice_intent(&updated["latest_invoice"]).await;
    assert_eq!(pi["status"], "requires_payment_method");
    assert_eq!(pi["last_payment_error"]["code"], "card_declined");
    let events = types(&h.events_after(before).await);
    assert!(
        events.contains(&"invoice.payment_failed".to_string()),
        "{events:?}"
    );
    let fresh = h.get(&format!("/v1/subscriptions/{sid}")).await;
    assert_eq!(fresh["items"], sub["items"]);
}

#[tokio::test]
async fn three_d_secure_upgrade_then_authenticate() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    for (outcome, applied) in [("succeed", true), ("fail", false)] {
        let sub = h
            .subscribe(&c.starter_monthly, "pm_card_authenticationRequired")
            .await;
        let sid = s(&sub, "id");
        let item = s(&sub["items"]["data"][0], "id");
        let before = h.event_count().await;
        let updated = h
            .post(
                &format!("/v1/subscriptions/{sid}"),
                &[
                    ("items[0][id]", item),
                    ("items[0][price]", &c.professional_monthly),
                    ("proration_behavior", "always_invoice"),
                    ("payment_behavior", "pending_if_incomplete"),
                    ("expand[]", "latest_invoice.payments"),
                ],
            )
            .await;
        let pi = &h.invoice_intent(&updated["latest_invoice"]).await;
        assert_eq!(pi["status"], "requires_action");
        assert!(s(&pi["next_action"]["redirect_to_url"], "url").contains("/_emulator/3ds/"));
        assert!(updated["pending_update"].is_object());
        assert_eq!(
            updated["items"]["data"][0]["price"]["id"],
            c.starter_monthly.as_str()
        );
        assert!(types(&h.events_after(before).await)
            .contains(&"invoice.payment_action_required".to_string()));

        let before = h.event_count().await;
        h.post(
            &format!("/_emulator/payment_intents/{}/authenticate", s(pi, "id")),
            &[("outcome", outcome)],
        )
        .await;
        let after = h
            .get(&format!("/v1/subscriptions/{sid}?expand[]=latest_invoice"))
            .await;
        assert_eq!(after["pending_update"], Value::Null);
        let events = h.events_after(before).await;
        let kinds = types(&events);
        let updated_event = events
            .iter()
            .find(|e| e["type"] == "customer.subscription.updated")
            .unwrap();
        if applied {
            assert_eq!(
                after["items"]["data"][0]["price"]["id"],
                c.professional_monthly.as_str()
            );
            assert_eq!(after["latest_invoice"]["status"], "paid");
            assert!(kinds.contains(&"invoice.paid".to_string()));
            assert!(updated_event["data"]["previous_attributes"]["items"].is_object());
        } else {
            assert_eq!(
                after["items"]["data"][0]["price"]["id"],
                c.starter_monthly.as_str()
            );
            assert_eq!(after["latest_invoice"]["status"], "void");
            assert!(kinds.contains(&"invoice.payment_failed".to_string()));
        }
    }
}

#[tokio::test]
async fn clock_advance_renews_and_pays() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    let good = h.subscribe(&c.starter_monthly, "pm_card_visa").await;
    let end = good["items"]["data"][0]["current_period_end"]
        .as_i64()
        .unwrap();
    let before = h.event_count().await;
    h.advance_to(end + 3600).await;
    let renewed = h
        .get(&format!(
            "/v1/subscriptions/{}?expand[]=latest_invoice",
            s(&good, "id")
        ))
        .await;
    assert_eq!(renewed["status"], "active");
    assert_eq!(renewed["items"]["data"][0]["current_period_start"], end);
    assert_eq!(
        renewed["latest_invoice"]["billing_reason"],
        "subscription_cycle"
    );
    assert_eq!(renewed["latest_invoice"]["status"], "paid");
    assert_eq!(renewed["latest_invoice"]["amount_paid"], 1900);
    let events = h.events_after(before).await;
    let upd = events
        .iter()
        .find(|e| {
            e["type"] == "customer.subscription.updated" && e["data"]["object"]["id"] == good["id"]
        })
        .unwrap();
    assert_eq!(
        upd["data"]["previous_attributes"]["items"]["data"][0]["current_period_end"],
        end
    );
    assert!(upd["request"]["id"].is_null());
    assert!(types(&events).contains(&"invoice.payment_succeeded".to_string()));
    assert!((h.now().await - (end + 3600)).abs() < 5);
}

#[tokio::test]
async fn failing_renewal_goes_past_due() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    let sub = h.subscribe(&c.starter_monthly, "pm_card_visa").await;
    let sid = s(&sub, "id");
    let failing = h
        .post(
            "/v1/payment_methods/pm_card_chargeCustomerFail/attach",
            &[("customer", s(&sub, "customer"))],
        )
        .await;
    h.post(
        &format!("/v1/subscriptions/{sid}"),
        &[("default_payment_method", s(&failing, "id"))],
    )
    .await;
    let before = h.event_count().await;
    h.advance_to(
        sub["items"]["data"][0]["current_period_end"]
            .as_i64()
            .unwrap()
            + 60,
    )
    .await;
    let events = h.events_after(before).await;
    let kinds = types(&events);
    assert!(
        kinds.contains(&"invoice.payment_failed".to_string()),
        "{kinds:?}"
    );
    let upd = events
        .iter()
        .rev()
        .find(|e| e["type"] == "customer.subscription.updated")
        .unwrap();
    assert_eq!(upd["data"]["previous_attributes"]["status"], "active");
    assert_eq!(upd["data"]["object"]["status"], "past_due");
    let fresh = h
        .get(&format!("/v1/subscriptions/{sid}?expand[]=latest_invoice"))
        .await;
    assert_eq!(fresh["status"], "past_due");
    assert_eq!(fresh["latest_invoice"]["status"], "open");
    assert!(fresh["latest_invoice"]["next_payment_attempt"].is_i64());
    // Paying the open invoice with a good card brings it back to active.
    let paid = h
        .post(
            &format!("/v1/invoices/{}/pay", s(&fresh["latest_invoice"], "id")),
            &[("payment_method", "pm_card_visa")],
        )
        .await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(
        h.get(&format!("/v1/subscriptions/{sid}")).await["status"],
        "active"
    );
}

#[tokio::test]
async fn cancel_at_period_end_then_resume_and_cancel() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    let sub = h.subscribe(&c.starter_monthly, "pm_card_visa").await;
    let sid = s(&sub, "id");
    let end = sub["items"]["data"][0]["current_period_end"]
        .as_i64()
        .unwrap();
    let before = h.event_count().await;
    let upd = h
        .post(
            &format!("/v1/subscriptions/{sid}"),
            &[("cancel_at_period_end", "true")],
        )
        .await;
    assert_eq!(upd["cancel_at_period_end"], true);
    assert_eq!(upd["cancel_at"], end);
    assert_eq!(upd["status"], "active");
    let events = h.events_after(before).await;
    assert_eq!(types(&events), ["customer.subscription.updated"]);
    assert_eq!(
        events[0]["data"]["previous_attributes"]["cancel_at_period_end"],
        false
    );
    let resumed = h
        .post(
            &format!("/v1/subscriptions/{sid}"),
            &[("cancel_at_period_end", "false")],
        )
        .await;
    assert_eq!(resumed["cancel_at"], Value::Null);
    h.post(
        &format!("/v1/subscriptions/{sid}"),
        &[("cancel_at_period_end", "true")],
    )
    .await;
    h.advance_to(end - 60).await;
    assert_eq!(
        h.get(&format!("/v1/subscriptions/{sid}")).await["status"],
        "active"
    );
    let before = h.event_count().await;
    h.advance_to(end + 60).await;
    let events = h.events_after(before).await;
    assert_eq!(types(&events), ["customer.subscription.deleted"]);
    let obj = &events[0]["data"]["object"];
    assert_eq!(obj["status"], "canceled");
    assert_eq!(obj["ended_at"], end);
    let invoices = h.get(&format!("/v1/invoices?subscription={sid}")).await;
    assert_eq!(
        invoices["data"].as_array().unwrap().len(),
        1,
        "no renewal after cancellation"
    );
    let list = h
        .get(&format!(
            "/v1/subscriptions?customer={}",
            s(&sub, "customer")
        ))
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    let list = h
        .get(&format!(
            "/v1/subscriptions?customer={}&status=all",
            s(&sub, "customer")
        ))
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    let other = h.subscribe(&c.starter_monthly, "pm_card_visa").await;
    let gone = h
        .delete(&format!("/v1/subscriptions/{}", s(&other, "id")), &[])
        .await;
    assert_eq!(gone["status"], "canceled");
}

#[tokio::test]
async fn schedule_downgrade_applies_at_renewal() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    let sub = h.subscribe(&c.professional_monthly, "pm_card_visa").await;
    let sid = s(&sub, "id");
    let (start, end) = (
        sub["items"]["data"][0]["current_period_start"]
            .as_i64()
            .unwrap(),
        sub["items"]["data"][0]["current_period_end"]
            .as_i64()
            .unwrap(),
    );
    let sched = h
        .post("/v1/subscription_schedules", &[("from_subscription", sid)])
        .await;
    let sched_id = s(&sched, "id");
    assert!(sched_id.starts_with("sub_sched_"));
    assert_eq!(sched["phases"][0]["end_date"], end);
    let (start_s, end_s) = (start.to_string(), end.to_string());
    let updated = h
        .post(
            &format!("/v1/subscription_schedules/{sched_id}"),
            &[
                ("phases[0][items][0][price]", &c.professional_monthly),
                ("phases[0][start_date]", &start_s),
                ("phases[0][end_date]", &end_s),
                ("phases[1][items][0][price]", &c.starter_monthly),
                ("phases[1][start_date]", &end_s),
                ("phases[1][iterations]", "1"),
                ("end_behavior", "release"),
                ("proration_behavior", "none"),
            ],
        )
        .await;
    assert_eq!(updated["phases"].as_array().unwrap().len(), 2);
    assert_eq!(
        h.get(&format!("/v1/subscriptions/{sid}")).await["schedule"],
        sched["id"]
    );
    let before = h.event_count().await;
    h.advance_to(end + 60).await;
    let events = h.events_after(before).await;
    let kinds = types(&events);
    let switch = kinds
        .iter()
        .position(|k| k == "customer.subscription.updated")
        .unwrap();
    let created = kinds.iter().position(|k| k == "invoice.created").unwrap();
    assert!(switch < created, "{kinds:?}");
    assert_eq!(
        events[switch]["data"]["object"]["items"]["data"][0]["price"]["id"],
        c.starter_monthly.as_str()
    );
    let renewed = h
        .get(&format!("/v1/subscriptions/{sid}?expand[]=latest_invoice"))
        .await;
    assert_eq!(
        renewed["items"]["data"][0]["price"]["lookup_key"],
        "starter_monthly"
    );
    assert_eq!(renewed["latest_invoice"]["total"], 1900);
    assert_eq!(
        renewed["latest_invoice"]["lines"]["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Withdrawing a scheduled change: release detaches the schedule.
    let other = h.subscribe(&c.professional_monthly, "pm_card_visa").await;
    let sched = h
        .post(
            "/v1/subscription_schedules",
            &[("from_subscription", s(&other, "id"))],
        )
        .await;
    let released = h
        .post(
            &format!("/v1/subscription_schedules/{}/release", s(&sched, "id")),
            &[],
        )
        .await;
    assert_eq!(released["status"], "released");
    assert_eq!(released["released_subscription"], other["id"]);
    assert_eq!(
        h.get(&format!("/v1/subscriptions/{}", s(&other, "id")))
            .await["schedule"],
        Value::Null
    );
}

#[tokio::test]
async fn deleting_a_customer_cancels_its_subscriptions() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    let sub = h.subscribe(&c.starter_monthly, "pm_card_visa").await;
    let cus = s(&sub, "customer");
    let before = h.event_count().await;
    let deleted = h.delete(&format!("/v1/customers/{cus}"), &[]).await;
    assert_eq!(
        deleted,
        json!({"id": cus, "object": "customer", "deleted": true})
    );
    let events = h.events_after(before).await;
    assert_eq!(
        types(&events),
        ["customer.subscription.deleted", "customer.deleted"]
    );
    assert_eq!(events[1]["data"]["object"]["email"], "ada@example.com");
    assert_eq!(
        h.get(&format!("/v1/customers/{cus}")).await["deleted"],
        true
    );
    assert_eq!(
        h.get(&format!("/v1/subscriptions/{}", s(&sub, "id"))).await["status"],
        "canceled"
    );
}
