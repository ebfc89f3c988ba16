//! `/v1/customers`.

use serde_json::{json, Map, Value};

use super::render_or_404;
use crate::billing;
use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::list;
use crate::objects::customer::Customer;
use crate::payments;
use crate::store::Store;

const FIELDS: &[&str] = &[
    "email",
    "name",
    "description",
    "phone",
    "metadata",
    "payment_method",
    "invoice_settings",
    "address",
    "shipping",
    "preferred_locales",
    "tax_exempt",
    "balance",
];

/// `address` (`Some(None)` for `address=`, which clears it), as Stripe's address hash.
pub(crate) fn address_param(p: &Params) -> ApiResult<Option<Option<Value>>> {
    if !p.has("address") {
        return Ok(None);
    }
    if p.str("address").is_some_and(|a| a.is_empty()) {
        return Ok(Some(None));
    }
    let a = p.sub("address");
    a.allow(&["city", "country", "line1", "line2", "postal_code", "state"])
        .map_err(|e| {
            ApiError::unknown_param(&format!("address[{}]", e.param.clone().unwrap_or_default()))
        })?;
    if let Some(c) = a.non_empty("country") {
        if c.len() != 2 || !c.chars().all(|x| x.is_ascii_alphabetic()) {
            return Err(ApiError::invalid(
                format!("Country '{c}' is unknown. Try using a 2-character alphanumeric country code instead, such as 'US', 'EG', or 'GB'."),
                Some("address[country]"),
            ));
        }
    }
    Ok(Some(Some(address_json(
        a.non_empty("country").map(|c| c.to_ascii_uppercase()),
        &a,
    ))))
}

/// Stripe's address hash from a country and the other members of `a`.
pub(crate) fn address_json(country: Option<String>, a: &Params) -> Value {
    json!({
        "city": a.non_empty("city"),
        "country": country,
        "line1": a.non_empty("line1"),
        "line2": a.non_empty("line2"),
        "postal_code": a.non_empty("postal_code"),
        "state": a.non_empty("state")
    })
}

/// Creates a customer; used by Checkout completion too. Emits `customer.created`.
pub(crate) fn create_customer(
    store: &mut Store,
    email: Option<String>,
    name: Option<String>,
    metadata: Map<String, Value>,
    address: Option<Value>,
) -> String {
    let id = store.ids.with_len("cus_", 14);
    let prefix: String = store
        .ids
        .token(11)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let customer = Customer {
        id: id.clone(),
        created: store.now(),
        email,
        name,
        description: None,
        phone: None,
        metadata,
        default_payment_method: None,
        balance: 0,
        invoice_prefix: prefix,
        next_invoice_sequence: 1,
        deleted: false,
        address,
    };
    let json = customer.full_json(store);
    store.customers.insert(id.clone(), customer);
    store.emit("customer.created", json, None);
    id
}

fn live_customer<'a>(store: &'a Store, id: &str) -> ApiResult<&'a Customer> {
    match store.customers.get(id) {
        Some(c) if !c.deleted => Ok(c),
        _ => Err(ApiError::no_such("customer", id)),
    }
}

fn set_default_pm(store: &mut Store, id: &str, pm: &str) -> ApiResult<()> {
    let owner = store.payment_methods.get(pm).map(|p| p.customer.clone());
    match owner {
        Some(Some(c)) if c == id => {}
        Some(_) => {
            return Err(ApiError::invalid(
                format!("The customer does not have a payment method with the ID {pm}. The payment method must be attached to the customer."),
                Some("invoice_settings[default_payment_method]"),
            ))
        }
        None => {
            return Err(ApiError::no_such_param(
                "PaymentMethod",
                pm,
                "invoice_settings[default_payment_method]",
            ))
        }
    }
    if let Some(c) = store.customers.get_mut(id) {
        c.default_payment_method = Some(pm.to_string());
    }
    Ok(())
}

/// `POST /v1/customers`.
pub(crate) fn create(store: &mut Store, p: &Params) -> ApiResult<Value> {
    p.allow(FIELDS)?;
    let metadata = p
        .metadata("metadata")?
        .map(|m| m.into_map())
        .unwrap_or_default();
    let pm = p.non_empty("payment_method");
    let default_pm = p
        .sub("invoice_settings")
        .non_empty("default_payment_method");
    if let Some(pm) = &pm {
        payments::behaviour_of(store, pm)
            .ok_or_else(|| ApiError::no_such_param("PaymentMethod", pm, "payment_method"))?;
    }
    let address = address_param(p)?.flatten();
    let id = create_customer(
        store,
        p.non_empty("email"),
        p.non_empty("name"),
        metadata,
        address,
    );
    if let Some(c) = store.customers.get_mut(&id) {
        c.description = p.non_empty("description");
        c.phone = p.non_empty("phone");
    }
    if let Some(pm) = pm {
        let attached = payments::attach(store, &pm, &id, "payment_method")?;
        if default_pm.as_deref() == Some(pm.as_str()) {
            set_default_pm(store, &id, &attached)?;
        }
    } else if let Some(d) = default_pm {
        set_default_pm(store, &id, &d)?;
    }
    render_or_404(store, "customer", &id)
}

