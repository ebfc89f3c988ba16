//! What disputes and full refunds do to the Stripe subscription (`ON_DISPUTE`,
//! `ON_FULL_REFUND`), and what a closed dispute gives back, decided without I/O.

use crate::support::tier;
use serde_json::{json, Value};
use tierflow::domain::catalog::BUILT_IN_CATALOG;
use tierflow::domain::profile::{Revocation, RevocationAction, RevocationPolicy};
use tierflow::domain::{access_for, Access, BillingProfile, Catalog, SubscriptionStatus, UserId};
use tierflow::ports::{PaymentRecord, PaymentStatus, StripeAction, SubscriptionChange};
use tierflow::stripe::{Event, Subscription};
use tierflow::webhook::decide::{decide, Application, Decision, Input, Policy};

const T: i64 = 1_795_000_000;

fn event(kind: &str, object: Value) -> Event {
    serde_json::from_value(json!({
        "id": format!("evt_{kind}"), "object": "event", "type": kind, "created": T + 30,
        "data": {"object": object, "previous_attributes": null}
    }))
    .expect("event")
}

fn dispute(status: &str) -> Value {
    json!({"id": "dp_1", "object": "dispute", "charge": "ch_in_1", "payment_intent": "pi_in_1",
           "amount": 4900, "currency": "usd", "reason": "fraudulent", "status": status})
}

fn full_refund() -> Value {
    json!({"id": "ch_in_1", "object": "charge", "customer": "cus_1", "amount": 4900,
           "amount_refunded": 4900, "refunded": true, "currency": "usd", "payment_intent": "pi_in_1"})
}

fn subscription(status: &str, cancel_at_period_end: bool) -> Subscription {
    serde_json::from_value(json!({
        "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": status,
        "cancel_at_period_end": cancel_at_period_end, "metadata": {"user_id": "u1"},
        "items": {"object": "list", "data": [{"id": "si_1", "object": "subscription_item",
            "current_period_start": T, "current_period_end": T + 2_592_000,
            "price": {"id": "price_pro", "object": "price", "lookup_key": "tierflow_professional_monthly",
                      "unit_amount": 4900, "currency": "usd", "recurring": {"interval": "month"}}}]}
    }))
    .expect("subscription")
}

fn professional() -> BillingProfile {
    let mut p = BillingProfile::new_free(
        UserId::parse("u1").expect("user"),
        &tierflow::domain::Catalog::built_in(),
    );
    p.customer_id = Some("cus_1".into());
    p.subscription_id = Some("sub_1".into());
    p.tier = tier("professional");
    p.status = SubscriptionStatus::Active;
    p.current_period_end = Some(T + 2_592_000);
    p
}

fn revoked_by(reason: &str, action: Option<RevocationAction>) -> BillingProfile {
    let mut p = professional();
    p.tier = tier("free");
    p.revocation = Some(Revocation {
        reason: reason.into(),
        at: T + 10,
        stripe_action: action,
    });
    p
}

fn payment(status: PaymentStatus) -> PaymentRecord {
    PaymentRecord {
        user_id: UserId::parse("u1").expect("user"),
        payment_id: "in_1".into(),
        stripe_refs: vec!["in_1".into(), "pi_in_1".into(), "ch_in_1".into()],
        created: T,
        amount: 4900,
        currency: "usd".into(),
        status,
        description: None,
        card_brand: None,
        card_last4: None,
        invoice_url: None,
        invoice_pdf: None,
        receipt_url: None,
        paid_at: Some(T),
        amount_refunded: 0,
        refunded_at: None,
        failure_reason: None,
        subscription_id: Some("sub_1".into()),
        tax: 0,
        version: 0,
    }
}

struct Case<'a> {
    event: Event,
    profile: BillingProfile,
    payment: PaymentRecord,
    fetched: Option<&'a Subscription>,
    policy: RevocationPolicy,
}

fn run(case: &Case<'_>) -> Decision {
    let catalog = Catalog::parse(BUILT_IN_CATALOG).expect("catalog");
    let user = UserId::parse("u1").expect("user");
    let object = case.event.object().expect("typed object");
    let input = Input {
        catalog: &catalog,
        user_id: &user,
        profile: &case.profile,
        existing_payment: Some(&case.payment),
        linked_invoice: None,
        fetched_subscription: case.fetched,
        fetched_at: 0,
        now: T + 31,
    };
    let policy = Policy {
        grace_days: 3,
        revocation: case.policy,
    };
    decide(&case.event, &object, &input, policy)
}

fn applied(case: &Case<'_>) -> Application {
    match run(case) {
        Decision::Apply(app) => *app,
        other => panic!("not applied: {other:?}"),
    }
}

