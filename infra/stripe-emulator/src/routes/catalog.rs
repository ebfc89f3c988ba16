//! `/v1/products` and `/v1/prices`, with lookup keys.

use serde_json::Value;

use super::render_or_404;
use crate::calendar::Interval;
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::list;
use crate::objects::catalog::{Price, Product, Recurring};
use crate::store::Store;

const PRODUCT_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "active",
    "metadata",
    "default_price_data",
    "images",
    "marketing_features",
    "statement_descriptor",
    "tax_code",
    "unit_label",
    "url",
    "default_price",
];

fn emit_object(store: &mut Store, kind: &str, id: &str) {
    let json = store.render(id).unwrap_or(Value::Null);
    store.emit(kind, json, None);
}

fn new_product(
    store: &mut Store,
    id: Option<String>,
    name: String,
    p: &Params,
) -> ApiResult<String> {
    let id = match id {
        Some(id) if store.products.get(&id).is_some() => {
            return Err(ApiError::invalid_code(
                "resource_already_exists",
                "Product already exists.".into(),
                Some("id"),
            ))
        }
        Some(id) => id,
        None => store.ids.with_len("prod_", 14),
    };
    let now = store.now();
    let product = Product {
        id: id.clone(),
        created: now,
        updated: now,
        name,
        description: p.non_empty("description"),
        active: p.bool("active")?.unwrap_or(true),
        metadata: p
            .metadata("metadata")?
            .map(|m| m.into_map())
            .unwrap_or_default(),
        default_price: None,
    };
    store.products.insert(id.clone(), product);
    emit_object(store, "product.created", &id);
    Ok(id)
}

/// `POST /v1/products`.
pub(crate) fn create_product(store: &mut Store, p: &Params) -> ApiResult<Value> {
    p.allow(PRODUCT_FIELDS)?;
    let name = p.required("name")?;
    let id = new_product(store, p.non_empty("id"), name, p)?;
    // Custom ids (no `prod_` prefix) are allowed, so read the product back by its own table.
    retrieve_product(store, &id)
}

/// `GET /v1/products/{id}`.
pub(crate) fn retrieve_product(store: &mut Store, id: &str) -> ApiResult<Value> {
    store
        .products
        .get(id)
        .map(Product::to_json)
        .ok_or_else(|| ApiError::no_such("product", id))
}

/// `POST /v1/products/{id}`.
pub(crate) fn update_product(store: &mut Store, id: &str, p: &Params) -> ApiResult<Value> {
    p.allow(PRODUCT_FIELDS)?;
    let now = store.now();
    let metadata = p.metadata("metadata")?;
    let active = p.bool("active")?;
    let default_price = p.str("default_price");
    if let Some(dp) = default_price.as_deref().filter(|d| !d.is_empty()) {
        if store.prices.get(dp).is_none() {
            return Err(ApiError::no_such_param("price", dp, "default_price"));
        }
    }
    let product = store
        .products
        .get_mut(id)
        .ok_or_else(|| ApiError::no_such("product", id))?;
    let before = product.to_json();
    if let Some(n) = p.non_empty("name") {
        product.name = n;
    }
    if let Some(d) = p.str("description") {
        product.description = Some(d).filter(|d| !d.is_empty());
    }
    if let Some(a) = active {
        product.active = a;
    }
    if let Some(m) = metadata {
        m.apply(&mut product.metadata);
    }
    if let Some(dp) = default_price {
        product.default_price = Some(dp).filter(|d| !d.is_empty());
    }
    product.updated = now;
    let after = product.to_json();
    store.emit_updated("product.updated", &before, after.clone());
    Ok(after)
}

/// `GET /v1/products`.
pub(crate) fn list_products(store: &mut Store, p: &Params) -> ApiResult<Value> {
    let active = p.bool("active")?;
    let ids = p.list("ids");
    let items: Vec<Value> = store
        .products
        .newest_first()
        .filter(|x| active.is_none_or(|a| x.active == a))
        .filter(|x| ids.is_empty() || ids.contains(&x.id))
        .map(Product::to_json)
        .collect();
    list::page(items, p, "/v1/products")
}

fn lookup_key_owner(store: &Store, key: &str) -> Option<String> {
    store
        .prices
        .oldest_first()
        .find(|x| x.lookup_key.as_deref() == Some(key))
        .map(|x| x.id.clone())
}

/// Claims `key` for `price_id`, moving it from its owner when `transfer` is set.
fn claim_lookup_key(store: &mut Store, key: &str, price_id: &str, transfer: bool) -> ApiResult<()> {
    if key.len() > 200 {
        return Err(ApiError::invalid(
            "lookup_key must be at most 200 characters.".into(),
            Some("lookup_key"),
        ));
    }
    match lookup_key_owner(store, key) {
        Some(owner) if owner == price_id => Ok(()),
        Some(owner) if transfer => {
            let before = store.render(&owner).unwrap_or(Value::Null);
            if let Some(old) = store.prices.get_mut(&owner) {
                old.lookup_key = None;
            }
            let after = store.render(&owner).unwrap_or(Value::Null);
            store.emit_updated("price.updated", &before, after);
            Ok(())
        }
        Some(owner) => Err(ApiError::invalid(
            format!("A price (`{owner}`) already uses that lookup key."),
            Some("lookup_key"),
        )),
        None => Ok(()),
    }
}

