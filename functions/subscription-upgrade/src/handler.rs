use lambda_http::Request;
use tierflow::http::{parse_json_body, reply_with, request_id, ApiError, Reply};
use tierflow::service::subscriptions::{UpgradeOutcome, UpgradeRequest};
use tierflow::wiring::SubscriptionRoute;

/// 200 upgraded; 202 with `requires_action` (3-D Secure) or `checkout_required` (no
/// subscription yet); 402 declined, the plan unchanged; 400 not an upgrade.
pub(crate) async fn handle(deps: &SubscriptionRoute, req: Request) -> Reply {
    reply_with(upgrade(deps, &req).await, UpgradeOutcome::status_code)
}

async fn upgrade(deps: &SubscriptionRoute, req: &Request) -> Result<UpgradeOutcome, ApiError> {
    let caller = deps.auth.caller(req).await?;
    let request = parse_json_body::<UpgradeRequest>(req)?;
    deps.service
        .upgrade(&caller, &request, &request_id(req))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::{Body, Response};
    use serde_json::{json, Value};
    use tierflow::domain::proration::upgrade_amount;

    use tierflow::ports::{BillingStore, Commit, ProfileWrite};
    use tierflow::service::subscriptions::PreviewQuery;
    use tierflow_testkit::tier;
    use tierflow_testkit::{as_user, body, caller, request, unique, Harness, SAMPLE_USER};

    const SAMPLE: &str = include_str!("../../../events/subscription-upgrade.json");

    async fn upgrade(deps: &SubscriptionRoute, user: &str, body: Value) -> Response<Body> {
        handle(deps, request(&as_user(SAMPLE, user), Some(body), None))
            .await
            .unwrap()
    }

    /// Proration invoices (`subscription_update`) Stripe created for a customer.
    async fn update_invoices(h: &Harness, customer: &str) -> Vec<Value> {
        let list = h
            .emulator_call(
                "GET",
                "/v1/invoices",
                &[("customer", customer), ("limit", "100")],
            )
            .await;
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["billing_reason"] == "subscription_update")
            .cloned()
            .collect()
    }

    #[tokio::test]
    async fn the_charge_equals_the_preview_at_random_dates() {
        let h = Harness::start().await;
        let deps = h.route();
        // Offsets into a 30-day month, spread out (a fixed list keeps failures reproducible).
        for (n, offset) in [3_607_i64, 431_999, 1_000_003, 1_728_017, 2_419_111]
            .into_iter()
            .enumerate()
        {
            let user = format!("prorate-{n}");
            let profile = h
                .subscribe(&user, "starter", "monthly", "pm_card_visa")
                .await;
            let (start, end) = (
                profile.current_period_start.unwrap(),
                profile.current_period_end.unwrap(),
            );
            let offset = offset.min(end - start - 120);
            h.advance(start + offset - h.stripe_now().await).await;
            let preview = h
                .service()
                .preview_change(
                    &caller(&user),
                    &PreviewQuery {
                        target_tier: Some("professional".into()),
                        billing_cycle: None,
                        promotion_code: None,
                    },
                )
                .await
                .unwrap();
            assert!(preview.is_upgrade);
            let when = preview.proration_date.unwrap();
            assert_eq!(
                preview.amount_due,
                upgrade_amount(1900, 4900, when, start, end),
                "local arithmetic agrees with Stripe's preview"
            );
            let resp = upgrade(
                &deps,
                &user,
                json!({"target_tier": "professional", "proration_date": when}),
            )
            .await;
            assert_eq!(resp.status(), 200, "{}", body(&resp));
            let b = body(&resp);
            assert_eq!(b["status"], "upgraded");
            assert_eq!(b["amount_charged"], preview.amount_due, "offset {offset}");
            let after = h.profile(&user).await;
            assert_eq!(after.tier, tier("professional"));
            let changes = h.store.changes(&after.user_id, 10).await.unwrap();
            assert_eq!(
                changes[0].amount.as_ref().map(|m| m.amount),
                Some(preview.amount_due)
            );
        }
        let emails: Vec<_> = h
            .jobs()
            .await
            .into_iter()
            .filter(|j| j.email.as_deref() == Some("subscription_confirmed"))
            .collect();
        assert!(emails
            .iter()
            .any(|j| j.email_fields.contains_key("amount_charged")));
    }

    #[tokio::test]
    async fn a_double_click_charges_once() {
        let h = Harness::start().await;
        let deps = h.route();
        let profile = h
            .subscribe(SAMPLE_USER, "starter", "monthly", "pm_card_visa")
            .await;
        h.advance(86_400).await;
        let first = upgrade(&deps, SAMPLE_USER, json!({"target_tier": "enterprise"})).await;
        assert_eq!(first.status(), 200, "{}", body(&first));
        let second = upgrade(&deps, SAMPLE_USER, json!({"target_tier": "enterprise"})).await;
        assert_eq!(
            second.status(),
            400,
            "already on the plan: {}",
            body(&second)
        );
        let customer = profile.customer_id.unwrap();
        assert_eq!(update_invoices(&h, &customer).await.len(), 1);
    }

    #[tokio::test]
    async fn a_stale_stored_item_is_refused_by_stripe_and_its_copy_decides() {
        let h = Harness::start().await;
        let deps = h.route();
        let mut profile = h
            .subscribe(SAMPLE_USER, "starter", "monthly", "pm_card_visa")
            .await;
        h.advance(86_400).await;
        let item = profile
            .subscription_item_id
            .clone()
            .expect("the webhook stored the item");
        // The stored copy names an item the subscription does not have (any lag behind Stripe).
        let version = profile.version;
        profile.subscription_item_id = Some("si_replaced0000000000".into());
        h.store
            .commit(Commit {
                profile: Some(ProfileWrite {
                    profile: profile.clone(),
                    expected_version: version,
                }),
                ..Default::default()
            })
            .await
            .unwrap();
        let resp = upgrade(&deps, SAMPLE_USER, json!({"target_tier": "professional"})).await;
        assert_eq!(resp.status(), 200, "{}", body(&resp));
        let after = h.profile(SAMPLE_USER).await;
        assert_eq!(after.tier, tier("professional"));
        assert_eq!(
            after.subscription_item_id,
            Some(item),
            "Stripe's item, again"
        );
        let customer = profile.customer_id.unwrap();
        assert_eq!(
            update_invoices(&h, &customer).await.len(),
            1,
            "charged once"
        );
    }

    #[tokio::test]
    async fn without_a_subscription_it_answers_with_checkout() {
        let h = Harness::start().await;
        let resp = upgrade(
            &h.route(),
            SAMPLE_USER,
            json!({"target_tier": "professional"}),
        )
        .await;
        assert_eq!(resp.status(), 202);
        let b = body(&resp);
        assert_eq!(b["status"], "checkout_required");
        assert!(b["session_id"].as_str().unwrap().starts_with("cs_"));
    }

    #[tokio::test]
    async fn a_decline_is_402_with_stripes_reason_and_the_tier_unchanged() {
        let (h, profile) = Harness::subscribed("starter", "monthly").await;
        // The card on file starts declining (attaches fine, later charges fail).
        let customer = profile.customer_id.clone().unwrap();
        let card = h
            .emulator_call(
                "POST",
                "/v1/payment_methods/pm_card_chargeCustomerFail/attach",
                &[("customer", &customer)],
            )
            .await;
        let card = card["id"].as_str().unwrap().to_owned();
        let sub_path = format!(
            "/v1/subscriptions/{}",
            profile.subscription_id.clone().unwrap()
        );
        h.emulator_call("POST", &sub_path, &[("default_payment_method", &card)])
            .await;
        let resp = upgrade(
            &h.route(),
            SAMPLE_USER,
            json!({"target_tier": "professional"}),
        )
        .await;
        assert_eq!(resp.status(), 402, "{}", body(&resp));
        let b = body(&resp);
        assert_eq!(b["error"]["code"], "card_declined");
        assert!(
            b["error"]["message"].as_str().unwrap().contains("decline"),
            "{b}"
        );
        let profile = h.profile(SAMPLE_USER).await;
        assert_eq!(profile.tier, tier("starter"));
        let sub = h
            .stripe_get(&format!(
                "/v1/subscriptions/{}",
                profile.subscription_id.unwrap()
            ))
            .await;
        assert_eq!(
            sub["items"]["data"][0]["price"]["lookup_key"],
            "tierflow_starter_monthly"
        );
    }

    #[tokio::test]
    async fn three_d_secure_answers_what_the_frontend_needs() {
        let h = Harness::start().await;
        h.subscribe(
            SAMPLE_USER,
            "starter",
            "monthly",
            "pm_card_authenticationRequired",
        )
        .await;
        let resp = upgrade(
            &h.route(),
            SAMPLE_USER,
            json!({"target_tier": "professional"}),
        )
        .await;
        assert_eq!(resp.status(), 202, "{}", body(&resp));
        let b = body(&resp);
        assert_eq!(b["status"], "requires_action");
        assert!(b["payment_intent_id"].as_str().unwrap().starts_with("pi_"));
        assert!(b["client_secret"].as_str().unwrap().contains("_secret_"));
        assert_eq!(h.profile(SAMPLE_USER).await.tier, tier("starter"));
    }

    #[tokio::test]
    async fn refuses_what_is_not_an_upgrade() {
        let h = Harness::start().await;
        let deps = h.route();
        h.subscribe(SAMPLE_USER, "professional", "monthly", "pm_card_visa")
            .await;
        let now = h.stripe_now().await;
        let cases = [
            (json!("{"), "invalid_body"),
            (json!({"target_tier": "gold"}), "invalid_tier"),
            (json!({"target_tier": "starter"}), "not_an_upgrade"),
            (json!({"target_tier": "professional"}), "not_an_upgrade"),
            (json!({"target_tier": "free"}), "invalid_plan"),
            (
                json!({"target_tier": "enterprise", "proration_date": now - 86_400}),
                "invalid_proration_date",
            ),
        ];
        for (b, code) in cases {
            let resp = upgrade(&deps, SAMPLE_USER, b.clone()).await;
            assert_eq!(resp.status(), 400, "{b}");
            assert_eq!(body(&resp)["error"]["code"], code, "{b}");
        }
        assert_eq!(h.profile(SAMPLE_USER).await.tier, tier("professional"));
        let _ = unique("x");
    }
}
