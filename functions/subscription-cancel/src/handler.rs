use lambda_http::Request;
use tierflow::http::{parse_json_body, reply, request_id, ApiError, Reply};
use tierflow::service::current_subscription::SubscriptionView;
use tierflow::service::subscriptions::CancelRequest;
use tierflow::wiring::SubscriptionRoute;

pub(crate) async fn handle(deps: &SubscriptionRoute, req: Request) -> Reply {
    reply(cancel(deps, &req).await)
}

async fn cancel(deps: &SubscriptionRoute, req: &Request) -> Result<SubscriptionView, ApiError> {
    let caller = deps.auth.caller(req).await?;
    let request = parse_json_body::<CancelRequest>(req)?;
    deps.service
        .cancel(&caller, &request, &request_id(req))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::{Body, Response};
    use serde_json::{json, Value};

    use tierflow::ports::BillingStore;
    use tierflow_testkit::tier;

    use tierflow_testkit::{body, request, Harness, SAMPLE_USER};

    const SAMPLE: &str = include_str!("../../../events/subscription-cancel.json");

    async fn cancel(deps: &SubscriptionRoute, body: Option<Value>) -> Response<Body> {
        handle(deps, request(SAMPLE, body, None)).await.unwrap()
    }

    #[tokio::test]
    async fn at_period_end_keeps_the_tier_and_withdraws_a_downgrade() {
        let (h, profile) = Harness::subscribed("professional", "monthly").await;
        h.schedule_downgrade(SAMPLE_USER, "starter", None).await;
        let resp = cancel(&h.route(), Some(json!({}))).await;
        assert_eq!(resp.status(), 200, "{}", body(&resp));
        let b = body(&resp);
        assert_eq!(b["cancel_at_period_end"], true);
        assert_eq!(b["tier"], "professional");
        assert!(b["pending_change"].is_null());
        let end = profile.current_period_end.unwrap();
        assert!(h.store.due_changes(end, 10).await.unwrap().is_empty());
        assert!(h
            .jobs()
            .await
            .iter()
            .any(|j| j.email.as_deref() == Some("cancellation_scheduled")));
        let sub = h
            .stripe_get(&format!(
                "/v1/subscriptions/{}",
                profile.subscription_id.unwrap()
            ))
            .await;
        assert_eq!(sub["cancel_at_period_end"], true);
    }

    #[tokio::test]
    async fn now_ends_it_and_returns_the_user_to_free() {
        let h = Harness::start().await;
        h.subscribe(SAMPLE_USER, "starter", "monthly", "pm_card_visa")
            .await;
        let resp = cancel(&h.route(), Some(json!({"at_period_end": false}))).await;
        assert_eq!(resp.status(), 200, "{}", body(&resp));
        assert_eq!(body(&resp)["tier"], "free");
        assert_eq!(h.profile(SAMPLE_USER).await.tier, tier("free"));
    }

    #[tokio::test]
    async fn refuses_bad_bodies_and_users_without_a_subscription() {
        let h = Harness::start().await;
        let resp = cancel(&h.route(), None).await;
        assert_eq!(resp.status(), 409);
        assert_eq!(body(&resp)["error"]["code"], "no_subscription");
        let resp = cancel(&h.route(), Some(json!({"at_period_end": "soon"}))).await;
        assert_eq!(resp.status(), 400);
    }
}
