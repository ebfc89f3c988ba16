//! A subscription over time: renewals on the moved clock, a failing renewal, cancellation at
//! period end and resume, a scheduled downgrade, and deleting the customer.

use serde_json::{json, Value};

use crate::harness::{s, types, Harness};

#[tokio::test]
async fn clock_advance_renews_and_pays() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    let good = h.subscribe(&c.starter_monthly, "pm_card_visa").await;
    let end = good["items"]["data"][0]["current_period_end"]
        .as_i64()
        .unwrap();
    let before = h.event_count().await;
    h.advance_to(end + 3600).await;
    let renewed = h
        .get(&format!(
            "/v1/subscriptions/{}?expand[]=latest_invoice",
            s(&good, "id")
        ))
        .await;
    assert_eq!(renewed["status"], "active");
    assert_eq!(renewed["items"]["data"][0]["current_period_start"], end);
    assert_eq!(
        renewed["latest_invoice"]["billing_reason"],
        "subscription_cycle"
    );
    assert_eq!(renewed["latest_invoice"]["status"], "paid");
    assert_eq!(renewed["latest_invoice"]["amount_paid"], 1900);
    let events = h.events_after(before).await;
    let upd = events
        .iter()
        .find(|e| {
            e["type"] == "customer.subscription.updated" && e["data"]["object"]["id"] == good["id"]
        })
        .unwrap();
    assert_eq!(
        upd["data"]["previous_attributes"]["items"]["data"][0]["current_period_end"],
        end
    );
    assert!(upd["request"]["id"].is_null());
    assert!(types(&events).contains(&"invoice.payment_succeeded".to_string()));
    assert!((h.now().await - (end + 3600)).abs() < 5);
}

#[tokio::test]
async fn failing_renewal_goes_past_due() {
    let h = Harness::start().await;
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
    let before = h.event_count().await;
    h.advance_to(
        sub["items"]["data"][0]["current_period_end"]
            .as_i64()
            .unwrap()
            + 60,
    )
    .await;
    let events = h.events_after(before).await;
    let kinds = types(&events);
    assert!(
        kinds.contains(&"invoice.payment_failed".to_string()),
        "{kinds:?}"
    );
    let upd = events
        .iter()
        .rev()
        .find(|e| e["type"] == "customer.subscription.updated")
        .unwrap();
    assert_eq!(upd["data"]["previous_attributes"]["status"], "active");
    assert_eq!(upd["data"]["object"]["status"], "past_due");
    let fresh = h
        .get(&format!("/v1/subscriptions/{sid}?expand[]=latest_invoice"))
        .await;
    assert_eq!(fresh["status"], "past_due");
    assert_eq!(fresh["latest_invoice"]["status"], "open");
    assert!(fresh["latest_invoice"]["next_payment_attempt"].is_i64());
    // Paying the open invoice with a good card brings it back to active.
    let paid = h
        .post(
            &format!("/v1/invoices/{}/pay", s(&fresh["latest_invoice"], "id")),
            &[("payment_method", "pm_card_visa")],
        )
        .await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(
        h.get(&format!("/v1/subscriptions/{sid}")).await["status"],
        "active"
    );
}

#[tokio::test]
async fn cancel_at_period_end_then_resume_and_cancel() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    let sub = h.subscribe(&c.starter_monthly, "pm_card_visa").await;
    let sid = s(&sub, "id");
    let end = sub["items"]["data"][0]["current_period_end"]
        .as_i64()
        .unwrap();
    let before = h.event_count().await;
    let upd = h
        .post(
            &format!("/v1/subscriptions/{sid}"),
            &[("cancel_at_period_end", "true")],
        )
        .await;
    assert_eq!(upd["cancel_at_period_end"], true);
    assert_eq!(upd["cancel_at"], end);
    assert_eq!(upd["status"], "active");
    let events = h.events_after(before).await;
    assert_eq!(types(&events), ["customer.subscription.updated"]);
    assert_eq!(
        events[0]["data"]["previous_attributes"]["cancel_at_period_end"],
        false
    );
    let resumed = h
        .post(
            &format!("/v1/subscriptions/{sid}"),
            &[("cancel_at_period_end", "false")],
        )
        .await;
    assert_eq!(resumed["cancel_at"], Value::Null);
    h.post(
        &format!("/v1/subscriptions/{sid}"),
        &[("cancel_at_period_end", "true")],
    )
    .await;
    h.advance_to(end - 60).await;
    assert_eq!(
        h.get(&format!("/v1/subscriptions/{sid}")).await["status"],
        "active"
    );
    let before = h.event_count().await;
    h.advance_to(end + 60).await;
    let events = h.events_after(before).await;
    assert_eq!(types(&events), ["customer.subscription.deleted"]);
    let obj = &events[0]["data"]["object"];
    assert_eq!(obj["status"], "canceled");
    assert_eq!(obj["ended_at"], end);
    let invoices = h.get(&format!("/v1/invoices?subscription={sid}")).await;
    assert_eq!(
        invoices["data"].as_array().unwrap().len(),
        1,
        "no renewal after cancellation"
    );
    let list = h
        .get(&format!(
            "/v1/subscriptions?customer={}",
            s(&sub, "customer")
        ))
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    let list = h
        .get(&format!(
            "/v1/subscriptions?customer={}&status=all",
            s(&sub, "customer")
        ))
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    let other = h.subscribe(&c.starter_monthly, "pm_card_visa").await;
    let gone = h
        .delete(&format!("/v1/subscriptions/{}", s(&other, "id")), &[])
        .await;
    assert_eq!(gone["status"], "canceled");
}

