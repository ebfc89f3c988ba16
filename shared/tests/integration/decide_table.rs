//! The effect of every handled event type, decided without I/O: one table row per situation.

use crate::support::tier;
use serde_json::{json, Value};
use tierflow::domain::catalog::BUILT_IN_CATALOG;
use tierflow::domain::profile::AppliedVersion;
use tierflow::domain::{
    access_for, Access, BillingProfile, Catalog, SubscriptionStatus, Tier, UserId,
};
use tierflow::ports::{PaymentRecord, PaymentStatus};
use tierflow::stripe::{Event, Invoice, Subscription};
use tierflow::webhook::decide::{decide, Decision, Input, Policy};

const T: i64 = 1_795_000_000;

fn event(kind: &str, created: i64, object: Value, previous: Option<Value>) -> Event {
    serde_json::from_value(json!({
        "id": format!("evt_{kind}_{created}"), "object": "event", "type": kind, "created": created,
        "data": {"object": object, "previous_attributes": previous}
    }))
    .expect("event")
}

fn subscription(id: &str, status: &str, lookup_key: &str) -> Value {
    json!({
        "id": id, "object": "subscription", "customer": "cus_1", "status": status,
        "cancel_at_period_end": false, "metadata": {"user_id": "u1"},
        "items": {"object": "list", "data": [{"id": "si_1", "object": "subscription_item",
            "current_period_start": T, "current_period_end": T + 2_592_000,
            "price": {"id": "price_x", "object": "price", "lookup_key": lookup_key, "unit_amount": 4900,
                      "currency": "usd", "recurring": {"interval": "month"}}}]}
    })
}

/// A subscription's invoice as basil renders it in a webhook: the subscription under `parent`,
/// no PaymentIntent or charge (and no `payments`: included only when expanded).
fn invoice(id: &str, sub: &str) -> Value {
    json!({
        "id": id, "object": "invoice", "customer": "cus_1", "status": "paid",
        "parent": {"type": "subscription_details", "quote_details": null,
                   "subscription_details": {"subscription": sub, "metadata": {}}},
        "amount_due": 4900, "amount_paid": 4900, "currency": "usd", "created": T,
        "hosted_invoice_url": format!("https://invoice.stripe.test/{id}"),
        "status_transitions": {"paid_at": T + 5},
        "lines": {"object": "list", "data": [{"id": "il_1", "object": "line_item", "amount": 4900,
            "description": "1 × Professional (at $49.00 / month)",
            "parent": {"type": "subscription_item_details", "subscription_item_details":
                {"proration": false, "subscription": sub, "subscription_item": "si_1"}},
            "pricing": {"type": "price_details", "price_details": {"price": "price_x", "product": "prod_x"}}}]}
    })
}

/// The invoice a charge's PaymentIntent pays, as Stripe names it (`GET /v1/invoice_payments`).
fn linked(id: &str) -> Option<Invoice> {
    Some(serde_json::from_value(invoice(id, "sub_1")).expect("invoice"))
}

/// The PaymentIntent and charge of invoice `id` (`pi_<id>`, `ch_<id>`), as basil renders them:
/// neither names the invoice.
fn charge(id: &str, refunded: i64) -> Value {
    json!({"id": format!("ch_{id}"), "object": "charge", "customer": "cus_1", "amount": 4900,
           "amount_refunded": refunded, "refunded": refunded == 4900, "currency": "usd",
           "payment_intent": format!("pi_{id}"), "status": "succeeded", "created": T + 4,
           "payment_method_details": {"type": "card", "card": {"brand": "mastercard", "last4": "4444"}}})
}

fn free() -> BillingProfile {
    BillingProfile::new_free(
        UserId::parse("u1").expect("user"),
        &tierflow::domain::Catalog::built_in(),
    )
}

fn professional() -> BillingProfile {
    let mut p = free();
    p.customer_id = Some("cus_1".into());
    p.subscription_id = Some("sub_1".into());
    p.tier = tier("professional");
    p.status = SubscriptionStatus::Active;
    p.current_period_end = Some(T + 2_592_000);
    p.subscription_version = Some(AppliedVersion {
        object_id: "sub_1".into(),
        created: T,
        event_id: "evt_applied".into(),
        status: "active".into(),
        previous_status: None,
    });
    p.version = 3;
    p
}

fn past_due() -> BillingProfile {
    let mut p = professional();
    p.status = SubscriptionStatus::PastDue;
    p.grace_until = Some(T + 3 * 86_400);
    p
}

