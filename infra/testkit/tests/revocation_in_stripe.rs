//! A revocation stops billing in Stripe: the dispute (or full refund) event's job carries the
//! change, the sync worker makes it against the emulator once, however often the job runs, and a
//! dispute closed as won gives the tier back, resuming what the revocation had set to end.

use std::sync::Arc;
use std::time::Duration;
use tierflow::adapters::memory::MemoryStore;
use tierflow::domain::profile::{RevocationAction, RevocationPolicy};
use tierflow::domain::UserId;
use tierflow::ports::{BillingStore, PaymentStatus, SubscriptionChange, SyncJob};
use tierflow::sync::worker::{EmailSettings, Worker};
use tierflow::webhook::{Outcome, Processor};
use tierflow_testkit::tier;
use tierflow_testkit::{unique, Harness};

/// The worker with Stripe only: Keycloak, Lago and email are not what this test is about.
fn worker(h: &Harness, store: Arc<MemoryStore>) -> Worker {
    Worker {
        store,
        stripe: Some(h.stripe.clone()),
        keycloak: None,
        lago: None,
        mailer: None,
        email: EmailSettings {
            product_name: "Acme".into(),
            billing_url: None,
        },
        catalog: h.catalog.clone(),
        clock: h.clock.clone(),
        job_timeout: Duration::from_secs(10),
    }
}

/// A subscriber's store and processor: the checkout and its payment applied.
async fn subscriber(
    h: &Harness,
    revocation: RevocationPolicy,
) -> (UserId, Arc<MemoryStore>, Processor) {
    let user = unique("revoked");
    h.subscribe(&user, "professional", "monthly", "pm_card_visa")
        .await;
    let store = Arc::new(MemoryStore::new());
    let p = h.processor(store.clone(), revocation);
    // The checkout first: it links the customer to the user.
    for kind in ["checkout.session.completed", "invoice.paid"] {
        let event = h.stripe_events(&[kind]).await.pop().expect(kind);
        assert_eq!(
            p.process(&event, &event.id).await.expect("applied"),
            Outcome::Applied
        );
    }
    store.take_stream();
    (UserId::parse(&user).expect("user"), store, p)
}

/// Processes the newest event of `kind` and returns the jobs its commit put in the outbox.
async fn process_latest(
    h: &Harness,
    p: &Processor,
    store: &MemoryStore,
    kind: &str,
) -> Vec<SyncJob> {
    let event = h.stripe_events(&[kind]).await.pop().expect(kind);
    assert_eq!(
        p.process(&event, &event.id).await.expect("processed"),
        Outcome::Applied,
        "{kind}"
    );
    store
        .take_stream()
        .into_iter()
        .flat_map(|r| r.outbox.jobs)
        .collect()
}

async fn dispute_the_charge(h: &Harness) -> String {
    let charges = h.stripe_get("/v1/charges").await;
    let charge = charges["data"][0]["id"].as_str().expect("the charge");
    let dispute = h
        .emulator_call("POST", &format!("/_emulator/charges/{charge}/dispute"), &[])
        .await;
    dispute["id"].as_str().expect("the dispute").to_owned()
}

#[tokio::test]
async fn a_dispute_cancels_the_subscription_once_and_no_invoice_follows() {
    let h = Harness::start().await;
    let (user, store, p) = subscriber(&h, RevocationPolicy::default()).await;
    let sub_id = store
        .profile(&user)
        .await
        .unwrap()
        .unwrap()
        .subscription_id
        .unwrap();
    dispute_the_charge(&h).await;
    let jobs = process_latest(&h, &p, &store, "charge.dispute.created").await;
    let [job] = jobs.as_slice() else {
        panic!("one job: {jobs:?}")
    };
    let action = job.stripe_action.as_ref().expect("a Stripe change");
    assert_eq!(action.change, SubscriptionChange::CancelNow);
    assert_eq!(action.subscription_id, sub_id);

    let w = worker(&h, store.clone());
    let body = serde_json::to_string(job).unwrap();
    let report = w.process_message(Some(&body)).await.expect("synced");
    assert!(report.stripe);
    let sub = h.stripe_get(&format!("/v1/subscriptions/{sub_id}")).await;
    assert_eq!(sub["status"], "canceled", "{sub}");
    // A redelivered (or replayed) job finds the change made and succeeds.
    w.process_message(Some(&body)).await.expect("again");

    // The clock passes the period end: Stripe bills nothing more.
    let invoices_before = h.stripe_get("/v1/invoices").await["data"]
        .as_array()
        .unwrap()
        .len();
    h.advance(40 * 86_400).await;
    let invoices_after = h.stripe_get("/v1/invoices").await["data"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        invoices_after, invoices_before,
        "no invoice after the cancellation"
    );

    // Stripe's own event then ends the subscription in the profile; access stays revoked.
    process_latest(&h, &p, &store, "customer.subscription.deleted").await;
    let profile = store.profile(&user).await.unwrap().unwrap();
    assert_eq!(profile.tier, tier("free"));
    assert!(profile.subscription_id.is_none());
    assert!(profile.revocation.is_some());
}

