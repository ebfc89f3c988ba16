//! Checkout sessions: subscription mode with Stripe's event sequence, and payment mode.

use serde_json::json;

use crate::harness::{s, types, Harness};

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
