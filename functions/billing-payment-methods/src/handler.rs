use lambda_http::Request;
use tierflow::http::{reply, ApiError, Reply};
use tierflow::service::payments::payment_methods::list_payment_methods;
use tierflow::service::payments::payment_methods::PaymentMethodsView;
use tierflow::wiring::PaymentRoute;

/// What the route needs, built once at init.
pub(crate) type Deps = PaymentRoute;

pub(crate) async fn handle(deps: &Deps, req: Request) -> Reply {
    reply(payment_methods(deps, &req).await)
}

async fn payment_methods(deps: &Deps, req: &Request) -> Result<PaymentMethodsView, ApiError> {
    let caller = deps.auth.caller(req).await?;
    list_payment_methods(deps.store.as_ref(), deps.stripe.as_ref(), &caller).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use tierflow::ports::StripeApi;
    use tierflow::stripe::CustomerUpdate;
    use tierflow_testkit::{as_user, body, request, Harness};

    const SAMPLE: &str = include_str!("../../../events/billing-payment-methods.json");
    const SUB: &str = "8f14e45f-ceea-467f-a0e6-6f6b7a1c2d3e";

    /// Attaches a test card as Stripe.js would; returns the saved card's id.
    async fn attach(h: &Harness, customer: &str, token: &str) -> String {
        let resp = h
            .emulator_call(
                "POST",
                &format!("/v1/payment_methods/{token}/attach"),
                &[("customer", customer)],
            )
            .await;
        resp["id"].as_str().unwrap().to_owned()
    }

    /// The sample as `sub`.
    fn methods_request(sub: &str) -> Request {
        request(&as_user(SAMPLE, sub), None, None)
    }

    async fn call(h: &Harness, req: Request) -> (u16, Value) {
        let resp = handle(&h.payment_route(()), req).await.unwrap();
        (resp.status().as_u16(), body(&resp))
    }

    #[tokio::test]
    async fn saved_cards_show_only_display_fields_and_the_default() {
        let h = Harness::start().await;
        let customer = h.linked_customer(SUB).await;
        let visa = attach(&h, &customer, "pm_card_visa").await;
        let mastercard = attach(&h, &customer, "pm_card_mastercard").await;
        h.stripe
            .update_customer(
                &customer,
                &CustomerUpdate {
                    default_payment_method: Some(mastercard.clone()),
                    ..CustomerUpdate::default()
                },
            )
            .await
            .unwrap();

        let (status, body) = call(&h, methods_request(SUB)).await;
        assert_eq!(status, 200, "{body}");
        let cards = body["payment_methods"].as_array().unwrap();
        assert_eq!(cards.len(), 2, "{body}");
        let find = |id: &str| cards.iter().find(|c| c["id"] == id).unwrap().clone();
        let v = find(&visa);
        assert_eq!(v["brand"], "visa");
        assert_eq!(v["last4"], "4242");
        assert_eq!(v["is_default"], false);
        assert!(v["exp_month"]
            .as_u64()
            .is_some_and(|m| (1..=12).contains(&m)));
        assert!(v["exp_year"].as_u64().is_some_and(|y| y >= 2025));
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "brand",
                "exp_month",
                "exp_year",
                "id",
                "is_default",
                "last4"
            ]
        );
        let m = find(&mastercard);
        assert_eq!(m["brand"], "mastercard");
        assert_eq!(m["is_default"], true);
    }

    #[tokio::test]
    async fn a_caller_without_a_customer_has_an_empty_list() {
        let h = Harness::start().await;
        let (status, body) = call(&h, methods_request(SUB)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, json!({"payment_methods": []}));
    }

    #[tokio::test]
    async fn another_callers_cards_are_never_listed() {
        let h = Harness::start().await;
        let customer = h.linked_customer(SUB).await;
        attach(&h, &customer, "pm_card_visa").await;
        let (status, body) = call(&h, methods_request("mallory")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["payment_methods"], json!([]));
    }

    #[tokio::test]
    async fn a_customer_stripe_deleted_has_no_cards() {
        let h = Harness::start().await;
        let customer = h.linked_customer(SUB).await;
        attach(&h, &customer, "pm_card_visa").await;
        let deleted = h
            .emulator_request("DELETE", &format!("/v1/customers/{customer}"), &[])
            .await;
        assert!(deleted.status().is_success());
        let (status, body) = call(&h, methods_request(SUB)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["payment_methods"], json!([]));
    }

    #[tokio::test]
    async fn a_store_outage_is_503() {
        let h = Harness::start().await;
        h.store.set_unavailable(true);
        assert_eq!(call(&h, methods_request(SUB)).await.0, 503);
    }
}
