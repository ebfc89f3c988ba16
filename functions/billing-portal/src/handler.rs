use lambda_http::Request;
use tierflow::http::{query_param, reply, ApiError, Reply};
use tierflow::service::payments::portal::PortalView;
use tierflow::service::payments::portal::{open_portal, PortalFlow};
use tierflow::service::payments::PortalConfig;
use tierflow::wiring::PaymentRoute;

/// What the route needs, built once at init.
pub(crate) type Deps = PaymentRoute<PortalConfig>;

pub(crate) async fn handle(deps: &Deps, req: Request) -> Reply {
    reply(portal(deps, &req).await)
}

async fn portal(deps: &Deps, req: &Request) -> Result<PortalView, ApiError> {
    let caller = deps.auth.caller(req).await?;
    let flow = query_param(req, "flow")
        .map(|raw| PortalFlow::parse(&raw))
        .transpose()?;
    open_portal(
        deps.store.as_ref(),
        deps.stripe.as_ref(),
        &deps.settings,
        &caller,
        flow,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use tierflow::adapters::stripe::catalog_sync::sync_portal;
    use tierflow::domain::{BillingProfile, UserId};
    use tierflow_testkit::{as_user, body, request, Harness};

    const SAMPLE: &str = include_str!("../../../events/billing-portal.json");
    const SUB: &str = "8f14e45f-ceea-467f-a0e6-6f6b7a1c2d3e";

    /// A profile of the sample caller linked to `customer_id` (Stripe may not know it).
    async fn with_customer(h: &Harness, customer_id: &str) {
        let mut profile = BillingProfile::new_free(
            UserId::parse(SUB).unwrap(),
            &tierflow::domain::Catalog::built_in(),
        );
        profile.customer_id = Some(customer_id.to_owned());
        h.store_new_profile(profile, Some(customer_id)).await;
    }

    /// What catalog-sync does after the catalog's prices (the harness made those): the portal
    /// configuration (its id).
    async fn portal_configured(h: &Harness) -> String {
        let (id, created) = sync_portal(&h.stripe, &h.catalog).await.unwrap();
        assert!(created);
        // A rerun finds it again by its mark instead of making another.
        assert_eq!(
            sync_portal(&h.stripe, &h.catalog).await.unwrap(),
            (id.clone(), false)
        );
        id
    }

    fn portal_request() -> Request {
        request(SAMPLE, None, None)
    }

    async fn call(h: &Harness, req: Request) -> (u16, Value) {
        let resp = handle(&h.payment_route(h.portal_config()), req)
            .await
            .unwrap();
        (resp.status().as_u16(), body(&resp))
    }

    #[tokio::test]
    async fn a_customer_gets_a_portal_url() {
        let h = Harness::start().await;
        h.linked_customer(SUB).await;
        portal_configured(&h).await;
        let (status, body) = call(&h, portal_request()).await;
        assert_eq!(status, 200, "{body}");
        let url = body["portal_url"].as_str().unwrap();
        assert!(url.starts_with(h.stripe.api_base()), "{url}");
        assert!(url.contains("/p/session/"), "{url}");
        assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    }

    #[tokio::test]
    async fn the_add_a_card_flow_opens_directly_and_an_unknown_flow_is_a_400() {
        let h = Harness::start().await;
        h.linked_customer(SUB).await;
        portal_configured(&h).await;
        let flow = |name: &str| request(SAMPLE, None, Some(&[("flow", name)]));
        let (status, body) = call(&h, flow("payment_method_update")).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["portal_url"].as_str().unwrap().contains("/p/session/"));
        for bad in ["subscription_cancel", "PAYMENT_METHOD_UPDATE", "x"] {
            let (status, body) = call(&h, flow(bad)).await;
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (400, Some("invalid_flow")),
                "{bad}: {body}"
            );
        }
    }

    #[tokio::test]
    async fn a_caller_who_never_paid_gets_a_clear_404() {
        let h = Harness::start().await;
        let (status, body) = call(&h, portal_request()).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["error"]["code"], "no_billing_account");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no billing account"));
    }

    #[tokio::test]
    async fn a_customer_stripe_no_longer_has_is_a_404_too() {
        let h = Harness::start().await;
        with_customer(&h, "cus_deletedlongago").await;
        portal_configured(&h).await;
        let (status, body) = call(&h, portal_request()).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["error"]["code"], "no_billing_account");
    }

    #[tokio::test]
    async fn without_tierflows_portal_configuration_the_default_one_is_never_opened() {
        let h = Harness::start().await;
        h.linked_customer(SUB).await;
        let (status, body) = call(&h, portal_request()).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"]["code"], "portal_not_configured");
    }

    #[tokio::test]
    async fn only_the_callers_own_customer_is_used() {
        let h = Harness::start().await;
        with_customer(&h, "cus_of_ada").await;
        let req = request(&as_user(SAMPLE, "mallory"), None, None);
        let (status, body) = call(&h, req).await;
        assert_eq!(status, 404, "{body}");
    }

    #[tokio::test]
    async fn a_store_outage_is_503() {
        let h = Harness::start().await;
        h.store.set_unavailable(true);
        assert_eq!(call(&h, portal_request()).await.0, 503);
    }
}
