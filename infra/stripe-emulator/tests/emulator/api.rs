//! Errors, auth, idempotency, catalog, customers, payment methods and the Events API.

use reqwest::Method;
use serde_json::json;

use crate::harness::{s, types, Harness, KEY};

#[tokio::test]
async fn auth_errors_use_stripes_envelope() {
    let h = Harness::start().await;
    let r = h.send(Method::GET, "/v1/customers", &[], None, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"]["type"], "invalid_request_error");
    assert!(s(&r.body["error"], "message").starts_with("You did not provide an API key"));
    let r = h
        .send(
            Method::GET,
            "/v1/customers",
            &[],
            Some("sk_live_abcdef123456"),
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    assert!(s(&r.body["error"], "message").starts_with("Invalid API Key provided"));
    assert!(
        !s(&r.body["error"], "message").contains("abcdef"),
        "key must be masked"
    );
    // Basic auth with the key as user name (curl -u sk_test_...:) works too.
    let resp = h
        .http
        .get(h.url("/v1/customers"))
        .basic_auth(KEY, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp
        .headers()
        .get("request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("req_"));
}

#[tokio::test]
async fn errors_400_404_and_unknown_urls() {
    let h = Harness::start().await;
    let (status, body) = h.get_status("/v1/customers/cus_missing").await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"error": {
            "code": "resource_missing",
            "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
            "message": "No such customer: 'cus_missing'",
            "param": "id",
            "type": "invalid_request_error"
        }})
    );
    let (status, body) = h
        .post_status("/v1/prices", &[("currency", "usd"), ("unit_amount", "100")])
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "parameter_missing");
    assert_eq!(body["error"]["param"], "product");
    let (status, body) = h.post_status("/v1/customers", &[("emial", "x@y.z")]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "parameter_unknown");
    let (status, body) = h
        .post_status(
            "/v1/payment_intents",
            &[("amount", "12x"), ("currency", "usd")],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["message"], "Invalid integer: 12x");
    let (status, body) = h.get_status("/v1/nothing_here").await;
    assert_eq!(status, 404);
    assert!(s(&body["error"], "message")
        .starts_with("Unrecognized request URL (GET: /v1/nothing_here)"));
    let (status, _) = h.get_status("/v1/customers?limit=101").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn idempotency_replays_and_rejects_mismatches() {
    let h = Harness::start().await;
    let params = [("email", "ada@example.com"), ("metadata[user_id]", "u1")];
    let first = h
        .send(
            Method::POST,
            "/v1/customers",
            &params,
            Some(KEY),
            Some("key-1"),
        )
        .await;
    let again = h
        .send(
            Method::POST,
            "/v1/customers",
            &params,
            Some(KEY),
            Some("key-1"),
        )
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(again.status, 200);
    assert_eq!(first.body, again.body);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    let list = h.get("/v1/customers").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let events = h.all_events().await;
    assert_eq!(types(&events), ["customer.created"]);
    assert_eq!(events[0]["request"]["idempotency_key"], "key-1");
    assert!(s(&events[0]["request"], "id").starts_with("req_"));

    let other = h
        .send(
            Method::POST,
            "/v1/customers",
            &[("email", "bob@example.com")],
            Some(KEY),
            Some("key-1"),
        )
        .await;
    assert_eq!(other.status, 400);
    assert_eq!(other.body["error"]["type"], "idempotency_error");

    // A 402 is stored and replayed too; a 400 validation failure is not.
    let cus = s(&first.body, "id").to_string();
    let decl = [("customer", cus.as_str())];
    let a = h
        .send(
            Method::POST,
            "/v1/payment_methods/pm_card_chargeDeclined/attach",
            &decl,
            Some(KEY),
            Some("k2"),
        )
        .await;
    let b = h
        .send(
            Method::POST,
            "/v1/payment_methods/pm_card_chargeDeclined/attach",
            &decl,
            Some(KEY),
            Some("k2"),
        )
        .await;
    assert_eq!((a.status, b.status), (402, 402));
    assert_eq!(b.headers.get("idempotent-replayed").unwrap(), "true");
    let bad = h
        .send(
            Method::POST,
            "/v1/customers",
            &[("nope", "1")],
            Some(KEY),
            Some("k3"),
        )
        .await;
    assert_eq!(bad.status, 400);
    let fixed = h
        .send(
            Method::POST,
            "/v1/customers",
            &[("nope", "1")],
            Some(KEY),
            Some("k3"),
        )
        .await;
    assert!(fixed.headers.get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn lookup_keys_are_unique_and_transferable() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    let (status, body) = h
        .post_status(
            "/v1/prices",
            &[
                ("product", "prod_starter"),
                ("currency", "usd"),
                ("unit_amount", "2100"),
                ("recurring[interval]", "month"),
                ("lookup_key", "starter_monthly"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "lookup_key");
    assert_eq!(
        body["error"]["message"],
        format!(
            "A price (`{}`) already uses that lookup key.",
            c.starter_monthly
        )
    );
    let moved = h
        .post(
            "/v1/prices",
            &[
                ("product", "prod_starter"),
                ("currency", "usd"),
                ("unit_amount", "2100"),
                ("recurring[interval]", "month"),
                ("lookup_key", "starter_monthly"),
                ("transfer_lookup_key", "true"),
            ],
        )
        .await;
    assert_eq!(moved["lookup_key"], "starter_monthly");
    let yearly = h.get(&format!("/v1/prices/{}", c.starter_yearly)).await;
    assert_eq!(yearly["recurring"]["interval"], "year");
    let old = h.get(&format!("/v1/prices/{}", c.starter_monthly)).await;
    assert_eq!(old["lookup_key"], serde_json::Value::Null);

    let list = h
        .get("/v1/prices?lookup_keys[]=starter_monthly&lookup_keys[]=professional_yearly&active=true&expand[]=data.product")
        .await;
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(list["object"], "list");
    assert_eq!(list["url"], "/v1/prices");
    let pro = data
        .iter()
        .find(|p| p["lookup_key"] == "professional_yearly")
        .unwrap();
    assert_eq!(pro["product"]["name"], "Professional");
    assert_eq!(pro["recurring"]["interval"], "year");
    assert_eq!(pro["unit_amount"], 49000);
    // Moving a key with an update, and deactivating.
    let upd = h
        .post(
            &format!("/v1/prices/{}", c.starter_monthly),
            &[
                ("lookup_key", "starter_monthly"),
                ("transfer_lookup_key", "true"),
                ("active", "false"),
            ],
        )
        .await;
    assert_eq!(upd["lookup_key"], "starter_monthly");
    assert_eq!(upd["active"], false);
    let active = h
        .get("/v1/prices?lookup_keys[]=starter_monthly&active=true")
        .await;
    assert_eq!(active["data"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn customers_search_and_payment_methods() {
    let h = Harness::start().await;
    let cus = h
        .post(
            "/v1/customers",
            &[
                ("email", "ada@example.com"),
                ("name", "Ada"),
                ("metadata[user_id]", "user-42"),
            ],
        )
        .await;
    let id = s(&cus, "id");
    assert!(id.starts_with("cus_"));
    h.post("/v1/customers", &[("email", "bob@example.com")])
        .await;
    let found = h
        .get("/v1/customers/search?query=metadata%5B%27user_id%27%5D%3A%27user-42%27")
        .await;
    assert_eq!(found["object"], "search_result");
    assert_eq!(found["data"][0]["id"], id);
    let found = h
        .get("/v1/customers/search?query=email%3A%27bob%40example.com%27")
        .await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    let by_email = h.get("/v1/customers?email=ada%40example.com&limit=1").await;
    assert_eq!(by_email["data"][0]["id"], id);

    let pm = h
        .post(
            "/v1/payment_methods/pm_card_mastercard/attach",
            &[("customer", id)],
        )
        .await;
    assert!(s(&pm, "id").starts_with("pm_"));
    assert_eq!(pm["card"]["brand"], "mastercard");
    assert_eq!(pm["card"]["last4"], "4444");
    assert_eq!(pm["customer"], id);
    let upd = h
        .post(
            &format!("/v1/customers/{id}"),
            &[
                ("invoice_settings[default_payment_method]", s(&pm, "id")),
                ("metadata[plan]", "pro"),
                ("metadata[user_id]", ""),
            ],
        )
        .await;
    assert_eq!(upd["invoice_settings"]["default_payment_method"], pm["id"]);
    assert_eq!(upd["metadata"], json!({"plan": "pro"}));
    let list = h
        .get(&format!("/v1/customers/{id}/payment_methods?type=card"))
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let list = h
        .get(&format!("/v1/payment_methods?customer={id}&type=card"))
        .await;
    assert_eq!(list["data"][0]["card"]["exp_month"], 12);
    let (status, body) = h
        .post_status(
            "/v1/payment_methods/pm_card_chargeDeclinedInsufficientFunds/attach",
            &[("customer", id)],
        )
        .await;
    assert_eq!(status, 402);
    assert_eq!(body["error"]["type"], "card_error");
    assert_eq!(body["error"]["decline_code"], "insufficient_funds");
    h.post(&format!("/v1/payment_methods/{}/detach", s(&pm, "id")), &[])
        .await;
    let cus = h.get(&format!("/v1/customers/{id}")).await;
    assert_eq!(
        cus["invoice_settings"]["default_payment_method"],
        serde_json::Value::Null
    );

    let portal = h
        .post(
            "/v1/billing_portal/sessions",
            &[("customer", id), ("return_url", "http://localhost/account")],
        )
        .await;
    assert!(s(&portal, "id").starts_with("bps_"));
    assert_eq!(portal["object"], "billing_portal.session");
    assert_eq!(portal["return_url"], "http://localhost/account");
    assert!(s(&portal, "url").starts_with("http://127.0.0.1:"));
    let (status, body) = h
        .post_status("/v1/billing_portal/sessions", &[("customer", "cus_nope")])
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "resource_missing");
    assert_eq!(body["error"]["param"], "customer");
}

#[tokio::test]
async fn events_are_newest_first_filterable_and_paginated() {
    let h = Harness::start().await;
    for i in 0..5 {
        h.post("/v1/customers", &[("email", &format!("c{i}@example.com"))])
            .await;
    }
    let t0 = h.now().await;
    h.advance_to(t0 + 100).await;
    h.post("/v1/products", &[("name", "Later")]).await;
    let all = h.get("/v1/events").await;
    let data = all["data"].as_array().unwrap();
    assert_eq!(data.len(), 6);
    assert_eq!(data[0]["type"], "product.created");
    assert_eq!(data[0]["api_version"], "2025-04-30.basil");
    assert_eq!(data[0]["object"], "event");
    assert_eq!(data[0]["livemode"], false);
    assert!(data
        .windows(2)
        .all(|w| w[0]["created"].as_i64() >= w[1]["created"].as_i64()));
    assert_eq!(data[5]["data"]["object"]["email"], "c0@example.com");

    let recent = h.get(&format!("/v1/events?created[gt]={}", t0 + 50)).await;
    assert_eq!(
        types(recent["data"].as_array().unwrap()),
        ["product.created"]
    );
    let older = h.get(&format!("/v1/events?created[lt]={}", t0 + 50)).await;
    assert_eq!(older["data"].as_array().unwrap().len(), 5);
    let typed = h.get("/v1/events?types[]=customer.created&limit=2").await;
    assert_eq!(typed["has_more"], true);
    let next = h
        .get(&format!(
            "/v1/events?types[]=customer.created&limit=2&starting_after={}",
            typed["data"][1]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(next["data"][0]["data"]["object"]["email"], "c2@example.com");
    let back = h
        .get(&format!(
            "/v1/events?type=customer.created&limit=1&ending_before={}",
            next["data"][0]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(back["data"][0]["id"], typed["data"][1]["id"]);
    let one = h
        .get(&format!("/v1/events/{}", data[0]["id"].as_str().unwrap()))
        .await;
    assert_eq!(one["id"], data[0]["id"]);
    let wildcard = h.get("/v1/events?type=product.*").await;
    assert_eq!(wildcard["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn price_list_expands_products_with_custom_ids() {
    let h = Harness::start().await;
    h.post("/v1/products", &[("id", "tierflow_pro"), ("name", "Pro")])
        .await;
    let price = h
        .post(
            "/v1/prices",
            &[
                ("product", "tierflow_pro"),
                ("currency", "usd"),
                ("unit_amount", "4900"),
                ("recurring[interval]", "month"),
                ("lookup_key", "pro_monthly"),
            ],
        )
        .await;
    let list = h
        .get("/v1/prices?lookup_keys[]=pro_monthly&expand[]=data.product")
        .await;
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["id"], price["id"]);
    assert_eq!(data[0]["product"]["object"], "product");
    assert_eq!(data[0]["product"]["id"], "tierflow_pro");
    assert_eq!(data[0]["product"]["name"], "Pro");
    // Without `expand[]` the product stays an id.
    let plain = h.get("/v1/prices?lookup_keys[]=pro_monthly").await;
    assert_eq!(plain["data"][0]["product"], "tierflow_pro");
    let one = h
        .get(&format!("/v1/prices/{}?expand[]=product", s(&price, "id")))
        .await;
    assert_eq!(one["product"]["name"], "Pro");
}