/// `POST /v1/prices`.
pub(crate) fn create_price(store: &mut Store, p: &Params) -> ApiResult<Value> {
    p.allow(&[
        "product",
        "product_data",
        "unit_amount",
        "unit_amount_decimal",
        "currency",
        "recurring",
        "lookup_key",
        "transfer_lookup_key",
        "metadata",
        "nickname",
        "active",
        "tax_behavior",
        "billing_scheme",
    ])?;
    let currency = p.required("currency")?.to_lowercase();
    let unit_amount = match p.int("unit_amount")? {
        Some(a) => a,
        None => p
            .non_empty("unit_amount_decimal")
            .and_then(|d| d.parse::<f64>().ok())
            .map(|d| d.round() as i64)
            .ok_or_else(|| ApiError::missing_param("unit_amount"))?,
    };
    if unit_amount < 0 {
        return Err(ApiError::invalid(
            "This value must be greater than or equal to 0.".into(),
            Some("unit_amount"),
        ));
    }
    let recurring = match p.get("recurring") {
        None => None,
        Some(_) => {
            let r = p.sub("recurring");
            let interval_s = r
                .required("interval")
                .map_err(|_| ApiError::missing_param("recurring[interval]"))?;
            let interval = Interval::parse(&interval_s).ok_or_else(|| {
                ApiError::invalid(
                    format!("Invalid recurring[interval]: must be one of day, week, month, or year (got {interval_s})"),
                    Some("recurring[interval]"),
                )
            })?;
            let count = r.int("interval_count")?.unwrap_or(1);
            if !(1..=36).contains(&count) {
                return Err(ApiError::invalid(
                    "Invalid recurring[interval_count].".into(),
                    Some("recurring[interval_count]"),
                ));
            }
            Some(Recurring {
                interval,
                interval_count: count,
            })
        }
    };
    let product = match (
        p.non_empty("product"),
        p.sub("product_data").non_empty("name"),
    ) {
        (Some(prod), _) => {
            if store.products.get(&prod).is_none() {
                return Err(ApiError::no_such_param("product", &prod, "product"));
            }
            prod
        }
        (None, Some(name)) => new_product(store, None, name, &p.sub("product_data"))?,
        (None, None) => return Err(ApiError::missing_param("product")),
    };
    let id = store.new_id("price_");
    let lookup_key = p.non_empty("lookup_key");
    if let Some(key) = &lookup_key {
        claim_lookup_key(
            store,
            key,
            &id,
            p.bool("transfer_lookup_key")?.unwrap_or(false),
        )?;
    }
    let price = Price {
        id: id.clone(),
        created: store.now(),
        product,
        unit_amount,
        currency,
        recurring,
        lookup_key,
        active: p.bool("active")?.unwrap_or(true),
        metadata: p
            .metadata("metadata")?
            .map(|m| m.into_map())
            .unwrap_or_default(),
        nickname: p.non_empty("nickname"),
    };
    store.prices.insert(id.clone(), price);
    emit_object(store, "price.created", &id);
    render_or_404(store, "price", &id)
}

/// `GET /v1/prices/{id}`.
pub(crate) fn retrieve_price(store: &mut Store, id: &str) -> ApiResult<Value> {
    store
        .prices
        .get(id)
        .map(Price::to_json)
        .ok_or_else(|| ApiError::no_such("price", id))
}

/// `POST /v1/prices/{id}` (active, lookup_key, transfer_lookup_key, metadata, nickname).
pub(crate) fn update_price(store: &mut Store, id: &str, p: &Params) -> ApiResult<Value> {
    p.allow(&[
        "active",
        "lookup_key",
        "transfer_lookup_key",
        "metadata",
        "nickname",
        "tax_behavior",
    ])?;
    let before = store
        .prices
        .get(id)
        .map(Price::to_json)
        .ok_or_else(|| ApiError::no_such("price", id))?;
    let lookup_key = p.str("lookup_key");
    if let Some(key) = lookup_key.as_deref().filter(|k| !k.is_empty()) {
        claim_lookup_key(
            store,
            key,
            id,
            p.bool("transfer_lookup_key")?.unwrap_or(false),
        )?;
    }
    let metadata = p.metadata("metadata")?;
    let active = p.bool("active")?;
    let price = store
        .prices
        .get_mut(id)
        .ok_or_else(|| ApiError::no_such("price", id))?;
    if let Some(key) = lookup_key {
        price.lookup_key = Some(key).filter(|k| !k.is_empty());
    }
    if let Some(a) = active {
        price.active = a;
    }
    if let Some(n) = p.str("nickname") {
        price.nickname = Some(n).filter(|n| !n.is_empty());
    }
    if let Some(m) = metadata {
        m.apply(&mut price.metadata);
    }
    let after = price.to_json();
    store.emit_updated("price.updated", &before, after.clone());
    Ok(after)
}

/// `GET /v1/prices?lookup_keys[]=&active=&product=&type=&currency=`.
pub(crate) fn list_prices(store: &mut Store, p: &Params) -> ApiResult<Value> {
    let keys = p.list("lookup_keys");
    let active = p.bool("active")?;
    let product = p.non_empty("product");
    let kind = p.non_empty("type");
    let currency = p.non_empty("currency").map(|c| c.to_lowercase());
    let recurring = p.sub("recurring").non_empty("interval");
    let items: Vec<Value> = store
        .prices
        .newest_first()
        .filter(|x| keys.is_empty() || x.lookup_key.as_ref().is_some_and(|k| keys.contains(k)))
        .filter(|x| active.is_none_or(|a| x.active == a))
        .filter(|x| product.as_ref().is_none_or(|pr| &x.product == pr))
        .filter(|x| match kind.as_deref() {
            Some("recurring") => x.recurring.is_some(),
            Some("one_time") => x.recurring.is_none(),
            _ => true,
        })
        .filter(|x| currency.as_ref().is_none_or(|c| &x.currency == c))
        .filter(|x| {
            recurring
                .as_deref()
                .is_none_or(|i| x.recurring.is_some_and(|r| r.interval.as_str() == i))
        })
        .map(Price::to_json)
        .collect();
    list::page(items, p, "/v1/prices")
}
