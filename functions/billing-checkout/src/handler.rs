use lambda_http::Request;
use tierflow::http::{parse_json_body, reply, request_id, ApiError, Reply};
use tierflow::service::subscriptions::{CheckoutRequest, CheckoutView};
use tierflow::wiring::SubscriptionRoute;

pub(crate) async fn handle(deps: &SubscriptionRoute, req: Request) -> Reply {
    reply(checkout(deps, &req).await)
}

async fn checkout(deps: &SubscriptionRoute, req: &Request) -> Result<CheckoutView, ApiError> {
    let caller = deps.auth.caller(req).await?;
    let request = parse_json_body::<CheckoutRequest>(req)?;
    deps.service
        .checkout(&caller, &request, &request_id(req))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::{Body, Response};
    use serde_json::{json, Value};
    use tierflow::ports::BillingStore;
    use tierflow::ports::Clock;
    use tierflow::service::subscriptions::CHECKOUT_REPLAY_WINDOW_SECONDS;
    use tierflow_testkit::tier;
    use tierflow_testkit::{anonymous, body, request, Harness, SAMPLE_USER};

    const SAMPLE: &str = include_str!("../../../events/billing-checkout.json");

    async fn post(deps: &SubscriptionRoute, body: Option<Value>) -> Response<Body> {
        handle(deps, request(SAMPLE, body, None)).await.unwrap()
    }

    #[tokio::test]
    async fn starts_checkout_with_one_customer_and_configured_urls() {
        let h = Harness::start().await;
        let deps = h.route();
        let resp = post(&deps, None).await;
        assert_eq!(resp.status(), 200, "{}", body(&resp));
        let b = body(&resp);
        let session_id = b["session_id"].as_str().unwrap();
        assert!(session_id.starts_with("cs_"));
        assert!(b["checkout_url"].as_str().unwrap().starts_with("http"));

        let profile = h.profile(SAMPLE_USER).await;
        let customer = profile.customer_id.clone().expect("customer linked");
        let session = h
            .stripe_get(&format!("/v1/checkout/sessions/{session_id}"))
            .await;
        assert_eq!(session["client_reference_id"], SAMPLE_USER);
        assert_eq!(session["customer"], customer.as_str());
        assert_eq!(session["mode"], "subscription");
        assert!(session["success_url"]
            .as_str()
            .unwrap()
            .starts_with("https://app.example/billing/done"));

        // A double click: the same session, still one customer.
        let again = body(&post(&deps, None).await);
        assert_eq!(again["session_id"], session_id);
        let customers = h
            .emulator_call("GET", "/v1/customers", &[("limit", "100")])
            .await;
        assert_eq!(customers["data"].as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn refuses_bad_bodies_plans_and_redirects() {
        let h = Harness::start().await;
        let deps = h.route();
        let cases = [
            (json!("{not json"), 400, "invalid_body"),
            (json!({"tier": "gold"}), 400, "invalid_tier"),
            (
                json!({"tier": "starter", "billing_cycle": "weekly"}),
                400,
                "invalid_billing_cycle",
            ),
            (json!({"tier": "free"}), 400, "invalid_plan"),
            (
                json!({"tier": "trial", "billing_cycle": "yearly"}),
                400,
                "invalid_plan",
            ),
            (
                json!({"tier": "starter", "success_url": "https://evil.example"}),
                400,
                "invalid_body",
            ),
        ];
        for (b, status, code) in cases {
            let resp = post(&deps, Some(b.clone())).await;
            assert_eq!(resp.status(), status, "{b}");
            assert_eq!(body(&resp)["error"]["code"], code, "{b}");
        }
        assert!(h
            .store
            .changes(&tierflow::domain::UserId::parse(SAMPLE_USER).unwrap(), 10)
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn a_live_subscription_is_409() {
        let h = Harness::start().await;
        h.subscribe(SAMPLE_USER, "starter", "monthly", "pm_card_visa")
            .await;
        let resp = post(&h.route(), Some(json!({"tier": "professional"}))).await;
        assert_eq!(resp.status(), 409);
        assert_eq!(body(&resp)["error"]["code"], "subscription_exists");
    }

    #[tokio::test]
    async fn the_sixth_checkout_in_a_minute_is_429_with_retry_after() {
        let h = Harness::start().await;
        let deps = h.route();
        let now = h.clock.now();
        h.clock.set(now - now.rem_euclid(60) + 1);
        for _ in 0..5 {
            assert_eq!(post(&deps, None).await.status(), 200);
        }
        let resp = post(&deps, None).await;
        assert_eq!(resp.status(), 429);
        assert_eq!(body(&resp)["error"]["code"], "rate_limited");
        assert_eq!(resp.headers()["retry-after"], "59");
        h.clock.advance(60);
        assert_eq!(post(&deps, None).await.status(), 200, "a new window");
    }

    #[tokio::test]
    async fn a_price_replaced_by_catalog_sync_while_the_container_holds_its_id() {
        use tierflow::adapters::stripe::catalog_sync::{apply, plan};
        use tierflow::domain::BillingCycle;
        use tierflow::ports::StripeApi;
        let h = Harness::start().await;
        let deps = h.route(); // one container: its price ids are resolved once
        let old_amount = h
            .catalog
            .price(&tier("starter"), BillingCycle::Monthly)
            .unwrap()
            .unit_amount;
        let first = body(&post(&deps, None).await);
        assert_eq!(
            first["session_id"].as_str().map(|s| s.starts_with("cs_")),
            Some(true)
        );

        // catalog-sync moves the lookup key to a new price and archives the old one.
        let mut catalog = h.catalog.clone();
        let tier = catalog
            .tiers
            .iter_mut()
            .find(|t| t.tier == tier("starter"))
            .unwrap();
        let spec = tier
            .prices
            .iter_mut()
            .find(|p| p.cycle == BillingCycle::Monthly)
            .unwrap();
        spec.unit_amount = old_amount + 100;
        let products = h.stripe.list_products().await.unwrap();
        let prices = h
            .stripe
            .list_prices_by_lookup_keys(&catalog.lookup_keys(), false)
            .await
            .unwrap();
        apply(&h.stripe, &plan(&catalog, &products, &prices), |_| {})
            .await
            .unwrap();

        // Past the double-click window, so the click is a new session, not a replay.
        h.clock.advance(CHECKOUT_REPLAY_WINDOW_SECONDS + 1);
        let resp = post(&deps, None).await;
        assert_eq!(resp.status(), 200, "{}", body(&resp));
        let session_id = body(&resp)["session_id"].as_str().unwrap().to_owned();
        assert_ne!(first["session_id"], session_id.as_str());
        let session = h
            .stripe_get(&format!("/v1/checkout/sessions/{session_id}"))
            .await;
        assert_eq!(
            session["amount_total"],
            old_amount + 100,
            "the new price, not the archived one"
        );
    }

    #[tokio::test]
    async fn without_a_verified_token_it_is_401() {
        let h = Harness::start().await;
        let resp = handle(&h.route(), anonymous(SAMPLE)).await.unwrap();
        assert_eq!(resp.status(), 401);
    }

    #[tokio::test]
    async fn a_store_outage_is_503() {
        let h = Harness::start().await;
        h.store.set_unavailable(true);
        assert_eq!(post(&h.route(), None).await.status(), 503);
    }
}