#[tokio::test]
async fn a_dispute_won_after_a_cancellation_at_period_end_restores_the_tier_and_the_renewal() {
    let h = Harness::start().await;
    let policy = RevocationPolicy {
        on_dispute: RevocationAction::CancelAtPeriodEnd,
        ..RevocationPolicy::default()
    };
    let (user, store, p) = subscriber(&h, policy).await;
    let sub_id = store
        .profile(&user)
        .await
        .unwrap()
        .unwrap()
        .subscription_id
        .unwrap();
    let dispute = dispute_the_charge(&h).await;
    let jobs = process_latest(&h, &p, &store, "charge.dispute.created").await;
    let w = worker(&h, store.clone());
    for job in &jobs {
        w.process_message(Some(&serde_json::to_string(job).unwrap()))
            .await
            .expect("synced");
    }
    let sub = h.stripe_get(&format!("/v1/subscriptions/{sub_id}")).await;
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["cancel_at_period_end"], true, "{sub}");
    process_latest(&h, &p, &store, "customer.subscription.updated").await;
    let revoked = store.profile(&user).await.unwrap().unwrap();
    assert_eq!(revoked.tier, tier("free"), "no access while disputed");

    // The merchant wins (Stripe test mode: the winning_evidence text closes it as won).
    let closed = h
        .emulator_call(
            "POST",
            &format!("/v1/disputes/{dispute}"),
            &[("evidence[uncategorized_text]", "winning_evidence")],
        )
        .await;
    assert_eq!(closed["status"], "won", "{closed}");
    let jobs = process_latest(&h, &p, &store, "charge.dispute.closed").await;
    let restored = store.profile(&user).await.unwrap().unwrap();
    assert_eq!(restored.tier, tier("professional"));
    assert!(restored.revocation.is_none());
    let history = store.payments(&user, 10, None).await.unwrap();
    assert_eq!(history.payments[0].status, PaymentStatus::DisputeWon);
    let job = jobs
        .iter()
        .find(|j| j.stripe_action.is_some())
        .expect("a resume");
    assert_eq!(job.email.as_deref(), Some("dispute_won"));
    w.process_message(Some(&serde_json::to_string(job).unwrap()))
        .await
        .expect("resumed");
    let sub = h.stripe_get(&format!("/v1/subscriptions/{sub_id}")).await;
    assert_eq!(sub["cancel_at_period_end"], false, "it renews again: {sub}");
}

#[tokio::test]
async fn a_full_refund_with_revoke_only_keeps_the_subscription_billing() {
    let h = Harness::start().await;
    let policy = RevocationPolicy {
        on_full_refund: RevocationAction::RevokeOnly,
        ..RevocationPolicy::default()
    };
    let (user, store, p) = subscriber(&h, policy).await;
    let sub_id = store
        .profile(&user)
        .await
        .unwrap()
        .unwrap()
        .subscription_id
        .unwrap();
    let charges = h.stripe_get("/v1/charges").await;
    let charge = charges["data"][0]["id"]
        .as_str()
        .expect("the charge")
        .to_owned();
    h.emulator_call("POST", "/v1/refunds", &[("charge", &charge)])
        .await;
    let jobs = process_latest(&h, &p, &store, "charge.refunded").await;
    assert!(jobs.iter().all(|j| j.stripe_action.is_none()), "{jobs:?}");
    let profile = store.profile(&user).await.unwrap().unwrap();
    assert_eq!(profile.tier, tier("free"));
    let sub = h.stripe_get(&format!("/v1/subscriptions/{sub_id}")).await;
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["cancel_at_period_end"], false);
}

#[tokio::test]
async fn a_stripe_change_without_stripe_configured_is_a_permanent_failure() {
    let h = Harness::start().await;
    let (_, store, p) = subscriber(&h, RevocationPolicy::default()).await;
    dispute_the_charge(&h).await;
    let jobs = process_latest(&h, &p, &store, "charge.dispute.created").await;
    let mut w = worker(&h, store.clone());
    w.stripe = None;
    let body = serde_json::to_string(&jobs[0]).unwrap();
    let error = w.process_message(Some(&body)).await.expect_err("no Stripe");
    assert!(error.is_permanent(), "{error}");
    w.settle_message(Some(&body)).await.expect("recorded");
    let failures = store.sync_failures(10).await.unwrap();
    assert_eq!(failures.len(), 1);
    assert!(
        failures[0].reason.contains("STRIPE_SECRET_KEY"),
        "{}",
        failures[0].reason
    );
}
