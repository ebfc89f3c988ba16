use lambda_http::Request;
use tierflow::http::{parse_json_body, reply, request_id, ApiError, Reply};
use tierflow::service::current_subscription::SubscriptionView;
use tierflow::service::subscriptions::TrialRequest;
use tierflow::wiring::SubscriptionRoute;

pub(crate) async fn handle(deps: &SubscriptionRoute, req: Request) -> Reply {
    reply(trial(deps, &req).await)
}

async fn trial(deps: &SubscriptionRoute, req: &Request) -> Result<SubscriptionView, ApiError> {
    let caller = deps.auth.caller(req).await?;
    let request = parse_json_body::<TrialRequest>(req)?;
    deps.service
        .start_trial(&caller, &request, &request_id(req))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tierflow::domain::Catalog;
    use tierflow_testkit::{anonymous, body, request, Harness};

    const SAMPLE: &str = include_str!("../../../events/subscription-trial.json");

    /// The built-in catalog with a 14-day card-less trial on Professional.
    fn catalog_with_trial() -> Catalog {
        let mut raw: serde_json::Value =
            serde_json::from_str(tierflow::domain::catalog::BUILT_IN_CATALOG).unwrap();
        for tier in raw["tiers"].as_array_mut().unwrap() {
            if tier["tier"] == "professional" {
                tier["trial"] = json!({"days": 14, "end_behavior": "cancel"});
            }
        }
        Catalog::parse(&raw.to_string()).unwrap()
    }

    #[tokio::test]
    async fn starts_a_trial_once() {
        let h = Harness::with_catalog(catalog_with_trial()).await;
        let resp = handle(&h.route(), request(SAMPLE, None, None))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", body(&resp));
        let view = body(&resp);
        assert_eq!(view["status"], "trialing");
        assert_eq!(view["tier"], "professional");
        assert!(view["trial_end"].is_string(), "{view}");
        assert_eq!(view["has_payment_method"], false);
        let again = handle(&h.route(), request(SAMPLE, None, None))
            .await
            .unwrap();
        assert_eq!(again.status(), 409, "{}", body(&again));
        assert_eq!(body(&again)["error"]["code"], "subscription_exists");
    }

    #[tokio::test]
    async fn bad_input_is_a_400_that_says_what_was_wrong() {
        let h = Harness::with_catalog(catalog_with_trial()).await;
        for (sent, code) in [
            (json!({"tier": "starter"}), "no_trial"),
            (json!({"tier": "platinum"}), "invalid_tier"),
            (json!({"tier": "free"}), "invalid_plan"),
            (json!({"tier": "professional", "days": 90}), "invalid_body"),
        ] {
            let resp = handle(&h.route(), request(SAMPLE, Some(sent.clone()), None))
                .await
                .unwrap();
            assert_eq!(resp.status(), 400, "{sent}: {}", body(&resp));
            assert_eq!(body(&resp)["error"]["code"], code, "{sent}");
        }
        assert!(h.stripe_get("/v1/subscriptions").await["data"]
            .as_array()
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn an_anonymous_caller_is_401() {
        let h = Harness::with_catalog(catalog_with_trial()).await;
        let resp = handle(&h.route(), anonymous(SAMPLE)).await.unwrap();
        assert_eq!(resp.status(), 401);
    }
}
