use lambda_http::Request;
use tierflow::http::{query_param, reply, request_id, ApiError, Reply};
use tierflow::service::current_subscription::SubscriptionView;
use tierflow::wiring::SubscriptionRoute;

pub(crate) async fn handle(deps: &SubscriptionRoute, req: Request) -> Reply {
    reply(confirm(deps, &req).await)
}

async fn confirm(deps: &SubscriptionRoute, req: &Request) -> Result<SubscriptionView, ApiError> {
    let caller = deps.auth.caller(req).await?;
    let session_id = query_param(req, "checkout_session_id").ok_or_else(|| {
        ApiError::bad_request(
            "invalid_checkout_session_id",
            "checkout_session_id is required",
        )
    })?;
    deps.service
        .confirm_checkout(&caller, &session_id, &request_id(req))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::{Body, Response};
    use std::sync::Arc;
    use tierflow::domain::{BillingProfile, UserId};
    use tierflow::ports::{BillingStore, StripeApi};
    use tierflow::service::subscriptions::CheckoutRequest;
    use tierflow::stripe::EventQuery;
    use tierflow::webhook::{Outcome, Processor};
    use tierflow_testkit::tier;
    use tierflow_testkit::{as_user, body, caller, request, unique, Harness, SAMPLE_USER};

    const SAMPLE: &str = include_str!("../../../events/subscription-confirm-upgrade.json");

    async fn confirm(deps: &SubscriptionRoute, user: &str, session: &str) -> Response<Body> {
        let req = request(
            &as_user(SAMPLE, user),
            None,
            Some(&[("checkout_session_id", session)]),
        );
        handle(deps, req).await.unwrap()
    }

    /// A paid Checkout session for `user` (not yet confirmed by anyone).
    async fn paid_session(h: &Harness, user: &str) -> String {
        let view = h
            .service()
            .checkout(
                &caller(user),
                &CheckoutRequest {
                    tier: "starter".into(),
                    billing_cycle: None,
                    promotion_code: None,
                },
                &unique("req"),
            )
            .await
            .unwrap();
        h.complete_checkout(&view.session_id, "pm_card_visa").await;
        view.session_id
    }

    #[tokio::test]
    async fn confirms_once_and_a_repeat_changes_nothing() {
        let h = Harness::start().await;
        let deps = h.route();
        let session = paid_session(&h, SAMPLE_USER).await;
        let resp = confirm(&deps, SAMPLE_USER, &session).await;
        assert_eq!(resp.status(), 200, "{}", body(&resp));
        assert_eq!(body(&resp)["tier"], "starter");
        let jobs = h.jobs().await.len();
        let events = h.events().await.len();
        assert_eq!(
            h.events().await[events - 1].detail_type,
            "subscription.tier_changed"
        );

        let again = confirm(&deps, SAMPLE_USER, &session).await;
        assert_eq!(again.status(), 200);
        assert_eq!(
            (h.jobs().await.len(), h.events().await.len()),
            (jobs, events)
        );
    }

    #[tokio::test]
    async fn after_the_webhook_it_is_a_no_op() {
        let h = Harness::start().await;
        let session = paid_session(&h, SAMPLE_USER).await;
        let processor = Processor {
            store: h.store.clone(),
            stripe: h.stripe.clone(),
            catalog: h.catalog.clone(),
            grace_days: 3,
            revocation: Default::default(),
            clock: h.clock.clone(),
        };
        let events = h
            .stripe
            .list_events(&EventQuery {
                types: vec!["checkout.session.completed".into()],
                ..EventQuery::default()
            })
            .await
            .unwrap();
        let outcome = processor.process(&events[0], "hash").await.unwrap();
        assert_eq!(outcome, Outcome::Applied);
        let profile = h.profile(SAMPLE_USER).await;
        assert_eq!(profile.tier, tier("starter"));
        let (jobs, published) = (h.jobs().await.len(), h.events().await.len());

        let resp = confirm(&h.route(), SAMPLE_USER, &session).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(body(&resp)["tier"], "starter");
        assert_eq!(
            (h.jobs().await.len(), h.events().await.len()),
            (jobs, published)
        );
        assert_eq!(
            h.profile(SAMPLE_USER).await.version,
            profile.version,
            "not even a write"
        );
    }

    #[tokio::test]
    async fn another_users_session_is_404_and_changes_nothing() {
        let h = Harness::start().await;
        let session = paid_session(&h, "someone-else").await;
        let resp = confirm(&h.route(), SAMPLE_USER, &session).await;
        assert_eq!(resp.status(), 404);
        assert_eq!(body(&resp)["error"]["code"], "checkout_session_not_found");
        let mine = h
            .store
            .profile(&UserId::parse(SAMPLE_USER).unwrap())
            .await
            .unwrap();
        assert!(mine.is_none_or(|p: BillingProfile| p.tier == tier("free")));
        assert_eq!(
            h.profile("someone-else").await.tier,
            tier("free"),
            "not confirmed for them either"
        );
        let _ = Arc::clone(&h.store);
    }

    #[tokio::test]
    async fn refuses_missing_malformed_unknown_and_unpaid_sessions() {
        let h = Harness::start().await;
        let deps = h.route();
        let missing = handle(&deps, request(SAMPLE, None, Some(&[])))
            .await
            .unwrap();
        assert_eq!(missing.status(), 400);
        let resp = confirm(&deps, SAMPLE_USER, "cs_../../v1/customers").await;
        assert_eq!(body(&resp)["error"]["code"], "invalid_checkout_session_id");
        let resp = confirm(&deps, SAMPLE_USER, "cs_test_doesnotexist").await;
        assert_eq!(resp.status(), 404);
        let open = h
            .service()
            .checkout(
                &caller(SAMPLE_USER),
                &CheckoutRequest {
                    tier: "starter".into(),
                    billing_cycle: None,
                    promotion_code: None,
                },
                &unique("req"),
            )
            .await
            .unwrap();
        let resp = confirm(&deps, SAMPLE_USER, &open.session_id).await;
        assert_eq!(resp.status(), 409);
        assert_eq!(body(&resp)["error"]["code"], "checkout_incomplete");
    }
}