/// `GET /v1/customers/{id}` (a deleted customer answers its deleted stub).
pub(crate) fn retrieve(store: &mut Store, id: &str) -> ApiResult<Value> {
    render_or_404(store, "customer", id)
}

/// `POST /v1/customers/{id}`.
pub(crate) fn update(store: &mut Store, id: &str, p: &Params) -> ApiResult<Value> {
    p.allow(FIELDS)?;
    let before = live_customer(store, id)?.full_json(store);
    if let Some(pm) = p.non_empty("payment_method") {
        payments::attach(store, &pm, id, "payment_method")?;
    }
    let settings = p.sub("invoice_settings");
    if let Some(d) = settings.str("default_payment_method") {
        if d.is_empty() {
            if let Some(c) = store.customers.get_mut(id) {
                c.default_payment_method = None;
            }
        } else {
            set_default_pm(store, id, &d)?;
        }
    }
    let metadata = p.metadata("metadata")?;
    let address = address_param(p)?;
    if let Some(c) = store.customers.get_mut(id) {
        if let Some(a) = address {
            c.address = a;
        }
        if let Some(e) = p.str("email") {
            c.email = Some(e).filter(|e| !e.is_empty());
        }
        if let Some(n) = p.str("name") {
            c.name = Some(n).filter(|n| !n.is_empty());
        }
        if let Some(d) = p.str("description") {
            c.description = Some(d).filter(|d| !d.is_empty());
        }
        if let Some(ph) = p.str("phone") {
            c.phone = Some(ph).filter(|ph| !ph.is_empty());
        }
        if let Some(b) = p.int("balance")? {
            c.balance = b;
        }
        if let Some(m) = metadata {
            m.apply(&mut c.metadata);
        }
    }
    let after = live_customer(store, id)?.full_json(store);
    store.emit_updated("customer.updated", &before, after.clone());
    Ok(after)
}

/// `GET /v1/customers?email=`.
pub(crate) fn list(store: &mut Store, p: &Params) -> ApiResult<Value> {
    let email = p.non_empty("email");
    let items: Vec<Value> = store
        .customers
        .newest_first()
        .filter(|c| !c.deleted)
        .filter(|c| email.is_none() || c.email == email)
        .map(|c| c.to_json(store))
        .collect();
    list::page(items, p, "/v1/customers")
}

/// One clause of a search query: `field:'value'` or `metadata['key']:'value'`.
fn parse_clause(clause: &str) -> ApiResult<(String, String)> {
    let bad = || {
        ApiError::invalid(
            format!("Invalid search query: `{clause}`. Supported: email:'x', name:'x', metadata['key']:'x'."),
            Some("query"),
        )
    };
    let (field, value) = clause.split_once(':').ok_or_else(bad)?;
    let value = value.trim();
    let unquoted = value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
        .ok_or_else(bad)?;
    let field = field.trim();
    let field = if let Some(inner) = field
        .strip_prefix("metadata[")
        .and_then(|f| f.strip_suffix(']'))
    {
        let key = inner.trim_matches(|c| c == '\'' || c == '"');
        format!("metadata.{key}")
    } else {
        field.to_string()
    };
    Ok((field, unquoted.to_string()))
}

/// `GET /v1/customers/search?query=` (`AND` of `email`, `name`, `metadata['k']` clauses).
pub(crate) fn search(store: &mut Store, p: &Params) -> ApiResult<Value> {
    let query = p.required("query")?;
    let clauses = query
        .split(" AND ")
        .map(parse_clause)
        .collect::<ApiResult<Vec<_>>>()?;
    let limit = list::limit(p)?;
    let matches = |c: &Customer| {
        clauses.iter().all(|(field, value)| match field.as_str() {
            "email" => c
                .email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(value)),
            "name" => c.name.as_deref() == Some(value.as_str()),
            "id" => c.id == *value,
            f => f
                .strip_prefix("metadata.")
                .is_some_and(|k| c.metadata.get(k).and_then(Value::as_str) == Some(value.as_str())),
        })
    };
    let mut found: Vec<Value> = store
        .customers
        .newest_first()
        .filter(|c| !c.deleted && matches(c))
        .map(|c| c.to_json(store))
        .collect();
    let has_more = found.len() > limit;
    found.truncate(limit);
    Ok(json!({
        "object": "search_result",
        "data": found,
        "has_more": has_more,
        "next_page": null,
        "url": "/v1/customers/search"
    }))
}

/// `DELETE /v1/customers/{id}`: cancels its subscriptions now, then deletes.
pub(crate) fn delete(store: &mut Store, id: &str) -> ApiResult<Value> {
    live_customer(store, id)?;
    let subs: Vec<String> = store
        .subscriptions
        .oldest_first()
        .filter(|s| s.customer == id && s.status != "canceled")
        .map(|s| s.id.clone())
        .collect();
    for sub in subs {
        billing::cancel_now(store, &sub, false, false, "cancellation_requested")?;
    }
    let json = live_customer(store, id)?.full_json(store);
    let stub = if let Some(c) = store.customers.get_mut(id) {
        c.deleted = true;
        c.deleted_stub()
    } else {
        return Err(ApiError::no_such("customer", id));
    };
    store.emit("customer.deleted", json, None);
    Ok(stub)
}
