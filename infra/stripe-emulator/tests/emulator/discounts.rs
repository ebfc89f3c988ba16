//! Coupons, promotion codes and their discounts: creation and lookup, Stripe's refusals, the
//! amounts on invoices (once, repeating, forever; percent and amount off), Checkout codes,
//! prorations of a discounted subscription and the preview.

use serde_json::{json, Value};
use stripe_emulator::calendar::timestamp;

use crate::harness::{s, Catalog, Harness};

const DAY: i64 = 86_400;

async fn start() -> (Harness, Catalog) {
    let h = Harness::start().await;
    let c = h.catalog().await;
    h.advance_to(timestamp(2030, 4, 1, 0, 0, 0)).await;
    (h, c)
}

async fn coupon(h: &Harness, pairs: &[(&str, &str)]) -> String {
    s(&h.post("/v1/coupons", pairs).await, "id").to_string()
}

async fn promo(h: &Harness, coupon: &str, code: &str, extra: &[(&str, &str)]) -> Value {
    let mut pairs = vec![("coupon", coupon), ("code", code)];
    pairs.extend_from_slice(extra);
    h.post("/v1/promotion_codes", &pairs).await
}

async fn customer_with_card(h: &Harness) -> String {
    let c = h
        .post(
            "/v1/customers",
            &[
                ("email", "d@example.com"),
                ("payment_method", "pm_card_visa"),
                ("invoice_settings[default_payment_method]", "pm_card_visa"),
            ],
        )
        .await;
    s(&c, "id").to_string()
}

/// A subscription to `price` redeeming one discount (`coupon` or `promotion_code`).
async fn subscribe_with(h: &Harness, price: &str, kind: &str, value: &str) -> (u16, Value) {
    let cus = customer_with_card(h).await;
    let key = format!("discounts[0][{kind}]");
    h.post_status(
        "/v1/subscriptions",
        &[
            ("customer", &cus),
            ("items[0][price]", price),
            (&key, value),
            ("expand[]", "latest_invoice"),
        ],
    )
    .await
}

fn amounts(inv: &Value) -> Vec<i64> {
    inv["lines"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amount"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn coupons_are_created_checked_and_retrieved() {
    let (h, c) = start().await;
    let pct = h
        .post(
            "/v1/coupons",
            &[
                ("id", "LAUNCH20"),
                ("percent_off", "20"),
                ("duration", "repeating"),
                ("duration_in_months", "3"),
                ("name", "Launch"),
                ("max_redemptions", "5"),
                ("applies_to[products][]", "prod_professional"),
            ],
        )
        .await;
    assert_eq!(pct["id"], "LAUNCH20");
    assert_eq!(pct["object"], "coupon");
    assert_eq!(pct["percent_off"], 20.0);
    assert_eq!(pct["valid"], true);
    assert_eq!(pct["times_redeemed"], 0);
    assert!(pct.get("applies_to").is_none(), "includable: {pct:#}");
    let got = h.get("/v1/coupons/LAUNCH20?expand[]=applies_to").await;
    assert_eq!(
        got["applies_to"],
        json!({"products": ["prod_professional"]})
    );
    let off = h
        .post(
            "/v1/coupons",
            &[
                ("amount_off", "500"),
                ("currency", "USD"),
                ("duration", "forever"),
            ],
        )
        .await;
    assert_eq!(off["currency"], "usd");
    assert_eq!(off["percent_off"], Value::Null);
    assert_eq!(s(&off, "id").len(), 8);
    for (pairs, param, code) in [
        (
            vec![("percent_off", "10"), ("amount_off", "5")],
            "amount_off",
            None,
        ),
        (vec![("duration", "once")], "percent_off", None),
        (vec![("percent_off", "120")], "percent_off", None),
        (vec![("amount_off", "100")], "currency", None),
        (
            vec![("percent_off", "5"), ("duration", "repeating")],
            "duration_in_months",
            Some("parameter_missing"),
        ),
        (
            vec![("percent_off", "5"), ("duration_in_months", "2")],
            "duration_in_months",
            None,
        ),
        (
            vec![("percent_off", "5"), ("duration", "weekly")],
            "duration",
            None,
        ),
        (
            vec![("percent_off", "5"), ("id", "LAUNCH20")],
            "id",
            Some("resource_already_exists"),
        ),
        (
            vec![
                ("percent_off", "5"),
                ("applies_to[products][]", "prod_nope"),
            ],
            "applies_to[products]",
            Some("resource_missing"),
        ),
        (
            vec![("percent_off", "5"), ("redeem_by", "100")],
            "redeem_by",
            None,
        ),
        (
            vec![("percent_off", "5"), ("percent", "5")],
            "percent",
            Some("parameter_unknown"),
        ),
    ] {
        let (status, body) = h.post_status("/v1/coupons", &pairs).await;
        assert_eq!(status, 400, "{pairs:?} -> {body:#}");
        assert_eq!(body["error"]["param"], param, "{pairs:?} -> {body:#}");
        assert_eq!(
            body["error"]["code"].as_str(),
            code,
            "{pairs:?} -> {body:#}"
        );
    }
    let (status, body) = h.get_status("/v1/coupons/NOPE").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("resource_missing"))
    );
    let _ = c;
}

