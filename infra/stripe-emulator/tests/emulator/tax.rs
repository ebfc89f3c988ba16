//! Stripe Tax, deterministic: the rate table by customer country, taxes per line after
//! discounts, `requires_location_inputs`, Checkout's address and tax ID collection, customer
//! tax IDs, and the preview equal to the charge.

use serde_json::{json, Value};
use stripe_emulator::calendar::timestamp;

use crate::harness::{s, types, Catalog, Harness};

const DAY: i64 = 86_400;

async fn start() -> (Harness, Catalog) {
    let h = Harness::start().await;
    let c = h.catalog().await;
    h.advance_to(timestamp(2030, 4, 1, 0, 0, 0)).await;
    (h, c)
}

/// A customer with a card and, when `country` is given, an address there.
async fn customer(h: &Harness, country: Option<&str>) -> String {
    let mut pairs = vec![
        ("email", "tax@example.com"),
        ("payment_method", "pm_card_visa"),
        ("invoice_settings[default_payment_method]", "pm_card_visa"),
    ];
    if let Some(c) = country {
        pairs.push(("address[country]", c));
        pairs.push(("address[postal_code]", "10115"));
    }
    s(&h.post("/v1/customers", &pairs).await, "id").to_string()
}

async fn taxed_sub(h: &Harness, cus: &str, price: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut pairs = vec![
        ("customer", cus),
        ("items[0][price]", price),
        ("automatic_tax[enabled]", "true"),
        ("expand[]", "latest_invoice"),
    ];
    pairs.extend_from_slice(extra);
    h.post_status("/v1/subscriptions", &pairs).await
}

