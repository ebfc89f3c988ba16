//! A team's own catalog: tiers named Hobby (free), Team and Business, ranked by the catalog,
//! in another currency. The whole lifecycle runs on it through the services and the webhook
//! core against the emulator: checkout, the payment's events, a preview and an upgrade by
//! rank, a downgrade scheduled and applied at period end, a cancellation and its resumption,
//! and what Keycloak, Lago and the email are given. Nothing assumes the built-in names.

use serde_json::{json, Map, Value};
use tierflow::domain::{BillingCycle, Catalog, Tier, UserId};
use tierflow::service::billing_config::billing_config;
use tierflow::service::subscriptions::{CancelRequest, PreviewQuery, UpgradeRequest};
use tierflow::sync::templates::{render, EmailContext};
use tierflow::sync::worker::desired_state::{keycloak_attributes, lago_plan};
use tierflow::webhook::Outcome;
use tierflow_testkit::{caller, unique, Harness};

const ACME_CATALOG: &str = r#"{
  "currency": "eur",
  "tiers": [
    {"tier": "business", "rank": 20, "name": "Business", "lago_plan_code": "acme_business",
     "entitlements": {"seats": 50},
     "prices": [{"cycle": "monthly", "unit_amount": 9900, "lookup_key": "acme_business_monthly"},
                {"cycle": "yearly", "unit_amount": 99000, "lookup_key": "acme_business_yearly"}]},
    {"tier": "hobby", "rank": 0, "free": true, "name": "Hobby", "lago_plan_code": "acme_hobby",
     "entitlements": {"seats": 1}, "prices": []},
    {"tier": "team", "rank": 10, "name": "Team", "lago_plan_code": "acme_team",
     "entitlements": {"seats": 10},
     "prices": [{"cycle": "monthly", "unit_amount": 2900, "lookup_key": "acme_team_monthly"}]}
  ]
}"#;

fn tier(name: &str) -> Tier {
    Tier::parse(name).expect("tier")
}

