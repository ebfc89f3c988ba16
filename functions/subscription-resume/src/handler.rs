use lambda_http::Request;
use tierflow::http::{reply, request_id, ApiError, Reply};

use tierflow::service::current_subscription::SubscriptionView;
use tierflow::wiring::SubscriptionRoute;

pub(crate) async fn handle(deps: &SubscriptionRoute, req: Request) -> Reply {
    reply(resume(deps, &req).await)
}

async fn resume(deps: &SubscriptionRoute, req: &Request) -> Result<SubscriptionView, ApiError> {
    let caller = deps.auth.caller(req).await?;
    deps.service.resume(&caller, &request_id(req)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tierflow::service::subscriptions::CancelRequest;
    use tierflow_testkit::{body, caller, request, unique, Harness, SAMPLE_USER};

    const SAMPLE: &str = include_str!("../../../events/subscription-resume.json");

    async fn cancel_at_period_end(h: &Harness) {
        h.service()
            .cancel(
                &caller(SAMPLE_USER),
                &CancelRequest::default(),
                &unique("req"),
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn resumes_a_pending_cancellation() {
        let h = Harness::start().await;
        h.subscribe(SAMPLE_USER, "starter", "monthly", "pm_card_visa")
            .await;
        cancel_at_period_end(&h).await;
        let resp = handle(&h.route(), request(SAMPLE, None, None))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", body(&resp));
        assert_eq!(body(&resp)["cancel_at_period_end"], false);
        assert!(h
            .jobs()
            .await
            .iter()
            .any(|j| j.email.as_deref() == Some("resumed")));
        let again = handle(&h.route(), request(SAMPLE, None, None))
            .await
            .unwrap();
        assert_eq!(again.status(), 409);
        assert_eq!(body(&again)["error"]["code"], "not_canceling");
    }

    #[tokio::test]
    async fn after_the_period_ended_it_is_409() {
        let (h, profile) = Harness::subscribed("starter", "monthly").await;
        cancel_at_period_end(&h).await;
        h.advance(profile.current_period_end.unwrap() - h.stripe_now().await + 10)
            .await;
        let resp = handle(&h.route(), request(SAMPLE, None, None))
            .await
            .unwrap();
        assert_eq!(resp.status(), 409);
        assert_eq!(body(&resp)["error"]["code"], "period_ended");
    }

    #[tokio::test]
    async fn without_a_subscription_it_is_409() {
        let h = Harness::start().await;
        let resp = handle(&h.route(), request(SAMPLE, None, None))
            .await
            .unwrap();
        assert_eq!(resp.status(), 409);
    }
}
