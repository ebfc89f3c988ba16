//! `/v1/invoices` and `/v1/invoices/create_preview`.

use serde_json::Value;

use super::render_or_404;
use super::subscriptions::item_changes;
use crate::billing::{self, ProrationBehavior};
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::list;
use crate::payments;
use crate::store::Store;

/// `POST /v1/invoices/create_preview`: the invoice a subscription change would produce.
pub(crate) fn create_preview(store: &mut Store, p: &Params) -> ApiResult<Value> {
    p.allow(&[
        "customer",
        "subscription",
        "subscription_details",
        "automatic_tax",
        "preview_mode",
        "currency",
        "discounts",
    ])?;
    let details = p.sub("subscription_details");
    let subscription = match (p.non_empty("subscription"), p.non_empty("customer")) {
        (Some(s), _) => s,
        (None, Some(c)) => store
            .subscriptions
            .newest_first()
            .find(|s| s.customer == c && s.status != "canceled")
            .map(|s| s.id.clone())
            .ok_or_else(|| {
                ApiError::invalid_code(
                    "invoice_upcoming_none",
                    format!("No upcoming invoices for customer: {c}"),
                    Some("customer"),
                )
            })?,
        (None, None) => return Err(ApiError::missing_param("customer")),
    };
    if let Some(c) = p.non_empty("customer") {
        let owner = store
            .subscriptions
            .get(&subscription)
            .map(|s| s.customer.clone());
        if owner.as_ref().is_some_and(|o| *o != c) {
            return Err(ApiError::invalid(
                "The subscription does not belong to this customer.".into(),
                Some("subscription"),
            ));
        }
    }
    let changes = item_changes(&details, "items")?;
    let behavior = ProrationBehavior::parse(
        details.str("proration_behavior").as_deref(),
        "subscription_details[proration_behavior]",
    )?;
    let reset_anchor = details.non_empty("billing_cycle_anchor").as_deref() == Some("now");
    let opts = billing::PreviewOptions {
        discounts: billing::parse_discounts(p, "discounts")?,
        automatic_tax: automatic_tax(p)?,
    };
    billing::preview_invoice(
        store,
        &subscription,
        &changes,
        behavior,
        details.int("proration_date")?,
        reset_anchor,
        &opts,
    )
}

/// `automatic_tax[enabled]` (required inside the hash, as Stripe has it).
pub(crate) fn automatic_tax(p: &Params) -> ApiResult<Option<bool>> {
    if !p.has("automatic_tax") {
        return Ok(None);
    }
    let hash = p.sub("automatic_tax");
    match hash.bool("enabled")? {
        Some(on) => Ok(Some(on)),
        None => Err(ApiError::missing_param("automatic_tax[enabled]")),
    }
}

/// `GET /v1/invoices/{id}`.
pub(crate) fn retrieve(store: &mut Store, id: &str) -> ApiResult<Value> {
    render_or_404(store, "invoice", id)
}

/// `GET /v1/invoices?customer=&subscription=&status=`.
pub(crate) fn list(store: &mut Store, p: &Params) -> ApiResult<Value> {
    let customer = p.non_empty("customer");
    let subscription = p.non_empty("subscription");
    let status = p.non_empty("status");
    let items: Vec<Value> = store
        .invoices
        .newest_first()
        .filter(|i| customer.as_ref().is_none_or(|c| &i.customer == c))
        .filter(|i| subscription.is_none() || i.subscription == subscription)
        .filter(|i| status.as_ref().is_none_or(|s| &i.status == s))
        .map(|i| i.to_json(store))
        .collect();
    list::page(items, p, "/v1/invoices")
}

/// `POST /v1/invoices/{id}/pay` (optional `payment_method`).
pub(crate) fn pay(store: &mut Store, id: &str, p: &Params) -> ApiResult<Value> {
    p.allow(&["payment_method", "off_session"])?;
    let pm = match p.non_empty("payment_method") {
        Some(pm) => Some(payments::resolve_payment_method(
            store,
            &pm,
            "payment_method",
        )?),
        None => None,
    };
    billing::pay_open_invoice(store, id, pm)?;
    render_or_404(store, "invoice", id)
}

/// `GET /v1/invoiceitems?customer=&pending=`.
pub(crate) fn list_items(store: &mut Store, p: &Params) -> ApiResult<Value> {
    let customer = p.non_empty("customer");
    let pending = p.bool("pending")?;
    let items: Vec<Value> = store
        .invoice_items
        .newest_first()
        .filter(|i| customer.as_ref().is_none_or(|c| &i.customer == c))
        .filter(|i| pending.is_none_or(|pd| pd == i.invoice.is_none()))
        .map(|i| i.to_json(store))
        .collect();
    list::page(items, p, "/v1/invoiceitems")
}
