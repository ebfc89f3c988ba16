use lambda_http::Request;
use std::sync::Arc;
use tierflow::auth::Authenticator;
use tierflow::domain::Catalog;
use tierflow::http::{reply, ApiError, Reply};
use tierflow::ports::BillingStore;
use tierflow::ports::Clock;
use tierflow::service::current_subscription::current_subscription;
use tierflow::service::current_subscription::SubscriptionView;
use tierflow::time::SystemClock;
use tierflow::wiring::{Core, InitError};

/// What the handler needs, built once at init.
pub(crate) struct Deps {
    pub store: Arc<dyn BillingStore>,
    pub catalog: Catalog,
    pub auth: Authenticator,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub(crate) async fn from_env() -> Result<Self, InitError> {
        let auth = Authenticator::from_env()?;
        let catalog = tierflow::config::load_catalog()?;
        Ok(Self {
            store: Arc::new(Core::load().await.store()?),
            catalog,
            auth,
            clock: Arc::new(SystemClock),
        })
    }
}

pub(crate) async fn handle(deps: &Deps, req: Request) -> Reply {
    reply(current(deps, &req).await)
}

async fn current(deps: &Deps, req: &Request) -> Result<SubscriptionView, ApiError> {
    let caller = deps.auth.caller(req).await?;
    current_subscription(
        deps.store.as_ref(),
        &deps.catalog,
        &caller,
        deps.clock.now(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tierflow::domain::{BillingCycle, BillingProfile, PaidPrice, SubscriptionStatus, UserId};
    use tierflow::ports::{Commit, ProfileWrite};
    use tierflow::time::FixedClock;
    use tierflow_testkit::tier;
    use tierflow_testkit::{body, request, Harness};

    const SAMPLE: &str = include_str!("../../../events/subscription-current.json");

    /// The handler's dependencies at a fixed time inside the seeded subscriber's period.
    fn deps(h: &Harness) -> Deps {
        Deps {
            store: h.store.clone(),
            catalog: h.catalog.clone(),
            auth: Authenticator::ApiGateway,
            clock: Arc::new(FixedClock::at(1_795_391_165)),
        }
    }

    #[tokio::test]
    async fn a_new_user_is_free() {
        let h = Harness::start().await;
        let resp = handle(&deps(&h), request(SAMPLE, None, None))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let b = body(&resp);
        assert_eq!(b["tier"], "free");
        assert_eq!(b["access"], "active");
    }

    #[tokio::test]
    async fn a_subscriber_sees_their_stored_profile() {
        let h = Harness::start().await;
        let mut p = BillingProfile::new_free(
            UserId::parse("8f14e45f-ceea-467f-a0e6-6f6b7a1c2d3e").unwrap(),
            &tierflow::domain::Catalog::built_in(),
        );
        p.tier = tier("professional");
        p.status = SubscriptionStatus::Active;
        p.billing_cycle = Some(BillingCycle::Monthly);
        p.price = Some(PaidPrice {
            price_id: "price_pro_monthly".into(),
            amount: 4_900,
            currency: "usd".into(),
            interval: "month".into(),
            legacy: false,
        });
        p.current_period_start = Some(1_795_391_165);
        p.current_period_end = Some(1_797_983_165);
        h.store
            .commit(Commit {
                profile: Some(ProfileWrite {
                    profile: p,
                    expected_version: 0,
                }),
                ..Default::default()
            })
            .await
            .unwrap();
        let b = body(
            &handle(&deps(&h), request(SAMPLE, None, None))
                .await
                .unwrap(),
        );
        assert_eq!(b["tier"], "professional");
        assert_eq!(b["status"], "active");
        assert_eq!(b["current_period_start"], "2026-11-22T23:46:05Z");
        assert_eq!(b["current_period_end"], "2026-12-22T23:46:05Z");
        assert_eq!(
            b["next_invoice"],
            serde_json::json!({"amount": 4_900, "currency": "usd", "date": "2026-12-22T23:46:05Z"})
        );
        assert_eq!(b["entitlements"]["seats"], 25);
    }

    #[tokio::test]
    async fn without_a_verified_token_it_is_401() {
        let h = Harness::start().await;
        let req = request(
            include_str!("../../../events/subscription-current-unauthenticated.json"),
            None,
            None,
        );
        let resp = handle(&deps(&h), req).await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(body(&resp)["error"]["code"], "unauthorized");
    }

    #[tokio::test]
    async fn a_store_outage_is_503_not_a_crash() {
        let h = Harness::start().await;
        h.store.set_unavailable(true);
        let resp = handle(&deps(&h), request(SAMPLE, None, None))
            .await
            .unwrap();
        assert_eq!(resp.status(), 503);
    }
}
