//! Promotion codes through the services against the emulator: the preview of a first
//! subscription and of an upgrade, each with a code, equal to what Stripe then charges; codes
//! that are unknown, malformed, expired or not for this customer refused with a 400 that says so.

use tierflow::service::subscriptions::{CheckoutRequest, PreviewQuery, UpgradeRequest};
use tierflow_testkit::{caller, unique, Harness};

/// A coupon of `percent` percent off forever, and a promotion code `code` for it.
async fn promotion_code(h: &Harness, code: &str, percent: &str, extra: &[(&str, &str)]) {
    let coupon = h
        .emulator_call(
            "POST",
            "/v1/coupons",
            &[("percent_off", percent), ("duration", "forever")],
        )
        .await;
    let coupon = coupon["id"].as_str().expect("coupon").to_owned();
    let mut form = vec![("coupon", coupon.as_str()), ("code", code)];
    form.extend_from_slice(extra);
    let promo = h.emulator_call("POST", "/v1/promotion_codes", &form).await;
    assert_eq!(promo["code"], code, "{promo}");
}

fn preview(tier: &str, cycle: Option<&str>, code: Option<&str>) -> PreviewQuery {
    PreviewQuery {
        target_tier: Some(tier.into()),
        billing_cycle: cycle.map(str::to_owned),
        promotion_code: code.map(str::to_owned),
    }
}

#[tokio::test]
async fn a_code_at_checkout_is_previewed_to_the_cent_and_charged() {
    let h = Harness::start().await;
    promotion_code(&h, "SAVE20", "20", &[]).await;
    let user = unique("promo-checkout");
    let me = caller(&user);
    let service = h.service();

    let shown = service
        .preview_change(&me, &preview("starter", None, Some("SAVE20")))
        .await
        .expect("preview");
    assert_eq!(shown.change, "new_subscription");
    assert_eq!((shown.subtotal, shown.discount), (1900, 380));
    assert_eq!(shown.amount_due, 1520);
    assert_eq!(shown.promotion_code.as_deref(), Some("SAVE20"));

    let checkout = service
        .checkout(
            &me,
            &CheckoutRequest {
                tier: "starter".into(),
                billing_cycle: None,
                promotion_code: Some("SAVE20".into()),
            },
            &unique("checkout"),
        )
        .await
        .expect("checkout");
    h.complete_checkout(&checkout.session_id, "pm_card_visa")
        .await;
    service
        .confirm_checkout(&me, &checkout.session_id, &unique("confirm"))
        .await
        .expect("confirmed");
    let customer = h.profile(&user).await.customer_id.expect("customer");
    let invoices = h
        .stripe_get(&format!("/v1/invoices?customer={customer}"))
        .await;
    let first = &invoices["data"][0];
    assert_eq!(first["billing_reason"], "subscription_create", "{first}");
    assert_eq!(
        first["amount_paid"].as_i64(),
        Some(shown.amount_due),
        "{first}"
    );

    // The subscription's discount, as /subscriptions/current shows it: confirmed by the API,
    // and again by the webhook from the subscription's events (which name it by id only).
    let view = |p: &tierflow::domain::BillingProfile| {
        serde_json::to_value(tierflow::service::current_subscription::subscription_view(
            p, &h.catalog, 0,
        ))
        .expect("json")
    };
    let current = view(&h.profile(&user).await);
    assert_eq!(current["discount"]["percent_off"], 20.0, "{current}");
    assert!(current["discount"]["ends_at"].is_null(), "{current}");
    let processor = h.processor(h.store.clone(), Default::default());
    for event in h.stripe_events(&[]).await {
        processor
            .process(&event, &event.id)
            .await
            .expect("processed");
    }
    let current = view(&h.profile(&user).await);
    assert_eq!(current["discount"]["percent_off"], 20.0, "{current}");
}

#[tokio::test]
async fn a_code_on_an_upgrade_is_previewed_to_the_cent_and_charged() {
    let (h, _) = Harness::subscribed("starter", "monthly").await;
    promotion_code(&h, "YEARLY15", "15", &[]).await;
    let me = caller(tierflow_testkit::SAMPLE_USER);
    let service = h.service();
    let plain = service
        .preview_change(&me, &preview("professional", Some("yearly"), None))
        .await
        .expect("preview");
    let shown = service
        .preview_change(
            &me,
            &preview("professional", Some("yearly"), Some("yearly15")),
        )
        .await
        .expect("preview with the code");
    assert_eq!(shown.change, "upgrade");
    assert!(shown.discount > 0, "{shown:?}");
    assert!(shown.amount_due < plain.amount_due, "{shown:?} {plain:?}");

    let upgraded = service
        .upgrade(
            &me,
            &UpgradeRequest {
                target_tier: "professional".into(),
                billing_cycle: Some("yearly".into()),
                proration_date: shown.proration_date,
                promotion_code: Some("yearly15".into()),
            },
            &unique("upgrade"),
        )
        .await
        .expect("upgrade");
    let upgraded = serde_json::to_value(&upgraded).expect("json");
    assert_eq!(
        upgraded["amount_charged"].as_i64(),
        Some(shown.amount_due),
        "{upgraded}"
    );
}

#[tokio::test]
async fn unknown_malformed_expired_and_inapplicable_codes_are_refused() {
    let (h, _) = Harness::subscribed("starter", "monthly").await;
    let expires = (h.stripe_now().await + 3600).to_string();
    promotion_code(&h, "SOON", "10", &[("expires_at", &expires)]).await;
    promotion_code(
        &h,
        "NEWCUSTOMERS",
        "30",
        &[("restrictions[first_time_transaction]", "true")],
    )
    .await;
    h.advance(7200).await;
    let me = caller(tierflow_testkit::SAMPLE_USER);
    let service = h.service();
    for (code, says) in [
        ("NOSUCHCODE", "not an active promotion code"),
        ("bad code!", "letters, digits"),
        ("SOON", "not an active promotion code"),
        ("NEWCUSTOMERS", "first-time customers"),
    ] {
        let refused = service
            .preview_change(&me, &preview("professional", Some("yearly"), Some(code)))
            .await
            .expect_err(code);
        assert_eq!(
            (refused.status.as_u16(), refused.code),
            (400, "invalid_promotion_code"),
            "{code}"
        );
        assert!(
            refused.message.contains(says),
            "{code}: {}",
            refused.message
        );
    }
    let refused = service
        .upgrade(
            &me,
            &UpgradeRequest {
                target_tier: "professional".into(),
                billing_cycle: Some("yearly".into()),
                proration_date: None,
                promotion_code: Some("NEWCUSTOMERS".into()),
            },
            &unique("upgrade"),
        )
        .await
        .expect_err("not a first-time customer");
    assert_eq!(refused.code, "invalid_promotion_code");
    assert_eq!(
        h.profile(tierflow_testkit::SAMPLE_USER).await.tier,
        tierflow_testkit::tier("starter")
    );
}
