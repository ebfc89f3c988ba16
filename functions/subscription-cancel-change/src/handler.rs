use lambda_http::Request;
use tierflow::http::{reply, request_id, ApiError, Reply};

use tierflow::service::current_subscription::SubscriptionView;
use tierflow::wiring::SubscriptionRoute;

pub(crate) async fn handle(deps: &SubscriptionRoute, req: Request) -> Reply {
    reply(withdraw(deps, &req).await)
}

async fn withdraw(deps: &SubscriptionRoute, req: &Request) -> Result<SubscriptionView, ApiError> {
    let caller = deps.auth.caller(req).await?;
    deps.service
        .withdraw_pending_change(&caller, &request_id(req))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tierflow::ports::BillingStore;

    use tierflow_testkit::{body, caller, request, unique, Harness, SAMPLE_USER};

    const SAMPLE: &str = include_str!("../../../events/subscription-cancel-change.json");

    #[tokio::test]
    async fn withdraws_the_downgrade_and_releases_the_schedule() {
        let (h, profile) = Harness::subscribed("enterprise", "yearly").await;
        h.schedule_downgrade(SAMPLE_USER, "starter", Some("monthly"))
            .await;
        let schedule = h.pending_schedule(SAMPLE_USER).await;
        let resp = handle(&h.route(), request(SAMPLE, None, None))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", body(&resp));
        assert!(body(&resp)["pending_change"].is_null());
        let end = profile.current_period_end.unwrap();
        assert!(h.store.due_changes(end + 1, 10).await.unwrap().is_empty());
        let schedule = h
            .stripe_get(&format!("/v1/subscription_schedules/{schedule}"))
            .await;
        assert_eq!(schedule["status"], "released");
        let sub = h
            .stripe_get(&format!(
                "/v1/subscriptions/{}",
                profile.subscription_id.unwrap()
            ))
            .await;
        assert!(sub["schedule"].is_null());

        let again = handle(&h.route(), request(SAMPLE, None, None))
            .await
            .unwrap();
        assert_eq!(again.status(), 404);
        assert_eq!(body(&again)["error"]["code"], "no_pending_change");
    }

    #[tokio::test]
    async fn changes_beyond_the_hourly_limit_are_429_with_retry_after() {
        let h = Harness::start().await;
        let d = h.route();
        let limit = d.service.change_limit_per_hour;
        for _ in 0..limit {
            let resp = handle(&d, request(SAMPLE, None, None)).await.unwrap();
            assert_eq!(resp.status(), 404, "{}", body(&resp));
        }
        let resp = handle(&d, request(SAMPLE, None, None)).await.unwrap();
        assert_eq!(resp.status(), 429, "{}", body(&resp));
        assert_eq!(body(&resp)["error"]["code"], "rate_limited");
        let retry: i64 = resp.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=3600).contains(&retry), "{retry}");
        // The other change routes share the limit.
        let resumed = d.service.resume(&caller(SAMPLE_USER), &unique("req")).await;
        assert_eq!(resumed.unwrap_err().status.as_u16(), 429);
    }
}