#[tokio::test]
async fn promotion_codes_are_created_listed_and_unique_while_active() {
    let (h, _c) = start().await;
    let cp = coupon(&h, &[("percent_off", "20"), ("duration", "forever")]).await;
    let pc = promo(&h, &cp, "SPRING20", &[("max_redemptions", "2")]).await;
    assert_eq!(pc["object"], "promotion_code");
    assert_eq!(pc["code"], "SPRING20");
    assert_eq!(pc["active"], true);
    assert_eq!(pc["coupon"]["id"], cp);
    assert_eq!(pc["coupon"]["object"], "coupon");
    assert_eq!(pc["restrictions"]["first_time_transaction"], false);
    let (status, body) = h
        .post_status(
            "/v1/promotion_codes",
            &[("coupon", &cp), ("code", "spring20")],
        )
        .await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("code"))
    );
    let (status, body) = h
        .post_status("/v1/promotion_codes", &[("coupon", "NOPE")])
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("resource_missing"))
    );
    let (status, _) = h
        .post_status(
            "/v1/promotion_codes",
            &[("coupon", &cp), ("restrictions[minimum_amount]", "1000")],
        )
        .await;
    assert_eq!(status, 400);
    let generated = h.post("/v1/promotion_codes", &[("coupon", &cp)]).await;
    assert_eq!(s(&generated, "code").len(), 8);
    let found = h.get("/v1/promotion_codes?code=spring20").await;
    assert_eq!(found["object"], "list");
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    assert_eq!(found["data"][0]["id"], pc["id"]);
    h.post(
        &format!("/v1/promotion_codes/{}", s(&pc, "id")),
        &[("active", "false")],
    )
    .await;
    let active = h.get("/v1/promotion_codes?code=SPRING20&active=true").await;
    assert_eq!(active["data"], json!([]));
    let got = h
        .get(&format!("/v1/promotion_codes/{}", s(&pc, "id")))
        .await;
    assert_eq!(got["active"], false);
    // Once inactive, its code is free again.
    promo(&h, &cp, "SPRING20", &[]).await;
}

