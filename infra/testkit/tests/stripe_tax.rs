//! Stripe Tax (`TAX_MODE=stripe_tax`) through the services and the webhook core against the
//! emulator's fixed per-country rates: Checkout collects the billing address and taxes the first
//! invoice, an upgrade's preview carries the tax and equals the charge to the cent, and the
//! history shows the tax each payment included.

use tierflow::ports::BillingStore;
use tierflow::service::payments::history::{payment_history, HistoryQuery};
use tierflow::service::subscriptions::{
    CheckoutRequest, PreviewQuery, TaxMode, TrialRequest, UpgradeRequest,
};
use tierflow::webhook::Outcome;
use tierflow_testkit::{caller, unique, Harness};

#[tokio::test]
async fn with_stripe_tax_preview_charge_and_history_agree_to_the_cent() {
    let h = Harness::start().await;
    let mut service = h.service();
    service.tax = TaxMode::StripeTax;
    let user = unique("tax");
    let me = caller(&user);

    let checkout = service
        .checkout(
            &me,
            &CheckoutRequest {
                tier: "starter".into(),
                billing_cycle: None,
                promotion_code: None,
            },
            &unique("checkout"),
        )
        .await
        .expect("checkout");
    let session = h
        .stripe_get(&format!("/v1/checkout/sessions/{}", checkout.session_id))
        .await;
    assert_eq!(session["automatic_tax"]["enabled"], true, "{session}");
    assert_eq!(session["billing_address_collection"], "required");
    let completed = h
        .emulator_call(
            "POST",
            &format!(
                "/_emulator/checkout/sessions/{}/complete",
                checkout.session_id
            ),
            &[
                ("payment_method", "pm_card_visa"),
                ("address_country", "DE"),
            ],
        )
        .await;
    assert_eq!(completed["status"], "complete", "{completed}");
    service
        .confirm_checkout(&me, &checkout.session_id, &unique("confirm"))
        .await
        .expect("confirmed");
    // German VAT, 19%, on the first month of Starter.
    let customer = h.profile(&user).await.customer_id.expect("customer");
    let invoices = h
        .stripe_get(&format!("/v1/invoices?customer={customer}"))
        .await;
    assert_eq!(
        invoices["data"][0]["amount_paid"].as_i64(),
        Some(1900 + 361)
    );

    let shown = service
        .preview_change(
            &me,
            &PreviewQuery {
                target_tier: Some("professional".into()),
                billing_cycle: None,
                promotion_code: None,
            },
        )
        .await
        .expect("preview");
    assert!(shown.tax > 0, "{shown:?}");
    let upgraded = service
        .upgrade(
            &me,
            &UpgradeRequest {
                target_tier: "professional".into(),
                billing_cycle: None,
                proration_date: shown.proration_date,
                promotion_code: None,
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

    // The history, from the payments' own events, shows what each charge's tax was.
    let processor = h.processor(h.store.clone(), Default::default());
    for event in h.stripe_events(&[]).await {
        let outcome = processor
            .process(&event, &event.id)
            .await
            .expect("processed");
        assert!(
            !matches!(outcome, Outcome::Failed(_)),
            "{}: {outcome:?}",
            event.kind
        );
    }
    let history = payment_history(
        h.store.as_ref(),
        h.cursor_key().expose().as_bytes(),
        &me,
        &HistoryQuery::default(),
    )
    .await
    .expect("history");
    let history = serde_json::to_value(history).expect("json");
    let taxes: Vec<(i64, i64)> = history["transactions"]
        .as_array()
        .expect("transactions")
        .iter()
        .map(|t| (t["amount"].as_i64().unwrap(), t["tax"].as_i64().unwrap()))
        .collect();
    assert!(taxes.contains(&(2261, 361)), "{taxes:?}");
    assert!(
        taxes.contains(&(shown.amount_due, shown.tax)),
        "{taxes:?} {shown:?}"
    );
}

#[tokio::test]
async fn with_stripe_tax_a_trial_starts_only_in_checkout_which_collects_the_address() {
    // The built-in catalog with a 14-day card-less trial on Starter.
    let mut catalog: serde_json::Value =
        serde_json::from_str(tierflow::domain::catalog::BUILT_IN_CATALOG).expect("catalog");
    for tier in catalog["tiers"].as_array_mut().expect("tiers") {
        if tier["tier"] == "starter" {
            tier["trial"] = serde_json::json!({"days": 14, "end_behavior": "cancel"});
        }
    }
    let catalog = tierflow::domain::Catalog::parse(&catalog.to_string()).expect("catalog");
    let h = Harness::with_catalog(catalog).await;
    let mut service = h.service();
    service.tax = TaxMode::StripeTax;
    let user = unique("tax-trial");
    let me = caller(&user);

    let refused = service
        .start_trial(
            &me,
            &TrialRequest {
                tier: "starter".into(),
            },
            &unique("trial"),
        )
        .await
        .expect_err("no address without Checkout");
    assert_eq!(
        (refused.status.as_u16(), refused.code),
        (400, "trial_requires_checkout")
    );
    assert!(
        h.store
            .profile(&tierflow::domain::UserId::parse(&user).expect("user"))
            .await
            .expect("read")
            .is_none_or(|p| p.customer_id.is_none()),
        "the refusal made nothing in Stripe"
    );

    let checkout = service
        .checkout(
            &me,
            &CheckoutRequest {
                tier: "starter".into(),
                billing_cycle: None,
                promotion_code: None,
            },
            &unique("checkout"),
        )
        .await
        .expect("checkout");
    let session = h
        .stripe_get(&format!("/v1/checkout/sessions/{}", checkout.session_id))
        .await;
    assert_eq!(
        session["payment_method_collection"], "if_required",
        "{session}"
    );
    assert_eq!(session["automatic_tax"]["enabled"], true, "{session}");
    assert_eq!(session["billing_address_collection"], "required");
    let completed = h
        .emulator_call(
            "POST",
            &format!(
                "/_emulator/checkout/sessions/{}/complete",
                checkout.session_id
            ),
            &[
                ("without_payment_method", "true"),
                ("address_country", "DE"),
            ],
        )
        .await;
    assert_eq!(completed["status"], "complete", "{completed}");
    let subscription = h
        .stripe_get(&format!(
            "/v1/subscriptions/{}",
            completed["subscription"].as_str().expect("subscription")
        ))
        .await;
    assert_eq!(subscription["status"], "trialing", "{subscription}");
    assert_eq!(
        subscription["automatic_tax"]["enabled"], true,
        "{subscription}"
    );
}
