//! `/v1/events`: newest first, with `created[...]`, `type`, `types[]` filters.

use serde_json::Value;

use super::render_or_404;
use crate::error::ApiResult;
use crate::form::Params;
use crate::list;
use crate::store::Store;

fn type_matches(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => kind.starts_with(prefix),
        None => pattern == kind,
    }
}

/// `GET /v1/events`.
pub(crate) fn list(store: &mut Store, p: &Params) -> ApiResult<Value> {
    let created = p.sub("created");
    let exact = p
        .int("created")?
        .filter(|_| !p.get("created").is_some_and(Value::is_object));
    let gt = created.int("gt")?;
    let gte = created.int("gte")?;
    let lt = created.int("lt")?;
    let lte = created.int("lte")?;
    let single = p.non_empty("type");
    let types = p.list("types");
    let items: Vec<Value> = store
        .events
        .newest_first()
        .filter(|e| exact.is_none_or(|t| e.created == t))
        .filter(|e| gt.is_none_or(|t| e.created > t))
        .filter(|e| gte.is_none_or(|t| e.created >= t))
        .filter(|e| lt.is_none_or(|t| e.created < t))
        .filter(|e| lte.is_none_or(|t| e.created <= t))
        .filter(|e| single.as_deref().is_none_or(|t| type_matches(t, &e.kind)))
        .filter(|e| types.is_empty() || types.iter().any(|t| type_matches(t, &e.kind)))
        .map(|e| e.to_json())
        .collect();
    list::page(items, p, "/v1/events")
}

/// `GET /v1/events/{id}`.
pub(crate) fn retrieve(store: &mut Store, id: &str) -> ApiResult<Value> {
    render_or_404(store, "event", id)
}