#[tokio::test]
async fn schedule_downgrade_applies_at_renewal() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    let sub = h.subscribe(&c.professional_monthly, "pm_card_visa").await;
    let sid = s(&sub, "id");
    let (start, end) = (
        sub["items"]["data"][0]["current_period_start"]
            .as_i64()
            .unwrap(),
        sub["items"]["data"][0]["current_period_end"]
            .as_i64()
            .unwrap(),
    );
    let sched = h
        .post("/v1/subscription_schedules", &[("from_subscription", sid)])
        .await;
    let sched_id = s(&sched, "id");
    assert!(sched_id.starts_with("sub_sched_"));
    assert_eq!(sched["phases"][0]["end_date"], end);
    let (start_s, end_s) = (start.to_string(), end.to_string());
    let updated = h
        .post(
            &format!("/v1/subscription_schedules/{sched_id}"),
            &[
                ("phases[0][items][0][price]", &c.professional_monthly),
                ("phases[0][start_date]", &start_s),
                ("phases[0][end_date]", &end_s),
                ("phases[1][items][0][price]", &c.starter_monthly),
                ("phases[1][start_date]", &end_s),
                ("phases[1][iterations]", "1"),
                ("end_behavior", "release"),
                ("proration_behavior", "none"),
            ],
        )
        .await;
    assert_eq!(updated["phases"].as_array().unwrap().len(), 2);
    assert_eq!(
        h.get(&format!("/v1/subscriptions/{sid}")).await["schedule"],
        sched["id"]
    );
    let before = h.event_count().await;
    h.advance_to(end + 60).await;
    let events = h.events_after(before).await;
    let kinds = types(&events);
    let switch = kinds
        .iter()
        .position(|k| k == "customer.subscription.updated")
        .unwrap();
    let created = kinds.iter().position(|k| k == "invoice.created").unwrap();
    assert!(switch < created, "{kinds:?}");
    assert_eq!(
        events[switch]["data"]["object"]["items"]["data"][0]["price"]["id"],
        c.starter_monthly.as_str()
    );
    let renewed = h
        .get(&format!("/v1/subscriptions/{sid}?expand[]=latest_invoice"))
        .await;
    assert_eq!(
        renewed["items"]["data"][0]["price"]["lookup_key"],
        "starter_monthly"
    );
    assert_eq!(renewed["latest_invoice"]["total"], 1900);
    assert_eq!(
        renewed["latest_invoice"]["lines"]["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Withdrawing a scheduled change: release detaches the schedule.
    let other = h.subscribe(&c.professional_monthly, "pm_card_visa").await;
    let sched = h
        .post(
            "/v1/subscription_schedules",
            &[("from_subscription", s(&other, "id"))],
        )
        .await;
    let released = h
        .post(
            &format!("/v1/subscription_schedules/{}/release", s(&sched, "id")),
            &[],
        )
        .await;
    assert_eq!(released["status"], "released");
    assert_eq!(released["released_subscription"], other["id"]);
    assert_eq!(
        h.get(&format!("/v1/subscriptions/{}", s(&other, "id")))
            .await["schedule"],
        Value::Null
    );
}

#[tokio::test]
async fn deleting_a_customer_cancels_its_subscriptions() {
    let h = Harness::start().await;
    let c = h.catalog().await;
    let sub = h.subscribe(&c.starter_monthly, "pm_card_visa").await;
    let cus = s(&sub, "customer");
    let before = h.event_count().await;
    let deleted = h.delete(&format!("/v1/customers/{cus}"), &[]).await;
    assert_eq!(
        deleted,
        json!({"id": cus, "object": "customer", "deleted": true})
    );
    let events = h.events_after(before).await;
    assert_eq!(
        types(&events),
        ["customer.subscription.deleted", "customer.deleted"]
    );
    assert_eq!(events[1]["data"]["object"]["email"], "ada@example.com");
    assert_eq!(
        h.get(&format!("/v1/customers/{cus}")).await["deleted"],
        true
    );
    assert_eq!(
        h.get(&format!("/v1/subscriptions/{}", s(&sub, "id"))).await["status"],
        "canceled"
    );
}
