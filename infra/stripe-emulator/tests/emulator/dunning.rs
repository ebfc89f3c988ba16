//! Automatic retries of failed subscription invoices: the retry schedule, recovery with an
//! updated card, manual payment, and the final action once every retry failed.

use serde_json::Value;
use stripe_emulator::dunning::{Dunning, FinalAction};
use stripe_emulator::Config;

use crate::harness::{s, types, Harness};

const DAY: i64 = 86_400;

/// A subscription whose renewal charge fails: subscribed with a good card, then switched to a
/// card whose later charges decline, and renewed. Answers (subscription, its open invoice).
async fn failed_renewal(h: &Harness) -> (Value, Value) {
    let c = h.catalog().await;
    let sub = h.subscribe(&c.starter_monthly, "pm_card_visa").await;
    let sid = s(&sub, "id");
    let failing = h
        .post(
            "/v1/payment_methods/pm_card_chargeCustomerFail/attach",
            &[("customer", s(&sub, "customer"))],
        )
        .await;
    h.post(
        &format!("/v1/subscriptions/{sid}"),
        &[("default_payment_method", s(&failing, "id"))],
    )
    .await;
    let end = sub["items"]["data"][0]["current_period_end"]
        .as_i64()
        .unwrap();
    h.advance_to(end + 60).await;
    let fresh = h
        .get(&format!("/v1/subscriptions/{sid}?expand[]=latest_invoice"))
        .await;
    assert_eq!(fresh["status"], "past_due");
    let invoice = fresh["latest_invoice"].clone();
    assert_eq!(invoice["billing_reason"], "subscription_cycle");
    assert_eq!(invoice["status"], "open");
    assert_eq!(invoice["attempt_count"], 1);
    (fresh, invoice)
}

/// The events of `kind` about object `id`, oldest first.
fn events_of<'a>(events: &'a [Value], kind: &str, id: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["type"] == kind && e["data"]["object"]["id"] == id)
        .collect()
}

