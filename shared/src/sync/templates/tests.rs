use super::*;
use crate::domain::profile::{PendingChange, Revocation};
use crate::domain::tier::tier;
use crate::domain::{SubscriptionStatus, UserId};
use serde_json::json;

fn profile() -> BillingProfile {
    let mut p = BillingProfile::new_free(
        UserId::parse("u1").unwrap(),
        &crate::domain::Catalog::built_in(),
    );
    p.tier = tier("professional");
    p.status = SubscriptionStatus::Active;
    p.current_period_end = Some(1_795_391_165); // 2026-11-22
    p
}

static CATALOG: std::sync::LazyLock<Catalog> = std::sync::LazyLock::new(Catalog::built_in);

fn ctx(p: &BillingProfile) -> EmailContext<'_> {
    EmailContext {
        product: "Acme",
        billing_url: Some("https://app.example.com/billing"),
        profile: p,
        catalog: &CATALOG,
    }
}

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn amounts_use_the_currency_minor_unit() {
    assert_eq!(format_amount(4900, "usd"), "49.00 USD");
    assert_eq!(format_amount(5, "eur"), "0.05 EUR");
    assert_eq!(format_amount(500, "JPY"), "500 JPY");
    assert_eq!(format_amount(1234, "kwd"), "1.234 KWD");
    assert_eq!(format_amount(-150, "usd"), "-1.50 USD");
}

#[test]
fn every_template_renders_text_and_html() {
    let mut p = profile();
    p.grace_until = Some(1_795_000_000);
    p.pending_change = Some(PendingChange {
        target_tier: tier("starter"),
        billing_cycle: None,
        effective_at: 1_795_391_165,
        schedule_id: None,
        change_id: None,
        scheduled_at: None,
    });
    let f = fields(json!({
        "tier": "professional", "previous_tier": "starter", "amount": 4900, "currency": "usd",
        "action_url": "https://pay.example/3ds", "invoice_url": "https://inv.example/1",
        "grace_until": "2026-11-18T07:06:40Z", "period_end": "2026-11-22T23:46:05Z",
        "trial_end": "2026-11-20T10:00:00Z"
    }));
    for name in TEMPLATES {
        let email = render(name, &f, &ctx(&p)).unwrap();
        assert!(!email.subject.is_empty(), "{name}");
        assert!(email.text.starts_with("Hello,"), "{name}");
        assert!(email.html.contains("<p>Hello,</p>"), "{name}");
        assert!(email.text.ends_with("— Acme\n"), "{name}");
    }
}

#[test]
fn payment_failed_states_the_grace_end() {
    let f =
        fields(json!({"amount": 1900, "currency": "usd", "grace_until": "2026-11-18T07:06:40Z"}));
    let email = render("payment_failed", &f, &ctx(&profile())).unwrap();
    assert_eq!(email.subject, "Your Acme payment of 19.00 USD failed");
    assert!(
        email.text.contains("active until November 18, 2026"),
        "{}",
        email.text
    );
    assert!(email
        .text
        .contains("Manage your billing: https://app.example.com/billing"));
}

#[test]
fn action_required_links_the_authentication_page() {
    let f = fields(
        json!({"amount": 4900, "currency": "usd", "action_url": "https://pay.example/a?b=1&c=2"}),
    );
    let email = render("action_required", &f, &ctx(&profile())).unwrap();
    assert!(email
        .text
        .contains("Confirm the payment: https://pay.example/a?b=1&c=2"));
    assert!(email
        .html
        .contains("href=\"https://pay.example/a?b=1&amp;c=2\""));
    let missing = fields(json!({"amount": 4900, "currency": "usd"}));
    assert_eq!(
        render("action_required", &missing, &ctx(&profile())).unwrap_err(),
        TemplateError::MissingField {
            template: "action_required",
            field: "action_url"
        }
    );
}

#[test]
fn downgrade_scheduled_falls_back_to_the_pending_change() {
    let mut p = profile();
    p.pending_change = Some(PendingChange {
        target_tier: tier("starter"),
        billing_cycle: None,
        effective_at: 1_795_391_165,
        schedule_id: None,
        change_id: None,
        scheduled_at: None,
    });
    let email = render("downgrade_scheduled", &Map::new(), &ctx(&p)).unwrap();
    assert_eq!(
        email.subject,
        "Your Acme plan changes to Starter on November 22, 2026"
    );
    assert!(email.text.contains("You keep everything in Professional"));
}

#[test]
fn dispute_and_refund_say_what_happened_to_access() {
    let mut p = profile();
    p.tier = tier("free");
    p.revocation = Some(Revocation {
        reason: "refund".into(),
        at: 1,
        stripe_action: None,
    });
    let f = fields(json!({"amount": 4900, "currency": "usd", "full": true}));
    let refund = render("refund", &f, &ctx(&p)).unwrap();
    assert!(refund.text.contains("We refunded 49.00 USD."));
    assert!(refund.text.contains("now on the Free plan"));
    let dispute = render(
        "dispute",
        &fields(json!({"amount": 4900, "currency": "usd", "reason": "fraudulent"})),
        &ctx(&p),
    )
    .unwrap();
    assert!(dispute
        .text
        .contains("access to paid features is suspended"));
    assert!(dispute.text.contains("Reason given: fraudulent"));
}

#[test]
fn user_text_is_escaped_in_html() {
    let f =
        fields(json!({"amount": 100, "currency": "usd", "description": "<script>x</script> & co"}));
    let email = render("payment_receipt", &f, &ctx(&profile())).unwrap();
    assert!(email
        .html
        .contains("&lt;script&gt;x&lt;/script&gt; &amp; co"));
    assert!(!email.html.contains("<script>"));
}

#[test]
fn unknown_templates_and_missing_amounts_are_errors() {
    assert_eq!(
        render("welcome", &Map::new(), &ctx(&profile())).unwrap_err(),
        TemplateError::Unknown("welcome".into())
    );
    assert!(render("payment_receipt", &Map::new(), &ctx(&profile())).is_err());
}

#[test]
fn a_trial_ending_without_a_card_links_to_adding_one() {
    let mut p = profile();
    p.status = SubscriptionStatus::Trialing;
    p.trial_end = Some(1_795_391_165);
    let f = fields(json!({"tier": "professional", "has_payment_method": false}));
    let email = render("trial_ending", &f, &ctx(&p)).unwrap();
    assert_eq!(
        email.subject,
        "Your Acme Professional trial ends on November 22, 2026: add a card to keep it"
    );
    assert!(
        email
            .text
            .contains("https://app.example.com/billing#add-card"),
        "{}",
        email.text
    );
    let f = fields(json!({"tier": "professional", "has_payment_method": true}));
    let email = render("trial_ending", &f, &ctx(&p)).unwrap();
    assert!(
        email.text.contains("will then be charged"),
        "{}",
        email.text
    );
    assert!(!email.text.contains("#add-card"), "{}", email.text);

    p.status = SubscriptionStatus::Paused;
    let email = render("trial_expired", &Map::new(), &ctx(&p)).unwrap();
    assert!(email.text.contains("paused"), "{}", email.text);
    p.clear_subscription(&CATALOG);
    let f = fields(json!({"previous_tier": "professional"}));
    let email = render("trial_expired", &f, &ctx(&p)).unwrap();
    assert!(
        email.text.contains("Professional trial has ended"),
        "{}",
        email.text
    );
    assert!(
        email.text.contains("now on the Free plan"),
        "{}",
        email.text
    );
}
