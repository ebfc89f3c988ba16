//! What Tierflow observes through its own Stripe calls is stamped in Stripe's clock, learnt
//! from the `Date` of its answers: the version guard then compares an API observation with the
//! `created` of Stripe's events on one timeline, even when the clocks differ.

use tierflow::ports::StripeApi;
use tierflow_testkit::Harness;

fn local_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

#[tokio::test]
async fn the_client_reads_stripes_clock_from_its_answers() {
    let h = Harness::start().await;
    h.stripe.list_products().await.expect("products");
    let local = local_now();
    assert!(
        (h.stripe.stripe_time(local) - local).abs() <= 2,
        "the clocks agree"
    );

    // The emulator's clock runs ten days ahead, as a test clock or a skewed host would.
    h.emulator_call("POST", "/_emulator/clock/advance", &[("seconds", "864000")])
        .await;
    h.stripe.list_products().await.expect("products");
    let local = local_now();
    let stripe = h.stripe.stripe_time(local);
    assert!(
        (stripe - (local + 864_000)).abs() <= 2,
        "{stripe} is ten days after {local}"
    );
    assert!((stripe - h.stripe_now().await).abs() <= 2);
}
