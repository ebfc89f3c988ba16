//! Customer Portal configurations and the portal's plan switch (the test hook).

use serde_json::Value;

use crate::harness::{s, Catalog, Harness};

/// A configuration offering starter and professional monthly, downgrades at period end.
async fn configuration(h: &Harness, c: &Catalog) -> Value {
    h.post(
        "/v1/billing_portal/configurations",
        &[
            ("features[subscription_update][enabled]", "true"),
            (
                "features[subscription_update][default_allowed_updates][]",
                "price",
            ),
            (
                "features[subscription_update][proration_behavior]",
                "always_invoice",
            ),
            (
                "features[subscription_update][schedule_at_period_end][conditions][0][type]",
                "decreasing_item_amount",
            ),
            (
                "features[subscription_update][products][0][product]",
                "prod_starter",
            ),
            (
                "features[subscription_update][products][0][prices][]",
                &c.starter_monthly,
            ),
            (
                "features[subscription_update][products][1][product]",
                "prod_professional",
            ),
            (
                "features[subscription_update][products][1][prices][]",
                &c.professional_monthly,
            ),
            ("features[subscription_cancel][enabled]", "true"),
            ("features[subscription_cancel][mode]", "at_period_end"),
            ("features[payment_method_update][enabled]", "true"),
            ("metadata[tierflow_catalog]", "portal"),
        ],
    )
    .await
}

async fn session(h: &Harness, customer: &str, configuration: &str) -> Value {
    h.post(
        "/v1/billing_portal/sessions",
        &[("customer", customer), ("configuration", configuration)],
    )
    .await
}

#[tokio::test]
async fn configurations_are_created_updated_listed_and_validated() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    let config = configuration(&h, &c).await;
    let id = s(&config, "id");
    assert!(id.starts_with("bpc_"));
    assert_eq!(config["object"], "billing_portal.configuration");
    assert_eq!(config["is_default"], false);
    let update = &config["features"]["subscription_update"];
    assert_eq!(update["enabled"], true);
    assert_eq!(update["proration_behavior"], "always_invoice");
    assert_eq!(
        update["schedule_at_period_end"]["conditions"][0]["type"],
        "decreasing_item_amount"
    );
    assert_eq!(
        update["products"][1]["prices"][0],
        c.professional_monthly.as_str()
    );
    assert_eq!(
        config["features"]["subscription_cancel"]["mode"],
        "at_period_end"
    );
    assert_eq!(config["features"]["customer_update"]["enabled"], false);
    assert_eq!(config["metadata"]["tierflow_catalog"], "portal");

    let updated = h
        .post(
            &format!("/v1/billing_portal/configurations/{id}"),
            &[
                (
                    "features[subscription_update][products][0][product]",
                    "prod_starter",
                ),
                (
                    "features[subscription_update][products][0][prices][]",
                    &c.starter_monthly,
                ),
            ],
        )
        .await;
    let products = updated["features"]["subscription_update"]["products"]
        .as_array()
        .unwrap();
    assert_eq!(products.len(), 1);
    assert_eq!(
        updated["features"]["subscription_update"]["proration_behavior"],
        "always_invoice"
    );
    assert_eq!(
        h.get(&format!("/v1/billing_portal/configurations/{id}"))
            .await,
        updated
    );
    let listed = h.get("/v1/billing_portal/configurations?active=true").await;
    assert_eq!(listed["data"][0]["id"], id);

    // A price of another product, an unknown price, a bad condition, an unknown id.
    let refused = [
        vec![
            (
                "features[subscription_update][products][0][product]",
                "prod_starter",
            ),
            (
                "features[subscription_update][products][0][prices][]",
                c.professional_monthly.as_str(),
            ),
        ],
        vec![
            (
                "features[subscription_update][products][0][product]",
                "prod_starter",
            ),
            (
                "features[subscription_update][products][0][prices][]",
                "price_nope",
            ),
        ],
        vec![(
            "features[subscription_update][schedule_at_period_end][conditions][0][type]",
            "sometimes",
        )],
        vec![("features[subscription_cancel][mode]", "later")],
    ];
    for pairs in refused {
        let (status, body) = h
            .post_status("/v1/billing_portal/configurations", &pairs)
            .await;
        assert_eq!(status, 400, "{pairs:?}: {body}");
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }
    let (status, _) = h
        .get_status("/v1/billing_portal/configurations/bpc_nope")
        .await;
    assert_eq!(status, 404);

    // A session names its configuration; an unknown one is refused; none means the default.
    let sub = h.subscribe(&c.professional_monthly, "pm_card_visa").await;
    let customer = s(&sub, "customer");
    assert_eq!(session(&h, customer, id).await["configuration"], id);
    let (status, body) = h
        .post_status(
            "/v1/billing_portal/sessions",
            &[("customer", customer), ("configuration", "bpc_nope")],
        )
        .await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("configuration"))
    );
    let default = h
        .post("/v1/billing_portal/sessions", &[("customer", customer)])
        .await;
    let default_id = s(&default, "configuration");
    assert_ne!(default_id, id);
    let default = h
        .get(&format!("/v1/billing_portal/configurations/{default_id}"))
        .await;
    assert_eq!(default["is_default"], true);
}

