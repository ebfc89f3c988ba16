//! Stripe sends a subscription payment's PaymentIntent, charge and invoice events at once, and
//! each adds its own fields to the one history item (the card from the charge, the invoice's
//! documents, the receipt). Two of them decided at the same time must not lose each other's
//! fields: for every pair, one reads and decides, the other commits in between, and the first
//! still commits on top of it, not over it. A refund racing a late payment event stays a refund.

use std::sync::Arc;
use tierflow::adapters::memory::MemoryStore;
use tierflow::domain::UserId;
use tierflow::ports::{BillingStore, PaymentRecord, PaymentStatus};
use tierflow::stripe::Event;
use tierflow::webhook::{Outcome, Processor};
use tierflow_testkit::{unique, Harness, InterleavedStore};

const PAYMENT_EVENTS: [&str; 4] = [
    "payment_intent.succeeded",
    "charge.succeeded",
    "invoice.paid",
    "invoice.payment_succeeded",
];

/// A store that knows the user's subscription (from its checkout's event), a processor that
/// lets another delivery commit before its next commit, and that other delivery's processor.
async fn racing_processors(
    h: &Harness,
    checkout: &Event,
) -> (
    Arc<MemoryStore>,
    Arc<InterleavedStore>,
    Processor,
    Arc<Processor>,
) {
    let inner = Arc::new(MemoryStore::new());
    let other = Arc::new(h.processor(inner.clone(), Default::default()));
    assert_eq!(
        other
            .process(checkout, &checkout.id)
            .await
            .expect("applied"),
        Outcome::Applied
    );
    let store = Arc::new(InterleavedStore::new(inner.clone()));
    let racing = Processor {
        store: store.clone(),
        ..h.processor(inner.clone(), Default::default())
    };
    (inner, store, racing, other)
}

/// `first` decided, then `second` applied by another delivery, then `first` committed.
async fn race(
    h: &Harness,
    checkout: &Event,
    first: &Event,
    second: &Event,
) -> (Arc<MemoryStore>, Outcome) {
    let (inner, store, racing, other) = racing_processors(h, checkout).await;
    let second = second.clone();
    store
        .before_next_commit(Box::pin(async move {
            let outcome = other.process(&second, &second.id).await.expect("processed");
            assert!(
                matches!(outcome, Outcome::Applied | Outcome::Ignored(_)),
                "{}: {outcome:?}",
                second.kind
            );
        }))
        .await;
    let outcome = racing.process(first, &first.id).await.expect("processed");
    (inner, outcome)
}

async fn history(store: &MemoryStore, user: &UserId) -> Vec<PaymentRecord> {
    store
        .payments(user, 10, None)
        .await
        .expect("history")
        .payments
}

#[tokio::test]
async fn two_payment_events_decided_at_once_keep_both_their_fields() {
    let h = Harness::start().await;
    let user = unique("race");
    h.subscribe(&user, "professional", "monthly", "pm_card_visa")
        .await;
    let user_id = UserId::parse(&user).expect("user");
    let checkout = h.stripe_events(&["checkout.session.completed"]).await;
    let payment = h.stripe_events(&PAYMENT_EVENTS).await;
    assert_eq!(payment.len(), PAYMENT_EVENTS.len());

    for first in &payment {
        for second in payment.iter().filter(|e| e.id != first.id) {
            let names = (first.kind.as_str(), second.kind.as_str());
            let (store, outcome) = race(&h, &checkout[0], first, second).await;
            assert!(
                matches!(outcome, Outcome::Applied | Outcome::Ignored(_)),
                "{names:?}: {outcome:?}"
            );
            let items = history(&store, &user_id).await;
            assert_eq!(items.len(), 1, "{names:?}: {items:?}");
            let item = &items[0];
            assert_eq!(item.status, PaymentStatus::Succeeded, "{names:?}");
            // The charge's card and receipt, and the invoice's documents, whichever came first.
            let kinds = [names.0, names.1];
            if kinds.contains(&"charge.succeeded") {
                assert_eq!(
                    item.card_last4.as_deref(),
                    Some("4242"),
                    "{names:?}: {item:?}"
                );
                assert!(item.receipt_url.is_some(), "{names:?}: {item:?}");
            }
            if kinds.iter().any(|k| k.starts_with("invoice.")) {
                assert!(item.invoice_pdf.is_some(), "{names:?}: {item:?}");
                assert!(item.subscription_id.is_some(), "{names:?}: {item:?}");
            }
        }
    }
}

#[tokio::test]
async fn a_refund_applied_while_a_late_payment_event_decides_stays_a_refund() {
    let h = Harness::start().await;
    let user = unique("race-refund");
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

    for late in payment.iter().filter(|e| e.kind != "invoice.paid") {
        let (inner, store, racing, other) = racing_processors(&h, &checkout[0]).await;
        let paid = payment
            .iter()
            .find(|e| e.kind == "invoice.paid")
            .expect("invoice.paid");
        assert_eq!(
            other.process(paid, &paid.id).await.expect("applied"),
            Outcome::Applied
        );
        let refund = refunded[0].clone();
        store
            .before_next_commit(Box::pin(async move {
                assert_eq!(
                    other.process(&refund, &refund.id).await.expect("applied"),
                    Outcome::Applied
                );
            }))
            .await;
        racing.process(late, &late.id).await.expect("processed");
        let items = history(&inner, &user_id).await;
        assert_eq!(items.len(), 1, "{}: {items:?}", late.kind);
        assert_eq!(items[0].status, PaymentStatus::Refunded, "{}", late.kind);
        assert_eq!(items[0].amount_refunded, items[0].amount, "{}", late.kind);
    }
}
