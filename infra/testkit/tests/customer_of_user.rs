//! A user's Stripe customer, found or created in one round trip, against the emulator: a new
//! user gets one customer however often and from whichever route it is asked; a customer Stripe
//! already has for the user (its link lost) is the one used.

use tierflow::ports::StripeApi;
use tierflow::service::customer_of_user::find_or_create_customer;
use tierflow::service::payments::customer::ensure_customer;
use tierflow::stripe::{IdempotencyScope, NewCustomer};
use tierflow_testkit::{caller, unique, Harness};

#[tokio::test]
async fn a_new_user_gets_one_customer_from_every_route_and_every_repeat() {
    let h = Harness::start().await;
    let user = unique("first");
    let who = caller(&user);
    let (first, again) = tokio::join!(
        find_or_create_customer(h.stripe.as_ref(), &user, who.email.as_deref()),
        find_or_create_customer(h.stripe.as_ref(), &user, who.email.as_deref()),
    );
    let (first, again) = (first.expect("found or created"), again.expect("repeat"));
    assert_eq!(first.id, again.id, "a repeat answers the same customer");
    // Whether or not the search saw it yet, it is the creation's: no subscription to look for.
    assert!(first.created && again.created, "{first:?} {again:?}");
    // The one-time payments route links the same customer.
    let linked = ensure_customer(
        h.store.as_ref(),
        h.stripe.as_ref(),
        &tierflow::domain::Catalog::built_in(),
        &who,
        0,
    )
    .await
    .expect("linked");
    assert_eq!(linked, first.id);
    let tagged = h
        .stripe
        .find_customer_by_user_id(&user)
        .await
        .expect("search")
        .expect("tagged with the user");
    assert_eq!(tagged.id, first.id);
}

#[tokio::test]
async fn a_customer_stripe_has_for_the_user_is_used_when_the_link_was_lost() {
    let h = Harness::start().await;
    let user = unique("lost");
    let existing = h
        .stripe
        .create_customer(
            &NewCustomer::for_user(&user, None),
            &IdempotencyScope::new(["an earlier release", user.as_str()]),
        )
        .await
        .expect("an earlier customer");
    let found = find_or_create_customer(h.stripe.as_ref(), &user, Some("ada@example.com"))
        .await
        .expect("found");
    assert_eq!(found.id, existing.id);
    assert!(!found.created);
}
