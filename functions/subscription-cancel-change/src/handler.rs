use lambda_http::{http::StatusCode, Body, Error, Request, Response};
use tierflow::auth::Authenticator;
use tierflow::http::request_id;
use tierflow::http::respond;

use tierflow::http::ApiError;
use tierflow::service::current_subscription::SubscriptionView;
use tierflow::service::subscriptions::SubscriptionService;

/// What the handler needs, built once at init.
pub struct Deps {
    pub service: SubscriptionService,
    pub auth: Authenticator,
}

impl Deps {
    pub async fn from_env() -> Result<Self, Error> {
        Ok(Self {
            auth: Authenticator::from_env()?,
            service: SubscriptionService::from_env(None).await?,
        })
    }
}

pub async fn handle(deps: &Deps, req: Request) -> Result<Response<Body>, Error> {
    Ok(respond(StatusCode::OK, withdraw(deps, &req).await))
}

async fn withdraw(deps: &Deps, req: &Request) -> Result<SubscriptionView, ApiError> {
    let caller = deps.auth.caller(req).await?;
    deps.service
        .withdraw_pending_change(&caller, &request_id(req))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tierflow::ports::BillingStore;
    use tierflow::service::subscriptions::DowngradeRequest;
    use tierflow_testkit::{body, caller, request, unique, Harness, SAMPLE_USER};

    const SAMPLE: &str = include_str!("../../../events/subscription-cancel-change.json");

    fn deps(h: &Harness) -> Deps {
        Deps {
            service: h.service(),
            auth: Authenticator::ApiGateway,
        }
    }

    #[tokio::test]
    async fn withdraws_the_downgrade_and_releases_the_schedule() {
        let h = Harness::start().await;
        let profile = h
            .subscribe(SAMPLE_USER, "enterprise", "yearly", "pm_card_visa")
            .await;
        h.service()
            .schedule_downgrade(
                &caller(SAMPLE_USER),
                &DowngradeRequest {
                    target_tier: "starter".into(),
                    billing_cycle: Some("monthly".into()),
                },
                &unique("req"),
            )
            .await
            .unwrap();
        let schedule = h
            .profile(SAMPLE_USER)
            .await
            .pending_change
            .unwrap()
            .schedule_id
            .unwrap();
        let resp = handle(&deps(&h), request(SAMPLE, None, None))
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

        let again = handle(&deps(&h), request(SAMPLE, None, None))
            .await
            .unwrap();
        assert_eq!(again.status(), 404);
        assert_eq!(body(&again)["error"]["code"], "no_pending_change");
    }

    #[tokio::test]
    async fn changes_beyond_the_hourly_limit_are_429_with_retry_after() {
        let h = Harness::start().await;
        let d = deps(&h);
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
