//! The pages a person clicks: Checkout, 3-D Secure, the portal, documents, the Stripe.js stand-in.

use serde_json::Value;

use crate::harness::Harness;

/// A browser-like client that does not follow redirects (the success URL is not served here).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn page(
    client: &reqwest::Client,
    url: &str,
    form: Option<&[(&str, &str)]>,
) -> (u16, String, Option<String>) {
    let request = match form {
        Some(pairs) => client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(stripe_emulator::form::encode(pairs)),
        None => client.get(url),
    };
    let resp = request.send().await.unwrap();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    (resp.status().as_u16(), resp.text().await.unwrap(), location)
}

async fn open_session(h: &Harness, price: &str) -> String {
    let session = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("line_items[0][price]", price),
                ("customer_email", "pat@example.com"),
                (
                    "success_url",
                    "http://app.test/billing?checkout_session_id={CHECKOUT_SESSION_ID}",
                ),
                ("cancel_url", "http://app.test/billing"),
            ],
        )
        .await;
    session["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn checkout_page_declines_authenticates_and_redirects_to_the_success_url() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    let client = browser();
    let id = open_session(&h, &c.professional_monthly).await;
    let url = h.url(&format!("/checkout/{id}"));

    let (status, html, _) = page(&client, &url, None).await;
    assert_eq!(status, 200);
    assert!(html.contains("Professional (every 1 month) × 1"), "{html}");
    assert!(
        html.contains("data-testid=\"checkout-total\">$49.00<"),
        "{html}"
    );
    assert!(html.contains("Pay $49.00"));
    assert!(
        html.contains("href=\"http://app.test/billing\""),
        "the way back"
    );

    let pay = format!("{url}/pay");
    let (status, html, _) = page(&client, &pay, Some(&[("card", "pm_card_chargeDeclined")])).await;
    assert_eq!(status, 402);
    assert!(html.contains("Your card was declined."), "{html}");
    assert_eq!(
        h.get(&format!("/v1/checkout/sessions/{id}")).await["status"],
        "open"
    );

    let (status, html, _) = page(
        &client,
        &pay,
        Some(&[("card", "pm_card_threeDSecure2Required")]),
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("Complete authentication") && html.contains("Fail authentication"));
    let authenticate = format!("{url}/authenticate");
    let card = ("card", "pm_card_threeDSecure2Required");
    let (_, html, _) = page(&client, &authenticate, Some(&[card, ("outcome", "fail")])).await;
    assert!(html.contains("Authentication failed"), "{html}");
    assert_eq!(
        h.get(&format!("/v1/checkout/sessions/{id}")).await["status"],
        "open"
    );

    let (status, _, location) = page(
        &client,
        &authenticate,
        Some(&[card, ("outcome", "succeed")]),
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        location.unwrap(),
        format!("http://app.test/billing?checkout_session_id={id}")
    );
    let session = h.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(session["status"], "complete");
    let sub = h
        .get(&format!(
            "/v1/subscriptions/{}",
            session["subscription"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        sub["status"], "active",
        "the first invoice was paid after 3-D Secure"
    );

    let (_, html, _) = page(&client, &url, None).await;
    assert!(html.contains("This Checkout session is complete."));
}

#[tokio::test]
async fn three_d_secure_page_completes_or_fails_the_payment_and_tells_the_frame_parent() {
    let h = Harness::start().await;
    let client = browser();
    for (outcome, status) in [
        ("succeed", "succeeded"),
        ("fail", "requires_payment_method"),
    ] {
        let pi: Value = h
            .post(
                "/v1/payment_intents",
                &[
                    ("amount", "3000"),
                    ("currency", "usd"),
                    ("payment_method", "pm_card_threeDSecure2Required"),
                    ("confirm", "true"),
                ],
            )
            .await;
        assert_eq!(pi["status"], "requires_action");
        let url = h.url(&format!("/_emulator/3ds/{}", pi["id"].as_str().unwrap()));
        let (code, html, _) = page(&client, &url, None).await;
        assert_eq!(code, 200);
        assert!(
            html.contains("$30.00") && html.contains(">Complete<") && html.contains(">Fail<"),
            "{html}"
        );
        let (_, html, _) = page(&client, &url, Some(&[("outcome", outcome)])).await;
        assert!(
            html.contains(&format!("\"status\":\"{status}\"")),
            "{outcome}: {html}"
        );
        assert_eq!(
            h.get(&format!(
                "/v1/payment_intents/{}",
                pi["id"].as_str().unwrap()
            ))
            .await["status"],
            status
        );
    }
}

#[tokio::test]
async fn portal_shows_the_customers_subscription_and_documents_open() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    let client = browser();
    let sub = h.subscribe(&c.starter_monthly, "pm_card_visa").await;
    let customer = sub["customer"].as_str().unwrap();
    let portal = h
        .post(
            "/v1/billing_portal/sessions",
            &[
                ("customer", customer),
                ("return_url", "http://app.test/billing"),
            ],
        )
        .await;
    let (status, html, _) = page(&client, portal["url"].as_str().unwrap(), None).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Starter (every 1 month)") && html.contains("active"),
        "{html}"
    );
    assert!(html.contains("visa •••• 4242"), "{html}");
    assert!(html.contains("href=\"http://app.test/billing\""));

    let invoice = h
        .get(&format!(
            "/v1/invoices/{}",
            sub["latest_invoice"].as_str().unwrap()
        ))
        .await;
    let (status, html, _) = page(
        &client,
        invoice["hosted_invoice_url"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("$19.00") && html.contains("paid"), "{html}");
    let resp = client
        .get(invoice["invoice_pdf"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    assert!(resp.bytes().await.unwrap().starts_with(b"%PDF-1.4"));
    // Basil links an invoice to its charge only through its payments: the customer's one charge.
    let charges = h
        .get(&format!(
            "/v1/charges?customer={}",
            invoice["customer"].as_str().unwrap()
        ))
        .await;
    let charge = &charges["data"][0];
    let (status, html, _) = page(&client, charge["receipt_url"].as_str().unwrap(), None).await;
    assert_eq!(status, 200);
    assert!(html.contains("$19.00 paid"), "{html}");

    let (status, _, _) = page(&client, &h.url("/p/session/test_unknown"), None).await;
    assert_eq!(status, 404);
    let (status, js, _) = page(&client, &h.url("/js/v3"), None).await;
    assert_eq!(status, 200);
    assert!(js.contains("handleNextAction"));
}

#[tokio::test]
async fn only_a_charge_that_went_through_has_a_receipt_and_it_shows_refunds() {
    let h = Harness::start().await;
    let client = browser();
    let pi = h
        .post(
            "/v1/payment_intents",
            &[("amount", "3000"), ("currency", "usd")],
        )
        .await;
    let id = pi["id"].as_str().unwrap();
    let (status, declined) = h
        .post_status(
            &format!("/v1/payment_intents/{id}/confirm"),
            &[("payment_method", "pm_card_chargeDeclined")],
        )
        .await;
    assert_eq!(status, 402);
    let declined_charge = declined["error"]["payment_intent"]["latest_charge"]
        .as_str()
        .unwrap()
        .to_owned();
    let failed = h.get(&format!("/v1/charges/{declined_charge}")).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["receipt_url"], Value::Null);
    let (status, _, _) = page(
        &client,
        &h.url(&format!("/receipts/{declined_charge}")),
        None,
    )
    .await;
    assert_eq!(status, 404);

    let ok = h
        .post(
            &format!("/v1/payment_intents/{id}/confirm"),
            &[("payment_method", "pm_card_visa")],
        )
        .await;
    let charge = ok["latest_charge"].as_str().unwrap();
    h.post("/v1/refunds", &[("charge", charge), ("amount", "1000")])
        .await;
    let paid = h.get(&format!("/v1/charges/{charge}")).await;
    let receipt = paid["receipt_url"].as_str().unwrap();
    assert_eq!(receipt, h.url(&format!("/receipts/{charge}")));
    let (status, html, _) = page(&client, receipt, None).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("$30.00 paid") && html.contains("$10.00 refunded"),
        "{html}"
    );
}

#[tokio::test]
async fn checkout_page_takes_a_promotion_code_and_a_country_and_shows_the_total_due() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    let client = browser();
    let coupon = h.post("/v1/coupons", &[("percent_off", "20")]).await;
    h.post(
        "/v1/promotion_codes",
        &[
            ("coupon", coupon["id"].as_str().unwrap()),
            ("code", "PAGE20"),
        ],
    )
    .await;
    let session = h
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("line_items[0][price]", &c.professional_monthly),
                ("customer_email", "pat@example.com"),
                ("success_url", "http://app.test/ok"),
                ("allow_promotion_codes", "true"),
                ("automatic_tax[enabled]", "true"),
            ],
        )
        .await;
    let id = session["id"].as_str().unwrap();
    let url = h.url(&format!("/checkout/{id}"));
    let (status, html, _) = page(&client, &url, None).await;
    assert_eq!(status, 200);
    assert!(html.contains("data-testid=\"promotion-code\""), "{html}");
    assert!(html.contains("data-testid=\"address-country\""), "{html}");
    let pay = format!("{url}/pay");
    let (status, _, location) = page(
        &client,
        &pay,
        Some(&[
            ("card", "pm_card_visa"),
            ("promotion_code", "page20"),
            ("address_country", "DE"),
        ]),
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(location.as_deref(), Some("http://app.test/ok"));
    let done = h.get(&format!("/v1/checkout/sessions/{id}")).await;
    // 4900 − 20 % = 3920, + 19 % VAT = 744.8 → 745.
    assert_eq!(done["total_details"]["amount_discount"], 980);
    assert_eq!(done["total_details"]["amount_tax"], 745);
    assert_eq!(done["amount_total"], 4665);
    let charge: Value = h.get("/v1/charges").await["data"][0].clone();
    assert_eq!(charge["amount"], 4665);
}
