//! An event the version guard cannot order asks Stripe for the subscription. If another event
//! commits a newer state between that fetch and this event's commit, the fetched copy is older
//! than the stored state: deciding again must not write it back (seen in the browser test as an
//! upgrade paid through 3-D Secure shown, then lost to the plan before it).

use std::sync::Arc;
use tierflow::adapters::memory::MemoryStore;
use tierflow::domain::UserId;
use tierflow::ports::{BillingStore, StripeApi};
use tierflow::stripe::Event;
use tierflow::webhook::{Outcome, Processor};
use tierflow_testkit::tier;
use tierflow_testkit::{unique, Harness, InterleavedStore, Write};

/// `event` again under another id: a second event of the same second and state, which the
/// version guard cannot order against the first.
fn same_second_copy(event: &Event) -> Event {
    let mut json = serde_json::to_value(event).expect("json");
    json["id"] = format!("{}_same_second", event.id).into();
    json["type"] = "customer.subscription.updated".into();
    serde_json::from_value(json).expect("event")
}

#[tokio::test]
async fn a_newer_state_committed_while_stripe_was_asked_is_not_overwritten_by_the_older_copy() {
    let h = Harness::start().await;
    let user = unique("interleaved");
    h.subscribe(&user, "starter", "monthly", "pm_card_visa")
        .await;
    let created = h.stripe_events(&["customer.subscription.created"]).await;
    let created = created.last().expect("the subscription's creation").clone();
    let sub_id = created.object_id().expect("subscription").to_owned();

    let inner = Arc::new(MemoryStore::new());
    let store = Arc::new(InterleavedStore::new(inner.clone()));
    let racing = Processor {
        store: store.clone(),
        ..h.processor(inner.clone(), Default::default())
    };
    assert_eq!(
        racing
            .process(&created, &created.id)
            .await
            .expect("applied"),
        Outcome::Applied
    );

    // While the same-second event asks Stripe, the subscription is upgraded and that upgrade's
    // event is applied by another delivery.
    let other = Arc::new(h.processor(inner.clone(), Default::default()));
    let stripe = h.stripe.clone();
    let professional = stripe
        .list_prices_by_lookup_keys(&["tierflow_professional_monthly"], true)
        .await
        .expect("prices")
        .remove(0)
        .id;
    let item = h.stripe_get(&format!("/v1/subscriptions/{sub_id}")).await["items"]["data"][0]["id"]
        .as_str()
        .expect("item")
        .to_owned();
    let (url, http) = (h.emulator.url().to_owned(), h.http.clone());
    let upgrade_and_apply: Write = Box::pin(async move {
        let answer = http
            .post(format!("{url}/v1/subscriptions/{sub_id}"))
            .bearer_auth("sk_test_testkit")
            .header("Stripe-Version", tierflow::stripe::STRIPE_API_VERSION)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                tierflow::stripe::Form::new()
                    .field("items[0][id]", item.as_str())
                    .field("items[0][price]", professional.as_str())
                    .field("proration_behavior", "none")
                    .encode(),
            )
            .send()
            .await
            .expect("emulator answers");
        assert!(answer.status().is_success(), "{:?}", answer.text().await);
        let updated = stripe
            .list_events(&tierflow::stripe::EventQuery {
                types: vec!["customer.subscription.updated".into()],
                ..Default::default()
            })
            .await
            .expect("events")
            .remove(0);
        assert_eq!(
            other.process(&updated, &updated.id).await.expect("applied"),
            Outcome::Applied
        );
    });
    store.before_next_commit(upgrade_and_apply).await;

    let same_second = same_second_copy(&created);
    racing
        .process(&same_second, &same_second.id)
        .await
        .expect("answered");

    let profile = inner
        .profile(&UserId::parse(&user).expect("user"))
        .await
        .expect("store")
        .expect("profile");
    assert_eq!(
        profile.tier,
        tier("professional"),
        "the upgrade stays: {profile:?}"
    );
}
