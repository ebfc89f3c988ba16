//! `/v1/webhook_endpoints`.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::list;
use crate::store::Store;
use crate::webhooks::Endpoint;

/// `POST /v1/webhook_endpoints` (url, enabled_events[], description); answers the `secret`.
pub(crate) fn create(store: &mut Store, p: &Params) -> ApiResult<Value> {
    p.allow(&[
        "url",
        "enabled_events",
        "description",
        "api_version",
        "metadata",
        "connect",
    ])?;
    let url = p.required("url")?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ApiError::invalid(
            "Invalid URL: must be http(s)".into(),
            Some("url"),
        ));
    }
    let enabled_events = p.list("enabled_events");
    if enabled_events.is_empty() {
        return Err(ApiError::missing_param("enabled_events"));
    }
    let endpoint = Endpoint {
        id: store.new_id("we_"),
        created: store.now(),
        url,
        secret: format!("whsec_{}", store.ids.token(32)),
        enabled_events,
        description: p.non_empty("description"),
        from_config: false,
        queue: Default::default(),
        notify: Arc::new(Notify::new()),
    };
    let json = endpoint.to_json(true);
    store.webhooks.add_endpoint(endpoint);
    Ok(json)
}

/// `GET /v1/webhook_endpoints`.
pub(crate) fn list(store: &mut Store, p: &Params) -> ApiResult<Value> {
    let items: Vec<Value> = store
        .webhooks
        .endpoints
        .iter()
        .rev()
        .map(|e| e.to_json(false))
        .collect();
    list::page(items, p, "/v1/webhook_endpoints")
}

/// `GET /v1/webhook_endpoints/{id}`.
pub(crate) fn retrieve(store: &mut Store, id: &str) -> ApiResult<Value> {
    store
        .webhooks
        .endpoints
        .iter()
        .find(|e| e.id == id)
        .map(|e| e.to_json(false))
        .ok_or_else(|| ApiError::no_such("webhook_endpoint", id))
}

/// `DELETE /v1/webhook_endpoints/{id}`.
pub(crate) fn delete(store: &mut Store, id: &str) -> ApiResult<Value> {
    let before = store.webhooks.endpoints.len();
    store.webhooks.endpoints.retain(|e| e.id != id);
    if store.webhooks.endpoints.len() == before {
        return Err(ApiError::no_such("webhook_endpoint", id));
    }
    Ok(json!({"id": id, "object": "webhook_endpoint", "deleted": true}))
}