#[tokio::test]
async fn a_portal_downgrade_waits_for_the_period_end_and_an_upgrade_is_invoiced_now() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    let config = configuration(&h, &c).await;
    let sub = h.subscribe(&c.professional_monthly, "pm_card_visa").await;
    let (sid, customer) = (s(&sub, "id"), s(&sub, "customer"));
    let portal = session(&h, customer, s(&config, "id")).await;
    let hook = format!(
        "/_emulator/billing_portal/sessions/{}/subscription_update",
        s(&portal, "id")
    );

    // Outside the configuration: yearly starter, enterprise.
    for price in [&c.starter_yearly, &c.enterprise_monthly] {
        let (status, body) = h.post_status(&hook, &[("price", price)]).await;
        assert_eq!(
            (status, body["error"]["param"].as_str()),
            (400, Some("price")),
            "{body}"
        );
    }

    // Cheaper: a schedule switches at the period end; the price stays until then.
    let end = sub["items"]["data"][0]["current_period_end"]
        .as_i64()
        .unwrap();
    let switched = h.post(&hook, &[("price", &c.starter_monthly)]).await;
    assert_eq!(
        switched["items"]["data"][0]["price"]["id"],
        c.professional_monthly.as_str()
    );
    let schedule = h
        .get(&format!(
            "/v1/subscription_schedules/{}",
            s(&switched, "schedule")
        ))
        .await;
    assert_eq!(schedule["phases"][1]["start_date"], end);
    assert_eq!(
        schedule["phases"][1]["items"][0]["price"],
        c.starter_monthly.as_str()
    );
    let (status, _) = h.post_status(&hook, &[("price", &c.starter_monthly)]).await;
    assert_eq!(status, 400, "a second change while one is scheduled");
    h.advance_to(end + 60).await;
    let renewed = h
        .get(&format!("/v1/subscriptions/{sid}?expand[]=latest_invoice"))
        .await;
    assert_eq!(
        renewed["items"]["data"][0]["price"]["id"],
        c.starter_monthly.as_str()
    );
    assert_eq!(renewed["latest_invoice"]["total"], 1900);

    // Dearer: applied now, the difference invoiced and paid now.
    let other = h.subscribe(&c.starter_monthly, "pm_card_visa").await;
    let portal = session(&h, s(&other, "customer"), s(&config, "id")).await;
    let hook = format!(
        "/_emulator/billing_portal/sessions/{}/subscription_update",
        s(&portal, "id")
    );
    let upgraded = h.post(&hook, &[("price", &c.professional_monthly)]).await;
    assert_eq!(
        upgraded["items"]["data"][0]["price"]["id"],
        c.professional_monthly.as_str()
    );
    assert_eq!(upgraded["schedule"], Value::Null);
    let invoice = h
        .get(&format!(
            "/v1/subscriptions/{}?expand[]=latest_invoice",
            s(&other, "id")
        ))
        .await["latest_invoice"]
        .clone();
    assert_eq!(invoice["billing_reason"], "subscription_update");
    assert!(invoice["total"].as_i64().unwrap() > 0, "{invoice}");
    assert_eq!(invoice["status"], "paid");
}

#[tokio::test]
async fn the_default_configuration_allows_no_plan_switch() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    let sub = h.subscribe(&c.professional_monthly, "pm_card_visa").await;
    let portal = h
        .post(
            "/v1/billing_portal/sessions",
            &[("customer", s(&sub, "customer"))],
        )
        .await;
    let (status, body) = h
        .post_status(
            &format!(
                "/_emulator/billing_portal/sessions/{}/subscription_update",
                s(&portal, "id")
            ),
            &[("price", &c.starter_monthly)],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = h
        .post_status(
            "/_emulator/billing_portal/sessions/bps_nope/subscription_update",
            &[("price", &c.starter_monthly)],
        )
        .await;
    assert_eq!(status, 404);
}
