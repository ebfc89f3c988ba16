//! Trials, through the services and the webhook core against the emulator, on a catalog whose
//! Team tier has a 14-day card-less trial that cancels without a card and whose Business tier
//! has a 7-day one that pauses: a trial started without Checkout, its trial-ending email, its
//! end without a card (canceled, back on free; or paused, without access), its conversion once
//! a card is added, a Checkout trial without a card, and the second trial refused.

use serde_json::Value;
use tierflow::domain::{Access, Catalog, SubscriptionStatus, Tier};
use tierflow::ports::{BillingStore, Commit, ProfileWrite, StripeApi};
use tierflow::service::current_subscription::subscription_view;
use tierflow::service::subscriptions::{CheckoutRequest, TrialRequest};
use tierflow::webhook::{Outcome, Processor};
use tierflow_testkit::{caller, unique, Harness};

const TRIAL_CATALOG: &str = r#"{
  "currency": "usd",
  "tiers": [
    {"tier": "hobby", "rank": 0, "free": true, "name": "Hobby", "lago_plan_code": "t_hobby",
     "entitlements": {"seats": 1}, "prices": []},
    {"tier": "team", "rank": 10, "name": "Team", "lago_plan_code": "t_team",
     "entitlements": {"seats": 10},
     "prices": [{"cycle": "monthly", "unit_amount": 2900, "lookup_key": "t_team_monthly"}],
     "trial": {"days": 14, "end_behavior": "cancel"}},
    {"tier": "business", "rank": 20, "name": "Business", "lago_plan_code": "t_business",
     "entitlements": {"seats": 50},
     "prices": [{"cycle": "monthly", "unit_amount": 9900, "lookup_key": "t_business_monthly"}],
     "trial": {"days": 7, "end_behavior": "pause"}},
    {"tier": "enterprise", "rank": 30, "name": "Enterprise", "lago_plan_code": "t_enterprise",
     "entitlements": {"seats": 500},
     "prices": [{"cycle": "monthly", "unit_amount": 49900, "lookup_key": "t_enterprise_monthly"}],
     "trial": {"days": 30, "card_required": true}}
  ]
}"#;

const DAY: i64 = 86_400;

fn tier(name: &str) -> Tier {
    Tier::parse(name).expect("tier")
}

async fn start() -> (Harness, Processor) {
    let h = Harness::with_catalog(Catalog::parse(TRIAL_CATALOG).expect("catalog")).await;
    let processor = h.processor(h.store.clone(), Default::default());
    (h, processor)
}

/// Delivers every Stripe event so far, oldest first (those already processed are duplicates).
async fn deliver_all(h: &Harness, processor: &Processor) {
    for event in h.stripe_events(&[]).await {
        let outcome = processor
            .process(&event, &event.id)
            .await
            .expect("processed");
        assert!(
            !matches!(outcome, Outcome::Failed(_)),
            "{} {}: {outcome:?}",
            event.kind,
            event.id
        );
    }
}

async fn start_trial(h: &Harness, user: &str, tier: &str) -> Value {
    let view = h
        .service()
        .start_trial(
            &caller(user),
            &TrialRequest { tier: tier.into() },
            &unique("trial"),
        )
        .await
        .expect("trial started");
    serde_json::to_value(view).expect("json")
}

async fn emails(h: &Harness, user: &str) -> Vec<String> {
    h.jobs()
        .await
        .into_iter()
        .filter(|j| j.user_id.as_str() == user)
        .filter_map(|j| j.email)
        .collect()
}

async fn event_types(h: &Harness, user: &str) -> Vec<String> {
    h.events()
        .await
        .into_iter()
        .filter(|e| e.user_id.as_str() == user)
        .map(|e| e.detail_type)
        .collect()
}

