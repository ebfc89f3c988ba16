use lambda_http::Request;
use tierflow::http::{parse_json_body, reply, request_id, ApiError, Reply};
use tierflow::service::subscriptions::{DowngradeRequest, DowngradeView};
use tierflow::wiring::SubscriptionRoute;

pub(crate) async fn handle(deps: &SubscriptionRoute, req: Request) -> Reply {
    reply(downgrade(deps, &req).await)
}

async fn downgrade(deps: &SubscriptionRoute, req: &Request) -> Result<DowngradeView, ApiError> {
    let caller = deps.auth.caller(req).await?;
    let request = parse_json_body::<DowngradeRequest>(req)?;
    deps.service
        .schedule_downgrade(&caller, &request, &request_id(req))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::{Body, Response};
    use serde_json::{json, Value};

    use tierflow::ports::{BillingStore, ChangeKind, Commit, ProfileWrite};
    use tierflow_testkit::tier;
    use tierflow_testkit::{body, request, Harness, SAMPLE_USER};

    const SAMPLE: &str = include_str!("../../../events/subscription-downgrade.json");

    async fn downgrade(deps: &SubscriptionRoute, body: Option<Value>) -> Response<Body> {
        handle(deps, request(SAMPLE, body, None)).await.unwrap()
    }

    #[tokio::test]
    async fn a_stored_period_that_lags_stripe_is_corrected_by_stripes_schedule() {
        let h = Harness::start().await;
        let deps = h.route();
        let mut profile = h
            .subscribe(SAMPLE_USER, "professional", "monthly", "pm_card_visa")
            .await;
        let end = profile.current_period_end.unwrap();
        // The stored copy's period is not Stripe's: the schedule Stripe makes says so.
        let version = profile.version;
        profile.current_period_end = Some(end - 3600);
        h.store
            .commit(Commit {
                profile: Some(ProfileWrite {
                    profile,
                    expected_version: version,
                }),
                ..Default::default()
            })
            .await
            .unwrap();
        let resp = downgrade(&deps, None).await;
        assert_eq!(resp.status(), 200, "{}", body(&resp));
        assert_eq!(
            body(&resp)["effective_at"],
            tierflow::domain::time::rfc3339(end)
        );
        let pending = h.profile(SAMPLE_USER).await.pending_change.unwrap();
        assert_eq!(pending.effective_at, end);
        let schedule = h
            .stripe_get(&format!(
                "/v1/subscription_schedules/{}",
                pending.schedule_id.unwrap()
            ))
            .await;
        assert_eq!(schedule["phases"][0]["end_date"], end);
        assert_eq!(schedule["phases"][1]["start_date"], end);
    }

    #[tokio::test]
    async fn schedules_the_lower_plan_for_period_end() {
        let h = Harness::start().await;
        let deps = h.route();
        let before = h
            .subscribe(SAMPLE_USER, "professional", "monthly", "pm_card_visa")
            .await;
        let end = before.current_period_end.unwrap();
        let resp = downgrade(&deps, None).await;
        assert_eq!(resp.status(), 200, "{}", body(&resp));
        let b = body(&resp);
        assert_eq!(b["status"], "scheduled");
        assert_eq!(b["effective_at"], tierflow::domain::time::rfc3339(end));
        assert_eq!(b["new_price"], 1900);

        let profile = h.profile(SAMPLE_USER).await;
        assert_eq!(profile.tier, tier("professional"), "kept until period end");
        let pending = profile.pending_change.clone().unwrap();
        assert_eq!(
            (pending.target_tier, pending.effective_at),
            (tier("starter"), end)
        );
        let due = h.store.due_changes(end, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].kind, ChangeKind::DowngradeScheduled);
        assert!(h.store.due_changes(end - 1, 10).await.unwrap().is_empty());
        let schedule = h
            .stripe_get(&format!(
                "/v1/subscription_schedules/{}",
                pending.schedule_id.unwrap()
            ))
            .await;
        assert_eq!(schedule["phases"].as_array().unwrap().len(), 2);
        assert_eq!(schedule["phases"][0]["end_date"], end);
        assert!(h
            .jobs()
            .await
            .iter()
            .any(|j| j.email.as_deref() == Some("downgrade_scheduled")));

        // Asking again changes nothing.
        assert_eq!(downgrade(&deps, None).await.status(), 200);
        assert_eq!(h.store.due_changes(end, 10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn refuses_what_is_not_a_downgrade() {
        let h = Harness::start().await;
        let deps = h.route();
        let resp = downgrade(&deps, None).await;
        assert_eq!(resp.status(), 409, "no subscription");
        assert_eq!(body(&resp)["error"]["code"], "no_subscription");
        h.subscribe(SAMPLE_USER, "starter", "monthly", "pm_card_visa")
            .await;
        let cases = [
            (json!("[1,"), "invalid_body"),
            (json!({"target_tier": "platinum"}), "invalid_tier"),
            (json!({"target_tier": "enterprise"}), "not_a_downgrade"),
            (json!({"target_tier": "starter"}), "not_a_downgrade"),
            (json!({"target_tier": "free"}), "invalid_plan"),
        ];
        for (b, code) in cases {
            let resp = downgrade(&deps, Some(b.clone())).await;
            assert_eq!(resp.status(), 400, "{b}");
            assert_eq!(body(&resp)["error"]["code"], code, "{b}");
        }
        assert!(h.profile(SAMPLE_USER).await.pending_change.is_none());
    }
}
