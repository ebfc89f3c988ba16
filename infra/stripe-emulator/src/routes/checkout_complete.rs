//! `POST /_emulator/checkout/sessions/{id}/complete`: what the customer does on the hosted
//! Checkout page — a card (or none, for a trial with `payment_method_collection=if_required`),
//! a promotion code, a billing address and a tax ID — and the session's completion.

use serde_json::Value;

use super::customers::{address_json, create_customer};
use super::render_or_404;
use crate::billing::{self, DiscountRequest, DiscountSource, NewSubscription, PaymentBehavior};
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::objects::checkout::CheckoutSession;
use crate::objects::payment::CardBehaviour;
use crate::payments;
use crate::store::Store;

/// The promotion code typed on the page (`promotion_code`, case-insensitive), checked.
fn entered_code(
    store: &Store,
    session: &CheckoutSession,
    code: &str,
) -> ApiResult<billing::Redemption> {
    if !session.allow_promotion_codes {
        return Err(ApiError::invalid(
            "This Checkout Session does not accept promotion codes (create it with allow_promotion_codes=true).".into(),
            Some("promotion_code"),
        ));
    }
    let found = store
        .promotion_codes
        .newest_first()
        .filter(|pc| pc.code.eq_ignore_ascii_case(code))
        .max_by_key(|pc| pc.active)
        .ok_or_else(|| ApiError::no_such_param("promotion code", code, "promotion_code"))?;
    let products: Vec<String> = session
        .line_items
        .iter()
        .filter_map(|(price, _)| store.prices.get(price).map(|p| p.product.clone()))
        .collect();
    let ctx = billing::RedemptionContext {
        customer: session.customer.as_deref(),
        currency: &session.currency,
        amount: session.amount_total,
        products: &products,
    };
    let req = DiscountRequest {
        source: DiscountSource::PromotionCode(found.id.clone()),
        param: "promotion_code".into(),
    };
    billing::check_redemption(store, &req, ctx)
}

/// Refuses a card the page would refuse (nothing is charged yet).
fn check_card(store: &Store, token: &str, due_now: bool) -> ApiResult<()> {
    match payments::behaviour_of(store, token) {
        None => Err(ApiError::no_such_param(
            "PaymentMethod",
            token,
            "payment_method",
        )),
        Some(CardBehaviour::DeclineAlways { decline_code }) => {
            Err(payments::decline_error(decline_code))
        }
        Some(CardBehaviour::DeclineCharges) if due_now => {
            Err(payments::decline_error("generic_decline"))
        }
        Some(_) => Ok(()),
    }
}

