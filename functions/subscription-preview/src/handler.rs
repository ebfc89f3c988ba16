use lambda_http::Request;
use tierflow::http::{query_param, reply, ApiError, Reply};
use tierflow::service::subscriptions::{PreviewQuery, PreviewView};
use tierflow::wiring::SubscriptionRoute;

pub(crate) async fn handle(deps: &SubscriptionRoute, req: Request) -> Reply {
    reply(preview(deps, &req).await)
}

async fn preview(deps: &SubscriptionRoute, req: &Request) -> Result<PreviewView, ApiError> {
    let caller = deps.auth.caller(req).await?;
    let query = PreviewQuery {
        target_tier: query_param(req, "target_tier"),
        billing_cycle: query_param(req, "billing_cycle"),
        promotion_code: query_param(req, "promotion_code"),
    };
    deps.service.preview_change(&caller, &query).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::{Body, Response};
    use tierflow_testkit::{body, request, Harness, SAMPLE_USER};

    const SAMPLE: &str = include_str!("../../../events/subscription-preview.json");

    async fn preview(deps: &SubscriptionRoute, query: Option<&[(&str, &str)]>) -> Response<Body> {
        handle(deps, request(SAMPLE, None, query)).await.unwrap()
    }

    #[tokio::test]
    async fn an_upgrade_shows_the_prorated_amount_and_its_instant() {
        let (h, profile) = Harness::subscribed("starter", "monthly").await;
        h.advance(10 * 86_400).await;
        let resp = preview(&h.route(), None).await;
        assert_eq!(resp.status(), 200, "{}", body(&resp));
        let b = body(&resp);
        assert_eq!(b["change"], "upgrade");
        assert_eq!(b["is_upgrade"], true);
        assert_eq!(b["currency"], "usd");
        assert_eq!(b["new_price"], 4900);
        let due = b["amount_due"].as_i64().unwrap();
        assert!(due > 0 && due < 3000, "{due}");
        assert!(b["proration_date"].as_i64().is_some());
        assert_eq!(b["next_renewal"], 4900);
        let period_end = tierflow::domain::time::rfc3339(profile.current_period_end.unwrap());
        assert_eq!(b["next_renewal_at"], period_end, "the period stays");
        let lines = b["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 2, "{lines:?}");
        let (credit, charge) = (&lines[0], &lines[1]);
        assert!(credit["description"]
            .as_str()
            .unwrap()
            .starts_with("Unused time"));
        assert!(charge["description"]
            .as_str()
            .unwrap()
            .starts_with("Remaining time"));
        assert!(credit["amount"].as_i64().unwrap() < 0 && charge["amount"].as_i64().unwrap() > 0);
        assert!(lines
            .iter()
            .all(|l| l["proration"] == true && l["period_end"].is_string()));
        let sum: i64 = lines.iter().map(|l| l["amount"].as_i64().unwrap()).sum();
        assert_eq!(sum, due, "the lines add up to the amount due, to the cent");
    }

    #[tokio::test]
    async fn a_downgrade_takes_effect_at_period_end_and_charges_nothing() {
        let (h, profile) = Harness::subscribed("professional", "monthly").await;
        let resp = preview(&h.route(), Some(&[("target_tier", "starter")])).await;
        assert_eq!(resp.status(), 200, "{}", body(&resp));
        let b = body(&resp);
        assert_eq!(b["is_upgrade"], false);
        assert_eq!(b["amount_due"], 0);
        assert_eq!(b["new_price"], 1900);
        assert_eq!(b["next_renewal"], 1900);
        assert_eq!(b["next_renewal_at"], b["effective_at"]);
        assert_eq!(b["lines"], serde_json::json!([]));
        assert_eq!(
            b["effective_at"],
            tierflow::domain::time::rfc3339(profile.current_period_end.unwrap())
        );
    }

    #[tokio::test]
    async fn a_free_user_previews_the_full_first_price() {
        let h = Harness::start().await;
        let resp = preview(
            &h.route(),
            Some(&[("target_tier", "enterprise"), ("billing_cycle", "yearly")]),
        )
        .await;
        let b = body(&resp);
        assert_eq!(b["change"], "new_subscription");
        assert_eq!(b["amount_due"], 99000);
        let now = h.stripe_now().await;
        assert_eq!(
            b["next_renewal_at"],
            tierflow::domain::time::rfc3339(tierflow::domain::time::add_months(now, 12))
        );
    }

    #[tokio::test]
    async fn an_upgrade_to_yearly_renews_a_year_from_now() {
        let h = Harness::start().await;
        h.subscribe(SAMPLE_USER, "starter", "monthly", "pm_card_visa")
            .await;
        h.advance(10 * 86_400).await;
        let resp = preview(
            &h.route(),
            Some(&[("target_tier", "professional"), ("billing_cycle", "yearly")]),
        )
        .await;
        assert_eq!(resp.status(), 200, "{}", body(&resp));
        let b = body(&resp);
        assert_eq!(b["change"], "upgrade");
        let new_period = b["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["proration"] == false)
            .expect("the new year's line");
        assert_eq!(b["next_renewal_at"], new_period["period_end"]);
        let now = h.stripe_now().await;
        assert_eq!(
            b["next_renewal_at"],
            tierflow::domain::time::rfc3339(tierflow::domain::time::add_months(now, 12))
        );
    }

    #[tokio::test]
    async fn refuses_unknown_missing_and_same_plans() {
        let h = Harness::start().await;
        h.subscribe(SAMPLE_USER, "starter", "monthly", "pm_card_visa")
            .await;
        let deps = h.route();
        let cases: [(&[(&str, &str)], &str); 5] = [
            (&[], "invalid_tier"),
            (&[("target_tier", "gold")], "invalid_tier"),
            (&[("target_tier", "starter")], "no_change"),
            (&[("target_tier", "free")], "invalid_plan"),
            (
                &[("target_tier", "starter"), ("billing_cycle", "daily")],
                "invalid_billing_cycle",
            ),
        ];
        for (query, code) in cases {
            let resp = preview(&deps, Some(query)).await;
            assert_eq!(resp.status(), 400, "{query:?}");
            assert_eq!(body(&resp)["error"]["code"], code, "{query:?}");
        }
    }
}