#[tokio::test]
async fn a_card_less_trial_warns_then_cancels_and_a_second_one_is_refused() {
    let (h, processor) = start().await;
    let user = unique("trial-cancel");
    let started = start_trial(&h, &user, "team").await;
    assert_eq!(started["status"], "trialing", "{started}");
    assert_eq!(started["tier"], "team");
    assert_eq!(started["access"], "active");
    assert_eq!(started["has_payment_method"], false);
    assert_eq!(started["trial_used"], true);
    let profile = h.profile(&user).await;
    let trial_end = profile.trial_end.expect("trial end");
    assert_eq!(
        trial_end - profile.trial_used_at.expect("started"),
        14 * DAY
    );
    assert_eq!(
        started["trial_end"].as_str(),
        Some(tierflow::domain::time::rfc3339(trial_end).as_str())
    );
    deliver_all(&h, &processor).await;
    assert_eq!(emails(&h, &user).await, ["trial_started"]);
    assert!(event_types(&h, &user)
        .await
        .contains(&"trial.started".to_owned()));

    // The customer carries the trial too, and the same account cannot start another one.
    let customer = h
        .stripe_get(&format!(
            "/v1/customers/{}",
            profile.customer_id.clone().unwrap()
        ))
        .await;
    assert!(customer["metadata"]["tierflow_trial_used_at"].is_string());
    let again = h
        .service()
        .start_trial(
            &caller(&user),
            &TrialRequest {
                tier: "business".into(),
            },
            &unique("trial"),
        )
        .await
        .expect_err("a live subscription");
    assert_eq!(again.code, "subscription_exists");

    // Three days before the end: the trial-ending email, with the link to add a card.
    h.advance(trial_end - h.stripe_now().await - 3 * DAY + 60)
        .await;
    deliver_all(&h, &processor).await;
    let jobs: Vec<_> = h
        .jobs()
        .await
        .into_iter()
        .filter(|j| j.email.as_deref() == Some("trial_ending"))
        .collect();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].email_fields["has_payment_method"], false);
    assert!(event_types(&h, &user)
        .await
        .contains(&"trial.ending".to_owned()));

    // No card by the end: Stripe cancels, the user is on the free tier.
    h.advance(3 * DAY).await;
    deliver_all(&h, &processor).await;
    let profile = h.profile(&user).await;
    assert_eq!(profile.tier, tier("hobby"));
    assert_eq!(profile.status, SubscriptionStatus::None);
    assert!(profile.trial_used_at.is_some());
    assert!(emails(&h, &user)
        .await
        .contains(&"trial_expired".to_owned()));
    let expired = h
        .events()
        .await
        .into_iter()
        .find(|e| e.user_id.as_str() == user && e.detail_type == "trial.expired")
        .expect("trial.expired");
    assert_eq!(expired.detail["outcome"], "canceled");

    // One trial per account: refused on the profile's record, and Checkout offers none.
    let refused = h
        .service()
        .start_trial(
            &caller(&user),
            &TrialRequest {
                tier: "team".into(),
            },
            &unique("trial"),
        )
        .await
        .expect_err("second trial");
    assert_eq!(
        (refused.status.as_u16(), refused.code),
        (409, "trial_not_available")
    );
    let checkout = h
        .service()
        .checkout(
            &caller(&user),
            &CheckoutRequest {
                tier: "team".into(),
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
    assert_ne!(
        session["payment_method_collection"], "if_required",
        "{session}"
    );
}

#[tokio::test]
async fn the_stripe_customer_remembers_the_trial_when_the_profile_does_not() {
    let (h, _) = start().await;
    let user = unique("trial-forgotten");
    start_trial(&h, &user, "team").await;
    let first = h.profile(&user).await;
    h.stripe
        .cancel_subscription(first.subscription_id.as_deref().unwrap())
        .await
        .expect("canceled");
    // The profile loses its record of the trial (restored from a backup older than it, say).
    let mut restored = first.clone();
    restored.clear_subscription(&h.catalog);
    restored.trial_used_at = None;
    h.store
        .commit(Commit {
            profile: Some(ProfileWrite {
                profile: restored,
                expected_version: first.version,
            }),
            ..Commit::default()
        })
        .await
        .expect("restored");
    let refused = h
        .service()
        .start_trial(
            &caller(&user),
            &TrialRequest {
                tier: "team".into(),
            },
            &unique("trial"),
        )
        .await
        .expect_err("the customer had a trial");
    assert_eq!(refused.code, "trial_not_available");
}

#[tokio::test]
async fn a_card_added_during_the_trial_converts_it_and_without_one_it_pauses() {
    let (h, processor) = start().await;
    let paying = unique("trial-convert");
    let lapsing = unique("trial-pause");
    start_trial(&h, &paying, "business").await;
    start_trial(&h, &lapsing, "business").await;
    deliver_all(&h, &processor).await;

    let customer = h.profile(&paying).await.customer_id.unwrap();
    add_default_card(&h, &customer).await;
    deliver_all(&h, &processor).await;
    let view = subscription_view(&h.profile(&paying).await, &h.catalog, h.stripe_now().await);
    assert!(view.has_payment_method);

    h.advance(7 * DAY + 60).await;
    deliver_all(&h, &processor).await;

    let converted = h.profile(&paying).await;
    assert_eq!(converted.status, SubscriptionStatus::Active);
    assert_eq!(converted.tier, tier("business"));
    assert_eq!(converted.trial_end, None);
    assert!(event_types(&h, &paying)
        .await
        .contains(&"trial.converted".to_owned()));
    let invoices = h.stripe_get("/v1/invoices").await;
    let charged = invoices["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["customer"] == customer.as_str() && i["amount_paid"] == 9900);
    assert!(charged, "{invoices}");

    let paused = h.profile(&lapsing).await;
    assert_eq!(paused.status, SubscriptionStatus::Paused);
    let now = h.stripe_now().await;
    let view = subscription_view(&paused, &h.catalog, now);
    assert_eq!(view.access, Access::Revoked);
    assert_eq!(view.effective_tier, tier("hobby"));
    let expired = h
        .events()
        .await
        .into_iter()
        .find(|e| e.user_id.as_str() == lapsing && e.detail_type == "trial.expired")
        .expect("trial.expired");
    assert_eq!(expired.detail["outcome"], "paused");
    assert!(emails(&h, &lapsing)
        .await
        .contains(&"trial_expired".to_owned()));

    // A paused subscription resumes once a card is on file, charged for a new period.
    let refused = h
        .service()
        .resume(&caller(&lapsing), &unique("resume"))
        .await
        .expect_err("no card yet");
    assert_eq!(refused.code, "payment_method_required");
    add_default_card(&h, &paused.customer_id.clone().unwrap()).await;
    deliver_all(&h, &processor).await;
    let resumed = h
        .service()
        .resume(&caller(&lapsing), &unique("resume"))
        .await
        .expect("resumed");
    assert_eq!(resumed.status, "active");
    assert_eq!(resumed.access, Access::Active);
    deliver_all(&h, &processor).await;
    assert_eq!(h.profile(&lapsing).await.status, SubscriptionStatus::Active);
}

/// The portal's payment-method flow: a card attached and made the customer's default.
async fn add_default_card(h: &Harness, customer: &str) {
    let card = h
        .emulator_call(
            "POST",
            "/v1/payment_methods/pm_card_visa/attach",
            &[("customer", customer)],
        )
        .await;
    let card_id = card["id"].as_str().expect("card").to_owned();
    h.emulator_call(
        "POST",
        &format!("/v1/customers/{customer}"),
        &[("invoice_settings[default_payment_method]", &card_id)],
    )
    .await;
}

#[tokio::test]
async fn checkout_offers_the_trial_and_a_card_less_one_completes_without_a_card() {
    let (h, processor) = start().await;
    let user = unique("trial-checkout");
    let service = h.service();
    let shown = service
        .preview_change(
            &caller(&user),
            &tierflow::service::subscriptions::PreviewQuery {
                target_tier: Some("team".into()),
                billing_cycle: None,
                promotion_code: None,
            },
        )
        .await
        .expect("preview");
    assert_eq!((shown.amount_due, shown.new_price), (0, 2900), "{shown:?}");
    let checkout = service
        .checkout(
            &caller(&user),
            &CheckoutRequest {
                tier: "team".into(),
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
    let completed = h
        .emulator_call(
            "POST",
            &format!(
                "/_emulator/checkout/sessions/{}/complete",
                checkout.session_id
            ),
            &[("without_payment_method", "true")],
        )
        .await;
    assert_eq!(completed["status"], "complete", "{completed}");
    deliver_all(&h, &processor).await;
    let profile = h.profile(&user).await;
    assert_eq!(profile.status, SubscriptionStatus::Trialing);
    assert_eq!(profile.tier, tier("team"));
    assert!(profile.trial_used_at.is_some());
    assert!(!profile.has_payment_method());

    // A tier whose trial needs a card cannot be tried without Checkout.
    let refused = service
        .start_trial(
            &caller(&unique("carded")),
            &TrialRequest {
                tier: "enterprise".into(),
            },
            &unique("trial"),
        )
        .await
        .expect_err("needs a card");
    assert_eq!(refused.code, "trial_requires_card");
    let none = service
        .start_trial(
            &caller(&unique("carded")),
            &TrialRequest {
                tier: "hobby".into(),
            },
            &unique("trial"),
        )
        .await
        .expect_err("free");
    assert_eq!(none.status.as_u16(), 400);
}
