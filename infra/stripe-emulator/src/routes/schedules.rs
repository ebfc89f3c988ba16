//! `/v1/subscription_schedules`.

use serde_json::Value;

use super::render_or_404;
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::list;
use crate::schedules as engine;
use crate::store::Store;

/// `POST /v1/subscription_schedules` (`from_subscription`).
pub(crate) fn create(store: &mut Store, p: &Params) -> ApiResult<Value> {
    p.allow(&[
        "from_subscription",
        "metadata",
        "customer",
        "phases",
        "start_date",
        "end_behavior",
    ])?;
    let Some(sub) = p.non_empty("from_subscription") else {
        return Err(ApiError::invalid(
            "The emulator creates schedules only with `from_subscription`.".into(),
            Some("from_subscription"),
        ));
    };
    if p.has("phases") {
        return Err(ApiError::invalid(
            "You cannot set `phases` if `from_subscription` is set.".into(),
            Some("phases"),
        ));
    }
    let metadata = p
        .metadata("metadata")?
        .map(|m| m.into_map())
        .unwrap_or_default();
    let id = engine::create_from_subscription(store, &sub, metadata)?;
    render_or_404(store, "subscription_schedule", &id)
}

/// `GET /v1/subscription_schedules/{id}`.
pub(crate) fn retrieve(store: &mut Store, id: &str) -> ApiResult<Value> {
    render_or_404(store, "subscription_schedule", id)
}

/// `GET /v1/subscription_schedules?customer=`.
pub(crate) fn list(store: &mut Store, p: &Params) -> ApiResult<Value> {
    let customer = p.non_empty("customer");
    let items: Vec<Value> = store
        .schedules
        .newest_first()
        .filter(|s| customer.as_ref().is_none_or(|c| &s.customer == c))
        .map(|s| s.to_json(store))
        .collect();
    list::page(items, p, "/v1/subscription_schedules")
}

/// `POST /v1/subscription_schedules/{id}` (phases, end_behavior, proration_behavior, metadata).
pub(crate) fn update(store: &mut Store, id: &str, p: &Params) -> ApiResult<Value> {
    p.allow(&[
        "phases",
        "end_behavior",
        "proration_behavior",
        "metadata",
        "default_settings",
    ])?;
    engine::update(store, id, p)?;
    render_or_404(store, "subscription_schedule", id)
}

/// `POST /v1/subscription_schedules/{id}/release`.
pub(crate) fn release(store: &mut Store, id: &str, p: &Params) -> ApiResult<Value> {
    p.allow(&["preserve_cancel_date"])?;
    engine::release(store, id)?;
    render_or_404(store, "subscription_schedule", id)
}

/// `POST /v1/subscription_schedules/{id}/cancel` (also cancels the subscription).
pub(crate) fn cancel(store: &mut Store, id: &str, p: &Params) -> ApiResult<Value> {
    p.allow(&["prorate", "invoice_now"])?;
    engine::cancel(
        store,
        id,
        p.bool("prorate")?.unwrap_or(false),
        p.bool("invoice_now")?.unwrap_or(false),
    )?;
    render_or_404(store, "subscription_schedule", id)
}
