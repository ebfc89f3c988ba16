//! Plan changes on a live subscription: proration and its preview, billing-anchor resets,
//! `pending_if_incomplete` and 3-D Secure on an upgrade.

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