#[tokio::test]
async fn codes_that_cannot_be_redeemed_are_refused_as_stripe_refuses_them() {
    let (h, c) = start().await;
    let now = h.now().await;
    let cp = coupon(&h, &[("percent_off", "20"), ("duration", "forever")]).await;
    let inactive = promo(&h, &cp, "OFF", &[("active", "false")]).await;
    let soon = (now + DAY).to_string();
    let expiring = promo(&h, &cp, "SOON", &[("expires_at", &soon)]).await;
    let single = promo(&h, &cp, "ONE", &[("max_redemptions", "1")]).await;
    let minimum = promo(
        &h,
        &cp,
        "BIG",
        &[
            ("restrictions[minimum_amount]", "5000"),
            ("restrictions[minimum_amount_currency]", "usd"),
        ],
    )
    .await;
    let first = promo(
        &h,
        &cp,
        "FIRST",
        &[("restrictions[first_time_transaction]", "true")],
    )
    .await;
    let enterprise_only = coupon(
        &h,
        &[
            ("percent_off", "10"),
            ("applies_to[products][]", "prod_enterprise"),
        ],
    )
    .await;
    let once_only = coupon(&h, &[("percent_off", "10"), ("max_redemptions", "1")]).await;
    let soon_coupon = coupon(&h, &[("percent_off", "10"), ("redeem_by", &soon)]).await;

    let pro = c.professional_monthly.as_str();
    let (status, _) = subscribe_with(&h, pro, "promotion_code", s(&single, "id")).await;
    assert_eq!(status, 200);
    let (status, _) = subscribe_with(&h, pro, "coupon", &once_only).await;
    assert_eq!(status, 200);
    h.advance_to(now + 2 * DAY).await;
    let cases: Vec<(&str, String, &str, Option<&str>)> = vec![
        (
            "promotion_code",
            "promo_nope".into(),
            "discounts[0][promotion_code]",
            Some("resource_missing"),
        ),
        (
            "coupon",
            "NOPE".into(),
            "discounts[0][coupon]",
            Some("resource_missing"),
        ),
        (
            "promotion_code",
            s(&inactive, "id").into(),
            "discounts[0][promotion_code]",
            None,
        ),
        (
            "promotion_code",
            s(&expiring, "id").into(),
            "discounts[0][promotion_code]",
            None,
        ),
        (
            "promotion_code",
            s(&single, "id").into(),
            "discounts[0][promotion_code]",
            None,
        ),
        (
            "promotion_code",
            s(&minimum, "id").into(),
            "discounts[0][promotion_code]",
            None,
        ),
        (
            "coupon",
            enterprise_only.clone(),
            "discounts[0][coupon]",
            None,
        ),
        (
            "coupon",
            once_only.clone(),
            "discounts[0][coupon]",
            Some("coupon_expired"),
        ),
        (
            "coupon",
            soon_coupon.clone(),
            "discounts[0][coupon]",
            Some("coupon_expired"),
        ),
    ];
    for (kind, value, param, code) in cases {
        let (status, body) = subscribe_with(&h, pro, kind, &value).await;
        assert_eq!(status, 400, "{kind} {value} -> {body:#}");
        assert_eq!(body["error"]["param"], param, "{kind} {value} -> {body:#}");
        assert_eq!(
            body["error"]["code"].as_str(),
            code,
            "{kind} {value} -> {body:#}"
        );
    }
    // Enterprise (over the minimum, in the coupon's products) is fine.
    let (status, _) = subscribe_with(
        &h,
        &c.enterprise_monthly,
        "promotion_code",
        s(&minimum, "id"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = subscribe_with(&h, &c.enterprise_monthly, "coupon", &enterprise_only).await;
    assert_eq!(status, 200);
    // First-time only: refused for a customer who has paid before.
    let sub = h.subscribe(pro, "pm_card_visa").await;
    let cus = s(&sub, "customer");
    let (status, body) = h
        .post_status(
            "/v1/subscriptions",
            &[
                ("customer", cus),
                ("items[0][price]", &c.starter_monthly),
                ("discounts[0][promotion_code]", s(&first, "id")),
            ],
        )
        .await;
    assert_eq!(status, 400, "{body:#}");
    assert_eq!(body["error"]["param"], "discounts[0][promotion_code]");
    let (status, _) = subscribe_with(&h, pro, "promotion_code", s(&first, "id")).await;
    assert_eq!(status, 200);
    let counted = h
        .get(&format!("/v1/promotion_codes/{}", s(&single, "id")))
        .await;
    assert_eq!(counted["times_redeemed"], 1);
}

#[tokio::test]
async fn a_checkout_promotion_code_discounts_the_invoice_and_the_charge() {
    let (h, c) = start().await;
    let cp = coupon(&h, &[("percent_off", "20"), ("duration", "forever")]).await;
    let pc = promo(&h, &cp, "WELCOME", &[]).await;
    let session = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("customer_email", "d@example.com"),
                ("line_items[0][price]", &c.professional_monthly),
                ("success_url", "http://localhost/ok"),
                ("allow_promotion_codes", "true"),
            ],
        )
        .await;
    assert_eq!(session["allow_promotion_codes"], true);
    let path = format!(
        "/_emulator/checkout/sessions/{}/complete",
        s(&session, "id")
    );
    let (status, body) = h.post_status(&path, &[("promotion_code", "NOSUCH")]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("resource_missing"))
    );
    let done = h.post(&path, &[("promotion_code", "welcome")]).await;
    assert_eq!(done["amount_subtotal"], 4900);
    assert_eq!(done["amount_total"], 3920);
    assert_eq!(done["total_details"]["amount_discount"], 980);
    assert_eq!(
        done["discounts"],
        json!([{"coupon": cp, "promotion_code": pc["id"]}])
    );
    let sub = h
        .get(&format!(
            "/v1/subscriptions/{}?expand[]=latest_invoice&expand[]=discounts",
            s(&done, "subscription")
        ))
        .await;
    let discount = &sub["discounts"][0];
    assert_eq!(discount["object"], "discount");
    assert_eq!(discount["coupon"]["id"], cp);
    assert_eq!(discount["promotion_code"], pc["id"]);
    assert_eq!(discount["checkout_session"], done["id"]);
    assert_eq!(discount["end"], Value::Null);
    let inv = &sub["latest_invoice"];
    let di = discount["id"].clone();
    assert_eq!(inv["subtotal"], 4900);
    assert_eq!(inv["total_excluding_tax"], 3920);
    assert_eq!(inv["total"], 3920);
    assert_eq!(inv["amount_paid"], 3920);
    assert_eq!(inv["discounts"], json!([di]));
    assert_eq!(
        inv["total_discount_amounts"],
        json!([{"amount": 980, "discount": di}])
    );
    assert_eq!(
        inv["lines"]["data"][0]["discount_amounts"],
        json!([{"amount": 980, "discount": di}])
    );
    assert_eq!(inv["lines"]["data"][0]["amount"], 4900);
    assert_eq!(h.get("/v1/charges").await["data"][0]["amount"], 3920);
    let pc = h
        .get(&format!("/v1/promotion_codes/{}", s(&pc, "id")))
        .await;
    assert_eq!(pc["times_redeemed"], 1);
    assert_eq!(pc["coupon"]["times_redeemed"], 1);
    // The next renewal is discounted too (forever).
    let end = sub["items"]["data"][0]["current_period_end"]
        .as_i64()
        .unwrap();
    h.advance_to(end).await;
    let renewed = h
        .get(&format!(
            "/v1/subscriptions/{}?expand[]=latest_invoice",
            s(&sub, "id")
        ))
        .await;
    assert_eq!(renewed["latest_invoice"]["total"], 3920);
}