#[tokio::test]
async fn failed_renewal_is_retried_on_schedule_then_goes_unpaid() {
    let h = Harness::start().await;
    let (sub, invoice) = failed_renewal(&h).await;
    let sid = s(&sub, "id");
    let iid = s(&invoice, "id");
    let end = sub["items"]["data"][0]["current_period_start"]
        .as_i64()
        .unwrap();
    let first_retry = invoice["next_payment_attempt"].as_i64().unwrap();
    // The schedule counts from the failed renewal attempt, which ran at the period boundary.
    let first_failure = first_retry - 3 * DAY;
    assert!(
        (end..end + 5).contains(&first_failure),
        "{first_failure} vs {end}"
    );

    // A manual attempt neither counts nor moves the schedule.
    let (status, body) = h.post_status(&format!("/v1/invoices/{iid}/pay"), &[]).await;
    assert_eq!(status, 402, "{body:#}");
    assert_eq!(body["error"]["decline_code"], "generic_decline");
    let after_manual = h.get(&format!("/v1/invoices/{iid}")).await;
    assert_eq!(after_manual["attempt_count"], 1);
    assert_eq!(after_manual["next_payment_attempt"], first_retry);

    // Nothing happens before a retry is due.
    let before = h.event_count().await;
    h.advance_to(first_retry - 60).await;
    assert!(events_of(&h.events_after(before).await, "invoice.payment_failed", iid).is_empty());

    // Retries on day 3 and 5 fail, each announcing the next one; the subscription stays past_due.
    for (attempt, next_day) in [(2, 5), (3, 7)] {
        let before = h.event_count().await;
        h.advance_to(first_failure + (next_day - 2) * DAY + 60)
            .await;
        let events = h.events_after(before).await;
        let failed = events_of(&events, "invoice.payment_failed", iid);
        assert_eq!(failed.len(), 1, "{:?}", types(&events));
        let object = &failed[0]["data"]["object"];
        assert_eq!(object["attempt_count"], attempt);
        assert_eq!(object["status"], "open");
        assert_eq!(
            object["next_payment_attempt"],
            first_failure + next_day * DAY
        );
        assert!(failed[0]["request"]["id"].is_null());
        assert!(events_of(&events, "customer.subscription.updated", sid).is_empty());
        assert_eq!(
            h.get(&format!("/v1/subscriptions/{sid}")).await["status"],
            "past_due"
        );
    }

    // The last retry (day 7) fails: no further attempt, and the subscription becomes unpaid.
    let before = h.event_count().await;
    h.advance_to(first_failure + 7 * DAY + 60).await;
    let events = h.events_after(before).await;
    let kinds = types(&events);
    let failed = events_of(&events, "invoice.payment_failed", iid);
    assert_eq!(failed.len(), 1, "{kinds:?}");
    assert_eq!(failed[0]["data"]["object"]["attempt_count"], 4);
    assert!(failed[0]["data"]["object"]["next_payment_attempt"].is_null());
    let updated = events_of(&events, "customer.subscription.updated", sid);
    assert_eq!(updated.len(), 1, "{kinds:?}");
    assert_eq!(updated[0]["data"]["object"]["status"], "unpaid");
    assert_eq!(
        updated[0]["data"]["previous_attributes"]["status"],
        "past_due"
    );
    let position = |kind: &str| kinds.iter().position(|k| k == kind).unwrap();
    assert!(position("invoice.payment_failed") < position("customer.subscription.updated"));
    assert!(kinds.contains(&"charge.failed".to_string()), "{kinds:?}");
    let invoice = h.get(&format!("/v1/invoices/{iid}")).await;
    assert_eq!(invoice["status"], "open");
    assert!(invoice["next_payment_attempt"].is_null());

    // Unpaid: the next period is still invoiced, but no payment is attempted.
    let period_end = sub["items"]["data"][0]["current_period_end"]
        .as_i64()
        .unwrap();
    let before = h.event_count().await;
    h.advance_to(period_end + 60).await;
    let events = h.events_after(before).await;
    assert!(
        !types(&events).contains(&"invoice.payment_failed".to_string()),
        "{:?}",
        types(&events)
    );
    let fresh = h
        .get(&format!("/v1/subscriptions/{sid}?expand[]=latest_invoice"))
        .await;
    assert_eq!(fresh["status"], "unpaid");
    let latest = &fresh["latest_invoice"];
    assert_ne!(latest["id"], iid);
    assert_eq!(latest["status"], "open");
    assert_eq!(latest["attempt_count"], 0);
    assert!(latest["next_payment_attempt"].is_null());

    // Paying the latest invoice by hand makes the subscription active again.
    let before = h.event_count().await;
    let paid = h
        .post(
            &format!("/v1/invoices/{}/pay", s(latest, "id")),
            &[("payment_method", "pm_card_visa")],
        )
        .await;
    assert_eq!(paid["status"], "paid");
    let events = h.events_after(before).await;
    let updated = events_of(&events, "customer.subscription.updated", sid);
    assert_eq!(updated.len(), 1, "{:?}", types(&events));
    assert_eq!(updated[0]["data"]["object"]["status"], "active");
    assert_eq!(
        updated[0]["data"]["previous_attributes"]["status"],
        "unpaid"
    );
}

