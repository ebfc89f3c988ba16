//! `/v1/customers/{id}/tax_ids`.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::list;
use crate::objects::customer::TaxId;
use crate::store::Store;

/// Tax ID types the emulator checks the format of, with their country; other types of the
/// SDK's list are accepted as given.
fn country_of(kind: &str, value: &str) -> ApiResult<Option<String>> {
    let bad = || {
        ApiError::invalid_code(
            "tax_id_invalid",
            format!("Invalid value for {kind}."),
            Some("value"),
        )
    };
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    match kind {
        "eu_vat" => {
            let (prefix, rest) = compact.split_at(compact.len().min(2));
            let ok = prefix.chars().all(|c| c.is_ascii_uppercase())
                && (2..=13).contains(&rest.len())
                && rest.chars().all(|c| c.is_ascii_alphanumeric());
            if !ok {
                return Err(bad());
            }
            // Greece's VAT numbers start with EL.
            Ok(Some(if prefix == "EL" {
                "GR".into()
            } else {
                prefix.into()
            }))
        }
        "gb_vat" => {
            let digits = compact.strip_prefix("GB").unwrap_or(&compact);
            if !(digits.len() == 9 || digits.len() == 12)
                || !digits.chars().all(|c| c.is_ascii_digit())
            {
                return Err(bad());
            }
            Ok(Some("GB".into()))
        }
        "us_ein" => {
            let ok = compact.len() == 10
                && compact.as_bytes()[2] == b'-'
                && compact
                    .chars()
                    .enumerate()
                    .all(|(i, c)| i == 2 || c.is_ascii_digit());
            if !ok {
                return Err(bad());
            }
            Ok(Some("US".into()))
        }
        _ if kind.len() >= 4 && kind.as_bytes()[2] == b'_' && !compact.is_empty() => {
            Ok(Some(kind[..2].to_ascii_uppercase()))
        }
        _ => Err(ApiError::invalid(
            format!("Invalid type: {kind}"),
            Some("type"),
        )),
    }
}

/// Adds a tax ID to a customer (also from Checkout); emits `customer.tax_id.created`.
pub(crate) fn add_tax_id(
    store: &mut Store,
    customer: &str,
    kind: &str,
    value: &str,
) -> ApiResult<String> {
    let country = country_of(kind, value)?;
    let id = store.new_id("txi_");
    let tax_id = TaxId {
        id: id.clone(),
        created: store.now(),
        customer: customer.to_string(),
        kind: kind.to_string(),
        value: value.to_string(),
        country,
    };
    let json = tax_id.to_json();
    store.tax_ids.insert(id.clone(), tax_id);
    store.emit("customer.tax_id.created", json, None);
    Ok(id)
}

fn live_customer(store: &Store, id: &str) -> ApiResult<()> {
    match store.customers.get(id) {
        Some(c) if !c.deleted => Ok(()),
        _ => Err(ApiError::no_such("customer", id)),
    }
}

/// `POST /v1/customers/{id}/tax_ids` (`type`, `value`).
pub(crate) fn create(store: &mut Store, customer: &str, p: &Params) -> ApiResult<Value> {
    p.allow(&["type", "value"])?;
    live_customer(store, customer)?;
    let kind = p.required("type")?;
    let value = p.required("value")?;
    let id = add_tax_id(store, customer, &kind, &value)?;
    retrieve(store, customer, &id)
}

/// `GET /v1/customers/{id}/tax_ids`.
pub(crate) fn list(store: &mut Store, customer: &str, p: &Params) -> ApiResult<Value> {
    live_customer(store, customer)?;
    let items: Vec<Value> = store
        .tax_ids
        .newest_first()
        .filter(|t| t.customer == customer)
        .map(TaxId::to_json)
        .collect();
    list::page(items, p, &format!("/v1/customers/{customer}/tax_ids"))
}

/// `GET /v1/customers/{id}/tax_ids/{tax_id}`.
pub(crate) fn retrieve(store: &mut Store, customer: &str, id: &str) -> ApiResult<Value> {
    store
        .tax_ids
        .get(id)
        .filter(|t| t.customer == customer)
        .map(TaxId::to_json)
        .ok_or_else(|| ApiError::no_such("tax_id", id))
}

/// `DELETE /v1/customers/{id}/tax_ids/{tax_id}`; emits `customer.tax_id.deleted`.
pub(crate) fn delete(store: &mut Store, customer: &str, id: &str) -> ApiResult<Value> {
    let json = retrieve(store, customer, id)?;
    store.tax_ids.remove(id);
    store.emit("customer.tax_id.deleted", json, None);
    Ok(serde_json::json!({"id": id, "object": "tax_id", "deleted": true}))
}
