//! `GET /api/v1/billing/payment-methods`: the caller's saved cards, and which one invoices are
//! charged to. Only what a card list shows: no fingerprints, no billing details.
//!
//! A caller without a Stripe customer has no saved cards: the answer is an empty list (200),
//! so an account page renders "no saved cards" without special-casing an error.

use super::customer::stored_customer;
use crate::auth::Caller;
use crate::http::ApiError;
use crate::ports::{BillingStore, StripeApi};
use crate::service::stripe_failure::stripe_failure;
use crate::stripe::PaymentMethod;
use serde::Serialize;

/// One saved card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentMethodView {
    /// Stripe's `pm_…` id.
    pub id: String,
    /// Stripe's `card.brand` (`visa`, `amex`, …).
    pub brand: String,
    /// The card number's last four digits.
    pub last4: String,
    /// Expiry month, 1 to 12.
    pub exp_month: u32,
    /// Expiry year, four digits.
    pub exp_year: u32,
    /// The customer's `invoice_settings.default_payment_method`.
    pub is_default: bool,
}

/// The caller's saved cards, in Stripe's order (newest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentMethodsView {
    /// Cards only; other payment method types are left out. Empty without a Stripe customer.
    pub payment_methods: Vec<PaymentMethodView>,
}

/// Keeps the cards and only the fields the view shows.
pub fn card_views(methods: &[PaymentMethod], default: Option<&str>) -> Vec<PaymentMethodView> {
    methods
        .iter()
        .filter_map(|pm| {
            let card = pm.card.as_ref()?;
            Some(PaymentMethodView {
                id: pm.id.clone(),
                brand: card.brand.clone(),
                last4: card.last4.clone(),
                exp_month: card.exp_month,
                exp_year: card.exp_year,
                is_default: default == Some(pm.id.as_str()),
            })
        })
        .collect()
}

/// The caller's saved cards; empty when they have no customer (or Stripe deleted it).
pub async fn list_payment_methods(
    store: &dyn BillingStore,
    stripe: &dyn StripeApi,
    caller: &Caller,
) -> Result<PaymentMethodsView, ApiError> {
    let empty = PaymentMethodsView {
        payment_methods: Vec::new(),
    };
    let Some(customer_id) = stored_customer(store, caller).await? else {
        return Ok(empty);
    };
    let (customer, methods) = tokio::join!(
        stripe.retrieve_customer(&customer_id),
        stripe.list_card_payment_methods(&customer_id)
    );
    let gone = |e: &crate::stripe::StripeError| e.is_not_found();
    let customer = match customer {
        Ok(c) if c.deleted => return Ok(empty),
        Ok(c) => c,
        Err(e) if gone(&e) => return Ok(empty),
        Err(e) => return Err(stripe_failure("customer_retrieve", &e)),
    };
    let methods = match methods {
        Ok(m) => m,
        Err(e) if gone(&e) => return Ok(empty),
        Err(e) => return Err(stripe_failure("payment_methods_list", &e)),
    };
    Ok(PaymentMethodsView {
        payment_methods: card_views(&methods, customer.default_payment_method_id()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stripe::Card;

    #[test]
    fn only_cards_with_their_display_fields_and_the_default_flag() {
        let card = |id: &str, last4: &str| PaymentMethod {
            id: id.into(),
            kind: "card".into(),
            card: Some(Card {
                brand: "visa".into(),
                last4: last4.into(),
                exp_month: 12,
                exp_year: 2034,
            }),
            ..PaymentMethod::default()
        };
        let not_a_card = PaymentMethod {
            id: "pm_sepa".into(),
            kind: "sepa_debit".into(),
            ..PaymentMethod::default()
        };
        let views = card_views(
            &[card("pm_1", "4242"), not_a_card, card("pm_2", "1881")],
            Some("pm_2"),
        );
        assert_eq!(views.len(), 2);
        assert_eq!(
            serde_json::to_value(&views[1]).unwrap(),
            serde_json::json!({"id": "pm_2", "brand": "visa", "last4": "1881",
                "exp_month": 12, "exp_year": 2034, "is_default": true})
        );
        assert!(!views[0].is_default);
    }
}
