//! The customer link carries a copy of its user's profile, so an event about a customer finds
//! its user and their profile in one read. The copy is as old as the last profile write that
//! named that customer: a decision taken from an older copy, whether it applies, ignores or
//! fails the event, is taken again from the profile itself.

use crate::support::tier;
use serde_json::json;
use std::sync::Arc;
use tierflow::adapters::memory::MemoryStore;
use tierflow::adapters::stripe::StripeClient;
use tierflow::config::{Secret, StripeConfig};
use tierflow::domain::catalog::BUILT_IN_CATALOG;
use tierflow::domain::{BillingProfile, Catalog, SubscriptionStatus, UserId};
use tierflow::ports::{BillingStore, Commit, CommitError, EventStatus, ProfileWrite};
use tierflow::stripe::Event;
use tierflow::time::FixedClock;
use tierflow::webhook::{Outcome, Processor};

const T: i64 = 1_795_000_000;

fn processor(store: Arc<MemoryStore>) -> Processor {
    // No Stripe call is expected: every event here is decided from its own object.
    let stripe = StripeClient::new(&StripeConfig {
        secret_key: Secret::new("sk_test_unused"),
        publishable_key: String::new(),
        api_base: "http://127.0.0.1:9".into(),
    })
    .expect("client");
    Processor {
        store,
        stripe: Arc::new(stripe),
        catalog: Catalog::parse(BUILT_IN_CATALOG).expect("catalog"),
        grace_days: 3,
        revocation: Default::default(),
        clock: Arc::new(FixedClock::at(T + 1_000)),
    }
}

/// A subscription event of customer `cus_a`. Only the first names the user in its metadata:
/// later ones find the user through the customer's link (and its copy).
fn subscription_event(id: &str, kind: &str, created: i64, sub: &str, status: &str) -> Event {
    let metadata = if kind == "customer.subscription.created" {
        json!({"user_id": "u1"})
    } else {
        json!({})
    };
    serde_json::from_value(json!({
        "id": id, "object": "event", "type": kind, "created": created,
        "data": {"object": {
            "id": sub, "object": "subscription", "customer": "cus_a", "status": status,
            "metadata": metadata, "cancel_at_period_end": false,
            "items": {"object": "list", "data": [{
                "id": format!("si_{sub}"), "object": "subscription_item",
                "current_period_start": T, "current_period_end": T + 2_592_000,
                "price": {"id": "price_pro", "object": "price", "lookup_key": "tierflow_professional_monthly",
                          "unit_amount": 4900, "currency": "usd", "recurring": {"interval": "month"}}
            }]}
        }, "previous_attributes": null}
    }))
    .expect("event")
}

fn user() -> UserId {
    UserId::parse("u1").expect("user")
}

/// A store where the link of `cus_a` carries the profile on `sub_a` (version 1), and the
/// profile has moved on since (version 2, as `moved` makes it) without naming `cus_a`.
async fn store_with_an_older_copy(moved: impl FnOnce(&mut BillingProfile)) -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    let p = processor(store.clone());
    let created = subscription_event(
        "evt_created",
        "customer.subscription.created",
        T,
        "sub_a",
        "active",
    );
    assert_eq!(
        p.process(&created, "h").await.expect("processed"),
        Outcome::Applied
    );
    let mut profile = store
        .profile(&user())
        .await
        .expect("store")
        .expect("profile");
    assert_eq!(profile.version, 1);
    moved(&mut profile);
    store
        .commit(Commit {
            profile: Some(ProfileWrite {
                profile,
                expected_version: 1,
            }),
            ..Default::default()
        })
        .await
        .expect("moved on");
    let copy = store
        .customer_owner("cus_a")
        .await
        .expect("store")
        .expect("link");
    assert_eq!(
        copy.profile.map(|p| p.version),
        Some(1),
        "the copy is older"
    );
    store
}

#[tokio::test]
async fn a_change_decided_from_an_older_copy_is_decided_again_from_the_profile() {
    // The profile now follows another subscription: the older one ending changes nothing.
    let store = store_with_an_older_copy(|p| {
        p.customer_id = None;
        p.subscription_id = Some("sub_b".into());
        p.subscription_version = None;
    })
    .await;
    let ended = subscription_event(
        "evt_a_ended",
        "customer.subscription.deleted",
        T + 500,
        "sub_a",
        "canceled",
    );
    let outcome = processor(store.clone())
        .process(&ended, "h")
        .await
        .expect("processed");
    assert!(matches!(outcome, Outcome::Ignored(_)), "{outcome:?}");
    let profile = store
        .profile(&user())
        .await
        .expect("store")
        .expect("profile");
    assert_eq!(profile.version, 2, "nothing written over the newer profile");
    assert_eq!(profile.tier, tier("professional"));
}

#[tokio::test]
async fn an_event_ignored_from_an_older_copy_is_decided_again_and_applied() {
    // The copy says sub_a is the user's subscription, so sub_b's cancellation looks like
    // another subscription's; the profile says sub_b, whose cancellation must end the access.
    let store = store_with_an_older_copy(|p| {
        p.customer_id = None;
        p.subscription_id = Some("sub_b".into());
        p.subscription_version = None;
    })
    .await;
    let canceled = subscription_event(
        "evt_b_canceled",
        "customer.subscription.deleted",
        T + 500,
        "sub_b",
        "canceled",
    );
    let outcome = processor(store.clone())
        .process(&canceled, "h")
        .await
        .expect("processed");
    assert_eq!(outcome, Outcome::Applied);
    let profile = store
        .profile(&user())
        .await
        .expect("store")
        .expect("profile");
    assert_eq!(profile.tier, tier("free"), "{profile:?}");
    assert_eq!(profile.status, SubscriptionStatus::None);
    assert_eq!(
        store
            .event_record("evt_b_canceled")
            .await
            .unwrap()
            .expect("record")
            .status,
        EventStatus::Completed
    );
}

#[tokio::test]
async fn a_commit_decided_from_a_profile_version_fails_once_it_changed() {
    let store = store_with_an_older_copy(|p| p.customer_id = None).await;
    let stale = Commit {
        profile_unchanged: Some((user(), 1)),
        ..Default::default()
    };
    assert!(matches!(
        store.commit(stale).await,
        Err(CommitError::ProfileConflict)
    ));
    let current = Commit {
        profile_unchanged: Some((user(), 2)),
        ..Default::default()
    };
    assert!(store.commit(current).await.is_ok());
}