#[tokio::test]
async fn checkout_refuses_codes_it_was_not_opened_for() {
    let (h, c) = start().await;
    let cp = coupon(&h, &[("percent_off", "10")]).await;
    promo(&h, &cp, "TEN", &[]).await;
    let base = [
        ("mode", "subscription"),
        ("line_items[0][price]", c.starter_monthly.as_str()),
        ("success_url", "http://localhost/ok"),
    ];
    let mut both = base.to_vec();
    both.extend([
        ("allow_promotion_codes", "true"),
        ("discounts[0][coupon]", cp.as_str()),
    ]);
    let (status, body) = h.post_status("/v1/checkout/sessions", &both).await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("discounts"))
    );
    let plain = h.post("/v1/checkout/sessions", &base).await;
    let (status, body) = h
        .post_status(
            &format!("/_emulator/checkout/sessions/{}/complete", s(&plain, "id")),
            &[("promotion_code", "TEN")],
        )
        .await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("promotion_code"))
    );
    // `discounts[0][coupon]` on the session applies without the customer typing anything.
    let mut with = base.to_vec();
    with.push(("discounts[0][coupon]", cp.as_str()));
    let session = h.post("/v1/checkout/sessions", &with).await;
    assert_eq!(session["amount_total"], 1710);
    let done = h
        .post(
            &format!(
                "/_emulator/checkout/sessions/{}/complete",
                s(&session, "id")
            ),
            &[],
        )
        .await;
    assert_eq!(done["amount_total"], 1710);
}