#[tokio::test]
async fn the_whole_lifecycle_runs_on_a_catalog_with_other_tier_names() {
    let catalog = Catalog::parse(ACME_CATALOG).expect("the Acme catalog");
    let h = Harness::with_catalog(catalog.clone()).await;
    let user = unique("acme");
    let me = caller(&user);
    let service = h.service();

    // The catalog as the page sees it: lowest rank first, the free tier marked.
    let config = serde_json::to_value(billing_config(&catalog, "pk_test")).expect("json");
    let plans: Vec<(&str, u64, bool)> = config["plans"]
        .as_array()
        .expect("plans")
        .iter()
        .map(|p| {
            (
                p["tier"].as_str().unwrap(),
                p["rank"].as_u64().unwrap(),
                p["free"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        plans,
        [
            ("hobby", 0, true),
            ("team", 10, false),
            ("business", 20, false)
        ]
    );

    // A user never seen is on the free tier; a built-in name is not a tier here.
    let current = tierflow::service::current_subscription::current_subscription(
        h.store.as_ref(),
        &catalog,
        &me,
        h.stripe_now().await,
    )
    .await
    .expect("current");
    assert_eq!(current.tier, tier("hobby"));
    let refused = service
        .preview_change(
            &me,
            &PreviewQuery {
                target_tier: Some("professional".into()),
                billing_cycle: None,
                promotion_code: None,
            },
        )
        .await
        .expect_err("not a tier of this catalog");
    assert_eq!(
        (refused.status.as_u16(), refused.code),
        (400, "invalid_tier")
    );
    assert!(
        refused.message.contains("hobby, team, business"),
        "{}",
        refused.message
    );

    // Checkout for Team, paid; the payment's events decide with this catalog.
    let profile = h.subscribe(&user, "Team", "monthly", "pm_card_visa").await;
    assert_eq!(profile.tier, tier("team"));
    assert_eq!(profile.billing_cycle, Some(BillingCycle::Monthly));
    let processor = h.processor(h.store.clone(), Default::default());
    for event in h
        .stripe_events(&[
            "checkout.session.completed",
            "customer.subscription.created",
            "invoice.paid",
            "charge.succeeded",
        ])
        .await
    {
        let outcome = processor
            .process(&event, &event.id)
            .await
            .expect("processed");
        assert!(
            matches!(
                outcome,
                Outcome::Applied | Outcome::Ignored(_) | Outcome::Duplicate
            ),
            "{}: {outcome:?}",
            event.kind
        );
    }
    let profile = h.profile(&user).await;
    assert_eq!(profile.tier, tier("team"));
    let now = h.stripe_now().await;
    assert_eq!(
        keycloak_attributes(&profile, &catalog, now)["subscription_tier"].as_deref(),
        Some("team")
    );
    assert_eq!(lago_plan(&profile, now, &catalog), Some("acme_team"));

    // Business ranks above Team: an upgrade, charged now; the preview is the charge.
    let preview = service
        .preview_change(
            &me,
            &PreviewQuery {
                target_tier: Some("business".into()),
                billing_cycle: None,
                promotion_code: None,
            },
        )
        .await
        .expect("preview");
    assert!(preview.is_upgrade);
    assert_eq!(preview.change, "upgrade");
    assert_eq!(
        (preview.current_tier.as_str(), preview.currency.as_str()),
        ("team", "eur")
    );
    let upgraded = service
        .upgrade(
            &me,
            &UpgradeRequest {
                target_tier: "business".into(),
                billing_cycle: None,
                proration_date: preview.proration_date,
                promotion_code: None,
            },
            &unique("upgrade"),
        )
        .await
        .expect("upgrade");
    let upgraded = serde_json::to_value(&upgraded).expect("json");
    assert_eq!(upgraded["tier"], "business", "{upgraded}");
    assert_eq!(
        upgraded["amount_charged"].as_i64(),
        Some(preview.amount_due)
    );
    let invoices = h.stripe_get("/v1/invoices").await;
    let charged = invoices["data"]
        .as_array()
        .expect("invoices")
        .iter()
        .find(|i| i["billing_reason"] == "subscription_update")
        .expect("the upgrade's invoice");
    assert_eq!(charged["amount_paid"].as_i64(), Some(preview.amount_due));
    assert_eq!(charged["currency"], "eur");

    // Team ranks below Business: a downgrade, at period end, applied when it is due.
    h.schedule_downgrade(&user, "team", None).await;
    let profile = h.profile(&user).await;
    let pending = profile.pending_change.clone().expect("scheduled");
    assert_eq!(pending.target_tier, tier("team"));
    assert_eq!(profile.tier, tier("business"));
    let end = profile.current_period_end.expect("period end");
    h.advance(end - h.stripe_now().await + 60).await;
    let report = service
        .apply_due_changes(end + 60, 10)
        .await
        .expect("applied");
    assert_eq!(report.applied, 1, "{report:?}");
    let profile = h.profile(&user).await;
    assert_eq!(profile.tier, tier("team"));
    assert!(profile.pending_change.is_none());

    // Cancel at period end, then resume.
    let canceled = service
        .cancel(
            &me,
            &CancelRequest {
                at_period_end: Some(true),
            },
            &unique("cancel"),
        )
        .await
        .expect("cancel");
    assert!(canceled.cancel_at_period_end);
    let resumed = service
        .resume(&me, &unique("resume"))
        .await
        .expect("resume");
    assert!(!resumed.cancel_at_period_end);
    assert_eq!(resumed.tier, tier("team"));

    // The email names the catalog's tiers, and the free tier by its display name.
    let email = |template: &str, fields: Value| {
        let fields: Map<String, Value> = fields.as_object().expect("fields").clone();
        render(
            template,
            &fields,
            &EmailContext {
                product: "Acme",
                billing_url: None,
                profile: &profile,
                catalog: &catalog,
            },
        )
        .expect("rendered")
    };
    let changed = email(
        "subscription_confirmed",
        json!({"tier": "business", "previous_tier": "team"}),
    );
    assert!(
        changed.text.contains("from Team to Business"),
        "{}",
        changed.text
    );
    let ended = email("subscription_canceled", json!({"previous_tier": "team"}));
    assert!(
        ended.text.contains("now on the Hobby plan"),
        "{}",
        ended.text
    );

    // Canceled now: back on the free tier, which Lago holds no plan for.
    service
        .cancel(
            &me,
            &CancelRequest {
                at_period_end: Some(false),
            },
            &unique("end"),
        )
        .await
        .expect("cancel now");
    let deleted = h.stripe_events(&["customer.subscription.deleted"]).await;
    let outcome = processor
        .process(&deleted[0], &deleted[0].id)
        .await
        .expect("processed");
    assert!(
        matches!(outcome, Outcome::Applied | Outcome::Ignored(_)),
        "{outcome:?}"
    );
    let profile = h.profile(&user).await;
    assert_eq!(profile.tier, tier("hobby"));
    assert_eq!(lago_plan(&profile, h.stripe_now().await, &catalog), None);
    let _ = UserId::parse(&user).expect("user");
}
