//! Stored records and their rendering in Stripe's `2025-04-30.basil` shapes.

pub mod billing;
pub mod catalog;
pub mod checkout;
pub mod customer;
pub mod discount;
pub mod event;
pub mod invoice;
pub mod payment;

use serde_json::{json, Value};

/// The API version every object and event is rendered in.
pub const API_VERSION: &str = "2025-04-30.basil";

/// A list envelope: `{"object":"list","data":[...],"has_more":false,"url":...}`.
pub fn list_of(data: Vec<Value>, url: &str) -> Value {
    let total = data.len();
    let mut list = json!({
        "object": "list",
        "has_more": false,
        "total_count": total,
        "url": url,
    });
    list["data"] = Value::Array(data);
    list
}