#[tokio::test]
async fn invoices_are_taxed_at_the_customers_country_rate() {
    let (h, c) = start().await;
    for (country, tax, reason) in [
        ("DE", 931, "standard_rated"),
        ("FR", 980, "standard_rated"),
        ("GB", 980, "standard_rated"),
        // 7.25 % of 4900 = 355.25.
        ("US", 355, "standard_rated"),
        ("JP", 0, "not_collecting"),
    ] {
        let cus = customer(&h, Some(country)).await;
        let (status, sub) = taxed_sub(&h, &cus, &c.professional_monthly, &[]).await;
        assert_eq!(status, 200, "{sub:#}");
        assert_eq!(sub["automatic_tax"]["enabled"], true);
        let inv = &sub["latest_invoice"];
        assert_eq!(inv["automatic_tax"]["status"], "complete", "{country}");
        assert_eq!(inv["customer_address"]["country"], country);
        assert_eq!(inv["subtotal"], 4900);
        assert_eq!(inv["total_excluding_tax"], 4900);
        assert_eq!(inv["total"], 4900 + tax, "{country}");
        let rate = format!("txr_emu_{}", country.to_ascii_lowercase());
        let entry = json!({
            "amount": tax,
            "tax_behavior": "exclusive",
            "tax_rate_details": {"tax_rate": rate},
            "taxability_reason": reason,
            "taxable_amount": 4900,
            "type": "tax_rate_details"
        });
        assert_eq!(inv["total_taxes"], json!([entry.clone()]), "{country}");
        assert_eq!(
            inv["lines"]["data"][0]["taxes"],
            json!([entry]),
            "{country}"
        );
        assert_eq!(inv["amount_paid"], 4900 + tax);
        let charge = &h.get("/v1/charges?limit=1").await["data"][0];
        assert_eq!(charge["amount"], 4900 + tax, "{country}");
    }
    let de = h.get("/v1/tax_rates/txr_emu_de").await;
    assert_eq!(de["object"], "tax_rate");
    assert_eq!(de["percentage"], 19.0);
    assert_eq!(de["inclusive"], false);
    let (status, _) = h.get_status("/v1/tax_rates/txr_nope").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn tax_is_on_the_amount_after_discounts() {
    let (h, c) = start().await;
    let cp = h
        .post(
            "/v1/coupons",
            &[("percent_off", "20"), ("duration", "forever")],
        )
        .await;
    let cus = customer(&h, Some("FR")).await;
    let (_, sub) = taxed_sub(
        &h,
        &cus,
        &c.professional_monthly,
        &[("discounts[0][coupon]", s(&cp, "id"))],
    )
    .await;
    let inv = &sub["latest_invoice"];
    assert_eq!(inv["subtotal"], 4900);
    assert_eq!(inv["total_excluding_tax"], 3920);
    assert_eq!(inv["total_taxes"][0]["amount"], 784);
    assert_eq!(inv["total_taxes"][0]["taxable_amount"], 3920);
    assert_eq!(inv["total"], 4704);
    assert_eq!(
        h.get("/v1/charges?limit=1").await["data"][0]["amount"],
        4704
    );
}

#[tokio::test]
async fn without_a_location_stripe_refuses_and_cannot_finalize() {
    let (h, c) = start().await;
    let cus = customer(&h, None).await;
    let (status, body) = taxed_sub(&h, &cus, &c.starter_monthly, &[]).await;
    assert_eq!(status, 400, "{body:#}");
    assert_eq!(body["error"]["code"], "customer_tax_location_invalid");
    assert_eq!(body["error"]["param"], "automatic_tax[enabled]");
    // Located at creation, the address removed later: the renewal stays a draft.
    let cus = customer(&h, Some("DE")).await;
    let (_, sub) = taxed_sub(&h, &cus, &c.starter_monthly, &[]).await;
    h.post(&format!("/v1/customers/{cus}"), &[("address", "")])
        .await;
    let charges = h.get("/v1/charges").await["data"].as_array().unwrap().len();
    let before = h.event_count().await;
    h.advance_to(timestamp(2030, 5, 1, 0, 0, 0)).await;
    let renewed = h
        .get(&format!(
            "/v1/subscriptions/{}?expand[]=latest_invoice",
            s(&sub, "id")
        ))
        .await;
    let inv = &renewed["latest_invoice"];
    assert_eq!(inv["status"], "draft");
    assert_eq!(inv["automatic_tax"]["status"], "requires_location_inputs");
    assert_eq!(
        inv["last_finalization_error"]["code"],
        "customer_tax_location_invalid"
    );
    assert_eq!(inv["total_taxes"], json!([]));
    let kinds = types(&h.events_after(before).await);
    assert!(
        kinds.contains(&"invoice.finalization_failed".to_string()),
        "{kinds:?}"
    );
    assert!(
        !kinds.contains(&"invoice.finalized".to_string()),
        "{kinds:?}"
    );
    assert_eq!(
        h.get("/v1/charges").await["data"].as_array().unwrap().len(),
        charges
    );
}

#[tokio::test]
async fn checkout_collects_the_address_and_tax_id_and_charges_the_taxed_total() {
    let (h, c) = start().await;
    let session = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("customer_email", "gmbh@example.com"),
                ("line_items[0][price]", &c.professional_monthly),
                ("success_url", "http://localhost/ok"),
                ("automatic_tax[enabled]", "true"),
                ("billing_address_collection", "required"),
                ("tax_id_collection[enabled]", "true"),
            ],
        )
        .await;
    assert_eq!(session["automatic_tax"]["enabled"], true);
    assert_eq!(
        session["automatic_tax"]["status"],
        "requires_location_inputs"
    );
    assert_eq!(session["billing_address_collection"], "required");
    assert_eq!(session["tax_id_collection"]["enabled"], true);
    let path = format!(
        "/_emulator/checkout/sessions/{}/complete",
        s(&session, "id")
    );
    let (status, body) = h.post_status(&path, &[]).await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("address_country"))
    );
    let (status, body) = h
        .post_status(
            &path,
            &[
                ("address_country", "DE"),
                ("tax_id_type", "eu_vat"),
                ("tax_id_value", "nope"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("tax_id_invalid"))
    );
    let done = h
        .post(
            &path,
            &[
                ("address_country", "de"),
                ("address_postal_code", "10115"),
                ("address_city", "Berlin"),
                ("name", "Beispiel GmbH"),
                ("tax_id_type", "eu_vat"),
                ("tax_id_value", "DE123456789"),
            ],
        )
        .await;
    assert_eq!(done["automatic_tax"]["status"], "complete");
    assert_eq!(done["amount_subtotal"], 4900);
    assert_eq!(done["total_details"]["amount_tax"], 931);
    assert_eq!(done["amount_total"], 5831);
    assert_eq!(done["customer_details"]["address"]["country"], "DE");
    assert_eq!(
        done["customer_details"]["tax_ids"],
        json!([{"type": "eu_vat", "value": "DE123456789"}])
    );
    let cus = s(&done, "customer");
    let customer = h
        .get(&format!("/v1/customers/{cus}?expand[]=tax_ids"))
        .await;
    assert_eq!(customer["address"]["country"], "DE");
    assert_eq!(customer["address"]["city"], "Berlin");
    assert_eq!(customer["name"], "Beispiel GmbH");
    assert_eq!(customer["tax_ids"]["data"][0]["country"], "DE");
    assert_eq!(
        customer["tax_ids"]["data"][0]["verification"]["status"],
        "verified"
    );
    let plain = h.get(&format!("/v1/customers/{cus}")).await;
    assert!(plain.get("tax_ids").is_none(), "includable: {plain:#}");
    let inv = h
        .get(&format!("/v1/invoices/{}", s(&done, "invoice")))
        .await;
    assert_eq!(inv["total"], 5831);
    assert_eq!(
        h.get("/v1/charges?limit=1").await["data"][0]["amount"],
        5831
    );
}