/// `POST /_emulator/checkout/sessions/{id}/complete`: `payment_method` (default
/// `pm_card_visa`) or `without_payment_method=true`; `promotion_code`; `name`;
/// `address_country` (+ `address_line1`, `address_line2`, `address_city`,
/// `address_postal_code`, `address_state`); `tax_id_type` + `tax_id_value`.
pub(crate) fn complete_checkout(store: &mut Store, id: &str, p: &Params) -> ApiResult<Value> {
    let mut session = store
        .checkout_sessions
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::no_such("checkout.session", id))?;
    if session.status != "open" {
        return Err(ApiError::invalid(
            format!(
                "This Checkout Session is {} and cannot be completed.",
                session.status
            ),
            None,
        ));
    }
    let without_pm = p.bool("without_payment_method")?.unwrap_or(false);
    if without_pm
        && !(session.mode == "subscription"
            && session.payment_method_collection == "if_required"
            && session.amount_due_now() == 0)
    {
        return Err(ApiError::invalid(
            "This Checkout Session requires a payment method: it needs `payment_method_collection=if_required` and nothing due now (a trial).".into(),
            Some("without_payment_method"),
        ));
    }
    let token = p
        .non_empty("payment_method")
        .unwrap_or_else(|| "pm_card_visa".into());
    if !without_pm {
        check_card(store, &token, session.amount_due_now() > 0)?;
    }
    if let Some(code) = p.non_empty("promotion_code") {
        session.redemptions = vec![entered_code(store, &session, &code)?];
    }
    // The billing address: required when asked for, or when tax needs a location.
    let country = p
        .non_empty("address_country")
        .map(|c| c.to_ascii_uppercase());
    let known = session
        .customer
        .as_ref()
        .is_some_and(|c| billing::customer_country(store, c).is_some());
    let needs_address = session.billing_address_collection.as_deref() == Some("required")
        || (session.automatic_tax && !known);
    if needs_address && country.is_none() {
        return Err(ApiError::missing_param("address_country"));
    }
    let address = country.map(|c| {
        let fields = Params::new(serde_json::json!({
            "city": p.non_empty("address_city"),
            "line1": p.non_empty("address_line1"),
            "line2": p.non_empty("address_line2"),
            "postal_code": p.non_empty("address_postal_code"),
            "state": p.non_empty("address_state"),
        }));
        address_json(Some(c), &fields)
    });
    let tax_id = match (p.non_empty("tax_id_type"), p.non_empty("tax_id_value")) {
        (Some(_), Some(_)) if !session.tax_id_collection => {
            return Err(ApiError::invalid(
                "This Checkout Session does not collect tax IDs (tax_id_collection[enabled])."
                    .into(),
                Some("tax_id_type"),
            ))
        }
        (Some(t), Some(v)) => Some((t, v)),
        (None, None) => None,
        (Some(_), None) => return Err(ApiError::missing_param("tax_id_value")),
        (None, Some(_)) => return Err(ApiError::missing_param("tax_id_type")),
    };
    let customer = match &session.customer {
        Some(c) => {
            let before = store.render(c).unwrap_or(Value::Null);
            let name = p.non_empty("name");
            if let Some(cus) = store.customers.get_mut(c) {
                if session.customer_update_address.as_deref() == Some("auto") && address.is_some() {
                    cus.address = address;
                }
                if session.customer_update_name.as_deref() == Some("auto") && name.is_some() {
                    cus.name = name;
                }
            }
            let after = store.render(c).unwrap_or(Value::Null);
            store.emit_updated("customer.updated", &before, after);
            Some(c.clone())
        }
        None if session.mode == "subscription" || address.is_some() || tax_id.is_some() => {
            let c = create_customer(
                store,
                session.customer_email.clone(),
                p.non_empty("name"),
                Default::default(),
                address,
            );
            Some(c)
        }
        None => None,
    };
    if let (Some((kind, value)), Some(c)) = (&tax_id, &customer) {
        let tid = super::tax_ids::add_tax_id(store, c, kind, value)?;
        session.tax_ids.push(tid);
    }
    session.customer = customer.clone();
    if session.mode == "subscription" {
        let customer = customer.unwrap_or_default();
        let pm = if without_pm {
            None
        } else {
            let pm = payments::attach(store, &token, &customer, "payment_method")?;
            if let Some(c) = store.customers.get_mut(&customer) {
                if c.default_payment_method.is_none() {
                    c.default_payment_method = Some(pm.clone());
                }
            }
            Some(pm)
        };
        let now = store.now();
        let new = NewSubscription {
            pm,
            metadata: session.subscription_metadata.clone(),
            behavior: PaymentBehavior::AllowIncomplete,
            checkout: true,
            trial_end: session
                .trial_end
                .or_else(|| session.trial_period_days.map(|d| now + d * 86_400)),
            trial_end_behavior: session.trial_end_behavior.clone(),
            redemptions: session.redemptions.clone(),
            automatic_tax: session.automatic_tax,
            checkout_session: Some(id.to_string()),
        };
        let sub = billing::create_subscription(store, &customer, &session.line_items, new)?;
        let s = store.subscriptions.get(&sub);
        session.invoice = s.and_then(|s| s.latest_invoice.clone());
        session.discounts = store
            .discounts
            .oldest_first()
            .filter(|d| d.subscription.as_deref() == Some(sub.as_str()))
            .map(|d| d.id.clone())
            .collect();
        session.subscription = Some(sub);
    } else {
        let pm = payments::resolve_payment_method(store, &token, "payment_method")?;
        for r in session.redemptions.clone() {
            let d = billing::redeem(store, &r, customer.as_deref(), None, Some(id));
            session.discounts.push(d);
        }
        let (_, _, _, total) = session.totals(store);
        let pi = payments::create_intent(
            store,
            total,
            &session.currency,
            session.customer.clone(),
            session.payment_intent_description.clone(),
            session.payment_intent_metadata.clone(),
            None,
            false,
        );
        payments::confirm_intent(store, &pi, &pm, true)?;
        session.payment_intent = Some(pi);
    }
    let (_, _, _, total) = session.totals(store);
    session.status = "complete".into();
    session.payment_status = if total == 0 && session.mode == "subscription" {
        "no_payment_required"
    } else {
        "paid"
    }
    .into();
    store.checkout_sessions.insert(id.to_string(), session);
    let json = render_or_404(store, "checkout.session", id)?;
    store.emit("checkout.session.completed", json.clone(), None);
    Ok(json)
}
