//! `/v1/invoice_payments`: which PaymentIntent paid which invoice (basil's link between them).

use serde_json::Value;

use super::render_or_404;
use crate::error::ApiResult;
use crate::form::Params;
use crate::list;
use crate::store::Store;

/// `GET /v1/invoice_payments?invoice=&payment[type]=payment_intent&payment[payment_intent]=&status=`.
pub(crate) fn list(store: &mut Store, p: &Params) -> ApiResult<Value> {
    p.allow(&[
        "invoice",
        "payment",
        "status",
        "limit",
        "starting_after",
        "ending_before",
        "expand",
    ])?;
    let invoice = p.non_empty("invoice");
    let intent = p.sub("payment").non_empty("payment_intent");
    let status = p.non_empty("status");
    let items: Vec<Value> = store
        .invoices
        .newest_first()
        .filter(|i| invoice.as_ref().is_none_or(|id| &i.id == id))
        .filter(|i| intent.is_none() || i.payment_intent == intent)
        .filter_map(|i| i.payment_json(store))
        .filter(|v| status.as_ref().is_none_or(|s| v["status"] == s.as_str()))
        .collect();
    list::page(items, p, "/v1/invoice_payments")
}

/// `GET /v1/invoice_payments/{id}`.
pub(crate) fn retrieve(store: &mut Store, id: &str) -> ApiResult<Value> {
    render_or_404(store, "invoice_payment", id)
}