fn stripe_action(app: &Application) -> Option<&StripeAction> {
    app.effects
        .outbox
        .jobs
        .iter()
        .find_map(|j| j.stripe_action.as_ref())
}

fn policy(on_dispute: RevocationAction, on_full_refund: RevocationAction) -> RevocationPolicy {
    RevocationPolicy {
        on_dispute,
        on_full_refund,
    }
}

/// A name, the event type and object, the profile, the policy and the change Stripe is asked for.
type PolicyCase = (
    &'static str,
    &'static str,
    Value,
    BillingProfile,
    RevocationPolicy,
    Option<SubscriptionChange>,
);

#[test]
fn each_policy_revokes_access_and_asks_stripe_for_its_change() {
    use RevocationAction::*;
    let ending = {
        let mut p = professional();
        p.cancel_at_period_end = true;
        p
    };
    let canceled = {
        let mut p = professional();
        p.status = SubscriptionStatus::Canceled;
        p
    };
    let cases: [PolicyCase; 9] = [
        (
            "dispute, default",
            "charge.dispute.created",
            dispute("needs_response"),
            professional(),
            RevocationPolicy::default(),
            Some(SubscriptionChange::CancelNow),
        ),
        (
            "dispute, at period end",
            "charge.dispute.created",
            dispute("needs_response"),
            professional(),
            policy(CancelAtPeriodEnd, CancelNow),
            Some(SubscriptionChange::CancelAtPeriodEnd),
        ),
        (
            "dispute, revoke only",
            "charge.dispute.created",
            dispute("needs_response"),
            professional(),
            policy(RevokeOnly, CancelNow),
            None,
        ),
        (
            "dispute of a subscription already ending",
            "charge.dispute.created",
            dispute("needs_response"),
            ending,
            policy(CancelAtPeriodEnd, CancelNow),
            None,
        ),
        (
            "dispute after the subscription ended",
            "charge.dispute.created",
            dispute("needs_response"),
            canceled,
            RevocationPolicy::default(),
            None,
        ),
        (
            "full refund, default",
            "charge.refunded",
            full_refund(),
            professional(),
            RevocationPolicy::default(),
            Some(SubscriptionChange::CancelNow),
        ),
        (
            "full refund, revoke only",
            "charge.refunded",
            full_refund(),
            professional(),
            policy(CancelNow, RevokeOnly),
            None,
        ),
        (
            "full refund, at period end",
            "charge.refunded",
            full_refund(),
            professional(),
            policy(RevokeOnly, CancelAtPeriodEnd),
            Some(SubscriptionChange::CancelAtPeriodEnd),
        ),
        (
            "full refund, the dispute policy does not apply",
            "charge.refunded",
            full_refund(),
            professional(),
            policy(RevokeOnly, CancelNow),
            Some(SubscriptionChange::CancelNow),
        ),
    ];
    for (name, kind, object, profile, policy, want) in cases {
        let case = Case {
            event: event(kind, object),
            profile,
            payment: payment(PaymentStatus::Succeeded),
            fetched: None,
            policy,
        };
        let app = applied(&case);
        assert_eq!(app.profile.tier, tier("free"), "{name}");
        assert_eq!(
            access_for(&app.profile, &tierflow::domain::Catalog::built_in(), T + 31),
            Access::Revoked,
            "{name}"
        );
        let action = stripe_action(&app);
        assert_eq!(action.map(|a| a.change), want, "{name}");
        if let Some(action) = action {
            assert_eq!(action.subscription_id, "sub_1", "{name}");
            assert_eq!(
                action.requested_by, case.event.id,
                "{name}: keyed by the event"
            );
        }
        let recorded = app
            .profile
            .revocation
            .as_ref()
            .and_then(|r| r.stripe_action);
        assert_eq!(
            recorded.is_some(),
            want.is_some(),
            "{name}: what was asked is recorded"
        );
        // The action rides on the event's one job for the user.
        assert_eq!(app.effects.outbox.jobs.len(), 1, "{name}");
    }
}

#[test]
fn a_won_dispute_asks_for_the_subscription_then_restores_the_tier() {
    let case = Case {
        event: event("charge.dispute.closed", dispute("won")),
        profile: revoked_by("dispute", Some(RevocationAction::RevokeOnly)),
        payment: payment(PaymentStatus::Disputed),
        fetched: None,
        policy: RevocationPolicy::default(),
    };
    assert!(matches!(run(&case), Decision::FetchSubscription(id) if id == "sub_1"));

    let live = subscription("active", false);
    let app = applied(&Case {
        fetched: Some(&live),
        ..case
    });
    assert_eq!(app.profile.tier, tier("professional"));
    assert!(app.profile.revocation.is_none());
    assert_eq!(
        access_for(&app.profile, &tierflow::domain::Catalog::built_in(), T + 31),
        Access::Active
    );
    assert_eq!(app.payments[0].status, PaymentStatus::DisputeWon);
    let job = &app.effects.outbox.jobs[0];
    assert_eq!(job.email.as_deref(), Some("dispute_won"));
    assert!(job.targets.contains(&tierflow::ports::SyncTarget::Keycloak));
    assert!(job.stripe_action.is_none(), "nothing was set to end");
    let events: Vec<&str> = app
        .effects
        .outbox
        .events
        .iter()
        .map(|e| e.detail_type.as_str())
        .collect();
    assert_eq!(events, ["subscription.tier_changed", "access.restored"]);
}