#[tokio::test]
async fn once_and_repeating_coupons_apply_for_their_duration() {
    let (h, c) = start().await;
    let once = coupon(&h, &[("percent_off", "50"), ("duration", "once")]).await;
    let (_, sub) = subscribe_with(&h, &c.professional_monthly, "coupon", &once).await;
    assert_eq!(sub["latest_invoice"]["total"], 2450);
    assert_eq!(
        sub["discounts"],
        json!([]),
        "a once discount is used up: {sub:#}"
    );
    let repeating = coupon(
        &h,
        &[
            ("amount_off", "900"),
            ("currency", "usd"),
            ("duration", "repeating"),
            ("duration_in_months", "2"),
        ],
    )
    .await;
    let (_, sub2) = subscribe_with(&h, &c.professional_monthly, "coupon", &repeating).await;
    assert_eq!(sub2["latest_invoice"]["total"], 4000);
    let di = sub2["discounts"][0].as_str().unwrap().to_string();
    let d = h
        .get(&format!(
            "/v1/subscriptions/{}?expand[]=discounts",
            s(&sub2, "id")
        ))
        .await["discounts"][0]
        .clone();
    assert_eq!(d["id"], di);
    assert_eq!(d["start"], timestamp(2030, 4, 1, 0, 0, 0));
    assert_eq!(d["end"], timestamp(2030, 6, 1, 0, 0, 0));
    let mut totals = Vec::new();
    let mut once_totals = Vec::new();
    for month in [5, 6, 7] {
        h.advance_to(timestamp(2030, month, 1, 0, 0, 0)).await;
        for (id, out) in [
            (s(&sub2, "id"), &mut totals),
            (s(&sub, "id"), &mut once_totals),
        ] {
            let got = h
                .get(&format!("/v1/subscriptions/{id}?expand[]=latest_invoice"))
                .await;
            out.push(got["latest_invoice"]["total"].as_i64().unwrap());
        }
    }
    assert_eq!(totals, [4000, 4900, 4900]);
    assert_eq!(once_totals, [4900, 4900, 4900]);
    let after = h
        .get(&format!("/v1/subscriptions/{}", s(&sub2, "id")))
        .await;
    assert_eq!(after["discounts"], json!([]));
}