async fn open_session(h: &Harness, pairs: Vec<(String, String)>) -> (u16, Value) {
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    h.post_status("/v1/checkout/sessions", &refs).await
}

#[tokio::test]
async fn checkout_for_an_existing_customer_updates_it_only_as_customer_update_says() {
    let (h, c) = start().await;
    let bare = customer(&h, None).await;
    let base = |cus: &str| {
        vec![
            ("mode".to_string(), "subscription".to_string()),
            ("customer".into(), cus.to_string()),
            ("line_items[0][price]".into(), c.starter_monthly.clone()),
            ("success_url".into(), "http://localhost/ok".into()),
            ("automatic_tax[enabled]".into(), "true".into()),
        ]
    };
    let (status, body) = open_session(&h, base(&bare)).await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("customer_update[address]"))
    );
    let mut with_ids = base(&bare);
    with_ids.push(("customer_update[address]".into(), "auto".into()));
    with_ids.push(("tax_id_collection[enabled]".into(), "true".into()));
    let (status, body) = open_session(&h, with_ids.clone()).await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("customer_update[name]"))
    );
    let mut ok = base(&bare);
    ok.push(("customer_update[address]".into(), "auto".into()));
    let (status, session) = open_session(&h, ok).await;
    assert_eq!(status, 200, "{session:#}");
    let done = h
        .post(
            &format!(
                "/_emulator/checkout/sessions/{}/complete",
                s(&session, "id")
            ),
            &[("address_country", "GB")],
        )
        .await;
    assert_eq!(done["total_details"]["amount_tax"], 380);
    assert_eq!(
        h.get(&format!("/v1/customers/{bare}")).await["address"]["country"],
        "GB"
    );
    // `never`: a located customer keeps its address whatever the page collected.
    let located = customer(&h, Some("FR")).await;
    let mut never = base(&located);
    never.push(("customer_update[address]".into(), "never".into()));
    never.push(("billing_address_collection".into(), "required".into()));
    let (_, session) = open_session(&h, never).await;
    let done = h
        .post(
            &format!(
                "/_emulator/checkout/sessions/{}/complete",
                s(&session, "id")
            ),
            &[("address_country", "US")],
        )
        .await;
    assert_eq!(done["total_details"]["amount_tax"], 380);
    assert_eq!(
        h.get(&format!("/v1/customers/{located}")).await["address"]["country"],
        "FR"
    );
    let (status, body) = h
        .post_status(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("line_items[0][price]", &c.starter_monthly),
                ("success_url", "http://localhost/ok"),
                ("customer_update[address]", "auto"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("customer_update"))
    );
}

