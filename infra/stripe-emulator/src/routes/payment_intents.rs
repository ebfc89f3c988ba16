//! `/v1/payment_intents`.

use serde_json::Value;

use super::render_or_404;
use crate::billing;
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::list;
use crate::payments::{self, Attempt};
use crate::store::Store;

/// Stripe's minimum charge per currency, in minor units.
fn minimum_amount(currency: &str) -> i64 {
    match currency {
        "gbp" => 30,
        "jpy" => 50,
        "hkd" => 400,
        "mxn" => 1000,
        _ => 50,
    }
}

/// `POST /v1/payment_intents`.
pub(crate) fn create(store: &mut Store, p: &Params) -> ApiResult<Value> {
    p.allow(&[
        "amount",
        "currency",
        "customer",
        "description",
        "metadata",
        "automatic_payment_methods",
        "payment_method",
        "payment_method_types",
        "confirm",
        "off_session",
        "receipt_email",
        "setup_future_usage",
        "statement_descriptor_suffix",
        "return_url",
    ])?;
    let amount = p
        .int("amount")?
        .ok_or_else(|| ApiError::missing_param("amount"))?;
    let currency = p.required("currency")?.to_lowercase();
    if amount < minimum_amount(&currency) {
        return Err(ApiError::invalid_code(
            "amount_too_small",
            format!(
                "Amount must be at least {} {}",
                crate::proration::format_money(minimum_amount(&currency), &currency),
                currency
            ),
            Some("amount"),
        ));
    }
    if amount > 99_999_999 {
        return Err(ApiError::invalid_code(
            "amount_too_large",
            "Amount must be no more than $999,999.99".into(),
            Some("amount"),
        ));
    }
    let customer = p.non_empty("customer");
    if let Some(c) = &customer {
        match store.customers.get(c) {
            Some(x) if !x.deleted => {}
            _ => return Err(ApiError::no_such_param("customer", c, "customer")),
        }
    }
    let metadata = p
        .metadata("metadata")?
        .map(|m| m.into_map())
        .unwrap_or_default();
    let apm = p
        .sub("automatic_payment_methods")
        .bool("enabled")?
        .unwrap_or(false);
    let pm = match p.non_empty("payment_method") {
        Some(pm) => Some(payments::resolve_payment_method(
            store,
            &pm,
            "payment_method",
        )?),
        None => None,
    };
    let id = payments::create_intent(
        store,
        amount,
        &currency,
        customer,
        p.non_empty("description"),
        metadata,
        None,
        apm,
    );
    let json = store.render(&id).unwrap_or(Value::Null);
    store.emit("payment_intent.created", json, None);
    if let Some(pm) = &pm {
        if let Some(pi) = store.payment_intents.get_mut(&id) {
            pi.payment_method = Some(pm.clone());
            pi.status = "requires_confirmation".into();
        }
    }
    if p.bool("confirm")?.unwrap_or(false) {
        let pm = pm.ok_or_else(|| {
            ApiError::invalid(
                "You cannot confirm this PaymentIntent because it's missing a payment method."
                    .into(),
                Some("payment_method"),
            )
        })?;
        if let Attempt::Declined(e) = payments::confirm_intent(store, &id, &pm, false)? {
            return Err(e);
        }
    }
    render_or_404(store, "payment_intent", &id)
}

/// `GET /v1/payment_intents/{id}`.
pub(crate) fn retrieve(store: &mut Store, id: &str) -> ApiResult<Value> {
    render_or_404(store, "payment_intent", id)
}

/// `GET /v1/payment_intents?customer=`.
pub(crate) fn list(store: &mut Store, p: &Params) -> ApiResult<Value> {
    let customer = p.non_empty("customer");
    let items: Vec<Value> = store
        .payment_intents
        .newest_first()
        .filter(|pi| customer.is_none() || pi.customer == customer)
        .map(|pi| pi.to_json(store))
        .collect();
    list::page(items, p, "/v1/payment_intents")
}

/// `POST /v1/payment_intents/{id}/confirm` (payment_method).
pub(crate) fn confirm(store: &mut Store, id: &str, p: &Params) -> ApiResult<Value> {
    p.allow(&[
        "payment_method",
        "return_url",
        "off_session",
        "receipt_email",
        "setup_future_usage",
        "payment_method_types",
    ])?;
    let (status, current_pm) = store
        .payment_intents
        .get(id)
        .map(|pi| (pi.status.clone(), pi.payment_method.clone()))
        .ok_or_else(|| ApiError::no_such("payment_intent", id))?;
    if !matches!(
        status.as_str(),
        "requires_payment_method" | "requires_confirmation" | "requires_action"
    ) {
        return Err(ApiError::invalid_code(
            "payment_intent_unexpected_state",
            format!("You cannot confirm this PaymentIntent because it has a status of {status}."),
            None,
        ));
    }
    let pm = match p.non_empty("payment_method") {
        Some(pm) => payments::resolve_payment_method(store, &pm, "payment_method")?,
        None => current_pm.ok_or_else(|| {
            ApiError::invalid(
                "You cannot confirm this PaymentIntent because it's missing a payment method. To confirm the PaymentIntent with cus_, specify a payment method attached to this customer along with the customer ID.".into(),
                Some("payment_method"),
            )
        })?,
    };
    let attempt = payments::confirm_intent(store, id, &pm, false)?;
    billing::after_intent(store, id, &attempt);
    if let Attempt::Declined(e) = attempt {
        return Err(e);
    }
    render_or_404(store, "payment_intent", id)
}

/// `POST /v1/payment_intents/{id}/cancel`.
pub(crate) fn cancel(store: &mut Store, id: &str, p: &Params) -> ApiResult<Value> {
    p.allow(&["cancellation_reason"])?;
    let now = store.now();
    let pi = store
        .payment_intents
        .get_mut(id)
        .ok_or_else(|| ApiError::no_such("payment_intent", id))?;
    if pi.status == "succeeded" || pi.status == "canceled" {
        return Err(ApiError::invalid_code(
            "payment_intent_unexpected_state",
            format!(
                "You cannot cancel this PaymentIntent because it has a status of {}.",
                pi.status
            ),
            None,
        ));
    }
    pi.status = "canceled".into();
    pi.canceled_at = Some(now);
    pi.next_action = None;
    let json = store.render(id).unwrap_or(Value::Null);
    store.emit("payment_intent.canceled", json.clone(), None);
    Ok(json)
}