/// 20 % off Professional ($49) → Enterprise ($99) halfway through a 30-day period: the
/// prorations are net of the discount (basil includes proration discounts in the amounts).
#[tokio::test]
async fn a_discounted_upgrade_prorates_net_and_the_preview_matches_to_the_cent() {
    let (h, c) = start().await;
    let cp = coupon(&h, &[("percent_off", "20"), ("duration", "forever")]).await;
    let (_, sub) = subscribe_with(&h, &c.professional_monthly, "coupon", &cp).await;
    assert_eq!(sub["latest_invoice"]["total"], 3920);
    let id = s(&sub, "id");
    let di = sub["discounts"][0].clone();
    let item = s(&sub["items"]["data"][0], "id");
    let t = (timestamp(2030, 4, 1, 0, 0, 0) + 15 * DAY).to_string();
    h.advance_to(timestamp(2030, 4, 16, 0, 0, 0)).await;
    let preview = h
        .post(
            "/v1/invoices/create_preview",
            &[
                ("subscription", id),
                ("subscription_details[items][0][id]", item),
                (
                    "subscription_details[items][0][price]",
                    &c.enterprise_monthly,
                ),
                ("subscription_details[proration_date]", &t),
                ("subscription_details[proration_behavior]", "always_invoice"),
            ],
        )
        .await;
    assert_eq!(amounts(&preview), [-1960, 3960]);
    assert_eq!(preview["total"], 2000);
    let line = &preview["lines"]["data"][0];
    assert_eq!(line["discounts"], json!([di]));
    assert_eq!(
        line["discount_amounts"],
        json!([{"amount": 0, "discount": di}])
    );
    let updated = h
        .post(
            &format!("/v1/subscriptions/{id}"),
            &[
                ("items[0][id]", item),
                ("items[0][price]", &c.enterprise_monthly),
                ("proration_date", &t),
                ("proration_behavior", "always_invoice"),
                ("expand[]", "latest_invoice"),
            ],
        )
        .await;
    let inv = &updated["latest_invoice"];
    assert_eq!(amounts(inv), [-1960, 3960]);
    assert_eq!(inv["total"], preview["total"]);
    assert_eq!(inv["amount_paid"], 2000);
    assert_eq!(
        h.get("/v1/charges?limit=1").await["data"][0]["amount"],
        2000
    );
    // The next cycle: Enterprise less 20 %.
    h.advance_to(timestamp(2030, 5, 1, 0, 0, 0)).await;
    let renewed = h
        .get(&format!("/v1/subscriptions/{id}?expand[]=latest_invoice"))
        .await;
    assert_eq!(renewed["latest_invoice"]["total"], 7920);
}

#[tokio::test]
async fn discounts_change_on_update_and_a_preview_can_try_one() {
    let (h, c) = start().await;
    let cus = customer_with_card(&h).await;
    let sub = h
        .post(
            "/v1/subscriptions",
            &[
                ("customer", &cus),
                ("items[0][price]", &c.professional_monthly),
            ],
        )
        .await;
    let id = s(&sub, "id");
    let cp = coupon(&h, &[("percent_off", "12.5"), ("duration", "forever")]).await;
    let preview = h
        .post(
            "/v1/invoices/create_preview",
            &[("subscription", id), ("discounts[0][coupon]", &cp)],
        )
        .await;
    // 12.5 % of 4900 = 612.5, rounded half away from zero.
    assert_eq!(preview["total_discount_amounts"][0]["amount"], 613);
    assert_eq!(preview["total"], 4287);
    let unchanged = h.get(&format!("/v1/subscriptions/{id}")).await;
    assert_eq!(unchanged["discounts"], json!([]));
    assert_eq!(
        h.get(&format!("/v1/coupons/{cp}")).await["times_redeemed"],
        0
    );
    let with = h
        .post(
            &format!("/v1/subscriptions/{id}"),
            &[("discounts[0][coupon]", &cp)],
        )
        .await;
    assert_eq!(with["discounts"].as_array().unwrap().len(), 1);
    let upcoming = h
        .post("/v1/invoices/create_preview", &[("subscription", id)])
        .await;
    assert_eq!(upcoming["total"], 4287);
    let kept = h
        .post(
            &format!("/v1/subscriptions/{id}"),
            &[(
                "discounts[0][discount]",
                with["discounts"][0].as_str().unwrap(),
            )],
        )
        .await;
    assert_eq!(kept["discounts"], with["discounts"]);
    let cleared = h
        .post(&format!("/v1/subscriptions/{id}"), &[("discounts", "")])
        .await;
    assert_eq!(cleared["discounts"], json!([]));
    let events = h.all_events().await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"customer.discount.created"));
    assert!(kinds.contains(&"customer.discount.deleted"));
    assert!(kinds.contains(&"coupon.created"));
}
