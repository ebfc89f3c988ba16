//! One subscription payment, as basil delivers it (its PaymentIntent, charge and invoice
//! events, the first two naming no invoice), fed to the processor in every order: one history
//! item, one receipt, one `payment.succeeded`; and a full refund of it is recognised as the
//! subscription's payment, whatever was seen before.

use std::sync::Arc;
use tierflow::adapters::memory::MemoryStore;
use tierflow::domain::UserId;
use tierflow::ports::{BillingStore, EventRecord, PaymentStatus};
use tierflow::stripe::Event;
use tierflow::webhook::{Outcome, Processor};
use tierflow_testkit::tier;
use tierflow_testkit::{unique, Harness};

/// The events of one subscription payment, in the order Stripe emitted them.
const PAYMENT_EVENTS: [&str; 4] = [
    "payment_intent.succeeded",
    "charge.succeeded",
    "invoice.paid",
    "invoice.payment_succeeded",
];

async fn process(p: &Processor, event: &Event) -> Outcome {
    let outcome = p.process(event, &event.id).await.expect("processed");
    assert!(
        matches!(outcome, Outcome::Applied | Outcome::Ignored(_)),
        "{}: {outcome:?}",
        event.kind
    );
    outcome
}

/// A store that knows the user's subscription (from its checkout's event), as before any
/// payment event.
async fn subscribed_store(h: &Harness, checkout: &Event) -> (Arc<MemoryStore>, Processor) {
    let store = Arc::new(MemoryStore::new());
    let p = h.processor(store.clone(), Default::default());
    assert_eq!(process(&p, checkout).await, Outcome::Applied);
    store.take_stream();
    (store, p)
}

fn count(records: &[EventRecord], email: &str, detail_type: &str) -> (usize, usize) {
    let emails = records
        .iter()
        .flat_map(|r| &r.outbox.jobs)
        .filter(|j| j.email.as_deref() == Some(email))
        .count();
    let events = records
        .iter()
        .flat_map(|r| &r.outbox.events)
        .filter(|e| e.detail_type == detail_type)
        .count();
    (emails, events)
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for perm in permutations(n - 1) {
        for i in 0..=perm.len() {
            let mut p = perm.clone();
            p.insert(i, n - 1);
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn every_delivery_order_of_a_subscription_payment_gives_one_item_one_receipt_one_event() {
    let h = Harness::start().await;
    let user = unique("orders");
    h.subscribe(&user, "professional", "monthly", "pm_card_visa")
        .await;
    let user_id = UserId::parse(&user).expect("user");
    let checkout = h.stripe_events(&["checkout.session.completed"]).await;
    let payment = h.stripe_events(&PAYMENT_EVENTS).await;
    let kinds: Vec<&str> = payment.iter().map(|e| e.kind.as_str()).collect();
    for kind in PAYMENT_EVENTS {
        assert_eq!(
            kinds.iter().filter(|k| **k == kind).count(),
            1,
            "{kind} in {kinds:?}"
        );
    }
    let invoice_id = payment
        .iter()
        .find(|e| e.kind == "invoice.paid")
        .and_then(|e| e.object_id())
        .expect("the invoice")
        .to_owned();

    let orders = permutations(payment.len());
    assert_eq!(orders.len(), 24);
    for order in orders {
        let (store, p) = subscribed_store(&h, &checkout[0]).await;
        for &i in &order {
            process(&p, &payment[i]).await;
        }
        let names: Vec<&str> = order.iter().map(|&i| kinds[i]).collect();
        let history = store.payments(&user_id, 10, None).await.expect("history");
        assert_eq!(
            history.payments.len(),
            1,
            "{names:?}: {:?}",
            history.payments
        );
        let item = &history.payments[0];
        assert_eq!(item.payment_id, invoice_id, "{names:?}");
        assert_eq!(item.status, PaymentStatus::Succeeded, "{names:?}");
        assert!(item.subscription_id.is_some(), "{names:?}");
        assert_eq!(item.card_last4.as_deref(), Some("4242"), "{names:?}");
        assert!(
            item.invoice_pdf
                .as_deref()
                .is_some_and(|u| u.ends_with(&format!("/invoices/{invoice_id}/pdf"))),
            "{names:?}: {:?}",
            item.invoice_pdf
        );
        assert!(
            item.receipt_url
                .as_deref()
                .is_some_and(|u| u.contains("/receipts/ch_")),
            "{names:?}: {:?}",
            item.receipt_url
        );
        let records = store.take_stream();
        assert_eq!(
            count(&records, "payment_receipt", "payment.succeeded"),
            (1, 1),
            "{names:?}"
        );
    }
}

#[tokio::test]
async fn a_full_refund_of_a_subscription_payment_revokes_the_tier_whatever_was_seen_before() {
    let h = Harness::start().await;
    let user = unique("refund");
    h.subscribe(&user, "professional", "monthly", "pm_card_visa")
        .await;
    let user_id = UserId::parse(&user).expect("user");
    let checkout = h.stripe_events(&["checkout.session.completed"]).await;
    let payment = h.stripe_events(&PAYMENT_EVENTS).await;
    let charges = h.stripe_get("/v1/charges").await;
    let charge = charges["data"][0]["id"].as_str().expect("the charge");
    let refund = h
        .emulator_call("POST", "/v1/refunds", &[("charge", charge)])
        .await;
    assert_eq!(refund["status"], "succeeded", "{refund}");
    let refunded = h.stripe_events(&["charge.refunded"]).await;

    // Before the refund: every payment event, only the invoice's, or nothing of the payment.
    let seen: [&[&str]; 3] = [&PAYMENT_EVENTS, &["invoice.paid"], &[]];
    for kinds in seen {
        let (store, p) = subscribed_store(&h, &checkout[0]).await;
        for event in payment.iter().filter(|e| kinds.contains(&e.kind.as_str())) {
            process(&p, event).await;
        }
        assert_eq!(
            process(&p, &refunded[0]).await,
            Outcome::Applied,
            "{kinds:?}"
        );
        let profile = store
            .profile(&user_id)
            .await
            .expect("read")
            .expect("profile");
        assert_eq!(profile.tier, tier("free"), "{kinds:?}");
        assert!(profile.revocation.is_some(), "{kinds:?}");
        let history = store.payments(&user_id, 10, None).await.expect("history");
        assert_eq!(history.payments.len(), 1, "{kinds:?}");
        assert_eq!(
            history.payments[0].status,
            PaymentStatus::Refunded,
            "{kinds:?}"
        );
        assert!(history.payments[0].subscription_id.is_some(), "{kinds:?}");
    }
}