/// The history item of invoice `id`, keyed by the invoice, its PaymentIntent and charge linked
/// (Stripe's answer to which invoice the PaymentIntent pays).
fn subscription_payment(id: &str) -> PaymentRecord {
    PaymentRecord {
        user_id: UserId::parse("u1").expect("user"),
        payment_id: id.into(),
        stripe_refs: vec![id.into(), format!("pi_{id}"), format!("ch_{id}")],
        created: T,
        amount: 4900,
        currency: "usd".into(),
        status: PaymentStatus::Succeeded,
        description: None,
        card_brand: Some("visa".into()),
        card_last4: Some("4242".into()),
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

/// What a row expects.
#[derive(Default)]
struct Want {
    outcome: &'static str,
    tier: Option<Tier>,
    status: Option<SubscriptionStatus>,
    access: Option<Access>,
    payment: Option<PaymentStatus>,
    email: Option<&'static str>,
    events: &'static [&'static str],
    sync: Option<bool>,
}

struct Row {
    name: &'static str,
    event: Event,
    profile: BillingProfile,
    payment: Option<PaymentRecord>,
    fetched: Option<Subscription>,
    /// The invoice Stripe names for a charge's or dispute's PaymentIntent.
    linked: Option<Invoice>,
    want: Want,
}

fn rows() -> Vec<Row> {
    let pay = |id: &str| Some(subscription_payment(id));
    vec![
        Row {
            name: "checkout (subscription) asks for the subscription",
            event: event(
                "checkout.session.completed",
                T,
                json!({"id": "cs_1", "object": "checkout.session", "mode": "subscription", "payment_status": "paid", "status": "complete", "customer": "cus_1", "client_reference_id": "u1", "subscription": "sub_1"}),
                None,
            ),
            profile: free(),
            payment: None,
            fetched: None,
            linked: None,
            want: Want {
                outcome: "fetch",
                ..Default::default()
            },
        },
        Row {
            name: "checkout (subscription) with Stripe's copy subscribes",
            event: event(
                "checkout.session.completed",
                T,
                json!({"id": "cs_1", "object": "checkout.session", "mode": "subscription", "payment_status": "paid", "status": "complete", "customer": "cus_1", "client_reference_id": "u1", "subscription": "sub_1"}),
                None,
            ),
            profile: free(),
            payment: None,
            fetched: Some(
                serde_json::from_value(subscription("sub_1", "active", "tierflow_starter_yearly"))
                    .expect("sub"),
            ),
            linked: None,
            want: Want {
                outcome: "apply",
                tier: Some(tier("starter")),
                status: Some(SubscriptionStatus::Active),
                access: Some(Access::Active),
                email: Some("subscription_confirmed"),
                events: &["subscription.tier_changed"],
                sync: Some(true),
                ..Default::default()
            },
        },
        Row {
            name: "checkout (payment) records a payment",
            event: event(
                "checkout.session.completed",
                T,
                json!({"id": "cs_2", "object": "checkout.session", "mode": "payment", "payment_status": "paid", "customer": "cus_1", "client_reference_id": "u1", "payment_intent": "pi_9", "amount_total": 2500, "currency": "usd"}),
                None,
            ),
            profile: free(),
            payment: None,
            fetched: None,
            linked: None,
            want: Want {
                outcome: "apply",
                tier: Some(tier("free")),
                payment: Some(PaymentStatus::Succeeded),
                sync: Some(true),
                ..Default::default()
            },
        },
        Row {
            name: "a newer past_due starts the grace period",
            event: event(
                "customer.subscription.updated",
                T + 10,
                subscription("sub_1", "past_due", "tierflow_professional_monthly"),
                Some(json!({"status": "active"})),
            ),
            profile: professional(),
            payment: None,
            fetched: None,
            linked: None,
            want: Want {
                outcome: "apply",
                tier: Some(tier("professional")),
                status: Some(SubscriptionStatus::PastDue),
                access: Some(Access::Grace),
                events: &["access.grace_started"],
                sync: Some(true),
                ..Default::default()
            },
        },
        Row {
            name: "an older update never overwrites",
            event: event(
                "customer.subscription.updated",
                T - 10,
                subscription("sub_1", "past_due", "tierflow_professional_monthly"),
                Some(json!({"status": "active"})),
            ),
            profile: professional(),
            payment: None,
            fetched: None,
            linked: None,
            want: Want {
                outcome: "ignore",
                ..Default::default()
            },
        },
        Row {
            name: "same second and status asks Stripe",
            event: event(
                "customer.subscription.updated",
                T,
                subscription("sub_1", "active", "tierflow_enterprise_monthly"),
                Some(json!({"items": {}})),
            ),
            profile: professional(),
            payment: None,
            fetched: None,
            linked: None,
            want: Want {
                outcome: "fetch",
                ..Default::default()
            },
        },
        Row {
            name: "an upgrade by update",
            event: event(
                "customer.subscription.updated",
                T + 10,
                subscription("sub_1", "active", "tierflow_enterprise_monthly"),
                Some(json!({"items": {}})),
            ),
            profile: professional(),
            payment: None,
            fetched: None,
            linked: None,
            want: Want {
                outcome: "apply",
                tier: Some(tier("enterprise")),
                email: Some("subscription_confirmed"),
                events: &["subscription.tier_changed"],
                sync: Some(true),
                ..Default::default()
            },
        },
        Row {
            name: "the current subscription deleted → free",
            event: event(
                "customer.subscription.deleted",
                T + 10,
                subscription("sub_1", "canceled", "tierflow_professional_monthly"),
                None,
            ),
            profile: professional(),
            payment: None,
            fetched: None,
            linked: None,
            want: Want {
                outcome: "apply",
                tier: Some(tier("free")),
                status: Some(SubscriptionStatus::None),
                email: Some("subscription_canceled"),
                events: &["subscription.tier_changed"],
                sync: Some(true),
                ..Default::default()
            },
        },
        Row {
            name: "an old subscription deleted changes nothing",
            event: event(
                "customer.subscription.deleted",
                T + 10,
                subscription("sub_0", "canceled", "tierflow_starter_monthly"),
                None,
            ),
            profile: professional(),
            payment: None,
            fetched: None,
            linked: None,
            want: Want {
                outcome: "ignore",
                ..Default::default()
            },
        },
        Row {
            name: "a price that is not ours fails for a person",
            event: event(
                "customer.subscription.created",
                T + 10,
                subscription("sub_2", "active", "someone_elses_plan"),
                None,
            ),
            profile: free(),
            payment: None,
            fetched: None,
            linked: None,
            want: Want {
                outcome: "fail",
                ..Default::default()
            },
        },
        Row {
            name: "invoice.paid ends the grace period and sends a receipt",
            event: event("invoice.paid", T + 20, invoice("in_1", "sub_1"), None),
            profile: past_due(),
            payment: None,
            fetched: None,
            linked: None,
            want: Want {
                outcome: "apply",
                status: Some(SubscriptionStatus::Active),
                access: Some(Access::Active),
                payment: Some(PaymentStatus::Succeeded),
                email: Some("payment_receipt"),
                events: &["access.restored", "payment.succeeded"],
                sync: Some(true),
                ..Default::default()
            },
        },
        Row {
            name: "invoice.payment_succeeded records without a second receipt",
            event: event(
                "invoice.payment_succeeded",
                T + 20,
                invoice("in_1", "sub_1"),
                None,
            ),
            profile: professional(),
            payment: pay("in_1"),
            fetched: None,
            linked: None,
            want: Want {
                outcome: "apply",
                payment: Some(PaymentStatus::Succeeded),
                sync: Some(false),
                ..Default::default()
            },
        },
        Row {
            name: "invoice.payment_failed tells the user with the grace end",
            event: event(
                "invoice.payment_failed",
                T + 20,
                invoice("in_2", "sub_1"),
                None,
            ),
            profile: professional(),
            payment: None,
            fetched: None,
            linked: None,
            want: Want {
                outcome: "apply",
                tier: Some(tier("professional")),
                payment: Some(PaymentStatus::Failed),
                email: Some("payment_failed"),
                events: &["payment.failed"],
                ..Default::default()
            },
        },
        Row {
            name: "invoice.payment_action_required sends the link",
            event: event(
                "invoice.payment_action_required",
                T + 20,
                invoice("in_3", "sub_1"),
                None,
            ),
            profile: professional(),
            payment: None,
            fetched: None,
            linked: None,
            want: Want {
                outcome: "apply",
                payment: Some(PaymentStatus::RequiresAction),
                email: Some("action_required"),
                ..Default::default()
            },
        },
        Row {
            name: "a dispute revokes access and drops to free",
            event: event(
                "charge.dispute.created",
                T + 30,
                json!({"id": "dp_1", "object": "dispute", "charge": "ch_in_1", "amount": 4900, "currency": "usd", "reason": "fraudulent", "status": "needs_response"}),
                None,
            ),
            profile: professional(),
            payment: pay("in_1"),
            fetched: None,
            linked: None,
            want: Want {
                outcome: "apply",
                tier: Some(tier("free")),
                access: Some(Access::Revoked),
                payment: Some(PaymentStatus::Disputed),
                email: Some("dispute"),
                events: &["subscription.tier_changed", "access.revoked"],
                sync: Some(true),
                ..Default::default()
            },
        },
        Row {
            name: "a full refund of the subscription's charge drops to free",
            event: event(
                "charge.refunded",
                T + 30,
                json!({"id": "ch_in_1", "object": "charge", "customer": "cus_1", "amount": 4900, "amount_refunded": 4900, "refunded": true, "currency": "usd", "payment_intent": "pi_in_1"}),
                None,
            ),
            profile: professional(),
            payment: pay("in_1"),
            fetched: None,
            linked: None,
            want: Want {
                outcome: "apply",
                tier: Some(tier("free")),
                access: Some(Access::Revoked),
                payment: Some(PaymentStatus::Refunded),
                email: Some("refund"),
                events: &["subscription.tier_changed", "access.revoked"],
                sync: Some(true),
                ..Default::default()
            },
        },
        Row {
            name: "a partial refund keeps the tier",
            event: event(
                "charge.refunded",
                T + 30,
                json!({"id": "ch_in_1", "object": "charge", "customer": "cus_1", "amount": 4900, "amount_refunded": 1000, "refunded": false, "currency": "usd", "payment_intent": "pi_in_1"}),
                None,
            ),
            profile: professional(),
            payment: pay("in_1"),
            fetched: None,
            linked: None,
            want: Want {
                outcome: "apply",
                tier: Some(tier("professional")),
                payment: Some(PaymentStatus::PartiallyRefunded),
                email: Some("refund"),
                sync: Some(false),
                ..Default::default()
            },
        },
        Row {
            name: "customer.deleted clears everything",
            event: event(
                "customer.deleted",
                T + 30,
                json!({"id": "cus_1", "object": "customer", "deleted": true}),
                None,
            ),
            profile: professional(),
            payment: None,
            fetched: None,
            linked: None,
            want: Want {
                outcome: "apply",
                tier: Some(tier("free")),
                status: Some(SubscriptionStatus::None),
                email: Some("subscription_canceled"),
                events: &["subscription.tier_changed"],
                sync: Some(true),
                ..Default::default()
            },
        },
        Row {
            name: "a one-time payment succeeded",
            event: event(
                "payment_intent.succeeded",
                T + 30,
                json!({"id": "pi_one", "object": "payment_intent", "amount": 2500, "currency": "usd", "status": "succeeded", "customer": "cus_1", "description": "Credits", "metadata": {"user_id": "u1"}}),
                None,
            ),
            profile: professional(),
            payment: None,
            fetched: None,
            linked: None,
            want: Want {
                outcome: "apply",
                payment: Some(PaymentStatus::Succeeded),
                email: Some("payment_receipt"),
                events: &["payment.succeeded"],
                ..Default::default()
            },
        },
        Row {
            name: "a one-time payment failed",
            event: event(
                "payment_intent.payment_failed",
                T + 30,
                json!({"id": "pi_two", "object": "payment_intent", "amount": 2500, "currency": "usd", "status": "requires_payment_method", "customer": "cus_1", "metadata": {"user_id": "u1"}, "last_payment_error": {"code": "card_declined", "message": "Your card was declined."}}),
                None,
            ),
            profile: professional(),
            payment: None,
            fetched: None,
            linked: None,
            want: Want {
                outcome: "apply",
                payment: Some(PaymentStatus::Failed),
                events: &["payment.failed"],
                ..Default::default()
            },
        },
        Row {
            name: "an invoice's payment intent is left to the invoice events",
            event: event(
                "payment_intent.succeeded",
                T + 30,
                json!({"id": "pi_in_1", "object": "payment_intent", "amount": 4900, "currency": "usd", "status": "succeeded", "customer": "cus_1", "latest_charge": "ch_in_1"}),
                None,
            ),
            profile: professional(),
            payment: pay("in_1"),
            fetched: None,
            linked: None,
            want: Want {
                outcome: "ignore",
                ..Default::default()
            },
        },
        Row {
            name: "a subscription's charge first fills the card into its invoice's item",
            event: event("charge.succeeded", T + 4, charge("in_1", 0), None),
            profile: professional(),
            payment: None,
            fetched: None,
            linked: linked("in_1"),
            want: Want {
                outcome: "apply",
                payment: Some(PaymentStatus::Succeeded),
                ..Default::default()
            },
        },
        Row {
            name: "a subscription's charge after its invoice fills the card without a receipt",
            event: event("charge.succeeded", T + 40, charge("in_1", 0), None),
            profile: professional(),
            payment: pay("in_1"),
            fetched: None,
            linked: None,
            want: Want {
                outcome: "apply",
                payment: Some(PaymentStatus::Succeeded),
                ..Default::default()
            },
        },
        Row {
            name: "a full refund Stripe links to the subscription's invoice drops to free",
            event: event("charge.refunded", T + 30, charge("in_1", 4900), None),
            profile: professional(),
            payment: None,
            fetched: None,
            linked: linked("in_1"),
            want: Want {
                outcome: "apply",
                tier: Some(tier("free")),
                access: Some(Access::Revoked),
                payment: Some(PaymentStatus::Refunded),
                email: Some("refund"),
                events: &["subscription.tier_changed", "access.revoked"],
                sync: Some(true),
                ..Default::default()
            },
        },
        Row {
            name: "a dispute Stripe links to the subscription's invoice marks its item disputed",
            event: event(
                "charge.dispute.created",
                T + 30,
                json!({"id": "dp_2", "object": "dispute", "charge": "ch_in_1", "payment_intent": "pi_in_1", "amount": 4900, "currency": "usd", "reason": "fraudulent", "status": "needs_response"}),
                None,
            ),
            profile: professional(),
            payment: None,
            fetched: None,
            linked: linked("in_1"),
            want: Want {
                outcome: "apply",
                tier: Some(tier("free")),
                access: Some(Access::Revoked),
                payment: Some(PaymentStatus::Disputed),
                email: Some("dispute"),
                events: &["subscription.tier_changed", "access.revoked"],
                sync: Some(true),
                ..Default::default()
            },
        },
        Row {
            name: "a customer update that changes no card is ignored",
            event: event(
                "customer.updated",
                T + 30,
                json!({"id": "cus_1", "object": "customer"}),
                None,
            ),
            profile: professional(),
            payment: None,
            fetched: None,
            linked: None,
            want: Want {
                outcome: "ignore",
                ..Default::default()
            },
        },
        Row {
            name: "a handled type with the wrong object fails",
            event: event(
                "invoice.paid",
                T + 30,
                json!({"id": "ch_1", "object": "charge"}),
                None,
            ),
            profile: professional(),
            payment: None,
            fetched: None,
            linked: None,
            want: Want {
                outcome: "fail",
                ..Default::default()
            },
        },
    ]
}

#[test]
fn every_event_type_has_the_expected_effect() {
    let catalog = Catalog::parse(BUILT_IN_CATALOG).expect("catalog");
    let policy = Policy {
        grace_days: 3,
        revocation: Default::default(),
    };
    let user = UserId::parse("u1").expect("user");
    for row in rows() {
        let object = row.event.object().expect("typed object");
        let now = row.event.created + 1;
        let input = Input {
            catalog: &catalog,
            user_id: &user,
            profile: &row.profile,
            existing_payment: row.payment.as_ref(),
            linked_invoice: row.linked.as_ref(),
            fetched_subscription: row.fetched.as_ref(),
            fetched_at: 0,
            now,
        };
        let decision = decide(&row.event, &object, &input, policy);
        let (outcome, app) = match decision {
            Decision::Apply(app) => ("apply", Some(app)),
            Decision::Ignore(_) => ("ignore", None),
            Decision::Fail(_) => ("fail", None),
            Decision::FetchSubscription(_) => ("fetch", None),
        };
        let name = row.name;
        assert_eq!(outcome, row.want.outcome, "{name}");
        let Some(app) = app else { continue };
        if let Some(tier) = &row.want.tier {
            assert_eq!(&app.profile.tier, tier, "{name}");
        }
        if let Some(status) = row.want.status {
            assert_eq!(app.profile.status, status, "{name}");
        }
        if let Some(access) = row.want.access {
            assert_eq!(access_for(&app.profile, &catalog, now), access, "{name}");
        }
        assert_eq!(
            app.payments.first().map(|p| p.status),
            row.want.payment,
            "{name}"
        );
        let email = app
            .effects
            .outbox
            .jobs
            .iter()
            .find_map(|j| j.email.as_deref());
        assert_eq!(email, row.want.email, "{name}");
        let events: Vec<&str> = app
            .effects
            .outbox
            .events
            .iter()
            .map(|e| e.detail_type.as_str())
            .collect();
        assert_eq!(events, row.want.events, "{name}");
        if let Some(sync) = row.want.sync {
            let synced = app
                .effects
                .outbox
                .jobs
                .iter()
                .any(|j| j.targets.contains(&tierflow::ports::SyncTarget::Keycloak));
            assert_eq!(synced, sync, "{name}");
        }
        if row.name.contains("fills the card") {
            assert_eq!(
                app.payments[0].card_last4.as_deref(),
                Some("4444"),
                "{name}"
            );
        }
        if row.linked.is_some()
            || row
                .payment
                .as_ref()
                .is_some_and(|p| p.subscription_id.is_some())
        {
            let payment = app.payments.first().expect("the subscription's payment");
            assert_eq!(payment.payment_id, "in_1", "{name}: the invoice's one item");
            assert_eq!(payment.subscription_id.as_deref(), Some("sub_1"), "{name}");
            for id in ["in_1", "pi_in_1"] {
                assert!(payment.stripe_refs.iter().any(|r| r == id), "{name}: {id}");
            }
        }
        if row.want.tier.is_some_and(|t| t != row.profile.tier) {
            assert!(
                !app.effects.changes.is_empty(),
                "{name}: every tier change is audited"
            );
        }
    }
}

#[test]
fn a_failed_payment_email_names_the_grace_end() {
    let catalog = Catalog::parse(BUILT_IN_CATALOG).expect("catalog");
    let user = UserId::parse("u1").expect("user");
    let event = event("invoice.payment_failed", T, invoice("in_9", "sub_1"), None);
    let object = event.object().expect("object");
    let profile = professional();
    let input = Input {
        catalog: &catalog,
        user_id: &user,
        profile: &profile,
        existing_payment: None,
        linked_invoice: None,
        fetched_subscription: None,
        fetched_at: 0,
        now: T,
    };
    let Decision::Apply(app) = decide(
        &event,
        &object,
        &input,
        Policy {
            grace_days: 3,
            revocation: Default::default(),
        },
    ) else {
        panic!("applied");
    };
    let job = app
        .effects
        .outbox
        .jobs
        .iter()
        .find(|j| j.email.is_some())
        .expect("email job");
    assert_eq!(
        job.email_fields["grace_until"],
        tierflow::domain::time::rfc3339(T + 3 * 86_400)
    );
    assert_eq!(job.email_fields["amount"], 4900);
}

const PDF: &str = "https://pay.stripe.test/invoice/in_1/pdf";
const RECEIPT: &str = "https://pay.stripe.test/receipts/ch_in_1";

/// Invoice `in_1` of `sub_1` as finalized: hosted page and PDF.
fn finalized_invoice() -> Value {
    let mut invoice = invoice("in_1", "sub_1");
    invoice["invoice_pdf"] = json!(PDF);
    invoice
}

/// Charge `ch_in_1` with its receipt, in `status`.
fn charge_with_receipt(status: &str, refunded: i64) -> Value {
    let mut charge = charge("in_1", refunded);
    charge["status"] = json!(status);
    charge["receipt_url"] = json!(RECEIPT);
    charge
}

/// One-time PaymentIntent `pi_one` with its latest charge expanded, as the event carries it.
fn intent_with_charge(status: &str, charge_status: &str) -> Value {
    let mut charge = charge_with_receipt(charge_status, 0);
    charge["id"] = json!("ch_one");
    charge["payment_intent"] = json!("pi_one");
    json!({"id": "pi_one", "object": "payment_intent", "amount": 4900, "currency": "usd",
           "status": status, "customer": "cus_1", "metadata": {"user_id": "u1"},
           "latest_charge": charge})
}

/// A payment already recorded with documents of its own.
fn documented(id: &str, pdf: &str, receipt: &str) -> PaymentRecord {
    let mut payment = subscription_payment(id);
    payment.invoice_pdf = Some(pdf.into());
    payment.receipt_url = Some(receipt.into());
    payment
}

#[test]
fn payments_record_the_invoice_pdf_and_the_successful_charges_receipt() {
    let catalog = Catalog::parse(BUILT_IN_CATALOG).expect("catalog");
    let policy = Policy {
        grace_days: 3,
        revocation: Default::default(),
    };
    let user = UserId::parse("u1").expect("user");
    let linked_invoice = || -> Option<Invoice> {
        Some(serde_json::from_value(finalized_invoice()).expect("invoice"))
    };
    type Row = (
        &'static str,
        Event,
        Option<PaymentRecord>,
        Option<Invoice>,
        (Option<&'static str>, Option<&'static str>),
    );
    let rows: Vec<Row> = vec![
        (
            "a paid invoice records its PDF",
            event("invoice.paid", T + 5, finalized_invoice(), None),
            None,
            None,
            (Some(PDF), None),
        ),
        (
            "an invoice that names no PDF records none",
            event(
                "invoice.payment_failed",
                T + 5,
                invoice("in_1", "sub_1"),
                None,
            ),
            None,
            None,
            (None, None),
        ),
        (
            "the invoice event keeps the receipt its charge recorded first",
            event("invoice.paid", T + 5, finalized_invoice(), None),
            Some(documented(
                "in_1",
                PDF,
                "https://pay.stripe.test/receipts/ch_first",
            )),
            None,
            (Some(PDF), Some("https://pay.stripe.test/receipts/ch_first")),
        ),
        (
            "a later invoice event does not replace the PDF recorded first",
            event(
                "invoice.payment_succeeded",
                T + 6,
                finalized_invoice(),
                None,
            ),
            Some(documented(
                "in_1",
                "https://pay.stripe.test/first.pdf",
                RECEIPT,
            )),
            None,
            (Some("https://pay.stripe.test/first.pdf"), Some(RECEIPT)),
        ),
        (
            "a subscription's charge arriving first records its receipt and its invoice's PDF",
            event(
                "charge.succeeded",
                T + 4,
                charge_with_receipt("succeeded", 0),
                None,
            ),
            None,
            linked_invoice(),
            (Some(PDF), Some(RECEIPT)),
        ),
        (
            "a charge after the invoice fills the receipt into the invoice's item",
            event(
                "charge.succeeded",
                T + 4,
                charge_with_receipt("succeeded", 0),
                None,
            ),
            Some(subscription_payment("in_1")),
            None,
            (None, Some(RECEIPT)),
        ),
        (
            "a refund keeps the receipt (Stripe's receipt shows the refund)",
            event(
                "charge.refunded",
                T + 50,
                charge_with_receipt("succeeded", 4900),
                None,
            ),
            Some(documented("in_1", PDF, RECEIPT)),
            None,
            (Some(PDF), Some(RECEIPT)),
        ),
        (
            "a refund's charge fills a receipt the history lacked",
            event(
                "charge.refunded",
                T + 50,
                charge_with_receipt("succeeded", 1000),
                None,
            ),
            Some(subscription_payment("in_1")),
            None,
            (None, Some(RECEIPT)),
        ),
        (
            "a one-time payment's expanded charge gives its receipt",
            event(
                "payment_intent.succeeded",
                T + 30,
                intent_with_charge("succeeded", "succeeded"),
                None,
            ),
            None,
            None,
            (None, Some(RECEIPT)),
        ),
        (
            "a declined charge's receipt_url is no receipt",
            event(
                "payment_intent.payment_failed",
                T + 30,
                intent_with_charge("requires_payment_method", "failed"),
                None,
            ),
            None,
            None,
            (None, None),
        ),
    ];
    for (name, event, existing, linked, (pdf, receipt)) in rows {
        let object = event.object().expect("typed object");
        let profile = professional();
        let input = Input {
            catalog: &catalog,
            user_id: &user,
            profile: &profile,
            existing_payment: existing.as_ref(),
            linked_invoice: linked.as_ref(),
            fetched_subscription: None,
            fetched_at: 0,
            now: event.created + 1,
        };
        let Decision::Apply(app) = decide(&event, &object, &input, policy) else {
            panic!("{name}: applied");
        };
        let payment = app.payments.first().expect("a history item");
        assert_eq!(payment.invoice_pdf.as_deref(), pdf, "{name}");
        assert_eq!(payment.receipt_url.as_deref(), receipt, "{name}");
    }
}

/// A professional subscriber whose downgrade to starter was scheduled at `T + 10`.
fn downgrading() -> BillingProfile {
    let mut p = professional();
    p.pending_change = Some(tierflow::domain::profile::PendingChange {
        target_tier: tier("starter"),
        billing_cycle: Some(tierflow::domain::BillingCycle::Monthly),
        effective_at: T + 2_592_000,
        schedule_id: Some("sub_sched_1".into()),
        change_id: Some("chg_1".into()),
        scheduled_at: Some(T + 10),
    });
    p
}

#[test]
fn a_delivery_without_the_schedule_asks_stripe_and_only_stripes_copy_withdraws_the_change() {
    let catalog = Catalog::parse(BUILT_IN_CATALOG).expect("catalog");
    let policy = Policy {
        grace_days: 3,
        revocation: Default::default(),
    };
    let user = UserId::parse("u1").expect("user");
    let profile = downgrading();
    // Created after the scheduling by its clock, yet it may be a late delivery from before it.
    let updated = event(
        "customer.subscription.updated",
        T + 11,
        subscription("sub_1", "active", "tierflow_professional_monthly"),
        None,
    );
    let object = updated.object().expect("object");
    let mut input = Input {
        catalog: &catalog,
        user_id: &user,
        profile: &profile,
        existing_payment: None,
        linked_invoice: None,
        fetched_subscription: None,
        fetched_at: 0,
        now: T + 20,
    };
    assert_eq!(
        decide(&updated, &object, &input, policy),
        Decision::FetchSubscription("sub_1".into())
    );

    // Stripe still has the schedule: the change stays pending.
    let mut scheduled = subscription("sub_1", "active", "tierflow_professional_monthly");
    scheduled["schedule"] = json!("sub_sched_1");
    let still: Subscription = serde_json::from_value(scheduled).expect("subscription");
    input.fetched_subscription = Some(&still);
    let Decision::Apply(app) = decide(&updated, &object, &input, policy) else {
        panic!("applied from Stripe's copy");
    };
    assert!(app.profile.pending_change.is_some());

    // Stripe has released it (the portal, say): the change is withdrawn.
    let released: Subscription = serde_json::from_value(subscription(
        "sub_1",
        "active",
        "tierflow_professional_monthly",
    ))
    .expect("subscription");
    input.fetched_subscription = Some(&released);
    let Decision::Apply(app) = decide(&updated, &object, &input, policy) else {
        panic!("applied from Stripe's copy");
    };
    assert_eq!(app.profile.pending_change, None);
    assert_eq!(app.profile.tier, tier("professional"));
}

#[test]
fn a_copy_fetched_for_a_late_event_is_versioned_when_fetched_so_older_deliveries_stay_older() {
    let catalog = Catalog::parse(BUILT_IN_CATALOG).expect("catalog");
    let policy = Policy {
        grace_days: 3,
        revocation: Default::default(),
    };
    let user = UserId::parse("u1").expect("user");
    let profile = professional();
    // An event whose guard cannot decide (same second as the applied state) asks Stripe; the
    // copy comes back at T + 50, already on enterprise.
    let late = event(
        "customer.subscription.updated",
        T,
        subscription("sub_1", "active", "tierflow_professional_monthly"),
        None,
    );
    let now: Subscription = serde_json::from_value(subscription(
        "sub_1",
        "active",
        "tierflow_enterprise_monthly",
    ))
    .expect("subscription");
    let input = Input {
        catalog: &catalog,
        user_id: &user,
        profile: &profile,
        existing_payment: None,
        linked_invoice: None,
        fetched_subscription: Some(&now),
        fetched_at: T + 50,
        now: T + 60,
    };
    let object = late.object().expect("object");
    let Decision::Apply(app) = decide(&late, &object, &input, policy) else {
        panic!("applied from Stripe's copy");
    };
    assert_eq!(app.profile.tier, tier("enterprise"));
    assert_eq!(
        app.profile.subscription_version.as_ref().map(|v| v.created),
        Some(T + 50)
    );
    // A delivery created before the fetch (the professional state at T + 20) is older.
    let older = event(
        "customer.subscription.updated",
        T + 20,
        subscription("sub_1", "active", "tierflow_professional_monthly"),
        None,
    );
    let after = app.profile.clone();
    let input = Input {
        catalog: &catalog,
        user_id: &user,
        profile: &after,
        existing_payment: None,
        linked_invoice: None,
        fetched_subscription: None,
        fetched_at: 0,
        now: T + 70,
    };
    let object = older.object().expect("object");
    assert!(matches!(
        decide(&older, &object, &input, policy),
        Decision::Ignore(_)
    ));
}

/// A `customer.updated` naming the default payment method `card`, with the previous one when
/// the event changed it.
fn customer_updated(created: i64, card: Option<&str>, previous: Option<Option<&str>>) -> Event {
    let mut e = event(
        "customer.updated",
        created,
        json!({"id": "cus_1", "object": "customer",
               "invoice_settings": {"default_payment_method": card}}),
        previous.map(|p| json!({"invoice_settings": {"default_payment_method": p}})),
    );
    e.id = format!("evt_customer_{created}_{}", card.unwrap_or("none"));
    e
}

#[test]
fn customer_updates_apply_in_stripe_order_whatever_the_delivery_order() {
    let catalog = Catalog::parse(BUILT_IN_CATALOG).expect("catalog");
    let user = UserId::parse("u1").expect("user");
    let policy = Policy {
        grace_days: 3,
        revocation: Default::default(),
    };
    // Each sequence is delivered in order to one profile; the card it ends with.
    let added = customer_updated(T + 10, Some("pm_1"), Some(None));
    let removed = customer_updated(T + 20, None, Some(Some("pm_1")));
    let removed_same_second = customer_updated(T + 10, None, Some(Some("pm_1")));
    let replaced_same_second = customer_updated(T + 10, Some("pm_2"), Some(Some("pm_1")));
    let address_only = customer_updated(T + 5, None, None);
    let table: [(&str, Vec<&Event>, Option<&str>); 5] = [
        ("in order", vec![&added, &removed], None),
        (
            "the removal first: the older addition is stale",
            vec![&removed, &added],
            None,
        ),
        (
            "the same second, in order",
            vec![&added, &removed_same_second],
            None,
        ),
        (
            "the same second, reversed: the replacement follows the addition by its previous card",
            vec![&replaced_same_second, &added],
            Some("pm_2"),
        ),
        (
            "an older update without a card after the addition",
            vec![&added, &address_only],
            Some("pm_1"),
        ),
    ];
    for (name, deliveries, want) in table {
        let mut profile = BillingProfile::new_free(user.clone(), &catalog);
        profile.customer_id = Some("cus_1".into());
        for delivered in deliveries {
            let object = delivered.object().expect("customer");
            let input = Input {
                catalog: &catalog,
                user_id: &user,
                profile: &profile,
                existing_payment: None,
                linked_invoice: None,
                fetched_subscription: None,
                fetched_at: 0,
                now: T + 60,
            };
            if let Decision::Apply(app) = decide(delivered, &object, &input, policy) {
                profile = app.profile;
            }
        }
        assert_eq!(profile.customer_payment_method.as_deref(), want, "{name}");
    }
}