#[tokio::test]
async fn retry_with_an_updated_card_recovers_the_subscription() {
    let h = Harness::start().await;
    let (sub, invoice) = failed_renewal(&h).await;
    let sid = s(&sub, "id");
    let iid = s(&invoice, "id");
    let first_failure = invoice["next_payment_attempt"].as_i64().unwrap() - 3 * DAY;
    h.advance_to(first_failure + 3 * DAY + 60).await;
    assert_eq!(
        h.get(&format!("/v1/invoices/{iid}")).await["attempt_count"],
        2
    );

    // The customer puts a working card on the subscription before the day-5 retry.
    let visa = h
        .post(
            "/v1/payment_methods/pm_card_visa/attach",
            &[("customer", s(&sub, "customer"))],
        )
        .await;
    h.post(
        &format!("/v1/subscriptions/{sid}"),
        &[("default_payment_method", s(&visa, "id"))],
    )
    .await;
    let before = h.event_count().await;
    h.advance_to(first_failure + 5 * DAY + 60).await;
    let events = h.events_after(before).await;
    let kinds = types(&events);
    assert!(events_of(&events, "invoice.payment_failed", iid).is_empty());
    let paid = events_of(&events, "invoice.paid", iid);
    assert_eq!(paid.len(), 1, "{kinds:?}");
    assert_eq!(paid[0]["data"]["object"]["attempt_count"], 3);
    assert!(paid[0]["data"]["object"]["next_payment_attempt"].is_null());
    assert_eq!(
        events_of(&events, "invoice.payment_succeeded", iid).len(),
        1
    );
    let updated = events_of(&events, "customer.subscription.updated", sid);
    assert_eq!(updated.len(), 1, "{kinds:?}");
    assert_eq!(updated[0]["data"]["object"]["status"], "active");
    assert_eq!(
        updated[0]["data"]["previous_attributes"]["status"],
        "past_due"
    );
    let position = |kind: &str| kinds.iter().position(|k| k == kind).unwrap();
    assert!(position("invoice.payment_succeeded") < position("customer.subscription.updated"));

    let invoice = h
        .get(&format!("/v1/invoices/{iid}?expand[]=payments"))
        .await;
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["amount_paid"], 1900);
    let pi = h.invoice_intent(&invoice).await;
    assert_eq!(pi["status"], "succeeded");
    assert_eq!(pi["payment_method"], visa["id"]);

    // No retry is left: the day-7 mark passes quietly.
    let before = h.event_count().await;
    h.advance_to(first_failure + 8 * DAY).await;
    assert!(h.events_after(before).await.is_empty());
    assert_eq!(
        h.get(&format!("/v1/subscriptions/{sid}")).await["status"],
        "active"
    );
}

#[tokio::test]
async fn final_action_canceled_deletes_the_subscription() {
    let h = Harness::with_config(Config {
        dunning: Dunning {
            retry_days: vec![1, 2],
            final_action: FinalAction::Canceled,
        },
        ..Config::default()
    })
    .await;
    let (sub, invoice) = failed_renewal(&h).await;
    let sid = s(&sub, "id");
    let iid = s(&invoice, "id");
    let first_failure = invoice["next_payment_attempt"].as_i64().unwrap() - DAY;

    // One jump past the whole schedule runs every retry in order.
    let before = h.event_count().await;
    h.advance_to(first_failure + 2 * DAY + 60).await;
    let events = h.events_after(before).await;
    let kinds = types(&events);
    let failed = events_of(&events, "invoice.payment_failed", iid);
    let attempts: Vec<&Value> = failed
        .iter()
        .map(|e| &e["data"]["object"]["attempt_count"])
        .collect();
    assert_eq!(attempts, [2, 3], "{kinds:?}");
    assert_eq!(
        failed[0]["data"]["object"]["next_payment_attempt"],
        first_failure + 2 * DAY
    );
    assert!(failed[1]["data"]["object"]["next_payment_attempt"].is_null());
    assert!(events_of(&events, "customer.subscription.updated", sid).is_empty());
    let deleted = events_of(&events, "customer.subscription.deleted", sid);
    assert_eq!(deleted.len(), 1, "{kinds:?}");
    let object = &deleted[0]["data"]["object"];
    assert_eq!(object["status"], "canceled");
    assert_eq!(object["cancellation_details"]["reason"], "payment_failed");
    assert_eq!(object["ended_at"], first_failure + 2 * DAY);
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("customer.subscription.deleted")
    );

    // Canceled: no renewal at the period end, and the invoice stays open for manual payment.
    let before = h.event_count().await;
    h.advance_to(
        sub["items"]["data"][0]["current_period_end"]
            .as_i64()
            .unwrap()
            + 60,
    )
    .await;
    assert!(h.events_after(before).await.is_empty());
    let invoice = h.get(&format!("/v1/invoices/{iid}")).await;
    assert_eq!(invoice["status"], "open");
    assert!(invoice["next_payment_attempt"].is_null());
}

#[tokio::test]
async fn reset_keeps_the_configured_schedule() {
    let h = Harness::with_config(Config {
        dunning: Dunning {
            retry_days: vec![2],
            final_action: FinalAction::Unpaid,
        },
        ..Config::default()
    })
    .await;
    h.post("/_emulator/reset", &[]).await;
    let (_, invoice) = failed_renewal(&h).await;
    let first_failure = invoice["period_end"].as_i64().unwrap();
    let next = invoice["next_payment_attempt"].as_i64().unwrap();
    assert!((first_failure + 2 * DAY..first_failure + 2 * DAY + 5).contains(&next));
}