#[tokio::test]
async fn a_taxed_upgrade_previews_what_it_charges() {
    let (h, c) = start().await;
    let cus = customer(&h, Some("DE")).await;
    let (_, sub) = taxed_sub(&h, &cus, &c.starter_monthly, &[]).await;
    assert_eq!(sub["latest_invoice"]["total"], 2261);
    let id = s(&sub, "id");
    let item = s(&sub["items"]["data"][0], "id");
    let t = (timestamp(2030, 4, 1, 0, 0, 0) + 15 * DAY).to_string();
    h.advance_to(timestamp(2030, 4, 16, 0, 0, 0)).await;
    let change = [
        ("subscription_details[items][0][id]", item),
        (
            "subscription_details[items][0][price]",
            c.professional_monthly.as_str(),
        ),
        ("subscription_details[proration_date]", t.as_str()),
        ("subscription_details[proration_behavior]", "always_invoice"),
    ];
    let mut pairs = vec![("subscription", id)];
    pairs.extend(change);
    let preview = h.post("/v1/invoices/create_preview", &pairs).await;
    // -950 and 2450, taxed at 19 % per line: -180.5 → -181, 465.5 → 466.
    let taxes: Vec<i64> = preview["lines"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["taxes"][0]["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(taxes, [-181, 466]);
    assert_eq!(preview["total"], 1785);
    let updated = h
        .post(
            &format!("/v1/subscriptions/{id}"),
            &[
                ("items[0][id]", item),
                ("items[0][price]", &c.professional_monthly),
                ("proration_date", &t),
                ("proration_behavior", "always_invoice"),
                ("expand[]", "latest_invoice"),
            ],
        )
        .await;
    assert_eq!(updated["latest_invoice"]["total"], preview["total"]);
    assert_eq!(
        h.get("/v1/charges?limit=1").await["data"][0]["amount"],
        1785
    );
    // A preview may turn tax on; for a customer it cannot locate it is refused.
    let bare = customer(&h, None).await;
    let untaxed = h
        .post(
            "/v1/subscriptions",
            &[("customer", &bare), ("items[0][price]", &c.starter_monthly)],
        )
        .await;
    let (status, body) = h
        .post_status(
            "/v1/invoices/create_preview",
            &[
                ("subscription", s(&untaxed, "id")),
                ("automatic_tax[enabled]", "true"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("customer_tax_location_invalid"))
    );
}

#[tokio::test]
async fn customer_tax_ids_are_created_listed_and_deleted() {
    let (h, _c) = start().await;
    let cus = customer(&h, Some("GB")).await;
    let path = format!("/v1/customers/{cus}/tax_ids");
    let t = h
        .post(&path, &[("type", "gb_vat"), ("value", "GB123456789")])
        .await;
    assert_eq!(t["object"], "tax_id");
    assert_eq!(t["country"], "GB");
    assert_eq!(t["owner"]["customer"], cus);
    let ein = h
        .post(&path, &[("type", "us_ein"), ("value", "12-3456789")])
        .await;
    assert_eq!(ein["verification"]["status"], "unavailable");
    for (kind, value, param) in [
        ("gb_vat", "123", "value"),
        ("us_ein", "123456789", "value"),
        ("vat", "X", "type"),
    ] {
        let (status, body) = h
            .post_status(&path, &[("type", kind), ("value", value)])
            .await;
        assert_eq!(status, 400, "{kind} {value} -> {body:#}");
        assert_eq!(body["error"]["param"], param);
    }
    let list = h.get(&path).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    let gone = h.delete(&format!("{path}/{}", s(&t, "id")), &[]).await;
    assert_eq!(gone["deleted"], true);
    assert_eq!(h.get(&path).await["data"].as_array().unwrap().len(), 1);
    let (status, _) = h.get_status(&format!("{path}/{}", s(&t, "id"))).await;
    assert_eq!(status, 404);
}
