//! One-time payments: PaymentIntents confirmed, declined and through 3-D Secure; refunds and
//! disputes.

use serde_json::json;

use crate::harness::{s, types, Harness};

#[tokio::test]
async fn payment_intents_confirm_decline_and_3ds() {
    let h = Harness::start().await;
    let cus = h
        .post("/v1/customers", &[("email", "ada@example.com")])
        .await;
    let cus = s(&cus, "id");
    let (status, body) = h
        .post_status(
            "/v1/payment_intents",
            &[("amount", "49"), ("currency", "usd")],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "amount_too_small");
    let pi = h
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "5000"),
                ("currency", "usd"),
                ("customer", cus),
                ("description", "Credits"),
                ("metadata[user_id]", "u1"),
                ("automatic_payment_methods[enabled]", "true"),
            ],
        )
        .await;
    let id = s(&pi, "id");
    assert_eq!(pi["status"], "requires_payment_method");
    assert!(s(&pi, "client_secret").starts_with(&format!("{id}_secret_")));
    let before = h.event_count().await;
    let (status, body) = h
        .post_status(
            &format!("/v1/payment_intents/{id}/confirm"),
            &[("payment_method", "pm_card_chargeDeclined")],
        )
        .await;
    assert_eq!(status, 402);
    assert_eq!(body["error"]["code"], "card_declined");
    assert_eq!(body["error"]["decline_code"], "generic_decline");
    assert_eq!(
        body["error"]["payment_intent"]["status"],
        "requires_payment_method"
    );
    assert_eq!(
        types(&h.events_after(before).await),
        ["charge.failed", "payment_intent.payment_failed"]
    );

    let before = h.event_count().await;
    let ok = h
        .post(
            &format!("/v1/payment_intents/{id}/confirm"),
            &[("payment_method", "pm_card_visa")],
        )
        .await;
    assert_eq!(ok["status"], "succeeded");
    assert_eq!(ok["amount_received"], 5000);
    let charge = h
        .get(&format!("/v1/charges/{}", s(&ok, "latest_charge")))
        .await;
    assert_eq!(charge["amount"], 5000);
    assert_eq!(charge["paid"], true);
    assert_eq!(charge["payment_intent"], id);
    assert_eq!(charge["metadata"]["user_id"], "u1");
    assert_eq!(
        types(&h.events_after(before).await),
        ["payment_intent.succeeded", "charge.succeeded"]
    );

    let three = h
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("payment_method", "pm_card_threeDSecure2Required"),
                ("confirm", "true"),
            ],
        )
        .await;
    assert_eq!(three["status"], "requires_action");
    assert_eq!(three["next_action"]["type"], "redirect_to_url");
    let done = h
        .post(
            &format!(
                "/_emulator/payment_intents/{}/authenticate",
                s(&three, "id")
            ),
            &[("outcome", "succeed")],
        )
        .await;
    assert_eq!(done["status"], "succeeded");
}

#[tokio::test]
async fn refunds_and_disputes() {
    let h = Harness::start().await;
    let pi = h
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "3000"),
                ("currency", "usd"),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
            ],
        )
        .await;
    let charge = s(&pi, "latest_charge").to_string();
    let before = h.event_count().await;
    let r1 = h
        .post("/v1/refunds", &[("charge", &charge), ("amount", "1000")])
        .await;
    assert!(s(&r1, "id").starts_with("re_"));
    assert_eq!(r1["amount"], 1000);
    assert_eq!(r1["status"], "succeeded");
    let ch = h.get(&format!("/v1/charges/{charge}")).await;
    assert_eq!(
        (ch["amount_refunded"].clone(), ch["refunded"].clone()),
        (json!(1000), json!(false))
    );
    let (status, body) = h
        .post_status("/v1/refunds", &[("charge", &charge), ("amount", "2001")])
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "amount_too_large");
    let r2 = h
        .post("/v1/refunds", &[("payment_intent", s(&pi, "id"))])
        .await;
    assert_eq!(r2["amount"], 2000);
    let ch = h.get(&format!("/v1/charges/{charge}")).await;
    assert!(
        ch.get("refunds").is_none(),
        "includable: only when expanded"
    );
    let ch = h
        .get(&format!("/v1/charges/{charge}?expand[]=refunds"))
        .await;
    assert_eq!(ch["refunded"], true);
    assert_eq!(ch["refunds"]["data"].as_array().unwrap().len(), 2);
    let events = h.events_after(before).await;
    assert_eq!(
        types(&events),
        [
            "charge.refunded",
            "refund.created",
            "charge.refunded",
            "refund.created"
        ]
    );
    assert_eq!(events[2]["data"]["previous_attributes"]["refunded"], false);
    assert_eq!(events[2]["data"]["object"]["amount_refunded"], 3000);
    let (status, body) = h.post_status("/v1/refunds", &[("charge", &charge)]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "charge_already_refunded");

    let pi = h
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "4900"),
                ("currency", "usd"),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
            ],
        )
        .await;
    let charge = s(&pi, "latest_charge");
    let before = h.event_count().await;
    let dp = h
        .post(
            &format!("/_emulator/charges/{charge}/dispute"),
            &[("reason", "fraudulent")],
        )
        .await;
    assert!(s(&dp, "id").starts_with("dp_"));
    let events = h.events_after(before).await;
    assert_eq!(types(&events), ["charge.dispute.created"]);
    let obj = &events[0]["data"]["object"];
    assert_eq!(obj["object"], "dispute");
    assert_eq!(obj["charge"], charge);
    assert_eq!(obj["payment_intent"], pi["id"]);
    assert_eq!(obj["amount"], 4900);
    assert_eq!(obj["currency"], "usd");
    assert_eq!(obj["reason"], "fraudulent");
    assert_eq!(obj["status"], "needs_response");
    assert_eq!(
        h.get(&format!("/v1/charges/{charge}")).await["disputed"],
        true
    );
}