#[test]
fn a_won_dispute_resumes_a_subscription_the_revocation_set_to_end() {
    let ending = subscription("active", true);
    let app = applied(&Case {
        event: event("charge.dispute.closed", dispute("won")),
        profile: revoked_by("dispute", Some(RevocationAction::CancelAtPeriodEnd)),
        payment: payment(PaymentStatus::Disputed),
        fetched: Some(&ending),
        policy: RevocationPolicy::default(),
    });
    assert_eq!(app.profile.tier, tier("professional"));
    let action = stripe_action(&app).expect("resume");
    assert_eq!(action.change, SubscriptionChange::Resume);
    assert_eq!(action.requested_by, "evt_charge.dispute.closed");

    // The customer had set it to end themselves: it stays ending.
    let app = applied(&Case {
        event: event("charge.dispute.closed", dispute("won")),
        profile: revoked_by("dispute", None),
        payment: payment(PaymentStatus::Disputed),
        fetched: Some(&ending),
        policy: RevocationPolicy::default(),
    });
    assert!(stripe_action(&app).is_none());
}

#[test]
fn a_won_dispute_after_cancel_now_clears_the_revocation_and_keeps_free() {
    let ended = subscription("canceled", false);
    let app = applied(&Case {
        event: event("charge.dispute.closed", dispute("won")),
        profile: revoked_by("dispute", Some(RevocationAction::CancelNow)),
        payment: payment(PaymentStatus::Disputed),
        fetched: Some(&ended),
        policy: RevocationPolicy::default(),
    });
    assert_eq!(app.profile.tier, tier("free"));
    assert!(app.profile.revocation.is_none());
    assert!(app.profile.subscription_id.is_none());
    assert_eq!(app.payments[0].status, PaymentStatus::DisputeWon);
    assert!(stripe_action(&app).is_none());
}

#[test]
fn a_lost_dispute_keeps_the_revocation_and_a_refund_revocation_stays_after_a_won_one() {
    let lost = applied(&Case {
        event: event("charge.dispute.closed", dispute("lost")),
        profile: revoked_by("dispute", Some(RevocationAction::RevokeOnly)),
        payment: payment(PaymentStatus::Disputed),
        fetched: None,
        policy: RevocationPolicy::default(),
    });
    assert_eq!(lost.profile.tier, tier("free"));
    assert!(lost.profile.revocation.is_some());
    assert_eq!(lost.payments[0].status, PaymentStatus::DisputeLost);
    assert!(lost.effects.outbox.jobs.iter().all(|j| j.email.is_none()));

    let refunded = applied(&Case {
        event: event("charge.dispute.closed", dispute("won")),
        profile: revoked_by("refund", Some(RevocationAction::CancelNow)),
        payment: payment(PaymentStatus::Disputed),
        fetched: None,
        policy: RevocationPolicy::default(),
    });
    assert_eq!(
        refunded.profile.tier,
        tier("free"),
        "the refund still stands"
    );
    assert!(refunded.profile.revocation.is_some());
    assert_eq!(refunded.payments[0].status, PaymentStatus::DisputeWon);
}

#[test]
fn a_refund_after_a_decided_dispute_keeps_the_dispute_status() {
    let app = applied(&Case {
        event: event("charge.refunded", full_refund()),
        profile: professional(),
        payment: payment(PaymentStatus::DisputeLost),
        fetched: None,
        policy: RevocationPolicy::default(),
    });
    assert_eq!(app.payments[0].status, PaymentStatus::DisputeLost);
}

#[test]
fn the_settings_parse_and_refuse_anything_else() {
    for (raw, want) in [
        ("cancel_now", RevocationAction::CancelNow),
        ("cancel_at_period_end", RevocationAction::CancelAtPeriodEnd),
        (" revoke_only ", RevocationAction::RevokeOnly),
    ] {
        assert_eq!(raw.parse::<RevocationAction>(), Ok(want));
        assert_eq!(want.as_str(), raw.trim());
    }
    assert!("cancel".parse::<RevocationAction>().is_err());
}
