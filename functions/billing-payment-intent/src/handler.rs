use lambda_http::Request;
use tierflow::http::{parse_json_body, reply, ApiError, Reply};
use tierflow::service::payments::payment_intent::{
    create_one_time_payment, PaymentIntentBody, PaymentIntentView,
};
use tierflow::service::payments::PaymentsConfig;
use tierflow::wiring::PaymentRoute;

/// What the route needs, built once at init.
pub(crate) type Deps = PaymentRoute<PaymentsConfig>;

pub(crate) async fn handle(deps: &Deps, req: Request) -> Reply {
    reply(payment_intent(deps, &req).await)
}

async fn payment_intent(deps: &Deps, req: &Request) -> Result<PaymentIntentView, ApiError> {
    let caller = deps.auth.caller(req).await?;
    let body = PaymentIntentBody::from_object(parse_json_body(req)?)?;
    create_one_time_payment(
        deps.store.as_ref(),
        deps.stripe.as_ref(),
        &deps.catalog,
        &deps.settings,
        &caller,
        &body,
        deps.clock.now(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use std::sync::Arc;
    use tierflow::domain::UserId;
    use tierflow::ports::{BillingStore, StripeApi};
    use tierflow::stripe::{IdempotencyScope, NewCustomer};
    use tierflow::time::FixedClock;
    use tierflow_testkit::{anonymous, as_user, body, request, unreachable_stripe, Harness};

    const SAMPLE: &str = include_str!("../../../events/billing-payment-intent.json");
    const SUB: &str = "8f14e45f-ceea-467f-a0e6-6f6b7a1c2d3e";
    const NOW: i64 = 1_795_391_165;

    fn deps(h: &Harness) -> Deps {
        Deps {
            clock: Arc::new(FixedClock::at(NOW)),
            ..h.payment_route(h.payments_config())
        }
    }

    /// The sample event with its body (and optionally its caller) replaced.
    fn intent_request(body: Option<Value>, sub: Option<&str>) -> Request {
        match sub {
            Some(sub) => request(&as_user(SAMPLE, sub), body, None),
            None => request(SAMPLE, body, None),
        }
    }

    async fn call(deps: &Deps, req: Request) -> (u16, Value) {
        let resp = handle(deps, req).await.unwrap();
        (resp.status().as_u16(), body(&resp))
    }

    fn user() -> UserId {
        UserId::parse(SUB).unwrap()
    }

    #[tokio::test]
    async fn a_first_payment_creates_and_links_the_customer_and_tags_the_intent() {
        let h = Harness::start().await;
        let deps = deps(&h);
        let (status, body) = call(&deps, intent_request(None, None)).await;
        assert_eq!(status, 200, "{body}");
        let pi_id = body["payment_intent_id"].as_str().unwrap();
        assert!(pi_id.starts_with("pi_"));
        assert!(body["client_secret"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{pi_id}_secret_")));
        assert_eq!(body["amount"], 2500);
        assert_eq!(body["currency"], "usd");
        assert_eq!(body["status"], "requires_payment_method");

        let profile = h.store.profile(&user()).await.unwrap().unwrap();
        let customer_id = profile.customer_id.unwrap();
        assert_eq!(
            h.store.user_for_customer(&customer_id).await.unwrap(),
            Some(user())
        );
        let customer = h.stripe.retrieve_customer(&customer_id).await.unwrap();
        assert_eq!(customer.metadata["user_id"], SUB);
        assert_eq!(customer.email.as_deref(), Some("ada@example.com"));
        let intent = h.stripe.retrieve_payment_intent(pi_id).await.unwrap();
        assert_eq!(intent.metadata["user_id"], SUB);
        assert_eq!(intent.customer_id(), Some(customer_id.as_str()));
        assert_eq!(intent.description.as_deref(), Some("100 extra credits"));
    }

    #[tokio::test]
    async fn a_retried_request_makes_one_intent() {
        let h = Harness::start().await;
        let deps = deps(&h);
        let (_, first) = call(&deps, intent_request(None, None)).await;
        let (status, again) = call(&deps, intent_request(None, None)).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(first["payment_intent_id"], again["payment_intent_id"]);
        assert_eq!(first["client_secret"], again["client_secret"]);

        // Without a client key, the same content within the window is the same payment too.
        let plain = json!({"amount": 900, "currency": "usd"});
        let (_, a) = call(&deps, intent_request(Some(plain.clone()), None)).await;
        let (_, b) = call(&deps, intent_request(Some(plain), None)).await;
        assert_eq!(a["payment_intent_id"], b["payment_intent_id"]);
        assert_ne!(a["payment_intent_id"], first["payment_intent_id"]);

        // A new key is a new payment, for the same customer.
        let other = json!({"amount": 2500, "currency": "usd", "idempotency_key": "second"});
        let (_, c) = call(&deps, intent_request(Some(other), None)).await;
        assert_ne!(c["payment_intent_id"], first["payment_intent_id"]);
        let customers: Vec<String> = [&first, &a, &c]
            .iter()
            .map(|v| {
                let id = v["payment_intent_id"].as_str().unwrap().to_owned();
                id
            })
            .collect();
        let mut owners = Vec::new();
        for id in customers {
            let pi = h.stripe.retrieve_payment_intent(&id).await.unwrap();
            owners.push(pi.customer_id().unwrap().to_owned());
        }
        owners.dedup();
        assert_eq!(owners.len(), 1, "{owners:?}");
    }

    #[tokio::test]
    async fn a_customer_stripe_already_has_for_the_user_is_reused() {
        let h = Harness::start().await;
        let deps = deps(&h);
        let existing = h
            .stripe
            .create_customer(
                &NewCustomer::for_user(SUB, Some("old@example.com")),
                &IdempotencyScope::new(["seeded"]),
            )
            .await
            .unwrap();
        let (status, body) = call(&deps, intent_request(None, None)).await;
        assert_eq!(status, 200, "{body}");
        let profile = h.store.profile(&user()).await.unwrap().unwrap();
        assert_eq!(profile.customer_id.as_deref(), Some(existing.id.as_str()));
    }

    #[tokio::test]
    async fn bad_amounts_are_400_and_reach_no_one() {
        let h = Harness::start().await;
        let deps = deps(&h);
        for amount in [
            json!(0),
            json!(-500),
            json!(49),
            json!(1_000_001),
            json!(99_999_999_999_i64),
            json!(10.5),
            json!("2500"),
            json!(null),
        ] {
            let (status, body) = call(
                &deps,
                intent_request(Some(json!({"amount": amount, "currency": "usd"})), None),
            )
            .await;
            assert_eq!(status, 400, "{amount}: {body}");
            assert_eq!(body["error"]["code"], "invalid_amount", "{amount}");
        }
        assert_eq!(h.store.profile(&user()).await.unwrap(), None);
        assert_eq!(h.stripe.find_customer_by_user_id(SUB).await.unwrap(), None);
    }

    #[tokio::test]
    async fn bad_currencies_and_bodies_are_400() {
        let h = Harness::start().await;
        let deps = deps(&h);
        for (body, code) in [
            (
                json!({"amount": 500, "currency": "eur"}),
                "invalid_currency",
            ),
            (
                json!({"amount": 500, "currency": "us dollars"}),
                "invalid_currency",
            ),
            (json!({"amount": 500}), "invalid_currency"),
            (
                json!({"amount": 500, "currency": "usd", "amonut": 1}),
                "invalid_body",
            ),
            (json!("{\"amount\": 500,"), "invalid_body"),
            (json!([500, "usd"]), "invalid_body"),
        ] {
            let (status, resp) = call(&deps, intent_request(Some(body.clone()), None)).await;
            assert_eq!(status, 400, "{body}: {resp}");
            assert_eq!(resp["error"]["code"], code, "{body}");
        }
        assert_eq!(h.stripe.find_customer_by_user_id(SUB).await.unwrap(), None);
    }

    #[tokio::test]
    async fn attempts_beyond_the_hourly_limit_are_429() {
        let h = Harness::start().await;
        let mut deps = deps(&h);
        deps.settings.intents_per_hour = 2;
        for n in 0..2 {
            let body = json!({"amount": 500 + n, "currency": "usd"});
            assert_eq!(call(&deps, intent_request(Some(body), None)).await.0, 200);
        }
        let resp = handle(
            &deps,
            intent_request(Some(json!({"amount": 700, "currency": "usd"})), None),
        )
        .await
        .unwrap();
        assert_eq!(resp.status(), 429);
        let retry_after: i64 = resp.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=3600).contains(&retry_after), "{retry_after}");
        let body: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
        assert_eq!(body["error"]["code"], "rate_limited");
        // Another user has their own allowance.
        let (status, _) = call(&deps, intent_request(None, Some("someone-else"))).await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn without_a_caller_it_is_401() {
        let h = Harness::start().await;
        let deps = deps(&h);
        let req = anonymous(SAMPLE);
        let (status, body) = call(&deps, req).await;
        assert_eq!(status, 401, "{body}");
    }

    #[tokio::test]
    async fn outages_are_503_not_crashes() {
        let h = Harness::start().await;
        let deps = deps(&h);
        h.store.set_unavailable(true);
        assert_eq!(call(&deps, intent_request(None, None)).await.0, 503);
        h.store.set_unavailable(false);

        // Stripe unreachable: a closed port.
        let mut deps = deps;
        deps.stripe = Arc::new(unreachable_stripe());
        let (status, body) = call(&deps, intent_request(None, None)).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"]["code"], "temporarily_unavailable");
    }
}
