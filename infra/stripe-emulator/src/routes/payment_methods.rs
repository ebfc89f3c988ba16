//! `/v1/payment_methods`: test tokens become real `pm_...` objects on attach.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::form::Params;
use crate::list;
use crate::objects::payment::PaymentMethod;
use crate::payments;
use crate::store::Store;

/// `POST /v1/payment_methods/{id_or_token}/attach`.
pub(crate) fn attach(store: &mut Store, id: &str, p: &Params) -> ApiResult<Value> {
    p.allow(&["customer"])?;
    let customer = p.required("customer")?;
    let pm = payments::attach(store, id, &customer, "payment_method")?;
    store
        .render(&pm)
        .ok_or_else(|| ApiError::no_such("payment_method", &pm))
}

/// `POST /v1/payment_methods/{id}/detach`.
pub(crate) fn detach(store: &mut Store, id: &str) -> ApiResult<Value> {
    let pm = store
        .payment_methods
        .get_mut(id)
        .ok_or_else(|| ApiError::no_such("payment_method", id))?;
    let Some(customer) = pm.customer.take() else {
        return Err(ApiError::invalid(
            "The payment method you provided is not attached to a customer so detachment is impossible.".into(),
            None,
        ));
    };
    let json = pm.to_json();
    if let Some(c) = store.customers.get_mut(&customer) {
        if c.default_payment_method.as_deref() == Some(id) {
            c.default_payment_method = None;
        }
    }
    store.emit("payment_method.detached", json.clone(), None);
    Ok(json)
}

/// `GET /v1/payment_methods/{id}`.
pub(crate) fn retrieve(store: &mut Store, id: &str) -> ApiResult<Value> {
    store
        .payment_methods
        .get(id)
        .map(PaymentMethod::to_json)
        .ok_or_else(|| ApiError::no_such("payment_method", id))
}

fn customer_methods(store: &Store, customer: &str, p: &Params, url: &str) -> ApiResult<Value> {
    if let Some(t) = p.non_empty("type") {
        if t != "card" {
            let empty = Vec::new();
            return list::page(empty, p, url);
        }
    }
    let items: Vec<Value> = store
        .payment_methods
        .newest_first()
        .filter(|pm| pm.customer.as_deref() == Some(customer))
        .map(PaymentMethod::to_json)
        .collect();
    list::page(items, p, url)
}

/// `GET /v1/payment_methods?customer=&type=card`.
pub(crate) fn list(store: &mut Store, p: &Params) -> ApiResult<Value> {
    let customer = p.required("customer")?;
    if store.customers.get(&customer).is_none() {
        return Err(ApiError::no_such_param("customer", &customer, "customer"));
    }
    customer_methods(store, &customer, p, "/v1/payment_methods")
}

/// `GET /v1/customers/{id}/payment_methods?type=card`.
pub(crate) fn list_for(store: &mut Store, customer: &str, p: &Params) -> ApiResult<Value> {
    if store.customers.get(customer).is_none() {
        return Err(ApiError::no_such("customer", customer));
    }
    customer_methods(
        store,
        customer,
        p,
        &format!("/v1/customers/{customer}/payment_methods"),
    )
}
